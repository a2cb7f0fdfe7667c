"""Injected files: the parts that need no engine (paths, the archive, where
a path lands through the image's symlinks)."""

import io
import tarfile

from nova import exception
import pytest

from novadocker.virt.docker import file_injection

M, D, S, F = (file_injection.MISSING, file_injection.DIRECTORY,
              file_injection.SYMLINK, file_injection.OTHER)


@pytest.mark.parametrize('path, parts', [
    ('/etc/motd', ['etc', 'motd']),
    ('//etc/./ssh//banner', ['etc', 'ssh', 'banner']),
    # Relative: from the root, as Nova's file injection into VM disks.
    ('rebuild.txt', ['rebuild.txt']),
    ('etc/motd', ['etc', 'motd']),
])
def test_a_confined_path_is_its_components_below_the_root(path, parts):
    assert file_injection.confined_path(path) == parts


@pytest.mark.parametrize('path, words', [
    ('', 'names no file'),
    ('etc/../../x', 'contains ".."'),
    ('/etc/../../host/etc/shadow', 'contains ".."'),
    ('/..', 'contains ".."'),
    ('/', 'names no file'),
    ('/./', 'names no file'),
    ('/etc/mo\0td', 'names no file'),
])
def test_a_path_that_could_leave_the_container_is_refused(path, words):
    with pytest.raises(exception.InvalidInput) as e:
        file_injection.confined_path(path)
    assert words in str(e.value)
    assert repr(path) in str(e.value)


def test_the_archive_holds_only_the_files_root_owned_0644():
    data = file_injection.injected_files_tar(
        [('/etc/motd', b'hello\n'), ('//new/dir/blob', b'\0\xff')],
        mtime=1700000000)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ['etc/motd', 'new/dir/blob']
        assert all(m.isfile() and m.mode == 0o644 and m.uid == 0 and
                   m.gid == 0 and m.mtime == 1700000000 for m in members)
        assert tar.extractfile('new/dir/blob').read() == b'\0\xff'


def test_the_archive_refuses_a_path_outside():
    with pytest.raises(exception.InvalidInput):
        file_injection.injected_files_tar([('/a/../../b', b'')])


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
    assert file_injection.resolve_injected_path(
        path, image_tree(DEBIAN_LIKE)) == landing


def test_the_walk_stops_at_the_first_missing_parent():
    lookup = image_tree(DEBIAN_LIKE)
    file_injection.resolve_injected_path('/srv/a/b/c/file', lookup)
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
    with pytest.raises(exception.InvalidInput) as e:
        file_injection.resolve_injected_path(path, image_tree(DEBIAN_LIKE))
    assert words in str(e.value)
    assert repr(path) in str(e.value)


@pytest.mark.parametrize('mode, kind', [
    (file_injection.GO_MODE_DIR | 0o755, D),
    (file_injection.GO_MODE_SYMLINK | 0o777, S),
    (0o644, F),
])
def test_the_engines_file_modes(mode, kind):
    assert file_injection._go_mode_kind({'mode': mode}) == kind
    assert file_injection._go_mode_kind(None) == M
