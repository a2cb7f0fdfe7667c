"""Spawn and destroy through the driver, one at a time and ten at once,
beside the bare engine doing the same container work, measured in the same
run and interleaved so that machine noise hits both alike.

- spawn -> running with one port plugged into OVS vs ``create`` + ``start``
  (target <= 1.05x, issue #17), and vs the same with the least a port
  costs done by hand (<= 1.05x: the driver's own share);
- destroy (stop, unplug, remove) vs ``rm -f`` + deleting a veth
  (<= 1.0x);
- 10 concurrent spawns: throughput >= 0.95x of 10 concurrent bare
  create + start, and of the same with their ports by hand;
- with ``[docker] network_sandbox`` (opt-in), what the network from the
  first instruction costs and saves: spawn vs bare create + start (<= 1.3x,
  though it is two containers' work: two engine starts, one after the
  other), the same spawn vs those two containers made and started by hand
  (<= 1.05x, as a plain spawn: the driver's own share), and a hard reboot
  vs the same reboot without a sandbox (<= 1x: the ports stay plugged).
"""

import concurrent.futures
import itertools
import time

from nova.network import model as network_model
from nova import objects
from pyroute2 import IPRoute

from benchmarks import report
from novadocker import conf as nd_conf
from novadocker.virt.docker import ovsdb
from tests.fixtures import engine as engine_fixture
from tests.fixtures import netinfo
from tests.unit import factories

CONCURRENT = 10
OVSDB_TIMEOUT = 10


def _ms(started):
    return (time.perf_counter() - started) * 1000


