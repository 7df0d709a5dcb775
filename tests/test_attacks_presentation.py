"""Tamper matrix: presentation metadata (display matrix, aspect ratio, colour, edit lists).

The signed ``segment`` record commits per stream what a viewer sees beyond the
decoded frames (format 1.4, docs/format.md 1.15); a file whose bytes differ
and that presents otherwise is ``content.presentation_altered`` (error), even
when every packet is the signed one. Pristine evidence, and pristine
stream-copy remuxes, never raise it. Every attack is tried per container;
where a container cannot carry a property (MPEG-TS carries none of them,
Matroska no edit list) the attack is shown to change nothing a player shows.
"""

from __future__ import annotations

import base64
import json
import shutil
import struct
import subprocess
from pathlib import Path

import av
import pytest

from bwc_core.capture.recorder import segment_body
from bwc_core.capture.segmenter import Segmenter
from bwc_core.capture.synthetic import SyntheticCamera
from bwc_core.format.canonical import parse_canonical
from bwc_core.format.journal import Journal
from bwc_core.format.keys import TrustAnchors
from bwc_core.media.presentation import IDENTITY_MATRIX, default_presentation, measure_presentation
from bwc_core.media.source import MediaSource
from bwc_core.verify import verify_evidence

CONTAINERS = ["mp4", "mkv", "ts"]
FORMATS = {"mp4": "mp4", "mkv": "matroska", "ts": "mpegts"}


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """4 s, 160x120 H.264 with B-frames (AAC priming and a B-frame start delay in every container)."""
    d = tmp_path_factory.mktemp("pclip")
    return SyntheticCamera(seconds=4, bframes=2, gop=30, width=160, height=120).write(d / "clip.mp4")


def _build(out: Path, clip: str, trust, container: str, *, legacy: bool = False) -> Path:
    """Evidence of one recording; *legacy* journals the segments as format <= 1.3 did (no presentation)."""
    journal = Journal.create(out, trust.cam, trust.cert, sync="none")
    rid = "REC-001"
    journal.append("recording.open", {
        "recording": rid, "trigger": "test", "officer": None,
        "policy": {"pre_event_seconds": 0, "pre_event_audio": False, "segment_seconds": 2, "container": container},
        "pre_event": {"packets": 0, "first": None}})
    with MediaSource(clip) as src:
        seg = Segmenter(out / "media" / rid, streams=src.streams, target_seconds=2, container=container,
                        name=rid, fsync=False)
        for packet in src.packets():
            seg.push(packet)
        seg.close()
        infos = seg.segments
    for info in infos:
        body = segment_body(out, rid, info)
        if legacy:
            for stream in body["streams"]:
                del stream["presentation"]
        journal.append("segment", body)
    journal.append("recording.close", {"recording": rid, "reason": "event_complete", "segments": len(infos)})
    journal.close()
    return out


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, clip, trust):
    """Pristine evidence per container (copy before tampering)."""
    base = tmp_path_factory.mktemp("pres")
    return {c: _build(base / c, clip, trust, c) for c in CONTAINERS}


@pytest.fixture(scope="module")
def legacy(tmp_path_factory, clip, trust):
    """The same evidence journaled as format <= 1.3 (segment records carry no presentation)."""
    base = tmp_path_factory.mktemp("legacy")
    return {c: _build(base / c, clip, trust, c, legacy=True) for c in ("mp4", "mkv")}


def _copy(src: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(src, tmp_path / "ev"))


def _segments(ev: Path) -> list[Path]:
    return sorted(p for p in (ev / "media" / "REC-001").iterdir() if not p.name.endswith(".leaves"))


def _records(ev: Path) -> list[dict]:
    bodies = [parse_canonical(base64.b64decode(json.loads(line)["payload"]))
              for line in (ev / "journal.jsonl").read_bytes().splitlines()]
    return [b for b in bodies if b["type"] == "segment"]


def _verify(ev: Path, trust):
    rep = verify_evidence(ev, TrustAnchors([trust.root_pub]))
    return rep, {f.code for f in rep.findings}, [f for f in rep.findings if f.code == "content.presentation_altered"]


