"""Which engine events reach Nova, and when."""

import gc
import socket
import threading
import time

from nova.virt import event as virtevent
import pytest

from novadocker import conf as nd_conf
from novadocker.virt.docker import client
from novadocker.virt.docker import events
from tests.fixtures import fds
from tests.fixtures import polling

CONF = nd_conf.CONF

UUID = '11111111-2222-3333-4444-555555555555'


def docker_event(status, uuid=UUID, name=None):
    return {'status': status, 'time': 1, 'Actor': {'Attributes': {
        client.LABEL_UUID: uuid,
        'name': name or client.container_name(uuid)}}}


class Recorder:
    def __init__(self):
        self.events = []
        self.arrived = threading.Event()

    def __call__(self, event):
        self.events.append((event.uuid, event.transition))
        self.arrived.set()


def test_start_pause_unpause_are_emitted_at_once():
    emitted = Recorder()
    watcher = events.LifecycleWatcher(emitted, stopped_delay=60)
    for status in ('start', 'pause', 'unpause', 'exec_create'):
        watcher._dispatch(docker_event(status))
    assert emitted.events == [(UUID, virtevent.EVENT_LIFECYCLE_STARTED),
                              (UUID, virtevent.EVENT_LIFECYCLE_PAUSED),
                              (UUID, virtevent.EVENT_LIFECYCLE_RESUMED)]


def test_stopped_is_delayed_and_cancelled_by_a_restart():
    emitted = Recorder()
    watcher = events.LifecycleWatcher(emitted, stopped_delay=0.2)
    watcher._dispatch(docker_event('die'))
    watcher._dispatch(docker_event('start'))  # a reboot
    assert emitted.events == [(UUID, virtevent.EVENT_LIFECYCLE_STARTED)]
    emitted.arrived.clear()
    watcher._dispatch(docker_event('die'))  # a crash
    assert emitted.arrived.wait(5)
    assert emitted.events[-1] == (UUID, virtevent.EVENT_LIFECYCLE_STOPPED)
    watcher.stop()


def test_a_container_killed_as_the_stream_is_lost_waits_for_the_engine():
    """Killed from outside, then the engine goes away while its STOPPED is
    held: it is handed over once the stream is open again, not emitted.
    One that stopped by itself, or was started again, is not."""
    other = '99999999-2222-3333-4444-555555555555'
    emitted, handed = Recorder(), []
    watcher = events.LifecycleWatcher(emitted, on_engine_back=handed.extend,
                                      stopped_delay=0.2)
    watcher._dispatch(docker_event('kill'))
    watcher._dispatch(docker_event('die'))
    watcher._dispatch(docker_event('die', uuid=other))  # its own exit
    watcher._hold_stopped_with_engine()
    watcher._report_stopped_with_engine()
    assert [(e.uuid, e.transition) for e in handed] == [
        (UUID, virtevent.EVENT_LIFECYCLE_STOPPED)]
    assert emitted.arrived.wait(5)
    time.sleep(0.4)
    assert emitted.events == [(other, virtevent.EVENT_LIFECYCLE_STOPPED)]
    handed.clear()
    watcher._dispatch(docker_event('kill'))
    watcher._dispatch(docker_event('die'))
    watcher._dispatch(docker_event('start'))  # a reboot
    watcher._hold_stopped_with_engine()
    watcher._report_stopped_with_engine()
    assert handed == []
    watcher.stop()


def test_without_a_handler_the_held_events_are_emitted():
    emitted = Recorder()
    watcher = events.LifecycleWatcher(emitted, stopped_delay=60)
    watcher._dispatch(docker_event('kill'))
    watcher._dispatch(docker_event('die'))
    watcher._hold_stopped_with_engine()
    assert emitted.events == []
    watcher._report_stopped_with_engine()
    assert emitted.events == [(UUID, virtevent.EVENT_LIFECYCLE_STOPPED)]
    watcher.stop()


def test_containers_not_named_after_their_uuid_label_are_ignored():
    emitted = Recorder()
    watcher = events.LifecycleWatcher(emitted)
    watcher._dispatch(docker_event('start', name='made-by-hand'))
    watcher._dispatch({'status': 'start', 'Actor': {'Attributes': {}}})
    assert emitted.events == []


