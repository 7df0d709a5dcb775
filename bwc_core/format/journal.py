"""The per-device signed journal: an append-only hash chain of DSSE records.

``evidence_dir/journal.jsonl`` holds one envelope JSON per line. Each record's
payload is canonical JSON carrying ``type``, ``seq`` (+1 per record, genesis
0), ``prev`` (hex record hash of the previous record; genesis: 64 zeros),
``device`` (the certificate subject) and ``time`` (unix ns), plus the fields
of its type. The first record, ``device.genesis``, carries the device
certificate; ``key.rotate`` hands the chain to a newly certified key.

Durability: by default each append is one ``write`` of the whole line
followed by ``fsync``; when ``append`` returns, the record survives a power
cut. A crash mid-write leaves at most one torn (unterminated) last line,
which :meth:`Journal.open` cuts off and reports; earlier lines are never
rewritten. One writer at a time: it holds an exclusive lock from before it
reads the file, and only it cuts, completes or appends (a reader never
modifies the file). See :class:`Journal` for the ``sync="batch"`` trade-off.

Write-behind (:meth:`Journal.start_writer`, what the camera's recorder
uses): records are still chained and signed on the appending thread, but
one writer thread writes and fsyncs them, in order, several per ``fsync``
(group commit). ``append(wait=False)`` returns without waiting for storage
(the capture thread); ``append()`` returns once its record and every record
before it is durable (control calls). A power cut loses only records not yet
reported durable (:attr:`Journal.durable_seq`), and may leave several
damaged lines at the end, which :meth:`Journal.open` for writing cuts off
when no parseable record follows them (:func:`_damaged_tail`). A write or
fsync error stops the writer; every later append raises it.

Every body has exactly the fields of its type (:mod:`bwc_core.format.records`),
record times never go backwards, and only ``camera`` keys keep a journal
(``docs/format.md`` 2.5).
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
import time
from binascii import b2a_base64 as _b64
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import nacl.bindings
import nacl.exceptions
import nacl.signing

from bwc_core import errors
from bwc_core._fileio import read_regular_file, reserve, write_new_file
from bwc_core.errors import CanonicalJSONError, CertificateError, EnvelopeError, JournalError, TrustError
from bwc_core.format.canonical import canonical_bytes, parse_canonical
from bwc_core.format.envelope import RECORD_HASHER, RECORD_TYPE, Envelope, Signature, pae, record_hash, trusted_envelope
from bwc_core.format.findings import (
    CERT_MALFORMED,
    CERT_UNCHECKED,
    CERT_WRONG_ROLE,
    JOURNAL_DUPLICATE,
    JOURNAL_EDITED,
    JOURNAL_FORK,
    JOURNAL_GAP,
    JOURNAL_MALFORMED_LINE,
    JOURNAL_MALFORMED_RECORD,
    JOURNAL_REORDER,
    JOURNAL_TIME_BACKWARDS,
    JOURNAL_TORN_TAIL,
    JOURNAL_WRONG_DEVICE,
    ORIGIN_UNCHECKED,
    SIGNATURE_INVALID,
    Finding,
)
from bwc_core.format.findings import finding as _finding
from bwc_core.format.keys import Certificate, Identity, Signer, Trust, TrustAnchors, UnsafeNoOrigin, require_trust
from bwc_core.format.layout import JOURNAL_NAME
from bwc_core.format.records import check_fields

__all__ = [
    "DEVICE_GENESIS",
    "POWER_ON",
    "POWER_OFF",
    "RECORDING_OPEN",
    "SEGMENT",
    "EVENT",
    "RECORDING_CLOSE",
    "RECOVERY",
    "SEGMENT_PROGRESS",
    "KEY_ROTATE",
    "CLOCK_SYNC",
    "RECORD_TYPES",
    "GENESIS_PREV",
    "Journal",
    "Record",
    "TornTail",
    "read_lines",
    "validate_chain",
    "validate_journal",
]

log = logging.getLogger(__name__)

#: Largest journal file read into memory (a device writes far less in its life).
JOURNAL_FILE_LIMIT = 1 << 36
GENESIS_PREV = "0" * 64

DEVICE_GENESIS = "device.genesis"
POWER_ON = "power.on"
POWER_OFF = "power.off"
RECORDING_OPEN = "recording.open"
SEGMENT = "segment"
EVENT = "event"
RECORDING_CLOSE = "recording.close"
RECOVERY = "recovery"
#: A prefix of a segment file being written, attested while capturing (format 1.4).
SEGMENT_PROGRESS = "segment.progress"
KEY_ROTATE = "key.rotate"
CLOCK_SYNC = "clock.sync"
RECORD_TYPES = frozenset({
    DEVICE_GENESIS, POWER_ON, POWER_OFF, RECORDING_OPEN, SEGMENT, EVENT,
    RECORDING_CLOSE, RECOVERY, SEGMENT_PROGRESS, KEY_ROTATE, CLOCK_SYNC,
})
_APPENDABLE = RECORD_TYPES - {DEVICE_GENESIS, KEY_ROTATE}
RESERVED_FIELDS = frozenset({"type", "seq", "prev", "device", "time"})
#: The only certificate role whose key may keep (sign) a device journal.
CAMERA_ROLE = "camera"

_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_NS = 1_000_000_000

# Hot-path constants for Journal._append (tests hold them equal to pae() and
# Envelope.dumps()): the PAE bytes before the payload length, and the JSON
# line around the base64 fields.
_PAE_HEAD = b"DSSEv1 %d %s " % (len(RECORD_TYPE.encode()), RECORD_TYPE.encode())
_LINE_HEAD = b'{"payloadType":"%s","payload":"' % RECORD_TYPE.encode()
_LINE_TAIL = b'"}]}\n'


def _line_keyid(key_id: str) -> bytes:
    return b'","signatures":[{"keyid":"%s","sig":"' % key_id.encode()

# code -> (verdict, severity, meaning); docs/findings.md mirrors this table.


@dataclass(frozen=True, slots=True)
class Record:
    """One verified journal record: its envelope, decoded body, record hash and line."""

    envelope: Envelope
    body: dict[str, Any]
    hash: bytes
    line: int = 0

    @property
    def type(self) -> str:
        value: str = self.body["type"]  # checked by the record field tables
        return value

    @property
    def seq(self) -> int:
        value: int = self.body["seq"]  # checked by the record field tables
        return value

    @property
    def prev(self) -> str:
        value: str = self.body["prev"]  # checked by the record field tables
        return value

    @property
    def device(self) -> str:
        value: str = self.body["device"]  # checked by the record field tables
        return value

    @property
    def time(self) -> int:
        """Wall-clock time of the record, unix nanoseconds."""
        value: int = self.body["time"]  # checked by the record field tables
        return value

    @property
    def hash_hex(self) -> str:
        return self.hash.hex()


# Slot setters of the frozen Record, for Journal._append (~2x object.__setattr__).
_set_rec_envelope = Record.__dict__["envelope"].__set__
_set_rec_body = Record.__dict__["body"].__set__
_set_rec_hash = Record.__dict__["hash"].__set__
_set_rec_line = Record.__dict__["line"].__set__


@dataclass(frozen=True)
class TornTail:
    """The bytes of an unterminated last line found by :meth:`Journal.open`."""

    offset: int  # where the line started; the file was cut back to this length
    data: bytes  # the cut-off bytes, kept for the report
    truncated: bool  # False when opened read-only (file left untouched)


# --- validation ----------------------------------------------------------------------


@dataclass
class _Line:
    line: int
    raw: bytes
    terminated: bool
    env: Envelope | None = None
    body: dict[str, Any] | None = None
    body_error: str | None = None
    hash: bytes | None = None


def _json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {dict: "an object", list: "an array", str: "a string", int: "an integer"}.get(type(value), "a number")


def _short(value: Any, limit: int = 60) -> str:
    """``repr`` of an untrusted value, cut to ``limit`` characters (a message stays one short line)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _check_body(body: Any) -> dict[str, Any]:
    """The structural rules every record body obeys (raises ValueError)."""
    if not isinstance(body, dict):
        raise errors.BwcValueError("payload is not a JSON object")
    missing = RESERVED_FIELDS - set(body)
    if missing:
        raise errors.BwcValueError(f"missing fields {sorted(missing)}")
    rtype, seq, prev = body["type"], body["seq"], body["prev"]
    # Types first: a value of any JSON type must become this error, never a
    # TypeError (an array is unhashable for the set lookup below).
    if type(rtype) is not str:
        raise errors.BwcValueError(f"type must be a string, not {_json_type(rtype)}")
    if rtype not in RECORD_TYPES:
        raise errors.BwcValueError(f"unknown record type {_short(rtype)}")
    if type(seq) is not int or seq < 0:
        raise errors.BwcValueError(f"seq must be a non-negative integer, not {_short(seq)}")
    if type(body["time"]) is not int:
        raise errors.BwcValueError("time must be an integer (unix ns)")
    if not isinstance(prev, str) or not _HEX64.match(prev):
        raise errors.BwcValueError("prev must be 64 lowercase hex digits")
    if not isinstance(body["device"], str):
        raise errors.BwcValueError("device must be a string")
    if (rtype == DEVICE_GENESIS) != (seq == 0):
        raise errors.BwcValueError("seq 0 is the device.genesis record and only it")
    if seq == 0 and prev != GENESIS_PREV:
        raise errors.BwcValueError("genesis prev must be 64 zeros")
    if rtype in (DEVICE_GENESIS, KEY_ROTATE) and not isinstance(body.get("certificate"), dict):
        raise errors.BwcValueError(f"{rtype} must carry a certificate envelope")
    return body


