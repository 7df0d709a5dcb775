"""The segmenter: keyframe cuts, routing by timestamp, standalone hashed files."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections import defaultdict
from fractions import Fraction

import av
import blake3
import pytest

from bwc_core.capture.segmenter import Segmenter
from bwc_core.errors import (
    BwcValueError,
    ContainerError,
    PacketError,
    PacketOrderError,
    StateError,
    UnsupportedCodecError,
)
from bwc_core.format.codec import StreamInfo
from bwc_core.media.source import MediaSource, decode_first_frame

AUDIO_FRAME = Fraction(1024, 48000)  # one AAC frame at the clips' sample rate
CLIPS = {"av": ("av_clip", 2.0), "video": ("video_clip", 1.0), "audio": ("audio_clip", 1.0)}
CONTAINERS = ("mp4", "mkv", "ts")


def load(path):
    with MediaSource(path) as src:
        return list(src)


def per_stream(records):
    out = defaultdict(list)
    for r in records:
        out[r.stream].append(r)
    return out


def _nals_avcc(data: bytes):
    i, nals = 0, []
    while i + 4 <= len(data):
        n = int.from_bytes(data[i : i + 4], "big")
        nals.append(data[i + 4 : i + 4 + n])
        i += 4 + n
    return nals


def _nals_annexb(data: bytes):
    parts = data.replace(b"\x00\x00\x00\x01", b"\x00\x00\x01").split(b"\x00\x00\x01")
    return [p.rstrip(b"\x00") if i < len(parts) - 1 else p for i, p in enumerate(parts) if p]


def canonical_payload(record, container, *, written=False):
    """MPEG-TS stores H.264 as Annex B (+AUD, SPS/PPS) and AAC with ADTS headers.

    Compared as NAL units without AUD/SPS/PPS and as raw AAC frames: payload
    bytes, not framing. *written* says the record was demuxed from our TS.
    """
    data = bytes(record.payload)
    if container != "ts":
        return data
    if record.kind == "video":
        nals = _nals_annexb(data) if written else _nals_avcc(data)
        return tuple(n for n in nals if n and n[0] & 0x1F not in (7, 8, 9))
    if data[:2] in (b"\xff\xf1", b"\xff\xf9"):
        return data[7 if data[1] & 1 else 9 :]
    return data


def timing_ok(src, back, container):
    """Timing equal, within the container's rounding (MKV: 1 ms, pts only; TS: 90 kHz)."""
    if container == "mp4":
        return (src.pts_seconds, src.dts_seconds, src.duration * src.time_base) == (
            back.pts_seconds,
            back.dts_seconds,
            back.duration * back.time_base,
        )
    if container == "mkv":
        return abs(src.pts_seconds - back.pts_seconds) <= Fraction(1, 1000)
    tick = Fraction(1, 90000)
    return abs(src.pts_seconds - back.pts_seconds) <= tick and abs(src.dts_seconds - back.dts_seconds) <= tick


_RUNS: dict = {}


@pytest.fixture
def run(request, tmp_path_factory):
    """Segment a session clip into a container once per module; cached."""

    def _run(clip: str, container: str):
        key = (clip, container)
        if key not in _RUNS:
            fixture, target = CLIPS[clip]
            path = request.getfixturevalue(fixture)
            out = tmp_path_factory.mktemp(f"seg-{clip}-{container}")
            with MediaSource(path) as src:
                records = list(src)
                before = [(r.pts, r.dts, r.duration, r.time_base) for r in records]
                seg = Segmenter(out, streams=src.streams, target_seconds=target, container=container)
                infos = [i for r in records if (i := seg.push(r)) is not None]
                infos += seg.close()
            assert before == [(r.pts, r.dts, r.duration, r.time_base) for r in records], "a record was rewritten"
            _RUNS[key] = (records, infos, src.streams)
        return _RUNS[key]

    return _run


COMBOS = [(c, k) for c in CLIPS for k in CONTAINERS]


