"""A local all-in-one Nova with the Docker driver, in one process.

The real Nova API (served on localhost), conductor, scheduler and compute,
the real Placement API (served on localhost), sqlite databases and
in-process messaging; the compute service loads DockerDriver from the
documented ``compute_driver`` line and runs instances on a Docker engine with
their ports on OVS ``br-int``. Two services are stand-ins, embedded here: an
image service (nova's GlanceFixture, keeping real bytes, also served on
localhost as a small subset of the Glance v2 API so images can be uploaded
and downloaded by hand) and a network service (nova's NeutronFixture with one
shared network whose ports are plain OVS ports on br-int).

Run by README command 1 (``tools/setup-env.sh`` first). Without options it
builds a small busybox image, uploads it, boots a server from it through the
API and shows what happened (status, container, address on br-int, console
log, a request to the server's web page from the host), snapshots it, deletes
it and stops. With ``--serve`` it keeps everything running for use by hand
and prints how to reach it.

There is no authentication: the APIs listen on 127.0.0.1 only and trust the
X-User-Id / X-Project-Id / X-Roles headers a caller sends (the headers that
keystonemiddleware would set).

Uses the Docker engine at /var/run/docker.sock and the OVS at
/var/run/openvswitch/db.sock when they answer; otherwise starts a private
dockerd and a private OVS for the run, and stops them at the end.
"""

import argparse
import contextlib
import copy
import io
import ipaddress
import json
import os
import random
import shutil
import signal
import socketserver
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from wsgiref import simple_server

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', '1')

from nova import monkey_patch  # noqa: E402
monkey_patch.patch()

import docker  # noqa: E402
import fixtures  # noqa: E402
import requests  # noqa: E402

COMPUTE_DRIVER = 'novadocker.virt.docker.driver.DockerDriver'
SYSTEM_ENGINE = 'unix:///var/run/docker.sock'
SYSTEM_OVSDB = 'unix:/var/run/openvswitch/db.sock'
BRIDGE = 'br-int'
PROJECT = 'demo'
# Who the caller is, as keystonemiddleware would say it.
ADMIN_HEADERS = {'X-User-Id': 'admin', 'X-Project-Id': PROJECT,
                 'X-Roles': 'admin,member,reader'}
SAMPLE_IMAGE_TAG = 'novadocker-aio/hello:latest'
# The sample's PID 1: a web page and a console line, a clean exit on SIGTERM.
SAMPLE_COMMAND = (
    'sh', '-c',
    'trap "exit 0" TERM; mkdir -p /var/www; '
    'echo "hello from $(hostname)" > /var/www/index.html; '
    'httpd -p 80 -h /var/www; echo "$(hostname) is serving on port 80"; '
    'while true; do sleep 1 & wait $!; done')
FLAVOR = {'name': 'docker.small', 'ram': 256, 'vcpus': 1, 'disk': 1}

_started = time.monotonic()


def step(message):
    print('[%5.1fs] %s' % (time.monotonic() - _started, message), flush=True)


# -- the host: Docker engine and OVS -----------------------------------------

def start_engine(state_dir, stack):
    """The engine URL: the system one if it answers, else a private one."""
    try:
        with docker.APIClient(base_url=SYSTEM_ENGINE, version='auto') as api:
            api.ping()
        step('Docker engine: %s (running already)' % SYSTEM_ENGINE)
        return SYSTEM_ENGINE
    except docker.errors.DockerException:
        pass
    from tests.fixtures import engine as engine_fixture
    base_dir = os.path.join(state_dir, 'docker')
    os.makedirs(base_dir)
    engine = engine_fixture.DockerEngine(base_dir=base_dir).start()
    stack.callback(engine.stop)
    step('Docker engine: none at %s; started a private dockerd at %s '
         '(log %s)' % (SYSTEM_ENGINE, engine.url, engine.log_path))
    return engine.url


def _vsctl(db, *args):
    return subprocess.run(['ovs-vsctl', '--db=' + db, '--timeout=10', *args],
                          check=True, capture_output=True, text=True).stdout


