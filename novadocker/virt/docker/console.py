"""Serial consoles: a TCP port per running instance, bridged to the
container's terminal.

nova-serialproxy, once it has checked a console token, opens a plain TCP
connection to the host and port get_serial_console named: ``[serial_console]
proxyclient_address`` (the only address listened on) and a port of
``port_range``, taken with nova's own ``acquire_port`` as the libvirt driver
does. Containers made for it have a TTY and a stdin that stays open (see
``spec.console``).

Each client gets an attach of its own: the engine copies what every client
types into the container's one stdin and the terminal's output to every
client, so clients come and go without touching the container or each
other. A bridge always reads the engine's side at once, dropping a client
that falls too far behind rather than let the engine's output copy, which
also feeds the console log and the other clients, wait for it.

A listener lives from the container's start until the instance is powered
off or goes away, across reboots and pauses; Nova's set of taken ports is in
memory, so ``init_host`` opens them again for the running instances.
"""

import selectors
import socket
import ssl
import threading
import time

from nova.console import serial as serial_console
from nova.console import type as ctype
from nova import exception
from nova import objects
from oslo_log import log as logging
from oslo_utils import units

from novadocker import conf as nd_conf
from novadocker.virt.docker import client

CONF = nd_conf.CONF
LOG = logging.getLogger(__name__)

# Clients of one console at once (each holds an engine connection and a
# thread); only nova-serialproxy is meant to reach the port.
MAX_CLIENTS = 8
CHUNK = 64 * units.Ki
# Output a client has not taken yet before it is dropped; typed input the
# container has not read yet before its client is no longer read.
MAX_PENDING = units.Mi
# How long one side has to take what the other sent just before its end.
FLUSH_TIMEOUT = 5
_NOTHING_YET = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


def interactive(config):
    """Whether a container, by its inspected ``Config``, was made for a
    serial console: a TTY, and a stdin no client's leaving closes."""
    return bool(config.get('Tty') and config.get('OpenStdin') and
                not config.get('StdinOnce'))


def _receive(sock):
    """All that ``sock`` has now (a TLS socket may hold more than select
    sees), and whether its end came (a reset is one too)."""
    data = bytearray()
    while len(data) < MAX_PENDING:
        try:
            chunk = sock.recv(CHUNK)
        except _NOTHING_YET:
            return data, False
        except OSError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def _send(sock, pending):
    """Send what ``sock`` takes now of ``pending``, removing it there;
    False once the other side is gone."""
    try:
        del pending[:sock.send(pending[:CHUNK])]
    except _NOTHING_YET:
        pass
    except OSError:
        return False
    return True


def _watch(selector, sock, events):
    """Have ``selector`` watch ``sock`` for ``events``, or not at all."""
    registered = sock in selector.get_map()
    if events and registered:
        selector.modify(sock, events)
    elif events:
        selector.register(sock, events)
    elif registered:
        selector.unregister(sock)


def bridge(client_sock, terminal_sock):
    """Copy bytes between a client and a terminal until either ends, and
    say why it ended.

    The terminal is read whenever it has output; the client only while the
    terminal has taken most of what was typed.
    """
    to_client, to_terminal = bytearray(), bytearray()
    client_sock.setblocking(False)
    terminal_sock.setblocking(False)
    with selectors.DefaultSelector() as selector:
        while True:
            _watch(selector, terminal_sock, selectors.EVENT_READ | (
                selectors.EVENT_WRITE if to_terminal else 0))
            _watch(selector, client_sock, (
                selectors.EVENT_READ if len(to_terminal) < MAX_PENDING
                else 0) | (selectors.EVENT_WRITE if to_client else 0))
            for key, events in selector.select():
                if key.fileobj is terminal_sock:
                    if events & selectors.EVENT_READ:
                        data, ended = _receive(terminal_sock)
                        to_client += data
                        if ended:
                            _flush(client_sock, to_client)
                            return 'the terminal ended'
                        if len(to_client) > MAX_PENDING:
                            return 'the client fell behind'
                    if (events & selectors.EVENT_WRITE and
                            not _send(terminal_sock, to_terminal)):
                        return 'the terminal ended'
                    continue
                if events & selectors.EVENT_READ:
                    data, ended = _receive(client_sock)
                    to_terminal += data
                    if ended:
                        _flush(terminal_sock, to_terminal)
                        return 'the client left'
                if (events & selectors.EVENT_WRITE and
                        not _send(client_sock, to_client)):
                    return 'the client left'


def _flush(sock, pending):
    """Hand over what one side sent just before its end, if the other side
    takes it in time."""
    sock.settimeout(FLUSH_TIMEOUT)
    try:
        sock.sendall(pending)
    except OSError:
        pass


