"""Tamper matrix of the journal's origin and shape.

Role confusion (only camera keys keep a device journal), time going backwards
(a stolen key backdating records), a second opener that destroyed the
holder's record (nothing is cut or written without the journal's lock), and
the record spec (format 2.2: one signature per envelope; 2.5: the fields of
each record type). Evidence is real media segmented in every container and a
real signed journal; attacks re-sign with real keys, as a key thief would.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bwc_core import cli
from bwc_core.capture.recorder import Recorder, RecordingPolicy
from bwc_core.errors import CertificateError, JournalError, TrustError
from bwc_core.format.canonical import parse_canonical
from bwc_core.format.envelope import RECORD_TYPE, Envelope, Signature, record_hash, sign
from bwc_core.format.journal import GENESIS_PREV, RECORD_TYPES, Journal, read_lines, validate_chain
from bwc_core.format.keys import UNSAFE_NO_ORIGIN, Certificate, Identity, Revocation, RevocationList, TrustAnchors
from bwc_core.media.source import MediaSource
from bwc_core.verify import verify_evidence

CONTAINERS = ["mp4", "mkv", "ts"]
NS = 1_000_000_000
START = (int(time.time()) - 3600) * NS  # inside the test certificates' validity


class Clock:
    """A device wall clock: +1 s per reading; ``step`` moves it (an NTP or dock correction)."""

    def __init__(self, start: int = START) -> None:
        self.now = start

    def __call__(self) -> int:
        self.now += NS
        return self.now

    def step(self, delta_ns: int) -> None:
        self.now += delta_ns


@pytest.fixture(scope="module", params=CONTAINERS)
def pristine(request, tmp_path_factory, trust, av_clip, make_evidence):
    """One recording (A+V, 4 segments) in each container, journaled by the camera key."""
    out = tmp_path_factory.mktemp(f"journal-{request.param}") / "evidence"
    return make_evidence(out, [av_clip], trust.cam, trust.cert, container=request.param, clock=Clock())


@pytest.fixture
def ev(tmp_path, pristine):
    return Path(shutil.copytree(pristine, tmp_path / "evidence"))


def anchors_of(trust, *revocations):
    return TrustAnchors([trust.root_pub], revocations=revocations)


def lines_of(ev: Path) -> list[bytes]:
    return read_lines(ev)


def body_of(line: bytes) -> dict:
    return parse_canonical(base64.b64decode(json.loads(line)["payload"]))


def forge(lines: list[bytes], signer, edit=lambda i, body: body) -> list[bytes]:
    """Re-sign a whole chain with ``signer`` after ``edit(index, body)``: what a key holder can do."""
    out, prev = [], GENESIS_PREV
    for i, line in enumerate(lines):
        body = edit(i, dict(body_of(line)))
        body["prev"] = prev
        env = sign(RECORD_TYPE, body, signer)
        prev = record_hash(env).hex()
        out.append((env.dumps() + "\n").encode())
    return out


def failed_codes(report) -> set[str]:
    return {f.code for f in report.findings if f.failed}


def human(ev: Path, trust, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(["verify", str(ev), "--trust", str(trust.root_pub)])
    return code, capsys.readouterr().out


# --- 7: role confusion ------------------------------------------------------------------


@pytest.mark.parametrize("role", ["dock", "server"])
def test_a_root_certified_non_camera_key_keeping_a_camera_journal_fails(ev, trust, role, capsys):
    key = Identity.generate(role, f"{role.upper()}-7")
    cert = trust.root.certify(key, days=30, not_before=START // NS - 86400)

    def as_that_key(i, body):
        body["device"] = key.id
        if i == 0:
            body["certificate"] = cert.to_json()
        return body

    (ev / "journal.jsonl").write_bytes(b"".join(forge(lines_of(ev), key, as_that_key)))
    report = verify_evidence(ev, anchors_of(trust))
    assert failed_codes(report) == {"cert.wrong_role"}, report.findings
    assert report.verdicts["origin"] == "fail"
    assert report.device["role"] == role and report.device["certificates"][0]["role"] == role
    # without trust anchors the certificate's own role still disqualifies it
    assert "cert.wrong_role" in failed_codes(verify_evidence(ev, UNSAFE_NO_ORIGIN))
    code, out = human(ev, trust, capsys)
    assert code == 1 and f"signer {role} {key.id}  key {key.key_id[:16]}" in out
    assert "cert.wrong_role" in out
    html = ev.parent / "report.html"
    assert cli.main(["verify", str(ev), "--trust", str(trust.root_pub), "--html", str(html)]) == 1
    assert f"<td>{key.id}</td><td>{role}</td>" in html.read_text(encoding="utf-8")


def test_the_camera_key_passes_and_the_report_shows_its_role(pristine, trust, capsys):
    report = verify_evidence(pristine, anchors_of(trust))
    assert report.ok and not report.findings, report.findings
    assert report.device["role"] == "camera"
    assert report.to_json()["device"]["certificates"][0]["role"] == "camera"
    code, out = human(pristine, trust, capsys)
    assert code == 0 and f"signer camera BWC-0001  key {trust.cam.key_id[:16]}…  from seq 0" in out


def test_a_rotation_to_a_dock_key_is_wrong_role(tmp_path, trust):
    cam = trust.cam
    j = Journal.create(tmp_path, cam, trust.cert, clock=Clock(), sync="none")
    j.append("clock.sync", {"source": "dock", "offset_ns": 0})
    dock = Identity.generate("dock", "BWC-0001")  # a dock certified under the camera's name
    dock_cert = trust.root.certify(dock, days=30, not_before=START // NS - 86400)
    with pytest.raises(TrustError, match="camera"):
        j.rotate(dock, dock_cert)  # the writer refuses ...
    j.close()
    lines = read_lines(tmp_path)
    last = body_of(lines[-1])
    rotate = {"type": "key.rotate", "seq": 2, "prev": record_hash(Envelope.from_json(lines[-1])).hex(),
              "device": "BWC-0001", "time": last["time"] + NS, "certificate": dock_cert.to_json()}
    env = sign(RECORD_TYPE, rotate, cam)  # ... a forger does it by hand
    after = {"type": "clock.sync", "seq": 3, "prev": record_hash(env).hex(), "device": "BWC-0001",
             "time": last["time"] + 2 * NS, "source": "dock", "offset_ns": 0}
    forged = lines + [(env.dumps() + "\n").encode(), (sign(RECORD_TYPE, after, dock).dumps() + "\n").encode()]
    findings = validate_chain(forged, anchors_of(trust))
    assert {f.code for f in findings if f.failed} == {"cert.wrong_role"}
    assert [f.where["first_seq"] for f in findings if f.code == "cert.wrong_role"] == [3]


@pytest.mark.parametrize("role", ["dock", "server"])
def test_the_writer_refuses_a_non_camera_key(tmp_path, trust, role):
    key = Identity.generate(role, "X-1")
    with pytest.raises(TrustError, match="camera"):
        Journal.create(tmp_path, key, trust.root.certify(key))
    assert not (tmp_path / "journal.jsonl").exists()


# --- 8: time going backwards ----------------------------------------------------------------


@pytest.mark.parametrize("when", ["before_previous", "before_genesis"])
def test_a_backdated_record_is_reported(ev, trust, when):
    lines = lines_of(ev)
    target = next(i for i, ln in enumerate(lines) if body_of(ln)["type"] == "segment")
    genesis_time = body_of(lines[0])["time"]

    def backdate(i, body):
        if i == target:
            body["time"] = body_of(lines[i - 1])["time"] - 1 if when == "before_previous" else genesis_time - NS
        return body

    (ev / "journal.jsonl").write_bytes(b"".join(forge(lines, trust.cam, backdate)))
    report = verify_evidence(ev, anchors_of(trust))
    assert failed_codes(report) == {"journal.time_backwards"}, report.findings
    hit = next(f for f in report.findings if f.code == "journal.time_backwards")
    assert hit.where["seq"] == target and hit.verdict.value == "origin"


def test_a_stolen_key_cannot_backdate_below_its_revocation_time(ev, trust):
    """The camera's key leaks; the root revokes it from after the camera's last record.
    A record appended with the stolen key and dated after ``revoked_at`` is
    cert.revoked; dated earlier, under ``revoked_at``, it is time_backwards."""
    lines = lines_of(ev)
    last = body_of(lines[-1])
    revoked_at = last["time"] // NS + 60
    rl = RevocationList.create(trust.root, [Revocation(revoked_at, "key leaked", key_id=trust.cam.key_id)],
                               issued_at=revoked_at + 3600)
    assert verify_evidence(ev, anchors_of(trust, rl)).ok  # everything the camera signed stays valid

    def planted(time_ns):
        body = {"type": "event", "seq": last["seq"] + 1, "prev": record_hash(Envelope.from_json(lines[-1])).hex(),
                "device": "BWC-0001", "time": time_ns, "kind": "marker", "recording": None,
                "media": None, "last_frame": None, "label": "planted"}
        return (sign(RECORD_TYPE, body, trust.cam).dumps() + "\n").encode()

    (ev / "journal.jsonl").write_bytes(b"".join(lines + [planted((revoked_at + 5) * NS)]))
    assert failed_codes(verify_evidence(ev, anchors_of(trust, rl))) == {"cert.revoked"}
    (ev / "journal.jsonl").write_bytes(b"".join(lines + [planted(body_of(lines[2])["time"])]))
    assert failed_codes(verify_evidence(ev, anchors_of(trust, rl))) == {"journal.time_backwards"}


@pytest.mark.parametrize("container", CONTAINERS)
def test_a_camera_whose_clock_steps_back_never_false_alarms(tmp_path, trust, av_clip, container):
    clock = Clock()
    with MediaSource(av_clip) as src:
        rec = Recorder(tmp_path, identity=trust.cam, cert=trust.cert, streams=src.streams, clock=clock,
                       policy=RecordingPolicy(pre_event_seconds=1, segment_seconds=2, container=container))
        packets = iter(src)
        for p in packets:
            rec.push(p)
            if p.pts_seconds >= 1.5:
                break
        rec.activate()
        for p in packets:
            rec.push(p)
            if p.pts_seconds >= 4.5:
                break
        clock.step(-3600 * NS)  # NTP steps the wall clock back an hour mid-recording
        rec.clock_sync("ntp", -3600 * NS)
        rec.mark("after the step")
        for p in packets:
            rec.push(p)
        rec.deactivate("event_complete")
        rec.close()
    records = Journal.open(tmp_path).records
    times = [r.time for r in records]
    assert times == sorted(times)
    sync = next(r for r in records if r.type == "clock.sync")
    assert sync.body["offset_ns"] == -3600 * NS and sync.time == records[sync.seq - 1].time
    assert clock.now < sync.time  # the clock really was behind the journal
    report = verify_evidence(tmp_path, anchors_of(trust))
    assert report.ok and not [f for f in report.findings if f.severity.value != "info"], report.findings


def test_the_writer_clamps_its_clock_and_refuses_an_explicit_backdate(tmp_path, trust):
    readings = iter([START, START + 5 * NS, START + 2 * NS, START + 9 * NS])
    j = Journal.create(tmp_path, trust.cam, trust.cert, clock=lambda: next(readings), sync="none")
    a = j.append("clock.sync", {"source": "ntp", "offset_ns": 0})
    b = j.append("clock.sync", {"source": "ntp", "offset_ns": -3 * NS})
    c = j.append("clock.sync", {"source": "ntp", "offset_ns": 0})
    assert [a.time, b.time, c.time] == [START + 5 * NS, START + 5 * NS, START + 9 * NS]
    with pytest.raises(ValueError, match="before the previous"):
        j.append("clock.sync", {"source": "ntp", "offset_ns": 0}, wall_time=START + 8 * NS)
    j.close()
    assert not [f for f in validate_chain(read_lines(tmp_path), anchors_of(trust)) if f.failed]


# --- 12: nothing is cut or written without the lock -------------------------------------------


class PausedWrite:
    """Makes a journal's next append stop after writing part of its line, until released."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.paused = threading.Event()
        self.resume = threading.Event()
        self.error: BaseException | None = None
        journal._write = self._write  # instance attribute: only this journal's appends

    def _write(self, line: bytes) -> None:
        half = len(line) // 2
        os.write(self.journal._fd, line[:half])
        self.paused.set()
        assert self.resume.wait(30)
        self.journal._size += half
        Journal._write(self.journal, line[half:])

    def append_in_thread(self) -> threading.Thread:
        def run():
            try:
                self.journal.append("clock.sync", {"source": "dock", "offset_ns": 7})
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                self.error = exc

        t = threading.Thread(target=run)
        t.start()
        assert self.paused.wait(30)
        return t


