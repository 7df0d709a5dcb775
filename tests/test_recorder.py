"""The camera state machine on real media, the signed journal it writes, and crash recovery."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest
from conftest import FakeClock

from bwc_core.capture.recorder import DeactivationReason, Recorder, RecorderState, RecordingPolicy
from bwc_core.errors import PolicyError, StateError
from bwc_core.exhibit.build import build_exhibit
from bwc_core.format.content import file_digests
from bwc_core.format.journal import Journal, validate_journal
from bwc_core.format.keys import Identity, TrustAnchors
from bwc_core.media.commit import content_root
from bwc_core.media.source import MediaSource
from bwc_core.verify import verify_evidence
from bwc_core.verify.exhibit import verify_exhibit

T0 = 1_790_000_000 * 10**9  # a fixed wall clock for reproducible records


@pytest.fixture(scope="module")
def camera_clip(media_dir):
    from bwc_core.capture.synthetic import SyntheticCamera

    return SyntheticCamera(seconds=12, bframes=2, gop=30).write(media_dir / "camera12.mp4")


def _exporter(root):
    """A server identity the root certifies, to sign exhibits (format 2.9)."""
    server = Identity.generate("server", "CPD-EVIDENCE")
    return {"identity": server, "cert": root.certify(server, days=1, not_before=int(time.time()) - 3600)}


def _anchors(root):
    return TrustAnchors([root.public_info()])


def _errors(findings):
    return [f for f in findings if f.severity.value == "error"]


def _run_shift(evidence, pki, clip, policy=None, clock=None):
    """Standby, activation, notice, mute/unmute, marker, victim-request stop, a second recording."""
    _, cam, cert = pki
    src = MediaSource(clip)
    packets = list(src)
    rec = Recorder(
        evidence, identity=cam, cert=cert, streams=src.streams,
        policy=policy or RecordingPolicy(pre_event_seconds=2, segment_seconds=2), clock=clock or FakeClock(),
    )
    it = iter(packets)

    def feed(until: float) -> None:
        for p in it:
            rec.push(p)
            if p.pts_seconds >= until:
                return

    feed(3.5)
    rid1 = rec.activate(trigger="button", officer="4711")
    rec.notify()
    feed(5.0)
    rec.mute()
    feed(6.0)
    rec.unmute()
    rec.mark("arrest")
    feed(7.5)
    rec.deactivate(DeactivationReason.VICTIM_REQUEST, note="asked at the door")
    feed(8.5)
    rid2 = rec.activate(trigger="holster")
    feed(11.0)
    rec.deactivate("event_complete")
    rec.sleep()
    feed(11.5)  # dropped: asleep
    rec.wake()
    rec.close()
    src.close()
    return rec, rid1, rid2


def test_full_shift_journal_is_a_continuous_signed_chain(tmp_path, pki, camera_clip):
    root, cam, cert = pki
    rec, rid1, rid2 = _run_shift(tmp_path, pki, camera_clip)
    assert rec.state is RecorderState.CLOSED
    assert _errors(validate_journal(tmp_path / "journal.jsonl", _anchors(root))) == []

    journal = Journal.open(tmp_path)
    types = [r.type for r in journal.records]
    assert types[0] == "device.genesis" and types[1] == "power.on" and types[-1] == "power.off"
    assert [r.seq for r in journal.records] == list(range(len(types)))
    opens = [r for r in journal.records if r.type == "recording.open"]
    closes = [r for r in journal.records if r.type == "recording.close"]
    assert [r.body["recording"] for r in opens] == [rid1, rid2]
    assert [r.body["reason"] for r in closes] == ["victim_request", "event_complete"]
    assert opens[0].body["policy"]["pre_event_audio"] is False
    assert opens[0].body["policy"]["pre_event_seconds"] == 2
    assert opens[0].body["trigger"] == "button" and opens[0].body["officer"] == "4711"

    events = [r.body for r in journal.records if r.type == "event"]
    kinds = [e["kind"] for e in events]
    assert kinds == ["notice", "mute", "unmute", "marker", "deactivate", "deactivate", "sleep", "wake"]
    stop = events[4]
    assert stop["reason"] == "victim_request" and stop["note"] == "asked at the door"
    assert stop["last_frame"]["stream"] == 0 and stop["media"] is not None
    times = [r.time for r in journal.records]
    assert times == sorted(times) and len(set(times)) == len(times)

    for rid, close in zip((rid1, rid2), closes, strict=False):
        segs = [r.body for r in journal.records if r.type == "segment" and r.body["recording"] == rid]
        assert close.body["segments"] == len(segs) >= 1
        assert [s["index"] for s in segs] == list(range(len(segs)))
        flags = [s["pre_event"] for s in segs]
        # buffered packets open the recording: a run of pre-event segments, then live ones
        assert flags[0] is True and flags[-1] is False and flags == sorted(flags, reverse=True)
        for s in segs:
            path = tmp_path / s["file"]
            assert path.stat().st_size == s["size"]
            assert file_digests(path) == s["digests"]
            assert content_root(path).root.hex() == s["content_root"]
    assert rec.dropped["sleep"] > 0 and rec.dropped["muted_audio"] > 0


def test_pre_event_video_only_by_default_and_audio_when_policy_says(tmp_path, pki, camera_clip):
    for keep, sub in ((False, "off"), (True, "on")):
        _run_shift(tmp_path / sub, pki, camera_clip,
                   policy=RecordingPolicy(pre_event_seconds=2, segment_seconds=60, pre_event_audio=keep))
        journal = Journal.open(tmp_path / sub)
        first = next(r.body for r in journal.records if r.type == "segment")
        opened = next(r.body for r in journal.records if r.type == "recording.open")
        assert opened["policy"]["pre_event_audio"] is keep
        with MediaSource(tmp_path / sub / first["file"]) as seg:
            packets = list(seg)
        video = [p for p in packets if p.kind == "video"]
        audio = [p for p in packets if p.kind == "audio"]
        assert video[0].keyframe
        activation = opened["pre_event"]["packets"]
        assert activation > 0
        first_audio = min(a.pts_seconds for a in audio)
        first_video = min(v.pts_seconds for v in video)
        if keep:
            assert first_audio - first_video < 0.1  # buffered audio kept from the window start
        else:
            assert first_audio - first_video > 1.0  # no audio before the activation (~2 s of video)


def test_illegal_transitions_raise_and_change_nothing(tmp_path, pki, camera_clip):
    _, cam, cert = pki
    with MediaSource(camera_clip) as src:
        packets = list(src)[:60]
        rec = Recorder(tmp_path, identity=cam, cert=cert, streams=src.streams, clock=FakeClock())
        for p in packets:
            rec.push(p)
        seq = rec.journal.seq
        for call in (rec.deactivate, rec.wake, rec.notify, lambda: rec.mark("x"), rec.unmute):
            with pytest.raises((StateError, TypeError)):
                call() if call is not rec.deactivate else call("event_complete")
            assert rec.state is RecorderState.STANDBY and rec.journal.seq == seq
        rec.activate()
        seq = rec.journal.seq
        with pytest.raises(StateError):
            rec.activate()
        with pytest.raises(StateError):
            rec.sleep()
        with pytest.raises(StateError):
            rec.close()
        with pytest.raises(PolicyError):
            rec.deactivate(None)  # type: ignore[arg-type]
        with pytest.raises(PolicyError):
            rec.deactivate("bored")
        with pytest.raises(PolicyError):
            rec.deactivate(DeactivationReason.OTHER)
        assert rec.state is RecorderState.RECORDING and rec.journal.seq == seq
        rec.deactivate(DeactivationReason.OTHER, note="battery swap")
        rec.close()
        with pytest.raises(StateError):
            rec.push(packets[0])


CHILD = r"""
import sys, time
from bwc_core.format.keys import Identity, Certificate
from bwc_core.media.source import MediaSource
from bwc_core.capture.recorder import Recorder, RecordingPolicy, DeactivationReason

