# Declarations of bwc_core._framing, beside its .pyx (src_cython/bwc_core/ mirrors
# the package, as PyAV's av/packet.pyx sits beside av/packet.pxd): Cython finds it
# and cythonize tracks it as a dependency of every module that uses it.

from libc.stdint cimport uint8_t, uint32_t

cdef struct Span:
    Py_ssize_t start   # first byte of the NAL (after its length field / start code)
    Py_ssize_t end     # one past its last byte (trailing zeros stripped in Annex B)
    int kind           # KEEP, DROP or PARAM (dropped but collected for the config digest)

cdef enum:
    KEEP = 0
    DROP = 1
    PARAM = 2

cdef enum:
    ADTS_UNKNOWN = -1  # no extradata: the first ADTS frame's configuration decides
    ADTS_NONE = -2     # the committed configuration has no ADTS form: no header is stripped

cdef enum:
    CODEC_RAW = 0
    CODEC_H264 = 1
    CODEC_HEVC = 2
    CODEC_AAC = 3

cdef class Framer:
    cdef readonly int codec
    cdef readonly int length_size
    cdef Span* _spans
    cdef Py_ssize_t _cap
    cdef Py_ssize_t _n
    cdef Py_ssize_t _off
    cdef readonly set parameter_sets
    cdef public object adts_config
    cdef readonly int adts_reference  # expected (b2 & 0xFD) << 8 | (b3 & 0xC0); ADTS_UNKNOWN, ADTS_NONE

    cdef int _grow(self) except -1
    cdef int _scan(self, const uint8_t* p, Py_ssize_t n) except -1
    cdef Py_ssize_t _adts(self, const uint8_t* p, Py_ssize_t n)
    cdef inline void _collect(self, const uint8_t* p)
    cdef Py_ssize_t _plan(self, const uint8_t* p, Py_ssize_t n) except -1
    cdef void _emit(self, const uint8_t* p, Py_ssize_t n, uint8_t* out) noexcept
