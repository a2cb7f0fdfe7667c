"""Which instances the driver starts again after an engine restart that
stopped them (recovery.py), and which Nova is told of instead."""

from unittest import mock

from nova.compute import power_state
from nova.compute import vm_states
from nova import exception
from nova import objects
from nova.virt import event as virtevent
from nova.virt import hardware
import pytest

from novadocker import conf as nd_conf
from novadocker.virt.docker import recovery
from tests.unit import factories

CONF = nd_conf.CONF


@pytest.fixture
def instance():
    found = factories.instance(host=CONF.host, vm_state=vm_states.ACTIVE,
                               task_state=None)
    with mock.patch.object(objects.Instance, 'get_by_uuid',
                           return_value=found):
        yield found


def driver_with(live_restore=True, state=power_state.SHUTDOWN):
    drv = mock.Mock()
    drv.docker.info.return_value = {'LiveRestoreEnabled': live_restore}
    drv.get_info.return_value = hardware.InstanceInfo(state=state)
    return drv


def recover(drv, instance):
    stopped = virtevent.LifecycleEvent(instance.uuid,
                                       virtevent.EVENT_LIFECYCLE_STOPPED)
    recovery.restart_stopped_by_engine(drv, [stopped])
    return stopped


def test_an_instance_nova_wants_running_is_started_again(instance):
    drv = driver_with()
    recover(drv, instance)
    drv.resume_state_on_host_boot.assert_called_once_with(
        mock.ANY, instance, instance.get_network_info(), None)
    drv.emit_event.assert_not_called()


@pytest.mark.parametrize('why', ['no live-restore', 'stopped by Nova',
                                 'a stop under way', 'moved away'])
def test_nova_is_told_of_the_others(instance, why):
    drv = driver_with(live_restore=why != 'no live-restore')
    if why == 'stopped by Nova':
        instance.vm_state = vm_states.STOPPED
    elif why == 'a stop under way':
        instance.task_state = 'powering-off'
    elif why == 'moved away':
        instance.host = 'elsewhere'
    stopped = recover(drv, instance)
    drv.resume_state_on_host_boot.assert_not_called()
    drv.emit_event.assert_called_once_with(stopped)


def test_a_container_running_again_is_left_alone(instance):
    drv = driver_with(state=power_state.RUNNING)
    recover(drv, instance)
    drv.resume_state_on_host_boot.assert_not_called()
    drv.emit_event.assert_not_called()


def test_a_deleted_instance_is_skipped():
    drv = driver_with()
    with mock.patch.object(objects.Instance, 'get_by_uuid',
                           side_effect=exception.InstanceNotFound(
                               instance_id='x')):
        recover(drv, factories.instance())
    drv.emit_event.assert_not_called()


def test_a_failed_start_is_reported_as_stopped(instance):
    drv = driver_with()
    drv.resume_state_on_host_boot.side_effect = exception.NovaException()
    stopped = recover(drv, instance)
    drv.emit_event.assert_called_once_with(stopped)
