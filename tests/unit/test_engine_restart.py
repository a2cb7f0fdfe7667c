"""Requests ride through an engine restart: sent again while the engine
refuses connections, never when it may have received them."""

import socket
import threading
import time

import pytest
import requests
from urllib3 import exceptions as urllib3_exceptions

from novadocker import conf as nd_conf
from novadocker.virt.docker import client

CONF = nd_conf.CONF


def _answer_ok(conn):
    """Answer one request with 200 OK, as a live engine answers a ping."""
    with conn:
        request = b''
        while b'\r\n\r\n' not in request:
            chunk = conn.recv(4096)
            if not chunk:
                return
            request += chunk
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n'
                     b'Content-Length: 2\r\nConnection: close\r\n\r\nOK')


def _hang_up(conn):
    """Read the request, then close without answering: an engine killed
    while it handles a request."""
    with conn:
        conn.recv(4096)


class Engine:
    """An engine socket that can be absent, refusing, or answering."""

    def __init__(self, path):
        self.path = path
        self.listener = None
        self.accepted = 0

    def listen(self, answer=_answer_ok):
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(self.path)
        self.listener.listen()
        threading.Thread(target=self._serve, args=(answer,),
                         daemon=True).start()

    def _serve(self, answer):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed
            self.accepted += 1
            answer(conn)

    def close(self):
        if self.listener:
            self.listener.shutdown(socket.SHUT_RDWR)
            self.listener.close()


@pytest.fixture
def engine(tmp_path):
    path = str(tmp_path / 'docker.sock')
    CONF.set_override('host_url', 'unix://' + path, group='docker')
    CONF.set_override('api_version', '1.45', group='docker')
    served = Engine(path)
    yield served
    served.close()
    CONF.clear_override('host_url', group='docker')
    CONF.clear_override('api_version', group='docker')
    CONF.clear_override('engine_restart_wait', group='docker')


def test_a_request_waits_for_an_engine_that_comes_back(engine):
    """No socket at first (dockerd restarting): the ping is sent again
    until the engine answers, 1 s later."""
    CONF.set_override('engine_restart_wait', 10, group='docker')
    threading.Timer(1, engine.listen).start()
    began = time.monotonic()
    client.DockerClient().ping()
    assert 1 <= time.monotonic() - began < 5
    assert engine.accepted == 1


def test_the_wait_is_bounded(engine):
    CONF.set_override('engine_restart_wait', 1, group='docker')
    began = time.monotonic()
    with pytest.raises(client.DockerUnavailable):
        client.DockerClient().ping()
    assert 1 <= time.monotonic() - began < 3


def test_no_wait_fails_at_once(engine):
    CONF.set_override('engine_restart_wait', 0, group='docker')
    began = time.monotonic()
    with pytest.raises(client.DockerUnavailable):
        client.DockerClient().ping()
    assert time.monotonic() - began < 0.5


def test_a_request_the_engine_may_have_received_is_not_sent_again(engine):
    """The engine hung up after reading it: it may have acted on it (a
    create, a start), so the caller is told instead."""
    CONF.set_override('engine_restart_wait', 10, group='docker')
    engine.listen(answer=_hang_up)
    began = time.monotonic()
    with pytest.raises(client.DockerUnavailable):
        client.DockerClient().ping()
    assert time.monotonic() - began < 1
    assert engine.accepted == 1


def _aborted(error):
    """What requests raises for a unix socket's connection error."""
    return requests.exceptions.ConnectionError(
        urllib3_exceptions.ProtocolError('Connection aborted.', error))


def _tcp_refused():
    """What requests raises when a TCP engine refuses the connection."""
    return requests.exceptions.ConnectionError(
        urllib3_exceptions.MaxRetryError(
            None, '/_ping', urllib3_exceptions.NewConnectionError(
                None, 'Failed to establish a new connection')))


@pytest.mark.parametrize('error, never_sent', [
    (_aborted(FileNotFoundError(2, 'No such file or directory')), True),
    (_aborted(ConnectionRefusedError(111, 'Connection refused')), True),
    (_tcp_refused(), True),
    (_aborted(ConnectionResetError(104, 'Connection reset by peer')), False),
    (_aborted(TimeoutError('timed out')), False),
])
def test_never_sent_looks_through_the_wrapping(error, never_sent):
    assert client.never_sent(error) is never_sent


@pytest.mark.parametrize('explanation, stale', [
    ('task %s: already exists' % ('4016dc27' * 8), True),
    ('failed to start shim: mkdir /run/docker/containerd/daemon/'
     'io.containerd.runtime.v2.task/moby/%s: file exists: unknown'
     % ('f43b49ed' * 8), True),
    ('container %s: already exists' % ('4016dc27' * 8), False),
    ('OCI runtime create failed: exec: "x": not found', False),
])
def test_the_engines_refusals_that_mean_a_stale_task(explanation, stale):
    """As dockerd 20.10 words them (measured after a restart mid-start)."""
    assert bool(client.STALE_TASK.search(explanation)) is stale
