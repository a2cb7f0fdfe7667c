"""[docker] lxcfs_path: an instance's /proc shows its flavor and its own
life, seen from inside, with the real driver, engine and LXCFS (started
here, as a compute node runs it, on a mount point of its own)."""

import logging
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from novadocker import conf as nd_conf
from novadocker.virt.docker import client
from novadocker.virt.docker import hostinfo
from tests.functional.test_driver import docker_driver  # noqa: F401
from tests.functional.test_driver import run_in
from tests.functional.test_driver import spawn
from tests.unit import factories

CONF = nd_conf.CONF


def _stop(process, point):
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    # Killed, or gone before it unmounted: its mount is left behind.
    subprocess.run(['umount', '-l', point], stderr=subprocess.DEVNULL,
                   check=False)


@pytest.fixture
def lxcfs_path():
    """A private LXCFS mount, set as [docker] lxcfs_path. Request it before
    docker_driver, whose init_host reads it."""
    if not shutil.which('lxcfs'):
        pytest.skip('lxcfs is not installed (tools/setup-env.sh installs '
                    'Debian\'s lxcfs)')
    if not os.path.exists('/dev/fuse'):
        pytest.skip('no /dev/fuse: LXCFS is a FUSE filesystem')
    base = tempfile.mkdtemp(prefix='novadocker-lxcfs-', dir='/tmp')
    point = os.path.join(base, 'mnt')
    os.mkdir(point)
    log_path = os.path.join(base, 'lxcfs.log')
    with open(log_path, 'wb') as log:
        # Its own pidfile: the default is the system LXCFS's.
        process = subprocess.Popen(
            ['lxcfs', '--foreground', '--enable-cfs', '--enable-loadavg',
             '--pidfile', os.path.join(base, 'lxcfs.pid'), point],
            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while not hostinfo.lxcfs_files(point, ['proc/uptime']):
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process, point)
            with open(log_path, errors='replace') as f:
                output = f.read()[-1000:]
            shutil.rmtree(base, ignore_errors=True)
            pytest.skip('lxcfs cannot run here (exit code %s): %s'
                        % (process.returncode, output))
        time.sleep(0.1)
    CONF.set_override('lxcfs_path', point, group='docker')
    yield point
    CONF.clear_override('lxcfs_path', group='docker')
    _stop(process, point)
    shutil.rmtree(base, ignore_errors=True)


def uptime(api, instance):
    return float(run_in(api, instance, 'cat', '/proc/uptime').split()[0])


def test_an_instance_sees_its_flavor_and_its_own_uptime(
        lxcfs_path, docker_driver):  # noqa: F811
    assert docker_driver.lxcfs_files == list(hostinfo.LXCFS_FILES)
    instance = factories.instance(memory_mb=64, vcpus=1)
    spawn(docker_driver, instance)
    api = docker_driver.docker.api
    mounts = api.inspect_container(
        client.container_name(instance.uuid))['Mounts']
    assert sorted((m['Source'], m['Destination'], m['RW'])
                  for m in mounts) == [
        (os.path.join(lxcfs_path, name), '/' + name, False)
        for name in hostinfo.LXCFS_FILES]

    # One CPU of quota on a host with more (LXCFS with --enable-cfs).
    assert run_in(api, instance, 'grep', '-c', '^processor',
                  '/proc/cpuinfo') == '1\n'
    assert run_in(api, instance, 'cat',
                  '/sys/devices/system/cpu/online') == '0\n'
    meminfo = run_in(api, instance, 'cat', '/proc/meminfo')
    assert 'MemTotal:          65536 kB\n' in meminfo
    assert 'SwapTotal:             0 kB\n' in meminfo
    assert 'refused' in run_in(api, instance, 'sh', '-c',
                               'echo 1 > /proc/uptime || echo refused')

    # Counted from the container's start, and again from each restart
    # (what Tempest's reboot tests compute the boot time from).
    assert uptime(api, instance) < 30
    for reboot_type in ('SOFT', 'HARD'):
        time.sleep(2)
        assert uptime(api, instance) >= 2
        docker_driver.reboot(None, instance, instance.get_network_info(),
                             reboot_type)
        assert uptime(api, instance) < 2
    docker_driver.destroy(None, instance, None)


@pytest.fixture
def not_lxcfs(tmp_path):
    """[docker] lxcfs_path set to a plain directory. Request it before
    docker_driver, whose init_host reads it."""
    os.makedirs(tmp_path / 'proc')
    (tmp_path / 'proc' / 'cpuinfo').write_text('processor\t: 0\n')
    CONF.set_override('lxcfs_path', str(tmp_path), group='docker')
    yield str(tmp_path)
    CONF.clear_override('lxcfs_path', group='docker')


def test_without_lxcfs_the_driver_warns_and_binds_nothing(
        not_lxcfs, caplog, docker_driver):  # noqa: F811
    warnings = [r.getMessage() for r in caplog.get_records('setup')
                if r.levelno == logging.WARNING and 'lxcfs' in r.getMessage()]
    assert len(warnings) == 1
    assert ('[docker] lxcfs_path is %s but no LXCFS is mounted there'
            % not_lxcfs) in warnings[0]
    assert 'lxcfs --enable-cfs %s' % not_lxcfs in warnings[0]
    instance = factories.instance(vcpus=1)
    spawn(docker_driver, instance)
    api = docker_driver.docker.api
    assert api.inspect_container(
        client.container_name(instance.uuid))['Mounts'] == []
    # The host's view, as before the option.
    assert run_in(api, instance, 'grep', '-c', '^processor',
                  '/proc/cpuinfo') == '%d\n' % os.cpu_count()
    docker_driver.destroy(None, instance, None)
