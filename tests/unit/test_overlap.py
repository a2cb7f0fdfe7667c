"""What a spawn and a destroy do at the same time:
waits on the engine, the kernel and OVSDB that need nothing of each other
overlap, and a failure of one still waits for the other before anything is
cleaned up."""

import threading
import time
from unittest import mock

from nova import exception
from nova.network import model as network_model
from nova import objects
from nova.virt import fake
from oslo_utils import uuidutils
import pytest

from novadocker.virt.docker import background
from novadocker.virt.docker import client
from novadocker.virt.docker import driver
from novadocker.virt.docker import spec
from tests.unit import factories

WAIT = 5
IMAGE_META = objects.ImageMeta.from_dict(
    {'id': uuidutils.generate_uuid(), 'container_format': 'docker'})


@pytest.fixture
def drv():
    drv = driver.DockerDriver(fake.FakeVirtAPI())
    drv.docker = mock.Mock()
    drv.docker.find.return_value = None
    drv.network = mock.Mock()
    return drv


def started(container_id, pid):
    return {'Id': container_id, 'State': {'Pid': pid, 'Status': 'running'}}


def test_background_join_raises_what_the_work_raised():
    work = background.Background(mock.Mock(side_effect=KeyError('gone')))
    with pytest.raises(KeyError, match='gone'):
        work.join()


def test_background_join_returns_what_the_work_returned():
    assert background.Background(lambda x: x * 2, 21).join() == 42


def test_the_container_is_made_while_the_sandbox_starts(drv):
    """The sandbox's start waits here until the instance's container is
    made: done one after the other, this would never end."""
    instance = factories.instance()
    sandbox = client.sandbox_name(instance.uuid)
    made, calls = threading.Event(), []

    def create(instance, image, create_kwargs, host_config, name=None):
        calls.append(('create', name))
        if name is None:
            made.set()
        return 'sandbox-id' if name else 'c1'

    def start(instance, name=None):
        if name == sandbox:
            assert made.wait(WAIT), 'the container was made after the start'
        calls.append(('start', name))
        return started('sandbox-id', 7) if name else started('c1', 42)

    drv.docker.create.side_effect = create
    drv.docker.start.side_effect = start
    drv.network.attach_all.side_effect = (
        lambda instance, cid, pid, network_info: calls.append(('plug', cid)))
    network_info = factories.network_info()
    with mock.patch.object(driver.hostinfo, 'process_ended',
                           return_value=False) as ended:
        drv._create_and_start(instance, 'image', {}, {}, sandbox, None, [],
                              None, network_info, True)
    assert calls[:2] == [('create', sandbox), ('create', None)]
    # The instance starts once its sandbox runs with the ports.
    assert calls[2:] == [('start', sandbox), ('plug', 'sandbox-id'),
                         ('start', None)]
    # Nothing inspected but by the starts: the sandbox was just made, and
    # the instance's process is asked whether it still runs.
    drv.docker.inspect.assert_not_called()
    ended.assert_called_once_with(42)


def test_a_failed_create_waits_for_the_sandbox_before_cleaning_up(drv):
    instance = factories.instance()
    calls = []

    def start(instance, name=None):
        time.sleep(0.05)
        calls.append('sandbox started')
        return started('sandbox-id', 7)

    drv.docker.start.side_effect = start
    drv.docker.stop.side_effect = lambda *a, **k: calls.append('stopped')
    drv.docker.find.side_effect = lambda instance, name=None: (
        name and started('sandbox-id', 7))
    create = mock.Mock(side_effect=RuntimeError('no such image'))
    with pytest.raises(RuntimeError, match='no such image'):
        drv._start_with_network(instance, factories.network_info(),
                                driver.just_created('sandbox-id'),
                                create=create)
    assert calls == ['sandbox started', 'stopped']
    drv.network.detach_all.assert_called_with(instance, 'sandbox-id',
                                              mock.ANY)


def test_destroy_unplugs_while_the_engine_removes(drv):
    """The engine's remove waits here for the unplug: done one after the
    other, this would never end."""
    unplugged = threading.Event()
    drv.network.detach_all.side_effect = lambda *a: unplugged.set()
    drv.docker.remove.side_effect = (
        lambda instance, name=None: unplugged.wait(WAIT) or pytest.fail(
            'unplugged only after the remove'))
    drv._remove(factories.instance(), factories.network_info())


def test_a_failed_remove_still_unplugs(drv):
    drv.docker.find.side_effect = lambda instance, name=None: (
        None if name else dict(started('c1', 42),
                               HostConfig={'NetworkMode': 'none'}))
    drv.docker.remove.side_effect = RuntimeError('answer lost')
    instance, network_info = factories.instance(), factories.network_info()
    with pytest.raises(RuntimeError, match='answer lost'):
        drv._remove(instance, network_info)
    drv.network.detach_all.assert_called_once_with(instance, 'c1',
                                                   network_info)


def _ports_after(event):
    """Nova's network_info while it creates the ports: they are there only
    once ``event`` is set (or, if never, after WAIT)."""
    def allocate():
        event.wait(WAIT)
        return factories.network_info()
    return network_model.NetworkInfoAsyncWrapper(allocate)


def test_the_image_loads_while_nova_creates_the_ports(drv):
    """Nova creates the ports on a thread of its own while it spawns; the
    spawn waits for them only once the image is there. Done the other way
    round, the image's load would wait out the ports' allocation."""
    instance = factories.instance()
    loaded = threading.Event()
    drv.docker.start.return_value = started('c1', 42)
    network_info = _ports_after(loaded)
    began = time.monotonic()
    with mock.patch.object(driver.images, 'ensure_for_boot',
                           side_effect=lambda *a: loaded.set() or 'image'), \
            mock.patch.object(driver.hostinfo, 'process_ended',
                              return_value=False):
        drv.spawn(None, instance, IMAGE_META, [], None, {},
                  network_info=network_info)
    assert time.monotonic() - began < WAIT
    host_config = drv.docker.create.call_args.args[3]
    # The container has the identity the ports gave it.
    assert host_config['dns'] == spec.dns_servers(network_info)
    drv.network.attach_all.assert_called_once_with(instance, 'c1', 42,
                                                   network_info)


def test_a_request_no_host_can_serve_waits_for_neither(drv):
    instance = factories.instance(metadata={'bad-key': 'v'})
    network_info = _ports_after(threading.Event())
    began = time.monotonic()
    with mock.patch.object(driver.images, 'ensure_for_boot') as ensure, \
            pytest.raises(exception.InvalidInput, match="'bad-key'"):
        drv.spawn(None, instance, IMAGE_META, [], None, {},
                  network_info=network_info)
    assert time.monotonic() - began < WAIT
    ensure.assert_not_called()


def test_ports_that_fail_after_the_image_loaded_leave_no_container(drv):
    """Nova's allocation fails while the image loads: the spawn raises
    that failure (Nova reports it) and the engine never made a container;
    the image stays, as any loaded image does."""
    def allocate():
        raise exception.PortLimitExceeded()
    network_info = network_model.NetworkInfoAsyncWrapper(allocate)
    with mock.patch.object(driver.images, 'ensure_for_boot',
                           return_value='image') as ensure, \
            pytest.raises(exception.PortLimitExceeded):
        drv.spawn(None, factories.instance(), IMAGE_META, [], None, {},
                  network_info=network_info)
    ensure.assert_called_once()
    drv.docker.create.assert_not_called()
    drv.network.attach_all.assert_not_called()
