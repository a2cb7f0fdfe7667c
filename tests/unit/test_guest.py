"""Config drive tree, injected files and admin password: the parts that
need no engine (paths, archives, the tree on disk, chpasswd's input)."""

import datetime
import io
import os
import stat
import tarfile

from nova import exception
from nova import objects
import pytest

from novadocker import conf as nd_conf
from novadocker.virt.docker import client
from novadocker.virt.docker import guest
from novadocker.virt.docker import spec
from tests.unit import factories

CONF = nd_conf.CONF
M, D, S, F = guest.MISSING, guest.DIRECTORY, guest.SYMLINK, guest.OTHER


# -- injected file paths ------------------------------------------------------

@pytest.mark.parametrize('path, parts', [
    ('/etc/motd', ['etc', 'motd']),
    ('//etc/./ssh//banner', ['etc', 'ssh', 'banner']),
])
def test_a_confined_path_is_its_components_below_the_root(path, parts):
    assert guest.confined_path(path) == parts


@pytest.mark.parametrize('path, words', [
    ('etc/motd', 'not absolute'),
    ('', 'not absolute'),
    ('/etc/../../host/etc/shadow', 'contains ".."'),
    ('/..', 'contains ".."'),
    ('/', 'names no file'),
    ('/./', 'names no file'),
    ('/etc/mo\0td', 'names no file'),
])
def test_a_path_that_could_leave_the_container_is_refused(path, words):
    with pytest.raises(exception.InstanceDeployFailure) as e:
        guest.confined_path(path)
    assert words in str(e.value)
    assert repr(path) in str(e.value)


def test_the_archive_holds_only_the_files_root_owned_0644():
    data = guest.injected_files_tar(
        [('/etc/motd', b'hello\n'), ('//new/dir/blob', b'\0\xff')],
        mtime=1700000000)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ['etc/motd', 'new/dir/blob']
        assert all(m.isfile() and m.mode == 0o644 and m.uid == 0 and
                   m.gid == 0 and m.mtime == 1700000000 for m in members)
        assert tar.extractfile('new/dir/blob').read() == b'\0\xff'


def test_the_archive_refuses_a_path_outside():
    with pytest.raises(exception.InstanceDeployFailure):
        guest.injected_files_tar([('/a/../../b', b'')])


def image_tree(entries):
    """A lookup over {absolute path: (kind, link target)}; missing paths
    are MISSING."""
    asked = []

    def lookup(path):
        asked.append(path)
        return entries.get(path, (M, None))
    lookup.asked = asked
    return lookup


DEBIAN_LIKE = {
    '/etc': (D, None), '/etc/ssh': (D, None), '/run': (D, None),
    '/var': (D, None), '/var/run': (S, '/run'), '/var/lock': (S, '../run'),
    '/bin': (D, None), '/bin/sh': (F, None),
    '/up': (S, '../../..'), '/rootup': (S, '/../etc'),
    '/etc/deep': (S, '../../x'), '/chain': (S, 'etc/deep'),
    '/loop': (S, 'loop'), '/motd-link': (S, '../../host-motd'),
}


@pytest.mark.parametrize('path, landing', [
    ('/etc/ssh/banner', '/etc/ssh/banner'),
    ('/var/run/app.pid', '/run/app.pid'),
    ('/var/lock/x', '/run/x'),
    ('/srv/new/dir/file', '/srv/new/dir/file'),
    # The file itself may be a symlink: the engine replaces it.
    ('/motd-link', '/motd-link'),
])
def test_a_path_lands_where_the_kernel_would_put_it(path, landing):
    assert guest.resolve_injected_path(
        path, image_tree(DEBIAN_LIKE)) == landing


def test_the_walk_stops_at_the_first_missing_parent():
    lookup = image_tree(DEBIAN_LIKE)
    guest.resolve_injected_path('/srv/a/b/c/file', lookup)
    assert lookup.asked == ['/srv']


