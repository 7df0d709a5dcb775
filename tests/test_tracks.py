"""Files with more than one video and one audio track, made as a new user would (the ffmpeg CLI).

Decided per kind of stream (docs/camera.md "Stream kinds"): video and audio
tracks, any number of each, are carried and verify clean in every
container; subtitle and data tracks (``mov_text``, a ``tmcd`` timecode,
telemetry) are refused before anything is written, with an error naming the
stream and how to leave it out. A refused seal leaves no evidence directory,
and an existing one untouched.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bwc_core import cli
from bwc_core.capture.seal import seal_files
from bwc_core.capture.segmenter import Segmenter
from bwc_core.capture.synthetic import SyntheticCamera
from bwc_core.errors import UnsupportedStreamError
from bwc_core.format.keys import TrustAnchors
from bwc_core.media.presentation import measure_presentation
from bwc_core.media.source import MediaSource
from bwc_core.verify import verify_evidence

CONTAINERS = ["mp4", "mkv", "ts"]


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """Camera-like files, each with one extra track of a kind, made with the ffmpeg CLI."""
    d = tmp_path_factory.mktemp("tracks")
    base = SyntheticCamera(seconds=3, bframes=2, gop=30, width=160, height=120).write(d / "base.mp4")
    srt = d / "cues.srt"
    srt.write_text("1\n00:00:00,500 --> 00:00:01,000\nhello\n\n2\n00:00:02,000 --> 00:00:02,500\nworld\n")
    gps = d / "gps.bin"
    gps.write_bytes(bytes(range(256)) * 16)
    out = {
        "subtitle": d / "subtitle.mp4",  # mov_text (tx3g)
        "timecode": d / "timecode.mp4",  # tmcd
        "data": d / "telemetry.ts",  # a private data stream (GPS-like bytes); MP4 cannot take one from the CLI
        "two_audio": d / "two_audio.mp4",
        "two_video": d / "two_video.mp4",
    }
    _ffmpeg("-i", str(base), "-i", str(srt), "-map", "0", "-map", "1", "-c", "copy", "-c:s", "mov_text",
            str(out["subtitle"]))
    _ffmpeg("-i", str(base), "-map", "0", "-c", "copy", "-timecode", "01:00:00:00", str(out["timecode"]))
    _ffmpeg("-i", str(base), "-f", "data", "-i", str(gps), "-map", "0", "-map", "1", "-c", "copy",
            str(out["data"]))
    _ffmpeg("-i", str(base), "-f", "lavfi", "-i", "sine=f=880:duration=3", "-map", "0", "-map", "1",
            "-c:v", "copy", "-c:a:0", "copy", "-c:a:1", "aac", "-shortest", str(out["two_audio"]))
    _ffmpeg("-i", str(base), "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=15:duration=3", "-map", "0",
            "-map", "1", "-c:v:0", "copy", "-c:a", "copy", "-c:v:1", "libx264", "-g", "15", "-pix_fmt",
            "yuv420p", str(out["two_video"]))
    return out


def _seal(trust, src: Path, ev: Path, container: str):
    return seal_files([str(src)], key=str(trust.cam_key), cert=str(trust.cert_path), out=str(ev),
                      segment_seconds=1, container=container, passphrase=None)


REFUSED = {"subtitle": (2, "subtitle", "mov_text"), "timecode": (2, "data", "unknown"), "data": (2, "data", "unknown")}


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_refused_kinds_leave_no_evidence(sources, trust, tmp_path, kind, container):
    """Before: mov_text sealed into MP4 then failed every segment (content.altered); a timecode track
    failed the MP4 header after the journal was written (0 segments, verifying PASS)."""
    ev = tmp_path / "ev"
    with pytest.raises(UnsupportedStreamError) as info:
        _seal(trust, sources[kind], ev, container)
    index, ftype, codec = REFUSED[kind]
    message = str(info.value)
    assert f"stream {index} ({ftype}, codec {codec}" in message and f"into {container}" in message
    assert f"-map -0:{index}" in message  # how to leave it out
    assert not ev.exists()


def test_refusal_leaves_existing_evidence_untouched(sources, trust, tmp_path):
    ev = tmp_path / "ev"
    _seal(trust, sources["two_audio"], ev, "mp4")
    before = {p: p.read_bytes() for p in ev.rglob("*") if p.is_file()}
    with pytest.raises(UnsupportedStreamError):
        seal_files([str(sources["two_audio"]), str(sources["timecode"])], key=str(trust.cam_key),
                   cert=str(trust.cert_path), out=str(ev), segment_seconds=1, container="mp4", passphrase=None)
    assert {p: p.read_bytes() for p in ev.rglob("*") if p.is_file()} == before


def test_cli_refusal_is_one_line_naming_the_stream(sources, trust, tmp_path, capsys):
    ev = tmp_path / "ev"
    code = cli.main(["seal", str(sources["timecode"]), "--key", str(trust.cam_key), "--cert",
                     str(trust.cert_path), "--out", str(ev)])
    err = capsys.readouterr().err
    assert code == 2 and "stream 2 (data" in err and "-map -0:2" in err
    assert len(err.strip().splitlines()) == 1
    assert not ev.exists()


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("kind", ["two_audio", "two_video"])
def test_carried_kinds_seal_and_verify_clean(sources, trust, tmp_path, kind, container):
    ev = tmp_path / "ev"
    ((_, rid, count),) = _seal(trust, sources[kind], ev, container)
    assert count >= 2
    rep = verify_evidence(ev, TrustAnchors([trust.root_pub]))
    assert rep.ok and not rep.findings, [f.message for f in rep.findings]
    segments = rep.recordings[0].segments
    assert all(s.status == "ok" for s in segments)
    body = segments[0].body
    kinds = [s["kind"] for s in body["streams"]]
    assert kinds == (["video", "audio", "audio"] if kind == "two_audio" else ["video", "audio", "video"])
    measured = measure_presentation(ev / body["file"])
    assert [s["presentation"] for s in body["streams"]] == [measured[i] for i in range(3)]


def test_segmenter_refuses_a_data_stream_at_construction(sources, tmp_path):
    """The camera path: a Segmenter given a stream it cannot carry fails before any file exists."""
    with MediaSource(sources["timecode"]) as src:
        with pytest.raises(UnsupportedStreamError):
            Segmenter(tmp_path / "seg", streams=src.streams, container="ts", fsync=False)
        Segmenter(tmp_path / "seg", streams=src.streams[:2], container="ts", fsync=False).close()
    assert not any((tmp_path / "seg").iterdir())


def _rotated(src: Path, dst: Path) -> Path:
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mp4") as out:
        mapping = {}
        for s in inp.streams:
            mapping[s.index] = o = out.add_stream_from_template(s)
            if s.type == "video":
                o.set_display_rotation(90)
        for packet in inp.demux():
            if packet.dts is not None:
                packet.stream = mapping[packet.stream_index]
                out.mux(packet)
    return dst


@pytest.mark.parametrize("container", CONTAINERS)
def test_a_rotated_source_keeps_its_rotation_or_is_refused(sources, trust, tmp_path, container):
    """A phone-style portrait file (display matrix 90 degrees): MP4 and Matroska segments carry and
    commit it; MPEG-TS cannot store it, and sealing into it is refused before anything is written."""
    from bwc_core.errors import ContainerError

    src = _rotated(sources["two_audio"].with_name("base.mp4"), tmp_path / "portrait.mp4")
    ev = tmp_path / "ev"
    if container == "ts":
        with pytest.raises(ContainerError, match="stream 0 presents display matrix .* seal into mp4 or mkv"):
            _seal(trust, src, ev, container)
        assert not ev.exists()
        return
    _seal(trust, src, ev, container)
    rep = verify_evidence(ev, TrustAnchors([trust.root_pub]))
    assert rep.ok and not rep.findings
    for segment in rep.recordings[0].segments:
        assert segment.body["streams"][0]["presentation"]["display_matrix"] == [
            0,
            -65536,
            0,
            65536,
            0,
            0,
            0,
            0,
            1 << 30,
        ]


@pytest.mark.parametrize("container", CONTAINERS)
def test_a_stretched_source_keeps_its_aspect_ratio_or_is_refused(sources, trust, tmp_path, container):
    """A pasp box saying 4:3 over a codec saying 1:1 (``-aspect 16:9`` on 160x120): MP4 segments carry
    it (a pasp box of their own); MPEG-TS cannot store it and PyAV cannot set it for Matroska, so
    those are refused before anything is written."""
    from bwc_core.errors import ContainerError

    src = tmp_path / "stretched.mp4"
    _ffmpeg("-i", str(sources["two_audio"].with_name("base.mp4")), "-map", "0", "-c", "copy", "-aspect", "16:9",
            str(src))
    ev = tmp_path / "ev"
    if container != "mp4":
        with pytest.raises(ContainerError, match=r"sample aspect ratio \[4, 3\] where its codec says \[1, 1\]"):
            _seal(trust, src, ev, container)
        assert not ev.exists()
        return
    _seal(trust, src, ev, container)
    rep = verify_evidence(ev, TrustAnchors([trust.root_pub]))
    assert rep.ok and not rep.findings
    assert all(s.body["streams"][0]["presentation"]["sar"] == [4, 3] for s in rep.recordings[0].segments)


def test_recorder_refuses_a_data_stream_at_power_on(sources, trust, tmp_path):
    """The camera: a recorder declared with a stream it cannot carry fails when it is built, before
    its journal exists, not at the first activation."""
    from bwc_core.capture.recorder import Recorder

    with MediaSource(sources["timecode"]) as src:
        with pytest.raises(UnsupportedStreamError, match="stream 2"):
            Recorder(tmp_path / "ev", identity=trust.cam, cert=trust.cert, streams=src.streams)
    assert not (tmp_path / "ev" / "journal.jsonl").exists()
