"""Config drive, injected files and admin password with the real driver and
engine, seen from inside the container."""

import base64
import hashlib
import logging
import os
from unittest import mock

from nova import context as nova_context
from nova import exception
from nova import objects
from oslo_utils import uuidutils
import pytest

from novadocker import conf as nd_conf
from novadocker.virt.docker import client
from novadocker.virt.docker import images
from novadocker_cloud import sample_image
from tests.fixtures import engine as engine_fixture
from tests.fixtures import glance as glance_fixture
from tests.functional.test_driver import docker_driver  # noqa: F401
from tests.functional.test_driver import image_meta
from tests.functional.test_driver import run_in
from tests.unit import factories

CONF = nd_conf.CONF
LINKS_IMAGE_ID = uuidutils.generate_uuid()
CHPASSWD_IMAGE_ID = uuidutils.generate_uuid()
# Symlinks an image may hold: some lead elsewhere inside, some try to climb
# out of the root (the engine would clamp those at the root).
LINKS = (('etc-link', '/etc'), ('var/lock', '../tmp'), ('up', '../../..'),
         ('rootup', '/../etc'), ('var/deep', '../../../x'),
         ('chain', 'var/deep'))
USER_DATA = b'#!/bin/sh\necho configured by user data\n'
PASSWORD = 's3cret pass:with colon'


@pytest.fixture(scope='module')
def guest_images(engine):
    """The busybox image with LINKS, and one with Debian's chpasswd, each
    as the engine holds a Glance image."""
    api = engine.client()
    links = [sample_image.symlink(name, target) for name, target in LINKS]
    api.import_image_from_data(
        sample_image.busybox_rootfs_tar(extra_applets=('md5sum', 'stat'),
                                        extra_entries=links),
        repository=images.GLANCE_REPOSITORY, tag=LINKS_IMAGE_ID,
        changes=['CMD ["/bin/sleep", "infinity"]'])
    engine_fixture.build_chpasswd_image(
        api, images.glance_reference(CHPASSWD_IMAGE_ID))
    yield
    for image_id in (LINKS_IMAGE_ID, CHPASSWD_IMAGE_ID):
        api.remove_image(images.glance_reference(image_id))
    api.close()


@pytest.fixture
def instances_path(tmp_path):
    CONF.set_override('instances_path', str(tmp_path))
    yield tmp_path
    CONF.clear_override('instances_path')


@pytest.fixture
def nova_records():
    """What InstanceMetadata asks of Nova's database and of Neutron (the
    compute service reaches them through conductor and Neutron): no
    volumes, no security groups."""
    with mock.patch.object(
            objects.BlockDeviceMappingList, 'get_by_instance_uuid',
            return_value=objects.BlockDeviceMappingList(objects=[])), \
            mock.patch('nova.network.security_group_api.'
                       'get_instance_security_groups', return_value=[]):
        yield


def meta(image_id, **props):
    return objects.ImageMeta.from_dict({
        'id': image_id, 'container_format': 'docker', 'disk_format': 'raw',
        'properties': props})


def config_drive_instance(**fields):
    """An instance as the compute manager hands it over, with everything
    Nova's InstanceMetadata reads."""
    instance = factories.instance(
        config_drive='True', display_name='cd-test', key_name=None,
        user_data=base64.b64encode(USER_DATA).decode(), launch_index=0,
        reservation_id='r-1', availability_zone=None, kernel_id='',
        ramdisk_id='', root_device_name=None, host='testhost',
        node='testhost', default_ephemeral_device=None,
        default_swap_device=None, **fields)
    instance.flavor.name = 'm1.tiny'
    instance.ec2_ids = objects.EC2Ids(instance_id='i-00000001',
                                      ami_id='ami-00000001', kernel_id=None,
                                      ramdisk_id=None)
    instance.keypairs = objects.KeyPairList(objects=[])
    instance.device_metadata = None
    instance.numa_topology = None
    return instance


def spawn(drv, instance, image=None, injected_files=(), admin_password=None,
          **kwargs):
    with glance_fixture.GlanceFixture():
        drv.spawn(nova_context.get_admin_context(), instance,
                  image or image_meta(), list(injected_files),
                  admin_password, {},
                  network_info=factories.network_info_empty(), **kwargs)


def run(api, instance, *argv, user=''):
    """(exit code, output bytes) of argv run in the container."""
    exec_id = api.exec_create(client.container_name(instance.uuid),
                              list(argv), user=user)['Id']
    output = api.exec_start(exec_id)
    return api.exec_inspect(exec_id)['ExitCode'], output


