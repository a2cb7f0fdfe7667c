"""Rescue through the real cloud: ``openstack server rescue`` gives a rescue
container with the instance's root filesystem, as it is now, at /mnt/rescue
and on the instance's ports; unrescue brings the instance back with what
the rescue changed; a rescued server deleted leaves nothing."""

import pytest

RESCUE = 'nova-rescue-'
RESCUE_MOUNT = '/mnt/rescue'


def _rescue(cloud, server):
    cloud.demo.compute.rescue_server(server, admin_pass='Rescue1234')
    return cloud.wait_status(cloud.demo, server, 'RESCUE', 120)


def _eth0_mac(cloud, container):
    code, output = cloud.execute(container, 'cat',
                                 '/sys/class/net/eth0/address')
    assert code == 0, output
    return output.strip()


@pytest.fixture
def server(cloud, web_image, flavor, private_network):
    server = cloud.boot(cloud.demo, 'rescued', web_image, flavor,
                        private_network)
    yield server
    if cloud.demo.compute.find_server(server.id):
        cloud.delete(cloud.demo, server)


def test_rescue_sees_the_root_as_it_is_and_its_changes_survive(
        cloud, server):
    instance, rescue = 'nova-' + server.id, RESCUE + server.id
    assert cloud.execute(instance, 'sh', '-c',
                         'echo written-by-the-instance > /marker')[0] == 0
    [port] = cloud.ports_of(server.id)

    server = _rescue(cloud, server)
    assert cloud.container(server.id)['State']['Running'] is False
    assert cloud.execute(rescue, 'cat', RESCUE_MOUNT + '/marker') == (
        0, 'written-by-the-instance\n')
    # The rescue system is on the instance's port.
    assert _eth0_mac(cloud, rescue) == port.mac_address
    assert cloud.execute(rescue, 'sh', '-c',
                         'echo repaired > %s/repaired' % RESCUE_MOUNT)[0] == 0

    cloud.demo.compute.unrescue_server(server)
    server = cloud.wait_status(cloud.demo, server, 'ACTIVE', 120)
    assert cloud.container(server.id, RESCUE) is None
    assert cloud.volume(rescue) is None
    assert cloud.execute(instance, 'cat', '/repaired') == (0, 'repaired\n')
    assert cloud.execute(instance, 'cat', '/marker') == (
        0, 'written-by-the-instance\n')
    assert _eth0_mac(cloud, instance) == port.mac_address


def test_a_stopped_server_rescued_then_deleted_leaves_nothing(
        cloud, server):
    [port] = cloud.ports_of(server.id)
    cloud.demo.compute.stop_server(server)
    server = cloud.wait_status(cloud.demo, server, 'SHUTOFF', 120)
    server = _rescue(cloud, server)
    assert cloud.container(server.id, RESCUE)['State']['Running']
    assert cloud.volume(RESCUE + server.id) is not None
    cloud.delete(cloud.demo, server)
    assert cloud.leftovers(server.id, [port.id]) == {}
