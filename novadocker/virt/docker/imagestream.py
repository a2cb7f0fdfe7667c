"""Image bytes in flight between Glance and the engine, checked as they pass.

Images move as iterators of byte chunks: never whole in memory, never through
a temporary file. Each stage checks one thing while the bytes pass and holds
back its last chunk until its final check has passed. Whoever consumes the
stream (the engine's ``docker load``, Glance's upload) therefore never gets
the end of a stream that failed a check: a failure aborts the transfer
half-way, and both ends discard a half-received upload.

Pure Python, no Docker and no Glance: tested on its own.
"""

import hashlib
import json
import posixpath
import queue
import tarfile
import threading
import time

from novadocker.virt.docker import layersize

MB = 10 ** 6
MANIFEST = 'manifest.json'
# manifest.json and tar extended headers are the only entries read whole; a
# docker-save manifest is a few kB even for hundreds of layers.
METADATA_LIMIT = 1 << 20
_BLOCK = tarfile.BLOCKSIZE
_ZERO_BLOCK = bytes(_BLOCK)
_EXTENDED = (tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME,
             tarfile.GNUTYPE_LONGLINK)


class StreamError(Exception):
    """A stream failed a check; the message is for the operator."""


class Truncated(StreamError):
    """The source failed or stopped early: trying again may work."""


class Corrupt(StreamError):
    """The bytes are not what they should be: trying again will not help."""


class Oversized(Corrupt):
    """The image unpacks to more than the room it is allowed."""

    def __init__(self, unpacked, limit):
        super().__init__('its layers unpack to at least %d bytes, more than '
                         'the %d allowed' % (unpacked, limit))
        self.unpacked = unpacked
        self.limit = limit


def _release_after(pieces, check):
    """Yield the non-empty ``pieces``, the last one only once check() passed.
    """
    held = None
    for piece in pieces:
        if not piece:
            continue
        if held is not None:
            yield held
        held = piece
    check()
    if held is not None:
        yield held


class Transfer:
    """Chunks from a source, counted, hashed and checked against what the
    sender recorded; a failing source becomes :class:`Truncated` (unless it
    raised a :class:`StreamError` of its own).

    ``report(transfer)`` is called every ``interval`` seconds while bytes
    flow, so long transfers show progress.
    """

    def __init__(self, chunks, size=None, algorithm=None, digest=None,
                 report=None, interval=10.0):
        self._chunks = chunks
        self.size = size
        # Integrity against corruption; authenticity is Glance's image
        # signature, so this hash may be one FIPS forbids for security.
        self._hasher = (hashlib.new(algorithm, usedforsecurity=False)
                        if algorithm else None)
        self._digest = digest
        self._report = report
        self._interval = interval
        self.done = 0
        self._started = None
        self._ended = None

    @property
    def elapsed(self):
        if self._started is None:
            return 0.0
        return (self._ended or time.monotonic()) - self._started

    @property
    def rate(self):
        """Throughput so far in MB/s."""
        return self.done / MB / self.elapsed if self.elapsed else 0.0

    def __iter__(self):
        return _release_after(self._received(), self._check)

    def _received(self):
        self._started = last_report = time.monotonic()
        chunks = iter(self._chunks)
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                break
            except StreamError:
                # A source's own check failing on data that ended early:
                # the early end is the cause, and trying again may help.
                self._check_size_reached()
                raise
            except Exception as e:
                raise Truncated('reading failed after %s: %s'
                                % (self._amount(), e)) from e
            self.done += len(chunk)
            if self._hasher:
                self._hasher.update(chunk)
            now = time.monotonic()
            if self._report and now - last_report >= self._interval:
                last_report = now
                self._report(self)
            yield chunk
        self._ended = time.monotonic()

    def _amount(self):
        if self.size:
            return '%d of %d bytes' % (self.done, self.size)
        return '%d bytes' % self.done

    def _check_size_reached(self):
        if self.size is not None and self.done < self.size:
            raise Truncated('the data ended after %s' % self._amount())

    def _check(self):
        self._check_size_reached()
        if self.size is not None and self.done > self.size:
            raise Corrupt('%d bytes received, more than the %d recorded'
                          % (self.done, self.size))
        if self._hasher:
            actual = self._hasher.hexdigest()
            if actual != self._digest.lower():
                raise Corrupt('%s checksum mismatch: the data hashes to %s, '
                              'the image service recorded %s'
                              % (self._hasher.name, actual, self._digest))


