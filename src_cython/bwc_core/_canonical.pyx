# cython: language_level=3
"""The domain check behind bwc_core.format.canonical.canonical_bytes (private).

Canonical JSON is written by ``orjson`` (sorted keys); this module only
decides, in one C walk without calling back into the interpreter, whether a
value lies in the domain where orjson's bytes are the canonical bytes (held
equal to the pure-Python reference by tests/test_canonical.py): exact
builtin ``dict`` with exact ``str`` keys, ``list``, ``tuple``, ``str``,
``int`` in the signed 64-bit range, ``bool`` and ``None``, nested fewer than
:data:`MAX_DEPTH` container levels. Anything else (a float, a 2**63, a
subclass such as an IntEnum, a set, too deep) is not decided here: the
reference encodes it or raises the typed error.
"""

from cpython.object cimport PyObject, PyTypeObject

__all__ = ["MAX_DEPTH", "in_domain"]

cdef extern from "Python.h":
    PyTypeObject PyUnicode_Type
    PyTypeObject PyLong_Type
    PyTypeObject PyBool_Type
    PyTypeObject PyDict_Type
    PyTypeObject PyList_Type
    PyTypeObject PyTuple_Type
    PyObject* Py_None
    PyTypeObject* Py_TYPE(PyObject* o)
    long long PyLong_AsLongLongAndOverflow(PyObject* o, int* overflow)
    bint PyDict_Next(PyObject* d, Py_ssize_t* pos, PyObject** key, PyObject** value)
    Py_ssize_t PyList_GET_SIZE(PyObject* o)
    PyObject* PyList_GET_ITEM(PyObject* o, Py_ssize_t i)
    Py_ssize_t PyTuple_GET_SIZE(PyObject* o)
    PyObject* PyTuple_GET_ITEM(PyObject* o, Py_ssize_t i)

cdef enum:
    _MAX_NESTING = 64  # bwc_core.format.canonical.MAX_DEPTH is the same

#: Container levels at most (equal to bwc_core.format.canonical.MAX_DEPTH).
MAX_DEPTH = _MAX_NESTING


cdef bint _ok(PyObject* o, int depth) noexcept:
    """True when ``o`` is in the exact-builtin canonical domain (borrowed references only:
    nothing here runs Python code, so no container can change during the walk)."""
    cdef PyTypeObject* t = Py_TYPE(o)
    cdef int overflow = 0
    cdef Py_ssize_t pos = 0, i, n
    cdef PyObject* key
    cdef PyObject* value
    if t == &PyUnicode_Type or t == &PyBool_Type or o == Py_None:
        return True
    if t == &PyLong_Type:
        PyLong_AsLongLongAndOverflow(o, &overflow)  # an exact int: no error, only overflow
        return overflow == 0
    if depth >= _MAX_NESTING:
        return False
    if t == &PyDict_Type:
        while PyDict_Next(o, &pos, &key, &value):
            if Py_TYPE(key) != &PyUnicode_Type or not _ok(value, depth + 1):
                return False
        return True
    if t == &PyList_Type:
        n = PyList_GET_SIZE(o)
        for i in range(n):
            if not _ok(PyList_GET_ITEM(o, i), depth + 1):
                return False
        return True
    if t == &PyTuple_Type:
        n = PyTuple_GET_SIZE(o)
        for i in range(n):
            if not _ok(PyTuple_GET_ITEM(o, i), depth + 1):
                return False
        return True
    return False


def in_domain(obj, /):
    """True when orjson's sorted-keys bytes of ``obj`` are its canonical JSON (see the module
    docstring); False sends the value to the pure-Python reference."""
    return _ok(<PyObject*>obj, 0)