def _replace(path: Path, make) -> None:
    """Write a new file through *make(tmp)* and put it in *path*'s place (same name)."""
    tmp = path.with_name("tmp-" + path.name)
    make(tmp)
    tmp.replace(path)


def _ffmpeg(src: Path, dst: Path, *args: str, fmt: str | None = None) -> None:
    cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(src), "-map", "0", "-c", "copy", *args]
    if fmt:
        cmd += ["-f", fmt]
    subprocess.run([*cmd, str(dst)], check=True)


def _pyav_remux(src: Path, dst: Path, container: str, *, rotation: float | None = None,
                hflip: bool = False) -> None:
    """A stream copy through PyAV that sets a display matrix on the video stream (timestamps kept as
    they are: no shift for negative ones, which the verifier would report as a time shift)."""
    options = {} if container == "mp4" else {"avoid_negative_ts": "disabled"}
    with av.open(str(src)) as inp, av.open(str(dst), "w", format=FORMATS[container], options=options) as out:
        mapping = {}
        for s in inp.streams:
            mapping[s.index] = o = out.add_stream_from_template(s)
            if s.type == "video":
                o.set_display_rotation(rotation or 0, hflip=hflip)
        for packet in inp.demux():
            if packet.dts is None:
                continue
            packet.stream = mapping[packet.stream_index]
            out.mux(packet)


