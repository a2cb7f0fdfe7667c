"""Which plugin plugs which port, and how [docker] vif_driver finds it."""

import configparser
from importlib import metadata
import os

from nova.network import model
import pytest

from novadocker.virt.docker import vifs
from novadocker.virt.docker.vifs import base
from novadocker.virt.docker.vifs import bridge
from novadocker.virt.docker.vifs import generic
from novadocker.virt.docker.vifs import ovs
from novadocker.virt.docker.vifs import vrouter
from tests.fixtures import netinfo

SETUP_CFG = os.path.join(os.path.dirname(__file__), '..', '..', 'setup.cfg')


def vif(vif_type=model.VIF_TYPE_OVS, **details):
    return netinfo.simple_vif('10.0.0.5', vif_type=vif_type, details=details)


@pytest.mark.parametrize('port, plugin_class', [
    (vif(), ovs.OVSPlugin),
    (vif(ovs_hybrid_plug=False, port_filter=True), ovs.OVSPlugin),
    (vif(ovs_hybrid_plug=True, port_filter=True), ovs.OVSHybridPlugin),
    (vif(model.VIF_TYPE_BRIDGE, port_filter=True), bridge.BridgePlugin),
])
def test_generic_plugs_what_the_binding_asks_for(port, plugin_class):
    assert type(generic.GenericVIFDriver().plugin_for(port)) is plugin_class


@pytest.mark.parametrize('vif_type', [model.VIF_TYPE_MACVTAP,
                                      model.VIF_TYPE_BINDING_FAILED,
                                      model.VIF_TYPE_UNBOUND, 'bogus'])
def test_generic_names_a_vif_type_it_does_not_know(vif_type):
    with pytest.raises(base.UnsupportedVIFType,
                       match="vif_type %r is not one of ovs, bridge, vrouter"
                             % vif_type):
        generic.GenericVIFDriver().plugin_for(vif(vif_type))


def test_a_vrouter_port_goes_to_the_vrouter_plugin():
    assert type(generic.GenericVIFDriver().plugin_for(
        vif(model.VIF_TYPE_VROUTER))) is vrouter.VRouterPlugin


def test_a_specific_plugin_refuses_other_vif_types():
    with pytest.raises(base.UnsupportedVIFType, match='OVSPlugin'):
        ovs.OVSPlugin().plugin_for(vif(model.VIF_TYPE_BRIDGE))


@pytest.mark.parametrize('configured, plugin_class', [
    ('generic', generic.GenericVIFDriver),
    ('novadocker.virt.docker.vifs.DockerGenericVIFDriver',
     generic.GenericVIFDriver),
    ('ovs', ovs.OVSPlugin), ('ovn', ovs.OVSPlugin), ('odl', ovs.OVSPlugin),
    ('ovs_hybrid', ovs.OVSHybridPlugin), ('bridge', bridge.BridgePlugin),
    ('vrouter', vrouter.VRouterPlugin),
    ('novadocker.virt.docker.opencontrail.OpenContrailVIFDriver',
     vrouter.VRouterPlugin),
])
def test_vif_driver_takes_entry_point_names_and_old_class_paths(
        configured, plugin_class):
    assert type(vifs.load(configured)) is plugin_class


@pytest.mark.parametrize('configured', ['no-such-plugin',
                                        'novadocker.virt.docker.Nope'])
def test_a_plugin_that_is_not_installed_fails_clearly(configured):
    with pytest.raises(vifs.PluginNotInstalled,
                       match='check \\[docker\\] vif_driver'):
        vifs.load(configured)


def test_installed_entry_points_match_setup_cfg():
    """Entry points are read from the installed metadata: after editing
    setup.cfg, reinstall (pip install -e .) or plugins go missing."""
    parser = configparser.ConfigParser()
    parser.read(SETUP_CFG)
    declared = {line.split('=')[0].strip(): line.split('=')[1].strip()
                for line in parser['options.entry_points'][
                    vifs.NAMESPACE].strip().splitlines()}
    installed = {ep.name: ep.value
                 for ep in metadata.entry_points(group=vifs.NAMESPACE)}
    assert installed == declared


def test_ovs_ports_carry_what_the_agents_look_for():
    instance = netinfo.instance()
    port = vif()
    assert ovs.port_external_ids(instance, port) == {
        'iface-id': port['id'], 'iface-status': 'active',
        'attached-mac': port['address'], 'vm-uuid': instance.uuid}
