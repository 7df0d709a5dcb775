# cython: language_level=3
"""The pre-event ring's hot path (private; use :mod:`bwc_core.capture.buffer`).

One payload arena allocated at construction, fixed-size slot arrays and a
keyframe ring. Nothing is allocated per push: a payload is memcpy'd into the
arena and its metadata written into the next slot. The policy (which GOPs are
evicted, which audio is trimmed) is documented in ``docs/camera.md`` and
mirrored by the plain-Python model in ``tests/test_buffer.py``.

Arena geometry: positions are *virtual* (monotonic int64); the physical
offset is ``v % cap``. A payload never straddles the arena's end: if it would,
it starts at the next multiple of ``cap`` instead (the skipped tail is
reclaimed when the oldest slot passes it). The bytes in use are
``tail_v - vstart(oldest slot)``, which must stay <= ``cap``.
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_RawFree, PyMem_RawMalloc
from cpython.object cimport PyObject, PyObject_GenericSetAttr
from cpython.pythread cimport (
    NOWAIT_LOCK,
    WAIT_LOCK,
    PyThread_acquire_lock,
    PyThread_allocate_lock,
    PyThread_free_lock,
    PyThread_release_lock,
)
from libc.stdint cimport int32_t, int64_t, uint8_t
from libc.string cimport memcpy, memset

import logging
import math
import sys
from fractions import Fraction

from bwc_core.errors import BufferFullError, PacketError, PacketOrderError, BwcTypeError, BwcValueError
from bwc_core.media.packets import PacketRecord

cdef extern from *:
    """
    typedef __int128 bwc_i128;
    """
    ctypedef long long bwc_i128  # really __int128: exact cross-time-base products

cdef extern from "structmember.h":
    ctypedef struct PyMemberDef:
        Py_ssize_t offset

cdef extern from "Python.h":
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member

cdef enum:
    K_NONE = 0
    K_VIDEO = 1
    K_AUDIO = 2
    K_DATA = 3

cdef enum:
    F_LIVE = 1
    F_KEY = 2
    F_MAIN = 4      # a packet of the main (first) video stream

cdef enum:
    NOGIL_COPY = 32768          # release the GIL around memcpy from this size up
    PACKETS_PER_SECOND = 500    # generous default bound for slot capacity
    MIN_SLOTS = 1024
    MAX_DEFAULT_SLOTS = 1 << 22

_log = logging.getLogger("bwc_core.capture.buffer")

cdef str _KIND_VIDEO = "video"
cdef str _KIND_AUDIO = "audio"
cdef str _KIND_DATA = "data"
cdef tuple _KIND_NAMES = (None, _KIND_VIDEO, _KIND_AUDIO, _KIND_DATA)
cdef dict _AV_KINDS = {"video": K_VIDEO, "audio": K_AUDIO, "subtitle": K_DATA, "data": K_DATA}
cdef object _AV_PACKET = None       # av.packet.Packet, looked up once av is imported
cdef object _new_record = PacketRecord.__new__
cdef str _S_STREAM = "stream"
cdef str _S_KIND = "kind"
cdef str _S_PTS = "pts"
cdef str _S_DTS = "dts"
cdef str _S_DURATION = "duration"
cdef str _S_TIME_BASE = "time_base"
cdef str _S_KEYFRAME = "keyframe"
cdef str _S_PAYLOAD = "payload"

# Byte offsets of PacketRecord's __slots__, so the hot path reads an exact
# PacketRecord's fields directly instead of through eight attribute lookups.
# Records are immutable and __init__ sets every slot; a NULL slot falls back.
cdef Py_ssize_t _OFF_STREAM, _OFF_KIND, _OFF_PTS, _OFF_DTS, _OFF_DURATION
cdef Py_ssize_t _OFF_TIME_BASE, _OFF_KEYFRAME, _OFF_PAYLOAD
cdef bint _FAST_RECORD = False
cdef object _TRUE = True   # the bool singleton (PacketRecord stores bool(keyframe))


cdef Py_ssize_t _slot_offset(str name) except -2:
    descr = PacketRecord.__dict__.get(name)
    if type(descr).__name__ != "member_descriptor":
        return -1
    return (<PyMemberDescrObject *>descr).d_member.offset


def _init_offsets():
    global _OFF_STREAM, _OFF_KIND, _OFF_PTS, _OFF_DTS, _OFF_DURATION
    global _OFF_TIME_BASE, _OFF_KEYFRAME, _OFF_PAYLOAD, _FAST_RECORD
    _OFF_STREAM = _slot_offset("stream")
    _OFF_KIND = _slot_offset("kind")
    _OFF_PTS = _slot_offset("pts")
    _OFF_DTS = _slot_offset("dts")
    _OFF_DURATION = _slot_offset("duration")
    _OFF_TIME_BASE = _slot_offset("time_base")
    _OFF_KEYFRAME = _slot_offset("keyframe")
    _OFF_PAYLOAD = _slot_offset("payload")
    _FAST_RECORD = min(_OFF_STREAM, _OFF_KIND, _OFF_PTS, _OFF_DTS, _OFF_DURATION,
                       _OFF_TIME_BASE, _OFF_KEYFRAME, _OFF_PAYLOAD) > 0


_init_offsets()


cdef inline PyObject *_slot(object obj, Py_ssize_t offset) noexcept:
    return (<PyObject **>((<char *><PyObject *>obj) + offset))[0]


cdef inline int64_t _pow2_at_least(int64_t n):
    cdef int64_t p = 1
    while p < n:
        p <<= 1
    return p


cdef inline void _lock(PyThread_type_lock lock):
    # Never block while holding the GIL: the drainer copies with the GIL released.
    if not PyThread_acquire_lock(lock, NOWAIT_LOCK):
        with nogil:
            PyThread_acquire_lock(lock, WAIT_LOCK)


cdef class Ring:
    """Fixed-capacity pre-event ring (see :class:`bwc_core.capture.buffer.PreEventBuffer`)."""

    def __cinit__(self, max_seconds=30.0, max_bytes=64 * 2**20, keep_audio=False, *,
                  max_packets=None):
        cdef int64_t n, i
        if isinstance(max_seconds, bool) or not isinstance(max_seconds, (int, float, Fraction)):
            raise BwcTypeError(f"max_seconds must be a number, not {type(max_seconds).__name__}")
        if isinstance(max_seconds, float):
            if not math.isfinite(max_seconds):
                raise BwcValueError(f"max_seconds must be finite, got {max_seconds}")
            seconds = Fraction(repr(max_seconds))   # 0.1 means 1/10, not its binary neighbour
        else:
            seconds = Fraction(max_seconds)
        if seconds <= 0:
            raise BwcValueError(f"max_seconds must be > 0, got {max_seconds}")
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise BwcValueError(f"max_bytes must be a positive int, got {max_bytes!r}")
        if max_packets is None:
            n = min(max(<int64_t>math.ceil(seconds * PACKETS_PER_SECOND) + 64, MIN_SLOTS),
                    MAX_DEFAULT_SLOTS)
        else:
            if isinstance(max_packets, bool) or not isinstance(max_packets, int) or max_packets < 2:
                raise BwcValueError(f"max_packets must be an int >= 2, got {max_packets!r}")
            n = max_packets
        n = _pow2_at_least(n)
        self.max_seconds = seconds
        self.max_bytes = max_bytes
        self.max_packets = n
        self.keep_audio = bool(keep_audio)
        self.cap = max_bytes
        self.nslots = n
        self.arena = <unsigned char *>PyMem_RawMalloc(<size_t>max_bytes)
        self.s_vstart = <int64_t *>PyMem_RawMalloc(n * sizeof(int64_t))
        self.s_size = <int64_t *>PyMem_RawMalloc(n * sizeof(int64_t))
        self.s_pts = <int64_t *>PyMem_RawMalloc(n * sizeof(int64_t))
        self.s_dts = <int64_t *>PyMem_RawMalloc(n * sizeof(int64_t))
        self.s_dur = <int64_t *>PyMem_RawMalloc(n * sizeof(int64_t))
        self.s_stream = <int32_t *>PyMem_RawMalloc(n * sizeof(int32_t))
        self.s_flags = <uint8_t *>PyMem_RawMalloc(n * sizeof(uint8_t))
        self.kf = <int64_t *>PyMem_RawMalloc(n * sizeof(int64_t))
        self.lock = PyThread_allocate_lock()
        if (self.arena == NULL or self.s_vstart == NULL or self.s_size == NULL
                or self.s_pts == NULL or self.s_dts == NULL or self.s_dur == NULL
                or self.s_stream == NULL or self.s_flags == NULL or self.kf == NULL
                or self.lock == NULL):
            raise MemoryError(f"cannot allocate a {max_bytes}-byte pre-event buffer")
        # Touch every page now: the capture thread never takes a page fault, and the
        # memory is really committed when the buffer is built, not on its first lap.
        memset(self.arena, 0, <size_t>max_bytes)
        for i in range(MAX_STREAMS):
            self.st_kind[i] = K_NONE
            self.st_has_dts[i] = 0
        self.st_tb = [None] * MAX_STREAMS
        self.av_streams = {}
        self.video_stream = -1

    def __dealloc__(self):
        PyMem_RawFree(self.arena)
        PyMem_RawFree(self.s_vstart)
        PyMem_RawFree(self.s_size)
        PyMem_RawFree(self.s_pts)
        PyMem_RawFree(self.s_dts)
        PyMem_RawFree(self.s_dur)
        PyMem_RawFree(self.s_stream)
        PyMem_RawFree(self.s_flags)
        PyMem_RawFree(self.kf)
        if self.lock != NULL:
            PyThread_free_lock(self.lock)

    def __len__(self):
        return self.n_live

    # -- geometry and slots ------------------------------------------------------------

    @cython.cdivision(True)
    cdef int64_t _place(self, int64_t size) noexcept:
        """Virtual start for *size* bytes, or -1 if the arena or the slots are full."""
        cdef int64_t v = self.tail_v, head_v, p
        if self.tail_seq - self.head_seq >= self.nslots:
            return -1
        if self.tail_seq == self.head_seq:
            p = v % self.cap        # empty: restart at the arena's start
            if p:
                v += self.cap - p
            head_v = v
        else:
            head_v = self.s_vstart[self.head_seq & (self.nslots - 1)]
            p = v % self.cap
            if p + size > self.cap:  # never straddle the end: skip to offset 0
                v += self.cap - p
        if v + size - head_v > self.cap:
            return -1
        return v

    cdef void _kill(self, int64_t seq) noexcept:
        cdef int64_t i = seq & (self.nslots - 1)
        cdef uint8_t f = self.s_flags[i]
        self.s_flags[i] = f & ~F_LIVE
        self.n_live -= 1
        self.bytes_live -= self.s_size[i]
        if not (f & F_MAIN):
            self.n_live_nv -= 1

    cdef void _pop_dead(self) noexcept:
        cdef int64_t mask = self.nslots - 1
        while self.head_seq < self.tail_seq and not (self.s_flags[self.head_seq & mask] & F_LIVE):
            self.head_seq += 1

    cdef bint _ends_before(self, int stream, int64_t pts, int64_t dur, int64_t t) noexcept:
        """Does a non-video packet end at or before main-video time *t*? (exact)

        A packet with a duration ends at pts + duration; one without is kept
        only if it starts at or after *t*.
        """
        cdef int v = self.video_stream
        cdef bwc_i128 lhs, rhs
        rhs = <bwc_i128>t * self.st_num[v] * self.st_den[stream]
        if dur > 0:
            lhs = <bwc_i128>(pts + dur) * self.st_num[stream] * self.st_den[v]
            return lhs <= rhs
        lhs = <bwc_i128>pts * self.st_num[stream] * self.st_den[v]
        return lhs < rhs

    cdef int64_t _trim(self, int64_t t) noexcept:
        """Kill every held non-video packet that ends before main-video time *t*."""
        cdef int64_t seq = self.head_seq, killed = 0, remaining = self.n_live_nv, i
        cdef int64_t mask = self.nslots - 1
        cdef uint8_t f
        while remaining > 0 and seq < self.tail_seq:
            i = seq & mask
            f = self.s_flags[i]
            if (f & F_LIVE) and not (f & F_MAIN):
                remaining -= 1
                if self._ends_before(self.s_stream[i], self.s_pts[i], self.s_dur[i], t):
                    self._kill(seq)
                    killed += 1
            seq += 1
        self._pop_dead()
        return killed

    cdef void _evict_gop(self) noexcept:
        """Drop the oldest GOP (n_kf >= 2) and the non-video packets before the next one."""
        cdef int64_t mask = self.nslots - 1
        cdef int64_t k1 = self.kf[(self.kf_head + 1) & mask]
        cdef int64_t seq = self.head_seq, i
        while seq < k1:
            i = seq & mask
            if (self.s_flags[i] & (F_LIVE | F_MAIN)) == (F_LIVE | F_MAIN):
                self._kill(seq)
                self.c_evicted_packets += 1
            seq += 1
        self.kf_head += 1
        self.n_kf -= 1
        self.c_evicted_gops += 1
        self.c_evicted_packets += self._trim(self.s_pts[k1 & mask])

    cdef int64_t _drop_all(self) noexcept:
        cdef int64_t seq, n = 0, mask = self.nslots - 1
        for seq in range(self.head_seq, self.tail_seq):
            if self.s_flags[seq & mask] & F_LIVE:
                n += 1
        self.head_seq = self.tail_seq
        self.n_kf = 0
        self.n_live = 0
        self.n_live_nv = 0
        self.bytes_live = 0
        return n

    cdef int64_t _make_room(self, int64_t size, bint keyframe):
        """Virtual start for the incoming payload, evicting as the policy says.

        Returns -1 when the only held GOP had to be dropped for a packet that
        is not a keyframe (oversize): the caller re-classifies the packet.
        """
        cdef int64_t v, n
        while True:
            v = self._place(size)
            if v >= 0:
                return v
            if self.n_kf >= 2:
                self._evict_gop()
            elif self.n_kf == 1:
                n = self._drop_all()
                self.c_evicted_packets += n
                if keyframe:
                    self.c_evicted_gops += 1
                else:
                    self.c_oversize += 1
                    self.pending_log = (
                        f"pre-event buffer: one GOP outgrew {self.cap} bytes / "
                        f"{self.nslots} packets; dropped {n} held packets, waiting for a keyframe"
                    )
                    return -1
            else:
                self._kill(self.head_seq)   # only orphan non-video packets are held
                self.c_evicted_packets += 1
                self._pop_dead()

    @cython.cdivision(True)
    cdef void _store(self, int64_t v, int stream, int64_t pts, int64_t dts, int64_t dur,
                     uint8_t flags, const unsigned char *data, int64_t size) noexcept:
        cdef int64_t i = self.tail_seq & (self.nslots - 1)
        cdef unsigned char *dst = self.arena + (v % self.cap)
        self.s_vstart[i] = v
        self.s_size[i] = size
        self.s_pts[i] = pts
        self.s_dts[i] = dts
        self.s_dur[i] = dur
        self.s_stream[i] = stream
        self.s_flags[i] = flags | F_LIVE
        if size >= NOGIL_COPY:
            with nogil:
                memcpy(dst, data, <size_t>size)
        elif size > 0:
            memcpy(dst, data, <size_t>size)
        self.tail_v = v + size
        self.tail_seq += 1
        self.n_live += 1
        self.bytes_live += size
        if not (flags & F_MAIN):
            self.n_live_nv += 1

    # -- push ---------------------------------------------------------------------------

    cdef int _push_locked(self, int stream, int kcode, int64_t num, int64_t den, object tb,
                          int64_t pts, int64_t dts, int64_t dur, bint key,
                          const unsigned char *data, int64_t size) except -1:
        cdef int64_t v, mask = self.nslots - 1, k0
        cdef uint8_t known = self.st_kind[stream]
        # Validate everything before changing anything: a rejected packet leaves no trace.
        if known != K_NONE:
            if known != kcode:
                raise PacketError(
                    f"stream {stream} changed kind from {_KIND_NAMES[known]!r} to {_KIND_NAMES[kcode]!r}")
            if self.st_num[stream] != num or self.st_den[stream] != den:
                raise PacketError(
                    f"stream {stream} changed time base from "
                    f"{self.st_num[stream]}/{self.st_den[stream]} to {num}/{den}")
            if self.st_has_dts[stream] and dts < self.st_last_dts[stream]:
                raise PacketOrderError(
                    f"stream {stream}: dts went backwards ({dts} after {self.st_last_dts[stream]})")
        if size > self.cap:
            raise BufferFullError(
                f"a {size}-byte payload cannot fit in a {self.cap}-byte pre-event buffer")
        if known == K_NONE:
            self.st_kind[stream] = kcode
            self.st_num[stream] = num
            self.st_den[stream] = den
            self.st_tb[stream] = tb if tb is not None else Fraction(num, den)
            if kcode == K_VIDEO and self.video_stream < 0:
                self.video_stream = stream
                ticks = self.max_seconds * den / num
                self.max_ticks = math.ceil(ticks)
                self.over_ticks = math.floor(ticks)
        self.st_last_dts[stream] = dts
        self.st_has_dts[stream] = 1
        self.c_pushed += 1

        if stream == self.video_stream:
            self.last_vdts = dts
            self.has_vdts = True
            if self.n_kf == 0:
                if self.n_live_nv:
                    self.c_trimmed += self._trim(dts)   # no future keyframe starts before dts
                if not key:
                    self.c_dropped_video += 1           # a window never starts on a delta frame
                    return 0
            v = self._make_room(size, key)
            if v < 0:
                self.c_dropped_video += 1
                return 0
            self._store(v, stream, pts, dts, dur, F_MAIN | (F_KEY if key else 0), data, size)
            if key:
                self.kf[(self.kf_head + self.n_kf) & mask] = self.tail_seq - 1
                self.n_kf += 1
                if self.n_kf == 1:
                    self.newest = pts
                    if self.n_live_nv:
                        self.c_trimmed += self._trim(pts)
                elif pts > self.newest:
                    self.newest = pts
            elif pts > self.newest:
                self.newest = pts
            # Time rule: drop the oldest GOP once the next one alone covers max_seconds.
            while (self.n_kf >= 2 and
                   self.newest - self.s_pts[self.kf[(self.kf_head + 1) & mask] & mask] >= self.max_ticks):
                self._evict_gop()
            if self.n_kf == 1:
                k0 = self.s_pts[self.kf[self.kf_head & mask] & mask]
                if self.newest - k0 > self.over_ticks:
                    v = self._drop_all()
                    self.c_evicted_packets += v
                    self.c_oversize += 1
                    self.pending_log = (
                        f"pre-event buffer: no keyframe for more than {float(self.max_seconds):g} s; "
                        f"dropped {v} held packets, waiting for a keyframe")
            return 0

        if kcode == K_AUDIO and not self.keep_audio:
            self.c_dropped_audio += 1
            return 0

        while True:
            if self.n_kf:
                k0 = self.s_pts[self.kf[self.kf_head & mask] & mask]
                if self._ends_before(stream, pts, dur, k0):
                    self.c_trimmed += 1
                    return 0
            elif self.has_vdts and self._ends_before(stream, pts, dur, self.last_vdts):
                self.c_trimmed += 1
                return 0
            v = self._make_room(size, False)
            if v >= 0:
                break
        self._store(v, stream, pts, dts, dur, F_KEY if key else 0, data, size)
        return 0

    def push(self, packet, /):
        """Copy one packet into the buffer, evicting whole old GOPs as needed.

        Accepts a ``PacketRecord``, an ``av.Packet`` (read directly: no record
        is built; all packets of one av stream object must share its time base)
        or any object with a record's attributes. On a typed error nothing changes.
        """
        global _AV_PACKET
        cdef int stream = 0, kcode = 0
        cdef int64_t num = 0, den = 0, pts, dts, dur
        cdef bint key
        cdef object tb = None, payload, value

        if _FAST_RECORD and type(packet) is PacketRecord and self._fast_record(
                packet, &stream, &kcode, &num, &den, &pts, &dts, &dur, &key):
            payload = <object>_slot(packet, _OFF_PAYLOAD)
            tb = <object>_slot(packet, _OFF_TIME_BASE)
            self._push_buffer(payload, stream, kcode, num, den, tb, pts, dts, dur, key)
            return
        if isinstance(packet, PacketRecord):
            payload = packet.payload
            tb = self._record_stream(packet, &stream, &kcode, &num, &den)
            key = packet.keyframe
        else:
            if _AV_PACKET is None:
                av = sys.modules.get("av")
                if av is not None:
                    _AV_PACKET = av.packet.Packet
            if _AV_PACKET is not None and isinstance(packet, _AV_PACKET):
                payload = packet
                tb = self._av_stream(packet, &stream, &kcode, &num, &den)
                key = packet.is_keyframe
            else:
                # Duck-typed records: anything with PacketRecord's attributes.
                payload = getattr(packet, "payload", None)
                if payload is None:
                    raise BwcTypeError(
                        f"push() takes a PacketRecord or an av.Packet, not {type(packet).__name__}")
                tb = self._record_stream(packet, &stream, &kcode, &num, &den)
                key = bool(packet.keyframe)
        value = packet.pts
        if value is None:
            raise PacketError(f"packet on stream {stream} has no pts")
        pts = value
        value = packet.dts
        dts = pts if value is None else value
        value = packet.duration
        dur = 0 if value is None else value
        self._push_buffer(payload, stream, kcode, num, den, tb, pts, dts, dur, key)

    cdef int _push_buffer(self, object payload, int stream, int kcode, int64_t num, int64_t den,
                          object tb, int64_t pts, int64_t dts, int64_t dur, bint key) except -1:
        cdef Py_buffer view
        try:
            PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE)
        except (BufferError, TypeError, ValueError) as exc:
            raise BwcTypeError(
                f"payload must be a C-contiguous bytes-like buffer ({exc})") from None
        try:
            _lock(self.lock)
            try:
                self._push_locked(stream, kcode, num, den, tb, pts, dts, dur, key,
                                  <const unsigned char *>view.buf, view.len)
            finally:
                PyThread_release_lock(self.lock)
        finally:
            PyBuffer_Release(&view)
        if self.pending_log is not None:
            message, self.pending_log = self.pending_log, None
            _log.warning(message)
        return 0

    cdef bint _fast_record(self, object packet, int *stream, int *kcode, int64_t *num,
                           int64_t *den, int64_t *pts, int64_t *dts, int64_t *dur,
                           bint *key) except -1:
        """Read an exact PacketRecord's slots directly; False means "take the general path"."""
        cdef PyObject *o_stream = _slot(packet, _OFF_STREAM)
        cdef PyObject *o_kind = _slot(packet, _OFF_KIND)
        cdef PyObject *o_pts = _slot(packet, _OFF_PTS)
        cdef PyObject *o_dts = _slot(packet, _OFF_DTS)
        cdef PyObject *o_dur = _slot(packet, _OFF_DURATION)
        cdef PyObject *o_tb = _slot(packet, _OFF_TIME_BASE)
        cdef PyObject *o_key = _slot(packet, _OFF_KEYFRAME)
        cdef PyObject *o_payload = _slot(packet, _OFF_PAYLOAD)
        cdef Py_ssize_t index
        if (o_stream == NULL or o_kind == NULL or o_pts == NULL or o_dts == NULL or o_dur == NULL
                or o_tb == NULL or o_key == NULL or o_payload == NULL):
            return False
        if o_pts == <PyObject *>None or o_dts == <PyObject *>None or o_dur == <PyObject *>None:
            return False          # only a record forged around __init__; the general path says why
        if o_kind == <PyObject *>_KIND_VIDEO:
            kcode[0] = K_VIDEO
        elif o_kind == <PyObject *>_KIND_AUDIO:
            kcode[0] = K_AUDIO
        elif o_kind == <PyObject *>_KIND_DATA:
            kcode[0] = K_DATA
        else:
            return False
        index = <object>o_stream
        if not (0 <= index < MAX_STREAMS) or <object>o_tb is not self.st_tb[index]:
            return False          # new stream or a fresh Fraction: the general path checks it
        stream[0] = <int>index
        num[0] = self.st_num[index]
        den[0] = self.st_den[index]
        pts[0] = <object>o_pts
        dts[0] = <object>o_dts
        dur[0] = <object>o_dur
        key[0] = o_key == <PyObject *>_TRUE
        return True

    cdef object _record_stream(self, object packet, int *stream, int *kcode,
                               int64_t *num, int64_t *den):
        """Stream index, kind, time base of a record; returns the time base object."""
        cdef object kind = packet.kind
        cdef object index = packet.stream
        cdef object tb
        if kind == "video":
            kcode[0] = K_VIDEO
        elif kind == "audio":
            kcode[0] = K_AUDIO
        elif kind == "data":
            kcode[0] = K_DATA
        else:
            raise PacketError(f"unknown stream kind {kind!r}; expected 'video', 'audio' or 'data'")
        if not (0 <= index < MAX_STREAMS):
            raise PacketError(f"stream index {index} out of range (0..{MAX_STREAMS - 1})")
        stream[0] = index
        tb = packet.time_base
        if tb is self.st_tb[stream[0]]:
            num[0] = self.st_num[stream[0]]
            den[0] = self.st_den[stream[0]]
            return tb
        if tb is None or not (tb.numerator > 0 and tb.denominator > 0):
            raise PacketError(f"stream {index}: time base must be positive, got {tb}")
        num[0] = tb.numerator
        den[0] = tb.denominator
        return tb

    cdef object _av_stream(self, object packet, int *stream, int *kcode,
                           int64_t *num, int64_t *den):
        """Stream facts of an av.Packet, cached per stream object (time_base builds a Fraction)."""
        cdef object s = packet.stream
        cdef tuple info
        if s is not self.av_last_stream or s is None:
            info = self.av_streams.get(s) if s is not None else None
            if info is None:
                info = self._av_stream_info(packet, s)
            self.av_last_stream = s
            self.av_last_info = info
            self.av_last_index = info[0]
            self.av_last_kcode = info[1]
            self.av_last_num = info[2]
            self.av_last_den = info[3]
        stream[0] = self.av_last_index
        kcode[0] = self.av_last_kcode
        num[0] = self.av_last_num
        den[0] = self.av_last_den
        return self.av_last_info[4]

    cdef tuple _av_stream_info(self, object packet, object s):
        if s is None:
            raise PacketError("av.Packet has no stream; set packet.stream first")
        kcode = _AV_KINDS.get(s.type, K_NONE)
        if kcode == K_NONE:
            raise PacketError(f"unknown stream kind {s.type!r}")
        index = s.index
        if not (0 <= index < MAX_STREAMS):
            raise PacketError(f"stream index {index} out of range (0..{MAX_STREAMS - 1})")
        tb = packet.time_base or s.time_base
        if tb is None or tb <= 0:
            raise PacketError(f"packet on stream {index} has no time base")
        tb = Fraction(tb)
        info = (index, kcode, tb.numerator, tb.denominator, tb)
        if len(self.av_streams) >= 64:
            self.av_streams.clear()
        self.av_streams[s] = info
        return info

    # -- drain and stats -------------------------------------------------------------------

    @cython.boundscheck(False)
    @cython.wraparound(False)
    @cython.cdivision(True)
    def drain(self):
        """Return what is held in decode order, starting at a video keyframe; empty the buffer.

        Returns ``[]`` when no keyframe is held. Payloads are copied out in one block (one ``bytes``); every record
        gets a read-only view of its slice, so later pushes never change them.
        """
        cdef int64_t n, total, seq, i, j, pos, mask = self.nslots - 1, cap = self.cap
        cdef int64_t *meta = NULL
        cdef unsigned char *dst
        cdef unsigned char *arena = self.arena
        cdef object blob
        _lock(self.lock)
        try:
            if self.n_kf == 0:
                self.c_trimmed += self._drop_all()   # orphans never start a window
                return []
            n = self.n_live
            total = self.bytes_live
            blob = PyBytes_FromStringAndSize(NULL, total)
            meta = <int64_t *>PyMem_Malloc(<size_t>(n * 6 + 1) * sizeof(int64_t))
            if meta == NULL:
                raise MemoryError()
            dst = <unsigned char *>PyBytes_AS_STRING(blob)
            with nogil:
                j = 0
                pos = 0
                for seq in range(self.head_seq, self.tail_seq):
                    i = seq & mask
                    if not (self.s_flags[i] & F_LIVE):
                        continue
                    memcpy(dst + pos, arena + self.s_vstart[i] % cap, <size_t>self.s_size[i])
                    meta[j] = pos
                    meta[j + 1] = self.s_size[i]
                    meta[j + 2] = self.s_pts[i]
                    meta[j + 3] = self.s_dts[i]
                    meta[j + 4] = self.s_dur[i]
                    meta[j + 5] = (<int64_t>self.s_stream[i] << 8) | self.s_flags[i]
                    pos += self.s_size[i]
                    j += 6
            self._drop_all()
        finally:
            PyThread_release_lock(self.lock)
        try:
            return self._records(blob, meta, n)
        finally:
            PyMem_Free(meta)

    @cython.boundscheck(False)
    @cython.wraparound(False)
    cdef list _records(self, object blob, int64_t *meta, int64_t n):
        cdef list out = [None] * n
        cdef list tbs = self.st_tb
        cdef int64_t j, pos, size, code
        cdef int stream
        view = memoryview(blob)
        for j in range(n):
            pos = meta[6 * j]
            size = meta[6 * j + 1]
            code = meta[6 * j + 5]
            stream = <int>(code >> 8)
            # Fields were validated at push; set them directly, as PacketRecord.__init__ does.
            rec = _new_record(PacketRecord)
            PyObject_GenericSetAttr(rec, _S_STREAM, stream)
            PyObject_GenericSetAttr(rec, _S_KIND, _KIND_NAMES[self.st_kind[stream]])
            PyObject_GenericSetAttr(rec, _S_PTS, meta[6 * j + 2])
            PyObject_GenericSetAttr(rec, _S_DTS, meta[6 * j + 3])
            PyObject_GenericSetAttr(rec, _S_DURATION, meta[6 * j + 4])
            PyObject_GenericSetAttr(rec, _S_TIME_BASE, tbs[stream])
            PyObject_GenericSetAttr(rec, _S_KEYFRAME, bool(code & F_KEY))
            PyObject_GenericSetAttr(rec, _S_PAYLOAD, view[pos:pos + size])
            out[j] = rec
        return out

    @cython.cdivision(True)
    def _held(self):
        """What is held now, without draining: (stream, pts, dts, duration, keyframe, bytes).

        For tests and diagnostics; includes orphan non-video packets held
        while no keyframe is (drain() would discard those).
        """
        cdef int64_t seq, i, mask = self.nslots - 1
        out = []
        _lock(self.lock)
        try:
            for seq in range(self.head_seq, self.tail_seq):
                i = seq & mask
                if self.s_flags[i] & F_LIVE:
                    out.append((self.s_stream[i], self.s_pts[i], self.s_dts[i], self.s_dur[i],
                                bool(self.s_flags[i] & F_KEY),
                                (<char *>self.arena)[self.s_vstart[i] % self.cap:
                                                     self.s_vstart[i] % self.cap + self.s_size[i]]))
        finally:
            PyThread_release_lock(self.lock)
        return out

    def _counters(self):
        """A consistent snapshot of the counters (taken under the lock)."""
        cdef int64_t mask = self.nslots - 1, span = 0
        _lock(self.lock)
        try:
            if self.n_kf:
                span = self.newest - self.s_pts[self.kf[self.kf_head & mask] & mask]
            return dict(
                packets=self.n_live,
                bytes=self.bytes_live,
                seconds=(Fraction(span * self.st_num[self.video_stream], self.st_den[self.video_stream])
                         if self.n_kf else Fraction(0)),
                evicted_gops=self.c_evicted_gops,
                dropped_audio=self.c_dropped_audio,
                oversize_events=self.c_oversize,
                keyframes=self.n_kf,
                evicted_packets=self.c_evicted_packets,
                dropped_video=self.c_dropped_video,
                trimmed=self.c_trimmed,
                pushed=self.c_pushed,
                capacity_bytes=self.cap,
                capacity_packets=self.nslots,
            )
        finally:
            PyThread_release_lock(self.lock)
