"""Isolation through the real cloud (ML2/OVN), as VMs have it: port
security keeps a server that changes its MAC or IP address from sending as
that address, another project's network is out of reach, and security group
rules added or removed apply to running servers.

The cloud gives its instances NET_ADMIN in their own network namespace
(``[docker] cap_add``, doc/cloud.md), as root on a VM has it, so the tests
change addresses from inside the container, as a tenant would. They judge
by what the other server's interface really received (a packet socket in
its namespace), not only by what answered, and each shows that it can fail:
the same traffic from the real address, or with port security off, gets
through.
"""

import collections
import contextlib
import ipaddress
import random
import socket
import subprocess
import time

import pytest

from novadocker_cloud import demo
from novadocker_cloud.services import ovn
from tests.cloud import helpers

# How long OVN may take to apply a changed port or rule to a running server.
APPLY_TIMEOUT = 30
# Three echo requests, a second's wait after the last (busybox waits 10 s
# by default when none was answered): exit code 0 if one is answered.
PING = ('ping', '-c', '3', '-W', '1', '-w', '4')
ALT_CIDR = '10.0.1.0/24'


class Made:
    """Servers, floating IPs and networks one test makes, deleted after it
    in reverse order; each server is checked to leave nothing behind."""

    def __init__(self, cloud, image, flavor, undo):
        self.cloud, self.image, self.flavor = cloud, image, flavor
        self.undo = undo

    def server(self, conn, name, network, image=None, **create):
        """A web server booted as ``conn`` from ``image`` (the demo
        project's by default)."""
        server = self.cloud.boot(conn, name, image or self.image,
                                 self.flavor, network, wait=False, **create)
        self.undo.callback(self._delete, conn, server)
        return self.cloud.wait_status(conn, server, 'ACTIVE', 180)

    def floating_ip(self, conn, server):
        fip = self.cloud.floating_ip(conn, server)
        self.undo.callback(conn.network.delete_ip, fip)
        return fip.floating_ip_address

    def later(self, func, *args, **kwargs):
        self.undo.callback(func, *args, **kwargs)

    def _delete(self, conn, server):
        ports = [p.id for p in self.cloud.ports_of(server.id)]
        container = self.cloud.container(server.id)
        self.cloud.delete(conn, server)
        assert self.cloud.leftovers(server.id, ports) == {}
        if container is not None:
            assert container['Id'] not in self.cloud.netns_links()


@pytest.fixture
def made(cloud, web_image, flavor):
    with contextlib.ExitStack() as undo:
        yield Made(cloud, web_image, flavor, undo)


class Nic:
    """A booted server's one port, its container and addresses."""

    def __init__(self, cloud, server):
        self.cloud, self.server = cloud, server
        [self.port] = cloud.ports_of(server.id)
        self.mac = self.port.mac_address
        self.ip = self.port.fixed_ips[0]['ip_address']
        self.container_id = cloud.container(server.id)['Id']

    def run(self, *argv):
        """(exit code, output) of ``argv`` inside the server."""
        return self.cloud.execute(self.container_id, *argv)

    def must_run(self, *argv):
        code, output = self.run(*argv)
        assert code == 0, (argv, output)

    def capture(self):
        return helpers.Capture(self.container_id)

    def reaches(self, address):
        return self.run(*PING, address)[0] == 0


Seen = collections.namedtuple('Seen', 'answered sent received')


def _ping_seen(source, target, *ping_options):
    """Ping ``target`` from ``source``: whether it answered, the senders
    (MAC, IPv4 address) of what left source's interface and of what
    arrived at target's."""
    with source.capture() as sent, target.capture() as received:
        code, _ = source.run(*PING, *ping_options, target.ip)
        return Seen(code == 0, sent.senders('out'), received.senders('in'))


def _page_from(nic, address):
    """The web page at ``address`` as the server ``nic`` fetches it, or
    None."""
    code, output = nic.run('timeout', '5', 'wget', '-q', '-O-',
                           'http://%s/' % address)
    return output.strip() if code == 0 else None


def _macs(senders):
    return {mac for mac, _ in senders}


def _addresses(senders):
    return {address for _, address in senders}


def _unused_mac(cloud):
    taken = {p.mac_address for p in cloud.admin.network.ports()}
    while True:
        mac = 'fa:16:3e:%02x:%02x:%02x' % tuple(
            random.randrange(256) for _ in range(3))
        if mac not in taken:
            return mac


