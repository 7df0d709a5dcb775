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

from bwc_core.format.findings import Severity
from bwc_core.format.keys import TrustAnchors
from bwc_core.media.source import MediaSource
from bwc_core.media.writers import write_packets
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
    assert packet_count(victim) > signed_packets  # the premise: FFmpeg reads on into the added file
    report, errors, _ = verify(ev_dir, trust)
    assert not report.ok and "segment.appended" in errors
    if container == "ts":
        assert "content.demux_irregular" in errors  # dts going back: the old code stopped silently


@pytest.mark.parametrize("ev", ["mp4", "ts"], indirect=True)
def test_frames_appended_one_tick_back_are_an_error(ev, trust, tmp_path):
    """An extra fMP4 fragment (or TS packets) whose first dts steps one tick back: FFmpeg
    decodes the added frames; the tolerant demux must not just stop there. (Matroska stores
    no dts: frames it reads from an added file are compared and inserted, see the test above.)"""
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


@pytest.mark.parametrize("ev", ["ts"], indirect=True)
def test_packets_of_a_stream_added_mid_file_are_an_error(ev, trust, tmp_path):
    """MPEG-TS can announce a new program after FFmpeg's probe (here 20 s later in time): its
    packets belong to a stream the file did not declare when opened (PyAV raises IndexError
    for them). A named irregularity, not an unreadable file or a silent stop. (MP4 and
    Matroska declare every track in their header.)"""
    ev_dir, container = ev
    victim = seg(ev_dir, container, 3)
    extra = tmp_path / "program.ts"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", seg(ev_dir, container, 0), "-map", "0:a", "-c", "copy",
                    "-mpegts_start_pid", "0x300", "-mpegts_pmt_start_pid", "0x1100", "-mpegts_service_id", "7",
                    "-output_ts_offset", "20", "-f", "mpegts", extra], check=True)
    remuxed = tmp_path / "remux.ts"
    ffmpeg_copy(victim, remuxed, "mpegts")  # no prefix equal to the signed file
    victim.write_bytes(remuxed.read_bytes() + extra.read_bytes())
    report, errors, _ = verify(ev_dir, trust)
    assert not report.ok and "content.demux_irregular" in errors, report.findings
    assert "segment.unreadable" not in errors and "segment.appended" not in errors
    (f,) = [f for f in report.findings if f.code == "content.demux_irregular"]
    assert "not declared" in f.where["problem"]


def test_recovered_segment_completed_afterwards_is_an_error(tmp_path, trust, av_clip, make_evidence):
    """Crash recovery signs the attested prefix of a cut file (format 2.10); bytes added after
    it (here: the rest of the segment) and bytes changed in it are errors too."""
    from bwc_core.capture.recorder import Recorder
    from bwc_core.format.journal import Journal

    base = make_evidence(tmp_path / "base", [av_clip], trust.cam, trust.cert, close=False, progress_seconds=1)
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

    signed = victim.read_bytes()
    assert whole.startswith(signed) and len(signed) < cut  # the attested prefix, not the cut file
    victim.write_bytes(whole)  # the cut file completed: the prefix is the signed file
    report, errors, _ = verify(base, trust)
    assert "segment.appended" in errors

    tail = bytearray(signed)
    tail[-3] ^= 0xFF  # inside the last salvaged packet
    victim.write_bytes(bytes(tail))
    report, errors, others = verify(base, trust)
    assert errors, report.findings
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

    from bwc_core.verify.evidence import content_of

    ev_dir, container = ev
    path = seg(ev_dir, container, 1)
    with av.open(str(path)) as c:
        flush = [p for p in c.demux() if p.dts is None and p.size == 0]
    assert flush, "the premise: the demuxer yields flush packets"
    _, problems = content_of(path)
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


# --- 7. open-GOP segments stream-copied into MP4 (red team 5) -------------------------------------


@pytest.fixture(scope="module")
def open_gop_source(tmp_path_factory):
    """4 s of x264 open-GOP video made by the ffmpeg CLI: every keyframe after the first is a
    non-IDR I frame followed, in decode order, by three B-frames presented before it."""
    out = tmp_path_factory.mktemp("open_gop") / "open_gop.mp4"
    r = subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25",
                        "-t", "4", "-c:v", "libx264", "-preset", "veryfast", "-x264-params",
                        "open-gop=1:bframes=3:b-adapt=0:keyint=24:min-keyint=24:scenecut=0", out],
                       capture_output=True)
    if r.returncode:
        pytest.skip("ffmpeg without libx264")
    return out