def _mp4_boxes(data: bytes, start: int = 0, end: int | None = None, path: str = ""):
    """(offset, size, header size, path) of every ISO BMFF box down the tracks' sample descriptions."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[pos + 8:pos + 16])[0], 16
        elif size == 0:
            size = end - pos
        name = f"{path}/{kind.decode('latin-1')}"
        yield pos, size, header, name
        if kind in (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"):
            yield from _mp4_boxes(data, pos + header, pos + size, name)
        pos += size


def _patch_tkhd_matrix(path: Path, a: int, d: int) -> None:
    """Rewrite the first track's (the video's) tkhd matrix diagonal in place: rotate 180 (-1, -1) or mirror (-1, 1)."""
    data = bytearray(path.read_bytes())
    pos, _, header, _ = next(b for b in _mp4_boxes(bytes(data)) if b[3].endswith("/trak/tkhd"))
    body = pos + header
    times = 8 + 8 + 4 + 4 + 8 if data[body] == 1 else 4 + 4 + 4 + 4 + 4  # creation..duration (v1 / v0)
    matrix = body + 4 + times + 8 + 8  # version/flags, times, reserved, layer..volume..reserved
    assert struct.unpack(">9i", data[matrix:matrix + 36]) == (65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30)
    data[matrix:matrix + 4] = struct.pack(">i", a * 65536)
    data[matrix + 16:matrix + 20] = struct.pack(">i", d * 65536)
    path.write_bytes(bytes(data))


def _timescale(path: Path, track: int) -> int:
    """The media timescale of a track (its ``mdhd``)."""
    data = path.read_bytes()
    pos, _, header, _ = [b for b in _mp4_boxes(data) if b[3].endswith("/trak/mdia/mdhd")][track]
    body = pos + header
    return struct.unpack(">I", data[body + (20 if data[body] == 1 else 12):][:4])[0]


def _hide_frames_with_elst(path: Path, ticks: int, track: int = 0) -> None:
    """In a plain (non-fragmented) MP4, move a track's edit to start *ticks* (of the track's timescale)
    later: FFmpeg then flags the packets before it *discard* (the player hides them)."""
    data = bytearray(path.read_bytes())
    pos, _, header, _ = [b for b in _mp4_boxes(bytes(data)) if b[3].endswith("/trak/edts/elst")][track]
    body = pos + header
    version, count = data[body], struct.unpack(">I", data[body + 4:body + 8])[0]
    assert version == 0
    for k in range(count):  # the last entry is the one that maps media (the first may be an empty edit)
        entry = body + 8 + 12 * k
        media_time = struct.unpack(">i", data[entry + 4:entry + 8])[0]
        if media_time >= 0:
            data[entry + 4:entry + 8] = struct.pack(">i", media_time + ticks)
    path.write_bytes(bytes(data))


# --- pristine: the camera commits what the file presents; nothing is raised -------------------


@pytest.mark.parametrize("container", CONTAINERS)
def test_pristine_segments_commit_what_they_present(pristine, container, trust):
    ev = pristine[container]
    records = _records(ev)
    assert records
    for body, path in zip(records, _segments(ev), strict=False):
        measured = measure_presentation(path)
        for stream in body["streams"]:
            assert stream["presentation"] == measured[stream["index"]]
            # B-frame start delay and AAC priming never show up as hidden frames.
            expected = default_presentation(stream["kind"])
            if stream["kind"] == "video":
                expected["size"] = [stream["width"], stream["height"]]
            assert stream["presentation"] == expected
    rep, codes, _ = _verify(ev, trust)
    assert rep.ok and not codes


@pytest.mark.parametrize("target", CONTAINERS)
@pytest.mark.parametrize("container", CONTAINERS)
def test_pristine_stream_copy_remux_presents_the_same(pristine, tmp_path, container, target, trust):
    """``ffmpeg -c copy`` of every segment into any container: container_changed, never a presentation error."""
    ev = _copy(pristine[container], tmp_path)
    for path in _segments(ev):
        _replace(path, lambda tmp, path=path: _ffmpeg(path, tmp, fmt=FORMATS[target]))
    rep, codes, presented = _verify(ev, trust)
    assert rep.ok and not presented, [f.message for f in rep.findings]
    assert "content.container_changed" in codes


# --- attacks ----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", [(-1, -1), (-1, 1)], ids=["rotate180", "mirror"])
def test_tkhd_matrix_patched_in_place(pristine, tmp_path, how, trust):
    """The issue's attack: two matrix words of an MP4 segment's tkhd patched; every packet is the signed one."""
    ev = _copy(pristine["mp4"], tmp_path)
    path = _segments(ev)[1]
    _patch_tkhd_matrix(path, *how)
    rep, codes, presented = _verify(ev, trust)
    assert not rep.ok and "content.container_changed" in codes
    (f,) = presented
    assert f.severity.value == "error" and f.where["field"] == "display_matrix" and f.where["stream"] == 0
    assert f.where["expected"] == list(IDENTITY_MATRIX)
    assert f.where["found"][0] == -65536 and f.where["found"][4] == 65536 * how[1]
    assert ("mirrored" in f.message) == (how == (-1, 1))
    assert rep.recordings[0].segments[1].status == "altered"


def test_mvhd_matrix_patched_in_place(pristine, tmp_path, trust):
    """The movie header's matrix, which FFmpeg multiplies into every track's, rotated 180 degrees."""
    ev = _copy(pristine["mp4"], tmp_path)
    path = _segments(ev)[1]
    data = bytearray(path.read_bytes())
    pos, _, header, _ = next(b for b in _mp4_boxes(bytes(data)) if b[3] == "/moov/mvhd")
    body = pos + header
    matrix = body + 4 + (8 + 8 + 4 + 8 if data[body] == 1 else 4 + 4 + 4 + 4) + 4 + 2 + 10  # rate, volume, reserved
    assert struct.unpack(">9i", data[matrix:matrix + 36]) == IDENTITY_MATRIX
    data[matrix:matrix + 4] = data[matrix + 16:matrix + 20] = struct.pack(">i", -65536)
    path.write_bytes(bytes(data))
    rep, codes, presented = _verify(ev, trust)
    assert not rep.ok and "content.container_changed" in codes
    assert [(f.where["field"], f.where["found"][:5]) for f in presented] == [
        ("display_matrix", [-65536, 0, 0, 0, -65536])]


@pytest.mark.parametrize("how", [dict(rotation=180), dict(hflip=True), dict(rotation=90)],
                         ids=["rotate180", "mirror", "rotate90"])
@pytest.mark.parametrize("container", CONTAINERS)
def test_display_matrix_set_by_a_remux(pristine, tmp_path, container, how, trust):
    """A stream copy that adds a display matrix: MP4 (tkhd) and Matroska (projection) carry it, MPEG-TS cannot."""
    ev = _copy(pristine[container], tmp_path)
    path = _segments(ev)[0]
    _replace(path, lambda tmp: _pyav_remux(path, tmp, container, **how))
    rep, codes, presented = _verify(ev, trust)
    if container == "ts":
        # MPEG-TS has nowhere to put it: written with the segment's muxer options, the file is
        # byte for byte the signed one.
        assert rep.ok and not presented and rep.recordings[0].segments[0].status == "ok"
        return
    assert not rep.ok
    assert [(f.where["stream"], f.where["field"]) for f in presented] == [(0, "display_matrix")]


@pytest.mark.parametrize("container", CONTAINERS)
def test_sample_aspect_ratio_changed(pristine, tmp_path, container, trust):
    """``-aspect 16:9`` on 160x120 frames: MP4 writes pasp 4:3, Matroska a display size; MPEG-TS has neither."""
    ev = _copy(pristine[container], tmp_path)
    path = _segments(ev)[0]
    _replace(path, lambda tmp: _ffmpeg(path, tmp, "-aspect", "16:9", fmt=FORMATS[container]))
    rep, codes, presented = _verify(ev, trust)
    if container == "ts":
        assert rep.ok and not presented and "content.container_changed" in codes
        return
    assert not rep.ok
    (f,) = presented
    assert f.where["field"] == "sar" and f.where["expected"] == [1, 1] and f.where["found"] == [4, 3]


@pytest.mark.parametrize("container", CONTAINERS)
def test_pasp_box_patched_in_place(pristine, tmp_path, container, trust):
    """A stream copy into a plain MP4 with a ``pasp`` box of 1:1 (``-aspect 4:3`` on 160x120 frames):
    the same presentation; then that box patched to 4:3 in place."""
    ev = _copy(pristine[container], tmp_path)
    path = _segments(ev)[1]
    _replace(path, lambda tmp: _ffmpeg(path, tmp, "-aspect", "4:3", fmt="mp4"))
    rep, codes, presented = _verify(ev, trust)
    assert rep.ok and not presented
    data = bytearray(path.read_bytes())
    pasp = data.find(b"pasp")
    assert pasp > 0 and struct.unpack(">II", data[pasp + 4:pasp + 12]) == (1, 1)
    data[pasp + 4:pasp + 12] = struct.pack(">II", 4, 3)
    path.write_bytes(bytes(data))
    rep, codes, presented = _verify(ev, trust)
    assert not rep.ok
    assert [(f.where["field"], f.where["found"]) for f in presented] == [("sar", [4, 3])]


@pytest.mark.parametrize("container", CONTAINERS)
def test_colr_box_patched_in_place(pristine, tmp_path, container, trust):
    """A stream copy into a plain MP4 with an ``nclx`` ``colr`` box saying "unspecified" (``-movflags
    +write_colr``): the same presentation; then the box patched to BT.709 in place."""
    ev = _copy(pristine[container], tmp_path)
    path = _segments(ev)[1]
    _replace(path, lambda tmp: _ffmpeg(path, tmp, "-movflags", "+write_colr", fmt="mp4"))
    rep, codes, presented = _verify(ev, trust)
    assert rep.ok and not presented
    data = bytearray(path.read_bytes())
    colr = data.find(b"colrnclx")
    assert colr > 0 and struct.unpack(">HHH", data[colr + 8:colr + 14]) == (2, 2, 2)
    data[colr + 8:colr + 14] = struct.pack(">HHH", 1, 1, 1)
    path.write_bytes(bytes(data))
    rep, codes, presented = _verify(ev, trust)
    assert not rep.ok
    (f,) = presented
    assert f.where["field"] == "color" and f.where["found"]["primaries"] == 1 and f.where["found"]["matrix"] == 1


@pytest.mark.parametrize("container", CONTAINERS)
def test_colour_description_changed(pristine, tmp_path, container, trust):
    """A colour description added (MP4 colr, Matroska Colour); MPEG-TS carries none."""
    ev = _copy(pristine[container], tmp_path)
    path = _segments(ev)[1]
    _replace(path, lambda tmp: _ffmpeg(path, tmp, "-color_primaries", "bt709", "-color_trc", "bt709",
                                       "-colorspace", "bt709", "-color_range", "pc", fmt=FORMATS[container]))
    rep, codes, presented = _verify(ev, trust)
    if container == "ts":
        assert rep.ok and not presented and "content.container_changed" in codes
        return
    assert not rep.ok
    (f,) = presented
    assert f.where["field"] == "color"
    assert f.where["found"] == {"primaries": 1, "transfer": 1, "matrix": 1, "range": 2}


@pytest.mark.parametrize("container", CONTAINERS)
def test_stereo_mode_added(pristine, tmp_path, container, trust):
    """A segment of any container remuxed into Matroska marked top-bottom stereoscopic (a player shows
    each half to one eye): the frames are the signed ones, the picture is not."""
    ev = _copy(pristine[container], tmp_path)
    path = _segments(ev)[0]
    _replace(path, lambda tmp: _ffmpeg(path, tmp, "-metadata:s:v:0", "stereo_mode=top_bottom", fmt="matroska"))
    rep, codes, presented = _verify(ev, trust)
    assert not rep.ok
    (f,) = presented
    assert f.where["field"] == "side_data" and f.where["expected"] == {} and "stereo3d" in f.where["found"]


@pytest.mark.parametrize("container", CONTAINERS)
def test_edit_list_hides_frames(pristine, tmp_path, container, trust):
    """A segment of any container remuxed into a plain MP4 whose edit list starts 10 frames late:
    the packets are all there (and signed), but a player never shows the first ten frames."""
    ev = _copy(pristine[container], tmp_path)
    path = _segments(ev)[1]

    def make(tmp: Path) -> None:
        _ffmpeg(path, tmp, fmt="mp4")
        _hide_frames_with_elst(tmp, 10 * _timescale(tmp, 0) // 30)  # ten frames at 30 fps

    _replace(path, make)
    rep, codes, presented = _verify(ev, trust)
    assert not rep.ok
    hidden = [f for f in presented if f.where["field"] == "discarded"]
    assert hidden and hidden[0].where["stream"] == 0 and hidden[0].where["expected"] == 0
    assert 10 <= hidden[0].where["found"] <= 12


@pytest.mark.parametrize("container", CONTAINERS)
def test_edit_list_hides_audio(pristine, tmp_path, container, trust):
    """The same with the audio track: half a second of speech hidden by its edit list."""
    ev = _copy(pristine[container], tmp_path)
    path = _segments(ev)[1]

    def make(tmp: Path) -> None:
        _ffmpeg(path, tmp, fmt="mp4")
        _hide_frames_with_elst(tmp, _timescale(tmp, 1) // 2, track=1)  # half a second

    _replace(path, make)
    rep, codes, presented = _verify(ev, trust)
    assert not rep.ok
    hidden = [f for f in presented if f.where["field"] == "discarded"]
    assert [f.where["stream"] for f in hidden] == [1] and 20 <= hidden[0].where["found"] <= 25


def test_timing_only_edit_in_a_fragmented_mp4_is_a_timing_finding(pristine, tmp_path, trust):
    """Our own fragmented MP4 segments: FFmpeg applies an edit list there as a time offset, so
    moving the video's edit shifts video against audio, which the timing check catches."""
    ev = _copy(pristine["mp4"], tmp_path)
    path = _segments(ev)[1]
    data = bytearray(path.read_bytes())
    pos, _, header, _ = next(b for b in _mp4_boxes(bytes(data)) if b[3].endswith("/trak/edts/elst"))
    entry = pos + header + 8
    duration, media_time = struct.unpack(">Ii", data[entry:entry + 8])
    data[entry + 4:entry + 8] = struct.pack(">i", media_time + 10 * 512)  # ten frames of 1/15360 s
    path.write_bytes(bytes(data))
    rep, codes, _ = _verify(ev, trust)
    assert not rep.ok and "content.timing_altered" in codes


