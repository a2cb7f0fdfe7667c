"""The short form ``compute_driver=docker.DockerDriver`` (nova loads
``nova.virt.docker.DockerDriver``)."""

from novadocker.virt.docker.driver import DockerDriver  # noqa: F401
