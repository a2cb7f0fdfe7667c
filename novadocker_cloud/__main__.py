"""README command 1: a real single-node OpenStack booting containers.

    python -m novadocker_cloud            bring the cloud up, run the demo
                                          (boot, snapshot, delete), stop
    python -m novadocker_cloud --serve    bring it up and keep it up until
                                          Ctrl-C or ``... stop``
    python -m novadocker_cloud tempest    Tempest against it (the served cloud,
                                          or one brought up for the run)
    python -m novadocker_cloud soak       cycles of server operations under
                                          service faults (the served cloud,
                                          or one brought up for the run)
    python -m novadocker_cloud audit      what belongs to no server
    python -m novadocker_cloud status     its processes and their memory
    python -m novadocker_cloud stop       stop a cloud left serving
"""

import argparse
import signal
import sys
import threading

from novadocker_cloud import audit
from novadocker_cloud import clouds
from novadocker_cloud import demo
from novadocker_cloud import layout as cloud_layout
from novadocker_cloud import orchestrator
from novadocker_cloud import process
from novadocker_cloud import soak
from novadocker_cloud import status
from novadocker_cloud import tempest
from novadocker_cloud.services import docker
from novadocker_cloud.services import glance
from novadocker_cloud.services import keystone
from novadocker_cloud.services import lxcfs
from novadocker_cloud.services import management
from novadocker_cloud.services import mariadb
from novadocker_cloud.services import metadata
from novadocker_cloud.services import network
from novadocker_cloud.services import neutron
from novadocker_cloud.services import node
from novadocker_cloud.services import nova
from novadocker_cloud.services import openvswitch
from novadocker_cloud.services import ovn
from novadocker_cloud.services import placement
from novadocker_cloud.services import rabbitmq
from novadocker_cloud.services import venv

# In dependency order (each names what it needs in ``after``).
SERVICES = (venv.Venv, mariadb.MariaDB, rabbitmq.RabbitMQ,
            openvswitch.OpenvSwitch, ovn.OVN, docker.Docker, lxcfs.LXCFS,
            nova.NovaDatabases, neutron.NeutronDatabase,
            glance.GlanceDatabase, keystone.Keystone, glance.Glance,
            placement.Placement, neutron.Neutron, network.Network, nova.Nova,
            metadata.Metadata)
# What ``--nodes 2`` adds: the links and namespaces, then node 2 itself.
SECOND_NODE = (management.Management, node.SecondNode)


def parse(argv):
    parser = argparse.ArgumentParser(
        prog='python -m novadocker_cloud', description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('command', nargs='?', default='demo',
                        choices=('demo', 'up', 'tempest', 'soak', 'audit',
                                 'status', 'stop'),
                        help='demo (default), up (same as --serve), '
                        'tempest, soak, audit, status, stop')
    parser.add_argument('--serve', action='store_true',
                        help='stay up after bringing the cloud up')
    parser.add_argument('--state-dir', default=cloud_layout.DEFAULT_STATE_DIR)
    parser.add_argument('--config-dir',
                        default=cloud_layout.DEFAULT_CONFIG_DIR)
    parser.add_argument('--regex', default=tempest.SELECTION,
                        help='tempest: the tests to run (default: the full '
                        'selection of doc/tempest.md)')
    parser.add_argument('--smoke', dest='regex', action='store_const',
                        const=tempest.SMOKE,
                        help='tempest: what CI runs, Tempest\'s smoke tests '
                        'and the basic server and network scenarios')
    parser.add_argument('--concurrency', type=int, default=2,
                        help='tempest: workers')
    parser.add_argument('--cycles', type=int, default=30,
                        help='soak: cycles to run')
    parser.add_argument('--seed', type=int,
                        help='soak: replay the choices of a printed seed')
    parser.add_argument('--seconds', type=int,
                        help='soak: time budget (default 60 s a cycle)')
    parser.add_argument('--nodes', type=int, choices=(1, 2), default=1,
                        help='compute nodes: 2 adds a second one in its own '
                        'namespaces on this machine (doc/cloud.md)')
    parser.add_argument('--vif-plugging-timeout', type=int, default=300,
                        help="nova-compute's wait for network-vif-plugged")
    return parser.parse_args(argv)


def main(argv=None):
    options = parse(sys.argv[1:] if argv is None else argv)
    layout = cloud_layout.Layout(options.state_dir, options.config_dir,
                                 options.nodes)
    if options.command == 'stop':
        orchestrator.stop(layout, service_classes=SERVICES + SECOND_NODE)
        return 0
    if options.command == 'status':
        status.report(layout)
        return 0
    if options.command == 'audit':
        audit.report(audit.orphans(layout, clouds.connect(layout, 'admin')))
        return 0
    if options.command in ('tempest', 'soak') and orchestrator.running(
            layout):
        return act(options, layout)
    cloud = orchestrator.Orchestrator(
        layout, SERVICES + (SECOND_NODE if options.nodes == 2 else ()),
        options)
    try:
        cloud.up()
    except process.StartError as error:
        print('\nERROR: %s' % error, file=sys.stderr)
        return 1
    clouds.write(layout)
    try:
        if options.serve or options.command == 'up':
            serve(cloud, layout)
        elif options.command in ('tempest', 'soak'):
            return act(options, layout)
        else:
            demo.run(layout, cloud.say)
    finally:
        cloud.down()
        cloud.say('stopped')
    return 0


def act(options, layout):
    """Run Tempest or the soak against the running cloud; exit status."""
    if options.command == 'tempest':
        return tempest.run(layout, options.regex, options.concurrency)
    try:
        soak.run(layout, options.cycles, options.seed, options.seconds)
    except soak.SoakFailure as failure:
        print('\nSOAK FAILED: %s' % failure, file=sys.stderr)
        return 1
    return 0


def serve(cloud, layout):
    """Stay up until Ctrl-C, SIGTERM or ``python -m novadocker_cloud
    stop`` (which stops the processes; the launcher notices)."""
    cloud.say('serving. In another shell:\n\n    export '
              'OS_CLIENT_CONFIG_FILE=%s OS_CLOUD=demo PATH=%s/bin:$PATH\n'
              '    openstack server list\n\n(OS_CLOUD=admin for the admin; '
              'logs in %s; Ctrl-C stops everything)' % (
                  clouds.path(layout), layout.venv, layout.logs))
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        while not stopped.wait(2):
            if not orchestrator.running(layout):
                break
    except KeyboardInterrupt:
        pass


if __name__ == '__main__':
    sys.exit(main())
