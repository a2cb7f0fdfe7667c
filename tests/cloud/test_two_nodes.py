"""A cloud of two compute nodes on this machine (``up --nodes 2``): node 2
in namespaces of its own with its own engine, OVS, OVN chassis and
nova-compute. A server placed on node 2 is bound there, runs in node 2's
engine only, is reached from this host through its floating IP (NATed on
node 1, the gateway chassis) and from a server on node 1 over the project
network (Geneve between the nodes' br-phy bridges); deleting both leaves
nothing on either node. A cold migration to node 2 carries what the
container wrote (through Glance: the nodes share nothing else), and a
resize that must go to node 2, reverted, is back on node 1 as it was.

A download cut short on node 2 ends in ERROR there and a hard reboot
recovers the data; an evacuation rebuilds node 2's server on node 1.

Run with ``NOVADOCKER_TWO_NODES=1`` (tools/run-tests.sh sets it), in a
pytest session of its own: the two-node cloud has a state directory of its
own and the same ports as the session's single-node cloud, so the two
cannot run at once. It uses a two-node cloud kept up by hand in that state
directory, or brings one up and stops it.
"""

import contextlib
import os

import docker
import openstack
import pytest

from novadocker.virt.docker import moves
from novadocker_cloud import audit
from novadocker_cloud import demo
from novadocker_cloud import layout as cloud_layout
from novadocker_cloud import process
from novadocker_cloud.services import management
from novadocker_cloud.services import node as node_service
from novadocker_cloud.services import nova
from novadocker_cloud.services import ovn
from tests.cloud import conftest

pytestmark = pytest.mark.skipif(
    not os.environ.get('NOVADOCKER_TWO_NODES'),
    reason='NOVADOCKER_TWO_NODES=1 runs it (a cloud of its own, ~4 min), '
    'in a session without the single-node cloud')


@pytest.fixture(scope='module')
def layout():
    with conftest.two_nodes('/tmp/novadocker-cloud-two-nodes.log') as layout:
        yield layout


@pytest.fixture(scope='module')
def cloud(layout):
    return conftest.connected(layout)


@pytest.fixture(scope='module')
def nodes(layout):
    return [cloud_layout.Node(layout, n) for n in (1, 2)]


@pytest.fixture(scope='module')
def operator(cloud):
    return cloud.operator()


@pytest.fixture(scope='module')
def web_image(cloud):
    image = cloud.upload_docker_image('tests-web', cloud.demo)
    yield image
    cloud.demo.image.delete_image(image)


@pytest.fixture
def engines(cloud):
    """{node number: engine client} as the audit reaches them."""
    clients = {number: view.engine() for number, view in
               enumerate(audit.nodes(cloud.layout), 1)}
    yield clients
    for client in clients.values():
        client.close()


def test_node_two_is_a_second_chassis_and_hypervisor(cloud, nodes,
                                                     engines):
    assert sorted(ovn.chassis_hostnames()) == sorted(n.name for n in nodes)
    for node in nodes:
        encap = ovn.sbctl('--bare', '--columns=ip', 'find', 'Encap',
                          'chassis_name=' + node.name)
        assert encap == node.tunnel_address
    hypervisors = {h.name: h for h in cloud.admin.compute.hypervisors(
        details=True)}
    assert sorted(hypervisors) == sorted(n.name for n in nodes)
    assert all(h.state == 'up' and h.status == 'enabled'
               for h in hypervisors.values())
    # Each node's engine is its own: its identity, its data root.
    assert len(engines) == 2
    infos = [engine.info() for engine in engines.values()]
    assert infos[0]['ID'] != infos[1]['ID']
    # The engine remaps: its root is <data root>/<uid>.<gid>.
    assert os.path.dirname(infos[1]['DockerRootDir']) == nodes[1].data(
        'docker')


def test_a_server_on_node_two_is_reached_through_geneve(
        cloud, operator, nodes, web_image, engines):
    first, second = nodes
    far = cloud.boot_on(operator, second, 'on-node2', web_image)
    near = cloud.boot_on(operator, first, 'on-node1', web_image)
    public = cloud.demo.network.find_network('public')
    fip = cloud.demo.network.create_ip(floating_network_id=public.id)
    try:
        assert far.status == near.status == 'ACTIVE'
        assert far.hypervisor_hostname == second.name
        [port] = cloud.ports_of(far.id)
        assert port.status == 'ACTIVE'
        assert port.binding_host_id == second.name
        chassis = ovn.sbctl('--bare', '--columns=chassis', 'find',
                            'Port_Binding', 'logical_port=' + port.id)
        assert ovn.sbctl('get', 'Chassis', chassis,
                         'hostname').strip('"') == second.name
        with pytest.raises(docker.errors.NotFound):
            engines[1].inspect_container('nova-' + far.id)
        assert engines[2].inspect_container(
            'nova-' + far.id)['State']['Status'] == 'running'
        with pytest.raises(docker.errors.NotFound):
            engines[2].inspect_container('nova-' + near.id)
        # From this host, through the gateway on node 1 and the tunnel.
        cloud.demo.network.update_ip(fip, port_id=port.id)
        assert demo.fetch('http://%s/' % fip.floating_ip_address,
                          timeout=60) == 'hello from on-node2'
        # From node 1's server, over the project network.
        address = port.fixed_ips[0]['ip_address']
        run = engines[1].exec_create(
            'nova-' + near.id, ['timeout', '20', 'wget', '-q', '-O', '-',
                                'http://%s/' % address])
        page = engines[1].exec_start(run).decode().strip()
        assert page == 'hello from on-node2'
        assert engines[1].exec_inspect(run)['ExitCode'] == 0
    finally:
        cloud.demo.network.delete_ip(fip)
        for server in (far, near):
            cloud.delete(operator, server)
    assert audit.orphans(cloud.layout, cloud.admin) == {}


