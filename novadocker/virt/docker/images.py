"""Glance images with ``container_format=docker`` on the local engine.

A Glance image holds the output of ``docker save`` for one image. It is
streamed from Glance (or from ``[docker] shared_directory``) straight into
``docker load``, checked on the way (size and checksum Glance recorded, one
complete docker-save tarball of one image), and tagged
``openstack-glance:<image id>``: that tag, not the Glance name, is how a
later spawn finds it without a download. The tarball's own tags are stripped
on the way in, so a Glance image can never move a tag of the engine (an
uploader could otherwise take over a name another image is found by).
Images tagged with the Glance name (how the old driver found them) are still
used.

A snapshot is the reverse: ``docker commit``, then ``docker save`` streamed
to Glance. The image cache removes what this module loaded (and committed
snapshots a crash left behind) once nothing has used it for
``[image_cache] remove_unused_original_minimum_age_seconds``.
"""

import errno
import hashlib
import os
import re
import tempfile

from nova.compute import task_states
import nova.conf
from nova import exception
from nova.i18n import _
from nova.image import glance
from nova import objects
from oslo_concurrency import lockutils
from oslo_log import log as logging
from oslo_utils import fileutils
from oslo_utils import timeutils
from oslo_utils import units

from novadocker.virt.docker import client
from novadocker.virt.docker import failures
from novadocker.virt.docker import imagestream

CONF = nova.conf.CONF  # [docker] is registered by novadocker.conf
LOG = logging.getLogger(__name__)

GLANCE_REPOSITORY = 'openstack-glance'
# Committed snapshot images, tagged by Glance image id while they upload.
SNAPSHOT_REPOSITORY = 'openstack-snapshot'
CONTAINER_FORMAT = 'docker'
DISK_FORMAT = 'raw'
CHUNK_SIZE = 1 << 20
LOADED_ID = 'Loaded image ID: '
# How glanceclient's checksum mismatch errors begin.
GLANCECLIENT_CORRUPT = 'Corrupt image download'
MB = imagestream.MB


# Docker's own grammar of an image reference (distribution/reference): an
# optional registry, lowercase path components, an optional tag.
_COMPONENT = r'[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*'
_REGISTRY = (r'(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?'
             r'(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::\d+)?/)?')
_REFERENCE = re.compile(r'^%s%s(?:/%s)*(?::\w[\w.-]{0,127})?$'
                        % (_REGISTRY, _COMPONENT, _COMPONENT))


def is_docker_reference(name):
    """Whether the engine can look ``name`` up as an image: Glance names
    need not be (uppercase, spaces), and the engine refuses those with an
    error rather than a "not found"."""
    return len(name) <= 255 and bool(_REFERENCE.match(name))


def glance_reference(image_id):
    """The local tag of the Glance image ``image_id``."""
    return '%s:%s' % (GLANCE_REPOSITORY, image_id)


def check_container_format(image_meta):
    """Refuse anything but a docker-save image with ImageUnacceptable: nova
    then aborts the build with this message as the server's fault, instead
    of rescheduling it to other hosts that would refuse it too."""
    container_format = image_meta.obj_attr_is_set('container_format') and \
        image_meta.container_format
    if container_format != CONTAINER_FORMAT:
        raise exception.ImageUnacceptable(
            image_id=image_meta.id if image_meta.obj_attr_is_set('id')
            else '(unknown)',
            # Short: nova keeps 255 characters of a fault message.
            reason=_('container_format %(format)s; the Docker driver boots '
                     'only "docker save" images uploaded with '
                     '--container-format docker')
            % {'format': container_format or '(none)'})


def local_reference(docker_client, image_meta):
    """The engine's reference for ``image_meta``, or None if not loaded."""
    candidates = [glance_reference(image_meta.id)]
    if image_meta.obj_attr_is_set('name') and image_meta.name and \
            is_docker_reference(image_meta.name):
        candidates.append(image_meta.name)
    for reference in candidates:
        if docker_client.image_exists(reference):
            return reference
    return None


