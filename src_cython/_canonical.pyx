"""Canonical JSON encoder (and base64) behind bwc_core.canonical.canonical_bytes.

One recursive pass over exact builtin types both validates and writes UTF-8
into one growing buffer: dict (str keys, sorted by code point), list, tuple,
str, int (signed 64-bit), bool, None. The bytes are those of the pure-Python
reference in bwc_core/canonical.py (tests/test_canonical.py holds the two
equal on random values). Instances of subclasses of the allowed types are
not handled here: ``encode`` returns None and the reference decides, so the
odd cases (an IntEnum, an OrderedDict, a str subclass key) cannot drift.

No Python code runs while the walk holds borrowed pointers into a dict or a
list (only exact builtins are touched; the walk never calls back into the
interpreter until it raises), so the containers cannot change under it.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.object cimport PyObject, PyTypeObject
from libc.stdint cimport uint16_t, uint64_t
from libc.stdlib cimport free, malloc, qsort, realloc
from libc.string cimport memcmp, memcpy

from bwc_core.errors import CanonicalJSONError

__all__ = ["MAX_DEPTH", "b64encode", "dsse_line", "encode", "encode_pae"]

cdef extern from "Python.h":
    PyTypeObject PyUnicode_Type
    PyTypeObject PyLong_Type
    PyTypeObject PyBool_Type
    PyTypeObject PyFloat_Type
    PyTypeObject PyDict_Type
    PyTypeObject PyList_Type
    PyTypeObject PyTuple_Type
    PyObject* Py_True
    PyObject* Py_None
    PyTypeObject* Py_TYPE(PyObject* o) nogil
    bint PyType_IsSubtype(PyTypeObject* a, PyTypeObject* b)
    long long PyLong_AsLongLongAndOverflow(PyObject* o, int* overflow) except? -1
    bint PyDict_Next(PyObject* d, Py_ssize_t* pos, PyObject** key, PyObject** value)
    Py_ssize_t PyDict_GET_SIZE(PyObject* d)
    Py_ssize_t PyList_GET_SIZE(PyObject* o)
    PyObject* PyList_GET_ITEM(PyObject* o, Py_ssize_t i)
    Py_ssize_t PyTuple_GET_SIZE(PyObject* o)
    PyObject* PyTuple_GET_ITEM(PyObject* o, Py_ssize_t i)

cdef extern from "Python.h" nogil:
    # Read-only views of a ready str: no interpreter state involved.
    Py_ssize_t PyUnicode_GET_LENGTH(PyObject* o)
    int PyUnicode_KIND(PyObject* o)
    void* PyUnicode_DATA(PyObject* o)
    Py_UCS4 PyUnicode_READ(int kind, void* data, Py_ssize_t index)
    Py_ssize_t PY_SSIZE_T_MAX

cdef extern from *:
    """
    /* Strings built by the removed Py_UNICODE API may still be "not ready" on 3.11. */
    #if PY_VERSION_HEX < 0x030C0000
    #define BWC_UNICODE_READY(o) PyUnicode_READY(o)
    #else
    #define BWC_UNICODE_READY(o) 0
    #endif
    """
    int BWC_UNICODE_READY(PyObject* o) except -1

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    /* Length of the leading run of bytes JSON writes as they are: 0x20..0x7f
       except 0x22 (quote) and 0x5C (backslash). Eight bytes at a time (SWAR):
       the high bits of the mask are non-zero iff some byte is < 0x20, 0x22,
       0x5C or >= 0x80. */
    static inline Py_ssize_t bwc_plain_run(const unsigned char *s, Py_ssize_t n) {
        const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
        Py_ssize_t i = 0;
        for (; i + 8 <= n; i += 8) {
            uint64_t x, q, b;
            memcpy(&x, s + i, 8);
            q = x ^ (ones * 0x22);
            b = x ^ (ones * 0x5C);
            if ((((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b) | x) & highs)
                break;
        }
        for (; i < n; i++) {
            unsigned char c = s[i];
            if (c < 0x20 || c >= 0x80 || c == 0x22 || c == 0x5C)
                break;
        }
        return i;
    }
    """
    Py_ssize_t bwc_plain_run(const unsigned char* s, Py_ssize_t n) nogil

