"""What Nova hands a guest beyond its image: the config drive, injected
files (``personality``) and the admin password.

* Config drive: the files Nova puts on a VM's config drive, made by Nova's
  own ``InstanceMetadata``, written as a plain directory tree under the
  instance's directory in ``[DEFAULT] instances_path`` and bound read-only
  into the container at ``/config-drive`` (``spec.config_drive_mount``). A
  container has no block devices to label ``config-2``: the tree is the
  drive's content, already mounted. Files 0444, directories 0555, so that a
  container whose root is remapped (``dockerd --userns-remap``) reads it
  too.
* Injected files: written into the container's filesystem before its first
  start, with one ``put_archive``. Each path must stay inside the container:
  absolute, no ``..``, and no parent that is a symlink climbing above the
  container's root (the engine would clamp it at the root; the driver
  refuses it instead of guessing what was meant).
* Admin password: ``chpasswd`` run as root in the running container, the
  password on its stdin only.

Small pure functions build and check; the few functions taking the engine
client (``docker``) do the work.
"""

import errno
import io
import os
import posixpath
import shutil
import tarfile
import tempfile
import time

from nova.api.metadata import base as instance_metadata
from nova import exception
from nova.i18n import _
from nova.virt import configdrive
from oslo_log import log as logging

from novadocker import conf as nd_conf

CONF = nd_conf.CONF
LOG = logging.getLogger(__name__)

CONFIG_DRIVE_DIR = 'config-drive'
CONFIG_DRIVE_FILE_MODE = 0o444
CONFIG_DRIVE_DIR_MODE = 0o555
INSTANCE_DIR_MODE = 0o755
INJECTED_FILE_MODE = 0o644
# The kernel's own limit on symlinks followed in one lookup (ELOOP).
MAX_SYMLINKS = 40
# Go's os.FileMode bits, as the engine reports a path's mode.
GO_MODE_DIR = 1 << 31
GO_MODE_SYMLINK = 1 << 27
# What a path turns out to be in the container (resolve_injected_path).
MISSING, DIRECTORY, SYMLINK, OTHER = 'missing', 'directory', 'symlink', 'other'
CHPASSWD = 'chpasswd'
# The shell's and runc's exit codes for a command that cannot be run (not
# found / not executable); runc says "executable file not found".
COMMAND_NOT_RUNNABLE = (126, 127)
DEFAULT_ADMIN_USER = 'root'
# The engine's PATH for a container whose image sets none.
DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'


def _deploy_failure(message, **kwargs):
    return exception.InstanceDeployFailure(reason=message % kwargs)


# -- config drive -------------------------------------------------------------

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


def confined_path(path):
    """The components of ``path`` below the container's root, or a
    deploy failure naming it: it must be absolute, without ``..``, NUL or
    an empty name. ``.`` and repeated slashes are dropped."""
    if not isinstance(path, str) or not path.startswith('/'):
        raise _deploy_failure(
            _('injected file path %(path)r is not absolute: files are only '
              'written at absolute paths inside the container'), path=path)
    parts = [p for p in path.split('/') if p not in ('', '.')]
    if '..' in parts:
        raise _deploy_failure(
            _('injected file path %(path)r contains "..": files are only '
              'written inside the container'), path=path)
    if not parts or '\0' in path:
        raise _deploy_failure(
            _('injected file path %(path)r names no file'), path=path)
    return parts


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
    if not configdrive.required_by(instance):
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
        raise _deploy_failure(
            _('the config drive cannot be written to %(dir)s: %(err)s '
              '([DEFAULT] instances_path must be writable by nova-compute)'),
            dir=directory, err=e)


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


# -- injected files -----------------------------------------------------------

def injected_files_tar(files, mtime=0):
    """A tar archive of ``files`` ((absolute path, bytes)) for the engine's
    put_archive at the container's root: regular files, 0644, owned by
    root. No directory entries: missing parents are made by the engine,
    and existing ones keep their owner and mode."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w') as tar:
        for path, data in files:
            info = tarfile.TarInfo('/'.join(confined_path(path)))
            info.size, info.mode, info.mtime = (len(data),
                                                INJECTED_FILE_MODE, mtime)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _escape(path, link, target):
    return _deploy_failure(
        _('injected file path %(path)r goes through %(link)s, a symlink '
          'to %(target)r that leads out of the container\'s root'),
        path=path, link=link, target=target)


def resolve_injected_path(path, lookup):
    """Follow the injected file ``path`` in the container as the kernel
    would, and return where the file lands.

    ``lookup(absolute path)`` says what a path is in the container:
    (MISSING | DIRECTORY | OTHER, None) or (SYMLINK, its target). The walk
    of the parents stops at the first missing one (the engine creates the
    rest). Refused: a parent symlink whose target climbs above ``/``
    (``../../..`` from ``/a``, or ``/../x``), a parent that is not a
    directory, a loop, and a path that is a directory in the image (the
    engine would replace the whole directory with the file). A file that
    is a symlink is replaced by the file, not followed.
    """
    parts = confined_path(path)
    # Components still to walk, each with the symlink that brought it in
    # (to name it when a ".." from it climbs out).
    pending = [(part, None) for part in parts[:-1]]
    resolved = []
    links = 0
    while pending:
        part, origin = pending.pop(0)
        if part == '..':
            if not resolved:
                raise _escape(path, *origin)
            resolved.pop()
            continue
        current = '/' + '/'.join(resolved + [part])
        kind, target = lookup(current)
        if kind == MISSING:
            return '/' + '/'.join(resolved + [part] +
                                  [p for p, _o in pending] + parts[-1:])
        if kind == OTHER:
            raise _deploy_failure(
                _('injected file path %(path)r: %(parent)s is not a '
                  'directory in the image'), path=path, parent=current)
        if kind == DIRECTORY:
            resolved.append(part)
            continue
        links += 1
        if links > MAX_SYMLINKS:
            raise _deploy_failure(
                _('injected file path %(path)r: too many levels of symbolic '
                  'links'), path=path)
        if target.startswith('/'):
            resolved = []
        origin = (current, target)
        pending = [(p, origin) for p in target.split('/')
                   if p not in ('', '.')] + pending
    landing = '/' + '/'.join(resolved + parts[-1:])
    if lookup(landing)[0] == DIRECTORY:
        raise _deploy_failure(
            _('injected file path %(path)r is a directory in the image'),
            path=path)
    return landing


def _go_mode_kind(stat):
    if stat is None:
        return MISSING
    if stat['mode'] & GO_MODE_SYMLINK:
        return SYMLINK
    if stat['mode'] & GO_MODE_DIR:
        return DIRECTORY
    return OTHER


def container_lookup(docker, instance):
    """A lookup for resolve_injected_path asking the engine about the
    instance's container (created, running or not), each path once."""
    seen = {}

    def lookup(path):
        if path not in seen:
            kind = _go_mode_kind(docker.stat_path(instance, path))
            target = docker.read_link(instance, path) \
                if kind == SYMLINK else None
            seen[path] = (kind, target)
        return seen[path]
    return lookup


