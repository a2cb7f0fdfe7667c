"""The serial console as an operator uses it: the URL that
``openstack console url show --serial`` gives, opened with a websocket
client through nova-serialproxy, which checks the token and asks
nova-compute whether the port is the instance's."""

import io
import os
import re
import time

import pytest
import websocket

from novadocker_cloud import sample_image
from novadocker_cloud.services import nova as nova_service

CONSOLE_PORTS = range(10000, 20001)  # [serial_console] port_range default


@pytest.fixture(scope='module')
def shell_image(cloud):
    """The busybox image with a shell as PID 1: it reads the console."""
    data = sample_image.saved('novadocker-cloud-tests/shell:latest',
                              sample_image.web_server)
    image = cloud.demo.image.create_image(
        name='tests-shell', container_format='docker', disk_format='raw',
        data=io.BytesIO(data), allow_duplicates=True, wait=True,
        os_command_line='/bin/sh')
    yield image
    cloud.demo.image.delete_image(image)


@pytest.fixture
def shell_server(cloud, shell_image, flavor, private_network):
    server = cloud.boot(cloud.demo, 'console', shell_image, flavor,
                        private_network)
    yield server
    cloud.delete(cloud.demo, server)


def _console_url(conn, server):
    console = conn.compute.create_console(server, console_type='serial')
    return console['url']


def _connect(url):
    return websocket.create_connection(url, subprotocols=['binary'],
                                       timeout=10)


def _run(ws, a, b):
    """Type ``echo $((a*b))``; the product read back (the typed line's own
    echo holds the factors, never the product)."""
    ws.send_binary(('echo $((%d*%d))\n' % (a, b)).encode())
    return _read_until(ws, str(a * b))


def _read_until(ws, text, timeout=15):
    seen = b''
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            seen += ws.recv() or b''
        except websocket.WebSocketTimeoutException:
            continue
        if re.search(rb'(^|\n)%s\r?\n' % text.encode(), seen):
            return text
    raise AssertionError('no %r in %r' % (text, seen))


def _listening(pid):
    """(address, port) of the TCP sockets process ``pid`` listens on."""
    inodes = set()
    for fd in os.listdir('/proc/%d/fd' % pid):
        try:
            target = os.readlink('/proc/%d/fd/%s' % (pid, fd))
        except OSError:
            continue
        if target.startswith('socket:['):
            inodes.add(target[8:-1])
    found = set()
    with open('/proc/%d/net/tcp' % pid) as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == '0A' and inode in inodes:
                address, port = local.split(':')
                octets = bytes.fromhex(address)[::-1]
                found.add(('.'.join(map(str, octets)), int(port, 16)))
    return found


def _compute_pid(cloud):
    with open(cloud.layout.pidfile('nova-compute')) as f:
        return int(f.read())


def test_a_websocket_client_gets_a_shell_through_nova_serialproxy(
        cloud, shell_server):
    url = _console_url(cloud.demo, shell_server)
    assert url.startswith(nova_service.serial_base_url())
    first = _connect(url)
    try:
        assert _run(first, 6, 7) == '42'
        # A second client at once: both see what either types.
        second = _connect(_console_url(cloud.demo, shell_server))
        assert _run(second, 7, 8) == '56'
        _read_until(first, '56')
        # One leaves without a close frame, mid-session.
        second.sock.close()
        assert _run(first, 9, 9) == '81'
    finally:
        first.close()
    # A client that comes later still gets the shell.
    again = _connect(_console_url(cloud.demo, shell_server))
    try:
        assert _run(again, 3, 5) == '15'
    finally:
        again.close()
    assert cloud.container(shell_server.id)['State']['Status'] == 'running'
    # What went through the console is in the console log, while the
    # server runs and once it is stopped.
    _assert_in_console_log(cloud, shell_server, ('42', '56', '81', '15'))
    cloud.demo.compute.stop_server(shell_server)
    cloud.wait_status(cloud.demo, shell_server, 'SHUTOFF')
    _assert_in_console_log(cloud, shell_server, ('42', '56', '81', '15'))


def _assert_in_console_log(cloud, server, values):
    log = cloud.demo.compute.get_server_console_output(server)['output']
    for value in values:
        assert re.search(r'(^|\n)%s\r?\n' % value, log), log


def test_console_listeners_answer_only_the_proxy_and_go_with_the_server(
        cloud, shell_image, flavor, private_network):
    # Those of other servers (a kept cloud may run some) are not its own.
    before = _listening(_compute_pid(cloud))
    server = cloud.boot(cloud.demo, 'console-ports', shell_image, flavor,
                        private_network)
    try:
        _connect(_console_url(cloud.demo, server)).close()
        consoles = {(address, port) for address, port in
                    _listening(_compute_pid(cloud)) - before
                    if port in CONSOLE_PORTS}
        assert consoles, 'nova-compute listens on no new console port'
        # Bound to [serial_console] proxyclient_address only.
        assert {address for address, _ in consoles} == {'127.0.0.1'}
    finally:
        cloud.delete(cloud.demo, server)
    # Gone with the server.
    assert not consoles & _listening(_compute_pid(cloud))


def test_a_forged_token_is_refused(cloud, shell_server):
    url = _console_url(cloud.demo, shell_server)
    forged = re.sub(r'token=[^&]+', 'token=' + 'f' * 36, url)
    answer = b''
    try:
        ws = _connect(forged)
        try:
            ws.send_binary(b'echo $((2*21))\n')
            answer = ws.recv()
        finally:
            ws.close()
    except (websocket.WebSocketException, ConnectionError):
        pass  # refused at the handshake, or the connection cut
    assert b'42' not in (answer or b'')
    cloud.wait_for(lambda: 'is invalid or has expired' in
                   cloud.log('nova-serialproxy'), 'the refusal logged')