cdef extern from *:
    """
    static const char bwc_digits2[201] =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
        "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";
    static const unsigned long long bwc_pow10[20] = {
        1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
        100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL,
        10000000000000ULL, 100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
        100000000000000000ULL, 1000000000000000000ULL, 10000000000000000000ULL};
    /* Exactly eight decimal digits of w < 10^8 at s: two independent halves,
       so the divisions do not form one long dependency chain. */
    static inline void bwc_put8(char *s, uint32_t w) {
        uint32_t hi = w / 10000, lo = w % 10000;
        memcpy(s, bwc_digits2 + 2 * (hi / 100), 2);
        memcpy(s + 2, bwc_digits2 + 2 * (hi % 100), 2);
        memcpy(s + 4, bwc_digits2 + 2 * (lo / 100), 2);
        memcpy(s + 6, bwc_digits2 + 2 * (lo % 100), 2);
    }
    /* Number of decimal digits of u (1..20). */
    static inline int bwc_ndigits(unsigned long long u) {
    #if defined(__GNUC__) || defined(__clang__)
        int t;
        if (u < 10) return 1;
        t = ((64 - __builtin_clzll(u)) * 1233) >> 12;  /* floor or ceil of log10(2^bits) */
        return t + (u >= bwc_pow10[t]);
    #else
        int n = 1;
        while (n < 20 && u >= bwc_pow10[n]) n++;
        return n;
    #endif
    }
    /* Decimal v at p (room for 20 bytes); returns its length. Digits are
       written in place from the end: eight at a time while more than eight
       remain, then two per table look-up. */
    static inline Py_ssize_t bwc_write_i64(char *p, long long v) {
        unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
        int n = bwc_ndigits(u), sign = v < 0;
        char *s;
        uint32_t w, r;
        if (sign)
            *p = '-';
        s = p + sign + n;
        while (u >= 100000000ULL) {
            s -= 8;
            bwc_put8(s, (uint32_t)(u % 100000000ULL));
            u /= 100000000ULL;
        }
        w = (uint32_t)u;
        while (w >= 100) {
            r = w % 100; w /= 100; s -= 2; memcpy(s, bwc_digits2 + 2 * r, 2);
        }
        if (w >= 10) { s -= 2; memcpy(s, bwc_digits2 + 2 * w, 2); }
        else { *--s = (char)('0' + w); }
        return sign + n;
    }
    """
    Py_ssize_t bwc_write_i64(char* p, long long v) nogil

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    /* Base64 of the first 6k input bytes (while 8 bytes can be loaded) with
       the 12-bit pair table; returns k * 6, the bytes consumed. Little-endian
       hosts with GCC/Clang builtins only; elsewhere it consumes nothing. */
    static inline Py_ssize_t bwc_b64_six(const unsigned char *src, Py_ssize_t n, char *out,
                                         const uint16_t *pair) {
        Py_ssize_t i = 0;
    #if (defined(__GNUC__) || defined(__clang__)) && defined(__BYTE_ORDER__) && \
        __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        for (; i + 8 <= n; i += 6, out += 8) {
            uint64_t w, o;
            memcpy(&w, src + i, 8);
            w = __builtin_bswap64(w) >> 16;  /* the six bytes, big-endian, in the low 48 bits */
            o = (uint64_t)pair[w >> 36] | ((uint64_t)pair[(w >> 24) & 0xFFF] << 16)
                | ((uint64_t)pair[(w >> 12) & 0xFFF] << 32) | ((uint64_t)pair[w & 0xFFF] << 48);
            memcpy(out, &o, 8);
        }
    #else
        (void)src; (void)n; (void)out; (void)pair;
    #endif
        return i;
    }
    """
    Py_ssize_t bwc_b64_six(const unsigned char* src, Py_ssize_t n, char* out,
                           const uint16_t* pair) noexcept nogil


MAX_DEPTH = MAX_NESTING

cdef enum:
    STACK_BYTES = 8192  # most records fit: no heap allocation
    SMALL_DICT = 16  # dicts up to this size: items on the stack, insertion sort
    STR_CHUNK = 4096  # code points reserved at a time (6 output bytes each at most)
    KEYTEXT_BYTES = 256  # encoded keys of the last small dict kept for its repeats

# Escape code per ASCII byte: 0 = raw, 'u' = \u00xx, else the letter after '\'.
cdef char _ESC[128]
cdef const char* _HEX = b"0123456789abcdef"


cdef void _init_escapes() noexcept:
    cdef int c
    for c in range(128):
        _ESC[c] = c'u' if c < 0x20 else 0
    _ESC[ord('"')] = c'"'
    _ESC[ord('\\')] = c'\\'
    _ESC[ord('\b')] = c'b'
    _ESC[ord('\f')] = c'f'
    _ESC[ord('\n')] = c'n'
    _ESC[ord('\r')] = c'r'
    _ESC[ord('\t')] = c't'


_init_escapes()


cdef struct Out:
    char* data
    Py_ssize_t len
    Py_ssize_t cap
    bint heap
    # Key order of the last small dict sorted: a list of records repeats the
    # same key objects in the same insertion order, so their sort is reused
    # (equal pointers are equal strings; cached pointers are never read).
    Py_ssize_t order_n
    PyObject* order_keys[SMALL_DICT]
    unsigned char order[SMALL_DICT]
    # The keys of that dict as written (``"key":``, in sorted order) when they
    # all fit in keytext: a repeat writes them with memcpy instead of _enc_str.
    bint keys_cached
    Py_ssize_t key_end[SMALL_DICT]
    char keytext[KEYTEXT_BYTES]


ctypedef struct Item:
    PyObject* key
    PyObject* value


cdef int _grow(Out* o, Py_ssize_t need) except -1:
    cdef Py_ssize_t cap = o.cap * 2
    cdef char* data
    while cap < o.len + need:
        cap *= 2
    if o.heap:
        data = <char*>realloc(o.data, cap)
    else:
        data = <char*>malloc(cap)
        if data != NULL:
            memcpy(data, o.data, o.len)
    if data == NULL:
        raise MemoryError()
    o.data = data
    o.cap = cap
    o.heap = True
    return 0


cdef inline int _reserve(Out* o, Py_ssize_t need) except -1:
    if o.len + need > o.cap:
        return _grow(o, need)
    return 0


cdef inline int _put(Out* o, const char* text, Py_ssize_t n) except -1:
    _reserve(o, n)
    memcpy(o.data + o.len, text, n)
    o.len += n
    return 0


cdef inline int _putc(Out* o, char c) except -1:
    if o.len + 1 > o.cap:
        _grow(o, 1)
    o.data[o.len] = c
    o.len += 1
    return 0


# --- strings -------------------------------------------------------------------------

cdef inline char* _ascii(char* p, unsigned int c) noexcept:
    cdef char e = _ESC[c]
    if e == 0:
        p[0] = <char>c
        return p + 1
    p[0] = c'\\'
    if e != c'u':
        p[1] = e
        return p + 2
    p[1] = c'u'
    p[2] = c'0'
    p[3] = c'0'
    p[4] = _HEX[c >> 4]
    p[5] = _HEX[c & 15]
    return p + 6


cdef int _enc_str(Out* o, PyObject* s) except -1:
    """Write ``s`` as a JSON string: the minimal escapes of json's encode_basestring."""
    cdef Py_ssize_t n, pos, end, i, run
    cdef int kind
    cdef void* data
    cdef const unsigned char* latin
    cdef char* p
    cdef unsigned int c
    BWC_UNICODE_READY(s)
    n = PyUnicode_GET_LENGTH(s)
    kind = PyUnicode_KIND(s)
    data = PyUnicode_DATA(s)
    _putc(o, c'"')
    pos = 0
    while pos < n:
        end = min(n, pos + STR_CHUNK)
        _reserve(o, (end - pos) * 6)
        p = o.data + o.len
        if kind == 1:
            latin = <const unsigned char*>data
            i = pos
            while i < end:
                run = bwc_plain_run(latin + i, end - i)
                memcpy(p, latin + i, run)
                p += run
                i += run
                if i == end:
                    break
                c = latin[i]
                i += 1
                if c < 0x80:
                    p = _ascii(p, c)
                else:
                    p[0] = <char>(0xC0 | (c >> 6))
                    p[1] = <char>(0x80 | (c & 0x3F))
                    p += 2
        else:
            for i in range(pos, end):
                c = PyUnicode_READ(kind, data, i)
                if c < 0x80:
                    p = _ascii(p, c)
                elif c < 0x800:
                    p[0] = <char>(0xC0 | (c >> 6))
                    p[1] = <char>(0x80 | (c & 0x3F))
                    p += 2
                elif c < 0x10000:
                    if 0xD800 <= c <= 0xDFFF:
                        raise CanonicalJSONError("string is not valid Unicode: surrogates not allowed")
                    p[0] = <char>(0xE0 | (c >> 12))
                    p[1] = <char>(0x80 | ((c >> 6) & 0x3F))
                    p[2] = <char>(0x80 | (c & 0x3F))
                    p += 3
                else:
                    p[0] = <char>(0xF0 | (c >> 18))
                    p[1] = <char>(0x80 | ((c >> 12) & 0x3F))
                    p[2] = <char>(0x80 | ((c >> 6) & 0x3F))
                    p[3] = <char>(0x80 | (c & 0x3F))
                    p += 4
        o.len = p - o.data
        pos = end
    _putc(o, c'"')
    return 0


