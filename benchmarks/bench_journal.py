"""Journal append throughput, as ratios against baselines measured in the same run.

* append without fsync (canonical JSON + PAE + sign + record hash + write)
  vs raw PyNaCl ``SigningKey.sign`` of a payload of the same size: target >= 0.7x;
* fsync'd append vs a raw ``os.write`` + ``os.fsync`` of the same line bytes
  (the storage's own limit), and its absolute rate.

Ratios are computed from interleaved best-of-N loops so machine noise hits
both sides alike; they are printed and stored in ``benchmark.extra_info``.
"""

from __future__ import annotations

import os
import time

import nacl.signing
import pytest

from bwc_core.canonical import canonical_bytes
from bwc_core.journal import EVENT, SEGMENT, Journal
from bwc_core.keys import Identity
from bwc_core.recorder import JOURNAL_KEEP

T0 = 1_700_000_000


def _body(kind: str) -> tuple[str, dict]:
    if kind == "event":  # ~250-byte payload
        return EVENT, {"kind": "marker", "reason": "arrest", "note": "x" * 40,
                       "media_pts": 123456789, "wall": 1_700_000_000_000_000_000}
    chunks = [{"start_ns": i * 1_000_000_000, "duration_ns": 1_000_000_000,
               "root": "ab" * 32} for i in range(10 if kind == "segment" else 40)]
    return SEGMENT, {"recording": "R-0001", "index": 3, "file": "R-0001/0003.mp4",
                     "size": 10_485_760, "digests": {"blake3": "cd" * 32, "sha256": "ef" * 32},
                     "content_root": "01" * 32, "chunks": chunks, "pre_event": False}


def _rate(fn, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - start)


def _interleaved(a, b, n: int, repeats: int) -> tuple[float, float]:
    ra, rb = [], []
    for _ in range(repeats):
        ra.append(_rate(a, n))
        rb.append(_rate(b, n))
    return max(ra), max(rb)


@pytest.fixture(scope="module")
def identity():
    root = Identity.generate("root", "ROOT")
    cam = Identity.generate("camera", "BWC-0001")
    return cam, root.certify(cam, not_before=T0)


@pytest.mark.parametrize("kind", ["event", "segment", "segment-large"])
def test_append_vs_raw_signing(benchmark, tmp_path, identity, kind, note):
    cam, cert = identity
    rtype, body = _body(kind)
    # As the camera's recorder opens it: a bounded window of records in memory.
    journal = Journal.create(tmp_path, cam, cert, sync="none", keep=JOURNAL_KEEP)
    sample = journal.append(rtype, body)
    size = len(sample.envelope.payload)
    payload = os.urandom(size)
    signing_key = nacl.signing.SigningKey(cam._seed)  # same key, same message size

    def raw_sign():
        signing_key.sign(payload)

    def append():
        journal.append(rtype, body)

    append_rate, sign_rate = _interleaved(append, raw_sign, n=1000, repeats=5)
    ratio = append_rate / sign_rate
    benchmark.extra_info.update(payload_bytes=size, append_per_s=round(append_rate),
                                sign_per_s=round(sign_rate), ratio=round(ratio, 3))
    note(f"[journal append, no fsync, {kind} {size} B] {append_rate:,.0f}/s vs raw sign "
          f"{sign_rate:,.0f}/s -> ratio {ratio:.2f}x (target >= 0.70x)")
    benchmark(append)
    journal.close()


def test_fsync_append_rate(benchmark, tmp_path, identity, note):
    cam, cert = identity
    rtype, body = _body("segment")
    journal = Journal.create(tmp_path / "j", cam, cert, sync="always")
    line = (journal.append(rtype, body).envelope.dumps() + "\n").encode()
    fd = os.open(tmp_path / "raw", os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)

    def raw_write_fsync():
        os.write(fd, line)
        os.fsync(fd)

    def append():
        journal.append(rtype, body)

    append_rate, raw_rate = _interleaved(append, raw_write_fsync, n=100, repeats=3)
    ratio = append_rate / raw_rate
    benchmark.extra_info.update(append_fsync_per_s=round(append_rate),
                                raw_write_fsync_per_s=round(raw_rate), ratio=round(ratio, 3))
    note(f"[journal append, fsync per record] {append_rate:,.0f}/s vs raw write+fsync "
          f"{raw_rate:,.0f}/s -> ratio {ratio:.2f}x")
    benchmark.pedantic(append, rounds=50, iterations=1)
    os.close(fd)
    journal.close()


@pytest.mark.parametrize("kind", ["event", "segment", "segment-large"])
def test_canonical_fast_vs_reference(benchmark, kind, note):
    """canonical_bytes (orjson behind the compiled domain check) vs the pure-Python reference."""
    from bwc_core.canonical import _reference_bytes

    _, body = _body(kind)
    assert canonical_bytes(body) == _reference_bytes(body)
    fast_rate, ref_rate = _interleaved(lambda: canonical_bytes(body),
                                       lambda: _reference_bytes(body), n=2000, repeats=5)
    ratio = fast_rate / ref_rate
    benchmark.extra_info.update(fast_per_s=round(fast_rate), reference_per_s=round(ref_rate),
                                ratio=round(ratio, 2))
    note(f"[canonical JSON, {kind} body] compiled {fast_rate:,.0f}/s vs reference "
          f"{ref_rate:,.0f}/s -> {ratio:.1f}x")
    benchmark(canonical_bytes, body)


def test_canonical_encoding_share(benchmark, identity, note):
    """Context: how much of an append is canonical JSON (vs one raw signature)."""
    cam, _ = identity
    _, body = _body("segment")
    payload = canonical_bytes(body)
    signing_key = nacl.signing.SigningKey(cam._seed)
    enc_rate, sign_rate = _interleaved(lambda: canonical_bytes(body),
                                       lambda: signing_key.sign(payload), n=2000, repeats=5)
    ratio = enc_rate / sign_rate
    benchmark.extra_info.update(encode_per_s=round(enc_rate), sign_per_s=round(sign_rate),
                                ratio=round(ratio, 2))
    note(f"[canonical JSON encode, segment body] {enc_rate:,.0f}/s = {ratio:.1f}x raw sign rate")
    benchmark(canonical_bytes, body)
