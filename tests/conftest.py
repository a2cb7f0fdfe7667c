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

_ENGINE = None


def docker_engine():
    """The session's private engine, with the busybox test image loaded."""
    global _ENGINE
    if _ENGINE is None:
        engine = engine_fixture.DockerEngine().start()
        with engine.client() as client:
            engine_fixture.build_test_image(client)
        _ENGINE = engine
    return _ENGINE


@pytest.fixture(scope='session')
def engine():
    return docker_engine()


def pytest_sessionfinish(session, exitstatus):
    if _ENGINE is not None:
        _ENGINE.stop()
