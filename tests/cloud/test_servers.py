"""Servers through the real cloud (see conftest.py): every service real,
the driver inside nova-compute running as the nova user."""

import grp
import io
import os
import pwd
import re
import signal
import stat
import time

import pytest

from novadocker_cloud import demo
from novadocker_cloud import sample_image
from novadocker_cloud.services import docker as docker_service
from novadocker_cloud.services import nova as nova_service
from novadocker_cloud.services import openvswitch
from novadocker_cloud.services import ovn
from tests.fixtures import engine as engine_fixture

# Seconds nova-compute waits for network-vif-plugged in the test that
# waits for it to run out.
VIF_PLUGGING_TIMEOUT = 10


def _page(address):
    return demo.fetch('http://%s/' % address)


def _pid_of(cloud, name):
    with open(cloud.layout.pidfile(name)) as f:
        return int(f.read())


def test_member_boots_a_server_neutron_binds_and_reports_plugged(
        cloud, web_image, flavor, private_network):
    before = cloud.netns_links()
    server = cloud.boot(cloud.demo, 'bound', web_image, flavor,
                        private_network)
    try:
        assert server.status == 'ACTIVE'
        container = cloud.container(server.id)
        assert container['State']['Status'] == 'running'
        [port] = cloud.ports_of(server.id)
        assert port.status == 'ACTIVE'
        assert port.binding_host_id == cloud.layout.hostname
        assert port.binding_vif_type == 'ovs'
        tap = 'tap' + port.id[:11]
        assert openvswitch.vsctl('port-to-br', tap) == 'br-int'
        assert openvswitch.vsctl('get', 'Interface', tap,
                                 'external_ids:iface-id').strip('"') == port.id
        chassis = ovn.sbctl('--bare', '--columns=chassis', 'find',
                            'Port_Binding', 'logical_port=' + port.id)
        assert ovn.sbctl('get', 'Chassis', chassis,
                         'hostname').strip('"') == cloud.layout.hostname
        assert container['Id'] in cloud.netns_links() - before
        # Neutron told Nova the port is up, and Nova took the event.
        sent = re.compile(r"'name': 'network-vif-plugged', 'status': "
                          r"'completed', 'tag': '%s', 'code': 200" % port.id)
        cloud.wait_for(lambda: sent.search(cloud.log('neutron-api')),
                       'network-vif-plugged sent for ' + port.id)
        # nova-compute (the nova user) spawned it; the plugging went
        # through privsep started by sudo and nova-rootwrap.
        compute = cloud.log('nova-compute')
        assert ('Spawned container nova-%s' % server.id) in compute
        assert os.stat('/proc/%d' % _pid_of(cloud, 'nova-compute')).st_uid \
            == pwd.getpwnam(nova_service.USER).pw_uid
        # It reaches the engine through the socket's group, the socket
        # being writable by no one else.
        engine_socket = os.stat(docker_service.SOCKET)
        assert not engine_socket.st_mode & stat.S_IWOTH
        assert grp.getgrgid(engine_socket.st_gid).gr_name == 'docker'
        assert nova_service.USER in grp.getgrnam('docker').gr_mem
        # Root in the container is an unprivileged user of this host (the
        # engine remaps user namespaces), and the driver knows it.
        assert os.stat('/proc/%d' % container['State']['Pid']).st_uid == \
            engine_fixture.subordinate_ids()[0]
        assert 'The Docker engine remaps user namespaces' in compute
        assert "Running privsep helper: ['sudo', 'nova-rootwrap', " \
            "'/etc/novadocker-cloud/nova/rootwrap.conf', 'privsep-helper', " \
            "'--config-file', '/etc/novadocker-cloud/nova/nova-cpu.conf', " \
            "'--privsep_context', 'novadocker.privsep.sys_admin_pctxt'" \
            in compute
    finally:
        cloud.delete(cloud.demo, server)
    assert cloud.leftovers(server.id, [port.id]) == {}
    assert container['Id'] not in cloud.netns_links()


def test_reboot_stop_start_keep_the_server_reachable(
        cloud, web_image, flavor, private_network):
    server = cloud.boot(cloud.demo, 'lifecycle', web_image, flavor,
                        private_network)
    fip = cloud.floating_ip(cloud.demo, server)
    try:
        [port] = cloud.ports_of(server.id)
        address = fip.floating_ip_address
        assert _page(address) == 'hello from lifecycle'
        for kind in ('SOFT', 'HARD'):
            started = cloud.container(server.id)['State']['StartedAt']
            cloud.demo.compute.reboot_server(server, kind)
            cloud.wait_for(lambda: cloud.container(server.id)['State'][
                'StartedAt'] != started, '%s reboot' % kind, 60)
            server = cloud.wait_status(cloud.demo, server, 'ACTIVE')
            assert _page(address) == 'hello from lifecycle', kind
        cloud.demo.compute.stop_server(server)
        cloud.wait_status(cloud.demo, server, 'SHUTOFF')
        assert cloud.container(server.id)['State']['Status'] == 'exited'
        cloud.demo.compute.start_server(server)
        cloud.wait_status(cloud.demo, server, 'ACTIVE')
        assert cloud.container(server.id)['State']['Status'] == 'running'
        assert _page(address) == 'hello from lifecycle'
    finally:
        cloud.demo.network.delete_ip(fip)
        cloud.delete(cloud.demo, server)
    assert cloud.leftovers(server.id, [port.id]) == {}


