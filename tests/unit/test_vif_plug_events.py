"""Spawn waits for Neutron's network-vif-plugged events only when asked."""

import contextlib
from unittest import mock

from nova import exception
from nova.network import model as network_model
import pytest

from novadocker import conf as nd_conf
from novadocker.virt.docker import driver
from tests.unit import factories

CONF = nd_conf.CONF


class RecordingVirtAPI:
    """Records the events spawn plans to wait for; can time out."""

    def __init__(self, timeout=False):
        self.waits = []
        self.timeout = timeout

    @contextlib.contextmanager
    def wait_for_instance_event(self, instance, events, timeout=300,
                                error_callback=None):
        self.waits.append((events, timeout))
        yield
        if self.timeout and events:
            raise exception.InstanceEventTimeout()


@pytest.fixture
def make_driver():
    def make(virtapi):
        drv = driver.DockerDriver(virtapi)
        drv.docker = mock.Mock()
        drv.docker.inspect.return_value = drv.docker.find.return_value = {
            'Id': 'c1', 'State': {'Pid': 42, 'Status': 'running'},
            'HostConfig': {'NetworkMode': 'none'}}
        drv.docker.start.return_value = drv.docker.inspect.return_value
        drv.network = mock.Mock()
        return drv
    yield make
    CONF.clear_override('vif_plugging_timeout')
    CONF.clear_override('vif_plugging_is_fatal')


def ports(*active):
    network_info = factories.network_info()
    vif = network_info[0]
    return network_model.NetworkInfo([
        network_model.VIF(id='port-%d' % i, address=vif['address'],
                          network=vif['network'], type=vif['type'],
                          active=state)
        for i, state in enumerate(active)])


def test_waits_for_the_ports_neutron_has_not_reported_up(make_driver):
    CONF.set_override('vif_plugging_timeout', 30)
    virtapi = RecordingVirtAPI()
    drv = make_driver(virtapi)
    network_info = ports(False, True, False)
    drv._start_with_network(factories.instance(), network_info)
    assert virtapi.waits == [([('network-vif-plugged', 'port-0'),
                               ('network-vif-plugged', 'port-2')], 30)]
    drv.network.attach_all.assert_called_once_with(mock.ANY, 'c1', 42,
                                                   network_info)


def test_no_wait_when_resuming_after_a_host_boot(make_driver):
    """Nova resumes guests in init_host, before nova-compute consumes the
    RPC that delivers Neutron's events: a wait there could only time out
    (it held a real nova-compute 300 s, then failed the instance)."""
    CONF.set_override('vif_plugging_timeout', 30)
    virtapi = RecordingVirtAPI(timeout=True)
    drv = make_driver(virtapi)
    drv.docker.inspect.return_value = drv.docker.find.return_value = {
        'Id': 'c1', 'State': {'Pid': 42, 'Status': 'exited'},
        'HostConfig': {'NetworkMode': 'none'}}
    drv._check_still_running = mock.Mock()
    drv.resume_state_on_host_boot(None, factories.instance(), ports(False),
                                  None)
    assert virtapi.waits == [([], 30)]
    drv.docker.start.assert_called_once()


def test_no_wait_when_the_timeout_is_zero(make_driver):
    CONF.set_override('vif_plugging_timeout', 0)
    virtapi = RecordingVirtAPI()
    make_driver(virtapi)._start_with_network(factories.instance(),
                                             ports(False))
    assert virtapi.waits == [([], 0)]


def test_a_timeout_is_fatal_when_configured(make_driver):
    CONF.set_override('vif_plugging_timeout', 30)
    CONF.set_override('vif_plugging_is_fatal', True)
    drv = make_driver(RecordingVirtAPI(timeout=True))
    with pytest.raises(exception.VirtualInterfaceCreateException):
        drv._start_with_network(factories.instance(), ports(False))
    drv.docker.stop.assert_called_once_with(mock.ANY, 0, name=None)
    drv.network.detach_all.assert_called_once()


def test_a_timeout_is_logged_and_ignored_when_not_fatal(make_driver):
    CONF.set_override('vif_plugging_timeout', 30)
    CONF.set_override('vif_plugging_is_fatal', False)
    drv = make_driver(RecordingVirtAPI(timeout=True))
    drv._start_with_network(factories.instance(), ports(False))
    drv.docker.stop.assert_not_called()
