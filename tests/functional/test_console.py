"""Serial consoles on a real engine, reached as nova-serialproxy reaches
them: a plain TCP connection to the host and port get_serial_console names.

The instances' PID 1 is busybox's interactive shell: what it prints back
proves the typed bytes reached the container and its output came out.
"""

import socket
import threading
import time
import types

from nova.compute import manager as compute_manager
from nova.compute import power_state
from nova.console import serial as serial_console
from nova.console import type as ctype
from nova import exception
from nova.virt import fake
import pytest

from novadocker import conf as nd_conf
from novadocker.virt.docker import client
from novadocker.virt.docker import console
from novadocker.virt.docker import driver
from novadocker.virt.docker import images
from tests.fixtures import engine as engine_fixture
from tests.fixtures import fds
from tests.functional.test_driver import docker_driver  # noqa: F401
from tests.functional.test_driver import IMAGE_ID
from tests.functional.test_driver import image_meta
from tests.functional.test_driver import spawn
from tests.functional.test_tls import connect_with  # noqa: F401
from tests.functional.test_tls import tls_engine  # noqa: F401
from tests.unit import factories

CONF = nd_conf.CONF
HOST = '127.0.0.1'
# High, to keep clear of the ports this machine's own services use.
PORT_RANGE = (20000, 20100)
WAIT = 10
SHELL = image_meta(os_command_line='sh')


@pytest.fixture
def serial_on():
    CONF.set_override('enabled', True, group='serial_console')
    CONF.set_override('port_range', '%d:%d' % PORT_RANGE,
                      group='serial_console')
    CONF.set_override('proxyclient_address', HOST, group='serial_console')
    yield
    for name in ('enabled', 'port_range', 'proxyclient_address'):
        CONF.clear_override(name, group='serial_console')


def taken_ports():
    """The ports of the tests' range nova counts as taken."""
    return [p for h, p in serial_console.ALLOCATED_PORTS
            if h == HOST and PORT_RANGE[0] <= p < PORT_RANGE[1]]


def clients_gone():
    """Whether every console client's thread ended (in time)."""
    deadline = time.monotonic() + WAIT
    while any(t.name == 'novadocker-console-client'
              for t in threading.enumerate()):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def sockets_to(port):
    """This process's open TCP connections to a local port: other files
    come and go with the collector, these only with the console's code."""
    return sum(count for kind, count in fds.open_files().items()
               if kind.startswith('socket: AF_INET') and
               kind.endswith(':%d' % port))


@pytest.fixture
def drv(serial_on, docker_driver):  # noqa: F811
    yield docker_driver
    # Every listener closed with its instance (the fixture's cleanup_host
    # closes what is left, so a failing test leaks no port).
    assert not taken_ports()
    assert clients_gone()


@pytest.fixture
def shell(drv):
    """A running instance whose PID 1 is an interactive shell."""
    instance = factories.instance()
    spawn(drv, instance, SHELL)
    yield instance
    drv.destroy(None, instance, None)


def connect(drv, instance):
    info = drv.get_serial_console(None, instance)
    return socket.create_connection((info.host, info.port), timeout=WAIT)


def read_until(sock, marker):
    """What ``sock`` says up to and including ``marker``."""
    data = b''
    deadline = time.monotonic() + WAIT
    while marker not in data:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            raise AssertionError('no %r in %r' % (marker, data))
        if not chunk:
            raise AssertionError('closed before %r: %r' % (marker, data))
        data += chunk
    return data


def run(sock, word):
    """Have the shell print ``word``; what comes back (the typed line is
    echoed as ``wo""rd``: only the shell's output has it whole)."""
    sock.sendall(b'echo %s""%s\n' % (word[:2], word[2:]))
    return read_until(sock, word + b'\r\n')


def test_typed_commands_run_and_their_output_comes_back(drv, shell):
    info = drv.get_serial_console(None, shell)
    assert isinstance(info, ctype.ConsoleSerial)
    assert info.host == HOST
    assert PORT_RANGE[0] <= info.port < PORT_RANGE[1]
    with connect(drv, shell) as sock:
        assert b'hello\r\n' in run(sock, b'hello')
        sock.sendall(b'echo $((6 * 7))\n')
        read_until(sock, b'42\r\n')
    # The same port for as long as the instance runs.
    assert drv.get_serial_console(None, shell).port == info.port


def test_control_keys_reach_the_shell_at_once(drv, shell):
    with connect(drv, shell) as sock:
        run(sock, b'first')
        # ctrl-p alone (the engine's default detach keys begin with it
        # and would hold it back): the shell shows the previous command.
        sock.sendall(b'\x10')
        read_until(sock, b'echo fi""rst')
        sock.sendall(b'\n')
        read_until(sock, b'first\r\n')


def test_two_clients_at_once_both_see_the_output(drv, shell):
    with connect(drv, shell) as first, connect(drv, shell) as second:
        run(first, b'first-1')
        # Once its own command came back, the second client is attached:
        # what either types from now on, both see.
        run(second, b'second-1')
        read_until(first, b'second-1\r\n')
        run(first, b'first-2')
        read_until(second, b'first-2\r\n')


