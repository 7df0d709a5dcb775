"""The one-pass fragmented-MP4 reader (``bwc_core.media.fmp4``) against FFmpeg's demuxer.

The verifier takes this reader's content root only for a file whose digests
and root are the signed ones, so what matters is: on the files bwc-core
writes it yields exactly FFmpeg's packets (same root, chunk by chunk); on
anything else it gives up or still agrees; its digests are always those of
every byte; hostile bytes never crash it.
"""

from __future__ import annotations

import hashlib
import random
import shutil
from pathlib import Path

import blake3
import pytest

from bwc_core.capture.recorder import segment_body
from bwc_core.capture.segmenter import Segmenter
from bwc_core.capture.synthetic import SyntheticCamera
from bwc_core.format.content import file_digests
from bwc_core.format.journal import Journal
from bwc_core.format.keys import TrustAnchors
from bwc_core.media import fmp4 as _fmp4
from bwc_core.media.commit import content_root
from bwc_core.media.source import MediaSource
from bwc_core.verify import evidence as verify
from bwc_core.verify import io as _fmp4_io
from bwc_core.verify import verify_evidence


def _anchors(trust) -> TrustAnchors:
    return TrustAnchors([trust.root_pub])


def _hashers() -> dict:
    return {"blake3": blake3.blake3(), "sha256": hashlib.sha256()}


def _segment(clip: Path, out: Path, *, container: str = "mp4", seconds: float = 2,
             pre_event: bool = False) -> list[Path]:
    with MediaSource(clip) as src:
        seg = Segmenter(out, streams=src.streams, target_seconds=seconds, container=container,
                        pre_event=pre_event, fsync=False)
        infos = [i for i in map(seg.push, src.packets()) if i is not None]
        infos += seg.close()
    return [Path(i.path) for i in infos]


def _assert_same_as_ffmpeg(path: Path) -> None:
    m = _fmp4.measure(path, _hashers())
    assert m.content is not None, m.reason
    reference = content_root(path)
    assert m.content.root == reference.root
    assert m.content.to_json() == reference.to_json()  # chunk by chunk, streams, packet count
    assert [tuple(p) for p in m.content.packets] == [tuple(p) for p in reference.packets]
    assert m.digests == file_digests(path)
    assert m.size == path.stat().st_size


@pytest.mark.parametrize("clip", ["av_clip", "video_clip", "audio_clip"])
def test_equals_ffmpeg_on_every_segment_bwc_core_writes(request, tmp_path, clip):
    """A+V with B-frames, video only, audio only; several fragments per segment;
    later segments start with an empty edit (their offset in the recording)."""
    files = _segment(request.getfixturevalue(clip), tmp_path)
    assert len(files) >= 2
    for path in files:
        _assert_same_as_ffmpeg(path)


def test_equals_ffmpeg_on_pre_event_and_long_gop_segments(tmp_path):
    clip = SyntheticCamera(seconds=5, bframes=3, gop=45).write(tmp_path / "long_gop.mp4")
    for path in _segment(clip, tmp_path / "seg", seconds=1, pre_event=True):
        _assert_same_as_ffmpeg(path)


@pytest.mark.parametrize("container", ["mkv", "ts"])
def test_other_containers_give_up_but_digest_every_byte(av_clip, tmp_path, container):
    for path in _segment(av_clip, tmp_path, container=container):
        m = _fmp4.measure(path, _hashers())
        assert m.content is None and m.reason
        assert m.digests == file_digests(path) and m.size == path.stat().st_size


def test_plain_mp4_and_non_media_give_up(av_clip, tmp_path):
    """A progressive MP4 (samples in moov) and bytes that are not media at all."""
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x00\x00\x10ftypisom" + bytes(range(256)) * 50)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    for path in (Path(av_clip), garbage, empty):
        m = _fmp4.measure(path, _hashers())
        assert m.content is None and m.reason
        assert m.digests == file_digests(path) and m.size == path.stat().st_size