def test_no_opener_cuts_the_holders_record_mid_write(ev, trust, av_clip):
    holder = Journal.open(ev, trust.cam, clock=Clock(START + 7200 * NS))
    hook = PausedWrite(holder)
    writer = hook.append_in_thread()
    path = ev / "journal.jsonl"
    during = path.read_bytes()
    assert not during.endswith(b"\n")  # the holder's line is half written
    try:
        with pytest.raises(JournalError, match="open for writing elsewhere"):
            Journal.open(ev, trust.cam)
        assert path.read_bytes() == during
        reader = Journal.open(ev, strict=False)
        assert reader.torn_tail is not None and reader.torn_tail.truncated is False
        assert path.read_bytes() == during
        report = verify_evidence(ev, anchors_of(trust))
        assert report.ok and "journal.torn_tail" in report.codes()
        assert path.read_bytes() == during
        with pytest.raises(JournalError, match="open for writing elsewhere"):
            Recorder.recover(ev, identity=trust.cam)
        assert path.read_bytes() == during
        with MediaSource(av_clip) as src, pytest.raises(JournalError, match="open for writing elsewhere"):
            Recorder(ev, identity=trust.cam, cert=trust.cert, streams=src.streams)
        assert path.read_bytes() == during
    finally:
        hook.resume.set()
        writer.join(30)
    assert hook.error is None
    holder.close()
    records = Journal.open(ev).records
    assert records[-1].type == "clock.sync" and records[-1].body["offset_ns"] == 7
    report = verify_evidence(ev, anchors_of(trust))
    assert report.ok and not report.findings, report.findings