def test_a_client_leaving_mid_session_breaks_nothing(drv, shell):
    port = drv.get_serial_console(None, shell).port
    with connect(drv, shell) as staying:
        run(staying, b'before')
        leaving = connect(drv, shell)
        run(leaving, b'leaving')
        # Half a command (the shell echoes it: it arrived), then gone
        # without a goodbye (a reset).
        leaving.sendall(b'X=half')
        read_until(leaving, b'X=half')
        leaving.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                           b'\x01\x00\x00\x00\x00\x00\x00\x00')
        leaving.close()
        # The container's stdin stayed open: the shell still reads it, and
        # finishes the line the other client started.
        staying.sendall(b'way; echo "[$X]"\n')
        read_until(staying, b'[halfway]\r\n')
    assert drv.get_info(shell).state == power_state.RUNNING
    with connect(drv, shell) as newcomer:
        run(newcomer, b'after')
    assert drv.get_serial_console(None, shell).port == port


def test_only_the_right_port_validates(drv, shell):
    # What nova-serialproxy asks the compute manager before it connects.
    manager = types.SimpleNamespace(driver=drv)
    port = drv.get_serial_console(None, shell).port

    def validate(port):
        return compute_manager.ComputeManager.validate_console_port(
            manager, None, shell, str(port), 'serial')

    assert validate(port) is True
    assert validate(port + 1) is False


def test_the_port_listens_on_the_proxy_client_address_only(drv, shell):
    port = drv.get_serial_console(None, shell).port
    # 127.0.0.2 is this host too: a listener on every address takes it.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(('127.0.0.2', port), timeout=WAIT)
    with socket.create_connection((HOST, port), timeout=WAIT):
        pass


def released(port, hung_up=True):
    """Whether nova would hand ``port`` out again and it is free: bound
    anew, or, where the listener hung up on clients (its side of their
    connections waits out TIME_WAIT), by a listener like the driver's."""
    if (HOST, port) in serial_console.ALLOCATED_PORTS:
        return False
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, hung_up)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def test_destroy_releases_the_port_and_disconnects_clients(drv):
    instance = factories.instance()
    spawn(drv, instance, SHELL)
    port = drv.get_serial_console(None, instance).port
    assert not released(port)
    with connect(drv, instance) as sock:
        run(sock, b'alive')
        drv.destroy(None, instance, None)
        sock.settimeout(WAIT)
        while sock.recv(4096):
            pass
    assert released(port)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((HOST, port), timeout=WAIT)
    with pytest.raises(exception.InstanceNotFound):
        drv.get_serial_console(None, instance)
    # Without clients, nothing waits: nova's own check takes it at once.
    instance = factories.instance()
    spawn(drv, instance, SHELL)
    port = drv.get_serial_console(None, instance).port
    drv.destroy(None, instance, None)
    assert released(port, hung_up=False)


def test_power_cycles_and_reboots(drv, shell):
    port = drv.get_serial_console(None, shell).port
    drv.reboot(None, shell, shell.get_network_info(), 'HARD')
    # A reboot keeps the port: a new client reaches the new shell.
    assert drv.get_serial_console(None, shell).port == port
    with connect(drv, shell) as sock:
        run(sock, b'rebooted')
    drv.pause(shell)
    with pytest.raises(exception.InstanceNotReady):
        drv.get_serial_console(None, shell)
    drv.unpause(shell)
    drv.power_off(shell, timeout=0)
    assert released(port)
    with pytest.raises(exception.InstanceNotReady):
        drv.get_serial_console(None, shell)
    drv.power_on(None, shell, shell.get_network_info())
    with connect(drv, shell) as sock:
        run(sock, b'powered-on')


def test_the_console_log_holds_what_was_typed(drv, shell):
    with connect(drv, shell) as sock:
        run(sock, b'typed-here')
        sock.sendall(b'echo output >&2\n')
        read_until(sock, b'output\r\n')
    log = drv.get_console_output(None, shell)
    # The typed line, as the terminal echoed it, and the shell's output,
    # stderr included (a terminal is one stream).
    assert 'echo ty""ped-here\r\ntyped-here\r\n' in log
    assert 'echo output >&2\r\noutput\r\n' in log
    drv.power_off(shell, timeout=0)
    # Stopped, the log is still there (with the last prompt, a line the
    # engine kept until the end).
    assert drv.get_console_output(None, shell).startswith(log)


def test_the_console_log_stays_bounded(drv, shell):
    with connect(drv, shell) as sock:
        sock.sendall(b'i=0; while [ $i -lt 2000 ]; do echo %s; '
                     b'i=$((i+1)); done; echo E""ND\n' % (b'x' * 99))
        read_until(sock, b'END\r\n')
    deadline = time.monotonic() + WAIT
    while not drv.get_console_output(None, shell).endswith('END\r\n'):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert len(drv.get_console_output(None, shell)) == \
        driver.MAX_CONSOLE_BYTES


