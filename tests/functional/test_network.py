"""Network.attach_all & co. against real containers and a real (userspace)
OVS: what the kernel and OVSDB report, and real traffic.

Privileged code runs in-process here (the tests are root, no helper command);
test_network_privsep.py covers the daemon.
"""

import contextlib
import subprocess
import time

from nova import exception
from nova.network import model
import pytest

from novadocker.virt.docker import addressing
from novadocker.virt.docker import network
from tests.fixtures import netinfo
from tests.fixtures.network import ip_json
from tests.fixtures.network import squatting_device

HYBRID = {model.VIF_DETAILS_OVS_HYBRID_PLUG: True,
          model.VIF_DETAILS_PORT_FILTER: True}


def links(container_id):
    return {link['ifname']: link for link in ip_json('-n', container_id,
                                                     'addr', 'show')}


def global_addresses(link):
    """Besides these, IPv6 gives every device a link-local one, as in a VM."""
    return {(a['local'], a['prefixlen']) for a in link['addr_info']
            if a['scope'] == 'global'}


def routes(container_id, family):
    return {(r['dst'], r.get('gateway'), r['dev'])
            for r in ip_json('-n', container_id, family, 'route', 'show')}


def tx_checksumming(ifname, container_id=None):
    prefix = ['ip', 'netns', 'exec', container_id] if container_id else []
    out = subprocess.run([*prefix, 'ethtool', '-k', ifname], check=True,
                         capture_output=True, text=True).stdout
    return next(line.split(':')[1].strip() for line in out.splitlines()
                if line.startswith('tx-checksumming:'))


def assert_reachable(containers, source, address, size=56):
    code, out = containers.run(source, 'ping', '-c', '2', '-W', '2',
                               '-s', str(size), address)
    assert code == 0, out


def assert_tcp_works(containers, server, client, address):
    """A 200 kB HTTP download: many full-MTU TCP segments, which the
    userspace datapath only forwards with TX checksum offload off."""
    code, out = containers.run(
        server, 'sh', '-c', 'head -c 200000 /dev/zero > /var/www/blob && '
                            'httpd -p 8080 -h /var/www')
    assert code == 0, out
    # busybox's wget -T crashes; timeout bounds it instead.
    code, out = containers.run(
        client, 'sh', '-c', 'timeout 10 wget -q -O - http://%s:8080/blob '
                            '| wc -c' % address)
    assert code == 0 and out.strip() == '200000', out


def test_attach_all_configures_every_port_like_a_vm(host, containers):
    """Two OVS ports, one dual-stack with a host route: names, MACs,
    addresses, MTU, routes, offloads and OVSDB, as the kernel reports."""
    instance = netinfo.instance()
    cid, pid = containers.start()
    first = netinfo.vif([
        netinfo.subnet('10.20.0.0/24', ['10.20.0.5'], gateway='10.20.0.1',
                       routes=[('192.168.50.0/24', '10.20.0.254')]),
        netinfo.subnet('2001:db8:20::/64', ['2001:db8:20::5'],
                       gateway='2001:db8:20::1')], index=1)
    second = netinfo.simple_vif('10.30.0.7', index=2, prefix='10.30.0')
    net = network.Network()

    net.attach_all(instance, cid, pid, model.NetworkInfo([first, second]))

    assert cid in subprocess.run(['ip', 'netns'], capture_output=True,
                                 text=True).stdout
    inside = links(cid)
    assert set(inside) == {'lo', 'eth0', 'eth1'}
    assert 'UP' in inside['lo']['flags']
    for ifname, vif in (('eth0', first), ('eth1', second)):
        assert inside[ifname]['address'] == vif['address']
        assert inside[ifname]['mtu'] == 1450
        assert 'UP' in inside[ifname]['flags']
        assert tx_checksumming(ifname, cid) == 'off'
        tap = addressing.tap_name(vif)
        outside = ip_json('link', 'show', tap)[0]
        assert outside['mtu'] == 1450 and 'UP' in outside['flags']
        assert tx_checksumming(tap) == 'off'
        assert host.external_ids(tap) == {
            'iface-id': vif['id'], 'iface-status': 'active',
            'attached-mac': vif['address'], 'vm-uuid': instance.uuid}
        assert host.ofport(tap) > 0
    assert host.ports('br-int') == {addressing.tap_name(first),
                                    addressing.tap_name(second)}
    assert global_addresses(inside['eth0']) == {('10.20.0.5', 24),
                                                ('2001:db8:20::5', 64)}
    assert global_addresses(inside['eth1']) == {('10.30.0.7', 24)}
    assert {('default', '10.20.0.1', 'eth0'),
            ('192.168.50.0/24', '10.20.0.254', 'eth0')} <= routes(cid, '-4')
    # One default route per family: the first port's.
    assert ('default', '10.30.0.1', 'eth1') not in routes(cid, '-4')
    assert ('default', '2001:db8:20::1', 'eth0') in routes(cid, '-6')

    net.detach_all(instance, cid, model.NetworkInfo([first, second]))
    assert host.ports('br-int') == set()


