"""The one-chunk BLAKE3 in bwc_core._blake3 (used for tree nodes and small leaves) equals blake3-py."""

from __future__ import annotations

import pytest
from blake3 import blake3
from hypothesis import given, settings
from hypothesis import strategies as st

from bwc_core._blake3 import MAX_INPUT, hash_small
from bwc_core.content import CONTEXTS
from bwc_core.errors import ValueError as BwcValueError

# The official BLAKE3 test vectors use input[i] = i % 251 and this context.
VECTOR_CONTEXT = "BLAKE3 2019-12-27 16:29:52 test vectors context"
VECTOR_LENGTHS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 63, 64, 65, 127, 128, 129, 1023, 1024]


def _vector_input(n: int) -> bytes:
    return bytes(i % 251 for i in range(n))


@pytest.mark.parametrize("n", VECTOR_LENGTHS)
def test_official_vector_inputs(n):
    data = _vector_input(n)
    assert hash_small(data) == blake3(data).digest()
    assert hash_small(data, derive_key_context=VECTOR_CONTEXT) == blake3(data, derive_key_context=VECTOR_CONTEXT).digest()


def test_known_answers():
    # From the official test_vectors.json (first 32 bytes of each output).
    assert hash_small(b"").hex() == "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
    assert hash_small(_vector_input(1)).hex() == "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213"


def test_every_length_every_context():
    for n in range(MAX_INPUT + 1):
        data = bytes((7 * i + n) & 0xFF for i in range(n))
        for ctx in CONTEXTS.values():
            assert hash_small(data, derive_key_context=ctx) == blake3(data, derive_key_context=ctx).digest(), (n, ctx)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=MAX_INPUT), st.sampled_from(sorted(CONTEXTS.values())) | st.text(max_size=80))
def test_random_inputs_and_contexts(data, ctx):
    assert hash_small(data) == blake3(data).digest()
    assert hash_small(data, derive_key_context=ctx) == blake3(data, derive_key_context=ctx).digest()


def test_refuses_more_than_one_chunk():
    with pytest.raises(BwcValueError):
        hash_small(bytes(MAX_INPUT + 1))
