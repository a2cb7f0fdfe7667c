"""The Glance image handler against the real engine and an image service
that keeps real bytes."""

from tests.fixtures import glance as glance_fixture  # noqa: I100 first

import datetime
import io
import json
import tarfile
import threading
import uuid

from docker import errors as docker_errors
from nova.compute import task_states
from nova import context as nova_context
from nova import exception
from nova import objects
from oslo_utils import timeutils
import pytest

from novadocker import conf as nd_conf
from novadocker.virt.docker import client
from novadocker.virt.docker import images
from tests.fixtures import engine as engine_fixture

CONF = nd_conf.CONF
objects.register_all()


@pytest.fixture
def docker_client(engine):
    CONF.set_override('host_url', engine.url, group='docker')
    yield client.DockerClient()
    CONF.clear_override('host_url', group='docker')


@pytest.fixture
def api(docker_client):
    return docker_client.api


@pytest.fixture
def glance(api):
    """The image service; what the test loaded from it is removed after."""
    with glance_fixture.GlanceFixture() as service:
        yield service
        for image_id in list(service.images):
            try:
                api.remove_image(images.glance_reference(image_id))
            except docker_errors.NotFound:
                pass


@pytest.fixture
def context():
    return nova_context.get_admin_context()


@pytest.fixture
def override():
    """CONF.set_override for one test."""
    overridden = []

    def set_override(name, value, group):
        CONF.set_override(name, value, group=group)
        overridden.append((name, group))
    yield set_override
    for name, group in overridden:
        CONF.clear_override(name, group=group)


def engine_images(api):
    return sorted((i['Id'], tuple(sorted(i['RepoTags'] or ())))
                  for i in api.images(all=True))


def last_tagged(api, reference):
    return timeutils.parse_isotime(
        api.inspect_image(reference)['Metadata']['LastTagTime'])


def source_image(api):
    """(docker save tarball, image id) of a new image, removed from the
    engine again so that loading the tarball really loads something."""
    marker = uuid.uuid4().hex
    tag = 'novadocker-test/glance-src-%s:latest' % marker
    image_id = engine_fixture.build_test_image(
        api, tag=tag, command=('/bin/sh', '-c', 'sleep infinity # ' + marker))
    tarball = b''.join(api.get_image(tag))
    api.remove_image(tag)
    return tarball, image_id


def add_image(glance, context, data, **fields):
    image = dict({'name': 'busybox', 'container_format': 'docker',
                  'disk_format': 'raw'}, **fields)
    return glance.create(context, image, data=io.BytesIO(data))


def image_meta(glance, context, image_id):
    return objects.ImageMeta.from_dict(glance.show(context, image_id))


def ensure(docker_client, glance, context, image_id):
    return images.ensure(docker_client, context,
                         image_meta(glance, context, image_id))


def test_load_tags_the_loaded_image_and_the_next_spawn_reuses_it(
        docker_client, api, glance, context, override):
    tarball, docker_id = source_image(api)
    image = add_image(glance, context, tarball)

    reference = ensure(docker_client, glance, context, image['id'])

    assert reference == images.glance_reference(image['id'])
    loaded = api.inspect_image(reference)
    assert loaded['Id'] == docker_id
    # Only the driver's tag: the tarball's own tag moved nothing.
    assert loaded['RepoTags'] == [reference]
    assert glance.downloads[image['id']] == 1
    tagged = last_tagged(api, reference)
    assert ensure(docker_client, glance, context, image['id']) == reference
    assert glance.downloads[image['id']] == 1
    # Tagged lately: the image cache cannot expire it yet, no new tag.
    assert last_tagged(api, reference) == tagged
    # Tagged more than half the cache's minimum age ago: handed to a spawn,
    # the cache counts its age from now.
    override('remove_unused_original_minimum_age_seconds', 0, 'image_cache')
    assert ensure(docker_client, glance, context, image['id']) == reference
    assert last_tagged(api, reference) > tagged


def test_a_glance_name_the_engine_cannot_parse_is_no_obstacle(
        docker_client, api, glance, context):
    """Tempest names its snapshots in mixed case: the engine refuses to
    look such a name up at all, so it is never asked."""
    tarball, docker_id = source_image(api)
    image = add_image(glance, context, tarball,
                      name='tempest-TestSnapshotPatternsnapshot-1831857370')
    reference = ensure(docker_client, glance, context, image['id'])
    assert api.inspect_image(reference)['Id'] == docker_id