cdef int _cmp_str(PyObject* a, PyObject* b) noexcept nogil:
    """Code point order of two ready, exact str objects (Python's ``<`` on str)."""
    cdef int ka = PyUnicode_KIND(a), kb = PyUnicode_KIND(b), r
    cdef Py_ssize_t la = PyUnicode_GET_LENGTH(a), lb = PyUnicode_GET_LENGTH(b)
    cdef Py_ssize_t n = la if la < lb else lb, i
    cdef void* da = PyUnicode_DATA(a)
    cdef void* db = PyUnicode_DATA(b)
    cdef unsigned int ca, cb
    if ka == 1 and kb == 1:
        if n and (<const unsigned char*>da)[0] != (<const unsigned char*>db)[0]:
            return -1 if (<const unsigned char*>da)[0] < (<const unsigned char*>db)[0] else 1
        r = memcmp(da, db, n)  # unsigned bytes: code point order for Latin-1
        if r != 0:
            return r
    else:
        for i in range(n):
            ca = PyUnicode_READ(ka, da, i)
            cb = PyUnicode_READ(kb, db, i)
            if ca != cb:
                return -1 if ca < cb else 1
    return (la > lb) - (la < lb)


cdef int _cmp_items(const void* a, const void* b) noexcept nogil:
    return _cmp_str((<const Item*>a).key, (<const Item*>b).key)


