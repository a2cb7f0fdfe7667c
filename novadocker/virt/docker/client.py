"""The connection to the Docker engine, and Docker errors as Nova errors.

Only the low-level ``docker.APIClient`` is used: the high-level SDK inspects
every container it lists, which is the per-container cost the periodic tasks
must not pay.
"""

import contextlib
import io
import re
import socket
import ssl
import tarfile
import time
import typing

import docker
from docker import errors as docker_errors
from docker import tls as docker_tls
from docker import utils as docker_utils
from nova import exception
from nova.i18n import _
from oslo_log import log as logging
from oslo_utils import uuidutils
import requests
from urllib3 import exceptions as urllib3_exceptions

from novadocker import conf as nd_conf

CONF = nd_conf.CONF
LOG = logging.getLogger(__name__)

NAME_PREFIX = 'nova-'
LABEL_PREFIX = 'org.openstack.nova.'
LABEL_UUID = LABEL_PREFIX + 'instance.uuid'
LABEL_NAME = LABEL_PREFIX + 'instance.name'
LABEL_PROJECT = LABEL_PREFIX + 'project.id'
LABEL_VCPUS = LABEL_PREFIX + 'flavor.vcpus'
# Only on network sandboxes: never listed as instances.
LABEL_SANDBOX = LABEL_PREFIX + 'sandbox.instance.uuid'
SANDBOX_PREFIX = 'nova-sandbox-'
# On rescue containers, beside the instance's own labels (rescue.py), and on
# their volumes.
LABEL_RESCUE = LABEL_PREFIX + 'rescue.instance.uuid'
RESCUE_PREFIX = 'nova-rescue-'
STATE_SETTLE_TIMEOUT = 10
# How often a request refused by a restarting engine is sent again.
ENGINE_RETRY_INTERVAL = 0.5
# What connecting to an engine that is not there raises: no socket file,
# nobody listening, no TCP connection (urllib3 wraps the last). The
# request was never sent.
NOT_CONNECTED = (FileNotFoundError, ConnectionRefusedError,
                 urllib3_exceptions.NewConnectionError)
# The keys that end an attach when typed one by one. The engine cannot be
# told to have none, and its default (ctrl-p ctrl-q) holds back every lone
# ctrl-p (a shell's "previous command") until the next key. NUL, US, NUL
# is never typed by chance, and only a lone NUL is held back.
DETACH_KEYS = 'ctrl-@,ctrl-_,ctrl-@'
# The throwaway image and container of the root disk quota probe.
QUOTA_PROBE_PREFIX = 'novadocker-quota-probe-'
QUOTA_PROBE_SIZE = '1G'
# In ``docker info``'s SecurityOptions when dockerd runs with
# --userns-remap.
USERNS_SECURITY_OPTION = 'name=userns'


class DockerUnavailable(exception.HypervisorUnavailable):
    msg_fmt = _('Docker engine at %(url)s is unreachable: %(reason)s. Check '
                'that dockerd is running and listening there ([docker] '
                'host_url), and that this service\'s user may open the '
                'socket (e.g. membership of the "docker" group).')


class DockerAPIError(exception.NovaException):
    """``status_code``: the engine's HTTP status, when it answered (see
    failures.py: whose fault a refusal is)."""
    msg_fmt = _('Docker engine refused %(action)s: %(reason)s')


class ImageMissing(DockerAPIError):
    """The engine has no image ``image`` (any more)."""


class StaleTask(DockerAPIError):
    """dockerd 20.10 (live-restore) stopped in the middle of a start keeps
    the container's half-made containerd task when it comes back, and
    cannot start that container again until its next restart."""


# How the engine refuses a start because of such a task (measured).
STALE_TASK = re.compile(r'task [0-9a-f]{64}: already exists|'
                        r'failed to start shim: mkdir .*: file exists')


def container_name(instance_uuid):
    return NAME_PREFIX + instance_uuid


def sandbox_name(instance_uuid):
    """The instance's network sandbox container (``[docker]
    network_sandbox``)."""
    return SANDBOX_PREFIX + instance_uuid


def rescue_name(instance_uuid):
    """The instance's rescue container, and its volume (rescue.py)."""
    return RESCUE_PREFIX + instance_uuid


def _named(container, name):
    """Whether a listed container is called ``name``."""
    return '/' + name in container['Names']


