"""Open vSwitch plugging, native and hybrid, for the Neutron OVS agent, OVN
and OpenDaylight: all of them bind the OVS port whose Interface carries
the port id in ``external_ids:iface-id``.

Why OVN and OpenDaylight need no plugin of their own (the ``ovn`` and
``odl`` entry points are :class:`OVSPlugin`, and ``generic`` picks it for
their ports): both bind ports with vif_type ``ovs`` and no hybrid bridge,
and their whole contract with a compute driver is that port on the
integration bridge with ``iface-id`` (= the Neutron port id = OVN's logical
switch port name), ``attached-mac``, ``vm-uuid`` and ``iface-status``,
written in the same transaction as the port. ovn-controller claims it for
its chassis from that alone and reports the port up (Neutron then sends
network-vif-plugged); ODL's southbound finds it the same way and pushes
flows. Neither needs the bridge's NORMAL action nor a controller connection
at plug time: br-int is in secure fail mode under both, and nothing here
installs or expects a flow. tests/functional/test_sdn_ovn.py and
test_sdn_odl.py check this against a real OVN and a secure-mode OpenFlow 1.3
br-int with an unreachable controller.
"""

from nova.network import model
from oslo_log import log as logging

from novadocker import conf
from novadocker.virt.docker import addressing
from novadocker.virt.docker import linux_net
from novadocker.virt.docker import ovsdb
from novadocker.virt.docker.vifs import base

LOG = logging.getLogger(__name__)
CONF = conf.CONF


def port_external_ids(instance, vif):
    """What the agents read from the OVS Interface (as os-vif writes it)."""
    return {'iface-id': vif.get('ovs_interfaceid') or vif['id'],
            'iface-status': 'active',
            'attached-mac': vif['address'],
            'vm-uuid': instance.uuid}


def _ovsdb_endpoint():
    return (CONF.docker_ovs.ovsdb_connection, CONF.docker_ovs.ovsdb_timeout)


class OVSPlugin(base.VIFPlugin):
    """Native OVS: the instance's tap is itself the port on the integration
    bridge (the openvswitch firewall, OVN and ODL filter in OVS flows)."""

    vif_types = (model.VIF_TYPE_OVS,)

    def _add_port(self, instance, vif, port, undo):
        bridge = addressing.bridge_name(vif)
        if ovsdb.add_port(*_ovsdb_endpoint(), bridge, port,
                          port_external_ids(instance, vif)):
            undo.add('remove OVS port %s' % port,
                     ovsdb.delete_port, *_ovsdb_endpoint(), port)
        LOG.debug('Port %s of %s is OVS port %s on %s', vif['id'],
                  instance.uuid, port, bridge, instance=instance)

    def plug(self, instance, vif, host_ifname, undo):
        self._add_port(instance, vif, host_ifname, undo)

    def unplug(self, instance, vif):
        ovsdb.delete_port(*_ovsdb_endpoint(), addressing.tap_name(vif))


class OVSHybridPlugin(OVSPlugin):
    """Hybrid: tap -> Linux bridge qbr <- qvb = qvo -> OVS.

    It exists for Neutron's iptables_hybrid firewall, which filters the
    instance's traffic in iptables on the qbr bridge. Docker sets the host's
    FORWARD policy to DROP and leaves bridge-nf-call-iptables on, so frames
    crossing qbr are dropped unless something accepts them. nova-docker
    deliberately adds no ACCEPT rule: the iptables_hybrid firewall (the only
    reason Neutron asks for hybrid plugging) installs per-port rules that
    accept exactly the traffic the security groups allow, and a blanket
    accept would bypass them. On a Docker host, hybrid ports therefore need
    that firewall running; with the openvswitch firewall, OVN or ODL,
    Neutron asks for native plugging and no Linux bridge is involved.
    """

    def prepare(self, instance, vif, undo):
        qbr, qvb, qvo = (addressing.hybrid_bridge_name(vif),
                         addressing.hybrid_bridge_end(vif),
                         addressing.hybrid_ovs_end(vif))
        mtu = addressing.mtu(vif)
        if linux_net.ensure_bridge(qbr, mtu):
            undo.add('delete bridge %s' % qbr, linux_net.delete_device, qbr)
        if linux_net.ensure_veth_pair(qvb, qvo, mtu):
            undo.add('delete veth %s' % qvb, linux_net.delete_device, qvb)
        linux_net.join_bridge(qvb, qbr)
        self._add_port(instance, vif, qvo, undo)

    def plug(self, instance, vif, host_ifname, undo):
        linux_net.join_bridge(host_ifname, addressing.hybrid_bridge_name(vif))

    def unplug(self, instance, vif):
        ovsdb.delete_port(*_ovsdb_endpoint(), addressing.hybrid_ovs_end(vif))
        linux_net.delete_device(addressing.hybrid_bridge_end(vif))
        linux_net.delete_device(addressing.hybrid_bridge_name(vif))
