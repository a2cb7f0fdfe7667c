"""The pure parts of the Glance image handler."""

import errno
import hashlib

from glanceclient.common import utils as glanceclient_utils
from nova import exception
from nova import objects
from oslo_utils import units
import pytest

from novadocker.virt.docker import images
from novadocker.virt.docker import imagestream

objects.register_all()

IMAGE_ID = '155d900f-4e14-4e4c-a73d-069cbf4541e6'


@pytest.mark.parametrize('image, expected', [
    ({'os_hash_algo': 'sha512', 'os_hash_value': 'ab', 'checksum': 'cd'},
     ('sha512', 'ab')),
    ({'os_hash_algo': 'nosuchhash', 'os_hash_value': 'ab', 'checksum': 'cd'},
     ('md5', 'cd')),
    ({'os_hash_algo': None, 'os_hash_value': None, 'checksum': 'cd'},
     ('md5', 'cd')),
    ({'checksum': None}, (None, None)),
])
def test_expected_digest_prefers_glance_multihash(image, expected):
    assert images.expected_digest(image) == expected


@pytest.mark.parametrize('fields', [{'container_format': 'bare'}, {}])
def test_only_docker_images_are_accepted(fields):
    image_meta = objects.ImageMeta(id=IMAGE_ID, **fields)
    with pytest.raises(exception.ImageUnacceptable) as e:
        images.check_container_format(image_meta)
    assert IMAGE_ID in str(e.value)
    assert 'container_format %s' % fields.get('container_format', '(none)') \
        in str(e.value)


def test_docker_images_are_accepted():
    images.check_container_format(
        objects.ImageMeta(id=IMAGE_ID, container_format='docker'))


@pytest.mark.parametrize('os_type', [None, 'linux'])
def test_snapshot_metadata_marks_a_docker_snapshot(os_type):
    instance = objects.Instance(project_id='p1', os_type=os_type)
    metadata = images.snapshot_metadata(instance, 'snap')
    assert metadata['container_format'] == 'docker'
    assert metadata['disk_format'] == 'raw'
    assert metadata['name'] == 'snap'
    assert metadata['properties']['owner_id'] == 'p1'
    assert metadata['properties']['image_location'] == 'snapshot'
    assert metadata['properties'].get('os_type') == os_type


def test_long_transfers_log_their_progress(caplog):
    caplog.set_level('INFO')
    transfer = imagestream.Transfer(
        [b'x' * 10 ** 6] * 2, size=2 * 10 ** 6, interval=0,
        report=images._reporter('Loading image x from Glance', None))
    assert b''.join(transfer) == b'x' * 2 * 10 ** 6
    assert [r.getMessage().split(', ')[0] for r in caplog.records] == [
        'Loading image x from Glance: 1 of 2 MB',
        'Loading image x from Glance: 2 of 2 MB']
    assert caplog.records[0].getMessage().endswith(' MB/s')


def test_glanceclient_checksum_errors_mean_corrupt_data():
    data = b'x' * 1000
    chunks = glanceclient_utils.serious_integrity_iter(
        [data], hashlib.sha512(), '0' * 128)
    got = []
    with pytest.raises(imagestream.Corrupt) as e:
        for chunk in imagestream.Transfer(
                images._checked_by_glanceclient(chunks), size=len(data)):
            got.append(chunk)
    assert 'does not match the checksum' in str(e.value)
    assert 'expected ' + '0' * 128 in str(e.value)
    assert got == []  # the last chunk is held back until the check


def test_other_read_errors_from_glance_stay_failed_reads():
    def broken():
        yield b'x'
        raise OSError(errno.EPIPE, 'Broken pipe')
    with pytest.raises(imagestream.Truncated) as e:
        b''.join(imagestream.Transfer(images._checked_by_glanceclient(
            broken())))
    assert 'Broken pipe' in str(e.value)


def test_a_checksum_error_on_data_that_ended_early_is_the_early_end():
    data = b'x' * 1000
    chunks = glanceclient_utils.serious_integrity_iter(
        [data[:600]], hashlib.sha512(), hashlib.sha512(data).hexdigest())
    with pytest.raises(imagestream.Truncated) as e:
        b''.join(imagestream.Transfer(images._checked_by_glanceclient(chunks),
                                      size=len(data)))
    assert 'the data ended after 600 of 1000 bytes' in str(e.value)


@pytest.mark.parametrize('name', [
    'busybox', 'busybox:latest', 'library/busybox:1.36',
    'registry.example.com:5000/team/app:v1.0', 'a__b', 'a--b.c'])
def test_docker_references(name):
    assert images.is_docker_reference(name)


@pytest.mark.parametrize('name', [
    # Tempest's snapshot names: Glance takes them, the engine does not.
    'tempest-TestSnapshotPatternsnapshot-1831857370', 'My Image', '',
    'a:b:c', '-a', 'a/', 'x' * 256])
def test_glance_names_that_are_no_docker_reference(name):
    assert not images.is_docker_reference(name)


@pytest.mark.parametrize('root_gb, limit', [(0, None), (1, units.Gi),
                                            (20, 20 * units.Gi)])
def test_an_image_may_unpack_to_the_flavors_root_disk(root_gb, limit):
    """root_gb 0 is Nova's "as large as the image": no limit."""
    flavor = objects.Flavor(root_gb=root_gb)
    assert images.root_disk_bytes(flavor) == limit
