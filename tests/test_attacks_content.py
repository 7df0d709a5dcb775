"""Tamper matrix, content part: appended data, irregularities of the tolerant demux, time shifts.

The integrity rule under test: whatever a standard player (FFmpeg) can decode
or present from a segment file is covered by a signature or reported as an
ERROR. Every attack runs in each segment container (mp4, mkv, ts) where it
applies, against evidence written by the real Segmenter and a real signed
journal; every pristine transformation (ffmpeg -c copy remuxes) must keep
verifying.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from bwc_core.findings import Severity
from bwc_core.keys import TrustAnchors
from bwc_core.media import MediaSource, write_packets
from bwc_core.verify import verify_evidence

CONTAINERS = ["mp4", "mkv", "ts"]
FORMATS = {"mp4": "mp4", "mkv": "matroska", "ts": "mpegts"}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, trust, av_clip, make_evidence):
    """One recording per container: 8 s A+V with B-frames in 2 s segments (segment 3 starts at 6 s)."""
    base = tmp_path_factory.mktemp("attacks_content")
    return {c: make_evidence(base / c, [av_clip], trust.cam, trust.cert, container=c) for c in CONTAINERS}


@pytest.fixture
def ev(request, tmp_path, pristine):
    container = request.param
    return Path(shutil.copytree(pristine[container], tmp_path / "ev")), container


def seg(ev_dir: Path, container: str, index: int) -> Path:
    return ev_dir / "media" / "REC-001" / f"REC-001-{index:05d}.{container}"


def verify(ev_dir: Path, trust) -> tuple[object, set[str], set[str]]:
    report = verify_evidence(ev_dir, TrustAnchors([trust.root_pub]))
    errors = {f.code for f in report.findings if f.severity is Severity.ERROR}
    others = {f.code for f in report.findings if f.severity is not Severity.ERROR}
    return report, errors, others


def packet_count(path: Path) -> int:
    """Packets FFmpeg reads from *path* (what a player is given)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-show_entries", "stream=nb_read_packets",
                          "-of", "csv=p=0", path], capture_output=True, text=True, check=True).stdout
    return sum(int(x) for x in out.split() if x.strip().isdigit())


def ffmpeg_copy(src: Path, dst: Path, fmt: str, *extra: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", src, "-map", "0", "-c", "copy", *extra, "-f", fmt, dst],
                   check=True)


def top_boxes(data: bytes):
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
        elif size == 0:
            size = len(data) - pos
        yield kind, data[pos:pos + size]
        pos += size


def going_back(path: Path, container: str, tmp: Path, back_ticks: int = 1) -> bytes:
    """Bytes a player reads as more frames of *path*: the packets of the stream that ends last,
    again, starting one tick before its last dts (an fMP4 moof/mdat, or MPEG-TS packets)."""
    with MediaSource(path) as src:
        packets = list(src.packets())
        last = max(src.streams, key=lambda s: max(p.dts * p.time_base for p in packets if p.stream == s.index))
        mine = [p for p in packets if p.stream == last.index]
        d = mine[-1].dts - mine[0].dts - back_ticks
        moved = [p.replace(pts=p.pts + d, dts=p.dts + d) for p in mine]
        if container == "mp4":
            write_packets(tmp, src.streams, moved, container="mp4",
                          options={"movflags": "frag_keyframe+empty_moov+default_base_moof"})
            return b"".join(box for kind, box in top_boxes(tmp.read_bytes()) if kind in (b"moof", b"mdat"))
        write_packets(tmp, src.streams, moved, container=container, live=True)
    return tmp.read_bytes()


# --- 1. data appended after a signed segment -----------------------------------------------------


@pytest.mark.parametrize("ev", CONTAINERS, indirect=True)
def test_bytes_that_hold_no_packet_appended_are_an_error(ev, trust):
    ev_dir, container = ev
    with open(seg(ev_dir, container, 1), "ab") as fh:
        fh.write(b"\x00hidden note" * 9)
    report, errors, others = verify(ev_dir, trust)
    assert not report.ok and "segment.appended" in errors
    (f,) = [f for f in report.findings if f.code == "segment.appended"]
    assert f.where["appended_bytes"] == 108 and "108 added byte(s)" in f.message
    assert "content.container_changed" not in others


