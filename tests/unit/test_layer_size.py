"""Layers' unpacked sizes, read from tarballs GNU tar and Python make here:
sparse members (GNU, pax 0.1 and 1.0), compressed layers, and a docker-save
tarball that declares far more than it holds."""

import bz2
import gzip
import io
import lzma
import os
import subprocess
import tarfile

from oslo_utils import units
import pytest

from novadocker.virt.docker import imagestream
from novadocker.virt.docker import layersize
from tests.unit import test_images_stream as stream_tests

SPARSE_FORMATS = {
    'gnu': ['--format=gnu'],
    'pax-0.1': ['--format=posix', '--sparse-version=0.1'],
    'pax-1.0': ['--format=posix', '--sparse-version=1.0'],
}
CHUNK_SIZES = (1, 511, 4096, 1 << 20)


def sparse_layer(tmp_path, tar_options, size=20 * units.Gi, data_at=(0,)):
    """A layer made by GNU tar --sparse holding one file of ``size`` bytes,
    a few KiB of data at each offset of ``data_at``, holes elsewhere (on
    disk too: nothing of it is written here)."""
    root = tmp_path / 'root'
    root.mkdir()
    path = root / 'big'
    with open(path, 'wb') as f:
        for offset in data_at:
            f.seek(offset)
            f.write(b'data' * 1024)
        f.truncate(size)
    subprocess.run(['tar', '--sparse', '-cf', str(tmp_path / 'layer.tar'),
                    '-C', str(root), 'big'] + tar_options, check=True)
    return (tmp_path / 'layer.tar').read_bytes()


