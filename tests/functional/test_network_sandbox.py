"""``[docker] network_sandbox``: the workload sees its network from its
first instruction, on the real engine and a real OVS.

The instance's image here checks, as the first thing its command does, that
eth0 holds the port's address and that a default route via the gateway
exists, and prints what it found and its hostname on the console. Each
start of the instance (spawn, reboot, power on, recovery after a host
reboot) must print NET-OK and GW-OK. Between them the sandbox keeps the
ports plugged: the same host device, the same OpenFlow port.

Runs inside the private OVS namespace (the ``host`` fixture), which fails a
test that leaves a device, OVS port or netns link behind; the driver
fixture fails one that leaves a container behind.
"""

import time

from nova.compute import power_state
from nova import exception
from nova.network import model as network_model
from nova import objects
from nova.virt import fake
from oslo_utils import uuidutils
from pyroute2 import IPRoute
from pyroute2 import netns as pyroute2_netns
import pytest

from novadocker import conf as nd_conf
from novadocker.virt.docker import addressing
from novadocker.virt.docker import client
from novadocker.virt.docker import driver
from novadocker.virt.docker import images
from tests.fixtures import engine as engine_fixture
from tests.fixtures import netinfo
from tests.fixtures import network as network_fixture
from tests.unit import factories

CONF = nd_conf.CONF
IMAGE_ID = uuidutils.generate_uuid()
CHECK_IMAGE = 'novadocker-test/first-instruction:latest'
# Exits at once on SIGTERM, so that a soft reboot or power off is quick.
FIRST_INSTRUCTION_CHECK = (
    'ip -4 addr show eth0 | grep -q "inet $ADDRESS/" '
    '&& echo NET-OK || echo NO-NET; '
    'ip route | grep -q "^default via $GATEWAY" '
    '&& echo GW-OK || echo NO-GW; '
    'echo "HOSTNAME=$(hostname)"; '
    'trap "exit 0" TERM; while true; do sleep 1 & wait $!; done')


@pytest.fixture
def docker_driver(engine, host):
    CONF.set_override('host_url', engine.url, group='docker')
    CONF.set_override('network_sandbox', True, group='docker')
    CONF.set_override('sandbox_image', engine_fixture.TEST_IMAGE,
                      group='docker')
    api = engine.client()
    engine_fixture.build_test_image(
        api, tag=CHECK_IMAGE, command=('sh', '-c', FIRST_INSTRUCTION_CHECK))
    api.tag(CHECK_IMAGE, images.GLANCE_REPOSITORY, IMAGE_ID)
    drv = driver.DockerDriver(fake.FakeVirtAPI())
    yield drv
    drv.cleanup_host('testhost')
    left = [c['Names'] for c in api.containers(all=True) if {
        client.LABEL_UUID, client.LABEL_SANDBOX} & set(c['Labels'])]
    for name in left:
        api.remove_container(name[0], force=True)
    api.remove_image(images.glance_reference(IMAGE_ID))
    api.remove_image(CHECK_IMAGE)
    api.close()
    for option in ('host_url', 'network_sandbox', 'sandbox_image'):
        CONF.clear_override(option, group='docker')
    assert not left, 'the test left these containers behind: %s' % left


def spawn(drv, address, hostname='app', **kwargs):
    """An instance with one port at ``address`` on 10.20.0.0/24."""
    instance = factories.instance(
        hostname=hostname, metadata={'ADDRESS': address,
                                     'GATEWAY': '10.20.0.1'})
    network_info = network_model.NetworkInfo([netinfo.simple_vif(address)])
    instance.info_cache.network_info = network_info
    meta = objects.ImageMeta.from_dict({'id': IMAGE_ID,
                                        'container_format': 'docker'})
    drv.spawn(None, instance, meta, [], None, {}, network_info=network_info,
              **kwargs)
    return instance, network_info