class InstanceState(typing.NamedTuple):
    """What the engine's list says of one instance: ``holder``, the listed
    container that holds its power state (its rescue container while it
    has one, else its own); ``own``, its own container's listing, or None
    while only a rescue container is left."""

    holder: dict
    own: typing.Optional[dict]


def _instance_states(containers):
    """{uuid: InstanceState} from listed containers carrying LABEL_UUID;
    those not named after it (made by hand from a snapshot) are not
    instances'."""
    own, rescues = {}, {}
    for c in containers:
        uuid = c['Labels'][LABEL_UUID]
        if _named(c, container_name(uuid)):
            own[uuid] = c
        elif (_named(c, rescue_name(uuid)) and
              c['Labels'].get(LABEL_RESCUE) == uuid):
            rescues[uuid] = c
    return {uuid: InstanceState(rescues.get(uuid) or own.get(uuid),
                                own.get(uuid))
            for uuid in own.keys() | rescues.keys()}


def _tls_config():
    if not (CONF.docker.ca_file or CONF.docker.cert_file):
        return None
    client_cert = None
    if CONF.docker.cert_file:
        client_cert = (CONF.docker.cert_file, CONF.docker.key_file)
    verify = False if CONF.docker.api_insecure else (
        CONF.docker.ca_file or True)
    return docker_tls.TLSConfig(client_cert=client_cert,
                                ca_cert=CONF.docker.ca_file, verify=verify)


def never_sent(error):
    """Whether a transport error happened while connecting, before the
    engine received anything: then sending the request again is safe
    whatever it asks. Found in the chain of wrapped errors (requests wraps
    urllib3's, which wraps the socket's)."""
    pending, seen = [error], set()
    while pending:
        e = pending.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, NOT_CONNECTED):
            return True
        pending.extend(
            inner for inner in (*e.args, getattr(e, 'reason', None),
                                e.__cause__, e.__context__)
            if isinstance(inner, BaseException))
    return False


class _APIClient(docker.APIClient):
    """An APIClient that rides through an engine restart (:meth:`send`)
    and whose requests verify the engine with the configured CA: plain
    requests lets REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE replace it, from the
    very first request (the version negotiation)."""

    # How many requests found the engine refusing connections: a caller
    # compares it before and after a step to learn the engine went away.
    outages = 0

    def send(self, request, **kwargs):
        """Send, and send again for up to [docker] engine_restart_wait s
        while the engine refuses connections: a restarting dockerd would
        otherwise fail whatever nova-compute asked of it meanwhile (a
        user's start, a delete) though it is back seconds later."""
        deadline = time.monotonic() + CONF.docker.engine_restart_wait
        warned = False
        while True:
            try:
                return super().send(request, **kwargs)
            except requests.exceptions.ConnectionError as e:
                if not never_sent(e):
                    raise
                if not warned:
                    self.outages += 1
                if time.monotonic() >= deadline:
                    raise
                if not warned:
                    LOG.warning('Docker engine at %(url)s refuses '
                                'connections (%(error)s); asking again for '
                                'up to %(wait)d s ([docker] '
                                'engine_restart_wait)',
                                # Not the exception: a log record kept
                                # (pytest's) would keep its traceback and
                                # the socket that failed to connect.
                                {'url': CONF.docker.host_url,
                                 'error': str(e),
                                 'wait': CONF.docker.engine_restart_wait})
                    warned = True
            # Outside the except clause, which ends the exception's life:
            # its traceback holds the socket that failed to connect, and a
            # thread waiting here would keep it open all the while.
            time.sleep(ENGINE_RETRY_INTERVAL)

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        if verify is None:
            verify = self.verify
        return super().merge_environment_settings(url, proxies, stream,
                                                  verify, cert)


def connect():
    """A new APIClient for ``[docker] host_url``; raises DockerUnavailable."""
    try:
        api = _APIClient(base_url=CONF.docker.host_url,
                         version=CONF.docker.api_version,
                         timeout=CONF.docker.api_timeout, tls=_tls_config())
    except (docker_errors.DockerException,
            requests.exceptions.RequestException) as e:
        raise DockerUnavailable(url=CONF.docker.host_url, reason=e)
    if CONF.docker.host_url.startswith('unix://'):
        # No proxy or CA bundle applies to a local socket; requests would
        # still scan the whole environment for them at every request.
        api.trust_env = False
    return api


