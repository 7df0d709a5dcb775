# cython: language_level=3
"""One-chunk BLAKE3 (inputs <= 1024 bytes) compiled without Python objects (private).

The code lives as inline C in ``bwc_core._blake3.pxd`` so that
``_framing`` hashes tree nodes and small leaves with no call overhead; this
module exposes it to Python for the tests, which hold it byte-identical
to blake3-py, and for the journal's record hash of small records
(:func:`derive_key_small`). It is not an API: ``blake3`` is.
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


def context_key(str context not None):
    """The 32-byte derive-key context key of *context* (for :func:`derive_key_small`)."""
    cdef uint32_t key[8]
    cdef bytes ctx = context.encode("utf-8")
    cdef bytes out = PyBytes_FromStringAndSize(NULL, 32)
    cdef uint8_t* p = <uint8_t*>PyBytes_AS_STRING(out)
    cdef int i
    if b3_context_key(<const uint8_t*>PyBytes_AS_STRING(ctx), len(ctx), key) < 0:
        raise BwcValueError("derive-key context longer than 1024 bytes")
    for i in range(8):
        p[4 * i] = <uint8_t>key[i]
        p[4 * i + 1] = <uint8_t>(key[i] >> 8)
        p[4 * i + 2] = <uint8_t>(key[i] >> 16)
        p[4 * i + 3] = <uint8_t>(key[i] >> 24)
    return out


def derive_key_small(bytes key not None, bytes data not None, /):
    """BLAKE3 derive-key of at most 1024 bytes of *data* under a :func:`context_key` *key*.

    Equal to ``blake3(data, derive_key_context=context).digest()`` with no
    per-call context hashing and no Python object besides the result: for the
    journal's record hash of small records, where blake3-py's call overhead
    costs more than the hashing.
    """
    cdef uint32_t words[8]
    cdef const uint8_t* k
    cdef bytes out
    cdef int i
    if len(key) != 32:
        raise BwcValueError(f"a context key is 32 bytes, not {len(key)}")
    if len(data) > B3_CHUNK_LEN:
        raise BwcValueError(f"derive_key_small takes at most {B3_CHUNK_LEN} bytes, got {len(data)}")
    k = <const uint8_t*>PyBytes_AS_STRING(key)
    for i in range(8):
        words[i] = (<uint32_t>k[4 * i] | (<uint32_t>k[4 * i + 1] << 8)
                    | (<uint32_t>k[4 * i + 2] << 16) | (<uint32_t>k[4 * i + 3] << 24))
    out = PyBytes_FromStringAndSize(NULL, 32)
    b3_hash_small(words, B3_DERIVE_KEY_MATERIAL, <const uint8_t*>PyBytes_AS_STRING(data), len(data),
                  <uint8_t*>PyBytes_AS_STRING(out))
    return out


def nodes(bytes context_key not None, const uint8_t[::1] pairs not None, *, int prefix=1):
    """Tree nodes ``H(prefix || pair)`` of every 64-byte pair in *pairs*, concatenated (the test hook
    of the batched path ``_framing`` builds trees with), under a :func:`context_key`; hashed in
    place in one buffer as a tree level is."""
    cdef uint32_t words[8]
    cdef const uint8_t* k
    cdef Py_ssize_t count = pairs.shape[0] // 64
    cdef int i
    if len(context_key) != 32:
        raise BwcValueError(f"a context key is 32 bytes, not {len(context_key)}")
    if pairs.shape[0] % 64:
        raise BwcValueError(f"pairs are 64 bytes each; got {pairs.shape[0]} bytes")
    k = <const uint8_t*>PyBytes_AS_STRING(context_key)
    for i in range(8):
        words[i] = (<uint32_t>k[4 * i] | (<uint32_t>k[4 * i + 1] << 8)
                    | (<uint32_t>k[4 * i + 2] << 16) | (<uint32_t>k[4 * i + 3] << 24))
    work = bytearray(pairs)
    cdef uint8_t[::1] view = work
    if count:
        b3_nodes(words, B3_DERIVE_KEY_MATERIAL, <uint8_t>prefix, &view[0], <size_t>count, &view[0])
    return bytes(work[:32 * count])
