"""What an instance's ports look like, computed from Nova's network model.

Device names, MTU, addresses and routes, as plain values the privileged code
applies. Pure functions: the rules are tested without a kernel.
"""

from nova import exception
from nova.network import model

# Linux device names have at most 15 characters; Neutron's agents find a
# port's devices by these prefixes and the first 11 characters of its id.
PORT_ID_CHARS = 11
CONTAINER_IFNAME = 'eth%d'
DEFAULT_ROUTE = {4: '0.0.0.0/0', 6: '::/0'}
METADATA_ROUTE = '169.254.169.254/32'


def _port_device(prefix, vif):
    return prefix + vif['id'][:PORT_ID_CHARS]


def tap_name(vif):
    """Host end of the instance's veth pair (the VM's tap, for the agents)."""
    return _port_device('tap', vif)


def hybrid_bridge_name(vif):
    """Per-port Linux bridge of hybrid plugging."""
    return _port_device('qbr', vif)


def hybrid_bridge_end(vif):
    """Veth end that joins the hybrid bridge."""
    return _port_device('qvb', vif)


def hybrid_ovs_end(vif):
    """Veth end that is the OVS port of hybrid plugging."""
    return _port_device('qvo', vif)


def container_ifname(index):
    """Name of the index-th interface inside the container."""
    return CONTAINER_IFNAME % index


def next_container_ifname(existing):
    """The lowest ethN not in ``existing`` (for an interface attach)."""
    index = 0
    while container_ifname(index) in existing:
        index += 1
    return container_ifname(index)


def mtu(vif):
    """The network's MTU (e.g. 1450 on VXLAN), or None to keep the default."""
    value = vif['network'].get_meta('mtu') if vif['network'] else None
    return int(value) if value else None


# RFC 8200 and RFC 791: the smallest MTUs the protocols work with.
IPV6_MIN_MTU = 1280
IPV4_MIN_MTU = 68


def check_ports(network_info):
    """Refuse ports that cannot all be plumbed as given, before anything is
    created: two with one MAC, an MTU too small for their addresses."""
    macs = [vif['address'] for vif in network_info]
    duplicates = sorted({mac for mac in macs if macs.count(mac) > 1})
    if duplicates:
        raise exception.VirtualInterfacePlugException(
            'Ports share MAC address %s: each port needs its own.'
            % ', '.join(duplicates))
    for vif in network_info:
        value = mtu(vif)
        versions = {subnet['version'] for subnet, _ip in _address_subnets(vif)}
        least = IPV6_MIN_MTU if 6 in versions else IPV4_MIN_MTU
        if value is not None and value < least:
            version = 6 if 6 in versions else 4
            raise exception.VirtualInterfacePlugException(
                'Port %s has MTU %d, below the %d that IPv%d needs: fix the '
                'network\'s mtu.' % (vif['id'], value, least, version))


def bridge_name(vif):
    """The switch the port joins: the binding's bridge_name (trunk ports)
    wins over the network's bridge (br-int, brq<net id>)."""
    name = (vif['details'].get(model.VIF_DETAILS_BRIDGE_NAME) or
            (vif['network'] or {}).get('bridge'))
    if not name:
        raise exception.VirtualInterfacePlugException(
            'Port %s names no bridge: neither its binding details nor its '
            'network carry one.' % vif['id'])
    return name


def _address_subnets(vif):
    """(subnet, fixed ip) pairs of this port: a subnet where the port has no
    address contributes nothing, as DHCP would not configure it either."""
    for subnet in (vif['network'] or {}).get('subnets', []):
        for ip in subnet['ips']:
            yield subnet, ip


def serves_metadata_on_link(vif):
    """Whether the port's own network answers 169.254.169.254. ML2/OVN
    gives every network with a DHCP-enabled IPv4 subnet a metadata port
    whose namespace holds that address and answers ARP for it; a VM learns
    the route from OVN's DHCP (option 121), a container from the driver.
    Elsewhere (ML2/OVS with its L3 agent) the router proxies it and the
    default route reaches it."""
    bound = (vif.get('details') or {}).get('bound_drivers') or {}
    return 'ovn' in bound.values() and any(
        subnet['version'] == 4 and subnet.get_meta('enable_dhcp')
        for subnet, _ in _address_subnets(vif))


def ip_config(vif, metadata_route=False):
    """Addresses and routes of the port inside the container.

    ``addresses``: [address, prefix length] for every fixed IP, v4 and v6.
    ``routes``: [destination, gateway or None], the subnet's default route
    through its gateway first, then its host routes. A subnet's routes are
    listed once even when the port has several addresses in it. With
    ``metadata_route`` (the first port), 169.254.169.254 on the link when
    the network serves it there (:func:`serves_metadata_on_link`).
    """
    addresses, routes = [], []
    for subnet, ip in _address_subnets(vif):
        addresses.append([ip['address'], subnet.as_netaddr().prefixlen])
        subnet_routes = []
        gateway = (subnet['gateway'] or {}).get('address')
        if gateway:
            subnet_routes.append([DEFAULT_ROUTE[subnet['version']], gateway])
        for route in subnet['routes']:
            via = (route['gateway'] or {}).get('address')
            subnet_routes.append([route['cidr'], via])
        routes.extend(r for r in subnet_routes if r not in routes)
    if metadata_route and serves_metadata_on_link(vif):
        routes.append([METADATA_ROUTE, None])
    return {'addresses': addresses, 'routes': routes}
