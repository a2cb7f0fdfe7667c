"""Instance networking, the one module the driver calls.

Every start of a container makes a new network namespace, so the driver
brackets each start with :meth:`Network.attach_all` and each stop with
:meth:`Network.detach_all`; :meth:`~Network.attach` and
:meth:`~Network.detach` hot-plug one port; :meth:`~Network.plug_vifs` and
:meth:`~Network.unplug_vifs` are nova's host-side hooks.

Per port: the VIF plugin prepares its host-side pieces, a veth pair is made
with its container end (``ethN``, the port's MAC, the network's MTU) created
directly in the namespace; then, at the same time, the plugin connects each
host end (``tap<port id>``) to the port's switch and the container ends get
their addresses and routes (one privileged call for all of them). A failure
undoes exactly what the call created, newest first.
"""

import contextlib

from nova import exception
from oslo_log import log as logging

from novadocker import conf
from novadocker.virt.docker import addressing
from novadocker.virt.docker import background
from novadocker.virt.docker import linux_net
from novadocker.virt.docker import netns
from novadocker.virt.docker import vifs
from novadocker.virt.docker.vifs import base

LOG = logging.getLogger(__name__)
CONF = conf.CONF


def _plug_error(message, cause):
    return exception.VirtualInterfacePlugException(
        '%s: %s' % (message, cause))


@contextlib.contextmanager
def _plugging(vif, ifname, container_id):
    """Name the port in any failure of plugging it."""
    try:
        yield
    except Exception as e:
        raise _plug_error('Could not plug port %s as %s into container %s'
                          % (vif['id'], ifname, container_id), e) from e