# --- the walk ------------------------------------------------------------------------

cdef object _int_error(object value):
    bits = value.bit_length()
    if bits > 256:  # str() of a huge int is slow, and refused past 4300 digits
        return CanonicalJSONError(f"integer of {bits} bits outside the signed 64-bit range")
    return CanonicalJSONError(f"integer {value} outside the signed 64-bit range")


cdef int _enc_int(Out* o, PyObject* obj) except -1:
    cdef int overflow = 0
    cdef long long v = PyLong_AsLongLongAndOverflow(obj, &overflow)
    if overflow:
        raise _int_error(<object>obj)
    _reserve(o, 24)
    o.len += bwc_write_i64(o.data + o.len, v)
    return 0


cdef int _enc_other(PyObject* obj) except -1:
    """Not an exact allowed type: 1 (let the reference decide) or raise."""
    cdef PyTypeObject* t = Py_TYPE(obj)
    cdef object value = <object>obj
    if t == &PyFloat_Type:
        raise CanonicalJSONError(f"float {value!r} not allowed: canonical JSON has integers only")
    if (PyType_IsSubtype(t, &PyUnicode_Type) or PyType_IsSubtype(t, &PyLong_Type)
            or PyType_IsSubtype(t, &PyDict_Type) or PyType_IsSubtype(t, &PyList_Type)
            or PyType_IsSubtype(t, &PyTuple_Type) or PyType_IsSubtype(t, &PyFloat_Type)):
        return 1
    raise CanonicalJSONError(f"type {type(value).__name__} cannot be canonical JSON")


