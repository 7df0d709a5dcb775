"""Verification of court exhibits: declaration, coverage, clips and their range proofs."""

from __future__ import annotations

import json
import os
import re
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import fields
from difflib import SequenceMatcher
from fractions import Fraction
from pathlib import Path
from typing import Any

from bwc_core.errors import (
    BwcError,
    CertificateError,
    ExhibitError,
)
from bwc_core.format.canonical import parse_canonical
from bwc_core.format.content import (
    RangeProof,
    config_digest,
    file_digests,
    read_leaves,
    segment_chunks,
    signed_leaves,
    verify_range_proof,
)
from bwc_core.format.envelope import Envelope, record_hash
from bwc_core.format.exhibit import ExhibitDeclaration, read_declaration
from bwc_core.format.findings import (
    CERT_WRONG_ROLE,
    CLIP_APPENDED,
    CLIP_CHUNK_ALTERED,
    CLIP_CHUNK_FOREIGN,
    CLIP_CHUNK_MISSING,
    CLIP_CONFIG_ALTERED,
    CLIP_FRAMES_REMOVED,
    CLIP_FRAMES_REORDERED,
    CLIP_LEAVES_MISMATCH,
    CLIP_PROOF_INVALID,
    CLIP_SEGMENT_UNKNOWN,
    CLIP_TIMING_ALTERED,
    CLIP_UNREADABLE,
    CONTENT_PRESENTATION_ALTERED,
    EXHIBIT_CHUNK_GAP,
    EXHIBIT_CLIP_MISSING,
    EXHIBIT_DECLARATION_MISMATCH,
    EXHIBIT_EXCERPT,
    EXHIBIT_EXCERPT_BOUNDS,
    EXHIBIT_EXPORTER_ROLE,
    EXHIBIT_EXPORTER_UNTRUSTED,
    EXHIBIT_FILE_ALTERED,
    EXHIBIT_FILE_MISSING,
    EXHIBIT_FILE_UNLISTED,
    EXHIBIT_MANIFEST_INVALID,
    EXHIBIT_MEDIA_UNSIGNED,
    EXHIBIT_MODE_MISMATCH,
    EXHIBIT_RECORDING_INCOMPLETE,
    EXHIBIT_REPORT_MISMATCH,
    EXHIBIT_SEGMENT_GAP,
    EXHIBIT_SEGMENT_OMITTED,
    EXHIBIT_SPAN_MISMATCH,
    EXHIBIT_TRUST_INSIDE,
    JOURNAL_GAP,
    SEGMENT_MISSING,
    Finding,
)
from bwc_core.format.findings import finding as _finding
from bwc_core.format.journal import read_lines
from bwc_core.format.keys import PublicIdentity, RevocationList, Trust, TrustAnchors, UnsafeNoOrigin, require_trust
from bwc_core.format.layout import EXHIBIT_MANIFEST, JOURNAL_NAME, safe_member
from bwc_core.verify.archive import safe_extract
from bwc_core.verify.evidence import ProgressFn, content_of, verify_evidence
from bwc_core.verify.model import ExhibitReport

__all__ = [
    "is_exhibit",
    "trust_inside",
    "verify_exhibit",
    "chunk_range",
    "frac_json",
    "fraction",
    "walk_files",
]


def fraction(value: Any) -> Fraction | None:
    if (isinstance(value, list) and len(value) == 2 and all(type(v) is int for v in value)
            and value[1] > 0):
        return Fraction(value[0], value[1])
    return None


def chunk_range(
    chunks: list[Any], t0: Fraction, start: Fraction | None, end: Fraction | None
) -> tuple[int, int] | None:
    """The chunks of one segment's signed chunk table overlapping [start, end] (recording-relative seconds)."""
    picked = []
    for n, c in enumerate(chunks):
        s, d = c.start, c.duration
        rel_s, rel_e = s - t0, s - t0 + d
        if (end is None or rel_s < end) and (start is None or rel_e > start or (d == 0 and rel_s >= start)):
            picked.append(n)
    if not picked:
        return None
    return picked[0], picked[-1]


def walk_files(root: Path) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames) + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            rel = (Path(dirpath) / name).relative_to(root).as_posix()
            if rel != EXHIBIT_MANIFEST:
                yield rel


def frac_json(value: Fraction) -> list[int]:
    return [value.numerator, value.denominator]


def is_exhibit(path: str | os.PathLike[str]) -> bool:
    """True for an exhibit folder (with exhibit.json) or a zip file."""
    p = Path(path)
    if p.is_dir():
        return (p / EXHIBIT_MANIFEST).is_file()
    return p.is_file() and zipfile.is_zipfile(p)


def _check_exporter(decl: ExhibitDeclaration, anchors: TrustAnchors | None, add: list[Finding]) -> None:
    """The exporter's certificate: issued by a trust anchor, a server's, valid when it exported."""
    cert = decl.exporter
    if cert is None or anchors is None:
        return
    exported = decl.body.get("exported")
    at = exported if type(exported) is int else None
    try:
        anchors.verify_certificate(cert, at, role="server")
    except CertificateError as exc:
        code = EXHIBIT_EXPORTER_ROLE if exc.reason == CERT_WRONG_ROLE else EXHIBIT_EXPORTER_UNTRUSTED
        add.append(_finding(code, f"exhibit.json is signed by {cert.subject} (key {cert.key_id[:16]}…): "
                            f"{exc} ({exc.reason}); its declared content is not authenticated",
                            exporter=cert.subject, reason=exc.reason))


