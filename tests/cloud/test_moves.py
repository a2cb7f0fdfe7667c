"""Resize and cold migration through the real cloud, on its one node
(``allow_resize_to_same_host``; the driver reports same-host cold
migration): what the container wrote moves with it, its limits follow the
flavor, a revert gives back the old limits and the data as it was when
the resize began, and nothing is left once the server is deleted."""

import pytest

MB = 1024 * 1024


def _exec(cloud, server, *argv):
    """(exit code, output) of ``argv`` run inside the server's container."""
    return cloud.execute('nova-' + server.id, *argv)


def _limits(cloud, server):
    """(memory MB, CPU shares) the engine gives the server's container."""
    host = cloud.container(server.id)['HostConfig']
    return host['Memory'] // MB, host['CpuShares']


def _resize(cloud, server, flavor):
    cloud.demo.compute.resize_server(server, flavor.id)
    return cloud.wait_status(cloud.demo, server, 'VERIFY_RESIZE', 180)


@pytest.fixture
def server(cloud, web_image, flavor, private_network):
    server = cloud.boot(cloud.demo, 'moved', web_image, flavor,
                        private_network)
    assert _exec(cloud, server, 'sh', '-c', 'echo at boot > /marker')[0] == 0
    yield server
    if cloud.demo.compute.find_server(server.id):
        cloud.delete(cloud.demo, server)
    assert cloud.leftovers(server.id, []) == {}


def test_resize_revert_then_resize_confirm(cloud, server, flavor):
    bigger = cloud.admin.compute.find_flavor('docker.medium')
    [port] = cloud.ports_of(server.id)
    assert _limits(cloud, server) == (flavor.ram, 1024 * flavor.vcpus)

    server = _resize(cloud, server, bigger)
    assert _limits(cloud, server) == (bigger.ram, 1024 * bigger.vcpus)
    assert _exec(cloud, server, 'cat', '/marker') == (0, 'at boot\n')
    assert _exec(cloud, server, 'sh', '-c', 'echo resized > /marker')[0] == 0
    [moved_port] = cloud.ports_of(server.id)
    assert moved_port.id == port.id and moved_port.status == 'ACTIVE'

    cloud.demo.compute.revert_server_resize(server)
    server = cloud.wait_status(cloud.demo, server, 'ACTIVE', 180)
    assert _limits(cloud, server) == (flavor.ram, 1024 * flavor.vcpus)
    # As it was when the resize began.
    assert _exec(cloud, server, 'cat', '/marker') == (0, 'at boot\n')

    server = _resize(cloud, server, bigger)
    cloud.demo.compute.confirm_server_resize(server)
    server = cloud.wait_status(cloud.demo, server, 'ACTIVE', 180)
    assert server.flavor['original_name'] == bigger.name
    assert _limits(cloud, server) == (bigger.ram, 1024 * bigger.vcpus)
    assert _exec(cloud, server, 'cat', '/marker') == (0, 'at boot\n')


def test_cold_migration_keeps_what_was_written(cloud, server):
    cloud.admin.compute.migrate_server(server)
    server = cloud.wait_status(cloud.admin, server, 'VERIFY_RESIZE', 180)
    cloud.admin.compute.confirm_server_resize(server)
    server = cloud.wait_status(cloud.demo, server, 'ACTIVE', 180)
    assert _exec(cloud, server, 'cat', '/marker') == (0, 'at boot\n')


def test_a_stopped_server_is_resized_stopped(cloud, server):
    bigger = cloud.admin.compute.find_flavor('docker.medium')
    cloud.demo.compute.stop_server(server)
    server = cloud.wait_status(cloud.demo, server, 'SHUTOFF', 120)
    server = _resize(cloud, server, bigger)
    assert cloud.container(server.id)['State']['Running'] is False
    cloud.demo.compute.confirm_server_resize(server)
    server = cloud.wait_status(cloud.demo, server, 'SHUTOFF', 180)
    assert _limits(cloud, server) == (bigger.ram, 1024 * bigger.vcpus)