# --- format <= 1.3: no presentation in the record means the defaults ---------------------------


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_legacy_records_verify_and_a_rotation_is_still_caught(legacy, tmp_path, container, trust):
    ev = _copy(legacy[container], tmp_path)
    assert all("presentation" not in s for b in _records(ev) for s in b["streams"])
    rep, codes, _ = _verify(ev, trust)
    assert rep.ok and not codes  # the signed bytes: nothing to measure
    first, second = _segments(ev)[:2]
    _replace(first, lambda tmp: _ffmpeg(first, tmp, fmt=FORMATS[container]))  # a pristine remux
    _replace(second, lambda tmp: _pyav_remux(second, tmp, container, rotation=180))
    rep, codes, presented = _verify(ev, trust)
    assert not rep.ok
    assert [(f.where["segment"].rsplit("-", 1)[-1], f.where["field"]) for f in presented] == [
        (second.name.rsplit("-", 1)[-1], "display_matrix")]


def test_measure_presentation_reads_a_rotated_source(tmp_path, clip):
    """The source's own display matrix is carried into the segments and committed."""
    src = tmp_path / "rotated.mp4"
    _pyav_remux(Path(clip), src, "mp4", rotation=90)
    assert measure_presentation(src)[0]["display_matrix"] == [0, -65536, 0, 65536, 0, 0, 0, 0, 1 << 30]
    with MediaSource(src) as source:
        seg = Segmenter(tmp_path / "seg", streams=source.streams, target_seconds=2, container="mkv", fsync=False)
        for packet in source.packets():
            seg.push(packet)
        seg.close()
        infos = seg.segments
    for info in infos:
        assert info.streams[0]["presentation"]["display_matrix"] == [0, -65536, 0, 65536, 0, 0, 0, 0, 1 << 30]
        assert info.to_json()["streams"][0]["presentation"] == measure_presentation(info.path)[0]


