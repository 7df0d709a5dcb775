"""The signed journal: append, reopen, crash tails, and tampering found by validation."""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bwc_core.errors import CanonicalJSONError, JournalError, TrustError
from bwc_core.format.canonical import canonical_bytes
from bwc_core.format.envelope import RECORD_TYPE, Envelope, pae, record_hash, sign, sign_payload
from bwc_core.format.findings import Severity, Verdict
from bwc_core.format.journal import (
    EVENT,
    GENESIS_PREV,
    KEY_ROTATE,
    RECORD_TYPES,
    SEGMENT,
    Journal,
    read_lines,
    validate_chain,
    validate_journal,
)
from bwc_core.format.keys import UNSAFE_NO_ORIGIN, Identity, Revocation, RevocationList, TrustAnchors
from bwc_core.format.layout import JOURNAL_NAME

DATA = Path(__file__).parent / "data"
T0 = 1_700_000_000
NS = 1_000_000_000


class Clock:
    """Injectable clock: unix ns, one second per reading."""

    def __init__(self, start_s: int = T0 + 60) -> None:
        self.now = start_s * NS

    def __call__(self) -> int:
        self.now += NS
        return self.now


@pytest.fixture(scope="module")
def cert(root, cam):
    return root.certify(cam, days=365, not_before=T0)


def event(kind="marker", **extra):
    """An ``event`` body with exactly the fields format 2.5 defines for it."""
    body = {"kind": kind, "recording": None, "media": None, "last_frame": None}
    if kind == "marker":
        extra.setdefault("label", "")
    body.update(extra)
    return body


def example_body(rtype, text=""):
    """A body of ``rtype`` with the fields format 2.5 requires (``text`` in a free string field)."""
    frame = {"stream": 0, "pts": 3, "dts": 1, "time_base": [1, 90000], "keyframe": True}
    policy = {"pre_event_seconds": 30, "pre_event_audio": False, "segment_seconds": 10, "container": "mp4"}
    digests = {"blake3": "ab" * 32, "sha256": "cd" * 32}
    ref = {"file": "media/R/R-00000.mp4", "size": 5, "digests": digests}
    return {
        "power.on": {"policy": policy},
        "power.off": {"dropped": {"sleep": 0, "standby": 1, "muted_audio": 2, "awaiting_keyframe": 3}},
        "recording.open": {"recording": "R-" + text, "trigger": "button", "officer": text or None,
                           "policy": policy, "pre_event": {"packets": 1, "first": frame}},
        "segment": {"recording": "R", "index": 0, "file": "media/R/R-00000.mp4", "container": "mp4",
                    "size": 5, "digests": digests, "content_root": "ef" * 32,
                    "leaves": {**ref, "file": "media/R/R-00000.mp4.leaves"},
                    "chunks": [{"index": 0, "start": [0, 1], "duration": [1, 1], "payload_root": "01" * 32,
                                "timing_hash": "02" * 32, "root": "03" * 32, "first_packet": 0,
                                "packet_count": 1}],
                    "streams": [{"index": 0, "kind": "video", "codec": "h264", "time_base": [1, 90000],
                                 "width": 64, "height": 48}],
                    "spans": [{"stream": 0, "time_base": [1, 90000], "first_pts": 0, "last_pts": 0,
                               "end_pts": 3000, "first_dts": 0, "last_dts": 0, "packets": 1}],
                    "cut": [0, 1], "start": [0, 1], "end": [1, 30], "packet_count": 1, "pre_event": False,
                    "recovered": False},
        "event": event("marker", label=text, media=frame, last_frame=frame),
        "recording.close": {"recording": "R", "segments": 1, "reason": "event_complete"},
        "recovery": {"recording": "R", "reason": "power_loss", "salvaged": [text], "lost": [],
                     "unattested": ["unattested/R/R-00001.mp4"]},
        "segment.progress": {"recording": "R", "index": 0, "file": "media/R/R-00000.mp4", "size": 4096,
                             "digests": digests},
        "clock.sync": {"source": text or "ntp", "offset_ns": -5},
    }[rtype]


