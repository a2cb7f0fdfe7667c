"""The config drive with the real driver and engine, seen from inside the
container."""

import os

from nova import exception
import pytest

from novadocker.virt.docker import client
from tests.fixtures.guest import config_drive_instance
from tests.fixtures.guest import instances_path  # noqa: F401
from tests.fixtures.guest import nova_records  # noqa: F401
from tests.fixtures.guest import run
from tests.fixtures.guest import spawn
from tests.fixtures.guest import USER_DATA
from tests.functional.test_driver import docker_driver  # noqa: F401
from tests.functional.test_driver import image_meta
from tests.unit import factories


def test_the_config_drive_is_at_config_drive_read_only(
        docker_driver, instances_path, nova_records):  # noqa: F811
    instance = config_drive_instance()
    spawn(docker_driver, instance, image_meta(),
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
                                               instances_path):  # noqa
    instance = factories.instance()
    spawn(docker_driver, instance, image_meta())
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
