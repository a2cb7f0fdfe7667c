"""Every ``[docker]`` option of the driver, in one place.

``oslo-config-generator --namespace novadocker`` renders them through
:func:`list_opts`; everything else imports ``CONF`` from here so the options
are registered before they are read.
"""

from oslo_config import cfg
from oslo_privsep import priv_context

CONF = cfg.CONF

docker_group = cfg.OptGroup(
    'docker', title='Docker driver options',
    help='Options for novadocker.virt.docker.driver.DockerDriver.')

connection_opts = [
    cfg.StrOpt('host_url',
               default='unix:///var/run/docker.sock',
               help='Docker engine endpoint: unix:///path/to/docker.sock '
                    'or tcp://host:port (use the TLS options for tcp).'),
    cfg.StrOpt('api_version',
               default='auto',
               help='Docker API version to speak, e.g. "1.41"; "auto" '
                    'negotiates the newest version both sides support.'),
    cfg.IntOpt('api_timeout',
               default=120, min=1,
               help='Seconds to wait for one Docker API request. Stop '
                    'requests get their grace period on top of this.'),
    cfg.StrOpt('ca_file',
               help='CA certificate that signed the engine\'s TLS '
                    'certificate. Setting it (or cert_file) enables TLS.'),
    cfg.StrOpt('cert_file',
               help='Client certificate presented to a TLS engine.'),
    cfg.StrOpt('key_file',
               help='Private key of cert_file.'),
    cfg.BoolOpt('api_insecure',
                default=False,
                help='Use TLS but do not verify the engine\'s certificate. '
                     'For testing only: it allows a man in the middle.'),
]

instance_opts = [
    cfg.StrOpt('vif_driver',
               default='generic',
               help='VIF plugin that plugs instance ports, by entry-point '
                    'name in the novadocker.vif_drivers namespace (generic, '
                    'ovs, ovs_hybrid, bridge, ovn, vrouter) or, for '
                    'configurations written for the old driver, by class '
                    'path.'),
    cfg.BoolOpt('privileged',
                default=False,
                help='Run containers privileged: every device and '
                     'capability of the host. Only for trusted images.'),
    cfg.ListOpt('cap_drop',
                default=['MKNOD', 'SETPCAP', 'SETFCAP'],
                help='Linux capabilities removed from the engine\'s default '
                     'set in every container. NET_RAW is kept by default so '
                     'that ping works inside instances.'),
    cfg.BoolOpt('no_new_privileges',
                default=True,
                help='Start containers with no-new-privileges, so setuid '
                     'binaries inside cannot gain privileges.'),
    cfg.IntOpt('pids_limit',
               default=4096, min=-1,
               help='Most processes one container may have; -1 for no '
                    'limit.'),
    cfg.BoolOpt('inject_key',
                default=False,
                help='Write the instance\'s SSH public key to '
                     '/root/.ssh/authorized_keys in the container before it '
                     'starts.'),
    cfg.IntOpt('soft_reboot_timeout',
               default=120, min=0,
               help='Seconds a soft reboot waits for the container to stop '
                    'after SIGTERM before it is killed.'),
]

image_opts = [
    cfg.StrOpt('shared_directory',
               help='Directory holding "docker save" tarballs named by '
                    'Glance image id (e.g. an NFS export). An image found '
                    'there is loaded from it instead of being downloaded.'),
    cfg.StrOpt('snapshots_directory',
               help='Spool directory for snapshots: when set, a snapshot is '
                    'written here before it is uploaded (for image services '
                    'that need a sized upload). Unset: streamed directly.'),
    cfg.BoolOpt('snapshot_pause',
                default=True,
                help='Pause the container while a snapshot commits its '
                     'filesystem, so that the snapshot is consistent. '
                     'False commits a running container: no freeze, but '
                     'files being written may be captured half-written.'),
]

ALL_OPTS = connection_opts + instance_opts + image_opts

CONF.register_group(docker_group)
CONF.register_opts(ALL_OPTS, group=docker_group)


# --- Networking: VIF plugin and privsep option groups -----------------------
# Each VIF plugin reads its own group (os-vif's model); the privsep group is
# oslo.privsep's own, documented here because novadocker.privsep names it.

docker_ovs_group = cfg.OptGroup(
    'docker_ovs', title='Open vSwitch VIF plugins',
    help='Options of the ovs, ovs_hybrid and ovn VIF plugins.')

docker_ovs_opts = [
    cfg.StrOpt('ovsdb_connection',
               default='unix:/var/run/openvswitch/db.sock',
               help='OVSDB server of the local ovs-vswitchd: '
                    'unix:<socket path>, tcp:<ip>:<port> or ssl:<ip>:<port>. '
                    'Ports are added through a native OVSDB connection, not '
                    'ovs-vsctl.'),
    cfg.IntOpt('ovsdb_timeout',
               default=120, min=1,
               help='Seconds to wait for the OVSDB server to connect or to '
                    'commit one transaction, and for ovs-vswitchd to take '
                    'the new port.'),
]

PRIVSEP_GROUP = 'novadocker_privsep'

CONF.register_group(docker_ovs_group)
CONF.register_opts(docker_ovs_opts, group=docker_ovs_group)


def list_opts():
    """The options for oslo-config-generator (entry point oslo.config.opts)."""
    return [(docker_group, ALL_OPTS),
            (docker_ovs_group, docker_ovs_opts),
            (PRIVSEP_GROUP, priv_context.OPTS)]