@pytest.mark.parametrize("container", ["mp4", "ts"])
def test_open_gop_segment_stream_copied_into_mp4_is_no_error(tmp_path, trust, make_evidence, open_gop_source,
                                                             container):
    """``ffmpeg -c copy`` of segment 1 (it starts on an open-GOP I frame whose leading B-frames
    are presented up to 3 frames earlier) rebases the file on that I frame's pts, not the earliest
    pts; into MP4 the leading B-frames get negative pts and exactly they are flagged discard.
    (A Matroska-sealed segment into MP4 is the documented content.timing_altered of findings.md;
    into Matroska FFmpeg writes those B-frames without pts, content.demux_irregular.)"""
    import av

    ev_dir = make_evidence(tmp_path / "ev", [open_gop_source], trust.cam, trust.cert, container=container)
    victim = seg(ev_dir, container, 1)
    with av.open(str(victim)) as c:
        video = [p for p in c.demux() if p.size]
    assert not video[0].is_discard and min(p.pts for p in video) < video[0].pts, "the premise: leading B-frames"
    out = tmp_path / "copy"
    ffmpeg_copy(victim, out, "mp4")
    with av.open(str(out)) as c:
        copied = [p for p in c.demux() if p.size]
    key = next(p.pts for p in copied if p.is_keyframe)
    assert [p.is_discard for p in copied] == [p.pts < key for p in copied] and any(p.is_discard for p in copied)
    victim.write_bytes(out.read_bytes())
    report, errors, others = verify(ev_dir, trust)
    assert report.ok and errors == set(), report.findings
    assert "content.container_changed" in others
    (f,) = [f for f in report.findings if f.code == "content.timing_shifted"]
    assert f.where["remux"].startswith("rebased by ffmpeg"), f.message


def test_open_gop_offset_is_the_first_packets_pts_in_mp4_and_matroska_only():
    """Format 1.11 step 4: -K (each stream's first pts in decode order, earliest over streams) is
    tolerated into MP4/MOV and (format 1.5) Matroska only, and -S (the earliest pts) stays
    tolerated everywhere."""
    from fractions import Fraction
    from types import SimpleNamespace

    from bwc_core.format.content import PacketLeaf
    from bwc_core.verify.evidence import _remux_offsets

    tb = Fraction(1, 25)
    video = [PacketLeaf(0, 0, 1, 1, 72, b""), PacketLeaf(0, 0, 0, 1, 70, b""), PacketLeaf(0, 0, 0, 1, 69, b"")]
    s = SimpleNamespace(body={})
    mp4 = [c for _, c in _remux_offsets(s, {0: video}, {0: tb}, "mov,mp4,m4a,3gp,3g2,mj2")]
    assert mp4 == [0, Fraction(-69, 25), Fraction(-72, 25)]
    assert [c for _, c in _remux_offsets(s, {0: video}, {0: tb}, "matroska,webm")] == [0, Fraction(-69, 25),
                                                                                       Fraction(-72, 25)]
    assert Fraction(-72, 25) not in [c for _, c in _remux_offsets(s, {0: video}, {0: tb}, "avi")]
    assert Fraction(-72, 25) not in [c for _, c in _remux_offsets(s, {0: video}, {0: tb}, "mpegts")]
    closed = video[:1]  # no leading B-frames: nothing added
    assert [c for _, c in _remux_offsets(s, {0: closed}, {0: tb}, "mov,mp4,m4a,3gp,3g2,mj2")] == [0, Fraction(-72, 25)]


# --- 7b. open-GOP segments stream-copied into Matroska (format 1.5) -------------------------------


def _rebase_copy_mkv(src: Path, dst: Path) -> None:
    """PyAV stream copy into Matroska moving the first packet's pts to 0, as ``ffmpeg -c copy``
    rebases (without the dts ffmpeg 5.1 invents for a Matroska input, see the test below)."""
    with MediaSource(src) as s:
        packets = list(s.packets())
        d = packets[0].pts
        write_packets(dst, s.streams, [p.replace(pts=p.pts - d, dts=p.dts - d) for p in packets],
                      container="mkv", live=True)


