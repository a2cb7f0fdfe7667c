"""Lifecycle events from a real engine's event stream."""

import queue

from nova.virt import event as virtevent
from nova.virt import fake
from oslo_utils import uuidutils
import pytest

from novadocker import conf as nd_conf
from novadocker.virt.docker import client
from novadocker.virt.docker import driver
from novadocker.virt.docker import events
from tests.fixtures import engine as engine_fixture

CONF = nd_conf.CONF
WAIT = 20


@pytest.fixture
def api(engine):
    CONF.set_override('host_url', engine.url, group='docker')
    api = engine.client()
    yield api
    api.close()
    CONF.clear_override('host_url', group='docker')


def instance_container(api):
    uuid = uuidutils.generate_uuid()
    cid = api.create_container(
        engine_fixture.TEST_IMAGE, name=client.container_name(uuid),
        labels={client.LABEL_UUID: uuid},
        host_config=api.create_host_config(network_mode='none'))['Id']
    return uuid, cid


def next_event(received, uuid):
    """The next event of instance ``uuid`` (the stream may first replay
    the last second's events of other containers)."""
    while True:
        event = received.get(timeout=WAIT)
        if event.uuid == uuid:
            return event.transition


def test_engine_events_become_nova_lifecycle_events(api):
    received = queue.Queue()
    watcher = events.LifecycleWatcher(received.put, stopped_delay=0.5)
    watcher.start()
    uuid, cid = instance_container(api)
    try:
        api.start(cid)
        assert next_event(received, uuid) == virtevent.EVENT_LIFECYCLE_STARTED
        api.pause(cid)
        assert next_event(received, uuid) == virtevent.EVENT_LIFECYCLE_PAUSED
        api.unpause(cid)
        assert next_event(received, uuid) == virtevent.EVENT_LIFECYCLE_RESUMED
        api.kill(cid)  # the process dies behind nova's back
        assert next_event(received, uuid) == virtevent.EVENT_LIFECYCLE_STOPPED
    finally:
        watcher.stop()
        api.remove_container(cid, force=True)


def test_the_watcher_reconnects_after_the_engine_restarts(engine, api):
    received = queue.Queue()
    watcher = events.LifecycleWatcher(received.put, stopped_delay=0.5,
                                      reconnect_delay=0.2)
    watcher.start()
    uuid, cid = instance_container(api)
    try:
        engine.kill()
        engine.start()
        api.start(cid)
        assert next_event(received, uuid) == virtevent.EVENT_LIFECYCLE_STARTED
    finally:
        watcher.stop()
        api.remove_container(cid, force=True)


def test_init_host_follows_events_until_cleanup_host(api):
    drv = driver.DockerDriver(fake.FakeVirtAPI())
    drv.init_host('testhost')
    watcher = drv.lifecycle_events
    assert watcher._thread.is_alive()
    drv.cleanup_host('testhost')
    assert not watcher._thread.is_alive()
    assert drv.lifecycle_events is None
