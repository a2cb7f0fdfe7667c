"""Resize and cold migration: the container's writable layer moves with it.

A container's data is its writable layer, which no host can mount from
another: a move commits the stopped container into an image (the *moved
image*, ``novadocker-moved:<instance uuid>``), and the destination creates
the instance's container from it with the new flavor. The two nodes share
nothing but the cloud's services, so when the destination is another host
the moved image travels through Glance, streamed as a hidden, private
``docker save`` image that the destination deletes once it has loaded it.

The source keeps its moved image until the move is confirmed: a revert
creates the container again from it, with the old flavor, on the source.
Nothing else of the instance stays on the source meanwhile, so a resize to
the same host needs no second name for the same instance.
"""

import contextlib

from nova.compute import vm_states
from nova import exception
from nova.i18n import _
from nova.image import glance
from nova import objects
from oslo_log import log as logging
from oslo_serialization import jsonutils
from oslo_utils import units

from novadocker.virt.docker import client
from novadocker.virt.docker import images

LOG = logging.getLogger(__name__)

MOVED_REPOSITORY = 'novadocker-moved'
# On the Glance image that carries a moved image between hosts.
MOVED_PROPERTY = 'novadocker_moved_instance'


def moved_reference(instance):
    """The engine's tag of the instance's moved image."""
    return '%s:%s' % (MOVED_REPOSITORY, instance.uuid)


def check_root_disk_fits(docker_client, instance, flavor):
    """Refuse a flavor whose root disk is smaller than what the container
    has written (its writable layer), before anything is changed: the
    container would be created with a limit it already exceeds."""
    if not flavor.root_gb:
        return
    name = client.container_name(instance.uuid)
    with client.translated_errors('measuring ' + name, instance):
        listed = docker_client.api.containers(
            all=True, size=True, filters={'name': '^/%s$' % name})
    written = listed[0].get('SizeRw', 0) if listed else 0
    if written > flavor.root_gb * units.Gi:
        raise exception.InstanceFaultRollback(exception.ResizeError(
            reason=_('the container has written %(written).1f GB, more than '
                     'the %(limit)d GB root disk of flavor %(flavor)s')
            % {'written': written / units.Gi, 'limit': flavor.root_gb,
               'flavor': flavor.name}))


def carry_out(docker_client, context, instance, same_host):
    """Commit the stopped container into the moved image, and upload it to
    Glance unless the destination is this host. Returns the disk info the
    destination's :func:`brought_in` takes (a JSON string, as Nova carries
    it). Nothing is left of a failed attempt."""
    reference = moved_reference(instance)
    image = images.commit(docker_client, instance, MOVED_REPOSITORY,
                          instance.uuid, pause=False)
    info = {'image': reference, 'glance_id': None}
    if not same_host:
        try:
            info['glance_id'] = _upload(docker_client, context, instance,
                                        image)
        except Exception:
            forget(docker_client, instance)
            raise
    LOG.info('Committed the container into %(image)s for its move%(how)s',
             {'image': reference, 'how': ' (Glance image %s)'
              % info['glance_id'] if info['glance_id'] else ''},
             instance=instance)
    return jsonutils.dumps(info)


def _upload(docker_client, context, instance, image):
    """A new hidden Glance image holding ``image``; its id."""
    image_api = glance.API()
    metadata = {
        'name': 'move of %s' % instance.uuid,
        'container_format': images.CONTAINER_FORMAT,
        'disk_format': images.DISK_FORMAT, 'visibility': 'private',
        'os_hidden': True, 'properties': {MOVED_PROPERTY: instance.uuid}}
    if context.project_id != instance.project_id:
        # An admin's move: the project's members can still hard-reboot the
        # instance from it if the destination fails (left_in_glance).
        metadata['owner'] = instance.project_id
    image_id = image_api.create(context, metadata)['id']
    try:
        images.upload(docker_client, context, instance, image, image_id,
                      {'status': 'active'})
    except Exception:
        _delete_from_glance(context, image_id, instance)
        raise
    return image_id


@contextlib.contextmanager
def brought_in(docker_client, context, instance, disk_info):
    """The engine's reference of the moved image that ``disk_info``
    describes, for the destination to create the container from.

    On the same host it is the source's own copy, kept for a revert. From
    another host it is loaded from Glance (:func:`_from_glance`).
    """
    info = jsonutils.loads(disk_info)
    reference, glance_id = info['image'], info['glance_id']
    if glance_id is None:
        if not docker_client.image_exists(reference):
            raise exception.ImageNotFound(image_id=reference)
        yield reference
        return
    with _from_glance(docker_client, context, instance, glance_id) as loaded:
        yield loaded


@contextlib.contextmanager
def left_in_glance(docker_client, context, instance):
    """The moved image of a move to this host that failed before the
    container was made (Nova left the instance here, in ERROR), loaded from
    the copy Glance keeps for this: a hard reboot makes the container from
    it, with what the workload wrote. InstanceNotFound if there is none."""
    found = _transfers(context, instance)
    if not found:
        raise exception.InstanceNotFound(instance_id=instance.uuid)
    with _from_glance(docker_client, context, instance, found[0]) as loaded:
        yield loaded