evidence, clip, keyfile, certfile, seed = sys.argv[1:6]
import random; rnd = random.Random(int(seed))
cam = Identity.load(keyfile)
cert = Certificate.load(certfile)
src = MediaSource(clip)
packets = list(src)
span = max(p.pts_seconds for p in packets) + 1
import threading
out = threading.Lock()
def durable(seq, head):  # "acknowledged": the journal's writer fsynced records up to seq
    with out:
        print(seq, head.hex(), flush=True)
rec = Recorder(evidence, identity=cam, cert=cert, streams=src.streams,
               policy=RecordingPolicy(pre_event_seconds=1, segment_seconds=2), progress_seconds=1,
               on_durable=durable)
def report():  # after a control call returned: durable by then
    durable(rec.journal.durable_seq, rec.journal.durable_head)
report()
print("READY", flush=True)
loop = 0
while True:
    shift = None
    for p in packets:
        if shift is None:
            shift = p
        q = p.replace(pts=p.pts + int(loop * span / p.time_base), dts=p.dts + int(loop * span / p.time_base))
        rec.push(q)
        r = rnd.random()
        if r < 0.01 and rec.state.value == "standby":
            rec.activate(); report()
        elif r < 0.02 and rec.state.value == "recording":
            rec.mark("m"); report()
        elif r < 0.025 and rec.state.value == "recording":
            rec.deactivate(DeactivationReason.EVENT_COMPLETE); report()
    loop += 1
