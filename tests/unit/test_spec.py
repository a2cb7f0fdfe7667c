"""The container configuration built from Nova's view of an instance."""

import io
import tarfile

from nova import exception
from nova.network import model as network_model
from nova import objects
from oslo_config import cfg
import pytest

from novadocker.virt.docker import client
from novadocker.virt.docker import spec
from tests.unit import factories


def test_labels_identify_the_instance():
    instance = factories.instance(vcpus=3)
    assert spec.labels(instance) == {
        client.LABEL_UUID: instance.uuid,
        client.LABEL_NAME: instance.name,
        client.LABEL_PROJECT: 'project-a',
        client.LABEL_VCPUS: '3',
    }


def test_limits_follow_the_flavor():
    flavor = objects.Flavor(memory_mb=512, vcpus=2)
    assert spec.resource_limits(flavor, 100) == {
        'mem_limit': '512m', 'memswap_limit': '512m',
        'cpu_shares': 2048, 'cpu_period': 100000, 'cpu_quota': 200000,
        'pids_limit': 100}


@pytest.mark.parametrize('root_gb, storage', [
    (1, {'storage_opt': {'size': '1G'}}),
    (20, {'storage_opt': {'size': '20G'}}),
    # Nova's "the image's size": no limit.
    (0, {}),
])
def test_root_disk_follows_the_flavor(root_gb, storage):
    assert spec.root_disk(objects.Flavor(root_gb=root_gb)) == storage


def test_the_root_disk_is_limited_only_where_the_engine_enforces_it():
    conf = cfg.CONF.docker
    instance = factories.instance()
    instance.flavor.root_gb = 5
    _create, host = spec.build(instance, _image(), [], conf)
    assert 'storage_opt' not in host
    _create, host = spec.build(instance, _image(), [], conf,
                               root_disk_quota=True)
    assert host['storage_opt'] == {'size': '5G'}
    # A sandbox writes nothing: it never gets one.
    _create, host = spec.build_sandbox(instance, [], conf)
    assert 'storage_opt' not in host


def test_environment_from_metadata():
    assert spec.environment({'B_2': 'x', 'a': None, '_c': 5}) == {
        'B_2': 'x', 'a': '', '_c': '5'}


# InvalidInput: Nova aborts the build with it as the server's fault, where
# another host would refuse the same request.
@pytest.mark.parametrize('key', ['1abc', 'with-dash', 'bad key', '', 'ü'])
def test_environment_rejects_invalid_names(key):
    with pytest.raises(exception.InvalidInput) as e:
        spec.environment({key: 'v'})
    assert repr(key) in str(e.value)
    assert 'environment variable name' in str(e.value)


def test_environment_rejects_nul_and_oversized_values():
    with pytest.raises(exception.InvalidInput, match='NUL'):
        spec.environment({'K': 'a\0b'})
    with pytest.raises(exception.InvalidInput, match='longer'):
        spec.environment({'K': 'x' * (spec.MAX_ENV_VALUE_BYTES + 1)})


IMAGE_ID = 'a2459075-d96c-40d5-893e-577ff92e721c'


def _image(**props):
    return objects.ImageMeta.from_dict({'id': IMAGE_ID, 'properties': props})


def test_command_is_argv_never_a_shell_line():
    image = _image(os_command_line='sh -c "echo a; rm -rf /" $HOME | x')
    assert spec.command(image) == ['sh', '-c', 'echo a; rm -rf /', '$HOME',
                                   '|', 'x']
    assert spec.command(_image()) is None


@pytest.mark.parametrize('line', ['', '   ', 'unbalanced "quote'])
def test_command_rejects_unusable_lines(line):
    with pytest.raises(exception.ImageUnacceptable) as e:
        spec.command(_image(os_command_line=line))
    assert str(e.value).startswith('Image %s is unacceptable: '
                                   'os_command_line %r' % (IMAGE_ID, line))


@pytest.mark.parametrize('name', ['web-1', 'a.b.example', 'x' * 63])
def test_valid_hostnames(name):
    assert spec.hostname(factories.instance(hostname=name)) == name


def test_an_fqdn_longer_than_the_kernel_holds_keeps_its_first_label():
    fqdn = 'x' * 52 + '-guest-test.domaintest.com'  # Tempest's, 2.94
    instance = factories.instance(hostname=fqdn)
    create, host = spec.network_identity(instance, factories.network_info())
    assert create == {'hostname': 'x' * 52 + '-guest-test'}
    assert host['extra_hosts'] == {fqdn: '10.0.0.5',
                                   'x' * 52 + '-guest-test': '10.0.0.5'}
    short = factories.instance(hostname='web.example.com')
    create, host = spec.network_identity(short, factories.network_info())
    assert create == {'hostname': 'web.example.com'}
    assert host['extra_hosts'] == {'web.example.com': '10.0.0.5'}


