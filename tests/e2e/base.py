"""Nova end to end: the API, conductor, scheduler, placement and a compute
service in one process (nova's functional framework), the compute service
running DockerDriver on a real Docker engine with its ports on a real OVS.

What is real and what stands in:

* nova-compute loads the driver from the documented line
  ``compute_driver = novadocker.virt.docker.driver.DockerDriver``, through
  nova's own loader; nothing is patched around it.
* the Docker engine is the session's private dockerd; the image service is
  nova's GlanceFixture extended to keep and stream real bytes
  (tests/fixtures/glance.py), holding a real ``docker save`` tarball of an
  image the engine does not have;
* OVS is the session's private ovsdb-server + ovs-vswitchd (userspace
  datapath) with ``br-int``; the test and every thread nova starts run in
  its network namespace, so the devices plugged there are the devices that
  vswitchd switches;
* Neutron is nova's NeutronFixture with ports defined here: plain OVS and
  OVS hybrid bindings, distinct addresses on one subnet.

Every test ends with a leak check: no container, port device, OVS port or
netns link may outlive it.
"""

import builtins
import copy
import io
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from unittest import mock

import fixtures
from nova.network import model as network_model
from nova.tests import fixtures as nova_fixtures
from nova.tests.functional import integrated_helpers
from pyroute2 import IPRoute
from pyroute2 import netns as pyroute2_netns

from novadocker.virt.docker import addressing
from novadocker.virt.docker import client as docker_client
from novadocker.virt.docker import images
from tests import conftest
from tests.fixtures import engine as engine_fixture
from tests.fixtures import glance as glance_fixture
from tests.fixtures import novatest
from tests.fixtures import ovs as ovs_fixture

COMPUTE_DRIVER = 'novadocker.virt.docker.driver.DockerDriver'
INTEGRATION_BRIDGE = 'br-int'  # nova's [neutron] ovs_bridge default
# A pip-installed nova keeps its paste pipeline under <prefix>/etc/nova.
API_PASTE = os.path.join(sys.prefix, 'etc', 'nova', 'api-paste.ini')
# The image in the stand-in Glance: a busybox whose PID 1 says hello on the
# console and ends at once on SIGTERM (a graceful stop takes no timeout).
IMAGE_ID = '6b3e2c51-9c41-4a36-8f4e-2d3c0e5a0d0c'
IMAGE_NAME = 'busybox-e2e'
IMAGE_TAG = 'novadocker-e2e/busybox:build'
IMAGE_COMMAND = (
    'sh', '-c', 'trap "exit 0" TERM; echo "hello from $(hostname)"; '
                'while true; do sleep 1 & wait $!; done')
PORT_DEVICE_PREFIXES = ('tap', 'qbr', 'qvb', 'qvo')
# Captured before nova's SysFsPoisonFixture wraps open() for every test.
UNPOISONED_OPEN = builtins.open

_TARBALL = None


def docker_save_tarball(engine):
    """``docker save`` of a freshly built image, which is then removed from
    the engine: the bytes are the only copy (built once per session)."""
    global _TARBALL
    if _TARBALL is None:
        with engine.client() as api:
            engine_fixture.build_test_image(api, tag=IMAGE_TAG,
                                            command=IMAGE_COMMAND)
            _TARBALL = b''.join(api.get_image(IMAGE_TAG))
            api.remove_image(IMAGE_TAG)
    return _TARBALL


def ovs_port(ip, hybrid=False, port_id=None):
    """A Neutron port on NeutronFixture's network (192.168.1.0/24, MTU
    1450), bound as plain OVS or, with ``hybrid``, as OVS hybrid (the
    iptables_hybrid firewall's binding)."""
    port = copy.deepcopy(nova_fixtures.NeutronFixture.port_1)
    port_id = port_id or str(uuid.uuid4())
    subnet = nova_fixtures.NeutronFixture.subnet_1
    port.update({
        'id': port_id,
        'mac_address': 'fa:16:3e:' + ':'.join(
            (port_id[0:2], port_id[2:4], port_id[4:6])),
        'fixed_ips': [{'ip_address': ip, 'subnet_id': subnet['id']}],
        'binding:vif_details': {
            network_model.VIF_DETAILS_OVS_HYBRID_PLUG: hybrid,
            network_model.VIF_DETAILS_PORT_FILTER: True},
    })
    return port