@pytest.mark.parametrize("clip,container", COMBOS)
def test_concatenated_segments_give_back_every_input_packet(run, clip, container):
    records, infos, _ = run(clip, container)
    assert len(infos) >= 3
    assert [i.index for i in infos] == list(range(len(infos)))
    assert sum(i.packet_count for i in infos) == len(records)
    back = [r for info in infos for r in load(info.path)]
    src_streams, back_streams = per_stream(records), per_stream(back)
    assert sorted(src_streams) == sorted(back_streams)
    for stream, src in src_streams.items():
        got = back_streams[stream]
        assert len(got) == len(src), f"stream {stream}: packets lost or duplicated"
        for n, (a, b) in enumerate(zip(src, got, strict=False)):
            assert canonical_payload(a, container) == canonical_payload(b, container, written=True), (
                f"stream {stream} packet {n}"
            )
            assert timing_ok(a, b, container), f"stream {stream} packet {n}: {a} vs {b}"
            if a.kind == "video":
                assert a.keyframe == b.keyframe


@pytest.mark.parametrize("clip,container", COMBOS)
def test_every_segment_stands_alone(run, clip, container):
    _, infos, streams = run(clip, container)
    for info in infos:
        probe = subprocess.run(["ffprobe", "-v", "error", info.path], capture_output=True, text=True)
        assert probe.returncode == 0 and probe.stdout == "" and probe.stderr == "", probe.stderr
        frame = decode_first_frame(info.path)
        assert frame is not None
        got = load(info.path)
        assert len({r.stream for r in got}) == len(streams)
        video = [r for r in got if r.kind == "video"]
        if video:
            assert video[0].keyframe, f"{info.file_name} does not start on a keyframe"
            assert frame.width == streams[0].width
        assert os.path.getsize(info.path) == info.size
        assert os.path.exists(info.leaves_path)


@pytest.mark.parametrize("clip,container", COMBOS)
def test_cuts_at_first_keyframe_after_target(run, clip, container):
    records, infos, streams = run(clip, container)
    target = Fraction(CLIPS[clip][1])
    master = streams[0].index
    if clip == "audio":
        step = AUDIO_FRAME  # audio-only cuts on time: at most one frame late
        cuts = [r.pts_seconds for r in records]
    else:
        gop = {"av": Fraction(1), "video": Fraction(1, 2)}[clip]
        step = gop
        cuts = [r.pts_seconds for r in records if r.stream == master and r.keyframe]
    for a, b in zip(infos, infos[1:], strict=False):
        assert b.cut in cuts
        assert target <= b.cut - a.cut < target + step
    assert infos[0].cut == min(r.pts_seconds for r in records if r.stream == master)


@pytest.mark.parametrize("clip,container", COMBOS)
def test_timestamps_monotonic_within_and_across_segments(run, clip, container):
    _, infos, _ = run(clip, container)
    last_pts_end: dict = {}
    last_dts: dict = {}
    for info in infos:
        got = per_stream(load(info.path))
        for stream, recs in got.items():
            first_pts = min(r.pts_seconds for r in recs)
            if stream in last_pts_end:
                assert first_pts > last_pts_end[stream], (
                    f"{info.file_name}: stream {stream} overlaps the previous segment"
                )
            last_pts_end[stream] = max(r.pts_seconds for r in recs)
            if container != "mkv" or recs[0].kind == "audio":  # MKV stores no dts
                seq = [r.dts_seconds for r in recs]
                if stream in last_dts:
                    seq.insert(0, last_dts[stream])
                assert all(x < y for x, y in zip(seq, seq[1:], strict=False)), f"{info.file_name}: dts not increasing"
                last_dts[stream] = seq[-1]