cdef int _enc_dict(Out* o, PyObject* d, int depth) except -1:
    cdef Py_ssize_t n = PyDict_GET_SIZE(d), pos = 0, i = 0, j
    cdef PyObject* key
    cdef PyObject* value
    cdef PyTypeObject* kt
    cdef Item small[SMALL_DICT]
    cdef Item* items = small
    cdef unsigned char order[SMALL_DICT]
    cdef unsigned char k
    cdef bint same, flat
    cdef Py_ssize_t start, end
    cdef PyTypeObject* vt
    cdef int r
    if n == 0:
        return _put(o, b"{}", 2)
    if n > SMALL_DICT:
        items = <Item*>malloc(n * sizeof(Item))
        if items == NULL:
            raise MemoryError()
    try:
        while PyDict_Next(d, &pos, &key, &value):
            kt = Py_TYPE(key)
            if kt != &PyUnicode_Type:
                if PyType_IsSubtype(kt, &PyUnicode_Type):
                    return 1
                bad = <object>key
                raise CanonicalJSONError(f"object key {bad!r} is not a string")
            BWC_UNICODE_READY(key)
            items[i].key = key
            items[i].value = value
            i += 1
        _putc(o, c'{')
        if n <= SMALL_DICT:
            # flat: no value is a container, so no nested dict can replace the
            # key cache in o while this dict is written.
            flat = True
            for i in range(n):
                vt = Py_TYPE(items[i].value)
                if vt == &PyDict_Type or vt == &PyList_Type or vt == &PyTuple_Type:
                    flat = False
                    break
            same = n == o.order_n
            i = 0
            while same and i < n:
                same = items[i].key == o.order_keys[i]
                i += 1
            if same and flat and o.keys_cached:
                # A repeat of the last dict's keys: their text is already known.
                start = 0
                for i in range(n):
                    if i:
                        _putc(o, c',')
                    _put(o, o.keytext + start, o.key_end[i] - start)
                    start = o.key_end[i]
                    r = _enc(o, items[o.order[i]].value, depth + 1)
                    if r:
                        return r
                _putc(o, c'}')
                return 0
            if same:
                memcpy(order, o.order, n)
            else:
                for i in range(n):  # insertion sort of indices
                    k = <unsigned char>i
                    j = i - 1
                    while j >= 0 and _cmp_str(items[order[j]].key, items[k].key) > 0:
                        order[j + 1] = order[j]
                        j -= 1
                    order[j + 1] = k
                o.order_n = n
                for i in range(n):
                    o.order_keys[i] = items[i].key
                memcpy(o.order, order, n)
                o.keys_cached = False  # set below once this dict's key text is recorded
            end = 0
            for i in range(n):
                if i:
                    _putc(o, c',')
                start = o.len
                _enc_str(o, items[order[i]].key)
                _putc(o, c':')
                if flat and end >= 0:  # record the key text for the repeats
                    if end + (o.len - start) <= KEYTEXT_BYTES:
                        memcpy(o.keytext + end, o.data + start, o.len - start)
                        end += o.len - start
                        o.key_end[i] = end
                    else:
                        end = -1
                r = _enc(o, items[order[i]].value, depth + 1)
                if r:
                    return r
            if flat and end >= 0:
                o.keys_cached = True
        else:
            qsort(items, n, sizeof(Item), _cmp_items)
            for i in range(n):
                if i:
                    _putc(o, c',')
                _enc_str(o, items[i].key)
                _putc(o, c':')
                r = _enc(o, items[i].value, depth + 1)
                if r:
                    return r
        _putc(o, c'}')
        return 0
    finally:
        if items != small:
            free(items)