class LocalOVS:
    """ovsdb-server and ovs-vswitchd in the host's namespace, everything
    (database, sockets, logs) in one directory; for hosts without OVS."""

    def __init__(self, directory):
        self.dir = directory
        self.db = 'unix:' + os.path.join(directory, 'db.sock')
        self.processes = []

    def _spawn(self, *cmd):
        log = open(os.path.join(self.dir, cmd[0] + '.out'), 'ab')
        self.processes.append(subprocess.Popen(
            cmd, stdout=log, stderr=log, start_new_session=True,
            env=dict(os.environ, OVS_RUNDIR=self.dir)))
        log.close()

    def start(self):
        os.makedirs(self.dir)
        os.makedirs('/var/run/openvswitch', exist_ok=True)
        conf_db = os.path.join(self.dir, 'conf.db')
        subprocess.run(['ovsdb-tool', 'create', conf_db,
                        '/usr/share/openvswitch/vswitch.ovsschema'],
                       check=True)
        self._spawn('ovsdb-server', conf_db, '--remote=p' + self.db,
                    '--pidfile=%s/ovsdb-server.pid' % self.dir,
                    '--unixctl=%s/ovsdb-server.ctl' % self.dir,
                    '--log-file=%s/ovsdb-server.log' % self.dir)
        deadline = time.monotonic() + 20
        while not os.path.exists(self.db[len('unix:'):]):
            if time.monotonic() > deadline:
                raise RuntimeError('ovsdb-server did not start: see %s'
                                   % self.dir)
            time.sleep(0.05)
        _vsctl(self.db, '--no-wait', 'init')
        self._spawn('ovs-vswitchd', self.db,
                    '--pidfile=%s/ovs-vswitchd.pid' % self.dir,
                    '--unixctl=%s/ovs-vswitchd.ctl' % self.dir,
                    '--log-file=%s/ovs-vswitchd.log' % self.dir)
        # Returns once vswitchd has applied it.
        _vsctl(self.db, 'set', 'Open_vSwitch', '.', 'other_config:aio=1')
        return self

    def stop(self):
        for proc in reversed(self.processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)


def start_ovs(state_dir, stack, gateway):
    """The OVSDB endpoint, with br-int ready and ``gateway`` (an interface
    address) on its internal port, so the host reaches the instances."""
    try:
        _vsctl(SYSTEM_OVSDB, 'show')
        db = SYSTEM_OVSDB
        step('Open vSwitch: %s (running already)' % db)
    except (subprocess.CalledProcessError, FileNotFoundError):
        ovs = LocalOVS(os.path.join(state_dir, 'ovs')).start()
        stack.callback(ovs.stop)
        db = ovs.db
        step('Open vSwitch: none at %s; started a private one at %s'
             % (SYSTEM_OVSDB, db))
    created = BRIDGE not in _vsctl(db, 'list-br').split()
    if created:
        # Without the openvswitch kernel module, the userspace datapath.
        datapath = ('system' if os.path.exists('/sys/module/openvswitch')
                    else 'netdev')
        _vsctl(db, 'add-br', BRIDGE, '--', 'set', 'Bridge', BRIDGE,
               'datapath_type=' + datapath)
        stack.callback(_vsctl, db, '--if-exists', 'del-br', BRIDGE)
    subprocess.run(['ip', 'link', 'set', BRIDGE, 'up'], check=True)
    if gateway.ip not in {ipaddress.ip_interface(a).ip for a in _addresses(
            BRIDGE)}:
        subprocess.run(['ip', 'addr', 'add', str(gateway), 'dev', BRIDGE],
                       check=True)
        stack.callback(subprocess.run, ['ip', 'addr', 'del', str(gateway),
                                        'dev', BRIDGE], check=False)
    step('%s %s, host address %s'
         % (BRIDGE, 'created' if created else 'exists', gateway))
    return db


def _addresses(device):
    out = subprocess.run(['ip', '-j', 'addr', 'show', 'dev', device],
                         check=True, capture_output=True, text=True).stdout
    return ['%s/%s' % (a['local'], a['prefixlen'])
            for link in json.loads(out) for a in link['addr_info']]


# -- HTTP on localhost --------------------------------------------------------