class Lifecycle:
    def __init__(self, env):
        self.env = env
        self.meta = objects.ImageMeta.from_dict(
            {'id': env.image_id, 'container_format': 'docker'})
        self.ports = 0
        self._taps = itertools.count()

    def _port(self):
        self.ports += 1
        return network_model.NetworkInfo([netinfo.simple_vif(
            '10.%d.%d.%d' % (20 + self.ports // 62500,
                             self.ports // 250 % 250, self.ports % 250 + 2),
            index=self.ports % 65536)])

    def _bare_create(self, network_mode='none'):
        api = self.env.api
        return api.create_container(
            engine_fixture.TEST_IMAGE,
            host_config=api.create_host_config(
                network_mode=network_mode))['Id']

    def bare_spawn(self):
        started = time.perf_counter()
        cid = self._bare_create()
        self.env.api.start(cid)
        return _ms(started), cid

    def bare_pair_spawn(self):
        """What ``network_sandbox`` asks of the engine, by hand: a
        container holding the namespace, started, then one joining it."""
        started = time.perf_counter()
        holder = self._bare_create()
        self.env.api.start(holder)
        cid = self._bare_create('container:' + holder)
        self.env.api.start(cid)
        return _ms(started), (cid, holder)

    def port_by_hand_spawn(self):
        """create + start, and the least one OVS port costs, by hand with
        the libraries the driver uses: the container's pid, a veth pair
        whose peer is made in its namespace, the host end up, and the
        port on br-int once ovs-vswitchd took it (no address, no route)."""
        started = time.perf_counter()
        cid = self._bare_create()
        self.env.api.start(cid)
        pid = self.env.api.inspect_container(cid)['State']['Pid']
        tap = 'hand%d' % next(self._taps)
        with IPRoute() as ipr:
            ipr.link('add', ifname=tap, kind='veth',
                     peer={'ifname': 'eth0', 'net_ns_pid': pid})
            ipr.link('set', ifname=tap, state='up')
        ovsdb.add_port(self.env.switch.connection, OVSDB_TIMEOUT, 'br-int',
                       tap, {'iface-id': tap})
        return _ms(started), (cid, tap)

    def port_by_hand_remove(self, spawned):
        cid, tap = spawned
        ovsdb.delete_port(self.env.switch.connection, OVSDB_TIMEOUT, tap)
        self.env.api.remove_container(cid, force=True)

    def bare_pair_remove(self, pair):
        for cid in pair:
            self.env.api.remove_container(cid, force=True)

    def bare_destroy(self, cid):
        """rm -f, and the veth delete a port costs at the least."""
        with IPRoute() as ipr:
            ipr.link('add', ifname='bench-a', kind='veth', peer='bench-b')
            started = time.perf_counter()
            self.env.api.remove_container(cid, force=True)
            ipr.link('del', ifname='bench-a')
        return _ms(started)

    def driver_spawn(self):
        instance, network_info = factories.instance(), self._port()
        started = time.perf_counter()
        self.env.driver.spawn(None, instance, self.meta, [], None, {},
                              network_info=network_info)
        return _ms(started), (instance, network_info)

    def sandboxed_spawn(self):
        nd_conf.CONF.set_override('network_sandbox', True, group='docker')
        try:
            return self.driver_spawn()
        finally:
            nd_conf.CONF.clear_override('network_sandbox', group='docker')

    def driver_reboot(self, spawned):
        instance, network_info = spawned
        started = time.perf_counter()
        self.env.driver.reboot(None, instance, network_info, 'HARD')
        return _ms(started)

    def driver_destroy(self, spawned):
        instance, network_info = spawned
        started = time.perf_counter()
        self.env.driver.destroy(None, instance, network_info)
        return _ms(started)

    def bare_remove(self, cid):
        self.env.api.remove_container(cid, force=True)

    def concurrent(self, spawn, remove):
        """Spawns per second with CONCURRENT spawns at once."""
        with concurrent.futures.ThreadPoolExecutor(CONCURRENT) as pool:
            started = time.perf_counter()
            results = list(pool.map(lambda _: spawn(), range(CONCURRENT)))
            elapsed = _ms(started)
            list(pool.map(lambda r: remove(r[1]), results))
        return CONCURRENT * 1000 / elapsed


def run(env, runs, rounds):
    bench = Lifecycle(env)
    # Warm-up: the first OVSDB connection, the image in the page cache.
    bench.driver_destroy(bench.driver_spawn()[1])
    bench.bare_destroy(bench.bare_spawn()[1])
    bench.port_by_hand_remove(bench.port_by_hand_spawn()[1])
    spawn = {'driver': [], 'bare': [], 'by hand': []}
    destroy = {'driver': [], 'bare': []}
    for _ in range(runs):
        elapsed, cid = bench.bare_spawn()
        spawn['bare'].append(elapsed)
        elapsed, by_hand = bench.port_by_hand_spawn()
        spawn['by hand'].append(elapsed)
        bench.port_by_hand_remove(by_hand)
        elapsed, spawned = bench.driver_spawn()
        spawn['driver'].append(elapsed)
        destroy['bare'].append(bench.bare_destroy(cid))
        destroy['driver'].append(bench.driver_destroy(spawned))
    sandboxed = {'spawn': [], 'reboot': [], 'bare': [], 'plain reboot': [],
                 'bare pair': []}
    for _ in range(runs):
        elapsed, cid = bench.bare_spawn()
        sandboxed['bare'].append(elapsed)
        bench.bare_remove(cid)
        elapsed, pair = bench.bare_pair_spawn()
        sandboxed['bare pair'].append(elapsed)
        bench.bare_pair_remove(pair)
        elapsed, spawned = bench.sandboxed_spawn()
        sandboxed['spawn'].append(elapsed)
        sandboxed['reboot'].append(bench.driver_reboot(spawned))
        bench.driver_destroy(spawned)
        spawned = bench.driver_spawn()[1]
        sandboxed['plain reboot'].append(bench.driver_reboot(spawned))
        bench.driver_destroy(spawned)
    together = {'driver': [], 'bare': [], 'by hand': []}
    for _ in range(rounds):
        together['bare'].append(bench.concurrent(bench.bare_spawn,
                                                 bench.bare_remove))
        together['by hand'].append(bench.concurrent(
            bench.port_by_hand_spawn, bench.port_by_hand_remove))
        together['driver'].append(bench.concurrent(bench.driver_spawn,
                                                   bench.driver_destroy))
    return [
        report.Figure('spawn -> running, 1 OVS port', 'ms', spawn['driver'],
                      spawn['bare'], 'ratio<=', 1.05),
        report.Figure('spawn -> running, 1 OVS port (vs create+start and '
                      'the port by hand)', 'ms', spawn['driver'],
                      spawn['by hand'], 'ratio<=', 1.05),
        report.Figure('destroy (stop, unplug, remove)', 'ms',
                      destroy['driver'], destroy['bare'], 'ratio<=', 1.0),
        report.Figure('%d concurrent spawns' % CONCURRENT, 'spawns/s',
                      together['driver'], together['bare'], 'ratio>=', 0.95),
        report.Figure('%d concurrent spawns (vs the same with their ports by '
                      'hand)' % CONCURRENT, 'spawns/s', together['driver'],
                      together['by hand'], 'ratio>=', 0.95),
        report.Figure('spawn, network_sandbox (vs create+start)', 'ms',
                      sandboxed['spawn'], sandboxed['bare'], 'ratio<=', 1.3),
        report.Figure('spawn, network_sandbox (vs the two containers by '
                      'hand)', 'ms', sandboxed['spawn'],
                      sandboxed['bare pair'], 'ratio<=', 1.05),
        report.Figure('hard reboot, network_sandbox (vs without)', 'ms',
                      sandboxed['reboot'], sandboxed['plain reboot'],
                      'ratio<=', 1.0),
    ]