def _open_gop_into_matroska(tmp_path: Path, trust, make_evidence, source: Path, container: str) -> tuple[Path, Path]:
    """Evidence of *source* in *container*; its segment 1 (an open-GOP keyframe first) replaced by
    its stream copy into Matroska, the keyframe rebased to 0. Returns (evidence, segment)."""
    import av

    ev_dir = make_evidence(tmp_path / "ev", [source], trust.cam, trust.cert, container=container)
    victim = seg(ev_dir, container, 1)
    out = tmp_path / "copy.mkv"
    if container == "mkv":
        _rebase_copy_mkv(victim, out)
    else:
        ffmpeg_copy(victim, out, "matroska")
    with av.open(str(out)) as c:
        pts = [p.pts for p in c.demux() if p.size]
    # The premise: FFmpeg's Matroska demuxer reports the leading pictures (negative block times)
    # without pts, right after the keyframe at 0.
    assert pts[0] == 0 and pts[1:4] == [None, None, None] and None not in pts[4:], pts[:6]
    victim.write_bytes(out.read_bytes())
    return ev_dir, victim


@pytest.mark.parametrize("container", CONTAINERS)
def test_open_gop_segment_stream_copied_into_matroska_is_no_error(tmp_path, trust, make_evidence, open_gop_source,
                                                                  container):
    """The leading B-frames are all in the file with their times, which FFmpeg does not report
    (negative): the verifier reads them from the blocks (format 1.13) and the remux is the
    documented -K rebase (1.11), not content.demux_irregular + content.packet_missing."""
    ev_dir, _ = _open_gop_into_matroska(tmp_path, trust, make_evidence, open_gop_source, container)
    report, errors, others = verify(ev_dir, trust)
    assert report.ok and errors == set(), [(f.code, f.message) for f in report.findings]
    assert "content.container_changed" in others
    (f,) = [f for f in report.findings if f.code == "content.timing_shifted"]
    assert f.where["remux"] == "rebased by ffmpeg: first pts in decode order at 0 (Matroska)", f.message
    assert f.where["max_deviation_ms"] == 0


@pytest.fixture(scope="module")
def open_gop_at_zero(open_gop_source, tmp_path_factory):
    """The open-GOP source from its second keyframe on, rebased so that keyframe is at pts 0: its
    three leading B-frames have negative pts. Written as MP4 and as Matroska (where FFmpeg reports
    them without pts)."""
    out = tmp_path_factory.mktemp("open_gop_at_zero")
    with MediaSource(open_gop_source) as src:
        packets = list(src.packets())
        k = [i for i, p in enumerate(packets) if p.keyframe][1]
        d = packets[k].pts
        rebased = [p.replace(pts=p.pts - d, dts=p.dts - d) for p in packets[k:]]
        for container in ("mp4", "mkv"):
            write_packets(out / f"at_zero.{container}", src.streams, rebased, container=container, live=True)
    return out


@pytest.mark.parametrize("source", ["mp4", "mkv"])
@pytest.mark.parametrize("container", CONTAINERS)
def test_open_gop_source_with_negative_leading_pictures_seals_and_verifies(tmp_path, trust, make_evidence,
                                                                           open_gop_at_zero, source, container):
    """A camera or file whose first keyframe is an open-GOP I frame at 0 (leading B-frames before
    it): the Segmenter writes them into every container, a Matroska segment as negative block
    times (read back as the verifier reads them), and the pristine evidence verifies with no
    finding. Before: sealing into Matroska was refused, a Matroska source crashed the reader."""
    import av

    ev_dir = make_evidence(tmp_path / "ev", [open_gop_at_zero / f"at_zero.{source}"], trust.cam, trust.cert,
                           container=container)
    first = seg(ev_dir, container, 0)
    with av.open(str(first)) as c:
        pts = [p.pts for p in c.demux() if p.size]
    assert (None in pts) == (container == "mkv"), pts[:6]
    report, errors, others = verify(ev_dir, trust)
    assert report.ok and not errors and not others, [(f.code, f.message) for f in report.findings]