def test_attach_all_of_one_ovs_port_takes_milliseconds(host, containers):
    """Not a benchmark: guards against a fork or a namespace helper
    creeping back onto the hot path (NOTES: ~8 ms VIF + ~12 ms OVSDB)."""
    instance = netinfo.instance()
    vif = netinfo.simple_vif('10.20.0.5')
    net = network.Network()
    warm_cid, warm_pid = containers.start()
    net.attach_all(instance, warm_cid, warm_pid, [vif])  # OVSDB connects
    net.detach_all(instance, warm_cid, [vif])
    cid, pid = containers.start()
    started = time.monotonic()
    net.attach_all(instance, cid, pid, [vif])
    elapsed = time.monotonic() - started
    net.detach_all(instance, cid, [vif])
    print('attach_all, one OVS port: %.1f ms' % (elapsed * 1000))
    assert elapsed < 0.5


@pytest.mark.parametrize('details', [{}, HYBRID], ids=['native', 'hybrid'])
def test_two_instances_on_br_int_talk(host, containers, details):
    net = network.Network()
    ends = []
    for index, ip in ((1, '10.20.0.11'), (2, '10.20.0.12')):
        instance = netinfo.instance()
        vif = netinfo.simple_vif(ip, index=index, details=details)
        cid, pid = containers.start()
        net.attach_all(instance, cid, pid, [vif])
        ends.append((instance, cid, vif))
    (_, a, vif_a), (_, b, _) = ends

    if details:
        qbr = addressing.hybrid_bridge_name(vif_a)
        qvo = addressing.hybrid_ovs_end(vif_a)
        bridge = ip_json('-d', 'link', 'show', qbr)[0]
        data = bridge['linkinfo']['info_data']
        assert (data['forward_delay'], data['stp_state'],
                data['mcast_snooping']) == (0, 0, 0)
        assert bridge['mtu'] == 1450
        for ifname in (addressing.hybrid_bridge_end(vif_a), qvo):
            assert ip_json('link', 'show', ifname)[0]['mtu'] == 1450
            assert tx_checksumming(ifname) == 'off'
        assert ip_json('link', 'show', addressing.tap_name(vif_a))[0][
            'master'] == qbr
        assert host.external_ids(qvo)['iface-id'] == vif_a['id']
        assert addressing.tap_name(vif_a) not in host.ports('br-int')

    # 1422 bytes of ICMP payload make full 1450-byte IP packets.
    assert_reachable(containers, a, '10.20.0.12', size=1422)
    assert_tcp_works(containers, b, a, '10.20.0.12')

    for instance, cid, vif in ends:
        net.detach_all(instance, cid, [vif])


@contextlib.contextmanager
def forward_policy_drop():
    """What Docker does to a host's FORWARD chain (here only in the test's
    own namespace)."""
    subprocess.run(['iptables', '-P', 'FORWARD', 'DROP'], check=True)
    try:
        yield
    finally:
        subprocess.run(['iptables', '-P', 'FORWARD', 'ACCEPT'], check=True)
        subprocess.run(['iptables', '-F', 'FORWARD'], check=True)


def test_hybrid_ports_need_neutrons_firewall_rules_under_docker(
        host, containers):
    """OVSHybridPlugin's documented choice: under Docker's FORWARD DROP,
    frames crossing qbr are dropped until rules like those of Neutron's
    iptables_hybrid firewall accept them; nova-docker adds none."""
    net = network.Network()
    ends = []
    for index, ip in ((1, '10.20.0.11'), (2, '10.20.0.12')):
        instance, vif = netinfo.instance(), netinfo.simple_vif(
            ip, index=index, details=HYBRID)
        cid, pid = containers.start()
        ends.append((instance, cid, vif))
        net.attach_all(instance, cid, pid, [vif])
    a = ends[0][1]
    with forward_policy_drop():
        code, _ = containers.run(a, 'ping', '-c', '1', '-W', '1',
                                 '10.20.0.12')
        assert code != 0
        for _, _, vif in ends:
            # The shape of iptables_hybrid's per-port accept.
            subprocess.run(['iptables', '-A', 'FORWARD', '-m', 'physdev',
                            '--physdev-is-bridged', '--physdev-in',
                            addressing.tap_name(vif), '-j', 'ACCEPT'],
                           check=True)
            subprocess.run(['iptables', '-A', 'FORWARD', '-m', 'physdev',
                            '--physdev-is-bridged', '--physdev-out',
                            addressing.tap_name(vif), '-j', 'ACCEPT'],
                           check=True)
        assert_reachable(containers, a, '10.20.0.12')
    for instance, cid, vif in ends:
        net.detach_all(instance, cid, [vif])


