"""The default VIF driver: the port's binding says how to plug it."""

from nova.network import model

from novadocker.virt.docker import vifs
from novadocker.virt.docker.vifs import base

# Nova VIF type -> plugin entry point, for bindings without a choice to make.
PLUGIN_BY_VIF_TYPE = {
    model.VIF_TYPE_BRIDGE: 'bridge',
    model.VIF_TYPE_VROUTER: 'vrouter',
}


def plugin_name(vif):
    """The plugin entry point for ``vif``, from vif_type and the binding's
    details.

    An ``ovs`` port is hybrid-plugged when Neutron sets ``ovs_hybrid_plug``
    (its iptables_hybrid firewall needs the Linux bridge). ``port_filter``
    changes nothing: it tells Nova that Neutron filters the port, which
    mattered only while Nova had firewall drivers of its own.
    """
    if vif['type'] == model.VIF_TYPE_OVS:
        hybrid = vif['details'].get(model.VIF_DETAILS_OVS_HYBRID_PLUG)
        return 'ovs_hybrid' if hybrid else 'ovs'
    try:
        return PLUGIN_BY_VIF_TYPE[vif['type']]
    except KeyError:
        raise base.UnsupportedVIFType(
            plugin='generic', port_id=vif['id'], vif_type=vif['type'],
            supported=', '.join([model.VIF_TYPE_OVS, *PLUGIN_BY_VIF_TYPE])
        ) from None


class GenericVIFDriver(base.VIFDriver):
    """Hands each port to the plugin its binding asks for, loading plugins
    on first use (a missing vrouter plugin fails only vrouter ports)."""

    def __init__(self):
        self._plugins = {}

    def plugin_for(self, vif):
        name = plugin_name(vif)
        if name not in self._plugins:
            self._plugins[name] = vifs.load(name)
        return self._plugins[name].plugin_for(vif)
