"""The cloud's second compute node (``--nodes 2``), laid out as a machine
of its own: in node 2's namespaces (services/management.py) it runs its own
Docker engine (data root in its state directory), its own OVS, LXCFS and
ovn-controller (a second OVN chassis, not a gateway) and its own
nova-compute as the ``nova`` user, host ``<hostname>-node2``. It shares
nothing with node 1 but the cloud's APIs and message bus over the
management link, and Geneve over the tunnel link between the two nodes'
``br-phy`` bridges: no engine, no OVS, no /run, no state directory."""

import functools
import os
import time

from pyroute2 import IPRoute

from novadocker_cloud import layout as cloud_layout
from novadocker_cloud import process
from novadocker_cloud.services import docker as docker_service
from novadocker_cloud.services import lxcfs
from novadocker_cloud.services import management
from novadocker_cloud.services import nova
from novadocker_cloud.services import openvswitch
from novadocker_cloud.services import ovn
from novadocker_cloud import services

PREFIX = 'node2-'
TUNNEL_BRIDGE = 'br-phy'


def sb_remote(layout):
    return 'tcp:%s:%d' % (layout.control_host,
                          cloud_layout.PORTS['ovn_sb'])


def tunnel_bridge(node, port, vsctl, ip):
    """``br-phy`` with the tunnel link's end as its port and the node's
    Geneve endpoint on its internal device: the userspace datapath sends
    a tunnel's packets out of the bridge whose address the route to the
    far endpoint leaves from, and takes in the ones for that address."""
    vsctl('--may-exist', 'add-br', TUNNEL_BRIDGE, '--', 'set', 'Bridge',
          TUNNEL_BRIDGE, 'datapath_type=netdev',
          'other_config:disable-in-band=true',
          '--', '--may-exist', 'add-port', TUNNEL_BRIDGE, port)
    index = _device(ip, TUNNEL_BRIDGE)
    have = {a.get_attr('IFA_ADDRESS')
            for a in ip.get_addr(index=index, family=2)}
    if node.tunnel_address not in have:
        ip.addr('add', index=index, address=node.tunnel_address,
                prefixlen=cloud_layout.NODE_PREFIXLEN)
    ip.link('set', index=index, state='up')


def _device(ip, name, timeout=30):
    """The index of device ``name``: a bridge already in a database that
    a starting vswitchd has not made its device for yet is not waited for
    by ``--may-exist add-br``."""
    deadline = time.monotonic() + timeout
    while True:
        found = ip.link_lookup(ifname=name)
        if found:
            return found[0]
        if time.monotonic() > deadline:
            raise process.StartError('no device %s after %ds' % (name,
                                                                 timeout))
        time.sleep(0.2)


class SecondNode(services.Service):
    name = 'node2'
    after = ('management', 'nova', 'ovn', 'lxcfs')

    def up(self):
        layout = self.layout
        node = cloud_layout.Node(layout, management.NODE)
        os.makedirs(node.data('run'), exist_ok=True)
        enter = functools.partial(management.enter, layout)
        vsctl = functools.partial(openvswitch.vsctl, enter=enter)
        engine = docker_service.start(
            self, PREFIX + 'dockerd', node.data('run', 'docker-engine.pid'),
            enter, data_root=node.data('docker'))
        lxcfs_point = node.data('lxcfs')
        lxcfs.serve(self, PREFIX + 'lxcfs', lxcfs_point,
                    node.data('run', 'lxcfs.lock'), enter)
        openvswitch.start(self, node.data('openvswitch', 'conf.db'), PREFIX,
                          enter)
        self._tunnels(node, vsctl)
        ovn.start_controller(self, PREFIX + 'ovn-controller', node.name,
                             sb_remote(layout), node.tunnel_address,
                             node.data('run', 'ovn'), enter=enter)
        nova.prepare_user(self, node)
        conf = nova.write_compute_conf(self, node, lxcfs_path=lxcfs_point)
        since = nova.utc_now()
        compute = self.daemon(PREFIX + 'nova-compute', management.enter(
            layout, [
                # Namespaces are entered as root, then the nova user runs.
                'setpriv', '--reuid', nova.USER, '--regid', nova.USER,
                '--init-groups', layout.bin('nova-compute'), '--config-file',
                conf], cwd=node.data('nova')),
            env=dict(os.environ, HOME=node.data('nova')))
        nova.wait_for_compute(self, node, compute, since)
        return 'host %s at %s: engine %s, chassis with Geneve at %s' % (
            node.name, node.address, docker_service.answers(engine),
            node.tunnel_address)

    def _tunnels(self, node, vsctl):
        """Both ends of Geneve: node 1's (its encapsulation address moves
        from 127.0.0.1 to its br-phy) and node 2's."""
        first = cloud_layout.Node(self.layout, 1)
        with IPRoute() as ip:
            tunnel_bridge(first, management.TUNNEL_LINK[0],
                          openvswitch.vsctl, ip)
        openvswitch.vsctl('set', 'Open_vSwitch', '.',
                          'external_ids:ovn-encap-ip=' + first.tunnel_address)
        with IPRoute(netns=management.NETNS) as ip:
            tunnel_bridge(node, management.TUNNEL_LINK[1], vsctl, ip)