def verify_exhibit(
    path: str | os.PathLike[str],
    anchors: Trust,
    *,
    revocations: Iterable[RevocationList | str | os.PathLike[str]] | None = None,
    progress: ProgressFn | None = None,
) -> ExhibitReport:
    """Verify an exhibit folder or zip against *anchors*; returns an :class:`ExhibitReport`.

    Checks the declaration (``exhibit.json``: signed by a server certified
    by a trust anchor), every file it lists (present, with its size and
    digests, and nothing unlisted), the journal excerpt (signatures, chain
    continuity from the recording's open to its close, certificates, trust,
    revocation), that the declared segments and chunks are the signed ones
    and cover the declared span without a hole, and the media: whole
    segments as :func:`bwc_core.verify.verify_evidence` does, clips by
    re-demuxing them and checking their chunk roots and stream configuration
    against the range proof and the signed segment root. ``anchors`` is
    required: :class:`TrustAnchors`, or
    :data:`bwc_core.format.keys.UNSAFE_NO_ORIGIN` to skip the origin checks
    (the journal's keys and the exporter's certificate) on purpose, reported
    as the warning ``origin.unchecked``; ``None`` raises :class:`BwcTypeError`.
    """
    if not isinstance(anchors, (TrustAnchors, UnsafeNoOrigin)):
        require_trust(anchors, "verify_exhibit")  # raises before the exhibit is read or extracted
    p = Path(path)
    if p.is_file():
        with safe_extract(p) as tmp:
            report = verify_exhibit(tmp, anchors, revocations=revocations, progress=progress)
        report.path = str(p)
        return report

    extra: list[Finding] = []
    decl = read_declaration(p, extra)
    manifest = decl.body
    _check_manifest(p, manifest, extra)
    base = verify_evidence(p, anchors, revocations=revocations, progress=progress, follow_exhibit=False)
    # after verify_evidence: it loads the revocation lists; UNSAFE_NO_ORIGIN checks no exporter either
    _check_exporter(decl, anchors if isinstance(anchors, TrustAnchors) else None, extra)
    report = ExhibitReport(**{f.name: getattr(base, f.name) for f in fields(base)})
    rid = manifest.get("recording")
    rec = next((r for r in report.recordings if r.id == rid), None)
    mode = manifest.get("mode")
    entries = decl.entries or []
    clipped = {e["file"] for e in entries if isinstance(e.get("clip"), dict)}
    indices = [e["index"] for e in entries]
    lo, hi = (min(indices), max(indices)) if indices else (None, None)

    kept: list[Finding] = []
    excerpt_noted = False
    for f in report.findings:
        if f.code == JOURNAL_GAP and rec is not None and rec.open_seq is not None \
                and isinstance(f.where.get("last_seq"), int) and f.where["last_seq"] < rec.open_seq:
            if not excerpt_noted:
                excerpt_noted = True
                kept.append(_finding(EXHIBIT_EXCERPT, f"journal excerpt: records before seq "
                                     f"{rec.open_seq} other than device.genesis are not part of the "
                                     "exhibit", open_seq=rec.open_seq))
            continue
        if f.code == SEGMENT_MISSING and mode == "clip" and decl.entries is not None:
            seg = f.where.get("segment")
            if seg in clipped:
                continue  # shown as a clip, checked below
            sr = next((s for r in report.recordings for s in r.segments if s.path == seg), None)
            if sr is not None and isinstance(sr.index, int) and lo is not None and not lo <= sr.index <= hi:
                # Outside the span the exporter signed: left out by design.
                kept.append(_finding(EXHIBIT_SEGMENT_OMITTED, f"{seg} (segment {sr.index}) lies outside "
                                     f"the declared span (segments {lo}..{hi})", segment=seg))
                sr.status = "omitted"
                continue
        kept.append(f)
    report.findings = kept + extra
    if rec is None:
        report.findings.append(_finding(EXHIBIT_EXCERPT_BOUNDS, f"the journal excerpt holds no "
                                        f"recording.open of recording {rid!r}", recording=rid))
    for r in report.recordings:
        if r.id != rid:
            report.findings.append(_finding(EXHIBIT_EXCERPT_BOUNDS, f"the excerpt holds records of "
                                            f"another recording ({r.id})", recording=r.id))
    report.exhibit = {"recording": rid, "device": manifest.get("device"), "mode": mode,
                      "signed": decl.envelope is not None and decl.signature_ok
                      and not any(f.code.startswith("exhibit.exporter") for f in extra),
                      "exporter": None, "exported": manifest.get("exported"),
                      "requested": manifest.get("requested"), "journal": manifest.get("journal"),
                      "certificates": manifest.get("certificates"), "trust": manifest.get("trust"),
                      "segments": [], "clips": [], "span": None, "files": manifest.get("files")}
    if decl.exporter is not None:
        c = decl.exporter
        report.exhibit["exporter"] = {"subject": c.subject, "role": c.role, "key_id": c.key_id,
                                      "serial": c.serial, "issuer_key_id": c.issuer_key_id}
    if rec is not None and decl.entries is not None:
        _check_span(p, decl, rec, report, progress)
    _check_unsigned_media(p, decl, report)
    _check_shipped_report(p, report)
    return report


def _check_unsigned_media(root: Path, decl: ExhibitDeclaration, report: Any) -> None:
    """``exhibit.media_unsigned`` for every file outside ``media/`` that FFmpeg can open as media
    and that is not a declared clip (format 1.4, section 2.11).

    ``media/`` is checked by :func:`bwc_core.verify.verify_evidence` (files
    signed segment records name; others ``segment.unexpected`` when FFmpeg
    can open them). A declared clip is checked against its range proof and
    the signed segment root. exhibit.json is the exporter's word: listing a
    file there ties it to no camera signature.
    """
    from bwc_core.format.layout import MEDIA_DIR
    from bwc_core.verify.evidence import presentable

    clips = {safe_member(e["clip"].get("file")) for e in decl.entries or [] if isinstance(e.get("clip"), dict)}
    for rel in walk_files(root):
        if rel == JOURNAL_NAME or rel in clips or rel.split("/", 1)[0] == MEDIA_DIR:
            continue
        full = root / rel
        if full.is_symlink() or not full.is_file():
            continue  # exhibit.file_unlisted / file_missing already
        if presentable(full):
            report.findings.append(_finding(EXHIBIT_MEDIA_UNSIGNED, f"{rel}: FFmpeg can open this file as "
                                            "media, yet no camera-signed record covers it (neither a journaled "
                                            "segment nor a declared clip)", file=rel))


def _states_this(ok: Any, verdicts: Any, fresh_ok: bool, fresh: dict[str, str]) -> bool:
    """Whether a shipped report's result and verdicts are this verification's."""
    if not isinstance(verdicts, dict) or (ok is not True and ok is not False):
        return False
    if "unchecked" not in (verdicts.get("origin"), fresh.get("origin")):
        return ok is fresh_ok and verdicts == fresh
    # One side verified under UNSAFE_NO_ORIGIN: its origin verdict states nothing to compare with,
    # and an origin failure on the other side alone may explain a different overall result.
    if any(verdicts.get(k) != fresh[k] for k in fresh if k != "origin"):
        return False
    return ok is fresh_ok or "fail" in (verdicts.get("origin"), fresh.get("origin"))


