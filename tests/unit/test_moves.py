"""What a move refuses before it changes anything."""

from unittest import mock

from nova import exception
from nova import objects
import pytest

from novadocker.virt.docker import moves
from tests.unit import factories

GB = 1024 ** 3


def flavor(root_gb):
    return objects.Flavor(name='r%d' % root_gb, memory_mb=64, vcpus=1,
                          root_gb=root_gb, ephemeral_gb=0, swap=0,
                          extra_specs={})


def engine_with_written(size_rw):
    docker_client = mock.Mock()
    docker_client.api.containers.return_value = [{'SizeRw': size_rw}]
    return docker_client


@pytest.mark.parametrize('written, root_gb', [
    (0, 1), (GB - 1, 1), (GB, 1), (5 * GB, 0)])
def test_a_flavor_whose_root_disk_holds_what_was_written_is_taken(
        written, root_gb):
    moves.check_root_disk_fits(engine_with_written(written),
                               factories.instance(), flavor(root_gb))


def test_a_flavor_too_small_for_what_was_written_is_refused_with_sizes():
    with pytest.raises(exception.InstanceFaultRollback) as e:
        moves.check_root_disk_fits(engine_with_written(3 * GB + GB // 2),
                                   factories.instance(), flavor(2))
    inner = e.value.inner_exception
    assert isinstance(inner, exception.ResizeError)
    assert '3.5 GB' in str(inner) and '2 GB root disk of flavor r2' in str(
        inner)


@pytest.mark.parametrize('tags, removed', [
    ([], True), (None, True), (['novadocker-glance:1234'], False)])
def test_only_untagged_layers_are_removed_with_their_container(tags, removed):
    docker_client = mock.Mock()
    docker_client.inspect_image.return_value = {'RepoTags': tags}
    moves.remove_carried_layers(docker_client, 'sha256:ab',
                                factories.instance())
    assert docker_client.remove_unused_image.called == removed


@pytest.fixture
def image_service(monkeypatch):
    """moves.py's Glance, as a mock; images are never really sent."""
    api = mock.Mock()
    api.create.return_value = {'id': 'the-copy'}
    monkeypatch.setattr(moves.glance, 'API', lambda: api)
    monkeypatch.setattr(moves.images, 'upload', mock.Mock())
    monkeypatch.setattr(moves.images, 'commit', mock.Mock())
    return api


@pytest.mark.parametrize('mover, owner', [
    ('project-a', None), ('admin-project', 'project-a')])
def test_the_copy_in_glance_belongs_to_the_servers_project(
        image_service, mover, owner):
    moves.carry_out(mock.Mock(), mock.Mock(project_id=mover),
                    factories.instance(), same_host=False)
    [created] = image_service.create.call_args_list
    _context, metadata = created.args
    assert metadata.get('owner') == owner
    assert metadata['os_hidden'] is True


def test_only_the_instances_own_copies_are_deleted(image_service):
    instance = factories.instance()
    image_service.get_all.return_value = [
        {'id': 'its-copy', 'properties': {
            moves.MOVED_PROPERTY: instance.uuid}},
        {'id': 'another-servers', 'properties': {
            moves.MOVED_PROPERTY: 'another-uuid'}},
        {'id': 'an-image', 'properties': {}}]
    moves.delete_transfers(mock.Mock(), instance)
    deleted = [call.args[1] for call in image_service.delete.call_args_list]
    assert deleted == ['its-copy']


def test_glance_down_does_not_fail_the_deletion(image_service):
    image_service.get_all.side_effect = ConnectionError('refused')
    moves.delete_transfers(mock.Mock(), factories.instance())
    assert not image_service.delete.called


@pytest.mark.parametrize('found, kept', [
    (exception.InstanceNotFound(instance_id='x'), False),
    ({'vm_state': 'error', 'task_state': None}, False),
    ({'vm_state': 'active', 'task_state': None}, False),
    ({'vm_state': 'resized', 'task_state': None}, True),
    ({'vm_state': 'active', 'task_state': 'resize_finish'}, True),
    ({'vm_state': 'error', 'task_state': 'rebooting_hard'}, True)])
def test_a_moved_image_stays_while_a_revert_may_come(
        monkeypatch, found, kept):
    def get_by_uuid(context, uuid, expected_attrs):
        assert uuid == 'ab-cd'
        if isinstance(found, Exception):
            raise found
        return mock.Mock(**found)
    monkeypatch.setattr(moves.objects.Instance, 'get_by_uuid', get_by_uuid)
    docker_client = mock.Mock()
    docker_client.api.images.return_value = [
        {'RepoTags': ['novadocker-moved:ab-cd']}]
    moves.drop_unneeded(docker_client, mock.Mock())
    assert docker_client.api.remove_image.called != kept
