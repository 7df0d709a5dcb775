"""The pre-event ring buffer: policy (against a plain-Python model), real media,
threads, memory, and bad input."""

from __future__ import annotations

import gc
import logging
import os
import threading
import tracemalloc
from fractions import Fraction

import av
import numpy as np
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from bwc_core import BufferStats, PreEventBuffer
from bwc_core.errors import (
    BufferFullError,
    BwcError,
    BwcTypeError,
    BwcValueError,
    PacketError,
    PacketOrderError,
)
from bwc_core.media.packets import PacketRecord
from bwc_core.media.source import MediaSource
from bwc_core.media.writers import write_packets

VTB = Fraction(1, 90000)
ATB = Fraction(1, 48000)
DTB = Fraction(1, 1000)


# --- a plain-Python model of the documented policy (docs/camera.md) --------------


class _Entry:
    __slots__ = ("v", "size", "stream", "kind", "pts", "dts", "dur", "key", "main", "live", "data")

    def __init__(self, v, rec, main):
        self.v, self.size = v, len(rec.payload)
        self.stream, self.kind = rec.stream, rec.kind
        self.pts, self.dts, self.dur = rec.pts, rec.dts, rec.duration
        self.key, self.main, self.live = rec.keyframe, main, True
        self.data = bytes(rec.payload)