def test_linux_bridge_ports_join_the_networks_bridge(host, containers):
    net = network.Network()
    ends = []
    for index, ip in ((1, '10.40.0.11'), (2, '10.40.0.12')):
        instance = netinfo.instance()
        vif = netinfo.simple_vif(ip, index=index, prefix='10.40.0',
                                 vif_type=model.VIF_TYPE_BRIDGE,
                                 bridge='brqtestnet')
        cid, pid = containers.start()
        net.attach_all(instance, cid, pid, [vif])
        ends.append((instance, cid, vif))
        assert ip_json('link', 'show', addressing.tap_name(vif))[0][
            'master'] == 'brqtestnet'
    assert ip_json('link', 'show', 'brqtestnet')[0]['mtu'] == 1450
    assert_reachable(containers, ends[0][1], '10.40.0.12', size=1422)
    assert_tcp_works(containers, ends[1][1], ends[0][1], '10.40.0.12')
    for instance, cid, vif in ends:
        net.detach_all(instance, cid, [vif])
    # The network's bridge is shared: unplugging leaves it to the agent.
    assert ip_json('link', 'show', 'brqtestnet')
    subprocess.run(['ip', 'link', 'del', 'brqtestnet'], check=True)


def test_attach_and_detach_on_a_running_container(host, containers):
    instance = netinfo.instance()
    first = netinfo.simple_vif('10.20.0.5', index=1)
    extra = netinfo.simple_vif('10.50.0.5', index=2, prefix='10.50.0',
                               details=HYBRID)
    peer_vif = netinfo.simple_vif('10.50.0.6', index=3, prefix='10.50.0')
    net = network.Network()
    cid, pid = containers.start()
    peer, peer_pid = containers.start()
    net.attach_all(instance, cid, pid, [first])
    net.attach_all(netinfo.instance(), peer, peer_pid, [peer_vif])

    net.attach(instance, cid, pid, extra)
    assert links(cid)['eth1']['address'] == extra['address']
    assert_reachable(containers, cid, '10.50.0.6')

    net.detach(instance, cid, extra)
    assert set(links(cid)) == {'lo', 'eth0'}
    assert host.ports('br-int') == {addressing.tap_name(first),
                                    addressing.tap_name(peer_vif)}
    net.detach(instance, cid, extra)  # idempotent

    net.attach(instance, cid, pid, extra)  # eth1 is free again
    assert links(cid)['eth1']['address'] == extra['address']
    net.detach_all(instance, cid, [first, extra])
    net.detach_all(instance, peer, [peer_vif])


def test_restart_means_detach_all_then_attach_all_with_the_new_pid(
        host, containers):
    instance = netinfo.instance()
    vif = netinfo.simple_vif('10.20.0.5')
    net = network.Network()
    cid, pid = containers.start()
    net.attach_all(instance, cid, pid, [vif])
    containers.api.restart(cid, timeout=0)
    new_pid = containers.pid(cid)
    net.detach_all(instance, cid, [vif])
    net.attach_all(instance, cid, new_pid, [vif])
    assert links(cid)['eth0']['address'] == vif['address']
    net.detach_all(instance, cid, [vif])


def test_plug_vifs_and_unplug_vifs_are_host_side_and_idempotent(host):
    instance = netinfo.instance()
    vif = netinfo.simple_vif('10.20.0.5', details=HYBRID)
    net = network.Network()
    net.plug_vifs(instance, [vif])
    net.plug_vifs(instance, [vif])
    assert ip_json('link', 'show', addressing.hybrid_bridge_name(vif))
    assert host.ports('br-int') == {addressing.hybrid_ovs_end(vif)}
    net.unplug_vifs(instance, [vif])
    net.unplug_vifs(instance, [vif])
    assert host.ports('br-int') == set()


def test_detach_all_works_without_a_container(host, containers):
    instance = netinfo.instance()
    vif = netinfo.simple_vif('10.20.0.5', details=HYBRID)
    net = network.Network()
    cid, pid = containers.start()
    net.attach_all(instance, cid, pid, [vif])
    containers.remove(cid)
    net.detach_all(instance, cid, [vif])
    net.detach_all(instance, cid, [vif])
    net.detach_all(instance, None, [vif])


