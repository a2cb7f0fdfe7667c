"""Rescue and unrescue with the real driver, engine and a private OVS: the
rescue container sees the instance's root filesystem live at /mnt/rescue and
has its ports; unrescue gives the instance back with what the rescue
changed; destroy, failures and restarts leave nothing behind.

Runs inside the private OVS namespace (the ``host`` fixture), which fails a
test that leaves a device, an OVS port or a netns link; the driver fixture
fails one that leaves a container, a rescue volume or its mount.
"""

import logging

from nova.compute import power_state
from nova import context as nova_context
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
from tests.fixtures import glance as glance_fixture
from tests.fixtures import netinfo
from tests.fixtures.guest import chpasswd_image  # noqa: F401
from tests.fixtures.guest import meta
from tests.fixtures.guest import run
from tests.fixtures.network import ip_json
from tests.unit import factories

CONF = nd_conf.CONF
IMAGE_ID = uuidutils.generate_uuid()
PASSWORD = 'rescue me:now'


def rescue_mounts():
    """Mount points of rescue volumes (the test shares dockerd's mount
    namespace)."""
    with open('/proc/self/mountinfo') as f:
        return [line.split()[4] for line in f
                if '/volumes/' + client.RESCUE_PREFIX in line]


def leftovers(api):
    containers = [c['Names'][0] for c in api.containers(all=True) if {
        client.LABEL_UUID, client.LABEL_SANDBOX,
        client.LABEL_RESCUE} & set(c['Labels'] or {})]
    volumes = [v['Name'] for v in api.volumes(
        filters={'label': client.LABEL_RESCUE})['Volumes'] or []]
    return containers, volumes


@pytest.fixture
def docker_driver(engine, host):
    CONF.set_override('host_url', engine.url, group='docker')
    api = engine.client()
    api.tag(engine_fixture.TEST_IMAGE, images.GLANCE_REPOSITORY, IMAGE_ID)
    drv = driver.DockerDriver(fake.FakeVirtAPI())
    drv.init_host('testhost')
    yield drv
    drv.cleanup_host('testhost')
    containers, volumes = leftovers(api)
    for name in containers:
        api.remove_container(name, force=True)
    for name in volumes:
        api.remove_volume(name)
    mounts = rescue_mounts()
    api.remove_image(images.glance_reference(IMAGE_ID))
    api.close()
    for option in ('host_url', 'network_sandbox', 'sandbox_image',
                   'inject_key'):
        CONF.clear_override(option, group='docker')
    assert not (containers or volumes or mounts), (
        'the test left these behind: %s' % ((containers, volumes, mounts),))


def image(image_id=IMAGE_ID, **props):
    return meta(image_id, **props)


def spawn(drv, address='10.20.0.5', **fields):
    """A running instance with one port at ``address``."""
    network_info = network_model.NetworkInfo([netinfo.simple_vif(address)])
    instance = factories.instance(hostname='web', **fields)
    instance.info_cache.network_info = network_info
    drv.spawn(None, instance, image(), [], None, {},
              network_info=network_info)
    return instance


def rescue(drv, instance, rescue_image=None, password=None):
    drv.rescue(None, instance, instance.get_network_info(),
               rescue_image or image(), password, None,
               objects.ShareMappingList())


def status(api, name):
    return api.inspect_container(name)['State']['Status']


def addresses(api, name):
    """{ifname: [address/prefix]} in the namespace of container ``name``,
    through its netns link."""
    cid = api.inspect_container(name)['Id']
    return {link['ifname']: ['%s/%s' % (a['local'], a['prefixlen'])
                             for a in link['addr_info']
                             if a['family'] == 'inet']
            for link in ip_json('-n', cid, 'addr') if link['ifname'] != 'lo'}


def in_rescue(api, instance, *argv):
    code, output = run(api, instance, *argv,
                       name=client.rescue_name(instance.uuid))
    assert code == 0, output
    return output.decode()


def in_instance(api, instance, *argv):
    code, output = run(api, instance, *argv)
    assert code == 0, output
    return output.decode()


