"""Root in an instance is not root on the host, on an engine that remaps
user namespaces (dockerd --userns-remap; the session's engines do with
NOVADOCKER_TEST_USERNS=1). On an engine without it, root inside is the
host's root and these tests would fail: they skip there."""

import os

from docker import errors as docker_errors
import pytest

from novadocker import conf as nd_conf
from novadocker.virt.docker import client
from novadocker.virt.docker import spec
from tests.fixtures import engine as engine_fixture
from tests.fixtures.guest import config_drive_instance
from tests.fixtures.guest import instances_path  # noqa: F401
from tests.fixtures.guest import nova_records  # noqa: F401
from tests.fixtures.guest import run
from tests.fixtures.guest import spawn
from tests.functional.test_driver import docker_driver  # noqa: F401
from tests.functional.test_driver import image_meta

CONF = nd_conf.CONF
KEY = b'ssh-ed25519 AAAAC3Nz userns@key\n'


@pytest.fixture
def remapped_ids(engine):
    """(uid, gid) that root in a container is on the host."""
    with engine.client() as api:
        remapped = (client.USERNS_SECURITY_OPTION in
                    api.info()['SecurityOptions'])
    if not remapped:
        pytest.skip('the engine does not remap user namespaces (set %s=1): '
                    'root in its containers is the host\'s root'
                    % engine_fixture.USERNS_REMAP_ENV)
    return engine_fixture.subordinate_ids()


def _owner(path):
    stat = os.stat(path)
    return stat.st_uid, stat.st_gid


def test_an_instances_root_and_its_files_are_the_remapped_ids_on_the_host(
        docker_driver, instances_path, nova_records,  # noqa: F811
        remapped_ids):
    CONF.set_override('inject_key', True, group='docker')
    instance = config_drive_instance(key_data=KEY.decode())
    spawn(docker_driver, instance, image_meta(),
          injected_files=[('/etc/motd', b'welcome\n')])
    api = docker_driver.docker.api
    assert docker_driver.userns_remapped
    pid = api.inspect_container(
        client.container_name(instance.uuid))['State']['Pid']
    root = '/proc/%d/root' % pid
    # /proc/<pid> is owned by the process's (effective) uid and gid.
    assert _owner('/proc/%d' % pid) == remapped_ids

    assert run(api, instance, 'sh', '-c', 'echo mine > /root/made-inside') \
        == (0, b'')
    assert _owner(root + '/root/made-inside') == remapped_ids
    # What the driver wrote in is the container's root's: root's inside,
    # the remapped ids outside.
    for path in ('/root/.ssh/authorized_keys', '/etc/motd'):
        assert _owner(root + path) == remapped_ids, path
        code, listing = run(api, instance, 'ls', '-ln', path)
        assert code == 0 and listing.split()[2:4] == [b'0', b'0'], path
    assert run(api, instance, 'cat', '/root/.ssh/authorized_keys') == \
        (0, KEY)
    # The config drive is the host's (nova-compute's), readable inside.
    code, metadata = run(api, instance, 'cat',
                         '/config-drive/openstack/latest/meta_data.json')
    assert code == 0 and instance.uuid in metadata.decode()
    docker_driver.destroy(None, instance, None)


def test_a_file_root_creates_on_a_bind_mount_is_the_remapped_uids(
        engine, tmp_path, remapped_ids):
    shared = tmp_path / 'shared'
    shared.mkdir()
    shared.chmod(0o777)
    hosts = tmp_path / 'hosts-root'
    hosts.mkdir()
    with engine.client() as api:
        container = api.create_container(
            engine_fixture.TEST_IMAGE,
            command=['sh', '-c', 'touch /shared/by-root && '
                     'touch /hosts-root/by-root'],
            host_config=api.create_host_config(binds={
                str(shared): {'bind': '/shared', 'mode': 'rw'},
                str(hosts): {'bind': '/hosts-root', 'mode': 'rw'}}))
        try:
            api.start(container)
            exit_code = api.wait(container, timeout=30)['StatusCode']
            output = api.logs(container)
        finally:
            api.remove_container(container, force=True)
    assert _owner(shared / 'by-root') == remapped_ids
    # A directory of the host's root (0755) is not the container root's.
    assert exit_code == 1 and b'Permission denied' in output
    assert not (hosts / 'by-root').exists()


def test_a_privileged_instance_goes_to_the_hosts_user_namespace(
        docker_driver, remapped_ids):  # noqa: F811
    """The engine refuses a privileged container in its remapped namespace
    and takes the driver's, in the host's. Only created: on a machine whose
    capability bounding set lacks one (these lack CAP_SYS_RESOURCE) no
    privileged container starts, remapped or not."""
    api = docker_driver.docker.api

    def create(**security):
        return api.create_container(
            engine_fixture.TEST_IMAGE,
            host_config=api.create_host_config(**security))

    with pytest.raises(docker_errors.APIError) as refused:
        create(privileged=True)
    assert 'user namespaces' in str(refused.value)
    container = create(**spec.security(
        True, [], True, userns_remapped=docker_driver.userns_remapped))
    try:
        host_config = api.inspect_container(container)['HostConfig']
    finally:
        api.remove_container(container)
    assert host_config['Privileged']
    assert host_config['UsernsMode'] == 'host'