def _padded(size):
    return -(-size // _BLOCK) * _BLOCK


class DockerSaveTarball:
    """Chunks checked to be one complete ``docker save`` tarball of exactly
    one image.

    Only tar headers are parsed; entry contents pass untouched, except the
    small ones that must be read: manifest.json and the extended headers
    that may precede it. Those are held until complete, so that with
    ``strip_repo_tags`` manifest.json is rewritten without RepoTags: loading
    the tarball then moves none of the engine's tags, whatever names the
    uploader gave the image. After iteration, ``image`` is the manifest's
    entry for the image (Config, RepoTags, Layers).

    With ``max_unpacked`` (bytes), every other member is measured as a
    layer (see layersize: what the engine will write when it unpacks it;
    the manifest that says which members are layers comes last) and the
    stream fails with :class:`Oversized` as soon as they add up to more.
    A sparse member of the tarball itself, which no "docker save" writes,
    is refused: it would unpack to more than it holds before any layer is.
    """

    def __init__(self, chunks, strip_repo_tags=False, max_unpacked=None):
        self._chunks = chunks
        self._strip = strip_repo_tags
        self._max_unpacked = max_unpacked
        self.unpacked = 0       # bytes the layers measured so far unpack to
        self._layer = None      # LayerSize of the member passing, if any
        self._layer_left = 0    # its content still to come (no padding)
        self.image = None
        self._offset = 0        # input bytes parsed before the current chunk
        self._header = bytearray()
        self._remaining = 0     # data + padding of the current entry to come
        self._capture = None    # content of the entry being read whole
        self._entry = None      # (kind, TarInfo, size) of that entry
        self._held = []         # extended headers + manifest, until resolved
        self._pending = {}      # path/size that extended headers set
        self._ended = False

    def __iter__(self):
        return _release_after(map(self._feed, self._chunks),
                              self._check_complete)

    def _feed(self, chunk):
        """The output for one input chunk: the chunk itself in the common
        case of a chunk inside one entry's data."""
        view = memoryview(chunk)
        out = []
        pos = 0
        while pos < len(view):
            if self._ended:
                out.append(view[pos:])
                break
            if self._remaining:
                n = min(self._remaining, len(view) - pos)
                if self._capture is None:
                    out.append(view[pos:pos + n])
                    if self._layer is not None:
                        self._measure(view[pos:pos + n])
                else:
                    self._capture += view[pos:pos + n]
                pos += n
                self._remaining -= n
                if not self._remaining and self._capture is not None:
                    out.extend(self._captured())
                continue
            n = min(_BLOCK - len(self._header), len(view) - pos)
            self._header += view[pos:pos + n]
            pos += n
            if len(self._header) == _BLOCK:
                out.extend(self._on_header(bytes(self._header),
                                           self._offset + pos - _BLOCK))
                self._header.clear()
        self._offset += len(view)
        if (len(out) == 1 and isinstance(out[0], memoryview)
                and len(out[0]) == len(view)):
            return chunk
        return b''.join(out)

    def _measure(self, data):
        """Feed the passing member's content (not its padding) to its
        LayerSize; fail once the layers unpack to more than allowed."""
        data = data[:self._layer_left]
        self._layer_left -= len(data)
        try:
            self._layer.feed(data)
            if not self._layer_left:
                self._layer.finish()
        except layersize.Unmeasurable as e:
            raise Corrupt('cannot tell how much a layer unpacks to: %s' % e)
        unpacked = self.unpacked + self._layer.size
        if unpacked > self._max_unpacked:
            raise Oversized(unpacked, self._max_unpacked)
        if not self._layer_left:
            self.unpacked, self._layer = unpacked, None

    def _on_header(self, block, offset):
        """Output released by a complete header block at ``offset``."""
        if block == _ZERO_BLOCK:
            self._ended = True
            return self._release_held() + [block]
        try:
            info = tarfile.TarInfo.frombuf(block, 'utf-8', 'surrogateescape')
        except tarfile.HeaderError as e:
            raise Corrupt('not a docker-save tarball: no valid tar header at '
                          'byte %d (%s)' % (offset, e))
        if info.type in _EXTENDED:
            return self._start_capture('extended', info, info.size, block)
        name = self._pending.pop('path', info.name)
        size = self._pending.pop('size', info.size)
        sparse = self._pending.pop('sparse', False)
        self._pending.clear()
        if sparse or info.type == tarfile.GNUTYPE_SPARSE:
            raise Corrupt('not a docker-save tarball: %s is a sparse file'
                          % name)
        self._remaining = _padded(size)
        if info.type in tarfile.REGULAR_TYPES:
            if posixpath.normpath(name).lstrip('/') == MANIFEST:
                return self._start_capture('manifest', info, size, block)
            if self._max_unpacked is not None and size:
                self._layer = layersize.LayerSize(
                    enough=self._max_unpacked - self.unpacked)
                self._layer_left = size
        return self._release_held() + [block]

    def _start_capture(self, kind, info, size, block):
        held = sum(len(piece) for piece in self._held)
        if held + size > METADATA_LIMIT:
            raise Corrupt('not a docker-save tarball: %s of %d bytes at byte '
                          '%d' % (info.name, size, self._offset))
        self._remaining = _padded(size)
        self._entry = (kind, info, size)
        self._capture = bytearray()
        self._held += [block, self._capture]
        if not self._remaining:
            return self._captured()
        return []

    def _captured(self):
        """Output released once a captured entry is complete."""
        kind, info, size = self._entry
        content = bytes(self._capture[:size])
        self._capture = self._entry = None
        if kind == 'extended':
            self._pending.update(self._extended_header(info, content))
            return []
        replacement = self._manifest(content)
        if replacement is None:
            return self._release_held()
        # The extended headers before it are dropped with it: the rewritten
        # entry needs none (short name, small size).
        self._held = []
        info.size = len(replacement)
        padding = bytes(_padded(len(replacement)) - len(replacement))
        return [info.tobuf(tarfile.USTAR_FORMAT, 'utf-8', 'surrogateescape'),
                replacement, padding]

    def _extended_header(self, info, content):
        if info.type != tarfile.XHDTYPE:
            # GNU long name (L) or long link name (K, of no interest here).
            if info.type == tarfile.GNUTYPE_LONGLINK:
                return {}
            return {'path': content.rstrip(b'\0').decode(
                'utf-8', 'surrogateescape')}
        try:
            records = layersize.pax_records(content)
            found = {key: records[key] for key in ('path', 'size')
                     if key in records}
            if 'size' in found:
                found['size'] = int(found['size'])
            if layersize.sparse_records(records):
                found['sparse'] = True
            return found
        except ValueError as e:
            raise Corrupt('not a docker-save tarball: malformed pax header '
                          'before byte %d (%s)' % (self._offset, e))

    def _manifest(self, content):
        """Check the manifest; its rewritten content if tags are stripped."""
        try:
            manifest = json.loads(content)
        except ValueError as e:
            raise Corrupt('manifest.json is not JSON (%s): not a docker-save '
                          'tarball' % e)
        if not (isinstance(manifest, list)
                and all(isinstance(entry, dict) for entry in manifest)):
            raise Corrupt('manifest.json does not list images: not a '
                          'docker-save tarball')
        if len(manifest) != 1:
            names = [str(entry.get('RepoTags') or entry.get('Config'))
                     for entry in manifest]
            raise Corrupt('the tarball holds %d images (%s); a Glance image '
                          'must hold exactly one: "docker save" one image'
                          % (len(manifest), '; '.join(names)))
        image = manifest[0]
        if not isinstance(image.get('Config'), str):
            raise Corrupt('manifest.json names no image configuration')
        tags = image.get('RepoTags')
        if not (tags is None or isinstance(tags, list)
                and all(isinstance(tag, str) for tag in tags)):
            raise Corrupt('manifest.json has malformed RepoTags: %s' % tags)
        self.image = image
        if not self._strip:
            return None
        return json.dumps([dict(image, RepoTags=None)]).encode()

    def _release_held(self):
        held, self._held = self._held, []
        return held

    def _check_complete(self):
        if not self._ended:
            raise Corrupt('the tarball ends at byte %d without the tar '
                          'end-of-archive marker: incomplete' % self._offset)
        if self.image is None:
            raise Corrupt('no manifest.json: not a docker-save tarball')


class Prefetched:
    """Chunks a thread of their own pulls from ``chunks``, joined into
    pieces of at least ``piece_size`` bytes, at most ``depth`` pieces ahead
    of the consumer.

    The source side of a transfer (reading from one end, and the hashing
    and checks on the way) then works while the consumer writes earlier
    chunks to the other end, instead of the two taking turns; hashlib and
    socket I/O release the GIL, so on a machine with a spare core a check
    costs little time. Glance sends 64 KiB chunks: joined, the consumer
    (HTTP chunked encoding, the tar parser) handles 16 times fewer. A
    failure of the source reaches the consumer after the pieces completed
    before it; a consumer that stops early stops and closes the source
    before it goes on.
    """

    _CHUNK, _END, _FAILED = range(3)

    def __init__(self, chunks, depth=8, piece_size=1 << 20):
        self._chunks = chunks
        self._depth = depth
        self._piece_size = piece_size

    def __iter__(self):
        pipe = queue.Queue(self._depth)
        stop = threading.Event()
        producer = threading.Thread(target=self._produce, args=(pipe, stop),
                                    name='image-stream', daemon=True)
        producer.start()
        try:
            while True:
                kind, item = pipe.get()
                if kind == self._END:
                    return
                if kind == self._FAILED:
                    raise item
                yield item
        finally:
            stop.set()
            producer.join()

    def _produce(self, pipe, stop):
        def put(kind, item):
            """False once the consumer has stopped listening."""
            while not stop.is_set():
                try:
                    pipe.put((kind, item), timeout=0.1)
                    return True
                except queue.Full:
                    pass
            return False

        chunks = iter(self._chunks)
        try:
            batch, size = [], 0
            for chunk in chunks:
                batch.append(chunk)
                size += len(chunk)
                if size >= self._piece_size:
                    if not put(self._CHUNK, b''.join(batch)):
                        return
                    batch, size = [], 0
            if batch and not put(self._CHUNK, b''.join(batch)):
                return
            put(self._END, None)
        except Exception as e:
            put(self._FAILED, e)
        finally:
            close = getattr(chunks, 'close', None)
            if close is not None:
                close()


class ChunkReader:
    """A read()-able file over chunks, for consumers that want a file
    (glanceclient's upload reads one). Like a raw file, read(n) may return
    fewer than n bytes; only b'' means the end."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._chunk = b''
        self._pos = 0

    def read(self, size=-1):
        if size is None or size < 0:
            rest = [self._chunk[self._pos:]]
            rest.extend(self._chunks)
            self._chunk, self._pos = b'', 0
            return b''.join(rest)
        while self._pos >= len(self._chunk):
            self._chunk = next(self._chunks, None)
            self._pos = 0
            if self._chunk is None:
                self._chunk = b''
                return b''
        if self._pos == 0 and size >= len(self._chunk):
            self._pos = len(self._chunk)
            return self._chunk
        piece = self._chunk[self._pos:self._pos + size]
        self._pos += len(piece)
        return bytes(piece)