@pytest.mark.parametrize("ev", CONTAINERS, indirect=True)
def test_another_segment_concatenated_is_an_error(ev, trust):
    """``cat seg0 >> seg3``: the player gets both (more packets than signed)."""
    ev_dir, container = ev
    victim = seg(ev_dir, container, 3)
    signed_packets = packet_count(victim)
    with open(victim, "ab") as fh:
        fh.write(seg(ev_dir, container, 0).read_bytes())
    if container != "mkv":  # Matroska stops at its Segment's end, the others play on
        assert packet_count(victim) > signed_packets
    report, errors, _ = verify(ev_dir, trust)
    assert not report.ok and "segment.appended" in errors
    if container == "ts":
        assert "content.demux_irregular" in errors  # dts going back: the old code stopped silently


@pytest.mark.parametrize("ev", ["mp4", "ts"], indirect=True)
def test_frames_appended_one_tick_back_are_an_error(ev, trust, tmp_path):
    """An extra fMP4 fragment (or TS packets) whose first dts steps one tick back: FFmpeg
    decodes the added frames; the tolerant demux must not just stop there."""
    ev_dir, container = ev
    victim = seg(ev_dir, container, 3)
    signed_packets = packet_count(victim)
    extra = going_back(victim, container, tmp_path / f"extra.{container}")
    with open(victim, "ab") as fh:
        fh.write(extra)
    assert packet_count(victim) > signed_packets  # the premise: a player is given the added frames
    report, errors, _ = verify(ev_dir, trust)
    assert not report.ok
    assert {"segment.appended", "content.demux_irregular"} <= errors, report.findings
    (f,) = [f for f in report.findings if f.code == "content.demux_irregular"]
    assert "dts" in f.where["problem"] and f.severity is Severity.ERROR


@pytest.mark.parametrize("ev", ["mp4", "ts"], indirect=True)
def test_irregularity_in_a_remuxed_file_is_an_error(ev, trust, tmp_path):
    """No prefix equals the signed file (a remux), yet frames going back in time follow the
    signed ones: an error, not 'container changed'."""
    ev_dir, container = ev
    victim = seg(ev_dir, container, 2)
    remuxed = tmp_path / f"remux.{container}"
    extra = ("-movflags", "frag_keyframe+empty_moov+default_base_moof") if container == "mp4" else ()
    ffmpeg_copy(victim, remuxed, FORMATS[container], *extra)
    data = remuxed.read_bytes()
    victim.write_bytes(data + going_back(remuxed, container, tmp_path / f"extra.{container}"))
    report, errors, others = verify(ev_dir, trust)
    assert not report.ok and "content.demux_irregular" in errors, report.findings
    assert "segment.appended" not in errors and "content.container_changed" not in others


def test_recovered_segment_completed_afterwards_is_an_error(tmp_path, trust, av_clip, make_evidence):
    """Crash recovery signs a cut file as found; bytes added after it (here: the rest of the
    segment) and bytes changed past the salvaged packets are errors too."""
    from bwc_core.journal import Journal
    from bwc_core.recorder import Recorder

    base = make_evidence(tmp_path / "base", [av_clip], trust.cam, trust.cert, close=False)
    journal = Journal.open(base)
    last = max(r.seq for r in journal.records if r.type == "segment")
    lines = (base / "journal.jsonl").read_bytes().splitlines(keepends=True)
    (base / "journal.jsonl").write_bytes(b"".join(lines[:last]))
    victim = sorted((base / "media" / "REC-001").glob("*.mp4"))[-1]
    whole = victim.read_bytes()
    mdats = [(at, len(box)) for at, (kind, box) in _offsets(whole) if kind == b"mdat"]
    cut = mdats[1][0] + mdats[1][1] // 2 + 7  # inside a sample of the second fragment
    Path(str(victim) + ".leaves").unlink()
    victim.write_bytes(whole[:cut])
    rec = Recorder.recover(base, identity=trust.cam, cert=trust.cert)
    assert rec.salvaged
    report, errors, _ = verify(base, trust)
    assert report.ok, report.findings  # the premise: recovery verifies

    victim.write_bytes(whole)  # the cut file completed: the prefix is the signed file
    report, errors, _ = verify(base, trust)
    assert "segment.appended" in errors

    tail = bytearray(whole[:cut])
    tail[-3] ^= 0xFF  # inside the cut sample, past every salvaged packet: same packets, other bytes
    victim.write_bytes(bytes(tail))
    report, errors, others = verify(base, trust)
    assert "content.demux_irregular" in errors, report.findings
    assert "content.container_changed" not in others


