"""Canonical JSON: one byte form per value, and non-canonical bytes refused."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bwc_core.canonical import INT_MAX, INT_MIN, canonical_bytes, parse_canonical, require_int
from bwc_core.errors import CanonicalJSONError


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