@contextlib.contextmanager
def translated_errors(action, instance=None):
    """Turn Docker and transport errors into the Nova exception that fits.

    ``action`` names what was being done, for the operator reading the
    fault ("starting container nova-...").
    """
    try:
        yield
    except docker_errors.NotFound as e:
        if instance is not None:
            raise exception.InstanceNotFound(instance_id=instance.uuid)
        raise DockerAPIError(action=action, reason=e.explanation or e,
                             status_code=e.status_code)
    except docker_errors.APIError as e:
        raise DockerAPIError(action=action, reason=e.explanation or e,
                             status_code=e.status_code)
    except (requests.exceptions.ConnectionError,
            requests.exceptions.Timeout) as e:
        raise DockerUnavailable(url=CONF.docker.host_url, reason=e)
    except docker_errors.DockerException as e:
        raise DockerAPIError(action=action, reason=e)


class DockerClient:
    """The driver's view of the engine: one method per engine operation.

    The APIClient is made on first use, not at construction: nova builds the
    driver before ``init_host``, which is where an unreachable engine must
    be reported.
    """

    def __init__(self):
        self._api = None

    @property
    def api(self):
        if self._api is None:
            self._api = connect()
        return self._api

    def ping(self):
        with translated_errors('ping'):
            self.api.ping()

    def info(self):
        with translated_errors('engine info'):
            return self.api.info()

    def userns_remapped(self):
        """Whether the engine runs containers in a user namespace of its
        own (``dockerd --userns-remap``): their root is an unprivileged uid
        on the host. ``docker info`` lists it among its security options."""
        options = self.info().get('SecurityOptions') or ()
        return USERNS_SECURITY_OPTION in options

    def root_disk_quota_refusal(self):
        """Why the engine cannot limit a container's writable layer (the
        storage option ``size``), or None if it can.

        Only its storage driver knows (overlay2 needs its backing XFS
        mounted with pquota, which ``docker info`` does not show): a
        container is created, never started, with the option from an
        empty image imported for it, then both are removed.
        """
        name = QUOTA_PROBE_PREFIX + uuidutils.generate_uuid()
        with translated_errors('probing the root disk quota'):
            self.api.import_image_from_data(_empty_tar(), repository=name,
                                            tag='latest')
            try:
                self.api.create_container(
                    name, command=['none'], name=name,
                    host_config=self.api.create_host_config(
                        storage_opt={'size': QUOTA_PROBE_SIZE}))
            except docker_errors.APIError as e:
                return e.explanation or str(e)
            else:
                self.api.remove_container(name, force=True)
            finally:
                self.api.remove_image(name, force=True)
        return None

    def container_ids(self):
        """The id of every container of the engine, any name, any state:
        one API call."""
        with translated_errors('listing containers'):
            return {c['Id'] for c in self.api.containers(all=True)}

    def list_containers(self):
        """Every instance container of this driver, running or not: one
        API call."""
        return self._labelled(LABEL_UUID, container_name)

    def list_sandboxes(self):
        """Every network sandbox of this driver, running or not."""
        return self._labelled(LABEL_SANDBOX, sandbox_name)

    def list_rescues(self):
        """Every rescue container of this driver, running or not."""
        return self._labelled(LABEL_RESCUE, rescue_name)

    def list_instance_states(self):
        """{instance uuid: InstanceState} of every instance with a
        container. One API call: rescue containers carry the instance's
        labels too."""
        return _instance_states(self._list(LABEL_UUID))

    def instance_state(self, uuid):
        """Instance ``uuid``'s InstanceState, or None if it has no
        container: one API call."""
        return _instance_states(
            self._list('%s=%s' % (LABEL_UUID, uuid))).get(uuid)

    def _list(self, label):
        with translated_errors('listing containers'):
            return self.api.containers(all=True, filters={'label': label})

    def _labelled(self, label, name_of):
        """The containers carrying ``label`` and named after its value.

        A container started outside Nova from a snapshot inherits the labels
        (docker commit keeps them); only one named after its label is the
        driver's.
        """
        return [c for c in self._list(label)
                if _named(c, name_of(c['Labels'][label]))]

    def inspect(self, instance, name=None):
        """The container of ``instance`` (or the one called ``name``);
        InstanceNotFound if it has none."""
        name = name or container_name(instance.uuid)
        with translated_errors('inspecting ' + name, instance):
            return self.api.inspect_container(name)

    def find(self, instance, name=None):
        """Like inspect, but None when the instance has no container."""
        try:
            return self.inspect(instance, name)
        except exception.InstanceNotFound:
            return None

    def create(self, instance, image, create_kwargs, host_config,
               name=None):
        """The new container's id; ImageMissing if the engine has no
        ``image``."""
        name = name or container_name(instance.uuid)
        with translated_errors('creating ' + name):
            host_config = self.api.create_host_config(**host_config)
            try:
                return self.api.create_container(
                    image, name=name, host_config=host_config,
                    **create_kwargs)['Id']
            except docker_errors.ImageNotFound as e:
                raise ImageMissing(action='creating ' + name, image=image,
                                   reason=e.explanation or e,
                                   status_code=e.status_code)

    def start(self, instance, name=None):
        """Start the container; returns its attributes, inspected after.

        A start is safe to send again (the engine answers 304 for a
        running container), and dockerd told to stop while it starts one
        either drops the start's connection, leaving the container created
        (when other containers run), or answers and then kills it on its way
        down (when none runs; see recovery.py). Either way the request that
        follows finds the socket closed and waits for the restarted engine
        (``send``): the start is then sent once more. Raises StaleTask when
        the engine can no longer start the container.
        """
        name = name or container_name(instance.uuid)
        with translated_errors('starting ' + name, instance):
            try:
                outages = self.api.outages
                self._sent_again_if_dropped(instance, 'starting ' + name,
                                            self.api.start, name)
                attrs = self.api.inspect_container(name)
                if (attrs['State']['Status'] != 'running'
                        and self.api.outages != outages):
                    LOG.warning('The Docker engine went away while starting '
                                '%(name)s and stopped it (exit code '
                                '%(code)s): starting it again',
                                {'name': name,
                                 'code': attrs['State']['ExitCode']},
                                instance=instance)
                    self.api.start(name)
                    attrs = self.api.inspect_container(name)
                return attrs
            except docker_errors.APIError as e:
                if STALE_TASK.search(str(e.explanation)):
                    raise StaleTask(action='starting ' + name,
                                    reason=e.explanation,
                                    status_code=e.status_code)
                raise

    @staticmethod
    def _sent_again_if_dropped(instance, action, request, *args, **kwargs):
        """``request``, sent once more if its connection dropped without an
        answer, as when dockerd stops in the middle of it: only for what
        the engine may safely get twice (a start or a stop with nothing
        left to do answers 304). The second waits for an engine that is
        restarting (``send``)."""
        try:
            return request(*args, **kwargs)
        except requests.exceptions.ConnectionError as e:
            if never_sent(e):
                raise  # the engine stayed away for engine_restart_wait
            LOG.warning('The Docker engine went away while %(action)s '
                        '(%(error)s): sending it again',
                        {'action': action, 'error': str(e)},
                        instance=instance)
            return request(*args, **kwargs)

    def stop(self, instance, timeout, name=None):
        """SIGTERM, then SIGKILL after ``timeout`` seconds (0: at once)."""
        name = name or container_name(instance.uuid)
        with translated_errors('stopping ' + name, instance):
            self._sent_again_if_dropped(instance, 'stopping ' + name,
                                        self.api.stop, name, timeout=timeout)

    def pause(self, instance):
        name = container_name(instance.uuid)
        with translated_errors('pausing ' + name, instance):
            self.api.pause(name)
            self._wait_paused(name, True)

    def unpause(self, instance):
        name = container_name(instance.uuid)
        with translated_errors('unpausing ' + name, instance):
            self.api.unpause(name)
            self._wait_paused(name, False)

    def _wait_paused(self, name, paused):
        """Wait until the engine reports the container (un)paused.

        The engine records a pause from containerd's event, just after the
        API call returns; Nova reads the power state right after pausing.
        """
        deadline = time.monotonic() + STATE_SETTLE_TIMEOUT
        while self.api.inspect_container(name)['State']['Paused'] != paused:
            if time.monotonic() > deadline:
                raise DockerAPIError(
                    action=('pausing ' if paused else 'unpausing ') + name,
                    reason=_('the engine did not report the change within '
                             '%d s') % STATE_SETTLE_TIMEOUT)
            time.sleep(0.01)

    def wait_for_exit(self, instance, name=None):
        """The container's ``State`` once the engine reports it stopped, for
        a container whose process is known to have ended (the engine
        learns of that a moment later); as it is after
        STATE_SETTLE_TIMEOUT s."""
        name = name or container_name(instance.uuid)
        deadline = time.monotonic() + STATE_SETTLE_TIMEOUT
        with translated_errors('inspecting ' + name, instance):
            while True:
                state = self.api.inspect_container(name)['State']
                if (state['Status'] != 'running' or
                        time.monotonic() > deadline):
                    return state
                time.sleep(0.01)

    def remove(self, instance, name=None):
        """Remove the container, running or not; absent is not an error."""
        name = name or container_name(instance.uuid)
        try:
            with translated_errors('removing ' + name, instance):
                self.api.remove_container(name, force=True, v=True)
        except exception.InstanceNotFound:
            pass

    def logs(self, instance, tail_lines, max_bytes, name=None):
        """The last ``max_bytes`` of the container's last ``tail_lines``
        lines of stdout and stderr. Streamed, and only that much kept: the
        engine splits a line at 16 KiB, so a process writing megabytes
        without a newline makes each line that long, and the tail would
        otherwise be held whole (5000 such lines: 80 MB)."""
        name = name or container_name(instance.uuid)
        with translated_errors('reading the log of ' + name, instance):
            kept = bytearray()
            for chunk in self.api.logs(name, stdout=True, stderr=True,
                                       tail=tail_lines, stream=True,
                                       follow=False):
                kept += chunk
                if len(kept) > 2 * max_bytes:
                    del kept[:-max_bytes]
            return bytes(kept[-max_bytes:])

    def put_archive(self, instance, path, data, name=None):
        name = name or container_name(instance.uuid)
        with translated_errors('copying files into ' + name, instance):
            self.api.put_archive(name, path, data)

    def stat_path(self, instance, path, name=None):
        """The engine's stat of ``path`` in the container (``name``,
        ``mode`` as a Go FileMode, ``linkTarget`` resolved inside the
        container), or None if there is no such path. A HEAD request:
        nothing is archived."""
        name = name or container_name(instance.uuid)
        with translated_errors('looking up %s in %s' % (path, name),
                               instance):
            res = self.api.head(self.api._url('/containers/{0}/archive',
                                              name), params={'path': path})
            if res.status_code == 404:
                return None
            self.api._raise_for_status(res)
            return docker_utils.decode_json_header(
                res.headers['X-Docker-Container-Path-Stat'])

    def read_link(self, instance, path):
        """The target of the symlink ``path`` in the container, as written
        in the link (the engine archives a link itself, not what it points
        to)."""
        name = container_name(instance.uuid)
        with translated_errors('reading the link %s in %s' % (path, name),
                               instance):
            stream, _stat = self.api.get_archive(name, path)
            data = b''.join(stream)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            return tar.next().linkname

    def run_with_input(self, instance, argv, data, user, name=None):
        """Run ``argv`` in the running container as ``user`` with ``data``
        on its stdin (never on a command line, so never in the engine's
        records or a process listing); returns (exit code, stdout and
        stderr). Waits at most [docker] api_timeout s for its output to
        end.

        Over TLS the output is lost (b''): Python ends a TLS stream's
        sending side only with a close_notify sent by ``unwrap``, which
        then fails on the output that follows. The exit code is kept.
        """
        name = name or container_name(instance.uuid)
        action = 'running %s in %s' % (argv[0], name)
        with translated_errors(action, instance):
            exec_id = self.api.exec_create(name, argv, stdin=True,
                                           user=user)['Id']
            stream = self.api.exec_start(exec_id, socket=True)
            sock = getattr(stream, '_sock', stream)
            try:
                sock.settimeout(CONF.docker.api_timeout)
                output = _send_then_receive(sock, data)
            except socket.timeout:
                raise DockerAPIError(action=action, reason=_(
                    'its output did not end within %d s')
                    % CONF.docker.api_timeout)
            finally:
                response = getattr(stream, '_response', None)
                if response is not None:
                    response.close()
                stream.close()
                sock.close()
            return self._exec_exit_code(exec_id), demultiplex(output)

    def _exec_exit_code(self, exec_id):
        """The exit code of an exec whose output ended (the engine records
        it a moment later); None if it still runs after
        STATE_SETTLE_TIMEOUT s."""
        deadline = time.monotonic() + STATE_SETTLE_TIMEOUT
        while True:
            result = self.api.exec_inspect(exec_id)
            if not result['Running'] or time.monotonic() > deadline:
                return result['ExitCode']
            time.sleep(0.01)

    def create_volume(self, name, driver_opts, labels):
        """A volume of the engine's ``local`` driver, which mounts it with
        ``driver_opts`` (type, device, o) when a container using it starts
        and unmounts it when the last one stops."""
        with translated_errors('creating volume ' + name):
            return self.api.create_volume(name, driver='local',
                                          driver_opts=driver_opts,
                                          labels=labels)

    def list_volumes(self, label):
        """The volumes carrying ``label``: one API call."""
        with translated_errors('listing volumes'):
            return self.api.volumes(filters={'label': label})[
                'Volumes'] or []

    def remove_volume(self, name):
        """Remove a volume no container uses; absent is not an error."""
        with translated_errors('removing volume ' + name):
            try:
                self.api.remove_volume(name)
            except docker_errors.NotFound:
                pass

    def inspect_image(self, reference):
        """The image ``reference`` names, inspected, or None."""
        with translated_errors('inspecting image ' + reference):
            try:
                return self.api.inspect_image(reference)
            except docker_errors.NotFound:
                return None

    def image_exists(self, reference):
        return self.inspect_image(reference) is not None

    def remove_unused_image(self, reference):
        """Remove the image unless a container or a child image stands on
        it (the engine refuses then); whether it went. Absent is not an
        error."""
        try:
            with translated_errors('removing image ' + reference):
                self.api.remove_image(reference)
        except DockerAPIError as e:
            if e.kwargs.get('status_code') in (404, 409):
                return False
            raise
        return True


