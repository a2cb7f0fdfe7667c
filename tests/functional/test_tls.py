"""The driver and a remote engine over TLS on loopback, with certificates
made here: the right CA and client certificate connect, a wrong CA or no
client certificate is refused, and the environment's CA bundle variables
(set on these machines) cannot override the configured CA."""

import datetime
import ipaddress
import os
import socket

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
import pytest

from novadocker import conf as nd_conf
from novadocker.virt.docker import client
from tests.fixtures import engine as engine_fixture
from tests.unit import factories

CONF = nd_conf.CONF


class Authority:
    """A CA that signs server and client certificates into ``directory``."""

    def __init__(self, directory, name):
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = self._build(self.name, self.key.public_key(), [
            (x509.BasicConstraints(ca=True, path_length=None), True)])
        self.ca_file = self._write(name + '-ca.pem', self.cert)

    def _build(self, subject, public_key, extensions):
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (x509.CertificateBuilder().subject_name(subject)
                   .issuer_name(self.name).public_key(public_key)
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1)))
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical)
        return builder.sign(self.key, hashes.SHA256())

    def _write(self, name, item):
        path = os.path.join(self.directory, name)
        with open(path, 'wb') as f:
            if isinstance(item, x509.Certificate):
                f.write(item.public_bytes(serialization.Encoding.PEM))
            else:
                f.write(item.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.TraditionalOpenSSL,
                    serialization.NoEncryption()))
        return path

    def issue(self, name, server):
        """(cert file, key file) for a server on 127.0.0.1 or a client."""
        key = ec.generate_private_key(ec.SECP256R1())
        usage = (x509.ExtendedKeyUsageOID.SERVER_AUTH if server
                 else x509.ExtendedKeyUsageOID.CLIENT_AUTH)
        extensions = [(x509.ExtendedKeyUsage([usage]), False)]
        if server:
            extensions.append((x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address('127.0.0.1'))]), False))
        cert = self._build(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]),
            key.public_key(), extensions)
        return self._write(name + '.pem', cert), self._write(
            name + '-key.pem', key)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def tls_engine(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp('tls'))
    authority = Authority(directory, 'right')
    server_cert, server_key = authority.issue('server', server=True)
    port = free_port()
    engine = engine_fixture.DockerEngine(extra_args=[
        '--host', 'tcp://127.0.0.1:%d' % port, '--tlsverify',
        '--tlscacert', authority.ca_file, '--tlscert', server_cert,
        '--tlskey', server_key]).start()
    yield engine, port, authority, Authority(directory, 'wrong')
    engine.stop()


@pytest.fixture
def connect_with(tls_engine, monkeypatch):
    engine, port, _, wrong = tls_engine
    # These machines set both: requests would prefer them to ca_file.
    monkeypatch.setenv('REQUESTS_CA_BUNDLE', wrong.ca_file)
    monkeypatch.setenv('CURL_CA_BUNDLE', wrong.ca_file)
    options = ('host_url', 'ca_file', 'cert_file', 'key_file',
               'api_insecure')

    def connect(**overrides):
        for name in options:
            CONF.set_override(name, overrides.get(name), group='docker')
        CONF.set_override('host_url', 'tcp://127.0.0.1:%d' % port,
                          group='docker')
        docker_client = client.DockerClient()
        docker_client.ping()
        return docker_client

    yield connect
    for name in options:
        CONF.clear_override(name, group='docker')


def test_the_right_ca_and_client_certificate_connect(tls_engine,
                                                     connect_with):
    _, _, right, _ = tls_engine
    cert, key = right.issue('nova-compute', server=False)
    docker_client = connect_with(ca_file=right.ca_file, cert_file=cert,
                                 key_file=key)
    assert docker_client.info()['ServerVersion']


def test_a_wrong_ca_is_refused(tls_engine, connect_with):
    _, _, right, wrong = tls_engine
    cert, key = right.issue('nova-compute', server=False)
    with pytest.raises(client.DockerUnavailable) as e:
        connect_with(ca_file=wrong.ca_file, cert_file=cert, key_file=key)
    assert 'CERTIFICATE_VERIFY_FAILED' in str(e.value)


def test_a_client_without_a_certificate_the_engine_trusts_is_refused(
        tls_engine, connect_with):
    _, _, right, wrong = tls_engine
    cert, key = wrong.issue('intruder', server=False)
    with pytest.raises(client.DockerUnavailable):
        connect_with(ca_file=right.ca_file, cert_file=cert, key_file=key)


def test_api_insecure_skips_only_the_server_check(tls_engine, connect_with):
    _, _, right, _ = tls_engine
    cert, key = right.issue('nova-compute', server=False)
    docker_client = connect_with(ca_file=None, cert_file=cert, key_file=key,
                                 api_insecure=True)
    assert docker_client.info()['ServerVersion']


def test_a_command_reads_its_stdin_to_the_end_over_tls(tls_engine,
                                                       connect_with):
    """What set_admin_password relies on: the data, then its end, reach
    the process (chpasswd reads to EOF); its exit code comes back. Its
    output does not over TLS (see DockerClient.run_with_input)."""
    engine, _, right, _ = tls_engine
    cert, key = right.issue('nova-compute', server=False)
    docker_client = connect_with(ca_file=right.ca_file, cert_file=cert,
                                 key_file=key)
    instance = factories.instance()
    name = client.container_name(instance.uuid)
    with engine.client() as api:
        engine_fixture.build_test_image(api)
        api.create_container(engine_fixture.TEST_IMAGE, name=name)
        try:
            api.start(name)
            code, output = docker_client.run_with_input(
                instance, ['sh', '-c', 'cat > /tmp/in; echo done; exit 3'],
                b'line one\nline two\n', user='0')
            assert (code, output) == (3, b'')
            exec_id = api.exec_create(name, ['cat', '/tmp/in'])['Id']
            assert api.exec_start(exec_id) == b'line one\nline two\n'
        finally:
            api.remove_container(name, force=True)
