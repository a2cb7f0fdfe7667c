"""LXCFS, as a compute node runs it for containers: per-container views of
/proc (cpuinfo, meminfo, uptime, stat, loadavg) computed from each
container's cgroups, which nova-compute binds over the container's own
([docker] lxcfs_path). Without it a guest sees the host's CPUs and memory
and the host's uptime."""

import os
import shutil

from novadocker_cloud import process
from novadocker_cloud import services
from novadocker.virt.docker import hostinfo


def mount_point(layout):
    return layout.data('lxcfs')


class LXCFS(services.Service):
    name = 'lxcfs'

    def up(self):
        if not shutil.which('lxcfs'):
            raise process.StartError('lxcfs is not installed '
                                     '(tools/setup-env.sh installs it)')
        point = mount_point(self.layout)
        # A killed LXCFS leaves its FUSE mount behind, unreadable.
        if os.path.ismount(point) or _stale(point):
            process.run(['umount', '-l', point])
        os.makedirs(point, exist_ok=True)
        daemon = self.daemon('lxcfs', [
            'lxcfs', '--foreground', '--enable-cfs', '--enable-loadavg',
            # Its own lock file: the default is a system LXCFS's.
            '--pidfile', self.layout.data('run', 'lxcfs.lock'), point])
        daemon.wait_until(
            lambda: hostinfo.lxcfs_files(point, ['proc/uptime']),
            'LXCFS serving ' + point, 30)
        return '%s (%s)' % (point, ', '.join(
            hostinfo.lxcfs_files(point, hostinfo.LXCFS_FILES)))


def _stale(point):
    try:
        os.stat(point)
        return False
    except FileNotFoundError:
        return False
    except OSError:  # ENOTCONN: the daemon of a FUSE mount is gone
        return True
