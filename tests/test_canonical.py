"""Canonical JSON: one byte form per value, and non-canonical bytes refused."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bwc_core.errors import CanonicalJSONError
from bwc_core.format.canonical import INT_MAX, INT_MIN, canonical_bytes, parse_canonical, require_int


def test_known_bytes():
    value = {"b": [1, -2, True, None], "a": "é\n\"", "A": {}, "é": 0}
    # keys sorted by code point; raw UTF-8; minimal escapes; no whitespace
    assert canonical_bytes(value) == '{"A":{},"a":"é\\n\\"","b":[1,-2,true,null],"é":0}'.encode()


def test_control_characters_escaped_lowercase():
    assert canonical_bytes("\x01\x1f\x7f") == b'"\\u0001\\u001f\x7f"'


@pytest.mark.parametrize(
    "bad",
    [1.0, float("nan"), float("inf"), {1: "x"}, {(1, 2): 1}, b"bytes", 2**63, -(2**63) - 1,
     {"x": [1.5]}, "\ud800", object()],
)
def test_rejects_non_canonical_values(bad):
    with pytest.raises(CanonicalJSONError):
        canonical_bytes(bad)


def test_int_range_edges_accepted():
    assert parse_canonical(canonical_bytes([INT_MIN, INT_MAX])) == [INT_MIN, INT_MAX]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"b":1,"a":2}',  # unsorted
        b'{"a": 1}',  # whitespace
        b' {"a":1}',
        b'{"a":1}\n',
        b'{"a":1.0}',  # float
        b'{"a":1e3}',
        b'{"a":-0}',
        b'{"a":NaN}',
        b'{"a":Infinity}',
        b'{"a":1,"a":1}',  # duplicate key
        b'"\\u00e9"',  # escaped where raw is canonical
        b'"\\/"',
        b'\xef\xbb\xbf{"a":1}',  # BOM
        b'"\xff"',  # not UTF-8
        b'"\\ud800"',  # lone surrogate
        b'9223372036854775808',  # 2**63
        b'{"a":',  # truncated
        b"[" * 200 + b"]" * 200,  # too deep
        b"",
    ],
)
def test_parse_rejects_non_canonical_bytes(raw):
    with pytest.raises(CanonicalJSONError):
        parse_canonical(raw)


def test_require_int_refuses_bool():
    assert require_int(5, "seq") == 5
    with pytest.raises(CanonicalJSONError):
        require_int(True, "seq")
    with pytest.raises(CanonicalJSONError):
        require_int(5, "seq", maximum=4)


def test_bool_is_not_int_on_the_wire():
    assert canonical_bytes({"x": True}) != canonical_bytes({"x": 1})
    assert parse_canonical(b'{"x":true}') == {"x": True}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(INT_MIN, INT_MAX) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_round_trip_and_stdlib_agreement(value):
    raw = canonical_bytes(value)
    assert parse_canonical(raw) == value
    # Any JSON reader sees the same value.
    assert json.loads(raw) == value
    # Re-spelling with whitespace is refused unless it is byte-identical.
    spaced = json.dumps(value, sort_keys=True, ensure_ascii=False, indent=1).encode()
    if spaced != raw:
        with pytest.raises(CanonicalJSONError):
            parse_canonical(spaced)


# --- orjson (behind the compiled domain check) against the pure-Python reference -------
#
# canonical_bytes writes with orjson (OPT_SORT_KEYS) the values _canonical.in_domain
# admits, and hands every other value to the pure-Python reference. These tests are
# the proof that orjson's bytes equal the reference's over the whole domain: escaping
# (every control character, quote, backslash, DEL, U+2028/9, the UTF-8 length
# boundaries), key order (code point order, across the surrogate gap), integers at the
# 64-bit limits, nesting up to the limit; and that nothing outside it reaches orjson.

import collections  # noqa: E402
import enum  # noqa: E402

import orjson  # noqa: E402

from bwc_core import _canonical  # noqa: E402
from bwc_core.format import canonical  # noqa: E402

ORJSON_OPTIONS = canonical._ORJSON_OPTIONS


def orjson_bytes(value):
    return orjson.dumps(value, option=ORJSON_OPTIONS)


reference_bytes = canonical._reference_bytes

# Escapes and the UTF-8 length boundaries (1/2/3/4 bytes) around the surrogate gap.
ESCAPES = ('"\\/\b\f\n\r\t\x00\x01\x1f\x20\x7e\x7f\x80\xa0\xffé\u0100\u07ff\u0800\u2028\u2029'
           '\ud7ff\ue000\ufeff\uffff\U00010000\U0001f600\U0010ffff')
# Joined pieces, not text(alphabet=...): hypothesis merges a character alphabet into
# ranges and would then hardly ever pick the boundary characters above.
strings = st.lists(st.sampled_from(ESCAPES) | st.text(max_size=6), max_size=8).map("".join) | st.text(
    max_size=80)
big_ints = st.integers() | st.sampled_from(
    [INT_MIN, INT_MAX, INT_MIN - 1, INT_MAX + 1, 2**64, -(2**64), 10**30]) | st.builds(
    lambda exp: -(10**exp), st.just(5000))  # too long for str(): the error must still be typed
valid_leaves = (st.none() | st.booleans() | st.integers(INT_MIN, INT_MAX)
                | st.sampled_from([0, -1, 9, 10, 99, 100, -100, INT_MIN, INT_MAX]) | strings)
valid_values = st.recursive(
    valid_leaves,
    lambda kids: st.lists(kids, max_size=6) | st.lists(kids, max_size=4).map(tuple)
    | st.dictionaries(strings, kids, max_size=6),
    max_leaves=40,
)


class Level(enum.IntEnum):
    LOW = 1


class Name(str):
    pass


class Items(list):
    pass


# Leaves that are not canonical JSON, and exact-type look-alikes the fast path hands back.
bad_leaves = (st.floats(allow_nan=True) | big_ints
              | st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3)
              | st.sampled_from([b"bytes", bytearray(b"x"), {1, 2}, frozenset(), 1j, object(),
                                 Level.LOW, Name("n"), Items([1]), collections.OrderedDict(b=1, a=2),
                                 Ellipsis, type]))
any_keys = strings | st.integers(-5, 5) | st.none() | st.booleans() | st.sampled_from(
    [(1, 2), 1.5, Name("k"), b"k"])
any_values = st.recursive(
    valid_leaves | bad_leaves,
    lambda kids: st.lists(kids, max_size=5) | st.lists(kids, max_size=3).map(tuple)
    | st.dictionaries(any_keys, kids, max_size=5),
    max_leaves=30,
)


def outcome(fn, value):
    try:
        return fn(value)
    except Exception as exc:  # the exception type is the outcome under test
        return type(exc)


@settings(max_examples=600, deadline=None)
@given(valid_values)
def test_orjson_equals_reference_on_valid_values(value):
    assert _canonical.in_domain(value)  # exact builtin types in range are orjson's to write
    assert orjson_bytes(value) == reference_bytes(value) == canonical_bytes(value)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(strings, st.integers(-3, 3), max_size=40))
def test_key_order_small_and_large_dicts(value):
    assert orjson_bytes(value) == reference_bytes(value)


def test_key_order_is_code_point_order_across_the_surrogate_gap():
    # UTF-16 order would put U+10000.. (surrogate pairs) before U+E000..U+FFFF.
    keys = ["", "\x00", "\x1f", " ", "A", "a", "\x7f", "\x80", "é", "\u07ff", "\u0800", "\ud7ff",
            "\ue000", "\ufeff", "\uffff", "\U00010000", "\U0001f600", "\U0010ffff", "a\U00010000", "a\uffff"]
    value = {k: i for i, k in enumerate(reversed(keys))}
    out = orjson_bytes(value)
    assert out == reference_bytes(value) == canonical_bytes(value)
    assert list(orjson.loads(out)) == sorted(keys)


def test_every_control_character_and_ascii_escape():
    text = "".join(map(chr, range(0x80))) + "\u2028\u2029\ufffe"
    for value in (text, {text: text}, [text, {"k": text}]):
        assert orjson_bytes(value) == reference_bytes(value) == canonical_bytes(value)


@settings(max_examples=600, deadline=None)
@given(any_values)
def test_canonical_bytes_and_reference_agree_on_any_value(value):
    expected = outcome(reference_bytes, value)
    assert outcome(canonical_bytes, value) == expected  # same bytes, or same error type
    # Bad input is a typed error, never a bare one.
    assert isinstance(expected, bytes) or expected is CanonicalJSONError
    # The domain check admits only values whose orjson bytes are canonical; a lone
    # surrogate is admitted (orjson refuses it, and the reference raises).
    if _canonical.in_domain(value):
        assert outcome(orjson_bytes, value) in (expected, orjson.JSONEncodeError)
    elif expected is not CanonicalJSONError:  # a subclass: only the reference may write it
        assert not _only_exact_types(value)


def _only_exact_types(value, depth=0):
    t = type(value)
    if t in (str, bool) or value is None:
        return True
    if t is int:
        return INT_MIN <= value <= INT_MAX
    if depth >= canonical.MAX_DEPTH:
        return False
    if t is dict:
        return all(type(k) is str and _only_exact_types(v, depth + 1) for k, v in value.items())
    if t in (list, tuple):
        return all(_only_exact_types(v, depth + 1) for v in value)
    return False


@pytest.mark.parametrize(
    "value",
    [1.5, float("nan"), -0.0, {"a": [1, {"b": 2.0}]}, {1: "x"}, {None: 1}, {(1,): 1}, INT_MAX + 1,
     INT_MIN - 1, 2**64 - 1, -(2**63) - 1, 10**5000, [10**400], "a\udc80b", {"k\ud800": 1}, b"x",
     [object()], {"s": {1}}, 1j],
    ids=lambda v: type(v).__name__,  # str() of 10**5000 is refused
)
def test_single_fault_same_error_and_message(value):
    with pytest.raises(CanonicalJSONError) as ref:
        reference_bytes(value)
    with pytest.raises(CanonicalJSONError) as fast:
        canonical_bytes(value)
    assert str(fast.value) == str(ref.value)


@pytest.mark.parametrize("value", [2**63, 2**64 - 1, 1.0, float("inf"), {"a": 0.5}, [[2**63]]],
                         ids=repr)
def test_orjson_writes_what_the_domain_check_keeps_out(value):
    # orjson alone would write these (u64 integers, floats): the check must refuse them.
    orjson_bytes(value)
    assert not _canonical.in_domain(value)
    with pytest.raises(CanonicalJSONError):
        canonical_bytes(value)


def test_orjson_native_types_never_reach_orjson():
    import dataclasses
    import datetime
    import uuid

    @dataclasses.dataclass
    class Point:
        x: int

    for value in (uuid.UUID(int=1), datetime.date(2026, 1, 1), Point(1), {"u": uuid.UUID(int=1)},
                  orjson.Fragment(b"[1.5]"), [orjson.Fragment(b"1")]):
        assert not _canonical.in_domain(value)
        with pytest.raises(CanonicalJSONError):
            canonical_bytes(value)


@pytest.mark.parametrize("depth", [62, 63, 64, 65, 200, 300])
@pytest.mark.parametrize("kind", ["list", "dict", "tuple", "mixed"])
def test_nesting_limit_is_the_same(depth, kind):
    value: object = "leaf"
    for i in range(depth):
        k = kind if kind != "mixed" else ("list", "dict", "tuple")[i % 3]
        value = [value] if k == "list" else {"k": value} if k == "dict" else (value,)
    assert _canonical.MAX_DEPTH == canonical.MAX_DEPTH
    expected = outcome(reference_bytes, value)
    assert outcome(canonical_bytes, value) == expected
    assert _canonical.in_domain(value) == isinstance(expected, bytes)


def test_subclasses_go_to_the_reference():
    value = {"level": Level.LOW, Name("z"): Items([Name("x"), 2]),
             "od": collections.OrderedDict(b=1, a=2)}
    assert not _canonical.in_domain(value)
    for one in (Level.LOW, Name("z"), Items([1]), collections.OrderedDict(a=1), {Name("k"): 1},
                [True, Level.LOW], (1, Name("n"))):
        assert not _canonical.in_domain(one)
    assert canonical_bytes(value) == reference_bytes(value) == (
        b'{"level":1,"od":{"a":2,"b":1},"z":["x",2]}')


def test_large_values():
    long_text = "x" * 9000 + "\n\"é" * 3000 + "\U0001f600" * 5000
    value = {f"k{i:05d}": [i, long_text[: i * 7]] for i in range(400)}
    assert orjson_bytes(value) == reference_bytes(value) == canonical_bytes(value)
    assert orjson_bytes(long_text) == reference_bytes(long_text)


def test_input_is_not_mutated():
    value = {"b": ["é" * 10, {"z": 1, "a": 2}], "a": (1, 2)}
    before = repr(value)
    canonical_bytes(value)
    assert repr(value) == before
    assert list(value) == ["b", "a"]


def test_integer_digit_boundaries():
    # Every power of ten and of two (and their neighbours) in range, both signs.
    values = {10**k + d for k in range(20) for d in (-1, 0, 1)} | {2**k + d for k in range(64) for d in (-1, 0, 1)}
    values = {v for v in values if INT_MIN <= v <= INT_MAX} | {INT_MIN, INT_MAX}
    for v in sorted(values | {-v for v in values if INT_MIN <= -v <= INT_MAX}):
        assert canonical_bytes(v) == str(v).encode(), v
        assert canonical_bytes([v]) == reference_bytes([v])


# Chunk tables: many small dicts with the same key objects, nested dicts between them.
KEY_POOL = ["root", "start_ns", "duration_ns", "a", "é", "\u2028", "k" * 40, "k" * 90, "z\n", ""]
pooled_keys = st.sampled_from(range(len(KEY_POOL))).map(KEY_POOL.__getitem__)
pooled_values = st.recursive(
    valid_leaves,
    lambda kids: st.lists(kids, max_size=6) | st.dictionaries(pooled_keys, kids, max_size=6)
    | st.lists(st.dictionaries(pooled_keys, kids, max_size=4), min_size=2, max_size=5)
    | st.builds(lambda d, k: [d, dict(d), d, dict(reversed(list(d.items())))],
                st.dictionaries(pooled_keys, kids, max_size=5), st.none())
    # rows of one key sequence (same key objects, same order) with varied values
    | st.builds(lambda keys, rows: [dict(zip(keys, row, strict=False)) for row in rows],
                st.lists(pooled_keys, unique=True, max_size=5),
                st.lists(st.lists(kids, min_size=5, max_size=5), min_size=2, max_size=4)),
    max_leaves=50,
)


@settings(max_examples=250, deadline=None)
@given(pooled_values)
def test_repeated_key_objects_encode_like_the_reference(value):
    assert canonical_bytes(value) == reference_bytes(value)


def test_chunk_table_with_nested_dicts_between_repeats():
    chunk = {"start_ns": 1, "duration_ns": 2, "root": "ab" * 32}
    nested = {"start_ns": {"root": [chunk, {"duration_ns": chunk}]}, "duration_ns": 5, "root": chunk}
    table = [chunk, chunk, nested, chunk, {"root": 1, "start_ns": 2, "duration_ns": 3}, chunk,
             {"duration_ns": 0, "root": "", "start_ns": -1}, nested, nested, chunk]
    long_keys = [{"k" * 90: 1, "m" * 90: 2, "n" * 90: 3}] * 3  # more key text than the cache holds
    # A repeat whose first value (in key order) is a dict with other keys.
    early = [chunk, {"start_ns": 1, "duration_ns": {"a": 1, "b": 2}, "root": "x"}, chunk,
             {"start_ns": [{"q": 1}], "duration_ns": {"a": 1}, "root": ["y", {"z": 0}]}]
    for value in (table, {"chunks": table, "long": long_keys}, long_keys, early):
        assert canonical_bytes(value) == reference_bytes(value)
