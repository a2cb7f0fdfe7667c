"""The byte bridge between a console client and a container's terminal,
on socket pairs standing for both."""

import socket
import threading

from nova import exception
import pytest

from novadocker import conf as nd_conf
from novadocker.virt.docker import console
from tests.unit import factories

CONF = nd_conf.CONF
WAIT = 10


@pytest.mark.parametrize('config, served', [
    ({'Tty': True, 'OpenStdin': True, 'StdinOnce': False}, True),
    ({'Tty': True, 'OpenStdin': True, 'StdinOnce': True}, False),
    ({'Tty': False, 'OpenStdin': True, 'StdinOnce': False}, False),
    ({'Tty': True, 'OpenStdin': False, 'StdinOnce': False}, False),
])
def test_only_a_terminal_with_a_lasting_stdin_is_served(config, served):
    assert console.interactive(config) is served


class Bridged:
    """A bridge running between two socket pairs: ``client`` and
    ``terminal`` are the far ends, as the client and the engine hold
    them."""

    def __init__(self):
        self.client, client_near = socket.socketpair()
        self.terminal, terminal_near = socket.socketpair()
        for sock in (self.client, self.terminal):
            sock.settimeout(WAIT)
        self.ended = None
        self._near = (client_near, terminal_near)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        self.ended = console.bridge(*self._near)

    def join(self):
        self._thread.join(WAIT)
        assert not self._thread.is_alive()
        return self.ended

    def close(self):
        for sock in self._near + (self.client, self.terminal):
            sock.close()


@pytest.fixture
def bridged():
    pair = Bridged()
    yield pair
    pair.close()


def receive(sock, size):
    data = b''
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, 'ended after %r' % data
        data += chunk
    return data


def test_bytes_go_both_ways_and_a_client_leaving_ends_it(bridged):
    bridged.client.sendall(b'ls\n')
    assert receive(bridged.terminal, 3) == b'ls\n'
    bridged.terminal.sendall(b'bin etc\r\n')
    assert receive(bridged.client, 9) == b'bin etc\r\n'
    # What it typed just before it left still reaches the terminal.
    bridged.client.sendall(b'exit\n')
    bridged.client.shutdown(socket.SHUT_RDWR)
    assert bridged.join() == 'the client left'
    assert receive(bridged.terminal, 5) == b'exit\n'


def test_the_last_output_of_a_stopped_container_reaches_the_client(
        bridged):
    bridged.terminal.sendall(b'reboot: Power down\r\n')
    bridged.terminal.shutdown(socket.SHUT_RDWR)
    assert bridged.join() == 'the terminal ended'
    assert receive(bridged.client, 20) == b'reboot: Power down\r\n'


def test_a_client_that_does_not_read_is_dropped(bridged, monkeypatch):
    monkeypatch.setattr(console, 'MAX_PENDING', 64 * 1024)
    output = threading.Thread(target=lambda: _send_until_closed(
        bridged.terminal, b'x' * 4096), daemon=True)
    output.start()
    # The terminal's output was read all along, not left to wait.
    assert bridged.join() == 'the client fell behind'
    bridged.terminal.shutdown(socket.SHUT_RDWR)
    output.join(WAIT)


def _send_until_closed(sock, data):
    try:
        while True:
            sock.sendall(data)
    except OSError:
        pass


def test_output_flows_while_the_terminal_takes_no_input(bridged,
                                                        monkeypatch):
    monkeypatch.setattr(console, 'MAX_PENDING', 64 * 1024)
    typing = threading.Thread(target=lambda: _send_until_closed(
        bridged.client, b'y' * 4096), daemon=True)
    typing.start()
    # The terminal does not read what is typed: the bridge stops reading
    # the client, and still carries the output.
    bridged.terminal.sendall(b'busy\r\n')
    received = b''
    while b'busy\r\n' not in received:
        received += bridged.client.recv(4096)
    assert bridged.ended is None
    bridged.terminal.shutdown(socket.SHUT_RDWR)
    assert bridged.join() == 'the terminal ended'
    bridged.client.shutdown(socket.SHUT_RDWR)
    typing.join(WAIT)


def test_no_serial_console_while_it_is_disabled():
    CONF.set_override('enabled', False, group='serial_console')
    try:
        with pytest.raises(exception.ConsoleTypeUnavailable):
            console.SerialConsoles(None).serial_console(
                factories.instance())
    finally:
        CONF.clear_override('enabled', group='serial_console')
