"""Nova objects for tests, built without a database."""

from nova.network import model as network_model
from nova import objects
from oslo_utils import uuidutils

objects.register_all()


def instance(hostname='test-host', metadata=None, vcpus=1, memory_mb=64,
             **fields):
    inst = objects.Instance(
        id=fields.pop('id', 1),
        uuid=fields.pop('uuid', uuidutils.generate_uuid()),
        hostname=hostname, project_id='project-a', user_id='user-a',
        metadata=metadata or {}, key_data=fields.pop('key_data', None),
        launched_at=None, config_drive=fields.pop('config_drive', ''),
        image_ref=fields.pop('image_ref', ''),
        flavor=objects.Flavor(memory_mb=memory_mb, vcpus=vcpus, root_gb=1,
                              ephemeral_gb=0, swap=0, extra_specs={}),
        system_metadata={}, **fields)
    inst.info_cache = objects.InstanceInfoCache(
        network_info=network_model.NetworkInfo(), instance_uuid=inst.uuid)
    return inst


def network_info():
    """One port with an IPv4 and an IPv6 subnet, each with DNS servers."""
    ip = network_model.IP
    v4 = network_model.Subnet(
        cidr='10.0.0.0/24', gateway=ip('10.0.0.1'),
        dns=[ip('10.0.0.2'), ip('10.0.0.3')],
        ips=[network_model.FixedIP(address='10.0.0.5')])
    v6 = network_model.Subnet(
        cidr='2001:db8::/64', gateway=ip('2001:db8::1'),
        dns=[ip('2001:db8::2'), ip('10.0.0.3')],
        ips=[network_model.FixedIP(address='2001:db8::5')])
    network = network_model.Network(id=uuidutils.generate_uuid(),
                                    bridge='br-int', subnets=[v4, v6])
    return network_model.NetworkInfo([network_model.VIF(
        id=uuidutils.generate_uuid(), address='fa:16:3e:00:00:01',
        network=network, type=network_model.VIF_TYPE_OVS)])


def network_info_empty():
    return network_model.NetworkInfo()
