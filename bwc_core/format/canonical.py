"""Canonical JSON: the one byte form every signed bwc-core payload takes.

A signature covers bytes, so two writers must produce the same bytes for the
same value and a reader must refuse bytes that are not in that form (or a
record could be re-serialized differently and still "verify"). The form is:

* UTF-8, no byte order mark, no whitespace outside strings;
* object keys sorted by their UTF-8 bytes (equal to code point order), unique;
* separators ``,`` and ``:``; strings escaped exactly as Python's ``json``
  does with ``ensure_ascii=False`` (``\\"``, ``\\\\``, ``\\b \\f \\n \\r \\t``,
  other code points below U+0020 as ``\\u00xx`` lowercase, everything else raw);
* integers only, in the signed 64-bit range ``-2**63 .. 2**63-1``; no floats,
  no NaN or Infinity, no ``-0``; ``true``, ``false`` and ``null`` allowed.

``bool`` is a subclass of ``int`` in Python: it is always written as
``true``/``false``, never as ``1``/``0``, and :func:`require_int` lets a schema
refuse a bool where an integer is required (``seq: true`` is not ``seq: 1``).

:func:`canonical_bytes` writes with ``orjson`` (``OPT_SORT_KEYS``) the values a
compiled check (``src_cython/_canonical.pyx``, one C walk) finds in the domain
where orjson's bytes are the canonical bytes: exact builtin types, integers in
range, fewer than :data:`MAX_DEPTH` levels. :func:`_reference_bytes` below is
the pure-Python reference it must equal byte for byte (tests hold the two
equal), and it decides every other value: it encodes subclasses of the allowed
types and raises for what is not canonical JSON (a float, a lone surrogate, ...).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

from bwc_core._canonical import in_domain as _in_domain
from bwc_core.errors import CanonicalJSONError

__all__ = [
    "INT_MAX",
    "INT_MIN",
    "MAX_DEPTH",
    "canonical_bytes",
    "json_depth",
    "load_json",
    "parse_canonical",
    "require_int",
]

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
MAX_DEPTH = 64

_encode: Callable[[Any], str] = json.JSONEncoder(
    ensure_ascii=False,
    allow_nan=False,
    sort_keys=True,
    separators=(",", ":"),
).encode
try:
    # The C encoder without circular-reference markers: _check has already
    # bounded the depth (so no cycles), and skipping the markers saves ~25%.
    from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]

    if c_make_encoder is not None:
        _c_encode = c_make_encoder(None, None, encode_basestring, None, ":", ",", True, False, False)

        def _c_json(obj: Any) -> str:
            if isinstance(obj, str):
                return encode_basestring(obj)
            return "".join(_c_encode(obj, 0))

        _encode = _c_json
except ImportError:  # pragma: no cover - pure-Python json
    pass


def _int_range_error(value: int) -> CanonicalJSONError:
    bits = value.bit_length()
    if bits > 256:  # str() of a huge int is slow, and refused past 4300 digits
        return CanonicalJSONError(f"integer of {bits} bits outside the signed 64-bit range")
    return CanonicalJSONError(f"integer {value} outside the signed 64-bit range")


def _check(obj: Any, /) -> None:
    """Raise CanonicalJSONError unless ``obj`` is representable canonically.

    Iterative and dispatching on exact types first: this walk runs on every
    journal append, so it is kept cheap; subclasses take the slower path.
    """
    stack = [(obj, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        o, depth = pop()
        t = type(o)
        if t is str or t is bool or o is None:
            continue
        if t is int:
            if not INT_MIN <= o <= INT_MAX:
                raise _int_range_error(o)
            continue
        if depth >= MAX_DEPTH:
            raise CanonicalJSONError(f"nesting deeper than {MAX_DEPTH} levels")
        if t is dict:
            for key, value in o.items():
                if type(key) is not str and not isinstance(key, str):
                    raise CanonicalJSONError(f"object key {key!r} is not a string")
                vt = type(value)
                if vt is str or vt is bool or value is None:
                    continue
                if vt is int and INT_MIN <= value <= INT_MAX:
                    continue
                push((value, depth + 1))
        elif t is list or t is tuple:
            for value in o:
                vt = type(value)
                if vt is str or vt is bool or value is None:
                    continue
                if vt is int and INT_MIN <= value <= INT_MAX:
                    continue
                push((value, depth + 1))
        elif isinstance(o, str):
            continue
        elif isinstance(o, int) and not isinstance(o, bool):
            push((int(o), depth))
        elif isinstance(o, dict):
            push((dict(o), depth))
        elif isinstance(o, (list, tuple)):
            push((list(o), depth))
        elif isinstance(o, float):
            raise CanonicalJSONError(f"float {o!r} not allowed: canonical JSON has integers only")
        else:
            raise CanonicalJSONError(f"type {type(o).__name__} cannot be canonical JSON")


_dumps = orjson.dumps
_JSONEncodeError = orjson.JSONEncodeError
# Sorted keys; no native serialization of anything the domain check lets through
# by mistake (the check admits exact builtin types only, these are a second guard).
_ORJSON_OPTIONS = (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_SUBCLASS
                   | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME)


def canonical_bytes(obj: Any, /) -> bytes:
    """Encode ``obj`` as canonical JSON bytes, or raise :class:`CanonicalJSONError`."""
    if _in_domain(obj):
        try:
            return _dumps(obj, option=_ORJSON_OPTIONS)
        except _JSONEncodeError:  # a lone surrogate: the reference words the error
            pass
    return _reference_bytes(obj)  # a subclass (IntEnum, OrderedDict, ...) or not canonical


def _reference_bytes(obj: Any, /) -> bytes:
    """The pure-Python reference of :func:`canonical_bytes` (validate, then stdlib json)."""
    _check(obj)
    try:
        return _encode(obj).encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate in a str
        raise CanonicalJSONError(f"string is not valid Unicode: {exc.reason}") from None


def _reject_constant(name: str) -> Any:
    raise CanonicalJSONError(f"{name} not allowed in canonical JSON")


def _reject_float(text: str) -> Any:
    raise CanonicalJSONError(f"number {text} not allowed: canonical JSON has integers only")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise CanonicalJSONError(f"duplicate object key {key!r}")
            seen.add(key)
    return obj


def parse_canonical(data: bytes | bytearray | memoryview, /) -> Any:
    """Decode canonical JSON bytes; raise :class:`CanonicalJSONError` if they are not canonical.

    The value is re-encoded and compared byte for byte, so any other spelling
    of the same value (whitespace, key order, escapes, ``1.0``, ``-0``) is refused.
    """
    raw = bytes(data)
    try:
        text = raw.decode("utf-8")
        obj = json.loads(
            text,
            parse_float=_reject_float,
            parse_constant=_reject_constant,
            object_pairs_hook=_unique_keys,
        )
    except CanonicalJSONError:
        raise
    except UnicodeDecodeError as exc:
        raise CanonicalJSONError(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, int digit limit
        raise CanonicalJSONError(f"not JSON: {exc}") from None
    if canonical_bytes(obj) != raw:
        raise CanonicalJSONError("JSON is valid but not in canonical form")
    return obj


def json_depth(obj: Any, /, *, limit: int = MAX_DEPTH) -> int:
    """The nesting depth of a decoded JSON value (a scalar is 0), counted up to ``limit + 1``.

    Iterative, so a value nested deeper than the interpreter's recursion
    limit is measured, not crashed on.
    """
    deepest = 0
    stack = [(obj, 0)]
    while stack:
        o, depth = stack.pop()
        if isinstance(o, dict):
            children: Any = o.values()
        elif isinstance(o, list):
            children = o
        else:
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                return deepest
        stack.extend((c, depth) for c in children if isinstance(c, (dict, list)))
    return deepest


def load_json(data: bytes | bytearray | memoryview | str, /, *, max_depth: int = MAX_DEPTH) -> Any:
    """Decode ordinary (not necessarily canonical) JSON from an untrusted file.

    Raises :class:`CanonicalJSONError` (a ``ValueError``) for anything that is
    not JSON, including input nested deeper than ``max_depth`` levels (deep
    enough for every bwc-core document; far deeper input would otherwise
    exhaust the interpreter's recursion limit), NaN / Infinity literals, and
    integers beyond the interpreter's digit limit. Never raises ``RecursionError``.
    """
    try:
        text = data if isinstance(data, str) else bytes(data).decode("utf-8")
        obj = json.loads(text, parse_constant=_reject_constant)
    except CanonicalJSONError:
        raise
    except UnicodeDecodeError as exc:
        raise CanonicalJSONError(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    except RecursionError:
        raise CanonicalJSONError(f"not JSON: nested deeper than {max_depth} levels") from None
    except ValueError as exc:  # JSONDecodeError, int digit limit
        raise CanonicalJSONError(f"not JSON: {exc}") from None
    if json_depth(obj, limit=max_depth) > max_depth:
        raise CanonicalJSONError(f"not JSON: nested deeper than {max_depth} levels")
    return obj


def require_int(value: Any, name: str, /, *, minimum: int = INT_MIN, maximum: int = INT_MAX) -> int:
    """Return ``value`` if it is a true integer (not a bool) within bounds, else raise."""
    if type(value) is not int:
        raise CanonicalJSONError(f"{name} must be an integer, not {type(value).__name__}")
    if not minimum <= value <= maximum:
        raise CanonicalJSONError(f"{name}={value} outside {minimum}..{maximum}")
    return value