def _unused_address(cloud, network):
    """The highest address of the network's subnet that no port has."""
    [subnet_id] = network.subnet_ids
    cidr = cloud.admin.network.get_subnet(subnet_id).cidr
    taken = {ip['ip_address'] for port in cloud.admin.network.ports(
        network_id=network.id) for ip in port.fixed_ips}
    return next(str(host) for host in reversed(list(
        ipaddress.ip_network(cidr).hosts())) if str(host) not in taken)


def _port_security(port_id):
    """The OVN logical switch port's port_security column, as ovn-nbctl
    prints it."""
    return ovn.nbctl('get', 'Logical_Switch_Port', port_id, 'port_security')


def _waited(cloud, predicate, what):
    """Seconds until ``predicate`` held; AssertionError after
    APPLY_TIMEOUT."""
    began = time.monotonic()
    cloud.wait_for(predicate, what, APPLY_TIMEOUT)
    return time.monotonic() - began


def test_port_security_drops_what_a_changed_mac_or_address_sends(
        cloud, made, private_network):
    spoofer = Nic(cloud, made.server(cloud.demo, 'spoofer', private_network))
    witness = Nic(cloud, made.server(cloud.demo, 'witness', private_network))
    spoofed_mac = _unused_mac(cloud)
    spoofed_ip = _unused_address(cloud, private_network)
    # What OVN enforces on the spoofer's port: its MAC with its address.
    assert spoofer.mac in _port_security(spoofer.port.id)
    assert spoofer.ip in _port_security(spoofer.port.id)

    # The control: from its own addresses the spoofer reaches the witness,
    # and the witness's interface sees it.
    def reached():
        seen = _ping_seen(spoofer, witness)
        return seen if seen.answered else None
    seen = cloud.wait_for(reached, 'the spoofer reaching the witness')
    assert (spoofer.mac, spoofer.ip) in seen.received

    # Another MAC: its frames leave the container and never arrive.
    spoofer.must_run('ip', 'link', 'set', 'eth0', 'address', spoofed_mac)
    answered, sent, received = _ping_seen(spoofer, witness)
    assert spoofed_mac in _macs(sent)
    assert spoofed_mac not in _macs(received)
    assert not answered
    spoofer.must_run('ip', 'link', 'set', 'eth0', 'address', spoofer.mac)

    # Another address of the subnet as the source: the same.
    spoofer.must_run('ip', 'addr', 'add', spoofed_ip + '/32', 'dev', 'eth0')
    answered, sent, received = _ping_seen(spoofer, witness, '-I', spoofed_ip)
    assert spoofed_ip in _addresses(sent)
    assert spoofed_ip not in _addresses(received)
    assert not answered

    # Port security off on the spoofer's port (openstack port set
    # --no-security-group --disable-port-security): what was dropped now
    # arrives, so the drops above were port security's.
    cloud.demo.network.update_port(spoofer.port, security_group_ids=[],
                                   is_port_security_enabled=False)
    cloud.wait_for(lambda: _port_security(spoofer.port.id) == '[]',
                   'port security off in OVN')
    took = _waited(cloud, lambda: spoofed_ip in _addresses(
        _ping_seen(spoofer, witness, '-I', spoofed_ip).received),
        'the spoofed address arriving without port security')
    spoofer.must_run('ip', 'link', 'set', 'eth0', 'address', spoofed_mac)
    _waited(cloud, lambda: spoofed_mac in _macs(
        _ping_seen(spoofer, witness).received),
        'the spoofed MAC arriving without port security')
    print('\nport security off applied within %.1fs' % took)


def _open_group(made, conn, name):
    """A security group of ``conn``'s project letting in ICMP and HTTP from
    anywhere (the demo project's default group does too), so that only the
    network can keep traffic out."""
    net = conn.network
    group = net.create_security_group(name=name)
    made.later(net.delete_security_group, group)
    _allow(conn, group, 'icmp')
    _allow(conn, group, 'tcp', 80)
    return group


def _allow(conn, group, protocol, port=None):
    """An IPv4 ingress rule from anywhere; returns it."""
    return conn.network.create_security_group_rule(
        security_group_id=group.id, direction='ingress', ethertype='IPv4',
        protocol=protocol, port_range_min=port, port_range_max=port,
        remote_ip_prefix='0.0.0.0/0')


@pytest.fixture(scope='module')
def alt_web_image(cloud):
    """The web server image, uploaded by the alt_demo member: the demo
    project's is private to it."""
    image = cloud.upload_docker_image('tests-web-alt', cloud.alt_demo)
    yield image
    cloud.alt_demo.image.delete_image(image)