def _mkv_blocks_of_leading_pictures(path: Path) -> list[int]:
    import av

    with av.open(str(path)) as c:
        return [p.pos for p in c.demux() if p.size and p.pts is None]


@pytest.mark.parametrize("attack", ["payload", "dropped", "retimed", "keyframe_negative"])
def test_open_gop_matroska_leading_pictures_stay_covered(tmp_path, trust, make_evidence, open_gop_source, attack):
    """The tolerance reads the leading pictures' own stored times and compares them like any
    other packet: a leading picture altered, dropped or moved, or a packet without pts that is no
    leading picture (the keyframe itself given a negative time) is still an error."""
    ev_dir, victim = _open_gop_into_matroska(tmp_path, trust, make_evidence, open_gop_source, "mp4")
    data = bytearray(victim.read_bytes())
    first = _mkv_blocks_of_leading_pictures(victim)[0]  # data of the block: track (1 byte), time, flags
    assert data[first] == 0x81 and int.from_bytes(data[first + 1:first + 3], "big", signed=True) < 0
    if attack == "payload":
        data[first + 4 + 20] ^= 0x40
        expected = "content.packet_altered"
    elif attack == "dropped":  # the SimpleBlock turned into a Void element of the same size
        n = next(n for n in range(1, 9) if data[first - 1 - n] == 0xA3 and data[first - n] >> (8 - n) == 1)
        data[first - 1 - n] = 0xEC
        expected = "content.packet_missing"
    elif attack == "retimed":
        data[first + 1:first + 3] = (-200).to_bytes(2, "big", signed=True)
        expected = "content.timing_altered"
    else:
        import av

        with av.open(str(victim)) as c:
            key = next(p.pos for p in c.demux() if p.size)
        data[key + 1:key + 3] = (-10).to_bytes(2, "big", signed=True)
        expected = "content.demux_irregular"
    victim.write_bytes(bytes(data))
    report, errors, _ = verify(ev_dir, trust)
    assert not report.ok and expected in errors, [(f.code, f.message) for f in report.findings]


@pytest.mark.parametrize("fmt", ["matroska", "mp4"])
def test_open_gop_matroska_segment_through_ffmpeg_cli(tmp_path, trust, make_evidence, open_gop_source, fmt):
    """``ffmpeg -c copy`` (5.1) of a Matroska segment (no dts stored) invents dts for the leading
    pictures and raises one's pts to it: that picture is stored 41 ms from its signed time. Into
    MP4 the edit list hides it (flagged discard: FFmpeg never presents it), so its pts is not
    compared and the remux is content.container_changed (format 1.11). Into Matroska nothing
    hides it: the known limit, reported truthfully as content.timing_altered naming it."""
    import av

    ev_dir = make_evidence(tmp_path / "ev", [open_gop_source], trust.cam, trust.cert, container="mkv")
    victim = seg(ev_dir, "mkv", 1)
    out = tmp_path / "copy"
    ffmpeg_copy(victim, out, fmt)
    victim.write_bytes(out.read_bytes())
    report, errors, others = verify(ev_dir, trust)
    if fmt == "mp4":
        with av.open(str(victim)) as c:
            packets = [p for p in c.demux() if p.size]
        assert [p.is_discard for p in packets[:5]] == [False, True, True, True, False]  # the premise
        assert report.ok and errors == set(), [(f.code, f.message) for f in report.findings]
        assert "content.container_changed" in others
        # The hidden picture's payload stays covered: altered, it is an error.
        data = bytearray(victim.read_bytes())
        with av.open(str(victim)) as c:
            pos = [p.pos for p in c.demux() if p.size][2]
        data[pos + 30] ^= 0x40
        victim.write_bytes(bytes(data))
        report, errors, _ = verify(ev_dir, trust)
        assert "content.packet_altered" in errors, [(f.code, f.message) for f in report.findings]
        return
    assert errors == {"content.timing_altered", "segment.size_mismatch", "segment.digest_mismatch"}, errors
    (f,) = [f for f in report.findings if f.code == "content.timing_altered"]
    assert f.where["stream_packet"] == 2 and 40 < f.where["deviation_ms"] < 42, f.message