def test_a_writer_cuts_a_torn_tail_only_under_the_lock_and_only_when_valid(tmp_path, trust):
    j = Journal.create(tmp_path, trust.cam, trust.cert, clock=Clock())
    j.append("clock.sync", {"source": "dock", "offset_ns": 0})
    j.close()
    path = tmp_path / "journal.jsonl"
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"payloadType":"appli')  # a crash mid-append
    # a journal that does not validate is refused as it is: nothing cut
    lines = read_lines(tmp_path)
    path.write_bytes(lines[0] + lines[0] + lines[1] + lines[2])
    with pytest.raises(JournalError, match="does not validate"):
        Journal.open(tmp_path, trust.cam)
    assert path.read_bytes() == lines[0] + lines[0] + lines[1] + lines[2]
    # a valid one: the writer (holding the lock) cuts the torn line and goes on
    path.write_bytes(whole + b'{"payloadType":"appli')
    again = Journal.open(tmp_path, trust.cam, clock=Clock(START + 100 * NS))
    assert again.torn_tail is not None and again.torn_tail.truncated
    assert path.read_bytes() == whole
    again.close()


# --- 16: one signature per envelope; the fields of each record type ------------------------------


@pytest.mark.parametrize("extra", ["unknown_key", "same_key_again", "bad_signature_first"])
def test_a_record_envelope_with_several_signatures_is_malformed(ev, trust, extra):
    lines = lines_of(ev)
    i = 3
    env = Envelope.from_json(lines[i])
    good = env.signatures[0]
    if extra == "unknown_key":
        other = Identity.generate("camera", "BWC-0002")
        sigs = (good, Signature(other.key_id, other.sign(env.pae())))
    elif extra == "same_key_again":
        sigs = (good, good)
    else:
        sigs = (Signature(good.keyid, bytes(64)), good)
    lines[i] = (Envelope(env.payload_type, env.payload, sigs).dumps() + "\n").encode()
    (ev / "journal.jsonl").write_bytes(b"".join(lines))
    report = verify_evidence(ev, anchors_of(trust))
    assert "journal.malformed_line" in failed_codes(report), report.findings
    hit = next(f for f in report.findings if f.code == "journal.malformed_line")
    assert hit.where["line"] == i + 1 and "exactly one signature" in hit.message


