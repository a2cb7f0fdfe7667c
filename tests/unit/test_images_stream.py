"""The in-flight checks of image streams, on tarballs made here."""

import hashlib
import io
import json
import tarfile
import threading

import pytest

from novadocker.virt.docker import imagestream

CONFIG = 'f066ffab63e2f4baecb5f722778bb2081373ed40b24cca4c25ef4efef011d8ef'
LAYER_DIR = 'b766a5f8bdad681268ad5d92c331c4781f57dc915b375fbb51184716ece2afaf'
CHUNK_SIZES = (1, 100, 511, 512, 513, 4096, 1 << 20)


def manifest_entry(tags=('busybox:latest',), config=CONFIG):
    return {'Config': config + '.json', 'RepoTags': list(tags),
            'Layers': [LAYER_DIR + '/layer.tar']}


def docker_save(manifest=None, fmt=tarfile.USTAR_FORMAT, pax=None,
                extra=(), layer=b'layer bytes ' * 1000):
    """A tarball laid out as docker 20.10's ``docker save`` writes it."""
    if manifest is None:
        manifest = [manifest_entry()]
    files = [(LAYER_DIR + '/VERSION', b'1.0'),
             (LAYER_DIR + '/layer.tar', layer),
             (CONFIG + '.json', b'{"architecture": "amd64"}')]
    files += list(extra)
    if manifest is not False:
        files.append(('manifest.json', json.dumps(manifest).encode()))
    files.append(('repositories', b'{"busybox": {"latest": "b766"}}'))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w', format=fmt) as tar:
        for name, content in files:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = 1700000000
            info.pax_headers = (pax or {}).get(name, {})
            tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


def chunked(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)]


def members(data):
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}


def consume(stream):
    """(bytes the consumer got, exception raised or None)."""
    got = []
    try:
        for piece in stream:
            got.append(bytes(piece))
    except imagestream.StreamError as e:
        return b''.join(got), e
    return b''.join(got), None


@pytest.mark.parametrize('size', CHUNK_SIZES)
@pytest.mark.parametrize('fmt', [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT,
                                 tarfile.PAX_FORMAT])
def test_tarball_passes_unchanged_and_names_its_image(fmt, size):
    data = docker_save(fmt=fmt, pax={'manifest.json': {'comment': 'x'}}
                       if fmt == tarfile.PAX_FORMAT else None,
                       extra=[('d' * 120 + '/long-named-file', b'x' * 700)])
    tarball = imagestream.DockerSaveTarball(chunked(data, size))
    got, error = consume(tarball)
    assert error is None
    assert got == data
    assert tarball.image == manifest_entry()


@pytest.mark.parametrize('size', CHUNK_SIZES)
@pytest.mark.parametrize('fmt', [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT,
                                 tarfile.PAX_FORMAT])
def test_stripping_rewrites_only_the_manifest_tags(fmt, size):
    data = docker_save(fmt=fmt, pax={'manifest.json': {'comment': 'x' * 300}}
                       if fmt == tarfile.PAX_FORMAT else None,
                       extra=[('d' * 120 + '/long-named-file', b'x' * 700)])
    tarball = imagestream.DockerSaveTarball(chunked(data, size),
                                            strip_repo_tags=True)
    got, error = consume(tarball)
    assert error is None
    before, after = members(data), members(got)
    assert json.loads(after.pop('manifest.json')) == [
        dict(manifest_entry(), RepoTags=None)]
    del before['manifest.json']
    assert after == before
    assert tarball.image['RepoTags'] == ['busybox:latest']


def test_a_manifest_outside_the_root_is_not_the_manifest():
    data = docker_save(manifest=False, extra=[
        ('x' * 110 + '/manifest.json', json.dumps([manifest_entry()]).encode())
    ], fmt=tarfile.PAX_FORMAT)
    got, error = consume(imagestream.DockerSaveTarball([data]))
    assert isinstance(error, imagestream.Corrupt)
    assert 'no manifest.json' in str(error)