def test_only_hidden_signed_leading_pictures_skip_the_timing_comparison():
    """Format 1.11: a discard flag exempts a packet's pts only where the signed packet is a
    leading picture (after the first keyframe in decode order, pts below it)."""
    from bwc_core.format.content import PacketLeaf
    from bwc_core.verify.evidence import _hidden_leading_pictures

    video = [PacketLeaf(0, 0, 1, 1, 72, b""), PacketLeaf(0, 0, 0, 1, 70, b""), PacketLeaf(0, 0, 0, 1, 75, b"")]
    hidden = _hidden_leading_pictures({0: video}, frozenset({(0, 0), (0, 1), (0, 2), (0, 7), (1, 1)}))
    assert hidden == {(0, 1)}


# --- 8. the file's own time base does not widen the timing tolerance (red team 11) ----------------


def _remux_mp4_timescale(src: Path, dst: Path, timescale: int, swap: bool) -> int:
    """PyAV stream copy into MP4 with the video track timescale *timescale*; with *swap*, each pair
    of consecutive B-frames (pts below an earlier packet's) exchanges its pts. Returns the pairs."""
    import av

    with av.open(str(src)) as inp:
        packets = [p for p in inp.demux() if p.size]
        vid = inp.streams.video[0].index
        video = [p for p in packets if p.stream.index == vid]
        highest, is_b = None, []
        for p in video:
            is_b.append(highest is not None and p.pts < highest)
            highest = p.pts if highest is None else max(highest, p.pts)
        pairs, i = 0, 0
        while swap and i < len(video) - 1:
            if is_b[i] and is_b[i + 1]:
                video[i].pts, video[i + 1].pts = video[i + 1].pts, video[i].pts
                pairs, i = pairs + 1, i + 2
            else:
                i += 1
        with av.open(str(dst), "w", format="mp4", options={"video_track_timescale": str(timescale)}) as out:
            streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
            for p in packets:
                p.stream = streams[p.stream.index]
                out.mux(p)
    return pairs


@pytest.mark.parametrize("ev", CONTAINERS, indirect=True)
def test_b_frames_moved_a_frame_under_a_coarse_timescale_are_an_error(ev, trust, tmp_path):
    """A remux whose video timescale is the frame rate (30 Hz) makes a whole frame "one unit of
    rounding"; the B-frames' pts exchanged pairwise then each moved a frame: timing_altered."""
    ev_dir, container = ev
    victim = seg(ev_dir, container, 1)
    out = tmp_path / "coarse.mp4"
    assert _remux_mp4_timescale(victim, out, 30, swap=True) >= 5
    victim.write_bytes(out.read_bytes())
    report, errors, _ = verify(ev_dir, trust)
    assert not report.ok and "content.timing_altered" in errors, report.findings
    moved = [f for f in report.findings if f.code == "content.timing_altered" and "deviation_ms" in f.where]
    assert moved and all(abs(f.where["deviation_ms"] - 1000 / 30) < 1.5 for f in moved), moved


@pytest.mark.parametrize("ev", CONTAINERS, indirect=True)
def test_remux_with_a_coarse_timescale_and_its_own_timestamps_is_no_error(ev, trust, tmp_path):
    """The same coarse remux without the exchange: the frames lie on the 30 Hz grid, within the
    signed time base plus 1 ms; container_changed."""
    ev_dir, container = ev
    victim = seg(ev_dir, container, 1)
    out = tmp_path / "coarse.mp4"
    _remux_mp4_timescale(victim, out, 30, swap=False)
    victim.write_bytes(out.read_bytes())
    report, errors, others = verify(ev_dir, trust)
    assert report.ok and errors == set(), report.findings
    assert "content.container_changed" in others


# --- 16. the content format, exactly (tests/data/content_spec_vectors.json) -----------------------

SPEC = Path(__file__).parent / "data" / "content_spec_vectors.json"


def _spec() -> dict:
    import json

    return json.loads(SPEC.read_text())


