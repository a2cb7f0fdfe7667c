"""Passwords: ``chpasswd`` run as root in a running container, the password
on its stdin only. The admin password goes to the instance's container, a
rescue password to its rescue container (rescue.py).

Small pure functions build chpasswd's input and tell a missing command from
a failing one; :func:`set_password` does the work.
"""

import posixpath

from nova import exception
from nova.i18n import _
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

CHPASSWD = 'chpasswd'
# The shell's and runc's exit codes for a command that cannot be run (not
# found / not executable); runc says "executable file not found".
COMMAND_NOT_RUNNABLE = (126, 127)
DEFAULT_ADMIN_USER = 'root'
# The engine's PATH for a container whose image sets none.
DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'


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
    """Set the password of the instance image's admin account in the
    instance's running container (see set_password).

    Raises SetAdminPasswdNotSupported when the image has no chpasswd (the
    user gets HTTP 409 with this message; nova-compute logs it at info);
    InstancePasswordSetFailed when the container is not running (nova's
    own check for that comes first) or chpasswd fails (nova-compute logs
    its exit and output, the password masked; the user is told "error
    setting admin password").
    """
    set_password(docker, instance, admin_user(instance.image_meta),
                 password)


def set_password(docker, instance, user, password, name=None):
    """Set ``user``'s password with ``chpasswd`` run as root in the
    instance's running container (or the one called ``name``); the
    password travels on its stdin only, never on a command line or in a
    log. chpasswd is looked for along the container's PATH before anything
    runs; the errors are set_admin_password's.
    """
    data = chpasswd_input(user, password)
    attrs = docker.inspect(instance, name=name)
    status = attrs['State']['Status']
    if status != 'running':
        raise exception.InstancePasswordSetFailed(
            instance=instance.uuid,
            reason=_('its container is %s, not running') % status)
    if not any(docker.stat_path(instance, path, name=name) for path in
               command_paths(attrs['Config'].get('Env'), CHPASSWD)):
        raise _no_chpasswd()
    exit_code, output = docker.run_with_input(instance, [CHPASSWD], data,
                                              user='0', name=name)
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
