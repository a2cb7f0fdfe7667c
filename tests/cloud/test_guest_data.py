"""What a server learns about itself, through the real cloud: the metadata
service (Nova's metadata API behind neutron-ovn-agent's haproxy, reached at
169.254.169.254 from inside the container), the config drive at
/config-drive, personality files and the admin password."""

import base64
import io
import json

import pytest

from novadocker_cloud import sample_image
from novadocker_cloud import ssh_image

USER_DATA = b'#!/bin/sh\necho user-data-marker > /root/marker\n'
METADATA_URL = 'http://169.254.169.254'


@pytest.fixture(scope='module')
def ssh_image_in_glance(cloud):
    """The SSH test image: busybox's wget, Debian's chpasswd."""
    data = sample_image.saved('novadocker-cloud-tests/ssh:latest',
                              ssh_image.build)
    image = cloud.demo.image.create_image(
        name='tests-guest-data', container_format='docker',
        disk_format='raw', data=io.BytesIO(data), allow_duplicates=True,
        wait=True)
    yield image
    cloud.demo.image.delete_image(image)


@pytest.fixture(scope='module')
def keypair(cloud):
    key = cloud.demo.compute.create_keypair(name='tests-guest-data')
    yield key
    cloud.demo.compute.delete_keypair(key)


def _read(cloud, server, path):
    code, output = cloud.execute('nova-' + server.id, 'cat', path)
    assert code == 0, output
    return output


def _fetch(cloud, server, path):
    """GET 169.254.169.254/<path> from inside the server, retried while
    the metadata port's namespace comes up."""
    found = []

    def answered():
        code, output = cloud.execute('nova-' + server.id, 'timeout', '5',
                                     'wget', '-q', '-O-', METADATA_URL + path)
        found[:] = [output]
        return code == 0
    cloud.wait_for(answered, 'an answer from %s%s' % (METADATA_URL, path),
                   60)
    return found[0]


def test_metadata_service_and_config_drive_tell_the_server_who_it_is(
        cloud, ssh_image_in_glance, flavor, private_network, keypair):
    server = cloud.demo.compute.create_server(
        name='guest-data', image_id=ssh_image_in_glance.id,
        flavor_id=flavor.id, networks=[{'uuid': private_network.id}],
        key_name=keypair.name, config_drive=True,
        user_data=base64.b64encode(USER_DATA).decode(),
        metadata={'role': 'tested'})
    server = cloud.demo.compute.wait_for_server(server, wait=180,
                                                interval=0.5)
    try:
        [port] = cloud.ports_of(server.id)
        # The metadata service, OpenStack and EC2 flavours.
        meta = json.loads(_fetch(cloud, server,
                                 '/openstack/latest/meta_data.json'))
        assert meta['uuid'] == server.id
        assert meta['meta'] == {'role': 'tested'}
        assert meta['public_keys'][keypair.name].strip() == \
            keypair.public_key.strip()
        assert _fetch(cloud, server, '/openstack/latest/user_data') == \
            USER_DATA.decode()
        assert _fetch(cloud, server,
                      '/latest/meta-data/instance-id').startswith('i-')
        assert _fetch(cloud, server, '/latest/meta-data/local-ipv4') == \
            port.fixed_ips[0]['ip_address']
        assert _fetch(cloud, server, '/latest/meta-data/public-keys/0/'
                      'openssh-key').strip() == keypair.public_key.strip()
        # The config drive: the same answers, read-only, from a directory.
        drive = '/config-drive/openstack/latest/'
        meta = json.loads(_read(cloud, server, drive + 'meta_data.json'))
        assert meta['uuid'] == server.id
        assert _read(cloud, server, drive + 'user_data') == \
            USER_DATA.decode()
        # What cloud-init reads of network_data.json matches the port.
        network = json.loads(_read(cloud, server,
                                   drive + 'network_data.json'))
        [link] = network['links']
        assert link['ethernet_mac_address'] == port.mac_address
        [net] = network['networks']
        assert (net['link'], net['network_id']) == (link['id'],
                                                    port.network_id)
        # A DHCP subnet says so, as for a VM: the address is DHCP's to give.
        assert net['type'] == 'ipv4_dhcp'
        code, _ = cloud.execute('nova-' + server.id, 'touch',
                                '/config-drive/written')
        assert code != 0
    finally:
        cloud.delete(cloud.demo, server)
    assert cloud.leftovers(server.id, [port.id]) == {}


def _create_with_personality(cloud, image, flavor, network, path):
    """POST /servers at microversion 2.56 (personality left the API in
    2.57) with one injected file; the server's id."""
    body = {'server': {
        'name': 'personality', 'imageRef': image.id, 'flavorRef': flavor.id,
        'networks': [{'uuid': network.id}],
        'personality': [{'path': path, 'contents': base64.b64encode(
            b'injected\n').decode()}]}}
    response = cloud.demo.compute.post('/servers', json=body,
                                       microversion='2.56')
    assert response.status_code == 202, response.text
    return response.json()['server']['id']


def test_personality_lands_where_asked_and_a_hostile_path_is_refused(
        cloud, ssh_image_in_glance, flavor, private_network):
    server = cloud.demo.compute.get_server(_create_with_personality(
        cloud, ssh_image_in_glance, flavor, private_network,
        '/etc/injected.conf'))
    try:
        server = cloud.wait_status(cloud.demo, server, 'ACTIVE', 180)
        assert _read(cloud, server, '/etc/injected.conf') == 'injected\n'
    finally:
        cloud.delete(cloud.demo, server)
    # A path climbing out of the container: refused, with a fault that
    # names it, and nothing left.
    hostile = cloud.demo.compute.get_server(_create_with_personality(
        cloud, ssh_image_in_glance, flavor, private_network,
        '/../../etc/escaped'))
    try:
        cloud.wait_status(cloud.demo, hostile, 'ERROR', 180)
        assert 'etc/escaped' in cloud.fault(cloud.demo, hostile)
        assert cloud.container(hostile.id) is None
    finally:
        cloud.delete(cloud.demo, hostile)


def test_admin_password_is_set_inside_the_server(
        cloud, ssh_image_in_glance, flavor, private_network):
    server = cloud.boot(cloud.demo, 'password', ssh_image_in_glance, flavor,
                        private_network)
    try:
        before = _read(cloud, server, '/etc/shadow')
        cloud.demo.compute.change_server_password(server, 'Newpass1234')
        cloud.wait_for(lambda: _read(cloud, server, '/etc/shadow') !=
                       before, 'root\'s password changed')
        root = _read(cloud, server, '/etc/shadow').split(':')
        assert root[0] == 'root' and root[1].startswith('$6$')
    finally:
        cloud.delete(cloud.demo, server)
