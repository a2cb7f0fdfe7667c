"""The admin password with the real driver and engine: chpasswd in the
container, the password on its stdin only."""

import logging
from unittest import mock

from nova import exception
import pytest

from tests.fixtures.guest import chpasswd_image  # noqa: F401
from tests.fixtures.guest import meta
from tests.fixtures.guest import spawn
from tests.functional.test_driver import docker_driver  # noqa: F401
from tests.functional.test_driver import image_meta
from tests.functional.test_driver import run_in
from tests.unit import factories

PASSWORD = 's3cret pass:with colon'


def shadow_hash(api, instance, user='root'):
    for line in run_in(api, instance, 'cat', '/etc/shadow').splitlines():
        if line.startswith(user + ':'):
            return line.split(':')[1]


def test_set_admin_password_changes_roots_hash(
        docker_driver, chpasswd_image, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    instance = factories.instance()
    spawn(docker_driver, instance, meta(chpasswd_image))
    api = docker_driver.docker.api
    assert shadow_hash(api, instance) == '*'
    created = []

    def exec_create(*args, **kwargs):
        created.append((args, kwargs, real_exec_create(*args, **kwargs)))
        return created[-1][2]
    real_exec_create = api.exec_create
    with mock.patch.object(api, 'exec_create', exec_create):
        docker_driver.set_admin_password(instance, PASSWORD)
    hashed = shadow_hash(api, instance)
    salt = hashed.split('$')[2]
    assert hashed.startswith('$6$')
    assert run_in(api, instance, 'mkpasswd', '-m', 'sha512', '-S', salt,
                  PASSWORD).strip() == hashed
    # The password was on chpasswd's stdin only: not in what the engine
    # was asked or records of the exec, not in any log.
    (args, kwargs, result), = created
    assert PASSWORD not in repr((args, kwargs))
    assert api.exec_inspect(result['Id'])['ProcessConfig'] == {
        'tty': False, 'entrypoint': 'chpasswd', 'arguments': [],
        'privileged': False, 'user': '0'}
    assert PASSWORD not in caplog.text
    docker_driver.destroy(None, instance, None)


def test_an_image_without_chpasswd_is_told_clearly(
        docker_driver):  # noqa: F811
    instance = factories.instance()
    spawn(docker_driver, instance, image_meta())
    with pytest.raises(exception.SetAdminPasswdNotSupported) as e:
        docker_driver.set_admin_password(instance, PASSWORD)
    assert 'has no chpasswd command' in e.value.format_message()
    docker_driver.destroy(None, instance, None)


def test_a_stopped_instance_or_a_failing_chpasswd_fails_without_the_password(
        docker_driver, chpasswd_image, caplog):  # noqa: F811
    instance = factories.instance()
    instance.system_metadata = {'image_os_admin_user': 'ghost'}
    spawn(docker_driver, instance, meta(chpasswd_image))
    with pytest.raises(exception.InstancePasswordSetFailed) as e:
        docker_driver.set_admin_password(instance, PASSWORD)
    assert 'chpasswd exited with code 1' in str(e.value)
    assert 'ghost' in str(e.value)  # chpasswd's own words
    assert PASSWORD not in str(e.value) and PASSWORD not in caplog.text
    docker_driver.power_off(instance, timeout=0)
    with pytest.raises(exception.InstancePasswordSetFailed) as e:
        docker_driver.set_admin_password(instance, PASSWORD)
    assert 'its container is exited, not running' in str(e.value)
    docker_driver.destroy(None, instance, None)
