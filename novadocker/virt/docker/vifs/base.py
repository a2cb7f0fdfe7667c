"""The VIF plugin interface.

``[docker] vif_driver`` names a :class:`VIFDriver` by entry point
(``novadocker.vif_drivers``); for every port it hands out the
:class:`VIFPlugin` that plugs it. A plugin plugs the host side only: the
network code creates the instance's veth pair (host end ``tap<port id>``,
container end ``ethN``) and configures the container end, so a plugin's job is
to connect that host end to the port's switch.
"""

import abc

from nova import exception
from oslo_log import log as logging

LOG = logging.getLogger(__name__)


class UnsupportedVIFType(exception.VirtualInterfacePlugException):
    msg_fmt = ('VIF plugin %(plugin)s cannot plug port %(port_id)s: '
               'vif_type %(vif_type)r is not one of %(supported)s. Check '
               'the port binding in Neutron and [docker] vif_driver.')


class Undo:
    """Undo steps, recorded as each step they undo succeeds and run newest
    first, so a failure half-way leaves nothing of the failed call behind
    and nothing that existed before it is touched."""

    def __init__(self, instance):
        self._instance = instance
        self._steps = []

    def add(self, description, func, *args):
        self._steps.append((description, func, args))

    def run(self):
        while self._steps:
            description, func, args = self._steps.pop()
            try:
                func(*args)
            except Exception:
                LOG.exception('Could not undo: %s', description,
                              instance=self._instance)


class VIFDriver(abc.ABC):
    """What ``[docker] vif_driver`` names."""

    @abc.abstractmethod
    def plugin_for(self, vif):
        """The plugin that plugs ``vif``; UnsupportedVIFType if none."""


class VIFPlugin(VIFDriver):
    """Plugs ports of the Nova VIF types in :attr:`vif_types`."""

    vif_types = ()

    def plugin_for(self, vif):
        if vif['type'] not in self.vif_types:
            raise UnsupportedVIFType(plugin=type(self).__name__,
                                     port_id=vif['id'], vif_type=vif['type'],
                                     supported=', '.join(self.vif_types))
        return self

    def prepare(self, instance, vif, undo):
        """Create the host-side pieces that exist without the container
        (a hybrid bridge, a network's Linux bridge); idempotent, so nova's
        plug_vifs can call it at any time. Nothing by default."""

    @abc.abstractmethod
    def plug(self, instance, vif, host_ifname, undo):
        """Connect ``host_ifname``, the host end of the instance's veth, to
        the port's switch. Record in ``undo`` how to remove what this call
        created."""

    @abc.abstractmethod
    def unplug(self, instance, vif):
        """Remove the host-side pieces of the port except the veth;
        idempotent."""