cdef int _enc(Out* o, PyObject* obj, int depth) except -1:
    """Write ``obj``; 0 done, 1 = a subclass was met (the caller discards the output)."""
    cdef PyTypeObject* t = Py_TYPE(obj)
    cdef Py_ssize_t i
    cdef int r
    if t == &PyUnicode_Type:
        return _enc_str(o, obj)
    if t == &PyLong_Type:
        return _enc_int(o, obj)
    if t == &PyBool_Type:
        if obj == Py_True:
            return _put(o, b"true", 4)
        return _put(o, b"false", 5)
    if obj == Py_None:
        return _put(o, b"null", 4)
    if depth >= MAX_NESTING:
        raise CanonicalJSONError(f"nesting deeper than {MAX_NESTING} levels")
    if t == &PyDict_Type:
        return _enc_dict(o, obj, depth)
    if t == &PyList_Type:
        _putc(o, c'[')
        i = 0
        while i < PyList_GET_SIZE(obj):
            if i:
                _putc(o, c',')
            r = _enc(o, PyList_GET_ITEM(obj, i), depth + 1)
            if r:
                return r
            i += 1
        return _putc(o, c']')
    if t == &PyTuple_Type:
        _putc(o, c'[')
        for i in range(PyTuple_GET_SIZE(obj)):
            if i:
                _putc(o, c',')
            r = _enc(o, PyTuple_GET_ITEM(obj, i), depth + 1)
            if r:
                return r
        return _putc(o, c']')
    return _enc_other(obj)


cdef inline void _out_init(Out* o, char* stack) noexcept:
    """Start an empty output in the caller's stack buffer, with no cached key order."""
    o.data = stack
    o.len = 0
    o.cap = STACK_BYTES
    o.heap = False
    o.order_n = -1
    o.keys_cached = False


cdef object canonical_encode(object obj):
    cdef char stack[STACK_BYTES]
    cdef Out o
    _out_init(&o, stack)
    try:
        if _enc(&o, <PyObject*>obj, 0):
            return None
        return PyBytes_FromStringAndSize(o.data, o.len)
    finally:
        if o.heap:
            free(o.data)


def encode(obj, /):
    """Canonical JSON bytes of ``obj``; None if it holds a subclass of an allowed type.

    Raises :class:`~bwc_core.errors.CanonicalJSONError` for a value that is not
    canonical JSON. Use :func:`bwc_core.canonical.canonical_bytes`, which falls
    back to the pure-Python reference when this returns None.
    """
    return canonical_encode(obj)


# --- base64 --------------------------------------------------------------------------

cdef const char* _B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
cdef uint16_t _B64PAIR[4096]  # 12 input bits -> their two output characters


cdef void _init_b64() noexcept:
    cdef int v
    cdef char* pair
    for v in range(4096):
        pair = <char*>&_B64PAIR[v]
        pair[0] = _B64[v >> 6]
        pair[1] = _B64[v & 63]


_init_b64()


cdef void _b64_into(const unsigned char* src, Py_ssize_t n, char* out) noexcept nogil:
    cdef Py_ssize_t i = 0
    cdef unsigned int v
    # Six input bytes per step (one 8-byte load, four 12-bit table look-ups,
    # one 8-byte store) where the host allows it; then three at a time.
    i = bwc_b64_six(src, n, out, _B64PAIR)
    out += i // 3 * 4
    while i + 3 <= n:
        v = (<unsigned int>src[i] << 16) | (<unsigned int>src[i + 1] << 8) | src[i + 2]
        memcpy(out, &_B64PAIR[v >> 12], 2)
        memcpy(out + 2, &_B64PAIR[v & 0xFFF], 2)
        out += 4
        i += 3
    if n - i == 1:
        v = <unsigned int>src[i] << 16
        out[0] = _B64[v >> 18]
        out[1] = _B64[(v >> 12) & 63]
        out[2] = c'='
        out[3] = c'='
    elif n - i == 2:
        v = (<unsigned int>src[i] << 16) | (<unsigned int>src[i + 1] << 8)
        out[0] = _B64[v >> 18]
        out[1] = _B64[(v >> 12) & 63]
        out[2] = _B64[(v >> 6) & 63]
        out[3] = c'='


