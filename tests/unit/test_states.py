"""What the instances' states cost and how fresh they are
(states.ContainerStates): listed once, then kept by the engine's events."""

import threading
from unittest import mock

from novadocker.virt.docker import client
from novadocker.virt.docker import states

WAIT = 5


def state(status='running', uuid='u1'):
    own = {'Id': uuid + '-id', 'State': status}
    return client.InstanceState(own, own)


class Engine:
    """A docker client whose list and single reads are counted."""

    def __init__(self, listed):
        self.listed = listed
        self.lists = 0
        self.reads = []

    def list_instance_states(self):
        self.lists += 1
        return dict(self.listed)

    def instance_state(self, uuid):
        self.reads.append(uuid)
        return self.listed.get(uuid)


def test_without_events_one_list_serves_until_a_change():
    engine = Engine({'u1': state(), 'u2': state(uuid='u2')})
    kept = states.ContainerStates(engine)
    assert kept.count() == 2
    assert kept.get('u1') == state()
    assert engine.lists == 1
    kept.changed('u1')
    assert kept.get('u2') == state(uuid='u2')
    assert (engine.lists, engine.reads) == (2, [])


def test_without_events_a_list_serves_only_its_max_age():
    engine = Engine({'u1': state()})
    kept = states.ContainerStates(engine, max_age=0)
    kept.get('u1')
    kept.get('u1')
    assert engine.lists == 2


def test_with_events_a_change_costs_one_read_of_that_instance():
    engine = Engine({'u1': state(), 'u2': state(uuid='u2')})
    kept = states.ContainerStates(engine, max_age=0)
    kept.following(True)
    assert kept.count() == 2
    engine.listed['u1'] = state('exited')
    engine.listed['u3'] = state(uuid='u3')
    del engine.listed['u2']
    for uuid in ('u1', 'u2', 'u3'):
        kept.changed(uuid)
    assert kept.get('u1') == state('exited')
    assert kept.get('u2') is None
    assert set(kept.all()) == {'u1', 'u3'}
    assert engine.lists == 1
    assert sorted(engine.reads) == ['u1', 'u2', 'u3']


def test_many_changes_at_once_cost_one_list():
    engine = Engine({'u%d' % n: state(uuid='u%d' % n) for n in range(20)})
    kept = states.ContainerStates(engine)
    kept.following(True)
    kept.count()
    for uuid in list(engine.listed)[:states.MOST_READS + 1]:
        kept.changed(uuid)
    assert kept.count() == 20
    assert (engine.lists, engine.reads) == (2, [])


def test_losing_the_events_lists_again():
    engine = Engine({'u1': state()})
    kept = states.ContainerStates(engine)
    kept.following(True)
    kept.count()
    kept.following(False)
    kept.count()
    assert engine.lists == 2


def test_an_old_list_is_taken_again_without_making_a_look_wait():
    engine = Engine({'u1': state()})
    kept = states.ContainerStates(engine, resync_interval=0)
    kept.following(True)
    kept.count()
    listing, release = threading.Event(), threading.Event()

    def slow_list():
        listing.set()
        assert release.wait(WAIT)
        return {'u1': state('exited')}
    engine.list_instance_states = slow_list
    # The look that finds the list old answers from it at once...
    assert kept.get('u1') == state()
    assert listing.wait(WAIT)
    # ...and while the new list runs, no second one starts.
    assert kept.get('u1') == state()
    release.set()
    for thread in threading.enumerate():
        if thread.name == states.RESYNC_THREAD_NAME:
            thread.join(WAIT)
    assert kept.get('u1') == state('exited')


def test_a_change_made_while_a_list_runs_is_read_again():
    """The list may have been answered before the change: its mark
    stays."""
    engine = Engine({'u1': state()})
    kept = states.ContainerStates(engine)
    kept.following(True)
    kept.count()

    def list_during_a_change():
        kept.changed('u1')
        engine.listed['u1'] = state('paused')
        return {'u1': state()}
    engine.list_instance_states = list_during_a_change
    kept._resync_now(kept._changes)
    assert kept.get('u1') == state('paused')
    assert engine.reads == ['u1']


def test_a_failed_resync_keeps_the_states_and_is_tried_again(caplog):
    engine = Engine({'u1': state()})
    kept = states.ContainerStates(engine)
    kept.following(True)
    kept.count()
    engine.list_instance_states = mock.Mock(side_effect=OSError('gone'))
    kept._resyncing = True
    kept._resync_now(kept._changes)
    assert not kept._resyncing
    assert kept.get('u1') == state()
    # Said as text: a kept record holding the exception would hold its
    # traceback, and with it the failed connection's socket, open.
    assert 'gone' in caplog.text
    assert not [arg for record in caplog.records for arg in record.args
                if isinstance(arg, BaseException)]
