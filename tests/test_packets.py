"""PacketRecord: the immutable packet vocabulary and its PyAV converters."""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np
import pytest

from bwc_core.errors import BwcError, BwcTypeError, PacketError
from bwc_core.media.packets import KINDS, PacketRecord, as_payload
from bwc_core.media.source import MediaSource

TB = Fraction(1, 90000)


def _rec(**kw):
    base = dict(stream=0, kind="video", pts=3000, dts=None, duration=3000, time_base=TB,
                keyframe=True, payload=b"payload")
    base.update(kw)
    return PacketRecord(**base)


def test_fields_and_defaults():
    r = PacketRecord(1, "audio", 1024, payload=b"a")
    assert (r.stream, r.kind, r.pts, r.dts, r.duration, r.keyframe) == (1, "audio", 1024, 1024, 0, False)
    assert r.dts == r.pts  # dts defaults to pts
    assert _rec(dts=0).dts == 0
    assert _rec(duration=None).duration == 0
    assert _rec(time_base=(1, 48000)).time_base == Fraction(1, 48000)
    assert isinstance(_rec(time_base=(1, 48000)).time_base, Fraction)
    assert r.size == 1
    assert _rec(pts=45000).pts_seconds == Fraction(1, 2)
    assert _rec(pts=3, dts=1, time_base=Fraction(1001, 30000)).dts_seconds == Fraction(1001, 30000)
    assert KINDS == {"video", "audio", "data"}


def test_records_are_immutable():
    r = _rec()
    for name in PacketRecord.__slots__:
        with pytest.raises(AttributeError):
            setattr(r, name, 1)
        with pytest.raises(AttributeError):
            delattr(r, name)
    with pytest.raises(AttributeError):
        r.extra = 1  # no __dict__
    changed = r.replace(pts=6000)
    assert changed.pts == 6000 and r.pts == 3000 and changed.payload is r.payload


def test_equality_compares_values_and_hash_is_identity():
    a, b = _rec(), _rec(payload=bytearray(b"payload"))
    assert a == b and a is not b
    assert a != _rec(pts=1) and a != _rec(keyframe=False) and a != _rec(payload=b"other")
    assert len({a, b}) == 2  # hashable by identity: usable as dict keys without hashing payloads
    assert a.__eq__("not a record") is NotImplemented


def test_bytes_are_kept_zero_copy_writable_buffers_are_copied():
    data = b"x" * 100
    assert _rec(payload=data).payload is data
    ro = memoryview(data)[10:20]
    kept = _rec(payload=ro).payload
    assert kept.obj is data and bytes(kept) == b"x" * 10  # read-only view of bytes: zero copy
    for writable in (bytearray(b"abc"), np.frombuffer(bytearray(b"abc"), np.uint8), memoryview(bytearray(b"abc"))):
        rec = _rec(payload=writable)
        assert bytes(rec.payload) == b"abc"
        writable[0] = ord("z")
        assert bytes(rec.payload) == b"abc", f"{type(writable).__name__} was aliased"
    wide = np.arange(4, dtype=np.int32)  # any item size: viewed as bytes
    assert bytes(_rec(payload=wide).payload) == wide.tobytes()
    assert as_payload(memoryview(b"ab").cast("B", (1, 2))) == b"ab"


@pytest.mark.parametrize(
    "payload",
    [memoryview(b"abcdef")[::2], np.zeros((4, 4), np.uint8)[:, 1], np.zeros((4, 4), np.uint8).T],
    ids=["memoryview[::2]", "numpy column", "numpy transpose"],
)
def test_strided_buffers_are_refused(payload):
    with pytest.raises(BwcTypeError, match="C-contiguous"):
        _rec(payload=payload)


def test_non_buffers_are_refused_with_a_typed_error():
    for bad in ("text", 12, None, [1, 2]):
        with pytest.raises(BwcTypeError) as info:
            _rec(payload=bad)
        assert isinstance(info.value, TypeError) and isinstance(info.value, BwcError)


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(pts=None), "no pts"),
        (dict(kind="subtitle"), "unknown stream kind"),
        (dict(kind="VIDEO"), "unknown stream kind"),
        (dict(stream=-1), "stream index"),
        (dict(time_base=Fraction(0)), "time base"),
        (dict(time_base=(-1, 90000)), "time base"),
    ],
)
def test_bad_fields_are_packet_errors(kw, message):
    with pytest.raises(PacketError, match=message) as info:
        _rec(**kw)
    assert isinstance(info.value, ValueError)