def test_the_rescue_has_the_live_root_and_the_ports_and_unrescue_keeps_its_changes(  # noqa: E501
        docker_driver, host, caplog):
    caplog.set_level(logging.INFO)
    instance = spawn(docker_driver)
    api = docker_driver.docker.api
    own, rescuer = (client.container_name(instance.uuid),
                    client.rescue_name(instance.uuid))
    tap = addressing.tap_name(instance.get_network_info()[0])
    in_instance(api, instance, 'sh', '-c', 'echo before > /root/marker')
    instance_id = api.inspect_container(own)['Id']

    rescue(docker_driver, instance, image(
        os_command_line="sh -c 'echo rescue console; exec sleep infinity'"),
        password=PASSWORD)

    assert status(api, own) == 'exited'
    assert status(api, rescuer) == 'running'
    assert in_rescue(api, instance, 'cat', '/mnt/rescue/root/marker') == \
        'before\n'
    # The instance's ports, in the rescue container's own namespace.
    assert addresses(api, rescuer) == {'eth0': ['10.20.0.5/24']}
    assert host.ports('br-int') == {tap}
    assert instance_id not in pyroute2_netns.listnetns()
    assert in_rescue(api, instance, 'hostname') == 'web\n'
    # Nova sees one instance, RUNNING (as it expects in RESCUED), and the
    # rescue's console.
    for use_cache in (True, False):
        assert docker_driver.get_info(
            instance, use_cache=use_cache).state == power_state.RUNNING
    assert docker_driver.list_instances() == [instance.name]
    assert docker_driver.list_instance_uuids() == [instance.uuid]
    assert docker_driver.get_console_output(None, instance) == \
        'rescue console\n'
    # busybox has no chpasswd: logged, not refused.
    assert 'The rescue password was not set' in caplog.text
    assert PASSWORD not in caplog.text

    in_rescue(api, instance, 'sh', '-c', 'echo during > '
              '/mnt/rescue/root/changed && rm /mnt/rescue/root/marker')
    rescue_id = api.inspect_container(rescuer)['Id']
    docker_driver.unrescue(None, instance)

    assert leftovers(api) == (['/' + own], [])
    assert rescue_mounts() == []
    assert rescue_id not in pyroute2_netns.listnetns()
    assert status(api, own) == 'running'
    assert in_instance(api, instance, 'cat', '/root/changed') == 'during\n'
    assert run(api, instance, 'ls', '/root/marker')[0] != 0
    assert addresses(api, own) == {'eth0': ['10.20.0.5/24']}
    assert host.ports('br-int') == {tap}
    assert docker_driver.get_info(instance).state == power_state.RUNNING
    docker_driver.destroy(None, instance, instance.get_network_info())


def test_a_stopped_instance_is_rescued_then_started_by_unrescue(
        docker_driver, host):
    instance = spawn(docker_driver)
    api = docker_driver.docker.api
    in_instance(api, instance, 'sh', '-c', 'echo kept > /root/marker')
    docker_driver.power_off(instance, timeout=0)
    assert host.ports('br-int') == set()

    rescue(docker_driver, instance)
    assert in_rescue(api, instance, 'cat', '/mnt/rescue/root/marker') == \
        'kept\n'
    assert addresses(api, client.rescue_name(instance.uuid)) == {
        'eth0': ['10.20.0.5/24']}
    assert docker_driver.get_info(instance).state == power_state.RUNNING

    docker_driver.unrescue(None, instance)
    assert in_instance(api, instance, 'cat', '/root/marker') == 'kept\n'
    assert docker_driver.get_info(instance).state == power_state.RUNNING
    docker_driver.destroy(None, instance, instance.get_network_info())


@pytest.mark.parametrize('how', ['destroy', 'cleanup'])
def test_deleting_a_rescued_instance_leaves_nothing(docker_driver, host,
                                                    how):
    instance = spawn(docker_driver)
    rescue(docker_driver, instance)
    assert rescue_mounts() != []
    if how == 'destroy':
        docker_driver.destroy(None, instance, instance.get_network_info())
    else:
        docker_driver.cleanup(None, instance, instance.get_network_info())
    assert leftovers(docker_driver.docker.api) == ([], [])
    assert rescue_mounts() == []
    assert host.ports('br-int') == set()
    assert not docker_driver.instance_exists(instance)