@pytest.mark.parametrize('name, valid', [
    # What Nova's API derives from "ünïcödé-сервер": Latin-1 letters kept.
    ('ünïcödé', 'unicode'),
    ('web-ñ1', 'web-n1'),
    ('-bad', 'bad'),
    ('under_score', 'under-score'),
    ('sp ace', 'sp-ace'),
    ('x' * 64, 'x' * 63),
    ('semi;colon', 'semicolon'),
    ('a..b', 'a--b'),
])
def test_invalid_hostnames_are_made_valid_as_nova_does(name, valid):
    instance = factories.instance(hostname=name)
    assert spec.hostname(instance) == valid
    create, host = spec.network_identity(instance, factories.network_info())
    assert create == {'hostname': valid}
    assert host['extra_hosts'] == {valid: '10.0.0.5'}


@pytest.mark.parametrize('name', ['сервер', '服务器', '---'])
def test_a_hostname_with_nothing_valid_is_novas_fallback(name):
    instance = factories.instance(hostname=name)
    assert spec.hostname(instance) == 'Server-' + instance.uuid


def test_dns_and_own_name_come_from_the_subnets():
    network_info = factories.network_info()
    assert spec.dns_servers(network_info) == ['10.0.0.2', '10.0.0.3',
                                              '2001:db8::2']
    assert spec.own_hosts_entry(['web'], network_info) == {'web': '10.0.0.5'}
    assert spec.own_hosts_entry(['web'], network_model.NetworkInfo()) == {
        'web': spec.OWN_NAME_ADDRESS}


def test_security_defaults_and_privileged():
    assert spec.security(False, ['MKNOD'], True) == {
        'privileged': False, 'cap_drop': ['MKNOD'],
        'security_opt': ['no-new-privileges']}
    assert spec.security(False, [], False) == {'privileged': False,
                                               'cap_drop': []}
    assert spec.security(True, ['MKNOD'], True) == {'privileged': True}
    assert spec.security(False, ['MKNOD'], False, ['NET_ADMIN']) == {
        'privileged': False, 'cap_drop': ['MKNOD'], 'cap_add': ['NET_ADMIN']}
    assert spec.security(True, [], False, ['NET_ADMIN']) == {
        'privileged': True}


def test_a_privileged_container_on_a_remapping_engine_runs_in_the_hosts():
    assert spec.security(True, [], True, userns_remapped=True) == {
        'privileged': True, 'userns_mode': 'host'}
    # The others stay in the engine's remapped namespace.
    assert spec.security(False, ['MKNOD'], True, userns_remapped=True) == \
        spec.security(False, ['MKNOD'], True)


def test_authorized_keys_archive():
    data = spec.authorized_keys_tar('ssh-ed25519 AAAA key\n')
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.getmember('root/.ssh/authorized_keys')
        assert member.mode == 0o600
        assert tar.extractfile(member).read() == b'ssh-ed25519 AAAA key\n'
        assert tar.getmember('root/.ssh').mode == 0o700


def test_build_puts_the_pieces_together():
    conf = cfg.CONF.docker
    instance = factories.instance(hostname='web', metadata={'ROLE': 'db'})
    create, host = spec.build(instance, _image(os_command_line='run me'),
                              factories.network_info(), conf)
    assert create == {'hostname': 'web', 'labels': spec.labels(instance),
                      'environment': {'ROLE': 'db'},
                      'command': ['run', 'me']}
    assert host['network_mode'] == 'none'
    assert host['extra_hosts'] == {'web': '10.0.0.5'}
    assert host['dns'] == ['10.0.0.2', '10.0.0.3', '2001:db8::2']
    assert host['mem_limit'] == '%dm' % instance.flavor.memory_mb
    assert host['security_opt'] == ['no-new-privileges']
    assert host['cap_drop'] == conf.cap_drop


def test_the_request_needs_no_ports_and_keeps_its_arguments():
    """What a spawn checks before the image and the ports exist; the
    network identity completes copies of it."""
    conf = cfg.CONF.docker
    instance = factories.instance(hostname='web')
    request = spec.request(instance, _image(), conf)
    assert 'hostname' not in request[0]
    assert not {'dns', 'extra_hosts', 'network_mode'} & set(request[1])
    create, host = spec.with_network(instance, factories.network_info(),
                                     *request)
    assert (create, host) == spec.build(instance, _image(),
                                        factories.network_info(), conf)
    assert 'hostname' not in request[0] and 'dns' not in request[1]


