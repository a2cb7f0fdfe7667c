"""Resident memory of a process, from /proc/<pid>/status: what it holds
now, its peak since a reset, and its peak during an operation run by
another process (a streaming operation may hold a few chunks more, never
the whole stream)."""

import threading

SAMPLE_SECONDS = 0.05


def status_kib(field, pid='self'):
    """A kB field of /proc/<pid>/status (VmRSS, VmHWM, ...)."""
    with open('/proc/%s/status' % pid) as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise RuntimeError('no %s in /proc/%s/status' % (field, pid))


def reset_peak(pid='self'):
    """Set VmHWM, the peak RSS, back to the current RSS."""
    with open('/proc/%s/clear_refs' % pid, 'w') as f:
        f.write('5')


class Peaks:
    """The RSS of each of ``pids`` before the block and at its peak during
    it, in KiB: sampled every 50 ms in a thread, and the VmHWM reset on
    entry read on exit, which catches a peak between two samples."""

    def __init__(self, pids, interval=SAMPLE_SECONDS):
        self.pids = list(pids)
        self.interval = interval
        self.before = {}
        self.peak = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self):
        for pid in self.pids:
            reset_peak(pid)
            self.before[pid] = self.peak[pid] = status_kib('VmRSS', pid)
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        self._sample_once('VmHWM')

    def _sample(self):
        while not self._stop.wait(self.interval):
            self._sample_once('VmRSS')

    def _sample_once(self, field):
        for pid in self.pids:
            self.peak[pid] = max(self.peak[pid], status_kib(field, pid))

    def growth_mib(self, pid):
        return (self.peak[pid] - self.before[pid]) / 1024