@pytest.mark.parametrize('was_running', [True, False])
def test_a_rescue_that_cannot_start_leaves_the_instance_as_it_was(
        docker_driver, host, was_running):
    instance = spawn(docker_driver)
    api = docker_driver.docker.api
    own = client.container_name(instance.uuid)
    tap = addressing.tap_name(instance.get_network_info()[0])
    if not was_running:
        docker_driver.power_off(instance, timeout=0)
    with pytest.raises(Exception, match='exited during boot with code 3; '
                                        'its last output: no rescue'):
        rescue(docker_driver, instance, image(
            os_command_line="sh -c 'echo no rescue >&2; exit 3'"))
    assert leftovers(api) == (['/' + own], [])
    assert rescue_mounts() == []
    if was_running:
        assert status(api, own) == 'running'
        assert addresses(api, own) == {'eth0': ['10.20.0.5/24']}
        assert host.ports('br-int') == {tap}
    else:
        assert status(api, own) == 'exited'
        assert host.ports('br-int') == set()
    docker_driver.destroy(None, instance, instance.get_network_info())


def test_an_unacceptable_rescue_image_restarts_what_nova_stopped(
        docker_driver, host):
    """Nova stops a running instance before it calls rescue: a rescue that
    fails at once (not a docker image) starts it again."""
    instance = spawn(docker_driver)
    docker_driver.power_off(instance, timeout=0)
    instance.power_state = power_state.RUNNING  # as Nova's record still says
    with pytest.raises(exception.ImageUnacceptable):
        rescue(docker_driver, instance, objects.ImageMeta.from_dict({
            'id': uuidutils.generate_uuid(), 'container_format': 'bare'}))
    api = docker_driver.docker.api
    assert status(api, client.container_name(instance.uuid)) == 'running'
    assert addresses(api, client.container_name(instance.uuid)) == {
        'eth0': ['10.20.0.5/24']}
    docker_driver.destroy(None, instance, instance.get_network_info())


def shadow_hash(api, instance):
    for line in in_rescue(api, instance, 'cat', '/etc/shadow').splitlines():
        if line.startswith('root:'):
            return line.split(':')[1]


def test_another_rescue_image_gets_the_password_and_the_key(
        docker_driver, host, chpasswd_image, caplog):  # noqa: F811
    CONF.set_override('inject_key', True, group='docker')
    instance = spawn(docker_driver, key_data='ssh-ed25519 AAAAC3Nz t@key')
    api = docker_driver.docker.api
    rescue(docker_driver, instance, image(chpasswd_image), password=PASSWORD)
    hashed = shadow_hash(api, instance)
    assert hashed.startswith('$6$')
    assert in_rescue(api, instance, 'mkpasswd', '-m', 'sha512', '-S',
                     hashed.split('$')[2], PASSWORD).strip() == hashed
    assert PASSWORD not in caplog.text
    assert in_rescue(api, instance, 'cat', '/root/.ssh/authorized_keys') == \
        'ssh-ed25519 AAAAC3Nz t@key\n'
    # Its own root is the rescue image; the instance's is at /mnt/rescue,
    # its shadow untouched.
    assert run(api, instance, 'ls', '/mnt/rescue/usr/sbin/chpasswd',
               name=client.rescue_name(instance.uuid))[0] != 0
    docker_driver.unrescue(None, instance)
    assert run(api, instance, 'cat', '/etc/shadow')[0] != 0
    docker_driver.destroy(None, instance, instance.get_network_info())


def test_without_an_image_id_the_instances_own_image_is_used(
        docker_driver, host):
    """As in Nova's generic driver suite (ImageMeta.from_dict({}), no
    password): the instance's own image, found in Glance."""
    context = nova_context.get_admin_context()
    instance = spawn(docker_driver, image_ref=IMAGE_ID)
    with glance_fixture.GlanceFixture() as glance:
        glance.create(context, {'id': IMAGE_ID, 'name': 'own',
                                'container_format': 'docker',
                                'disk_format': 'raw'})
        docker_driver.rescue(context, instance, instance.get_network_info(),
                             objects.ImageMeta.from_dict({}), '', None,
                             objects.ShareMappingList())
    api = docker_driver.docker.api
    assert api.inspect_container(client.rescue_name(instance.uuid))[
        'Config']['Image'] == images.glance_reference(IMAGE_ID)
    docker_driver.unrescue(context, instance)
    docker_driver.destroy(context, instance, instance.get_network_info())