def test_consoles_come_back_after_nova_compute_restarts(drv):
    instance = factories.instance()
    spawn(drv, instance, SHELL)
    with connect(drv, instance) as sock:
        sock.sendall(b'KEPT=state\n')
        run(sock, b'set')
        # nova-compute stops: its listeners and its set of taken ports go.
        drv.cleanup_host('testhost')
        sock.settimeout(WAIT)
        while sock.recv(4096):
            pass
    restarted = driver.DockerDriver(fake.FakeVirtAPI())
    restarted.init_host('testhost')
    try:
        # Taken and listened on again before anyone asks.
        assert len(taken_ports()) == 1
        port = restarted.get_serial_console(None, instance).port
        assert taken_ports() == [port]
        with connect(restarted, instance) as sock:
            # The same shell, untouched by the restart.
            sock.sendall(b'echo "[$KEPT]"\n')
            read_until(sock, b'[state]\r\n')
        restarted.destroy(None, instance, None)
        assert released(port)
    finally:
        restarted.cleanup_host('testhost')


def test_no_console_where_none_can_be_served(drv):
    # Made while the serial console was off: no terminal to bridge to.
    CONF.set_override('enabled', False, group='serial_console')
    plain = factories.instance()
    spawn(drv, plain)
    with pytest.raises(exception.ConsoleTypeUnavailable):
        drv.get_serial_console(None, plain)
    CONF.set_override('enabled', True, group='serial_console')
    with pytest.raises(exception.ConsoleTypeUnavailable):
        drv.get_serial_console(None, plain)
    # An image that asks for no terminal gets none.
    daemon = factories.instance()
    spawn(drv, daemon, image_meta(hw_serial_port_count=0))
    attrs = drv.docker.inspect(daemon)
    assert not attrs['Config']['Tty']
    with pytest.raises(exception.ConsoleTypeUnavailable):
        drv.get_serial_console(None, daemon)
    stopped = factories.instance()
    spawn(drv, stopped, SHELL, power_on=False)
    with pytest.raises(exception.InstanceNotReady):
        drv.get_serial_console(None, stopped)
    for instance in (plain, daemon, stopped):
        drv.destroy(None, instance, None)


def test_an_image_can_ask_for_a_terminal_with_the_console_off(drv):
    CONF.set_override('enabled', False, group='serial_console')
    instance = factories.instance()
    # Without a terminal and an open stdin this shell would end at once.
    spawn(drv, instance, image_meta(os_command_line='sh',
                                    hw_serial_port_count=1))
    config = drv.docker.inspect(instance)['Config']
    assert console.interactive(config)
    with pytest.raises(exception.ConsoleTypeUnavailable):
        drv.get_serial_console(None, instance)
    # Turned on later (with nova-compute's restart), it is served.
    CONF.set_override('enabled', True, group='serial_console')
    drv.init_host('testhost')
    with connect(drv, instance) as sock:
        run(sock, b'reachable')
    drv.destroy(None, instance, None)


def test_a_client_is_refused_once_the_container_stopped_by_itself(drv,
                                                                  shell):
    port = drv.get_serial_console(None, shell).port
    with connect(drv, shell) as sock:
        sock.sendall(b'exit\n')
        sock.settimeout(WAIT)
        while sock.recv(4096):
            pass
    # Until Nova powers it off, the listener stays; a client gets the
    # end at once rather than wait for a start.
    with socket.create_connection((HOST, port), timeout=WAIT) as sock:
        assert sock.recv(4096) == b''
    api = drv.docker.api
    assert api.inspect_container(
        client.container_name(shell.uuid))['State']['Status'] == 'exited'


def test_over_a_tls_engine_each_client_leaves_nothing_open(
        serial_on, tls_engine, connect_with):  # noqa: F811
    engine, port, right, _wrong = tls_engine
    cert, key = right.issue('nova-compute', server=False)
    api = connect_with(ca_file=right.ca_file, cert_file=cert,
                       key_file=key).api
    engine_fixture.build_test_image(api)
    api.tag(engine_fixture.TEST_IMAGE, images.GLANCE_REPOSITORY,
            IMAGE_ID)
    drv = driver.DockerDriver(fake.FakeVirtAPI())
    instance = factories.instance()
    try:
        spawn(drv, instance, SHELL)
        with connect(drv, instance) as sock:
            run(sock, b'warm-up')
        assert clients_gone()
        open_sockets = sockets_to(port)
        for _ in range(5):
            with connect(drv, instance) as sock:
                # Much output: TLS records pile up beyond what select sees.
                sock.sendall(b'i=0; while [ $i -lt 1000 ]; do echo %s; '
                             b'i=$((i+1)); done; echo E""ND\n' % (b'y' * 99))
                read_until(sock, b'END\r\n')
        assert clients_gone()
        assert sockets_to(port) == open_sockets
    finally:
        drv.destroy(None, instance, None)
        drv.cleanup_host('testhost')
