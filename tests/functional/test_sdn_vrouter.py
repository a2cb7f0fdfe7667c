"""OpenContrail vRouter ports, as deployed in the field (``[docker]
vif_driver = novadocker.virt.docker.opencontrail.OpenContrailVIFDriver``):
real containers and veth pairs, and an HTTP server playing the vRouter
agent's port-control API that checks every request field by field
(tests/fixtures/vrouter_agent.py). No vRouter datapath can run here, so no
traffic flows; what is tested is everything nova-docker does.

Every test ends with the ``host`` leak check (devices, netns links) and the
agent's: no port left in the agent, no port file left.
"""

import shutil
import subprocess
import tempfile
import time

from nova import exception
from nova.network import model
from nova import objects
from nova.virt import fake
from oslo_utils import uuidutils
import pytest

from novadocker import conf
from novadocker import privsep
from novadocker.virt.docker import addressing
from novadocker.virt.docker import driver
from novadocker.virt.docker import images
from novadocker.virt.docker import network
from tests.fixtures import engine as engine_fixture
from tests.fixtures import netinfo
from tests.fixtures.network import ip_json
from tests.fixtures import vrouter_agent as agent_fixture
from tests.functional.test_network_privsep import HELPER
from tests.unit import factories

CONF = conf.CONF
FIELD_VIF_DRIVER = 'novadocker.virt.docker.opencontrail.OpenContrailVIFDriver'
PROJECT_ID = '3f1bd7a2e1c44f6c9d0b2a8e5c7f9a10'   # as Keystone writes it


@pytest.fixture
def agent(host):
    """The fake agent, started inside the test's namespace (where it sees
    the devices it is told about), and nova-docker pointed at it."""
    # A new namespace's loopback is down; on a compute node it is up.
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    ports_dir = tempfile.mkdtemp(prefix='novadocker-vrouter-', dir='/tmp')
    fake_agent = agent_fixture.FakeVRouterAgent(ports_dir).start()
    overrides = {'agent_port': fake_agent.port, 'ports_dir': ports_dir,
                 'agent_retries': 2, 'agent_retry_interval': 0.05,
                 'agent_timeout': 2}
    for name, value in overrides.items():
        CONF.set_override(name, value, group='docker_vrouter')
    CONF.set_override('vif_driver', FIELD_VIF_DRIVER, group='docker')
    try:
        yield fake_agent
    finally:
        fake_agent.stop()
        for name in overrides:
            CONF.clear_override(name, group='docker_vrouter')
        CONF.clear_override('vif_driver', group='docker')
        leaks = {'agent ports': sorted(fake_agent.ports),
                 'port files': sorted(fake_agent.port_files()),
                 'refused requests': fake_agent.refused}
        shutil.rmtree(ports_dir, ignore_errors=True)
    assert not any(leaks.values()), leaks


def instance(name='web-1'):
    return objects.Instance(uuid=uuidutils.generate_uuid(),
                            display_name=name, project_id=PROJECT_ID)


def vrouter_vif(ip, index=1, ip6=None):
    subnets = [netinfo.subnet('10.60.0.0/24', [ip], gateway='10.60.0.1')]
    if ip6:
        subnets.append(netinfo.subnet('2001:db8:60::/64', [ip6],
                                      gateway='2001:db8:60::1'))
    return netinfo.vif(subnets, index=index, vif_type=model.VIF_TYPE_VROUTER,
                       bridge=None, mtu=1500)


def expected_request(inst, vif, ip, ip6=''):
    """What the agent must receive, spelled out field by field."""
    return {
        'id': vif['id'],
        'instance-id': inst.uuid,
        'display-name': inst.display_name,
        'ip-address': ip,
        'ip6-address': ip6,
        'vn-id': vif['network']['id'],
        'vm-project-id': '3f1bd7a2-e1c4-4f6c-9d0b-2a8e5c7f9a10',
        'mac-address': vif['address'],
        'system-name': 'tap' + vif['id'][:11],
        'type': 1,                      # NameSpacePort
        'rx-vlan-id': -1,
        'tx-vlan-id': -1,
    }


def device_names():
    return {link['ifname'] for link in ip_json('link', 'show')}