def inject_files(docker, instance, files):
    """Write Nova's injected files ((path, bytes)) into the instance's
    container, all or none: every path is checked against the image first.
    A refused path raises InstanceDeployFailure naming it (the spawn then
    removes the container)."""
    if not files:
        return
    lookup = container_lookup(docker, instance)
    for path, _data in files:
        resolve_injected_path(path, lookup)
    docker.put_archive(instance, '/',
                       injected_files_tar(files, mtime=int(time.time())))
    LOG.info('Injected %d files', len(files), instance=instance)


# -- admin password -----------------------------------------------------------

def admin_user(image_meta):
    """The account whose password Nova sets: the image's ``os_admin_user``,
    root by default (as for libvirt's guests)."""
    props = image_meta.properties
    if props.obj_attr_is_set('os_admin_user') and props.os_admin_user:
        return props.os_admin_user
    return DEFAULT_ADMIN_USER


def chpasswd_input(user, password):
    """chpasswd's stdin, one ``user:password`` line. A line break would
    start another line (another account's password): refused, like ``:``
    in the user and NUL anywhere."""
    if any(c in user for c in ':\n\r\0') or not user:
        raise exception.SetAdminPasswdNotSupported(
            message=_('the admin user %r cannot be given to chpasswd')
            % user)
    if any(c in password for c in '\n\r\0'):
        raise exception.SetAdminPasswdNotSupported(
            message=_('a password holding a line break or a NUL byte cannot '
                      'be set with chpasswd'))
    return ('%s:%s\n' % (user, password)).encode()


def command_paths(env, command):
    """Where a process of the container finds ``command``: in each
    directory of the container's PATH (its ``Config.Env``, else the
    engine's default), in order."""
    path = next((entry[len('PATH='):] for entry in env or ()
                 if entry.startswith('PATH=')), DEFAULT_PATH)
    return [posixpath.join(directory, command)
            for directory in path.split(':') if directory.startswith('/')]


def command_not_found(exit_code, output):
    """Whether an exec failed because its command is not in the image
    (runc: exit 126, "executable file not found"; a shell: 127)."""
    return exit_code in COMMAND_NOT_RUNNABLE and (
        b'not found' in output or b'no such file' in output.lower())


def _no_chpasswd():
    return exception.SetAdminPasswdNotSupported(
        message=_('the image of this instance has no chpasswd command, '
                  'which setting its password needs'))


def set_admin_password(docker, instance, password):
    """Set the admin account's password with ``chpasswd`` run as root in
    the running container; the password travels on its stdin only, never
    on a command line or in a log.

    Raises SetAdminPasswdNotSupported when the image has no chpasswd (the
    user gets HTTP 409 with this message; nova-compute logs it at info),
    looked for along the container's PATH before anything runs;
    InstancePasswordSetFailed when the container is not running (nova's
    own check for that comes first) or chpasswd fails (nova-compute logs
    its exit and output, the password masked; the user is told "error
    setting admin password").
    """
    user = admin_user(instance.image_meta)
    data = chpasswd_input(user, password)
    attrs = docker.inspect(instance)
    status = attrs['State']['Status']
    if status != 'running':
        raise exception.InstancePasswordSetFailed(
            instance=instance.uuid,
            reason=_('its container is %s, not running') % status)
    if not any(docker.stat_path(instance, path) for path in
               command_paths(attrs['Config'].get('Env'), CHPASSWD)):
        raise _no_chpasswd()
    exit_code, output = docker.run_with_input(instance, [CHPASSWD], data,
                                              user='0')
    if exit_code == 0:
        LOG.info('Password of %s set with chpasswd', user, instance=instance)
        return
    if command_not_found(exit_code, output):
        raise _no_chpasswd()
    text = output.decode('utf-8', 'replace').replace(password, '***')
    raise exception.InstancePasswordSetFailed(
        instance=instance.uuid,
        reason=_('chpasswd exited with code %(code)s: %(output)s')
        % {'code': exit_code, 'output': text.strip() or '(no output)'})