def test_in_a_network_sandbox_the_rescue_joins_it(docker_driver, host):
    CONF.set_override('network_sandbox', True, group='docker')
    CONF.set_override('sandbox_image', engine_fixture.TEST_IMAGE,
                      group='docker')
    instance = spawn(docker_driver)
    api = docker_driver.docker.api
    sandbox = client.sandbox_name(instance.uuid)
    links = set(pyroute2_netns.listnetns())
    rescue(docker_driver, instance)
    rescuer = api.inspect_container(client.rescue_name(instance.uuid))
    assert rescuer['HostConfig']['NetworkMode'] == 'container:' + \
        api.inspect_container(sandbox)['Id']
    assert addresses(api, sandbox) == {'eth0': ['10.20.0.5/24']}
    assert in_rescue(api, instance, 'ip', '-o', '-4', 'addr', 'show',
                     'eth0').split()[3] == '10.20.0.5/24'
    assert set(pyroute2_netns.listnetns()) == links
    docker_driver.unrescue(None, instance)
    assert addresses(api, sandbox) == {'eth0': ['10.20.0.5/24']}
    assert status(api, client.container_name(instance.uuid)) == 'running'
    docker_driver.destroy(None, instance, instance.get_network_info())


def test_restarts_while_rescued(docker_driver, host):
    """nova-compute restarting changes nothing; after an engine or host
    restart (every container stopped), Nova's resume_guests_state_on_host_
    boot brings the rescue back, volume and ports included."""
    instance = spawn(docker_driver)
    api = docker_driver.docker.api
    in_instance(api, instance, 'sh', '-c', 'echo kept > /root/marker')
    rescue(docker_driver, instance)
    rescuer = client.rescue_name(instance.uuid)
    rescue_id = api.inspect_container(rescuer)['Id']

    docker_driver.cleanup_host('testhost')
    restarted = driver.DockerDriver(fake.FakeVirtAPI())
    restarted.init_host('testhost')
    assert restarted.get_info(instance).state == power_state.RUNNING
    assert rescue_id in pyroute2_netns.listnetns()

    api.kill(rescuer)
    restarted.cleanup_host('testhost')
    restarted = driver.DockerDriver(fake.FakeVirtAPI())
    restarted.init_host('testhost')
    assert rescue_id not in pyroute2_netns.listnetns()
    assert restarted.get_info(
        instance, use_cache=False).state == power_state.SHUTDOWN
    restarted.resume_state_on_host_boot(None, instance,
                                        instance.get_network_info(), None)
    assert status(api, client.container_name(instance.uuid)) == 'exited'
    assert in_rescue(api, instance, 'cat', '/mnt/rescue/root/marker') == \
        'kept\n'
    assert addresses(api, rescuer) == {'eth0': ['10.20.0.5/24']}

    restarted.unrescue(None, instance)
    assert in_instance(api, instance, 'cat', '/root/marker') == 'kept\n'
    restarted.destroy(None, instance, instance.get_network_info())
    restarted.cleanup_host('testhost')


def test_init_host_removes_the_volume_of_a_rescue_cut_short(docker_driver,
                                                            host):
    """nova-compute stopped between a rescue's volume and its container:
    the next start removes the volume, and only that one."""
    instance = spawn(docker_driver)
    rescue(docker_driver, instance)
    api = docker_driver.docker.api
    gone = uuidutils.generate_uuid()
    api.create_volume(client.rescue_name(gone),
                      labels={client.LABEL_RESCUE: gone})
    docker_driver.cleanup_host('testhost')
    docker_driver.init_host('testhost')
    assert leftovers(api)[1] == [client.rescue_name(instance.uuid)]
    docker_driver.destroy(None, instance, instance.get_network_info())
