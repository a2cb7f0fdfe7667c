"""OVN against the real thing: NB/SB databases, ovn-northd and an
ovn-controller whose chassis is the private OVS (tests/fixtures/ovn.py).

Neutron's OVN driver binds a port with vif_type ``ovs`` (native, no hybrid
bridge): nova-docker's OVS plugin makes the port on br-int with
``external_ids:iface-id`` = the Neutron port id = the OVN logical switch
port, and ovn-controller claims it for this chassis. That is the whole of
OVN's contract with a compute driver, which is why the ``ovn`` entry point
is the OVS plugin (vifs/ovs.py).

Every test ends with the ``host`` leak check (devices, OVS ports, netns
links) and the OVN one: no logical port bound to a chassis.
"""

import time

from nova.network import model
import pytest

from novadocker.virt.docker import addressing
from tests.fixtures import netinfo
from tests.fixtures import ovn as ovn_fixture
from tests.fixtures import sdn
from tests.functional.test_network import assert_reachable
from tests.functional.test_network import assert_tcp_works

# What ML2/OVN puts in a port's binding:vif_details on a netdev chassis.
OVN_DETAILS = {model.VIF_DETAILS_PORT_FILTER: True,
               model.VIF_DETAILS_BRIDGE_NAME: 'br-int',
               'datapath_type': 'netdev', 'connectivity': 'l2'}
# Geneve's overhead on a 1500-byte underlay, as Neutron sets it for OVN.
GENEVE_MTU = 1442


@pytest.fixture(scope='module')
def ovn(engine):
    """OVN with this host as its chassis. Depends on the engine so dockerd
    starts before any test enters the OVS namespace."""
    private = ovn_fixture.PrivateOVN().start()
    try:
        yield private
    finally:
        private.stop()


@pytest.fixture(scope='module')
def ovs(ovn):
    """The chassis' OVS: the ``host`` fixture runs the test in its namespace
    and checks it for leaks."""
    return ovn.switch


@pytest.fixture
def logical_switch(ovn, host):
    """A logical switch in the NB database, deleted when the test ends;
    then no port may be left bound."""
    name = 'sw-%d' % time.monotonic_ns()
    ovn.nbctl('ls-add', name)
    try:
        yield name
    finally:
        ovn.nbctl('--if-exists', 'ls-del', name)
    ovn.wait_for(lambda: not ovn.bound_ports(), 'bindings released', 10)


def add_logical_port(ovn, switch, vif, ip):
    """What Neutron's OVN driver writes for a port: its id as the name, its
    MAC and fixed IP as addresses and as port security."""
    addresses = '%s %s' % (vif['address'], ip)
    ovn.nbctl('lsp-add', switch, vif['id'], '--',
              'lsp-set-addresses', vif['id'], addresses, '--',
              'lsp-set-port-security', vif['id'], addresses)


def ovn_vif(ip, index):
    return netinfo.simple_vif(ip, index=index, prefix='10.70.0',
                              details=OVN_DETAILS, mtu=GENEVE_MTU)


def test_ovn_binds_ports_forwards_between_them_and_releases_them(
        ovn, host, engine, logical_switch):
    ports = [(ovn_vif('10.70.0.11', 1), '10.70.0.11'),
             (ovn_vif('10.70.0.12', 2), '10.70.0.12')]
    for vif, ip in ports:
        add_logical_port(ovn, logical_switch, vif, ip)
        assert ovn.binding(vif['id']) == (None, False)

    with sdn.Driver(engine) as drv, sdn.destroying(drv, []) as spawned:
        for (vif, _), name in zip(ports, ('ovn-a', 'ovn-b')):
            network_info = model.NetworkInfo([vif])
            started = time.monotonic()
            instance = drv.spawn(network_info, hostname=name)
            spawned.append((instance, network_info))
            tap = addressing.tap_name(vif)
            # (a) The SB Port_Binding gets this chassis and goes up, and
            # ovn-controller marks the interface as installed.
            ovn.wait_for(lambda: ovn.binding(vif['id']) == (
                ovn_fixture.CHASSIS, True), 'port %s bound' % vif['id'])
            bound = time.monotonic() - started
            ovn.wait_for(lambda: host.external_ids(tap).get(
                'ovn-installed') == 'true', 'ovn-installed on ' + tap)
            print('%s: spawn + OVN binding up %.0f ms, flows installed '
                  '%.0f ms' % (name, bound * 1000,
                               (time.monotonic() - started) * 1000))
            ids = host.external_ids(tap)
            assert {k: ids[k] for k in ('iface-id', 'attached-mac',
                                        'vm-uuid', 'iface-status')} == {
                'iface-id': vif['id'], 'attached-mac': vif['address'],
                'vm-uuid': instance.uuid, 'iface-status': 'active'}
            assert drv.links(instance)['eth0']['mtu'] == GENEVE_MTU
        assert host.vsctl('get', 'Bridge', 'br-int', 'fail_mode') == 'secure'
        assert host.ports('br-int') == {addressing.tap_name(vif)
                                        for vif, _ in ports}

        # (b) Traffic crosses br-int only through OVN's logical flows (the
        # bridge is in secure fail mode: no NORMAL action). Full-MTU ICMP
        # and a TCP download.
        (a, _), (b, _) = spawned
        cid_a, cid_b = drv.container_id(a), drv.container_id(b)
        containers = _Exec(drv)
        assert_reachable(containers, cid_a, '10.70.0.12',
                         size=GENEVE_MTU - 28)
        assert_tcp_works(containers, cid_b, cid_a, '10.70.0.12')
        # Port security: a source address OVN did not assign is dropped.
        code, _ = drv.run(a, 'sh', '-c',
                          'ip addr add 10.70.0.99/24 dev eth0 && '
                          'ping -c 1 -W 1 -I 10.70.0.99 10.70.0.12')
        assert code != 0

    # (c) Destroyed: bindings released, nothing left on br-int.
    for vif, _ in ports:
        ovn.wait_for(lambda: ovn.binding(vif['id'])[0] is None,
                     'port %s released' % vif['id'])
    assert host.ports('br-int') == set()


class _Exec:
    """The ``containers`` helpers' interface over the driver's engine."""

    def __init__(self, drv):
        self.api = drv.api

    def run(self, container_id, *argv):
        exec_id = self.api.exec_create(container_id, list(argv))['Id']
        output = self.api.exec_start(exec_id).decode()
        return self.api.exec_inspect(exec_id)['ExitCode'], output