@pytest.mark.parametrize('path, words', [
    ('/up/etc/shadow', "/up, a symlink to '../../..'"),
    ('/rootup/passwd', "/rootup, a symlink to '/../etc'"),
    ('/chain/file', "/etc/deep, a symlink to '../../x'"),
    ('/bin/sh/file', '/bin/sh is not a directory'),
    ('/loop/file', 'too many levels of symbolic links'),
    ('/etc/ssh', 'is a directory in the image'),
])
def test_a_parent_leading_out_or_nowhere_is_refused(path, words):
    with pytest.raises(exception.InstanceDeployFailure) as e:
        guest.resolve_injected_path(path, image_tree(DEBIAN_LIKE))
    assert words in str(e.value)
    assert repr(path) in str(e.value)


@pytest.mark.parametrize('mode, kind', [
    (guest.GO_MODE_DIR | 0o755, D),
    (guest.GO_MODE_SYMLINK | 0o777, S),
    (0o644, F),
])
def test_the_engines_file_modes(mode, kind):
    assert guest._go_mode_kind({'mode': mode}) == kind
    assert guest._go_mode_kind(None) == M


# -- config drive -------------------------------------------------------------

def modes(directory):
    return {os.path.relpath(os.path.join(root, name), directory):
            stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode)
            for root, dirs, files in os.walk(directory)
            for name in dirs + files}


def test_the_tree_is_written_read_only_for_everyone(tmp_path):
    directory = str(tmp_path / 'uuid' / 'config-drive')
    guest.write_tree(directory, [
        ('openstack/latest/meta_data.json', b'{}'),
        ('openstack/latest/user_data', b'#!/bin/sh\n'),
        ('ec2/latest/meta-data.json', b'{}')])
    assert modes(directory) == {
        'openstack': 0o555, 'openstack/latest': 0o555,
        'openstack/latest/meta_data.json': 0o444,
        'openstack/latest/user_data': 0o444,
        'ec2': 0o555, 'ec2/latest': 0o555,
        'ec2/latest/meta-data.json': 0o444}
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o555
    # The instance's directory lets a remapped container root through.
    assert stat.S_IMODE(os.stat(tmp_path / 'uuid').st_mode) == 0o755
    with open(os.path.join(directory, 'openstack/latest/user_data')) as f:
        assert f.read() == '#!/bin/sh\n'
    # Nothing but the tree is left beside it.
    assert os.listdir(tmp_path / 'uuid') == ['config-drive']


def test_a_new_tree_replaces_the_old_and_removal_is_idempotent(tmp_path):
    directory = str(tmp_path / 'config-drive')
    guest.write_tree(directory, [('a/old', b'1')])
    guest.write_tree(directory, [('b/new', b'2')])
    assert sorted(modes(directory)) == ['b', 'b/new']
    guest.remove_tree(directory)
    guest.remove_tree(directory)
    assert os.listdir(tmp_path) == []


def test_a_failed_write_leaves_nothing(tmp_path):
    directory = str(tmp_path / 'config-drive')
    with pytest.raises(ValueError):
        guest.write_tree(directory, [('a', b'1'), ('../escape', b'2')])
    assert os.listdir(tmp_path) == []


@pytest.fixture
def instances_path(tmp_path):
    CONF.set_override('instances_path', str(tmp_path))
    yield tmp_path
    CONF.clear_override('instances_path')
    CONF.clear_override('force_config_drive')


@pytest.mark.parametrize('fields, force, wanted', [
    ({}, False, False),
    ({'config_drive': 'True'}, False, True),
    ({}, True, True),
    # force_config_drive is for new instances only, as in Nova.
    ({'launched_at': datetime.datetime(2026, 11, 1)}, True, False),
    ({'system_metadata': {'image_img_config_drive': 'mandatory'}}, False,
     True),
])
def test_a_config_drive_is_made_when_nova_wants_one(instances_path, fields,
                                                    force, wanted):
    CONF.set_override('force_config_drive', force)
    instance = factories.instance(config_drive=fields.pop('config_drive',
                                                          ''))
    for name, value in fields.items():
        setattr(instance, name, value)
    path = guest.config_drive_path(instance)
    assert path == (str(instances_path / instance.uuid / 'config-drive')
                    if wanted else None)


