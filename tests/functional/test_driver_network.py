"""DockerDriver with ports on a real OVS: every start of a container gets its
ports plugged into the new namespace, every stop and delete unplugs them.

Runs inside the private OVS namespace (the ``host`` fixture), which also
fails the test if a device, OVS port or netns link is left behind.
"""

from nova.compute import power_state
from nova import exception
from nova.network import model as network_model
from nova import objects
from nova.virt import fake
from oslo_utils import uuidutils
from pyroute2 import netns as pyroute2_netns
import pytest

from novadocker import conf as nd_conf
from novadocker.virt.docker import addressing
from novadocker.virt.docker import client
from novadocker.virt.docker import driver
from novadocker.virt.docker import images
from tests.fixtures import engine as engine_fixture
from tests.fixtures import faults
from tests.fixtures import netinfo
from tests.fixtures import network as network_fixture
from tests.fixtures.network import ip_json
from tests.unit import factories

CONF = nd_conf.CONF
IMAGE_ID = uuidutils.generate_uuid()
HYBRID = {network_model.VIF_DETAILS_OVS_HYBRID_PLUG: True}


@pytest.fixture
def docker_driver(engine, host):
    CONF.set_override('host_url', engine.url, group='docker')
    CONF.set_override('soft_reboot_timeout', 0, group='docker')
    api = engine.client()
    api.tag(engine_fixture.TEST_IMAGE, images.GLANCE_REPOSITORY, IMAGE_ID)
    drv = driver.DockerDriver(fake.FakeVirtAPI())
    yield drv
    drv.cleanup_host('testhost')
    api.remove_image(images.glance_reference(IMAGE_ID))
    api.close()
    CONF.clear_override('host_url', group='docker')
    CONF.clear_override('soft_reboot_timeout', group='docker')


def spawn(drv, network_info, hostname='vm'):
    instance = factories.instance(hostname=hostname)
    instance.info_cache.network_info = network_info
    meta = objects.ImageMeta.from_dict({'id': IMAGE_ID,
                                        'container_format': 'docker'})
    drv.spawn(None, instance, meta, [], None, {}, network_info=network_info)
    return instance


def container_id(drv, instance):
    return drv.get_info(instance).internal_id


def addresses(drv, instance):
    """{ifname: [address/prefix]} inside the container."""
    return {link['ifname']: ['%s/%s' % (a['local'], a['prefixlen'])
                             for a in link['addr_info']
                             if a['family'] == 'inet']
            for link in ip_json('-n', container_id(drv, instance), 'addr')
            if link['ifname'] != 'lo'}


def test_ports_follow_the_container_through_its_life(docker_driver, host):
    vif = netinfo.simple_vif('10.20.0.5')
    network_info = network_model.NetworkInfo([vif])
    instance = spawn(docker_driver, network_info, hostname='web')
    tap = addressing.tap_name(vif)
    assert addresses(docker_driver, instance) == {'eth0': ['10.20.0.5/24']}
    assert host.ports('br-int') == {tap}
    assert host.external_ids(tap)['vm-uuid'] == instance.uuid
    # The hostname resolves to the port's address inside the container.
    api = docker_driver.docker.api
    hosts = api.exec_start(api.exec_create(
        'nova-' + instance.uuid, ['cat', '/etc/hosts'])['Id']).decode()
    assert '10.20.0.5\tweb' in hosts

    for reboot_type in ('SOFT', 'HARD'):
        first = container_id(docker_driver, instance)
        old_pid = api.inspect_container(first)['State']['Pid']
        docker_driver.reboot(None, instance, network_info, reboot_type)
        assert api.inspect_container(first)['State']['Pid'] != old_pid
        assert addresses(docker_driver, instance) == {
            'eth0': ['10.20.0.5/24']}
        assert host.ports('br-int') == {tap}

    docker_driver.power_off(instance, timeout=0)
    assert host.ports('br-int') == set()
    docker_driver.power_on(None, instance, network_info)
    assert docker_driver.get_info(instance).state == power_state.RUNNING
    assert addresses(docker_driver, instance) == {'eth0': ['10.20.0.5/24']}

    docker_driver.destroy(None, instance, network_info)
    assert host.ports('br-int') == set()


def pings(drv, source, address):
    """Whether ``source`` gets an answer from ``address`` within 2 s."""
    api = drv.docker.api
    run = api.exec_create('nova-' + source.uuid, ['ping', '-c', '1', '-W',
                                                  '2', address])
    api.exec_start(run['Id'])
    return api.exec_inspect(run['Id'])['ExitCode'] == 0