def test_config_digest_sorts_the_raw_nal_units():
    """Format 1.3: the parameter sets are sorted as raw NAL units, then length-prefixed;
    the vectors tell that reading from sorting the prefixed items."""
    import _content_ref as ref
    from blake3 import blake3

    from bwc_core import _framing
    from bwc_core.format.content import CONTEXTS, config_digest

    for v in _spec()["config_digests"]:
        extradata = bytes.fromhex(v["extradata"])
        framer = _framing.Framer(v["codec"], extradata) if v["codec"] in ("h264", "hevc") else None
        for payload in v["payloads"]:
            framer.canonical(bytes.fromhex(payload))
        in_band = framer.parameter_sets if framer is not None else ()
        got = config_digest(v["codec"], extradata, in_band)
        assert got.hex() == v["config_digest"], v["name"]
        payloads = [bytes.fromhex(p) for p in v["payloads"]]
        assert ref.config_digest(v["codec"], extradata, payloads).hex() == v["config_digest"], v["name"]
        cc = CONTEXTS["codec_config"]
        assert blake3(bytes.fromhex(v["input"]), derive_key_context=cc).hexdigest() == v["config_digest"]
        if "not" in v:
            assert v["not"]["config_digest"] != v["config_digest"]
            assert (
                blake3(bytes.fromhex(v["not"]["input"]), derive_key_context=cc).hexdigest() == v["not"]["config_digest"]
            )


def test_empty_packet_leaf_vector():
    import _content_ref as ref

    from bwc_core.format.content import packet_leaf

    v = _spec()["packets"]["empty_with_dts"]
    assert packet_leaf(v["stream"], v["flags"], b"").hex() == v["leaf"]
    assert ref.packet_leaf(v["stream"], v["flags"], b"").hex() == v["leaf"]


def test_stream_kinds_codec_names_and_missing_time_base(tmp_path, av_clip):
    """Format 1.2: subtitle and attachment streams are data (hashed raw), the codec name is
    the codec's (``subrip``, ``mp3``), and an attachment without time base commits 1/90000."""
    from fractions import Fraction

    import av
    from conftest import encode_clip

    from bwc_core.media.commit import content_root

    spec = _spec()
    srt = tmp_path / "s.srt"
    srt.write_text("1\n00:00:00,500 --> 00:00:01,500\nhello\n\n2\n00:00:02,000 --> 00:00:03,000\nworld\n")
    blob = tmp_path / "notes.bin"
    blob.write_bytes(b"an attachment")
    mkv = tmp_path / "sub.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", av_clip, "-i", srt, "-attach", blob,
                    "-metadata:s:t", "mimetype=application/octet-stream", "-map", "0", "-map", "1",
                    "-c", "copy", "-t", "4", mkv], check=True)
    with av.open(str(mkv)) as c:
        types = [s.type for s in c.streams]
    assert types == ["video", "audio", "subtitle", "attachment"]
    with MediaSource(mkv) as src:
        assert [s.kind for s in src.streams] == [spec["kinds"][t] for t in types]
        assert [s.codec for s in src.streams][2:] == ["subrip", "unknown"]
    result = content_root(mkv)
    assert result.streams[3].time_base == Fraction(*spec["time_base_when_absent"])
    subs = [p for p in result.packets if p.stream == 2]
    assert [p.size for p in subs] == [5, 5] and all(p.flags == 0 for p in subs)  # raw: "hello", "world"

    mp3 = encode_clip(tmp_path / "a.mp4", 1, audio=("libmp3lame", 44100, 1152))
    with av.open(str(mp3)) as c:
        assert c.streams.audio[0].codec_context.name == "mp3float"  # the decoder's name
    with MediaSource(mp3) as src:
        assert src.streams[0].codec == "mp3"
    assert {"decoder": "mp3float", "codec": "mp3"} in spec["codec_names"]


def test_remux_offset_vectors():
    """Format 1.11 step 4: the offsets a stream copy may add, for the two measured cases."""
    from fractions import Fraction
    from types import SimpleNamespace

    from bwc_core.format.content import PacketLeaf
    from bwc_core.verify.evidence import _remux_offsets

    for v in _spec()["remux_offsets"]:
        start, first_dts = Fraction(*v["S"]), Fraction(*v["D"])
        tb_v, tb_a = Fraction(1, 15360), Fraction(1, 48000)
        # the earliest pts on the audio stream, the earliest dts on the video stream's span
        packets = [PacketLeaf(0, 0, 1, 1, int((start + Fraction(1, 30)) / tb_v) + 1, b""),
                   PacketLeaf(0, 1, 0, 1, int(start / tb_a), b"")]
        s = SimpleNamespace(body={"spans": [{"stream": 0, "time_base": [1, 15360],
                                             "first_dts": int(first_dts / tb_v)}]})
        by_stream = {0: [packets[0]], 1: [packets[1]]}
        tbs = {0: tb_v, 1: tb_a}
        assert [c for _, c in _remux_offsets(s, by_stream, tbs, "mpegts")] == \
            [Fraction(*x) for x in v["tolerated"]["mpegts"]], v["name"]
        assert [c for _, c in _remux_offsets(s, by_stream, tbs, "mov,mp4,m4a,3gp,3g2,mj2")] == \
            [Fraction(*x) for x in v["tolerated"]["other"]], v["name"]


