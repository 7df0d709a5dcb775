# Canonical JSON fast path (see _canonical.pyx and bwc_core/canonical.py). The dotted
# name is how Cython finds the .pxd of bwc_core._canonical beside its .pyx.

# MAX_NESTING container levels at most; bwc_core.canonical.MAX_DEPTH is the same.
cdef enum:
    MAX_NESTING = 64

# Canonical JSON bytes of ``obj``, or None when ``obj`` holds an instance of a
# subclass of str/int/dict/list/tuple/float (the pure-Python reference decides
# those). Raises CanonicalJSONError for a value that is not canonical JSON.
cdef object canonical_encode(object obj)