def test_cache_image_says_whether_it_downloaded(docker_client, api, glance,
                                                context):
    image = add_image(glance, context, source_image(api)[0])
    assert images.cache_image(docker_client, context, image['id']) is True
    assert images.cache_image(docker_client, context, image['id']) is False
    assert glance.downloads[image['id']] == 1


def test_shared_directory_copy_is_used_first(docker_client, api, glance,
                                             context, override, tmp_path):
    tarball, docker_id = source_image(api)
    image = add_image(glance, context, tarball)
    (tmp_path / image['id']).write_bytes(tarball)
    override('shared_directory', str(tmp_path), 'docker')

    reference = ensure(docker_client, glance, context, image['id'])

    assert api.inspect_image(reference)['Id'] == docker_id
    assert glance.downloads[image['id']] == 0


def test_shared_directory_copy_is_checked(docker_client, api, glance,
                                          context, override, tmp_path):
    image = add_image(glance, context, source_image(api)[0])
    (tmp_path / image['id']).write_bytes(source_image(api)[0])
    override('shared_directory', str(tmp_path), 'docker')
    before = engine_images(api)

    with pytest.raises(exception.ImageUnacceptable) as e:
        ensure(docker_client, glance, context, image['id'])

    assert str(tmp_path / image['id']) in str(e.value)
    assert 'checksum mismatch' in str(e.value)
    assert engine_images(api) == before


