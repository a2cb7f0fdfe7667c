"""The vrouter plugin's pure parts: the agent's request, the port file,
the old class path, and the retry bound of the agent client (against a
local socket that refuses or a stub that answers)."""

import json
import os
from unittest import mock

from nova import exception
from nova.network import model
from nova import objects
import pytest

from novadocker.virt.docker import opencontrail
from novadocker.virt.docker import vifs
from novadocker.virt.docker.vifs import base
from novadocker.virt.docker.vifs import vrouter
from tests.fixtures import netinfo
from tests.fixtures import vrouter_agent

INSTANCE_UUID = '6b1e2b0e-7d0c-4a55-9a3e-1c2d3e4f5a6b'


def instance(**fields):
    return objects.Instance(uuid=INSTANCE_UUID, **fields)


def port(*subnets, mtu=1500):
    return netinfo.vif(list(subnets), vif_type=model.VIF_TYPE_VROUTER,
                       bridge=None, mtu=mtu)


V4 = netinfo.subnet('10.0.0.0/24', ['10.0.0.5'], gateway='10.0.0.1')
V6 = netinfo.subnet('2001:db8::/64', ['2001:db8::5'], gateway='2001:db8::1')


def test_the_request_carries_every_field_the_agent_parses():
    vif = port(V6, V4)
    body = vrouter.port_request(
        instance(display_name='web', project_id='0123456789abcdef' * 2),
        vif, 'tap' + vif['id'][:11])
    assert body == {
        'id': vif['id'], 'instance-id': INSTANCE_UUID,
        'display-name': 'web', 'ip-address': '10.0.0.5',
        'ip6-address': '2001:db8::5', 'vn-id': vif['network']['id'],
        'vm-project-id': '01234567-89ab-cdef-0123-456789abcdef',
        'mac-address': vif['address'], 'system-name': 'tap' + vif['id'][:11],
        'type': 1, 'rx-vlan-id': -1, 'tx-vlan-id': -1}
    assert vrouter_agent.EXPECTED_FIELDS.keys() == body.keys()


def test_missing_values_get_what_the_agent_takes_as_none():
    body = vrouter.port_request(instance(), port(), 'tapx')
    assert (body['ip-address'], body['ip6-address'], body['display-name'],
            body['vm-project-id']) == ('0.0.0.0', '', '', '')
    dashed = 'a8098c1a-f86e-11da-bd1a-00112444be1e'
    assert vrouter.port_request(instance(project_id=dashed), port(V6),
                                'tapx')['vm-project-id'] == dashed


def test_a_port_without_network_is_refused_before_the_agent_is_asked():
    vif = port(V4)
    vif['network'] = None
    with pytest.raises(exception.VirtualInterfacePlugException,
                       match='vn-id'):
        vrouter.port_request(instance(), vif, 'tapx')


def test_port_files_are_written_whole_and_only_under_a_port_id(tmp_path):
    ports_dir = str(tmp_path / 'ports')
    vif = port(V4)
    vrouter.write_port_file(ports_dir, vif['id'], {'id': vif['id']})
    assert os.listdir(ports_dir) == [vif['id']]
    with open(os.path.join(ports_dir, vif['id'])) as f:
        assert json.load(f) == {'id': vif['id']}
    vrouter.remove_port_file(ports_dir, vif['id'])
    vrouter.remove_port_file(ports_dir, vif['id'])
    assert os.listdir(ports_dir) == []
    for bad in ('../../etc/passwd', '', 'x'):
        with pytest.raises(ValueError):
            vrouter.write_port_file(ports_dir, bad, {})


def test_the_old_class_path_still_names_the_plugin():
    plugin = vifs.load(
        'novadocker.virt.docker.opencontrail.OpenContrailVIFDriver')
    assert isinstance(plugin, vrouter.VRouterPlugin)
    assert issubclass(opencontrail.OpenContrailVIFDriver,
                      vrouter.VRouterPlugin)
    with pytest.raises(base.UnsupportedVIFType, match='vrouter'):
        plugin.plugin_for(netinfo.simple_vif('10.0.0.5'))


def client(**kwargs):
    settings = dict(host='127.0.0.1', port=9, timeout=1, retries=2,
                    retry_interval=0)
    settings.update(kwargs)
    return vrouter.AgentClient(**settings)


@pytest.mark.parametrize('answers, attempts, reachable', [
    ([OSError('refused')] * 3, 3, False),
    ([(503, 'busy')] * 3, 3, True),
    ([(400, 'Invalid MAC')], 1, True),
])
def test_the_client_stops_at_its_bound(answers, attempts, reachable):
    agent = client()
    with mock.patch.object(agent, '_request_once',
                           side_effect=answers) as sent:
        with pytest.raises(vrouter.AgentError) as caught:
            agent.add_port({})
    assert sent.call_count == attempts
    assert caught.value.reachable is reachable


def test_the_client_succeeds_on_a_later_attempt():
    agent = client()
    with mock.patch.object(agent, '_request_once',
                           side_effect=[(500, ''), (200, '')]) as sent:
        agent.delete_port('x')
    assert sent.call_count == 2
    sent.assert_called_with('DELETE', '/port/x', None)


def test_nothing_listening_is_an_unreachable_agent():
    # Port 9 (discard) on loopback has no listener on a test machine.
    with pytest.raises(vrouter.AgentError, match='failed after 1 attempt'):
        client(retries=0).add_port({})