def test_compare_presentation_api():
    """The two functions exhibits use: a measured file against a signed stream table."""
    from bwc_core.media.presentation import compare_presentation

    video = {"index": 0, "kind": "video", "presentation": default_presentation("video")}
    audio = {"index": 1, "kind": "audio"}  # format <= 1.3: the defaults
    where = {"segment": "media/R/R-00000.mp4"}
    same = {0: default_presentation("video"), 1: default_presentation("audio")}
    assert compare_presentation([video, audio], same, where) == []
    rotated = {0: dict(default_presentation("video"), display_matrix=[0, -65536, 0, 65536, 0, 0, 0, 0, 1 << 30]),
               1: {"discarded": 3}}
    found = compare_presentation([video, audio], rotated, where)
    assert [(f.code, f.where["stream"], f.where["field"]) for f in found] == [
        ("content.presentation_altered", 0, "display_matrix"), ("content.presentation_altered", 1, "discarded")]
    assert all(f.failed and f.where["segment"] == where["segment"] for f in found)
    assert "rotation 90 degrees" in found[0].message  # as ffprobe reports it
    bad = compare_presentation([{"index": 0, "kind": "video", "presentation": [1]}], same, where)
    assert [f.code for f in bad] == ["content.presentation_altered"] and "malformed" in bad[0].message


