"""A container's network namespace seen from the host.

Its ``/var/run/netns/<container id>`` link (so ``ip netns`` and operators see
it), veth pairs whose peer is created directly inside it, and the MAC,
addresses, MTU and routes of the devices in it. Entrypoints run privileged
(novadocker.privsep).

Inside the namespace, work runs on a short-lived native thread that enters it
with setns(): setns moves only the calling thread, so the rest of the process
never sees the container's network, and a netlink socket opened there costs
~1 ms where ``IPRoute(netns=...)`` forks a helper (~15 ms). The thread ends
with the work, so it never goes back to a pool still inside a container.
"""

import errno
import os
import socket
import threading

from nova import exception
from oslo_log import log as logging
from oslo_utils import eventletutils
from pyroute2 import IPRoute
from pyroute2 import netns as pyroute2_netns
from pyroute2.netlink import exceptions as nl_exceptions
from pyroute2.netlink.rtnl import ifaddrmsg

from novadocker import privsep
from novadocker.virt.docker import linux_net

LOG = logging.getLogger(__name__)

NETNS_DIR = pyroute2_netns.NETNS_RUN_DIR


def netns_path(container_id):
    return os.path.join(NETNS_DIR, container_id)


def container_links():
    """The ids that name links in NETNS_DIR the way this module names them
    (a container's 64 hex digits); other tools' links are never listed."""
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return [n for n in names if len(n) == 64 and
            all(c in '0123456789abcdef' for c in n)]


def _native_thread(target):
    """A real OS thread even under eventlet: setns() on a green thread would
    move the whole process into the container."""
    if eventletutils.is_monkey_patched('thread'):
        from eventlet import patcher
        return patcher.original('threading').Thread(target=target)
    return threading.Thread(target=target)


def _in_netns(container_id, func, *args):
    """Return func(*args) run on a native thread inside the namespace."""
    outcome = {}

    def run():
        try:
            fd = os.open(netns_path(container_id), os.O_RDONLY)
            try:
                pyroute2_netns.setns(fd, flags=0)
            finally:
                os.close(fd)
            outcome['result'] = func(*args)
        except BaseException as e:  # re-raised in the caller's thread
            outcome['error'] = e

    thread = _native_thread(run)
    thread.start()
    thread.join()
    if 'error' in outcome:
        raise outcome['error']
    return outcome['result']


def _remove_link(container_id):
    try:
        pyroute2_netns.remove(container_id)
    except FileNotFoundError:
        return False
    return True


def _links_to(container_id, pid):
    try:
        link = os.stat(netns_path(container_id))
    except FileNotFoundError:
        return False
    target = os.stat('/proc/%d/ns/net' % pid)
    return (link.st_dev, link.st_ino) == (target.st_dev, target.st_ino)


@privsep.sys_admin_pctxt.entrypoint
def expose(container_id, pid):
    """Link /var/run/netns/<container_id> to the namespace of ``pid``; True
    if the link is new. (:func:`configure` brings its ``lo`` up.)

    A link to the current namespace is kept. One left by an earlier start
    (every start makes a new namespace) would keep that start's namespace,
    and the veth peers in it, alive: it is replaced.
    """
    if _links_to(container_id, pid):
        return False
    if _remove_link(container_id):
        LOG.debug('Replaced the stale netns link of container %s',
                  container_id)
    try:
        pyroute2_netns.attach(container_id, pid)
    except BaseException:
        # It made the link's file before the bind mount failed.
        _remove_link(container_id)
        raise
    return True


@privsep.sys_admin_pctxt.entrypoint
def hide(container_id):
    """Remove the netns link of the container; idempotent."""
    _remove_link(container_id)


@privsep.sys_admin_pctxt.entrypoint
def ifnames(container_id):
    """Names of the network devices inside the container."""
    def list_names():
        with IPRoute() as ipr:
            return [link.get('ifname') for link in ipr.link('dump')]
    return _in_netns(container_id, list_names)


@privsep.sys_admin_pctxt.entrypoint
def create_veth(container_id, host_ifname, ifname, mac, mtu):
    """Create veth ``host_ifname`` in the host, its peer ``ifname`` with the
    port's MAC directly inside the container (moving a device into a
    namespace costs ~21 ms of kernel time), both with the network's MTU.
    The host end comes up ready to join a switch.
    """
    mtu_attrs = {'mtu': mtu} if mtu else {}
    peer = {'ifname': ifname, 'address': mac,
            'net_ns_fd': netns_path(container_id), **mtu_attrs}
    with IPRoute() as ipr:
        try:
            ipr.link('add', ifname=host_ifname, kind='veth', peer=peer,
                     **mtu_attrs)
        except nl_exceptions.NetlinkError as e:
            if e.code == errno.EEXIST:
                raise exception.VirtualInterfacePlugException(
                    'Network device %s (host) or %s (container %s) already '
                    'exists: the port is plugged already, or an earlier plug '
                    'was not undone (unplug the port to clean up).'
                    % (host_ifname, ifname, container_id)) from e
            raise
        linux_net.bring_up_port_device(ipr, host_ifname)


def _enable_ipv6():
    """Containers start with IPv6 disabled in their namespace; "all" also
    switches every existing device and the default for new ones."""
    with open('/proc/sys/net/ipv6/conf/all/disable_ipv6', 'w') as f:
        f.write('0')


def _add_route(ipr, index, destination, gateway):
    try:
        ipr.route('add', dst=destination, gateway=gateway, oif=index)
    except nl_exceptions.NetlinkError as e:
        if e.code != errno.EEXIST:
            raise
        # An earlier interface set it (a second default route, a host route
        # of a shared subnet): the first one wins, as in a guest that
        # configures its first NIC first.
        LOG.debug('Route %s exists already in the namespace', destination)


def _configure_device(ipr, index, config):
    ipr.link('set', index=index, state='up')
    for address, prefixlen in config['addresses']:
        # No DAD: Neutron guarantees the address is unique, and a
        # tentative address would not answer for a second or two after
        # the instance is reported ACTIVE.
        ipr.addr('add', index=index, address=address,
                 prefixlen=prefixlen, flags=ifaddrmsg.IFA_F_NODAD)
    for destination, gateway in config['routes']:
        _add_route(ipr, index, destination, gateway)


def _configure(devices):
    if any(':' in address for _, config in devices
           for address, _ in config['addresses']):
        _enable_ipv6()
    with IPRoute() as ipr:
        # By name: the kernel finds the device, and if_nametoindex (an
        # ioctl in this thread's namespace) gives the index the addresses
        # and routes need; a dump of the links costs ~0.6 ms of pyroute2
        # parsing per device.
        ipr.link('set', ifname='lo', state='up')
        for ifname, config in devices:
            try:
                linux_net.disable_tx_checksum(ifname)
                _configure_device(ipr, socket.if_nametoindex(ifname),
                                  config)
            except Exception as e:
                raise exception.VirtualInterfacePlugException(
                    'Could not configure %s: %s' % (ifname, e)) from e


@privsep.sys_admin_pctxt.entrypoint
def configure(container_id, devices):
    """Bring ``lo`` and every device of ``devices`` ((name, config) pairs,
    config as addressing.ip_config makes it) up inside the container with
    their addresses and routes: one privileged call and one entry into the
    namespace for all of them."""
    _in_netns(container_id, _configure, devices)