def make_journal(directory, cam, cert, n=6, **kw):
    j = Journal.create(directory, cam, cert, clock=Clock(), **kw)
    for i in range(n):
        j.append(EVENT, event(label=f"m{i}"))
    j.close()
    return directory


def codes(findings, failed_only=True):
    return sorted({f.code for f in findings if f.failed or not failed_only})


def write_lines(directory, lines):
    (Path(directory) / JOURNAL_NAME).write_bytes(b"".join(lines))


# --- writing and reading ---------------------------------------------------------------


def test_create_append_and_reopen(tmp_path, cam, cert, anchors):
    j = Journal.create(tmp_path, cam, cert, clock=Clock())
    genesis = j.records[0]
    assert genesis.type == "device.genesis" and genesis.seq == 0
    assert genesis.prev == GENESIS_PREV and genesis.device == "BWC-0001"
    assert genesis.body["certificate"] == cert.to_json()
    r1 = j.append(SEGMENT, example_body(SEGMENT))
    r2 = j.append(EVENT, event(), wall_time=(T0 + 100) * NS)
    assert (r1.seq, r2.seq) == (1, 2)
    assert r1.prev == genesis.hash_hex and r2.prev == r1.hash_hex
    assert r2.time == (T0 + 100) * NS and j.head == r2.hash and j.seq == 2
    j.close()

    lines = read_lines(tmp_path)
    assert len(lines) == 3 and all(line.endswith(b"\n") for line in lines)
    env = Envelope.from_json(lines[2])
    assert env.payload == canonical_bytes(r2.body)  # stored payload is canonical JSON
    assert record_hash(env) == r2.hash
    assert validate_journal(tmp_path, anchors) == []

    again = Journal.open(tmp_path, cam, clock=Clock(T0 + 999))
    assert again.seq == 2 and again.head == r2.hash and again.torn_tail is None
    r3 = again.append(EVENT, event("notice"))
    assert r3.seq == 3 and r3.prev == r2.hash_hex
    again.close()
    assert validate_journal(tmp_path, anchors) == []


def test_unsafe_no_origin_is_reported_as_a_warning(tmp_path, cam, cert):
    make_journal(tmp_path, cam, cert, n=1)
    findings = validate_journal(tmp_path, UNSAFE_NO_ORIGIN)
    assert [(f.code, f.severity) for f in findings] == [("origin.unchecked", Severity.WARNING),
                                                        ("cert.unchecked", Severity.INFO)]


def test_append_rejects_bad_input_and_changes_nothing(tmp_path, cam, cert):
    j = Journal.create(tmp_path, cam, cert, clock=Clock())
    size = (tmp_path / JOURNAL_NAME).stat().st_size
    with pytest.raises(ValueError, match="reserved"):
        j.append(EVENT, {"seq": 5})
    with pytest.raises(ValueError, match="record type"):
        j.append("nonsense", {})
    with pytest.raises(ValueError, match="rotate"):
        j.append(KEY_ROTATE, {})
    with pytest.raises(ValueError):
        j.append("device.genesis", {})
    with pytest.raises(CanonicalJSONError):
        j.append(EVENT, {"duration": 1.5})
    with pytest.raises(ValueError):
        j.append(EVENT, {}, wall_time=1.0)
    assert j.seq == 0 and (tmp_path / JOURNAL_NAME).stat().st_size == size
    j.close()


def test_create_refuses_existing_and_mismatched_cert(tmp_path, root, cam, cert):
    make_journal(tmp_path, cam, cert, n=0)
    with pytest.raises(JournalError, match="exists"):
        Journal.create(tmp_path, cam, cert)
    other = Identity.generate("camera", "BWC-0002")
    with pytest.raises(TrustError):
        Journal.create(tmp_path / "x", other, cert)


def test_read_only_and_single_writer(tmp_path, cam, cert):
    make_journal(tmp_path, cam, cert, n=1)
    ro = Journal.open(tmp_path)
    assert not ro.writable
    with pytest.raises(JournalError, match="read-only"):
        ro.append(EVENT, event())
    w = Journal.open(tmp_path, cam)
    with pytest.raises(JournalError, match="elsewhere"):
        Journal.open(tmp_path, cam)
    w.close()
    other = Identity.generate("camera", "BWC-0009")
    with pytest.raises(JournalError, match="device key"):
        Journal.open(tmp_path, other)