def _parse_line(item: _Line) -> str | None:
    """Fill ``env``/``body``; return an error message if the envelope is unusable."""
    text = item.raw.rstrip(b"\n")
    if not text.strip():
        return "empty line"
    try:
        env = Envelope.from_json(text)
    except EnvelopeError as exc:
        return str(exc)
    if env.payload_type != RECORD_TYPE:
        return f"payload type {env.payload_type!r} is not a journal record"
    if len(env.signatures) != 1:  # format 2.2: one signature, by the device key in force
        return f"a record envelope carries exactly one signature, not {len(env.signatures)}"
    item.env = env
    item.hash = record_hash(env)
    try:
        item.body = _check_body(parse_canonical(env.payload))
    except (ValueError, TypeError, CanonicalJSONError) as exc:
        item.body_error = str(exc)
    return None


def _verify_sig(env: Envelope, keyid: str, public_key: bytes) -> bool:
    message = env.pae()
    for kid, sig in env.signatures:
        if kid == keyid:
            try:
                nacl.signing.VerifyKey(public_key).verify(message, sig)
                return True
            except nacl.exceptions.BadSignatureError:
                return False
    return False


def _normalize(items: Iterable[bytes | str | Record | Envelope]) -> list[_Line]:
    out: list[_Line] = []
    for n, item in enumerate(items, 1):
        if isinstance(item, Record):
            raw, line = item.envelope.dumps().encode(), item.line or n
        elif isinstance(item, Envelope):
            raw, line = item.dumps().encode(), n
        elif isinstance(item, str):
            raw, line = item.encode("utf-8", "surrogateescape"), n
        else:
            raw, line = bytes(item), n
        out.append(_Line(line, raw, raw.endswith(b"\n")))
    return out


@dataclass
class _Analysis:
    records: list[Record] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    keys: list[tuple[int, Certificate]] = field(default_factory=list)  # (from seq, cert)
    device: str | None = None
    torn: _Line | None = None