def _check_shipped_report(root: Path, report: Any) -> None:
    """``exhibit.report_mismatch`` when the shipped report states another verdict than this one.

    ``report.json`` and ``report.html`` are the exporter's statement of its own
    verification at export time (signed by the exporter only, never by the
    camera): informational. Their overall result (``ok`` / the PASS or FAIL
    banner) and the three verdicts must be this verification's; anything
    else in them is not checked (``bwc verify --html`` writes a fresh report).
    An origin verdict ``"unchecked"`` on either side (``UNSAFE_NO_ORIGIN``: an
    exporter without trust roots, or this verification) is not compared; then
    the overall results are compared only if neither side's origin failed.
    """
    fresh_ok, fresh = report.ok, report.verdicts
    stated: list[tuple[str, Any, Any]] = []
    path = root / "report.json"
    if path.is_file() and not path.is_symlink():
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            doc = None
        if not isinstance(doc, dict):
            stated.append(("report.json", "unreadable", None))
        else:
            verdicts = doc.get("verdicts") if isinstance(doc.get("verdicts"), dict) else {}
            stated.append(("report.json", doc.get("ok"), {k: verdicts.get(k) for k in fresh}))
    path = root / "report.html"
    if path.is_file() and not path.is_symlink():
        try:
            html = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            html = ""
        banners = re.findall(r'<div class="banner (pass|fail|unchecked)"><b>(PASS|FAIL|PASS, ORIGIN NOT CHECKED)</b>',
                             html)
        verdicts = {name: re.findall(r'<span class="v-([a-z]+)">' + name + r': ([a-z]+)</span>', html)
                    for name in fresh}
        ok: Any = "unreadable"
        if len(banners) == 1 and banners[0] in (("pass", "PASS"), ("fail", "FAIL"),
                                                ("unchecked", "PASS, ORIGIN NOT CHECKED")):
            ok = banners[0][1] != "FAIL"
        found = {k: (v[0][1] if len(v) == 1 and v[0][0] == v[0][1] else "unreadable") for k, v in verdicts.items()}
        stated.append(("report.html", ok, found))
    for name, ok, verdicts in stated:
        if _states_this(ok, verdicts, fresh_ok, fresh):
            continue
        said = "not readable" if ok == "unreadable" else ("PASS" if ok is True else "FAIL" if ok is False
                                                         else repr(ok))
        report.findings.append(_finding(
            EXHIBIT_REPORT_MISMATCH, f"{name} (shipped by the exporter) states {said} "
            + (", ".join(f"{k}: {v}" for k, v in verdicts.items()) if isinstance(verdicts, dict) else "")
            + f"; this verification: {'PASS' if fresh_ok else 'FAIL'} "
            + ", ".join(f"{k}: {v}" for k, v in fresh.items()), file=name))


def _secs(value: Fraction | None, missing: str) -> str:
    return missing if value is None else f"{float(value):.3f} s"


def _excerpt_facts(p: Path) -> tuple[dict[int, str], dict[str, int]]:
    """seq -> record hash, and recording -> the segment count its ``recording.close`` signs.

    Only records with a valid signature under the chain count here as the
    engine checked them (bad lines are its findings); this reads the excerpt
    for the two facts the engine's report does not keep.
    """
    hashes: dict[int, str] = {}
    closes: dict[str, int] = {}
    for line in read_lines(p / "journal.jsonl") if (p / "journal.jsonl").is_file() else []:
        try:
            env = Envelope.from_json(line)
            body = parse_canonical(env.payload)
        except (BwcError, ValueError):
            continue
        if isinstance(body, dict) and type(body.get("seq")) is int:
            hashes.setdefault(body["seq"], record_hash(env).hex())
            if body.get("type") == "recording.close" and type(body.get("segments")) is int:
                closes.setdefault(str(body.get("recording")), body["segments"])
    return hashes, closes


