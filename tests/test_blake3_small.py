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


# --- derive_key_small: a precomputed context key (the journal's record hash) -----------

from bwc_core._blake3 import context_key, derive_key_small  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=MAX_INPUT), st.sampled_from(sorted(CONTEXTS.values()) + ["bwc-core v1 record"])
       | st.text(max_size=80))
def test_derive_key_small_equals_blake3(data, ctx):
    assert derive_key_small(context_key(ctx), data) == blake3(data, derive_key_context=ctx).digest()


def test_derive_key_small_every_length_and_limits():
    key = context_key("bwc-core v1 record")
    for n in range(MAX_INPUT + 1):
        data = bytes((3 * i + n) & 0xFF for i in range(n))
        assert derive_key_small(key, data) == blake3(data, derive_key_context="bwc-core v1 record").digest(), n
    with pytest.raises(BwcValueError):
        derive_key_small(key, bytes(MAX_INPUT + 1))
    with pytest.raises(BwcValueError):
        derive_key_small(key[:31], b"")
    with pytest.raises(BwcValueError):
        context_key("x" * 1025)


def test_batched_tree_nodes_equal_one_at_a_time():
    """The vector path (whole batches of nodes) and its scalar tail give blake3-py's node hashes.

    Counts cross every batch boundary; the pairs are hashed in place in one
    buffer, as a tree level is, so an output overwriting a pair not yet read
    would show.
    """
    import random

    from bwc_core._blake3 import context_key, nodes

    rnd = random.Random(5)
    for ctx in CONTEXTS.values():
        key = context_key(ctx)
        for count in list(range(0, 34)) + [63, 64, 65, 257]:
            pairs = rnd.randbytes(64 * count)
            want = b"".join(blake3(b"\x01" + pairs[64 * j:64 * j + 64], derive_key_context=ctx).digest()
                            for j in range(count))
            assert nodes(key, pairs) == want, (ctx, count)
        assert nodes(key, pairs, prefix=0)[:32] == blake3(b"\x00" + pairs[:64], derive_key_context=ctx).digest()
    with pytest.raises(BwcValueError):
        nodes(context_key("x"), b"\x00" * 65)