@pytest.mark.parametrize("container", CONTAINERS)
def test_av_offset_and_audio_routed_by_timestamp(run, container):
    _, infos, streams = run("av", container)
    video, audio = streams[0].index, streams[1].index
    for n, info in enumerate(infos):
        got = per_stream(load(info.path))
        expected = info.span(audio).start - info.span(video).start
        actual = min(r.pts_seconds for r in got[audio]) - min(r.pts_seconds for r in got[video])
        assert abs(actual - expected) <= AUDIO_FRAME, f"{info.file_name}: A/V offset {actual} vs source {expected}"
        if container == "mp4":
            assert actual == expected
        # Audio belongs where its timestamp is: after this cut, before the next.
        if n:
            assert info.span(audio).start >= info.cut
            prev = infos[n - 1].span(audio)
            assert prev.end == info.span(audio).start, "audio gap or overlap at a boundary"
        if n + 1 < len(infos):
            assert info.span(audio).last_pts * info.span(audio).time_base < infos[n + 1].cut


@pytest.mark.parametrize("clip,container", [("av", "mp4"), ("av", "mkv"), ("audio", "ts")])
def test_file_digests_equal_b3sum_and_sha256sum(run, clip, container):
    _, infos, _ = run(clip, container)
    for info in infos:
        data = open(info.path, "rb").read()
        assert info.digests == {"blake3": blake3.blake3(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest()}
        if shutil.which("b3sum"):
            out = subprocess.run(["b3sum", info.path], capture_output=True, text=True, check=True).stdout
            assert out.split()[0] == info.digests["blake3"]
        if shutil.which("sha256sum"):
            out = subprocess.run(["sha256sum", info.path], capture_output=True, text=True, check=True).stdout
            assert out.split()[0] == info.digests["sha256"]


def _no_floats(obj):
    if isinstance(obj, float):
        return False
    if isinstance(obj, dict):
        return all(isinstance(k, str) and _no_floats(v) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return all(_no_floats(v) for v in obj)
    return isinstance(obj, (int, str, bool)) or obj is None


def test_segment_info_json_is_integers_and_strings(run):
    _, infos, _ = run("av", "mp4")
    info = infos[1]
    doc = info.to_json()
    assert _no_floats(doc)
    assert json.loads(json.dumps(doc, sort_keys=True)) == doc
    assert doc["file"] == "seg-00001.mp4" and doc["content_root"] == info.content_root.hex()
    assert doc["digests"] == info.digests and doc["size"] == info.size
    assert Fraction(*doc["cut"]) == info.cut == 2
    assert doc["pre_event"] is False and doc["packet_count"] == info.packet_count
    assert [s["index"] for s in doc["streams"]] == [0, 1]
    assert "chunks" not in doc and len(info.chunks) >= 1  # format 1.5: the sidecar holds the chunk table


def _arrival(records, audio_delay):
    """Re-interleave as a camera might deliver: audio *audio_delay* seconds late (or early)."""
    delay = Fraction(audio_delay)
    return sorted(records, key=lambda r: r.dts_seconds + (delay if r.kind == "audio" else 0))


def _segment(records, streams, out, **kw):
    seg = Segmenter(out, streams=streams, **kw)
    infos = [i for r in records if (i := seg.push(r)) is not None]
    return infos + seg.close()


@pytest.mark.parametrize("delay", ["0.4", "-0.4"])
def test_routing_does_not_depend_on_arrival_order(av_clip, tmp_path, delay):
    with MediaSource(av_clip) as src:
        records = list(src)
        ref = _segment(records, src.streams, tmp_path / "ref", target_seconds=2)
        moved = _segment(_arrival(records, delay), src.streams, tmp_path / "moved", target_seconds=2)
    assert [(i.cut, i.spans, i.packet_count) for i in moved] == [(i.cut, i.spans, i.packet_count) for i in ref]
    for a, b in zip(ref, moved, strict=False):
        pa, pb = per_stream(load(a.path)), per_stream(load(b.path))
        for stream in pa:
            assert [bytes(r.payload) for r in pa[stream]] == [bytes(r.payload) for r in pb[stream]]


def test_audio_later_than_max_lag_goes_to_the_next_segment_not_lost(av_clip, tmp_path):
    with MediaSource(av_clip) as src:
        records = list(src)
        infos = _segment(_arrival(records, "1.5"), src.streams, tmp_path, target_seconds=2, max_lag=1)
    back = per_stream([r for i in infos for r in load(i.path)])
    src_streams = per_stream(records)
    for stream in src_streams:
        assert [bytes(r.payload) for r in back[stream]] == [bytes(r.payload) for r in src_streams[stream]]
    # the stragglers start the next segment's audio before its cut
    assert any(i.span(1).start < i.cut for i in infos[1:])


def test_pre_event_flag_marks_segments_holding_buffered_packets(av_clip, tmp_path):
    with MediaSource(av_clip) as src:
        records = list(src)
        seg = Segmenter(tmp_path, streams=src.streams, target_seconds=2, pre_event=True)
        assert seg.pre_event
        infos = []
        live = False
        for r in records:
            if not live and r.dts_seconds >= Fraction(5, 2):
                seg.mark_live()
                live = True
            if (i := seg.push(r)) is not None:
                infos.append(i)
        infos += seg.close()
    assert [i.pre_event for i in infos] == [True, True, False, False]


def test_a_bad_packet_mid_recording_is_refused_and_damages_nothing(av_clip, tmp_path):
    with MediaSource(av_clip) as src:
        records = list(src)
        seg = Segmenter(tmp_path, streams=src.streams, target_seconds=2)
        infos, fed = [], []
        it = iter(records)
        for r in it:
            fed.append(r)
            if (i := seg.push(r)) is not None:
                infos.append(i)
            if r.dts_seconds >= 3.5:  # the first segment has been retired
                break
        if not infos:
            infos.append(seg.poll(timeout=30))
        first = infos[0]
        assert first.index == 0 and seg.poll() is None
        snapshot = open(first.path, "rb").read()
        video = next(r for r in reversed(fed) if r.kind == "video")
        with pytest.raises(PacketOrderError, match=r"packet \d+ \(stream 0\)"):
            seg.push(video.replace(pts=video.pts - 2048, dts=video.dts - 2048))
        with pytest.raises(PacketError, match="stream 7"):
            seg.push(video.replace(stream=7, dts=video.dts + 10_000))
        with pytest.raises(PacketError, match="is video"):
            seg.push(video.replace(kind="audio", dts=video.dts + 10_000))
        with pytest.raises(TypeError):
            seg.push(b"not a packet")
        for r in it:
            if (i := seg.push(r)) is not None:
                infos.append(i)
        infos += seg.close()
        with pytest.raises(StateError):
            seg.push(records[0])
    assert open(first.path, "rb").read() == snapshot
    assert hashlib.sha256(snapshot).hexdigest() == first.digests["sha256"]
    back = [r for i in infos for r in load(i.path)]
    assert [bytes(r.payload) for r in back if r.stream == 0] == [bytes(r.payload) for r in records if r.stream == 0]


def test_misuse_is_typed(av_clip, tmp_path):
    with MediaSource(av_clip) as src:
        streams = src.streams
        with pytest.raises(BwcValueError):
            Segmenter(tmp_path, streams=streams, container="avi")
        with pytest.raises(BwcValueError):
            Segmenter(tmp_path, streams=streams, digests=("no-such-hash",))
        with pytest.raises(BwcValueError):
            Segmenter(tmp_path, streams=streams, target_seconds=0)
        with pytest.raises(BwcValueError):
            Segmenter(tmp_path, streams=streams, name="../escape")
        with pytest.raises(UnsupportedCodecError, match="mjpeg"):
            Segmenter(tmp_path, streams=[StreamInfo(0, "video", "mjpeg", Fraction(1, 90000))])
        with pytest.raises(ContainerError, match="template"):
            Segmenter(tmp_path, streams=[StreamInfo(0, "video", "h264", Fraction(1, 90000))])
        records = list(src)
        # a segment must begin on a keyframe
        seg = Segmenter(tmp_path / "a", streams=streams)
        with pytest.raises(PacketError, match="keyframe"):
            seg.push(next(r for r in records if r.kind == "video" and not r.keyframe))
        seg.close()
        # never overwrite a segment
        _segment(records[:50], streams, tmp_path / "b")
        with pytest.raises(ContainerError, match="already exists"):
            _segment(records[:50], streams, tmp_path / "b")
        # plain (unfragmented) MP4 needs seeks, which the hashing sink refuses
        seg = Segmenter(tmp_path / "c", streams=streams, options={"flush_packets": "1"})
        with pytest.raises(ContainerError):
            for r in records:
                seg.push(r)


def test_packets_are_never_muxed_twice_or_rewritten(av_clip, tmp_path):
    with MediaSource(av_clip) as src:
        records = list(src)
        snapshot = [(r.pts, r.dts, r.duration, r.time_base) for r in records]
        _segment(records, src.streams, tmp_path / "mp4", target_seconds=2)
        _segment(records, src.streams, tmp_path / "mkv", target_seconds=2, container="mkv")
    assert [(r.pts, r.dts, r.duration, r.time_base) for r in records] == snapshot


_CHILD = r"""
import sys, time
from bwc_core.media.source import MediaSource
from bwc_core.capture.segmenter import Segmenter
clip, out, container = sys.argv[1:4]
with MediaSource(clip) as src:
    seg = Segmenter(out, streams=src.streams, target_seconds=100, container=container)
    video = 0
    for r in src:
        seg.push(r)
        if r.kind == "video":
            video += 1
            print(video, flush=True)
        time.sleep(0.002)
    print("done", flush=True)
    time.sleep(60)
"""


@pytest.mark.parametrize("container", CONTAINERS)
def test_sigkill_mid_segment_leaves_a_decodable_partial_file(av_clip, tmp_path, container):
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(av_clip), str(tmp_path), container],
        stdout=subprocess.PIPE,
        text=True,
    )
    pushed = 0
    try:
        for line in proc.stdout:
            if line.strip() == "done":
                pytest.fail("the feed finished before the kill")
            pushed = int(line)
            if pushed >= 80:  # 2.67 s: two 1 s GOPs are complete
                break
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    partial = [p for p in os.listdir(tmp_path) if not p.endswith(".leaves")]
    assert len(partial) == 1
    decoded = 0
    try:
        with av.open(str(tmp_path / partial[0])) as c:
            for _ in c.decode(video=0):
                decoded += 1
    except av.FFmpegError:
        pass  # the fragment in flight is cut off
    assert 30 <= decoded <= pushed, f"decoded {decoded} frames of {pushed} pushed"