def _check_span(p: Path, decl: ExhibitDeclaration, rec: Any, report: ExhibitReport, progress: Any) -> None:
    """The declared segments and chunks against the signed records, coverage, then the clips.

    Every position the report shows comes from here: chunk indices the
    signed records (and range proofs) confirm, times from the signed segment
    records' chunk tables, counted from the recording's first frame.
    """
    add = report.findings
    entries = decl.entries or []
    mode = decl.body.get("mode")
    by_index = {s.index: s for s in rec.segments if isinstance(s.index, int)}
    hashes, closes = _excerpt_facts(p)
    starts = [fraction(s.body.get("start")) for s in rec.segments]
    t0 = min((s for s in starts if s is not None), default=Fraction(0))
    tables: dict[int, list[Any] | None] = {}

    def signed_chunks(sr: Any) -> list[Any] | None:
        if id(sr) not in tables:
            tables[id(sr)] = _signed_chunks(p, sr)
        return tables[id(sr)]

    def chunk_time(sr: Any, k: int, end: bool) -> Fraction | None:
        chunks = signed_chunks(sr) or []
        if not 0 <= k < len(chunks):
            return None
        s, d = chunks[k].start, chunks[k].duration
        return s + d - t0 if end else s - t0

    # The excerpt and the journal head the exporter declares must be the signed ones.
    journal = decl.body.get("journal") if isinstance(decl.body.get("journal"), dict) else {}
    head = journal.get("head") if isinstance(journal.get("head"), dict) else {}
    wrong = []
    if decl.body.get("device") != (report.device or {}).get("id"):
        wrong.append(f"device {decl.body.get('device')!r}, the journal's is {(report.device or {}).get('id')!r}")
    if (journal.get("open_seq"), journal.get("close_seq")) != (rec.open_seq, rec.close_seq):
        wrong.append(f"recording from seq {journal.get('open_seq')} to {journal.get('close_seq')}, the excerpt's "
                     f"runs from {rec.open_seq} to {rec.close_seq}")
    if type(head.get("seq")) is not int or (hashes and head["seq"] < max(hashes)) \
            or (head["seq"] in hashes and hashes[head["seq"]] != head.get("hash")):
        wrong.append(f"journal head {head.get('seq')}:{str(head.get('hash'))[:16]}… is not at or after the "
                     "excerpt's last record")
    if wrong:
        add.append(_finding(EXHIBIT_DECLARATION_MISMATCH, "exhibit.json: " + "; ".join(wrong),
                            recording=rec.id))

    valid = []
    for e in entries:
        sr = by_index.get(e["index"])
        where = {"segment": e["file"], "index": e["index"]}
        table = signed_chunks(sr) if sr is not None else None
        nchunks = len(table) if table is not None else None
        wrong = []
        if sr is None:
            wrong.append(f"no signed segment record of index {e['index']} in the excerpt")
        else:
            if sr.seq != e["seq"] or hashes.get(sr.seq) != e["record"]:
                wrong.append(f"the record it names (seq {e['seq']}, {e['record'][:16]}…) is not the signed "
                             f"segment record (seq {sr.seq})")
            if sr.path != e["file"]:
                wrong.append(f"file {e['file']!r} is not the signed {sr.path!r}")
            if table is None and "chunks" not in sr.body:
                # Format 1.5: the chunk table is the checked sidecar's; name the sidecar itself.
                problem = _sidecar_problem(p, sr)
                wrong.append(f"its chunk table cannot be derived ({problem})")
                if mode == "clip":
                    add.append(_finding(CLIP_LEAVES_MISMATCH, f"{e['file']}: the sidecar the segment record "
                                        f"names is absent or not the signed one ({problem}); the clip's chunks, "
                                        "audio origin and last-frame bound cannot be checked", **where))
            elif nchunks != e["chunk_count"]:
                wrong.append(f"{e['chunk_count']} chunks declared, {nchunks} signed")
            if not 0 <= e["first_chunk"] <= e["last_chunk"] < (nchunks or 0):
                wrong.append(f"chunks {e['first_chunk']}..{e['last_chunk']} outside the signed 0..{(nchunks or 0) - 1}")
        if wrong:
            add.append(_finding(EXHIBIT_DECLARATION_MISMATCH, f"exhibit.json, segment {e['index']}: "
                                + "; ".join(wrong), **where))
            continue
        clip = e.get("clip")
        if mode == "recording" and (clip is not None or e["first_chunk"] != 0 or e["last_chunk"] != nchunks - 1):
            add.append(_finding(EXHIBIT_MODE_MISMATCH, f"exhibit.json declares the whole recording but "
                                f"segment {e['index']} only as chunks {e['first_chunk']}..{e['last_chunk']}"
                                + (" of a clip" if clip is not None else ""), **where))
        elif mode == "clip" and clip is None:
            add.append(_finding(EXHIBIT_MODE_MISMATCH, f"exhibit.json declares a clip but names segment "
                                f"{e['index']} as a whole file, not a clip with a range proof", **where))
        valid.append((e, sr))

    # Coverage: contiguous chunks across consecutive segments, no hole.
    for (a, _), (b, _sb) in zip(valid, valid[1:], strict=False):
        if b["index"] == a["index"]:
            if b["first_chunk"] <= a["last_chunk"]:
                add.append(_finding(EXHIBIT_DECLARATION_MISMATCH, f"exhibit.json declares chunks of segment "
                                    f"{a['index']} twice ({a['first_chunk']}..{a['last_chunk']} and "
                                    f"{b['first_chunk']}..{b['last_chunk']})", segment=a["file"]))
            elif b["first_chunk"] > a["last_chunk"] + 1:
                add.append(_finding(EXHIBIT_CHUNK_GAP, f"segment {a['index']}: chunks {a['last_chunk'] + 1}.."
                                    f"{b['first_chunk'] - 1} inside the declared span are in no clip",
                                    segment=a["file"], first=a["last_chunk"] + 1, last=b["first_chunk"] - 1))
            continue
        if a["last_chunk"] != a["chunk_count"] - 1:
            add.append(_finding(EXHIBIT_CHUNK_GAP, f"segment {a['index']}: chunks {a['last_chunk'] + 1}.."
                                f"{a['chunk_count'] - 1} inside the declared span are in no clip",
                                segment=a["file"], first=a["last_chunk"] + 1, last=a["chunk_count"] - 1))
        if b["index"] > a["index"] + 1:
            missing = list(range(a["index"] + 1, b["index"]))
            add.append(_finding(EXHIBIT_SEGMENT_GAP, f"segment(s) {', '.join(map(str, missing))} of "
                                f"{rec.id}, inside the declared span, are not in the exhibit", recording=rec.id,
                                segments=missing))
        if b["first_chunk"] != 0:
            add.append(_finding(EXHIBIT_CHUNK_GAP, f"segment {b['index']}: chunks 0..{b['first_chunk'] - 1} "
                                "inside the declared span are in no clip", segment=b["file"], first=0,
                                last=b["first_chunk"] - 1))
    requested = decl.body.get("requested")
    if mode == "clip" and isinstance(requested, dict) and valid:
        # The chunks shown must be exactly those the requested span selects (format 2.9).
        bounds = [fraction(requested.get(k)) if requested.get(k) is not None else None for k in ("start", "end")]
        expected, shown = [], []
        try:
            for s in sorted(by_index.values(), key=lambda s: s.index):
                table = signed_chunks(s)
                if table is None:
                    raise ExhibitError("no signed chunk table")
                picked = chunk_range(table, t0, bounds[0], bounds[1])
                if picked is not None:
                    expected.append((s.index, *picked))
        except ExhibitError:
            expected = []
        for e, _ in valid:
            if shown and shown[-1][0] == e["index"]:
                shown[-1] = (e["index"], shown[-1][1], e["last_chunk"])
            else:
                shown.append((e["index"], e["first_chunk"], e["last_chunk"]))
        if expected != shown:
            def words(ranges: list[tuple[int, int, int]]) -> str:
                return ", ".join(f"segment {i} chunks {a}..{b}" for i, a, b in ranges) or "nothing"
            add.append(
                _finding(
                    EXHIBIT_SPAN_MISMATCH,
                    f"exhibit.json requests "
                    f"{_secs(bounds[0], 'the start')} to {_secs(bounds[1], 'the end')}, "
                    f"which selects {words(expected)}; "
                    f"it shows {words(shown)}",
                    recording=rec.id,
                )
            )
    if mode == "recording":
        count = closes.get(rec.id) if rec.close_seq is not None else None
        expected = set(range(count)) if count is not None else set(by_index)
        missing = sorted(expected - {e["index"] for e, _ in valid})
        if missing:
            add.append(_finding(EXHIBIT_RECORDING_INCOMPLETE, f"exhibit.json declares the whole recording "
                                f"{rec.id} but holds {len(expected) - len(missing)} of its {len(expected)} "
                                f"segments (missing: {', '.join(map(str, missing))})", recording=rec.id,
                                segments=missing))

    segs = {s.path: s for s in rec.segments}
    counted = [0]
    for e, sr in valid:
        shown = {"index": e["index"], "segment": e["file"], "first_chunk": e["first_chunk"],
                 "last_chunk": e["last_chunk"]}
        for key, k, end in (("start", e["first_chunk"], False), ("end", e["last_chunk"], True)):
            t = chunk_time(sr, k, end)
            shown[key] = None if t is None else frac_json(t)
        if isinstance(e.get("clip"), dict):
            shown["file"] = e["clip"].get("file")
            report.exhibit["clips"].append(shown)
            if mode == "clip":
                _verify_clip(p, e, segs, add, counted)
        report.exhibit["segments"].append(shown)
    report.bytes_checked += counted[0]
    if valid:
        first, last = report.exhibit["segments"][0], report.exhibit["segments"][-1]
        report.exhibit["span"] = {"first": {"segment": first["index"], "chunk": first["first_chunk"]},
                                  "last": {"segment": last["index"], "chunk": last["last_chunk"]},
                                  "start": first["start"], "end": last["end"],
                                  "origin": "seconds of media time from the recording's first frame "
                                            "(signed segment records)"}


