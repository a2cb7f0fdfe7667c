"""Where the cloud keeps things, and the facts every service shares.

Configuration lives under ``/etc/novadocker-cloud/<service>/`` (the
package's rootwrap filter admits privsep-helper only with configuration files
below /etc); everything the cloud writes at run time (databases, images,
instances, logs, pidfiles, passwords) lives in the state directory.
"""

import configparser
import json
import os
import secrets
import socket
import threading

DEFAULT_STATE_DIR = '/var/lib/novadocker-cloud'
DEFAULT_CONFIG_DIR = '/etc/novadocker-cloud'
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

HOST = '127.0.0.1'
PORTS = {'mariadb': 3306, 'rabbitmq': 5672, 'keystone': 5000,
         'glance': 9292, 'placement': 8778, 'neutron': 9696, 'nova': 8774,
         'ovsdb': 6640, 'ovn_nb': 6641, 'ovn_sb': 6642,
         'nova_serialproxy': 6083, 'nova_metadata': 8775}
REGION = 'RegionOne'
# The provider network of floating IPs: on br-ex, whose host side holds the
# first address, so that this host reaches every floating IP and nothing
# else does (no route or NAT leads off the machine).
PUBLIC_CIDR = '172.24.4.0/24'
PUBLIC_HOST_ADDRESS = '172.24.4.1'
PHYSNET = 'public'
PRIVATE_CIDR = '10.0.0.0/24'
# A cloud of more than one node (``--nodes 2``): the further node lives in
# network and mount namespaces of its own and reaches the control plane over
# a management link (a veth pair: this host's end holds the first address,
# node N's end the Nth), and node 1's OVS over a second link that carries
# only Geneve between the nodes' ``br-phy`` bridges.
MANAGEMENT_PREFIX = '172.24.8.'
TUNNEL_PREFIX = '172.24.9.'
NODE_PREFIXLEN = 24
# Services come up on threads of their own, and several make their first
# passwords at once: one writer of the file at a time.
_PASSWORDS_LOCK = threading.Lock()
# Containers are small: these flavors are what the demo and tests use.
FLAVORS = (('docker.tiny', 64, 1, 1), ('docker.small', 256, 1, 1),
           ('docker.medium', 512, 2, 2))


class Layout:
    """Paths and secrets of one cloud."""

    def __init__(self, state_dir=DEFAULT_STATE_DIR,
                 config_dir=DEFAULT_CONFIG_DIR, nodes=1):
        self.nodes = nodes
        self.state = os.path.abspath(state_dir)
        self.etc = os.path.abspath(config_dir)
        self.venv = os.path.join(self.state, 'venv')
        self.logs = os.path.join(self.state, 'logs')
        self.run = os.path.join(self.state, 'run')
        self.hostname = socket.gethostname()
        self._passwords_file = os.path.join(self.state, 'passwords')

    def bin(self, name):
        return os.path.join(self.venv, 'bin', name)

    def log(self, name):
        return os.path.join(self.logs, name + '.log')

    def pidfile(self, name):
        return os.path.join(self.run, name + '.pid')

    def conf(self, service, name):
        return os.path.join(self.etc, service, name)

    def data(self, *parts):
        return os.path.join(self.state, *parts)

    @property
    def control_host(self):
        """Where every node reaches the control plane (APIs, bus, OVN
        SB): 127.0.0.1 on one node; this host's management address when
        further nodes, outside this network namespace, need it too."""
        return MANAGEMENT_PREFIX + '1' if self.nodes > 1 else HOST

    @property
    def listen_hosts(self):
        """The addresses the control plane listens on: 127.0.0.1 always
        (what runs on node 1 keeps using it), the management address too
        in a cloud of more than one node."""
        return sorted({HOST, self.control_host})

    def url(self, service, path=''):
        return 'http://%s:%d%s' % (self.control_host, PORTS[service], path)

    def password(self, name):
        """A random password per name, kept (mode 0600) across runs."""
        with _PASSWORDS_LOCK:
            return self._password(name)

    def _password(self, name):
        os.makedirs(self.state, exist_ok=True)
        try:
            with open(self._passwords_file) as f:
                passwords = json.load(f)
        except FileNotFoundError:
            passwords = {}
        if name not in passwords:
            passwords[name] = secrets.token_urlsafe(18)
            fd = os.open(self._passwords_file + '.new',
                         os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, 'w') as f:
                json.dump(passwords, f, indent=1)
            os.replace(self._passwords_file + '.new', self._passwords_file)
        return passwords[name]

    def db_url(self, database, user=None):
        user = user or database
        return 'mysql+pymysql://%s:%s@%s:%d/%s?charset=utf8' % (
            user, self.password('db-' + user), HOST, PORTS['mariadb'],
            database)

    def transport_url(self):
        return 'rabbit://openstack:%s@%s:%d/' % (
            self.password('rabbitmq'), self.control_host, PORTS['rabbitmq'])

    def rabbit_options(self):
        """[oslo_messaging_rabbit] of every service on the bus: quorum
        queues, durable, whose messages outlive a broker restart (a cast
        sent while a consumer reconnects is kept, not dropped), as
        production deployments run them."""
        return {'rabbit_quorum_queue': 'true'}

    def keystone_auth(self, user):
        """keystoneauth options of a service user (for keystone_authtoken,
        and for the [neutron]/[placement]/[nova] client sections)."""
        return {'auth_type': 'password', 'auth_url': self.url('keystone'),
                'project_domain_name': 'Default',
                'user_domain_name': 'Default', 'project_name': 'service',
                'username': user, 'password': self.password(user),
                'region_name': REGION}

    def authtoken(self, user):
        return dict(self.keystone_auth(user),
                    www_authenticate_uri=self.url('keystone'),
                    interface='public',
                    service_token_roles_required='true')


class Node:
    """A compute node of the cloud: node 1 is this host as it is; a further
    node has its own host name, its management address, and its state and
    configuration in directories of its own."""

    def __init__(self, layout, number):
        self.number = number
        self.layout = layout
        if number == 1:
            self.name = layout.hostname
            self.address = HOST
            self.state = layout.state
            self.etc = layout.etc
        else:
            self.name = '%s-node%d' % (layout.hostname, number)
            self.address = MANAGEMENT_PREFIX + str(number)
            self.state = layout.data('node%d' % number)
            self.etc = os.path.join(layout.etc, 'node%d' % number)
        self.tunnel_address = TUNNEL_PREFIX + str(number)

    def data(self, *parts):
        return os.path.join(self.state, *parts)

    def conf(self, service, name):
        return os.path.join(self.etc, service, name)


def write_ini(path, sections, mode=0o640, group=None):
    """Write an oslo.config style file from {section: {key: value}}."""
    parser = configparser.RawConfigParser()
    parser.optionxform = str
    for section, values in sections.items():
        parser[section] = {k: str(v) for k, v in values.items()}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path + '.new', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, 'w') as f:
        parser.write(f)
    os.chmod(path + '.new', mode)
    if group:
        os.chown(path + '.new', 0, _gid(group))
    os.replace(path + '.new', path)


def _gid(group):
    import grp
    return grp.getgrnam(group).gr_gid
