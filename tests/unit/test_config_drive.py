"""The config drive: the tree on disk, when Nova wants one, its mount."""

import datetime
import os
import stat

from nova import exception
from nova import objects
import pytest

from novadocker import conf as nd_conf
from novadocker.virt.docker import config_drive
from novadocker.virt.docker import spec
from tests.unit import factories

CONF = nd_conf.CONF


def modes(directory):
    return {os.path.relpath(os.path.join(root, name), directory):
            stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode)
            for root, dirs, files in os.walk(directory)
            for name in dirs + files}


def test_the_tree_is_written_read_only_for_everyone(tmp_path):
    directory = str(tmp_path / 'uuid' / 'config-drive')
    config_drive.write_tree(directory, [
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
    config_drive.write_tree(directory, [('a/old', b'1')])
    config_drive.write_tree(directory, [('b/new', b'2')])
    assert sorted(modes(directory)) == ['b', 'b/new']
    config_drive.remove_tree(directory)
    config_drive.remove_tree(directory)
    assert os.listdir(tmp_path) == []


def test_a_failed_write_leaves_nothing(tmp_path):
    directory = str(tmp_path / 'config-drive')
    with pytest.raises(ValueError):
        config_drive.write_tree(directory, [('a', b'1'), ('../escape', b'2')])
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
    path = config_drive.config_drive_path(instance)
    assert path == (str(instances_path / instance.uuid / 'config-drive')
                    if wanted else None)


def test_removing_the_drive_removes_the_instance_dir_once_empty(
        instances_path):
    instance = factories.instance()
    directory = config_drive.config_drive_dir(str(instances_path),
                                              instance.uuid)
    config_drive.write_tree(directory,
                            [('openstack/latest/meta_data.json', b'{}')])
    assert config_drive.has_config_drive(instance)
    other = instances_path / instance.uuid / 'console.log'
    other.write_text('kept')
    config_drive.remove_config_drive(instance)
    assert not config_drive.has_config_drive(instance)
    assert os.listdir(instances_path / instance.uuid) == ['console.log']
    other.unlink()
    config_drive.remove_config_drive(instance)
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
    monkeypatch.setattr(config_drive, 'config_drive_files', lambda *args: [])

    def refuse(*args, **kwargs):
        raise PermissionError(13, 'Permission denied')
    monkeypatch.setattr(config_drive.tempfile, 'mkdtemp', refuse)
    directory = config_drive.config_drive_path(instance)
    with pytest.raises(exception.InstanceDeployFailure) as e:
        config_drive.write_config_drive(directory, instance, [], None, [])
    assert directory in str(e.value) and 'instances_path' in str(e.value)
