"""An OpenDaylight-controlled br-int, as deployed in the field: OVS managed by
an ODL cluster, br-int in secure fail mode speaking OpenFlow 1.3, no NORMAL
action anywhere, every flow from the controller.

Here the controller is unreachable (nothing listens at its address) and the
test installs the flows ODL would, after the ports exist, by the OpenFlow
port numbers the ports got. networking-odl binds ports with vif_type ``ovs``
and no hybrid bridge, so the plug is the OVS plugin's: it adds the port with
its external_ids (ODL's southbound finds the Neutron port by iface-id) and
needs neither a flow of its own nor a controller connection; the ``odl``
entry point is the OVS plugin.
"""

from nova.network import model
import pytest

from novadocker.virt.docker import addressing
from novadocker.virt.docker import network
from tests.fixtures import netinfo
from tests.fixtures import ovs as ovs_fixture
from tests.functional.test_network import assert_reachable
from tests.functional.test_network import assert_tcp_works

ODL_DETAILS = {model.VIF_DETAILS_PORT_FILTER: True}
# An address where no controller answers (the test namespace's loopback is
# down, so the connection fails at once, as with a partitioned cluster).
CONTROLLER = 'tcp:127.0.0.1:6653'


@pytest.fixture(scope='module')
def ovs(engine):
    """br-int as ODL configures it. Depends on the engine so dockerd starts
    before any test enters the OVS namespace."""
    switch = ovs_fixture.PrivateOVS(private_rundir=True).start()
    try:
        switch.vsctl('add-br', 'br-int', '--', 'set', 'Bridge', 'br-int',
                     'datapath_type=netdev', 'fail_mode=secure',
                     'protocols=OpenFlow13',
                     'other_config:disable-in-band=true', '--',
                     'set-controller', 'br-int', CONTROLLER)
        yield switch
    finally:
        switch.stop()


def odl_vif(ip, index):
    return netinfo.simple_vif(ip, index=index, prefix='10.90.0',
                              details=ODL_DETAILS)


def flows(switch):
    """The flow entries of br-int, without the header line."""
    out = switch.ofctl('dump-flows', switch.mgmt('br-int'))
    return [line.strip() for line in out.splitlines()
            if line.strip() and 'reply' not in line]


def install_l2_pipeline(switch, ports):
    """A two-table pipeline of the kind ODL's netvirt installs: table 0
    admits a port's traffic only from its own MAC (port security), table 1
    forwards by destination MAC and copies broadcasts to every port."""
    bridge = switch.mgmt('br-int')
    entries = []
    for ofport, mac in ports:
        entries.append('table=0,priority=100,in_port=%d,dl_src=%s,'
                       'actions=goto_table:1' % (ofport, mac))
        entries.append('table=1,priority=100,dl_dst=%s,actions=output:%d'
                       % (mac, ofport))
    entries.append('table=1,priority=50,dl_dst=ff:ff:ff:ff:ff:ff,actions=%s'
                   % ','.join('output:%d' % ofport for ofport, _ in ports))
    for entry in entries:
        switch.ofctl('add-flow', bridge, entry)


def test_ports_plug_without_normal_or_a_controller_and_talk_with_its_flows(
        host, containers):
    assert host.vsctl('get', 'Bridge', 'br-int', 'fail_mode') == 'secure'
    net = network.Network()
    ends = []
    for index, ip in ((1, '10.90.0.11'), (2, '10.90.0.12')):
        instance, vif = netinfo.instance(), odl_vif(ip, index)
        cid, pid = containers.start()
        net.attach_all(instance, cid, pid, [vif])
        ends.append((instance, cid, vif))

    # The ports are there for ODL to find, with no controller connected.
    assert host.vsctl('get', 'Controller', 'br-int', 'is_connected') == \
        'false'
    ofports = []
    for instance, _, vif in ends:
        tap = addressing.tap_name(vif)
        assert host.external_ids(tap) == {
            'iface-id': vif['id'], 'iface-status': 'active',
            'attached-mac': vif['address'], 'vm-uuid': instance.uuid}
        assert host.ofport(tap) > 0
        ofports.append((host.ofport(tap), vif['address']))
    # Plugging installed nothing, and without flows nothing passes.
    assert flows(host) == []
    (_, a, _), (_, b, _) = ends
    code, _ = containers.run(a, 'ping', '-c', '1', '-W', '1', '10.90.0.12')
    assert code != 0

    # The flows the controller would push: now they talk, ICMP and TCP.
    install_l2_pipeline(host, ofports)
    try:
        assert_reachable(containers, a, '10.90.0.12', size=1422)
        assert_tcp_works(containers, b, a, '10.90.0.12')
        # Port security: a forged source MAC does not get past table 0.
        code, out = containers.run(
            a, 'sh', '-c', 'ip link set eth0 address fa:16:3e:99:99:99 && '
                           'ping -c 1 -W 1 10.90.0.12')
        assert code != 0, out
    finally:
        host.ofctl('del-flows', host.mgmt('br-int'))
        for instance, cid, vif in ends:
            net.detach_all(instance, cid, [vif])
    assert host.ports('br-int') == set()
