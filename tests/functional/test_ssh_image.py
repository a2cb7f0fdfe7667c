"""The SSH test image for Tempest's validation in the real engine: a real
login with a keypair written the way the driver injects it, the commands
Tempest runs over SSH, and a PID 1 that ends at once on SIGTERM."""

import socket
import subprocess
import time

import pytest

from novadocker import conf as nd_conf
from novadocker.virt.docker import spec
from novadocker_cloud import ssh_image

CONF = nd_conf.CONF
TAG = 'novadocker-test/ssh:latest'
READY = 'sshd ready'
# Tempest's validation and scenario checks run these over SSH.
TEMPEST_COMMANDS = (
    'id -u', 'hostname', 'ip addr', 'ip route', 'cat /proc/meminfo',
    'cat /proc/cpuinfo', 'df -h /', 'mount', 'uname -a',
    'ps', 'ls -la /root/.ssh', 'cat /etc/hostname', 'free',
    "awk '{print $1}' /proc/loadavg | cut -d. -f1",
    'echo b a a | tr " " "\\n" | sort | uniq', 'nproc', 'sleep 0.1',
    'sudo ip link', 'sudo sh -c "id -u"',
)


@pytest.fixture(scope='module')
def api(engine):
    with engine.client() as client:
        ssh_image.build(client, TAG)
        yield client
        client.remove_image(TAG)


@pytest.fixture(scope='module')
def key(tmp_path_factory):
    """A fresh ed25519 keypair: the private key's path."""
    path = tmp_path_factory.mktemp('ssh') / 'id_ed25519'
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f',
                    str(path)], check=True)
    return path


@pytest.fixture
def run(api, key):
    """Start a container of the image, the key injected as the driver does
    before start, with the driver's default privileges; removed after."""
    started = []

    def run(command=None, **host_config):
        host_config.update(spec.security(False, CONF.docker.cap_drop,
                                         CONF.docker.no_new_privileges))
        # No port is coming: the init need not wait for one.
        cid = api.create_container(
            TAG, command=command, hostname='ssh-test',
            environment={'PORT_WAIT': '0'},
            host_config=api.create_host_config(**host_config))['Id']
        started.append(cid)
        public_key = key.with_suffix('.pub').read_text()
        api.put_archive(cid, '/', spec.authorized_keys_tar(public_key))
        api.start(cid)
        wait_for_log(api, cid, READY)
        return cid
    yield run
    for cid in started:
        api.remove_container(cid, force=True)


def wait_for_log(api, cid, text, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = api.logs(cid).decode(errors='replace')
        if text in log:
            return log
        assert api.inspect_container(cid)['State']['Running'], log
        time.sleep(0.1)
    raise AssertionError('no %r in the console log: %s' % (text, log))


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def ssh(key, port, command, netns_pid=None):
    """Run ``command`` as root over SSH at 127.0.0.1:``port``, from the
    network namespace of ``netns_pid`` if given; its stdout."""
    argv = ['ssh', '-i', str(key), '-p', str(port),
            '-o', 'StrictHostKeyChecking=no',
            '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes',
            'root@127.0.0.1', command]
    if netns_pid:
        argv = ['nsenter', '--net=/proc/%d/ns/net' % netns_pid] + argv
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, (argv, result.stdout, result.stderr)
    return result.stdout


def test_login_with_the_injected_key_on_another_port(api, key, run):
    port = free_port()
    cid = run(command=list(ssh_image.COMMAND) + [str(port)],
              network_mode='none')
    pid = api.inspect_container(cid)['State']['Pid']
    assert ssh(key, port, 'hostname', netns_pid=pid).strip() == 'ssh-test'
    for command in TEMPEST_COMMANDS:
        ssh(key, port, command, netns_pid=pid)
    log = api.logs(cid).decode()
    assert "Pubkey auth succeeded for 'root'" in log


def test_default_command_serves_port_22_in_its_own_namespace(api, key, run):
    """As the driver runs it: its own network namespace and port 22."""
    cid = run(network_mode='none')
    pid = api.inspect_container(cid)['State']['Pid']
    assert ssh(key, 22, 'hostname', netns_pid=pid).strip() == 'ssh-test'
    assert ssh(key, 22, 'ls /etc/dropbear', netns_pid=pid).split()


def test_stop_is_prompt(api, run):
    cid = run(network_mode='none')
    started = time.monotonic()
    api.stop(cid, timeout=10)
    assert time.monotonic() - started < 3
    assert api.inspect_container(cid)['State']['ExitCode'] == 0
