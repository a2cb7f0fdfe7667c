"""Device names, MTU, addresses and routes from Nova's network model."""

from nova import exception
from nova.network import model
import pytest

from novadocker.virt.docker import addressing
from tests.fixtures import netinfo

PORT_ID = '9fafd452-df3c-4c4e-a2b8-0123456789ab'


def test_port_devices_are_named_like_neutron_expects():
    vif = netinfo.simple_vif('10.0.0.5', port_id=PORT_ID)
    names = (addressing.tap_name(vif), addressing.hybrid_bridge_name(vif),
             addressing.hybrid_bridge_end(vif),
             addressing.hybrid_ovs_end(vif))
    assert names == ('tap9fafd452-df', 'qbr9fafd452-df', 'qvb9fafd452-df',
                     'qvo9fafd452-df')
    assert all(len(name) <= 15 for name in names)  # IFNAMSIZ - 1


def test_container_interfaces_fill_the_lowest_free_slot():
    assert addressing.container_ifname(0) == 'eth0'
    assert addressing.next_container_ifname(['lo']) == 'eth0'
    assert addressing.next_container_ifname(['lo', 'eth0', 'eth2']) == 'eth1'
    assert addressing.next_container_ifname(['lo', 'eth0', 'eth1']) == 'eth2'


def test_mtu_comes_from_the_network_and_may_be_absent():
    assert addressing.mtu(netinfo.simple_vif('10.0.0.5', mtu=1450)) == 1450
    assert addressing.mtu(netinfo.simple_vif('10.0.0.5', mtu=None)) is None


def test_the_bindings_bridge_name_wins_over_the_networks():
    trunk = netinfo.simple_vif('10.0.0.5', details={
        model.VIF_DETAILS_BRIDGE_NAME: 'tbr-1234'})
    assert addressing.bridge_name(trunk) == 'tbr-1234'
    assert addressing.bridge_name(netinfo.simple_vif('10.0.0.5')) == 'br-int'


def test_a_port_without_a_bridge_fails_clearly():
    with pytest.raises(exception.VirtualInterfacePlugException,
                       match=PORT_ID):
        addressing.bridge_name(netinfo.simple_vif('10.0.0.5', bridge=None,
                                                  port_id=PORT_ID))


def test_dual_stack_port_gets_every_address_with_its_prefix_and_routes():
    vif = netinfo.vif([
        netinfo.subnet('10.0.0.0/24', ['10.0.0.5', '10.0.0.6'],
                       gateway='10.0.0.1',
                       routes=[('192.168.0.0/16', '10.0.0.254'),
                               ('172.16.0.0/12', None)]),
        netinfo.subnet('2001:db8::/64', ['2001:db8::5'],
                       gateway='fe80::1')])
    assert addressing.ip_config(vif) == {
        'addresses': [['10.0.0.5', 24], ['10.0.0.6', 24],
                      ['2001:db8::5', 64]],
        'routes': [['0.0.0.0/0', '10.0.0.1'],
                   ['192.168.0.0/16', '10.0.0.254'],
                   ['172.16.0.0/12', None],
                   ['::/0', 'fe80::1']]}


def test_subnets_without_a_gateway_or_an_address_add_no_routes():
    vif = netinfo.vif([
        netinfo.subnet('10.0.0.0/24', ['10.0.0.5']),
        netinfo.subnet('10.9.0.0/24', [], gateway='10.9.0.1',
                       routes=[('192.168.0.0/16', '10.9.0.254')])])
    assert addressing.ip_config(vif) == {'addresses': [['10.0.0.5', 24]],
                                         'routes': []}


OVN = {'bound_drivers': {'0': 'ovn'}, 'port_filter': True}


@pytest.mark.parametrize('details, dhcp, first, served', [
    (OVN, True, True, True),
    (OVN, True, False, False),   # one route, on the first port only
    (OVN, False, True, False),   # no metadata port without DHCP
    ({'bound_drivers': {'0': 'openvswitch'}}, True, True, False),
    ({}, True, True, False),
])
def test_metadata_on_the_link_where_ovn_serves_it(details, dhcp, first,
                                                  served):
    vif = netinfo.vif([netinfo.subnet('10.0.0.0/24', ['10.0.0.5'],
                                      gateway='10.0.0.1', dhcp=dhcp)],
                      details=details)
    routes = addressing.ip_config(vif, metadata_route=first)['routes']
    assert routes == [['0.0.0.0/0', '10.0.0.1']] + (
        [['169.254.169.254/32', None]] if served else [])


def test_a_port_without_a_network_has_nothing_to_configure():
    vif = model.VIF(id=PORT_ID, address='fa:16:3e:00:00:01',
                    type=model.VIF_TYPE_OVS)
    assert addressing.ip_config(vif) == {'addresses': [], 'routes': []}
    assert addressing.mtu(vif) is None


def test_check_ports_refuses_duplicate_macs():
    first = netinfo.simple_vif('10.20.0.5', index=1)
    second = netinfo.simple_vif('10.20.0.6', index=1)
    with pytest.raises(exception.VirtualInterfacePlugException,
                       match='share MAC address fa:16:3e:00:00:01'):
        addressing.check_ports([first, second])


@pytest.mark.parametrize('mtu, cidr, ip, ok', [
    (1280, '2001:db8::/64', '2001:db8::5', True),
    (1279, '2001:db8::/64', '2001:db8::5', False),
    (576, '10.20.0.0/24', '10.20.0.5', True),
    (67, '10.20.0.0/24', '10.20.0.5', False),
])
def test_check_ports_refuses_an_mtu_too_small_for_the_addresses(
        mtu, cidr, ip, ok):
    vif = netinfo.vif([netinfo.subnet(cidr, [ip])], mtu=mtu)
    if ok:
        addressing.check_ports([vif])
    else:
        with pytest.raises(exception.VirtualInterfacePlugException,
                           match='MTU %d, below' % mtu):
            addressing.check_ports([vif])


def test_a_port_without_addresses_is_fine():
    vif = netinfo.vif([netinfo.subnet('10.20.0.0/24', [])], mtu=1450)
    addressing.check_ports([vif])
    assert addressing.ip_config(vif) == {'addresses': [], 'routes': []}