# -- config drive -------------------------------------------------------------

def test_the_config_drive_is_at_config_drive_read_only(
        docker_driver, instances_path, nova_records):  # noqa: F811
    instance = config_drive_instance()
    spawn(docker_driver, instance,
          injected_files=[('/etc/motd', b'welcome\n')],
          admin_password='first-pass')
    api = docker_driver.docker.api
    drive = instances_path / instance.uuid / 'config-drive'
    assert drive.is_dir()

    def read(path, user=''):
        return run(api, instance, 'cat', '/config-drive/' + path, user=user)

    code, metadata = read('openstack/latest/meta_data.json')
    assert code == 0 and instance.uuid in metadata.decode()
    assert '"admin_pass": "first-pass"' in metadata.decode()
    assert read('openstack/latest/user_data') == (0, USER_DATA)
    assert read('openstack/content/0000') == (0, b'welcome\n')
    for path in ('openstack/latest/network_data.json',
                 'openstack/latest/vendor_data2.json',
                 'ec2/latest/meta-data.json'):
        assert read(path)[0] == 0, path
    # Readable by anyone (a remapped root is "other" on the host)...
    assert read('openstack/latest/user_data', user='65534') == (0, USER_DATA)
    # ...and written by no one, root included.
    code, output = run(api, instance, 'touch', '/config-drive/new')
    assert code != 0 and b'Read-only file system' in output
    code, output = run(api, instance, 'rm',
                       '/config-drive/openstack/latest/user_data')
    assert code != 0
    mounts = api.inspect_container(
        client.container_name(instance.uuid))['Mounts']
    assert [(m['Source'], m['Destination'], m['RW']) for m in mounts] == [
        (str(drive), '/config-drive', False)]
    assert docker_driver.get_instance_diagnostics(instance).config_drive

    # The bind is the container's: it stays across power cycles.
    docker_driver.power_off(instance, timeout=0)
    docker_driver.power_on(None, instance, instance.get_network_info())
    docker_driver.reboot(None, instance, instance.get_network_info(), 'HARD')
    assert read('openstack/latest/user_data') == (0, USER_DATA)

    docker_driver.destroy(None, instance, None)
    assert not (instances_path / instance.uuid).exists()


def test_no_config_drive_unless_nova_wants_one(docker_driver,  # noqa: F811
                                               instances_path):
    instance = factories.instance()
    spawn(docker_driver, instance)
    code, _output = run(docker_driver.docker.api, instance, 'ls',
                        '/config-drive')
    assert code != 0
    assert os.listdir(instances_path) == []
    assert not docker_driver.get_instance_diagnostics(instance).config_drive
    docker_driver.destroy(None, instance, None)


def test_a_failed_spawn_removes_its_config_drive(
        docker_driver, instances_path, nova_records):  # noqa: F811
    instance = config_drive_instance()
    with pytest.raises(exception.InstanceDeployFailure):
        spawn(docker_driver, instance, image_meta(
            os_command_line="sh -c 'exit 3'"))
    assert not docker_driver.instance_exists(instance)
    assert os.listdir(instances_path) == []


# -- injected files -----------------------------------------------------------

def test_injected_files_are_in_the_container_before_it_starts(
        docker_driver, guest_images):  # noqa: F811
    blob = bytes(range(256)) * 4
    instance = factories.instance()
    # PID 1 reads them as its first act: they were there before it ran.
    spawn(docker_driver, instance, meta(
        LINKS_IMAGE_ID,
        os_command_line="sh -c 'cat /etc/motd; exec sleep infinity'"),
        injected_files=[('/etc/motd', b'welcome\n'),
                        ('/etc-link/issue', b'through a link\n'),
                        ('/var/lock/app.lock', b'lock\n'),
                        ('/srv/new/dir/blob', blob)])
    api = docker_driver.docker.api
    assert docker_driver.get_console_output(None, instance) == 'welcome\n'
    assert run_in(api, instance, 'cat', '/etc/issue') == 'through a link\n'
    assert run_in(api, instance, 'cat', '/tmp/app.lock') == 'lock\n'
    assert run_in(api, instance, 'md5sum', '/srv/new/dir/blob').split()[
        0] == hashlib.md5(blob).hexdigest()
    assert run_in(api, instance, 'stat', '-c', '%a %u %g',
                  '/etc/motd', '/srv/new/dir').split('\n')[:2] == [
        '644 0 0', '755 0 0']
    # The image's own directories and links are as they were.
    assert run_in(api, instance, 'stat', '-c', '%a %F', '/tmp').strip() == \
        '1777 directory'
    assert run_in(api, instance, 'stat', '-c', '%F',
                  '/etc-link').strip() == 'symbolic link'
    docker_driver.destroy(None, instance, None)


