"""Nova: the API under uWSGI, conductor, scheduler (cells v2 with cell0 and
cell1, one conductor) and nova-compute running nova-docker as the
unprivileged ``nova`` user, whose privileged operations go through
oslo.privsep started the production way: sudo, nova-rootwrap and the
package's rootwrap filter."""

import datetime
import grp
import os
import pwd
import shutil
import time

from novadocker_cloud import layout as cloud_layout
from novadocker_cloud import process
from novadocker_cloud import services
from novadocker_cloud.services import docker as docker_service
from novadocker_cloud.services import keystone
from novadocker_cloud.services import lxcfs
from novadocker_cloud.services import openvswitch
from novadocker_cloud.services import uwsgi

USER = 'nova'
COMPUTE_DRIVER = 'novadocker.virt.docker.driver.DockerDriver'
SUDOERS = '/etc/sudoers.d/novadocker-cloud'


def serial_base_url():
    return 'ws://%s:%d/' % (cloud_layout.HOST,
                            cloud_layout.PORTS['nova_serialproxy'])


def compute_reporting(admin, host, since):
    """Whether the nova-compute of ``host`` has reported since ``since``
    (naive UTC; a service record from an earlier run does not count): until
    then the scheduler's ComputeFilter turns every boot away."""
    for service in admin.compute.services(binary='nova-compute', host=host):
        updated = datetime.datetime.fromisoformat(
            service.updated_at.rstrip('Z')).replace(tzinfo=None)
        return service.state == 'up' and updated >= since
    return False


def utc_now():
    """Now in naive UTC, to the second, as the API gives ``updated_at``."""
    return datetime.datetime.now(datetime.timezone.utc).replace(
        tzinfo=None, microsecond=0)


def prepare_user(service, node):
    """The ``nova`` user, a member of the engine socket's group only (the
    one access it has to it), and the node's directories it owns."""
    try:
        pwd.getpwnam(USER)
    except KeyError:
        service.run('useradd', '--system', '--user-group', '--home-dir',
                    service.layout.data('nova'), '--shell',
                    '/usr/sbin/nologin', USER)
    service.run('usermod', '-aG', 'docker', USER)
    for path in (node.data('nova'), node.data('nova', 'instances'),
                 node.data('nova', 'lock')):
        os.makedirs(path, exist_ok=True)
        shutil.chown(path, USER, USER)


def common_conf(layout, node):
    """What every Nova service of ``node`` reads (the control plane's
    services are node 1's)."""
    return {
        'DEFAULT': {'transport_url': layout.transport_url(),
                    'host': node.name, 'my_ip': node.address,
                    'state_path': node.data('nova'),
                    'instances_path': node.data('nova', 'instances')},
        'oslo_concurrency': {'lock_path': node.data('nova', 'lock')},
        'oslo_messaging_rabbit': layout.rabbit_options(),
        'placement': layout.keystone_auth('placement'),
        'neutron': layout.keystone_auth('neutron'),
        'service_user': dict(layout.keystone_auth('nova'),
                             send_service_user_token='true'),
        'glance': {'region_name': cloud_layout.REGION},
        'serial_console': {'enabled': 'true',
                           'base_url': serial_base_url()},
    }


