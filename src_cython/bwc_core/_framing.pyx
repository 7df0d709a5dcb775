# cython: language_level=3
"""Hot paths of the v1 content format: NAL scanning, packet framing, leaves, trees.

Private: ``bwc_core.format.content`` is the public API. The pure-Python reference in
``tests/_content_ref.py`` defines the same bytes; tests hold the two equal.
Payloads are read through the buffer protocol and hashed in place: when a
packet needs re-framing (Annex B, dropped NAL units, ADTS header) the kept
slices are fed to BLAKE3 one by one instead of being copied into a new buffer.
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport INT64_MAX, INT64_MIN, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memchr, memcpy

from math import gcd as math_gcd

from blake3 import blake3

from bwc_core.errors import CorruptMediaError, BwcTypeError, UnsupportedCodecError, BwcValueError

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


def adts_reference(asc):
    """The ADTS header bits an AudioSpecificConfig implies (format 1.2), as an int
    ``(b2 & 0xFD) << 8 | (b3 & 0xC0)``, or ADTS_NONE (-2) when ADTS cannot carry it.

    Read as FFmpeg's ``avpriv_mpeg4audio_get_config2`` reads it: for HE-AAC
    (object type 5, or 29 unless its MP3onMP4 exception applies) the core
    object type and the core sampling frequency index are what ADTS carries.
    """
    cdef bytes data = bytes(asc)
    cdef object bits = int.from_bytes(data, "big")
    cdef Py_ssize_t nbits = len(data) * 8
    cdef Py_ssize_t pos = 0
    cdef int aot, sfi, chan

    def peek(Py_ssize_t k):
        # FFmpeg's bit reader gives zeros past the end of the buffer
        if pos + k <= nbits:
            return (bits >> (nbits - pos - k)) & ((1 << k) - 1)
        return ((bits << (pos + k - nbits)) & ((1 << k) - 1)) if pos < nbits else 0

    def need(Py_ssize_t k):
        if pos + k > nbits:
            raise IndexError
        return (bits >> (nbits - pos - k)) & ((1 << k) - 1)

    try:
        aot = need(5); pos += 5
        if aot == 31:
            aot = 32 + need(6); pos += 6
        sfi = need(4); pos += 4
        if sfi == 15:
            return ADTS_NONE  # an explicit 24-bit rate: no ADTS index
        chan = need(4); pos += 4
        if aot == 5 or (aot == 29 and not ((peek(3) & 3) and not (peek(9) & 0x3F))):
            if need(4) == 15:  # extension sampling frequency index
                pos += 24
            pos += 4
            aot = need(5); pos += 5
            if aot == 31:
                aot = 32 + need(6); pos += 6
    except IndexError:
        return ADTS_NONE
    if not 1 <= aot <= 4 or chan > 7:
        return ADTS_NONE
    return ((aot - 1) << 14) | (sfi << 10) | ((chan >> 2) << 8) | ((chan & 3) << 6)


cdef inline void _put_le(uint8_t* out, uint64_t value, int size) noexcept nogil:
    cdef int i
    for i in range(size):
        out[i] = <uint8_t>(value >> (8 * i))


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


cdef inline bint _rescale_c(int64_t pts, int64_t b, int64_t c, int64_t* out) noexcept nogil:
    """rescale_pts in int64 when nothing can overflow; False: use the Python version."""
    cdef int64_t a
    if pts == INT64_MIN or pts == INT64_MAX:
        out[0] = pts
        return True
    a = -pts if pts < 0 else pts
    if b <= 0 or c <= 0 or b > INT64_MAX // 2 or c > INT64_MAX // 2 or a > (INT64_MAX - c) // b:
        return False
    a = (a * b + c // 2) // c
    out[0] = -a if pts < 0 else a
    return True


cdef inline int64_t _wrap_c(int64_t pts, int bits) noexcept nogil:
    """wrap_pts for 2 <= bits <= 63 in C (two's complement arithmetic on uint64)."""
    cdef uint64_t half = (<uint64_t>1) << (bits - 1)
    cdef uint64_t u = (<uint64_t>pts + half) & ((half << 1) - 1)
    return <int64_t>u - <int64_t>half


cdef _int64_array(values):
    import array
    clipped = [min(max(v, -(1 << 63)), (1 << 63) - 1) for v in values]
    return array.array("q", clipped)


cdef int _get_buffer(obj, Py_buffer* buf) except -1:
    """Acquire a simple (C-contiguous byte) view, or raise bwc_core's TypeError."""
    try:
        return PyObject_GetBuffer(obj, buf, PyBUF_SIMPLE)
    except (BufferError, ValueError, TypeError):
        raise BwcTypeError(
            f"payload must be a C-contiguous bytes-like object, not {type(obj).__name__}"
        ) from None


cdef class Framer:
    """Canonical framing and leaf hashing for one stream.

    Also collects the stream's in-band parameter sets (H.264 SPS/PPS, HEVC
    VPS/SPS/PPS) and the AudioSpecificConfig of the first ADTS header seen,
    for the codec configuration digest.
    """

    def __cinit__(self, str codec, bytes extradata=b""):
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
        self._spans = NULL
        self._cap = 0
        self._n = 0
        self.parameter_sets = set()
        self.adts_config = None
        self.adts_reference = ADTS_NONE
        if self.codec == CODEC_AAC:
            self.adts_reference = adts_reference(extradata) if extradata else ADTS_UNKNOWN

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
                while end > start and p[end - 1] == 0:
                    end -= 1  # a NAL unit never ends in 0x00: trailing_zero_8bits an Annex B conversion kept
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
        """Header length (7 or 9) to strip: the payload is exactly one ADTS frame whose
        decoding fields are those of the committed configuration (format 1.2); else 0."""
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
            if self.adts_reference == ADTS_UNKNOWN:
                self.adts_reference = adts_reference(self.adts_config)
        # profile, sampling_frequency_index, channel_configuration as configured and
        # number_of_raw_data_blocks_in_frame 0; otherwise the header is content.
        if (((p[2] & 0xFD) << 8) | (p[3] & 0xC0)) != self.adts_reference or p[6] & 3:
            return 0
        return header

    cdef inline void _collect(self, const uint8_t* p):
        cdef Py_ssize_t i
        for i in range(self._n):
            if self._spans[i].kind == PARAM:
                self.parameter_sets.add(
                    PyBytes_FromStringAndSize(<const char*>p + self._spans[i].start,
                                              self._spans[i].end - self._spans[i].start))

    cdef Py_ssize_t _plan(self, const uint8_t* p, Py_ssize_t n) except -1:
        """Canonical length of the payload; leaves the recipe in _off / _spans.

        _off >= 0: the canonical payload is p[_off:n] (raw, ADTS stripped, or
        length-prefixed with nothing to change). _off == -1: it is the KEEP
        spans, each re-framed with a 4-byte big-endian length.
        """
        cdef Py_ssize_t size = 0, i
        cdef bint unchanged
        if self.codec == CODEC_RAW:
            self._off = 0
            return n
        if self.codec == CODEC_AAC:
            self._off = self._adts(p, n)
            return n - self._off
        self._scan(p, n)
        self._collect(p)
        unchanged = self.length_size == 4
        for i in range(self._n):
            if self._spans[i].kind == KEEP:
                size += 4 + self._spans[i].end - self._spans[i].start
            else:
                unchanged = False
        self._off = 0 if unchanged and size == n else -1
        return size

    @cython.boundscheck(False)
    @cython.wraparound(False)
    cdef void _emit(self, const uint8_t* p, Py_ssize_t n, uint8_t* out) noexcept:
        """Write the canonical payload planned by _plan() to *out*."""
        cdef Py_ssize_t i, length
        if self._off >= 0:
            memcpy(out, p + self._off, <size_t>(n - self._off))
            return
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

    def canonical(self, payload):
        """Return the canonical payload: *payload* itself when nothing changes."""
        cdef Py_buffer buf
        cdef Py_ssize_t size
        _get_buffer(payload, &buf)
        try:
            size = self._plan(<const uint8_t*>buf.buf, buf.len)
            if self._off == 0:
                return payload
            if self._off > 0:
                return memoryview(payload)[self._off:]
            result = PyBytes_FromStringAndSize(NULL, size)
            self._emit(<const uint8_t*>buf.buf, buf.len, <uint8_t*>PyBytes_AS_STRING(result))
            return result
        finally:
            PyBuffer_Release(&buf)


cdef class _Scratch:
    """A reused byte buffer exposed through the buffer protocol without copies.

    Each leaf is hashed from ONE contiguous update (header + canonical
    payload): BLAKE3's incremental hasher cannot use its widest SIMD subtrees
    when a large update follows a short one (measured +45% for a 30 KB
    payload), whereas the memcpy into this buffer costs a few percent.
    """
    cdef uint8_t* data
    cdef Py_ssize_t length
    cdef Py_ssize_t cap
    cdef Py_ssize_t shape[1]
    cdef Py_ssize_t strides[1]
    cdef int exports

    def __dealloc__(self):
        free(self.data)

    cdef uint8_t* reserve(self, Py_ssize_t size) except NULL:
        cdef uint8_t* grown
        if self.exports:
            raise BufferError("scratch buffer is exported")
        if size > self.cap:
            grown = <uint8_t*>realloc(self.data, <size_t>(size + (size >> 2) + 64))
            if grown == NULL:
                raise MemoryError()
            self.data = grown
            self.cap = size + (size >> 2) + 64
        self.length = size
        return self.data

    def __getbuffer__(self, Py_buffer* view, int flags):
        self.shape[0] = self.length
        self.strides[0] = 1
        view.buf = self.data
        view.obj = self
        view.len = self.length
        view.readonly = 1
        view.itemsize = 1
        view.format = "B"
        view.ndim = 1
        view.shape = self.shape
        view.strides = self.strides
        view.suboffsets = NULL
        view.internal = NULL
        self.exports += 1

    def __releasebuffer__(self, Py_buffer* view):
        self.exports -= 1


@cython.final
cdef class _Hasher:
    """One reused blake3-py hasher in derive-key mode for one context (one per
    object, so per thread: a ``LeafTable`` is fed from one thread, a
    :func:`merkle_root` call makes its own).

    Every hash of the content format goes through blake3-py, small inputs
    included: ``reset()``, one ``update()`` of a :class:`_Scratch` buffer (no
    copy into a Python object) and ``digest()``, three calls per hash.
    """
    cdef object _h
    cdef _Scratch _buf  # tree nodes and chunk roots: prefix || left || right

    def __cinit__(self, str context):
        self._h = blake3(derive_key_context=context)
        self._buf = _Scratch()
        self._buf.reserve(65)

    cdef int digest_into(self, _Scratch data, uint8_t* dest) except -1:
        """dest <- H(data's bytes), 32 bytes."""
        cdef object h = self._h
        h.reset()
        h.update(data)
        cdef bytes d = h.digest()
        memcpy(dest, PyBytes_AS_STRING(d), 32)
        return 0

    cdef int node(self, uint8_t prefix, const uint8_t* left, const uint8_t* right,
                  uint8_t* dest) except -1:
        """dest <- H(prefix || left || right), two 32-byte halves (tree nodes, chunk roots)."""
        cdef uint8_t* buf = self._buf.data
        buf[0] = prefix
        memcpy(buf + 1, left, 32)
        memcpy(buf + 33, right, 32)
        return self.digest_into(self._buf, dest)

    cdef int tree(self, uint8_t* work, Py_ssize_t n) except -1:
        """Reduce *n* >= 1 32-byte leaves in *work* to their Merkle root in work[0:32] (format 1.6).

        Nodes H(0x01 || left || right), a lone last node promoted: RFC 9162's
        tree, built bottom-up one level at a time, in place.
        """
        cdef Py_ssize_t i
        while n > 1:
            for i in range(n >> 1):
                self.node(1, work + 64 * i, work + 64 * i + 32, work + 32 * i)
            if n & 1:
                memcpy(work + 32 * (n >> 1), work + 32 * (n - 1), 32)
            n = (n >> 1) + (n & 1)
        return 0


def rescale_pts(pts, b, c):
    """pts * b / c rounded to nearest, halves away from zero, extremes passed through.

    FFmpeg's ``av_rescale_q_rnd(pts, src, dst, AV_ROUND_NEAR_INF |
    AV_ROUND_PASS_MINMAX)`` with b = src.num * dst.den, c = src.den * dst.num:
    what a muxer stores when its stream time base differs from the packet's.
    """
    if pts == INT64_MIN or pts == INT64_MAX:
        return pts
    if pts < 0:
        return -((-pts * b + c // 2) // c)
    return (pts * b + c // 2) // c


def wrap_pts(pts, int bits):
    """The signed value of the low *bits* bits of *pts* (MPEG-TS stores 33)."""
    cdef object one = 1
    cdef object half = one << (bits - 1)  # Python int: a C int shift would overflow
    return ((pts + half) & ((half << 1) - 1)) - half


cdef class LeafTable:
    """Per-packet leaves and metadata of one segment, kept in C arrays.

    ``update(packet)`` reads a :class:`PacketRecord`, computes its leaf and
    stores (stream, flags, canonical length, committed pts, leaf); the
    payload is never kept. A stream may commit its pts in another time base
    than the records carry (the muxer's) and wrapped to the bits a container
    stores. Subclassed by ``content.ContentHasher``.
    """
    cdef list _framers        # Framer or None, by stream index
    cdef list _video          # bool by stream index
    cdef list _tb             # committed (num, den) by stream index
    cdef list _in_tb          # (num, den) the records carry, by stream index
    cdef list _rescale        # None or (b, c): committed pts = rescale_pts(pts, b, c)
    cdef list _wrap           # 0 or the number of pts bits the container stores
    cdef list _tb_seen        # the last time base object accepted, by stream index
    cdef Py_ssize_t _nslots   # length of the per-stream lists and C arrays
    cdef int64_t* _rb         # by stream: 0 no rescale, > 0 rescale (b, c) in C, -1 in Python
    cdef int64_t* _rc
    cdef int* _wbits          # by stream: _wrap as a C int
    cdef int64_t* _last_dts   # by stream, for update_av's decode order check
    cdef uint8_t* _has_dts
    cdef _Hasher _pt          # blake3-py hashers of the three contexts, reused
    cdef _Hasher _tm
    cdef _Hasher _st
    cdef _Scratch _scratch
    cdef uint32_t* _stream
    cdef uint32_t* _flags
    cdef uint64_t* _size
    cdef int64_t* _pts        # committed pts per packet
    cdef uint8_t* _leaves
    cdef Py_ssize_t _count
    cdef Py_ssize_t _cap
    cdef public bint finished
    cdef public object name

    def __cinit__(self, *args, **kwargs):
        self._framers = []
        self._video = []
        self._tb = []
        self._in_tb = []
        self._rescale = []
        self._wrap = []
        self._tb_seen = []
        self._nslots = 0
        self._rb = self._rc = NULL
        self._wbits = NULL
        self._last_dts = NULL
        self._has_dts = NULL
        self._pt = _Hasher(PT)
        self._tm = _Hasher("bwc-core v1 timing")
        self._st = _Hasher("bwc-core v1 segment tree")
        self._scratch = _Scratch()
        self._count = self._cap = 0
        self.finished = False
        self.name = None

    def __dealloc__(self):
        free(self._stream)
        free(self._flags)
        free(self._size)
        free(self._pts)
        free(self._leaves)
        free(self._rb)
        free(self._rc)
        free(self._wbits)
        free(self._last_dts)
        free(self._has_dts)

    def _declare(self, int index, Framer framer, bint video, long long tb_num, long long tb_den,
                 long long out_num=0, long long out_den=0, int wrap_bits=0):
        """Declare a stream; pts are committed in out_num/out_den when given."""
        while len(self._framers) <= index:
            self._framers.append(None)
            self._video.append(False)
            self._tb.append(None)
            self._in_tb.append(None)
            self._rescale.append(None)
            self._wrap.append(0)
            self._tb_seen.append(None)
        cdef Py_ssize_t n = len(self._framers), k
        cdef void* p
        if n > self._nslots:
            p = realloc(self._rb, n * sizeof(int64_t))
            if p == NULL: raise MemoryError()
            self._rb = <int64_t*>p
            p = realloc(self._rc, n * sizeof(int64_t))
            if p == NULL: raise MemoryError()
            self._rc = <int64_t*>p
            p = realloc(self._wbits, n * sizeof(int))
            if p == NULL: raise MemoryError()
            self._wbits = <int*>p
            p = realloc(self._last_dts, n * sizeof(int64_t))
            if p == NULL: raise MemoryError()
            self._last_dts = <int64_t*>p
            p = realloc(self._has_dts, n * sizeof(uint8_t))
            if p == NULL: raise MemoryError()
            self._has_dts = <uint8_t*>p
            for k in range(self._nslots, n):
                self._rb[k] = self._rc[k] = 0
                self._wbits[k] = 0
                self._last_dts[k] = 0
                self._has_dts[k] = 0
            self._nslots = n
        self._framers[index] = framer
        self._video[index] = video
        self._in_tb[index] = (tb_num, tb_den)
        self._wrap[index] = wrap_bits
        if out_num <= 0 or out_den <= 0 or out_num * tb_den == tb_num * out_den:
            self._tb[index] = (tb_num, tb_den) if out_num <= 0 or out_den <= 0 else (out_num, out_den)
            self._rescale[index] = None
        else:
            self._tb[index] = (out_num, out_den)
            b = <object>tb_num * out_den  # Python ints: the products may pass 2**63
            c = <object>tb_den * out_num
            g = math_gcd(b, c)
            self._rescale[index] = (b // g, c // g)
        self._tb_seen[index] = None
        self._wbits[index] = wrap_bits
        rescale = self._rescale[index]
        if rescale is None:
            self._rb[index] = self._rc[index] = 0
        elif 0 < rescale[0] < 2**62 and 0 < rescale[1] < 2**62:
            self._rb[index], self._rc[index] = rescale
        else:
            self._rb[index] = self._rc[index] = -1

    cdef int _grow(self) except -1:
        cdef Py_ssize_t cap = self._cap * 2 if self._cap else 1024
        cdef void* p
        p = realloc(self._stream, cap * sizeof(uint32_t))
        if p == NULL: raise MemoryError()
        self._stream = <uint32_t*>p
        p = realloc(self._flags, cap * sizeof(uint32_t))
        if p == NULL: raise MemoryError()
        self._flags = <uint32_t*>p
        p = realloc(self._size, cap * sizeof(uint64_t))
        if p == NULL: raise MemoryError()
        self._size = <uint64_t*>p
        p = realloc(self._pts, cap * sizeof(int64_t))
        if p == NULL: raise MemoryError()
        self._pts = <int64_t*>p
        p = realloc(self._leaves, 32 * cap)
        if p == NULL: raise MemoryError()
        self._leaves = <uint8_t*>p
        self._cap = cap
        return 0

    def __len__(self):
        return self._count

    cpdef update(self, packet):
        """Hash one :class:`PacketRecord` into its leaf and keep its metadata."""
        cdef Py_ssize_t stream, i = self._count
        cdef uint32_t flags
        cdef Framer framer
        cdef uint64_t size
        cdef int64_t pts
        if self.finished:
            from bwc_core.errors import PacketError
            raise PacketError("ContentHasher.finish() was already called")
        stream = packet.stream
        if stream < 0 or stream >= self._nslots or self._framers[stream] is None:
            from bwc_core.errors import PacketError
            raise PacketError(f"{self._where()}packet {i}: stream {stream} was not declared")
        framer = <Framer>self._framers[stream]
        tb = packet.time_base
        if tb is not self._tb_seen[stream]:
            num, den = self._in_tb[stream]
            if tb.numerator != num or tb.denominator != den:
                from bwc_core.errors import PacketError
                raise PacketError(f"{self._where()}packet {i}: time base {tb} differs from stream {stream}'s {num}/{den}")
            self._tb_seen[stream] = tb
        flags = 1 if (self._video[stream] and packet.keyframe) else 0
        pts = self._commit_pts(stream, packet.pts)
        if i == self._cap:
            self._grow()
        try:
            self._leaf_into(framer, packet.payload, <uint32_t>stream, flags, &size, self._leaves + 32 * i)
        except CorruptMediaError as exc:
            raise CorruptMediaError(f"{self._where()}stream {stream}, packet {i}: {exc}") from None
        self._store(i, <uint32_t>stream, flags, size, pts)

    @cython.boundscheck(False)
    @cython.wraparound(False)
    def update_run(self, payload, Py_ssize_t stream, const int64_t[::1] offsets not None,
                   const int64_t[::1] sizes not None, const int64_t[::1] pts not None,
                   const uint8_t[::1] keyframes not None):
        """Hash a run of packets of one *stream* whose payloads lie in one buffer.

        Packet ``i`` is ``payload[offsets[i]:offsets[i] + sizes[i]]`` with pts
        ``pts[i]`` in the stream's declared time base; the same leaves and
        metadata as :meth:`update` of each in turn (the one-pass reader of
        fragmented MP4 hands a whole ``trun`` here).
        """
        cdef Py_buffer buf
        cdef Py_ssize_t k, n = offsets.shape[0], i
        cdef Framer framer
        cdef uint32_t flags
        cdef uint64_t size
        cdef int64_t start, length
        if self.finished:
            from bwc_core.errors import PacketError
            raise PacketError("ContentHasher.finish() was already called")
        if stream < 0 or stream >= self._nslots or self._framers[stream] is None:
            from bwc_core.errors import PacketError
            raise PacketError(f"{self._where()}stream {stream} was not declared")
        if sizes.shape[0] != n or pts.shape[0] != n or keyframes.shape[0] != n:
            raise ValueError("update_run: arrays differ in length")
        framer = <Framer>self._framers[stream]
        _get_buffer(payload, &buf)
        try:
            for k in range(n):
                start = offsets[k]
                length = sizes[k]
                if start < 0 or length < 0 or start > buf.len or length > buf.len - start:
                    raise ValueError(f"update_run: packet {k} lies outside the buffer")
                i = self._count
                flags = 1 if (self._video[stream] and keyframes[k]) else 0
                if i == self._cap:
                    self._grow()
                try:
                    self._leaf_of(framer, <const uint8_t*>buf.buf + start, <Py_ssize_t>length,
                                  <uint32_t>stream, flags, &size, self._leaves + 32 * i)
                except CorruptMediaError as exc:
                    raise CorruptMediaError(f"{self._where()}stream {stream}, packet {i}: {exc}") from None
                self._store(i, <uint32_t>stream, flags, size, self._commit_pts(stream, pts[k]))
        finally:
            PyBuffer_Release(&buf)

    def update_av(self, packet, Py_ssize_t position, bint check_dts=False, bint salvage=False,
                  list problems=None):
        """Hash one demuxed ``av.Packet`` in place (no PacketRecord, no payload copy).

        The fast path of ``content.content_root``: *packet* must come from a
        demuxer whose streams were declared (its pts are in the declared time
        base, which is not re-checked). Returns 1 when hashed, 0 for a demuxer
        flush packet (no dts, no data; skipped), -1 when *salvage* is set and
        the packet is flagged corrupt, cannot be framed (a sample cut short by
        a crash), has no pts or a dts going backwards: stop before it, nothing
        stored. *position* (1-based, flush
        packets not counted) names the packet in errors, which are those of
        ``MediaSource.packets`` (``CorruptMediaError`` for a missing pts,
        ``PacketOrderError`` for a dts going backwards when *check_dts*) and
        of :meth:`update`. With a *problems* list, a packet that cannot be
        framed is skipped (returns 1, nothing stored) and its error appended.
        """
        cdef Py_ssize_t stream, i = self._count
        cdef uint32_t flags
        cdef Framer framer
        cdef uint64_t size
        cdef int64_t pts, dts
        dts_obj = packet.dts
        if dts_obj is None and packet.size == 0:
            return 0
        if salvage and packet.is_corrupt:
            return -1
        if self.finished:
            from bwc_core.errors import PacketError
            raise PacketError("ContentHasher.finish() was already called")
        stream = packet.stream_index
        pts_obj = packet.pts
        if pts_obj is None:
            if salvage:
                return -1
            raise CorruptMediaError(f"{self._where()}packet {position}: packet on stream {stream} has no pts")
        if stream < 0 or stream >= self._nslots or self._framers[stream] is None:
            from bwc_core.errors import PacketError
            raise PacketError(f"{self._where()}packet {i}: stream {stream} was not declared")
        if check_dts:
            dts = pts_obj if dts_obj is None else dts_obj
            if self._wbits[stream]:
                # The 33-bit rule of the pts (format 1.7): FFmpeg may unwrap the
                # first dts of a stream to 2**33 - n and the next to a small value.
                dts = _wrap_c(dts, self._wbits[stream])
            if self._has_dts[stream] and dts < self._last_dts[stream]:
                if salvage:
                    return -1
                from bwc_core.errors import PacketOrderError
                raise PacketOrderError(f"{self._where()}packet {position} (stream {stream}): "
                                       f"dts {dts} after {self._last_dts[stream]}")
            self._last_dts[stream] = dts
            self._has_dts[stream] = 1
        framer = <Framer>self._framers[stream]
        flags = 1 if (self._video[stream] and packet.is_keyframe) else 0
        pts = self._commit_pts(stream, pts_obj)
        if i == self._cap:
            self._grow()
        try:
            self._leaf_into(framer, packet, <uint32_t>stream, flags, &size, self._leaves + 32 * i)
        except CorruptMediaError as exc:
            if salvage:
                return -1
            error = CorruptMediaError(f"{self._where()}stream {stream}, packet {i}: {exc}")
            if problems is None:
                raise error from None
            problems.append(str(error))
            return 1
        self._store(i, <uint32_t>stream, flags, size, pts)
        return 1

    cdef int64_t _commit_pts(self, Py_ssize_t stream, object pts) except? -1:
        """The committed pts: rescaled to the committed time base, wrapped; C unless it could overflow."""
        cdef int64_t p, out
        try:
            p = pts
        except OverflowError:
            return self._commit_pts_py(stream, pts)
        if self._rb[stream]:
            if not _rescale_c(p, self._rb[stream], self._rc[stream], &out):
                return self._commit_pts_py(stream, pts)
            p = out
        if self._wbits[stream]:
            p = _wrap_c(p, self._wbits[stream])
        return p

    cdef int64_t _commit_pts_py(self, Py_ssize_t stream, object pts) except? -1:
        rescale = self._rescale[stream]
        if rescale is not None:
            pts = rescale_pts(pts, rescale[0], rescale[1])
        if self._wrap[stream]:
            pts = wrap_pts(pts, self._wrap[stream])
        return pts

    cdef str _where(self):
        return f"{self.name}: " if self.name else ""

    cdef int _leaf_into(self, Framer framer, payload, uint32_t stream, uint32_t flags,
                        uint64_t* size_out, uint8_t* dest) except -1:
        """dest <- the packet's 32-byte leaf; *size_out* <- its canonical length."""
        cdef Py_buffer buf
        _get_buffer(payload, &buf)
        try:
            self._leaf_of(framer, <const uint8_t*>buf.buf, buf.len, stream, flags, size_out, dest)
        finally:
            PyBuffer_Release(&buf)
        return 0

    cdef inline void _store(self, Py_ssize_t i, uint32_t stream, uint32_t flags, uint64_t size,
                            int64_t pts) noexcept:
        """Packet *i*'s metadata (its leaf is already at ``_leaves[32 * i]``); one more packet."""
        self._stream[i] = stream
        self._flags[i] = flags
        self._size[i] = size
        self._pts[i] = pts
        self._count = i + 1

    cdef int _leaf_of(self, Framer framer, const uint8_t* p, Py_ssize_t n, uint32_t stream,
                      uint32_t flags, uint64_t* size_out, uint8_t* dest) except -1:
        """:meth:`_leaf_into` of the payload at ``p[:n]``."""
        cdef Py_ssize_t size
        cdef uint8_t* out
        size = framer._plan(p, n)
        out = self._scratch.reserve(17 + size)
        out[0] = 0
        _put_le(out + 1, stream, 4)
        _put_le(out + 5, flags, 4)
        _put_le(out + 9, <uint64_t>size, 8)
        framer._emit(p, n, out + 17)
        size_out[0] = <uint64_t>size
        self._pt.digest_into(self._scratch, dest)
        return 0

    def leaf(self, Framer framer, payload, uint32_t stream, uint32_t flags):
        """Return ``(leaf, canonical_length)`` of one payload (nothing is stored)."""
        cdef uint64_t size
        cdef bytes leaf = PyBytes_FromStringAndSize(NULL, 32)
        self._leaf_into(framer, payload, stream, flags, &size, <uint8_t*>PyBytes_AS_STRING(leaf))
        return leaf, size

    def present_streams(self):
        """The set of stream indices with at least one packet stored."""
        cdef Py_ssize_t i, nslots = len(self._framers)
        cdef uint8_t* seen
        cdef set out = set()
        if self._count == 0 or nslots == 0:
            return out
        seen = <uint8_t*>calloc(nslots, 1)
        if seen == NULL:
            raise MemoryError()
        try:
            for i in range(self._count):
                if self._stream[i] < <uint32_t>nslots:
                    seen[self._stream[i]] = 1
            for i in range(nslots):
                if seen[i]:
                    out.add(i)
            return out
        finally:
            free(seen)

    def keyframe_pts(self, int stream):
        """pts of *stream*'s keyframe packets, in decode (arrival) order."""
        cdef Py_ssize_t i
        return [self._pts[i] for i in range(self._count)
                if self._stream[i] == <uint32_t>stream and self._flags[i] & 1]

    @cython.boundscheck(False)
    @cython.wraparound(False)
    def assign_gop_chunks(self, int first_video, dict bounds):
        """Chunk of every packet, GOP mode (format 1.5); *bounds* maps each other
        stream to the non-decreasing keyframe times expressed as ceil(b / tb)
        in that stream's time base, so ``b <= pts * tb`` is ``bound <= pts``."""
        cdef Py_ssize_t i, lo, hi, mid, m, nslots = len(self._framers)
        cdef int64_t pts, count = 0
        cdef uint32_t s
        cdef list chunk = [0] * self._count
        cdef int64_t[::1] view
        cdef const int64_t* arr
        cdef const int64_t** base = <const int64_t**>calloc(nslots + 1, sizeof(int64_t*))
        cdef Py_ssize_t* size = <Py_ssize_t*>calloc(nslots + 1, sizeof(Py_ssize_t))
        cdef list keep = []
        if base == NULL or size == NULL:
            free(base); free(size)
            raise MemoryError()
        try:
            # One C array per stream, looked up by slot in the loop (no dict, no view per packet).
            for k, v in bounds.items():
                if not 0 <= k < nslots:
                    continue
                values = _int64_array(v)
                keep.append(values)
                size[k] = len(values)
                if size[k]:
                    view = values
                    base[k] = &view[0]
            for i in range(self._count):
                s = self._stream[i]
                if <int>s == first_video:
                    if self._flags[i] & 1:
                        count += 1
                    chunk[i] = count - 1 if count else 0
                    continue
                if s >= <uint32_t>nslots or (base[s] == NULL and s not in bounds):
                    raise BwcValueError(f"{self._where()}no keyframe bounds for stream {s}")
                arr = base[s]
                m = size[s]
                pts = self._pts[i]
                lo = 0
                hi = m
                while lo < hi:  # bisect_right
                    mid = (lo + hi) >> 1
                    if arr[mid] <= pts:
                        lo = mid + 1
                    else:
                        hi = mid
                chunk[i] = lo - 1 if lo > 0 else 0
            return chunk
        finally:
            free(base)
            free(size)

    @cython.boundscheck(False)
    @cython.wraparound(False)
    def build(self, list chunk, Py_ssize_t nchunks):
        """Tree order and per-chunk hashes (format 1.5-1.7).

        Returns (order, payload_roots, timing_hashes, chunk_roots, firsts) where
        order lists arrival indices in tree order: by chunk, then stream, then
        arrival (a stable counting sort).
        """
        cdef Py_ssize_t n = self._count, i, j, c, k, nslots = len(self._framers), key, pos
        cdef Py_ssize_t nkeys = nchunks * nslots, first, end, total, m
        cdef Py_ssize_t* counts
        cdef Py_ssize_t* order
        cdef uint8_t* work
        cdef uint8_t* out
        cdef uint8_t* node
        cdef int64_t ch
        cdef uint32_t s
        if n == 0:
            return [], [], [], [], [], []
        counts = <Py_ssize_t*>calloc(nkeys + 1, sizeof(Py_ssize_t))
        order = <Py_ssize_t*>malloc(n * sizeof(Py_ssize_t))
        work = <uint8_t*>malloc(32 * n)
        if counts == NULL or order == NULL or work == NULL:
            free(counts); free(order); free(work)
            raise MemoryError()
        try:
            for i in range(n):
                ch = chunk[i]
                if ch < 0 or ch >= nchunks:
                    raise ValueError(f"chunk {ch} out of range")
                counts[ch * nslots + self._stream[i] + 1] += 1
            for k in range(nkeys):
                counts[k + 1] += counts[k]
            for i in range(n):
                key = <Py_ssize_t>chunk[i] * nslots + self._stream[i]
                order[counts[key]] = i
                counts[key] += 1
            # counts[key] is now the end of bucket key; chunk c spans
            # [end of bucket (c*nslots - 1), end of bucket (c*nslots + nslots - 1)).
            payload_roots = []
            timing_hashes = []
            chunk_roots = []
            firsts = []
            spans = []
            scratch = self._scratch
            for c in range(nchunks):
                first = counts[c * nslots - 1] if c else 0
                end = counts[c * nslots + nslots - 1]
                firsts.append(first)
                m = end - first
                if m == 0:
                    raise ValueError(f"chunk {c} has no packets")
                # Merkle tree over the chunk's leaves, bottom-up in `work`.
                for j in range(m):
                    memcpy(work + 32 * j, self._leaves + 32 * order[first + j], 32)
                self._pt.tree(work, m)
                payload_root = PyBytes_FromStringAndSize(<char*>work, 32)
                # Timing table: per stream present, header then one pts per packet.
                total = 0
                for k in range(nslots):
                    key = c * nslots + k
                    pos = counts[key - 1] if key else 0
                    if counts[key] > pos:
                        total += 16 + 8 * (counts[key] - pos)
                out = scratch.reserve(total)
                chunk_spans = []
                for k in range(nslots):
                    key = c * nslots + k
                    pos = counts[key - 1] if key else 0
                    if counts[key] == pos:
                        continue
                    lo_pts = hi_pts = self._pts[order[pos]]
                    for j in range(pos, counts[key]):
                        i = order[j]
                        if self._pts[i] < lo_pts:
                            lo_pts = self._pts[i]
                        if self._pts[i] > hi_pts:
                            hi_pts = self._pts[i]
                    chunk_spans.append((k, lo_pts, hi_pts))
                    num, den = self._tb[k]
                    _put_le(out, <uint64_t>k, 4)
                    _put_le(out + 4, <uint64_t>num, 4)
                    _put_le(out + 8, <uint64_t>den, 4)
                    _put_le(out + 12, <uint64_t>(counts[key] - pos), 4)
                    out += 16
                    for j in range(pos, counts[key]):
                        _put_le(out, <uint64_t>self._pts[order[j]], 8)
                        out += 8
                timing = PyBytes_FromStringAndSize(NULL, 32)
                self._tm.digest_into(scratch, <uint8_t*>PyBytes_AS_STRING(timing))
                root = PyBytes_FromStringAndSize(NULL, 32)
                self._st.node(0, <const uint8_t*>PyBytes_AS_STRING(payload_root),
                              <const uint8_t*>PyBytes_AS_STRING(timing), <uint8_t*>PyBytes_AS_STRING(root))
                payload_roots.append(payload_root)
                timing_hashes.append(timing)
                chunk_roots.append(root)
                spans.append(chunk_spans)
            return ([order[i] for i in range(n)], payload_roots, timing_hashes, chunk_roots, firsts, spans)
        finally:
            free(counts)
            free(order)
            free(work)

    @cython.boundscheck(False)
    @cython.wraparound(False)
    def packed_rows(self, list order, list chunk):
        """The sidecar's packet records (format 1.9, 56 bytes each) in *order*."""
        cdef Py_ssize_t n = len(order), j, i
        cdef bytes result = PyBytes_FromStringAndSize(NULL, 56 * n)
        cdef uint8_t* out = <uint8_t*>PyBytes_AS_STRING(result)
        for j in range(n):
            i = order[j]
            if i < 0 or i >= self._count:
                raise IndexError(i)
            _put_le(out, <uint64_t><int64_t>chunk[i], 4)
            _put_le(out + 4, self._stream[i], 4)
            _put_le(out + 8, self._flags[i], 4)
            _put_le(out + 12, self._size[i], 4)
            _put_le(out + 16, <uint64_t>self._pts[i], 8)
            memcpy(out + 24, self._leaves + 32 * i, 32)
            out += 56
        return result

    def rows(self):
        """Stored rows ``(stream, flags, size, committed pts, leaf)`` in arrival order."""
        cdef Py_ssize_t i
        return [
            (self._stream[i], self._flags[i], self._size[i], self._pts[i],
             PyBytes_FromStringAndSize(<char*>self._leaves + 32 * i, 32))
            for i in range(self._count)
        ]


def merkle_root(leaves, str context):
    """RFC 9162 MTH over already-hashed 32-byte leaves; nodes H(0x01 || l || r).

    Built bottom-up, promoting a lone last node, which gives the same tree as
    RFC 9162's split at the largest power of two below n. No leaves: H(b"").
    """
    cdef list level = list(leaves)
    cdef Py_ssize_t n = len(level), i
    cdef uint8_t* work
    cdef bytes result
    cdef _Hasher hasher
    if n == 0:
        return blake3(derive_key_context=context).digest()
    for i in range(n):
        leaf = level[i]
        if type(leaf) is not bytes or PyBytes_GET_SIZE(leaf) != 32:
            raise BwcTypeError(f"leaf {i} is not 32 bytes")
    hasher = _Hasher(context)
    work = <uint8_t*>malloc(32 * n)
    if work == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            memcpy(work + 32 * i, PyBytes_AS_STRING(level[i]), 32)
        hasher.tree(work, n)
        result = PyBytes_FromStringAndSize(<char*>work, 32)
    finally:
        free(work)
    return result