def console_after(drv, instance, starts):
    """The console once the instance's command has reported for its
    ``starts``-th start (each start appends its report)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        output = drv.get_console_output(None, instance)
        if output.count('HOSTNAME=') >= starts:
            return output
        time.sleep(0.05)
    raise AssertionError('no report of start %d: %r' % (starts, output))


def reports(output):
    return [line for line in output.split() if 'NET' in line or 'GW' in line]


def port_identity(host, vif):
    """(ifindex of the host device, OpenFlow port): both change whenever a
    port is plugged again."""
    tap = addressing.tap_name(vif)
    with IPRoute() as ipr:
        return ipr.link_lookup(ifname=tap)[0], host.ofport(tap)


def test_the_network_is_there_at_every_start_and_stays_plugged(
        docker_driver, host):
    instance, network_info = spawn(docker_driver, '10.20.0.21')
    output = console_after(docker_driver, instance, 1)
    assert reports(output) == ['NET-OK', 'GW-OK']
    assert 'HOSTNAME=app' in output
    plugged = port_identity(host, network_info[0])

    for starts, (action, kwargs) in enumerate([
            ('reboot', {'reboot_type': 'SOFT'}),
            ('reboot', {'reboot_type': 'HARD'}),
            ('power_cycle', {})], start=2):
        if action == 'reboot':
            docker_driver.reboot(None, instance, network_info, **kwargs)
        else:
            docker_driver.power_off(instance, timeout=5)
            assert docker_driver.get_info(instance).state == \
                power_state.SHUTDOWN
            # Powered off, the instance keeps its port bound.
            assert port_identity(host, network_info[0]) == plugged
            docker_driver.power_on(None, instance, network_info)
        output = console_after(docker_driver, instance, starts)
        assert reports(output) == ['NET-OK', 'GW-OK'] * starts
        assert port_identity(host, network_info[0]) == plugged

    docker_driver.destroy(None, instance, network_info)
    assert host.ports('br-int') == set()


def test_the_instance_is_one_instance_to_nova(docker_driver, host):
    instance, network_info = spawn(docker_driver, '10.20.0.22')
    assert docker_driver.list_instance_uuids() == [instance.uuid]
    assert docker_driver.get_info(instance).state == power_state.RUNNING
    # Its hostname resolves to its address, from the sandbox's /etc/hosts.
    api = docker_driver.docker.api
    exec_id = api.exec_create(client.container_name(instance.uuid),
                              ['cat', '/etc/hosts'])['Id']
    assert '10.20.0.22\tapp' in api.exec_start(exec_id).decode()
    docker_driver.destroy(None, instance, network_info)
    docker_driver.destroy(None, instance, network_info)  # idempotent
    assert not docker_driver.instance_exists(instance)


def test_a_port_attached_while_powered_off_is_there_at_the_next_start(
        docker_driver, host):
    instance, network_info = spawn(docker_driver, '10.20.0.23')
    docker_driver.power_off(instance, timeout=5)
    second = netinfo.simple_vif('10.30.0.23', index=2, prefix='10.30.0')
    docker_driver.attach_interface(None, instance, None, second)
    both = network_model.NetworkInfo([network_info[0], second])
    docker_driver.power_on(None, instance, both)
    assert host.ports('br-int') == {addressing.tap_name(vif)
                                    for vif in both}
    api = docker_driver.docker.api
    exec_id = api.exec_create(client.container_name(instance.uuid),
                              ['ip', '-4', '-o', 'addr', 'show', 'eth1'])['Id']
    assert 'inet 10.30.0.23/24' in api.exec_start(exec_id).decode()
    docker_driver.detach_interface(None, instance, second)
    assert host.ports('br-int') == {addressing.tap_name(network_info[0])}
    docker_driver.destroy(None, instance, network_info)


def test_every_instance_comes_back_after_a_host_reboot(
        engine, docker_driver, host):
    instance, network_info = spawn(docker_driver, '10.20.0.24')
    console_after(docker_driver, instance, 1)
    api = docker_driver.docker.api
    sandbox = api.inspect_container(client.sandbox_name(instance.uuid))['Id']
    # The reboot: every process, namespace and netns link gone, the engine
    # restarted; OVS keeps its ports in its database.
    api.kill(client.container_name(instance.uuid))
    api.kill(sandbox)
    pyroute2_netns.remove(sandbox)
    engine.kill()
    engine.start()

    drv = driver.DockerDriver(fake.FakeVirtAPI())
    drv.init_host('testhost')
    try:
        assert drv.get_info(instance).state == power_state.SHUTDOWN
        drv.resume_state_on_host_boot(None, instance, network_info, None)
        assert drv.get_info(instance).state == power_state.RUNNING
        output = console_after(drv, instance, 2)
        assert reports(output)[-2:] == ['NET-OK', 'GW-OK']
        assert host.ofport(addressing.tap_name(network_info[0])) > 0
    finally:
        drv.destroy(None, instance, network_info)
        drv.cleanup_host('testhost')


def test_a_port_that_cannot_be_plumbed_leaves_no_sandbox(
        docker_driver, host):
    network_fixture.spawn_with_unpluggable_port(docker_driver, IMAGE_ID,
                                                '10.20.0.25')
    # The driver fixture checks that no container is left.


def test_a_missing_sandbox_image_fails_the_spawn_clearly(
        docker_driver, host):
    CONF.set_override('sandbox_image', 'no-such/pause:0', group='docker')
    with pytest.raises(exception.NovaException) as e:
        spawn(docker_driver, '10.20.0.26')
    assert 'no-such/pause:0' in str(e.value)