def _empty_tar():
    buf = io.BytesIO()
    tarfile.open(fileobj=buf, mode='w').close()
    return buf.getvalue()


def _send_then_receive(sock, data):
    """Write ``data`` to a hijacked engine connection, end its sending side
    (the process reads EOF), then read until the engine closes it.

    A process that ends without reading it all leaves the write failing:
    its exit code says why. A timeout is the caller's to report.
    """
    try:
        sock.sendall(data)
        if isinstance(sock, ssl.SSLSocket):
            sock.unwrap()
        else:
            sock.shutdown(socket.SHUT_WR)
    except socket.timeout:
        raise
    except OSError:
        pass
    received = []
    while True:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            raise
        except OSError:
            break
        if not chunk:
            break
        received.append(chunk)
    return b''.join(received)


def demultiplex(data):
    """The payload of a non-TTY attach or exec stream: the engine frames
    stdout and stderr as (1-byte stream, 3 zero bytes, 4-byte big-endian
    length, bytes)."""
    output, offset = [], 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset + 4:offset + 8], 'big')
        output.append(data[offset + 8:offset + 8 + size])
        offset += 8 + size
    return b''.join(output)


class Terminal:
    """The terminal of an instance's running container, attached on a
    connection of its own: ``socket`` carries what is written to it into
    the container's stdin and the TTY's output back, until the container
    stops, or until close(), which leaves the container as it was."""

    def __init__(self, instance):
        name = container_name(instance.uuid)
        self._api = connect()
        self._stream = None
        try:
            with translated_errors('attaching to ' + name, instance):
                self._stream = self._api.attach_socket(name, params={
                    'stdin': 1, 'stdout': 1, 'stderr': 1, 'stream': 1,
                    'detachKeys': DETACH_KEYS})
                # Attached to a stopped container, the engine would wait
                # for its next start: asked after the attach, the state
                # cannot change unseen in between.
                running = self._api.inspect_container(name)['State'][
                    'Running']
        except Exception:
            self.close()
            raise
        # The SDK gives a local socket's file object; TLS, the socket.
        self.socket = getattr(self._stream, '_sock', self._stream)
        if not running:
            self.close()
            raise exception.InstanceNotRunning(instance_id=instance.uuid)

    def close(self):
        if self._stream is not None:
            sock = getattr(self._stream, '_sock', self._stream)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            # The HTTP response the SDK keeps with the stream holds the
            # socket open (over TLS, until a garbage collection): first.
            self._stream._response.close()
            self._stream.close()
            sock.close()
        self._api.close()
