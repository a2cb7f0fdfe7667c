"""The documented compute_driver lines load through nova's own loader."""

import sys

from nova.virt import driver as nova_driver
from nova.virt import fake
import pytest

from novadocker.virt.docker import driver


@pytest.mark.parametrize('compute_driver', [
    'novadocker.virt.docker.driver.DockerDriver',   # documented
    'docker.DockerDriver',                          # short form
    'novadocker.virt.docker.DockerDriver',          # the old driver's docs
])
def test_nova_loads_the_driver(compute_driver):
    loaded = nova_driver.load_compute_driver(fake.FakeVirtAPI(),
                                             compute_driver)
    assert type(loaded) is driver.DockerDriver


def test_alias_modules_are_the_real_ones():
    nova_driver.load_compute_driver(
        fake.FakeVirtAPI(), 'novadocker.virt.docker.driver.DockerDriver')
    for name in ('novadocker', 'novadocker.virt', 'novadocker.virt.docker',
                 'novadocker.virt.docker.driver'):
        assert sys.modules['nova.virt.' + name] is sys.modules[name]


def test_unknown_driver_still_exits(monkeypatch):
    exits = []
    monkeypatch.setattr(sys, 'exit', exits.append)
    nova_driver.load_compute_driver(fake.FakeVirtAPI(),
                                    'novadocker.virt.docker.driver.Nope')
    assert exits == [1]