def _check_manifest(root: Path, manifest: dict[str, Any], out: list[Finding]) -> None:

    files = manifest.get("files")
    if not isinstance(files, list):
        out.append(_finding(EXHIBIT_MANIFEST_INVALID, "exhibit.json has no file list"))
        return
    listed: set[str] = set()
    for entry in files:
        rel = safe_member(entry.get("path")) if isinstance(entry, dict) else None
        if rel is None:
            out.append(_finding(EXHIBIT_MANIFEST_INVALID, f"exhibit.json lists an unsafe path {entry!r}"))
            continue
        listed.add(rel)
        full = root / rel
        if full.is_symlink() or not full.is_file():
            out.append(_finding(EXHIBIT_FILE_MISSING, f"{rel} is listed in exhibit.json but absent", file=rel))
            continue
        digests = entry.get("digests") if isinstance(entry.get("digests"), dict) else {}
        try:
            found = file_digests(full, [k for k in digests if k in ("blake3", "sha256")] or ["blake3"])
        except (BwcError, OSError) as exc:
            out.append(_finding(EXHIBIT_FILE_MISSING, f"{rel}: unreadable ({exc})", file=rel))
            continue
        size = full.stat().st_size
        bad = [k for k, v in found.items() if digests.get(k) != v]
        if size != entry.get("size") or bad or not digests:
            out.append(_finding(EXHIBIT_FILE_ALTERED, f"{rel}: {'size' if size != entry.get('size') else ''}"
                                f"{' and ' if size != entry.get('size') and bad else ''}"
                                f"{', '.join(bad) or ('no digest' if not digests else '')} differs from "
                                "exhibit.json", file=rel, size=size, expected_size=entry.get("size")))
    for rel in walk_files(root):
        if rel not in listed:
            out.append(_finding(EXHIBIT_FILE_UNLISTED, f"{rel} is in the exhibit but not listed in "
                                "exhibit.json", file=rel))


def _parse_stream_table(table: bytes) -> dict[int, tuple[Fraction, bytes]] | None:
    """index -> (time base, config digest) of a stream table (format 1.8), None if malformed."""
    if len(table) < 4:
        return None
    count = int.from_bytes(table[:4], "little")
    if len(table) != 4 + 44 * count:
        return None
    out = {}
    for n in range(count):
        row = table[4 + 44 * n : 4 + 44 * (n + 1)]
        index, num, den = (int.from_bytes(row[i : i + 4], "little") for i in (0, 4, 8))
        if den == 0:
            return None
        out[index] = (Fraction(num, den), row[12:])
    return out


_NO_CONFIG = config_digest("data")


def _check_clip_streams(clip_rel: str, found: Any, table: bytes, add: list[Finding], where: dict[str, Any]) -> bool:
    """The clip's streams against the signed stream table the range proof carries; True if they agree.

    The one place a clip's stream properties meet the signed ones: each
    stream of the clip must be in the table; one with packets in the clip
    must have the signed time base and the signed configuration digest
    (SPS/PPS/VPS, AAC AudioSpecificConfig, format 1.3). A stream without a
    packet in the clip commits no configuration (1.3) and decodes nothing.
    """
    signed = _parse_stream_table(table)
    if signed is None:
        add.append(_finding(CLIP_CONFIG_ALTERED, f"clip {clip_rel}: the proof's stream table is malformed",
                            **where))
        return False
    present = {p.stream for p in found.packets}
    ok = True
    for s in found.streams:
        if s.index not in signed:
            add.append(_finding(CLIP_CONFIG_ALTERED, f"clip {clip_rel}: stream {s.index} ({s.codec}) is not "
                                "in the signed stream table", stream=s.index, **where))
            ok = False
            continue
        if s.index not in present:
            continue
        tb, digest = signed[s.index]
        if s.config_digest != digest:
            add.append(_finding(CLIP_CONFIG_ALTERED, f"clip {clip_rel}: stream {s.index} ({s.codec}) has a "
                                "codec configuration other than the signed one"
                                + (" (the segment signed none)" if digest == _NO_CONFIG else "")
                                + ": its frames would decode differently (picture size, cropping, sample "
                                "rate…)", stream=s.index, config_digest=s.config_digest.hex(),
                                signed=digest.hex(), **where))
            ok = False
        elif s.time_base != tb:
            add.append(_finding(CLIP_CONFIG_ALTERED, f"clip {clip_rel}: stream {s.index} has time base "
                                f"{s.time_base}, signed {tb}", stream=s.index, **where))
            ok = False
    return ok


