"""DVR as deployed in the field (RDO multinode): VXLAN tenant networks (MTU
1450), floating IPs served by this compute's own router and fip namespaces.

The scenario is built on real OVS and kernel routing as the Neutron L3 agent
in dvr mode builds it on a compute node:

    container eth0 -- tap (or qbr/qvb/qvo) -- br-int -- qr- [qrouter-]
        qrouter-: gateway 10.80.0.1 on qr-, the floating IP on rfp-, DNAT
        and SNAT between fixed and floating IP, and a policy rule sending
        the fixed IP's traffic to table 16 (default via the fip namespace)
    rfp- [qrouter-] == fpr- [fip-]: a 169.254/31 link
    fip-: fg- on the external network, proxy ARP for the floating IP, a
        route to it via rfp-
    fg- [fip-] == ext0 [ext-]: the external network (172.24.4.0/24)

Instances are spawned by DockerDriver with the port binding Neutron gives a
DVR compute: native or hybrid as ``ovs_hybrid_plug`` says. Every test ends
with the ``host`` leak check; the router's namespaces and devices are
removed before it.
"""

import os
import socket
import subprocess
import threading
import uuid

from nova.network import model
from nova.virt import fake
from pyroute2 import netns as pyroute2_netns
import pytest

from novadocker.virt.docker import addressing
from novadocker.virt.docker import driver
from tests.fixtures import netinfo
from tests.fixtures.network import ip_json
from tests.fixtures import ovs as ovs_fixture
from tests.fixtures import sdn
from tests.unit import factories

VXLAN_MTU = 1450
FIXED_IP, GATEWAY = '10.80.0.5', '10.80.0.1'
FLOATING_IP, EXTERNAL_HOST = '172.24.4.10', '172.24.4.100'
RFP_IP, FPR_IP = '169.254.106.114', '169.254.106.115'
FIP_TABLE = '16'
HYBRID = {model.VIF_DETAILS_OVS_HYBRID_PLUG: True,
          model.VIF_DETAILS_PORT_FILTER: True}
NATIVE = {model.VIF_DETAILS_OVS_HYBRID_PLUG: False,
          model.VIF_DETAILS_PORT_FILTER: True}


def run(*argv):
    subprocess.run(argv, check=True, capture_output=True)


def in_ns(namespace, *argv):
    run('ip', 'netns', 'exec', namespace, *argv)


