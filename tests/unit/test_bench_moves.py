"""Where a cold migration's time goes, as the moves benchmark reads it
from the two nova-compute logs and the two engines' events
(benchmarks/moves.py)."""

import datetime
import os

import pytest

from benchmarks import moves
from novadocker_cloud import layout as cloud_layout

SERVER = 'c9aa3465-1256-40ad-b2b2-3ce96dae2168'
OTHER = '8e52bdcf-b8af-4400-a60c-c5ce5d2a6060'
SINCE = datetime.datetime(2026, 11, 30, 2, 59, 12).timestamp()
NODE_1 = [
    ('02:59:11.863', SERVER, 'Spawned container nova-' + SERVER),
    ('02:59:17.655', SERVER, 'Serial console on 127.0.0.1:10000 closed'),
    ('02:59:20.285', SERVER, 'Uploaded snapshot 84bd002d: 100 MB in 2.0 s, '
                             '50 MB/s'),
    ('02:59:20.285', SERVER, 'Committed the container into novadocker-moved:'
                             + SERVER),
]
NODE_2 = [
    ('02:59:17.025', SERVER, 'Claim successful on node vm-node2'),
    ('02:59:17.300', OTHER, 'Claim successful on node vm-node2'),
    ('02:59:20.650', SERVER, "Updating port 2c26ae79 with attributes "
                             "{'binding:host_id': 'vm-node2'}"),
    ('02:59:25.853', SERVER, 'Loaded image 84bd002d (docker save of an '
                             'untagged image) from Glance as sha256:8748: '
                             '100 MB in 4.5 s, 22 MB/s'),
    ('02:59:28.126', SERVER, 'Spawned container nova-' + SERVER),
]


def _layout(tmp_path, node_1=NODE_1, node_2=NODE_2):
    layout = cloud_layout.Layout(str(tmp_path / 'state'),
                                 str(tmp_path / 'etc'), 2)
    os.makedirs(layout.logs)
    for name, lines in zip(moves.COMPUTES, (node_1, node_2)):
        with open(layout.log(name), 'w') as f:
            for when, uuid, message in lines:
                f.write('2026-11-30 %s 6463 INFO nova.compute.manager '
                        '[None req-0da46dcb admin demo - - default default] '
                        '[instance: %s] %s\n' % (when, uuid, message))
            f.write('2026-11-30 02:59:20.000 6463 WARNING neutronclient '
                    'deprecated\n')
    return layout


class Engine:
    def __init__(self, events):
        self._events = events

    def events(self, since, until, decode):
        assert since <= SINCE and decode
        return iter(self._events)


def _event(seconds, kind, action, name=None):
    return {'Type': kind, 'Action': action, 'timeNano': int(
        (SINCE + seconds) * 1e9), 'Actor': {'ID': 'x', 'Attributes': {
            'name': name} if name else {}}}


def test_the_marks_come_from_both_logs_and_both_engines(tmp_path):
    ours = 'nova-' + SERVER
    engines = [Engine([_event(5.8, 'container', 'stop', 'nova-' + OTHER),
                       _event(5.9, 'container', 'stop', ours),
                       _event(6.7, 'container', 'commit', ours),
                       _event(8.1, 'image', 'save')]),
               Engine([_event(13.8, 'image', 'load')])]
    found = moves.marks(_layout(tmp_path), engines, SERVER, SINCE,
                        SINCE + 17)
    # The seconds the driver logged its transfers took.
    assert (found.pop('uploaded for'), found.pop('loaded for')) == (2, 4.5)
    assert {mark: round(when - SINCE, 3) for mark, when in found.items()
            } == {'claimed': 5.025, 'source begins': 5.655, 'stopped': 5.9,
                  'committed': 6.7, 'saving': 8.1, 'uploaded': 8.285,
                  'port bound': 8.65, 'loaded': 13.853, 'spawned': 16.126}


def test_each_phase_ends_at_its_mark():
    found = {mark: SINCE + i + 1 for i, (_, mark) in enumerate(
        moves.PLAN.phases)}
    steps = moves.phases(found, SINCE, SINCE + 17)
    assert steps == [(name, 1) for name, _ in moves.PLAN.phases] + [
        (moves.PLAN.last_phase, 17 - len(moves.PLAN.phases))]


def test_a_missing_mark_merges_its_phase_into_the_next():
    found = {'claimed': SINCE + 2, 'stopped': SINCE + 3,
             'committed': SINCE + 1}
    assert moves.phases(found, SINCE, SINCE + 10) == [
        ('API, conductor, scheduler, claim on node 2', 2),
        ('to node 1 + stop', 1),
        ('unplug, commit + docker save, to its first byte + docker save '
         '-> Glance + remove, to node 2, port binding + network info, '
         'Glance -> docker load + create, start, plug, vif-plugged + '
         + moves.PLAN.last_phase, 7)]
    assert sum(s for _, s in moves.phases({}, SINCE, SINCE + 10)) == (
        pytest.approx(10))
