# cython: language_level=3
"""One-chunk BLAKE3 (inputs <= 1024 bytes) compiled without Python objects (private).

The code lives as inline C in ``bwc_core._blake3.pxd`` so that
``_framing`` hashes tree nodes and small leaves with no call overhead; this
module only exposes it to Python for the tests, which hold it byte-identical
to blake3-py. It is not an API: ``blake3`` is.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport uint8_t, uint32_t
from libc.string cimport memcpy

from .errors import ValueError as BwcValueError

#: Longest input the one-chunk code hashes.
MAX_INPUT = B3_CHUNK_LEN


def hash_small(const uint8_t[::1] data not None, *, str derive_key_context=None):
    """BLAKE3 (plain, or derive-key with *derive_key_context*) of at most 1024 bytes."""
    cdef uint32_t key[8]
    cdef uint32_t mode = 0
    cdef bytes ctx
    cdef bytes out = PyBytes_FromStringAndSize(NULL, 32)
    if data.shape[0] > B3_CHUNK_LEN:
        raise BwcValueError(f"hash_small takes at most {B3_CHUNK_LEN} bytes, got {data.shape[0]}")
    if derive_key_context is None:
        memcpy(key, b3_iv, sizeof(key))
    else:
        ctx = derive_key_context.encode("utf-8")
        if b3_context_key(<const uint8_t*>PyBytes_AS_STRING(ctx), len(ctx), key) < 0:
            raise BwcValueError("derive-key context longer than 1024 bytes")
        mode = B3_DERIVE_KEY_MATERIAL
    b3_hash_small(key, mode, &data[0] if data.shape[0] else <const uint8_t*>"", data.shape[0],
                  <uint8_t*>PyBytes_AS_STRING(out))
    return out