def b64encode(data, /):
    """Standard padded base64 of a C-contiguous buffer, as bytes (no newline).

    The one spelling DSSE fields take in bwc-core (envelope.py refuses any
    other); equal to ``binascii.b2a_base64(data, newline=False)``, about 4x
    faster on journal-sized payloads. Strided buffers are refused (BufferError).
    """
    cdef Py_buffer view
    cdef Py_ssize_t n
    cdef bytes out
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        n = view.len
        if n > (PY_SSIZE_T_MAX // 4 - 1) * 3:
            raise OverflowError("input too large for base64")
        out = PyBytes_FromStringAndSize(NULL, (n + 2) // 3 * 4)
        _b64_into(<const unsigned char*>view.buf, n, PyBytes_AS_STRING(out))
        return out
    finally:
        PyBuffer_Release(&view)


# --- journal hot path -----------------------------------------------------------------


def encode_pae(obj, bytes head not None, /):
    """``(payload, head + b"%d " % len(payload) + payload)`` with payload = canonical JSON of ``obj``.

    One walk and one copy per result for :meth:`bwc_core.journal.Journal` appends,
    whose DSSE PAE message is a constant head, the payload length and the
    payload. None (like :func:`encode`) when ``obj`` holds a subclass of an
    allowed type.
    """
    cdef char stack[STACK_BYTES]
    cdef char digits[24]
    cdef Out o
    cdef Py_ssize_t nd, nh = len(head)
    cdef bytes payload, message
    cdef char* p
    _out_init(&o, stack)
    try:
        if _enc(&o, <PyObject*>obj, 0):
            return None
        nd = bwc_write_i64(digits, o.len)
        digits[nd] = c' '
        nd += 1
        payload = PyBytes_FromStringAndSize(o.data, o.len)
        message = PyBytes_FromStringAndSize(NULL, nh + nd + o.len)
        p = PyBytes_AS_STRING(message)
        memcpy(p, PyBytes_AS_STRING(head), nh)
        memcpy(p + nh, digits, nd)
        memcpy(p + nh + nd, o.data, o.len)
        return payload, message
    finally:
        if o.heap:
            free(o.data)


def dsse_line(bytes head not None, bytes payload not None, bytes middle not None,
              bytes sig not None, bytes tail not None, /):
    """``head + base64(payload) + middle + base64(sig) + tail`` in one allocation.

    The journal's envelope line without the intermediate base64 objects.
    """
    cdef Py_ssize_t nh = len(head), np = len(payload), nm = len(middle)
    cdef Py_ssize_t ns = len(sig), nt = len(tail)
    cdef Py_ssize_t bp, bs
    cdef bytes out
    cdef char* p
    if np > (PY_SSIZE_T_MAX // 4 - 1) * 3 - 1024:
        raise OverflowError("input too large for base64")
    bp = (np + 2) // 3 * 4
    bs = (ns + 2) // 3 * 4
    out = PyBytes_FromStringAndSize(NULL, nh + bp + nm + bs + nt)
    p = PyBytes_AS_STRING(out)
    memcpy(p, PyBytes_AS_STRING(head), nh)
    p += nh
    _b64_into(<const unsigned char*>PyBytes_AS_STRING(payload), np, p)
    p += bp
    memcpy(p, PyBytes_AS_STRING(middle), nm)
    p += nm
    _b64_into(<const unsigned char*>PyBytes_AS_STRING(sig), ns, p)
    p += bs
    memcpy(p, PyBytes_AS_STRING(tail), nt)
    return out