@pytest.mark.parametrize("sync", ["always", "batch", "none"])
def test_sync_modes_write_whole_lines_immediately(tmp_path, cam, cert, sync):
    j = Journal.create(tmp_path, cam, cert, clock=Clock(), sync=sync, batch_records=3)
    for i in range(5):
        j.append(EVENT, event(label=str(i)))
        # every record is in the file (page cache at least) when append returns
        assert len(read_lines(tmp_path)) == i + 2
    j.close()
    with pytest.raises(ValueError):
        Journal.open(tmp_path, sync="sometimes")


# --- crash tails ------------------------------------------------------------------------


def test_torn_last_line_is_cut_off_and_reported(tmp_path, cam, cert, anchors, caplog):
    make_journal(tmp_path, cam, cert, n=3)
    path = tmp_path / JOURNAL_NAME
    good = path.read_bytes()
    torn = b'{"payloadType":"application/vnd.bwc-core.record.v1+json","payload":"eyJk'
    path.write_bytes(good + torn)

    # a verifier sees it as a warning, not tampering
    findings = validate_journal(tmp_path, anchors)
    assert [(f.code, f.severity) for f in findings] == [("journal.torn_tail", Severity.WARNING)]

    # read-only open reports it and leaves the file alone
    ro = Journal.open(tmp_path)
    assert ro.torn_tail is not None and not ro.torn_tail.truncated
    assert path.read_bytes() == good + torn

    with caplog.at_level(logging.WARNING, logger="bwc_core.format.journal"):
        j = Journal.open(tmp_path, cam, clock=Clock(T0 + 500))
    assert j.torn_tail.offset == len(good) and j.torn_tail.data == torn and j.torn_tail.truncated
    assert "torn last line" in caplog.text
    assert "journal.torn_tail" in codes(j.findings, failed_only=False)
    assert path.read_bytes() == good  # earlier lines untouched, byte for byte
    assert j.seq == 3
    j.append(EVENT, event())
    j.close()
    assert path.read_bytes().startswith(good)
    assert validate_journal(tmp_path, anchors) == []


def test_last_record_missing_only_its_newline_is_kept(tmp_path, cam, cert, anchors):
    make_journal(tmp_path, cam, cert, n=2)
    path = tmp_path / JOURNAL_NAME
    path.write_bytes(path.read_bytes()[:-1])
    j = Journal.open(tmp_path, cam, clock=Clock(T0 + 500))
    assert j.torn_tail is None and j.seq == 2
    j.append(EVENT, event())
    j.close()
    assert len(read_lines(tmp_path)) == 4
    assert validate_journal(tmp_path, anchors) == []


# --- tampering ------------------------------------------------------------------------------


@pytest.fixture()
def lines(tmp_path, cam, cert):
    make_journal(tmp_path / "j", cam, cert, n=6)
    return read_lines(tmp_path / "j")


def test_line_edited(lines, anchors, cam):
    env = Envelope.from_json(lines[3])
    body = json.loads(env.payload)
    body["note"] = "changed"
    edited = Envelope(env.payload_type, canonical_bytes(body), env.signatures)
    tampered = lines[:3] + [(edited.dumps() + "\n").encode()] + lines[4:]
    findings = validate_chain(tampered, anchors)
    assert codes(findings) == ["journal.edited"]
    f = next(f for f in findings if f.code == "journal.edited")
    assert f.verdict is Verdict.INTEGRITY and f.where["line"] == 4


def test_line_edited_raw_byte(lines, anchors):
    raw = bytearray(lines[2])
    i = raw.index(b'"payload":"') + 20
    raw[i] = ord("A") if raw[i] != ord("A") else ord("B")
    assert codes(validate_chain(lines[:2] + [bytes(raw)] + lines[3:], anchors)) == ["journal.edited"]


def test_line_removed(lines, anchors):
    findings = validate_chain(lines[:3] + lines[4:], anchors)
    assert codes(findings) == ["journal.gap"]
    gap = findings[0]
    assert gap.verdict is Verdict.COMPLETENESS and gap.where["first_seq"] == 3