@pytest.mark.parametrize("extra", ["unknown_key", "same_key_again"])
def test_an_exhibit_declaration_with_several_signatures_is_refused(pristine, trust, tmp_path, extra):
    from bwc_core.exhibit.build import build_exhibit
    from bwc_core.format.layout import EXHIBIT_MANIFEST
    from bwc_core.verify.exhibit import verify_exhibit

    ex = build_exhibit(pristine, "REC-001", tmp_path / "ex", trust=[trust.root_pub], **trust.signed)
    assert verify_exhibit(ex, anchors_of(trust)).ok
    env = Envelope.from_json((ex / EXHIBIT_MANIFEST).read_text())
    good = env.signatures[0]
    other = Identity.generate("server", "OTHER")
    second = Signature(other.key_id, other.sign(env.pae())) if extra == "unknown_key" else good
    doubled = Envelope(env.payload_type, env.payload, (good, second))
    (ex / EXHIBIT_MANIFEST).write_text(json.dumps(doubled.to_json()))
    report = verify_exhibit(ex, anchors_of(trust))
    assert "exhibit.signature_invalid" in failed_codes(report), report.findings


def test_a_certificate_with_several_signatures_is_malformed(trust):
    env = trust.cert.envelope
    other = Identity.generate("root", "OTHER-ROOT")
    doubled = Envelope(env.payload_type, env.payload,
                       env.signatures + (Signature(other.key_id, other.sign(env.pae())),))
    with pytest.raises(CertificateError, match="exactly one signature"):
        Certificate.from_envelope(doubled)
    rl = RevocationList.create(trust.root, [])
    with pytest.raises(CertificateError, match="exactly one signature"):
        RevocationList(Envelope(rl.envelope.payload_type, rl.envelope.payload, rl.envelope.signatures * 2))


