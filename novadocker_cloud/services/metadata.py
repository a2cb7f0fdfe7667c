"""The metadata service, as an ML2/OVN cloud runs it: Nova's metadata API
under uWSGI, and neutron-ovn-agent with its metadata extension, which gives
every network with ports on this chassis an ``ovnmeta-<network>``
namespace whose haproxy answers 169.254.169.254 and forwards to Nova with
the asking port's identity, signed with a secret both share.

The agent runs as root (namespaces, haproxy); its privsep daemons start
from the venv's privsep-helper directly, as root needs no sudo to start
them."""

import glob
import os

from novadocker_cloud import layout as cloud_layout
from novadocker_cloud import process
from novadocker_cloud import services
from novadocker_cloud.services import openvswitch
from novadocker_cloud.services import ovn
from novadocker_cloud.services import uwsgi

SECRET = 'metadata_proxy_shared_secret'
# Neutron's privsep contexts (neutron/privileged/__init__.py): each starts
# its own daemon, configured in its own section.
PRIVSEP_SECTIONS = ('privsep', 'privsep_dhcp_release', 'privsep_ovs_vsctl',
                    'privsep_namespace', 'privsep_conntrack', 'privsep_link')


NETNS_DIR = '/var/run/netns'
NAMESPACE_PREFIX = 'ovnmeta-'


def _state(layout):
    return layout.data('neutron-ovn-agent')


def nova_settings(layout):
    """What Nova's metadata API reads beside nova.conf: it trusts the
    proxy's headers signed with the shared secret."""
    return {'neutron': {'service_metadata_proxy': 'true',
                        SECRET: layout.password(SECRET)}}


class Metadata(services.Service):
    name = 'metadata'
    after = ('nova', 'neutron', 'ovn')

    def up(self):
        layout = self.layout
        self.clean(layout)  # what a killed agent left
        conf_dir = layout.conf('nova', '')
        cloud_layout.write_ini(os.path.join(conf_dir, 'nova-metadata.conf'),
                               nova_settings(layout), mode=0o600)
        url = uwsgi.serve(
            self, 'nova-metadata', 'nova.wsgi.metadata:application',
            cloud_layout.PORTS['nova_metadata'],
            {'OS_NOVA_CONFIG_DIR': conf_dir,
             'OS_NOVA_CONFIG_FILES':
                 'api-paste.ini;nova.conf;nova-metadata.conf'})
        agent_conf = self._agent_conf()
        agent = self.daemon('neutron-ovn-agent', [
            layout.bin('neutron-ovn-agent'), '--config-file', agent_conf])
        agent.wait_until(self._agent_registered, 'neutron-ovn-agent '
                         'registered with this chassis', 120)
        return 'Nova %s, neutron-ovn-agent (metadata)' % url

    @classmethod
    def clean(cls, layout):
        """The agent's haproxy processes leave its process group (they
        daemonize) and its ``ovnmeta-`` namespaces outlive it: both go,
        as devstack's unstack removes them."""
        process.stop_pidfiles(glob.glob(os.path.join(
            _state(layout), 'external', 'pids', '*.pid.haproxy')))
        for name in os.listdir(NETNS_DIR) if os.path.isdir(NETNS_DIR) \
                else ():
            if name.startswith(NAMESPACE_PREFIX):
                process.run(['ip', 'netns', 'delete', name])

    def _agent_conf(self):
        layout = self.layout
        state = _state(layout)
        os.makedirs(state, exist_ok=True)
        conf = layout.conf('neutron', 'neutron_ovn_agent.ini')
        helper = '%s --config-file %s' % (layout.bin('privsep-helper'), conf)
        sections = {
            'DEFAULT': {'state_path': state,
                        'nova_metadata_host': cloud_layout.HOST,
                        'nova_metadata_port':
                            cloud_layout.PORTS['nova_metadata'],
                        SECRET: layout.password(SECRET),
                        'metadata_workers': 1},
            'agent': {'extensions': 'metadata', 'root_helper': 'sudo'},
            'ovs': {'ovsdb_connection': openvswitch.CONNECTION},
            'ovn': {'ovn_nb_connection': ovn.nb_connection(),
                    'ovn_sb_connection': ovn.sb_connection()},
            'oslo_concurrency': {'lock_path': os.path.join(state, 'lock')},
        }
        sections.update({name: {'helper_command': helper}
                         for name in PRIVSEP_SECTIONS})
        cloud_layout.write_ini(conf, sections, mode=0o600)
        return conf

    def _agent_registered(self):
        """The agent says it serves metadata on this chassis: its record in
        the SB's Chassis_Private (what Neutron lists as the agent)."""
        return 'neutron:ovn-neutron-agent-id' in ovn.sbctl(
            '--columns=external_ids', 'list', 'Chassis_Private')