def _exec(engine, server, *argv):
    """The output of ``argv`` run in the server's container, which must
    succeed."""
    run = engine.exec_create('nova-' + server.id, list(argv))
    output = engine.exec_start(run).decode(errors='replace')
    assert engine.exec_inspect(run)['ExitCode'] == 0, output
    return output


def _memory_mb(engine, server):
    return engine.inspect_container(
        'nova-' + server.id)['HostConfig']['Memory'] // (1024 * 1024)


def _on(engine, server):
    try:
        return engine.inspect_container('nova-' + server.id)
    except docker.errors.NotFound:
        return None


@contextlib.contextmanager
def _deleted_after(cloud, operator, server):
    """Delete ``server`` when done, whatever happened; then nothing may be
    left on either node."""
    try:
        yield server
    finally:
        cloud.delete(operator, server)
    assert audit.orphans(cloud.layout, cloud.admin) == {}


def _server_on(cloud, operator, node, name, image):
    return _deleted_after(cloud, operator,
                          cloud.boot_on(operator, node, name, image))


def _moved_to(conn, server, node):
    """The server once it is on ``node`` with no task under way, else
    None."""
    server = conn.compute.get_server(server)
    if server.hypervisor_hostname == node.name and server.task_state is None:
        return server
    return None


def _lift_forced_down(cloud, node):
    """Whether Nova took node's forced down back (it refuses while the
    node's evacuations are not completed)."""
    try:
        cloud.admin.compute.update_service_forced_down(
            _service(cloud, node), forced=False)
    except openstack.exceptions.BadRequestException:
        return False
    return True


def _service(cloud, node):
    [service] = cloud.admin.compute.services(binary='nova-compute',
                                             host=node.name)
    return service


def test_a_migration_to_node_two_carries_what_was_written(
        cloud, operator, nodes, web_image, engines):
    """Through Glance: the nodes share nothing else."""
    first, second = nodes
    with _server_on(cloud, operator, first, 'migrated', web_image) as server:
        _exec(engines[1], server, 'sh', '-c', 'echo on node 1 > /marker')
        cloud.admin.compute.migrate_server(server, host=second.name)
        server = cloud.wait_status(operator, server, 'VERIFY_RESIZE', 300)
        assert server.hypervisor_hostname == second.name
        assert _exec(engines[2], server, 'cat', '/marker') == 'on node 1\n'
        [port] = cloud.ports_of(server.id)
        assert port.binding_host_id == second.name
        assert port.status == 'ACTIVE'
        cloud.admin.compute.confirm_server_resize(server)
        server = cloud.wait_status(operator, server, 'ACTIVE', 180)
        assert _on(engines[1], server) is None
        assert engines[1].images(name=moves.MOVED_REPOSITORY) == []
        assert audit.orphans(cloud.layout, cloud.admin) == {}


def test_a_download_cut_short_on_node_two_is_recovered_by_a_hard_reboot(
        cloud, operator, nodes, web_image, engines):
    """Node 2 loses Glance 256 KiB into the moved image (its own iptables
    reset the connection): its finish fails, the server is in ERROR on node
    2 with nothing of it there, and Glance keeps the move's copy. A hard
    reboot, Glance reachable again, makes the container from that copy with
    what the server had written. Once the server is deleted, node 1's
    moved image goes too (Nova's clean-up of a failed migration)."""
    first, second = nodes
    with _server_on(cloud, operator, first, 'cut-short', web_image) as server:
        _exec(engines[1], server, 'sh', '-c', 'echo on node 1 > /marker')
        with _downloads_cut_short(cloud.layout, after=256 * 1024):
            cloud.admin.compute.migrate_server(server, host=second.name)
            server = cloud.wait_status(operator, server, 'ERROR', 300)
        assert server.hypervisor_hostname == second.name
        fault = cloud.fault(operator, server)
        assert fault.startswith(
            'Failed to deploy instance: could not read image %s from '
            'Glance: reading failed after ' % _transfers(cloud, server)[0]), \
            fault
        assert _on(engines[2], server) is None
        assert _node_two_kinds(audit.orphans(cloud.layout, cloud.admin),
                               second) == {}
        operator.compute.reboot_server(server, 'HARD')
        server = cloud.wait_for(lambda: _done(operator, server),
                                'the hard reboot', 180)
        assert server.status == 'ACTIVE', server.fault
        assert server.hypervisor_hostname == second.name
        assert _exec(engines[2], server, 'cat', '/marker') == 'on node 1\n'
        assert not _transfers(cloud, server)
        [port] = cloud.ports_of(server.id)
        assert port.binding_host_id == second.name
        assert port.status == 'ACTIVE'
        cloud.delete(operator, server)
        cloud.wait_for(lambda: audit.orphans(cloud.layout, cloud.admin) == {},
                       'nothing left on either node', 90)