def test_concurrent_spawns_download_once(docker_client, api, glance,
                                         context):
    image = add_image(glance, context, source_image(api)[0])
    meta = image_meta(glance, context, image['id'])
    start = threading.Barrier(6)
    results = []

    def spawn():
        start.wait()
        results.append(images.ensure(docker_client, context, meta))
    threads = [threading.Thread(target=spawn) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == [images.glance_reference(image['id'])] * 6
    assert glance.downloads[image['id']] == 1


def two_image_tarball(first, second):
    """What ``docker save A B`` writes: both images, one manifest."""
    out = io.BytesIO()
    manifest = []
    names = set()
    with tarfile.open(fileobj=out, mode='w') as merged:
        for data in (first, second):
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                for member in tar:
                    content = tar.extractfile(member)
                    if member.name == 'manifest.json':
                        manifest += json.load(content)
                    elif member.name not in names:
                        names.add(member.name)
                        merged.addfile(member, content)
        content = json.dumps(manifest).encode()
        info = tarfile.TarInfo('manifest.json')
        info.size = len(content)
        merged.addfile(info, io.BytesIO(content))
    return out.getvalue()


def rewrite_tarball(tarball, rewrite):
    """``tarball`` with each file's content replaced by ``rewrite(name,
    content)``, or dropped where that returns None."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(tarball)) as tar, \
            tarfile.open(fileobj=out, mode='w') as copy:
        for member in tar:
            content = tar.extractfile(member)
            if member.isfile():
                content = rewrite(member.name, content.read())
                if content is None:
                    continue
                member.size = len(content)
                content = io.BytesIO(content)
            copy.addfile(member, content)
    return out.getvalue()


def bad_wrong_container_format(api, glance, context):
    return add_image(glance, context, source_image(api)[0],
                     container_format='bare')['id']


def bad_not_a_tarball(api, glance, context):
    return add_image(glance, context, b'\x7fELF' + bytes(range(256)) * 64)[
        'id']


def bad_download_ends_early(api, glance, context):
    tarball = source_image(api)[0]
    image_id = add_image(glance, context, tarball)['id']
    glance.break_download(image_id, len(tarball) // 2)
    return image_id


def bad_download_fails(api, glance, context):
    tarball = source_image(api)[0]
    image_id = add_image(glance, context, tarball)['id']
    glance.break_download(image_id, len(tarball) - 100,
                          IOError('connection reset by peer'))
    return image_id


def bad_sha512(api, glance, context):
    image_id = add_image(glance, context, source_image(api)[0])['id']
    glance.images[image_id]['os_hash_value'] = '0' * 128
    return image_id


def bad_md5(api, glance, context):
    image_id = add_image(glance, context, source_image(api)[0])['id']
    glance.images[image_id].update(os_hash_algo=None, os_hash_value=None,
                                   checksum='0' * 32)
    return image_id


def bad_two_images(api, glance, context):
    return add_image(glance, context, two_image_tarball(
        source_image(api)[0], source_image(api)[0]))['id']


def bad_no_manifest(api, glance, context):
    return add_image(glance, context, rewrite_tarball(
        source_image(api)[0],
        lambda name, content: None if name == 'manifest.json' else content))[
            'id']


def bad_engine_refuses(api, glance, context):
    """A well-formed tarball whose image configuration the engine rejects.
    """
    return add_image(glance, context, rewrite_tarball(
        source_image(api)[0], lambda name, content: b'{}'
        if name.endswith('.json') and name != 'manifest.json' else content))[
            'id']


def bad_signature_verification(api, glance, context):
    # nova's download() returns no data when it verifies signatures.
    glance.download = lambda *args, **kwargs: None
    return add_image(glance, context, source_image(api)[0])['id']


def bad_uploaded_truncated(api, glance, context):
    tarball = source_image(api)[0]
    return add_image(glance, context, tarball[:len(tarball) - 2048])['id']


def bad_no_data(api, glance, context):
    return glance.create(context, {'name': 'empty',
                                   'container_format': 'docker',
                                   'disk_format': 'raw'})['id']


def bad_not_in_glance(api, glance, context):
    image_id = add_image(glance, context, source_image(api)[0])['id']
    glance.delete(context, image_id)
    return image_id


@pytest.mark.parametrize('make, error, message', [
    (bad_wrong_container_format, exception.ImageUnacceptable,
     'container_format bare'),
    (bad_not_a_tarball, exception.ImageUnacceptable,
     'not a docker-save tarball'),
    (bad_download_ends_early, exception.InstanceDeployFailure,
     'the data ended after'),
    (bad_download_fails, exception.InstanceDeployFailure,
     'connection reset by peer'),
    (bad_sha512, exception.ImageUnacceptable, 'does not match the checksum'),
    (bad_md5, exception.ImageUnacceptable, 'does not match the checksum'),
    (bad_two_images, exception.ImageUnacceptable, 'holds 2 images'),
    (bad_no_manifest, exception.ImageUnacceptable, 'no manifest.json'),
    (bad_engine_refuses, exception.ImageUnacceptable,
     'Docker refused it: '),
    (bad_signature_verification, exception.InstanceDeployFailure,
     'verify_glance_signatures'),
    (bad_uploaded_truncated, exception.ImageUnacceptable,
     'end-of-archive marker'),
    (bad_no_data, exception.ImageUnacceptable, 'no associated data'),
    (bad_not_in_glance, exception.ImageNotFound, 'could not be found'),
], ids=lambda v: getattr(v, '__name__', None))
def test_bad_images_fail_clearly_and_leave_nothing(
        docker_client, api, glance, context, make, error, message):
    image_id = make(api, glance, context)
    meta = objects.ImageMeta.from_dict(
        glance.images.get(image_id) or {'id': image_id,
                                        'container_format': 'docker'})
    before = engine_images(api)

    with pytest.raises(error) as e:
        images.ensure(docker_client, context, meta)

    assert message in str(e.value)
    assert image_id in str(e.value)
    assert engine_images(api) == before


@pytest.fixture
def instance(api):
    """An instance whose container runs the test image."""
    instance = objects.Instance(uuid=str(uuid.uuid4()), project_id='p1',
                                os_type=None, image_ref='')
    name = client.container_name(instance.uuid)
    api.create_container(engine_fixture.TEST_IMAGE, name=name)
    api.start(name)
    yield instance
    api.remove_container(name, force=True)


def run(api, image, command):
    """Run ``command`` in a container of ``image``; its output."""
    container = api.create_container(image, command=command)['Id']
    try:
        api.start(container)
        assert api.wait(container, timeout=30)['StatusCode'] == 0
        return api.logs(container)
    finally:
        api.remove_container(container, force=True)


@pytest.mark.parametrize('pause, spool', [(True, False), (False, True)],
                         ids=['paused-streamed', 'running-spooled'])
def test_snapshot_round_trip(docker_client, api, glance, context, instance,
                             override, tmp_path, pause, spool):
    name = client.container_name(instance.uuid)
    exec_id = api.exec_create(name, ['sh', '-c', 'echo hello > /root/mark'])
    api.exec_start(exec_id)
    override('snapshot_pause', pause, 'docker')
    if spool:
        override('snapshots_directory', str(tmp_path / 'spool'), 'docker')
    snap = glance.create(context, {'name': 'snap', 'status': 'queued'})
    before = engine_images(api)
    task_state_updates = []

    images.snapshot(docker_client, context, instance, snap['id'],
                    lambda **kw: task_state_updates.append(kw))

    assert task_state_updates == [
        {'task_state': task_states.IMAGE_PENDING_UPLOAD},
        {'task_state': task_states.IMAGE_UPLOADING,
         'expected_state': task_states.IMAGE_PENDING_UPLOAD}]
    uploaded = glance.show(context, snap['id'])
    assert (uploaded['container_format'], uploaded['disk_format']) == (
        'docker', 'raw')
    assert uploaded['properties']['image_location'] == 'snapshot'
    assert engine_images(api) == before  # the committed image is gone
    if spool:
        assert list((tmp_path / 'spool').iterdir()) == []

    reference = ensure(docker_client, glance, context, snap['id'])
    assert glance.downloads[snap['id']] == 1
    assert run(api, reference, ['cat', '/root/mark']) == b'hello\n'


def test_snapshot_of_an_instance_without_container(docker_client, glance,
                                                   context):
    instance = objects.Instance(uuid=str(uuid.uuid4()))
    snap = glance.create(context, {'name': 'snap'})
    with pytest.raises(exception.InstanceNotRunning):
        images.snapshot(docker_client, context, instance, snap['id'],
                        pytest.fail)


def test_failed_snapshot_upload_leaves_no_image(docker_client, api, glance,
                                                context, instance,
                                                monkeypatch):
    snap = glance.create(context, {'name': 'snap'})
    before = engine_images(api)

    def failing_update(context, image_id, metadata, data=None,
                       purge_props=False):
        data.read(1000)
        raise exception.ImageNotAuthorized(image_id=image_id)
    monkeypatch.setattr(glance, 'update', failing_update)

    with pytest.raises(exception.ImageNotAuthorized):
        images.snapshot(docker_client, context, instance, snap['id'],
                        lambda **kw: None)
    assert engine_images(api) == before


def test_snapshots_nova_compute_did_not_finish_are_removed_at_start(
        docker_client, api):
    """nova-compute killed between the commit and its removal: init_host
    removes the committed image; other images stay."""
    leftover = api.create_container(engine_fixture.TEST_IMAGE)['Id']
    for tag in ('interrupted-1', 'interrupted-2'):
        api.commit(leftover, repository=images.SNAPSHOT_REPOSITORY, tag=tag)
    api.remove_container(leftover)
    committed = {i['Id'] for i in api.images(
        name=images.SNAPSHOT_REPOSITORY)}
    before = {image_id for image_id, _tags in engine_images(api)}

    images.remove_interrupted_snapshots(docker_client)

    assert {image_id for image_id, _tags in engine_images(api)} == \
        before - committed


def test_image_cache_removes_only_unused_old_images_it_loaded(
        docker_client, api, glance, context, override):
    ids = {}
    for role in ('container', 'instance', 'unused'):
        ids[role] = add_image(glance, context, source_image(api)[0])['id']
        ensure(docker_client, glance, context, ids[role])
    container = api.create_container(images.glance_reference(
        ids['container']))['Id']
    leftover = api.create_container(engine_fixture.TEST_IMAGE)['Id']
    api.commit(leftover, repository=images.SNAPSHOT_REPOSITORY, tag='s1')
    api.remove_container(leftover)
    instances = [objects.Instance(image_ref=ids['instance'])]
    kept = {images.glance_reference(ids['container']),
            images.glance_reference(ids['instance']),
            engine_fixture.TEST_IMAGE}
    removed = {images.glance_reference(ids['unused']),
               images.SNAPSHOT_REPOSITORY + ':s1'}

    def tags():
        return {tag for _id, repo_tags in engine_images(api)
                for tag in repo_tags}
    in_use = [images.glance_reference(ids[role])
              for role in ('container', 'instance')]
    tagged = [last_tagged(api, reference) for reference in in_use]
    try:
        images.manage_image_cache(docker_client, context, instances)
        assert kept | removed <= tags()  # all too young
        # Found in use: their age counts from now.
        assert all(last_tagged(api, reference) > before
                   for reference, before in zip(in_use, tagged))

        timeutils.set_time_override(timeutils.utcnow() +
                                    datetime.timedelta(days=2))
        override('remove_unused_base_images', False, 'image_cache')
        images.manage_image_cache(docker_client, context, instances)
        assert kept | removed <= tags()  # removal is off

        CONF.clear_override('remove_unused_base_images', group='image_cache')
        images.manage_image_cache(docker_client, context, instances)
        assert kept <= tags()
        assert not removed & tags()
    finally:
        timeutils.clear_time_override()
        api.remove_container(container)
