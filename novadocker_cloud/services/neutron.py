"""Neutron with ML2/OVN: the API under uWSGI, the periodic workers and the
OVN maintenance worker (no neutron-rpc-server: ``rpc_workers = 0``; the
one agent, neutron-ovn-agent for metadata, talks to OVN only). It tells
Nova when a port goes up, so the driver receives real
``network-vif-plugged`` events."""

import os

from novadocker_cloud import layout as cloud_layout
from novadocker_cloud import services
from novadocker_cloud.services import ovn
from novadocker_cloud.services import uwsgi

# Neutron holds an event for Nova back while it waits this long after its
# previous send: a boot's network-vif-plugged waited out the 2 s (the
# default) that followed the network-changed of the port's binding. 1 is
# the least it takes; a small cloud has no flood of events to batch.
SEND_EVENTS_INTERVAL = 1


def write_conf(service):
    """neutron.conf, ml2_conf.ini and the paste file; the arguments that
    make a Neutron command read them."""
    layout = service.layout
    conf = layout.conf('neutron', 'neutron.conf')
    ml2 = layout.conf('neutron', 'ml2_conf.ini')
    paste = layout.conf('neutron', 'api-paste.ini')
    service.copy_from_venv('neutron/api-paste.ini', paste)
    cloud_layout.write_ini(conf, {
        'DEFAULT': {
            'core_plugin': 'ml2', 'service_plugins': 'ovn-router',
            'auth_strategy': 'keystone',
            'state_path': layout.data('neutron'),
            'api_paste_config': paste,
            'transport_url': layout.transport_url(),
            'rpc_workers': 0, 'rpc_state_report_workers': 0,
            'api_workers': 2,
            'dhcp_agent_notification': 'false',
            'notify_nova_on_port_status_changes': 'true',
            'notify_nova_on_port_data_changes': 'true',
            'send_events_interval': SEND_EVENTS_INTERVAL,
        },
        'database': {'connection': layout.db_url('neutron')},
        'keystone_authtoken': layout.authtoken('neutron'),
        'nova': layout.keystone_auth('nova'),
        'placement': layout.keystone_auth('placement'),
        'oslo_concurrency': {'lock_path': layout.data('neutron',
                                                      'lock')},
        'oslo_messaging_rabbit': layout.rabbit_options(),
    })
    cloud_layout.write_ini(ml2, {
        'ml2': {'mechanism_drivers': 'ovn',
                'type_drivers': 'local,flat,geneve',
                'project_network_types': 'geneve',
                'extension_drivers': 'port_security',
                'overlay_ip_version': 4},
        # Neutron refuses to start with geneve below 38.
        'ml2_type_geneve': {'vni_ranges': '1:65536',
                            'max_header_size': 38},
        'ml2_type_flat': {'flat_networks': cloud_layout.PHYSNET},
        'securitygroup': {'enable_security_group': 'true'},
        'ovn': {'ovn_nb_connection': ovn.nb_connection(),
                'ovn_sb_connection': ovn.sb_connection(),
                'ovn_l3_scheduler': 'leastloaded',
                # A metadata port per network, for the agent's
                # haproxy (services/metadata.py).
                'ovn_metadata_enabled': 'true',
                # A state directory from before a setting (metadata
                # ports, say) is brought up to it at start.
                'neutron_sync_mode': 'repair',
                'enable_distributed_floating_ip': 'false'},
    })
    os.makedirs(layout.data('neutron'), exist_ok=True)
    return ['--config-file', conf, '--config-file', ml2]


class NeutronDatabase(services.Database):
    name = 'neutron-database'

    def up(self):
        layout = self.layout
        migrated = services.fingerprint(layout.db_url('neutron'))
        if self.done('db', migrated):
            return 'unchanged'
        self.run(layout.bin('neutron-db-manage'), *write_conf(self),
                 'upgrade', 'head')
        self.mark('db', migrated)
        return 'migrated'


class Neutron(services.Service):
    name = 'neutron'
    after = ('neutron-database', 'keystone', 'ovn', 'rabbitmq')

    def up(self):
        layout = self.layout
        args = write_conf(self)
        url = uwsgi.serve(
            self, 'neutron-api', 'neutron.wsgi.api:application',
            cloud_layout.PORTS['neutron'],
            {'OS_NEUTRON_CONFIG_DIR': layout.conf('neutron', ''),
             'OS_NEUTRON_CONFIG_FILES': 'neutron.conf;ml2_conf.ini'})
        for worker in ('neutron-periodic-workers',
                       'neutron-ovn-maintenance-worker'):
            self.daemon(worker, [layout.bin(worker), *args])
        return url
