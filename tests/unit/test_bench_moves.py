"""Where a cold migration's time goes, as the moves benchmark reads it
from the two nova-compute logs (benchmarks/moves.py)."""

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


def test_each_phase_ends_at_its_mark_in_either_log(tmp_path):
    steps = moves.phases(_layout(tmp_path), SERVER, SINCE, SINCE + 17)
    assert [name for name, _ in steps] == [
        name for name, _, _ in moves.MARKS] + ['until VERIFY_RESIZE seen']
    assert [round(s, 3) for _, s in steps] == [
        5.025, 0.63, 0.63, 2.0, 1.068, 4.5, 2.273, 0.874]
    assert sum(s for _, s in steps) == pytest.approx(17)


def test_a_missing_mark_merges_its_phase_into_the_next(tmp_path):
    layout = _layout(tmp_path, node_1=[NODE_1[0]] + NODE_1[2:])
    steps = dict(moves.phases(layout, SERVER, SINCE, SINCE + 17))
    assert steps['to node 1 + stop, unplug, commit'] == pytest.approx(1.26)
    assert steps['docker save -> Glance'] == 2.0