def test_compare_presentation_when_no_frame_decodes():
    """A video stream none of whose frames decodes: said once, and what is known still compared."""
    from bwc_core.media.presentation import compare_presentation

    signed = dict(default_presentation("video"), size=[160, 120])
    video = {"index": 0, "kind": "video", "presentation": signed}
    found = compare_presentation([video], {0: {"sar": [1, 1], "discarded": 4}}, {"segment": "s.mp4"})
    assert [f.where["field"] for f in found] == ["decoded", "discarded"]


def test_segment_records_with_presentation_pass_the_field_table(pristine):
    """Every written segment record passes the typed record table; a malformed presentation does not."""
    import copy

    from bwc_core.format.records import check_fields

    body = _records(pristine["mp4"])[0]
    check_fields(body)
    for breakage in ({"display_matrix": [1, 2, 3]}, {"sar": [1, 0]}, {"side_data": {"icc_profile": "XY"}},
                     {"color": {"primaries": 1}}, {"rotation": 90}):
        bad = copy.deepcopy(body)
        bad["streams"][0]["presentation"].update(breakage)
        with pytest.raises(ValueError):
            check_fields(bad)


# --- edit lists that hide or shift pictures after the first (red team rt3) ---------------------------


def _rewrite_elst(path: Path, entries, track: int = 0) -> None:
    """Replace a track's ``elst`` in a plain MP4 (moov after mdat, as FFmpeg writes it) by
    *entries* ``(segment_duration, media_time)`` (movie / media timescale; rate 1), growing the
    box and its ancestors' sizes: no sample offset moves."""
    data = bytearray(path.read_bytes())
    boxes = list(_mp4_boxes(bytes(data)))
    pos, size, header, name = [b for b in boxes if b[3].endswith("/trak/edts/elst")][track]
    assert data[pos + header] == 0 and header == 8
    body = struct.pack(">I4sII", 16 + 12 * len(entries), b"elst", 0, len(entries))
    body += b"".join(struct.pack(">IiHH", d, m, 1, 0) for d, m in entries)
    grow = len(body) - size
    mdat = next(b for b in boxes if b[3] == "/mdat")
    assert mdat[0] < pos  # moov after mdat: chunk offsets stay valid
    for p, s, h, n in boxes:  # the ancestors of this elst: moov, its trak, edts
        if p < pos < p + s and name.startswith(n + "/"):
            assert h == 8
            struct.pack_into(">I", data, p, s + grow)
    data[pos:pos + size] = body
    path.write_bytes(bytes(data))