def write_compute_conf(service, node, lxcfs_path=None):
    """nova-cpu.conf of ``node``: what its nova-compute (and privsep
    daemon) read; no database credentials, readable by the nova user.
    Every node's engine and OVS are at the standard paths of its own
    /var/run."""
    layout = service.layout
    sections = common_conf(layout, node)
    sections['DEFAULT'].update({
        'compute_driver': COMPUTE_DRIVER,
        # One rootwrap configuration (and sudo rule) for the machine.
        'rootwrap_config': layout.conf('nova', 'rootwrap.conf'),
        # Wait for Neutron's network-vif-plugged, and fail without it.
        'vif_plugging_is_fatal': 'true',
        'vif_plugging_timeout': service.options.vif_plugging_timeout,
        'shutdown_timeout': 10,
        'resume_guests_state_on_host_boot': 'true',
        # Containers share the cores without a hypervisor between: 8
        # vCPUs a core (Nova's default is 4), so that ten one-vCPU servers
        # fit on a 2-core node (the benchmark boots ten at once).
        'cpu_allocation_ratio': 8.0,
    })
    sections.update({
        # Keypairs reach the container's root, as cloud-init does on VMs.
        'docker': {'host_url': docker_service.URL, 'inject_key': 'true',
                   'lxcfs_path': lxcfs_path or lxcfs.mount_point(layout),
                   # Tenants manage their interfaces as on a VM; port
                   # security keeps a changed address off the network.
                   'cap_add': 'NET_ADMIN'},
        'docker_ovs': {'ovsdb_connection': openvswitch.CONNECTION},
        # The image cache's pass every 20 s rather than 2400: it is what
        # removes the moved image a failed move left on its source
        # (doc/moves.md), and the tests wait for it.
        'image_cache': {'manager_interval': 20},
    })
    # Only nova-serialproxy, on node 1, connects to the listeners.
    sections['serial_console']['proxyclient_address'] = node.address
    conf = node.conf('nova', 'nova-cpu.conf')
    cloud_layout.write_ini(conf, sections, mode=0o640, group=USER)
    return conf


def wait_for_compute(service, node, compute, since):
    """Until ``node``'s nova-compute reports and is mapped into cell1."""
    admin = keystone.admin_cloud(service.layout)
    compute.wait_until(
        lambda: compute_reporting(admin, node.name, since),
        'nova-compute of %s reporting up' % node.name, 180)
    compute.wait_until(lambda: _discovered(service.layout, node.name),
                       'the compute node %s in cell1' % node.name, 180)


def _discovered(layout, host):
    """Map ``host`` into cell1 once its nova-compute has registered."""
    manage = [layout.bin('nova-manage'), '--config-file',
              layout.conf('nova', 'nova.conf'), 'cell_v2']
    if ' %s ' % host in process.run(manage + ['list_hosts']):
        return True
    process.run(manage + ['discover_hosts'])
    time.sleep(1)
    return False


def control_conf(service):
    """nova.conf of the API, conductor and scheduler (databases), and the
    API's paste file."""
    layout = service.layout
    sections = common_conf(layout, cloud_layout.Node(layout, 1))
    sections['DEFAULT'].update({
        'osapi_compute_workers': 2,
        # One node: a resize or a cold migration may stay on it.
        'allow_resize_to_same_host': 'true'})
    sections.update({
        'api': {'auth_strategy': 'keystone'},
        'api_database': {'connection': layout.db_url('nova_api', 'nova')},
        'database': {'connection': layout.db_url('nova', 'nova')},
        'keystone_authtoken': layout.authtoken('nova'),
        'conductor': {'workers': 1},
        'scheduler': {'workers': 1},
    })
    sections['serial_console'].update({
        'serialproxy_host': cloud_layout.HOST,
        'serialproxy_port': cloud_layout.PORTS['nova_serialproxy']})
    conf = layout.conf('nova', 'nova.conf')
    cloud_layout.write_ini(conf, sections, mode=0o600)
    service.copy_from_venv('nova/api-paste.ini',
                           layout.conf('nova', 'api-paste.ini'))
    return conf


class NovaDatabases(services.Database):
    """The API database, cell0 and cell1 (from nothing, the longest
    migration of the cloud)."""

    name = 'nova-databases'

    def up(self):
        layout = self.layout
        migrated = services.fingerprint(layout.db_url('nova', 'nova'),
                                        layout.transport_url())
        if self.done('db', migrated):
            return 'unchanged'
        manage = [layout.bin('nova-manage'), '--config-file',
                  control_conf(self)]
        self.run(*manage, 'api_db', 'sync')
        self.run(*manage, 'cell_v2', 'map_cell0', '--database_connection',
                 layout.db_url('nova_cell0', 'nova'))
        if ' cell1 ' not in self.run(*manage, 'cell_v2', 'list_cells'):
            self.run(*manage, 'cell_v2', 'create_cell', '--name', 'cell1')
        self.run(*manage, 'db', 'sync')
        self.run(*manage, 'db', 'online_data_migrations')
        self.mark('db', migrated)
        return 'nova_api, cell0 and cell1 migrated'


