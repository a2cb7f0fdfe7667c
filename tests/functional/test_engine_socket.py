"""The engine's socket: never world-writable (whoever writes to it is root
on the host); the driver reaches it as an unprivileged user of the socket's
group, as nova-compute does in production, and not without the group."""

import grp
import os
import pwd
import stat
import subprocess
import sys

import pytest

# The driver's client as an unprivileged user (nobody) with the groups
# given: prints that it reached the engine, or fails with the Nova error the
# driver would raise. It starts as root and pings once, so that whatever
# the ping imports is loaded (the interpreter may live where nobody can
# read, as under /root), then drops to that user and pings again.
PING = '''
import os
import sys
from novadocker import conf
from novadocker.virt.docker import client
conf.CONF.set_override('host_url', sys.argv[1], group='docker')
client.DockerClient().ping()
os.setgroups([int(group) for group in sys.argv[4:]])
os.setgid(int(sys.argv[3]))
os.setuid(int(sys.argv[2]))
try:
    client.DockerClient().ping()
except client.DockerUnavailable as e:
    sys.exit(e.format_message())
print('reached')
'''
UNPRIVILEGED = 'nobody'
REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def test_the_engines_socket_is_not_world_writable(engine):
    mode = os.stat(engine.socket).st_mode
    assert stat.S_ISSOCK(mode)
    assert not mode & stat.S_IWOTH, oct(mode)


def _ping_as(user, engine, groups):
    ids = pwd.getpwnam(user)
    return subprocess.run(
        [sys.executable, '-c', PING, engine.url] +
        [str(i) for i in [ids.pw_uid, ids.pw_gid] + groups], cwd=REPOSITORY,
        capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize('in_group', [True, False])
def test_the_driver_needs_only_the_sockets_group(engine, in_group):
    group = os.stat(engine.socket).st_gid
    # dockerd's default --group, which Debian's docker.io package makes.
    assert grp.getgrgid(group).gr_name == 'docker'
    ping = _ping_as(UNPRIVILEGED, engine, [group] if in_group else [])
    if in_group:
        assert (ping.returncode, ping.stdout) == (0, 'reached\n'), \
            ping.stderr
    else:
        assert ping.returncode == 1
        assert 'Permission denied' in ping.stderr
        assert 'docker" group' in ping.stderr
