"""What nova-compute does at start-up with an engine that can, or cannot,
limit a container's root disk."""

from unittest import mock

from docker import errors as docker_errors
from nova.virt import fake
import pytest

from novadocker import conf as nd_conf
from novadocker.virt.docker import client
from novadocker.virt.docker import driver

CONF = nd_conf.CONF
REFUSAL = ("--storage-opt is supported only for overlay over xfs with "
           "'pquota' mount option")


@pytest.fixture
def drv():
    drv = driver.DockerDriver(fake.FakeVirtAPI())
    drv.docker = mock.Mock()
    yield drv
    CONF.clear_override('require_root_disk_quota', group='docker')


def test_an_engine_that_enforces_it_limits_root_disks(drv, caplog):
    caplog.set_level('INFO')
    drv.docker.root_disk_quota_refusal.return_value = None
    assert drv._root_disk_quota() is True
    assert 'limited' in caplog.text


def test_an_engine_that_cannot_warns_and_runs_without(drv, caplog):
    drv.docker.root_disk_quota_refusal.return_value = REFUSAL
    assert drv._root_disk_quota() is False
    assert REFUSAL in caplog.text
    assert 'without one' in caplog.text


def test_required_but_unavailable_refuses_to_start(drv):
    CONF.set_override('require_root_disk_quota', True, group='docker')
    drv.docker.root_disk_quota_refusal.return_value = REFUSAL
    with pytest.raises(driver.RootDiskQuotaUnavailable) as e:
        drv._root_disk_quota()
    message = e.value.format_message()
    assert REFUSAL in message and 'pquota' in message
    assert 'require_root_disk_quota' in message


@pytest.fixture
def api():
    docker_client = client.DockerClient()
    docker_client._api = mock.Mock()
    docker_client._api.create_host_config.side_effect = dict
    return docker_client


def test_the_probe_creates_and_removes_a_container_with_the_option(api):
    assert api.root_disk_quota_refusal() is None
    name = api.api.create_container.call_args.kwargs['name']
    assert name.startswith(client.QUOTA_PROBE_PREFIX)
    assert api.api.create_container.call_args.kwargs['host_config'] == {
        'storage_opt': {'size': client.QUOTA_PROBE_SIZE}}
    api.api.remove_container.assert_called_once_with(name, force=True)
    api.api.remove_image.assert_called_once_with(name, force=True)
    api.api.start.assert_not_called()


def test_the_probe_returns_the_engines_refusal_and_leaves_nothing(api):
    api.api.create_container.side_effect = docker_errors.APIError(
        'refused', explanation=REFUSAL)
    assert api.root_disk_quota_refusal() == REFUSAL
    api.api.remove_container.assert_not_called()
    api.api.remove_image.assert_called_once()
