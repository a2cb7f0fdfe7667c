"""How much an image layer unpacks to, counted from its bytes as they pass.

A docker-save tarball can be small and still make the engine write far more
than it holds: each layer is a tar archive of its own, whose members may be
sparse (a header declaring 20 GiB over a few bytes of data) or compressed
(``docker load`` takes gzip, bzip2 and xz layers too). The engine writes
every byte a member declares before any container exists, so the size has to
be known from the layer's headers while they stream past: this module reads
only those, holding one header block and never a member's content.
"""

import bz2
import lzma
import tarfile
import zlib

_BLOCK = tarfile.BLOCKSIZE
_ZERO_BLOCK = bytes(_BLOCK)
# Pax records and GNU long names are read whole; Go's archive/tar (the
# engine's reader) refuses larger ones too.
EXTENDED_LIMIT = 1 << 20
# At most this much decompressed data per step, whatever the ratio.
_STEP = 1 << 20
# Where a GNU sparse extension block says whether another follows.
_GNU_SPARSE_EXTENDED_AT = 504
_CONTENT_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE,
                  tarfile.GNUTYPE_SPARSE)
# (magic, decompressor factory) of the compressions the engine unpacks.
_COMPRESSIONS = (
    (b'\x1f\x8b', lambda: zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)),
    (b'BZh', bz2.BZ2Decompressor),
    (b'\xfd7zXZ\x00', lzma.LZMADecompressor),
)
_ZSTD_MAGIC = b'\x28\xb5\x2f\xfd'
_MAGIC_BYTES = max(len(magic) for magic, _ in _COMPRESSIONS)


class Unmeasurable(ValueError):
    """The layer's unpacked size cannot be known from its stream."""


def _sparse_real_size(records):
    """The real size a pax-format sparse member declares (GNU sparse 1.0:
    GNU.sparse.realsize; 0.0 and 0.1: GNU.sparse.size), or None."""
    value = records.get('GNU.sparse.realsize', records.get('GNU.sparse.size'))
    return None if value is None else int(value)


def pax_records(data):
    """The records of a pax extended header: b"<len> <key>=<value>\\n"..."""
    records = {}
    pos = 0
    while pos < len(data) and data[pos]:
        space = data.index(b' ', pos)
        length = int(data[pos:space])
        key, _, value = bytes(data[space + 1:pos + length - 1]).partition(
            b'=')
        records[key.decode()] = value.decode('utf-8', 'surrogateescape')
        pos += length
    return records


def sparse_records(records):
    """Whether pax records describe a sparse member."""
    return any(key.startswith('GNU.sparse.') for key in records)


