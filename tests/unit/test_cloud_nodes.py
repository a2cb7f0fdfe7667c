"""A cloud of two nodes as the launcher lays it out: where each node's
services reach the control plane, where each keeps its state, and a
service of node 2 that a cloud of one node does not wait for."""

import types

from novadocker_cloud import layout as cloud_layout
from novadocker_cloud import orchestrator
from novadocker_cloud import services
from novadocker_cloud.services import management


def _layout(tmp_path, nodes):
    return cloud_layout.Layout(str(tmp_path / 'state'), str(tmp_path / 'etc'),
                               nodes)


def test_one_node_keeps_everything_on_the_loopback(tmp_path):
    layout = _layout(tmp_path, 1)
    assert layout.control_host == '127.0.0.1'
    assert layout.listen_hosts == ['127.0.0.1']
    assert layout.url('keystone', '/v3') == 'http://127.0.0.1:5000/v3'
    assert '@127.0.0.1:5672/' in layout.transport_url()


def test_two_nodes_reach_the_control_plane_on_the_management_link(
        tmp_path):
    layout = _layout(tmp_path, 2)
    assert layout.control_host == '172.24.8.1'
    # Node 1's own services keep the loopback.
    assert layout.listen_hosts == ['127.0.0.1', '172.24.8.1']
    assert layout.url('glance') == 'http://172.24.8.1:9292'
    assert '@172.24.8.1:5672/' in layout.transport_url()
    # The databases are node 1's business only.
    assert '@127.0.0.1:3306/' in layout.db_url('nova')


def test_each_node_has_its_name_address_state_and_configuration(tmp_path):
    layout = _layout(tmp_path, 2)
    first = cloud_layout.Node(layout, 1)
    second = cloud_layout.Node(layout, 2)
    assert (first.name, first.address) == (layout.hostname, '127.0.0.1')
    assert first.data('nova') == layout.data('nova')
    assert first.conf('nova', 'nova-cpu.conf') == layout.conf(
        'nova', 'nova-cpu.conf')
    assert second.name == layout.hostname + '-node2'
    assert second.address == '172.24.8.2'
    assert second.data('nova') == str(tmp_path / 'state' / 'node2' / 'nova')
    assert second.conf('nova', 'nova-cpu.conf') == str(
        tmp_path / 'etc' / 'node2' / 'nova' / 'nova-cpu.conf')
    assert (first.tunnel_address, second.tunnel_address) == (
        '172.24.9.1', '172.24.9.2')


def test_node_two_commands_run_in_its_namespaces(tmp_path):
    layout = _layout(tmp_path, 2)
    assert management.enter(layout, ['dockerd', '--debug']) == [
        'nsenter', '--mount=%s' % (tmp_path / 'state' / 'node2' /
                                   'namespaces' / 'mnt'),
        '--net=/var/run/netns/novadocker-cloud-node2', '--wd=/', '--',
        'dockerd', '--debug']


class NeedsManagement(services.Service):
    name = 'needs-management'
    after = ('management',)

    def up(self):
        return 'up'


def test_a_service_of_node_two_is_not_waited_for_on_one_node(tmp_path):
    said = []
    cloud = orchestrator.Orchestrator(
        _layout(tmp_path, 1), (NeedsManagement,), types.SimpleNamespace(),
        out=lambda line, flush: said.append(line))
    cloud.up()
    assert any('needs-management: up in' in line for line in said)