def test_appended_bytes_found_with_sha256_only(tmp_path, trust, video_clip):
    """A segment signed with SHA-256 alone (the digest set is configurable): the prefix is
    checked with the digests the record signs."""
    from bwc_core.capture.recorder import segment_body
    from bwc_core.capture.segmenter import Segmenter
    from bwc_core.format.journal import Journal

    ev_dir = tmp_path / "ev"
    journal = Journal.create(ev_dir, trust.cam, trust.cert, sync="none")
    rid = "REC-001"
    journal.append("recording.open", {
        "recording": rid, "trigger": "test", "officer": None,
        "policy": {"pre_event_seconds": 0, "pre_event_audio": False, "segment_seconds": 2, "container": "mp4"},
        "pre_event": {"packets": 0, "first": None}})
    with MediaSource(video_clip) as src:
        seg_writer = Segmenter(ev_dir / "media" / rid, streams=src.streams, target_seconds=2, container="mp4",
                               name=rid, fsync=False, digests=("sha256",))
        infos = [i for i in map(seg_writer.push, src.packets()) if i is not None] + seg_writer.close()
    for info in infos:
        journal.append("segment", segment_body(ev_dir, rid, info))
    journal.append("event", {"kind": "deactivate", "recording": rid, "media": None, "last_frame": None,
                             "reason": "victim_request", "note": None})
    journal.append("recording.close", {"recording": rid, "reason": "victim_request", "segments": len(infos)})
    journal.close()
    report, errors, _ = verify(ev_dir, trust)
    assert report.ok and errors == set(), report.findings
    victim = seg(ev_dir, "mp4", 0)
    with open(victim, "ab") as fh:
        fh.write(b"\x00" * 64)
    report, errors, _ = verify(ev_dir, trust)
    assert "segment.appended" in errors, report.findings


def test_matroska_thousands_of_negative_blocks_read_in_linear_time(tmp_path):
    """A Matroska file whose keyframe at 0 is followed by 3000 blocks stored at negative times
    (FFmpeg reports them without pts): each was read back by walking the file from its start and
    parsing its whole Cluster again (quadratic: 21 s for 3000 blocks, hours for a large Cluster).
    One Cluster is kept between reads: the reader and the verifier's demux stay linear."""
    import time

    import av

    from bwc_core.media.commit import content_root

    src = tmp_path / "src.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=30", "-t", "1",
                    "-c:v", "libx264", "-g", "30", "-bf", "0", str(src)], check=True)
    path, n = tmp_path / "neg.mkv", 3000
    with av.open(str(src)) as inp:
        pk = [p for p in inp.demux() if p.size]
        st = inp.streams.video[0]
        with av.open(str(path), "w", format="matroska", options={"avoid_negative_ts": "disabled"}) as out:
            o = out.add_stream_from_template(st)
            for k in range(n + 1):
                p = av.Packet(bytes(pk[0] if k == 0 else pk[1]))
                p.stream, p.time_base = o, st.time_base
                p.pts, p.dts = (0, -n - 1) if k == 0 else (-n - 1 + k, -n - 1 + k)
                p.is_keyframe = k == 0
                out.mux(p)
    with av.open(str(path)) as c:
        assert sum(1 for p in c.demux() if p.size and p.pts is None) > n - 20  # the premise
    t = time.monotonic()
    with MediaSource(str(path)) as m:
        assert sum(1 for p in m.packets()) == n + 1
    problems: list[str] = []
    assert len(content_root(path, problems=problems).packets) == n + 1
    assert time.monotonic() - t < 6