class Network:
    """Plugs an instance's Neutron ports into its container."""

    def __init__(self):
        self._vif_driver = None

    @property
    def vif_driver(self):
        """The ``[docker] vif_driver`` plugin, loaded on first use."""
        if self._vif_driver is None:
            self._vif_driver = vifs.load(CONF.docker.vif_driver)
        return self._vif_driver

    @contextlib.contextmanager
    def _all_or_nothing(self, instance):
        undo = base.Undo(instance)
        try:
            yield undo
        except Exception as e:
            LOG.error('%s; undoing what was done so far', e,
                      instance=instance)
            undo.run()
            raise

    def _expose(self, instance, container_id, pid, undo):
        try:
            created = netns.expose(container_id, pid)
        except Exception as e:
            raise _plug_error('Could not expose the network namespace of '
                              'container %s (pid %s)' % (container_id, pid),
                              e) from e
        if created:
            undo.add('remove netns link of %s' % container_id, netns.hide,
                     container_id)

    def _create_device(self, instance, container_id, vif, ifname, undo):
        """The port's host-side pieces and its veth pair; the port's
        plugin, which connects the host end afterwards."""
        with _plugging(vif, ifname, container_id):
            plugin = self.vif_driver.plugin_for(vif)
            host_ifname = addressing.tap_name(vif)
            plugin.prepare(instance, vif, undo)
            netns.create_veth(container_id, host_ifname, ifname,
                              vif['address'], addressing.mtu(vif))
            undo.add('delete veth %s' % host_ifname, linux_net.delete_device,
                     host_ifname)
        return plugin

    @staticmethod
    def _connect_host_ends(instance, container_id, ports, undo):
        for plugin, vif, ifname in ports:
            with _plugging(vif, ifname, container_id):
                plugin.plug(instance, vif, addressing.tap_name(vif), undo)
            LOG.debug('Plugged port %s as %s (host end %s)', vif['id'],
                      ifname, addressing.tap_name(vif), instance=instance)

    def _plug(self, instance, container_id, vifs_by_ifname, undo):
        """Plug ports ((ifname, vif) pairs) into the container's exposed
        namespace. Once the veth pairs exist, the host ends join their
        switches on a thread of their own while the container ends get
        their addresses: the two sides need nothing of each other, and
        each takes milliseconds (an OVSDB transaction; netlink inside the
        namespace)."""
        ports = [(self._create_device(instance, container_id, vif, ifname,
                                      undo), vif, ifname)
                 for ifname, vif in vifs_by_ifname]
        switching = background.Background(
            self._connect_host_ends, instance, container_id, ports, undo)
        first = addressing.container_ifname(0)
        try:
            netns.configure(container_id, [
                (ifname, addressing.ip_config(vif,
                                              metadata_route=ifname == first))
                for _, vif, ifname in ports])
        except Exception as e:
            raise _plug_error('Could not configure the ports of container '
                              '%s' % container_id, e) from e
        finally:
            switching.join()

    def attach_all(self, instance, container_id, pid, network_info):
        """Give the freshly started container ``pid`` all its ports, in
        order, as eth0..N; all or nothing (VirtualInterfacePlugException).

        An instance without ports needs nothing from the host network (and
        its process may have ended already): nothing is done.
        """
        if not network_info:
            return
        addressing.check_ports(network_info)
        with self._all_or_nothing(instance) as undo:
            self._expose(instance, container_id, pid, undo)
            self._plug(instance, container_id, [
                (addressing.container_ifname(index), vif)
                for index, vif in enumerate(network_info)], undo)
        LOG.info('Attached %d port(s) to container %s', len(network_info),
                 container_id, instance=instance)

    def attach(self, instance, container_id, pid, vif):
        """Hot-plug one port into the running container as the next free
        ethN; all or nothing."""
        addressing.check_ports([vif])
        with self._all_or_nothing(instance) as undo:
            self._expose(instance, container_id, pid, undo)
            ifname = addressing.next_container_ifname(
                netns.ifnames(container_id))
            self._plug(instance, container_id, [(ifname, vif)], undo)
        LOG.info('Attached port %s to container %s as %s', vif['id'],
                 container_id, ifname, instance=instance)

    def _unplug(self, instance, vif):
        """Remove the port's host side; deleting the tap also removes the
        container's ethN."""
        try:
            self.vif_driver.plugin_for(vif).unplug(instance, vif)
        finally:
            linux_net.delete_device(addressing.tap_name(vif))

    def _unplug_each(self, instance, network_info):
        """Unplug every port even when one fails (``network_info`` may be
        None, as nova passes it to destroy); the failures' messages."""
        failures = []
        for vif in network_info or []:
            try:
                self._unplug(instance, vif)
            except Exception as e:
                LOG.exception('Could not unplug port %s', vif['id'],
                              instance=instance)
                failures.append('port %s: %s' % (vif['id'], e))
        return failures

    @staticmethod
    def _raise_unplug_failures(failures):
        if failures:
            raise exception.VirtualInterfaceUnplugException(
                reason='; '.join(failures))

    def detach(self, instance, container_id, vif):
        """Hot-unplug one port from the container; idempotent."""
        self._raise_unplug_failures(self._unplug_each(instance, [vif]))
        LOG.info('Detached port %s from container %s', vif['id'],
                 container_id, instance=instance)

    def detach_all(self, instance, container_id, network_info):
        """Unplug the host side of every port and remove the netns link;
        idempotent, and works once the container is gone or was never
        created (``container_id`` None)."""
        failures = self._unplug_each(instance, network_info)
        if container_id:
            try:
                netns.hide(container_id)
            except Exception as e:
                LOG.exception('Could not remove the netns link of %s',
                              container_id, instance=instance)
                failures.append('netns link: %s' % e)
        self._raise_unplug_failures(failures)

    def set_reachable(self, instance, network_info, reachable):
        """Carry a paused instance's traffic or not. A frozen container's
        kernel still answers pings and accepts TCP connections; a paused VM
        answers nothing. Taking the host ends down drops every frame both
        ways and leaves the container's addresses and routes as they are."""
        for vif in network_info or []:
            tap = addressing.tap_name(vif)
            if not linux_net.set_link_up(tap, reachable):
                LOG.warning('Port %s has no host device %s', vif['id'], tap,
                            instance=instance)

    def release_namespaces(self, container_ids):
        """Remove the netns links of containers that no longer run, e.g.
        after the engine restarted: a link keeps its dead namespace, and
        the devices in it, alive."""
        for container_id in container_ids:
            netns.hide(container_id)

    def release_orphan_namespaces(self, container_ids):
        """Remove the netns links of containers the engine no longer has
        (``container_ids``: all it has). A destroy cut short between the
        container's removal and the unplug leaves one, and Nova's retry of
        the delete cannot find it by its container any more."""
        gone = [cid for cid in netns.container_links()
                if cid not in container_ids]
        for container_id in gone:
            LOG.info('Removing the netns link of container %s, which the '
                     'engine no longer has', container_id)
        self.release_namespaces(gone)

    def plug_vifs(self, instance, network_info):
        """Create the host-side pieces that need no container (hybrid
        bridges, Linux bridges); idempotent, all or nothing."""
        with self._all_or_nothing(instance) as undo:
            for vif in network_info or []:
                try:
                    self.vif_driver.plugin_for(vif).prepare(instance, vif,
                                                            undo)
                except Exception as e:
                    raise _plug_error('Could not plug port %s on the host'
                                      % vif['id'], e) from e

    def unplug_vifs(self, instance, network_info):
        """Remove the host side of every port; idempotent."""
        self._raise_unplug_failures(self._unplug_each(instance, network_info))
