"""Where a boot's time goes through the real cloud, as the cloud benchmark
reads it from nova-compute's log, the engine's events and Neutron's request
log (benchmarks/cloud.py)."""

import contextlib
import datetime
import os
import types
from unittest import mock

import pytest

from benchmarks import cloud
from novadocker_cloud import layout as cloud_layout

SERVER = 'c9aa3465-1256-40ad-b2b2-3ce96dae2168'
OTHER = '8e52bdcf-b8af-4400-a60c-c5ce5d2a6060'
PORT = '2c26ae79-0000-4000-8000-000000000001'
POSTED = datetime.datetime(2026, 11, 30, 9, 0, 0).timestamp()
COMPUTE_LOG = [
    ('09:00:00.900', OTHER, 'Claim successful on node vm'),
    ('09:00:01.000', SERVER, 'Claim successful on node vm'),
    ('09:00:02.100', SERVER, 'Attached 1 port(s) to container 3b86'),
    ('09:00:03.300', SERVER, 'Serial console on 127.0.0.1:10000'),
    ('09:00:03.400', SERVER, 'Spawned container nova-' + SERVER),
    ('09:00:03.400', SERVER, 'Took 2.30 seconds to spawn the instance on '
                             'the hypervisor.'),
    ('09:00:03.500', SERVER, 'Took 2.50 seconds to build instance.'),
]
NEUTRON_LOG = [
    '[pid: 1|app: 0|req: 2/3] 127.0.0.1 () {38 vars in 963 bytes} [Mon Nov '
    '30 09:00:01 2026] PUT /v2.0/ports/%s => generated 977 bytes in 543 '
    'msecs (HTTP/1.1 200) 4 headers in 157 bytes' % PORT,
    '[pid: 1|app: 0|req: 9/9] 127.0.0.1 () {38 vars in 963 bytes} [Mon Nov '
    '30 09:00:09 2026] PUT /v2.0/ports/%s => generated 900 bytes in 80 '
    'msecs (HTTP/1.1 200) 4 headers in 157 bytes' % PORT,
]


class Engine:
    def __init__(self, events):
        self._events = events

    def events(self, since, until, decode):
        return iter(self._events)


def _event(seconds, action, name):
    return {'Type': 'container', 'Action': action,
            'timeNano': int((POSTED + seconds) * 1e9),
            'Actor': {'ID': 'x', 'Attributes': {'name': name}}}


@pytest.fixture
def boots(tmp_path, monkeypatch):
    layout = cloud_layout.Layout(str(tmp_path / 'state'),
                                 str(tmp_path / 'etc'))
    os.makedirs(layout.logs)
    with open(layout.log('nova-compute'), 'w') as f:
        for when, uuid, message in COMPUTE_LOG:
            f.write('2026-11-30 %s 6463 INFO nova.compute.manager [None '
                    'req-0da46dcb admin demo - - default default] '
                    '[instance: %s] %s\n' % (when, uuid, message))
    with open(layout.log('neutron-api'), 'w') as f:
        f.write('\n'.join(NEUTRON_LOG) + '\n')
    engine = Engine([_event(1.2, 'create', 'nova-' + OTHER),
                     _event(1.8, 'create', 'nova-' + SERVER),
                     _event(2.0, 'start', 'nova-' + SERVER)])
    monkeypatch.setattr(cloud.audit, 'nodes', lambda layout: [
        types.SimpleNamespace(engine=lambda: contextlib.nullcontext(engine))])
    found = cloud.Boots(layout, mock.Mock(), image=None)
    found.times[SERVER] = {'posted': POSTED, 'accepted': POSTED + 0.4,
                           'active': POSTED + 3.6, 'port': PORT}
    return found


def test_a_boot_is_divided_at_each_mark(boots):
    steps = boots.phases(SERVER)
    assert {phase: round(seconds, 3) for phase, seconds in steps.items()
            } == {'POST /servers': 0.4,
                  'conductor, scheduler, Placement, claim': 0.6,
                  'port binding, image, engine create': 0.8,
                  'engine start': 0.2,
                  'port plugging': 0.1,
                  'waiting for network-vif-plugged': 1.3,
                  'Nova records ACTIVE': 0.1,
                  'until the client sees ACTIVE': 0.1,
                  "of which Neutron's port update": 0.543}
    assert boots.seconds(SERVER) == pytest.approx(3.6)


