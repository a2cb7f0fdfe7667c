"""Whose fault a failed build is: the image's, or this host's.

Nova's compute manager reschedules a build to another host whenever the
driver raises anything but the few exceptions it turns into a
BuildAbortException (ImageUnacceptable, InvalidInput, FlavorDiskTooSmall,
...). That is right for a host that failed (engine down, disk full) and
wrong for an image every host would fail the same way: such a build ends
after all hosts were tried, its fault only "Exceeded maximum number of
retries", its cause in compute logs the user cannot read. The engine's
refusals are sorted here, in one place: the image's become
ImageUnacceptable, which aborts the build with the engine's own words as
the server's fault; the rest are left as they are, to be rescheduled.

What the request brings (metadata, hostname, injected files) the driver
checks itself before the engine sees it (spec.py), so an engine refusal of
the container's configuration is the image's (its command, user, working
directory, entrypoint) or of this host's configuration.
"""

import contextlib
import re

from nova import exception
from nova.i18n import _

from novadocker.virt.docker import client

# The engine's InvalidParameter: it refused the container's configuration
# (docker 20.10 also answers a command that cannot be run with it).
BAD_PARAMETER = 400
# What the engine says when a refusal at HTTP 500 (errdefs.System or
# Unknown) is the image's, lower case: a User or group its /etc/passwd or
# /etc/group lacks (the engine's words), a working directory or command
# the runtime cannot use (runc's).
IMAGE_CAUSES = (
    'unable to find user',
    'unable to find group',
    'cwd must be an absolute path',
    'executable file not found',
)
# Conditions of this host (errno strings as Go and the engine print them):
# another host may well succeed, whatever else the message says.
HOST_CONDITIONS = (
    'no space left on device',
    'disk quota exceeded',
    'input/output error',
    'read-only file system',
    'too many open files',
    'cannot allocate memory',
    'resource temporarily unavailable',
    'connection refused',
    'connection reset',
    'broken pipe',
    'context canceled',
    'context deadline exceeded',
)
# Nova keeps 255 characters of a fault message: "Build of instance <uuid>
# aborted: Image <uuid> is unacceptable: Docker refused it: " takes 143.
MAX_REASON = 110
# What containerd and runc put before and after the cause they report.
_RUNTIME_WRAPPING = re.compile(
    r'^(?:(?:failed to create shim task|OCI runtime create failed|'
    r'runc create failed|unable to start container process): )+')
_RUNTIME_SUFFIX = ': unknown'
# The directory ``docker load`` unpacks a tarball into: a path of this host
# that means nothing to the user, in front of the tarball's own paths.
_LOAD_DIRECTORY = re.compile(r'/\S*/docker-import-\d+/')


def is_host_condition(message):
    """Whether an engine's error message names a condition of this host."""
    lowered = message.lower()
    return any(condition in lowered for condition in HOST_CONDITIONS)


def is_image_cause(status_code, message):
    """Whether an engine refusal (HTTP status, message) of a container
    built from an image is the image's: every host would refuse it."""
    if is_host_condition(message):
        return False
    if status_code == BAD_PARAMETER:
        return True
    lowered = message.lower()
    return status_code == 500 and any(cause in lowered
                                      for cause in IMAGE_CAUSES)


def engine_words(message):
    """The engine's message without the runtime's wrapping ("failed to
    create shim task: OCI runtime create failed: ...") and the engine's
    temporary directory, short enough for a fault."""
    message = _RUNTIME_WRAPPING.sub('', message)
    if message.endswith(_RUNTIME_SUFFIX):
        message = message[:-len(_RUNTIME_SUFFIX)]
    message = _LOAD_DIRECTORY.sub('', message).strip()
    if len(message) > MAX_REASON:
        message = message[:MAX_REASON - 3] + '...'
    return message


def image_unacceptable(image_id, message):
    return exception.ImageUnacceptable(
        image_id=image_id,
        reason=_('Docker refused it: %s') % engine_words(message))


@contextlib.contextmanager
def image_refusals(image_id):
    """Engine refusals that are the image's (see :func:`is_image_cause`)
    become ImageUnacceptable; anything else passes unchanged."""
    try:
        yield
    except client.DockerAPIError as e:
        status = e.kwargs.get('status_code')
        message = str(e.kwargs.get('reason', ''))
        if is_image_cause(status, message):
            raise image_unacceptable(image_id, message) from e
        raise


def load_failure(image_id, message):
    """The exception for an error ``docker load`` reported in its stream
    for a tarball that passed the driver's own checks (see imagestream):
    the image's (a layer missing, a member escaping its layer through a
    link, a broken layer) unless it names a condition of this host."""
    if is_host_condition(message):
        return exception.InstanceDeployFailure(
            reason=_('the engine could not load image %(id)s: %(error)s')
            % {'id': image_id, 'error': message})
    return image_unacceptable(image_id, message)