# --- PyAV converters -----------------------------------------------------------------------


def test_from_av_copies_every_field_and_the_payload(av_clip):
    with av.open(str(av_clip)) as c:
        kinds = {s.index: s.type for s in c.streams}
        seen = {"video": 0, "audio": 0}
        for packet in c.demux():
            if packet.size == 0:
                continue
            rec = PacketRecord.from_av(packet)
            assert rec.stream == packet.stream.index and rec.kind == kinds[rec.stream]
            assert (rec.pts, rec.dts, rec.duration) == (packet.pts, packet.dts, packet.duration)
            assert rec.time_base == packet.time_base and rec.keyframe == packet.is_keyframe
            assert bytes(rec.payload) == bytes(packet)
            assert type(rec.payload) is bytes  # owned: a packet's buffer is writable and reused
            seen[rec.kind] += 1
    assert seen["video"] > 100 and seen["audio"] > 100


def test_from_av_record_does_not_alias_the_packet(av_clip):
    with av.open(str(av_clip)) as c:
        packet = next(p for p in c.demux(video=0) if p.size > 16)
        rec = PacketRecord.from_av(packet)
        before = bytes(rec.payload)
        packet.update(bytes(packet.size))  # the owner overwrites its buffer
        assert bytes(packet) != before
    assert bytes(rec.payload) == before


def test_from_av_refuses_flush_and_streamless_packets(av_clip):
    with av.open(str(av_clip)) as c:
        flush = [p for p in c.demux() if p.dts is None]
        assert flush
        with pytest.raises(PacketError, match="no pts"):
            PacketRecord.from_av(flush[0])
    with pytest.raises(PacketError, match="no stream"):
        PacketRecord.from_av(av.Packet(b"abc"))


def test_to_av_makes_a_fresh_packet_each_time():
    rec = _rec(pts=6000, dts=3000, duration=3000, keyframe=True)
    p1, p2 = rec.to_av(), rec.to_av()
    assert p1 is not p2
    assert (p1.pts, p1.dts, p1.duration, p1.time_base, p1.is_keyframe) == (6000, 3000, 3000, TB, True)
    assert bytes(p1) == b"payload"


def test_mux_never_rewrites_a_record_s_timestamps(av_clip):
    """OutputContainer.mux() rescales the packet it is given in place (DESIGN.md pitfall):
    the record's own timestamps must survive, even when muxed twice."""
    with MediaSource(av_clip) as src:
        records = [r for r in src if r.kind == "video"][:60]
        template = src.streams[0].template
        out_buf = io.BytesIO()
        out = av.open(out_buf, "w", format="matroska")  # MKV stores milliseconds: 1/1000
        stream = out.add_stream_from_template(template)
        snapshot = [(r.pts, r.dts, r.duration, r.time_base) for r in records]
        rescaled = 0
        for rec in records:
            packet = rec.to_av(stream)
            out.mux(packet)
            rescaled += packet.time_base != rec.time_base or packet.pts != rec.pts
        out.close()
    assert rescaled > 0, "the muxer did not rewrite the packets it was given; the test proves nothing"
    assert [(r.pts, r.dts, r.duration, r.time_base) for r in records] == snapshot
    # the file holds the same frames at the same (rounded) times
    with av.open(io.BytesIO(out_buf.getvalue())) as c:
        again = [p for p in c.demux() if p.size]
    assert [bytes(p) for p in again] == [bytes(r.payload) for r in records]
    for p, r in zip(again, records, strict=False):
        assert abs(p.pts * p.time_base - r.pts_seconds) <= Fraction(1, 1000)


def test_to_av_of_a_read_only_view_muxes(tmp_path, av_clip):
    """Records drained from the buffer carry read-only memoryviews; PyAV must accept them."""
    with MediaSource(av_clip) as src:
        rec = next(r for r in src if r.kind == "video")
        blob = bytes(rec.payload)
        view_rec = rec.replace(payload=memoryview(blob))
        assert isinstance(view_rec.payload, memoryview) and view_rec.payload.readonly
        with av.open(str(tmp_path / "one.mkv"), "w", format="matroska") as out:
            stream = out.add_stream_from_template(src.streams[0].template)
            out.mux(view_rec.to_av(stream))
    with av.open(str(tmp_path / "one.mkv")) as c:
        assert [bytes(p) for p in c.demux() if p.size] == [blob]