class Model:
    """The buffer's policy written the obvious way: lists, Fractions, no C."""

    def __init__(self, max_seconds, cap, nslots, keep_audio):
        self.max_seconds = Fraction(str(max_seconds)) if isinstance(max_seconds, float) else Fraction(max_seconds)
        self.cap, self.nslots, self.keep_audio = cap, nslots, keep_audio
        self.slots: list[_Entry] = []  # from the oldest un-reclaimed slot, live or dead
        self.tail_v = 0
        self.kf: list[_Entry] = []
        self.streams: dict[int, tuple[str, Fraction]] = {}
        self.last_dts: dict[int, int] = {}
        self.video = None
        self.newest = 0
        self.last_vdts = None
        self.c = dict(evicted_gops=0, dropped_audio=0, oversize_events=0, evicted_packets=0,
                      dropped_video=0, trimmed=0, pushed=0)

    # time, exactly
    def _vsec(self, ticks):
        return ticks * self.streams[self.video][1]

    def _ends_before(self, e, t):
        tb = self.streams[e.stream][1]
        if e.dur > 0:
            return (e.pts + e.dur) * tb <= self._vsec(t)
        return e.pts * tb < self._vsec(t)

    # geometry
    def _pop_dead(self):
        while self.slots and not self.slots[0].live:
            self.slots.pop(0)

    def _place(self, size):
        if len(self.slots) >= self.nslots:
            return None
        v = self.tail_v
        if not self.slots:
            v = -(-v // self.cap) * self.cap
            head = v
        else:
            head = self.slots[0].v
            if v % self.cap + size > self.cap:
                v += self.cap - v % self.cap
        return v if v + size - head <= self.cap else None

    def _kill(self, e):
        e.live = False

    def _live(self):
        return [e for e in self.slots if e.live]

    def _trim(self, t):
        n = 0
        for e in self._live():
            if not e.main and self._ends_before(e, t):
                self._kill(e)
                n += 1
        self._pop_dead()
        return n

    def _evict_gop(self):
        k1 = self.kf[1]
        for e in self.slots:
            if e is k1:
                break
            if e.live and e.main:
                self._kill(e)
                self.c["evicted_packets"] += 1
        self.kf.pop(0)
        self.c["evicted_gops"] += 1
        self.c["evicted_packets"] += self._trim(k1.pts)

    def _drop_all(self):
        n = len(self._live())
        self.slots.clear()
        self.kf.clear()
        return n

    def _make_room(self, size, key):
        while True:
            v = self._place(size)
            if v is not None:
                return v
            if len(self.kf) >= 2:
                self._evict_gop()
            elif len(self.kf) == 1:
                self.c["evicted_packets"] += self._drop_all()
                if key:
                    self.c["evicted_gops"] += 1
                else:
                    self.c["oversize_events"] += 1
                    return None
            else:
                self._kill(self.slots[0])
                self.c["evicted_packets"] += 1
                self._pop_dead()

    def _store(self, v, rec, main):
        e = _Entry(v, rec, main)
        self.slots.append(e)
        self.tail_v = v + e.size
        return e

    def push(self, rec):
        # validation first; a rejected packet changes nothing
        known = self.streams.get(rec.stream)
        if known is not None:
            if known[0] != rec.kind:
                raise PacketError("kind changed")
            if known[1] != rec.time_base:
                raise PacketError("time base changed")
            if rec.dts < self.last_dts[rec.stream]:
                raise PacketOrderError("dts backwards")
        if len(rec.payload) > self.cap:
            raise BufferFullError("too big")
        if known is None:
            self.streams[rec.stream] = (rec.kind, rec.time_base)
            if rec.kind == "video" and self.video is None:
                self.video = rec.stream
        self.last_dts[rec.stream] = rec.dts
        self.c["pushed"] += 1

        if rec.stream == self.video:
            self.last_vdts = rec.dts
            if not self.kf:
                self.c["trimmed"] += self._trim(rec.dts)
                if not rec.keyframe:
                    self.c["dropped_video"] += 1
                    return
            v = self._make_room(len(rec.payload), rec.keyframe)
            if v is None:
                self.c["dropped_video"] += 1
                return
            e = self._store(v, rec, True)
            if rec.keyframe:
                self.kf.append(e)
                if len(self.kf) == 1:
                    self.newest = rec.pts
                    self.c["trimmed"] += self._trim(rec.pts)
                else:
                    self.newest = max(self.newest, rec.pts)
            else:
                self.newest = max(self.newest, rec.pts)
            while len(self.kf) >= 2 and self._vsec(self.newest - self.kf[1].pts) >= self.max_seconds:
                self._evict_gop()
            if len(self.kf) == 1 and self._vsec(self.newest - self.kf[0].pts) > self.max_seconds:
                self.c["evicted_packets"] += self._drop_all()
                self.c["oversize_events"] += 1
            return

        if rec.kind == "audio" and not self.keep_audio:
            self.c["dropped_audio"] += 1
            return
        probe = _Entry(0, rec, False)
        while True:
            if self.kf:
                if self._ends_before(probe, self.kf[0].pts):
                    self.c["trimmed"] += 1
                    return
            elif self.last_vdts is not None and self._ends_before(probe, self.last_vdts):
                self.c["trimmed"] += 1
                return
            v = self._make_room(len(rec.payload), False)
            if v is not None:
                break
        self._store(v, rec, False)

    def held(self):
        return [(e.stream, e.pts, e.dts, e.dur, e.key, e.data) for e in self._live()]

    def drain(self):
        if not self.kf:
            self.c["trimmed"] += self._drop_all()
            return []
        out = self.held()
        self._drop_all()
        return out

    def seconds(self):
        return self._vsec(self.newest - self.kf[0].pts) if self.kf else Fraction(0)


def _as_tuple(r: PacketRecord):
    return (r.stream, r.pts, r.dts, r.duration, r.keyframe, bytes(r.payload))


# --- the stateful test -------------------------------------------------------------


class BufferVersusModel(RuleBasedStateMachine):
    """Random pushes (sizes, keyframes, B-frame reordering, audio, data), drains
    and bad input; the buffer and the model must hold the same after every step."""

    @initialize(
        max_seconds=st.sampled_from([0.1, 0.25, 0.5, 1]),
        cap=st.integers(64, 4000),
        max_packets=st.sampled_from([2, 4, 8, 16, 64]),
        keep_audio=st.booleans(),
    )
    def setup(self, max_seconds, cap, max_packets, keep_audio):
        self.buf = PreEventBuffer(max_seconds, cap, keep_audio, max_packets=max_packets)
        self.model = Model(max_seconds, cap, self.buf.max_packets, keep_audio)
        self.vdts = self.adts = self.ddts = 0
        self.vmax = -1
        self.n = 0

    def _payload(self, size):
        self.n += 1
        return bytes([self.n % 251]) * size

    def _both(self, rec):
        err_b = err_m = None
        try:
            self.buf.push(rec)
        except BwcError as exc:
            err_b = type(exc)
        try:
            self.model.push(rec)
        except BwcError as exc:
            err_m = type(exc)
        assert err_b is err_m

    @rule(key=st.booleans(), step=st.integers(0, 3), reorder=st.integers(0, 2),
          size=st.integers(0, 1500))
    def push_video(self, key, step, reorder, size):
        self.vdts += step * 3000
        pts = self.vdts + reorder * 3000
        # A keyframe (IDR) comes after every frame before it in presentation
        # order too: keyframe pts increase in decode order (closed GOPs).
        if key and pts <= self.vmax:
            key = False
        self.vmax = max(self.vmax, pts)
        self._both(PacketRecord(0, "video", pts, self.vdts, 3000, VTB, key, self._payload(size)))

    @rule(step=st.integers(0, 3000), size=st.integers(0, 600), duration=st.sampled_from([0, 1024]))
    def push_audio(self, step, size, duration):
        self.adts += step
        self._both(PacketRecord(1, "audio", self.adts, None, duration, ATB, True, self._payload(size)))

    @rule(step=st.integers(0, 60), size=st.integers(0, 300))
    def push_data(self, step, size):
        self.ddts += step
        self._both(PacketRecord(2, "data", self.ddts, None, 0, DTB, False, self._payload(size)))

    @rule(back=st.integers(1, 5000))
    def push_backwards(self, back):
        """Only meaningful once a video packet exists; otherwise a normal first push."""
        if self.model.last_dts.get(0) is None:
            return
        self._both(PacketRecord(0, "video", self.vdts - back, self.vdts - back, 0, VTB, True, b"x"))

    @rule(extra=st.integers(1, 100))
    def push_oversize(self, extra):
        self._both(PacketRecord(0, "video", self.vdts, self.vdts, 0, VTB, True,
                                bytes(self.buf.max_bytes + extra)))

    @rule()
    def drain(self):
        got = [_as_tuple(r) for r in self.buf.drain()]
        assert got == self.model.drain()
        if got:
            assert got[[s for s, *_ in got].index(0)][4], "window starts on a delta frame"

    def teardown(self):
        if hasattr(self, "buf"):  # what the run reached (see --hypothesis-show-statistics)
            c = self.model.c
            for name in ("evicted_gops", "oversize_events", "trimmed", "dropped_video", "evicted_packets"):
                event(f"{name} > 0" if c[name] else f"{name} == 0")
            event(f"arena wrapped: {self.model.tail_v > self.model.cap}")

    @invariant()
    def same_contents(self):
        if not hasattr(self, "buf"):
            return
        assert self.buf._held() == self.model.held()
        s = self.buf.stats
        for name, value in self.model.c.items():
            assert getattr(s, name) == value, name
        assert s.seconds == self.model.seconds()
        assert s.keyframes == len(self.model.kf)
        held = self.model.held()
        assert s.packets == len(held) == len(self.buf)
        assert s.bytes == sum(len(h[5]) for h in held)
        video = [h for h in held if h[0] == 0]
        if video:
            assert video[0][4], "held video starts on a delta frame"
        if s.keyframes >= 2:  # the time rule: never more than max_seconds + one GOP
            kf = [h for h in video if h[4]]
            assert (max(h[1] for h in video) - kf[1][1]) * VTB < self.buf.max_seconds


TestBufferVersusModel = BufferVersusModel.TestCase
TestBufferVersusModel.settings = settings(
    max_examples=500, stateful_step_count=60, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# --- unit behaviour ----------------------------------------------------------------------


def _video(pts, key=False, size=100, dts=None, fill=None, stream=0, tb=VTB):
    return PacketRecord(
        stream, "video", pts, dts, 3000, tb, key, bytes([fill if fill is not None else pts % 251]) * size
    )


def _gops(n_gops, gop=30, size=100, start=0):
    """n_gops GOPs of `gop` frames at 30 fps (90 kHz), no reordering."""
    return [_video(start + i * 3000, key=(i % gop == 0), size=size) for i in range(n_gops * gop)]


def test_defaults_and_arguments():
    buf = PreEventBuffer()
    assert buf.max_seconds == 30 and buf.max_bytes == 64 * 2**20 and buf.keep_audio is False
    assert buf.max_packets >= 30 * 500
    assert buf.stats == BufferStats(0, 0, Fraction(0), 0, 0, 0, 0, 0, 0, 0, 0, 64 * 2**20, buf.max_packets)
    assert PreEventBuffer(0.1, 10).max_seconds == Fraction(1, 10)  # exact, not the float
    for bad in (dict(max_seconds=0), dict(max_seconds=-1), dict(max_seconds=float("inf")),
                dict(max_bytes=0), dict(max_bytes=1.5), dict(max_packets=1)):
        with pytest.raises(BwcValueError):
            PreEventBuffer(**bad)
    with pytest.raises(BwcTypeError):
        PreEventBuffer("30")


def test_window_is_keyframe_aligned_and_between_max_and_max_plus_gop():
    buf = PreEventBuffer(max_seconds=2.5, max_bytes=10**6)
    for rec in _gops(10, gop=30):  # 10 s of 1 s GOPs
        buf.push(rec)
        s = buf.stats
        held = buf._held()
        assert held[0][4], "held content starts at a keyframe"
        if rec.pts * VTB >= Fraction(7, 2):  # once 3.5 s were pushed, the window is full
            assert Fraction(5, 2) <= s.seconds < Fraction(5, 2) + 1
    out = buf.drain()
    assert out[0].keyframe and out[0].pts == 7 * 90000  # 7.0 .. 9.967 s: 2.967 s held
    assert [r.pts for r in out] == [i * 3000 for i in range(210, 300)]
    assert buf.stats.evicted_gops == 7 and buf.stats.seconds == 0 and len(buf) == 0
    assert buf.drain() == []


def test_delta_frames_before_any_keyframe_are_dropped():
    buf = PreEventBuffer(5, 10**5)
    for i in range(1, 5):
        buf.push(_video(i * 3000))
    assert len(buf) == 0 and buf.stats.dropped_video == 4 and buf.drain() == []
    buf.push(_video(5 * 3000, key=True))
    buf.push(_video(6 * 3000))
    assert [r.pts for r in buf.drain()] == [15000, 18000]
    buf.push(_video(7 * 3000))  # after a drain the window restarts at the next keyframe
    assert buf.drain() == [] and buf.stats.dropped_video == 5


def test_bytes_bound_evicts_whole_gops_only():
    buf = PreEventBuffer(max_seconds=100, max_bytes=25_000)  # 2.5 GOPs of 1 s x 100 B x 100
    for rec in _gops(6, gop=30, size=300):  # 9 000 B per GOP
        buf.push(rec)
        assert buf.stats.bytes <= 25_000
        assert buf._held()[0][4]
    s = buf.stats
    assert s.keyframes == 2 and s.evicted_gops == 4 and s.oversize_events == 0
    assert s.bytes == 18_000 and s.evicted_packets == 120


def test_slot_exhaustion_is_treated_like_byte_exhaustion():
    buf = PreEventBuffer(max_seconds=100, max_bytes=10**6, max_packets=64)
    assert buf.max_packets == 64
    for rec in _gops(5, gop=30, size=10):
        buf.push(rec)
        assert len(buf) <= 64 and buf._held()[0][4]
    assert buf.stats.keyframes == 2 and buf.stats.evicted_gops == 3


def test_arena_wraps_without_straddling_and_payloads_survive():
    buf = PreEventBuffer(max_seconds=100, max_bytes=1000)
    sent = []
    for i in range(200):  # sizes that do not divide the arena: every wrap skips a tail
        rec = _video(i * 3000, key=(i % 3 == 0), size=97 + i % 13)
        buf.push(rec)
        sent.append(rec)
    got = buf.drain()
    assert got and got[0].keyframe
    by_pts = {r.pts: bytes(r.payload) for r in sent}
    assert all(bytes(r.payload) == by_pts[r.pts] for r in got)
    assert got == sent[-len(got):]


def test_gop_larger_than_the_buffer_is_an_oversize_event(caplog):
    buf = PreEventBuffer(max_seconds=100, max_bytes=5_000)
    caplog.set_level(logging.WARNING, logger="bwc_core.capture.buffer")
    buf.push(_video(0, key=True, size=1000))
    for i in range(1, 10):  # one GOP of 10 x 1000 B > 5000 B
        buf.push(_video(i * 3000, size=1000))
        assert buf.stats.bytes <= 5_000
    s = buf.stats
    assert s.oversize_events == 1 and s.keyframes == 0 and len(buf) == 0
    assert s.dropped_video == 5  # the 5th delta and the 4 after it wait for a keyframe
    assert buf.drain() == []
    assert any("outgrew" in r.getMessage() and r.name == "bwc_core.capture.buffer" for r in caplog.records)
    buf.push(_video(10 * 3000, key=True, size=1000))
    assert [r.pts for r in buf.drain()] == [30000]


def test_no_keyframe_for_longer_than_max_seconds_is_an_oversize_event(caplog):
    buf = PreEventBuffer(max_seconds=1, max_bytes=10**6)
    caplog.set_level(logging.WARNING, logger="bwc_core.capture.buffer")
    for i in range(31):  # 0 .. 1.0 s: exactly max_seconds is still fine
        buf.push(_video(i * 3000, key=(i == 0)))
    assert buf.stats.oversize_events == 0 and buf.stats.seconds == 1
    buf.push(_video(31 * 3000))
    s = buf.stats
    assert s.oversize_events == 1 and len(buf) == 0 and s.evicted_packets == 32
    assert any("no keyframe" in r.getMessage() for r in caplog.records)
    for i in range(32, 40):
        buf.push(_video(i * 3000))
    assert len(buf) == 0 and buf.drain() == []


def test_audio_is_dropped_by_default_and_counted():
    buf = PreEventBuffer(5, 10**5)
    buf.push(_video(0, key=True))
    for i in range(10):
        buf.push(PacketRecord(1, "audio", i * 1024, None, 1024, ATB, True, b"a" * 50))
    assert buf.stats.dropped_audio == 10
    assert [r.kind for r in buf.drain()] == ["video"]


def test_kept_audio_is_trimmed_to_the_first_keyframe_within_one_frame():
    buf = PreEventBuffer(max_seconds=1, max_bytes=10**6, keep_audio=True)
    # audio frames of 1024 samples (21.3 ms) from t=0; video keyframes every second
    audio = [PacketRecord(1, "audio", i * 1024, None, 1024, ATB, True, b"a" * 10) for i in range(200)]
    video = _gops(4, gop=30)
    events = sorted(audio + video, key=lambda r: r.pts_seconds)
    for rec in events:
        buf.push(rec)
    out = buf.drain()
    k = out[[r.kind for r in out].index("video")]
    assert k.keyframe and k.pts_seconds == 2  # 2.0 .. 3.97 s held
    first_audio = min(r.pts_seconds for r in out if r.kind == "audio")
    frame = Fraction(1024, 48000)
    assert k.pts_seconds - frame < first_audio <= k.pts_seconds
    # the kept one is the frame that overlaps the keyframe's instant
    assert first_audio + frame > k.pts_seconds
    kept = [r for r in out if r.kind == "audio"]
    assert kept == [a for a in audio if a.pts_seconds + frame > 2]


def test_audio_before_any_keyframe_is_held_only_while_it_can_belong():
    buf = PreEventBuffer(max_seconds=5, max_bytes=10**6, keep_audio=True)
    buf.push(PacketRecord(1, "audio", 0, None, 1024, ATB, True, b"a"))      # 0 .. 21 ms
    buf.push(PacketRecord(1, "audio", 48000, None, 1024, ATB, True, b"b"))  # 1.000 .. 1.021 s
    assert len(buf) == 2 and buf.drain() == []  # no keyframe: nothing to hand over
    buf.push(PacketRecord(1, "audio", 96000, None, 1024, ATB, True, b"c"))  # 2.000 s
    buf.push(PacketRecord(1, "audio", 96000 + 1024, None, 1024, ATB, True, b"d"))
    assert len(buf) == 2 and buf.stats.trimmed == 2
    buf.push(_video(182_700, fill=1))  # a delta at 2.030 s: c (ends 2.0213 s) can no longer belong
    assert [h[5] for h in buf._held()] == [b"d"] and buf.stats.trimmed == 3
    buf.push(_video(183_600, key=True, fill=2))  # keyframe at 2.040 s: d (2.0213 .. 2.0427) overlaps it
    out = buf.drain()
    assert [(r.kind, bytes(r.payload[:1])) for r in out] == [("audio", b"d"), ("video", b"\x02")]
    assert out[1].keyframe


def test_data_streams_and_a_second_video_stream_are_kept_and_trimmed_like_audio():
    buf = PreEventBuffer(max_seconds=1, max_bytes=10**6, keep_audio=False)
    recs = []
    for i in range(90):  # 3 s at 30 fps, 1 s GOPs
        recs.append(_video(i * 3000, key=(i % 30 == 0)))
        recs.append(PacketRecord(1, "video", i * 3000, None, 3000, VTB, i % 15 == 0, b"v2"))
        recs.append(PacketRecord(2, "data", i * 33, None, 33, DTB, False, b"gps"))
    for r in recs:
        buf.push(r)
    out = buf.drain()
    assert out[0].stream == 0 and out[0].keyframe and out[0].pts == 30 * 3000
    assert {r.stream for r in out} == {0, 1, 2}
    second = [r for r in out if r.stream == 1]
    assert [r.pts for r in second] == [i * 3000 for i in range(30, 90)]
    data = [r for r in out if r.stream == 2]
    assert data[0].pts == 990  # 0.990 .. 1.023 s overlaps the keyframe at 1.0 s
    assert buf.stats.dropped_audio == 0


def test_seconds_are_exact_across_time_bases():
    buf = PreEventBuffer(max_seconds=Fraction(1, 3), max_bytes=10**5)
    tb = Fraction(1001, 30000)  # NTSC: float math would drift
    for i in range(100):
        buf.push(PacketRecord(0, "video", i, None, 1, tb, i % 5 == 0, b"x"))
    s = buf.stats
    assert isinstance(s.seconds, Fraction)
    # max_seconds is 9.99 frames: GOP 80 went once frame 95 was 10 frames behind frame 85's successor
    assert s.seconds == (99 - 85) * tb and s.keyframes == 3


# --- drained records own their bytes ---------------------------------------------------


def test_drained_payloads_are_immutable_and_survive_later_pushes():
    buf = PreEventBuffer(max_seconds=100, max_bytes=2000)
    for i in range(10):
        buf.push(_video(i * 3000, key=True, size=100, fill=i))
    out = buf.drain()
    before = [bytes(r.payload) for r in out]
    for i in range(10, 200):  # overwrite every arena byte many times
        buf.push(_video(i * 3000, key=True, size=100, fill=255 - i % 200))
    assert [bytes(r.payload) for r in out] == before
    assert isinstance(out[0].payload, memoryview) and out[0].payload.readonly
    with pytest.raises(TypeError):
        out[0].payload[0] = 1
    # one block for all payloads (zero-copy views of one bytes object)
    assert len({id(r.payload.obj) for r in out}) == 1 and isinstance(out[0].payload.obj, bytes)


def test_pushed_buffers_are_copied_not_aliased():
    buf = PreEventBuffer(5, 10**4)
    data = bytearray(b"k" * 64)
    arr = np.full(16, 7, dtype=np.int32)  # any C-contiguous buffer, any item size
    buf.push(_Duck(payload=data))
    buf.push(_Duck(pts=3000, dts=3000, keyframe=False, payload=arr))
    data[:] = b"z" * 64
    arr[:] = 0
    out = buf.drain()
    assert [bytes(r.payload) for r in out] == [b"k" * 64, np.full(16, 7, dtype=np.int32).tobytes()]


# --- bad input: typed errors, buffer unchanged --------------------------------------------


class _Duck:
    """A duck-typed record, for inputs PacketRecord itself refuses to build."""

    def __init__(self, **kw):
        base = dict(stream=0, kind="video", pts=0, dts=0, duration=0, time_base=VTB,
                    keyframe=True, payload=b"x")
        base.update(kw)
        self.__dict__.update(base)


def _filled():
    buf = PreEventBuffer(max_seconds=1, max_bytes=4096, keep_audio=True)
    for i in range(40):
        buf.push(_video(i * 3000, key=(i % 30 == 0), size=50))
        buf.push(PacketRecord(1, "audio", i * 1600, None, 1024, ATB, True, b"a" * 20))
    return buf


@pytest.mark.parametrize(
    "bad, error",
    [
        (_video(40 * 3000, key=True, size=4097), BufferFullError),
        (_video(10 * 3000, key=True), PacketOrderError),  # dts backwards on the video stream
        (PacketRecord(1, "audio", 0, None, 1024, ATB, True, b"a"), PacketOrderError),
        (_Duck(pts=None), PacketError),
        (_Duck(kind="subtitle"), PacketError),
        (_Duck(stream=1, kind="video", pts=10**9), PacketError),  # stream 1 is audio
        (_Duck(pts=10**9, time_base=Fraction(1, 1000)), PacketError),  # time base changed
        (_Duck(stream=300, pts=10**9), PacketError),
        (_Duck(pts=10**9, payload=memoryview(bytes(64))[::2]), BwcTypeError),
        (_Duck(pts=10**9, payload=np.zeros((8, 8), np.uint8)[:, ::2]), BwcTypeError),
        (_Duck(pts=10**9, payload=12345), BwcTypeError),
        (b"just bytes", BwcTypeError),
    ],
)
def test_bad_input_is_a_typed_error_and_changes_nothing(bad, error):
    buf, twin = _filled(), _filled()
    stats, held = buf.stats, buf._held()
    with pytest.raises(error):
        buf.push(bad)
    assert buf.stats == stats and buf._held() == held
    # and it goes on exactly like a twin that never saw the bad packet
    for b in (buf, twin):
        b.push(_video(41 * 3000, size=50))
    assert [_as_tuple(r) for r in buf.drain()] == [_as_tuple(r) for r in twin.drain()]
    assert buf.stats == twin.stats


def test_forged_record_without_pts_is_still_a_packet_error():
    rec = _video(0, key=True)
    object.__setattr__(rec, "pts", None)  # only possible by going around __init__
    buf = PreEventBuffer(1, 1000)
    buf.push(_video(0, key=True))  # registers the stream, so the fast path is taken first
    with pytest.raises(PacketError, match="no pts"):
        buf.push(rec)


def test_bad_first_packet_does_not_choose_the_video_stream():
    buf = PreEventBuffer(1, 100)
    with pytest.raises(BufferFullError):
        buf.push(_video(0, key=True, size=101, stream=3))
    buf.push(_video(0, key=True, size=10, stream=0))
    buf.push(_video(0, key=True, size=10, stream=3))  # second video stream: kept like data
    assert buf.stats.keyframes == 1


def test_typed_errors_are_also_builtin_errors():
    buf = PreEventBuffer(1, 100)
    with pytest.raises(ValueError):
        buf.push(_video(0, key=True, size=101))
    with pytest.raises(TypeError):
        buf.push(object())


# --- real media ----------------------------------------------------------------------------


def _source_records(path):
    with MediaSource(path) as src:
        return list(src), src.streams


def _push_file(path, buf, *, raw=True):
    """Push a file's packets as the capture thread would; returns the StreamInfo list."""
    src = MediaSource(path)
    if raw:
        for packet in src.av_packets():
            buf.push(packet)
    else:
        for rec in src:
            buf.push(rec)
    return src


@pytest.mark.parametrize("raw", [True, False], ids=["av.Packet", "PacketRecord"])
def test_real_media_video_only_window_decodes_from_its_keyframe(av_clip, tmp_path, raw):
    records, _ = _source_records(av_clip)
    buf = PreEventBuffer(max_seconds=3, max_bytes=16 * 2**20)
    src = _push_file(av_clip, buf, raw=raw)
    seconds = buf.stats.seconds
    assert 3 <= seconds <= 3 + 1  # 1 s GOPs
    held = buf.drain()
    n_audio = sum(r.kind == "audio" for r in records)
    assert buf.stats.dropped_audio == n_audio > 0
    assert all(r.kind == "video" for r in held) and held[0].keyframe
    # the drained records are the source's own last packets, bit for bit
    video = [r for r in records if r.kind == "video"]
    assert held == video[-len(held):]
    vpts = [r.pts for r in held]
    assert (max(vpts) - held[0].pts) * held[0].time_base == seconds

    out = tmp_path / "window.mp4"
    written = write_packets(out, src.streams, held)
    src.close()
    assert written == len(held)
    with av.open(str(out)) as c:
        assert not [p for p in c.demux() if p.size and p.stream.type == "audio"], "audio written"
    # decode: the first frame is the keyframe's picture, and every frame decodes
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="gray") for f in c.decode(video=0)]
    assert len(frames) == len(held)
    with av.open(str(av_clip)) as c:
        k_time = held[0].pts_seconds
        ref = next(f.to_ndarray(format="gray") for f in c.decode(video=0) if f.pts * f.time_base == k_time)
    assert np.array_equal(frames[0], ref)


