"""Host-side network devices: Linux bridges, veth pairs between two host
devices, bridge membership and deletion, all over netlink (pyroute2).

Entrypoints run privileged (novadocker.privsep); the plain helpers are for
other privileged code and work in whatever namespace the calling thread is
in.
"""

import errno

from nova import exception
from oslo_log import log as logging
from pyroute2 import IPRoute
from pyroute2.ethtool import ioctl as ethtool
from pyroute2.netlink import exceptions as nl_exceptions

from novadocker import privsep

LOG = logging.getLogger(__name__)


def disable_tx_checksum(ifname):
    """Turn TX checksum offload off on a veth end.

    With offload on, a veth hands packets over with the checksum left to
    "the hardware"; OVS's userspace (netdev/DPDK) datapath reads them from an
    AF_PACKET socket and forwards them unfixed, so TCP breaks (ICMP does
    not). An ioctl, not an ethtool fork.
    """
    tool = ethtool.IoctlEthtool(ifname)
    try:
        tool.set_offload_flag('tx-checksumming', 0)
    finally:
        tool.close()


def _disable_ipv6(ifname):
    """The host needs no address on a port device; without IPv6 the device
    neither gets a link-local address nor sends solicitations into the
    tenant network (os-vif does the same)."""
    try:
        with open('/proc/sys/net/ipv6/conf/%s/disable_ipv6' % ifname,
                  'w') as f:
            f.write('1')
    except FileNotFoundError:
        pass  # IPv6 is off on this host altogether.


def bring_up_port_device(ipr, ifname):
    """Ready a host end of a veth for switching: no IPv6, no TX checksum
    offload, up. For privileged callers that hold an IPRoute."""
    _disable_ipv6(ifname)
    disable_tx_checksum(ifname)
    # By name: the kernel finds the device, with no lookup round trip.
    ipr.link('set', ifname=ifname, state='up')


def _index(ipr, ifname):
    found = ipr.link_lookup(ifname=ifname)
    if not found:
        raise exception.VirtualInterfacePlugException(
            'Network device %s does not exist.' % ifname)
    return found[0]


def _mtu_attrs(mtu):
    return {'mtu': mtu} if mtu else {}


@privsep.sys_admin_pctxt.entrypoint
def ensure_bridge(name, mtu):
    """Create Linux bridge ``name`` unless it exists; True if created.

    Forward delay 0 and STP off so a joining port forwards at once;
    multicast snooping off so IPv6 neighbour discovery and other multicast
    reach the instance without IGMP/MLD state on the bridge. An existing
    bridge is left as it is: it may be shared (a Neutron network's brq).
    """
    with IPRoute() as ipr:
        try:
            ipr.link('add', ifname=name, kind='bridge', br_forward_delay=0,
                     br_stp_state=0, br_mcast_snooping=0, **_mtu_attrs(mtu))
        except nl_exceptions.NetlinkError as e:
            if e.code == errno.EEXIST:
                return False
            raise
        _disable_ipv6(name)
        ipr.link('set', index=_index(ipr, name), state='up')
    return True


@privsep.sys_admin_pctxt.entrypoint
def ensure_veth_pair(name, peer, mtu):
    """Create veth pair ``name``/``peer`` in the host unless ``name``
    exists; True if created. Both ends are made ready for switching."""
    with IPRoute() as ipr:
        try:
            ipr.link('add', ifname=name, kind='veth',
                     peer={'ifname': peer, **_mtu_attrs(mtu)},
                     **_mtu_attrs(mtu))
        except nl_exceptions.NetlinkError as e:
            if e.code == errno.EEXIST:
                return False
            raise
        for ifname in (name, peer):
            bring_up_port_device(ipr, ifname)
    return True


@privsep.sys_admin_pctxt.entrypoint
def join_bridge(ifname, bridge):
    """Make ``ifname`` a port of Linux bridge ``bridge`` (idempotent)."""
    with IPRoute() as ipr:
        ipr.link('set', index=_index(ipr, ifname),
                 master=_index(ipr, bridge))


@privsep.sys_admin_pctxt.entrypoint
def set_link_up(ifname, up):
    """Set a device's link up or down; False when it does not exist."""
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=ifname)
        if not found:
            return False
        ipr.link('set', index=found[0], state='up' if up else 'down')
    return True


@privsep.sys_admin_pctxt.entrypoint
def delete_device(ifname):
    """Delete a device if it exists; deleting one end of a veth pair deletes
    the other, wherever it is (also inside a container)."""
    with IPRoute() as ipr:
        try:
            ipr.link('del', ifname=ifname)
        except nl_exceptions.NetlinkError as e:
            if e.code != errno.ENODEV:
                raise
            return
    LOG.debug('Deleted network device %s', ifname)