def _done(conn, server):
    """The server once no task is under way (the API sets one as it
    accepts an action), else None."""
    server = conn.compute.get_server(server)
    return server if server.task_state is None else None


@contextlib.contextmanager
def _downloads_cut_short(layout, after):
    """Node 2's connections to Glance reset once ``after`` bytes came
    from it, by node 2's own iptables: connbytes counts each connection's
    reply bytes, and the first acknowledgement past them is refused
    locally, so the reader gets the reset at once."""
    rule = ['OUTPUT', '-p', 'tcp', '--dport',
            str(cloud_layout.PORTS['glance']), '-m', 'connbytes',
            '--connbytes', '%d:' % after, '--connbytes-dir', 'reply',
            '--connbytes-mode', 'bytes', '-j', 'REJECT', '--reject-with',
            'tcp-reset']
    process.run(management.enter(layout, ['iptables', '-I', *rule]))
    try:
        yield
    finally:
        process.run(management.enter(layout, ['iptables', '-D', *rule]))


def _node_two_kinds(found, node):
    return {kind: names for kind, names in found.items()
            if kind.endswith('(%s)' % node.name)}


def _transfers(cloud, server):
    """The Glance images carrying a move of ``server``."""
    return [i.id for i in cloud.admin.image.images(is_hidden=True)
            if i.properties.get(moves.MOVED_PROPERTY) == server.id]


def test_a_resize_to_node_two_reverted_is_back_as_it_was(
        cloud, operator, nodes, web_image, engines):
    """Node 1 disabled, the scheduler must take node 2; the revert brings
    the server back to node 1 with its old flavor and its data as it was
    when the resize began."""
    first, second = nodes
    small = cloud.admin.compute.find_flavor('docker.small')
    bigger = cloud.admin.compute.find_flavor('docker.medium')
    compute = cloud.admin.compute
    with _server_on(cloud, operator, first, 'resized', web_image) as server:
        _exec(engines[1], server, 'sh', '-c', 'echo before > /marker')
        compute.disable_service(_service(cloud, first))
        try:
            operator.compute.resize_server(server, bigger.id)
            server = cloud.wait_status(operator, server, 'VERIFY_RESIZE',
                                       300)
        finally:
            compute.enable_service(_service(cloud, first))
        assert server.hypervisor_hostname == second.name
        assert _memory_mb(engines[2], server) == bigger.ram
        _exec(engines[2], server, 'sh', '-c', 'echo after > /marker')
        operator.compute.revert_server_resize(server)
        server = cloud.wait_status(operator, server, 'ACTIVE', 300)
        assert server.hypervisor_hostname == first.name
        assert _on(engines[2], server) is None
        assert _memory_mb(engines[1], server) == small.ram
        assert _exec(engines[1], server, 'cat', '/marker') == 'before\n'
        assert audit.orphans(cloud.layout, cloud.admin) == {}


def test_evacuation_rebuilds_on_node_one_and_node_two_cleans_up(
        cloud, operator, nodes, web_image, engines):
    """Node 2's nova-compute dies and its service is forced down: the
    server is rebuilt on node 1 from its image (no shared storage: what it
    wrote on node 2 is not carried). When node 2's nova-compute starts
    again, it removes its copy: container, ports, netns link."""
    first, second = nodes
    compute = cloud.admin.compute
    daemon = process.Daemon.recorded(
        cloud.layout.pidfile(node_service.PREFIX + 'nova-compute'))
    with _server_on(cloud, operator, second, 'evacuated',
                    web_image) as server:
        daemon.kill()
        try:
            compute.update_service_forced_down(_service(cloud, second),
                                               forced=True)
            compute.evacuate_server(server, host=first.name)
            server = cloud.wait_for(lambda: _moved_to(operator, server,
                                                      first), 'evacuated',
                                    300)
            if server.status == 'SHUTOFF':
                # Since microversion 2.95 an evacuated server is stopped.
                operator.compute.start_server(server)
                server = cloud.wait_status(operator, server, 'ACTIVE', 120)
            assert _on(engines[1], server)['State']['Running']
            # Node 2 is down: nobody has removed its copy yet.
            assert _on(engines[2], server) is not None
        finally:
            since = nova.utc_now()
            daemon.start()
            # Nova lifts a forced down only once the node's nova-compute
            # has dealt with its evacuations (init_host destroys them).
            cloud.wait_for(lambda: _lift_forced_down(cloud, second),
                           'node 2 forced up', 180)
            cloud.wait_for(lambda: nova.compute_reporting(
                cloud.admin, second.name, since), 'node 2 reporting', 180)
        assert _on(engines[2], server) is None
        assert _on(engines[1], server)['State']['Running']
        assert audit.orphans(cloud.layout, cloud.admin) == {}