def test_truncated_segment_gives_up_and_digests_what_is_there(av_clip, tmp_path):
    path = _segment(av_clip, tmp_path)[0]
    data = path.read_bytes()
    for cut in (len(data) - 1, len(data) // 2, 1500, 7, 0):
        part = tmp_path / f"cut{cut}.mp4"
        part.write_bytes(data[:cut])
        m = _fmp4.measure(part, _hashers())
        assert m.content is None
        assert m.digests == file_digests(part) and m.size == cut


def test_hostile_bytes_never_crash_and_never_disagree_silently(av_clip, tmp_path):
    """Bytes flipped in the boxes the reader parses: it either gives up, or its
    reading is FFmpeg's; the digests always cover every byte."""
    path = _segment(av_clip, tmp_path)[1]
    data = path.read_bytes()
    # The metadata: ftyp + moov, and every moof (where the sample tables live).
    spans = [(0, 1400)]
    pos = 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos:pos + 4], "big")
        if data[pos + 4:pos + 8] == b"moof":
            spans.append((pos, pos + size))
        pos += max(size, 8)
    rng = random.Random(1234)
    agreed = gave_up = 0
    for n in range(120):
        a, b = rng.choice(spans)
        mutated = bytearray(data)
        where = rng.randrange(a, b)
        mutated[where] ^= 1 << rng.randrange(8)
        bad = tmp_path / f"m{n}.mp4"
        bad.write_bytes(mutated)
        m = _fmp4.measure(bad, _hashers())
        assert m.digests == file_digests(bad)
        if m.content is None:
            gave_up += 1
            continue
        reference, problems = verify.content_of(bad)
        if problems:  # FFmpeg could not read it cleanly: nothing to agree with
            continue
        assert m.content.root == reference.root, (where, m.reason)
        agreed += 1
        bad.unlink()
    assert agreed and gave_up  # both outcomes were exercised


def _evidence_with_wrong_signed_root(out: Path, clip: Path, trust) -> Path:
    """One recording whose second segment record signs a content root that is
    not its file's (a faulty device): the bytes are the signed ones."""
    journal = Journal.create(out, trust.cam, trust.cert, sync="none")
    rid = "REC-001"
    journal.append("recording.open", {
        "recording": rid, "trigger": "test", "officer": "P-1",
        "policy": {"pre_event_seconds": 0, "pre_event_audio": False, "segment_seconds": 2,
                   "container": "mp4"},
        "pre_event": {"packets": 0, "first": None}})
    with MediaSource(clip) as src:
        seg = Segmenter(out / "media" / rid, streams=src.streams, target_seconds=2, name=rid, fsync=False)
        infos = [i for i in map(seg.push, src.packets()) if i is not None]
        infos += seg.close()
    for n, info in enumerate(infos):
        body = segment_body(out, rid, info)
        if n == 1:
            body["content_root"] = "00" * 32
        journal.append("segment", body)
    journal.append("recording.close", {"recording": rid, "reason": "event_complete",
                                       "segments": len(infos)})
    journal.close()
    return out


def test_verifier_reads_each_pristine_segment_once(evidence, trust, monkeypatch):
    """No FFmpeg re-demux for our own MP4 segments that are the signed ones."""
    calls = []
    real = verify._measure_content
    monkeypatch.setattr(verify, "_measure_content", lambda *a: calls.append(a) or real(*a))
    report = verify_evidence(evidence, _anchors(trust))
    assert report.ok
    assert calls == []


def test_a_wrong_signed_root_is_decided_by_ffmpeg(av_clip, trust, tmp_path, monkeypatch):
    ev = _evidence_with_wrong_signed_root(tmp_path / "ev", av_clip, trust)
    calls = []
    real = verify._measure_content
    monkeypatch.setattr(verify, "_measure_content", lambda *a: calls.append(a[0].name) or real(*a))
    report = verify_evidence(ev, _anchors(trust))
    assert not report.ok
    altered = [f for f in report.findings if f.code == "content.altered"]
    assert len(altered) == 1 and altered[0].where["index"] == 1
    assert len(calls) == 1 and calls[0].endswith("00001.mp4")


def test_mkv_evidence_is_re_demuxed_by_ffmpeg(av_clip, trust, tmp_path, make_evidence, monkeypatch):
    ev = make_evidence(tmp_path / "ev", [av_clip], trust.cam, trust.cert, container="mkv")
    calls = []
    real = verify._measure_content
    monkeypatch.setattr(verify, "_measure_content", lambda *a: calls.append(a) or real(*a))
    report = verify_evidence(ev, _anchors(trust))
    assert report.ok
    assert len(calls) == len(list((ev / "media").rglob("*.mkv"))) > 0