class _TarSizes:
    """The sum of the sizes a tar stream's members declare, fed in pieces.

    Content is skipped, not read; a stream that is not a tar archive (or
    stops being one) counts every byte it holds from there, as the engine
    would store it whole if it stored it at all.
    """

    def __init__(self):
        self.declared = 0
        self._opaque = 0
        self._header = bytearray()
        self._skip = 0              # content + padding still to pass
        self._extended = None       # content of a pax/long-name entry
        self._extended_left = 0
        self._extended_is_pax = False
        self._pax = {}              # records for the next member
        self._sparse_blocks = False  # GNU sparse extension blocks follow
        self._after_sparse_blocks = 0  # the skip once they have passed
        self._state = 'header'      # 'header', 'opaque' or 'ended'

    @property
    def size(self):
        return self.declared + self._opaque

    def feed(self, data):
        view = memoryview(data)
        pos = 0
        while pos < len(view):
            if self._state == 'ended':
                return
            if self._state == 'opaque':
                self._opaque += len(view) - pos
                return
            if self._skip:
                n = min(self._skip, len(view) - pos)
                if self._extended is not None and self._extended_left:
                    take = min(n, self._extended_left)
                    self._extended += view[pos:pos + take]
                    self._extended_left -= take
                pos += n
                self._skip -= n
                if not self._skip and self._extended is not None:
                    self._end_extended()
                continue
            n = min(_BLOCK - len(self._header), len(view) - pos)
            self._header += view[pos:pos + n]
            pos += n
            if len(self._header) == _BLOCK:
                block = bytes(self._header)
                self._header.clear()
                self._on_block(block)

    def _on_block(self, block):
        if self._sparse_blocks:
            self._sparse_blocks = bool(block[_GNU_SPARSE_EXTENDED_AT])
            if not self._sparse_blocks:
                self._skip = self._after_sparse_blocks
            return
        if block == _ZERO_BLOCK:
            self._state = 'ended'
            return
        try:
            info = tarfile.TarInfo.frombuf(block, 'utf-8', 'surrogateescape')
        except tarfile.HeaderError:
            # Not (or no longer) a tar archive: its bytes are what counts.
            self._state = 'opaque'
            self._opaque += _BLOCK
            return
        if info.type in (tarfile.XHDTYPE, tarfile.XGLTYPE,
                         tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK):
            if info.size > EXTENDED_LIMIT:
                raise Unmeasurable('a tar extended header of %d bytes'
                                   % info.size)
            self._extended = bytearray()
            self._extended_left = info.size
            self._extended_is_pax = info.type == tarfile.XHDTYPE
            self._skip = _padded(info.size)
            if not self._skip:
                self._end_extended()
            return
        records, self._pax = self._pax, {}
        try:
            stored = int(records.get('size', info.size))
            real = _sparse_real_size(records)
        except ValueError as e:
            raise Unmeasurable('a malformed pax size (%s)' % e)
        if info.type == tarfile.GNUTYPE_SPARSE:
            # (map, whether extension blocks follow, real size)
            _map, self._sparse_blocks, real = info._sparse_structs
            self._after_sparse_blocks = _padded(stored)
        if info.type in _CONTENT_TYPES:
            self.declared += max(stored, real or 0)
        if not self._sparse_blocks:
            self._skip = _padded(stored)

    def finish(self):
        """Count a last piece too short to be a header: not a tar."""
        if self._state == 'header':
            self._opaque += len(self._header)
            self._header.clear()

    def _end_extended(self):
        content, self._extended = bytes(self._extended), None
        if self._extended_is_pax:
            try:
                self._pax.update(pax_records(content))
            except ValueError as e:
                raise Unmeasurable('a malformed pax header (%s)' % e)


def _padded(size):
    return -(-size // _BLOCK) * _BLOCK


class LayerSize:
    """The unpacked size of one layer (``size``), fed its bytes in pieces:
    compressed or not, as the engine would unpack it. Once it is past
    ``enough`` bytes, nothing more is decompressed: the caller has its
    answer."""

    def __init__(self, enough=None):
        self._enough = enough
        self._tar = _TarSizes()
        self._start = bytearray()
        self._decompressor = None
        self._plain = False

    @property
    def size(self):
        return self._tar.size

    def feed(self, data):
        if not (self._plain or self._decompressor):
            self._start += data
            if len(self._start) < _MAGIC_BYTES:
                return
            data, self._start = bytes(self._start), None
            self._choose(data)
        if self._plain:
            self._tar.feed(data)
            return
        self._decompress(data)

    def _choose(self, start):
        if start.startswith(_ZSTD_MAGIC):
            raise Unmeasurable('a zstd-compressed layer: "docker save" '
                               'writes uncompressed ones')
        for magic, factory in _COMPRESSIONS:
            if start.startswith(magic):
                self._decompressor = factory()
                return
        self._plain = True

    def _decompress(self, data):
        """Decompress in steps of at most _STEP bytes of output: a small
        input that unpacks hugely never sits whole in memory."""
        decompressor = self._decompressor
        if decompressor.eof:
            # What follows the compressed stream is not unpacked.
            return
        try:
            if hasattr(decompressor, 'unconsumed_tail'):
                while data and not self._past_enough():
                    self._tar.feed(decompressor.decompress(data, _STEP))
                    data = decompressor.unconsumed_tail
                return
            output = decompressor.decompress(data, _STEP)
            while True:
                self._tar.feed(output)
                if (decompressor.eof or decompressor.needs_input or
                        self._past_enough()):
                    return
                output = decompressor.decompress(b'', _STEP)
        except (zlib.error, OSError, EOFError, lzma.LZMAError) as e:
            raise Unmeasurable('a compressed layer that does not '
                               'decompress (%s)' % e)

    def _past_enough(self):
        return self._enough is not None and self.size > self._enough

    def finish(self):
        """At the layer's end: count what could not be parsed yet."""
        if self._start:
            start, self._start = bytes(self._start), None
            self._plain = True
            self._tar.feed(start)
        self._tar.finish()