def _clip_spans(signed: Any, sr: Any, first: int, last: int) -> list[dict[str, Any]]:
    """The signed span of each stream over chunks *first*..*last* of a segment (format 1.16,
    "Clips"), in the stream table's time base: ``first_pts``/``last_pts`` the smallest and largest
    pts of the clip's packets of the stream, ``packets`` their count, and ``end_pts`` where the
    next frame of the stream is presented: the smallest pts above ``last_pts`` in the first later
    chunk holding a packet of the stream, or, when no later chunk holds one (the clip ends at
    the segment's end for that stream), the segment record's ``spans`` ``end_pts``. *signed* is
    the sidecar checked against the signed root: every value is the camera's."""
    tbs = {st.index: st.time_base for st in signed.streams}
    pts: dict[int, list[int]] = defaultdict(list)
    for c in range(first, last + 1):
        for p in signed.chunk_packets(c):
            pts[p.stream].append(p.pts)
    ends: dict[int, int] = {}
    top = {stream: max(values) for stream, values in pts.items()}
    todo = set(pts)
    for c in range(last + 1, len(signed.chunks)):
        if not todo:
            break
        later: dict[int, list[int]] = defaultdict(list)
        for p in signed.chunk_packets(c):
            if p.stream in todo:
                later[p.stream].append(p.pts)
        for stream, values in later.items():
            above = [v for v in values if v > top[stream]]
            if above:
                ends[stream] = min(above)
            todo.discard(stream)  # this chunk holds the stream's next packets, whatever their pts
    signed_spans = {sp.get("stream"): sp for sp in sr.body.get("spans", []) if isinstance(sp, dict)} \
        if isinstance(sr.body.get("spans"), list) else {}
    out = []
    for stream, values in sorted(pts.items()):
        tb = tbs.get(stream)
        if tb is None or tb <= 0:
            continue
        end = ends.get(stream)
        if end is None:
            sp = signed_spans.get(stream)
            if stream in todo and sp is not None:  # no later chunk holds the stream: the segment's end
                try:
                    sp_tb = Fraction(*sp["time_base"])
                    end = round(Fraction(int(sp["end_pts"])) * sp_tb / tb)
                except (KeyError, TypeError, ValueError, ZeroDivisionError):
                    end = None
            if end is None:
                end = top[stream]  # nothing later is presented: the last frame's hold is its own
        out.append({"stream": stream, "time_base": [tb.numerator, tb.denominator], "first_pts": min(values),
                    "last_pts": top[stream], "end_pts": end, "packets": len(values)})
    return out


def _check_clip_presentation(full: Path, clip_rel: str, sr: Any, add: list[Finding],
                             where: dict[str, Any], signed: Any = None, chunks: tuple[int, int] | None = None) -> bool:
    """What a player shows beyond the decoded frames (display matrix, aspect ratio, colour,
    side data, picture size, packets hidden by an edit list; format 1.15) must be what the
    segment record signed for its streams, and the clip must carry no container metadata
    beyond its muxer's name (1.16); True if so. A clip's bytes are never the
    camera's, so it is always measured. With the checked sidecar *signed* and the clip's
    *chunks* (first, last), each stream's last-frame hold and every duration the clip states are
    held to the span the sidecar signs for those chunks (1.16, "Clips")."""
    from bwc_core.media.presentation import compare_extents, compare_metadata, compare_presentation, measure_file

    streams = sr.body.get("streams") if isinstance(sr.body.get("streams"), list) else []
    try:
        measured = measure_file(full)
    except (BwcError, OSError, ValueError) as exc:
        add.append(_finding(CONTENT_PRESENTATION_ALTERED, f"clip {clip_rel}: its presentation metadata "
                            f"cannot be measured ({exc})", **where))
        return False
    at = {**where, "segment": clip_rel}
    # Container metadata (format 1.16): the exporter writes none beyond its muxer's name.
    found = (compare_presentation(streams, measured.presentation, at)
             + compare_metadata(measured.metadata, at))
    if signed is not None and chunks is not None:
        # Durations (1.16): the clip's last frames are held as long as the signed chunks allow.
        found += compare_extents(_clip_spans(signed, sr, *chunks), measured.extents, at,
                                 measured.duration, measured.stated)
    add.extend(found)
    return not found


def _clip_origin(signed: Any, sr: Any) -> Fraction | None:
    """t0 of the segment's chunking without video (format 1.5, "Clips"): its signed chunk 0's start.

    A clip of an audio-only segment is chunked by the segment's seconds, not
    by seconds from its own first packet. *signed* is the segment's sidecar
    once checked against the signed root (or None).
    """
    chunks = segment_chunks(sr.body, signed)
    return chunks[0].start if chunks else None


def _signed_chunks(root: Path, sr: Any) -> list[Any] | None:
    """The chunk table of segment record *sr*: its own (before format 1.5) or its checked sidecar's under *root*."""
    signed = None
    if "chunks" not in sr.body:
        ref = sr.body.get("leaves") if isinstance(sr.body.get("leaves"), dict) else {}
        rel = safe_member(ref.get("file"))
        if rel is None:
            return None
        try:
            signed = signed_leaves(root / rel, sr.body)
        except (BwcError, OSError, ValueError):
            return None
    return segment_chunks(sr.body, signed)


def _sidecar_problem(root: Path, sr: Any) -> str:
    """Why segment record *sr*'s sidecar under *root* yields no chunk table (format 1.5)."""
    ref = sr.body.get("leaves") if isinstance(sr.body.get("leaves"), dict) else {}
    rel = safe_member(ref.get("file"))
    if rel is None:
        return "the record names no usable sidecar path"
    try:
        signed_leaves(root / rel, sr.body)
    except (BwcError, OSError, ValueError) as exc:
        return str(exc)
    return "unreadable"


