"""Session-wide real components: one private dockerd for every test that
needs an engine, started on first use and stopped when the session ends."""

import os

# nova-compute runs on native threads by default now, and so do these tests.
# Nova's own test packages call monkey_patch.patch() before anything imports
# eventlet; these tests live outside them, so it is done here, first.
os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', '1')
from nova import monkey_patch  # noqa: E402
monkey_patch.patch()

import pytest  # noqa: E402

from tests.fixtures import engine as engine_fixture  # noqa: E402
from tests.fixtures import ovs as ovs_fixture  # noqa: E402

_ENGINE = None
_OVS = None
# The bridge of the port in nova's generic suite (nova.tests.unit.utils).
SUITE_BRIDGE = 'br0'


def docker_engine():
    """The session's private engine, with the busybox test image loaded."""
    global _ENGINE
    if _ENGINE is None:
        engine = engine_fixture.DockerEngine().start()
        with engine.client() as client:
            engine_fixture.build_test_image(client)
        _ENGINE = engine
    return _ENGINE


def private_ovs():
    """The session's private OVS (in its own namespace) with ``br0``."""
    global _OVS
    if _OVS is None:
        docker_engine()  # dockerd must not start inside the OVS namespace
        switch = ovs_fixture.PrivateOVS().start()
        switch.add_bridge(SUITE_BRIDGE)
        _OVS = switch
    return _OVS


def configure_test_network(test):
    """For a nova TestCase: run the test inside the private OVS namespace,
    with [docker_ovs] pointed at that OVS."""
    switch = private_ovs()
    entered = ovs_fixture.entered_netns(switch.netns_path)
    entered.__enter__()
    test.addCleanup(entered.__exit__, None, None, None)
    test.flags(ovsdb_connection=switch.connection, ovsdb_timeout=5,
               group='docker_ovs')
    return switch


@pytest.fixture(scope='session')
def engine():
    return docker_engine()


@pytest.fixture(scope='session', autouse=True)
def stop_shared_components():
    """Stop the shared OVS and engine when the last test is done (before
    pytest prints its summary, so that is the last thing printed)."""
    yield
    if _OVS is not None:
        _OVS.stop()
    if _ENGINE is not None:
        _ENGINE.stop()
