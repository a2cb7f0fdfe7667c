"""What the host has and what each container uses, read from /proc and the
container's own cgroups.

Never the Docker stats API: it costs about a second per container, and Nova
asks for host figures every minute. A container's cgroup directories are
found through ``/proc/<pid>/cgroup``, so the figures are right for cgroup v1
and v2 and for either of Docker's cgroup drivers.
"""

import json
import os
import re
import time

from oslo_utils import units

# What LXCFS serves per container, relative to its mount point, and runc
# lets a container mount over its own (it refuses other /proc targets).
LXCFS_FILES = ('proc/cpuinfo', 'proc/diskstats', 'proc/loadavg',
               'proc/meminfo', 'proc/slabinfo', 'proc/stat', 'proc/swaps',
               'proc/uptime', 'sys/devices/system/cpu/online')

PROC = '/proc'
CGROUP_ROOT = '/sys/fs/cgroup'
PF_EXITING = 0x4  # include/linux/sched.h


def _read(path):
    with open(path) as f:
        return f.read()


def meminfo_kib():
    """/proc/meminfo as {field: KiB}."""
    fields = {}
    for line in _read(os.path.join(PROC, 'meminfo')).splitlines():
        key, _, value = line.partition(':')
        fields[key] = int(value.split()[0])
    return fields


def memory_mb():
    """(total, used) host memory in MiB; used counts what is not available."""
    info = meminfo_kib()
    total = info['MemTotal']
    return total // units.Ki, (total - info['MemAvailable']) // units.Ki


def disk_gb(path):
    """(total, used, free) GiB of the filesystem holding ``path``."""
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    free = st.f_bavail * st.f_frsize
    return (total // units.Gi, (total - st.f_bfree * st.f_frsize) // units.Gi,
            free // units.Gi)


def _cpuinfo_first_processor():
    block = _read(os.path.join(PROC, 'cpuinfo')).split('\n\n')[0]
    fields = {}
    for line in block.splitlines():
        key, _, value = line.partition(':')
        fields[key.strip()] = value.strip()
    return fields


def cpu_info(arch, vcpus):
    """The JSON string Nova stores as the compute node's cpu_info."""
    cpu = _cpuinfo_first_processor()
    siblings = int(cpu.get('siblings', 1) or 1)
    cores = int(cpu.get('cpu cores', 1) or 1)
    return json.dumps({
        'arch': arch,
        'vendor': cpu.get('vendor_id', ''),
        'model': cpu.get('model name', ''),
        'topology': {'cells': 1,
                     'sockets': max(1, vcpus // siblings),
                     'cores': cores,
                     'threads': max(1, siblings // cores)},
        'features': sorted(cpu.get('flags', '').split()),
    })


def cpu_stats():
    """Host CPU time in ns since boot, as get_host_cpu_stats reports it."""
    values = [int(v) for v in _read(os.path.join(PROC, 'stat')).split(
        '\n', 1)[0].split()[1:]]
    ns_per_tick = units.G // os.sysconf('SC_CLK_TCK')
    user, nice, system, idle, iowait = values[:5]
    mhz = _cpuinfo_first_processor().get('cpu MHz', '0')
    return {'kernel': system * ns_per_tick,
            'idle': idle * ns_per_tick,
            'user': (user + nice) * ns_per_tick,
            'iowait': iowait * ns_per_tick,
            'frequency': int(float(mhz))}


def uptime():
    """The host's uptime in the format of uptime(1), as nova expects."""
    seconds = int(float(_read(os.path.join(PROC, 'uptime')).split()[0]))
    days, rest = divmod(seconds, 86400)
    hours, minutes = divmod(rest // 60, 60)
    load = _read(os.path.join(PROC, 'loadavg')).split()[:3]
    up = '%d day%s, %2d:%02d' % (days, '' if days == 1 else 's', hours,
                                 minutes) if days else '%2d:%02d' % (
                                     hours, minutes)
    return ' %s up %s,  load average: %s' % (
        time.strftime('%H:%M:%S'), up, ', '.join(load))


def _mount_point(field):
    """A mount point as /proc/self/mountinfo writes it (space, tab,
    newline and backslash as octal escapes), unescaped."""
    return re.sub(r'\\([0-7]{3})', lambda m: chr(int(m.group(1), 8)),
                  field)


def lxcfs_files(path, wanted):
    """Which of ``wanted`` (paths relative to ``path``) the LXCFS mounted
    at ``path`` serves: none when what is mounted there last is not LXCFS,
    or its daemon is gone. Seen from this process's mount namespace, which
    the engine shares on a compute node."""
    point = os.path.realpath(path)
    fstype = None
    for line in _read(os.path.join(PROC, 'self', 'mountinfo')).splitlines():
        fields, _, fs = line.partition(' - ')
        if _mount_point(fields.split()[4]) == point:
            fstype = fs.split()[0]
    if fstype != 'fuse.lxcfs':
        return []
    return [f for f in wanted if os.path.exists(os.path.join(point, f))]


def process_ended(pid):
    """Whether process ``pid`` has ended or is ending: gone, a zombie not
    reaped yet, or past the start of its exit (the kernel's PF_EXITING
    flag), when its namespaces are already released.

    The engine learns of a container's exit from containerd a moment after
    it happens; until then it still reports the container running.
    """
    try:
        stat = _read(os.path.join(PROC, str(pid), 'stat'))
    except FileNotFoundError:
        return True
    # The fields after the command name, which may hold anything: state,
    # ppid, pgrp, session, tty_nr, tpgid, flags, ...
    fields = stat.rpartition(')')[2].split()
    return fields[0] in ('Z', 'X') or bool(int(fields[6]) & PF_EXITING)


def cgroup_dirs(pid):
    """{controller: directory} of the cgroups process ``pid`` is in.

    cgroup v2 has one unified directory, reported under the key ''.
    """
    dirs = {}
    for line in _read(os.path.join(PROC, str(pid), 'cgroup')).splitlines():
        _, controllers, path = line.split(':', 2)
        for controller in controllers.split(',') if controllers else ['']:
            base = os.path.join(CGROUP_ROOT, controller) if controller \
                else CGROUP_ROOT
            dirs[controller] = base + path
    return dirs


class ContainerUsage:
    """CPU time (ns) and memory (bytes) of one container's cgroups."""

    def __init__(self, pid):
        self.dirs = cgroup_dirs(pid)

    def _v1(self, controller):
        return self.dirs.get(controller) if 'memory' in self.dirs else None

    def cpu_time_ns(self):
        acct = self._v1('cpuacct')
        if acct:
            return int(_read(os.path.join(acct, 'cpuacct.usage')))
        for line in _read(os.path.join(self.dirs[''], 'cpu.stat')).split(
                '\n'):
            if line.startswith('usage_usec '):
                return int(line.split()[1]) * units.k
        return 0

    def memory_bytes(self):
        """(used, limit); limit None when the cgroup has none."""
        memory = self._v1('memory')
        if memory:
            used = int(_read(os.path.join(memory, 'memory.usage_in_bytes')))
            limit = int(_read(os.path.join(memory, 'memory.limit_in_bytes')))
            # cgroup v1 reports "no limit" as a huge page-aligned number.
            return used, limit if limit < 2 ** 62 else None
        unified = self.dirs['']
        used = int(_read(os.path.join(unified, 'memory.current')))
        limit = _read(os.path.join(unified, 'memory.max')).strip()
        return used, None if limit == 'max' else int(limit)