def plain_layer(files):
    """A layer of regular files {name: bytes}, a directory and a link."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w', format=tarfile.PAX_FORMAT) as tar:
        directory = tarfile.TarInfo('etc')
        directory.type = tarfile.DIRTYPE
        tar.addfile(directory)
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        link = tarfile.TarInfo('etc/link')
        link.type, link.linkname = tarfile.SYMTYPE, '/' + 'x' * 200
        tar.addfile(link)
    return out.getvalue()


def measure(data, chunk_size=4096):
    layer = layersize.LayerSize()
    for piece in stream_tests.chunked(data, chunk_size):
        layer.feed(piece)
    layer.finish()
    return layer.size


@pytest.mark.parametrize('fmt', sorted(SPARSE_FORMATS))
def test_a_sparse_member_counts_its_declared_size(tmp_path, fmt):
    data = sparse_layer(tmp_path, SPARSE_FORMATS[fmt])
    assert len(data) < 64 * units.Ki
    assert measure(data) == 20 * units.Gi


@pytest.mark.parametrize('fmt', sorted(SPARSE_FORMATS))
def test_a_sparse_map_of_many_pieces_is_passed(tmp_path, fmt):
    """GNU tar's old format puts a map of more than 4 pieces in extension
    blocks after the header; pax 1.0 in the data."""
    offsets = [i * 10 * units.Mi for i in range(40)]
    data = sparse_layer(tmp_path, SPARSE_FORMATS[fmt], size=units.Gi,
                        data_at=offsets)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.getmember('big').size == units.Gi
    assert measure(data) == units.Gi


def test_members_after_a_sparse_one_are_counted(tmp_path):
    sparse = sparse_layer(tmp_path, SPARSE_FORMATS['gnu'], size=units.Gi,
                          data_at=[i * units.Mi for i in range(10)])
    # Concatenated: the second archive's members follow the first's
    # (without its end-of-archive blocks).
    with tarfile.open(fileobj=io.BytesIO(sparse)) as tar:
        end = tar.offset
    both = sparse[:end] + plain_layer({'etc/after': b'a' * 3000})
    assert measure(both) == units.Gi + 3000


@pytest.mark.parametrize('size', CHUNK_SIZES)
def test_regular_members_count_their_sizes(size):
    files = {'etc/a': b'a' * 1000, 'etc/' + 'long' * 40: b'b' * 70000,
             'empty': b''}
    assert measure(plain_layer(files), size) == 71000


@pytest.mark.parametrize('compress', [gzip.compress, bz2.compress,
                                      lzma.compress],
                         ids=['gzip', 'bzip2', 'xz'])
@pytest.mark.parametrize('size', CHUNK_SIZES)
def test_compressed_layers_count_what_they_unpack_to(compress, size):
    # 8 MiB of zeros compress to a few kB.
    layer = plain_layer({'zeros': bytes(8 * units.Mi), 'a': b'a' * 10})
    data = compress(layer)
    assert len(data) < 64 * units.Ki
    assert measure(data, size) == 8 * units.Mi + 10


def test_a_zstd_layer_is_unmeasurable():
    with pytest.raises(layersize.Unmeasurable, match='zstd'):
        measure(b'\x28\xb5\x2f\xfd' + bytes(100))


def test_a_broken_compressed_layer_is_unmeasurable():
    with pytest.raises(layersize.Unmeasurable, match='does not decompress'):
        measure(b'\x1f\x8b' + os.urandom(2000))


def test_what_is_not_a_tar_counts_its_bytes():
    assert measure(b'{"architecture": "amd64"}') == 25
    assert measure(b'x' * 5000) == 5000


def docker_save_with_layer(layer):
    return stream_tests.docker_save(layer=layer)


def test_a_tarball_within_the_limit_passes_unchanged(tmp_path):
    layer = sparse_layer(tmp_path, SPARSE_FORMATS['gnu'], size=units.Gi)
    data = docker_save_with_layer(layer)
    tarball = imagestream.DockerSaveTarball(
        stream_tests.chunked(data, 4096), max_unpacked=2 * units.Gi)
    got, error = stream_tests.consume(tarball)
    assert error is None and got == data
    # The layer, and the small config and VERSION files beside it.
    assert units.Gi < tarball.unpacked < units.Gi + 100


@pytest.mark.parametrize('fmt', sorted(SPARSE_FORMATS))
@pytest.mark.parametrize('size', CHUNK_SIZES)
def test_a_tarball_declaring_more_than_the_limit_stops_at_that_layer(
        tmp_path, fmt, size):
    """The 2 MB tarball of issue #18, with a 20 GiB sparse file: refused as
    its layer passes, before its end reaches the engine."""
    layer = sparse_layer(tmp_path, SPARSE_FORMATS[fmt],
                         data_at=[i * units.Gi for i in range(16)])
    data = docker_save_with_layer(layer + bytes(2 * units.Mi))
    assert 2 * units.Mi < len(data) < 3 * units.Mi
    got, error = stream_tests.consume(imagestream.DockerSaveTarball(
        stream_tests.chunked(data, size), max_unpacked=units.Gi))
    assert isinstance(error, imagestream.Oversized)
    # The layer and the VERSION file before it.
    assert (error.unpacked, error.limit) == (20 * units.Gi + 3, units.Gi)
    assert len(got) < 100 * units.Ki


def test_without_a_limit_nothing_is_measured(tmp_path):
    layer = sparse_layer(tmp_path, SPARSE_FORMATS['gnu'])
    data = docker_save_with_layer(layer)
    tarball = imagestream.DockerSaveTarball(stream_tests.chunked(data, 4096))
    assert stream_tests.consume(tarball) == (data, None)
    assert tarball.unpacked == 0


def test_a_sparse_member_of_the_tarball_itself_is_refused(tmp_path):
    """docker save never writes one; the engine would unpack it to its
    declared size before reading any layer."""
    outer = sparse_layer(tmp_path, SPARSE_FORMATS['pax-1.0'], size=units.Gi)
    got, error = stream_tests.consume(imagestream.DockerSaveTarball(
        stream_tests.chunked(outer, 4096)))
    assert isinstance(error, imagestream.Corrupt)
    assert 'big is a sparse file' in str(error)


def test_an_unmeasurable_layer_is_corrupt():
    data = docker_save_with_layer(b'\x28\xb5\x2f\xfd' + bytes(100))
    got, error = stream_tests.consume(imagestream.DockerSaveTarball(
        stream_tests.chunked(data, 4096), max_unpacked=units.Gi))
    assert isinstance(error, imagestream.Corrupt)
    assert 'cannot tell how much a layer unpacks to: a zstd' in str(error)


def test_a_compression_bomb_is_decompressed_only_past_the_limit():
    """64 MiB of zeros in 64 kB of gzip: with enough at 1 MiB, no more
    than a step is decompressed once the header declares the file."""
    bomb = gzip.compress(plain_layer({'zeros': bytes(64 * units.Mi)}),
                         compresslevel=1)
    assert len(bomb) < units.Mi
    layer = layersize.LayerSize(enough=units.Mi)
    decompressed = []
    feed = layer._tar.feed
    layer._tar.feed = lambda data: decompressed.append(len(data)) or feed(
        data)
    layer.feed(bomb)
    assert layer.size >= 64 * units.Mi
    assert sum(decompressed) <= 2 * units.Mi
