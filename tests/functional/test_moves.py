"""Resize and cold migration on a real engine: the container's data moves
with it, its limits follow the flavor, a revert gives back both as they
were, and a failed step leaves the instance as it was and nothing behind.

Nova's compute manager is played by hand, call by call, as it drives a
driver through a move (``_resize_instance``, ``_finish_resize``,
``confirm_resize``, ``revert_resize`` and ``finish_revert_resize``): it
sets the new flavor before finish_migration and the old one back before
finish_revert_migration. A move to another host is played on this one
engine: the destination ``dest`` is another address, so the moved image
travels through Glance.
"""

from tests.fixtures import glance as glance_fixture  # noqa: I100 first

from nova import context as nova_context
from nova import exception
from nova import objects
from oslo_serialization import jsonutils
import pytest

from novadocker import conf as nd_conf
from novadocker.virt.docker import moves
from tests.fixtures import faults
from tests.functional.test_driver import docker_driver  # noqa: F401
from tests.functional.test_driver import IMAGE_ID
from tests.functional.test_driver import image_meta
from tests.functional.test_driver import run_in
from tests.functional.test_driver import spawn
from tests.unit import factories

CONF = nd_conf.CONF
OTHER_HOST = '192.0.2.7'
MB = 1024 * 1024


def flavor(memory_mb, vcpus):
    return objects.Flavor(name='m%d' % memory_mb, memory_mb=memory_mb,
                          vcpus=vcpus, root_gb=1, ephemeral_gb=0, swap=0,
                          extra_specs={})


@pytest.fixture
def glance():
    with glance_fixture.GlanceFixture() as service:
        yield service


@pytest.fixture
def context():
    return nova_context.get_admin_context()


@pytest.fixture
def written(
        docker_driver, glance):  # noqa: F811
    """A running instance (64 MB, 1 vCPU) that wrote /marker. Once it is
    destroyed, the engine holds the images it held before the move: none of
    the layers the move made stays."""
    instance = factories.instance(memory_mb=64, vcpus=1, image_ref=IMAGE_ID)
    spawn(docker_driver, instance)
    images_before = image_ids(docker_driver)
    run_in(docker_driver.docker.api, instance, 'sh', '-c',
           'echo before the move > /marker')
    yield instance
    docker_driver.destroy(None, instance, None)
    moves.forget(docker_driver.docker, instance)
    assert image_ids(docker_driver) == images_before


def image_ids(drv):
    return {image['Id'] for image in drv.docker.api.images(all=True)}


def limits(drv, instance):
    host = drv.docker.inspect(instance)['HostConfig']
    return host['Memory'] // MB, host['CpuShares']


def read(drv, instance, path):
    return run_in(drv.docker.api, instance, 'cat', path)


def resize(drv, context, instance, new_flavor, dest):
    """Nova's resize up to the state VERIFY_RESIZE; the disk info."""
    disk_info = drv.migrate_disk_and_power_off(
        context, instance, dest, new_flavor, instance.get_network_info())
    assert drv.docker.find(instance) is None
    instance.old_flavor, instance.flavor = instance.flavor, new_flavor
    drv.finish_migration(context, objects.Migration(), instance, disk_info,
                         instance.get_network_info(), image_meta(), True,
                         {}, power_on=True)
    return disk_info


def glance_id(disk_info):
    """The Glance image that carried the moved image, or None."""
    return jsonutils.loads(disk_info)['glance_id']


def moved_image_exists(drv, instance):
    return drv.docker.image_exists(moves.moved_reference(instance))


def test_resize_on_the_same_host_then_confirm(
        docker_driver, written, context):  # noqa: F811
    resize(docker_driver, context, written, flavor(128, 2), CONF.my_ip)
    assert limits(docker_driver, written) == (128, 2048)
    assert read(docker_driver, written, '/marker') == 'before the move\n'
    assert moved_image_exists(docker_driver, written)  # for a revert

    docker_driver.confirm_migration(context, objects.Migration(), written,
                                    written.get_network_info())
    assert not moved_image_exists(docker_driver, written)
    assert read(docker_driver, written, '/marker') == 'before the move\n'


def test_revert_gives_back_the_old_limits_and_data(
        docker_driver, written, context):  # noqa: F811
    resize(docker_driver, context, written, flavor(128, 2), CONF.my_ip)
    run_in(docker_driver.docker.api, written, 'sh', '-c',
           'echo after > /marker')
    # Nova: the destination destroys, the source finishes the revert.
    docker_driver.destroy(context, written, written.get_network_info())
    written.flavor = written.old_flavor
    docker_driver.finish_revert_migration(
        context, written, written.get_network_info(), objects.Migration())
    assert limits(docker_driver, written) == (64, 1024)
    assert read(docker_driver, written, '/marker') == 'before the move\n'
    assert not moved_image_exists(docker_driver, written)