def delete_transfers(context, instance):
    """Delete the Glance copies of the instance's moved image that a failed
    move left (for its deletion: the container was never made). Glance
    failing does not fail the deletion: it is only logged."""
    try:
        found = _transfers(context, instance)
    except Exception as e:
        LOG.warning('Could not look for the Glance images of a failed move '
                    'of the instance: %s', e, instance=instance)
        return
    for image_id in found:
        _delete_from_glance(context, image_id, instance)


def _transfers(context, instance):
    """Ids of the Glance images carrying a move of ``instance``."""
    listed = glance.API().get_all(context, filters={
        MOVED_PROPERTY: instance.uuid, 'os_hidden': 'true'})
    # Filtered here too: not every image service filters by property.
    return [image['id'] for image in listed
            if image.get('properties', {}).get(MOVED_PROPERTY) ==
            instance.uuid]


@contextlib.contextmanager
def _from_glance(docker_client, context, instance, glance_id):
    """Load the moved image from Glance and tag it as this host's moved
    image. Glance's copy is deleted once the container is made; a failure
    keeps it, for a hard reboot to try again (:func:`left_in_glance`). The
    engine's tag goes either way, so that no later move to this host can
    find a stale one."""
    reference = None
    try:
        loaded = images.ensure(docker_client, context, objects.ImageMeta(
            id=glance_id, container_format=images.CONTAINER_FORMAT),
            instance=instance)
        reference = moved_reference(instance)
        repository, tag = reference.rsplit(':', 1)
        with client.translated_errors('tagging ' + reference, instance):
            docker_client.api.tag(loaded, repository, tag, force=True)
            docker_client.api.remove_image(loaded)
        yield reference
    finally:
        if reference:
            forget(docker_client, instance)
    _delete_from_glance(context, glance_id, instance)


def revert_reference(docker_client, instance):
    """The moved image kept here for a revert; refuses clearly if it is
    gone (removed by hand, or the engine's data was lost)."""
    reference = moved_reference(instance)
    if not docker_client.image_exists(reference):
        raise exception.InstanceFaultRollback(exception.ResizeError(
            reason=_('the image of the container as it was before the move '
                     '(%s) is no longer in the engine') % reference))
    return reference


def forget(docker_client, instance):
    """Remove this host's tag of the moved image. A container created from
    it (the instance's own, after a move to the same host or a revert)
    keeps its layers."""
    _untag(docker_client, moved_reference(instance), instance)


def drop_unneeded(docker_client, context):
    """Remove the moved images kept here for a revert that can no longer
    come: the instance is gone, or no move of it is under way or waiting
    for its confirm. A move whose destination failed leaves the source's
    copy so (Nova's own clean-up of failed moves looks for their
    migrations, which the instance's deletion has removed): the image
    cache's periodic pass calls this."""
    with client.translated_errors('listing moved images'):
        found = docker_client.api.images(name=MOVED_REPOSITORY)
    for reference in (t for i in found for t in i['RepoTags'] or ()):
        instance_uuid = reference.rpartition(':')[2]
        if _revert_may_come(context, instance_uuid):
            continue
        LOG.info('Removing %s: no move of its instance waits for it',
                 reference)
        _untag(docker_client, reference)


def _revert_may_come(context, instance_uuid):
    try:
        instance = objects.Instance.get_by_uuid(context, instance_uuid,
                                                expected_attrs=[])
    except exception.InstanceNotFound:
        return False
    return (instance.task_state is not None or
            instance.vm_state == vm_states.RESIZED)


def _untag(docker_client, reference, instance=None):
    try:
        with client.translated_errors('removing ' + reference):
            docker_client.api.remove_image(reference, force=True)
    except client.DockerAPIError as e:
        if not docker_client.image_exists(reference):
            return
        LOG.warning('Could not remove %(image)s: %(error)s', {
            'image': reference, 'error': e}, instance=instance)


def remove_carried_layers(docker_client, image_id, instance):
    """Remove the image a removed container was made from if it has no tag:
    a moved image, whose tag :func:`forget` took once the container
    existed, and which nothing else would ever remove. The engine refuses
    while another container or a child image (a later move's) stands on
    it; the last one to go removes it."""
    attrs = docker_client.inspect_image(image_id)
    if attrs is None or attrs['RepoTags']:
        return
    try:
        removed = docker_client.remove_unused_image(image_id)
    except exception.NovaException as e:
        LOG.warning('Could not remove the layers %(image)s the container '
                    'was moved with: %(error)s',
                    {'image': image_id, 'error': e}, instance=instance)
        return
    if removed:
        LOG.info('Removed %s, the layers the container was moved with',
                 image_id, instance=instance)


def _delete_from_glance(context, image_id, instance):
    try:
        glance.API().delete(context, image_id)
    except exception.ImageNotFound:
        pass
    except Exception as e:
        LOG.warning('Could not delete Glance image %(id)s, which carried '
                    'the container\'s move: %(error)s',
                    {'id': image_id, 'error': e}, instance=instance)