def ensure(docker_client, context, image_meta, instance=None):
    """Make sure the engine has the image; returns its local reference.

    Loads it when absent, once however many spawns ask at the same time.
    """
    return _ensure(docker_client, context, image_meta, instance)[0]


def ensure_for_boot(docker_client, context, image_meta, instance):
    """As :func:`ensure`, for booting ``instance``: an image that unpacks
    to more than the instance's root disk is refused
    (FlavorDiskSmallerThanImage); one the engine lacks, while it streams
    in, before the engine has written it."""
    return _ensure(docker_client, context, image_meta, instance,
                   max_unpacked=root_disk_bytes(instance.flavor))[0]


def root_disk_bytes(flavor):
    """The most an image may unpack to for ``flavor``: its root disk; None
    for root_gb 0, which Nova takes as "as large as the image"."""
    return flavor.root_gb * units.Gi if flavor.root_gb else None


def _check_fits(unpacked, max_unpacked):
    if max_unpacked is not None and unpacked > max_unpacked:
        raise exception.FlavorDiskSmallerThanImage(
            flavor_size=max_unpacked, image_size=unpacked)


def cache_image(docker_client, context, image_id):
    """Pre-load a Glance image: True if it was loaded now, False if the
    engine already had it (ComputeDriver.cache_image)."""
    image_meta = objects.ImageMeta.from_dict(
        glance.API().get(context, image_id))
    return _ensure(docker_client, context, image_meta, None)[1]


def _lock(image_id, blocking=True):
    """Serialises the loads, uses, snapshots and expiry of one image."""
    return lockutils.lock('novadocker-image-' + image_id, blocking=blocking)


def _ensure(docker_client, context, image_meta, instance,
            max_unpacked=None):
    """(local reference, whether it was loaded now)."""
    check_container_format(image_meta)
    tagged = docker_client.inspect_image(glance_reference(image_meta.id))
    if tagged is not None and _tagged_lately(tagged):
        # No lock: concurrent spawns of one image do not queue for it.
        _check_fits(tagged['Size'], max_unpacked)
        return glance_reference(image_meta.id), False
    with _lock(image_meta.id):
        reference = local_reference(docker_client, image_meta)
        if reference == glance_reference(image_meta.id):
            # A spawn is about to use it: the cache must not expire it now.
            _tag(docker_client, reference, image_meta.id)
        if reference is not None:
            if max_unpacked is not None:
                _check_fits(docker_client.inspect_image(reference)['Size'],
                            max_unpacked)
            return reference, False
        _load(docker_client, context, image_meta.id, instance, max_unpacked)
        return glance_reference(image_meta.id), True


def remove_unusable(docker_client, image_id):
    """Remove the Glance image ``image_id``, which a boot found unusable
    (ImageUnacceptable), unless a container uses it: each boot of it would
    fail the same way, so the last to fail leaves no copy in the engine.
    """
    reference = glance_reference(image_id)
    with _lock(image_id):
        try:
            removed = docker_client.remove_unused_image(reference)
        except exception.NovaException as e:
            LOG.warning('Could not remove image %(image)s: %(error)s. '
                        'The image cache removes it later.',
                        {'image': reference, 'error': e})
            return
    if removed:
        LOG.info('Removed image %s: a boot found it unusable', reference)


def _tagged_lately(attrs):
    """Whether the inspected Glance image was tagged less than half the
    image cache's minimum age ago: the cache cannot remove it before a
    spawn that finds it now has made its container, so the spawn needs
    neither the image's lock nor a new tag."""
    return _tag_age(attrs) < (
        CONF.image_cache.remove_unused_original_minimum_age_seconds / 2)


def _tag_age(attrs):
    """Seconds since the inspected image was last tagged."""
    tagged = timeutils.parse_isotime(attrs['Metadata']['LastTagTime'])
    return timeutils.delta_seconds(timeutils.normalize_time(tagged),
                                   timeutils.utcnow())


def _tag(docker_client, image, image_id):
    """Point openstack-glance:<image_id> at ``image``.

    Tagging again also stamps the image's LastTagTime: the image cache
    counts an image's age from there.
    """
    with client.translated_errors('tagging image ' + image):
        docker_client.api.tag(image, GLANCE_REPOSITORY, image_id, force=True)


