"""Rescue: the instance's container stopped, and a rescue container from the
rescue image running on the instance's ports, with the instance's root
filesystem as it is now mounted read-write at ``/mnt/rescue``.

The root filesystem is not copied. With the engine's overlay2 storage, a
container's root is an overlay of its image's layers (``LowerDir``) under
its own writable layer (``UpperDir``, with ``WorkDir``), all named by
``docker inspect`` (``GraphDriver``). A volume of the engine's ``local``
driver of type ``overlay`` over those same directories is that root again:
the engine mounts it when the rescue container starts and unmounts it when
that container stops or goes, and whatever the rescue changes lands in the
instance's own writable layer, there when the instance starts again.
nova-compute mounts nothing itself: it needs no privilege and no access to
the engine's data root, and a remote engine works the same.

An overlay's upper directory must never be mounted twice at once (two
mounts would each cache their own view of it). The instance's container
stays stopped while the rescue container exists, and the driver removes the
rescue before it starts the instance's container again (unrescue, power
on, reboot). Other storage drivers are refused (InstanceNotRescuable).

The rescue container is ``nova-rescue-<uuid>``, and so is its volume. It
carries the instance's labels, so that the power-state sync's one list call
sees it (client.list_instance_states), and LABEL_RESCUE; its name keeps it
from being listed as an instance.
"""

from nova import exception
from nova.i18n import _
from nova.image import glance
from nova import objects
from oslo_log import log as logging
from oslo_utils import excutils

from novadocker.virt.docker import client
from novadocker.virt.docker import passwords
from novadocker.virt.docker import spec

LOG = logging.getLogger(__name__)

RESCUE_MOUNT = '/mnt/rescue'
STORAGE_DRIVER = 'overlay2'
# mount(2) takes the options from one page, their NUL included (4 KiB on
# x86): at the default data root, an image of up to 39 layers.
MAX_MOUNT_OPTIONS = 4095


def _not_rescuable(instance, reason):
    return exception.InstanceNotRescuable(instance_id=instance.uuid,
                                          reason=reason)


def rescue_image_meta(context, instance, image_meta):
    """The image to rescue from: the one Nova names (the instance's own
    unless the user chose one). Without an id, the instance's own image
    from Glance, as libvirt's rescue falls back to it."""
    if image_meta.obj_attr_is_set('id'):
        return image_meta
    return objects.ImageMeta.from_image_ref(context, glance.API(),
                                            instance.image_ref)


def overlay_options(instance, graph_driver):
    """The overlay mount options giving the root filesystem of the stopped
    container whose inspected ``GraphDriver`` this is: its layers as the
    engine mounts them, ``index=off`` included as the engine has it.

    InstanceNotRescuable for another storage driver, for a path that
    overlay's options cannot hold ("," ends an option, ":" separates
    layers), and for more layers than one page of options holds.
    """
    driver = graph_driver.get('Name')
    if driver != STORAGE_DRIVER:
        raise _not_rescuable(instance, _(
            'its container is stored by the engine\'s %(driver)s storage '
            'driver; rescue needs overlay2') % {'driver': driver})
    data = graph_driver.get('Data') or {}
    lower, upper, work = (data.get(key) for key in
                          ('LowerDir', 'UpperDir', 'WorkDir'))
    if not (lower and upper and work):
        raise _not_rescuable(instance, _(
            'the engine does not say where its container\'s layers are'))
    if ',' in lower or any(c in upper + work for c in ',:'):
        raise _not_rescuable(instance, _(
            'the engine\'s data root holds a "," or ":" in its path, which '
            'overlay mount options cannot hold'))
    options = 'index=off,lowerdir=%s,upperdir=%s,workdir=%s' % (
        lower, upper, work)
    if len(options.encode()) > MAX_MOUNT_OPTIONS:
        raise _not_rescuable(instance, _(
            'its root filesystem has too many layers (%(layers)d) for the '
            'options of one overlay mount (%(max)d bytes)')
            % {'layers': len(lower.split(':')) + 1,
               'max': MAX_MOUNT_OPTIONS})
    return options


def volume_options(instance, graph_driver):
    """The local volume driver's options for the instance's live root."""
    return {'type': 'overlay', 'device': 'overlay',
            'o': overlay_options(instance, graph_driver)}


def volume_mount(instance_uuid):
    """The rescue volume, read-write at /mnt/rescue."""
    return {'Type': 'volume', 'Source': client.rescue_name(instance_uuid),
            'Target': RESCUE_MOUNT}


def build(instance, image_meta, network_info, conf, **build_options):
    """Arguments for create_container and create_host_config of the rescue
    container: those of the instance's own container (spec.build with
    ``build_options``: limits, root disk, confinement, hostname, the
    sandbox's namespace if it has one) from the rescue image, with
    LABEL_RESCUE and the rescue volume at /mnt/rescue.
    """
    create_kwargs, host_config = spec.build(
        instance, image_meta, network_info, conf, **build_options)
    create_kwargs['labels'][client.LABEL_RESCUE] = instance.uuid
    host_config.setdefault('mounts', []).append(volume_mount(instance.uuid))
    return create_kwargs, host_config


def create(docker, instance, image, graph_driver, create_kwargs,
           host_config):
    """Create the rescue volume over the layers of the instance's stopped
    container (``graph_driver``, inspected) and the rescue container using
    it; all or nothing. A volume left by an earlier attempt is replaced:
    the layers it names may be another container's."""
    name = client.rescue_name(instance.uuid)
    options = volume_options(instance, graph_driver)
    docker.remove_volume(name)
    docker.create_volume(name, options, {client.LABEL_RESCUE: instance.uuid})
    try:
        docker.create(instance, image, create_kwargs, host_config, name=name)
    except Exception:
        with excutils.save_and_reraise_exception():
            docker.remove_volume(name)


def remove(docker, instance):
    """Remove the rescue container, killed if it runs, then its volume
    (the engine unmounts it with the container). Idempotent."""
    name = client.rescue_name(instance.uuid)
    docker.remove(instance, name=name)
    docker.remove_volume(name)


def remove_orphan_volumes(docker, rescues):
    """Remove the rescue volumes no rescue container uses (of ``rescues``,
    listed): nova-compute stopped between making one and its container.
    For init_host, when no rescue is under way."""
    used = {c['Labels'][client.LABEL_RESCUE] for c in rescues}
    for volume in docker.list_volumes(client.LABEL_RESCUE):
        if volume['Labels'][client.LABEL_RESCUE] not in used:
            LOG.info('Removing the rescue volume %s: no rescue container '
                     'uses it', volume['Name'])
            docker.remove_volume(volume['Name'])


def set_password(docker, instance, image_meta, password):
    """Set the rescue password of the rescue image's admin account in the
    running rescue container. A rescue image without chpasswd (or a
    password chpasswd cannot take) is logged, not refused: the rescue still
    has the keypair ([docker] inject_key) and the network."""
    try:
        passwords.set_password(docker, instance,
                               passwords.admin_user(image_meta), password,
                               name=client.rescue_name(instance.uuid))
    except exception.SetAdminPasswdNotSupported as e:
        LOG.warning('The rescue password was not set: %s',
                    e.format_message(), instance=instance)
