"""The real cloud for end-to-end tests: ``python -m novadocker_cloud up``
(every service real, nova-compute as the nova user), brought up once for
the session and stopped at its end; tests act through openstacksdk as the
admin and as members of two projects.

The cloud runs its own OVS in the host's namespace, so these tests run in a
pytest session of their own (tools/run-tests.sh), apart from the functional
tests' private switches.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest

from novadocker_cloud import clouds
from novadocker_cloud import layout as cloud_layout
from novadocker_cloud import orchestrator
from novadocker_cloud import process
from novadocker_cloud.services import management
from tests.cloud import helpers

# The cloud of two compute nodes (``up --nodes 2``): a state directory of
# its own, the same ports as the single-node cloud.
TWO_NODES_STATE_DIR = '/var/lib/novadocker-cloud-n2'
TWO_NODES_CONFIG_DIR = '/etc/novadocker-cloud-n2'


def pytest_collection_modifyitems(items):
    """README command 1 (test_demo.py) brings up and stops a cloud of its
    own: it runs first, before the session's cloud is up."""
    items.sort(key=lambda item: item.module.__name__ !=
               'tests.cloud.test_demo')


@pytest.fixture(scope='session')
def cloud():
    layout = cloud_layout.Layout()
    if orchestrator.running(layout):
        # A cloud kept up by hand (``up``): used as it is and left up, for a
        # developer rerunning some tests.
        yield connected(layout)
        return
    log_path = os.path.join('/tmp', 'novadocker-cloud-tests.log')
    with launched([], log_path):
        yield connected(layout)
    assert not orchestrator.running(layout), _read(log_path)


@contextlib.contextmanager
def launched(options, log_path):
    """``python -m novadocker_cloud up`` with ``options``, until it serves;
    stopped when the block ends."""
    log = open(log_path, 'w')
    began = time.monotonic()
    launcher = subprocess.Popen(
        [sys.executable, '-m', 'novadocker_cloud', 'up', *options],
        cwd=cloud_layout.REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        # Printed once clouds.yaml is written.
        while '] serving.' not in _read(log_path):
            if launcher.poll() is not None:
                pytest.fail('the cloud did not come up:\n' + _read(log_path))
            if time.monotonic() - began > 900:
                pytest.fail('the cloud took over 15 min:\n' + _read(log_path))
            time.sleep(1)
        print('\ncloud up in %.1fs' % (time.monotonic() - began))
        yield
    finally:
        launcher.send_signal(signal.SIGTERM)
        try:
            launcher.wait(timeout=180)
        finally:
            log.close()


@contextlib.contextmanager
def two_nodes(log_path):
    """The layout of the two-node cloud: the one kept up by hand in its
    state directory (left up), or one brought up for the block and stopped
    after it, leaving no namespace of node 2 behind."""
    layout = cloud_layout.Layout(TWO_NODES_STATE_DIR, TWO_NODES_CONFIG_DIR,
                                 nodes=2)
    if orchestrator.running(layout):
        assert management.exists(layout), 'the cloud in %s has one node' % (
            TWO_NODES_STATE_DIR)
        yield layout
        return
    if process.tcp_open(cloud_layout.HOST, cloud_layout.PORTS['keystone']):
        pytest.fail('another cloud holds the ports: stop it first')
    # The same packages as the single-node cloud's: its virtualenv serves
    # (the two never run at once), sparing a second install.
    shared = cloud_layout.Layout().venv
    if os.path.isdir(shared) and not os.path.lexists(layout.venv):
        os.makedirs(layout.state, exist_ok=True)
        os.symlink(shared, layout.venv)
    with launched(['--nodes', '2', '--state-dir', TWO_NODES_STATE_DIR,
                   '--config-dir', TWO_NODES_CONFIG_DIR,
                   '--vif-plugging-timeout', '60'], log_path):
        yield layout
    assert not orchestrator.running(layout), _read(log_path)
    assert not management.exists(layout)
    assert not os.path.exists(management.netns_path())


def connected(layout):
    return helpers.Cloud(layout, {name: clouds.connect(layout, name)
                                  for name in clouds.IDENTITIES})


def _read(path):
    with open(path) as f:
        return f.read()


@pytest.fixture(scope='session')
def web_image(cloud):
    """The busybox web server, uploaded by the demo member."""
    image = cloud.upload_docker_image('tests-web', cloud.demo)
    yield image
    cloud.demo.image.delete_image(image)


@pytest.fixture(scope='session')
def flavor(cloud):
    return cloud.admin.compute.find_flavor('docker.small')


@pytest.fixture(scope='session')
def private_network(cloud):
    return cloud.demo.network.find_network('private')
