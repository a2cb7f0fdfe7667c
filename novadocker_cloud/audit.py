"""What in the cloud belongs to no live server, each kind asked of the
service that holds it (the engine, the kernel, OVS, OVN, Neutron,
Placement, Glance; node 2's through its namespaces), never of
nova-compute or the driver: their own view is what is being judged. The
soak's verdict after each cycle, and an operator's check (``python -m
novadocker_cloud audit``).

A server is live while the compute API lists it (deleted ones are not
listed). Call it when no operation is under way: a spawn or a delete in
flight owns things no live server is known to own yet, or any longer.
"""

import dataclasses
import functools
import json
import os
import re
import typing

import docker
from pyroute2 import IPRoute

from novadocker.virt.docker import client
from novadocker.virt.docker import images
from novadocker.virt.docker import moves
from novadocker_cloud import layout as cloud_layout
from novadocker_cloud import process
from novadocker_cloud.services import docker as docker_service
from novadocker_cloud.services import management
from novadocker_cloud.services import node
from novadocker_cloud.services import openvswitch
from novadocker_cloud.services import ovn

NETNS_DIR = '/var/run/netns'
CONTAINER_ID = re.compile(r'^[0-9a-f]{64}$')
# Host devices of a port, named by the first 11 characters of its id (the
# driver's tap, and the hybrid plug's Linux bridge and veth ends).
PORT_DEVICE = re.compile(r'^(?:tap|qbr|qvb|qvo)([0-9a-f-]{11})$')
# The OVN metadata agent's veth ends: tap, the first 10 characters of the
# network's id, then 0 or 1.
METADATA_DEVICE = re.compile(r'^tap([0-9a-f-]{10})[01]$')
UUID = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-'
                  r'[0-9a-f]{12}$')
INSTANCE_LABELS = (client.LABEL_UUID, client.LABEL_SANDBOX,
                   client.LABEL_RESCUE)
UNFINISHED_IMAGE = ('queued', 'saving')


def live_servers(admin):
    """{id: server} of every project's servers."""
    return {s.id: s for s in admin.compute.servers(all_projects=True)}


@dataclasses.dataclass
class NodeView:
    """How the audit sees one compute node's engine, netns links, devices,
    OVS and instance directories from this host (node 2's through its
    namespaces)."""

    label: str
    engine_url: str
    netns_dir: str
    device_names: typing.Callable
    vsctl: typing.Callable
    instances: str

    def engine(self):
        return docker.APIClient(base_url=self.engine_url)


def nodes(layout):
    """Node 1, and node 2 while its namespaces and engine are up."""
    found = [NodeView('', docker_service.URL, NETNS_DIR,
                      lambda: os.listdir('/sys/class/net'),
                      openvswitch.vsctl, layout.data('nova', 'instances'))]
    try:
        with open(layout.pidfile(node.PREFIX + 'dockerd')) as f:
            engine = int(f.read())
    except (OSError, ValueError):
        return found
    if management.exists(layout):
        second = cloud_layout.Node(layout, management.NODE)
        found.append(NodeView(
            ' (%s)' % second.name,
            'unix://' + process.seen_by(engine, docker_service.SOCKET),
            process.seen_by(engine, NETNS_DIR), _node_two_devices,
            functools.partial(openvswitch.vsctl,
                              enter=functools.partial(management.enter,
                                                      layout)),
            second.data('nova', 'instances')))
    return found


def _node_two_devices():
    with IPRoute(netns=management.NETNS) as ip:
        return [link.get_attr('IFLA_IFNAME') for link in ip.get_links()]


def orphans(layout, admin):
    """{kind: sorted names} of what no live server owns; empty kinds left
    out; what is on node 2 says so in its kind."""
    servers = live_servers(admin)
    ports = list(admin.network.ports())
    networks = {n.id[:10] for n in admin.network.networks()}
    found = {
        'OVN ports': _ovn_ports(ports, servers),
        'Neutron ports': sorted(
            p.id for p in ports if p.device_owner.startswith('compute:')
            and p.device_id not in servers),
        'Placement allocations': _allocations(admin, servers),
        'Glance images of moves': sorted(
            i.id for i in admin.image.images(is_hidden=True)
            if moves.MOVED_PROPERTY in i.properties),
        'unfinished snapshots in Glance': sorted(
            i.id for i in admin.image.images()
            if i.status in UNFINISHED_IMAGE and
            i.properties.get('instance_uuid')),
    }
    for view in nodes(layout):
        found.update({kind + view.label: names for kind, names in {
            'containers': _containers(view, servers),
            'rescue volumes': _rescue_volumes(view),
            'netns links': _netns_links(view),
            'host devices': _port_devices(view, ports, servers, networks),
            'OVS ports': _ovs_ports(view, servers),
            'engine snapshot images': _snapshot_tags(view),
            'moved images': _moved_images(view, servers),
            'untagged images': _untagged_images(view),
            'instance directories': _instance_directories(view, servers),
        }.items()})
    return {kind: names for kind, names in found.items() if names}


