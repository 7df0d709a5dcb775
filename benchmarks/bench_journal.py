"""Journal append as the camera sees it (issue 10: no longer measured against raw signing).

* the append latency on the capture thread (canonical JSON + PAE + sign +
  record hash + queue) with the journal's writer thread writing and fsyncing
  a real file behind it, min / median / p99, next to an inline append that
  writes and fsyncs before returning (what the capture thread waited for
  before); target: the capture thread never waits for an fsync;
* the writer thread's throughput (records made durable per second, records
  per fsync with group commit), next to one fsync per record and a raw
  ``os.write`` + ``os.fsync`` of the same line (the storage's own limit).

Figures are printed and stored in ``benchmark.extra_info``.
"""

from __future__ import annotations

import os
import time

import nacl.signing
import pytest

from bwc_core.capture.recorder import JOURNAL_KEEP
from bwc_core.format.canonical import canonical_bytes
from bwc_core.format.journal import EVENT, SEGMENT, Journal
from bwc_core.format.keys import Identity

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


def _latencies(fn, n: int) -> list[int]:
    out = []
    clock = time.perf_counter_ns
    for _ in range(n):
        t = clock()
        fn()
        out.append(clock() - t)
    return out


@pytest.mark.parametrize("kind", ["event", "segment", "segment-large"])
def test_append_latency_on_capture_thread(benchmark, tmp_path, identity, kind, note):
    """What the capture thread waits for per record: chain + sign + queue, with the writer
    thread writing and fsyncing a real file behind it (``sync="always"``, as the recorder
    runs it), vs an inline append that writes and fsyncs before returning (before issue 10)."""
    cam, cert = identity
    rtype, body = _body(kind)
    journal = Journal.create(tmp_path / "behind", cam, cert, sync="always", keep=JOURNAL_KEEP)
    journal.start_writer()
    inline = Journal.create(tmp_path / "inline", cam, cert, sync="always", keep=JOURNAL_KEEP)

    def append():
        journal.append(rtype, body, wait=False)

    for _ in range(50):
        append()
    journal.wait_durable()
    lat: list[int] = []
    inline_lat: list[int] = []
    for _ in range(5):  # interleaved rounds: machine noise hits both sides alike
        lat += _latencies(append, 200)
        journal.wait_durable()  # the writer's groups are done before the next round
        inline_lat += _latencies(lambda: inline.append(rtype, body), 20)
    lat.sort()
    inline_lat.sort()
    mn, med, p99 = lat[0] / 1e3, lat[len(lat) // 2] / 1e3, lat[len(lat) * 99 // 100] / 1e3
    imn, imed = inline_lat[0] / 1e3, inline_lat[len(inline_lat) // 2] / 1e3
    size = len(journal.records[-1].envelope.payload)
    benchmark.extra_info.update(payload_bytes=size, capture_min_us=round(mn, 1), capture_median_us=round(med, 1),
                                capture_p99_us=round(p99, 1), inline_fsync_min_us=round(imn, 1),
                                inline_fsync_median_us=round(imed, 1))
    note(f"[journal append on the capture thread, writer fsyncs behind, {kind} {size} B] "
         f"min {mn:.1f} us, median {med:.1f} us, p99 {p99:.1f} us; inline write+fsync (before): "
         f"min {imn:.0f} us, median {imed:.0f} us")
    benchmark(append)
    journal.close()
    inline.close()


def test_writer_throughput(benchmark, tmp_path, identity, note):
    """The writer thread's throughput with group commit: segment records appended as fast as
    the caller can sign them, written and fsynced to a real file (records/s, records per fsync),
    vs an inline append with one fsync per record and a raw write + fsync of the same line."""
    cam, cert = identity
    rtype, body = _body("segment")
    n = 2000
    rates, groups = [], []
    real_fsync = os.fsync
    for round_ in range(3):
        journal = Journal.create(tmp_path / f"w{round_}", cam, cert, sync="always", keep=JOURNAL_KEEP)
        journal.start_writer()
        fsyncs = [0]

        def counting_fsync(fd, fsyncs=fsyncs):
            fsyncs[0] += 1
            real_fsync(fd)

        os.fsync = counting_fsync
        try:
            t = time.perf_counter()
            for _ in range(n):
                journal.append(rtype, body, wait=False)
            journal.wait_durable()
            rates.append(n / (time.perf_counter() - t))
        finally:
            os.fsync = real_fsync
        groups.append(n / max(fsyncs[0], 1))
        journal.close()
    inline = Journal.create(tmp_path / "inline", cam, cert, sync="always", keep=JOURNAL_KEEP)
    line = (inline.append(rtype, body).envelope.dumps() + "\n").encode()
    fd = os.open(tmp_path / "raw", os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)

    def raw_write_fsync():
        os.write(fd, line)
        os.fsync(fd)

    inline_rate, raw_rate = _interleaved(lambda: inline.append(rtype, body), raw_write_fsync, n=100, repeats=3)
    best = max(rates)
    benchmark.extra_info.update(writer_records_per_s=round(best), records_per_fsync=round(max(groups), 1),
                                inline_fsync_per_s=round(inline_rate), raw_write_fsync_per_s=round(raw_rate))
    note(f"[journal writer thread, segment records, fsync per group] {best:,.0f} records/s durable "
         f"({max(groups):.0f} records per fsync); inline append+fsync {inline_rate:,.0f}/s, "
         f"raw write+fsync {raw_rate:,.0f}/s")
    benchmark.pedantic(lambda: inline.append(rtype, body), rounds=20, iterations=1)
    os.close(fd)
    inline.close()


@pytest.mark.parametrize("kind", ["event", "segment", "segment-large"])
def test_canonical_fast_vs_reference(benchmark, kind, note):
    """canonical_bytes (orjson behind the compiled domain check) vs the pure-Python reference."""
    from bwc_core.format.canonical import _reference_bytes

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
