"""Boot a container through Nova's compute-driver interface, step by step.

Loads DockerDriver with nova's own loader and the documented
``compute_driver`` line, then spawns an instance from a busybox image built
here, shows what Nova sees (power states, console log, diagnostics, host
resources) and deletes it. Uses the engine at /var/run/docker.sock when one
answers there, otherwise starts a private dockerd for the run.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', '1')

from nova import monkey_patch  # noqa: E402
monkey_patch.patch()

import docker  # noqa: E402
from nova.compute import power_state  # noqa: E402
from nova import objects  # noqa: E402
from nova.virt import driver as nova_driver  # noqa: E402
from nova.virt import fake  # noqa: E402

from novadocker import conf as nd_conf  # noqa: E402
from novadocker.virt.docker import images  # noqa: E402
from tests.fixtures import engine as engine_fixture  # noqa: E402
from tests.unit import factories  # noqa: E402

CONF = nd_conf.CONF
SYSTEM_ENGINE = 'unix:///var/run/docker.sock'
COMPUTE_DRIVER = 'novadocker.virt.docker.driver.DockerDriver'


def step(message):
    print('==> %s' % message, flush=True)


def engine_url():
    try:
        with docker.APIClient(base_url=SYSTEM_ENGINE, version='auto') as api:
            api.ping()
        step('using the Docker engine at %s' % SYSTEM_ENGINE)
        return SYSTEM_ENGINE, None
    except docker.errors.DockerException:
        engine = engine_fixture.DockerEngine().start()
        step('no engine at %s: started a private dockerd at %s'
             % (SYSTEM_ENGINE, engine.url))
        return engine.url, engine


def main():
    url, private_engine = engine_url()
    CONF([], project='nova')
    CONF.set_override('host_url', url, group='docker')
    try:
        image_id = '00000000-0000-4000-8000-00000000d0c0'
        with docker.APIClient(base_url=url, version='auto') as api:
            engine_fixture.build_test_image(
                api, tag=images.glance_reference(image_id),
                command=('sh', '-c', 'echo "hello from $(hostname)"; '
                         'exec sleep 3600'))
        step('built image %s' % images.glance_reference(image_id))

        drv = nova_driver.load_compute_driver(fake.FakeVirtAPI(),
                                              COMPUTE_DRIVER)
        step('nova loaded compute_driver=%s -> %r' % (COMPUTE_DRIVER, drv))
        drv.init_host(CONF.host)
        resources = drv.get_available_resource(CONF.host)
        step('host: %(vcpus)s vCPUs, %(memory_mb)s MiB, %(local_gb)s GiB, '
             'hypervisor %(hypervisor_type)s %(hypervisor_version)s'
             % resources)

        instance = factories.instance(hostname='demo', memory_mb=128)
        meta = objects.ImageMeta.from_dict({
            'id': image_id, 'name': 'demo', 'container_format': 'docker',
            'disk_format': 'raw', 'properties': {}})
        started = time.monotonic()
        drv.spawn(None, instance, meta, [], None, {},
                  network_info=instance.get_network_info())
        info = drv.get_info(instance)
        step('spawned in %.2f s: container nova-%s (%s), power state %s'
             % (time.monotonic() - started, instance.uuid,
                info.internal_id[:12], power_state.STATE_MAP[info.state]))
        time.sleep(0.5)
        step('console log: %r' % drv.get_console_output(None, instance))
        step('diagnostics: %s' % drv.get_diagnostics(instance))
        drv.reboot(None, instance, instance.get_network_info(), 'HARD')
        step('hard reboot -> %s' % power_state.STATE_MAP[
            drv.get_info(instance).state])
        drv.power_off(instance, timeout=2)
        step('stopped -> %s' % power_state.STATE_MAP[
            drv.get_info(instance).state])
        drv.destroy(None, instance, instance.get_network_info())
        step('deleted; instances left: %s' % drv.list_instances())
        drv.cleanup_host(CONF.host)
    finally:
        if private_engine:
            private_engine.stop()


if __name__ == '__main__':
    main()
