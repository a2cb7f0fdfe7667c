"""OVN: the northbound and southbound databases and ovn-northd (the
central part Neutron talks to), and ovn-controller making this host's OVS a
chassis that can also be the gateway. ``br-ex`` carries the provider
network of floating IPs; its host side holds the network's first address,
so floating IPs are reachable from this host and from nowhere else."""

import functools
import json
import os

from pyroute2 import IPRoute

from novadocker_cloud import layout as cloud_layout
from novadocker_cloud import process
from novadocker_cloud import services
from novadocker_cloud.services import openvswitch

SCHEMAS = '/usr/share/ovn'
PUBLIC_BRIDGE = 'br-ex'
INTEGRATION_BRIDGE = 'br-int'


def nb_connection():
    return 'tcp:%s:%d' % (cloud_layout.HOST, cloud_layout.PORTS['ovn_nb'])


def sb_connection():
    return 'tcp:%s:%d' % (cloud_layout.HOST, cloud_layout.PORTS['ovn_sb'])


def nbctl(*args):
    return process.run(['ovn-nbctl', '--db=' + nb_connection(),
                        '--timeout=10', *args]).strip()


def sbctl(*args):
    return process.run(['ovn-sbctl', '--db=' + sb_connection(),
                        '--timeout=10', *args]).strip()


def appctl(layout, daemon, *args):
    """``ovn-appctl`` to one of the cloud's OVN daemons (``ovn-northd``,
    ``ovn-controller``), by the control socket its pid names."""
    with open(layout.pidfile(daemon)) as f:
        pid = f.read().strip()
    socket = os.path.join(layout.data('run', 'ovn'), '%s.%s.ctl' % (
        daemon, pid))
    return process.run(['ovn-appctl', '-t', socket, *args]).strip()


def chassis_hostnames():
    out = json.loads(sbctl('--format=json', '--columns=hostname', 'list',
                           'Chassis'))
    return [row[0] for row in out['data']]


def start_controller(service, name, chassis, remote, encap_ip, run_dir,
                     external_ids=(), enter=list):
    """ovn-controller making the OVS of the /run it sees (``enter``: a
    node's) the chassis ``chassis``, tunnelling Geneve from ``encap_ip``;
    its control socket in ``run_dir``."""
    vsctl = functools.partial(openvswitch.vsctl, enter=enter)
    vsctl('set', 'Open_vSwitch', '.', *('external_ids:' + setting for setting
                                        in ('system-id=' + chassis,
                                            'hostname=' + chassis,
                                            'ovn-remote=' + remote,
                                            'ovn-encap-type=geneve',
                                            'ovn-encap-ip=' + encap_ip,
                                            'ovn-bridge=' + INTEGRATION_BRIDGE,
                                            'ovn-bridge-datapath-type=netdev',
                                            *external_ids)))
    os.makedirs(run_dir, exist_ok=True)
    controller = service.daemon(name, enter([
        'ovn-controller', openvswitch.CONNECTION,
        '--pidfile=' + os.path.join(run_dir, 'ovn-controller.pid'),
        '--log-file=' + service.layout.log(name)]),
        env=dict(os.environ, OVN_RUNDIR=run_dir))
    controller.wait_until(lambda: chassis in chassis_hostnames(),
                          'chassis %s in the southbound database' % chassis,
                          60)
    controller.wait_until(lambda: vsctl(
        '--if-exists', 'get', 'Bridge', INTEGRATION_BRIDGE,
        'datapath_type') == 'netdev', 'br-int', 60)


class OVN(services.Service):
    name = 'ovn'
    after = ('openvswitch', 'management')

    def _env(self):
        return dict(os.environ, OVN_RUNDIR=self.layout.data('run', 'ovn'))

    def up(self):
        directory = self.layout.data('ovn')
        os.makedirs(directory, exist_ok=True)
        os.makedirs(self.layout.data('run', 'ovn'), exist_ok=True)
        databases = []
        for db, port in (('nb', cloud_layout.PORTS['ovn_nb']),
                         ('sb', cloud_layout.PORTS['ovn_sb'])):
            path = os.path.join(directory, 'ovn%s_db.db' % db)
            schema = os.path.join(SCHEMAS, 'ovn-%s.ovsschema' % db)
            if not os.path.exists(path):
                self.run('ovsdb-tool', 'create', path, schema)
            elif self.run('ovsdb-tool', 'needs-conversion', path,
                          schema).strip() == 'yes':
                self.run('ovsdb-tool', 'convert', path, schema)
            process.port_free(cloud_layout.HOST, port)
            # Further nodes' ovn-controllers reach the SB over the
            # management link.
            hosts = self.layout.listen_hosts if db == 'sb' else \
                [cloud_layout.HOST]
            databases.append(self.daemon('ovsdb-server-' + db, [
                'ovsdb-server', path,
                *('--remote=ptcp:%d:%s' % (port, host) for host in hosts),
                '--remote=punix:' + os.path.join(directory, db + '.sock'),
                '--unixctl=' + os.path.join(directory, db + '.ctl'),
                '--pidfile=' + os.path.join(directory, db + '.pid'),
                '--log-file=' + self.layout.log('ovsdb-server-' + db)],
                env=self._env()))
        for daemon, port in zip(databases, (cloud_layout.PORTS['ovn_nb'],
                                            cloud_layout.PORTS['ovn_sb'])):
            daemon.wait_until(
                lambda: process.tcp_open(cloud_layout.HOST, port),
                'a listener on %d' % port, 30)
        self.daemon('ovn-northd', [
            'ovn-northd', '--ovnnb-db=' + nb_connection(),
            '--ovnsb-db=' + sb_connection(),
            '--pidfile=' + os.path.join(directory, 'ovn-northd.pid'),
            '--log-file=' + self.layout.log('ovn-northd')], env=self._env())
        self._public_bridge()
        start_controller(
            self, 'ovn-controller', self.layout.hostname, sb_connection(),
            cloud_layout.HOST, self.layout.data('run', 'ovn'),
            ['ovn-bridge-mappings=%s:%s' % (cloud_layout.PHYSNET,
                                            PUBLIC_BRIDGE),
             'ovn-cms-options=enable-chassis-as-gw'])
        return 'NB %s, SB %s, chassis %s, %s %s/24' % (
            nb_connection(), sb_connection(), self.layout.hostname,
            PUBLIC_BRIDGE, cloud_layout.PUBLIC_HOST_ADDRESS)

    def _public_bridge(self):
        openvswitch.vsctl(
            '--may-exist', 'add-br', PUBLIC_BRIDGE, '--', 'set', 'Bridge',
            PUBLIC_BRIDGE, 'datapath_type=netdev',
            'other_config:disable-in-band=true')
        with IPRoute() as ip:
            index = ip.link_lookup(ifname=PUBLIC_BRIDGE)
            index = index[0]
            prefix = int(cloud_layout.PUBLIC_CIDR.split('/')[1])
            have = {a.get_attr('IFA_ADDRESS')
                    for a in ip.get_addr(index=index, family=2)}
            if cloud_layout.PUBLIC_HOST_ADDRESS not in have:
                ip.addr('add', index=index,
                        address=cloud_layout.PUBLIC_HOST_ADDRESS,
                        prefixlen=prefix)
            ip.link('set', index=index, state='up')