def _first_pts_seconds(path):
    first = {}
    with av.open(str(path)) as c:
        for p in c.demux():
            if p.size and p.pts is not None and p.stream.type not in first:
                first[p.stream.type] = p.pts * p.time_base
            elif p.size and p.pts is not None:
                first[p.stream.type] = min(first[p.stream.type], p.pts * p.time_base)
    return first


def test_real_media_kept_audio_keeps_the_source_av_alignment(av_clip, tmp_path):
    buf = PreEventBuffer(max_seconds=2.5, max_bytes=16 * 2**20, keep_audio=True)
    src = _push_file(av_clip, buf)
    held = buf.drain()
    out = tmp_path / "window_av.mp4"
    write_packets(out, src.streams, held)
    src.close()
    frame = Fraction(1024, 48000)
    video = [r for r in held if r.kind == "video"]
    audio = [r for r in held if r.kind == "audio"]
    k = video[0]
    assert k.keyframe and audio
    # in source time: the first kept audio frame overlaps the keyframe's instant
    src_offset = min(r.pts_seconds for r in audio) - min(r.pts_seconds for r in video)
    assert -frame < src_offset <= 0
    # the written file starts its streams with the same offset, within one audio frame
    first = _first_pts_seconds(out)
    written_offset = first["audio"] - first["video"]
    assert abs(written_offset - src_offset) <= frame
    # and the audio covers the video window to its end
    assert max(r.pts_seconds for r in audio) + frame >= max(r.pts_seconds for r in video)


