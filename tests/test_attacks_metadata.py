"""Tamper matrix: container metadata a player lists (format 1.16).

bwc-core's segments carry no container metadata beyond the tags a muxer writes to name
itself (``encoder``, ISO BMFF brands, ``handler_name`` VideoHandler/SoundHandler,
``language`` und, Matroska's per-track ``DURATION``, MPEG-TS service FFmpeg/Service01),
and none of it is signed. A file whose bytes are not the signed ones and that carries
anything else a player or ``ffprobe`` lists (a title, comment, date, GPS location,
creation time, chapters, an attachment, a track's language, name or disposition, an
MPEG-TS service name) is ``content.metadata_unsigned`` (error), beside
``content.container_changed`` when every packet is the signed one. Each attack is a
stream copy with ``ffmpeg`` into the segment's own container, for every container that
can carry the item; pristine stream copies between every pair of containers raise nothing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import av
import pytest

from bwc_core.capture.recorder import segment_body
from bwc_core.capture.segmenter import Segmenter
from bwc_core.capture.synthetic import SyntheticCamera
from bwc_core.format.journal import Journal
from bwc_core.format.keys import TrustAnchors
from bwc_core.media import presentation
from bwc_core.media.source import MediaSource
from bwc_core.verify import verify_evidence

CONTAINERS = ["mp4", "mkv", "ts"]
FORMATS = {"mp4": "mp4", "mkv": "matroska", "ts": "mpegts"}


def _build(out: Path, clip: str, trust, container: str) -> Path:
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
        journal.append("segment", segment_body(out, rid, info))
    journal.append("recording.close", {"recording": rid, "reason": "event_complete", "segments": len(infos)})
    journal.close()
    return out


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """4 s, 160x120 H.264 with B-frames and AAC, its container tagged as a consumer camera would
    tag it (title, comment, GPS, creation time; track language, name, a non-default disposition)."""
    d = tmp_path_factory.mktemp("mclip")
    plain = SyntheticCamera(seconds=4, bframes=2, gop=30, width=160, height=120).write(d / "plain.mp4")
    tagged = d / "tagged.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(plain), "-map", "0", "-c", "copy",
                    "-metadata", "title=Camera 7", "-metadata", "comment=shift B",
                    "-metadata", "creation_time=2026-01-02T03:04:05Z", "-metadata", "location=+42.3601-071.0589/",
                    "-metadata:s:a:0", "language=eng", "-metadata:s:v:0", "title=Front camera",
                    "-disposition:a:0", "default+comment", str(tagged)], check=True)
    return str(tagged)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, clip, trust):
    base = tmp_path_factory.mktemp("meta")
    return {c: _build(base / c, clip, trust, c) for c in CONTAINERS}


def _segments(ev: Path) -> list[Path]:
    return sorted(p for p in (ev / "media" / "REC-001").iterdir() if not p.name.endswith(".leaves"))


def _verify(ev: Path, trust):
    rep = verify_evidence(ev, TrustAnchors([trust.root_pub]))
    return rep, {f.code for f in rep.findings}, [f for f in rep.findings if f.code == "content.metadata_unsigned"]


def _remux(ev: Path, container: str, *args: str, inputs: tuple[str, ...] = ()) -> Path:
    """Segment 1 stream-copied by ffmpeg into its own container with *args*, in its place."""
    path = _segments(ev)[1]
    tmp = path.with_name("tmp-" + path.name)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(path), *inputs, "-map", "0", "-c", "copy", *args,
                    "-f", FORMATS[container], str(tmp)], check=True)
    tmp.replace(path)
    return path


def _copy(src: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(src, tmp_path / "ev"))


# --- pristine: nothing raised --------------------------------------------------------------------


@pytest.mark.parametrize("container", CONTAINERS)
def test_sealing_a_tagged_source_writes_no_metadata(pristine, container, trust):
    """The segmenter drops a source's tags, track names, languages and dispositions: its
    segments carry only the muxer's own identification, so they verify clean, and a full
    measurement of each finds nothing unsigned."""
    ev = pristine[container]
    for path in _segments(ev):
        assert presentation.measure_file(path)[1] == []
    rep, codes, _ = _verify(ev, trust)
    assert rep.ok and not codes, [f.message for f in rep.findings]


@pytest.mark.parametrize("target", CONTAINERS)
@pytest.mark.parametrize("container", CONTAINERS)
def test_pristine_stream_copy_lists_no_metadata(pristine, tmp_path, container, target, trust):
    """``ffmpeg -c copy`` of every segment into every container: container_changed only."""
    ev = _copy(pristine[container], tmp_path)
    for path in _segments(ev):
        tmp = path.with_name("tmp-" + path.name)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(path), "-map", "0", "-c", "copy",
                        "-f", FORMATS[target], str(tmp)], check=True)
        tmp.replace(path)
    rep, codes, unsigned = _verify(ev, trust)
    assert rep.ok and not unsigned, [f.message for f in rep.findings]
    assert "content.container_changed" in codes


# --- attacks -------------------------------------------------------------------------------------

_TAGS = [("title", "Officer Smith's camera"), ("comment", "suspect armed"), ("artist", "Det. Jones"),
         ("description", "use of force justified"), ("date", "2019-07-04"),
         ("creation_time", "2019-07-04T21:00:00Z"), ("location", "+40.7128-074.0060/")]


@pytest.mark.parametrize("container", ["mp4", "mkv"])
@pytest.mark.parametrize("key,value", _TAGS, ids=[k for k, _ in _TAGS])
def test_container_tag_added(pristine, tmp_path, container, key, value, trust):
    ev = _copy(pristine[container], tmp_path)
    _remux(ev, container, "-metadata", f"{key}={value}")
    rep, codes, unsigned = _verify(ev, trust)
    assert not rep.ok and "content.container_changed" in codes
    assert any(f.where["key"].lower() == key and f.where["scope"] == "container" for f in unsigned), \
        [f.message for f in rep.findings]
    assert all(f.failed for f in unsigned)


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_gps_location_iso6709_added(pristine, tmp_path, container, trust):
    ev = _copy(pristine[container], tmp_path)
    _remux(ev, container, "-movflags", "use_metadata_tags",
           "-metadata", "com.apple.quicktime.location.ISO6709=+40.7128-074.0060/")
    rep, codes, unsigned = _verify(ev, trust)
    assert not rep.ok and "content.container_changed" in codes
    assert any(f.where["key"].lower() == "com.apple.quicktime.location.iso6709" for f in unsigned)


def test_mpegts_service_name_changed(pristine, tmp_path, trust):
    """MPEG-TS carries no container tags, but its SDT names the service (a player's title):
    ``-metadata title`` becomes the service name; provider and name are checked in every SDT."""
    for args in (["-metadata", "title=Officer Smith"], ["-metadata", "service_provider=Axon"]):
        ev = _copy(pristine["ts"], tmp_path / args[1].split("=")[0])
        _remux(ev, "ts", *args)
        rep, codes, unsigned = _verify(ev, trust)
        assert not rep.ok and "content.container_changed" in codes
        assert [f.where["scope"] for f in unsigned] == ["service"], [f.message for f in rep.findings]
        assert args[1].split("=")[1] in unsigned[0].where["found"]


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_chapters_added(pristine, tmp_path, container, trust):
    ev = _copy(pristine[container], tmp_path)
    chapters = tmp_path / "chapters.txt"
    chapters.write_text(";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1000\ntitle=Suspect draws\n")
    _remux(ev, container, "-map_chapters", "1", inputs=("-i", str(chapters)))
    rep, codes, unsigned = _verify(ev, trust)
    assert not rep.ok
    assert any(f.where["scope"] == "chapter" and "Suspect draws" in f.where["found"] for f in unsigned), \
        [f.message for f in rep.findings]


_TRACK = {
    "language": (["-metadata:s:a:0", "language=spa"], "language", "spa"),
    "title": (["-metadata:s:v:0", "title=Body camera 2"], None, "Body camera 2"),
    "handler_name": (["-metadata:s:v:0", "handler_name=Rear camera"], "handler_name", "Rear camera"),
}


@pytest.mark.parametrize("container,item", [(c, i) for c in CONTAINERS for i in sorted(_TRACK)
                                            if c != "ts" or i == "language"])  # TS: no track name (below)
def test_track_language_and_name(pristine, tmp_path, container, item, trust):
    args, key, value = _TRACK[item]
    ev = _copy(pristine[container], tmp_path)
    _remux(ev, container, *args)
    rep, codes, unsigned = _verify(ev, trust)
    assert not rep.ok and "content.container_changed" in codes
    hits = [f for f in unsigned if f.where["scope"] == "stream" and f.where["found"] == value]
    assert hits and (key is None or hits[0].where["key"].lower() == key), [f.message for f in rep.findings]


def test_mpegts_carries_no_track_name(pristine, tmp_path):
    """Why MPEG-TS is left out of the track name cases above: FFmpeg's MPEG-TS muxer drops a track
    title and handler, so such a copy lists nothing."""
    ev = _copy(pristine["ts"], tmp_path)
    path = _remux(ev, "ts", "-metadata:s:v:0", "title=Body camera 2", "-metadata:s:v:0", "handler_name=Rear")
    with av.open(str(path)) as c:
        assert all(not dict(s.metadata) for s in c.streams)
    assert presentation.measure_file(path)[1] == []


_DISPOSITIONS = {"mp4": ["forced", "hearing_impaired", "visual_impaired", "comment"],
                 "mkv": ["forced", "hearing_impaired", "visual_impaired", "comment", "original"],
                 "ts": ["hearing_impaired", "visual_impaired", "clean_effects"]}


@pytest.mark.parametrize("container,flag", [(c, f) for c in CONTAINERS for f in _DISPOSITIONS[c]])
def test_track_disposition_set(pristine, tmp_path, container, flag, trust):
    ev = _copy(pristine[container], tmp_path)
    _remux(ev, container, "-disposition:a:0", flag)
    rep, codes, unsigned = _verify(ev, trust)
    assert not rep.ok and "content.container_changed" in codes
    assert any(f.where["key"] == "disposition" and flag in f.where["found"].split("+") for f in unsigned), \
        [f.message for f in rep.findings]


@pytest.mark.parametrize("name,mimetype", [("DejaVuSans.ttf", "application/x-truetype-font"),
                                           ("note.png", "image/png")])
def test_matroska_attachment_added(pristine, tmp_path, name, mimetype, trust):
    """FFmpeg exposes a Matroska attachment as an attachment stream (a font, or an image a player
    may show as cover art): an error whatever its type."""
    ev = _copy(pristine["mkv"], tmp_path)
    attached = tmp_path / name
    attached.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32 if name.endswith(".png") else b"\0\1\0\0" + b"\0" * 32)
    _remux(ev, "mkv", "-attach", str(attached), "-metadata:s:t", f"mimetype={mimetype}")
    rep, codes, unsigned = _verify(ev, trust)
    assert not rep.ok
    if "segment.unreadable" in codes:  # an image attachment's codec (png) is outside the content format
        return
    assert any(f.where["scope"] == "attachment" and name in f.where["found"] for f in unsigned), \
        [f.message for f in rep.findings]


def test_muxer_tag_with_another_value_is_unsigned(pristine, tmp_path, trust):
    """The allowlist holds keys *and* the values a muxer writes: ``encoder`` naming anything but
    FFmpeg's libavformat is attacker text."""
    ev = _copy(pristine["mkv"], tmp_path)
    _remux(ev, "mkv", "-metadata", "encoder=Axon Body 4 firmware 1.2 (verified)", "-fflags", "+bitexact")
    rep, codes, unsigned = _verify(ev, trust)
    assert not rep.ok
    assert [f.where["key"].lower() for f in unsigned] == ["encoder"], [f.message for f in rep.findings]


def test_values_are_escaped():
    items = [{"scope": "container", "stream": None, "key": "title", "found": "a\x1b[2Jb"}]
    (f,) = presentation.compare_metadata(items, {"segment": "s.mp4"})
    assert f.code == "content.metadata_unsigned" and f.failed
    _escaped = presentation._escaped  # the one escaping rule of measure_file
    assert _escaped("a\x1b[2Jb") == "a\\x1b[2Jb" and "\x1b" not in _escaped("x\x1b" * 300)
    assert len(_escaped("y" * 1000)) <= 203


# --- packet durations: how long the last frame is shown (format 1.16) ----------------------------------


def _stretch_last_frame(path: Path, container: str, seconds: float, *, stream_type: str = "video") -> None:
    """A PyAV stream copy (timestamps kept) in which the stream's last packets, in decode order and
    in presentation order, last *seconds*: Matroska BlockDuration, the MP4 sample duration."""
    tmp = path.with_name("tmp-" + path.name)
    options = {} if container == "mp4" else {"avoid_negative_ts": "disabled"}
    with av.open(str(path)) as inp:
        # Matroska demuxes its first B-frames without dts: only FFmpeg's flush packets are left out.
        packets = [p for p in inp.demux() if p.dts is not None or p.size]
        target = next(s for s in inp.streams if s.type == stream_type).index
        mine = [p for p in packets if p.stream_index == target]
        for p in (mine[-1], max(mine, key=lambda p: p.pts)):
            p.duration = int(seconds / p.time_base)
        with av.open(str(tmp), "w", format=FORMATS[container], options=options) as out:
            mapping = {s.index: out.add_stream_from_template(s) for s in inp.streams}
            for p in packets:
                p.stream = mapping[p.stream_index]
                out.mux(p)
    tmp.replace(path)


@pytest.mark.parametrize("container", ["mp4", "mkv"])
@pytest.mark.parametrize("stream_type", ["video", "audio"])
def test_last_frame_held_for_a_minute(pristine, tmp_path, container, stream_type, trust):
    """The last frame's duration set to 60 s: FFmpeg then shows the stream (and the file) a minute
    longer, holding that frame (ffmpeg -vsync cfr: 1859 frames instead of 60 from Matroska); only
    pts are in the content root, so every packet is still the signed one (container_changed) and
    the signed span's end_pts is what catches it."""
    ev = _copy(pristine[container], tmp_path)
    path = _segments(ev)[1]
    _stretch_last_frame(path, container, 60, stream_type=stream_type)
    rep, codes, _ = _verify(ev, trust)
    durations = [f for f in rep.findings if f.code == "content.presentation_altered"
                 and f.where.get("field") in ("hold", "duration")]
    assert not rep.ok and durations, [f.message for f in rep.findings]
    # Matroska stores no BlockDuration for audio: there only the stated file duration grows.
    field = "duration" if (container, stream_type) == ("mkv", "audio") else "hold"
    assert {f.where["field"] for f in durations} == {field}
    assert all(f.where["found"] > 59_000 for f in durations)
    assert "content.container_changed" in codes


def test_mpegts_stores_no_duration(pristine, tmp_path, trust):
    """MPEG-TS has no packet durations: the same stream copy writes the very bytes that were signed
    (FFmpeg derives durations from the codec), so it verifies clean."""
    ev = _copy(pristine["ts"], tmp_path)
    path = _segments(ev)[1]
    before = path.read_bytes()
    _stretch_last_frame(path, "ts", 60)
    assert path.read_bytes() == before
    rep, codes, _ = _verify(ev, trust)
    assert rep.ok and not codes, [f.message for f in rep.findings]


def test_mp4_header_duration_patched_in_place(pristine, tmp_path, trust):
    """A plain MP4 stream copy whose ``mvhd`` duration is patched to 60 s: FFmpeg 5.1's ffprobe
    reports a one-minute file (FFmpeg 8.1 derives its own duration and shows 2 s); every packet
    and its duration are the signed ones, only the header's claim is caught."""
    import struct

    ev = _copy(pristine["mp4"], tmp_path)
    path = _remux(ev, "mp4")
    data = bytearray(path.read_bytes())
    at = data.find(b"mvhd") - 4
    assert data[at + 8] == 0  # version 0: timescale and duration are u32 at 20 and 24
    scale = struct.unpack_from(">I", data, at + 20)[0]
    struct.pack_into(">I", data, at + 24, 60 * scale)
    path.write_bytes(bytes(data))
    rep, codes, _ = _verify(ev, trust)
    durations = [f for f in rep.findings if f.code == "content.presentation_altered"]
    assert not rep.ok and "content.container_changed" in codes, [f.message for f in rep.findings]
    assert [(f.where["field"], f.where["source"], f.where["found"]) for f in durations] == [
        ("duration", "mvhd", 60000.0)
    ]


def test_header_scans_survive_hostile_bytes(tmp_path):
    """The MP4 header and MPEG-TS SDT scans read attacker bytes: truncated boxes, sizes past the end,
    elst counts in the billions, SDT sections cut anywhere never raise, and find what is there."""
    import random
    import struct

    rng = random.Random(20261203)
    moov_body = (struct.pack(">I4s", 108, b"mvhd") + bytes(12) + struct.pack(">II", 1000, 5000) + bytes(80)
                 + struct.pack(">I4s", 24, b"trak") + struct.pack(">I4s", 16, b"edts")
                 + struct.pack(">I4sII", 16, b"elst", 0, 0xFFFFFFF0))
    moov = struct.pack(">I4s", 8 + len(moov_body), b"moov") + moov_body
    good = struct.pack(">I4s", 16, b"ftyp") + b"isom\0\0\0\0" + moov
    path = tmp_path / "x.mp4"
    path.write_bytes(good)
    assert presentation._mp4_stated_durations(str(path)) == [("mvhd", 5)]
    for n in range(300):
        blob = bytearray(good[:rng.randrange(8, len(good) + 1)])
        for _ in range(rng.randrange(0, 4)):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
        path.write_bytes(bytes(blob))
        assert isinstance(presentation._mp4_stated_durations(str(path)), list)
        ts = bytearray(b"\x47\x40\x11\x10" + bytes(rng.randrange(256) for _ in range(184)))
        ts += b"\x47\x00\x11\x11" + bytes(rng.randrange(256) for _ in range(184 + n % 7))
        path.write_bytes(bytes(ts))
        assert isinstance(presentation._ts_services(str(path)), list)


# --- allowlisted keys carrying attacker text (red team, format 1.16) -------------------------------


def _patch(path: Path, old: bytes, new: bytes, *, last: bool = False) -> None:
    data = path.read_bytes()
    at = data.rfind(old) if last else data.find(old)
    assert at >= 0 and len(old) == len(new), (old, new)
    path.write_bytes(data[:at] + new + data[at + len(old):])


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_file_type_brands_spelling_a_sentence(pristine, tmp_path, container, trust):
    """``major_brand`` / ``compatible_brands`` are allowlisted because a stream copy writes them,
    but ffprobe lists their value: four-character groups of letters and spaces can spell
    "SUSPECT WAS ARMED". Only registered brands a muxer writes are the muxer's; in MP4 the
    ``ftyp`` box is patched in place, in Matroska the copied tag is set by ``-metadata``."""
    ev = _copy(pristine[container], tmp_path)
    if container == "mp4":
        path = _remux(ev, "mp4")
        _patch(path, b"isomiso2avc1mp41", b"SHOT FIRED FIRST")
    else:
        path = _remux(ev, "mkv", "-metadata", "compatible_brands=SUSPECT WAS ARMED   ",
                      "-metadata", "major_brand=GUN ")
    with av.open(str(path)) as c:  # what a player lists
        assert {k.lower(): v for k, v in c.metadata.items()}["compatible_brands"] in (
            "SHOT FIRED FIRST", "SUSPECT WAS ARMED   ")
    rep, codes, unsigned = _verify(ev, trust)
    assert not rep.ok and "content.container_changed" in codes, [f.message for f in rep.findings]
    assert "compatible_brands" in {f.where["key"].lower() for f in unsigned}


def test_matroska_track_duration_tag_a_minute(pristine, tmp_path, trust):
    """Matroska's per-track ``DURATION`` tag is allowlisted (FFmpeg's muxer writes it), and ffprobe
    lists it as the track's length: patched in place from 2 s to 9 h it is a stated duration
    beyond the last packet (``content.presentation_altered``, field ``duration``)."""
    ev = _copy(pristine["mkv"], tmp_path)
    path = _remux(ev, "mkv")
    data = path.read_bytes()
    at = data.rfind(b"00:00:0")
    assert at > 0
    path.write_bytes(data[:at] + b"09" + data[at + 2:])
    with av.open(str(path)) as c:
        assert any(v.startswith("09:") for s in c.streams for k, v in s.metadata.items() if k.lower() == "duration")
    rep, codes, _ = _verify(ev, trust)
    durations = [
        f for f in rep.findings if f.code == "content.presentation_altered" and f.where.get("field") == "duration"
    ]
    assert not rep.ok and "content.container_changed" in codes and durations, [f.message for f in rep.findings]
    assert all(f.where["found"] > 9 * 3600_000 for f in durations)


def test_mp4_moov_claiming_exabytes(pristine, tmp_path, trust):
    """The last box of a stream copy, ``moov``, rewritten with a 64-bit size of 2^62 bytes: FFmpeg
    reads it to the end of the file and plays the file; the header scan read the size as given
    (MemoryError out of the verifier). It reads at most what the file holds."""
    import struct

    ev = _copy(pristine["mp4"], tmp_path)
    path = _remux(ev, "mp4")
    data = path.read_bytes()
    at = data.find(b"moov") - 4
    assert at + struct.unpack_from(">I", data, at)[0] == len(data)  # the last box: no offset moves
    path.write_bytes(data[:at] + struct.pack(">I4sQ", 1, b"moov", 1 << 62) + data[at + 8:])
    with av.open(str(path)) as c:
        assert sum(1 for p in c.demux() if p.size) > 0
    assert presentation._mp4_stated_durations(str(path))  # mvhd still read
    rep, codes, _ = _verify(ev, trust)
    assert rep.ok and "content.container_changed" in codes, [f.message for f in rep.findings]


def test_mpegts_sdt_of_a_million_empty_tables(pristine, tmp_path, trust):
    """8000 PID 0x11 packets put in front of a segment, one SDT section start followed by 1.5 MB
    of three-byte tables (table id 0x42, length 0): FFmpeg ignores them and plays the file, the
    service scan re-copied the rest of the section after every table (13 s for 1.5 MB on the
    test machine, quadratic: hours for a real segment). Now linear; nothing listed."""
    import time

    ev = _copy(pristine["ts"], tmp_path)
    path = _segments(ev)[1]
    n = 8000
    stream = b"\x00" + b"\x42\x00\x00" * (n * 184 // 3 + 1)
    junk = b"".join((b"\x47\x40\x11\x10" if k == 0 else b"\x47\x00\x11\x10") + stream[k * 184:(k + 1) * 184]
                    for k in range(n))
    path.write_bytes(junk + path.read_bytes())
    with av.open(str(path)) as c:
        assert sum(1 for p in c.demux() if p.size) > 0
    t = time.monotonic()
    assert presentation._ts_services(str(path)) == [("FFmpeg", "Service01")]  # the file's own SDT
    assert time.monotonic() - t < 3
    rep, codes, _ = _verify(ev, trust)
    assert rep.ok and "content.container_changed" in codes, [f.message for f in rep.findings]