def posts(agent):
    return [body for method, path, body in agent.requests
            if (method, path) == ('POST', '/port')]


def deletes(agent):
    return [path for method, path, _ in agent.requests if method == 'DELETE']


def test_field_config_plugs_announces_restores_and_unplugs(
        agent, containers):
    net = network.Network()
    first, second = instance('web-1'), instance('web-2')
    vif_a = vrouter_vif('10.60.0.5', index=1, ip6='2001:db8:60::5')
    vif_b = vrouter_vif('10.60.0.6', index=2)
    cid_a, pid_a = containers.start()
    cid_b, pid_b = containers.start()

    net.attach_all(first, cid_a, pid_a, [vif_a])
    net.attach_all(second, cid_b, pid_b, [vif_b])

    want_a = expected_request(first, vif_a, '10.60.0.5', '2001:db8:60::5')
    want_b = expected_request(second, vif_b, '10.60.0.6')
    assert posts(agent) == [want_a, want_b]
    assert agent.ports == {vif_a['id']: want_a, vif_b['id']: want_b}
    # The port files hold exactly what the agent was told.
    assert agent.port_files() == {vif_a['id']: want_a, vif_b['id']: want_b}
    # The device the agent was told about is the host end of the veth whose
    # other end is the container's eth0 with the port's MAC and addresses.
    tap = ip_json('-d', 'link', 'show', want_a['system-name'])[0]
    assert tap['linkinfo']['info_kind'] == 'veth' and 'UP' in tap['flags']
    eth0 = ip_json('-n', cid_a, 'addr', 'show', 'eth0')[0]
    assert eth0['address'] == vif_a['address']
    assert {(a['local'], a['prefixlen']) for a in eth0['addr_info']
            if a['scope'] == 'global'} == {('10.60.0.5', 24),
                                           ('2001:db8:60::5', 64)}

    # The agent restarts: it gets both ports back from the files.
    agent.restart()
    assert sorted(agent.restored) == sorted([vif_a['id'], vif_b['id']])
    assert agent.ports == {vif_a['id']: want_a, vif_b['id']: want_b}

    # Unplugged while the agent is down: the file goes, so the restarted
    # agent does not bring the port back.
    agent.stop()
    net.detach_all(first, cid_a, [vif_a])
    agent.start()
    assert agent.restored == [vif_b['id']]
    assert want_a['system-name'] not in device_names()

    net.detach_all(second, cid_b, [vif_b])
    assert deletes(agent)[-1] == '/port/' + vif_b['id']
    assert agent.ports == {} and agent.port_files() == {}


def test_spawn_and_destroy_through_the_driver(agent, engine):
    """The field path end to end: DockerDriver with the old class path."""
    image_id = uuidutils.generate_uuid()
    CONF.set_override('host_url', engine.url, group='docker')
    api = engine.client()
    api.tag(engine_fixture.TEST_IMAGE, images.GLANCE_REPOSITORY, image_id)
    try:
        drv = driver.DockerDriver(fake.FakeVirtAPI())
        inst = factories.instance(hostname='db', display_name='db-1')
        inst.project_id = PROJECT_ID
        vif = vrouter_vif('10.60.0.9')
        network_info = model.NetworkInfo([vif])
        inst.info_cache.network_info = network_info
        meta = objects.ImageMeta.from_dict({'id': image_id,
                                            'container_format': 'docker'})
        drv.spawn(None, inst, meta, [], None, {}, network_info=network_info)
        assert posts(agent) == [expected_request(inst, vif, '10.60.0.9')]
        drv.destroy(None, inst, network_info)
        assert deletes(agent) == ['/port/' + vif['id']]
    finally:
        api.remove_image(images.glance_reference(image_id))
        api.close()
        CONF.clear_override('host_url', group='docker')


