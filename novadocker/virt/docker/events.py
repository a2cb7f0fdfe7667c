"""Container lifecycle events from the engine's event stream, for Nova.

Nova learns of a container that stops on its own (its process exits, the
OOM killer, a ``docker stop`` by hand) at once instead of at the next
power-state sync. As the libvirt driver does, a STOPPED event is held back
for a while and dropped if the container starts again meanwhile, so a
reboot does not look like a crash. The events of a rescue container are its
instance's (it holds the instance's power state while rescued): a rescue or
an unrescue is one container stopping and the other starting.

A container stopped from outside (a ``kill`` event before its ``die``)
whose STOPPED is still held when the stream is lost most likely went down
with the engine: those go to ``on_engine_back`` once the engine answers
again, for the driver to judge (recovery.py).
"""

import threading

from nova.virt import event as virtevent
from oslo_log import log as logging
from oslo_utils import timeutils

from novadocker.virt.docker import client

LOG = logging.getLogger(__name__)

TRANSITIONS = {
    'start': virtevent.EVENT_LIFECYCLE_STARTED,
    'die': virtevent.EVENT_LIFECYCLE_STOPPED,
    'pause': virtevent.EVENT_LIFECYCLE_PAUSED,
    'unpause': virtevent.EVENT_LIFECYCLE_RESUMED,
}
# Sent by the engine for each signal it delivers: a stop from outside.
KILL = 'kill'
# Not lifecycle events, but changes of which containers an instance has.
MADE_OR_REMOVED = ('create', 'destroy')
STOPPED_EVENT_DELAY = 15
RECONNECT_DELAY = 5
# The watcher's thread, named in thread dumps and for tests telling its
# engine requests from an operation's.
THREAD_NAME = 'novadocker-events'


def holds_power_state(attributes, uuid):
    """Whether the container of an event (its ``attributes``: name and
    labels) is instance ``uuid``'s own or its rescue container."""
    name = attributes.get('name')
    return name == client.container_name(uuid) or (
        name == client.rescue_name(uuid) and
        attributes.get(client.LABEL_RESCUE) == uuid)


class LifecycleWatcher:
    """Follows the engine's container events in a thread and hands them to
    ``emit`` (the driver's emit_event) as Nova lifecycle events;
    ``on_arrival`` is given the instance uuid of every event of a
    container labelled with one as it arrives (its creation and removal
    too), and ``on_following`` True once the stream is open, False once it
    is lost; ``on_engine_back`` gets the STOPPED events of containers
    killed just before the stream was lost, once it is open again (emitted
    if None)."""

    def __init__(self, emit, on_arrival=None, on_following=None,
                 on_engine_back=None, stopped_delay=STOPPED_EVENT_DELAY,
                 reconnect_delay=RECONNECT_DELAY):
        self._emit = emit
        self._on_arrival = on_arrival or (lambda uuid: None)
        self._on_following = on_following or (lambda following: None)
        self._on_engine_back = on_engine_back or self._emit_all
        self._stopped_delay = stopped_delay
        self._reconnect_delay = reconnect_delay
        self._stopping = threading.Event()
        # uuid: (timer of its held STOPPED, whether it followed a kill)
        self._pending_stops = {}
        self._killed = set()
        self._stopped_with_engine = []
        self._lock = threading.Lock()
        self._stream = None
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._follow, daemon=True,
                                        name=THREAD_NAME)
        self._thread.start()

    def stop(self):
        with self._lock:
            self._stopping.set()
            stream = self._stream
        if stream is not None:
            stream.close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            for timer, _killed in self._pending_stops.values():
                timer.cancel()
            self._pending_stops.clear()

    def _follow(self):
        """Read the stream; reconnect after the engine goes away, resuming
        from the last event seen (a repeat is harmless to Nova)."""
        since = int(timeutils.utcnow_ts())
        while not self._stopping.is_set():
            try:
                # A client per connection, closed with it: its idle
                # connections are not left to the garbage collector.
                with client.connect() as api:
                    stream = self._open_stream(api, since)
                    if stream is None:
                        break
                    self._on_following(True)
                    self._report_stopped_with_engine()
                    for event in stream:
                        since = event.get('time', since)
                        self._dispatch(event)
            except Exception as e:
                if self._stopping.is_set():
                    break
                # The text, not the exception: a handler may keep the
                # record (pytest's does), and the exception's traceback
                # holds the sockets of the failed connection open.
                LOG.warning('Lost the Docker event stream (%s); reconnecting '
                            'in %d s', str(e), self._reconnect_delay)
            finally:
                self._on_following(False)
            self._hold_stopped_with_engine()
            self._stopping.wait(self._reconnect_delay)

    def _hold_stopped_with_engine(self):
        """The stream is lost: the containers killed in the moments before
        (their STOPPED still held) wait for the engine's return."""
        with self._lock:
            for uuid, (timer, killed) in list(self._pending_stops.items()):
                if killed:
                    timer.cancel()
                    del self._pending_stops[uuid]
                    self._stopped_with_engine.append(timer.args[0])
            self._killed.clear()

    def _report_stopped_with_engine(self):
        with self._lock:
            lifecycles, self._stopped_with_engine = (
                self._stopped_with_engine, [])
        if lifecycles:
            self._on_engine_back(lifecycles)

    def _open_stream(self, api, since):
        """The event stream of the engine ``api`` speaks to, or None when
        stop() came first (it could not close a stream that did not exist
        yet)."""
        stream = api.events(since=since, decode=True, filters={
            'type': 'container', 'label': [client.LABEL_UUID],
            'event': [*TRANSITIONS, KILL, *MADE_OR_REMOVED]})
        with self._lock:
            if not self._stopping.is_set():
                self._stream = stream
                return stream
        stream.close()
        return None

    def _dispatch(self, event):
        attributes = event.get('Actor', {}).get('Attributes', {})
        uuid = attributes.get(client.LABEL_UUID)
        status = event.get('status')
        if uuid is not None:
            self._on_arrival(uuid)
        # A container made by hand from a snapshot carries the labels too.
        if (status not in TRANSITIONS and status != KILL or uuid is None or
                not holds_power_state(attributes, uuid)):
            return
        if status == KILL:
            with self._lock:
                self._killed.add(uuid)
            return
        transition = TRANSITIONS[status]
        lifecycle = virtevent.LifecycleEvent(uuid, transition)
        with self._lock:
            pending = self._pending_stops.pop(uuid, None)
            if pending is not None:
                pending[0].cancel()
            killed = uuid in self._killed
            self._killed.discard(uuid)
            if transition == virtevent.EVENT_LIFECYCLE_STOPPED:
                timer = threading.Timer(self._stopped_delay,
                                        self._emit_stopped)
                # The timer passes itself: a cancelled one that fired
                # anyway must not take a newer pending STOPPED.
                timer.args = (lifecycle, timer)
                timer.daemon = True
                self._pending_stops[uuid] = (timer, killed)
                timer.start()
                return
        self._emit(lifecycle)

    def _emit_all(self, lifecycles):
        for lifecycle in lifecycles:
            self._emit(lifecycle)

    def _emit_stopped(self, lifecycle, timer):
        with self._lock:
            pending = self._pending_stops.get(lifecycle.uuid)
            if pending is None or pending[0] is not timer:
                return
            del self._pending_stops[lifecycle.uuid]
        self._emit(lifecycle)
