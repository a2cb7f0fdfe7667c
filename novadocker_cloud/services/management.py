"""The namespaces and links of a cloud's second node (``--nodes 2``).

Node 2 is a machine of its own as far as its processes can tell: a network
namespace (its own devices, addresses, routes and iptables) and a mount
namespace whose /run is a fresh tmpfs, so its engine, its OVS, its netns
links and its sudo state sit at the standard paths of a /run that node 1
never sees (the driver's /var/run/netns links of one node's containers
would otherwise be the other's to clean up), and its engine makes its own
identity in an /etc/docker of its own. Two veth pairs join it to
this host, and nothing else does:

* the management link, ``mgmt-node2`` (172.24.8.1/24, the control
  plane's address) to ``mgmt0`` (172.24.8.2/24) in node 2: APIs, the bus,
  the OVN SB and the serial console listeners;
* the tunnel link, ``gnv-node2`` to ``gnv0``, each end a port of its
  node's ``br-phy`` OVS bridge, whose internal device holds the node's
  Geneve endpoint (172.24.9.N/24): OVS's userspace datapath sends and
  receives tunnels itself, through a bridge it owns.

Nothing is routed or NATed beyond them. A cloud of one node has neither
this service nor node 2's.
"""

import os

import psutil
from pyroute2 import IPRoute
from pyroute2 import netns as pyroute2_netns

from novadocker_cloud import layout as cloud_layout
from novadocker_cloud import process
from novadocker_cloud import services

NODE = 2
NETNS = 'novadocker-cloud-node2'
MANAGEMENT_LINK = ('mgmt-node2', 'mgmt0')
TUNNEL_LINK = ('gnv-node2', 'gnv0')


def netns_path():
    return os.path.join(pyroute2_netns.NETNS_RUN_DIR, NETNS)


def mount_pin(layout):
    """The bind mount that keeps node 2's mount namespace while none of
    its processes runs; in a private bind mount of its own directory (a
    namespace cannot be pinned below a shared mount)."""
    return os.path.join(_pin_dir(layout), 'mnt')


def _pin_dir(layout):
    return cloud_layout.Node(layout, NODE).data('namespaces')


def enter(layout, cmd, cwd='/'):
    """``cmd`` as run in node 2: its network and mount namespaces (entering
    a mount namespace moves to its root: ``cwd`` is where it runs)."""
    return ['nsenter', '--mount=' + mount_pin(layout),
            '--net=' + netns_path(), '--wd=' + cwd, '--', *cmd]


def exists(layout):
    return os.path.ismount(mount_pin(layout))


def checksum_offload_off(device, in_node=None):
    """The userspace datapath reads frames from AF_PACKET sockets: a
    veth end that leaves their checksums to the hardware hands OVS
    frames without them (doc/networking.md)."""
    cmd = ['ethtool', '-K', device, 'tx', 'off']
    process.run(enter(in_node, cmd) if in_node else cmd)


class Management(services.Service):
    name = 'management'

    def up(self):
        self.clean(self.layout)  # what a killed run left
        node = cloud_layout.Node(self.layout, NODE)
        pyroute2_netns.create(NETNS)
        with IPRoute() as ip:
            for host_end, node_end in (MANAGEMENT_LINK, TUNNEL_LINK):
                ip.link('add', ifname=host_end, kind='veth',
                        peer={'ifname': node_end, 'net_ns_fd': NETNS})
            index = ip.link_lookup(ifname=MANAGEMENT_LINK[0])[0]
            ip.addr('add', index=index, address=self.layout.control_host,
                    prefixlen=cloud_layout.NODE_PREFIXLEN)
            for host_end, _ in (MANAGEMENT_LINK, TUNNEL_LINK):
                ip.link('set', ifname=host_end, state='up')
        with IPRoute(netns=NETNS) as ip:
            index = ip.link_lookup(ifname=MANAGEMENT_LINK[1])[0]
            ip.addr('add', index=index, address=node.address,
                    prefixlen=cloud_layout.NODE_PREFIXLEN)
            for device in ('lo',) + MANAGEMENT_LINK[1:] + TUNNEL_LINK[1:]:
                ip.link('set', ifname=device, state='up')
        self._mount_namespace()
        checksum_offload_off(TUNNEL_LINK[0])
        checksum_offload_off(TUNNEL_LINK[1], self.layout)
        return '%s on %s, node 2 %s in namespace %s' % (
            self.layout.control_host, MANAGEMENT_LINK[0], node.address,
            NETNS)

    def _mount_namespace(self):
        pin_dir = _pin_dir(self.layout)
        os.makedirs(pin_dir, exist_ok=True)
        self.run('mount', '--bind', pin_dir, pin_dir)
        self.run('mount', '--make-private', pin_dir)
        open(mount_pin(self.layout), 'w').close()
        self.run('unshare', '--mount=' + mount_pin(self.layout),
                 '--propagation', 'private', '--',
                 'sh', '-ec', 'mount -t tmpfs -o mode=0755 node2-run /run; '
                 'mkdir -p /run/netns /run/openvswitch /run/lock; '
                 # The engine's identity key (docker info's ID).
                 'if [ -d /etc/docker ]; then '
                 'mount -t tmpfs -o mode=0755 node2-docker /etc/docker; fi')

    @classmethod
    def clean(cls, layout):
        """Once node 2's daemons are stopped: whatever still runs in its
        mount namespace or below it (the containers an engine run with
        --live-restore leaves running, and their shims), then the
        namespaces; the veth pairs go with the network namespace."""
        pin = mount_pin(layout)
        if os.path.ismount(pin):
            process.stop_pids(_processes_in(pin))
            process.run(['umount', pin])
        # A bind mount of a directory onto itself, which os.path.ismount
        # cannot tell.
        if _pin_dir(layout) in _mount_points():
            process.run(['umount', _pin_dir(layout)])
        if os.path.exists(netns_path()):
            pyroute2_netns.remove(NETNS)


def _mount_points():
    with open('/proc/self/mountinfo') as f:
        return {line.split()[4] for line in f}


def _processes_in(pin):
    """Pids of the processes whose mount namespace ``pin`` holds, and of
    their descendants (a container's processes, in mount namespaces of
    their own below an engine's shim)."""
    target = os.stat(pin).st_ino
    pids = set()
    for proc in psutil.process_iter():
        try:
            if os.stat('/proc/%d/ns/mnt' % proc.pid).st_ino == target:
                pids.add(proc.pid)
                pids.update(p.pid for p in proc.children(recursive=True))
        except (OSError, psutil.Error):
            continue
    return sorted(pids)