def test_a_paused_instance_is_off_its_network(docker_driver, host):
    """A frozen container's kernel would still answer pings; a paused
    VM answers nothing, and neither does a paused instance here."""
    peer = spawn(docker_driver, network_model.NetworkInfo(
        [netinfo.simple_vif('10.20.0.7')]))
    vif = netinfo.simple_vif('10.20.0.8', index=2)
    paused = spawn(docker_driver, network_model.NetworkInfo([vif]))
    assert pings(docker_driver, peer, '10.20.0.8')
    docker_driver.pause(paused)
    assert not pings(docker_driver, peer, '10.20.0.8')
    docker_driver.unpause(paused)
    assert pings(docker_driver, peer, '10.20.0.8')
    assert addresses(docker_driver, paused) == {'eth0': ['10.20.0.8/24']}
    # Suspend is a pause; resume brings the network back with the rest.
    docker_driver.suspend(None, paused)
    assert not pings(docker_driver, peer, '10.20.0.8')
    docker_driver.resume(None, paused, paused.info_cache.network_info)
    assert pings(docker_driver, peer, '10.20.0.8')
    for instance in (peer, paused):
        docker_driver.destroy(None, instance,
                              instance.info_cache.network_info)


def test_attach_and_detach_interface(docker_driver, host):
    first = netinfo.simple_vif('10.20.0.6')
    instance = spawn(docker_driver, network_model.NetworkInfo([first]))
    second = netinfo.simple_vif('10.30.0.6', index=2, prefix='10.30.0',
                                details=HYBRID)
    docker_driver.attach_interface(None, instance, None, second)
    assert addresses(docker_driver, instance) == {
        'eth0': ['10.20.0.6/24'], 'eth1': ['10.30.0.6/24']}
    assert host.ports('br-int') == {addressing.tap_name(first),
                                    addressing.hybrid_ovs_end(second)}
    docker_driver.detach_interface(None, instance, second)
    assert addresses(docker_driver, instance) == {'eth0': ['10.20.0.6/24']}
    assert host.ports('br-int') == {addressing.tap_name(first)}
    docker_driver.destroy(None, instance, network_model.NetworkInfo([first]))


def test_a_port_that_cannot_be_plumbed_fails_the_spawn_cleanly(
        docker_driver, host):
    instance = network_fixture.spawn_with_unpluggable_port(
        docker_driver, IMAGE_ID, '10.20.0.7')
    assert not docker_driver.instance_exists(instance)


def test_init_host_releases_namespaces_of_containers_that_died(
        docker_driver, host):
    vif = netinfo.simple_vif('10.20.0.8')
    network_info = network_model.NetworkInfo([vif])
    instance = spawn(docker_driver, network_info)
    cid = container_id(docker_driver, instance)
    # The engine stops the container behind nova's back (an engine restart
    # does this to every container).
    docker_driver.docker.api.kill(cid)
    assert cid in pyroute2_netns.listnetns()
    docker_driver.init_host('testhost')
    assert cid not in pyroute2_netns.listnetns()
    # Nova then starts it again (resume_guests_state_on_host_boot).
    docker_driver.resume_state_on_host_boot(None, instance, network_info,
                                            None)
    assert addresses(docker_driver, instance) == {'eth0': ['10.20.0.8/24']}
    docker_driver.destroy(None, instance, network_info)


def test_init_host_releases_namespaces_of_containers_that_are_gone(
        docker_driver, host):
    """nova-compute killed between a container's removal and its unplug:
    the link names a container the engine no longer has."""
    vif = netinfo.simple_vif('10.20.0.11')
    network_info = network_model.NetworkInfo([vif])
    instance = spawn(docker_driver, network_info)
    cid = container_id(docker_driver, instance)
    docker_driver.docker.api.remove_container(cid, force=True)
    assert cid in pyroute2_netns.listnetns()
    kept = spawn(docker_driver, network_model.NetworkInfo(
        [netinfo.simple_vif('10.20.0.12', index=2)]))
    docker_driver.init_host('testhost')
    assert cid not in pyroute2_netns.listnetns()
    assert container_id(docker_driver, kept) in pyroute2_netns.listnetns()
    # Nova's retry of the delete then unplugs what is left on the host.
    docker_driver.destroy(None, instance, network_info)
    docker_driver.destroy(None, kept, kept.get_network_info())


