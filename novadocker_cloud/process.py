"""Processes of the cloud: start one with its log, wait until it answers,
stop it, start it again from another process, and say why when it does not
come up."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request


class StartError(RuntimeError):
    """A service did not come up; the message ends with its log's tail."""


def tail(path, size=3000):
    try:
        with open(path, 'rb') as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - size))
            return f.read().decode(errors='replace')
    except OSError:
        return '(no log at %s)' % path


def run(cmd, log=None, env=None, timeout=None, **kwargs):
    """Run a set-up command; on failure raise StartError with its output.
    Past ``timeout`` its whole session is killed: an Erlang CLI's helpers
    would otherwise hold its output pipes open and the wait would never
    end."""
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=env, start_new_session=True,
                          **kwargs) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            raise StartError('%s did not end within %ss:\n%s%s' % (
                ' '.join(cmd), timeout, stdout[-2000:], stderr[-3000:]))
    if log:
        with open(log, 'a') as f:
            f.write('$ %s\n%s%s' % (' '.join(cmd), stdout, stderr))
    if proc.returncode:
        raise StartError('%s exited %d:\n%s%s' % (
            ' '.join(cmd), proc.returncode, stdout[-2000:], stderr[-3000:]))
    return stdout


class Daemon:
    """One long-running process, in a session of its own, whose output goes
    to ``log``. ``pidfile`` (written here) lets a later ``stop`` command find
    it when the launcher that started it is gone."""

    def __init__(self, name, cmd, log, pidfile, env=None, user=None,
                 extra_groups=None, cwd=None):
        self.name = name
        self.cmd = cmd
        self.log = log
        self.pidfile = pidfile
        self.env = env
        self.user = user
        self.extra_groups = extra_groups
        self.cwd = cwd
        self.proc = None

    @property
    def recipe(self):
        """Where ``start`` writes how it started the process (beside the
        pidfile, root's only: it holds the environment), so that any later
        process can start it again (``restart``)."""
        return self.pidfile[:-len('.pid')] + '.start.json'

    @classmethod
    def recorded(cls, pidfile):
        """The daemon a ``start`` recorded at ``pidfile``, not running
        under this object."""
        with open(pidfile[:-len('.pid')] + '.start.json') as f:
            fields = json.load(f)
        return cls(pidfile=pidfile, **fields)

    def start(self):
        fd = os.open(self.recipe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                     0o600)
        with os.fdopen(fd, 'w') as f:
            json.dump({'name': self.name, 'cmd': self.cmd, 'log': self.log,
                       'env': self.env, 'user': self.user,
                       'extra_groups': self.extra_groups, 'cwd': self.cwd},
                      f)
        os.makedirs(os.path.dirname(self.log), exist_ok=True)
        with open(self.log, 'ab') as out:
            kwargs = {}
            if self.user:
                kwargs = dict(user=self.user, group=self.user,
                              extra_groups=self.extra_groups or [])
            self.proc = subprocess.Popen(
                self.cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True, env=self.env, cwd=self.cwd, **kwargs)
        with open(self.pidfile, 'w') as f:
            f.write(str(self.proc.pid))
        return self

    def exited(self):
        return self.proc is not None and self.proc.poll() is not None

    def wait_until(self, ready, what, timeout=120):
        """Poll ``ready()`` until it is true; fail with the log's tail if the
        process exits or the time is up."""
        deadline = time.monotonic() + timeout
        last_error = ''
        while True:
            try:
                if ready():
                    return
            except Exception as error:
                last_error = '\nthe last check said: %s' % error
            if self.exited():
                raise StartError('%s exited with %s before %s; %s:\n%s' % (
                    self.name, self.proc.returncode, what, self.log,
                    tail(self.log)))
            if time.monotonic() > deadline:
                raise StartError('%s: no %s after %ds%s\n%s:\n%s' % (
                    self.name, what, timeout, last_error[-3000:], self.log,
                    tail(self.log)))
            time.sleep(0.2)

    def stop(self, timeout=20):
        stop_pidfiles([self.pidfile], timeout)

    def kill(self):
        """SIGKILL its process group, as the OOM killer or a crash would,
        and wait until it is gone; the pidfile stays (the cloud's stop
        still knows the name)."""
        pid = self.pid()
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        # Every member, not only the leader: a uWSGI worker still dying
        # holds the listening socket, and the service's restart would find
        # its address in use.
        while _alive(pid) or _group_members(pid):
            time.sleep(0.05)

    def pid(self):
        with open(self.pidfile) as f:
            return int(f.read().strip())


def stop_pidfiles(pidfiles, timeout=20):
    """SIGTERM the process groups named by ``pidfiles``, in their order
    without waiting between them; SIGKILL those still alive after
    ``timeout`` seconds; remove the pidfiles."""
    pids = []
    for pidfile in pidfiles:
        try:
            with open(pidfile) as f:
                pids.append(int(f.read().strip()))
        except (OSError, ValueError):
            continue
    _terminate(pids, os.killpg, timeout)
    for pidfile in pidfiles:
        try:
            os.unlink(pidfile)
        except FileNotFoundError:
            pass


def stop_pids(pids, timeout=10):
    """SIGTERM each of ``pids`` (not their groups), SIGKILL those alive
    after ``timeout`` seconds."""
    _terminate(pids, os.kill, timeout)


def _terminate(pids, kill, timeout):
    signalled = []
    for pid in pids:
        try:
            kill(pid, signal.SIGTERM)
            signalled.append(pid)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while any(map(_alive, signalled)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in filter(_alive, signalled):
        try:
            kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _alive(pid):
    try:
        # Reap it if it is our child; a zombie is not alive.
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open('/proc/%d/stat' % pid) as f:
        return f.read().split(') ')[1][0] != 'Z'


def _group_members(pgid):
    """The live processes of process group ``pgid`` (zombies are not)."""
    members = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as f:
                state, _ppid, group = f.read().rsplit(') ', 1)[1].split()[:3]
        except OSError:
            continue  # ended meanwhile
        if int(group) == pgid and state != 'Z':
            members.append(int(entry))
    return members


def seen_by(pid, path):
    """``path`` as process ``pid`` sees it in its mount namespace (a
    node's own /run), reached from this one through /proc/<pid>/root.
    Symlinks on the way (/var/run -> /run) are resolved here first: an
    absolute one would otherwise lead back to this process's root."""
    return '/proc/%d/root%s' % (pid, os.path.realpath(path))


def http_ok(url):
    """Whether ``url`` answers HTTP at all (any status below 500)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status < 500
    except urllib.error.HTTPError as error:
        return error.code < 500


def tcp_open(host, port):
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


def port_free(host, port):
    """Refuse to start a service whose port something else holds."""
    if tcp_open(host, port):
        raise StartError('%s:%d is already in use: stop what listens there '
                         '(ss -ltnp sport = :%d)' % (host, port, port))