def _analyze(
    items: Iterable[bytes | str | Record | Envelope],
    anchors: TrustAnchors | None,
) -> _Analysis:
    lines = _normalize(items)
    res = _Analysis()
    found = res.findings
    bad_lines: list[int] = []  # lines present but unusable: they explain seq holes

    # Pass 0: parse envelopes. A last line with no newline whose envelope does
    # not parse is a torn tail from a crash, not tampering.
    parsed: list[_Line] = []
    for i, item in enumerate(lines):
        err = _parse_line(item)
        if err is None:
            parsed.append(item)
            continue
        others_terminated = all(x.terminated for x in lines[:-1])
        if i == len(lines) - 1 and not item.terminated and others_terminated and len(lines) > 0:
            res.torn = item
            found.append(_finding(JOURNAL_TORN_TAIL,
                                  f"line {item.line}: unterminated last line ({len(item.raw)} bytes) "
                                  "from an interrupted write", line=item.line, size=len(item.raw)))
        else:
            bad_lines.append(item.line)
            found.append(_finding(JOURNAL_MALFORMED_LINE, f"line {item.line}: {err}",
                                  line=item.line))

    # Pass 1: the device keys. Genesis certifies the first key; each key.rotate,
    # signed by the key in force, certifies the next one from seq+1 on.
    geneses = [p for p in parsed if p.body is not None and p.body["type"] == DEVICE_GENESIS]
    genesis_ok: _Line | None = None
    for g in geneses:
        try:
            cert = Certificate.from_json(g.body["certificate"])  # type: ignore[index]
        except CertificateError as exc:
            found.append(_finding(CERT_MALFORMED, f"line {g.line}: genesis certificate: {exc}",
                                  line=g.line, seq=0))
            continue
        if _verify_sig(g.env, cert.key_id, cert.public_key):  # type: ignore[arg-type]
            genesis_ok = g
            res.keys = [(0, cert)]
            res.device = cert.subject
            break
    if genesis_ok is None and geneses:
        # An edited genesis: keep using its certificate to check the rest, so one
        # edit is one finding; the edit itself is reported in pass 2.
        for g in geneses:
            try:
                cert = Certificate.from_json(g.body["certificate"])  # type: ignore[index]
            except CertificateError:
                continue
            res.keys = [(0, cert)]
            res.device = cert.subject
            break
    rotations = sorted(
        (p for p in parsed if p.body is not None and p.body["type"] == KEY_ROTATE),
        key=lambda p: p.body["seq"],  # type: ignore[index]
    )
    for r in rotations:
        if not res.keys:
            break
        _, current = res.keys[-1]
        if not _verify_sig(r.env, current.key_id, current.public_key):  # type: ignore[arg-type]
            continue  # reported in pass 2
        try:
            new = Certificate.from_json(r.body["certificate"])  # type: ignore[index]
        except CertificateError as exc:
            found.append(_finding(CERT_MALFORMED, f"line {r.line}: rotated certificate: {exc}",
                                  line=r.line, seq=r.body["seq"]))  # type: ignore[index]
            continue
        if new.key_id != current.key_id:
            res.keys.append((r.body["seq"] + 1, new))  # type: ignore[index]

    by_kid = {cert.key_id: (start, cert) for start, cert in res.keys}

    def key_in_force(seq: int) -> Certificate | None:
        chosen = None
        for start, cert in res.keys:
            if start <= seq:
                chosen = cert
        return chosen

    # Pass 2: every line's signature, then its body.
    verified: list[Record] = []
    if not res.keys and lines:
        found.append(_finding(SIGNATURE_INVALID,
                              "no usable device.genesis: no record can be checked against a device key",
                              lines=len(parsed)))
    for p in parsed:
        env = p.env
        assert env is not None and p.hash is not None
        if res.keys:
            kid = next((s.keyid for s in env.signatures if s.keyid in by_kid), None)
            if kid is None:
                bad_lines.append(p.line)
                found.append(_finding(
                    SIGNATURE_INVALID,
                    f"line {p.line}: signed by key {env.signatures[0].keyid[:16]}…, "
                    "which is not a device key of this journal",
                    line=p.line, keyid=env.signatures[0].keyid))
                continue
            _, cert = by_kid[kid]
            if not _verify_sig(env, kid, cert.public_key):
                bad_lines.append(p.line)
                found.append(_finding(JOURNAL_EDITED,
                                      f"line {p.line}: record bytes do not match the device signature",
                                      line=p.line))
                continue
        if p.body is None:
            bad_lines.append(p.line)
            found.append(_finding(JOURNAL_MALFORMED_LINE,
                                  f"line {p.line}: signed payload is not a valid record: {p.body_error}",
                                  line=p.line))
            continue
        if res.keys:
            expected = key_in_force(p.body["seq"])
            if expected is None or expected.key_id != kid:
                bad_lines.append(p.line)
                found.append(_finding(
                    SIGNATURE_INVALID,
                    f"line {p.line}: seq {p.body['seq']} signed by a device key not in force then",
                    line=p.line, seq=p.body["seq"], keyid=kid))
                continue
        try:
            check_fields(p.body)
        except ValueError as exc:
            # Signed, but not a record of format 2.5: nothing downstream reads it.
            bad_lines.append(p.line)
            found.append(_finding(JOURNAL_MALFORMED_RECORD,
                                  f"line {p.line}: seq {p.body['seq']} ({p.body['type']}): {exc}",
                                  line=p.line, seq=p.body["seq"]))
            continue
        verified.append(Record(env, p.body, p.hash, p.line))
    if genesis_ok is None and not geneses and parsed:
        # Missing genesis is reported as a gap below (seq 0 absent).
        pass

    # Pass 3: the chain over verified records, in file order.
    seen: dict[bytes, Record] = {}
    unique: list[Record] = []
    for rec in verified:
        first = seen.get(rec.hash)
        if first is not None:
            found.append(_finding(JOURNAL_DUPLICATE,
                                  f"line {rec.line}: repeats line {first.line} (seq {rec.seq})",
                                  line=rec.line, seq=rec.seq, first_line=first.line))
            continue
        seen[rec.hash] = rec
        unique.append(rec)
    by_seq: dict[int, list[Record]] = defaultdict(list)
    for rec in unique:
        by_seq[rec.seq].append(rec)
    for seq, recs in sorted(by_seq.items()):
        if len(recs) > 1:
            found.append(_finding(JOURNAL_FORK,
                                  f"seq {seq}: {len(recs)} different signed records "
                                  f"(lines {', '.join(str(r.line) for r in recs)})",
                                  seq=seq, lines=[r.line for r in recs]))
    for rec in unique:
        if rec.seq == 0:
            continue
        before = by_seq.get(rec.seq - 1)
        if before and all(b.hash_hex != rec.prev for b in before):
            found.append(_finding(JOURNAL_FORK,
                                  f"line {rec.line}: seq {rec.seq} does not chain to seq {rec.seq - 1} "
                                  "(prev mismatch: the device signed diverging histories)",
                                  line=rec.line, seq=rec.seq))
    top = -1
    for rec in unique:
        if rec.seq < top:
            found.append(_finding(JOURNAL_REORDER,
                                  f"line {rec.line}: seq {rec.seq} appears after seq {top}",
                                  line=rec.line, seq=rec.seq, after_seq=top))
        top = max(top, rec.seq)
    # Time: a device never dates a record before the one it follows (its
    # writer clamps a clock stepped back), so a record under a revoked key
    # cannot be backdated below revoked_at without this finding.
    last_time: Record | None = None
    for rec in sorted(unique, key=lambda r: (r.seq, r.line)):
        if last_time is not None and rec.seq != last_time.seq and rec.time < last_time.time:
            found.append(_finding(JOURNAL_TIME_BACKWARDS,
                                  f"line {rec.line}: seq {rec.seq} is dated {rec.time} ns, before seq "
                                  f"{last_time.seq} ({last_time.time} ns)",
                                  line=rec.line, seq=rec.seq, time=rec.time,
                                  previous_seq=last_time.seq, previous_time=last_time.time))
        if last_time is None or rec.time > last_time.time:
            last_time = rec
    # Gaps: seq numbers absent from 0..max, unless unusable lines sit where
    # they belong (then the line is there but altered, reported above).
    if unique or bad_lines:
        present = sorted(by_seq)
        line_of = {s: min(r.line for r in rs) for s, rs in by_seq.items()}
        # From the seqs present, not by counting up to the last: a signed seq
        # near 2**63 must not make this loop for ever.
        holes: list[tuple[int, int]] = []
        expect = 0
        for s in present:
            if s > expect:
                holes.append((expect, s - 1))
            expect = s + 1
        for a, b in holes:
            lo = line_of.get(a - 1, 0)
            hi = line_of.get(b + 1, 1 << 62)
            explained = sum(1 for ln in bad_lines if lo < ln < hi)
            if explained >= b - a + 1:
                continue
            what = f"seq {a}" if a == b else f"seq {a}..{b}"
            found.append(_finding(JOURNAL_GAP, f"{what} missing ({b - a + 1} record(s))",
                                  first_seq=a, last_seq=b, after_line=lo or None))
        if not present and bad_lines and not any(f.code == JOURNAL_GAP for f in found):
            pass
    elif not lines:
        found.append(_finding(JOURNAL_GAP, "journal is empty: no device.genesis",
                              first_seq=0, last_seq=0))

    # Device and certificate (origin).
    if res.device is not None:
        for rec in unique:
            if rec.device != res.device:
                found.append(_finding(JOURNAL_WRONG_DEVICE,
                                      f"line {rec.line}: names device {rec.device!r}, "
                                      f"certificate is for {res.device!r}",
                                      line=rec.line, seq=rec.seq, device=rec.device))
        for _, cert in res.keys[1:]:
            if cert.subject != res.device:
                found.append(_finding(JOURNAL_WRONG_DEVICE,
                                      f"rotated certificate is for {cert.subject!r}, "
                                      f"not {res.device!r}", device=cert.subject))
        for start, cert in res.keys:
            if cert.role != CAMERA_ROLE:
                # Only a camera key signs a device's capture records: a root-certified
                # dock or server key keeping a "camera" journal is not the camera.
                found.append(_finding(CERT_WRONG_ROLE,
                                      f"device key {cert.key_id[:16]}… ({cert.subject}) is certified as a "
                                      f"{cert.role} key, not a camera: it may not sign a device journal "
                                      f"(records from seq {start})",
                                      key_id=cert.key_id, subject=cert.subject, role=cert.role,
                                      first_seq=start))
    if res.keys:
        if anchors is None:
            found.append(_finding(CERT_UNCHECKED,
                                  "no trust anchors given: signatures are checked against the "
                                  "journal's own certificate, whose issuer is not checked"))
        else:
            found.extend(_check_certs(res.keys, unique, anchors))
    res.records = verified
    return res


