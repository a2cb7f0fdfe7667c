"""Rescue: the parts that need no engine (the overlay over a container's
layers, the rescue container's configuration, which image, which container
holds an instance's power state)."""

from unittest import mock

from nova import exception
from nova import objects
from oslo_utils import uuidutils
import pytest

from novadocker import conf as nd_conf
from novadocker.virt.docker import client
from novadocker.virt.docker import driver
from novadocker.virt.docker import rescue
from tests.unit import factories

CONF = nd_conf.CONF
ROOT = '/var/lib/docker/overlay2/'
LAYER = 'f' * 64


def graph_driver(layers=2, name='overlay2', root=ROOT):
    return {'Name': name, 'Data': {
        'LowerDir': ':'.join('%s%064x/diff' % (root, i)
                             for i in range(layers)),
        'UpperDir': root + LAYER + '/diff',
        'WorkDir': root + LAYER + '/work',
        'MergedDir': root + LAYER + '/merged'}}


def test_the_overlay_is_the_containers_layers_as_the_engine_mounts_them():
    instance = factories.instance()
    assert rescue.volume_options(instance, graph_driver(layers=2)) == {
        'type': 'overlay', 'device': 'overlay',
        'o': 'index=off,lowerdir={r}{0:064x}/diff:{r}{1:064x}/diff,'
             'upperdir={r}{l}/diff,workdir={r}{l}/work'.format(
                 0, 1, r=ROOT, l=LAYER)}


@pytest.mark.parametrize('graph, words', [
    (graph_driver(name='devicemapper'),
     "engine's devicemapper storage driver; rescue needs overlay2"),
    (graph_driver(name='vfs'), 'vfs storage driver'),
    ({'Name': 'overlay2', 'Data': None}, 'does not say where'),
    (graph_driver(root='/srv/dock,er/'), '"," or ":"'),
    (graph_driver(root='/srv/dock:er/'), '"," or ":"'),
    (graph_driver(layers=41),
     'too many layers (42) for the options of one overlay mount (4095'),
])
def test_what_one_overlay_cannot_give_is_not_rescuable(graph, words):
    instance = factories.instance()
    with pytest.raises(exception.InstanceNotRescuable) as e:
        rescue.overlay_options(instance, graph)
    assert words in str(e.value) and instance.uuid in str(e.value)


def test_forty_layers_below_the_writable_one_fit_in_a_page_of_options():
    # At the default data root: the image's 39 and the engine's init layer.
    assert len(rescue.overlay_options(factories.instance(),
                                      graph_driver(layers=40))) == 4025


def test_the_rescue_container_is_the_instances_from_the_rescue_image():
    instance = factories.instance(hostname='web', memory_mb=128)
    image_meta = objects.ImageMeta.from_dict({'properties': {
        'os_command_line': 'sh -c "exec sleep 1d"'}})
    create_kwargs, host_config = rescue.build(
        instance, image_meta, [], CONF.docker,
        config_drive_dir='/i/uuid/config-drive', root_disk_quota=True)
    assert create_kwargs['labels'] == {
        client.LABEL_UUID: instance.uuid,
        client.LABEL_NAME: instance.name,
        client.LABEL_PROJECT: 'project-a',
        client.LABEL_VCPUS: '1',
        client.LABEL_RESCUE: instance.uuid}
    assert create_kwargs['command'] == ['sh', '-c', 'exec sleep 1d']
    assert create_kwargs['hostname'] == 'web'
    assert host_config['mem_limit'] == '128m'
    assert host_config['storage_opt'] == {'size': '1G'}
    assert host_config['network_mode'] == 'none'
    assert host_config['mounts'] == [
        {'Type': 'bind', 'Source': '/i/uuid/config-drive',
         'Target': '/config-drive', 'ReadOnly': True},
        {'Type': 'volume', 'Source': 'nova-rescue-' + instance.uuid,
         'Target': '/mnt/rescue'}]


def test_in_a_sandbox_the_rescue_joins_its_namespace():
    instance = factories.instance()
    create_kwargs, host_config = rescue.build(
        instance, objects.ImageMeta.from_dict({}), [], CONF.docker,
        network_holder='nova-sandbox-' + instance.uuid)
    assert host_config['network_mode'] == \
        'container:nova-sandbox-' + instance.uuid
    assert 'hostname' not in create_kwargs


def test_the_rescue_image_is_novas_else_the_instances_own_from_glance():
    own_id, chosen_id = uuidutils.generate_uuid(), uuidutils.generate_uuid()
    instance = factories.instance(image_ref=own_id)
    chosen = objects.ImageMeta.from_dict({'id': chosen_id})
    assert rescue.rescue_image_meta(None, instance, chosen) is chosen
    with mock.patch('nova.image.glance.API') as glance:
        glance.return_value.get.return_value = {
            'id': own_id, 'container_format': 'docker'}
        own = rescue.rescue_image_meta('ctx', instance,
                                       objects.ImageMeta.from_dict({}))
    glance.return_value.get.assert_called_once_with('ctx', own_id)
    assert (own.id, own.container_format) == (own_id, 'docker')


def listed(name, labels, state='running'):
    return {'Id': name + '-id', 'Names': ['/' + name], 'Labels': labels,
            'State': state}


def test_a_rescued_instance_is_held_by_its_rescue_container_in_one_call():
    labels = {client.LABEL_UUID: 'u1'}
    own = listed('nova-u1', labels, 'exited')
    rescuer = listed('nova-rescue-u1', dict(labels, **{
        client.LABEL_RESCUE: 'u1'}))
    other = listed('nova-u2', {client.LABEL_UUID: 'u2'})
    # A container made by hand from a snapshot carries the labels too.
    by_hand = listed('nova-rescue-u2', {client.LABEL_UUID: 'u2'})
    docker = client.DockerClient()
    docker._api = mock.Mock()
    docker._api.containers.return_value = [rescuer, own, other, by_hand]
    assert docker.list_instance_states() == {
        'u1': client.InstanceState(rescuer, own),
        'u2': client.InstanceState(other, other)}
    assert docker.list_containers() == [own, other]
    docker._api.containers.assert_called_with(
        all=True, filters={'label': client.LABEL_UUID})
    docker._api.containers.return_value = [rescuer, own]
    assert docker.instance_state('u1') == client.InstanceState(rescuer, own)
    docker._api.containers.assert_called_with(
        all=True, filters={'label': client.LABEL_UUID + '=u1'})
    docker._api.containers.return_value = []
    assert docker.instance_state('u1') is None


def test_rescue_needs_no_capability_nova_knows_of():
    # supports_bfv_rescue is for volume-backed instances; there are none.
    assert driver.DockerDriver.capabilities['supports_bfv_rescue'] is False


def test_only_volumes_no_rescue_container_uses_are_orphans():
    docker = mock.Mock()
    docker.list_volumes.return_value = [
        {'Name': 'nova-rescue-u1', 'Labels': {client.LABEL_RESCUE: 'u1'}},
        {'Name': 'nova-rescue-u2', 'Labels': {client.LABEL_RESCUE: 'u2'}}]
    rescue.remove_orphan_volumes(docker, [
        listed('nova-rescue-u1', {client.LABEL_RESCUE: 'u1'}, 'exited')])
    docker.list_volumes.assert_called_once_with(client.LABEL_RESCUE)
    docker.remove_volume.assert_called_once_with('nova-rescue-u2')