@pytest.mark.parametrize('data, message', [
    (b'this is not a tarball\n' * 100, 'no valid tar header at byte 0'),
    (b'', 'without the tar end-of-archive marker'),
    (docker_save(manifest=False), 'no manifest.json'),
    (docker_save(manifest=[manifest_entry(('a:1',)),
                           manifest_entry(('b:2',), config='c' * 64)]),
     "holds 2 images (['a:1']; ['b:2'])"),
    (docker_save(manifest=[]), 'holds 0 images'),
    (docker_save(manifest={'Config': 'x'}), 'does not list images'),
    (docker_save(manifest=[{'RepoTags': ['a:1']}]), 'names no image config'),
    (docker_save(manifest=[dict(manifest_entry(), RepoTags=[5])]),
     'malformed RepoTags'),
    (docker_save(extra=[('x', b'x')], pax={'x': {'size': 'one'}},
                 fmt=tarfile.PAX_FORMAT),
     'malformed pax header'),
], ids=['not-a-tar', 'empty', 'no-manifest', 'two-images', 'no-images',
        'manifest-not-a-list', 'no-config', 'bad-tags', 'bad-pax'])
def test_bad_tarballs_are_refused(data, message):
    got, error = consume(imagestream.DockerSaveTarball(chunked(data, 4096)
                                                       or [data]))
    assert isinstance(error, imagestream.Corrupt)
    assert message in str(error)
    assert len(got) < max(len(data), 1)


def test_a_manifest_that_is_not_json_is_refused():
    broken = docker_save()
    # Same length, broken JSON: swap the manifest's first byte.
    start = broken.index(b'[{"Config"')
    broken = broken[:start] + b'{' + broken[start + 1:]
    got, error = consume(imagestream.DockerSaveTarball([broken]))
    assert isinstance(error, imagestream.Corrupt)
    assert 'manifest.json is not JSON' in str(error)


@pytest.mark.parametrize('cut', [0.5, 'entry-boundary', 'before-marker'])
def test_a_truncated_tarball_is_refused_before_its_end_is_released(cut):
    data = docker_save()
    if cut == 'entry-boundary':
        end = data.index(b'repositories')  # in the last entry's header
        end -= end % 512
    elif cut == 'before-marker':
        end = len(data.rstrip(b'\0'))
        end += -end % 512
    else:
        end = int(len(data) * cut)
    got, error = consume(imagestream.DockerSaveTarball(chunked(data[:end],
                                                               1000)))
    assert isinstance(error, imagestream.Corrupt)
    assert 'without the tar end-of-archive marker' in str(error)
    assert len(got) < end


def test_an_oversized_manifest_is_refused():
    data = docker_save(manifest=[dict(manifest_entry(),
                                      Padding='x' * (1 << 20))])
    got, error = consume(imagestream.DockerSaveTarball(chunked(data, 65536)))
    assert isinstance(error, imagestream.Corrupt)
    assert 'manifest.json of' in str(error)


def sha512(data):
    return hashlib.sha512(data).hexdigest()


@pytest.mark.parametrize('algorithm', ['sha512', 'md5'])
def test_transfer_passes_data_matching_its_record(algorithm):
    data = b'x' * 100000
    transfer = imagestream.Transfer(
        chunked(data, 4096), size=len(data), algorithm=algorithm,
        digest=hashlib.new(algorithm, data).hexdigest().upper())
    got, error = consume(transfer)
    assert (got, error) == (data, None)
    assert transfer.done == len(data)


def test_transfer_holds_back_the_last_chunk_of_a_mismatch():
    data = b'x' * 100000
    transfer = imagestream.Transfer(chunked(data, 4096), size=len(data),
                                    algorithm='sha512',
                                    digest=sha512(b'other'))
    got, error = consume(transfer)
    assert isinstance(error, imagestream.Corrupt)
    assert 'sha512 checksum mismatch' in str(error)
    assert got == data[:len(data) - len(data) % 4096]


