# cython: language_level=3
"""Hot paths of the v1 content format: NAL scanning, packet framing, leaves, trees.

Private: ``bwc_core.content`` is the public API. The pure-Python reference in
``bwc_core._content_ref`` defines the same bytes; tests hold the two equal.
Payloads are read through the buffer protocol and hashed in place: when a
packet needs re-framing (Annex B, dropped NAL units, ADTS header) the kept
slices are fed to BLAKE3 one by one instead of being copied into a new buffer.
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, realloc
from libc.string cimport memchr, memcpy

from blake3 import blake3

from .errors import CorruptMediaError, TypeError as BwcTypeError, UnsupportedCodecError

PT = "bwc-core v1 packet tree"

_CODECS = {"h264": CODEC_H264, "hevc": CODEC_HEVC, "aac": CODEC_AAC}
_RAW = frozenset({"opus", "mp3", "mjpeg", "data"})


def codec_id(str codec):
    """Map a codec name to its framing rule; raises UnsupportedCodecError."""
    if codec in _CODECS:
        return _CODECS[codec]
    if codec.startswith("pcm_") or codec in _RAW:
        return CODEC_RAW
    raise UnsupportedCodecError(f"codec {codec!r} is not supported")


cdef inline void _put_le(uint8_t* out, uint64_t value, int size) noexcept nogil:
    cdef int i
    for i in range(size):
        out[i] = <uint8_t>(value >> (8 * i))


cdef inline bytes _be32(Py_ssize_t value):
    cdef uint8_t b[4]
    b[0] = <uint8_t>(value >> 24)
    b[1] = <uint8_t>(value >> 16)
    b[2] = <uint8_t>(value >> 8)
    b[3] = <uint8_t>value
    return PyBytes_FromStringAndSize(<char*>b, 4)


cdef inline bytes _leaf_header(uint32_t stream, uint32_t flags, uint64_t size):
    # 0x00 || "<IIQ"(stream, flags, canonical length)
    cdef uint8_t b[17]
    b[0] = 0
    _put_le(b + 1, stream, 4)
    _put_le(b + 5, flags, 4)
    _put_le(b + 9, size, 8)
    return PyBytes_FromStringAndSize(<char*>b, 17)


@cython.boundscheck(False)
@cython.wraparound(False)
cdef inline Py_ssize_t _find_start_code(const uint8_t* p, Py_ssize_t n, Py_ssize_t start) noexcept nogil:
    """Index of the next 00 00 01 at or after *start*, or -1 (bytes.find semantics)."""
    cdef Py_ssize_t j = start + 2
    cdef const uint8_t* q
    while j < n:
        q = <const uint8_t*>memchr(p + j, 1, <size_t>(n - j))
        if q == NULL:
            return -1
        j = q - p
        if p[j - 1] == 0 and p[j - 2] == 0:
            return j - 2
        j += 1
    return -1


cdef class Framer:
    """Canonical framing and leaf hashing for one stream.

    Also collects the stream's in-band parameter sets (H.264 SPS/PPS, HEVC
    VPS/SPS/PPS) and the AudioSpecificConfig of the first ADTS header seen,
    for the codec configuration digest.
    """

    def __cinit__(self, str codec, bytes extradata=b"", *, template=None):
        self.codec = codec_id(codec)
        self.length_size = 0
        if self.codec in (CODEC_H264, CODEC_HEVC) and extradata and extradata[0] == 1:
            if self.codec == CODEC_H264:
                if len(extradata) < 7:
                    raise CorruptMediaError("avcC configuration record is truncated")
                self.length_size = (extradata[4] & 3) + 1
            else:
                if len(extradata) < 23:
                    raise CorruptMediaError("hvcC configuration record is truncated")
                self.length_size = (extradata[21] & 3) + 1
            if self.length_size == 3:
                raise CorruptMediaError("NAL length size 3 is not allowed")
        self._template = template if template is not None else blake3(derive_key_context=PT)
        self._spans = NULL
        self._cap = 0
        self._n = 0
        self.parameter_sets = set()
        self.adts_config = None

    def __dealloc__(self):
        free(self._spans)

    cdef int _grow(self) except -1:
        cdef Py_ssize_t cap = self._cap * 2 if self._cap else 16
        cdef Span* spans = <Span*>realloc(self._spans, cap * sizeof(Span))
        if spans == NULL:
            raise MemoryError()
        self._spans = spans
        self._cap = cap
        return 0

    @cython.boundscheck(False)
    @cython.wraparound(False)
    cdef int _scan(self, const uint8_t* p, Py_ssize_t n) except -1:
        """Fill self._spans with the packet's non-empty NAL units and their fate."""
        cdef Py_ssize_t pos = 0, start, end, length, i
        cdef int size = self.length_size, j, t, kind
        cdef bint hevc = self.codec == CODEC_HEVC
        self._n = 0
        while True:
            if size:
                if pos >= n:
                    break
                if n - pos < size:
                    raise CorruptMediaError(f"NAL length field at byte {pos} runs past the packet end ({n} bytes)")
                length = 0
                for j in range(size):
                    length = (length << 8) | p[pos + j]
                pos += size
                if length > n - pos:
                    raise CorruptMediaError(f"NAL unit at byte {pos} ({length} bytes) runs past the packet end ({n} bytes)")
                start = pos
                end = pos + length
                pos = end
            else:
                if pos < 0:
                    break
                i = _find_start_code(p, n, pos)
                start = pos
                end = n if i < 0 else i
                while end > start and p[end - 1] == 0:
                    end -= 1  # trailing_zero_8bits (and a 4-byte start code's zero_byte)
                pos = -1 if i < 0 else i + 3
            if end <= start:
                continue
            if hevc:
                t = (p[start] >> 1) & 0x3F
                kind = PARAM if 32 <= t <= 34 else (DROP if t == 35 or t == 38 else KEEP)
            else:
                t = p[start] & 0x1F
                kind = PARAM if t == 7 or t == 8 else (DROP if t == 9 or t == 12 else KEEP)
            if self._n == self._cap:
                self._grow()
            self._spans[self._n].start = start
            self._spans[self._n].end = end
            self._spans[self._n].kind = kind
            self._n += 1
        return 0

    cdef Py_ssize_t _adts(self, const uint8_t* p, Py_ssize_t n):
        """Header length (7 or 9) if the payload is exactly one ADTS frame, else 0."""
        cdef Py_ssize_t frame_length, header
        cdef int profile, sfi, chan, v
        if n < 7 or p[0] != 0xFF or (p[1] & 0xF6) != 0xF0:
            return 0
        frame_length = ((p[3] & 3) << 11) | (p[4] << 3) | (p[5] >> 5)
        header = 7 if p[1] & 1 else 9
        if frame_length != n or frame_length < header:
            return 0
        if self.adts_config is None:
            profile = p[2] >> 6
            sfi = (p[2] >> 2) & 0xF
            chan = ((p[2] & 1) << 2) | (p[3] >> 6)
            v = ((profile + 1) << 11) | (sfi << 7) | (chan << 3)
            self.adts_config = bytes(((v >> 8) & 0xFF, v & 0xFF))
        return header

    cdef inline void _collect(self, const uint8_t* p):
        cdef Py_ssize_t i
        for i in range(self._n):
            if self._spans[i].kind == PARAM:
                self.parameter_sets.add(
                    PyBytes_FromStringAndSize(<const char*>p + self._spans[i].start,
                                              self._spans[i].end - self._spans[i].start))

    def leaf(self, payload, uint32_t stream, uint32_t flags):
        """Return ``(leaf, canonical_length)`` for one packet payload.

        leaf = H_PT(0x00 || "<IIQ"(stream, flags, length) || canonical payload).
        """
        cdef Py_buffer buf
        cdef const uint8_t* p
        cdef Py_ssize_t n, off, size, i, run_start, run_end
        cdef bint fast
        if PyObject_GetBuffer(payload, &buf, PyBUF_SIMPLE) < 0:
            raise BwcTypeError("payload must be a C-contiguous bytes-like object")
        try:
            p = <const uint8_t*>buf.buf
            n = buf.len
            h = self._template.copy()
            update = h.update
            if self.codec == CODEC_RAW:
                update(_leaf_header(stream, flags, n))
                update(payload)
                return h.digest(), n
            if self.codec == CODEC_AAC:
                off = self._adts(p, n)
                update(_leaf_header(stream, flags, n - off))
                update(memoryview(payload)[off:] if off else payload)
                return h.digest(), n - off
            self._scan(p, n)
            self._collect(p)
            size = 0
            fast = self.length_size == 4
            for i in range(self._n):
                if self._spans[i].kind == KEEP:
                    size += 4 + self._spans[i].end - self._spans[i].start
                else:
                    fast = False
            if fast and size == n:
                # Length-prefixed with 4-byte lengths and nothing dropped:
                # the canonical payload is the payload itself.
                update(_leaf_header(stream, flags, n))
                update(payload)
                return h.digest(), n
            update(_leaf_header(stream, flags, size))
            view = memoryview(payload)
            if self.length_size == 4:
                # The 4-byte big-endian length fields are already canonical:
                # hash maximal runs of adjacent kept NAL units with their fields.
                run_start = run_end = -1
                for i in range(self._n):
                    if self._spans[i].kind != KEEP:
                        continue
                    if self._spans[i].start - 4 == run_end:
                        run_end = self._spans[i].end
                    else:
                        if run_end > 0:
                            update(view[run_start:run_end])
                        run_start = self._spans[i].start - 4
                        run_end = self._spans[i].end
                if run_end > 0:
                    update(view[run_start:run_end])
            else:
                for i in range(self._n):
                    if self._spans[i].kind == KEEP:
                        update(_be32(self._spans[i].end - self._spans[i].start))
                        update(view[self._spans[i].start:self._spans[i].end])
            return h.digest(), size
        finally:
            PyBuffer_Release(&buf)

    def canonical(self, payload):
        """Return the canonical payload: the payload itself when nothing changes."""
        cdef Py_buffer buf
        cdef const uint8_t* p
        cdef Py_ssize_t n, off, size, i, length
        cdef uint8_t* out
        cdef bint unchanged
        if PyObject_GetBuffer(payload, &buf, PyBUF_SIMPLE) < 0:
            raise BwcTypeError("payload must be a C-contiguous bytes-like object")
        try:
            p = <const uint8_t*>buf.buf
            n = buf.len
            if self.codec == CODEC_RAW:
                return payload
            if self.codec == CODEC_AAC:
                off = self._adts(p, n)
                return memoryview(payload)[off:] if off else payload
            self._scan(p, n)
            self._collect(p)
            size = 0
            unchanged = self.length_size == 4
            for i in range(self._n):
                if self._spans[i].kind == KEEP:
                    size += 4 + self._spans[i].end - self._spans[i].start
                else:
                    unchanged = False
            if unchanged and size == n:
                return payload
            result = PyBytes_FromStringAndSize(NULL, size)
            out = <uint8_t*>PyBytes_AS_STRING(result)
            for i in range(self._n):
                if self._spans[i].kind != KEEP:
                    continue
                length = self._spans[i].end - self._spans[i].start
                out[0] = <uint8_t>(length >> 24)
                out[1] = <uint8_t>(length >> 16)
                out[2] = <uint8_t>(length >> 8)
                out[3] = <uint8_t>length
                memcpy(out + 4, p + self._spans[i].start, <size_t>length)
                out += 4 + length
            return result
        finally:
            PyBuffer_Release(&buf)


def merkle_root(leaves, template):
    """RFC 9162 MTH over already-hashed 32-byte leaves; nodes H(0x01 || l || r).

    Built bottom-up, promoting a lone last node, which gives the same tree as
    RFC 9162's split at the largest power of two below n. No leaves: H(b"").
    """
    cdef list level = list(leaves)
    cdef Py_ssize_t n = len(level), i
    cdef uint8_t node[65]
    cdef list out
    if n == 0:
        return template.copy().digest()
    for i in range(n):
        leaf = level[i]
        if type(leaf) is not bytes or PyBytes_GET_SIZE(leaf) != 32:
            raise BwcTypeError(f"leaf {i} is not 32 bytes")
    node[0] = 1
    while n > 1:
        out = []
        for i in range(0, n - 1, 2):
            memcpy(node + 1, PyBytes_AS_STRING(level[i]), 32)
            memcpy(node + 33, PyBytes_AS_STRING(level[i + 1]), 32)
            h = template.copy()
            h.update(PyBytes_FromStringAndSize(<char*>node, 65))
            out.append(h.digest())
        if n & 1:
            out.append(level[n - 1])
        level = out
        n = len(level)
    return level[0]