# Faults: each must roll back everything the call created, and only that.

def test_a_missing_ovs_bridge_half_way_rolls_everything_back(
        host, containers):
    instance = netinfo.instance()
    good = netinfo.simple_vif('10.20.0.5', index=1, details=HYBRID)
    bad = netinfo.simple_vif('10.30.0.5', index=2, prefix='10.30.0',
                             bridge='br-missing')
    cid, pid = containers.start()
    with pytest.raises(exception.VirtualInterfacePlugException,
                       match='br-missing does not exist') as caught:
        network.Network().attach_all(instance, cid, pid, [good, bad])
    assert bad['id'] in str(caught.value) and 'eth1' in str(caught.value)
    assert host.ports('br-int') == set()
    assert containers.run(cid, 'ip', 'link', 'show', 'eth0')[0] != 0
    # The leak check proves qbr/qvb/qvo, the taps and the netns link went.


def test_ovsdb_down_fails_clearly_and_rolls_back(host, containers):
    instance = netinfo.instance()
    bridged = netinfo.simple_vif('10.40.0.5', index=1, prefix='10.40.0',
                                 vif_type=model.VIF_TYPE_BRIDGE,
                                 bridge='brqfault')
    ovs_vif = netinfo.simple_vif('10.20.0.5', index=2)
    subprocess.run(['ip', 'link', 'add', 'brqfault', 'type', 'bridge'],
                   check=True)
    host_conf = network.CONF
    host_conf.set_override('ovsdb_connection', 'unix:/nonexistent/db.sock',
                           group='docker_ovs')
    cid, pid = containers.start()
    try:
        with pytest.raises(exception.VirtualInterfacePlugException,
                           match='Cannot connect to OVSDB'):
            network.Network().attach_all(instance, cid, pid,
                                         [bridged, ovs_vif])
        # The pre-existing network bridge survives the rollback.
        assert ip_json('link', 'show', 'brqfault')
    finally:
        subprocess.run(['ip', 'link', 'del', 'brqfault'], check=True)
        host_conf.set_override('ovsdb_connection', host.connection,
                               group='docker_ovs')


def test_a_device_name_clash_fails_and_leaves_the_other_device_alone(
        host, containers):
    instance = netinfo.instance()
    good = netinfo.simple_vif('10.20.0.5', index=1)
    clashing = netinfo.simple_vif('10.20.0.6', index=2)
    cid, pid = containers.start()
    with squatting_device(addressing.tap_name(clashing)) as squatter:
        with pytest.raises(exception.VirtualInterfacePlugException,
                           match='%s .* already exists' % squatter):
            network.Network().attach_all(instance, cid, pid,
                                         [good, clashing])
        assert ip_json('-d', 'link', 'show', squatter)[0]['linkinfo'][
            'info_kind'] == 'bridge'
        assert host.ports('br-int') == set()


def test_attaching_a_port_twice_keeps_the_first_attachment(
        host, containers):
    instance = netinfo.instance()
    vif = netinfo.simple_vif('10.20.0.5', index=1)
    peer_vif = netinfo.simple_vif('10.20.0.6', index=2)
    net = network.Network()
    cid, pid = containers.start()
    peer, peer_pid = containers.start()
    net.attach_all(instance, cid, pid, [vif])
    net.attach_all(netinfo.instance(), peer, peer_pid, [peer_vif])
    with pytest.raises(exception.VirtualInterfacePlugException,
                       match='already exists'):
        net.attach(instance, cid, pid, vif)
    assert_reachable(containers, cid, '10.20.0.6')
    net.detach_all(instance, cid, [vif])
    net.detach_all(instance, peer, [peer_vif])


def test_an_unknown_vif_type_is_named_in_the_error(host, containers):
    instance = netinfo.instance()
    vif = netinfo.simple_vif('10.20.0.5', vif_type=model.VIF_TYPE_MACVTAP)
    cid, pid = containers.start()
    with pytest.raises(exception.VirtualInterfacePlugException,
                       match="vif_type 'macvtap' is not one of"):
        network.Network().attach_all(instance, cid, pid, [vif])


def test_a_dead_pid_fails_clearly(host, containers):
    instance = netinfo.instance()
    cid, pid = containers.start()
    containers.api.kill(cid)
    containers.api.wait(cid)
    with pytest.raises(exception.VirtualInterfacePlugException,
                       match='pid %d' % pid):
        network.Network().attach_all(instance, cid, pid,
                                     [netinfo.simple_vif('10.20.0.5')])