def _check_certs(keys: list[tuple[int, Certificate]], records: list[Record],
                 anchors: TrustAnchors) -> list[Finding]:
    out: list[Finding] = []
    for i, (start, cert) in enumerate(keys):
        end = keys[i + 1][0] if i + 1 < len(keys) else 1 << 63
        try:
            anchors.check_signature(cert)  # the role is checked in _analyze, anchors or not
        except CertificateError as exc:
            out.append(_finding(exc.reason, f"device key {cert.key_id[:16]}…: {exc}",
                                key_id=cert.key_id, subject=cert.subject))
            continue
        bad: dict[str, list[Record]] = defaultdict(list)
        messages: dict[str, str] = {}
        for rec in records:
            if not start <= rec.seq < end:
                continue
            try:
                anchors.verify_certificate(cert, at=rec.time // _NS)
            except CertificateError as exc:
                bad[exc.reason].append(rec)
                messages.setdefault(exc.reason, str(exc))
        for reason, recs in bad.items():
            out.append(_finding(reason,
                                f"{len(recs)} record(s) from seq {recs[0].seq}: {messages[reason]}",
                                key_id=cert.key_id, first_seq=recs[0].seq, count=len(recs)))
    return out


def validate_chain(
    records_or_lines: Iterable[bytes | str | Record | Envelope],
    anchors: Trust,
) -> list[Finding]:
    """Check a journal's lines (bytes with their newlines, or Records) and return findings.

    ``anchors`` is required: :class:`TrustAnchors`, or :data:`UNSAFE_NO_ORIGIN`
    to skip the origin checks on purpose (``None`` raises
    :class:`BwcTypeError`). An empty list means a clean chain checked against
    ``anchors``. Under ``UNSAFE_NO_ORIGIN`` signatures are still checked
    against the certificate carried by the genesis record; the findings start
    with the warning ``origin.unchecked`` (and ``cert.unchecked`` says the
    issuer was not checked). Removing the *last* records of a journal cannot
    be seen from the journal alone: compare with a countersigned head (seq and
    record hash).
    """
    checked = require_trust(anchors, "validate_chain")
    findings = _analyze(records_or_lines, checked).findings
    if checked is None:
        findings.insert(0, origin_unchecked())
    return findings


def origin_unchecked() -> Finding:
    """The ``origin.unchecked`` warning every verification under :data:`UNSAFE_NO_ORIGIN` reports."""
    return _finding(ORIGIN_UNCHECKED,
                    "ORIGIN NOT CHECKED: verified under the unsafe policy UNSAFE_NO_ORIGIN (no trust anchors): "
                    "no signing key was checked against a trusted root, so anyone could have made this evidence")


def read_lines(path: str | os.PathLike[str]) -> list[bytes]:
    """The journal's lines with their newlines (the last may lack one if torn)."""
    path = Path(path)
    if path.is_dir():
        path = path / JOURNAL_NAME
    # Opened without blocking and refused unless a regular file: a FIFO in
    # place of the journal must not hang the verifier.
    data = read_regular_file(path, JOURNAL_FILE_LIMIT, JournalError, "a journal")
    return data.splitlines(keepends=True) if data else []


def validate_journal(path: str | os.PathLike[str], anchors: Trust) -> list[Finding]:
    """:func:`validate_chain` over a journal file or an evidence directory (``anchors`` required)."""
    if not isinstance(anchors, (TrustAnchors, UnsafeNoOrigin)):
        require_trust(anchors, "validate_journal")  # raises before the file is read
    return validate_chain(read_lines(path), anchors)


def _damaged_tail(lines: list[bytes], analysis: _Analysis,
                  anchors: TrustAnchors | None) -> tuple[_Analysis, list[bytes], TornTail | None]:
    """A writer's view of a journal ending in several damaged lines (a group write cut by a crash).

    The journal's writer thread writes several records with one ``write`` and
    one ``fsync``; a power cut before that fsync completes may leave more than
    one damaged line at the end (storage keeps any subset of the blocks).
    When every line from some point to the end is not a parseable envelope,
    and the lines before it validate, those lines are a torn tail: no record
    there was ever reported durable (an fsync covering them would have kept
    them whole), and cutting them removes no signed record. Anything else (a
    parseable record after a damaged line, an error earlier) is left to the
    strict check. Returns the analysis, lines and torn tail to use.
    """
    first = len(lines)
    while first > 0 and _parse_line(_Line(first, lines[first - 1], lines[first - 1].endswith(b"\n"))) is not None:
        first -= 1
    if first == len(lines) or first == 0:
        return analysis, lines, None
    kept = lines[:first]
    prefix = _analyze(kept, anchors)
    if any(f.failed for f in prefix.findings) or prefix.torn is not None:
        return analysis, lines, None
    data = b"".join(lines[first:])
    prefix.findings.append(_finding(
        JOURNAL_TORN_TAIL, f"lines {first + 1}-{len(lines)}: {len(lines) - first} damaged last lines "
        f"({len(data)} bytes) from an interrupted write", line=first + 1, size=len(data)))
    return prefix, kept, TornTail(sum(len(x) for x in kept), data, True)


# --- the writer ------------------------------------------------------------------------

SyncMode = Literal["always", "batch", "none"]


#: When a journal's writer thread counts as behind (:attr:`Journal.backlogged`):
#: this many records, or bytes, appended and not yet durable.
WRITER_MAX_RECORDS = 64
WRITER_MAX_BYTES = 256 << 10

#: Disk space a writable journal keeps allocated past its end (invisible to
#: readers: the file size is unchanged), renewed as appends use it.
_RESERVE = 1 << 20


def _default_clock() -> int:
    return time.time_ns()


def _lock_for_append(path: Path) -> int:
    """An append descriptor holding the journal's exclusive lock, or :class:`JournalError`.

    Every change to ``journal.jsonl`` (append, cutting a torn tail, completing
    a last line) is made through such a descriptor, so one writer at a time.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except OSError as exc:
        raise JournalError(f"{path}: cannot open journal for appending: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise JournalError(f"{path}: journal is open for writing elsewhere") from None
    return fd


class Journal:
    """An open journal: read its verified records, append signed ones.

    ``sync`` chooses durability:

    * ``"always"`` (default): ``fsync`` after every record. When ``append``
      returns the record is on stable storage.
    * ``"batch"``: ``fsync`` once ``batch_records`` records (default 32) or
      ``batch_seconds`` (default 1.0) have accumulated, checked at each append,
      and on :meth:`sync` / :meth:`close`. A crash can lose the records
      appended since the last fsync (at most ``batch_records``, always the
      newest; none older), and can leave more than one damaged line at the
      end, which :meth:`open` then reports as ``journal.malformed_line``
      instead of cutting off silently.
    * ``"none"``: only :meth:`sync` / :meth:`close` fsync (benchmarks, tests).

    With a writer thread (:meth:`start_writer`) ``"always"`` and ``"batch"``
    both mean one fsync per group the writer writes (everything queued at
    that moment); ``"none"`` writes without fsync.

    ``keep`` bounds memory on a long-running device: once appending starts,
    ``records`` holds only the newest ``keep`` records (the chain itself needs
    only the head). ``None`` (default) keeps every record, as verifiers need.
    """

    def __init__(self, path: Path, analysis: _Analysis, *, signer: Signer | None,
                 clock: Callable[[], int] | None, sync: SyncMode, batch_records: int,
                 batch_seconds: float, torn_tail: TornTail | None, keep: int | None = None,
                 fd: int | None = None) -> None:
        if keep is not None and (type(keep) is not int or keep < 1):
            raise errors.BwcValueError("keep must be a positive integer or None")
        self._keep = keep
        if sync not in ("always", "batch", "none"):
            raise errors.BwcValueError("sync must be 'always', 'batch' or 'none'")
        self.path = path
        self.records: list[Record] = analysis.records
        self._lines = len(self.records)
        self.findings: list[Finding] = analysis.findings
        self.torn_tail = torn_tail
        self._keys = analysis.keys
        self._device = analysis.device
        self._set_signer(signer)
        self._clock = clock or _default_clock
        self._sync = sync
        self._batch_records = batch_records
        self._batch_seconds = batch_seconds
        self._unsynced = 0
        self._unsynced_since = 0.0
        self._fd: int | None = None
        last = self.records[-1] if self.records else None
        self._seq = last.seq if last else -1
        self._head = last.hash if last else bytes(32)
        # Write-behind (start_writer): queue of (seq, hash, line) for the writer thread.
        self._writer: threading.Thread | None = None
        self._cond = threading.Condition(threading.Lock())
        self._queue: list[tuple[int, bytes, bytes]] = []
        self._queued_bytes = 0
        self._inflight_bytes = 0
        self._stop = False
        self._error: JournalError | None = None
        self._durable_seq, self._durable_head = self._seq, self._head
        self._max_records, self._max_bytes = WRITER_MAX_RECORDS, WRITER_MAX_BYTES
        self._on_durable: Callable[[int, bytes], None] | None = None
        #: Records the writer thread dropped after it failed (never reported durable).
        self.lost = 0
        # The writer never dates a record before the one it follows (the
        # verifier's journal.time_backwards): clock readings are clamped to it.
        self._time = max((r.time for r in self.records), default=0)
        if signer is not None:
            assert fd is not None  # locked by create()/open() before the file was read
            cert = self.certificate
            if cert is None or signer.key_id != cert.key_id:  # the caller closes fd
                raise JournalError(f"{path}: signer {signer.key_id[:16]}… is not the journal's "
                                   "device key in force")
            self._fd = fd
            self._size = os.fstat(fd).st_size
            self._reserved = self._size
            self._reserve()

    # --- opening ---------------------------------------------------------------

    @classmethod
    def create(cls, evidence_dir: str | os.PathLike[str], signer: Signer, cert: Certificate, *,
               clock: Callable[[], int] | None = None, sync: SyncMode = "always",
               batch_records: int = 32, batch_seconds: float = 1.0, keep: int | None = None) -> Journal:
        """Start a new journal whose ``device.genesis`` record carries ``cert``.

        The genesis line is written to a temporary file, fsync'd and linked into
        place, so ``journal.jsonl`` either does not exist or holds a whole genesis.
        """
        if signer.key_id != cert.key_id:
            raise TrustError("certificate is not for the signer's key")
        if cert.role != CAMERA_ROLE:
            raise TrustError(f"a {cert.role} key does not keep a device journal (camera keys only)")
        directory = Path(evidence_dir)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / JOURNAL_NAME
        if path.exists():
            raise JournalError(f"{path}: journal already exists; use Journal.open")
        now = (clock or _default_clock)()
        body = {
            "type": DEVICE_GENESIS, "seq": 0, "prev": GENESIS_PREV, "device": cert.subject,
            "time": now, "certificate": cert.to_json(),
        }
        payload = canonical_bytes(body)
        message = pae(RECORD_TYPE, payload)
        env = Envelope(RECORD_TYPE, payload, (Signature(signer.key_id, signer.sign(message)),))
        line = (env.dumps() + "\n").encode()
        write_new_file(path, line, 0o644, JournalError, exists="journal already exists; use Journal.open")
        fd = _lock_for_append(path)
        if os.fstat(fd).st_size != len(line):  # another writer got the lock first and appended
            os.close(fd)
            raise JournalError(f"{path}: journal was appended to by another writer while being created")
        analysis = _Analysis(records=[Record(env, body, record_hash(env), 1)],
                             keys=[(0, cert)], device=cert.subject)
        try:
            return cls(path, analysis, signer=signer, clock=clock, sync=sync,
                       batch_records=batch_records, batch_seconds=batch_seconds, torn_tail=None,
                       keep=keep, fd=fd)
        except BaseException:
            os.close(fd)
            raise

    @classmethod
    def open(cls, evidence_dir: str | os.PathLike[str], signer: Signer | None = None, *,
             clock: Callable[[], int] | None = None, sync: SyncMode = "always",
             anchors: TrustAnchors | None = None, strict: bool = True,
             batch_records: int = 32, batch_seconds: float = 1.0, keep: int | None = None) -> Journal:
        """Open and validate a journal; with ``signer`` it is opened for appending.

        A torn last line (a crash mid-write) is reported in ``torn_tail``, in
        ``findings`` and in the log; when opened for writing it is cut off so
        the next record starts on a fresh line. Earlier lines are never
        rewritten. A writer takes the journal's lock before reading it
        (:class:`JournalError` if another writer holds it: the "torn" line may
        be that writer's append in progress) and changes nothing in a journal
        that does not validate; a reader never changes the file. With
        ``strict`` (default) any error finding raises :class:`JournalError`;
        ``strict=False`` opens read-only for inspection. ``anchors`` checks the
        device certificates against trusted roots; without them (the camera's
        writer needs none) ``findings`` only carries the info ``cert.unchecked``:
        a ``Journal`` is the chain object, not a verification entry point. To
        verify, call :func:`validate_journal` or
        :func:`bwc_core.verify.verify_evidence`, which require a trust decision.
        """
        directory = Path(evidence_dir)
        path = directory / JOURNAL_NAME if directory.is_dir() else directory
        # A writer takes the lock *before* it reads: what looks like a torn last
        # line may be the holder's append in progress, and a second opener (or a
        # recovery) must never cut or complete it. Read-only openers never
        # modify the file.
        fd = _lock_for_append(path) if signer is not None else None
        try:
            lines = read_lines(path)
            analysis = _analyze(lines, anchors)
            torn = None
            if fd is not None and any(f.failed for f in analysis.findings):
                analysis, lines, torn = _damaged_tail(lines, analysis, anchors)
            if torn is not None:
                log.warning("%s: %d damaged last lines (%d bytes at offset %d) from an interrupted "
                            "group write; cut off", path, torn.data.count(b"\n") + (not torn.data.endswith(b"\n")),
                            len(torn.data),
                            torn.offset)
            elif analysis.torn is not None:
                data = analysis.torn.raw
                offset = sum(len(x) for x in lines[:-1])
                torn = TornTail(offset, data, fd is not None)
                log.warning("%s: torn last line (%d bytes at offset %d) from an interrupted write%s",
                            path, len(data), offset, "; cut off" if fd is not None else "")
            errors_found = [f for f in analysis.findings if f.failed]
            if errors_found and (strict or signer is not None):
                summary = "; ".join(f"{f.code}: {f.message}" for f in errors_found[:5])
                raise JournalError(f"{path}: journal does not validate: {summary}")
            if fd is not None:
                if torn is not None:
                    os.ftruncate(fd, torn.offset)
                    os.fsync(fd)
                elif lines and not lines[-1].endswith(b"\n"):
                    # A whole record whose newline never reached the disk: finish the line.
                    os.write(fd, b"\n")
                    os.fsync(fd)
                    log.warning("%s: last record lacked its newline; newline appended", path)
            return cls(path, analysis, signer=signer, clock=clock, sync=sync,
                       batch_records=batch_records, batch_seconds=batch_seconds, torn_tail=torn,
                       keep=keep, fd=fd)
        except BaseException:
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
            raise

    # --- state -----------------------------------------------------------------

    @property
    def seq(self) -> int:
        """The seq of the last record (genesis is 0)."""
        return self._seq

    @property
    def head(self) -> bytes:
        """The record hash of the last record."""
        return self._head

    @property
    def device(self) -> str | None:
        """The device id (certificate subject)."""
        return self._device

    @property
    def certificate(self) -> Certificate | None:
        """The certificate of the device key in force."""
        return self._keys[-1][1] if self._keys else None

    @property
    def keys(self) -> list[tuple[int, Certificate]]:
        """The device keys of the chain, in order: ``(first seq it signs, certificate)``."""
        return list(self._keys)

    @property
    def writable(self) -> bool:
        return self._fd is not None

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r}, device={self._device!r}, seq={self._seq})"

    # --- appending -------------------------------------------------------------

    def append(self, type: str, body: Mapping[str, Any] | None = None, *,
               wall_time: int | None = None, wait: bool = True) -> Record:
        """Sign and durably append a record of ``type`` with ``body``'s fields.

        Without a writer thread the record is written (and fsync'd per
        ``sync``) before this returns. With one (:meth:`start_writer`) the
        record is chained and signed here and handed to the writer; with
        ``wait`` (default) this returns only once it is durable, with
        ``wait=False`` at once (:meth:`wait_durable` / :attr:`durable_seq`
        tell when it is).

        Fills ``type, seq, prev, device, time`` (``wall_time`` in unix ns, else
        the clock, raised to the previous record's time if the clock was
        stepped back; a ``wall_time`` below it is refused). Raises
        ``ValueError`` for an unknown type or a reserved field in ``body``,
        :class:`CanonicalJSONError` for a body that is not
        canonical JSON, and :class:`JournalError` if the write fails (the file
        is cut back; the journal is unchanged).
        """
        if type not in _APPENDABLE:
            raise errors.BwcValueError(
                f"cannot append record type {type!r}"
                + (" (use rotate())" if type == KEY_ROTATE else ""))
        rec = self._append(type, body or {}, wall_time)
        if wait and self._writer is not None:
            self.wait_durable(rec.seq)
        return rec

    def rotate(self, new_signer: Signer, new_cert: Certificate, *,
               wall_time: int | None = None) -> Record:
        """Hand the chain to a newly certified key with a ``key.rotate`` record.

        The record is signed by the current key; later records by ``new_signer``.
        """
        if new_signer.key_id != new_cert.key_id:
            raise TrustError("certificate is not for the new signer's key")
        if new_cert.subject != self._device:
            raise TrustError(f"certificate is for {new_cert.subject!r}, not {self._device!r}")
        if new_cert.role != CAMERA_ROLE:
            raise TrustError(f"a {new_cert.role} key does not keep a device journal (camera keys only)")
        rec = self._append(KEY_ROTATE, {"certificate": new_cert.to_json()}, wall_time)
        self._keys.append((rec.seq + 1, new_cert))
        self._set_signer(new_signer)
        if self._writer is not None:
            self.wait_durable(rec.seq)
        return rec

    def _append(self, rtype: str, body: Mapping[str, Any], wall_time: int | None) -> Record:
        signer, key_id = self._signer, self._signer_key_id
        if self._fd is None or signer is None or key_id is None:
            raise JournalError(f"{self.path}: journal is open read-only (no signer)")
        if self._error is not None:
            raise self._failed()
        if not RESERVED_FIELDS.isdisjoint(body):
            clash = sorted(RESERVED_FIELDS.intersection(body))
            raise errors.BwcValueError(f"body may not set reserved fields {clash}")
        if wall_time is None:
            when = self._clock()
            if when < self._time:  # the wall clock was stepped back (NTP, dock sync)
                when = self._time
        else:
            when = wall_time
            if type(when) is int and when < self._time:
                raise errors.BwcValueError(f"wall_time {when} is before the previous record's time {self._time}")
        if type(when) is not int:
            raise errors.BwcValueError("wall_time must be an integer (unix ns)")
        full = dict(body)
        full["type"] = rtype
        full["seq"] = seq = self._seq + 1
        full["prev"] = self._head.hex()
        full["device"] = self._device
        full["time"] = when
        payload = canonical_bytes(full)
        message = b"%s%d %s" % (_PAE_HEAD, len(payload), payload)  # pae(RECORD_TYPE, payload)
        identity_sign = self._identity_sign
        if identity_sign is not None:  # an in-memory Identity: 64 bytes from PyNaCl
            sig = identity_sign(message)
        else:
            sig = bytes(signer.sign(message))
            if len(sig) != 64:
                raise errors.BwcValueError(f"signer returned {len(sig)} bytes, not a 64-byte signature")
        # Envelope.dumps(), spelled out: one JSON line, base64 fields, newline.
        line = b"".join((_LINE_HEAD, _b64(payload, newline=False), self._line_keyid,
                         _b64(sig, newline=False), _LINE_TAIL))
        hasher = RECORD_HASHER.copy()  # record_hash(env)
        hasher.update(message)
        h = hasher.digest()
        if self._writer is None:
            self._write(line)
            self._durable_seq, self._durable_head = seq, h
        else:  # the writer thread writes and fsyncs it, in order, with the records queued beside it
            with self._cond:
                self._queue.append((seq, h, line))
                self._queued_bytes += len(line)
                self._cond.notify()
        env = trusted_envelope(RECORD_TYPE, payload, (Signature(key_id, sig),))
        records = self.records
        self._lines += 1
        rec = object.__new__(Record)  # Record(env, full, h, self._lines)
        _set_rec_envelope(rec, env)
        _set_rec_body(rec, full)
        _set_rec_hash(rec, h)
        _set_rec_line(rec, self._lines)
        records.append(rec)
        if self._keep is not None and len(records) > self._keep:
            del records[: len(records) - self._keep]
        self._seq = seq
        self._head = h
        self._time = when
        return rec

    def _set_signer(self, signer: Signer | None) -> None:
        """The key that signs appends, and what the hot path caches of it."""
        self._signer = signer
        self._signer_key_id = signer.key_id if signer is not None else None
        self._line_keyid = _line_keyid(signer.key_id) if signer is not None else b""
        # Identity.sign() is PyNaCl's crypto_sign: exactly that class (no subclass
        # that could sign differently) needs no check of what it returns.
        self._identity_sign = signer.sign if type(signer) is Identity else None

    def _reserve(self) -> None:
        """Keep disk blocks reserved ahead of the end (see :func:`_fileio.reserve`)."""
        assert self._fd is not None
        if reserve(self._fd, self._size, _RESERVE):
            self._reserved = self._size + _RESERVE
        else:
            self._reserved = 1 << 62  # not supported here: stop asking

    def _write(self, line: bytes) -> None:
        fd = self._fd
        assert fd is not None
        start = self._size
        try:
            written = os.write(fd, line)
            if written != len(line):  # short write (disk full): finish or fail below
                view = memoryview(line)[written:]
                while view:
                    view = view[os.write(fd, view):]
            self._size = start + len(line)
            if self._size > self._reserved:
                self._reserve()
            if self._sync == "always":
                os.fsync(fd)
            elif self._sync == "batch":
                now = time.monotonic()
                if self._unsynced == 0:
                    self._unsynced_since = now
                self._unsynced += 1
                if (self._unsynced >= self._batch_records
                        or now - self._unsynced_since >= self._batch_seconds):
                    self.sync()
        except OSError as exc:
            try:
                os.ftruncate(fd, start)  # never leave a partial line behind
            except OSError:
                pass
            raise JournalError(f"{self.path}: append failed: {exc.strerror or exc}") from None

    def sync(self) -> None:
        """fsync everything appended so far (with a writer thread: wait until it is durable)."""
        if self._writer is not None:
            self.wait_durable(self._seq)
        elif self._fd is not None:
            os.fsync(self._fd)
            self._unsynced = 0

    def close(self) -> None:
        """Write out what is queued, fsync and release the journal (idempotent).

        With a writer thread this waits for it to write and fsync every queued
        record, then stops it. If the writer failed, the journal is released
        and :class:`JournalError` raised (the file ends at the last durable record).
        """
        writer = self._writer
        if writer is not None:
            with self._cond:
                self._stop = True
                self._cond.notify_all()
            writer.join()
            self._writer = None
        if self._fd is not None:
            try:
                if self._error is None:
                    os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = None
        if self._error is not None:
            raise self._failed()

    # --- the writer thread (write-behind, group commit) ----------------------------

    def start_writer(self, *, max_records: int = WRITER_MAX_RECORDS, max_bytes: int = WRITER_MAX_BYTES,
                     on_durable: Callable[[int, bytes], None] | None = None) -> None:
        """Write and fsync appends on a thread of the journal's own (write-behind).

        From now on :meth:`append` chains and signs on the caller's thread
        (the chain head is exact at once) and queues the line; one writer
        thread writes everything queued in one ``write`` and makes it durable
        with one ``fsync`` (group commit), in seq order. ``append(wait=False)``
        never waits for storage; ``append()`` (``wait=True``) returns once
        its record is durable. :attr:`durable_seq` / :attr:`durable_head` are
        the newest durable record; ``on_durable(seq, head)`` is called on the
        writer thread after each fsync. The queue is not capped: ``max_records``
        / ``max_bytes`` set when :attr:`backlogged` turns true, which a caller
        that must never block uses to leave optional records out (the recorder
        skips ``segment.progress`` records then, and counts them).

        A write or fsync that fails (ENOSPC, EIO) stops the writer: the file
        is cut back to its last durable record, the queued records are not
        written (:attr:`lost`), :attr:`error` holds the :class:`JournalError`
        and every later append, wait or close raises it. A power cut loses at
        most the records queued or written but not yet fsync'd, never one
        reported durable.
        """
        if self._fd is None:
            raise JournalError(f"{self.path}: journal is open read-only (no signer)")
        if self._writer is not None:
            return
        if self._sync == "batch":  # a group commit is the batch; no record waits for a count or a timer
            self._sync = "always"
        self._max_records, self._max_bytes = max_records, max_bytes
        self._on_durable = on_durable
        thread = threading.Thread(target=self._writer_loop, name="bwc-journal-writer", daemon=True)
        self._writer = thread
        thread.start()

    @property
    def durable_seq(self) -> int:
        """The seq of the newest record known to be on storage (written and fsync'd per ``sync``)."""
        return self._durable_seq

    @property
    def durable_head(self) -> bytes:
        """The record hash of the record :attr:`durable_seq` names."""
        return self._durable_head

    @property
    def error(self) -> JournalError | None:
        """Why the writer thread stopped (None while it works)."""
        return self._error

    @property
    def backlog(self) -> tuple[int, int]:
        """Records and bytes appended but not yet durable (queued or being written)."""
        with self._cond:
            return self._seq - self._durable_seq, self._queued_bytes + self._inflight_bytes

    @property
    def backlogged(self) -> bool:
        """True while the writer is behind by ``max_records`` records or ``max_bytes`` bytes."""
        return (self._writer is not None
                and (self._seq - self._durable_seq >= self._max_records
                     or self._queued_bytes + self._inflight_bytes >= self._max_bytes))

    def wait_durable(self, seq: int | None = None, timeout: float | None = None) -> bool:
        """Wait until record ``seq`` (default: the last appended) is durable.

        Returns False if ``timeout`` seconds passed first; raises
        :class:`JournalError` if the writer failed before writing it.
        """
        target = self._seq if seq is None else seq
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._durable_seq < target:
                if self._error is not None:
                    raise self._failed()
                if self._writer is None:
                    raise JournalError(f"{self.path}: record {target} was never written")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def _failed(self) -> JournalError:
        assert self._error is not None
        return JournalError(f"{self.path}: {self._error}")

    def _writer_loop(self) -> None:
        fd = self._fd
        assert fd is not None
        cond = self._cond
        while True:
            with cond:
                while not self._queue and not self._stop:
                    cond.wait()
                if not self._queue:
                    return  # stopped, everything written
                batch, self._queue = self._queue, []
                self._inflight_bytes, self._queued_bytes = self._queued_bytes, 0
            data = b"".join(item[2] for item in batch)
            start = self._size
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                self._size = start + len(data)
                if self._size > self._reserved:
                    self._reserve()
                if self._sync != "none":
                    os.fsync(fd)
            except OSError as exc:
                try:
                    os.ftruncate(fd, start)  # never leave a partial line behind
                except OSError:
                    pass
                self._size = start
                with cond:
                    self.lost = len(batch) + len(self._queue)
                    self._queue = []
                    self._queued_bytes = self._inflight_bytes = 0
                    self._error = JournalError(
                        f"journal writer failed: {exc.strerror or exc}; {self.lost} record(s) from seq "
                        f"{batch[0][0]} not written (the journal ends at seq {self._durable_seq})")
                    cond.notify_all()
                log.error("%s: %s", self.path, self._error)
                return
            seq, head, _ = batch[-1]
            with cond:
                self._durable_seq, self._durable_head = seq, head
                self._inflight_bytes = 0
                cond.notify_all()
            callback = self._on_durable
            if callback is not None:
                try:
                    callback(seq, head)
                except Exception:  # noqa: BLE001 - a caller's callback must not stop the writer
                    log.exception("%s: on_durable callback failed", self.path)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_writer", None) is not None:
            return  # the writer thread owns the descriptor until close()
        if getattr(self, "_fd", None) is not None:
            try:
                os.close(self._fd)  # type: ignore[arg-type]
            except OSError:
                pass