def test_a_stalled_video_stream_does_not_hold_audio_without_bound(av_clip, tmp_path):
    with MediaSource(av_clip) as src:
        records = [r for r in src if r.kind == "audio" or r.dts_seconds < 3]  # video stops at 3 s
        seg = Segmenter(tmp_path, streams=src.streams, target_seconds=2)
        most = 0
        for r in records:
            seg.push(r)
            most = max(most, len(seg._pending))
        seg.close()
        infos = seg.segments
    assert most <= 48 + 2  # about max_lag (1 s) of AAC frames
    back = per_stream([r for i in infos for r in load(i.path)])
    assert [bytes(r.payload) for r in back[1]] == [bytes(r.payload) for r in records if r.stream == 1]
    assert [bytes(r.payload) for r in back[0]] == [bytes(r.payload) for r in records if r.stream == 0]


def test_content_root_does_not_depend_on_arrival_order(av_clip, tmp_path):
    with MediaSource(av_clip) as src:
        records = list(src)
        ref = _segment(records, src.streams, tmp_path / "ref", target_seconds=2)
        late = _segment(_arrival(records, "0.4"), src.streams, tmp_path / "late", target_seconds=2)
        mkv = _segment(records, src.streams, tmp_path / "mkv", target_seconds=2, container="mkv")
    assert [i.content_root for i in late] == [i.content_root for i in ref]
    # MKV commits pts in milliseconds (other timing hashes), but the same payloads.
    assert [[c.payload_root for c in i.chunks] for i in mkv] == [[c.payload_root for c in i.chunks] for i in ref]
    assert [i.content_root for i in mkv] != [i.content_root for i in ref]