def test_transfer_short_of_its_size_is_truncated():
    transfer = imagestream.Transfer([b'x' * 10], size=20)
    got, error = consume(transfer)
    assert isinstance(error, imagestream.Truncated)
    assert 'ended after 10 of 20 bytes' in str(error)
    assert got == b''


def test_transfer_beyond_its_size_is_corrupt():
    got, error = consume(imagestream.Transfer([b'x' * 30], size=20))
    assert isinstance(error, imagestream.Corrupt)
    assert '30 bytes received, more than the 20 recorded' in str(error)


def test_a_failing_source_becomes_truncated():
    def source():
        yield b'x' * 10
        raise IOError('connection reset')
    got, error = consume(imagestream.Transfer(source()))
    assert isinstance(error, imagestream.Truncated)
    assert 'after 10 bytes: connection reset' in str(error)
    assert got == b''


def test_transfer_reports_progress():
    reports = []
    transfer = imagestream.Transfer(
        [b'x'] * 5, report=lambda t: reports.append(t.done), interval=0)
    consume(transfer)
    assert reports == [1, 2, 3, 4, 5]
    assert transfer.elapsed > 0
    assert transfer.rate > 0


def test_stages_compose_and_the_first_failure_wins():
    data = docker_save()
    transfer = imagestream.Transfer(chunked(data, 1000), size=len(data),
                                    algorithm='sha512', digest=sha512(b''))
    got, error = consume(imagestream.DockerSaveTarball(transfer))
    assert isinstance(error, imagestream.Corrupt)
    assert 'checksum mismatch' in str(error)
    assert len(got) < len(data)


def test_chunk_reader_reads_like_a_raw_file():
    reader = imagestream.ChunkReader([b'abc', b'', b'defgh', b'ij'])
    assert reader.read(2) == b'ab'
    assert reader.read(10) == b'c'
    assert reader.read(10) == b'defgh'
    assert reader.read() == b'ij'
    assert reader.read(1) == b''
    assert reader.read() == b''


def test_chunk_reader_read_all_keeps_the_partial_chunk():
    reader = imagestream.ChunkReader([b'abc', b'def'])
    assert reader.read(1) == b'a'
    assert reader.read() == b'bcdef'


def test_prefetched_chunks_arrive_in_order_and_complete():
    data = docker_save()
    source = imagestream.DockerSaveTarball(chunked(data, 100))
    assert consume(imagestream.Prefetched(source, depth=2)) == (data, None)


def test_prefetched_source_failure_reaches_the_consumer_in_place():
    data = docker_save()
    got, error = consume(imagestream.Prefetched(imagestream.Transfer(
        chunked(data, 100), algorithm='sha512', digest=sha512(b'other')),
        piece_size=100))
    assert isinstance(error, imagestream.Corrupt)
    assert 'checksum mismatch' in str(error)
    assert got == b''.join(chunked(data, 100)[:-1])


def test_prefetched_chunks_are_joined_into_pieces():
    pieces = list(imagestream.Prefetched([b'x' * 10] * 5, piece_size=25))
    assert [len(piece) for piece in pieces] == [30, 20]


def test_prefetched_consumer_that_stops_closes_the_source():
    closed = threading.Event()
    pulled = []

    def endless():
        try:
            while True:
                pulled.append(1)
                yield b'x'
        finally:
            closed.set()
    stream = iter(imagestream.Prefetched(endless(), depth=3, piece_size=1))
    assert next(stream) == b'x'
    stream.close()
    # close() returns once the source is closed: it is read no further.
    assert closed.is_set()
    assert len(pulled) <= 1 + 3 + 1
    assert not [t for t in threading.enumerate()
                if t.name == 'image-stream']
