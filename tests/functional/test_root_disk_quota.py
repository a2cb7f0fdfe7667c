"""Root disks against real engines: the flavor's root_gb limits what an
instance writes where the engine's storage can enforce it, nova-compute's
start-up where it cannot, and the disk figures Nova is given."""

import os
import shutil
import subprocess
import sys

from nova.compute import power_state
from nova.virt import fake
from oslo_utils import units
import pytest

from novadocker import conf as nd_conf
from novadocker.virt.docker import client
from novadocker.virt.docker import driver
from tests.fixtures import engine as engine_fixture
from tests.functional import test_driver as driver_tests
from tests.unit import factories

CONF = nd_conf.CONF
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
# What a write past the limit fails with: XFS reports a project quota as a
# full disk; btrfs reports its qgroup as a quota.
WRITE_ERRORS = {'xfs': 'No space left on device',
                'btrfs': 'Disk quota exceeded'}


def refusal(engine):
    """Why ``engine`` cannot limit root disks, or None."""
    CONF.set_override('host_url', engine.url, group='docker')
    try:
        return client.DockerClient().root_disk_quota_refusal()
    finally:
        CONF.clear_override('host_url', group='docker')


@pytest.fixture(scope='module', params=sorted(WRITE_ERRORS))
def quota_engine(request, engine):
    """An engine that limits root disks: the session's (overlay2 on XFS
    with pquota, where the kernel has XFS quotas), and one with Docker's
    btrfs storage driver."""
    if request.param == 'xfs':
        reason = refusal(engine)
        if reason:
            mount = ('with pquota' if engine.data_options else
                     'without quotas (the kernel refused pquota)')
            pytest.skip('the session engine cannot limit root disks (%s); '
                        'its XFS is mounted %s' % (reason, mount))
        yield engine
        return
    if not shutil.which('mkfs.btrfs'):
        pytest.skip('no mkfs.btrfs (btrfs-progs)')
    btrfs = engine_fixture.DockerEngine(data_fs='btrfs').start()
    try:
        with btrfs.client() as api:
            engine_fixture.build_test_image(api)
        yield btrfs
    finally:
        btrfs.stop()


@pytest.fixture(scope='module')
def plain_engine():
    """An engine whose data root is a directory of /tmp's filesystem:
    overlay2 over ext4, no root disk limits."""
    plain = engine_fixture.DockerEngine(data_fs=None).start()
    with plain.client() as api:
        engine_fixture.build_test_image(api)
    yield plain
    plain.stop()


def instance_with_root_gb(root_gb):
    instance = factories.instance()
    instance.flavor.root_gb = root_gb
    return instance


def test_writing_past_the_root_disk_fails_and_nothing_else_does(
        quota_engine):
    with driver_tests.driver_on(quota_engine) as drv:
        assert drv.root_disk_quota
        full, other = instance_with_root_gb(1), instance_with_root_gb(1)
        for instance in (full, other):
            driver_tests.spawn(drv, instance)
        api = drv.docker.api
        attrs = api.inspect_container(client.container_name(full.uuid))
        assert attrs['HostConfig']['StorageOpt'] == {'size': '1G'}

        output = driver_tests.run_in(
            api, full, 'sh', '-c',
            # dd's complaint on the same stream as the rest: the engine
            # does not keep the order of stdout and stderr.
            'dd if=/dev/zero of=/big bs=1M count=1536 2>&1; echo "exit $?"; '
            'wc -c < /big')
        message, status, size = output.strip().rsplit('\n', 2)
        assert "error writing '/big': " + WRITE_ERRORS[
            quota_engine.data_fs] in message
        assert status == 'exit 1'
        assert 0.9 * units.Gi < int(size) <= units.Gi

        # The other instance, and the host, still have room.
        assert driver_tests.run_in(
            api, other, 'sh', '-c',
            'head -c 100m /dev/zero > /f && wc -c < /f').strip() == str(
                100 * units.Mi)
        data = os.statvfs(quota_engine.data_root)
        assert data.f_bavail * data.f_frsize > units.Gi
        # The full one runs on, and has its room back once it deletes.
        assert drv.get_info(full).state == power_state.RUNNING
        assert driver_tests.run_in(
            api, full, 'sh', '-c',
            'rm /big && sync && head -c 1m /dev/zero > /f && echo ok'
        ).strip() == 'ok'
        for instance in (full, other):
            drv.destroy(None, instance, None)