"""


def _run_and_kill(args, env, delay):
    """Run ``python -c args...``, wait for its READY line, SIGKILL it *delay* seconds later:
    (every line it printed, its return code)."""
    child = subprocess.Popen([sys.executable, "-c", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
    assert child.stdout is not None
    lines = []
    line = child.stdout.readline()
    while line and line.strip() != "READY":
        lines.append(line)
        line = child.stdout.readline()
    assert line, child.stderr.read()
    time.sleep(delay)
    assert child.poll() is None, f"recorder died before the kill: {child.stderr.read()}"
    child.send_signal(signal.SIGKILL)
    out, _ = child.communicate()
    return lines + out.splitlines(keepends=True), child.returncode


@pytest.mark.slow
def test_sigkill_at_random_moments_then_recover(tmp_path, pki, media_dir):
    """>= 20 kills while pushing, writing segments and appending; nothing journaled is lost."""
    root, cam, cert = pki
    from bwc_core.capture.synthetic import SyntheticCamera

    clip = SyntheticCamera(seconds=4, bframes=2, gop=15).write(media_dir / "crash4.mp4")
    keyfile = cam.save(tmp_path / "cam.key")
    certfile = cert.save(tmp_path / "cam.cert.json")
    evidence = tmp_path / "evidence"
    rnd = random.Random(20261125)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    kills = 0
    reports = []
    for attempt in range(22):
        lines, returncode = _run_and_kill(
            [CHILD, str(evidence), str(clip), str(keyfile), str(certfile), str(attempt)], env,
            rnd.uniform(0.05, 1.2))
        assert returncode == -signal.SIGKILL
        # Only whole lines count: the kill can land between print()'s text and its newline.
        acknowledged = [ln.split() for ln in lines if ln.endswith("\n") and len(ln.split()) == 2]
        kills += 1

        report = Recorder.recover(evidence, identity=cam, cert=cert)
        reports.append(report)
        findings = validate_journal(evidence / "journal.jsonl", _anchors(root))
        assert _errors(findings) == [], findings
        journal = Journal.open(evidence)
        by_seq = {r.seq: r.hash.hex() for r in journal.records}
        assert acknowledged, "the child acknowledged no record"
        for seq, head in acknowledged:
            assert by_seq.get(int(seq)) == head, f"record {seq} written before the kill was lost"
        # every recording is closed, and every salvaged segment verifies
        open_ = {}
        for r in journal.records:
            if r.type == "recording.open":
                open_[r.body["recording"]] = True
            elif r.type == "recording.close":
                open_.pop(r.body["recording"])
        assert open_ == {}
        for r in journal.records:
            if r.type == "segment" and r.body.get("recovered"):
                path = evidence / r.body["file"]
                assert file_digests(path) == r.body["digests"]
                assert content_root(path, salvage=True).root.hex() == r.body["content_root"]
    assert kills >= 20
    print([(r.recording, len(r.salvaged), len(r.lost), r.torn_tail) for r in reports])
    # The verifier derives every recovered segment's root as recovery did.
    # (The child's feed jumps 1 s each time it loops over the clip: timing gaps are real there.)
    report = verify_evidence(evidence, _anchors(root))
    assert [f for f in report.findings if f.failed and f.code != "content.timing_gap"] == []
    recovered = [s for r in report.recordings for s in r.segments if s.recovered]
    assert recovered and all(s.status == "ok" for s in recovered)
    assert sum(r.recording is not None for r in reports) >= 5, "too few kills landed mid-recording"
    assert any(r.salvaged for r in reports), "no partial segment was salvaged"


def _top_boxes(data: bytes) -> list[tuple[int, bytes, int]]:
    """(offset, type, size) of an ISO BMFF file's top-level boxes."""
    out, at = [], 0
    while at + 8 <= len(data):
        size, kind = int.from_bytes(data[at:at + 4], "big"), data[at + 4:at + 8]
        out.append((at, kind, size))
        at += size
    return out


