"""LXCFS, as a compute node runs it for containers: per-container views of
/proc (cpuinfo, meminfo, uptime, stat, loadavg) computed from each
container's cgroups, which nova-compute binds over the container's own
([docker] lxcfs_path). Without it a guest sees the host's CPUs and memory
and the host's uptime."""

import os
import shutil
import sys

from novadocker_cloud import process
from novadocker_cloud import services


def mount_point(layout):
    return layout.data('lxcfs')


def serve(service, name, point, lock, enter=list):
    """LXCFS at ``point`` in the mounts ``enter`` places it among (a
    node's)."""
    if not shutil.which('lxcfs'):
        raise process.StartError('lxcfs is not installed '
                                 '(tools/setup-env.sh installs it)')
    # A killed LXCFS leaves its FUSE mount behind, unreadable.
    if os.path.ismount(point) or _stale(point):
        process.run(['umount', '-l', point])
    os.makedirs(point, exist_ok=True)
    daemon = service.daemon(name, enter([
        'lxcfs', '--foreground', '--enable-cfs', '--enable-loadavg',
        # Its own lock file: the default is a system LXCFS's.
        '--pidfile', lock, point]))
    daemon.wait_until(lambda: _served(point, enter), 'LXCFS serving ' + point,
                      30)
    return '%s (%s)' % (point, ', '.join(_served(point, enter)))


def _served(point, enter):
    """What LXCFS serves at ``point``, asked among the mounts where it is
    mounted (the driver asks the same from nova-compute)."""
    return process.run(enter([
        sys.executable, '-c', 'import sys; from novadocker.virt.docker '
        'import hostinfo; print(*hostinfo.lxcfs_files(sys.argv[1], '
        'hostinfo.LXCFS_FILES))', point])).split()


class LXCFS(services.Service):
    name = 'lxcfs'

    def up(self):
        return serve(self, 'lxcfs', mount_point(self.layout),
                     self.layout.data('run', 'lxcfs.lock'))


def _stale(point):
    try:
        os.stat(point)
        return False
    except FileNotFoundError:
        return False
    except OSError:  # ENOTCONN: the daemon of a FUSE mount is gone
        return True
