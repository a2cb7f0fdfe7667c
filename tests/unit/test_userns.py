"""What nova-compute learns at start-up from an engine that remaps its
containers' root to an unprivileged host uid (dockerd --userns-remap)."""

from unittest import mock

from nova.virt import fake
import pytest

from novadocker import conf as nd_conf
from novadocker.virt.docker import client
from novadocker.virt.docker import driver

CONF = nd_conf.CONF
# SecurityOptions of `docker info` from Debian 12's engine, with and
# without --userns-remap.
PLAIN = ['name=seccomp,profile=default']
REMAPPED = PLAIN + ['name=userns']


@pytest.mark.parametrize('options, remapped', [
    (PLAIN, False), (REMAPPED, True), ([], False)])
def test_the_engine_says_whether_it_remaps(options, remapped):
    docker_client = client.DockerClient()
    docker_client._api = mock.Mock()
    docker_client._api.info.return_value = {'SecurityOptions': options}
    assert docker_client.userns_remapped() is remapped


@pytest.fixture
def drv():
    drv = driver.DockerDriver(fake.FakeVirtAPI())
    drv.docker = mock.Mock()
    yield drv
    CONF.clear_override('privileged', group='docker')


def test_a_remapping_engine_is_logged(drv, caplog):
    caplog.set_level('INFO')
    drv.docker.userns_remapped.return_value = True
    assert drv._userns_remapped() is True
    assert 'remaps user namespaces' in caplog.text
    assert "this host's root" not in caplog.text


def test_privileged_instances_on_a_remapping_engine_are_warned_of(drv,
                                                                  caplog):
    CONF.set_override('privileged', True, group='docker')
    drv.docker.userns_remapped.return_value = True
    assert drv._userns_remapped() is True
    assert "this host's root" in caplog.text


def test_spawn_options_carry_what_init_host_found(drv):
    drv.userns_remapped = True
    drv.root_disk_quota = True
    options = drv._host_build_options()
    assert options['userns_remapped'] is True
    assert options['root_disk_quota'] is True
