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
    cfg.IntOpt('engine_restart_wait',
               default=30, min=0,
               help='Seconds a Docker API request waits for the engine '
                    'while its socket refuses connections, as it does '
                    'while dockerd restarts (an upgrade; with '
                    'live-restore the containers keep running). Only '
                    'requests the engine never received are sent again, '
                    'so the wait is safe for every operation. 0 fails at '
                    'once.'),
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
                    'ovs, ovs_hybrid, bridge, ovn, odl, vrouter) or, for '
                    'configurations written for the old driver, by class '
                    'path (e.g. novadocker.virt.docker.opencontrail.'
                    'OpenContrailVIFDriver is vrouter). generic picks the '
                    'plugin from each port\'s binding.'),
    cfg.BoolOpt('privileged',
                default=False,
                help='Run containers privileged: every device and '
                     'capability of the host. Only for trusted images.'),
    cfg.ListOpt('cap_drop',
                default=['MKNOD', 'SETPCAP', 'SETFCAP'],
                help='Linux capabilities removed from the engine\'s default '
                     'set in every container. NET_RAW is kept by default so '
                     'that ping works inside instances.'),
    cfg.ListOpt('cap_add',
                default=[],
                help='Linux capabilities added to every instance\'s '
                     'container, e.g. NET_ADMIN so that a tenant manages its '
                     'instance\'s interfaces, addresses and routes as on a '
                     'VM. Namespaced to the container\'s own network, but it '
                     'exposes more of the kernel to the tenant; Neutron\'s '
                     'port security keeps a changed address off the '
                     'network. Network sandboxes never get these.'),
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
    cfg.BoolOpt('network_sandbox',
                default=False,
                help='Give each new instance a sandbox: a small container '
                     'that holds its network namespace, hostname, '
                     '/etc/hosts and resolv.conf, which the instance\'s '
                     'container joins. Its ports are plugged before the '
                     'instance\'s first instruction runs, and stay plugged '
                     'while it reboots or is powered off. Without it, ports '
                     'are plugged just after the container starts, which '
                     'makes spawns faster (no second container) but lets '
                     'the workload run its first milliseconds without a '
                     'network. Instances keep the layout they were spawned '
                     'with.'),
    cfg.StrOpt('sandbox_image',
               default='registry.k8s.io/pause:3.9',
               help='Image of the network sandboxes (network_sandbox): its '
                    'default command must wait until it is killed, as '
                    'Kubernetes\' pause image does. The engine must have it '
                    '(docker pull or docker load it once per host).'),
    cfg.IntOpt('soft_reboot_timeout',
               default=120, min=0,
               help='Seconds a soft reboot waits for the container to stop '
                    'after SIGTERM before it is killed.'),
    cfg.StrOpt('lxcfs_path',
               default='',
               help='Where LXCFS is mounted (e.g. /var/lib/lxcfs), or empty '
                    'for none. New instances then get its per-container '
                    '/proc/cpuinfo, meminfo, stat, uptime, loadavg, '
                    'diskstats, swaps, slabinfo and '
                    '/sys/devices/system/cpu/online, read-only over their '
                    'own, so that they show the flavor\'s vCPUs and memory '
                    'and the instance\'s own uptime instead of the host\'s. '
                    'Run lxcfs with --enable-cfs (vCPUs are CPU quotas, '
                    'not cpusets) and -l (the load average), before '
                    'nova-compute starts: if LXCFS is not mounted there '
                    'then, nova-compute warns and new instances get the '
                    'host\'s files. Instances spawned with it need LXCFS '
                    'running to start again.'),
    cfg.BoolOpt('require_root_disk_quota',
                default=False,
                help='Refuse to start nova-compute when the engine cannot '
                     'limit a container\'s writable layer to its flavor\'s '
                     'root_gb (the storage option "size": overlay2 needs '
                     'the engine\'s data root on XFS mounted with pquota). '
                     'When False, nova-compute warns and such instances run '
                     'without a limit: one of them can fill the data root, '
                     'and every instance with it.'),
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
    help='Options of the ovs, ovs_hybrid and ovn VIF plugins (OVN and '
         'OpenDaylight bind the ports these plugins make).')

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


# --- SDN VIF plugins: OpenContrail / Tungsten Fabric vRouter -----------------
# OVN and OpenDaylight bind the OVS port nova-docker already makes (see
# vifs/ovs.py), so they read [docker_ovs]; the vRouter plugin talks to the
# vRouter agent and reads its own group.

docker_vrouter_group = cfg.OptGroup(
    'docker_vrouter', title='OpenContrail vRouter VIF plugin',
    help='Options of the vrouter VIF plugin (also what [docker] vif_driver '
         '= novadocker.virt.docker.opencontrail.OpenContrailVIFDriver '
         'loads). Ports are announced to the local contrail-vrouter-agent '
         'through its port-control REST API.')

docker_vrouter_opts = [
    cfg.HostAddressOpt('agent_host',
                       default='127.0.0.1',
                       help='Address of the vRouter agent\'s port-control '
                            'REST API.'),
    cfg.PortOpt('agent_port',
                default=9091,
                help='Port of the vRouter agent\'s port-control REST API.'),
    cfg.FloatOpt('agent_timeout',
                 default=5.0, min=0.1,
                 help='Seconds to wait for the agent to answer one request.'),
    cfg.IntOpt('agent_retries',
               default=3, min=0,
               help='How many times a request the agent did not answer, or '
                    'answered with a server error (5xx), is repeated before '
                    'the plug fails. A client error (4xx: the agent refused '
                    'the port) is never repeated.'),
    cfg.FloatOpt('agent_retry_interval',
                 default=0.5, min=0,
                 help='Seconds between two attempts of one request.'),
    cfg.StrOpt('ports_dir',
               default='/var/lib/contrail/ports',
               help='Directory of the port files the agent reads when it '
                    'starts, to restore the ports it had (one JSON file per '
                    'port, named by port id). The plugin writes the file '
                    'before it calls the agent and removes it on unplug, as '
                    'vrouter-port-control does.'),
]

CONF.register_group(docker_vrouter_group)
CONF.register_opts(docker_vrouter_opts, group=docker_vrouter_group)


def list_opts():
    """The options for oslo-config-generator (entry point oslo.config.opts)."""
    return [(docker_group, ALL_OPTS),
            (docker_ovs_group, docker_ovs_opts),
            (docker_vrouter_group, docker_vrouter_opts),
            (PRIVSEP_GROUP, priv_context.OPTS)]