def test_removing_the_drive_removes_the_instance_dir_once_empty(
        instances_path):
    instance = factories.instance()
    directory = guest.config_drive_dir(str(instances_path), instance.uuid)
    guest.write_tree(directory, [('openstack/latest/meta_data.json', b'{}')])
    assert guest.has_config_drive(instance)
    other = instances_path / instance.uuid / 'console.log'
    other.write_text('kept')
    guest.remove_config_drive(instance)
    assert not guest.has_config_drive(instance)
    assert os.listdir(instances_path / instance.uuid) == ['console.log']
    other.unlink()
    guest.remove_config_drive(instance)
    assert os.listdir(instances_path) == []


def test_the_drive_is_bound_read_only_beside_lxcfs():
    conf = CONF.docker
    _kwargs, host_config = spec.build(
        factories.instance(), objects.ImageMeta.from_dict({}), [], conf,
        lxcfs_files=['proc/uptime'], config_drive_dir='/i/uuid/config-drive')
    assert host_config['mounts'] == [
        {'Type': 'bind', 'Source': os.path.join(conf.lxcfs_path or '',
                                                'proc/uptime'),
         'Target': '/proc/uptime', 'ReadOnly': True},
        {'Type': 'bind', 'Source': '/i/uuid/config-drive',
         'Target': '/config-drive', 'ReadOnly': True}]
    _kwargs, host_config = spec.build(
        factories.instance(), objects.ImageMeta.from_dict({}), [], conf)
    assert 'mounts' not in host_config


def test_an_unwritable_instances_path_fails_the_boot_naming_it(
        instances_path, monkeypatch):
    instance = factories.instance(config_drive='True')
    monkeypatch.setattr(guest, 'config_drive_files', lambda *args: [])

    def refuse(*args, **kwargs):
        raise PermissionError(13, 'Permission denied')
    monkeypatch.setattr(guest.tempfile, 'mkdtemp', refuse)
    directory = guest.config_drive_path(instance)
    with pytest.raises(exception.InstanceDeployFailure) as e:
        guest.write_config_drive(directory, instance, [], None, [])
    assert directory in str(e.value) and 'instances_path' in str(e.value)


# -- admin password -----------------------------------------------------------

def test_the_admin_user_is_root_unless_the_image_names_one():
    assert guest.admin_user(objects.ImageMeta.from_dict({})) == 'root'
    assert guest.admin_user(objects.ImageMeta.from_dict(
        {'properties': {'os_admin_user': 'admin'}})) == 'admin'


def test_chpasswd_gets_one_line():
    assert guest.chpasswd_input('root', 'p:a ss') == b'root:p:a ss\n'


@pytest.mark.parametrize('user, password', [
    ('root', 'sesame\nadmin:owned'), ('root', 'ses\rame'),
    ('root', 'ses\0ame'), ('ro:ot', 'sesame'), ('', 'sesame'),
    ('root\n', 'sesame'),
])
def test_chpasswd_input_that_would_set_another_line_is_refused(user,
                                                               password):
    with pytest.raises(exception.SetAdminPasswdNotSupported) as e:
        guest.chpasswd_input(user, password)
    assert 'sesame' not in str(e.value) and 'ses' not in str(e.value)


def test_chpasswd_is_looked_for_along_the_containers_path():
    assert guest.command_paths(['A=1', 'PATH=/opt/bin:relative:/bin'],
                               'chpasswd') == ['/opt/bin/chpasswd',
                                               '/bin/chpasswd']
    assert guest.command_paths(None, 'chpasswd')[2:4] == [
        '/usr/sbin/chpasswd', '/usr/bin/chpasswd']


@pytest.mark.parametrize('code, output, missing', [
    (126, b'exec: "chpasswd": executable file not found in $PATH', True),
    (127, b'sh: chpasswd: not found', True),
    (126, b'permission denied', False),
    (1, b'chpasswd: user not found', False),
])
def test_a_missing_command_is_told_from_a_failing_one(code, output,
                                                      missing):
    assert guest.command_not_found(code, output) is missing


def test_the_engines_output_frames_are_joined():
    def frame(stream, data):
        return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, 'big') + data
    assert client.demultiplex(frame(1, b'out ') + frame(2, b'err') +
                              frame(1, b'')) == b'out err'
    assert client.demultiplex(b'') == b''
