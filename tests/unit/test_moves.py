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