def ovs_device(port):
    """The device that is the port's OVS port on br-int."""
    vif = {'id': port['id']}
    if port['binding:vif_details'].get(
            network_model.VIF_DETAILS_OVS_HYBRID_PLUG):
        return addressing.hybrid_ovs_end(vif)
    return addressing.tap_name(vif)


def port_devices(netns_fd=None):
    """Port devices (tap, qbr, qvb, qvo) in the calling thread's network
    namespace or in the one ``netns_fd`` refers to."""
    found = {}

    def dump():
        if netns_fd is not None:
            pyroute2_netns.setns(netns_fd, flags=0)
        with IPRoute() as ipr:
            found['names'] = {link.get('ifname') for link in ipr.link('dump')}

    # setns() moves only the calling thread: a thread of its own.
    thread = threading.Thread(target=dump)
    thread.start()
    thread.join()
    return {n for n in found['names'] if n.startswith(PORT_DEVICE_PREFIXES)}


class DockerServersTestBase(novatest.PytestCompatible,
                            integrated_helpers._IntegratedTestBase):
    """Nova's integrated test base with the Docker driver as compute."""

    api_major_version = 'v2.1'
    microversion = 'latest'
    ADMIN_API = True

    def setUp(self):
        # Started before nova's TestCase poisons host inspection (os.uname,
        # which pyroute2 also calls once, when it first loads libc for
        # setns()).
        self.engine = conftest.docker_engine()
        with ovs_fixture.entered_netns(conftest.private_ovs().netns_path):
            pass
        self.docker = self.engine.client()
        # nova's base creates nova's GlanceFixture; this project's keeps
        # real bytes (nova 34's drops them).
        with mock.patch.object(nova_fixtures, 'GlanceFixture',
                               glance_fixture.GlanceFixture):
            super().setUp()

    def _setup_services(self):
        # Runs after nova's TestCase set up configuration and databases,
        # before any service starts: every thread nova starts from here on
        # inherits the OVS namespace the test thread enters now.
        self.flags(api_paste_config=API_PASTE, group='wsgi')
        self.flags(compute_driver=COMPUTE_DRIVER)
        self.flags(host_url=self.engine.url, soft_reboot_timeout=5,
                   group='docker')
        # The image's PID 1 ends on SIGTERM; a stuck one is killed after 5 s.
        self.flags(shutdown_timeout=5)
        self.host_netns = os.open('/proc/thread-self/ns/net', os.O_RDONLY)
        self.addCleanup(os.close, self.host_netns)
        self.switch = conftest.configure_test_network(self)
        self.switch.vsctl('--may-exist', 'add-br', INTEGRATION_BRIDGE, '--',
                          'set', 'Bridge', INTEGRATION_BRIDGE,
                          'datapath_type=netdev')
        # Diagnostics and resources read /proc and cgroups: lift nova's /sys
        # poison for the one module that reads them.
        self.useFixture(fixtures.MonkeyPatch(
            'novadocker.virt.docker.hostinfo.open', UNPOISONED_OPEN))
        self.addCleanup(self.docker.close)
        self._forget_image()
        self.addCleanup(self._forget_image)
        self._port_ids = []
        self._started = int(time.time())
        # Registered before the services start, so it runs after they stop.
        self.addCleanup(self._check_nothing_leaked, self._host_state())
        self._upload_image()
        super()._setup_services()

    # -- the stand-in services ------------------------------------------

    def _upload_image(self):
        self.glance.create(None, {
            'id': IMAGE_ID, 'name': IMAGE_NAME, 'status': 'queued',
            'container_format': 'docker', 'disk_format': 'raw',
            'visibility': 'public', 'min_ram': 0, 'min_disk': 0,
            'properties': {}}, data=io.BytesIO(
                docker_save_tarball(self.engine)))

    def _forget_image(self):
        """The engine must load the image from Glance in every test."""
        for image in self.docker.images(name=images.GLANCE_REPOSITORY) + \
                self.docker.images(name=images.SNAPSHOT_REPOSITORY):
            for tag in image['RepoTags'] or ():
                self.docker.remove_image(tag, force=True)

    def _add_port(self, port):
        self.neutron._ports[port['id']] = port
        self._port_ids.append(port['id'])
        return port

    # -- servers ----------------------------------------------------------

    def _boot(self, port, name='server', image_id=IMAGE_ID, **kwargs):
        return self._create_server(name=name, image_uuid=image_id,
                                   networks=[{'port': port['id']}], **kwargs)

    def _container(self, server):
        return self.docker.inspect_container(
            docker_client.container_name(server['id']))

    def _exec(self, server, *argv):
        """(exit code, output) of argv run inside the server's container."""
        exec_id = self.docker.exec_create(
            docker_client.container_name(server['id']), list(argv))['Id']
        output = self.docker.exec_start(exec_id).decode()
        return self.docker.exec_inspect(exec_id)['ExitCode'], output

    def _addresses(self, server):
        """{ifname: [(address/prefix, mtu)]} inside the server, as the
        kernel reports them through the container's netns link."""
        out = subprocess.run(
            ['ip', '-j', '-n', self._container(server)['Id'], 'addr'],
            check=True, capture_output=True, text=True).stdout
        return {link['ifname']: ['%s/%s mtu %s' % (a['local'], a['prefixlen'],
                                                   link['mtu'])
                                 for a in link['addr_info']
                                 if a['family'] == 'inet']
                for link in json.loads(out) if link['ifname'] != 'lo'}

    def assert_plumbed(self, server, *ports):
        """The server's container runs with exactly ``ports`` as eth0..N
        (address, MTU 1450) and each is a port on br-int that the agents
        would bind (iface-id, vm-uuid)."""
        container = self._container(server)
        self.assertEqual('running', container['State']['Status'])
        self.assertEqual(
            {'eth%d' % i: ['%s/24 mtu 1450' % p['fixed_ips'][0]['ip_address']]
             for i, p in enumerate(ports)},
            self._addresses(server))
        on_bridge = self.switch.ports(INTEGRATION_BRIDGE)
        for port in ports:
            self.assertIn(ovs_device(port), on_bridge)
            external_ids = self.switch.external_ids(ovs_device(port))
            self.assertEqual(port['id'], external_ids['iface-id'])
            self.assertEqual(server['id'], external_ids['vm-uuid'])
            self.assertEqual(port['mac_address'],
                             external_ids['attached-mac'])

    def assert_reaches(self, server, port):
        code, out = self._exec(server, 'ping', '-c', '1', '-W', '3',
                               port['fixed_ips'][0]['ip_address'])
        self.assertEqual(0, code, out)

    # -- leak check -------------------------------------------------------

    def _host_state(self):
        return {
            'containers': {c['Id'] for c in self.docker.containers(
                all=True, filters={'label': docker_client.LABEL_UUID})},
            'devices in the OVS namespace': port_devices(),
            'devices in the host namespace': port_devices(self.host_netns),
            'OVS ports': set(self.switch.vsctl(
                '--bare', '--columns=name', 'list', 'Interface').split()),
            'netns links': set(pyroute2_netns.listnetns()),
        }

    def _ours(self, kind, names):
        """Of ``names``, those this test can have made. Other test sessions
        may share the host (and /var/run/netns): their devices and netns
        links are neither reported nor touched."""
        if kind == 'netns links':
            created = {e['id'] for e in self.docker.events(
                since=self._started, until=int(time.time()) + 1,
                filters={'type': 'container', 'event': 'create'},
                decode=True)}
            return names & created
        if kind == 'devices in the host namespace':
            return {n for n in names
                    if n[3:] in {p[:11] for p in self._port_ids}}
        return names

    def _check_nothing_leaked(self, before):
        after = self._host_state()
        leaks = {kind: sorted(self._ours(kind, after[kind] - before[kind]))
                 for kind in after}
        leaks = {kind: names for kind, names in leaks.items() if names}
        # Clean up before failing, so one leak does not fail the next test.
        for cid in leaks.get('containers', ()):
            self.docker.remove_container(cid, force=True)
        for name in leaks.get('OVS ports', ()):
            self.switch.vsctl('--if-exists', 'del-port', name)
        for name in leaks.get('devices in the OVS namespace', ()):
            subprocess.run(['ip', 'link', 'del', name], check=False)
        for name in leaks.get('netns links', ()):
            pyroute2_netns.remove(name)
        self.assertEqual({}, leaks, 'the test left these behind')
