"""The periodic paths at density: what Nova asks of every compute every
minute, at 20, 200 and 500 running instances spawned through the driver,
beside the raw engine call, and the memory the driver's process holds for
them.

- list_instances vs one labelled ``containers()`` call (target <= 1.3x);
- get_info(use_cache=False) vs one ``inspect`` (<= 2x, flat in N);
- get_available_resource (<= 100 ms);
- a power-state sync as nova-compute runs it: get_num_instances, then
  get_info of every instance on a thread pool (<= 100 ms);
- the process's resident memory beyond its baseline, per instance (<= 1
  MiB): what the driver keeps for each (Nova's own objects of a real
  nova-compute are not in it).

The driver runs as in nova-compute: init_host started following the
engine's events, so the states are listed once and kept by them
(states.py); the first sample of each figure pays for the reads the
growth's events left.
"""

import concurrent.futures
import gc
import time

from nova.network import model as network_model
from nova import objects

from benchmarks import memory
from benchmarks import report
from novadocker.virt.docker import client
from tests.fixtures import polling
from tests.unit import factories

TIME_BUDGET_MS = 100
MEMORY_BUDGET_KIB = 1024
# Spawns at once while growing: enough to keep the engine busy.
GROWERS = 8


def samples_ms(function, repeat):
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


class Fleet:
    """Instances spawned through the driver, without ports."""

    def __init__(self, drv, image_id):
        self.drv = drv
        self.meta = objects.ImageMeta.from_dict(
            {'id': image_id, 'container_format': 'docker'})
        self.instances = []

    def spawn(self, instance):
        self.drv.spawn(None, instance, self.meta, [], None, {},
                       network_info=network_model.NetworkInfo())

    def destroy(self, instance):
        self.drv.destroy(None, instance, network_model.NetworkInfo())

    def grow_to(self, count):
        new = [factories.instance(id=n + 1)
               for n in range(len(self.instances), count)]
        with concurrent.futures.ThreadPoolExecutor(GROWERS) as growers:
            list(growers.map(self.spawn, new))
        self.instances += new

    def remove_all(self):
        with concurrent.futures.ThreadPoolExecutor(GROWERS) as removers:
            list(removers.map(self.destroy, self.instances))
        self.instances = []


def resident_kib():
    """This process's resident memory, its garbage collected first."""
    gc.collect()
    return memory.status_kib('VmRSS')


def power_state_sync(drv, instances, pool):
    """nova-compute's _sync_power_states: a count, then get_info of every
    instance (use_cache=True) on a thread pool."""
    drv.get_num_instances()
    list(pool.map(lambda i: drv.get_info(i).state, instances))


def run(env, counts, repeat):
    drv, api, figures = env.driver, env.api, []
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        fleet = Fleet(drv, env.image_id)
        # Warm-up: what the first spawn loads is not per instance.
        warm = factories.instance(id=0)
        fleet.spawn(warm)
        fleet.destroy(warm)
        # init_host opened the event stream on a thread of its own.
        if not polling.eventually(
                lambda: drv.container_states.kept_by_events):
            raise RuntimeError('the driver does not follow the engine\'s '
                               'events: the figures would not be '
                               'nova-compute\'s')
        baseline_kib = resident_kib()
        try:
            for count in counts:
                fleet.grow_to(count)
                figures += _periodic_figures(drv, api, fleet.instances,
                                             count, repeat, pool)
                figures.append(report.Figure(
                    'driver process memory per instance at %d' % count,
                    'KiB', [(resident_kib() - baseline_kib) / count], [],
                    'value<=', MEMORY_BUDGET_KIB))
        finally:
            fleet.remove_all()
    return figures


def _periodic_figures(drv, api, instances, count, repeat, pool):
    probe = instances[count // 2]
    name = client.container_name(probe.uuid)
    return [
        report.Figure(
            'list_instances at %d' % count, 'ms',
            samples_ms(drv.list_instances, repeat),
            samples_ms(lambda: api.containers(
                all=True, filters={'label': client.LABEL_UUID}), repeat),
            'ratio<=', 1.3),
        report.Figure(
            'get_info at %d' % count, 'ms',
            samples_ms(lambda: drv.get_info(probe, use_cache=False),
                       repeat),
            samples_ms(lambda: api.inspect_container(name), repeat),
            'ratio<=', 2.0),
        report.Figure(
            'get_available_resource at %d' % count, 'ms',
            samples_ms(lambda: drv.get_available_resource('bench'), repeat),
            [], 'value<=', TIME_BUDGET_MS),
        report.Figure(
            'power-state sync at %d' % count, 'ms',
            samples_ms(lambda: power_state_sync(drv, instances, pool),
                       repeat), [], 'value<=', TIME_BUDGET_MS),
    ]