def test_a_move_to_another_host_goes_through_glance(
        docker_driver, written, context, glance):  # noqa: F811
    disk_info = resize(docker_driver, context, written, flavor(128, 1),
                       OTHER_HOST)
    assert read(docker_driver, written, '/marker') == 'before the move\n'
    assert limits(docker_driver, written) == (128, 1024)
    # Loaded by the destination, then deleted from Glance; the
    # destination's tag is gone too (this one engine plays both hosts).
    assert glance_id(disk_info) not in glance.images
    assert not moved_image_exists(docker_driver, written)
    docker_driver.confirm_migration(context, objects.Migration(), written,
                                    written.get_network_info())


def refused_move(drv, instance, context, action):
    """A move to another host whose engine request ending in ``/action``
    the engine refuses: Nova must be told to roll back. The request the
    fault hit."""
    requests = faults.EngineRequests(drv.docker.api)
    requests.arm(faults.engine_error, faults.request_to(action))
    try:
        with pytest.raises(exception.InstanceFaultRollback):
            drv.migrate_disk_and_power_off(
                context, instance, OTHER_HOST, flavor(128, 1),
                instance.get_network_info())
    finally:
        requests.close()
    return requests.fired_on


def test_a_failed_commit_leaves_the_instance_running_as_it_was(
        docker_driver, written, context, glance):  # noqa: F811
    before = set(glance.images)
    fired_on = refused_move(docker_driver, written, context, 'commit')
    assert fired_on.startswith('POST /commit')
    assert docker_driver.docker.inspect(written)['State']['Running']
    assert limits(docker_driver, written) == (64, 1024)
    assert read(docker_driver, written, '/marker') == 'before the move\n'
    assert not moved_image_exists(docker_driver, written)
    assert set(glance.images) == before


def test_a_failed_upload_leaves_nothing_in_glance(
        docker_driver, written, context, glance):  # noqa: F811
    before = set(glance.images)
    refused_move(docker_driver, written, context, 'get')
    assert set(glance.images) == before
    assert docker_driver.docker.inspect(written)['State']['Running']
    assert not moved_image_exists(docker_driver, written)


def failed_finish(drv, instance, context, glance, fault):
    """A move to another host whose destination fails (``fault``, called
    with the engine's requests and the Glance image's id): nothing stays on
    the destination but Glance's copy of the moved image, for a hard
    reboot. The disk info."""
    disk_info = drv.migrate_disk_and_power_off(
        context, instance, OTHER_HOST, flavor(128, 1),
        instance.get_network_info())
    instance.old_flavor, instance.flavor = instance.flavor, flavor(128, 1)
    requests = faults.EngineRequests(drv.docker.api)
    fault(requests, glance_id(disk_info))
    try:
        with pytest.raises(exception.NovaException):
            drv.finish_migration(
                context, objects.Migration(), instance, disk_info,
                instance.get_network_info(), image_meta(), True, {})
    finally:
        requests.close()
    assert drv.docker.find(instance) is None
    assert glance_id(disk_info) in glance.images
    return disk_info


def test_a_hard_reboot_after_a_failed_finish_makes_the_container_with_its_data(
        docker_driver, written, context, glance):  # noqa: F811
    disk_info = failed_finish(
        docker_driver, written, context, glance,
        lambda requests, image_id: requests.arm(
            faults.engine_error, faults.request_to('create')))
    # Nova leaves the instance here, in ERROR, with the old flavor back.
    written.flavor = written.old_flavor
    docker_driver.reboot(context, written, written.get_network_info(),
                         'HARD')
    assert docker_driver.docker.inspect(written)['State']['Running']
    assert read(docker_driver, written, '/marker') == 'before the move\n'
    assert limits(docker_driver, written) == (64, 1024)
    assert glance_id(disk_info) not in glance.images
    assert not moved_image_exists(docker_driver, written)


def test_a_transfer_cut_short_is_kept_in_glance_until_the_server_goes(
        docker_driver, written, context, glance, monkeypatch):  # noqa: F811
    disk_info = failed_finish(
        docker_driver, written, context, glance,
        lambda requests, image_id: glance.break_download(image_id,
                                                         after=4096))
    # The server deleted while in ERROR: the destination has no container.
    docker_driver.destroy(context, written, written.get_network_info())
    assert glance_id(disk_info) not in glance.images
    # The source's image cache pass (this engine plays both hosts: the tag
    # is the source's, kept for a revert until then) finds the instance
    # gone.
    assert moved_image_exists(docker_driver, written)

    def deleted(cls, context, uuid, expected_attrs=None):
        raise exception.InstanceNotFound(instance_id=uuid)
    monkeypatch.setattr(objects.Instance, 'get_by_uuid',
                        classmethod(deleted))
    docker_driver.manage_image_cache(context, [])
    assert not moved_image_exists(docker_driver, written)