class Nova(services.Service):
    name = 'nova'
    after = ('nova-databases', 'keystone', 'placement', 'glance', 'neutron',
             'rabbitmq', 'docker', 'lxcfs')

    def up(self):
        layout = self.layout
        node = cloud_layout.Node(layout, 1)
        prepare_user(self, node)
        conf = control_conf(self)
        compute_conf = write_compute_conf(self, node)
        self._rootwrap()
        url = uwsgi.serve(
            self, 'nova-api', 'nova.wsgi.osapi_compute:application',
            cloud_layout.PORTS['nova'],
            {'OS_NOVA_CONFIG_DIR': layout.conf('nova', ''),
             'OS_NOVA_CONFIG_FILES': 'api-paste.ini;nova.conf'})
        for name in ('nova-conductor', 'nova-scheduler'):
            self.daemon(name, [layout.bin(name), '--config-file', conf])
        serial_url = self._serial_proxy(conf)
        since = utc_now()
        compute = self.daemon(
            'nova-compute', [layout.bin('nova-compute'), '--config-file',
                             compute_conf],
            user=USER, extra_groups=[grp.getgrnam('docker').gr_gid],
            cwd=node.data('nova'),
            env=dict(os.environ, HOME=node.data('nova')))
        wait_for_compute(self, node, compute, since)
        self._flavors()
        return '%s, serial consoles %s, compute host %s as user %s' % (
            url, serial_url, node.name, USER)

    # -- set-up steps ------------------------------------------------------
    def _serial_proxy(self, conf):
        """nova-serialproxy: checks a console token, asks the compute
        whether the port is the instance's, then relays the websocket to
        it."""
        port = cloud_layout.PORTS['nova_serialproxy']
        process.port_free(cloud_layout.HOST, port)
        proxy = self.daemon('nova-serialproxy', [
            self.layout.bin('nova-serialproxy'), '--config-file', conf])
        proxy.wait_until(lambda: process.tcp_open(cloud_layout.HOST, port),
                         'nova-serialproxy listening', 60)
        return serial_base_url()

    def _rootwrap(self):
        """rootwrap.conf, the filters, and the one sudo rule."""
        layout = self.layout
        filters = layout.conf('nova', 'rootwrap.d')
        os.makedirs(filters, exist_ok=True)
        for name in ('compute.filters', 'docker.filters'):
            self.copy_from_venv('nova/rootwrap.d/' + name,
                                os.path.join(filters, name))
        cloud_layout.write_ini(layout.conf('nova', 'rootwrap.conf'), {
            'DEFAULT': {'filters_path': filters,
                        'exec_dirs': ','.join((
                            os.path.join(layout.venv, 'bin'), '/sbin',
                            '/usr/sbin', '/bin', '/usr/bin')),
                        'use_syslog': 'False', 'daemon_timeout': 600}},
            mode=0o644)
        rule = ('Defaults:%(user)s secure_path="%(bin)s:/usr/sbin:/usr/bin:'
                '/sbin:/bin"\n'
                '%(user)s ALL=(root) NOPASSWD: %(bin)s/nova-rootwrap '
                '%(conf)s *\n' % {
                    'user': USER, 'bin': os.path.join(layout.venv, 'bin'),
                    'conf': layout.conf('nova', 'rootwrap.conf')})
        staged = SUDOERS + '.new'
        with open(staged, 'w') as f:
            f.write(rule)
        os.chmod(staged, 0o440)
        self.run('visudo', '-cf', staged)
        os.replace(staged, SUDOERS)

    def _flavors(self):
        cloud = keystone.admin_cloud(self.layout)
        for name, ram, vcpus, disk in cloud_layout.FLAVORS:
            if cloud.compute.find_flavor(name) is None:
                cloud.compute.create_flavor(name=name, ram=ram, vcpus=vcpus,
                                            disk=disk, is_public=True)
