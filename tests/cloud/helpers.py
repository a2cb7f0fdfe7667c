"""What the cloud tests look at: servers through the API, and what each
server left (or must not leave) in the engine, OVS, the netns directory,
OVN and Neutron."""

import io
import os
import time

import docker

from novadocker.virt.docker import moves
from novadocker_cloud import sample_image
from novadocker_cloud.services import docker as docker_service
from novadocker_cloud.services import openvswitch
from novadocker_cloud.services import ovn

NETNS_DIR = '/var/run/netns'


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

    def boot(self, conn, name, image, flavor, network, wait=True):
        server = conn.compute.create_server(
            name=name, image_id=image.id, flavor_id=flavor.id,
            networks=[{'uuid': network.id}])
        if wait:
            server = conn.compute.wait_for_server(server, wait=180,
                                                  interval=0.5)
        return server

    def wait_status(self, conn, server, status, timeout=120):
        return conn.compute.wait_for_server(server, status=status,
                                            wait=timeout, interval=0.5)

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

    def volume(self, name):
        with self.engine() as api:
            try:
                return api.inspect_volume(name)
            except docker.errors.NotFound:
                return None

    def ports_of(self, server_id):
        return list(self.admin.network.ports(device_id=server_id))

    def fault(self, conn, server):
        server = conn.compute.get_server(server)
        return (server.fault or {}).get('message', '')

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

    def wait_for(self, predicate, what, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError('no %s after %ss' % (what, timeout))
            time.sleep(0.5)
