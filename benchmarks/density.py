"""The periodic paths at density: what Nova asks of every compute every
minute, at 20 and 200 running instances, beside the raw engine call.

- list_instances vs one labelled ``containers()`` call (target <= 1.3x);
- get_info(use_cache=False) vs one ``inspect`` (<= 2x, flat in N);
- get_available_resource (<= 100 ms);
- a power-state sync as nova-compute runs it: get_num_instances, then
  get_info of every instance on a thread pool (<= 100 ms).
"""

import concurrent.futures
import time

from benchmarks import report
from novadocker.virt.docker import client
from novadocker.virt.docker import spec
from tests.fixtures import engine as engine_fixture
from tests.unit import factories

TIME_BUDGET_MS = 100


def samples_ms(function, repeat):
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def grow_to(api, instances, count):
    """Run instance containers, labelled as the driver labels them."""
    while len(instances) < count:
        instance = factories.instance(id=len(instances) + 1)
        cid = api.create_container(
            engine_fixture.TEST_IMAGE,
            name=client.container_name(instance.uuid),
            labels=spec.labels(instance),
            host_config=api.create_host_config(network_mode='none'))['Id']
        api.start(cid)
        instances.append(instance)


def power_state_sync(drv, instances, pool):
    """nova-compute's _sync_power_states: a count, then get_info of every
    instance (use_cache=True) on a thread pool."""
    drv.container_states.invalidate()
    drv.get_num_instances()
    list(pool.map(lambda i: drv.get_info(i).state, instances))


def run(env, counts, repeat):
    drv, api, instances, figures = env.driver, env.api, [], []
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        for count in counts:
            grow_to(api, instances, count)
            probe = instances[count // 2]
            name = client.container_name(probe.uuid)
            figures += [
                report.Figure(
                    'list_instances at %d' % count, 'ms',
                    samples_ms(drv.list_instances, repeat),
                    samples_ms(lambda: api.containers(
                        all=True, filters={'label': client.LABEL_UUID}),
                        repeat), 'ratio<=', 1.3),
                report.Figure(
                    'get_info at %d' % count, 'ms',
                    samples_ms(lambda: drv.get_info(probe, use_cache=False),
                               repeat),
                    samples_ms(lambda: api.inspect_container(name), repeat),
                    'ratio<=', 2.0),
                report.Figure(
                    'get_available_resource at %d' % count, 'ms',
                    samples_ms(lambda: drv.get_available_resource('bench'),
                               repeat), [], 'value<=', TIME_BUDGET_MS),
                report.Figure(
                    'power-state sync at %d' % count, 'ms',
                    samples_ms(lambda: power_state_sync(drv, instances, pool),
                               repeat), [], 'value<=', TIME_BUDGET_MS),
            ]
    for instance in instances:
        api.remove_container(client.container_name(instance.uuid), force=True)
    return figures
