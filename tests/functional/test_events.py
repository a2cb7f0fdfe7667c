"""Lifecycle events from a real engine's event stream."""

import queue
import time

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


def comes(received, wanted, seen_as=lambda item: item):
    """Whether ``wanted`` (as ``seen_as`` sees an item) arrives in time,
    whatever comes before."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            item = received.get(
                timeout=max(0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if seen_as(item) == wanted:
            return True
    return False


def arrives(received, uuid, transition):
    """Whether ``transition`` of instance ``uuid`` arrives in time. Other
    events may come first: the stream replays the last second of other
    containers, and the engine may report one change twice (harmless to
    Nova, which syncs on each)."""
    return comes(received, (uuid, transition),
                 lambda event: (event.uuid, event.transition))


def test_engine_events_become_nova_lifecycle_events(api):
    received = queue.Queue()
    watcher = events.LifecycleWatcher(received.put, stopped_delay=0.5)
    watcher.start()
    uuid, cid = instance_container(api)
    try:
        api.start(cid)
        assert arrives(received, uuid, virtevent.EVENT_LIFECYCLE_STARTED)
        api.pause(cid)
        assert arrives(received, uuid, virtevent.EVENT_LIFECYCLE_PAUSED)
        api.unpause(cid)
        assert arrives(received, uuid, virtevent.EVENT_LIFECYCLE_RESUMED)
        api.kill(cid)  # the process dies behind nova's back
        assert arrives(received, uuid, virtevent.EVENT_LIFECYCLE_STOPPED)
    finally:
        watcher.stop()
        api.remove_container(cid, force=True)


def test_the_watcher_reconnects_after_the_engine_restarts(engine, api):
    """And says when it follows the stream and when not: what the events
    did not say meanwhile must be listed (states.py)."""
    received, following = queue.Queue(), queue.Queue()
    watcher = events.LifecycleWatcher(received.put, stopped_delay=0.5,
                                      reconnect_delay=0.2,
                                      on_following=following.put)
    watcher.start()
    uuid, cid = instance_container(api)
    try:
        assert following.get(timeout=WAIT) is True
        engine.kill()
        assert following.get(timeout=WAIT) is False
        engine.start()
        # Each failed reconnection says False again.
        assert comes(following, True)
        api.start(cid)
        assert arrives(received, uuid, virtevent.EVENT_LIFECYCLE_STARTED)
    finally:
        watcher.stop()
        api.remove_container(cid, force=True)
    assert following.get(timeout=WAIT) is False


def test_init_host_follows_events_until_cleanup_host(api):
    drv = driver.DockerDriver(fake.FakeVirtAPI())
    drv.init_host('testhost')
    watcher = drv.lifecycle_events
    assert watcher._thread.is_alive()
    drv.cleanup_host('testhost')
    assert not watcher._thread.is_alive()
    assert drv.lifecycle_events is None