@pytest.mark.parametrize('path, words', [
    ('etc/motd', 'is not absolute'),
    ('/etc/../../../tmp/x', 'contains ".."'),
    ('/up/tmp/escaped', "/up, a symlink to '../../..' that leads out"),
    ('/rootup/escaped', "/rootup, a symlink to '/../etc' that leads out"),
    ('/chain/escaped', "/var/deep, a symlink to '../../../x' that leads"),
    ('/bin/busybox/x', '/bin/busybox is not a directory'),
    ('/etc', 'is a directory in the image'),
])
def test_a_path_leaving_the_container_fails_the_spawn_leaving_nothing(
        docker_driver, guest_images, instances_path, nova_records,  # noqa
        path, words):
    instance = config_drive_instance()
    with pytest.raises(exception.InstanceDeployFailure) as e:
        spawn(docker_driver, instance, meta(LINKS_IMAGE_ID),
              injected_files=[('/etc/motd', b'fine\n'), (path, b'x')])
    assert words in str(e.value) and repr(path) in str(e.value)
    assert not docker_driver.instance_exists(instance)
    assert os.listdir(instances_path) == []


# -- admin password -----------------------------------------------------------

def shadow_hash(api, instance, user='root'):
    for line in run_in(api, instance, 'cat', '/etc/shadow').splitlines():
        if line.startswith(user + ':'):
            return line.split(':')[1]


def test_set_admin_password_changes_roots_hash(
        docker_driver, guest_images, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    instance = factories.instance()
    spawn(docker_driver, instance, meta(CHPASSWD_IMAGE_ID))
    api = docker_driver.docker.api
    assert shadow_hash(api, instance) == '*'
    created = []

    def exec_create(*args, **kwargs):
        created.append((args, kwargs, real_exec_create(*args, **kwargs)))
        return created[-1][2]
    real_exec_create = api.exec_create
    with mock.patch.object(api, 'exec_create', exec_create):
        docker_driver.set_admin_password(instance, PASSWORD)
    hashed = shadow_hash(api, instance)
    salt = hashed.split('$')[2]
    assert hashed.startswith('$6$')
    assert run_in(api, instance, 'mkpasswd', '-m', 'sha512', '-S', salt,
                  PASSWORD).strip() == hashed
    # The password was on chpasswd's stdin only: not in what the engine
    # was asked or records of the exec, not in any log.
    (args, kwargs, result), = created
    assert PASSWORD not in repr((args, kwargs))
    assert api.exec_inspect(result['Id'])['ProcessConfig'] == {
        'tty': False, 'entrypoint': 'chpasswd', 'arguments': [],
        'privileged': False, 'user': '0'}
    assert PASSWORD not in caplog.text
    docker_driver.destroy(None, instance, None)


def test_an_image_without_chpasswd_is_told_clearly(
        docker_driver):  # noqa: F811
    instance = factories.instance()
    spawn(docker_driver, instance)
    with pytest.raises(exception.SetAdminPasswdNotSupported) as e:
        docker_driver.set_admin_password(instance, PASSWORD)
    assert 'has no chpasswd command' in e.value.format_message()
    docker_driver.destroy(None, instance, None)


def test_a_stopped_instance_or_a_failing_chpasswd_fails_without_the_password(
        docker_driver, guest_images, caplog):  # noqa: F811
    instance = factories.instance()
    instance.system_metadata = {'image_os_admin_user': 'ghost'}
    spawn(docker_driver, instance, meta(CHPASSWD_IMAGE_ID))
    with pytest.raises(exception.InstancePasswordSetFailed) as e:
        docker_driver.set_admin_password(instance, PASSWORD)
    assert 'chpasswd exited with code 1' in str(e.value)
    assert 'ghost' in str(e.value)  # chpasswd's own words
    assert PASSWORD not in str(e.value) and PASSWORD not in caplog.text
    docker_driver.power_off(instance, timeout=0)
    with pytest.raises(exception.InstancePasswordSetFailed) as e:
        docker_driver.set_admin_password(instance, PASSWORD)
    assert 'its container is exited, not running' in str(e.value)
    docker_driver.destroy(None, instance, None)
