"""Injected files with the real driver and engine, seen from inside the
container: where they land through the image's symlinks, and the paths
refused."""

import hashlib
import os

from nova import exception
from oslo_utils import uuidutils
import pytest

from novadocker.virt.docker import images
from novadocker_cloud import sample_image
from tests.fixtures.guest import config_drive_instance
from tests.fixtures.guest import instances_path  # noqa: F401
from tests.fixtures.guest import meta
from tests.fixtures.guest import nova_records  # noqa: F401
from tests.fixtures.guest import spawn
from tests.functional.test_driver import docker_driver  # noqa: F401
from tests.functional.test_driver import run_in
from tests.unit import factories

LINKS_IMAGE_ID = uuidutils.generate_uuid()
# Symlinks an image may hold: some lead elsewhere inside, some try to climb
# out of the root (the engine would clamp those at the root).
LINKS = (('etc-link', '/etc'), ('var/lock', '../tmp'), ('up', '../../..'),
         ('rootup', '/../etc'), ('var/deep', '../../../x'),
         ('chain', 'var/deep'))


@pytest.fixture(scope='module')
def links_image(engine):
    """The busybox image with LINKS, as the engine holds a Glance image."""
    api = engine.client()
    links = [sample_image.symlink(name, target) for name, target in LINKS]
    api.import_image_from_data(
        sample_image.busybox_rootfs_tar(extra_applets=('md5sum', 'stat'),
                                        extra_entries=links),
        repository=images.GLANCE_REPOSITORY, tag=LINKS_IMAGE_ID,
        changes=['CMD ["/bin/sleep", "infinity"]'])
    yield LINKS_IMAGE_ID
    api.remove_image(images.glance_reference(LINKS_IMAGE_ID))
    api.close()


def test_injected_files_are_in_the_container_before_it_starts(
        docker_driver, links_image):  # noqa: F811
    blob = bytes(range(256)) * 4
    instance = factories.instance()
    # PID 1 reads them as its first act: they were there before it ran.
    spawn(docker_driver, instance, meta(
        links_image,
        os_command_line="sh -c 'cat /etc/motd; exec sleep infinity'"),
        injected_files=[('/etc/motd', b'welcome\n'),
                        ('/etc-link/issue', b'through a link\n'),
                        ('/var/lock/app.lock', b'lock\n'),
                        ('/srv/new/dir/blob', blob)])
    api = docker_driver.docker.api
    assert docker_driver.get_console_output(None, instance) == 'welcome\n'
    assert run_in(api, instance, 'cat', '/etc/issue') == 'through a link\n'
    assert run_in(api, instance, 'cat', '/tmp/app.lock') == 'lock\n'
    assert run_in(api, instance, 'md5sum', '/srv/new/dir/blob').split()[
        0] == hashlib.md5(blob).hexdigest()
    assert run_in(api, instance, 'stat', '-c', '%a %u %g',
                  '/etc/motd', '/srv/new/dir').split('\n')[:2] == [
        '644 0 0', '755 0 0']
    # The image's own directories and links are as they were.
    assert run_in(api, instance, 'stat', '-c', '%a %F', '/tmp').strip() == \
        '1777 directory'
    assert run_in(api, instance, 'stat', '-c', '%F',
                  '/etc-link').strip() == 'symbolic link'
    docker_driver.destroy(None, instance, None)


@pytest.mark.parametrize('path, words', [
    ('etc/../../x', 'contains ".."'),
    ('/etc/../../../tmp/x', 'contains ".."'),
    ('/up/tmp/escaped', "/up, a symlink to '../../..' that leads out"),
    ('/rootup/escaped', "/rootup, a symlink to '/../etc' that leads out"),
    ('/chain/escaped', "/var/deep, a symlink to '../../../x' that leads"),
    ('/bin/busybox/x', '/bin/busybox is not a directory'),
    ('/etc', 'is a directory in the image'),
])
def test_a_path_leaving_the_container_fails_the_spawn_leaving_nothing(
        docker_driver, links_image, instances_path, nova_records,  # noqa
        path, words):
    instance = config_drive_instance()
    with pytest.raises(exception.InvalidInput) as e:
        spawn(docker_driver, instance, meta(links_image),
              injected_files=[('/etc/motd', b'fine\n'), (path, b'x')])
    assert words in str(e.value) and repr(path) in str(e.value)
    assert not docker_driver.instance_exists(instance)
    assert os.listdir(instances_path) == []
