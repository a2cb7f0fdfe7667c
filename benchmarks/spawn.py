"""Spawn latency: DockerDriver with one port plugged into OVS, against a bare
``docker create`` + ``start`` of the same image, measured in the same run.

Starts a private dockerd and a private OVS (as the tests do), runs both
variants interleaved so that machine noise hits both alike, and prints
median/min/max and the ratio against the target (1.15x).

    python -m benchmarks.spawn [--runs N] [--quick]
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', '1')
from nova import monkey_patch  # noqa: E402
monkey_patch.patch()

from nova.network import model as network_model  # noqa: E402
from nova import objects  # noqa: E402
from nova.virt import fake  # noqa: E402
from oslo_utils import uuidutils  # noqa: E402

from novadocker import conf as nd_conf  # noqa: E402
from novadocker.virt.docker import driver  # noqa: E402
from novadocker.virt.docker import images  # noqa: E402
from tests.fixtures import engine as engine_fixture  # noqa: E402
from tests.fixtures import netinfo  # noqa: E402
from tests.fixtures import ovs as ovs_fixture  # noqa: E402
from tests.unit import factories  # noqa: E402

CONF = nd_conf.CONF
TARGET = 1.15


def bare_create_start(api):
    started = time.perf_counter()
    cid = api.create_container(
        engine_fixture.TEST_IMAGE,
        host_config=api.create_host_config(network_mode='none'))['Id']
    api.start(cid)
    elapsed = time.perf_counter() - started
    api.remove_container(cid, force=True)
    return elapsed


def driver_spawn(drv, image_id, index):
    vif = netinfo.simple_vif('10.20.%d.%d' % (index // 250, index % 250 + 2),
                             index=index)
    network_info = network_model.NetworkInfo([vif])
    instance = factories.instance()
    meta = objects.ImageMeta.from_dict({'id': image_id,
                                        'container_format': 'docker'})
    started = time.perf_counter()
    drv.spawn(None, instance, meta, [], None, {}, network_info=network_info)
    elapsed = time.perf_counter() - started
    drv.destroy(None, instance, network_info)
    return elapsed


def summary(name, samples):
    return (name, statistics.median(samples), min(samples), max(samples))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--runs', type=int, default=30)
    parser.add_argument('--quick', action='store_true',
                        help='3 runs, no pass/fail: a smoke run for CI')
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs

    engine = engine_fixture.DockerEngine().start()
    switch = None
    try:
        api = engine.client()
        engine_fixture.build_test_image(api)
        image_id = uuidutils.generate_uuid()
        api.tag(engine_fixture.TEST_IMAGE, images.GLANCE_REPOSITORY,
                image_id)
        switch = ovs_fixture.PrivateOVS().start()
        switch.add_bridge('br-int')
        with ovs_fixture.entered_netns(switch.netns_path):
            CONF([], project='nova')
            CONF.set_override('host_url', engine.url, group='docker')
            CONF.set_override('ovsdb_connection', switch.connection,
                              group='docker_ovs')
            drv = driver.DockerDriver(fake.FakeVirtAPI())
            drv.init_host('bench')
            # Warm-up: first OVSDB connection, image layers in page cache.
            driver_spawn(drv, image_id, 0)
            bare_create_start(api)
            bare, ours = [], []
            for i in range(runs):
                bare.append(bare_create_start(api))
                ours.append(driver_spawn(drv, image_id, i + 1))
            drv.cleanup_host('bench')
    finally:
        if switch:
            switch.stop()
        engine.stop()

    rows = [summary('bare create+start', bare),
            summary('driver spawn, 1 OVS port', ours)]
    print('%-28s %9s %9s %9s' % ('spawn -> running', 'median', 'min', 'max'))
    for name, median, low, high in rows:
        print('%-28s %8.1fms %8.1fms %8.1fms'
              % (name, median * 1000, low * 1000, high * 1000))
    ratio = rows[1][1] / rows[0][1]
    verdict = '' if args.quick else (
        '  PASS' if ratio <= TARGET else '  FAIL')
    print('ratio (median) %.3fx, target <= %.2fx%s' % (ratio, TARGET,
                                                       verdict))
    return 0 if args.quick or ratio <= TARGET else 1


if __name__ == '__main__':
    sys.exit(main())
