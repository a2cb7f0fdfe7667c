"""The config drive: the files Nova puts on a VM's config drive, made by
Nova's own ``InstanceMetadata``, written as a plain directory tree under the
instance's directory in ``[DEFAULT] instances_path`` and bound read-only
into the container at ``/config-drive`` (``spec.config_drive_mount``).

A container has no block devices to label ``config-2``: the tree is the
drive's content, already mounted. Files 0444, directories 0555, so that a
container whose root is remapped (``dockerd --userns-remap``) reads it too.
"""

import errno
import os
import shutil
import tempfile

from nova.api.metadata import base as instance_metadata
from nova import exception
from nova.i18n import _
from nova.virt import configdrive as nova_configdrive
from oslo_log import log as logging

from novadocker import conf as nd_conf

CONF = nd_conf.CONF
LOG = logging.getLogger(__name__)

CONFIG_DRIVE_DIR = 'config-drive'
CONFIG_DRIVE_FILE_MODE = 0o444
CONFIG_DRIVE_DIR_MODE = 0o555
INSTANCE_DIR_MODE = 0o755


def instance_dir(instances_path, instance_uuid):
    return os.path.join(instances_path, instance_uuid)


def config_drive_dir(instances_path, instance_uuid):
    """Where the instance's config drive tree lives on the host."""
    return os.path.join(instance_dir(instances_path, instance_uuid),
                        CONFIG_DRIVE_DIR)


def config_drive_files(instance, injected_files, admin_password,
                       network_info):
    """(path, bytes) of everything on the instance's config drive, as
    Nova's libvirt driver builds it (``_create_configdrive``): meta_data,
    user_data, network_data, vendor data, the ec2 tree and the injected
    files under openstack/content."""
    extra_md = {'admin_pass': admin_password} if admin_password else {}
    metadata = instance_metadata.InstanceMetadata(
        instance, content=injected_files, extra_md=extra_md,
        network_info=network_info)
    return [(path, data.encode() if isinstance(data, str) else data)
            for path, data in metadata.metadata_for_config_drive()]


def write_tree(directory, files):
    """Write ``files`` ((relative path, bytes)) as a new tree at
    ``directory``, replacing any old one, read-only for everyone: files
    0444, directories 0555. Built beside it and renamed into place, so the
    container never binds a half-written tree."""
    parent = os.path.dirname(directory)
    if not os.path.isdir(parent):
        os.makedirs(parent)
        os.chmod(parent, INSTANCE_DIR_MODE)
    building = tempfile.mkdtemp(prefix='.%s-' % os.path.basename(directory),
                                dir=parent)
    try:
        for path, data in files:
            parts = [p for p in path.split('/') if p not in ('', '.')]
            if not parts or '..' in parts:
                raise ValueError('config drive path %r' % path)
            target = os.path.join(building, *parts)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, 'wb') as f:
                f.write(data)
            os.chmod(target, CONFIG_DRIVE_FILE_MODE)
        for root, _dirs, _files in os.walk(building, topdown=False):
            os.chmod(root, CONFIG_DRIVE_DIR_MODE)
        remove_tree(directory)
        os.rename(building, directory)
    except BaseException:
        remove_tree(building)
        raise


def remove_tree(directory):
    """Remove a read-only tree made by write_tree; absent is fine. Its
    directories are made writable first: nova-compute's own user may not
    unlink in a 0555 directory, even its own."""
    if not os.path.lexists(directory):
        return
    for root, _dirs, _files in os.walk(directory):
        os.chmod(root, INSTANCE_DIR_MODE)
    shutil.rmtree(directory)


def config_drive_path(instance):
    """The host directory of the instance's config drive if Nova wants one
    for it (``--config-drive true``, ``[DEFAULT] force_config_drive`` for
    a new instance, image property ``img_config_drive=mandatory``), else
    None."""
    if not nova_configdrive.required_by(instance):
        return None
    return config_drive_dir(CONF.instances_path, instance.uuid)


def write_config_drive(directory, instance, injected_files, admin_password,
                       network_info):
    """Write the config drive tree at ``directory`` (config_drive_path); a
    host directory nova-compute cannot write fails the boot naming it."""
    LOG.info('Writing the config drive to %s', directory, instance=instance)
    files = config_drive_files(instance, injected_files, admin_password,
                               network_info)
    try:
        write_tree(directory, files)
    except OSError as e:
        raise exception.InstanceDeployFailure(reason=_(
            'the config drive cannot be written to %(dir)s: %(err)s '
            '([DEFAULT] instances_path must be writable by nova-compute)')
            % {'dir': directory, 'err': e})


def remove_config_drive(instance):
    """Remove the instance's config drive tree, and its directory under
    instances_path once empty. Idempotent."""
    directory = config_drive_dir(CONF.instances_path, instance.uuid)
    remove_tree(directory)
    try:
        os.rmdir(os.path.dirname(directory))
    except OSError as e:
        if e.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST):
            raise


def has_config_drive(instance):
    return os.path.isdir(config_drive_dir(CONF.instances_path,
                                          instance.uuid))
