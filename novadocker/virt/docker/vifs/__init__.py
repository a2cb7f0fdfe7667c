"""VIF plugins, found by entry point in ``novadocker.vif_drivers``.

``[docker] vif_driver`` takes an entry-point name; the class paths of the old
nova-docker keep working and map to their entry points.
"""

from nova import exception
from stevedore import driver
from stevedore import exception as stevedore_exception

NAMESPACE = 'novadocker.vif_drivers'
LEGACY_CLASS_PATHS = {
    'novadocker.virt.docker.vifs.DockerGenericVIFDriver': 'generic',
    'novadocker.virt.docker.opencontrail.OpenContrailVIFDriver': 'vrouter',
}


class PluginNotInstalled(exception.VirtualInterfacePlugException):
    msg_fmt = ('VIF plugin %(name)r is not installed (no entry point of that '
               'name in %(namespace)s): check [docker] vif_driver, or '
               'install the package that provides it.')


def entry_point_name(name):
    """The entry point a configured vif_driver value means."""
    return LEGACY_CLASS_PATHS.get(name, name)


def _reraise(manager, entry_point, error):
    raise error


def load(name):
    """An instance of the VIF driver or plugin registered as ``name``."""
    name = entry_point_name(name)
    try:
        return driver.DriverManager(
            NAMESPACE, name, invoke_on_load=True,
            on_load_failure_callback=_reraise).driver
    except stevedore_exception.NoMatches as e:
        raise PluginNotInstalled(name=name, namespace=NAMESPACE) from e
