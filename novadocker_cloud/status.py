"""``python -m novadocker_cloud status``: each process the cloud started,
whether it runs, and its memory with its children's (uWSGI workers, the
privsep daemon, containerd), in all; and the CPU time each has spent, for
the boot benchmark's account of which service a boot costs most."""

import os

import psutil

from novadocker_cloud import orchestrator

MIB = 1 << 20


def _tree(pid):
    """``pid``'s process and its living descendants; none if it is gone."""
    try:
        root = psutil.Process(pid)
        return [root] + root.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def memory(pid):
    """(RSS, PSS) in bytes of ``pid`` and its descendants."""
    rss = pss = 0
    for proc in _tree(pid):
        try:
            info = proc.memory_full_info()
        except psutil.NoSuchProcess:
            continue
        rss += info.rss
        pss += info.pss
    return rss, pss


def memory_of(layout):
    """PSS in bytes of every process the cloud started."""
    return sum(memory(pid)[1] for _, pid in _pids(layout) if pid)


def cpu_seconds(layout):
    """{process name: user + system CPU seconds} of every process the cloud
    started with its living descendants (those that ended are not
    counted: short-lived helpers such as sudo and runc)."""
    return {name: _tree_cpu(pid) for name, pid in _pids(layout) if pid}


def _tree_cpu(pid):
    total = 0.0
    for proc in _tree(pid):
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _pids(layout):
    for pidfile in orchestrator.recorded(layout):
        name = os.path.basename(pidfile)[:-len('.pid')]
        try:
            with open(pidfile) as f:
                yield name, int(f.read())
        except (OSError, ValueError):
            yield name, None


def report(layout, out=print):
    """Print one line per process and the total; returns the total PSS."""
    total_rss = total_pss = 0
    for name, pid in _pids(layout):
        if pid is None:
            out('%-32s stopped' % name)
            continue
        rss, pss = memory(pid)
        total_rss += rss
        total_pss += pss
        out('%-32s pid %-7d RSS %7.1f MiB  PSS %7.1f MiB' % (
            name, pid, rss / MIB, pss / MIB))
    out('%-32s %11s RSS %7.1f MiB  PSS %7.1f MiB' % (
        'all', '', total_rss / MIB, total_pss / MIB))
    return total_pss
