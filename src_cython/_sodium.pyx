# cython: language_level=3
"""Detached Ed25519 signing straight into PyNaCl's own libsodium (private).

PyNaCl binds ``crypto_sign`` (signature + a copy of the message) but not
``crypto_sign_detached``; for a journal record of a few kilobytes the copy
and the cffi wrapper cost ~2.5 us of a ~38 us signature. This module looks up
``crypto_sign_ed25519_detached`` in the libsodium that PyNaCl already
loaded (``nacl._sodium``, which exports libsodium's symbols) and calls it
directly: the same library, the same code, the same signature bytes.

The lookup is checked at import against RFC 8032's first test vector; when
the symbol is missing (another platform, another PyNaCl build) or the check
fails, :data:`AVAILABLE` is false and :func:`sign_detached` is not used:
:class:`bwc_core.keys.Identity` falls back to ``nacl.bindings.crypto_sign``.
It is not an API.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize

import nacl.bindings  # runs sodium_init() before any call below

cdef extern from *:
    """
    #if defined(_WIN32)
    static void* bwc_sodium_symbol(const char* path, const char* name) { (void)path; (void)name; return NULL; }
    #else
    #include <dlfcn.h>
    /* The library is already loaded by PyNaCl: RTLD_NOLOAD never loads another copy. */
    static void* bwc_sodium_symbol(const char* path, const char* name) {
        void* handle = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
        if (handle == NULL) return NULL;
        void* sym = dlsym(handle, name);
        dlclose(handle);  /* PyNaCl's own reference keeps it loaded */
        return sym;
    }
    #endif
    """
    void* bwc_sodium_symbol(const char* path, const char* name)

ctypedef int (*_sign_detached_fn)(unsigned char* sig, unsigned long long* siglen,
                                  const unsigned char* m, unsigned long long mlen,
                                  const unsigned char* sk) noexcept nogil

cdef _sign_detached_fn _sign = NULL


def sign_detached(bytes message not None, bytes secret_key not None, /):
    """The 64-byte Ed25519 signature of ``message`` under a 64-byte libsodium secret key."""
    cdef bytes out
    if _sign == NULL:
        raise RuntimeError("detached signing is not available")
    if len(secret_key) != 64:
        raise ValueError("an Ed25519 secret key is 64 bytes")
    out = PyBytes_FromStringAndSize(NULL, 64)
    if _sign(<unsigned char*>PyBytes_AS_STRING(out), NULL,
             <const unsigned char*>PyBytes_AS_STRING(message), <unsigned long long>len(message),
             <const unsigned char*>PyBytes_AS_STRING(secret_key)) != 0:
        raise RuntimeError("libsodium refused to sign")
    return out


def _load():
    global _sign
    try:
        import nacl._sodium as sodium_ext
        path = sodium_ext.__file__.encode()
    except (ImportError, AttributeError):
        return False
    _sign = <_sign_detached_fn>bwc_sodium_symbol(path, b"crypto_sign_ed25519_detached")
    if _sign == NULL:
        return False
    # RFC 8032 section 7.1, TEST 1 (empty message), and a longer message checked
    # against PyNaCl's own crypto_sign: the pointer must be the real thing.
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    pk, sk = nacl.bindings.crypto_sign_seed_keypair(seed)
    expected = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
    message = bytes(range(256)) * 9
    if (sign_detached(b"", sk) != expected
            or sign_detached(message, sk) != nacl.bindings.crypto_sign(message, sk)[:64]):
        _sign = NULL
        return False
    return True


#: True when :func:`sign_detached` calls libsodium directly.
AVAILABLE = _load()
