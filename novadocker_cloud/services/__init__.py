"""One module per service of the cloud (devstack's lib/<service> shape):
each writes its configuration, starts its processes, waits until they
answer; the orchestrator stops them in reverse."""

import hashlib
import os
import shutil

from novadocker_cloud import process


class Service:
    """A part of the cloud. ``after`` names the services it needs up."""

    name = None
    after = ()

    def __init__(self, layout, options):
        self.layout = layout
        self.options = options
        self.started = None  # set by the orchestrator: records pidfiles

    def up(self):
        """Configure, start and wait; return a line saying what is up."""
        raise NotImplementedError

    @classmethod
    def clean(cls, layout):
        """Once the cloud's processes are stopped, remove what they leave
        behind outside their pidfiles' reach (the orchestrator's ``stop``
        calls it, newest service first). Nothing by default."""

    # -- helpers ---------------------------------------------------------
    def daemon(self, name, cmd, **kwargs):
        """Start a long-running process whose pidfile the orchestrator
        records, so that teardown and ``stop`` end it."""
        daemon = process.Daemon(name, cmd, self.layout.log(name),
                                self.layout.pidfile(name), **kwargs).start()
        self.started(daemon.pidfile)
        return daemon

    def run(self, *cmd, **kwargs):
        log = self.layout.log(self.name + '-setup')
        return process.run(list(cmd), log=log, **kwargs)

    def done(self, step, fingerprint):
        """Whether ``step`` ran with this fingerprint (state kept): lets a
        second bring-up skip migrations and bootstraps."""
        try:
            with open(self._marker(step)) as f:
                return f.read() == fingerprint
        except FileNotFoundError:
            return False

    def mark(self, step, fingerprint):
        with open(self._marker(step), 'w') as f:
            f.write(fingerprint)

    def _marker(self, step):
        directory = self.layout.data('done')
        os.makedirs(directory, exist_ok=True)
        return os.path.join(directory, '%s-%s' % (self.name, step))

    def copy_from_venv(self, relative, destination):
        """A data file a wheel installed under <venv>/etc."""
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        shutil.copyfile(os.path.join(self.layout.venv, 'etc', relative),
                        destination)


class Database(Service):
    """A service's schema, made and migrated as a step of its own: it needs
    MariaDB and the virtualenv only, so it runs beside Keystone's bring-up
    rather than after every service the processes wait for (from nothing,
    the migrations are most of the cloud's set-up time)."""

    after = ('mariadb', 'venv')


def fingerprint(*parts):
    return hashlib.sha256('\0'.join(map(str, parts)).encode()).hexdigest()