def test_raw_and_record_pushes_hold_the_same(av_clip):
    a = PreEventBuffer(max_seconds=2, max_bytes=2**20, keep_audio=True)
    b = PreEventBuffer(max_seconds=2, max_bytes=2**20, keep_audio=True)
    _push_file(av_clip, a, raw=True).close()
    _push_file(av_clip, b, raw=False).close()
    assert a.stats == b.stats
    assert a.drain() == b.drain()


def test_flush_packets_without_pts_are_refused(av_clip):
    buf = PreEventBuffer(2, 2**20)
    with av.open(str(av_clip)) as c:  # packets must not outlive their container in PyAV
        flush = [p for p in c.demux() if p.dts is None]
        assert flush
        with pytest.raises(PacketError, match="no pts"):
            buf.push(flush[0])
    assert buf.stats.pushed == 0


# --- threads ----------------------------------------------------------------------------------


def test_one_pusher_one_drainer_lose_and_duplicate_nothing():
    n = 60_000
    # Every video packet a keyframe and a huge window: the policy keeps all of it, so
    # whatever is pushed must come out of exactly one drain, in order.
    recs = [PacketRecord(0, "video", i * 3000, None, 3000, VTB, True, i.to_bytes(4, "little") * (1 + i % 50))
            for i in range(n)]
    buf = PreEventBuffer(max_seconds=10**9, max_bytes=64 * 2**20, max_packets=2 * n)
    drained: list[PacketRecord] = []
    done = threading.Event()

    def pusher():
        for r in recs:
            buf.push(r)
        done.set()

    def drainer():
        while not done.is_set():
            drained.extend(buf.drain())
        drained.extend(buf.drain())

    threads = [threading.Thread(target=pusher), threading.Thread(target=drainer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert len(drained) == n
    assert [int.from_bytes(bytes(r.payload[:4]), "little") for r in drained] == list(range(n))
    assert all(bytes(r.payload) == bytes(s.payload) for r, s in zip(drained, recs, strict=False))
    assert buf.stats.evicted_packets == 0 and buf.stats.pushed == n


def test_big_payloads_from_two_threads_with_gil_released_copies():
    """Pushes >= 32 KiB release the GIL inside the lock; drains must still see whole packets."""
    n = 400
    recs = [PacketRecord(0, "video", i, None, 1, Fraction(1, 30), True, bytes([i % 256]) * 40_000)
            for i in range(n)]
    buf = PreEventBuffer(max_seconds=10**6, max_bytes=n * 40_000)
    drained = []
    t = threading.Thread(target=lambda: [buf.push(r) for r in recs])
    t.start()
    while t.is_alive():
        drained.extend(buf.drain())
    t.join()
    drained.extend(buf.drain())
    assert [r.pts for r in drained] == list(range(n))
    assert all(bytes(r.payload) == bytes([r.pts % 256]) * 40_000 for r in drained)


# --- memory -----------------------------------------------------------------------------------


class _Mutable:
    """One reusable packet: the loop below allocates nothing itself, so any growth is the buffer's."""

    __slots__ = ("stream", "kind", "pts", "dts", "duration", "time_base", "keyframe", "payload")

    def __init__(self):
        self.stream, self.kind, self.duration, self.time_base = 0, "video", 3000, VTB
        self.payload = bytes(200)


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc for RSS")
def test_no_memory_growth_over_a_million_pushes():
    buf = PreEventBuffer(max_seconds=2, max_bytes=2**20, keep_audio=True)
    audio = PacketRecord(1, "audio", 0, None, 1024, ATB, True, bytes(100))
    pkt = _Mutable()

    def run(start, count):
        for i in range(start, start + count):
            pkt.pts = pkt.dts = i * 3000
            pkt.keyframe = i % 30 == 0
            buf.push(pkt)

    run(0, 100_000)  # steady state: full window, evicting a GOP a second
    gc.collect()
    rss_before = _rss()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        run(100_000, 1_000_000)
        buf.push(audio.replace(pts=1_100_000 * 1600))
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert current - base < 16 * 1024, f"grew by {current - base} bytes"
    assert _rss() - rss_before < 8 * 2**20, "resident memory grew by more than 8 MiB"
    assert peak - base < 64 * 1024, f"peak {peak - base} bytes above baseline"
    s = buf.stats
    assert s.pushed == 1_100_001 and s.evicted_gops > 30_000 and 2 <= s.seconds < 3