class DVRRouter:
    """The router and floating-IP plumbing of the module doc."""

    def __init__(self, switch):
        self.switch = switch
        tag = uuid.uuid4().hex[:8]
        self.qrouter, self.fip, self.ext = ('qrouter-' + tag, 'fip-' + tag,
                                            'ext-' + tag)
        self.qr, self.qr_ovs = 'qr-' + tag, 'qro-' + tag
        self.rfp, self.fpr = 'rfp-' + tag, 'fpr-' + tag
        self.fg, self.ext0 = 'fg-' + tag, 'ext0-' + tag

    def build(self):
        for namespace in (self.qrouter, self.fip, self.ext):
            pyroute2_netns.create(namespace)
            in_ns(namespace, 'ip', 'link', 'set', 'lo', 'up')
            for key in ('all', 'default'):
                in_ns(namespace, 'sysctl', '-qw',
                      'net.ipv4.conf.%s.rp_filter=0' % key)
        # qr-: the router's port on br-int (a veth, as with ovs_use_veth).
        run('ip', 'link', 'add', self.qr_ovs, 'mtu', str(VXLAN_MTU), 'type',
            'veth', 'peer', 'name', self.qr, 'mtu', str(VXLAN_MTU), 'netns',
            self.qrouter)
        run('ethtool', '-K', self.qr_ovs, 'tx', 'off')
        run('ip', 'link', 'set', self.qr_ovs, 'up')
        self.switch.vsctl('add-port', 'br-int', self.qr_ovs)
        in_ns(self.qrouter, 'ethtool', '-K', self.qr, 'tx', 'off')
        in_ns(self.qrouter, 'ip', 'addr', 'add', GATEWAY + '/24', 'dev',
              self.qr)
        in_ns(self.qrouter, 'ip', 'link', 'set', self.qr, 'up')
        # rfp- / fpr-: the router's link to this compute's fip namespace.
        run('ip', 'link', 'add', self.rfp, 'netns', self.qrouter, 'type',
            'veth', 'peer', 'name', self.fpr, 'netns', self.fip)
        in_ns(self.qrouter, 'ip', 'addr', 'add', RFP_IP + '/31', 'dev',
              self.rfp)
        in_ns(self.qrouter, 'ip', 'addr', 'add', FLOATING_IP + '/32', 'dev',
              self.rfp)
        in_ns(self.qrouter, 'ip', 'link', 'set', self.rfp, 'up')
        in_ns(self.fip, 'ip', 'addr', 'add', FPR_IP + '/31', 'dev', self.fpr)
        in_ns(self.fip, 'ip', 'link', 'set', self.fpr, 'up')
        # fg- on the external network, and the external host beyond it.
        run('ip', 'link', 'add', self.fg, 'netns', self.fip, 'type', 'veth',
            'peer', 'name', self.ext0, 'netns', self.ext)
        in_ns(self.fip, 'ip', 'addr', 'add', '172.24.4.2/24', 'dev', self.fg)
        in_ns(self.fip, 'ip', 'link', 'set', self.fg, 'up')
        in_ns(self.ext, 'ip', 'addr', 'add', EXTERNAL_HOST + '/24', 'dev',
              self.ext0)
        in_ns(self.ext, 'ip', 'link', 'set', self.ext0, 'up')
        # Routing and NAT as the L3 agent sets them for one floating IP.
        for namespace in (self.qrouter, self.fip):
            in_ns(namespace, 'sysctl', '-qw', 'net.ipv4.ip_forward=1')
        in_ns(self.fip, 'sysctl', '-qw',
              'net.ipv4.conf.%s.proxy_arp=1' % self.fg)
        in_ns(self.fip, 'ip', 'route', 'add', FLOATING_IP + '/32', 'via',
              RFP_IP, 'dev', self.fpr)
        in_ns(self.qrouter, 'ip', 'rule', 'add', 'from', FIXED_IP, 'lookup',
              FIP_TABLE, 'priority', '57481')
        in_ns(self.qrouter, 'ip', 'route', 'add', 'default', 'via', FPR_IP,
              'dev', self.rfp, 'table', FIP_TABLE)
        in_ns(self.qrouter, 'iptables', '-t', 'nat', '-A', 'PREROUTING',
              '-d', FLOATING_IP + '/32', '-j', 'DNAT', '--to-destination',
              FIXED_IP)
        in_ns(self.qrouter, 'iptables', '-t', 'nat', '-A', 'POSTROUTING',
              '-s', FIXED_IP + '/32', '-j', 'SNAT', '--to-source',
              FLOATING_IP)
        return self

    def remove(self):
        self.switch.vsctl('--if-exists', 'del-port', 'br-int', self.qr_ovs)
        subprocess.run(['ip', 'link', 'del', self.qr_ovs], check=False,
                       capture_output=True)
        for namespace in (self.qrouter, self.fip, self.ext):
            if namespace in pyroute2_netns.listnetns():
                pyroute2_netns.remove(namespace)

    def netns_path(self, namespace):
        return os.path.join(pyroute2_netns.NETNS_RUN_DIR, namespace)


@pytest.fixture
def router(host):
    built = DVRRouter(host)
    try:
        yield built.build()
    finally:
        built.remove()