def test_an_engine_that_cannot_limit_root_disks(plain_engine, caplog):
    with driver_tests.driver_on(plain_engine) as drv:
        assert not drv.root_disk_quota
        assert 'cannot limit a container\'s root disk' in caplog.text
        assert 'pquota' in caplog.text
        # Instances still boot, without a limit.
        instance = instance_with_root_gb(1)
        driver_tests.spawn(drv, instance)
        attrs = drv.docker.api.inspect_container(
            client.container_name(instance.uuid))
        assert not attrs['HostConfig'].get('StorageOpt')
        drv.destroy(None, instance, None)
        # The probe left nothing behind.
        assert not drv.docker.api.containers(
            all=True, filters={'name': client.QUOTA_PROBE_PREFIX})
        assert not drv.docker.api.images(client.QUOTA_PROBE_PREFIX + '*')


def test_required_root_disk_limits_refuse_an_engine_without(plain_engine):
    CONF.set_override('host_url', plain_engine.url, group='docker')
    CONF.set_override('require_root_disk_quota', True, group='docker')
    try:
        drv = driver.DockerDriver(fake.FakeVirtAPI())
        with pytest.raises(driver.RootDiskQuotaUnavailable) as e:
            drv.init_host('testhost')
    finally:
        CONF.clear_override('host_url', group='docker')
        CONF.clear_override('require_root_disk_quota', group='docker')
    assert "overlay over xfs with 'pquota' mount option" in \
        e.value.format_message()
    assert drv.lifecycle_events is None


def test_disk_figures_are_the_data_roots_filesystem(engine):
    with driver_tests.driver_on(engine) as drv:
        info = drv.docker.info()
        resources = drv.get_available_resource('testhost')
    root = info['DockerRootDir']
    # A remapping engine keeps its data in <data root>/<uid>.<gid>.
    assert engine.data_root in (root, os.path.dirname(root))
    assert os.stat(root).st_dev == os.stat(engine.data_root).st_dev
    assert ['Backing Filesystem', 'xfs'] in info['DriverStatus']
    data = os.statvfs(engine.data_root)
    assert resources['local_gb'] == data.f_blocks * data.f_frsize // units.Gi
    assert resources['local_gb'] < engine_fixture.DATA_DISK_BYTES // units.Gi
    assert resources['local_gb_used'] == (
        (data.f_blocks - data.f_bfree) * data.f_frsize // units.Gi)
    assert resources['disk_available_least'] == (
        data.f_bavail * data.f_frsize // units.Gi)


def loop_devices(disk):
    return subprocess.run(['losetup', '-j', disk], capture_output=True,
                          text=True, check=True).stdout.strip()


def test_the_data_disk_goes_with_its_engine():
    engine = engine_fixture.DockerEngine().start()
    disk = engine.data_disk
    assert loop_devices(disk)
    engine.stop()
    assert not loop_devices(disk)
    assert not os.path.exists(engine.base_dir)


def test_a_crashed_runs_engine_is_removed_by_the_next():
    """A run killed before it stopped its engine leaves dockerd running on
    a mounted loop device: the next engine's start removes all of it."""
    crashed = subprocess.Popen(
        [sys.executable, '-c',
         'import time\n'
         'from tests.fixtures import engine\n'
         'print(engine.DockerEngine().start().base_dir, flush=True)\n'
         'time.sleep(600)\n'],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    base_dir = crashed.stdout.readline().strip()
    crashed.kill()
    crashed.wait()
    disk = os.path.join(base_dir, 'data.img')
    assert loop_devices(disk)

    engine_fixture.remove_orphans()
    assert not os.path.exists(base_dir)
    assert not loop_devices(disk)
    assert not engine_fixture._mounts_below(base_dir)