def test_a_container_joining_a_sandbox_leaves_it_the_network_identity():
    conf = cfg.CONF.docker
    instance = factories.instance(hostname='web')
    create, host = spec.build(instance, _image(), factories.network_info(),
                              conf, network_holder='nova-sandbox-x')
    # The engine refuses a hostname, DNS or hosts entries beside a
    # container network mode: they come from the sandbox.
    assert 'hostname' not in create
    assert not {'dns', 'extra_hosts'} & set(host)
    assert host['network_mode'] == 'container:nova-sandbox-x'
    assert host['mem_limit'] == '%dm' % instance.flavor.memory_mb

    create, host = spec.build_sandbox(instance, factories.network_info(),
                                      conf)
    assert create == {'hostname': 'web',
                      'labels': {client.LABEL_SANDBOX: instance.uuid},
                      'stop_timeout': 0}
    assert host['network_mode'] == 'none'
    assert host['extra_hosts'] == {'web': '10.0.0.5'}
    assert host['dns'] == ['10.0.0.2', '10.0.0.3', '2001:db8::2']
    assert host['read_only'] is True
    assert host['pids_limit'] == spec.SANDBOX_LIMITS['pids_limit']
    assert host['privileged'] is False
    assert host['security_opt'] == ['no-new-privileges']


def test_added_capabilities_go_to_the_instance_never_to_its_sandbox():
    cfg.CONF.set_override('cap_add', ['NET_ADMIN'], group='docker')
    try:
        conf = cfg.CONF.docker
        instance = factories.instance()
        _, host = spec.build(instance, _image(), factories.network_info(),
                             conf, network_holder='nova-sandbox-x')
        assert host['cap_add'] == ['NET_ADMIN']
        _, host = spec.build_sandbox(instance, factories.network_info(),
                                     conf)
        assert 'cap_add' not in host
    finally:
        cfg.CONF.clear_override('cap_add', group='docker')


@pytest.mark.parametrize('props, enabled, terminal', [
    ({}, True, True),
    ({}, False, False),
    # The image decides when it says: none for a daemon, one for a shell.
    ({'hw_serial_port_count': 0}, True, False),
    ({'hw_serial_port_count': 1}, False, True),
    ({'hw_serial_port_count': 2}, True, True),
])
def test_a_terminal_for_the_serial_console(props, enabled, terminal):
    settings = spec.console(_image(**props), enabled)
    if terminal:
        # StdinOnce stays false (detach): a console client leaving must
        # not close the container's stdin.
        assert settings == {'tty': True, 'stdin_open': True,
                            'detach': True}
    else:
        assert settings == {}


def test_build_gives_a_terminal_when_the_serial_console_is_on():
    create, _host = spec.build(factories.instance(), _image(),
                               factories.network_info(), cfg.CONF.docker,
                               serial_console_enabled=True)
    assert create['tty'] is create['stdin_open'] is True


def test_lxcfs_files_are_bound_read_only_over_the_containers_own():
    assert spec.lxcfs_mounts('/var/lib/lxcfs', [
        'proc/cpuinfo', 'sys/devices/system/cpu/online']) == [
        {'Type': 'bind', 'Source': '/var/lib/lxcfs/proc/cpuinfo',
         'Target': '/proc/cpuinfo', 'ReadOnly': True},
        {'Type': 'bind',
         'Source': '/var/lib/lxcfs/sys/devices/system/cpu/online',
         'Target': '/sys/devices/system/cpu/online', 'ReadOnly': True}]


@pytest.fixture
def lxcfs_path():
    cfg.CONF.set_override('lxcfs_path', '/run/lxcfs', group='docker')
    yield '/run/lxcfs'
    cfg.CONF.clear_override('lxcfs_path', group='docker')


def test_build_binds_the_lxcfs_files_found_at_startup(lxcfs_path):
    instance, image = factories.instance(), _image()
    network_info = factories.network_info()
    _create, host = spec.build(instance, image, network_info,
                               cfg.CONF.docker,
                               lxcfs_files=['proc/uptime', 'proc/stat'])
    assert host['mounts'] == spec.lxcfs_mounts(
        lxcfs_path, ['proc/uptime', 'proc/stat'])
    # None found (LXCFS not mounted when nova-compute started): no mounts,
    # which the engine would refuse for want of a source.
    _create, host = spec.build(instance, image, network_info,
                               cfg.CONF.docker)
    assert 'mounts' not in host
    _create, host = spec.build_sandbox(instance, network_info,
                                       cfg.CONF.docker)
    assert 'mounts' not in host