def test_a_rescue_container_speaks_for_its_instance():
    """Rescue: the instance's container dies, its rescue container starts
    (the STOPPED is dropped); unrescue: the other way round."""
    emitted = Recorder()
    watcher = events.LifecycleWatcher(emitted, stopped_delay=60)
    rescuer = client.rescue_name(UUID)
    watcher._dispatch(docker_event('die'))
    watcher._dispatch(dict(docker_event('start', name=rescuer), Actor={
        'Attributes': {client.LABEL_UUID: UUID, client.LABEL_RESCUE: UUID,
                       'name': rescuer}}))
    watcher._dispatch(docker_event('die', name=rescuer))  # no LABEL_RESCUE
    watcher._dispatch(docker_event('start'))
    assert emitted.events == [(UUID, virtevent.EVENT_LIFECYCLE_STARTED)] * 2
    assert not watcher._pending_stops
    watcher.stop()


def test_stop_cancels_pending_stopped_events():
    emitted = Recorder()
    watcher = events.LifecycleWatcher(emitted, stopped_delay=0.1)
    watcher._dispatch(docker_event('die'))
    watcher.stop()
    assert not emitted.arrived.wait(0.3)


def test_every_event_of_an_instance_arrives_at_once_with_its_uuid():
    """Held back or not, Nova's or not: the container states re-read the
    instance (states.py). A sandbox carries no instance uuid label."""
    arrivals = []
    watcher = events.LifecycleWatcher(Recorder(), stopped_delay=60,
                                      on_arrival=arrivals.append)
    watcher._dispatch(docker_event('die'))
    watcher._dispatch(docker_event('destroy', uuid='u2'))
    watcher._dispatch({'status': 'start', 'Actor': {'Attributes': {
        client.LABEL_SANDBOX: UUID}}})
    assert arrivals == [UUID, 'u2']
    watcher.stop()


def _answer_version_only(conn):
    """Answer the API version negotiation; drop any other request, as an
    engine killed just then does."""
    body = b'{"ApiVersion": "1.45"}'
    with conn:
        request = b''
        while True:
            chunk = conn.recv(4096)
            if not chunk:
                return
            request += chunk
            if b'\r\n\r\n' not in request:
                continue
            if not request.startswith(b'GET /version '):
                return
            conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json'
                         b'\r\nContent-Length: %d\r\n\r\n%s'
                         % (len(body), body))
            request = b''


def _serve(listener, answer):
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return  # closed
        threading.Thread(target=answer, args=(conn,), daemon=True).start()


@pytest.fixture(params=['refuses', 'drops the events request'])
def dying_engine(request, tmp_path):
    """[docker] host_url points at an engine that refuses connections (its
    socket is bound but nobody listens), or that negotiates the version
    and then drops the events request; yields its socket's path."""
    path = str(tmp_path / 'docker.sock')
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    if request.param != 'refuses':
        listener.listen()
        threading.Thread(target=_serve, args=(listener, _answer_version_only),
                         daemon=True).start()
    CONF.set_override('host_url', 'unix://' + path, group='docker')
    # The watcher's own reconnections are under test, not each request's
    # wait for a restarting engine.
    CONF.set_override('engine_restart_wait', 0, group='docker')
    yield path
    CONF.clear_override('host_url', group='docker')
    CONF.clear_override('engine_restart_wait', group='docker')
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()


def test_failed_reconnections_leave_no_socket_open(dying_engine, caplog):
    """The warning of each failed reconnection is kept, as pytest's handler
    keeps it to the end of the test; no socket of the watcher's may stay
    open with it."""
    def client_sockets():
        gc.collect()
        return {kind: n for kind, n in fds.open_files().items()
                if kind.startswith('socket:') and
                not kind.endswith(' at ' + dying_engine)}

    before = client_sockets()
    watcher = events.LifecycleWatcher(Recorder(), reconnect_delay=0.01)
    watcher.start()
    deadline = time.monotonic() + 5
    while len(caplog.records) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    watcher.stop()
    assert len(caplog.records) >= 3, 'the watcher did not reconnect'
    # Another thread of the process (an earlier test's) may hold one for a
    # moment: none of the watcher's may stay.
    assert polling.eventually(lambda: client_sockets() == before), (
        client_sockets(), before)
