"""Lets nova 34 load the documented compute_driver line,
``compute_driver = novadocker.virt.docker.driver.DockerDriver``.

Nova imports ``nova.virt.<compute_driver>``. This package makes the names
below ``nova.virt.novadocker`` refer to the very modules of the real
``novadocker`` package (same objects, no second copy), so the documented line
works on an unpatched nova.
"""

import importlib
import sys

for _name in ('novadocker', 'novadocker.virt', 'novadocker.virt.docker',
              'novadocker.virt.docker.driver'):
    sys.modules['nova.virt.' + _name] = importlib.import_module(_name)
