"""The Docker compute driver.

``DockerDriver`` is also reachable here, for configurations written for the
old driver (``compute_driver = novadocker.virt.docker.DockerDriver``); it is
imported on first access only, so the plugin modules stay light to import.
"""


def __getattr__(name):
    if name == 'DockerDriver':
        from novadocker.virt.docker import driver
        return driver.DockerDriver
    raise AttributeError(name)