def test_snapshot_keeps_what_the_container_wrote_and_boots(
        cloud, web_image, flavor, private_network):
    server = cloud.boot(cloud.demo, 'original', web_image, flavor,
                        private_network)
    snapshot = copy = None
    try:
        assert cloud.execute('nova-' + server.id, 'sh', '-c',
                             'echo kept > /root/written')[0] == 0
        snapshot = cloud.demo.compute.create_server_image(
            server, 'original-snapshot', wait=True, timeout=180)
        snapshot = cloud.demo.image.get_image(snapshot)
        assert snapshot.status == 'active'
        assert snapshot.container_format == 'docker'
        copy = cloud.boot(cloud.demo, 'copy', snapshot, flavor,
                          private_network)
        assert copy.status == 'ACTIVE'
        assert cloud.execute('nova-' + copy.id, 'cat', '/root/written') == (
            0, 'kept\n')
    finally:
        for each in (copy, server):
            if each is not None:
                cloud.delete(cloud.demo, each)
        if snapshot is not None:
            cloud.demo.image.delete_image(snapshot)


def test_no_network_vif_plugged_fails_the_boot_cleanly(
        cloud, web_image, flavor, private_network):
    """ovn-controller frozen: the port is never claimed, Neutron never says
    it is up; the boot must fail after vif_plugging_timeout, not go
    ACTIVE without a network. nova-compute runs with a short timeout for
    this test only: the session's cloud keeps Nova's default, as an
    operator's, under which a start survives a RabbitMQ restart holding
    Neutron's event back for 20 s and more (the soak's)."""
    with cloud.compute_restarted_with(
            vif_plugging_timeout=VIF_PLUGGING_TIMEOUT):
        controller = _pid_of(cloud, 'ovn-controller')
        os.kill(controller, signal.SIGSTOP)
        try:
            began = time.monotonic()
            server = cloud.boot(cloud.demo, 'unplugged', web_image, flavor,
                                private_network, wait=False)
            server = cloud.wait_status(cloud.demo, server, 'ERROR', 180)
            waited = time.monotonic() - began
        finally:
            os.kill(controller, signal.SIGCONT)
        try:
            assert waited >= VIF_PLUGGING_TIMEOUT
            fault = cloud.fault(cloud.demo, server)
            assert 'Failed to allocate the network(s)' in fault, fault
            assert cloud.container(server.id) is None
            assert cloud.leftovers(server.id, []) == {}
        finally:
            cloud.delete(cloud.demo, server)


def test_a_non_docker_image_fails_with_a_clear_fault(
        cloud, flavor, private_network):
    image = cloud.demo.image.create_image(
        name='not-a-container', container_format='bare', disk_format='raw',
        data=io.BytesIO(b'\0' * 4096), allow_duplicates=True, wait=True)
    try:
        server = cloud.boot(cloud.demo, 'vm-image', image, flavor,
                            private_network, wait=False)
        server = cloud.wait_status(cloud.demo, server, 'ERROR')
        fault = cloud.fault(cloud.demo, server)
        assert 'container_format bare' in fault, fault
        assert '--container-format docker' in fault, fault
        assert cloud.container(server.id) is None
        cloud.delete(cloud.demo, server)
        assert cloud.leftovers(server.id, []) == {}
    finally:
        cloud.demo.image.delete_image(image)


def test_an_image_whose_user_does_not_exist_fails_with_a_fault_naming_it(
        cloud, flavor, private_network):
    """Every host would refuse it: the build is aborted with the engine's
    words as the fault, not rescheduled until "Exceeded maximum number of
    retries"; nothing of it stays, not even the image in the engine."""
    def build(client, tag):
        repository, _, version = tag.rpartition(':')
        client.import_image_from_data(
            sample_image.busybox_rootfs_tar(), repository=repository,
            tag=version, changes=['CMD ["/bin/sleep", "1000"]',
                                  'USER nobody42'])
    image = cloud.demo.image.create_image(
        name='no-such-user', container_format='docker', disk_format='raw',
        data=io.BytesIO(sample_image.saved(
            'novadocker-cloud-tests/no-such-user:latest', build)),
        allow_duplicates=True, wait=True)
    try:
        server = cloud.boot(cloud.demo, 'no-such-user', image, flavor,
                            private_network, wait=False)
        server = cloud.wait_status(cloud.demo, server, 'ERROR')
        fault = cloud.fault(cloud.demo, server)
        assert fault.endswith(
            'Image %s is unacceptable: Docker refused it: unable to find '
            'user nobody42: no matching entries in passwd file' % image.id
        ), fault
        assert cloud.container(server.id) is None
        with cloud.engine() as api:
            assert not api.images(name='openstack-glance:' + image.id)
        ports = [port.id for port in cloud.ports_of(server.id)]
        cloud.delete(cloud.demo, server)
        assert cloud.leftovers(server.id, ports) == {}
    finally:
        cloud.demo.image.delete_image(image)


def test_another_project_cannot_see_or_touch_the_server(
        cloud, web_image, flavor, private_network):
    server = cloud.boot(cloud.demo, 'private-to-demo', web_image, flavor,
                        private_network)
    try:
        other = cloud.alt_demo.compute
        assert server.id not in [s.id for s in other.servers()]
        for act in (other.get_server,
                    lambda s: other.delete_server(s, ignore_missing=False),
                    lambda s: other.reboot_server(s, 'HARD'),
                    other.stop_server):
            with pytest.raises(Exception) as raised:
                act(server.id)
            assert getattr(raised.value, 'status_code', None) == 404, \
                raised.value
        assert cloud.demo.compute.get_server(server).status == 'ACTIVE'
        assert cloud.container(server.id)['State']['Status'] == 'running'
    finally:
        cloud.delete(cloud.demo, server)