def _elst(path: Path, track: int = 0):
    data = path.read_bytes()
    pos, _, header, _ = [b for b in _mp4_boxes(data) if b[3].endswith("/trak/edts/elst")][track]
    count = struct.unpack(">I", data[pos + header + 4:pos + header + 8])[0]
    return [struct.unpack(">Ii", data[pos + header + 8 + 12 * k:pos + header + 16 + 12 * k]) for k in range(count)]


def _movie_timescale(path: Path) -> int:
    data = path.read_bytes()
    pos, _, header, _ = next(b for b in _mp4_boxes(data) if b[3] == "/moov/mvhd")
    return struct.unpack(">I", data[pos + header + 12:pos + header + 16])[0]


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("how", ["middle", "tail", "delay"])
def test_edit_list_hides_or_shifts_later_pictures(pristine, tmp_path, container, trust, how):
    """A plain MP4 stream copy whose video edit list (``elst`` media_time / segment_duration)
    hides a second in the middle (two edits skipping it), hides the last half second, or delays
    the video half a second against the audio (an empty edit in front). Every packet is there and
    signed; a player shows something else."""
    ev = _copy(pristine[container], tmp_path)
    path = _segments(ev)[1]

    def make(tmp: Path) -> None:
        _ffmpeg(path, tmp, fmt="mp4")
        movie, media = _movie_timescale(tmp), _timescale(tmp, 0)
        (d, m), = [e for e in _elst(tmp) if e[1] >= 0]
        if how == "middle":
            _rewrite_elst(tmp, [(movie // 2, m), (d - movie, m + 3 * media // 2)])
        elif how == "tail":
            _rewrite_elst(tmp, [(d - movie // 2, m)])
        else:
            _rewrite_elst(tmp, [(movie // 2, -1), (d, m)])

    _replace(path, make)
    rep, codes, presented = _verify(ev, trust)
    assert not rep.ok, (how, [(f.code, f.message) for f in rep.findings])
    if how == "delay":  # FFmpeg applies an empty edit as a pts offset of the track: video moved against audio
        assert "content.timing_altered" in codes
    else:  # FFmpeg flags the packets outside every edit discard: a player never shows them
        hidden = [f for f in presented if f.where["field"] == "discarded"]
        assert hidden and hidden[0].where["stream"] == 0 and hidden[0].where["found"] >= 15
