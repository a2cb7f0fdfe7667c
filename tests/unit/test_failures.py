"""Whose fault a failed build is, from the engine's answers: the image's
as docker 20.10 with runc 1.1 gave them in
tests/functional/test_hostile_input.py, the host's by the error names of
the conditions (errno strings) they carry."""

from nova import exception
import pytest

from novadocker.virt.docker import client
from novadocker.virt.docker import failures

IMAGE_ID = '6ab7d0d1-33f6-4b46-8f0f-4a0b3a1b5e2c'
RUNTIME = ('failed to create shim task: OCI runtime create failed: runc '
           'create failed: ')
UNKNOWN_USER = ('unable to find user nobody42: no matching entries in '
                'passwd file')
RELATIVE_WORKDIR = RUNTIME + 'Cwd must be an absolute path: unknown'
NO_COMMAND = (RUNTIME + 'unable to start container process: exec: ";ls": '
              'executable file not found in $PATH: unknown')
DISK_FULL = ('failed to register layer: Error processing tar file(exit '
             'status 1): write /big: no space left on device')


@pytest.mark.parametrize('status, message', [
    (500, UNKNOWN_USER),
    (500, RELATIVE_WORKDIR),
    (400, NO_COMMAND),
    (500, 'unable to find group wheel42: no matching entries in group '
          'file'),
])
def test_refusals_of_what_the_image_says_are_the_images(status, message):
    assert failures.is_image_cause(status, message)


@pytest.mark.parametrize('status, message', [
    (500, DISK_FULL),
    (500, 'error creating overlay mount to /var/lib/docker/overlay2/x/'
          'merged: too many open files'),
    (500, 'failed to create shim task: context deadline exceeded'),
    (404, 'No such image: openstack-glance:' + IMAGE_ID),
    (409, 'Conflict. The container name "/nova-x" is already in use'),
    # A 500 that names nothing of the image: this host's, until known.
    (500, 'cgroups: cannot find cgroup mount destination: unknown'),
    # Even at 400: a full disk is this host's.
    (400, 'write /x: no space left on device'),
])
def test_refusals_of_this_host_are_rescheduled(status, message):
    assert not failures.is_image_cause(status, message)


def test_engine_words_drop_the_runtimes_wrapping():
    assert failures.engine_words(NO_COMMAND) == (
        'exec: ";ls": executable file not found in $PATH')
    assert failures.engine_words(RELATIVE_WORKDIR) == (
        'Cwd must be an absolute path')
    assert failures.engine_words(UNKNOWN_USER) == UNKNOWN_USER
    long = failures.engine_words('x' * 1000)
    assert len(long) == failures.MAX_REASON and long.endswith('...')


def refused(status, message):
    return client.DockerAPIError(action='starting nova-x', reason=message,
                                 status_code=status)


def test_an_image_refusal_becomes_image_unacceptable_short_enough():
    with pytest.raises(exception.ImageUnacceptable) as e:
        with failures.image_refusals(IMAGE_ID):
            raise refused(400, NO_COMMAND)
    fault = exception.BuildAbortException(
        instance_uuid=IMAGE_ID, reason=e.value.format_message())
    assert str(fault) == (
        'Build of instance %s aborted: Image %s is unacceptable: Docker '
        'refused it: exec: ";ls": executable file not found in $PATH'
        % (IMAGE_ID, IMAGE_ID))
    assert len(str(fault)) <= 255


@pytest.mark.parametrize('error', [
    refused(500, DISK_FULL),
    client.DockerUnavailable(url='unix:///x', reason='refused'),
    exception.InstanceDeployFailure(reason='exited during boot'),
])
def test_other_failures_pass_unchanged(error):
    with pytest.raises(type(error)) as e:
        with failures.image_refusals(IMAGE_ID):
            raise error
    assert e.value is error


def test_load_errors_are_the_images_unless_they_name_the_host():
    missing = failures.load_failure(
        IMAGE_ID, 'open /var/lib/docker/tmp/docker-import-1/abc/layer.tar: '
                  'no such file or directory')
    assert isinstance(missing, exception.ImageUnacceptable)
    # The engine's temporary directory is nothing the user can act on.
    assert str(missing).endswith(
        'Docker refused it: open abc/layer.tar: no such file or directory')
    full = failures.load_failure(IMAGE_ID, DISK_FULL)
    assert isinstance(full, exception.InstanceDeployFailure)
    assert 'no space left on device' in str(full)
