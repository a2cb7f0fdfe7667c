"""Recovery after a host reboot, simulated on the real engine and OVS.

A reboot takes away every container process, every network namespace with
the devices in it, the netns links and the engine itself; the OVS database
keeps its ports (it lives on disk). Nova then starts nova-compute: a new
driver's init_host, and resume_state_on_host_boot for every instance that
should run. Each must come back running, with its network, and talking.
"""

import time

from nova.compute import power_state
from nova.network import model as network_model
from nova import objects
from nova.virt import fake
from oslo_utils import uuidutils
from pyroute2 import netns as pyroute2_netns

from novadocker import conf as nd_conf
from novadocker.virt.docker import addressing
from novadocker.virt.docker import client
from novadocker.virt.docker import driver
from novadocker.virt.docker import images
from tests.fixtures import engine as engine_fixture
from tests.fixtures import netinfo
from tests.unit import factories

CONF = nd_conf.CONF
INSTANCES = 3


def reboot_the_host(engine, api, container_ids):
    for cid in container_ids:
        api.kill(cid)
        pyroute2_netns.remove(cid)  # /var/run is a tmpfs: links are gone
    engine.kill()
    engine.start()


def test_every_instance_comes_back_with_its_network(engine, host):
    CONF.set_override('host_url', engine.url, group='docker')
    api = engine.client()
    image_id = uuidutils.generate_uuid()
    api.tag(engine_fixture.TEST_IMAGE, images.GLANCE_REPOSITORY, image_id)
    meta = objects.ImageMeta.from_dict({'id': image_id,
                                        'container_format': 'docker'})
    drv = driver.DockerDriver(fake.FakeVirtAPI())
    instances = []
    for index in range(INSTANCES):
        network_info = network_model.NetworkInfo(
            [netinfo.simple_vif('10.20.0.%d' % (index + 10), index=index)])
        instance = factories.instance()
        instance.info_cache.network_info = network_info
        drv.spawn(None, instance, meta, [], None, {},
                  network_info=network_info)
        instances.append((instance, network_info))
    container_ids = [drv.get_info(i).internal_id for i, _ in instances]
    try:
        reboot_the_host(engine, api, container_ids)
        api.close()
        api = engine.client()

        # nova-compute starts again: a new driver.
        drv = driver.DockerDriver(fake.FakeVirtAPI())
        drv.init_host('testhost')
        assert {drv.get_info(i).state for i, _ in instances} == {
            power_state.SHUTDOWN}
        seconds = []
        for instance, network_info in instances:
            started = time.monotonic()
            drv.resume_state_on_host_boot(None, instance, network_info, None)
            seconds.append(time.monotonic() - started)
        print('resume_state_on_host_boot: %s s per instance' % ', '.join(
            '%.3f' % s for s in seconds))

        for instance, network_info in instances:
            assert drv.get_info(instance).state == power_state.RUNNING
            assert host.ofport(addressing.tap_name(network_info[0])) > 0
        # The first instance reaches the second (10.20.0.11) over br-int.
        exec_id = api.exec_create(
            client.container_name(instances[0][0].uuid),
            ['ping', '-c', '1', '-W', '5', '10.20.0.11'])['Id']
        output = api.exec_start(exec_id).decode()
        assert api.exec_inspect(exec_id)['ExitCode'] == 0, output
    finally:
        for instance, network_info in instances:
            drv.destroy(None, instance, network_info)
        drv.cleanup_host('testhost')
        api.remove_image(images.glance_reference(image_id))
        api.close()
        CONF.clear_override('host_url', group='docker')