def _verify_clip(root: Path, entry: dict[str, Any], segs: dict[str, Any], add: list[Finding],
                 report_bytes: list[int]) -> None:
    clip = entry["clip"]
    seg_rel, clip_rel, leaves_rel = entry.get("file"), safe_member(clip.get("file")), safe_member(entry.get("leaves"))
    sr = segs.get(seg_rel)
    where = {"segment": seg_rel, "clip": clip_rel}
    if sr is None or sr.content_root is None:
        add.append(_finding(CLIP_SEGMENT_UNKNOWN, f"clip {clip_rel}: no signed segment record for "
                            f"{seg_rel!r} in the journal excerpt", **where))
        return
    if clip_rel is None or leaves_rel is None:
        add.append(_finding(EXHIBIT_MANIFEST_INVALID, f"clip of {seg_rel}: unsafe or missing path", **where))
        return
    sr.status = "clipped"
    signed_leaves = sr.body.get("leaves") if isinstance(sr.body.get("leaves"), dict) else {}
    signed = None
    if signed_leaves.get("file") != leaves_rel:
        add.append(_finding(CLIP_LEAVES_MISMATCH, f"clip {clip_rel}: sidecar {leaves_rel} is not the one "
                            "the segment record names", **where))
    else:
        try:
            signed = read_leaves(root / leaves_rel)
        except (BwcError, OSError, ValueError) as exc:
            add.append(_finding(CLIP_LEAVES_MISMATCH, f"{leaves_rel}: {exc}", **where))
        if signed is not None and signed.root.hex() != sr.content_root:
            add.append(_finding(CLIP_LEAVES_MISMATCH, f"{leaves_rel}: recomputed root differs from the "
                                "signed content root", **where))
            signed = None
    try:
        proof = RangeProof.from_json(clip.get("proof"))  # type: ignore[arg-type]
        claimed = [bytes.fromhex(h) for h in clip.get("chunk_roots", [])]
    except (BwcError, ValueError, TypeError, AttributeError) as exc:
        add.append(_finding(CLIP_PROOF_INVALID, f"clip {clip_rel}: malformed proof ({exc})", **where))
        sr.status = "clip_altered"
        return
    root_b = bytes.fromhex(sr.content_root)
    if not verify_range_proof(proof, claimed, root_b):
        add.append(_finding(CLIP_PROOF_INVALID, f"clip {clip_rel}: the proof of chunks {proof.first}.."
                            f"{proof.last} does not lead to the signed root of {seg_rel}", **where))
        sr.status = "clip_altered"
        return
    if (proof.first, proof.last) != (entry["first_chunk"], entry["last_chunk"]):
        add.append(_finding(EXHIBIT_DECLARATION_MISMATCH, f"clip {clip_rel}: exhibit.json declares chunks "
                            f"{entry['first_chunk']}..{entry['last_chunk']}, the range proof proves "
                            f"{proof.first}..{proof.last}", **where))
        sr.status = "clip_altered"
    full = root / clip_rel
    if full.is_symlink() or not full.is_file():
        add.append(_finding(EXHIBIT_CLIP_MISSING, f"the clip of segment {entry['index']} ({clip_rel}, chunks "
                            f"{proof.first}..{proof.last}), declared in exhibit.json, is absent: that part of "
                            "the span is not shown", **where))
        sr.status = "clip_altered"
        return
    try:
        found, problems = content_of(full, origin=_clip_origin(signed, sr))
    except (BwcError, OSError, ValueError) as exc:
        add.append(_finding(CLIP_UNREADABLE, f"clip {clip_rel}: not readable as media ({exc})", **where))
        sr.status = "clip_altered"
        return
    got = found.chunk_roots
    report_bytes[0] += full.stat().st_size
    extra = _clip_structure(full)
    if extra is not None:
        add.append(_finding(CLIP_APPENDED, f"clip {clip_rel}: {extra}", **where))
        sr.status = "clip_altered"
    streams_ok = _check_clip_streams(clip_rel, found, proof.streams, add, where)
    streams_ok = (_check_clip_presentation(full, clip_rel, sr, add, where, signed, (proof.first, proof.last))
                  and streams_ok)
    if not streams_ok:
        sr.status = "clip_altered"
    if got == claimed and not problems:
        return
    sr.status = "clip_altered"
    before = len(add)
    _diagnose(clip_rel, proof.first, claimed, found, signed, add, where)
    if len(add) == before:
        add.append(_finding(CLIP_CHUNK_ALTERED, f"clip {clip_rel}: chunk roots differ from the proven "
                            "ones", **where))


#: Top-level ISO BMFF boxes FFmpeg's fragmented MP4 muxer writes for a clip.
_CLIP_BOXES = frozenset({b"ftyp", b"moov", b"moof", b"mdat", b"mfra"})


