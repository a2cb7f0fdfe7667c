"""What the cloud tests look at: servers through the API, what each
server left (or must not leave) in the engine, OVS, the netns directory,
OVN and Neutron, and the frames a server's interface really carried."""

import configparser
import contextlib
import datetime
import io
import ipaddress
import os
import socket
import time

import docker
import openstack

from novadocker.virt.docker import moves
from novadocker_cloud import layout as cloud_layout
from novadocker_cloud import process
from novadocker_cloud import sample_image
from novadocker_cloud.services import docker as docker_service
from novadocker_cloud.services import nova
from novadocker_cloud.services import openvswitch
from novadocker_cloud.services import ovn
from tests.fixtures import ovs as ovs_fixture

NETNS_DIR = '/var/run/netns'
ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
# The flavor of a server Cloud.boot_on places.
BOOT_FLAVOR = 'docker.small'


class Cloud:

    def __init__(self, layout, connections):
        self.layout = layout
        self.admin = connections['admin']
        self.demo = connections['demo']
        self.alt_demo = connections['alt_demo']

    def engine(self):
        return docker.APIClient(base_url=docker_service.URL)

    def upload_docker_image(self, name, conn):
        """``docker save`` of a freshly built image uploaded with
        container_format docker; the engine's copy removed."""
        data = sample_image.saved('novadocker-cloud-tests/%s:latest' % name,
                                  sample_image.web_server)
        return conn.image.create_image(
            name=name, container_format='docker', disk_format='raw',
            data=io.BytesIO(data), allow_duplicates=True, wait=True)

    def boot(self, conn, name, image, flavor, network, wait=True,
             **create):
        """A server on ``network``; ``create``: more of create_server's
        arguments (security_groups, ...)."""
        server = conn.compute.create_server(
            name=name, image_id=image.id, flavor_id=flavor.id,
            networks=[{'uuid': network.id}], **create)
        if wait:
            server = conn.compute.wait_for_server(server, wait=180,
                                                  interval=0.5)
        return server

    def operator(self):
        """The admin working in the demo project: placing a server on a
        host (``nova:<host>``) is an admin's right, and the server is then
        the project's, behind its security group and router."""
        identity = self.admin.identity
        project = identity.find_project('demo', domain_id='default')
        identity.assign_project_role_to_user(
            project, identity.find_user('admin', domain_id='default'),
            identity.find_role('admin'))
        return openstack.connect(
            auth_url=self.layout.url('keystone'), username='admin',
            password=self.layout.password('admin'), project_name='demo',
            user_domain_name='Default', project_domain_name='Default',
            region_name=cloud_layout.REGION, identity_api_version='3')

    def boot_on(self, operator, node, name, image):
        """A BOOT_FLAVOR server on the private network, placed on ``node``
        (a layout.Node) by ``operator``; ACTIVE."""
        return self.boot(
            operator, name, image,
            self.admin.compute.find_flavor(BOOT_FLAVOR),
            self.demo.network.find_network('private'),
            availability_zone='nova:' + node.name)

    def wait_status(self, conn, server, status, timeout=120):
        """The server once it shows ``status``, read afresh first:
        openstacksdk's wait returns at once when the object it is given
        shows the status already, as one read before a reboot does."""
        return conn.compute.wait_for_server(
            conn.compute.get_server(server), status=status, wait=timeout,
            interval=0.5)

    def delete(self, conn, server):
        conn.compute.delete_server(server)
        conn.compute.wait_for_delete(server, wait=120, interval=0.5)

    def container(self, server_id, prefix='nova-'):
        """The inspected container of a server (``nova-rescue-`` prefix:
        its rescue container), or None."""
        with self.engine() as api:
            try:
                return api.inspect_container(prefix + server_id)
            except docker.errors.NotFound:
                return None

    def execute(self, container, *argv):
        """(exit code, output) of ``argv`` run inside ``container``."""
        with self.engine() as api:
            run = api.exec_create(container, list(argv))
            output = api.exec_start(run['Id']).decode(errors='replace')
            return api.exec_inspect(run['Id'])['ExitCode'], output

    def floating_ip(self, conn, server):
        """A new floating IP on the server's (first) port; deleted again if
        it cannot be attached."""
        public = conn.network.find_network('public')
        fip = conn.network.create_ip(floating_network_id=public.id)
        try:
            [port, *_] = self.ports_of(server.id)
            return conn.network.update_ip(fip, port_id=port.id)
        except BaseException:
            conn.network.delete_ip(fip)
            raise

    def volume(self, name):
        with self.engine() as api:
            try:
                return api.inspect_volume(name)
            except docker.errors.NotFound:
                return None

    def ports_of(self, server_id):
        return list(self.admin.network.ports(device_id=server_id))

    def fault(self, conn, server, timeout=30):
        """The message of the server's fault, waited for: Nova sets the
        server to ERROR before it records why (its fault decorator runs
        once the error handler has saved the state)."""
        return self.wait_for(
            lambda: (conn.compute.get_server(server).fault or {}).get(
                'message'), 'fault recorded', timeout)

    def leftovers(self, server_id, port_ids):
        """Everything of a deleted server still present, by kind."""
        left = {}
        for prefix in ('nova-', 'nova-rescue-'):
            if self.container(server_id, prefix):
                left[prefix + 'container'] = prefix + server_id
        if self.volume('nova-rescue-' + server_id):
            left['rescue volume'] = 'nova-rescue-' + server_id
        moved = '%s:%s' % (moves.MOVED_REPOSITORY, server_id)
        with self.engine() as api:
            if api.images(name=moved):
                left['moved image'] = moved
        taps = ['tap' + p[:11] for p in port_ids]
        on_switch = openvswitch.vsctl('list-ports', 'br-int').split()
        left['ovs ports'] = [t for t in taps if t in on_switch]
        left['devices'] = [t for t in taps if os.path.exists(
            '/sys/class/net/' + t)]
        left['ovn ports'] = [p for p in port_ids if ovn.nbctl(
            '--bare', '--columns=name', 'find', 'Logical_Switch_Port',
            'name=' + p)]
        left['neutron ports'] = [p.id for p in self.ports_of(server_id)]
        return {kind: what for kind, what in left.items() if what}

    def netns_links(self):
        try:
            return set(os.listdir(NETNS_DIR))
        except FileNotFoundError:
            return set()

    def log(self, name):
        with open(self.layout.log(name)) as f:
            return f.read()

    @contextlib.contextmanager
    def compute_restarted_with(self, **defaults):
        """nova-compute restarted with ``defaults`` in the [DEFAULT] section
        of its nova-cpu.conf for the block, then restarted with the file as
        it was: for a test that needs a setting no operator would choose
        for the whole session's cloud."""
        path = self.layout.conf('nova', 'nova-cpu.conf')
        with open(path) as f:
            original = f.read()
        parser = configparser.RawConfigParser()
        parser.read_string(original)
        parser['DEFAULT'].update({k: str(v) for k, v in defaults.items()})
        changed = io.StringIO()
        parser.write(changed)
        self._restart_compute(path, changed.getvalue())
        try:
            yield
        finally:
            self._restart_compute(path, original)

    def _restart_compute(self, conf_path, conf_text):
        """Stop nova-compute, write its configuration, start it, and wait
        until it reports again (until then the scheduler turns boots
        away)."""
        daemon = process.Daemon.recorded(self.layout.pidfile('nova-compute'))
        daemon.stop()
        with open(conf_path, 'w') as f:
            f.write(conf_text)
        # Past any report of the stopped process (to the second).
        since = nova.utc_now() + datetime.timedelta(seconds=1)
        daemon.start()
        daemon.wait_until(lambda: nova.compute_reporting(
            self.admin, self.layout.hostname, since),
            'nova-compute reporting', 120)

    def wait_for(self, predicate, what, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError('no %s after %ss' % (what, timeout))
            time.sleep(0.5)


class Capture:
    """Every frame a server's interface sends or receives from now on, read
    from a packet socket opened inside its network namespace: what reached
    the server (or left it) on the wire, whatever its applications did with
    it. A context manager."""

    def __init__(self, container_id, device='eth0'):
        with ovs_fixture.entered_netns(os.path.join(NETNS_DIR,
                                                    container_id)):
            self._socket = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                         socket.htons(ETH_P_ALL))
            self._socket.bind((device, 0))

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._socket.close()

    def senders(self, direction, quiet=0.5):
        """The (source MAC, source IPv4 address) of each frame received
        (``direction`` 'in') or sent ('out') so far, until none has come
        for ``quiet`` seconds. The address is an IPv4 packet's source or
        an ARP sender's, None for other frames."""
        outgoing = direction == 'out'
        self._socket.settimeout(quiet)
        found = []
        while True:
            try:
                frame, address = self._socket.recvfrom(65536)
            except TimeoutError:
                return found
            if (address[2] == socket.PACKET_OUTGOING) == outgoing:
                found.append(frame_sender(frame))


def frame_sender(frame):
    """(source MAC, IPv4 source or ARP sender address, or None) of an
    Ethernet frame."""
    mac = ':'.join('%02x' % b for b in frame[6:12])
    ethertype = int.from_bytes(frame[12:14], 'big')
    offset = {ETH_P_IP: 26, ETH_P_ARP: 28}.get(ethertype)
    if offset is None:
        return mac, None
    return mac, str(ipaddress.IPv4Address(frame[offset:offset + 4]))