def _containers(view, servers):
    """The driver's containers (instances, sandboxes, rescues) of servers
    no longer listed."""
    with view.engine() as api:
        found = api.containers(all=True, filters={'name': client.NAME_PREFIX})
    return sorted(c['Names'][0].lstrip('/') for c in found
                  if _owner(c['Labels']) not in servers)


def _owner(labels):
    return next((labels[k] for k in INSTANCE_LABELS if k in labels), None)


def _rescue_volumes(view):
    """Rescue volumes without their rescue container."""
    with view.engine() as api:
        volumes = api.volumes(filters={'label': client.LABEL_RESCUE})
        used = {c['Names'][0].lstrip('/') for c in api.containers(
            all=True, filters={'label': client.LABEL_RESCUE})}
    return sorted(v['Name'] for v in volumes['Volumes'] or ()
                  if v['Name'] not in used)


def _netns_links(view):
    """Namespace links named by a container id (the driver's) whose
    container is not running."""
    try:
        links = [n for n in os.listdir(view.netns_dir)
                 if CONTAINER_ID.match(n)]
    except FileNotFoundError:
        return []
    with view.engine() as api:
        running = {c['Id'] for c in api.containers()}
    return sorted(n for n in links if n not in running)


def _port_devices(view, ports, servers, network_prefixes):
    """Port devices on the host whose port is gone or is a compute port of
    a server no longer listed (the metadata agent's devices of a network
    that exists are its own)."""
    by_prefix = {p.id[:11]: p for p in ports}
    orphaned = []
    for name in view.device_names():
        match = PORT_DEVICE.match(name)
        metadata = METADATA_DEVICE.match(name)
        if not match or (metadata and
                         metadata.group(1) in network_prefixes):
            continue
        port = by_prefix.get(match.group(1))
        if port is None or (port.device_owner.startswith('compute:') and
                            port.device_id not in servers):
            orphaned.append(name)
    return sorted(orphaned)


def _ovs_ports(view, servers):
    """br-int ports the driver made (they carry external_ids:vm-uuid) for a
    server no longer listed."""
    table = json.loads(view.vsctl(
        '--format=json', '--columns=name,external_ids', 'list',
        'Interface'))
    orphaned = []
    for name, external_ids in table['data']:
        vm = dict(external_ids[1]).get('vm-uuid')
        if vm and vm not in servers:
            orphaned.append(name)
    return sorted(orphaned)


def _ovn_ports(ports, servers):
    """Logical switch ports named as Neutron names them (by port id: not
    the provider network's localnet port) with no Neutron port, or of a
    server no longer listed."""
    table = json.loads(ovn.nbctl('--format=json', '--columns=name,'
                                 'external_ids', 'list',
                                 'Logical_Switch_Port'))
    port_ids = {p.id for p in ports}
    orphaned = []
    for name, external_ids in table['data']:
        ids = dict(external_ids[1])
        owner = ids.get('neutron:device_owner', '')
        if not UUID.match(name):
            continue
        if name not in port_ids or (owner.startswith('compute:') and
                                    ids.get('neutron:device_id')
                                    not in servers):
            orphaned.append(name)
    return sorted(orphaned)


def _allocations(admin, servers):
    """Consumers holding resources of a provider that are not servers
    (this cloud makes no migrations, whose allocations would be theirs)."""
    orphaned = []
    for provider in admin.placement.resource_providers():
        response = admin.placement.get(
            '/resource_providers/%s/allocations' % provider.id)
        response.raise_for_status()
        orphaned += [c for c in response.json()['allocations']
                     if c not in servers]
    return sorted(orphaned)


def _snapshot_tags(view):
    """Committed snapshots still tagged in the engine (a finished or failed
    snapshot removes its own)."""
    with view.engine() as api:
        found = api.images(name=images.SNAPSHOT_REPOSITORY)
    return sorted(t for i in found for t in i['RepoTags'] or ())


def _moved_images(view, servers):
    """Moved images (moves.py) of servers that are not waiting for their
    resize or migration to be confirmed or reverted."""
    with view.engine() as api:
        found = api.images(name=moves.MOVED_REPOSITORY)
    tags = (t for i in found for t in i['RepoTags'] or ())
    return sorted(t for t in tags if getattr(
        servers.get(t.rpartition(':')[2]), 'status', None) != 'VERIFY_RESIZE')


def _untagged_images(view):
    """Images without a tag that no container stands on: the layers a
    moved container was made from, once it is gone."""
    with view.engine() as api:
        used = {c['ImageID'] for c in api.containers(all=True)}
        found = api.images(filters={'dangling': True})
    return sorted(i['Id'] for i in found if i['Id'] not in used)


def _instance_directories(view, servers):
    """<instances_path>/<uuid> of servers no longer listed (config drives
    live there), and half-built files beside them."""
    try:
        names = os.listdir(view.instances)
    except FileNotFoundError:
        return []
    return sorted(n for n in names
                  if (UUID.match(n) and n not in servers) or
                  n.startswith('.'))


def report(found, out=print):
    if not found:
        out('nothing belongs to no server')
    for kind, names in found.items():
        out('%s (%d): %s' % (kind, len(names), ', '.join(names)))