def _offsets(data: bytes):
    at = 0
    for kind, box in top_boxes(data):
        yield at, (kind, box)
        at += len(box)


# --- pristine inputs stay clean ------------------------------------------------------------------


@pytest.mark.parametrize("ev", CONTAINERS, indirect=True)
@pytest.mark.parametrize("target", ["mp4", "matroska", "mpegts"])
def test_ffmpeg_stream_copy_remux_is_no_error(ev, trust, tmp_path, target):
    """``ffmpeg -c copy`` of a pristine segment (default options) into each container, for the
    first segment and one that starts late (6 s): container_changed, timing_shifted, no error."""
    ev_dir, container = ev
    for index in (0, 3):
        victim = seg(ev_dir, container, index)
        original = victim.read_bytes()
        out = tmp_path / f"remux.{target}"
        ffmpeg_copy(victim, out, target)
        victim.write_bytes(out.read_bytes())
        report, errors, others = verify(ev_dir, trust)
        assert report.ok and errors == set(), (index, target, report.findings)
        assert "content.container_changed" in others and "content.demux_irregular" not in errors
        for f in report.findings:
            if f.code == "content.timing_shifted":
                assert f.where["remux"].startswith("rebased by ffmpeg"), f.message
        victim.write_bytes(original)


@pytest.mark.parametrize("ev", CONTAINERS, indirect=True)
def test_copyts_remux_is_no_error(ev, trust, tmp_path):
    """``-copyts`` keeps the timestamps (MPEG-TS adds its 1.4 s mux delay)."""
    ev_dir, container = ev
    victim = seg(ev_dir, container, 3)
    original = victim.read_bytes()
    for target in ("mp4", "matroska", "mpegts"):
        out = tmp_path / f"remux.{target}"
        ffmpeg_copy(victim, out, target, "-copyts")
        victim.write_bytes(out.read_bytes())
        report, errors, _ = verify(ev_dir, trust)
        assert report.ok and errors == set(), (target, report.findings)
        victim.write_bytes(original)


@pytest.mark.parametrize("ev", CONTAINERS, indirect=True)
def test_demuxer_flush_packets_are_no_irregularity(ev, trust):
    """FFmpeg ends a demux with empty flush packets (dts None, no data): skipped, not a finding."""
    import av

    from bwc_core.verify import _content_of

    ev_dir, container = ev
    path = seg(ev_dir, container, 1)
    with av.open(str(path)) as c:
        flush = [p for p in c.demux() if p.dts is None and p.size == 0]
    assert flush, "the premise: the demuxer yields flush packets"
    _, problems = _content_of(path)
    assert problems == []


# --- 6. a whole segment shifted in time ----------------------------------------------------------


def _shift_all(path: Path, container: str, seconds: int, tmp: Path) -> None:
    with MediaSource(path) as src:
        packets = []
        for p in src.packets():
            d = round(seconds / p.time_base)
            packets.append(p.replace(pts=p.pts + d, dts=p.dts + d))
        write_packets(tmp, src.streams, packets, container=container, live=True)
    tmp.replace(path)


@pytest.mark.parametrize("ev", CONTAINERS, indirect=True)
@pytest.mark.parametrize("seconds", [7, 60])
def test_whole_segment_shifted_in_time_is_an_error(ev, trust, tmp_path, seconds):
    ev_dir, container = ev
    for index in (0, 3):
        victim = seg(ev_dir, container, index)
        original = victim.read_bytes()
        _shift_all(victim, container, seconds, tmp_path / f"shifted.{container}")
        report, errors, _ = verify(ev_dir, trust)
        assert not report.ok and "content.time_shifted" in errors, (index, report.findings)
        (f,) = [f for f in report.findings if f.code == "content.time_shifted"]
        assert abs(f.where["offset_ms"] - seconds * 1000) < 50
        assert not errors - {"content.time_shifted", "segment.size_mismatch", "segment.digest_mismatch"}
        victim.write_bytes(original)


@pytest.mark.parametrize("ev", CONTAINERS, indirect=True)
def test_segment_rewritten_with_its_own_timestamps_is_no_error(ev, trust, tmp_path):
    """The same write with no shift (PyAV stream copy, timestamps kept) stays a remux."""
    ev_dir, container = ev
    victim = seg(ev_dir, container, 3)
    _shift_all(victim, container, 0, tmp_path / f"same.{container}")
    report, errors, _ = verify(ev_dir, trust)
    assert report.ok and errors == set(), report.findings
