"""Brings the services up in order, in parallel where they do not depend on
each other, showing each step with its elapsed time; on a failure, or when
asked, stops everything it started, in reverse."""

import contextlib
import os
import threading
import time

from novadocker_cloud import process


class Orchestrator:

    def __init__(self, layout, service_classes, options, out=print):
        self.layout = layout
        self.service_classes = service_classes
        self.services = [cls(layout, options) for cls in service_classes]
        self.out = out
        self.t0 = time.monotonic()
        self._lock = threading.Lock()
        self._record = os.path.join(layout.run, 'started')

    def say(self, message):
        with self._lock:
            self.out('[%6.1fs] %s' % (time.monotonic() - self.t0, message),
                     flush=True)

    def _started(self, pidfile):
        with self._lock, open(self._record, 'a') as f:
            f.write(pidfile + '\n')

    def up(self):
        """Start every service; raise StartError after tearing down if one
        fails."""
        os.makedirs(self.layout.run, exist_ok=True)
        os.makedirs(self.layout.logs, exist_ok=True)
        if running(self.layout):
            raise process.StartError(
                'the cloud in %s is running already (pids in %s): stop it '
                'first' % (self.layout.state, self._record))
        # Left by a cloud whose processes all ended unstopped (the machine
        # went down under it): nothing of it is left to signal.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._record)
        done = {s.name: threading.Event() for s in self.services}
        failed = []

        def bring_up(service):
            try:
                # What this cloud does not have (node 2's management link
                # in a cloud of one node) is not waited for.
                for name in service.after:
                    if name in done:
                        done[name].wait()
                if not failed:
                    start(service)
            finally:
                done[service.name].set()

        def start(service):
            service.started = self._started
            begin = time.monotonic()
            self.say('%s: starting' % service.name)
            try:
                summary = service.up()
            except Exception as error:
                failed.append((service.name, error))
                self.say('%s: FAILED: %s' % (
                    service.name, str(error).splitlines()[0]))
            else:
                self.say('%s: up in %.1fs: %s' % (
                    service.name, time.monotonic() - begin, summary))

        threads = [threading.Thread(target=bring_up, args=(s,), daemon=True)
                   for s in self.services]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failed:
            self.down()
            name, error = failed[0]
            raise process.StartError('%s did not come up: %s' % (name, error))
        self.say('cloud up')

    def down(self):
        stop(self.layout, self.say, self.service_classes)


def running(layout):
    """Whether processes recorded by an earlier bring-up still run."""
    for pidfile in recorded(layout):
        try:
            with open(pidfile) as f:
                os.kill(int(f.read()), 0)
            return True
        except (OSError, ValueError):
            continue
    return False


def recorded(layout):
    try:
        with open(os.path.join(layout.run, 'started')) as f:
            return [line.strip() for line in f if line.strip()]
    except FileNotFoundError:
        return []


def stop(layout, say=print, service_classes=()):
    """Stop every process the cloud started: signalled newest first, then
    waited for together (each service shuts down on its own); then let each
    of ``service_classes`` clean what its processes left."""
    pidfiles = [p for p in reversed(recorded(layout)) if os.path.exists(p)]
    if pidfiles:
        say('stopping %s' % ', '.join(
            os.path.basename(p)[:-len('.pid')] for p in pidfiles))
        process.stop_pidfiles(pidfiles)
    for service_class in reversed(service_classes):
        service_class.clean(layout)
    try:
        os.unlink(os.path.join(layout.run, 'started'))
    except FileNotFoundError:
        pass
