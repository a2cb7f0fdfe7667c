"""Injected files (``personality``): written into the container's filesystem
before its first start, with one ``put_archive``.

Each path must stay inside the container: absolute, no ``..``, and no parent
that is a symlink climbing above the container's root (the engine would
clamp it at the root; the driver refuses it instead of guessing what was
meant). Small pure functions check and build; :func:`inject_files` asks the
engine about the image and writes.
"""

import io
import tarfile
import time

from nova import exception
from nova.i18n import _
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

INJECTED_FILE_MODE = 0o644
# The kernel's own limit on symlinks followed in one lookup (ELOOP).
MAX_SYMLINKS = 40
# Go's os.FileMode bits, as the engine reports a path's mode.
GO_MODE_DIR = 1 << 31
GO_MODE_SYMLINK = 1 << 27
# What a path turns out to be in the container (resolve_injected_path).
MISSING, DIRECTORY, SYMLINK, OTHER = 'missing', 'directory', 'symlink', 'other'


def _deploy_failure(message, **kwargs):
    """InvalidInput: Nova aborts the build with this message as the
    server's fault instead of trying other hosts, which would refuse the
    same path."""
    return exception.InvalidInput(reason=message % kwargs)


def confined_path(path):
    """The components of ``path`` below the container's root, or
    InvalidInput naming it: no ``..``, NUL or empty name. A relative path
    counts from the root, as Nova's own file injection reads it (Tempest's
    rebuild with personality writes ``rebuild.txt``). ``.`` and repeated
    slashes are dropped."""
    if not isinstance(path, str):
        raise _deploy_failure(_('injected file path %(path)r is not a '
                                'string'), path=path)
    parts = [p for p in path.split('/') if p not in ('', '.')]
    if '..' in parts:
        raise _deploy_failure(
            _('injected file path %(path)r contains "..": files are only '
              'written inside the container'), path=path)
    if not parts or '\0' in path:
        raise _deploy_failure(
            _('injected file path %(path)r names no file'), path=path)
    return parts


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
    A refused path raises InvalidInput naming it (the spawn then removes
    the container, and Nova aborts the build)."""
    if not files:
        return
    lookup = container_lookup(docker, instance)
    for path, _data in files:
        resolve_injected_path(path, lookup)
    docker.put_archive(instance, '/',
                       injected_files_tar(files, mtime=int(time.time())))
    LOG.info('Injected %d files', len(files), instance=instance)