def test_lines_removed_range_and_genesis(lines, anchors):
    assert codes(validate_chain(lines[:2] + lines[5:], anchors)) == ["journal.gap"]
    assert "journal.gap" in codes(validate_chain(lines[1:], anchors))


def test_line_duplicated(lines, anchors):
    findings = validate_chain(lines[:4] + [lines[2]] + lines[4:], anchors)
    assert codes(findings) == ["journal.duplicate"]
    assert findings[0].where == {"line": 5, "seq": 2, "first_line": 3}


def test_lines_reordered(lines, anchors):
    swapped = lines[:2] + [lines[3], lines[2]] + lines[4:]
    findings = validate_chain(swapped, anchors)
    assert codes(findings) == ["journal.reorder"]
    assert findings[0].verdict is Verdict.COMPLETENESS


def test_line_signed_by_another_key(lines, anchors, cam):
    """Re-signed by a foreign key -> signature.invalid (origin): it is not the device key."""
    mallory = Identity.generate("camera", "BWC-0001")
    env = Envelope.from_json(lines[3])
    resigned = sign_payload(env.payload_type, env.payload, mallory)
    tampered = lines[:3] + [(resigned.dumps() + "\n").encode()] + lines[4:]
    findings = validate_chain(tampered, anchors)
    assert codes(findings) == ["signature.invalid"]
    assert findings[0].verdict is Verdict.ORIGIN
    # Same, but the forger keeps the device's keyid: the signature fails -> edited
    spoof = Envelope(env.payload_type, env.payload, ((cam.key_id, resigned.signatures[0].sig),))
    tampered = lines[:3] + [(spoof.dumps() + "\n").encode()] + lines[4:]
    assert codes(validate_chain(tampered, anchors)) == ["journal.edited"]


def test_whole_journal_signed_by_untrusted_device(tmp_path, anchors):
    """A self-consistent journal under a rogue root -> cert.untrusted (origin)."""
    rogue_root = Identity.generate("root", "ROGUE")
    fake = Identity.generate("camera", "BWC-0001")
    make_journal(tmp_path, fake, rogue_root.certify(fake, not_before=T0), n=2)
    findings = validate_journal(tmp_path, anchors)
    assert codes(findings) == ["cert.untrusted"]
    assert codes(validate_journal(tmp_path, UNSAFE_NO_ORIGIN)) == []


def test_wrong_device_field(tmp_path, cam, cert, anchors):
    make_journal(tmp_path, cam, cert, n=1)
    last = Journal.open(tmp_path).records[-1]
    body = {"type": EVENT, "seq": last.seq + 1, "prev": last.hash_hex, "device": "BWC-9999",
            "time": last.time + 1, **event()}
    env = sign(RECORD_TYPE, body, cam)
    lines = read_lines(tmp_path) + [(env.dumps() + "\n").encode()]
    assert codes(validate_chain(lines, anchors)) == ["journal.wrong_device"]


def test_fork(tmp_path, cam, cert, anchors):
    make_journal(tmp_path / "a", cam, cert, n=2)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    for name, note in (("a", "one"), ("b", "two")):
        j = Journal.open(tmp_path / name, cam, clock=Clock(T0 + 100))
        j.append(EVENT, event(label=note))
        j.close()
    a, b = read_lines(tmp_path / "a"), read_lines(tmp_path / "b")
    assert codes(validate_chain(a + b[-1:], anchors)) == ["journal.fork"]


def test_malformed_line(lines, anchors):
    assert codes(validate_chain(lines[:3] + [b"garbage\n"] + lines[3:], anchors)) == [
        "journal.malformed_line"]
    # replacing a line with garbage: malformed, and the missing seq is not a second finding
    assert codes(validate_chain(lines[:3] + [b"{}\n"] + lines[4:], anchors)) == [
        "journal.malformed_line"]


def test_empty_journal_is_a_gap(anchors):
    assert codes(validate_chain([], anchors)) == ["journal.gap"]


def test_open_refuses_tampered_journal(tmp_path, cam, cert, lines):
    write_lines(tmp_path / "j", lines[:2] + lines[3:])
    with pytest.raises(JournalError, match="journal.gap"):
        Journal.open(tmp_path / "j", cam)
    ro = Journal.open(tmp_path / "j", strict=False)
    assert "journal.gap" in codes(ro.findings)