def test_an_unreachable_agent_fails_the_plug_after_bounded_retries(
        agent, containers):
    agent.stop()
    inst, vif = instance(), vrouter_vif('10.60.0.5')
    cid, pid = containers.start()
    started = time.monotonic()
    with pytest.raises(exception.VirtualInterfacePlugException) as caught:
        network.Network().attach_all(inst, cid, pid, [vif])
    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert 'vRouter agent at %s' % agent.address in message
    assert 'failed after 3 attempt(s)' in message
    assert 'contrail-vrouter-agent running' in message
    assert elapsed < 5, elapsed       # 3 attempts, 0.05 s apart
    # Rolled back: no port file (a restarted agent must not resurrect the
    # port), no veth, no netns link (the leak checks).
    assert agent.port_files() == {}
    assert containers.run(cid, 'ip', 'link', 'show', 'eth0')[0] != 0


def test_server_errors_are_retried_within_the_bound(agent, containers):
    agent.fail_next(2, status=503)
    inst, vif = instance(), vrouter_vif('10.60.0.5')
    cid, pid = containers.start()
    net = network.Network()
    net.attach_all(inst, cid, pid, [vif])
    assert len(posts(agent)) == 3 and vif['id'] in agent.ports
    net.detach_all(inst, cid, [vif])

    agent.fail_next(3, status=500, text='internal error')
    with pytest.raises(exception.VirtualInterfacePlugException,
                       match='HTTP 500 internal error'):
        net.attach_all(inst, cid, pid, [vif])
    assert agent.port_files() == {}


def test_a_refused_port_is_not_retried_and_earlier_ports_are_taken_back(
        agent, containers):
    inst = instance()
    good = vrouter_vif('10.60.0.5', index=1)
    bad = vrouter_vif('10.60.0.6', index=2)
    cid, pid = containers.start()
    requests_before = len(agent.requests)

    # The agent refuses the second port (as it refuses e.g. a bad MAC).
    def refuse_second(method, path, raw, answer=agent._answer):
        if raw and bad['id'].encode() in raw:
            agent.requests.append((method, path, None))
            return 400, 'Invalid MAC, Use xx:xx:xx:xx:xx:xx format'
        return answer(method, path, raw)
    agent._answer = refuse_second
    try:
        with pytest.raises(exception.VirtualInterfacePlugException,
                           match='HTTP 400 Invalid MAC') as caught:
            network.Network().attach_all(inst, cid, pid, [good, bad])
    finally:
        del agent._answer
    assert bad['id'] in str(caught.value)
    sent = agent.requests[requests_before:]
    # One POST each (a 4xx is final), then the first port is taken back.
    assert [(m, p) for m, p, _ in sent] == [
        ('POST', '/port'), ('POST', '/port'),
        ('DELETE', '/port/' + good['id'])]
    assert agent.ports == {} and agent.port_files() == {}
    assert addressing.tap_name(good) not in device_names()


def test_unplug_with_the_agent_down_succeeds_and_with_an_error_fails(
        agent, containers):
    inst, vif = instance(), vrouter_vif('10.60.0.5')
    cid, pid = containers.start()
    net = network.Network()
    net.attach_all(inst, cid, pid, [vif])
    agent.fail_next(3, status=500, text='database locked')
    with pytest.raises(exception.VirtualInterfaceUnplugException,
                       match='database locked'):
        net.detach_all(inst, cid, [vif])
    # The device and the file are gone all the same; the agent still has
    # the port until a later unplug (idempotent) reaches it.
    assert agent.port_files() == {}
    assert vif['id'] in agent.ports
    net.detach_all(inst, cid, [vif])
    assert agent.ports == {}


def test_port_files_are_kept_through_the_privsep_daemon(agent, containers):
    """In production the port file is written by the privsep daemon (the
    agent's directory is root's); the request body crosses into it."""
    CONF.set_override('helper_command', HELPER, group=conf.PRIVSEP_GROUP)
    try:
        assert privsep.sys_admin_pctxt.client_mode
        inst, vif = instance(), vrouter_vif('10.60.0.5')
        cid, pid = containers.start()
        net = network.Network()
        net.attach_all(inst, cid, pid, [vif])
        assert privsep.sys_admin_pctxt.channel is not None
        assert agent.port_files() == {
            vif['id']: expected_request(inst, vif, '10.60.0.5')}
        net.detach_all(inst, cid, [vif])
        assert agent.port_files() == {}
    finally:
        privsep.sys_admin_pctxt.stop()
        CONF.clear_override('helper_command', group=conf.PRIVSEP_GROUP)
