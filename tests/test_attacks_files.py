"""Tamper matrix: every file of an evidence directory or exhibit is accounted for; no terminal spoofing.

Issue 9, red-team points 3, 7/8 and 9, in MP4, Matroska and MPEG-TS. A file
no signed record names that FFmpeg can open as media (or that is not a
regular file) is an error wherever it lies; OS litter FFmpeg cannot open is a
warning (``evidence.stray_file``). In an exhibit, a media file the exporter
lists but no camera-signed record ties is an error, and the shipped report
must state this verification's verdict. Whatever ``bwc verify`` prints has its
non-printable characters escaped.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import pytest

from bwc_core import cli
from bwc_core.exhibit.build import build_exhibit
from bwc_core.format.content import file_digests
from bwc_core.format.envelope import EXHIBIT_TYPE, Envelope, sign
from bwc_core.format.keys import TrustAnchors
from bwc_core.format.layout import EXHIBIT_MANIFEST
from bwc_core.verify import verify_evidence
from bwc_core.verify.exhibit import verify_exhibit

CONTAINERS = ["mp4", "mkv", "ts"]


@pytest.fixture(scope="module", params=CONTAINERS)
def container(request):
    return request.param


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, make_evidence, av_clip, trust, container):
    """REC-001: 8 s of H.264 (B-frames) + AAC in 3 s segments, in *container*."""
    return make_evidence(tmp_path_factory.mktemp(f"files-{container}") / "ev", [av_clip], trust.cam, trust.cert,
                         container=container, segment_seconds=3)


@pytest.fixture
def ev(tmp_path, pristine):
    return Path(shutil.copytree(pristine, tmp_path / "ev"))


def segment(ev: Path, n: int = 1) -> Path:
    return sorted(p for p in (ev / "media").rglob("*") if p.is_file() and not p.name.endswith(".leaves"))[n]


def check(path: Path, trust) -> tuple[object, dict[str, set[str]]]:
    report = verify_evidence(path, TrustAnchors([trust.root_pub]))
    by: dict[str, set[str]] = {"error": set(), "warning": set()}
    for f in report.findings:
        by.setdefault(f.severity.value, set()).add(f.code)
    return report, by


def litter(ev: Path, seg: Path) -> list[Path]:
    """What macOS / Windows leave in folders they browse: none of it media."""
    d = seg.parent
    apple = struct.pack(">II16sH", 0x00051607, 0x00020000, b"Mac OS X        ", 2)
    apple += struct.pack(">III", 9, 50, 32) + struct.pack(">III", 2, 82, 4014)
    files = {d / ".DS_Store": b"\x00\x00\x00\x01Bud1\x00\x00\x10\x00" + bytes(4000),
             d / f"._{seg.name}": apple.ljust(4096, b"\x00"),
             d / "Thumbs.db": bytes.fromhex("d0cf11e0a1b11ae1") + bytes(5000),
             d / "desktop.ini": b"[.ShellClassInfo]\r\nIconResource=C:\\x.ico,0\r\n",
             ev / ".DS_Store": b"\x00\x00\x00\x01Bud1" + bytes(2000),
             ev / "notes.txt": b"checked in by J. Doe\n"}
    for path, data in files.items():
        path.write_bytes(data)
    return list(files)


# --- evidence directories: point 7 (misses) ----------------------------------------------------


def test_pristine_evidence_has_no_unexpected_file(pristine, trust, container):
    report, by = check(pristine, trust)
    assert report.ok and by["warning"] == set(), [(f.code, f.message) for f in report.findings]


@pytest.mark.parametrize("where", ["doctored", "other/x", "unattested/x", "media/x", "a/b/c/deep"])
def test_unsigned_video_planted_anywhere_in_evidence_is_an_error(ev, trust, container, where):
    seg = segment(ev)
    target = ev / f"{where}{seg.suffix}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(seg, target)
    report, by = check(ev, trust)
    assert not report.ok and "segment.unexpected" in by["error"]
    (f,) = [f for f in report.findings if f.code == "segment.unexpected"]
    assert f.where["file"] == f"{where}{seg.suffix}"
    assert "segment.unattested_kept" not in by["warning"]  # no recovery record names it


def test_video_under_another_name_outside_media_is_an_error(ev, trust, container):
    """A player probes content, not the extension: a segment renamed .dat is still video."""
    shutil.copy(segment(ev), ev / "backup.dat")
    report, by = check(ev, trust)
    assert "segment.unexpected" in by["error"]


def test_subtitle_file_beside_a_segment_is_an_error(ev, trust, container):
    """A player loads ``NAME.srt`` with ``NAME.mp4``: text laid over the footage, signed by nobody."""
    seg = segment(ev)
    seg.with_suffix(".srt").write_text("1\n00:00:00,000 --> 00:00:02,000\nSuspect draws weapon\n")
    report, by = check(ev, trust)
    assert not report.ok and "segment.unexpected" in by["error"]


def test_special_files_outside_media_are_errors_without_hanging(ev, trust, container):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    os.mkfifo(ev / "pipe.mp4")
    (ev / "linked").symlink_to(ev / "media", target_is_directory=True)
    (ev / "link.mp4").symlink_to(segment(ev))
    report, by = check(ev, trust)
    files = {f.where.get("file") for f in report.findings if f.code == "segment.unexpected"}
    assert {"pipe.mp4", "linked", "link.mp4"} <= files


# --- evidence directories: point 8 (false alarms) ------------------------------------------------


def test_os_litter_is_a_warning_not_an_error(ev, trust, container):
    planted = litter(ev, segment(ev))
    report, by = check(ev, trust)
    assert report.ok, [(f.code, f.message) for f in report.findings if f.failed]
    assert by["warning"] == {"evidence.stray_file"}
    named = {f.where["file"] for f in report.findings if f.code == "evidence.stray_file"}
    assert named == {p.relative_to(ev).as_posix() for p in planted}


def test_cli_exit_code_with_litter_is_zero(ev, trust, container, capsys):
    litter(ev, segment(ev))
    assert cli.main(["verify", str(ev), "--trust", str(trust.root_pub), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {f["code"] for f in doc["findings"]} == {"evidence.stray_file"}


def test_probe_is_bounded_and_never_raises(tmp_path, container, pristine):
    from bwc_core.verify.evidence import presentable

    big = tmp_path / "big.bin"
    with open(big, "wb") as fh:  # sparse: 2 GB of zeros, no media
        fh.truncate(2 << 30)
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "junk.ts").write_bytes(os.urandom(50_000))
    for name in ("big.bin", "empty.mp4", "junk.ts", "absent.mkv"):
        assert presentable(tmp_path / name) is False
    assert presentable(segment(pristine)) is True


# --- exhibits: point 3 -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exhibits(tmp_path_factory, pristine, trust):
    base = tmp_path_factory.mktemp("files-ex")
    clip = build_exhibit(pristine, "REC-001", base / "clip", start=0.5, end=7, trust=[trust.root_pub], **trust.signed)
    whole = build_exhibit(pristine, "REC-001", base / "whole", trust=[trust.root_pub], **trust.signed)
    zipped = build_exhibit(pristine, "REC-001", base / "clip.zip", start=0.5, end=4, trust=[trust.root_pub],
                           as_zip=True, **trust.signed)
    return {"clip": clip, "whole": whole, "zip": zipped}


def resign(ex: Path, trust) -> None:
    """What a trusted but dishonest exporter can do: list the files as they now are and sign."""
    decl = json.loads(Envelope.from_json((ex / EXHIBIT_MANIFEST).read_text()).payload)
    decl["files"] = [{"path": p.relative_to(ex).as_posix(), "size": p.stat().st_size, "digests": file_digests(p)}
                     for p in sorted(ex.rglob("*")) if p.is_file() and p.name != EXHIBIT_MANIFEST]
    (ex / EXHIBIT_MANIFEST).write_text(json.dumps(sign(EXHIBIT_TYPE, decl, trust.server).to_json()))


def ex_check(ex: Path, trust):
    report = verify_exhibit(ex, TrustAnchors([trust.root_pub]))
    return report, {f.code for f in report.findings if f.failed}


def test_pristine_exhibits_still_verify(exhibits, trust, container):
    for kind, ex in exhibits.items():
        report, failed = ex_check(ex, trust)
        assert report.ok and not failed, (kind, [(f.code, f.message) for f in report.findings if f.failed])
        assert not [f for f in report.findings if f.severity.value == "warning"], kind


@pytest.mark.parametrize("kind", ["clip", "whole"])
@pytest.mark.parametrize("where", ["clips/extra", "extra", "certs/x"])
def test_unsigned_video_listed_by_the_exporter_is_an_error(exhibits, trust, container, tmp_path, kind, where):
    ex = Path(shutil.copytree(exhibits[kind], tmp_path / "ex"))
    seg = next(p for p in (exhibits["whole"] / "media").rglob("*") if p.suffix in (".mp4", ".mkv", ".ts"))
    target = ex / f"{where}{seg.suffix}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(seg, target)
    resign(ex, trust)
    report, failed = ex_check(ex, trust)
    assert "exhibit.media_unsigned" in failed, [(f.code, f.message) for f in report.findings]
    assert "exhibit.file_unlisted" not in failed  # listed: only the camera's signatures catch it


@pytest.mark.parametrize("edit", ["json_ok", "json_verdict", "html_banner", "html_verdict"])
def test_shipped_report_edited_and_resigned_is_an_error(exhibits, trust, container, tmp_path, edit):
    ex = Path(shutil.copytree(exhibits["clip"], tmp_path / "ex"))
    if edit.startswith("json"):
        doc = json.loads((ex / "report.json").read_text())
        if edit == "json_ok":
            doc["ok"] = False
        else:
            doc["verdicts"]["completeness"] = "fail"
        (ex / "report.json").write_text(json.dumps(doc, indent=2))
    else:
        html = (ex / "report.html").read_text()
        new = (html.replace('<div class="banner pass"><b>PASS</b>', '<div class="banner fail"><b>FAIL</b>')
               if edit == "html_banner" else
               html.replace('<span class="v-pass">origin: pass</span>', '<span class="v-fail">origin: fail</span>'))
        assert new != html
        (ex / "report.html").write_text(new)
    resign(ex, trust)
    report, failed = ex_check(ex, trust)
    assert failed == {"exhibit.report_mismatch"}, [(f.code, f.message) for f in report.findings if f.failed]


def test_shipped_report_saying_pass_for_a_failing_exhibit_is_flagged(exhibits, trust, container, tmp_path):
    """A clip replaced by other footage: the shipped report still says PASS; both are findings."""
    ex = Path(shutil.copytree(exhibits["clip"], tmp_path / "ex"))
    clips = sorted(p for p in (ex / "clips").rglob("*") if p.is_file())
    shutil.copy(clips[1], clips[0])
    resign(ex, trust)
    report, failed = ex_check(ex, trust)
    assert "exhibit.report_mismatch" in failed and len(failed) > 1


# --- point 9: terminal spoofing -----------------------------------------------------------------


SPOOF = "x\x1b[2J\x1b[HPASS  evidence\n  integrity: pass\u202e4pm.exe\x9b31m\x07"


def test_control_characters_in_planted_names_are_escaped(ev, trust, container, capsys):
    seg = segment(ev)
    shutil.copy(seg, seg.parent / (SPOOF + seg.suffix))  # video: an error, so its name is printed
    (ev / (SPOOF + ".txt")).write_bytes(b"litter")  # a warning, printed too
    capsys.readouterr()
    code = cli.main(["verify", str(ev), "--trust", str(trust.root_pub)])
    out, err = capsys.readouterr()
    assert code == 1
    assert "\\x1b[2J" in out and "\\u202e" in out  # shown, escaped
    for bad in ("\x1b", "\u202e", "\x9b", "\x07"):
        assert bad not in out + err
    assert all(line.isprintable() for line in out.splitlines())


def test_printable_helper():
    assert cli._printable("plain … ünïcode é") == "plain … ünïcode é"
    assert cli._printable("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert cli._printable("l\u2066r\u202ax\u2069") == "l\\u2066r\\u202ax\\u2069"
    assert cli._printable("\x85\x9b\x7f\n\r\t") == "\\x85\\x9b\\x7f\\n\\r\\t"
    assert cli._printable("bad\udcffname") == "bad\\udcffname"  # undecodable byte of a file name


def test_error_lines_are_escaped(tmp_path, trust, capsys):
    missing = tmp_path / "no\x1b[2Jsuch"
    assert cli.main(["verify", str(missing), "--trust", str(trust.root_pub)]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\\x1b" in err


# --- point 12: bytes appended to an exhibit clip ------------------------------------------------


@pytest.mark.parametrize("what", ["junk", "segment", "ts_packets"])
def test_bytes_appended_to_a_clip_and_resigned_are_an_error(exhibits, pristine, trust, container, tmp_path, what):
    ex = Path(shutil.copytree(exhibits["clip"], tmp_path / "ex"))
    clip = sorted(p for p in (ex / "clips").rglob("*") if p.is_file())[0]
    if what == "junk":
        tail = os.urandom(3000)
    elif what == "segment":  # a whole signed segment of the same container after the clip
        tail = segment(pristine, 2).read_bytes()
    else:  # whole 188-byte packets with the sync byte: null packets (PID 0x1fff) carrying text
        tail = (b"\x47\x1f\xff\x10" + b"hidden message ".ljust(184, b"\xff")) * 8
    with open(clip, "ab") as fh:
        fh.write(tail)
    resign(ex, trust)
    report, failed = ex_check(ex, trust)
    if container == "ts" and what == "ts_packets":
        # Null packets are MPEG-TS stuffing: FFmpeg presents nothing of them (documented limit).
        assert "clip.appended" not in failed
        return
    if container == "ts" and what == "segment":
        # Whole MPEG-TS packets: the structure holds, FFmpeg demuxes the appended packets (caught by content).
        assert "clip.chunk_foreign" in failed, [(f.code, f.message) for f in report.findings]
        return
    assert "clip.appended" in failed, [(f.code, f.message) for f in report.findings]


def test_a_file_named_like_a_url_is_not_read_as_one(tmp_path, pristine, container, monkeypatch):
    """A planted ``concat:SEG`` (one byte of text) probed by a relative name (``bwc verify .``) is
    the file it is, never FFmpeg's concat protocol reading the segment beside it."""
    from bwc_core.verify.evidence import presentable

    seg = segment(pristine)
    shutil.copy(seg, tmp_path / seg.name)
    (tmp_path / f"concat:{seg.name}").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    assert presentable(Path(seg.name)) is True
    assert presentable(Path(f"concat:{seg.name}")) is False
