"""Linux bridge plugging, for the Neutron linuxbridge agent."""

from nova.network import model

from novadocker.virt.docker import addressing
from novadocker.virt.docker import linux_net
from novadocker.virt.docker.vifs import base


class BridgePlugin(base.VIFPlugin):
    """The instance's tap joins the network's bridge (brq<network id>).

    The bridge is created if the agent has not made it yet, as os-vif does;
    it is shared by every port of the network, so unplugging leaves it to
    the agent.
    """

    vif_types = (model.VIF_TYPE_BRIDGE,)

    def prepare(self, instance, vif, undo):
        bridge = addressing.bridge_name(vif)
        if linux_net.ensure_bridge(bridge, addressing.mtu(vif)):
            undo.add('delete bridge %s' % bridge, linux_net.delete_device,
                     bridge)

    def plug(self, instance, vif, host_ifname, undo):
        linux_net.join_bridge(host_ifname, addressing.bridge_name(vif))

    def unplug(self, instance, vif):
        """Nothing: the tap, removed by the caller, was the port's only
        device."""
