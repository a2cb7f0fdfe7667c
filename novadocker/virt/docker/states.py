"""Every instance's power state, for Nova's periodic paths, at a cost that
does not grow with the number of instances.

Nova's power-state sync asks get_info of every instance in a burst and
counts them first; the resource report sums the running ones. Listing the
engine's containers for each costs ~75 ms at 500 containers here, and more
the more there are. So the states are listed once and then kept current
from the engine's container events (events.py follows them): an event, or
a change the driver makes, marks its instance's entry for one re-read at
the next look (a list, when more are marked than reads would be worth).
While the stream is lost, a list serves for a few seconds only, as a
snapshot. Events can still be lost while the stream is open (the engine
drops them for a reader that falls behind), so a list older than
RESYNC_INTERVAL is taken again, on a thread of its own: a look never waits
for it. Nova asks with use_cache=False before it acts on what it saw.
"""

import threading
import time

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

# While the event stream is lost: how long one list serves.
SNAPSHOT_MAX_AGE = 5
# While it is open: how old a list gets before it is taken again.
RESYNC_INTERVAL = 60
RESYNC_THREAD_NAME = 'novadocker-states-resync'
# More changed instances than this at one look (a burst of boots): one list
# costs less than reading each (a read ~3 ms; a list of 500 ~60 ms here).
MOST_READS = 10


class ContainerStates:
    """{instance uuid: client.InstanceState}, listed, then kept by events.
    """

    def __init__(self, docker_client, max_age=SNAPSHOT_MAX_AGE,
                 resync_interval=RESYNC_INTERVAL):
        self._docker = docker_client
        self._max_age = max_age
        self._resync_interval = resync_interval
        self._lock = threading.Lock()
        self._states = {}
        self._taken = None
        self._following = False
        # uuid: number of its last change; the changes are counted so that
        # a list taken while one happened does not clear its mark.
        self._changed = {}
        self._changes = 0
        self._resyncing = False

    def get(self, uuid):
        """Instance ``uuid``'s client.InstanceState, or None if it has no
        container."""
        with self._lock:
            return self._current().get(uuid)

    def all(self):
        """{uuid: client.InstanceState} of every instance with a
        container."""
        with self._lock:
            return dict(self._current())

    def count(self):
        with self._lock:
            return len(self._current())

    @property
    def kept_by_events(self):
        return self._following

    def following(self, on):
        """Whether the engine's events reach changed() from now on; either
        way, what came before is not known: the next look lists."""
        with self._lock:
            self._following = on
            self._taken = None

    def changed(self, uuid):
        """Instance ``uuid``'s containers changed (an event, or the driver
        changed them): re-read at the next look."""
        with self._lock:
            if not self._following:
                self._taken = None
                return
            self._changes += 1
            self._changed[uuid] = self._changes

    def invalidate(self):
        """Forget every state: the next look lists."""
        with self._lock:
            self._taken = None

    def _current(self):
        """The states, as fresh as the module doc promises; under _lock."""
        age = None if self._taken is None else time.monotonic() - self._taken
        if (age is None or (not self._following and age > self._max_age) or
                len(self._changed) > MOST_READS):
            self._replace(self._changes, self._docker.list_instance_states())
        elif age > self._resync_interval and not self._resyncing:
            self._resyncing = True
            threading.Thread(target=self._resync_now, args=(self._changes,),
                             daemon=True, name=RESYNC_THREAD_NAME).start()
        for uuid in list(self._changed):
            state = self._docker.instance_state(uuid)
            del self._changed[uuid]
            if state is None:
                self._states.pop(uuid, None)
            else:
                self._states[uuid] = state
        return self._states

    def _replace(self, listed_after, states):
        """Take ``states``, listed once the change numbered
        ``listed_after`` was made; later changes keep their marks."""
        self._states = states
        self._taken = time.monotonic()
        self._changed = {uuid: change for uuid, change in self._changed.items()
                         if change > listed_after}

    def _resync_now(self, listed_after):
        states = None
        try:
            states = self._docker.list_instance_states()
        except Exception as e:
            # The next look after the interval tries again. The text, not
            # the exception: a handler may keep the record (pytest's does),
            # and the traceback holds the failed connection's socket open.
            LOG.warning('Could not list the instance containers again: %s',
                        str(e))
        with self._lock:
            self._resyncing = False
            if states is not None and self._taken is not None:
                self._replace(listed_after, states)
