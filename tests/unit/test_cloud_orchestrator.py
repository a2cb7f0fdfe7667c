"""The cloud launcher's orchestration with real processes: order, progress,
a service that fails to start reported with its log, and everything
already started stopped."""

import concurrent.futures
import os
import re
import signal
import stat
import time
import types

import pytest

from novadocker_cloud import __main__ as launcher
from novadocker_cloud import layout as cloud_layout
from novadocker_cloud import orchestrator
from novadocker_cloud import process
from novadocker_cloud import services


class Sleeper(services.Service):
    name = 'sleeper'
    pids = []

    def up(self):
        self.pids.append(self.daemon('sleeper', ['sleep', '300']).proc.pid)
        return 'asleep'


class Waiter(services.Service):
    """Needs the sleeper; its process says why it fails, then exits."""

    name = 'waiter'
    after = ('sleeper',)

    def up(self):
        daemon = self.daemon('waiter', [
            'sh', '-c', 'echo "cannot bind 127.0.0.1:9" >&2; exit 3'])
        daemon.wait_until(lambda: False, 'a listener', timeout=10)


@pytest.fixture
def layout(tmp_path):
    return cloud_layout.Layout(str(tmp_path / 'state'), str(tmp_path / 'etc'))


def _pid(layout, name):
    with open(layout.pidfile(name)) as f:
        return int(f.read())


def test_a_failed_start_reports_the_log_and_stops_what_started(layout):
    said = []
    cloud = orchestrator.Orchestrator(
        layout, (Sleeper, Waiter), types.SimpleNamespace(),
        out=lambda line, flush: said.append(line))
    Sleeper.pids.clear()
    with pytest.raises(process.StartError) as raised:
        cloud.up()
    message = str(raised.value)
    assert 'waiter did not come up' in message
    assert 'exited with 3' in message
    assert 'cannot bind 127.0.0.1:9' in message
    [pid] = Sleeper.pids
    assert not os.path.exists('/proc/%d' % pid) or _zombie(pid)
    assert not orchestrator.running(layout)
    assert any(re.search(r'^\[ *[0-9.]+s\] sleeper: up in [0-9.]+s: asleep$',
                         line) for line in said), said
    assert any('waiter: FAILED' in line for line in said)
    assert any('stopping waiter, sleeper' in line for line in said)


def test_stop_ends_a_served_cloud_by_its_pidfiles(layout):
    cloud = orchestrator.Orchestrator(layout, (Sleeper,),
                                      types.SimpleNamespace(),
                                      out=lambda line, flush: None)
    cloud.up()
    pid = _pid(layout, 'sleeper')
    assert orchestrator.running(layout)
    with pytest.raises(process.StartError, match='running already'):
        orchestrator.Orchestrator(layout, (Sleeper,),
                                  types.SimpleNamespace(),
                                  out=lambda line, flush: None).up()
    orchestrator.stop(layout, say=lambda line: None)
    assert not orchestrator.running(layout)
    assert not os.path.exists('/proc/%d' % pid) or _zombie(pid)


def test_a_cloud_whose_processes_died_unstopped_is_not_stopped_twice(
        layout):
    """The record of a cloud the machine went down under is dropped by the
    next bring-up: its stop signals the new processes once each."""
    def launched():
        cloud = orchestrator.Orchestrator(layout, (Sleeper,),
                                          types.SimpleNamespace(),
                                          out=lambda line, flush: None)
        cloud.up()
        return _pid(layout, 'sleeper')

    dead = launched()
    os.kill(dead, signal.SIGKILL)
    os.waitpid(dead, 0)
    pid = launched()
    said = []
    orchestrator.stop(layout, say=said.append)
    assert said == ['stopping sleeper'], said
    assert not os.path.exists('/proc/%d' % pid) or _zombie(pid)


def test_stop_lets_each_service_clean_after_its_processes(layout):
    cleaned = []

    class First(services.Service):
        @classmethod
        def clean(cls, layout):
            cleaned.append('first')

    class Second(First):
        @classmethod
        def clean(cls, layout):
            cleaned.append('second')

    orchestrator.stop(layout, say=lambda line: None,
                      service_classes=(First, Second))
    assert cleaned == ['second', 'first']


def test_a_daemon_is_killed_and_started_again_from_its_record(layout):
    """What the soak does to a service: the record ``start`` left lets
    another object (another process) kill it and start it the same way;
    the cloud's stop still finds it."""
    cloud = orchestrator.Orchestrator(layout, (Sleeper,),
                                      types.SimpleNamespace(),
                                      out=lambda line, flush: None)
    cloud.up()
    first = _pid(layout, 'sleeper')
    recipe = layout.pidfile('sleeper')[:-len('.pid')] + '.start.json'
    assert stat.S_IMODE(os.stat(recipe).st_mode) == 0o600
    daemon = process.Daemon.recorded(layout.pidfile('sleeper'))
    daemon.kill()
    assert not os.path.exists('/proc/%d' % first) or _zombie(first)
    assert process._group_members(first) == []
    assert os.path.exists(layout.pidfile('sleeper'))
    daemon.start()
    second = _pid(layout, 'sleeper')
    assert second != first
    assert _command_line(second)[:2] == ['sleep', '300']
    orchestrator.stop(layout, say=lambda line: None)
    assert not os.path.exists('/proc/%d' % second) or _zombie(second)


def _command_line(pid, timeout=5):
    """The argv of ``pid`` once it has exec'd (empty until then)."""
    deadline = time.monotonic() + timeout
    while True:
        with open('/proc/%d/cmdline' % pid) as f:
            argv = f.read().split('\0')
        if argv != [''] or time.monotonic() > deadline:
            return argv
        time.sleep(0.01)


def test_passwords_are_random_kept_and_private(layout):
    first = layout.password('keystone')
    assert first == cloud_layout.Layout(layout.state,
                                        layout.etc).password('keystone')
    assert first != layout.password('glance')
    mode = stat.S_IMODE(os.stat(os.path.join(layout.state,
                                             'passwords')).st_mode)
    assert mode == 0o600


def test_schemas_migrate_beside_keystone_and_their_services_wait():
    """From nothing, the migrations are most of the bring-up: each needs
    MariaDB and the virtualenv only, and each API waits for its own."""
    by_name = {cls.name: cls
               for cls in launcher.SERVICES + launcher.SECOND_NODE}
    for service, schema in (('nova', 'nova-databases'),
                            ('neutron', 'neutron-database'),
                            ('glance', 'glance-database')):
        assert by_name[schema].after == ('mariadb', 'venv')
        assert schema in by_name[service].after
    assert {name for cls in by_name.values() for name in cls.after} <= set(
        by_name)


def test_passwords_made_at_once_on_many_threads_are_all_kept(layout):
    """Services come up on threads of their own: the schemas' steps and
    Keystone make their first passwords at the same moment."""
    names = ['db-%d' % i for i in range(40)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        made = dict(zip(names, pool.map(layout.password, names)))
    again = cloud_layout.Layout(layout.state, layout.etc)
    assert {name: again.password(name) for name in names} == made


def test_config_files_keep_option_case(tmp_path):
    path = str(tmp_path / 'x.conf')
    cloud_layout.write_ini(path, {'DEFAULT': {'OS_Mixed': 1}})
    with open(path) as f:
        assert 'OS_Mixed = 1' in f.read()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def _zombie(pid):
    with open('/proc/%d/stat' % pid) as f:
        return f.read().split(') ')[1][0] == 'Z'