class _ThreadingServer(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    daemon_threads = True


class _QuietHandler(simple_server.WSGIRequestHandler):
    def log_message(self, *args):
        pass  # the applications log their requests themselves


def serve(app, port, stack):
    """Serve ``app`` on 127.0.0.1:port (0: any free port); its URL."""
    server = simple_server.make_server('127.0.0.1', port, app,
                                       server_class=_ThreadingServer,
                                       handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stack.callback(server.shutdown)
    return 'http://127.0.0.1:%d' % server.server_port


# -- the stand-in image service -------------------------------------------

class _LimitedInput:
    """The request body, no further than Content-Length."""

    def __init__(self, stream, length):
        self.stream, self.left = stream, length

    def read(self, size):
        data = self.stream.read(min(size, self.left)) if self.left else b''
        self.left -= len(data)
        return data


def image_api(glance):
    """A WSGI app: the part of the Glance v2 API a user needs by hand
    (list, show, create, upload, download, delete), on ``glance``."""

    def respond(start_response, status, body=None):
        data = b'' if body is None else json.dumps(
            body, default=str).encode()
        start_response(status, [('Content-Type', 'application/json'),
                                ('Content-Length', str(len(data)))])
        return [data]

    def app(environ, start_response):
        method = environ['REQUEST_METHOD']
        parts = environ['PATH_INFO'].strip('/').split('/')
        if parts[:2] != ['v2', 'images']:
            return respond(start_response, '404 Not Found')
        try:
            if len(parts) == 2 and method == 'GET':
                return respond(start_response, '200 OK', {
                    'images': list(glance.images.values())})
            if len(parts) == 2 and method == 'POST':
                length = int(environ.get('CONTENT_LENGTH') or 0)
                meta = json.loads(environ['wsgi.input'].read(length) or '{}')
                meta.setdefault('status', 'queued')
                meta.setdefault('visibility', 'public')
                image = glance.create(None, meta)
                return respond(start_response, '201 Created', image)
            image_id = parts[2]
            glance.show(None, image_id)
            if len(parts) == 3 and method == 'GET':
                return respond(start_response, '200 OK',
                               glance.show(None, image_id))
            if len(parts) == 3 and method == 'DELETE':
                glance.delete(None, image_id)
                return respond(start_response, '204 No Content')
            if parts[3:] == ['file'] and method == 'PUT':
                glance.update(None, image_id, {}, data=_LimitedInput(
                    environ['wsgi.input'],
                    int(environ.get('CONTENT_LENGTH') or 0)))
                return respond(start_response, '204 No Content')
            if parts[3:] == ['file'] and method == 'GET':
                image = glance.show(None, image_id)
                start_response('200 OK', [
                    ('Content-Type', 'application/octet-stream'),
                    ('Content-Length', str(image['size']))])
                return glance.download(None, image_id)
        except Exception as e:
            code = getattr(e, 'code', 500)
            return respond(start_response, '%d Error' % code,
                           {'error': str(e)})
        return respond(start_response, '405 Method Not Allowed')
    return app


class _Stubs:
    """What nova's Glance and Neutron fixtures call on a test case, for use
    outside one."""

    def __init__(self, owner):
        self.owner = owner

    def useFixture(self, fixture):
        return self.owner.useFixture(fixture)

    def stub_out(self, old, new):
        self.owner.useFixture(fixtures.MonkeyPatch(old, new))

    def flags(self, **kwargs):
        import nova.conf
        for name, value in kwargs.items():
            nova.conf.CONF.set_override(name, value)


# -- the stand-in network service -------------------------------------------

def neutron_fixture(cidr):
    """Nova's NeutronFixture with one shared network on ``cidr`` (the host
    has its first address) whose new ports get the next free address and
    bind as plain OVS ports on br-int."""
    from nova.tests.fixtures import neutron

    base = neutron.NeutronFixture
    network = dict(copy.deepcopy(base.network_1), name='private',
                   shared=True, mtu=1500)
    hosts = list(ipaddress.ip_network(cidr).hosts())
    subnet = dict(copy.deepcopy(base.subnet_1), cidr=cidr,
                  gateway_ip=str(hosts[0]), allocation_pools=[
                      {'start': str(hosts[9]), 'end': str(hosts[-1])}])
    network['subnets'] = [subnet['id']]

    class Network(base):
        def __init__(self, test):
            super().__init__(test)
            self._networks = {network['id']: network}
            self._subnets = {subnet['id']: subnet}
            self._ports = {}

        def create_port(self, body=None):
            used = {ip['ip_address'] for p in self._ports.values()
                    for ip in p['fixed_ips']}
            address = next(str(h) for h in hosts[9:] if str(h) not in used)
            port = copy.deepcopy(self.default_port)
            port.update(copy.deepcopy((body or {}).get('port', {})))
            port_id = str(uuid.uuid4())
            port.update({
                'id': port_id, 'network_id': network['id'],
                'mac_address': 'fa:16:3e:%02x:%02x:%02x' % tuple(
                    random.randrange(256) for _ in range(3)),
                'fixed_ips': [{'ip_address': address,
                               'subnet_id': subnet['id']}],
                'binding:vif_type': 'ovs',
                'binding:vif_details': {'port_filter': True}})
            self._ports[port_id] = port
            return {'port': copy.deepcopy(port)}

    return Network


# -- nova and placement ---------------------------------------------------

def api_paste_without_authtoken(path):
    """nova's paste pipeline without keystonemiddleware's authtoken: the
    request headers say who the caller is (localhost only)."""
    source = os.path.join(sys.prefix, 'etc', 'nova', 'api-paste.ini')
    with open(source) as f:
        text = f.read()
    with open(path, 'w') as f:
        f.write(text.replace(' authtoken keystonecontext',
                             ' keystonecontext'))
    return path


def sqlite_url(state_dir, name):
    """A new sqlite database in WAL mode, so the services' threads can read
    while one writes (as nova's functional tests run them)."""
    path = os.path.join(state_dir, name + '.sqlite')
    with sqlite3.connect(path) as connection:
        connection.execute('PRAGMA journal_mode=WAL')
    return 'sqlite:///' + path


def serialize_sqlite_transactions():
    """Every transaction on sqlite begins IMMEDIATE (taking the write lock,
    waiting up to 30 s for it): the services' threads share the database
    files, and a deferred transaction that reads and then writes fails at
    once with "database is locked" when another thread wrote meanwhile.
    oslo.db already sends BEGIN itself (SQLAlchemy's recipe for pysqlite);
    this makes it BEGIN IMMEDIATE."""
    from sqlalchemy.engine import Engine
    from sqlalchemy import event

    @event.listens_for(Engine, 'connect')
    def connect(dbapi_connection, _record):
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.isolation_level = None  # BEGIN is sent below
            dbapi_connection.execute('PRAGMA busy_timeout = 30000')

    @event.listens_for(Engine, 'begin')
    def begin(connection):
        # oslo.db emits a plain BEGIN unless this marker says one was sent.
        if (connection.dialect.name == 'sqlite' and
                'in_transaction' not in connection.info):
            connection.exec_driver_sql('BEGIN IMMEDIATE')
            connection.info['in_transaction'] = True


def write_nova_conf(state_dir, engine_url, ovsdb, placement_url):
    path = os.path.join(state_dir, 'nova.conf')
    sections = {
        'DEFAULT': {
            'compute_driver': COMPUTE_DRIVER,
            'transport_url': 'fake:/',
            'host': 'aio',
            'state_path': state_dir,
            'instances_path': os.path.join(state_dir, 'instances'),
            'my_ip': '127.0.0.1',
            'shutdown_timeout': 10,
            'log_file': os.path.join(state_dir, 'nova.log'),
        },
        'api': {'response_validation': 'warn'},
        'wsgi': {'api_paste_config': api_paste_without_authtoken(
            os.path.join(state_dir, 'api-paste.ini'))},
        'database': {'connection': sqlite_url(state_dir, 'nova')},
        'api_database': {'connection': sqlite_url(state_dir, 'nova_api')},
        'oslo_concurrency': {'lock_path': os.path.join(state_dir, 'locks')},
        'placement': {'auth_type': 'admin_token', 'token': 'admin',
                      'endpoint_override': placement_url},
        'scheduler': {'discover_hosts_in_cells_interval': -1},
        'docker': {'host_url': engine_url, 'soft_reboot_timeout': 10},
        'docker_ovs': {'ovsdb_connection': ovsdb},
        'notifications': {'notification_format': 'unversioned'},
        'oslo_messaging_notifications': {'driver': 'noop'},
    }
    with open(path, 'w') as f:
        for section, options in sections.items():
            f.write('[%s]\n' % section)
            for name, value in options.items():
                f.write('%s = %s\n' % (name, value))
            f.write('\n')
    return path


def start_placement(state_dir, port, stack):
    from oslo_config import cfg
    from oslo_policy import opts as policy_opts
    from placement import conf as placement_conf
    from placement import db_api
    from placement import deploy

    conf = cfg.ConfigOpts()
    placement_conf.register_opts(conf)
    policy_opts.set_defaults(conf, enforce_new_defaults=False)
    conf.set_default('connection', sqlite_url(state_dir, 'placement'),
                     group='placement_database')
    conf.set_default('sync_on_startup', True, group='placement_database')
    # Placement's noauth2 takes the token as the caller's name.
    conf.set_default('auth_strategy', 'noauth2', group='api')
    conf([], project='placement', default_config_files=[])
    db_api.configure(conf)
    url = serve(deploy.loadapp(conf), port, stack)
    step('Placement API: %s' % url)
    return url


def prepare_databases(state_dir):
    """What ``nova-manage api_db sync``, ``cell_v2 map_cell0``, ``db sync``
    and ``cell_v2 create_cell`` do, in this process."""
    from nova.cmd import manage

    with contextlib.redirect_stdout(io.StringIO()):
        manage.ApiDbCommands().sync()
        manage.CellV2Commands().map_cell0(
            database_connection=sqlite_url(state_dir, 'nova_cell0'))
        manage.DbCommands().sync()
        manage.CellV2Commands().create_cell(name='cell1',
                                            transport_url='fake:/')


def start_nova(state_dir, conf_file, api_port, stack):
    from nova.api.openstack import wsgi_app
    from nova.api import wsgi as nova_wsgi
    from nova.cmd import manage
    from nova.compute import rpcapi as compute_rpcapi
    from nova import config
    from nova import context
    from nova import objects
    from nova import service
    from oslo_log import log as logging
    from oslo_service import opts as oslo_svc_opts

    import nova.conf
    CONF = nova.conf.CONF
    oslo_svc_opts.register_service_opts(CONF)
    config.parse_args(['nova-aio', '--config-file', conf_file])
    logging.setup(CONF, 'nova')
    objects.register_all()
    prepare_databases(state_dir)
    step('databases: %s/*.sqlite (api, cell0, cell1)' % state_dir)

    for binary, kwargs in (
            ('nova-conductor', {}), ('nova-scheduler', {}),
            ('nova-compute', {'topic': compute_rpcapi.RPC_TOPIC,
                              'topic_alt': compute_rpcapi.RPC_TOPIC_ALT})):
        server = service.Service.create(binary=binary, **kwargs)
        server.start()
        stack.callback(server.stop)
        step('%s started' % binary)
    with contextlib.redirect_stdout(io.StringIO()):
        manage.CellV2Commands().discover_hosts()
    wsgi_app._setup_service(CONF.host, 'osapi_compute')
    url = serve(nova_wsgi.Loader().load_app('osapi_compute'), api_port,
                stack)
    step('Nova API: %s/v2.1 (log: %s)' % (url, CONF.log_file))
    return url, context.get_admin_context()


# -- the demo, through the APIs -------------------------------------------

class Client:
    """Plain HTTP against the local APIs, as any client would do it."""

    def __init__(self, nova_url, image_url):
        self.nova = nova_url + '/v2.1'
        self.images = image_url + '/v2/images'
        self.session = requests.Session()
        self.session.headers.update(ADMIN_HEADERS)
        self.session.headers['OpenStack-API-Version'] = 'compute latest'
        self.session.trust_env = False  # localhost, never a proxy

    def __call__(self, method, path, **kwargs):
        url = path if path.startswith('http') else self.nova + path
        response = self.session.request(method, url, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError('%s %s: %s %s' % (method, url,
                                                 response.status_code,
                                                 response.text))
        return response.json() if response.content else None

    def delete(self, server_id, timeout=60):
        self('DELETE', '/servers/' + server_id)
        deadline = time.monotonic() + timeout
        while any(s['id'] == server_id
                  for s in self('GET', '/servers')['servers']):
            if time.monotonic() > deadline:
                raise RuntimeError('server %s not deleted after %s s'
                                   % (server_id, timeout))
            time.sleep(0.3)

    def wait(self, server_id, *statuses, timeout=120):
        deadline = time.monotonic() + timeout
        last = None
        while True:
            server = self('GET', '/servers/' + server_id)['server']
            progress = (server['status'], server['OS-EXT-STS:task_state'])
            if progress != last:
                task = ' (%s)' % progress[1] if progress[1] else ''
                step('  server %s: %s%s' % (server['name'], progress[0], task))
                last = progress
            if server['status'] in statuses and not progress[1]:
                return server
            if server['status'] == 'ERROR':
                raise RuntimeError('server failed: %s' % server.get('fault'))
            if time.monotonic() > deadline:
                raise RuntimeError('server still %s after %ss'
                                   % (server['status'], timeout))
            time.sleep(0.3)


def sample_image(engine_url):
    """A ``docker save`` tarball of a small busybox web server, built on the
    engine and removed from it again (the engine loads it from the image
    service like any Glance image)."""
    from tests.fixtures import engine as engine_fixture
    with docker.APIClient(base_url=engine_url, version='auto') as api:
        engine_fixture.build_test_image(api, tag=SAMPLE_IMAGE_TAG,
                                        command=SAMPLE_COMMAND)
        data = b''.join(api.get_image(SAMPLE_IMAGE_TAG))
        api.remove_image(SAMPLE_IMAGE_TAG)
    return data


def demo(client, engine_url, ovsdb, keep):
    step('building the sample image (busybox httpd) as a docker save '
         'tarball')
    data = sample_image(engine_url)
    image = client('POST', client.images, json={
        'name': 'hello', 'container_format': 'docker',
        'disk_format': 'raw'})
    client('PUT', client.images + '/%s/file' % image['id'], data=data,
           headers={'Content-Type': 'application/octet-stream'})
    step('uploaded image %s (%d kB, container_format docker)'
         % (image['id'], len(data) // 1024))

    flavor = client('POST', '/flavors', json={'flavor': FLAVOR})['flavor']
    step('created flavor %(name)s: %(ram)s MB, %(vcpus)s vCPU' % flavor)

    step('POST /servers: booting "hello"')
    server = client('POST', '/servers', json={'server': {
        'name': 'hello', 'imageRef': image['id'],
        'flavorRef': flavor['id'], 'networks': 'auto'}})['server']
    server = client.wait(server['id'], 'ACTIVE')
    address = server['addresses']['private'][0]['addr']
    with docker.APIClient(base_url=engine_url, version='auto') as api:
        container = api.inspect_container('nova-' + server['id'])
    port = [p for p in _vsctl(ovsdb, 'list-ports', BRIDGE).split()
            if _vsctl(ovsdb, 'get', 'Interface', p,
                      'external_ids:vm-uuid').strip().strip('"')
            == server['id']]
    step('server %s is ACTIVE' % server['id'])
    step('  container: nova-%s (%s), %s' % (
        server['id'], container['Id'][:12], container['State']['Status']))
    step('  address:   %s, OVS port %s on %s' % (address, ', '.join(port),
                                                 BRIDGE))
    console = ''
    deadline = time.monotonic() + 10
    while 'serving' not in console and time.monotonic() < deadline:
        console = client('POST', '/servers/%s/action' % server['id'],
                         json={'os-getConsoleOutput': {}})['output']
        time.sleep(0.2)
    step('  console log:')
    for line in console.splitlines():
        print('      | ' + line)
    page = fetch('http://%s/' % address)
    step('  GET http://%s/ from the host: %r' % (address, page))
    if keep:
        return server

    client('POST', '/servers/%s/action' % server['id'],
           json={'createImage': {'name': 'hello-snapshot'}})
    server = client.wait(server['id'], 'ACTIVE')
    snapshots = [i for i in client('GET', client.images)['images']
                 if i['name'] == 'hello-snapshot']
    step('snapshot %s: %s, %d kB, container_format %s' % (
        snapshots[0]['id'], snapshots[0]['status'],
        snapshots[0]['size'] // 1024, snapshots[0]['container_format']))

    client.delete(server['id'])
    with docker.APIClient(base_url=engine_url, version='auto') as api:
        left = api.containers(all=True,
                              filters={'name': 'nova-' + server['id']})
    step('deleted the server: %d container(s) and %d OVS port(s) left'
         % (len(left), len([p for p in _vsctl(
             ovsdb, 'list-ports', BRIDGE).split() if p in port])))
    return None


def fetch(url, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = requests.get(url, timeout=2,
                                    proxies={'http': None, 'https': None})
            return response.text.strip()
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def usage(nova_url, image_url, server):
    caller = ' '.join("-H '%s: %s'" % h for h in ADMIN_HEADERS.items())
    print("""
The all-in-one keeps running; Ctrl-C (or SIGTERM) deletes the servers and
stops what it started. There is no authentication (localhost only): every
request names its caller in headers. In another shell:

  nova() { curl -s %(caller)s \\
      -H 'OpenStack-API-Version: compute latest' \\
      -H 'Content-Type: application/json' "$@"; echo; }
  nova %(nova)s/v2.1/servers
  nova %(nova)s/v2.1/flavors
  # upload a docker image (any "docker save" tarball) and boot it:
  curl -s -X POST %(images)s/v2/images -d '{"name": "mine",
      "container_format": "docker", "disk_format": "raw"}'
  curl -s -X PUT %(images)s/v2/images/<image id>/file -T image.tar
  nova -X POST %(nova)s/v2.1/servers -d '{"server": {"name": "s1",
      "imageRef": "<image id>", "flavorRef": "<flavor id>",
      "networks": "auto"}}'
  # snapshot, then load the snapshot into a Docker engine:
  nova -X POST %(nova)s/v2.1/servers/<server id>/action \\
      -d '{"createImage": {"name": "snap"}}'
  curl -s %(images)s/v2/images/<snapshot id>/file | docker load
  # delete:
  nova -X DELETE %(nova)s/v2.1/servers/<server id>
%(demo)s""" % {'caller': caller, 'nova': nova_url, 'images': image_url,
               'demo': '\nThe demo server %s is running.' % server['id']
               if server else ''}, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--serve', action='store_true',
                        help='keep running for use by hand after the demo '
                             'boot (the demo server is kept)')
    parser.add_argument('--state-dir', default=os.environ.get(
        'NOVADOCKER_AIO_DIR', '/var/tmp/novadocker-aio'),
        help='databases, logs and configuration (emptied first)')
    parser.add_argument('--api-port', type=int, default=8774)
    parser.add_argument('--placement-port', type=int, default=8778)
    parser.add_argument('--image-port', type=int, default=9292)
    parser.add_argument('--cidr', default='10.250.0.0/24',
                        help='the instances\' network; the host gets its '
                             'first address on br-int')
    args = parser.parse_args()

    if os.geteuid() != 0:
        sys.exit('run as root: the driver plugs network devices')
    shutil.rmtree(args.state_dir, ignore_errors=True)
    os.makedirs(args.state_dir)
    serialize_sqlite_transactions()
    network = ipaddress.ip_network(args.cidr)
    gateway = ipaddress.ip_interface('%s/%d' % (next(network.hosts()),
                                                network.prefixlen))

    with contextlib.ExitStack() as stack, fixtures.Fixture() as owner:
        step('state directory: %s' % args.state_dir)
        engine_url = start_engine(args.state_dir, stack)
        ovsdb = start_ovs(args.state_dir, stack, gateway)
        placement_url = start_placement(args.state_dir, args.placement_port,
                                        stack)
        conf_file = write_nova_conf(args.state_dir, engine_url, ovsdb,
                                    placement_url)
        step('nova.conf: %s' % conf_file)

        from tests.fixtures import glance as glance_fixture
        glance = owner.useFixture(glance_fixture.GlanceFixture(_Stubs(owner)))
        glance.images.clear()  # nova's sample VM images: not for this driver
        image_url = serve(image_api(glance), args.image_port, stack)
        step('image service (stand-in, Glance v2 subset): %s/v2/images'
             % image_url)
        owner.useFixture(neutron_fixture(args.cidr)(_Stubs(owner)))
        step('network service (stand-in): network "private" %s, plain OVS '
             'ports on %s' % (args.cidr, BRIDGE))

        nova_url, _ctxt = start_nova(args.state_dir, conf_file,
                                     args.api_port, stack)
        client = Client(nova_url, image_url)
        server = demo(client, engine_url, ovsdb, keep=args.serve)
        if args.serve:
            usage(nova_url, image_url, server)
            # Also when started in the background, where SIGINT is ignored.
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, signal.default_int_handler)
            try:
                signal.pause()
            except KeyboardInterrupt:
                pass
            for left in client('GET', '/servers')['servers']:
                step('deleting server %s' % left['id'])
                client.delete(left['id'])
        step('stopping')
    step('done')


if __name__ == '__main__':
    main()
