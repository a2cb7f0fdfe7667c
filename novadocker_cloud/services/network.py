"""The cloud's networks, as an operator sets them up once: the provider
network of floating IPs on ``br-ex`` (its gateway address is the host's own
address there), the demo project's private network behind a router, and
security group rules that let the host reach its instances (ping, SSH,
HTTP), and the default subnet pool that automatic allocation (``--nic
auto``) takes project networks from."""

import ipaddress

from novadocker_cloud import layout as cloud_layout
from novadocker_cloud import services
from novadocker_cloud.services import keystone

PUBLIC = 'public'
PRIVATE = 'private'
ROUTER = 'router1'
INGRESS = (('icmp', None), ('tcp', 22), ('tcp', 80))
DEFAULT_POOL = 'shared-default-subnetpool-v4'
# Apart from the private network and the ones Tempest makes (10.100/16).
DEFAULT_POOL_PREFIX = '10.128.0.0/16'


class Network(services.Service):
    name = 'network'
    after = ('neutron', 'keystone')

    def up(self):
        cloud = keystone.admin_cloud(self.layout)
        net = cloud.network
        identity = cloud.identity
        demo = identity.find_project('demo', domain_id='default')
        public = net.find_network(PUBLIC) or net.create_network(
            name=PUBLIC, is_router_external=True, is_default=True,
            provider_network_type='flat',
            provider_physical_network=cloud_layout.PHYSNET)
        cidr = ipaddress.ip_network(cloud_layout.PUBLIC_CIDR)
        if not net.find_subnet('public-subnet'):
            net.create_subnet(
                name='public-subnet', network_id=public.id, ip_version=4,
                cidr=str(cidr), gateway_ip=cloud_layout.PUBLIC_HOST_ADDRESS,
                is_dhcp_enabled=False,
                allocation_pools=[{'start': str(cidr[10]),
                                   'end': str(cidr[-2])}])
        # What `--nic auto` draws from (Neutron's auto-allocated topology:
        # a network, subnet and router per project on first use).
        if not net.find_subnet_pool(DEFAULT_POOL):
            net.create_subnet_pool(
                name=DEFAULT_POOL, prefixes=[DEFAULT_POOL_PREFIX],
                default_prefix_length=26, is_shared=True, is_default=True)
        private = net.find_network(PRIVATE, project_id=demo.id) or \
            net.create_network(name=PRIVATE, project_id=demo.id)
        subnet = net.find_subnet('private-subnet', project_id=demo.id)
        if subnet is None:
            subnet = net.create_subnet(
                name='private-subnet', network_id=private.id,
                project_id=demo.id, ip_version=4,
                cidr=cloud_layout.PRIVATE_CIDR,
                dns_nameservers=[])
        router = net.find_router(ROUTER, project_id=demo.id)
        if router is None:
            router = net.create_router(
                name=ROUTER, project_id=demo.id,
                external_gateway_info={'network_id': public.id})
            net.add_interface_to_router(router, subnet_id=subnet.id)
        self._ingress(net, demo.id)
        return 'public %s on br-ex, private %s behind %s' % (
            cloud_layout.PUBLIC_CIDR, cloud_layout.PRIVATE_CIDR, ROUTER)

    def _ingress(self, net, project_id):
        for group in net.security_groups(project_id=project_id,
                                         name='default'):
            break
        else:
            group = net.create_security_group(name='default',
                                              project_id=project_id)
        have = {(r.protocol, r.port_range_min)
                for r in net.security_group_rules(security_group_id=group.id,
                                                  direction='ingress')}
        for protocol, port in INGRESS:
            if (protocol, port) not in have:
                net.create_security_group_rule(
                    security_group_id=group.id, project_id=project_id,
                    direction='ingress', ethertype='IPv4',
                    protocol=protocol, port_range_min=port,
                    port_range_max=port, remote_ip_prefix='0.0.0.0/0')