def test_copied_evidence_still_verifies_fast(evidence, trust, tmp_path):
    """The same bytes elsewhere (what a court receives): same verdicts."""
    copy = tmp_path / "copy"
    shutil.copytree(evidence, copy)
    assert verify_evidence(copy, _anchors(trust)).ok


def _report_json(report) -> dict:
    return {k: v for k, v in report.to_json().items() if k not in ("elapsed", "path")}


def test_worker_processes_give_the_same_report(evidence, trust, tmp_path):
    """``processes=True`` (what ``bwc verify`` uses) and threads: same findings,
    pristine and tampered (a byte flipped: FFmpeg decides in the worker)."""
    anchors = _anchors(trust)
    ev = tmp_path / "ev"
    shutil.copytree(evidence, ev)
    for _ in range(2):
        threads = verify_evidence(ev, anchors, workers=2)
        procs = verify_evidence(ev, anchors, workers=2, processes=True)
        assert _report_json(threads) == _report_json(procs)
        victim = sorted((ev / "media").rglob("*.mp4"))[1]
        data = bytearray(victim.read_bytes())
        data[len(data) // 2] ^= 0x40
        victim.write_bytes(data)
    assert not procs.ok
    assert any(f.code.startswith("content.") or f.code.startswith("segment.") for f in procs.findings)


def test_a_dead_worker_process_is_measured_again_in_process(evidence, trust, monkeypatch):
    """A worker that dies (here: every worker) costs time, not findings."""
    import os as _os
    import threading

    parent = _os.getpid()
    real = _fmp4.measure
    here = []

    def dying(*args, **kwargs):
        if _os.getpid() != parent:  # in a forked worker
            _os._exit(7)
        here.append(threading.current_thread() is threading.main_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(_fmp4_io, "measure", dying)  # the binding read_segment calls
    report = verify_evidence(evidence, _anchors(trust), workers=2, processes=True)
    assert report.ok
    segments = len(list((evidence / "media").rglob("*.mp4")))
    assert here == [True] * segments  # every file measured again by the verifier itself


def test_read_ahead_gives_the_same_report(evidence, trust, tmp_path):
    """``bwc verify``'s read-ahead (every file under media/ read before the
    journal is parsed) changes nothing: pristine, tampered, deleted, extra,
    and a link where a segment was."""
    anchors = _anchors(trust)
    ev = tmp_path / "ev"
    shutil.copytree(evidence, ev)
    segments = sorted((ev / "media").rglob("*.mp4"))
    tampers = [
        lambda: None,
        lambda: segments[1].write_bytes(segments[1].read_bytes()[:-100]),
        lambda: segments[2].unlink(),
        lambda: (ev / "media" / "stray.bin").write_bytes(b"x" * 5000),
        lambda: shutil.copy(segments[0], ev / "media" / "copy.mp4"),
        lambda: (segments[3].unlink(), segments[3].symlink_to(segments[0])),
    ]
    for tamper in tampers:
        tamper()
        plain = verify_evidence(ev, anchors, workers=2)
        with _fmp4_io.Prefetch.start(ev) as ahead:
            assert ahead is not None
            read_ahead = verify_evidence(ev, anchors, workers=2, processes=True, prefetched=ahead)
        assert _report_json(plain) == _report_json(read_ahead)
    codes = {f.code for f in read_ahead.findings}
    assert {"segment.missing", "segment.unexpected", "segment.bad_path"} <= codes
    assert any("a copy of" in f.message for f in read_ahead.findings)


def test_read_ahead_names_are_the_evidence_layout():
    import inspect

    from bwc_core.format.layout import EXHIBIT_MANIFEST, JOURNAL_NAME, MEDIA_DIR

    source = inspect.getsource(_fmp4_io.Prefetch.start)
    for name in (JOURNAL_NAME, MEDIA_DIR, EXHIBIT_MANIFEST):
        assert f'"{name}"' in source


def test_read_ahead_only_where_it_applies(evidence, tmp_path):
    assert _fmp4_io.Prefetch.start(tmp_path) is None  # no journal
    assert _fmp4_io.Prefetch.start(evidence / "journal.jsonl") is None  # a file
    exhibit = tmp_path / "exhibit"
    shutil.copytree(evidence, exhibit)
    (exhibit / "exhibit.json").write_text("{}")
    assert _fmp4_io.Prefetch.start(exhibit) is None