# --- certificates over time ------------------------------------------------------------------


def test_records_after_expiry_and_revocation(tmp_path, root, cam):
    cert = root.certify(cam, days=1, not_before=T0)
    clock = Clock(T0 + 3600)
    j = Journal.create(tmp_path, cam, cert, clock=clock)
    j.append(EVENT, event())
    j.append(EVENT, event(), wall_time=(T0 + 2 * 86400) * NS)
    j.close()
    anchors = TrustAnchors([root.public_info()])
    findings = validate_journal(tmp_path, anchors)
    assert codes(findings) == ["cert.expired"]
    assert findings[0].where["first_seq"] == 2 and findings[0].where["count"] == 1

    rl = RevocationList.create(root, [Revocation(revoked_at=T0 + 3600 + 2, reason="stolen",
                                                 key_id=cam.key_id)])
    revoked = TrustAnchors([root.public_info()], revocations=[rl])
    found = codes(validate_journal(tmp_path, revoked))
    assert found == ["cert.revoked"]  # records 1 and 2 are at/after revoked_at; genesis is not


def test_key_rotation(tmp_path, root, cam, cert, anchors):
    new = Identity.generate("camera", "BWC-0001")
    new_cert = root.certify(new, not_before=T0)
    j = Journal.create(tmp_path, cam, cert, clock=Clock())
    j.append(EVENT, event())
    rot = j.rotate(new, new_cert)
    assert rot.type == KEY_ROTATE and rot.envelope.signatures[0].keyid == cam.key_id
    after = j.append(EVENT, event())
    assert after.envelope.signatures[0].keyid == new.key_id
    j.close()
    assert validate_journal(tmp_path, anchors) == []
    with pytest.raises(JournalError):
        Journal.open(tmp_path, cam)  # the retired key may no longer append
    j = Journal.open(tmp_path, new, clock=Clock(T0 + 999))
    j.append(EVENT, event())
    j.close()
    # a record after the rotation signed by the retired key
    last = Journal.open(tmp_path).records[-1]
    body = {"type": EVENT, "seq": last.seq + 1, "prev": last.hash_hex, "device": "BWC-0001",
            "time": last.time + 1}
    stale = sign(RECORD_TYPE, body, cam)
    lines = read_lines(tmp_path) + [(stale.dumps() + "\n").encode()]
    assert codes(validate_chain(lines, anchors)) == ["signature.invalid"]


# --- known-answer vector -------------------------------------------------------------------


def build_vector() -> dict:
    """Deterministic record vector (Ed25519 signatures are deterministic)."""
    root = Identity.from_seed("root", "CPD-ROOT", bytes(range(32)))
    cam = Identity.from_seed("camera", "BWC-0001", bytes(range(32, 64)))
    cert = root.certify(cam, days=365, not_before=T0, serial="00000000000000000000000000000001")
    genesis = {"type": "device.genesis", "seq": 0, "prev": GENESIS_PREV, "device": "BWC-0001",
               "time": (T0 + 60) * NS, "certificate": cert.to_json()}
    g_env = sign(RECORD_TYPE, genesis, cam)
    body = {"type": "event", "seq": 1, "prev": record_hash(g_env).hex(), "device": "BWC-0001",
            "time": (T0 + 61) * NS, "kind": "marker", "label": "é ✓", "recording": None,
            "media": {"stream": 0, "pts": 90000, "dts": 90000, "time_base": [1, 90000], "keyframe": True},
            "last_frame": None}
    env = sign(RECORD_TYPE, body, cam)
    return {
        "root_public_key": base64.b64encode(root.public_key).decode(),
        "root_key_id": root.key_id,
        "device_public_key": base64.b64encode(cam.public_key).decode(),
        "device_key_id": cam.key_id,
        "journal": [g_env.dumps(), env.dumps()],
        "record": {
            "envelope": env.to_json(),
            "payload_utf8": env.payload.decode(),
            "pae_hex": env.pae().hex(),
            "record_hash": record_hash(env).hex(),
        },
    }