def _clip_structure(path: Path) -> str | None:
    """What is wrong with a clip file's top-level structure, or None (format 1.4, section 2.11).

    A clip's digests are signed by the exporter only, so its bytes are
    checked on content: the packets are proven chunk by chunk, and the file
    must be nothing but the container structure around them. ISO BMFF: the
    top-level boxes (each with an explicit size) tile the file exactly, are
    of the types a fragmented MP4 muxer writes (``ftyp``, ``moov``, then
    ``moof``/``mdat`` pairs), ``ftyp`` and ``moov`` once at the start, and at
    most one ``mfra`` after the last ``mdat``. Matroska: one EBML header and one Segment of known
    size, ending at the end of the file. MPEG-TS: whole 188-byte packets,
    each starting with the sync byte 0x47.
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(12)
            if head[4:8] == b"ftyp":
                return _bmff_structure(fh, size)
            if head[:4] == b"\x1a\x45\xdf\xa3":
                return _ebml_structure(fh, size)
            if head[:1] == b"\x47":
                if size % 188:
                    return f"{size % 188} byte(s) after its last whole MPEG-TS packet"
                fh.seek(0)
                offset = 0
                while chunk := fh.read(188 * 4096):
                    if chunk[::188].strip(b"\x47"):
                        bad = offset + 188 * next(i for i, c in enumerate(chunk[::188]) if c != 0x47)
                        return f"no MPEG-TS sync byte at offset {bad}"
                    offset += len(chunk)
                return None
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    return "not a container a clip is written in (ISO BMFF, Matroska, MPEG-TS)"


def _bmff_structure(fh: Any, size: int) -> str | None:
    offset, last_mdat, kinds = 0, None, []
    while offset < size:
        fh.seek(offset)
        head = fh.read(16)
        if len(head) < 8:
            return f"{size - offset} byte(s) after its last box"
        box, kind = int.from_bytes(head[:4], "big"), head[4:8]
        if box == 1 and len(head) == 16:
            box = int.from_bytes(head[8:16], "big")
        if box < 8 or offset + box > size or kind not in _CLIP_BOXES:
            return f"bytes at offset {offset} ({size - offset} to the end) are no box a clip holds"
        if kind == b"mdat":
            last_mdat = len(kinds)
        kinds.append(kind)
        offset += box
    if kinds[:2] != [b"ftyp", b"moov"] or kinds.count(b"ftyp") + kinds.count(b"moov") != 2:
        return "not one ftyp and one moov at its start (a second file appended?)"
    after = kinds[last_mdat + 1:] if last_mdat is not None else kinds
    if last_mdat is None or after not in ([], [b"mfra"]):
        return "boxes other than one mfra follow its last mdat"
    return None


def _ebml_structure(fh: Any, size: int) -> str | None:
    def vint(data: bytes, at: int, keep_marker: bool) -> tuple[int, int] | None:
        if at >= len(data) or data[at] == 0:
            return None
        length = 9 - data[at].bit_length()
        if at + length > len(data):
            return None
        value = int.from_bytes(data[at:at + length], "big")
        if not keep_marker:
            value &= (1 << (7 * length)) - 1
        return value, at + length

    offset, elements = 0, []
    while offset < size:
        fh.seek(offset)
        head = fh.read(12)
        ident = vint(head, 0, True)
        length = vint(head, ident[1], False) if ident else None
        if ident is None or length is None:
            return f"bytes at offset {offset} ({size - offset} to the end) are no Matroska element"
        value, body = length
        width = body - ident[1]
        if value == (1 << (7 * width)) - 1:
            return f"the element at offset {offset} has an unknown size"
        if offset + body + value > size:
            return f"the element at offset {offset} runs past the end of the file"
        elements.append(ident[0])
        offset += body + value
    if elements != [0x1A45DFA3, 0x18538067]:
        return "bytes after its Matroska Segment" if elements[:2] == [0x1A45DFA3, 0x18538067] \
            else "not one EBML header and one Segment"
    return None


def _diagnose(clip_rel: str, first: int, claimed: list[bytes], found: Any, signed: Any,
              add: list[Finding], where: dict[str, Any]) -> None:
    """Name missing, foreign and altered chunks, and frames removed or reordered inside one."""
    all_signed = signed.chunk_roots if signed is not None else claimed
    got = found.chunk_roots
    matched = set()
    unmatched_found = []
    for n, r in enumerate(got):
        if r in claimed:
            matched.add(claimed.index(r))
        else:
            unmatched_found.append(n)
    missing = [k for k in range(len(claimed)) if k not in matched]

    def leaves_by_stream(packets: Sequence[Any]) -> dict[int, list[bytes]]:
        d: dict[int, list[bytes]] = defaultdict(list)
        for p in packets:
            d[p.stream].append(bytes(p.leaf))
        return d

    explained: set[int] = set()
    for n in unmatched_found:
        fpk = found.chunk_packets(n)
        f_leaves = {bytes(p.leaf) for p in fpk}
        best, best_share = None, 0
        if signed is not None:
            for k in missing:
                s_leaves = {bytes(p.leaf) for p in signed.chunk_packets(first + k)}
                share = len(f_leaves & s_leaves)
                # Most of the frames must be the signed ones: a periodic signal
                # (a test tone, silence) repeats a few packets across chunks.
                if share > best_share and 2 * share > max(len(s_leaves), len(f_leaves)):
                    best, best_share = k, share
        if best is None:
            r_in = got[n] in all_signed
            add.append(_finding(CLIP_CHUNK_FOREIGN, f"clip {clip_rel}: chunk {n} of the clip is not one "
                                f"of the signed chunks {first}..{first + len(claimed) - 1}"
                                + (" (it is another chunk of the same segment)" if r_in else ""),
                                clip_chunk=n, **where))
            continue
        explained.add(best)
        k = first + best
        a, b = leaves_by_stream(signed.chunk_packets(k)), leaves_by_stream(fpk)
        removed = reordered = inserted = 0
        for stream in sorted(set(a) | set(b)):
            sa, sb = a.get(stream, []), b.get(stream, [])
            if sa == sb:
                continue
            sm = SequenceMatcher(None, sa, sb, autojunk=False)
            common = sum(blk.size for blk in sm.get_matching_blocks())
            set_a, set_b = set(sa), set(sb)
            removed += len(set_a - set_b)
            inserted += len(set_b - set_a)
            reordered += max(0, len(set_a & set_b) - common)
        if removed:
            add.append(_finding(CLIP_FRAMES_REMOVED, f"clip {clip_rel}: {removed} packet(s) of signed chunk "
                                f"{k} are absent", chunk=k, count=removed, **where))
        if reordered:
            add.append(_finding(CLIP_FRAMES_REORDERED, f"clip {clip_rel}: packets of signed chunk {k} "
                                f"appear in another order ({reordered} out of place)", chunk=k,
                                count=reordered, **where))
        if inserted:
            add.append(_finding(CLIP_CHUNK_ALTERED, f"clip {clip_rel}: chunk {k} holds {inserted} "
                                "packet(s) that were never signed", chunk=k, count=inserted, **where))
        if not (removed or reordered or inserted):
            add.append(_finding(CLIP_TIMING_ALTERED, f"clip {clip_rel}: chunk {k} holds the signed frames "
                                "but their timing differs from the signed timing", chunk=k, **where))
    for k in missing:
        if k not in explained:
            add.append(_finding(CLIP_CHUNK_MISSING, f"clip {clip_rel}: signed chunk {first + k} is absent",
                                chunk=first + k, **where))


def trust_inside(
    exhibit: str | os.PathLike[str], trust: Iterable[str | os.PathLike[str]], anchors: Any = None
) -> list[Finding]:
    """``exhibit.trust_inside`` for each trust anchor file that lies inside the exhibit folder.

    A root key shipped in the exhibit proves nothing about who made it: the
    origin verdict holds only once its fingerprint has been compared with
    the one the agency publishes.
    """
    base = Path(exhibit)
    if not base.is_dir():
        return []
    base = base.resolve()
    out = []
    for t in trust:
        full = Path(t).resolve()
        if full.is_relative_to(base):
            try:
                kid = PublicIdentity.load(full).key_id
            except (BwcError, OSError, ValueError):
                kid = "?"
            out.append(_finding(EXHIBIT_TRUST_INSIDE, f"the trust anchor {t} is a file inside the exhibit: "
                                f"an exhibit cannot vouch for itself. Compare its fingerprint {kid} with the "
                                "root fingerprint the agency publishes, out of band", file=str(t), key_id=kid))
    return out