def test_cpu_is_counted_per_process_and_per_boot(boots, monkeypatch):
    readings = iter([{'neutron-api': 10.0, 'nova-api': 5.0},
                     {'neutron-api': 13.0, 'nova-api': 5.01,
                      'dockerd': 0.5}])
    monkeypatch.setattr(cloud.status, 'cpu_seconds',
                        lambda layout: next(readings))
    with boots._cpu_of(cloud.ONE_AT_A_TIME):
        pass
    # A process that appeared counts from zero; one below CPU_SHOWN per
    # boot is left out.
    assert boots.cpu_per_boot(cloud.ONE_AT_A_TIME, 2) == {
        'neutron-api': 1.5, 'dockerd': 0.25}


@pytest.fixture
def ticking_clock(monkeypatch):
    """The benchmark's clock gains a second at each reading; its sleeps
    return at once."""
    clock = iter(range(100))
    monkeypatch.setattr(cloud.time, 'time', lambda: next(clock))
    monkeypatch.setattr(cloud.time, 'sleep', lambda seconds: None)


def test_the_client_looks_at_the_list_and_fetches_the_server_rarely(
        ticking_clock):
    conn = mock.Mock()
    conn.compute.servers.side_effect = [[], [], [], ['found']]
    conn.compute.get_server.return_value = mock.Mock(status='BUILD')
    server, marks = cloud._boot(conn, mock.Mock(id='i'), mock.Mock(id='f'),
                                mock.Mock(id='n'), 'bench-7')
    conn.compute.servers.assert_called_with(
        details=False, status='ACTIVE', name='^bench-7$')
    # The one full fetch comes with the first look past FAILURE_LOOK.
    assert conn.compute.get_server.call_count == 1
    assert marks['posted'] == 0 and marks['active'] > marks['accepted']


def test_a_failed_boot_is_reported_by_the_full_fetch(ticking_clock):
    conn = mock.Mock()
    conn.compute.servers.return_value = []
    conn.compute.get_server.return_value = mock.Mock(
        status='ERROR', fault={'message': 'No valid host'})
    with pytest.raises(RuntimeError, match='No valid host'):
        cloud._boot(conn, mock.Mock(id='i'), mock.Mock(id='f'),
                    mock.Mock(id='n'), 'bench-8')


def test_first_boots_read_each_load_and_leave_no_image(boots, monkeypatch):
    """Each first boot's image goes from Glance and the engine, even when
    the boot fails; its load time comes from nova-compute's log."""
    images = [mock.Mock(id='6f1c0c8e-0000-4000-8000-00000000000%d' % n)
              for n in (1, 2)]
    monkeypatch.setattr(cloud, '_image', lambda conn, mib: images.pop(0))
    engine = mock.MagicMock()
    monkeypatch.setattr(cloud.audit, 'nodes', lambda layout: [
        types.SimpleNamespace(engine=lambda: engine)])
    with open(boots.layout.log('nova-compute'), 'a') as f:
        f.write('2026-11-30 09:01:00.000 6463 INFO novadocker.virt.docker.'
                'images [None req-1 admin demo - - default default] '
                '[instance: %s] Loaded image %s (docker save of bench:1) '
                'from Glance as sha256:ab: 134 MB in 0.8 s, 160 MB/s\n'
                % (SERVER, images[0].id))
    boot = mock.Mock(side_effect=[SERVER, RuntimeError('boot failed')])
    monkeypatch.setattr(boots, '_boot_and_delete', boot)
    assert boots.first_boots(1, 128) == ([SERVER], [0.8])
    second = images[0].id
    with pytest.raises(RuntimeError, match='boot failed'):
        boots.first_boots(1, 128)
    boots.conn.image.delete_image.assert_called_with(mock.ANY)
    assert boots.conn.image.delete_image.call_count == 2
    engine.__enter__().remove_image.assert_called_with(
        'openstack-glance:' + second)


def test_a_boot_missing_a_mark_is_left_out_of_the_medians():
    whole = {'POST /servers': 0.4, 'engine start': 0.2}
    merged = {'POST /servers': 0.5, 'engine start + port plugging': 0.0}
    boots = mock.Mock()
    boots.phases.side_effect = [whole, whole, merged]
    assert cloud._phase_medians(boots, ['a', 'b', 'c']) == whole
    boots.phases.side_effect = [merged]
    assert cloud._phase_medians(boots, ['c']) == merged
