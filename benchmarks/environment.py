"""What the benchmarks run on: a private dockerd and a private OVS (as the
tests start them), the busybox image known to the driver as a Glance image,
and a DockerDriver pointed at both."""

import contextlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', '1')
from nova import monkey_patch  # noqa: E402
monkey_patch.patch()

from nova.virt import fake  # noqa: E402
from oslo_utils import uuidutils  # noqa: E402

from novadocker import conf as nd_conf  # noqa: E402
from novadocker.virt.docker import driver  # noqa: E402
from novadocker.virt.docker import images  # noqa: E402
from tests.fixtures import engine as engine_fixture  # noqa: E402
from tests.fixtures import ovs as ovs_fixture  # noqa: E402

CONF = nd_conf.CONF


class Environment:
    def __init__(self, engine, api, switch, image_id, drv):
        self.engine = engine
        self.api = api
        self.switch = switch
        self.image_id = image_id
        self.driver = drv


@contextlib.contextmanager
def started():
    """The environment, inside the OVS namespace (plugged devices must be
    where the userspace vswitchd can open them)."""
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
            CONF.set_override('host_url', engine.url, group='docker')
            # The benchmarks that turn network_sandbox on; a pause image
            # cannot be pulled here, and busybox sleep waits as well.
            CONF.set_override('sandbox_image', engine_fixture.TEST_IMAGE,
                              group='docker')
            CONF.set_override('ovsdb_connection', switch.connection,
                              group='docker_ovs')
            drv = driver.DockerDriver(fake.FakeVirtAPI())
            drv.init_host('bench')
            try:
                yield Environment(engine, api, switch, image_id, drv)
            finally:
                drv.cleanup_host('bench')
    finally:
        if switch:
            switch.stop()
        engine.stop()
