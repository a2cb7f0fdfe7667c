"""The class path of the old nova-docker's OpenContrail VIF driver.

Field configurations say ``[docker] vif_driver =
novadocker.virt.docker.opencontrail.OpenContrailVIFDriver``. The driver
resolves that value to the ``vrouter`` entry point (vifs.LEGACY_CLASS_PATHS);
this module keeps the path importable too, for tools that import it.
"""

from novadocker.virt.docker.vifs import vrouter


class OpenContrailVIFDriver(vrouter.VRouterPlugin):
    """The vrouter plugin under its old name."""