def _muted(records, start, end):
    """Drop the audio between *start* and *end* seconds (a mute inside a GOP)."""
    return [r for r in records if not (r.kind == "audio" and start <= r.pts_seconds < end)]


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("clip,gap", [("av", None), ("av", (Fraction(23, 10), Fraction(27, 10))),
                                      ("video", None), ("audio", None), ("audio", (Fraction(13, 10), Fraction(8, 5)))])
def test_signed_root_is_the_root_of_the_file_as_written(request, tmp_path, clip, gap, container):
    """content_root(file) == the root the segmenter signed, leaf for leaf, in every container.

    B-frames + AAC give negative pts (priming) and dts; a gap in the audio
    inside a fragment makes MP4 stretch the previous sample's duration; MKV
    stores pts in ms and no dts, MPEG-TS 33-bit pts at 90 kHz and no durations.
    """
    from bwc_core.format.content import read_leaves
    from bwc_core.media.commit import content_root

    fixture, target = CLIPS[clip]
    with MediaSource(request.getfixturevalue(fixture)) as src:
        records = list(src)
        if gap is not None:
            records = _muted(records, *gap)
            assert any(r.kind == "audio" for r in records)
        infos = _segment(records, src.streams, tmp_path, target_seconds=target, container=container)
    assert len(infos) >= 2
    assert sum(i.packet_count for i in infos) == len(records)
    for info in infos:
        found = content_root(info.path)
        assert found.root == info.content_root, f"{info.file_name}: signed root differs from the file's"
        sidecar = read_leaves(info.leaves_path)
        assert sidecar.root == info.content_root
        assert list(sidecar.packets) == list(found.packets)
        assert sidecar.stream_table == found.stream_table
    if container == "mkv":
        assert {s.time_base for i in infos for s in i.content.streams} == {Fraction(1, 1000)}
    if container == "ts":
        assert {s.time_base for i in infos for s in i.content.streams} == {Fraction(1, 90000)}
    if clip == "av":
        # Negative pts survive (AAC priming): the first segment's first audio pts is < 0.
        first = infos[0].content
        assert min(p.pts for p in first.packets if p.stream == 1) < 0


@pytest.mark.parametrize("shifted", ["video", "audio"])
def test_matroska_refuses_timestamps_it_cannot_store_and_salvage_copes(av_clip, tmp_path, shifted):
    """Negative timestamps beyond a codec delay do not survive Matroska: the segment is refused
    after writing (the file stays), and salvage, which must never raise on what a camera left,
    commits the packets before the first one read back without a pts."""
    from bwc_core.capture.segmenter import salvage
    from bwc_core.media.commit import content_root

    out = tmp_path / shifted
    with MediaSource(av_clip) as src:
        seg = Segmenter(out, streams=src.streams, target_seconds=60, container="mkv", fsync=False)
        for p in src.packets():
            if p.kind == shifted:
                d = int(Fraction(-1, 2) / p.time_base)
                p = p.replace(pts=p.pts + d, dts=p.dts + d)
            seg.push(p)
        with pytest.raises(ContainerError, match="Matroska did not store"):
            seg.close()
    (path,) = out.glob("*.mkv")
    info = salvage(path, index=0)
    found = content_root(path, salvage=True)
    if info is None:
        assert len(found.packets) == 0
    else:
        assert info.content_root == found.root and info.packet_count == len(found.packets) > 0