def expected_digest(image):
    """(algorithm, hex digest) Glance recorded for the data, or (None, None).

    Glance's multihash (os_hash_algo/os_hash_value) when this Python has the
    algorithm, else the legacy md5 ``checksum``.
    """
    algorithm, value = image.get('os_hash_algo'), image.get('os_hash_value')
    if algorithm and value and algorithm in hashlib.algorithms_available:
        return algorithm, value
    if image.get('checksum'):
        return 'md5', image['checksum']
    return None, None


def _reporter(action, instance):
    """A Transfer report callback logging ``action``'s progress."""
    def report(transfer):
        LOG.info('%(action)s: %(done).0f of %(total)s MB, %(rate).0f MB/s',
                 {'action': action, 'done': transfer.done / MB,
                  'total': '%.0f' % (transfer.size / MB) if transfer.size
                  else '?', 'rate': transfer.rate}, instance=instance)
    return report


def _load(docker_client, context, image_id, instance, max_unpacked=None):
    image_api = glance.API()
    image = image_api.get(context, image_id)
    algorithm, digest = expected_digest(image)
    if algorithm is None:
        LOG.warning('Glance image %s has no checksum: it is loaded '
                    'unverified.', image_id, instance=instance)
    origin, chunks, verified_at_source = _open(image_api, context, image_id)
    if verified_at_source:
        algorithm = digest = None
    transfer = imagestream.Transfer(
        chunks, size=image.get('size') or None, algorithm=algorithm,
        digest=digest, report=_reporter(
            'Loading image %s from %s' % (image_id, origin), instance))
    # Reading and hashing in a thread of their own, while this one parses
    # and sends: the two halves of the work overlap.
    tarball = imagestream.DockerSaveTarball(imagestream.Prefetched(transfer),
                                            strip_repo_tags=True,
                                            max_unpacked=max_unpacked)
    try:
        loaded = _docker_load(docker_client, image_id, tarball)
    except imagestream.Oversized as e:
        raise exception.FlavorDiskSmallerThanImage(
            flavor_size=e.limit, image_size=e.unpacked)
    except imagestream.Corrupt as e:
        raise exception.ImageUnacceptable(
            image_id=image_id, reason=_('%(origin)s: %(error)s')
            % {'origin': origin, 'error': e})
    except imagestream.Truncated as e:
        raise exception.InstanceDeployFailure(
            reason=_('could not read image %(id)s from %(origin)s: '
                     '%(error)s') % {'id': image_id, 'origin': origin,
                                     'error': e})
    _tag(docker_client, loaded, image_id)
    LOG.info('Loaded image %(id)s (docker save of %(tags)s) from %(origin)s '
             'as %(loaded)s: %(mb).0f MB in %(s).1f s, %(rate).0f MB/s',
             {'id': image_id, 'origin': origin, 'loaded': loaded,
              'tags': ', '.join(tarball.image.get('RepoTags') or ())
              or 'an untagged image', 'mb': transfer.done / MB,
              's': transfer.elapsed, 'rate': transfer.rate},
             instance=instance)


def _open(image_api, context, image_id):
    """(where from, chunks, whether the source verifies the checksum): the
    shared directory's copy if there is one, else Glance's data."""
    if CONF.docker.shared_directory:
        path = os.path.join(CONF.docker.shared_directory, image_id)
        if os.path.isfile(path):
            return path, _file_chunks(path), False
    chunks = image_api.download(context, image_id)
    if chunks is None:
        # nova's download() reads the data itself, returning nothing, when
        # it verifies image signatures.
        raise exception.InstanceDeployFailure(
            reason=_('image %s cannot be streamed into the engine while '
                     '[glance] verify_glance_signatures is enabled')
            % image_id)
    return 'Glance', _checked_by_glanceclient(chunks), True


