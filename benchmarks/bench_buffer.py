"""Pre-event buffer benchmarks (issue 2), each a ratio against a same-run baseline.

1. push of 200-byte packets from Python vs a plain-Python deque buffer with
   the same policy (GOP eviction by seconds and bytes, ``bytes(payload)`` copy);
2. push of 150 KiB packets vs a numpy copy loop into a preallocated arena;
3. pushing ``av.Packet`` s while demuxing a ~10 s clip vs demuxing alone
   (extra microseconds per packet);
4. ``drain()`` of a full 30 s, 8 Mbit/s buffer vs one memcpy of its bytes.
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import time
from collections import deque
from fractions import Fraction

import av
import numpy as np
import pytest

from bwc_core import PreEventBuffer
from bwc_core.capture.synthetic import SyntheticCamera
from bwc_core.errors import BufferFullError, PacketOrderError
from bwc_core.media.packets import PacketRecord

TB = Fraction(1, 90000)
FRAME = 3000  # 30 fps at 90 kHz
GOP = 30


class DequeBuffer:
    """The honest plain-Python baseline: same policy, deque of GOPs, bytes copies.

    Whole GOPs are evicted when the second-oldest keyframe is max_seconds
    behind the newest video pts, or when bytes run out; delta frames with no
    keyframe held are dropped; audio is dropped (keep_audio=False); dts must
    not go backwards within a stream.
    """

    def __init__(self, max_seconds, max_bytes):
        self.max_seconds = Fraction(max_seconds)
        self.max_bytes = max_bytes
        self.gops: deque[list] = deque()
        self.bytes = 0
        self.newest = 0
        self.last_dts: dict[int, int] = {}
        self.video = None
        self.max_ticks = 0

    def push(self, rec):
        if rec.pts is None:
            raise ValueError("no pts")
        size = len(rec.payload)
        if size > self.max_bytes:
            raise BufferFullError("too big")
        last = self.last_dts.get(rec.stream)
        if last is not None and rec.dts < last:
            raise PacketOrderError("backwards")
        self.last_dts[rec.stream] = rec.dts
        if self.video is None and rec.kind == "video":
            self.video = rec.stream
            self.max_ticks = math.ceil(self.max_seconds / rec.time_base)
        if rec.stream != self.video:
            return  # audio dropped by default
        if not rec.keyframe and not self.gops:
            return
        while self.bytes + size > self.max_bytes and self.gops:
            self.bytes -= sum(len(e[5]) for e in self.gops.popleft())
        if not rec.keyframe and not self.gops:
            return
        entry = (rec.stream, rec.pts, rec.dts, rec.duration, rec.keyframe, bytes(rec.payload))
        if rec.keyframe:
            self.gops.append([entry])
            if len(self.gops) == 1:
                self.newest = rec.pts
        else:
            self.gops[-1].append(entry)
        self.bytes += size
        if rec.pts > self.newest:
            self.newest = rec.pts
        while len(self.gops) >= 2 and self.newest - self.gops[1][0][1] >= self.max_ticks:
            self.bytes -= sum(len(e[5]) for e in self.gops.popleft())


def _records(n, size, start=0):
    out = []
    for i in range(start, start + n):
        key = i % GOP == 0
        out.append(PacketRecord(0, "video", i * FRAME, None, FRAME, TB, key, os.urandom(size)))
    return out


# --- 1. 200-byte pushes -------------------------------------------------------------------

SMALL_PREFILL = 1000  # > 30 s at 30 fps: every timed push runs in steady state (evicting)
SMALL_N = 20_000


@pytest.fixture(scope="module")
def small_records():
    return _records(SMALL_PREFILL + SMALL_N, 200)


def test_push_200_byte_packets(benchmark, paired, small_records):
    prefill, timed = small_records[:SMALL_PREFILL], small_records[SMALL_PREFILL:]

    def prepare():
        buf, base = PreEventBuffer(30.0, 64 * 2**20), DequeBuffer(30, 64 * 2**20)
        for r in prefill:
            buf.push(r)
            base.push(r)
        return buf, base

    def candidate(state):
        push = state[0].push
        for r in timed:
            push(r)

    def baseline(state):
        push = state[1].push
        for r in timed:
            push(r)

    ratio = paired(benchmark, "push 200 B PacketRecord", candidate, baseline, prepare=prepare,
                       rounds=15, target=3.0, mode="speedup", per=SMALL_N, unit="push")
    assert ratio > 0


# --- 2. 150 KiB pushes ----------------------------------------------------------------------

BIG = 150 * 1024
BIG_N = 300
ARENA = 64 * 2**20


@pytest.fixture(scope="module")
def big_records():
    return _records(BIG_N, BIG)


def test_push_150_kib_packets(benchmark, paired, big_records):
    rounds = 20
    buf = PreEventBuffer(30.0, ARENA)
    arena = np.empty(ARENA, np.uint8)
    arena[:] = 0  # touch every page, as the ring's arena is after its first lap
    # One warm buffer for all rounds, so batches carry ever-increasing timestamps.
    batches = [[r.replace(pts=(k * BIG_N + i) * FRAME, dts=(k * BIG_N + i) * FRAME)
                for i, r in enumerate(big_records)] for k in range(rounds + 3)]
    for r in batches[0]:  # first lap: the ring's arena pages get touched too
        buf.push(r)
    state = {"batch": 1, "off": 0}

    def candidate(_):
        push = buf.push
        for r in batches[state["batch"]]:
            push(r)
        state["batch"] += 1

    def baseline(_):
        off = state["off"]
        for r in big_records:
            src = np.frombuffer(r.payload, np.uint8)
            n = src.size
            if off + n > ARENA:
                off = 0
            arena[off : off + n] = src
            off += n
        state["off"] = off

    paired(benchmark, "push 150 KiB vs numpy arena copy loop", candidate, baseline,
               rounds=rounds, target=0.8, mode="speedup", per=BIG_N, unit="push")
    assert buf.stats.evicted_gops > 0  # steady state: bytes bound evicting GOPs


# --- 3. av.Packet pushes while demuxing -----------------------------------------------------


@pytest.fixture(scope="module")
def ten_second_clip():
    with tempfile.TemporaryDirectory() as d:
        path = SyntheticCamera(seconds=10, bframes=2, gop=30, width=640, height=360,
                               bitrate=4_000_000).write(os.path.join(d, "ten.mp4"))
        yield path


def test_push_av_packets_while_demuxing(benchmark, paired, note, ten_second_clip):
    with av.open(ten_second_clip) as c:
        n = sum(1 for p in c.demux() if p.size)

    def baseline(_):
        with av.open(ten_second_clip) as c:
            for p in c.demux():
                if p.size:
                    pass

    def prepare():  # a camera's buffer exists (and its arena is committed) before capture
        return PreEventBuffer(30.0, 64 * 2**20, keep_audio=True)

    def candidate(buf):
        with av.open(ten_second_clip) as c:
            push = buf.push
            for p in c.demux():
                if p.size:
                    push(p)

    paired(benchmark, "demux + push(av.Packet) vs demux alone", candidate, baseline,
               prepare=prepare, rounds=30, mode="overhead", per=n, unit="packet")
    extra = benchmark.extra_info["median_paired_diff_s"] / n
    benchmark.extra_info["extra_us_per_packet"] = round(extra * 1e6, 3)
    met = extra * 1e6 <= 1.5
    avg = os.path.getsize(ten_second_clip) / n
    note(f"demux + push(av.Packet): extra {extra * 1e6:.3f} us/packet over demux alone (median of "
         f"paired rounds; {n} packets, ~{avg / 1024:.1f} KiB each copied) "
         f"(target <= 1.5 us: {'met' if met else 'MISSED'})")


# --- 4. drain of a full 30 s, 8 Mbit/s buffer -------------------------------------------------

DRAIN_SECONDS = 30
BITRATE = 8_000_000


@pytest.fixture(scope="module")
def full_window():
    """30 s at 30 fps, 1 s GOPs, 8 Mbit/s: keyframes 4x a delta frame."""
    per_gop = BITRATE // 8  # bytes per 1 s GOP
    delta = per_gop // (GOP - 1 + 4)
    key = per_gop - delta * (GOP - 1)
    recs = []
    for i in range(DRAIN_SECONDS * 30):
        size = key if i % GOP == 0 else delta
        recs.append(PacketRecord(0, "video", i * FRAME, None, FRAME, TB, i % GOP == 0, os.urandom(size)))
    return recs


def test_drain_full_30s_8mbit(benchmark, paired, note, full_window):
    total = sum(r.size for r in full_window)
    src = np.frombuffer(b"".join(bytes(r.payload) for r in full_window), np.uint8)
    dst = np.empty_like(src)
    dst[:] = 0

    def prepare():
        buf = PreEventBuffer(DRAIN_SECONDS + 1, 48 * 2**20)
        for r in full_window:
            buf.push(r)
        assert buf.stats.bytes == total
        return buf

    def candidate(buf):
        return buf.drain()

    def baseline_fresh(_):
        return bytes(memoryview(src))  # allocate + one memcpy (what any copy-out must do)

    def baseline_memcpy(_):
        np.copyto(dst, src)  # one memcpy into warm, preallocated memory

    paired(benchmark, f"drain() {total / 2**20:.1f} MiB / {len(full_window)} packets vs one memcpy into "
               "a preallocated buffer", candidate, baseline_memcpy, prepare=prepare, rounds=20,
               target=3.0, mode="overhead", per=len(full_window), unit="packet")
    info = dict(benchmark.extra_info)
    # the same candidate timings against an allocate-and-copy baseline (bytes(view))
    fresh = []
    for _ in range(20):
        t0 = time.perf_counter()
        baseline_fresh(None)
        fresh.append(time.perf_counter() - t0)
    ratio_fresh = info["candidate_median_s"] / statistics.median(fresh)
    benchmark.extra_info["ratio_vs_allocating_copy"] = round(ratio_fresh, 3)
    note(f"drain(): {ratio_fresh:.2f}x the time of bytes(view) (allocate + memcpy) of the same "
                f"{total / 2**20:.1f} MiB; vs warm memcpy {info['ratio']:.2f}x")
    out = prepare().drain()
    assert sum(r.size for r in out) == total and out[0].keyframe