def _edit_first(rtype, change):
    def edit(lines):
        i = next(k for k, ln in enumerate(lines) if body_of(ln)["type"] == rtype)

        def apply(k, body):
            if k == i:
                change(body)
            return body
        return i, apply
    return edit


_CHUNK = {"index": 0, "start": [0, 1], "duration": [1, 1], "payload_root": "01" * 32, "timing_hash": "02" * 32,
          "root": "03" * 32, "first_packet": 0, "packet_count": 1}

OFF_SPEC = {
    "segment_unknown_field": _edit_first("segment", lambda b: b.update(comment="re-encoded later")),
    "segment_missing_content_root": _edit_first("segment", lambda b: b.pop("content_root")),
    "segment_size_as_string": _edit_first("segment", lambda b: b.update(size=str(b["size"]))),
    # A chunk table (records before format 1.5 carry one) is checked field by field.
    "segment_chunk_unknown_field": _edit_first("segment", lambda b: b.update(chunks=[{**_CHUNK, "x": 1}])),
    "segment_chunk_start_zero_den": _edit_first("segment", lambda b: b.update(chunks=[{**_CHUNK, "start": [1, 0]}])),
    "genesis_unknown_field": _edit_first("device.genesis", lambda b: b.update(note="x")),
    "open_officer_not_a_string": _edit_first("recording.open", lambda b: b.update(officer=4711)),
    "event_unknown_kind": _edit_first("event", lambda b: b.update(kind="teleport")),
    "event_missing_media": _edit_first("event", lambda b: b.pop("media")),
    "close_segments_boolean": _edit_first("recording.close", lambda b: b.update(segments=True)),
    "close_unknown_reason": _edit_first("recording.close", lambda b: b.update(reason="bored")),
}


@pytest.mark.parametrize("case", sorted(OFF_SPEC))
def test_a_signed_record_off_spec_is_malformed_record(ev, trust, case):
    lines = lines_of(ev)
    i, apply = OFF_SPEC[case](lines)
    (ev / "journal.jsonl").write_bytes(b"".join(forge(lines, trust.cam, apply)))
    report = verify_evidence(ev, anchors_of(trust))
    assert "journal.malformed_record" in failed_codes(report), report.findings
    hit = next(f for f in report.findings if f.code == "journal.malformed_record")
    assert hit.where["seq"] == i
    assert "journal.gap" not in report.codes()  # the record is there, just not usable