def _checked_by_glanceclient(chunks):
    """Glance's data, whose checksum glanceclient verifies.

    nova's download() streams through glanceclient's data() with
    do_checksum, which hashes the data (os_hash_algo, else the md5
    checksum) as it passes and raises IOError(EPIPE, "Corrupt image
    download...") after the last chunk on a mismatch. Hashing it a second
    time would cost a CPU second per GB the engine needs too; that error
    is made a :class:`imagestream.Corrupt` instead of a failed read.
    """
    try:
        yield from chunks
    except OSError as e:
        if (e.errno == errno.EPIPE and (e.strerror or '').startswith(
                GLANCECLIENT_CORRUPT)):
            raise imagestream.Corrupt(
                _('the data does not match the checksum the image service '
                  'recorded (%s)') % e.strerror) from e
        raise


def _file_chunks(path):
    with open(path, 'rb') as f:
        yield from iter(lambda: f.read(CHUNK_SIZE), b'')


def _docker_load(docker_client, image_id, body):
    """``docker load`` of ``body``; returns the id of the image loaded."""
    loaded = None
    with client.translated_errors('loading image %s' % image_id):
        # Not quiet: layer progress messages keep the connection busy while
        # the engine unpacks, so a large image does not hit the API timeout.
        for message in docker_client.api.load_image(body, quiet=False):
            if message.get('error'):
                raise failures.load_failure(image_id, message['error'])
            stream = message.get('stream', '')
            if stream.startswith(LOADED_ID):
                loaded = stream[len(LOADED_ID):].strip()
    if loaded is None:
        raise exception.InstanceDeployFailure(
            reason=_('the engine loaded image %s but did not say which image '
                     'it made') % image_id)
    return loaded


def snapshot(docker_client, context, instance, image_id, update_task_state):
    """Commit the instance's container and upload it as Glance image
    ``image_id`` (a docker-save tarball, container_format=docker)."""
    if docker_client.find(instance) is None:
        raise exception.InstanceNotRunning(instance_id=instance.uuid)
    image_api = glance.API()
    name = image_api.get(context, image_id)['name']
    update_task_state(task_state=task_states.IMAGE_PENDING_UPLOAD)
    with _lock(image_id):
        committed = commit(docker_client, instance, SNAPSHOT_REPOSITORY,
                           image_id, pause=CONF.docker.snapshot_pause)
        try:
            update_task_state(task_state=task_states.IMAGE_UPLOADING,
                              expected_state=task_states.IMAGE_PENDING_UPLOAD)
            upload(docker_client, context, instance, committed, image_id,
                   snapshot_metadata(instance, name))
        finally:
            _remove_committed(docker_client, committed, instance)


def snapshot_metadata(instance, name):
    """The Glance fields of a snapshot, as nova's libvirt driver sets them.
    """
    properties = {'image_location': 'snapshot',
                  'image_state': 'available',
                  'owner_id': instance.project_id}
    if instance.os_type:
        properties['os_type'] = instance.os_type
    return {'name': name, 'status': 'active',
            'container_format': CONTAINER_FORMAT, 'disk_format': DISK_FORMAT,
            'properties': properties}


def commit(docker_client, instance, repository, tag, pause):
    """The id of a new image of the instance's container as it is now (its
    writable layer on top of its image), tagged ``repository:tag``."""
    name = client.container_name(instance.uuid)
    with client.translated_errors('committing ' + name, instance):
        return docker_client.api.commit(
            name, repository=repository, tag=tag, pause=pause)['Id']