def _cut_points(data: bytes, container: str) -> dict[str, int]:
    """Where a power loss can cut a segment: in a sample, in a fragment header, before any sample."""
    if container == "mp4":
        boxes = _top_boxes(data)
        mdats = [(o, n) for o, k, n in boxes if k == b"mdat"]
        moofs = [(o, n) for o, k, n in boxes if k == b"moof"]
        return {"mid_sample": mdats[1][0] + mdats[1][1] // 2 + 7,
                "in_moof": moofs[-1][0] + moofs[-1][1] // 2,
                "before_any_sample": mdats[0][0] + 12,
                "whole": len(data)}
    return {"mid_sample": len(data) * 5 // 8 + 3, "late": len(data) - 101, "before_any_sample": 300,
            "whole": len(data)}


def _flip_payload_byte(path: Path) -> None:
    """Change one byte inside a salvaged packet's payload (not container structure)."""
    data = bytearray(path.read_bytes())
    with MediaSource(path, salvage=True) as src:
        payloads = [p.payload for p in src.packets(salvage=True)]
    for payload in payloads[len(payloads) // 2:]:
        probe = bytes(payload[8:20])
        at = data.find(probe) if len(probe) == 12 else -1
        if at >= 0 and data.find(probe, at + 1) < 0:
            data[at + 4] ^= 0xFF
            path.write_bytes(bytes(data))
            return
    raise AssertionError("no packet payload found contiguous in the file")


def _attested_sizes(evidence: Path, rel: str) -> list[int]:
    return sorted(r.body["size"] for r in Journal.open(evidence).records
                  if r.type == "segment.progress" and r.body["file"] == rel)


@pytest.mark.parametrize("container", ["mp4", "mkv", "ts"])
def test_recover_cut_segment_then_verify(tmp_path, make_evidence, pki, camera_clip, container):
    """A segment cut anywhere by a power loss: recovery journals the attested prefix it holds, no more.

    The camera journaled ``segment.progress`` records while writing; the
    recovered segment is exactly the longest attested prefix still present,
    the file as found is kept under unattested/ (byte for byte), and a file
    with no attested prefix left is reported lost and never signed.
    """
    import shutil

    from bwc_core.capture.recorder import Recorder

    root, cam, cert = pki
    base = make_evidence(tmp_path / "base", [camera_clip], cam, cert, segment_seconds=2, close=False,
                         container=container, clock=FakeClock(), progress_seconds=1)
    # The last segment was written but never journaled: what a crash mid-segment leaves.
    journal = Journal.open(base)
    last = max(r.seq for r in journal.records if r.type == "segment")
    lines = (base / "journal.jsonl").read_bytes().splitlines(keepends=True)
    (base / "journal.jsonl").write_bytes(b"".join(lines[:last]))
    victim = sorted((base / "media" / "REC-001").glob(f"*.{container}"))[-1]
    whole = victim.read_bytes()
    rel = victim.relative_to(base).as_posix()
    sizes = _attested_sizes(base, rel)
    assert sizes and sizes[-1] < len(whole)
    for case, cut in _cut_points(whole, container).items():
        ev = tmp_path / case
        shutil.copytree(base, ev)
        target = ev / rel
        (Path(str(target) + ".leaves")).unlink()
        target.write_bytes(whole[:cut])
        rec = Recorder.recover(ev, identity=cam, cert=cert)
        report = verify_evidence(ev, _anchors(root))
        assert [f for f in report.findings if f.failed] == [], (case, report.findings)
        aside = f"unattested/{rel}"
        assert (ev / aside).read_bytes() == whole[:cut], "the file as found is kept, byte for byte"
        assert aside in rec.unattested and "segment.unattested_kept" in report.codes()
        prefix = max((n for n in sizes if n <= cut), default=None)
        if case == "before_any_sample":
            assert rec.salvaged == [] and not target.exists()
            if prefix is None:
                assert rec.lost == [rel]
                lost = [f for f in report.findings if f.code == "segment.lost"]
                assert [f.where["file"] for f in lost] == [rel]
                assert "segment.index_gap" not in report.codes()
                # exhibits of the recording verify, the lost index reported, nothing set aside copied
                root_pub = tmp_path / "root.pub.json"
                if not root_pub.exists():
                    root.save_public(root_pub)
                for span in ({}, {"start": 0, "end": 1}):
                    out = build_exhibit(ev, "REC-001", tmp_path / f"exhibit-{len(span)}", trust=[root_pub],
                                        **_exporter(root), **span)
                    assert not (out / rel).exists() and not (out / aside).exists()
                    shown = verify_exhibit(out, TrustAnchors([root_pub]))
                    assert shown.ok and "segment.lost" in shown.codes(), shown.findings
                # the set-aside file moved back under media/ is unattested bytes presented as evidence
                shutil.copyfile(ev / aside, target)
                assert "segment.unattested" in verify_evidence(ev, _anchors(root)).codes()
            continue
        assert prefix is not None
        assert rec.salvaged == [rel], case
        assert target.read_bytes() == whole[:prefix], "the recovered segment is exactly the attested prefix"
        seg = next(s for r in report.recordings for s in r.segments if s.path == rel)
        assert seg.recovered and seg.status == "ok" and seg.size == prefix
        assert content_root(target, salvage=True).root.hex() == seg.content_root
        packets = content_root(target, salvage=True).packets
        assert len(packets) > 0
        # exhibits of the recording, whole and clipped to the recovered segment, verify
        root_pub = tmp_path / "root.pub.json"
        if not root_pub.exists():
            root.save_public(root_pub)
        start = float(seg.start - min(s.start for s in report.recordings[0].segments))
        for span in ({}, {"start": start, "end": start + 1}):
            out = build_exhibit(
                ev, "REC-001", tmp_path / f"exhibit-{case}-{len(span)}", trust=[root_pub], **_exporter(root), **span
            )
            shown = verify_exhibit(out, TrustAnchors([root_pub]))
            assert shown.ok, (case, span, [(f.code, f.message) for f in shown.findings if f.failed])
        assert len(packets) < len(content_root(victim).packets)
        # a salvaged segment whose packet is altered after recovery is still caught
        _flip_payload_byte(target)
        after = verify_evidence(ev, _anchors(root))
        assert after.ok is False, [(f.code, f.message) for f in after.findings]


def test_recover_lost_segment_before_a_salvaged_one(tmp_path, make_evidence, pki, camera_clip):
    """Two segments in flight at the crash, the first cut before its first attested prefix: its index is
    accounted for."""
    from bwc_core.capture.recorder import Recorder

    root, cam, cert = pki
    ev = make_evidence(tmp_path / "ev", [camera_clip], cam, cert, segment_seconds=2, close=False,
                       clock=FakeClock(), progress_seconds=1)
    journal = Journal.open(ev)
    seqs = sorted(r.seq for r in journal.records if r.type == "segment")
    assert len(seqs) >= 3
    lines = (ev / "journal.jsonl").read_bytes().splitlines(keepends=True)
    (ev / "journal.jsonl").write_bytes(b"".join(lines[:seqs[-2]]))
    first, second = sorted((ev / "media" / "REC-001").glob("*.mp4"))[-2:]
    first.write_bytes(first.read_bytes()[:2000])
    rec = Recorder.recover(ev, identity=cam, cert=cert)
    assert rec.lost == [first.relative_to(ev).as_posix()]
    assert rec.salvaged == [second.relative_to(ev).as_posix()]
    recovery = next(r for r in Journal.open(ev).records if r.type == "recovery")
    assert "lost_files" not in recovery.body, "recovery signs nothing it found"
    # the sidecar its finished write left beside it is set aside with it
    sidecar = Path(str(first) + ".leaves")
    assert not sidecar.exists()
    assert f"unattested/{sidecar.relative_to(ev).as_posix()}" in recovery.body["unattested"]
    report = verify_evidence(ev, _anchors(root))
    assert report.ok, [(f.code, f.message) for f in report.findings if f.failed]
    assert "segment.lost" in report.codes() and "segment.index_gap" not in report.codes()


def test_pre_event_off_keeps_nothing_in_standby(tmp_path, pki, camera_clip):
    _, cam, cert = pki
    with MediaSource(camera_clip) as src:
        packets = list(src)
        rec = Recorder(tmp_path, identity=cam, cert=cert, streams=src.streams, clock=FakeClock(),
                       policy=RecordingPolicy(pre_event_seconds=0, segment_seconds=4))
        assert rec.buffer_stats is None
        it = iter(packets)
        for p in it:
            rec.push(p)
            if p.pts_seconds >= 2.5:
                break
        standby = rec.dropped["standby"]
        assert standby > 0
        rec.activate()
        for p in it:
            rec.push(p)
            if p.pts_seconds >= 6:
                break
        rec.deactivate("event_complete")
        rec.close()
    journal = Journal.open(tmp_path)
    opened = next(r.body for r in journal.records if r.type == "recording.open")
    segs = [r.body for r in journal.records if r.type == "segment"]
    assert opened["pre_event"]["packets"] == 0 and opened["policy"]["pre_event_seconds"] == 0
    assert segs and not any(s["pre_event"] for s in segs)
    with MediaSource(tmp_path / segs[0]["file"]) as seg:
        first = next(p for p in seg if p.kind == "video")
    assert first.keyframe and first.pts_seconds >= 2.5  # starts at the first keyframe after activation
    assert rec.dropped["awaiting_keyframe"] > 0  # delta frames before that keyframe


@pytest.mark.parametrize("container", ["ts", "mkv", "mp4"])
def test_segments_without_audio_verify_in_every_container(tmp_path, pki, camera_clip, container):
    """Pre-event video without audio (the default policy) and audio muted for whole segments:
    a segment holding no packet of a stream commits no configuration for it (format 1.3), since
    MPEG-TS has AAC's only in the packets' ADTS headers."""
    from bwc_core.format.content import read_leaves

    root, _, _ = pki
    policy = RecordingPolicy(pre_event_seconds=2, segment_seconds=1, container=container)
    _, rid1, _ = _run_shift(tmp_path, pki, camera_clip, policy=policy)
    report = verify_evidence(tmp_path, _anchors(root))
    assert report.ok, [(f.code, f.message) for f in report.findings if f.failed]
    silent = []
    for leaves in sorted((tmp_path / "media").rglob("*.leaves")):
        streams = {p.stream for p in read_leaves(leaves).packets}
        if streams == {0}:
            silent.append(leaves)
    assert silent, "the premise: some segment holds video only"
    # A clip of the silent pre-event part: MPEG-TS gives the silent stream back without
    # parameters, so the clip leaves it out; the clip verifies.
    root_pub = root.save_public(tmp_path / "root.pub.json")
    out = build_exhibit(tmp_path, rid1, tmp_path / "clip", start=0, end=1, trust=[root_pub], **_exporter(root))
    shown = verify_exhibit(out, TrustAnchors([root_pub]))
    assert shown.ok, [(f.code, f.message) for f in shown.findings if f.failed]


MUTE_CHILD = r"""
import sys, time
from bwc_core.format.keys import Identity, Certificate
from bwc_core.media.source import MediaSource
from bwc_core.capture.recorder import Recorder, RecordingPolicy, DeactivationReason

evidence, clip, keyfile, certfile, seed, container = sys.argv[1:7]
import random; rnd = random.Random(int(seed))
cam = Identity.load(keyfile)
cert = Certificate.load(certfile)
src = MediaSource(clip)
packets = list(src)
span = max(p.pts_seconds for p in packets) + 1
import threading
out = threading.Lock()
def say(*words):
    with out:
        print(*words, flush=True)
def durable(seq, head):  # "acknowledged": the journal's writer fsynced records up to seq
    say("R", seq, head.hex())
rec = Recorder(evidence, identity=cam, cert=cert, streams=src.streams,  # the default progress cadence
               policy=RecordingPolicy(pre_event_seconds=1, segment_seconds=4, container=container),
               on_durable=durable)
def report():  # after a control call returned: durable by then
    durable(rec.journal.durable_seq, rec.journal.durable_head)
report()
print("READY", flush=True)
loop, t0, pushed = 0, time.monotonic(), 0
toggle_at = 0.5  # media seconds of the next mute / unmute: mutes last 3-8 s, sound 0.5-2 s
while True:
    for p in packets:
        q = p.replace(pts=p.pts + int(loop * span / p.time_base), dts=p.dts + int(loop * span / p.time_base))
        rec.push(q)  # its records are acknowledged by durable() once the writer fsynced them
        if q.kind == "video":
            pushed += 1
            if rec.state.value == "recording":
                say("V", rec.recording_id, float(q.pts_seconds), int(rec.muted))
            # twice real time: a kill lands anywhere in the media
            delay = t0 + pushed / 60 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            r = rnd.random()
            state = rec.state.value
            if r < 0.03 and state == "standby":
                rec.activate(); report()
            elif pushed / 30 >= toggle_at and state != "sleep":
                (rec.unmute if rec.muted else rec.mute)(); report()
                toggle_at = pushed / 30 + (rnd.uniform(3, 8) if rec.muted else rnd.uniform(0.5, 2))
            elif r < 0.003 and state == "recording":  # recordings of ~11 s on average
                rec.deactivate(DeactivationReason.EVENT_COMPLETE); report()
                rec.sleep(); report()
            elif r < 0.03 and state == "sleep":
                rec.wake(); report()
    loop += 1
"""


@pytest.mark.slow
@pytest.mark.parametrize("container", ["mp4", "mkv", "ts"])
def test_sigkill_during_mutes_and_sleeps_loses_at_most_the_fragment_in_flight(tmp_path, pki, media_dir, container):
    """kill -9 while audio is muted for long spans, asleep, or recording, in every container.

    After each kill: no acknowledged record lost, a file planted in the open
    recording never signed, and the video lost from the recording open at the
    kill is at most the fragment in flight (format 2.10: the GOPs from one
    attested boundary to the next, 3 s at the default cadence with these 0.5 s
    GOPs, shorter at a segment's end) plus the frames pushed while its
    attestation was being digested and journaled (0.25 s of media here,
    pushed at twice real time). Before, the bound was the progress interval
    plus a fragment plus one GOP of muxer delay, and a segment's last fragment
    waited for its segment record; before format 1.4 a kill during a long
    mute lost the whole segment.
    """
    root, cam, cert = pki
    from bwc_core.capture.synthetic import SyntheticCamera

    clip = SyntheticCamera(seconds=6, bframes=2, gop=15).write(media_dir / "crash6.mp4")
    keyfile = cam.save(tmp_path / "cam.key")
    certfile = cert.save(tmp_path / "cam.cert.json")
    evidence = tmp_path / "evidence"
    rnd = random.Random(20261203)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    from bwc_core.capture.recorder import PROGRESS_SECONDS

    bound = PROGRESS_SECONDS + 0.25
    losses, planted_files, in_mute = [], [], []
    for attempt in range(8):
        lines, _ = _run_and_kill(
            [MUTE_CHILD, str(evidence), str(clip), str(keyfile), str(certfile), str(attempt), container], env,
            rnd.uniform(1.5, 4.5))
        whole = [ln.split() for ln in lines if ln.endswith("\n")]
        acknowledged = [(int(w[1]), w[2]) for w in whole if w and w[0] == "R" and len(w) == 3]
        pushed = [(w[1], float(w[2]), w[3] == "1") for w in whole if w and w[0] == "V" and len(w) == 4]

        journal = Journal.open(evidence)
        open_rid = Recorder._open_recording(journal)
        planted = None
        if open_rid is not None and attempt % 2 == 0:
            # a playable file planted as the open recording's next segment
            directory = evidence / "media" / open_rid
            planted = directory / f"{open_rid}-00090.{container}"
            SyntheticCamera(seconds=1, gop=15).write(planted, container)
            planted_files.append(planted.relative_to(evidence).as_posix())
        report = Recorder.recover(evidence, identity=cam, cert=cert)
        journal = Journal.open(evidence)
        by_seq = {r.seq: r.hash.hex() for r in journal.records}
        for seq, head in acknowledged:
            assert by_seq.get(seq) == head, f"record {seq} acknowledged before the kill was lost"
        signed = {r.body["file"] for r in journal.records if r.type == "segment"}
        assert not signed & set(planted_files), "a planted file was signed"
        if planted is not None:
            assert f"unattested/{planted.relative_to(evidence).as_posix()}" in report.unattested
        if open_rid is not None and pushed and pushed[-1][0] == open_rid:
            ends = [max(sp["end_pts"] * Fraction(*sp["time_base"]) for sp in r.body["spans"] if sp["stream"] == 0)
                    for r in journal.records if r.type == "segment" and r.body["recording"] == open_rid
                    and any(sp["stream"] == 0 for sp in r.body["spans"])]
            covered = float(max(ends)) if ends else min(t for rid, t, _ in pushed if rid == open_rid)
            losses.append(pushed[-1][1] - covered)
            in_mute.append(pushed[-1][2])
    print(container, "video lost per kill mid-recording (s):", [round(x, 2) for x in losses], "muted:", in_mute)
    assert len(losses) >= 3 and any(in_mute), "too few kills landed mid-recording, or none during a mute"
    assert max(losses) <= bound, losses
    verdict = verify_evidence(evidence, _anchors(root))
    # (the child's feed jumps 1 s each time it loops over the clip: timing gaps are real there)
    assert [(f.code, f.message) for f in verdict.findings if f.failed and f.code != "content.timing_gap"] == []
    recovered = [s for r in verdict.recordings for s in r.segments if s.recovered]
    assert all(s.status == "ok" for s in recovered)


def test_journal_stays_under_two_megabytes_per_recorded_hour(tmp_path, pki, media_dir):
    """Journal bytes per recorded hour at the defaults (10 s segments, fragments of 3 s), 1 s GOPs, A+V.

    Format 1.5: `segment` records carry no chunk table (the signed sidecar
    does) and `segment.progress` records only BLAKE3. Before, ~3.4 MB/h.
    """
    root, cam, cert = pki
    from bwc_core.capture.synthetic import SyntheticCamera

    clip = SyntheticCamera(seconds=60, gop=30, width=640, height=360).write(media_dir / "hour.mp4")
    src = MediaSource(clip)
    packets = list(src)
    with Recorder(tmp_path, identity=cam, cert=cert, streams=src.streams,
                  policy=RecordingPolicy(pre_event_seconds=0)) as rec:
        assert rec.progress_seconds == 3 and rec.policy.segment_seconds == 10  # the defaults measured
        before = rec.journal.seq
        rec.activate(trigger="button")
        for p in packets:
            rec.push(p)
            rec.flush_progress(5)
        rec.deactivate(DeactivationReason.EVENT_COMPLETE)
    lines = (tmp_path / "journal.jsonl").read_bytes().splitlines(keepends=True)
    journal = Journal.open(tmp_path)
    sizes: dict[str, list[int]] = {}
    for r, line in zip(journal.records, lines, strict=False):
        if r.seq > before:
            sizes.setdefault(r.type, []).append(len(line))
    assert all("chunks" not in r.body for r in journal.records if r.type == "segment")
    journal.close()
    seconds = float(max(p.pts_seconds for p in packets if p.kind == "video")) + 1 / 30
    # What grows with recorded time; the rest (open, notice, close) is a few kB per recording.
    per_hour = {t: sum(sizes[t]) * 3600 / seconds for t in ("segment", "segment.progress")}
    print({t: (len(v), round(sum(v) / len(v))) for t, v in sizes.items()},
          {t: round(v) for t, v in per_hour.items()})
    assert len(sizes["segment"]) == 6 and len(sizes["segment.progress"]) >= 20
    assert sum(per_hour.values()) < 2_000_000, per_hour
    assert sum(sum(v) for t, v in sizes.items() if t not in per_hour) < 4000
    assert verify_evidence(tmp_path, _anchors(root)).ok