class Listener:
    """One instance's console port: accepts clients on it and bridges each
    to its own attach of the container's terminal."""

    def __init__(self, instance, host):
        self.instance = instance
        self.host = host
        self.port = serial_console.acquire_port(host)
        try:
            # Never all addresses: the port is only for nova-serialproxy.
            self._socket = socket.create_server((host, self.port),
                                                backlog=MAX_CLIENTS)
        except OSError:
            serial_console.release_port(host, self.port)
            raise
        self._lock = threading.Lock()
        self._closed = False
        self._clients = set()
        self._thread = threading.Thread(
            target=self._accept, daemon=True,
            name='novadocker-console-' + instance.uuid)
        self._thread.start()
        LOG.info('Serial console on %s:%d', host, self.port,
                 instance=instance)

    def _accept(self):
        while True:
            try:
                conn, peer = self._socket.accept()
            except OSError as e:
                with self._lock:
                    if self._closed:
                        return
                # Out of file descriptors, most likely: it may pass.
                LOG.warning('Serial console cannot accept: %s', e,
                            instance=self.instance)
                time.sleep(1)
                continue
            with self._lock:
                if self._closed or len(self._clients) >= MAX_CLIENTS:
                    conn.close()
                    continue
                self._clients.add(conn)
            threading.Thread(target=self._serve, args=(conn, peer),
                             daemon=True,
                             name='novadocker-console-client').start()

    def _serve(self, conn, peer):
        """Bridge one client until it or the container goes, or until
        close() shuts its socket down."""
        client_name = '%s:%d' % peer[:2]
        LOG.info('Serial console client %s connected', client_name,
                 instance=self.instance)
        try:
            terminal = client.Terminal(self.instance)
            try:
                reason = bridge(conn, terminal.socket)
            finally:
                terminal.close()
        except exception.NovaException as e:
            reason = e.format_message()
        finally:
            with self._lock:
                self._clients.discard(conn)
                conn.close()
        LOG.info('Serial console client %s disconnected: %s', client_name,
                 reason, instance=self.instance)

    def close(self):
        """Stop listening, disconnect every client and give the port back.

        Sockets other threads use are shut down, never closed here: each
        thread closes its own once it sees the end (under the lock, so
        that no descriptor is shut down once it may name another socket).
        """
        with self._lock:
            self._closed = True
            for sock in [self._socket, *self._clients]:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._thread.join()
        self._socket.close()
        serial_console.release_port(self.host, self.port)
        LOG.info('Serial console on %s:%d closed', self.host, self.port,
                 instance=self.instance)


class SerialConsoles:
    """The console listeners of this host's instances."""

    def __init__(self, docker_client):
        self._docker = docker_client
        self._lock = threading.Lock()
        self._listeners = {}

    def serial_console(self, instance):
        """Where nova-serialproxy reaches the instance's console, listened
        on from now if it was not yet; what Nova expects raised when there
        is none to reach."""
        if not CONF.serial_console.enabled:
            raise exception.ConsoleTypeUnavailable(console_type='serial')
        attrs = self._docker.inspect(instance)
        if not interactive(attrs['Config']):
            # Made while the serial console was off: a rebuild gives it one.
            raise exception.ConsoleTypeUnavailable(console_type='serial')
        if attrs['State']['Status'] != 'running':
            raise exception.InstanceNotReady(instance_id=instance.uuid)
        return ctype.ConsoleSerial(
            host=CONF.serial_console.proxyclient_address,
            port=self._open(instance))

    def open_started(self, instance):
        """After the container started: listen for its console, if it has
        one and the serial console is enabled. Without a free port the
        container runs without: serial_console tries again and says why."""
        if not (CONF.serial_console.enabled and
                interactive(self._docker.inspect(instance)['Config'])):
            return
        try:
            self._open(instance)
        except (exception.SocketPortRangeExhaustedException, OSError) as e:
            LOG.warning('No serial console for now: %s', e,
                        instance=instance)

    def reopen(self, containers):
        """At nova-compute's start: listen again for the consoles of the
        running ones of ``containers`` (listed), on ports taken anew."""
        for c in containers:
            if c['State'] == 'running':
                self.open_started(
                    objects.Instance(uuid=c['Labels'][client.LABEL_UUID]))

    def _open(self, instance):
        with self._lock:
            listener = self._listeners.get(instance.uuid)
            if listener is None:
                listener = Listener(instance,
                                    CONF.serial_console.proxyclient_address)
                self._listeners[instance.uuid] = listener
            return listener.port

    def close(self, instance):
        """Stop listening for the instance's console, if it was."""
        with self._lock:
            listener = self._listeners.pop(instance.uuid, None)
        if listener is not None:
            listener.close()

    def close_all(self):
        with self._lock:
            listeners = list(self._listeners.values())
            self._listeners.clear()
        for listener in listeners:
            listener.close()