def external_listener(router):
    """A TCP socket listening on the external host (made inside its
    namespace; it stays there)."""
    with ovs_fixture.entered_netns(router.netns_path(router.ext)):
        server = socket.socket()
    server.bind((EXTERNAL_HOST, 0))
    server.listen(1)
    server.settimeout(10)
    return server


def dvr_vif(details):
    return netinfo.vif([netinfo.subnet('10.80.0.0/24', [FIXED_IP],
                                       gateway=GATEWAY)],
                       details=details, mtu=VXLAN_MTU)


def device_mtus(vif, details):
    names = [addressing.tap_name(vif)]
    if details.get(model.VIF_DETAILS_OVS_HYBRID_PLUG):
        names += [addressing.hybrid_bridge_name(vif),
                  addressing.hybrid_bridge_end(vif),
                  addressing.hybrid_ovs_end(vif)]
    return {name: ip_json('link', 'show', name)[0]['mtu'] for name in names}


@pytest.mark.parametrize('details', [NATIVE, HYBRID],
                         ids=['native', 'hybrid'])
def test_floating_ip_dnat_and_snat_through_the_computes_own_router(
        host, engine, router, details):
    vif = dvr_vif(details)
    network_info = model.NetworkInfo([vif])
    with sdn.Driver(engine) as drv, sdn.destroying(drv, []) as spawned:
        instance = drv.spawn(network_info, hostname='dvr-vm')
        spawned.append((instance, network_info))

        # Plugging followed the binding; MTU 1450 on every device.
        ovs_port = (addressing.hybrid_ovs_end(vif)
                    if details[model.VIF_DETAILS_OVS_HYBRID_PLUG]
                    else addressing.tap_name(vif))
        assert host.ports('br-int') == {ovs_port, router.qr_ovs}
        assert set(device_mtus(vif, details).values()) == {VXLAN_MTU}
        assert drv.links(instance)['eth0']['mtu'] == VXLAN_MTU

        # A service in the instance, reached from outside via the FIP.
        code, out = drv.run(instance, 'sh', '-c',
                            'echo served-by-$(hostname) > /var/www/index.html'
                            ' && httpd -p 8080 -h /var/www')
        assert code == 0, out
        fetched = subprocess.run(
            ['ip', 'netns', 'exec', router.ext, 'timeout', '10', 'busybox',
             'wget', '-q', '-O', '-', 'http://%s:8080/' % FLOATING_IP],
            capture_output=True, text=True)
        assert fetched.stdout.strip() == 'served-by-dvr-vm', fetched

        # The instance reaches outside; the far end sees the floating IP.
        server = external_listener(router)
        with server:
            port = server.getsockname()[1]
            seen = {}

            def accept():
                conn, peer = server.accept()
                with conn:
                    seen['peer'] = peer[0]
                    seen['data'] = conn.recv(100)
            acceptor = threading.Thread(target=accept)
            acceptor.start()
            code, out = drv.run(instance, 'sh', '-c',
                                'echo hello | timeout 10 nc %s %d'
                                % (EXTERNAL_HOST, port))
            acceptor.join(timeout=15)
        assert seen == {'peer': FLOATING_IP, 'data': b'hello\n'}, (code, out)
        # A 1450-byte packet crosses the whole path unfragmented (DF set).
        code, out = drv.run(instance, 'ping', '-c', '1', '-W', '2', '-s',
                            str(VXLAN_MTU - 28), EXTERNAL_HOST)
        assert code == 0, out
    assert host.ports('br-int') == {router.qr_ovs}


def test_ports_are_bound_to_this_compute():
    """Neutron's DVR serves a floating IP from the compute the port is bound
    to: nova binds ports to ``network_binding_host_id``, which must be this
    host, and the driver must leave binding to nova."""
    drv = driver.DockerDriver(fake.FakeVirtAPI())
    instance = factories.instance()
    instance.host = 'compute-7'
    assert drv.network_binding_host_id(None, instance) == 'compute-7'
    assert drv.manages_network_binding_host_id() is False