@pytest.fixture
def alt_network(cloud, made):
    """alt_demo's own network behind its own router on public, made as
    that project's member; removed after the test's servers."""
    net = cloud.alt_demo.network
    public = net.find_network('public')
    network = net.create_network(name='isolation-alt')
    made.later(net.delete_network, network)
    subnet = net.create_subnet(name='isolation-alt', network_id=network.id,
                               ip_version=4, cidr=ALT_CIDR)
    router = net.create_router(
        name='isolation-alt', external_gateway_info={'network_id': public.id})
    made.later(net.delete_router, router)
    net.add_interface_to_router(router, subnet_id=subnet.id)
    made.later(net.remove_interface_from_router, router,
               subnet_id=subnet.id)
    return net.get_network(network)


def _reaches_its_gateway(cloud, nic, conn, network):
    [subnet_id] = network.subnet_ids
    gateway = conn.network.get_subnet(subnet_id).gateway_ip
    cloud.wait_for(lambda: nic.reaches(gateway),
                   '%s reaching %s' % (nic.server.name, gateway))


def _router_address(conn, name):
    """The address a project's router takes on the public network (its
    SNAT source)."""
    router = conn.network.find_router(name)
    return router.external_gateway_info['external_fixed_ips'][0][
        'ip_address']


def test_another_projects_network_is_out_of_reach(
        cloud, made, alt_network, alt_web_image, private_network):
    ours = Nic(cloud, made.server(cloud.demo, 'demo-side', private_network))
    open_group = _open_group(made, cloud.alt_demo, 'isolation-open')
    theirs = Nic(cloud, made.server(
        cloud.alt_demo, 'alt-side', alt_network, alt_web_image,
        security_groups=[{'name': open_group.id}]))
    published = {ours: made.floating_ip(cloud.demo, ours.server),
                 theirs: made.floating_ip(cloud.alt_demo, theirs.server)}
    # Each reaches its own router first: their networks work.
    _reaches_its_gateway(cloud, ours, cloud.demo, private_network)
    _reaches_its_gateway(cloud, theirs, cloud.alt_demo, alt_network)
    # What reaching the other would come from: its fixed address, its
    # floating IP (its SNAT source), its router's address.
    sources = {
        ours: {ours.ip, published[ours],
               _router_address(cloud.demo, 'router1')},
        theirs: {theirs.ip, published[theirs],
                 _router_address(cloud.alt_demo, 'isolation-alt')}}

    pairs = ((theirs, ours), (ours, theirs))
    for source, target in pairs:
        # The other's fixed address: nothing answers, nothing arrives.
        seen = _ping_seen(source, target)
        assert not seen.answered
        assert not _addresses(seen.received) & sources[source]
        assert _page_from(source, target.ip) is None
    for source, target in pairs:
        # What the other publishes, its floating IP, is reached through
        # both routers.
        assert cloud.wait_for(
            lambda: _page_from(source, published[target]),
            'the floating IP from the other project') == \
            'hello from ' + target.server.name


def _host_pings(address):
    return subprocess.run(['ping', '-c', '1', '-W', '2', address],
                          capture_output=True).returncode == 0


def _host_connects(address, port):
    """Whether a TCP connection from this host opens; False when nothing
    answers (a dropped SYN), an error when refused."""
    try:
        with socket.create_connection((address, port), timeout=3):
            return True
    except TimeoutError:
        return False


def test_security_group_rules_apply_to_a_running_server(
        cloud, made, private_network):
    net = cloud.demo.network
    group = net.create_security_group(name='isolation-icmp-only')
    made.later(net.delete_security_group, group)
    icmp = _allow(cloud.demo, group, 'icmp')
    guarded = Nic(cloud, made.server(cloud.demo, 'guarded', private_network,
                                     security_groups=[{'name': group.id}]))
    fip = made.floating_ip(cloud.demo, guarded.server)

    cloud.wait_for(lambda: _host_pings(fip), 'ping through ' + fip)
    # The web server serves; only the group keeps it from this host.
    assert _page_from(guarded, '127.0.0.1') == 'hello from guarded'
    assert not _host_connects(fip, 80)

    _allow(cloud.demo, group, 'tcp', 80)
    began = time.monotonic()
    assert demo.fetch('http://%s/' % fip, APPLY_TIMEOUT) == \
        'hello from guarded'
    http_took = time.monotonic() - began

    net.delete_security_group_rule(icmp)
    icmp_took = _waited(cloud, lambda: not _host_pings(fip), 'ping blocked')
    assert not any(_host_pings(fip) for _ in range(3))
    assert demo.fetch('http://%s/' % fip) == 'hello from guarded'
    print('\nTCP 80 allowed within %.1fs, ICMP blocked within %.1fs' % (
        http_took, icmp_took))
