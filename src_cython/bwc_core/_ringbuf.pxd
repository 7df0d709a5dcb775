# The pre-event ring: one payload arena, fixed-size slot arrays, a keyframe ring.
# Declared here so other Cython modules can cimport the type.

cimport cython
from cpython.pythread cimport PyThread_type_lock
from libc.stdint cimport int32_t, int64_t, uint8_t

cdef enum:
    MAX_STREAMS = 256


cdef class Ring:
    # payload arena (allocated once) and its ring geometry
    cdef unsigned char *arena
    cdef int64_t cap                 # arena bytes
    cdef int64_t tail_v              # virtual write position (monotonic)

    # slot arrays, indexed by seq % nslots; seq grows monotonically
    cdef int64_t nslots
    cdef int64_t head_seq, tail_seq  # slots [head_seq, tail_seq) are in use (live or dead)
    cdef int64_t *s_vstart
    cdef int64_t *s_size
    cdef int64_t *s_pts
    cdef int64_t *s_dts
    cdef int64_t *s_dur
    cdef int32_t *s_stream
    cdef uint8_t *s_flags

    # keyframe ring: seqs of the held main-video keyframes, oldest first
    cdef int64_t *kf
    cdef int64_t kf_head, n_kf

    cdef int64_t n_live, n_live_nv, bytes_live
    cdef int64_t newest              # largest held-window video pts
    cdef int64_t last_vdts
    cdef bint has_vdts
    cdef int video_stream
    cdef int64_t max_ticks, over_ticks
    cdef readonly object max_seconds
    cdef readonly bint keep_audio
    cdef readonly int64_t max_bytes
    cdef readonly int64_t max_packets

    # per-stream table
    cdef uint8_t st_kind[MAX_STREAMS]
    cdef int64_t st_num[MAX_STREAMS]
    cdef int64_t st_den[MAX_STREAMS]
    cdef int64_t st_last_dts[MAX_STREAMS]
    cdef uint8_t st_has_dts[MAX_STREAMS]
    cdef list st_tb
    cdef dict av_streams
    cdef object av_last_stream
    cdef tuple av_last_info
    cdef int av_last_index, av_last_kcode
    cdef int64_t av_last_num, av_last_den

    # counters
    cdef int64_t c_pushed, c_evicted_gops, c_evicted_packets
    cdef int64_t c_dropped_audio, c_dropped_video, c_trimmed, c_oversize

    cdef PyThread_type_lock lock
    cdef object pending_log

    cdef int64_t _place(self, int64_t size) noexcept
    cdef void _kill(self, int64_t seq) noexcept
    cdef void _pop_dead(self) noexcept
    cdef bint _ends_before(self, int stream, int64_t pts, int64_t dur, int64_t t) noexcept
    cdef int64_t _trim(self, int64_t t) noexcept
    cdef void _evict_gop(self) noexcept
    cdef int64_t _drop_all(self) noexcept
    cdef int64_t _make_room(self, int64_t size, bint keyframe)
    cdef void _store(self, int64_t v, int stream, int64_t pts, int64_t dts, int64_t dur,
                     uint8_t flags, const unsigned char *data, int64_t size) noexcept
    cdef object _record_stream(self, object packet, int *stream, int *kcode,
                               int64_t *num, int64_t *den)
    cdef object _av_stream(self, object packet, int *stream, int *kcode,
                           int64_t *num, int64_t *den)
    cdef tuple _av_stream_info(self, object packet, object s)
    cdef list _records(self, object blob, int64_t *meta, int64_t n)
    cdef int _push_buffer(self, object payload, int stream, int kcode, int64_t num, int64_t den,
                          object tb, int64_t pts, int64_t dts, int64_t dur, bint key) except -1
    cdef bint _fast_record(self, object packet, int *stream, int *kcode, int64_t *num,
                           int64_t *den, int64_t *pts, int64_t *dts, int64_t *dur,
                           bint *key) except -1
    cdef int _push_locked(self, int stream, int kcode, int64_t num, int64_t den, object tb,
                          int64_t pts, int64_t dts, int64_t dur, bint key,
                          const unsigned char *data, int64_t size) except -1
