"""Glance images with ``container_format=docker`` on the local engine.

A Glance image is found locally under the tag ``openstack-glance:<image id>``
that this driver gives every image it loads, so the Glance name never has to
match a Docker tag. Images tagged with the Glance name (how the old driver
found them) are still used.
"""

from nova import exception
from nova.i18n import _

GLANCE_REPOSITORY = 'openstack-glance'
CONTAINER_FORMAT = 'docker'


def glance_reference(image_id):
    """The local tag of the Glance image ``image_id``."""
    return '%s:%s' % (GLANCE_REPOSITORY, image_id)


def check_container_format(image_meta):
    container_format = image_meta.obj_attr_is_set('container_format') and \
        image_meta.container_format
    if container_format != CONTAINER_FORMAT:
        raise exception.InstanceDeployFailure(
            reason=_('image %(image)s has container_format %(format)s; the '
                     'Docker driver boots only container_format=docker '
                     'images ("docker save IMAGE | openstack image create '
                     '--container-format docker --disk-format raw NAME")')
            % {'image': image_meta.id if image_meta.obj_attr_is_set('id')
               else '(unknown)', 'format': container_format or '(none)'})


def local_reference(docker_client, image_meta):
    """The engine's reference for ``image_meta``, or None if not loaded."""
    candidates = [glance_reference(image_meta.id)]
    if image_meta.obj_attr_is_set('name') and image_meta.name:
        candidates.append(image_meta.name)
    for reference in candidates:
        if docker_client.image_exists(reference):
            return reference
    return None


def ensure(docker_client, context, image_meta):
    """Make sure the engine has the image; returns its local reference."""
    check_container_format(image_meta)
    reference = local_reference(docker_client, image_meta)
    if reference is None:
        raise exception.ImageNotFound(image_id=image_meta.id)
    return reference