def upload(docker_client, context, instance, image, image_id, metadata):
    """``docker save`` of ``image`` streamed to Glance as the data of
    ``image_id`` with ``metadata`` (through the spool directory if one is
    configured)."""
    image_api = glance.API()
    # Saved by id, the tarball names no tag: nothing of this host leaks.
    with client.translated_errors('saving snapshot %s' % image_id, instance):
        saved = docker_client.api.get_image(image, chunk_size=CHUNK_SIZE)
    transfer = imagestream.Transfer(saved, report=_reporter(
        'Uploading snapshot %s' % image_id, instance))
    tarball = imagestream.DockerSaveTarball(imagestream.Prefetched(transfer))
    try:
        spool_directory = CONF.docker.snapshots_directory
        if spool_directory:
            fileutils.ensure_tree(spool_directory)
            with tempfile.TemporaryFile(dir=spool_directory) as spool:
                for chunk in tarball:
                    spool.write(chunk)
                spool.seek(0)
                image_api.update(context, image_id, metadata, data=spool)
        else:
            image_api.update(context, image_id, metadata,
                             data=imagestream.ChunkReader(tarball))
    except imagestream.StreamError as e:
        raise client.DockerAPIError(action='saving snapshot %s' % image_id,
                                    reason=e)
    LOG.info('Uploaded snapshot %(id)s: %(mb).0f MB in %(s).1f s, '
             '%(rate).0f MB/s', {'id': image_id, 'mb': transfer.done / MB,
                                 's': transfer.elapsed,
                                 'rate': transfer.rate}, instance=instance)


def _remove_committed(docker_client, image, instance):
    """Remove a committed snapshot image; a failure is only logged, so that
    it does not hide the snapshot's own outcome."""
    try:
        with client.translated_errors('removing image ' + image):
            docker_client.api.remove_image(image)
    except exception.NovaException as e:
        LOG.warning('Could not remove the committed snapshot image '
                    '%(image)s: %(error)s. The image cache removes it '
                    'later.', {'image': image, 'error': e}, instance=instance)


def remove_interrupted_snapshots(docker_client):
    """Remove the images committed by snapshots nova-compute did not finish
    (it was killed mid-snapshot). For init_host: no snapshot is under way
    while nova-compute starts, and Nova clears those instances' task
    states; left alone, the image cache would keep them for
    ``remove_unused_original_minimum_age_seconds``."""
    with client.translated_errors('listing committed snapshots'):
        committed = docker_client.api.images(name=SNAPSHOT_REPOSITORY)
    for image in committed:
        for tag in image['RepoTags'] or ():
            LOG.info('Removing %s, committed by a snapshot that '
                     'nova-compute did not finish', tag)
            _remove_committed(docker_client, tag, None)


def manage_image_cache(docker_client, context, all_instances):
    """Remove the images this module made that nothing uses any more.

    An image is in use while any container (nova's or not) was made from
    it, or while an instance of this host refers to its Glance image. Its
    age counts from the last time this module tagged it: when it was
    loaded, last found in use here, or handed to a spawn more than half
    the minimum age after its previous tag. Images of
    other repositories are never touched.
    """
    if not CONF.image_cache.remove_unused_base_images:
        return
    max_age = CONF.image_cache.remove_unused_original_minimum_age_seconds
    api = docker_client.api
    with client.translated_errors('listing images and containers'):
        ours = (api.images(name=GLANCE_REPOSITORY) +
                api.images(name=SNAPSHOT_REPOSITORY))
        used_images = {c['ImageID'] for c in api.containers(all=True)}
    used_glance_ids = {instance.image_ref for instance in all_instances}
    for image in ours:
        for tag in image['RepoTags'] or ():
            repository, _sep, image_id = tag.rpartition(':')
            if repository not in (GLANCE_REPOSITORY, SNAPSHOT_REPOSITORY):
                continue
            if image['Id'] in used_images or image_id in used_glance_ids:
                if repository == GLANCE_REPOSITORY:
                    _tag(docker_client, tag, image_id)
            else:
                _expire(docker_client, tag, image_id, max_age)


def _expire(docker_client, tag, image_id, max_age):
    """Remove ``tag`` if it is older than ``max_age`` seconds and unused."""
    try:
        with _lock(image_id, blocking=False):
            attrs = docker_client.inspect_image(tag)
            if attrs is None:
                return  # gone already
            age = _tag_age(attrs)
            # Refused when a container was made from it since the listing:
            # nothing to do.
            if age < max_age or not docker_client.remove_unused_image(tag):
                return
    except lockutils.AcquireLockFailedException:
        return  # being loaded, handed to a spawn or snapshotted right now
    LOG.info('Removed image %(tag)s, unused for %(age)d s.',
             {'tag': tag, 'age': age})