@pytest.mark.parametrize('ports, words', [
    ([netinfo.simple_vif('10.20.0.9', index=7),
      netinfo.simple_vif('10.20.0.10', index=7)], 'share MAC address'),
    ([netinfo.vif([netinfo.subnet('2001:db8::/64', ['2001:db8::9'])],
                  mtu=1200)], 'below the 1280 that IPv6 needs'),
], ids=['duplicate-macs', 'mtu-below-ipv6-minimum'])
def test_broken_port_sets_fail_the_spawn_and_leave_nothing(
        docker_driver, host, ports, words):
    instance = factories.instance()
    meta = objects.ImageMeta.from_dict({'id': IMAGE_ID,
                                        'container_format': 'docker'})
    with pytest.raises(exception.VirtualInterfacePlugException, match=words):
        docker_driver.spawn(None, instance, meta, [], None, {},
                            network_info=network_model.NetworkInfo(ports))
    assert not docker_driver.instance_exists(instance)


def test_a_port_without_addresses_is_plugged_bare(docker_driver, host):
    vif = netinfo.vif([netinfo.subnet('10.20.0.0/24', [])])
    network_info = network_model.NetworkInfo([vif])
    instance = spawn(docker_driver, network_info)
    links = {link['ifname']: link for link in ip_json(
        '-n', container_id(docker_driver, instance), 'addr')}
    assert links['eth0']['address'] == vif['address']
    assert links['eth0']['mtu'] == 1450
    assert [a for a in links['eth0']['addr_info']
            if a['family'] == 'inet'] == []
    docker_driver.destroy(None, instance, network_info)


def test_a_process_that_exits_at_once_fails_the_spawn_naming_its_exit(
        docker_driver, host):
    """The namespace dies with the process, often before its ports are
    plugged: the error names the exit, not the namespace."""
    instance = factories.instance()
    meta = objects.ImageMeta.from_dict({
        'id': IMAGE_ID, 'container_format': 'docker',
        'properties': {'os_command_line': "sh -c 'echo bye >&2; exit 3'"}})
    for _ in range(5):  # the exit races the plug: either way, same error
        with pytest.raises(exception.InstanceDeployFailure,
                           match='exited during boot with code 3; its last '
                                 'output: bye'):
            docker_driver.spawn(
                None, instance, meta, [], None, {},
                network_info=network_model.NetworkInfo(
                    [netinfo.simple_vif('10.20.0.11')]))
        assert not docker_driver.instance_exists(instance)


def test_a_lost_answer_to_remove_leaves_no_network_behind(
        docker_driver, host):
    """The engine removed the container but its answer was lost: destroy
    fails, yet the ports and the netns link (named after a container id
    that a retry can no longer learn) are gone with it."""
    vif = netinfo.simple_vif('10.20.0.12')
    network_info = network_model.NetworkInfo([vif])
    instance = spawn(docker_driver, network_info)
    cid = container_id(docker_driver, instance)
    engine_requests = faults.EngineRequests(docker_driver.docker.api)
    engine_requests.arm(faults.lost_response, faults.request_to(
        'nova-' + instance.uuid))
    try:
        with pytest.raises(client.DockerUnavailable):
            docker_driver.destroy(None, instance, network_info)
    finally:
        engine_requests.close()
    assert engine_requests.fired_on.startswith('DELETE ')
    assert not docker_driver.instance_exists(instance)
    assert cid not in pyroute2_netns.listnetns()
    assert host.ports('br-int') == set()
    docker_driver.destroy(None, instance, network_info)  # Nova's retry


@pytest.mark.parametrize('cap_add', [[], ['NET_ADMIN']])
def test_an_instance_takes_another_mac_only_with_net_admin(
        docker_driver, host, cap_add):
    """Docker's default capabilities leave NET_ADMIN out: an instance
    cannot change its interface (EPERM) unless the operator grants it with
    ``[docker] cap_add``, as the real cloud does; the switch's port
    security then drops what it sends (tests/cloud/test_isolation.py)."""
    vif = netinfo.simple_vif('10.20.0.13')
    network_info = network_model.NetworkInfo([vif])
    CONF.set_override('cap_add', cap_add, group='docker')
    try:
        instance = spawn(docker_driver, network_info)
    finally:
        CONF.clear_override('cap_add', group='docker')
    api = docker_driver.docker.api
    run = api.exec_create('nova-' + instance.uuid, [
        'ip', 'link', 'set', 'eth0', 'address', 'fa:16:3e:00:00:99'])
    output = api.exec_start(run['Id']).decode()
    [eth0] = ip_json('-n', container_id(docker_driver, instance), 'link',
                     'show', 'eth0')
    if cap_add:
        assert api.exec_inspect(run['Id'])['ExitCode'] == 0, output
        assert eth0['address'] == 'fa:16:3e:00:00:99'
    else:
        assert api.exec_inspect(run['Id'])['ExitCode'] != 0
        assert 'Operation not permitted' in output
        assert eth0['address'] == vif['address']
    docker_driver.destroy(None, instance, network_info)