def test_record_vector():
    stored = json.loads((DATA / "record_vector.json").read_text(encoding="utf-8"))
    assert build_vector() == stored
    rec = stored["record"]
    env = Envelope.from_json(rec["envelope"])
    assert env.payload.decode() == rec["payload_utf8"]
    assert pae(env.payload_type, env.payload).hex() == rec["pae_hex"]
    assert record_hash(env).hex() == rec["record_hash"]
    anchors = TrustAnchors([base64.b64decode(stored["root_public_key"])])
    assert validate_chain([line + "\n" for line in stored["journal"]], anchors) == []


@pytest.mark.skipif(shutil.which("b3sum") is None, reason="b3sum not installed")
def test_record_hash_matches_b3sum(tmp_path):
    rec = json.loads((DATA / "record_vector.json").read_text(encoding="utf-8"))["record"]
    (tmp_path / "pae").write_bytes(bytes.fromhex(rec["pae_hex"]))
    out = subprocess.run(["b3sum", "--derive-key", "bwc-core v1 record", "--no-names",
                          str(tmp_path / "pae")], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == rec["record_hash"]


# --- property: random journals -----------------------------------------------------------------

bodies = st.text(max_size=20)  # goes into a free string field of the record type's example body
record_types = st.sampled_from(sorted(RECORD_TYPES - {"device.genesis", "key.rotate"}))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(entries=st.lists(st.tuples(record_types, bodies), min_size=2, max_size=8), data=st.data())
def test_random_journals_validate_and_any_mutation_is_found(tmp_path_factory, cam, cert, anchors,
                                                            entries, data):
    d = tmp_path_factory.mktemp("rj")
    j = Journal.create(d, cam, cert, clock=Clock(), sync="none")
    for rtype, text in entries:
        j.append(rtype, example_body(rtype, text))
    j.close()
    reopened = Journal.open(d, cam, clock=Clock(T0 + 10_000))
    assert reopened.seq == len(entries)
    reopened.close()
    lines = read_lines(d)
    assert validate_chain(lines, anchors) == []

    n = len(lines)
    kind = data.draw(st.sampled_from(["delete", "duplicate", "swap", "flip", "truncate"]))
    if kind == "delete":
        i = data.draw(st.integers(0, n - 2))  # dropping the very last line is invisible by design
        mutated = lines[:i] + lines[i + 1:]
    elif kind == "duplicate":
        i, k = data.draw(st.integers(0, n - 1)), data.draw(st.integers(0, n))
        mutated = lines[:k] + [lines[i]] + lines[k:]
    elif kind == "swap":
        i = data.draw(st.integers(0, n - 2))
        k = data.draw(st.integers(i + 1, n - 1))
        mutated = list(lines)
        mutated[i], mutated[k] = mutated[k], mutated[i]
    elif kind == "flip":
        i = data.draw(st.integers(0, n - 1))
        pos = data.draw(st.integers(0, len(lines[i]) - 2))
        new = data.draw(st.integers(0, 255).filter(lambda b: b != lines[i][pos]))
        raw = bytearray(lines[i])
        raw[pos] = new
        mutated = lines[:i] + [bytes(raw)] + lines[i + 1:]
    else:
        i = data.draw(st.integers(0, n - 2))
        # len - 1 would keep every byte before the newline: an unchanged line.
        cut = data.draw(st.integers(1, len(lines[i]) - 2))
        mutated = lines[:i] + [lines[i][:cut] + b"\n"] + lines[i + 1:]
    findings = validate_chain(mutated, anchors)
    assert any(f.failed for f in findings), (kind, findings)


def test_appended_lines_are_envelope_dumps_byte_for_byte(tmp_path, cam, cert):
    # _append spells the PAE and the envelope line out for speed; they must stay
    # exactly pae() and Envelope.dumps() + "\n".
    j = Journal.create(tmp_path, cam, cert, clock=Clock(), sync="none")
    bodies = [{}, {"note": "é \"q\" \\ \n ✓ \U0001f600", "n": -(2**63), "big": 2**63 - 1},
              {"chunks": [{"start_ns": i, "root": "ab" * 32} for i in range(50)]}]
    recs = [j.append(EVENT, b) for b in bodies] + [j.append(SEGMENT, {"index": 1})]
    j.close()
    lines = read_lines(tmp_path)[1:]
    assert lines == [(r.envelope.dumps() + "\n").encode() for r in recs]
    for r in recs:
        assert r.hash == record_hash(r.envelope)
        assert r.envelope.payload == canonical_bytes(r.body)


def test_append_of_subclass_values_takes_the_reference_encoder(tmp_path, cam, cert):
    # The domain check hands IntEnum / str subclasses to the reference (not orjson).
    import enum

    class Level(enum.IntEnum):
        HIGH = 3

    j = Journal.create(tmp_path, cam, cert, clock=Clock(), sync="none")
    rec = j.append(EVENT, {"level": Level.HIGH, "chunks": [{"root": "cd" * 32}] * 20})
    j.close()
    assert read_lines(tmp_path)[1] == (rec.envelope.dumps() + "\n").encode()
    assert rec.envelope.payload == canonical_bytes({**rec.body, "level": 3})
    assert b'"level":3' in rec.envelope.payload
    assert rec.hash == record_hash(rec.envelope)


def test_keep_bounds_records_in_memory_but_not_on_disk(tmp_path):
    root = Identity.generate("root", "ROOT")
    cam = Identity.generate("camera", "BWC-KEEP")
    cert = root.certify(cam)
    j = Journal.create(tmp_path, cam, cert, sync="none", keep=3)
    for i in range(10):
        rec = j.append("event", event(label=str(i)))
    assert [r.seq for r in j.records] == [8, 9, 10]
    assert rec.line == 11 and j.seq == 10
    j.close()
    again = Journal.open(tmp_path)
    assert [r.seq for r in again.records] == list(range(11))
    assert again.records[-1].hash == rec.hash
    with pytest.raises(ValueError):
        Journal.create(tmp_path / "other", cam, cert, keep=0)


class _HsmSigner:
    """A signer that is not an in-memory Identity (how an HSM plugs in)."""

    def __init__(self, identity: Identity) -> None:
        self._identity = identity
        self.key_id = identity.key_id
        self.calls = 0

    def sign(self, data: bytes, /) -> bytes:
        self.calls += 1
        return self._identity.sign(data)


def test_appends_through_any_signer_equal_the_identity_fast_path(tmp_path, cam, cert, anchors):
    """The journal signs an Identity's records itself (libsodium, detached); any
    other Signer is called. Same key, same bodies, same clock: same bytes."""
    hsm = _HsmSigner(cam)
    lines = []
    for name, signer in (("fast", cam), ("hsm", hsm)):
        clock = iter(range(1_700_000_000_000_000_000, 1_700_000_000_000_001_000)).__next__
        j = Journal.create(tmp_path / name, signer, cert, clock=clock, sync="none")
        for n in range(5):
            j.append(EVENT, event(label=f"{n} " + "x" * (300 * n)))
        j.close()
        lines.append((tmp_path / name / "journal.jsonl").read_bytes())
        assert not [f for f in validate_journal(tmp_path / name, anchors) if f.failed]
    assert lines[0] == lines[1]
    assert hsm.calls == 6  # genesis + 5 events, every one through the Signer


def test_reserved_blocks_are_invisible(tmp_path, cam, cert, anchors):
    """A writable journal keeps disk blocks allocated past its end; the file
    size, the bytes read and every check see only the lines written."""
    from bwc_core.format import journal as journal_module

    j = Journal.create(tmp_path, cam, cert, sync="none", clock=Clock())
    for n in range(200):  # ~ 80 KB of lines
        j.append(EVENT, event(label=f"{n} " + "y" * 300))
    path = tmp_path / "journal.jsonl"
    data = path.read_bytes()
    assert os.path.getsize(path) == len(data) == j._size
    assert data.endswith(b"\n") and b"\x00" not in data
    st = os.stat(path)
    if j._reserved < 1 << 62:  # the filesystem took the reservation
        assert st.st_blocks * 512 >= len(data) + journal_module._RESERVE // 2
    j.close()
    again = Journal.open(tmp_path, cam, clock=Clock())
    assert again.torn_tail is None and again.seq == 200
    again.close()
    assert validate_journal(tmp_path, anchors) == []