@pytest.mark.parametrize("container", CONTAINERS)
def test_every_record_type_the_camera_writes_is_on_spec(tmp_path, trust, av_clip, container):
    """A shift with every control, a clock correction, a key rotation, then a crash and recovery:
    every record type of format 2.5 appears, and the verifier finds nothing."""
    clock = Clock()
    ev = tmp_path / "ev"
    src = MediaSource(av_clip)  # open while recording: the segmenter copies codec configuration from it
    streams = src.streams
    packets = list(src)
    policy = RecordingPolicy(pre_event_seconds=1, segment_seconds=2, container=container)
    rec = Recorder(ev, identity=trust.cam, cert=trust.cert, streams=streams, clock=clock, policy=policy)
    feed = iter(packets)

    def push_until(t):
        for p in feed:
            rec.push(p)
            if p.pts_seconds >= t:
                return

    push_until(1.0)
    rec.activate(trigger="holster", officer="P-1")
    rec.notify()
    rec.mute()
    push_until(2.5)
    rec.unmute()
    rec.mark("door")
    rec.clock_sync("dock", 1234)
    push_until(4.0)
    rec.deactivate("other", note="asked to stop")
    rec.sleep()
    rec.wake()
    rec.close()
    new_cam = Identity.generate("camera", "BWC-0001")
    new_cert = trust.root.certify(new_cam, days=30, not_before=START // NS - 86400)
    j = Journal.open(ev, trust.cam, clock=clock)
    j.rotate(new_cam, new_cert)
    j.close()
    rec = Recorder(ev, identity=new_cam, cert=new_cert, streams=streams, clock=clock, policy=policy,
                   progress_seconds=1)
    push_until(5.0)
    rid = rec.activate()
    push_until(8.0)
    rec.flush_progress(30)  # the segment being written is attested (segment.progress)
    rec.deactivate("event_complete")
    rec.close()
    src.close()
    # The battery died just before the recording's last segment record: what
    # was journaled from there on never reached the disk (the files did).
    lines = read_lines(ev)
    last = max(i for i, ln in enumerate(lines)
               if body_of(ln)["type"] == "segment" and body_of(ln)["recording"] == rid)
    (ev / "journal.jsonl").write_bytes(b"".join(lines[:last]))
    Recorder.recover(ev, identity=new_cam, clock=clock)
    types = {r.type for r in Journal.open(ev).records}
    assert types == set(RECORD_TYPES), set(RECORD_TYPES) - types
    report = verify_evidence(ev, anchors_of(trust))
    assert not failed_codes(report), report.findings
    assert "journal.malformed_record" not in report.codes()


def test_every_record_type_has_a_field_table():
    """A record type added to the journal needs its fields in bwc_core.format.records (and format 2.5)."""
    from bwc_core.format.records import RECORD_FIELDS

    assert set(RECORD_FIELDS) == set(RECORD_TYPES)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.integers(-10**12, 10**12), min_size=1, max_size=12))
def test_whatever_the_clock_does_the_camera_never_writes_time_backwards(tmp_path_factory, trust, steps):
    """Any sequence of clock readings (steps back and forth, repeats): times never decrease
    and the chain has no finding at all."""
    readings = iter([START + sum(steps[:i]) for i in range(len(steps) + 1)])
    d = tmp_path_factory.mktemp("clock")
    j = Journal.create(d, trust.cam, trust.cert, clock=lambda: next(readings), sync="none")
    for _ in steps:
        j.append("clock.sync", {"source": "ntp", "offset_ns": 0})
    j.close()
    times = [r.time for r in Journal.open(d).records]
    assert times == sorted(times)
    assert not [f for f in validate_chain(read_lines(d), anchors_of(trust)) if f.failed]


def test_bwc_seal_with_a_dock_key_is_refused_before_writing(tmp_path, trust, video_clip, capsys):
    dock = Identity.generate("dock", "DOCK-1")
    dock.save(tmp_path / "DOCK-1.key")
    trust.root.certify(dock, days=5).save(tmp_path / "DOCK-1.cert.json")
    code = cli.main(["seal", str(video_clip), "--key", str(tmp_path / "DOCK-1.key"),
                     "--cert", str(tmp_path / "DOCK-1.cert.json"), "--out", str(tmp_path / "ev")])
    assert code == 2 and "camera keys only" in capsys.readouterr().err
    assert not (tmp_path / "ev").exists()
