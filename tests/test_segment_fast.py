"""Segmenter.push_av (demuxed packets, no PacketRecord) writes exactly what push() writes."""

from __future__ import annotations

import os
from fractions import Fraction

import av
import pytest

from bwc_core.capture.segmenter import Segmenter
from bwc_core.errors import BwcTypeError, PacketError, StateError
from bwc_core.format.content import read_leaves
from bwc_core.media.commit import content_root
from bwc_core.media.packets import PacketRecord
from bwc_core.media.source import MediaSource
from bwc_core.media.writers import container_options, write_packets

CONTAINERS = ("mp4", "mkv", "ts")


@pytest.fixture(scope="module")
def sources(av_clip, tmp_path_factory):
    """The B-frame + AAC clip as MP4 (as encoded), MKV and MPEG-TS."""
    out = {"mp4": av_clip}
    base = tmp_path_factory.mktemp("fast-sources")
    with MediaSource(av_clip) as src:
        records = list(src)
        for fmt in ("mkv", "ts"):
            path = base / f"av.{fmt}"
            write_packets(path, src.streams, records, container=fmt)
            out[fmt] = path
    return out


def _options(container, streams):
    # MKV writes random UIDs unless bit-exact; both paths get the same options.
    return {**container_options(container, streams), "fflags": "+bitexact"}


def _segment(source, out, container, *, fast, split=None):
    """Segment *source* with push() or push_av(); with *split*, its first packets are pre-event records."""
    with MediaSource(source) as src:
        seg = Segmenter(out, streams=src.streams, target_seconds=2, container=container,
                        options=_options(container, src.streams), pre_event=split is not None)
        returned = []
        for i, packet in enumerate(src.av_packets() if fast else src.packets()):
            if split is not None and i == split:
                seg.mark_live()
            if fast and (split is None or i >= split):
                returned.append(seg.push_av(packet))
            else:
                record = PacketRecord.from_av(packet) if fast else packet
                returned.append(seg.push(record))
        returned += seg.close()
    return [r for r in returned if r is not None]


def _files(directory):
    return {name: (directory / name).read_bytes() for name in sorted(os.listdir(directory))}


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("source_format", ("mp4", "mkv", "ts"))
def test_push_av_writes_the_same_bytes_digests_roots_and_sidecars(sources, tmp_path, source_format, container):
    source = sources[source_format]
    slow = _segment(source, tmp_path / "push", container, fast=False)
    fast = _segment(source, tmp_path / "push_av", container, fast=True)
    assert len(slow) >= 3  # 8 s in 2 s segments: cuts and audio routed across them
    assert [i.to_json() for i in fast] == [i.to_json() for i in slow]
    a, b = _files(tmp_path / "push"), _files(tmp_path / "push_av")
    assert list(a) == list(b) and len(a) == 2 * len(slow)
    for name in a:
        assert a[name] == b[name], name
    for info in fast:
        assert content_root(info.path).root == info.content_root
        assert read_leaves(info.leaves_path).root == info.content_root


def test_the_mp4_source_exercises_packets_a_record_would_strip(sources):
    # The AAC priming packet is flagged discard and carries skip_samples side
    # data: push_av must mux a fresh packet for it (the byte test above).
    with MediaSource(sources["mp4"]) as src:
        special = [p for p in src.av_packets() if p.is_discard or any(True for _ in p.iter_sidedata())]
    assert special


def test_records_then_demuxed_packets_equal_records_only(sources, tmp_path):
    slow = _segment(sources["mp4"], tmp_path / "push", "mp4", fast=False, split=40)
    fast = _segment(sources["mp4"], tmp_path / "mixed", "mp4", fast=True, split=40)
    assert [i.to_json() for i in fast] == [i.to_json() for i in slow]
    assert fast[0].pre_event and not fast[-1].pre_event
    assert _files(tmp_path / "push") == _files(tmp_path / "mixed")


def test_packets_from_another_demuxer_of_the_same_file_are_accepted(sources, tmp_path):
    expected = _segment(sources["mp4"], tmp_path / "push", "mp4", fast=False)
    with MediaSource(sources["mp4"]) as declared, MediaSource(sources["mp4"]) as other:
        seg = Segmenter(tmp_path / "other", streams=declared.streams, target_seconds=2, container="mp4",
                        options=_options("mp4", declared.streams))
        for packet in other.av_packets():
            assert packet.stream is not declared.streams[packet.stream_index].template
            seg.push_av(packet)
        seg.close()
    assert [i.to_json() for i in seg.segments] == [i.to_json() for i in expected]
    assert _files(tmp_path / "push") == _files(tmp_path / "other")


def test_push_av_misuse_is_typed_and_writes_nothing(sources, tmp_path):
    with MediaSource(sources["mp4"]) as src:
        video = [s for s in src.streams if s.kind == "video"]
        seg = Segmenter(tmp_path / "v", streams=video, target_seconds=2)
        packets = list(src.av_packets())
        first_audio = next(p for p in packets if p.stream.type == "audio")
        with pytest.raises(PacketError, match="not declared"):
            seg.push_av(first_audio)
        with pytest.raises(BwcTypeError):
            seg.push_av(b"not a packet")
        with MediaSource(sources["mp4"]) as again:
            record = next(iter(again))
        with pytest.raises(BwcTypeError):
            seg.push_av(record)
        # A packet that is not from a demuxer of a declared stream: no kind.
        stray = av.Packet(bytes(packets[0]))
        stray.pts = stray.dts = 0
        stray.time_base = Fraction(1, 1000)
        with pytest.raises(PacketError):
            seg.push_av(stray)
        assert seg.open_paths == [] and os.listdir(tmp_path / "v") == []
        # A demuxer flush packet is skipped, not counted.
        flush = av.Packet()
        assert seg.push_av(flush) is None
        seg.close()
        with pytest.raises(StateError):
            seg.push_av(packets[0])


def test_a_foreign_time_base_is_refused(sources, tmp_path):
    with MediaSource(sources["mp4"]) as src, MediaSource(sources["mkv"]) as mkv:
        seg = Segmenter(tmp_path / "tb", streams=src.streams, target_seconds=2)
        packet = next(p for p in mkv.av_packets() if p.stream.type == "video")
        assert Fraction(packet.time_base) != src.streams[packet.stream_index].time_base
        with pytest.raises(PacketError, match="time base"):
            seg.push_av(packet)
        assert os.listdir(tmp_path / "tb") == []
        seg.close()
