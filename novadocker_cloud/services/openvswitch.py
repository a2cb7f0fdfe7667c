"""The host's Open vSwitch, on the userspace datapath (no kernel module
here): the one already running, or ovsdb-server and ovs-vswitchd started
with their database in the state directory."""

import os

from novadocker_cloud import layout as cloud_layout
from novadocker_cloud import process
from novadocker_cloud import services

RUNDIR = '/var/run/openvswitch'
DB_SOCKET = os.path.join(RUNDIR, 'db.sock')
CONNECTION = 'unix:' + DB_SOCKET
SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema'


def vsctl(*args, timeout=20, enter=list):
    """ovs-vsctl on the OVS of the /run it sees (``enter``: a node's)."""
    return process.run(enter(['ovs-vsctl', '--db=' + CONNECTION,
                              '--timeout=%d' % timeout, *args])).strip()


def start(service, db, prefix='', enter=list):
    """ovsdb-server on ``db`` and ovs-vswitchd, at the standard paths of
    the /run they see; their names begin with ``prefix``."""
    if not os.path.exists(db):
        os.makedirs(os.path.dirname(db), exist_ok=True)
        service.run('ovsdb-tool', 'create', db, SCHEMA)
    server = service.daemon(prefix + 'ovsdb-server', enter([
        'ovsdb-server', db, '--remote=punix:' + DB_SOCKET,
        '--remote=db:Open_vSwitch,Open_vSwitch,manager_options',
        '--pidfile=' + os.path.join(RUNDIR, 'ovsdb-server.pid'),
        '--log-file=' + service.layout.log(prefix + 'ovsdb-server-file')]))
    server.wait_until(lambda: vsctl('--no-wait', 'init', timeout=2,
                                    enter=enter) is not None,
                      'an answer on its socket')
    vswitchd = service.daemon(prefix + 'ovs-vswitchd', enter([
        'ovs-vswitchd', CONNECTION,
        '--pidfile=' + os.path.join(RUNDIR, 'ovs-vswitchd.pid'),
        '--log-file=' + service.layout.log(prefix + 'ovs-vswitchd-file')]))
    # Without --no-wait, vsctl returns once vswitchd applied the change.
    vswitchd.wait_until(lambda: vsctl(
        'set', 'Open_vSwitch', '.', 'other_config:novadocker-cloud=1',
        timeout=5, enter=enter) is not None, 'the database applied', 60)


class OpenvSwitch(services.Service):
    name = 'openvswitch'

    def up(self):
        try:
            vsctl('show', timeout=2)
            return 'the host OVS at %s (already running)' % CONNECTION
        except (process.StartError, OSError):
            pass
        os.makedirs(RUNDIR, exist_ok=True)
        if not os.path.exists('/dev/net/tun'):
            os.makedirs('/dev/net', exist_ok=True)
            os.mknod('/dev/net/tun', 0o666 | 0o020000, os.makedev(10, 200))
        start(self, self.layout.data('openvswitch', 'conf.db'))
        vsctl('--no-wait', 'set-manager', 'ptcp:%d:%s' % (
            cloud_layout.PORTS['ovsdb'], cloud_layout.HOST))
        return CONNECTION
