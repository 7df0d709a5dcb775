"""The verification engine every role and the ``bwc verify`` command use.

:func:`verify_evidence` checks an evidence directory (``journal.jsonl`` plus
``media/<recording>/`` segment files and their ``.leaves`` sidecars) and
returns a :class:`Report`: findings as data, and three verdicts kept apart:

* **integrity**: are the bytes and frames those that were signed;
* **completeness**: is anything missing (journal gaps, segments, frames,
  an unclosed recording);
* **origin**: was it signed by a trusted, valid, unrevoked device key.

Every finding code is stable, registered in
:data:`bwc_core.format.findings.CODES` (this module's, the journal's and the
exhibit's) and documented in ``docs/findings.md``.

What is read, in order: the journal (chain, signatures, certificates,
revocation); every ``segment`` record's file (size and every digest), its
sidecar (digests, and its recomputed root against the signed content root),
and the file re-demuxed into a fresh content root. When a file's bytes differ
but its packets are the signed ones, that is a stream-copy remux
(``content.container_changed``), not altered content; when the content
differs, the re-demuxed packets are aligned with the sidecar's per stream to
name the altered, missing, inserted or reordered packets.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import stat
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from fractions import Fraction
from pathlib import Path
from typing import Any

from bwc_core.errors import BwcError, JournalError
from bwc_core.format.envelope import Envelope
from bwc_core.format.findings import (
    CONTENT_ALTERED,
    CONTENT_CONFIG_ALTERED,
    CONTENT_CONTAINER_CHANGED,
    CONTENT_DEMUX_IRREGULAR,
    CONTENT_PACKET_ALTERED,
    CONTENT_PACKET_INSERTED,
    CONTENT_PACKET_MISSING,
    CONTENT_PACKET_REORDERED,
    CONTENT_PRESENTATION_ALTERED,
    CONTENT_TIME_SHIFTED,
    CONTENT_TIMING_ALTERED,
    CONTENT_TIMING_GAP,
    CONTENT_TIMING_GAP_RECOVERED,
    CONTENT_TIMING_SHIFTED,
    EVIDENCE_STRAY_FILE,
    JOURNAL_HEAD_MISMATCH,
    JOURNAL_HEAD_MISSING,
    JOURNAL_MALFORMED_LINE,
    RECORDING_IMPORT_FAILED,
    RECORDING_RECOVERED,
    RECORDING_REOPENED,
    RECORDING_SEGMENT_COUNT,
    RECORDING_UNCLOSED,
    RECORDING_UNOPENED,
    SEGMENT_APPENDED,
    SEGMENT_BAD_PATH,
    SEGMENT_DIGEST_MISMATCH,
    SEGMENT_DIGEST_UNKNOWN,
    SEGMENT_DUPLICATE,
    SEGMENT_INDEX_GAP,
    SEGMENT_LEAVES_MISMATCH,
    SEGMENT_LEAVES_MISSING,
    SEGMENT_LOST,
    SEGMENT_LOST_ALTERED,
    SEGMENT_MISPLACED,
    SEGMENT_MISSING,
    SEGMENT_PRE_EVENT,
    SEGMENT_RECOVERED_UNATTESTED,
    SEGMENT_SIZE_MISMATCH,
    SEGMENT_SWAPPED,
    SEGMENT_UNATTESTED,
    SEGMENT_UNATTESTED_KEPT,
    SEGMENT_UNEXPECTED,
    SEGMENT_UNREADABLE,
    Finding,
)
from bwc_core.format.findings import finding as _finding
from bwc_core.format.journal import Journal, Record, origin_unchecked, read_lines
from bwc_core.format.keys import Certificate, RevocationList, Trust, TrustAnchors, require_trust
from bwc_core.format.layout import EXHIBIT_MANIFEST, JOURNAL_NAME, MEDIA_DIR, safe_rel
from bwc_core.media import presentation as _presentation  # noqa: F401 - registers content.presentation_altered
from bwc_core.media.presentation import header_declares_streams
from bwc_core.verify.model import RecordingReport, Report, SegmentReport, frac, iso

__all__ = [
    "verify_evidence",
]

#: Findings of one code reported individually per segment; the rest are summarised.
MAX_PACKET_FINDINGS = 10


# code -> (verdict, severity, meaning); docs/findings.md mirrors this table.


# --- the report ---------------------------------------------------------------------------


# --- measuring files (thread-safe, no findings yet) ---------------------------------------


@dataclass
class _Measured:
    exists: bool = False
    link: bool = False
    size: int | None = None
    digests: dict[str, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    error: str | None = None
    content: Any = None  # ContentResult re-demuxed from the file
    fast: Any = None  # ContentResult of the one-pass reader, until settled
    content_error: str | None = None
    demux_errors: list[str] = field(default_factory=list)  # irregularities met while re-demuxing
    format: str | None = None  # FFmpeg's format name of the re-demuxed file
    leaves_exists: bool = False
    leaves_size: int | None = None
    leaves_digests: dict[str, str] = field(default_factory=dict)
    leaves: Any = None  # ContentResult parsed from the sidecar
    leaves_error: str | None = None
    #: What a file whose bytes are not the signed ones presents beyond its packets (presentation,
    #: unsigned container metadata, last-frame holds, stated durations:
    #: :class:`bwc_core.media.presentation.FileMeasurement`), else None.
    presentation: Any = None
    presentation_error: str | None = None


def _new_hasher(name: str) -> Any:
    from bwc_core.verify.io import new_hasher

    return new_hasher(name)


def _lstat_regular(path: Path) -> tuple[bool, bool]:
    """(exists, is_link_or_special)."""
    from bwc_core.verify.io import lstat_regular

    return lstat_regular(path)


# Demuxer options for containers that declare every stream, its codec
# configuration and time base in the header (ISO BMFF's moov, Matroska's
# Tracks): FFmpeg's default stream probe decodes frames of each stream only to
# learn things the content format never reads (pixel format, frame rate), ~20
# ms per 1080p segment; ``skip_frame=all`` makes the probe's decoder drop
# every frame undecoded. MPEG-TS keeps the full probe (its streams and H.264
# configuration are found in the packets). A root that differs from the
# signed one is always recomputed with the default probe, so the options can
# only make a match faster, never turn one into a finding.

_LIGHT_PROBE = {"analyzeduration": "0", "probesize": "32", "skip_frame": "all"}


#: Bounds of the probe of an unexpected file (format 1.4, section 2.11): a
#: header-sized read, so a large or hostile file cannot make verify slow.
_PRESENT_PROBE = {"probesize": "1000000", "analyzeduration": "1000000"}
_PRESENT_MAX_PACKETS = 256
#: Demuxers that only render a text file's own characters (FFmpeg's ``tty``
#: shows a ``.txt`` file, such as an exhibit's VERIFY.txt, as a text screen):
#: what they present is the text anyone reading the file sees.
_TEXT_FORMATS = frozenset({"tty"})


def presentable(path: Path) -> bool:
    """True when FFmpeg opens the regular file *path* as media and demuxes a non-empty packet of it.

    What a player given this file can present (a video, a picture, a subtitle
    file next to a segment). Probed by name like a player does (the extension
    counts), with bounded probe size and analysis time, at most
    ``_PRESENT_MAX_PACKETS`` packets read; never raises. The caller checks the
    file is regular first (opening a FIFO would block).
    """
    try:
        import av

        # Absolute: a relative name such as "http:x" or "concat:a|b" would be read as a URL.
        with av.open(os.path.abspath(path), options=dict(_PRESENT_PROBE)) as container:
            if not container.streams or container.format.name in _TEXT_FORMATS:
                return False
            for n, packet in enumerate(container.demux()):
                if packet.size:
                    return True
                if n >= _PRESENT_MAX_PACKETS:
                    break
    except Exception:  # noqa: BLE001 - any failure to open or demux: nothing a player can present
        return False
    return False


def _unexpected_finding(full: Path, rel: str, note: str = "") -> Finding:
    """``segment.unexpected`` (error) for a file FFmpeg can present or that is not a regular file,
    else ``evidence.stray_file`` (warning)."""
    try:
        st = os.lstat(full)
        regular = stat.S_ISREG(st.st_mode)
    except OSError:
        regular = False
    if not regular:
        return _finding(SEGMENT_UNEXPECTED, f"{rel} is named by no signed record and is not a regular "
                        "file", file=rel)
    if presentable(full):
        return _finding(SEGMENT_UNEXPECTED, f"{rel} is named by no signed record and FFmpeg can open it "
                        f"as media{note}", file=rel)
    return _finding(EVIDENCE_STRAY_FILE, f"{rel} is named by no signed record; FFmpeg cannot open it as "
                    f"media, so a player presents nothing from it (not evidence){note}", file=rel)


def content_of(path: Path, options: dict[str, str] | None = None, salvage: bool = False,
                origin: Fraction | None = None, info: dict[str, Any] | None = None) -> tuple[Any, list[str]]:
    """The re-demuxed content commitment, tolerant of damage, and its irregularities.

    Unlike :func:`bwc_core.media.commit.content_root`, a packet that cannot be
    framed (cut NAL unit) is skipped and demuxing stops at the first
    unreadable spot, so a truncated or damaged file still yields the packets
    it holds and the verifier can name the ones missing or altered. The
    packets are those :meth:`MediaSource.packets` yields, checked the same
    way (a packet without pts, of an undeclared stream or with a decreasing
    dts ends the demux), but hashed straight from FFmpeg's buffers. Every
    such stop, every skipped packet and every demux error is one entry of the
    returned problems (format section 1.13): never a silent stop. With
    *salvage* (a segment journaled as ``recovered``) the packets are those
    crash recovery committed: the ones before the first sample cut short (see
    :func:`bwc_core.capture.segmenter.salvage`); where salvage stopped is a problem too.
    *info*, when given, receives the demuxer's ``format`` name.
    """
    from bwc_core.media.commit import demux_content
    from bwc_core.media.source import MediaSource

    problems: list[str] = []
    # Named by file name: problems become findings that name the segment already.
    with MediaSource(path, options=options, salvage=salvage, name=os.path.basename(path)) as src:
        if info is not None:
            info["format"] = src.format
        return demux_content(src, salvage=salvage, problems=problems, origin=origin), problems


def _from_read(r: Any, algorithms: Sequence[str]) -> _Measured:
    """A :class:`_Measured` from a worker's :func:`bwc_core.verify.io.read_segment` result."""
    m = _Measured()
    m.exists, m.link, m.error = r.exists, r.link, r.error
    if m.exists and not m.link and m.error is None:
        m.size = r.size
        m.digests = {k: v for k, v in r.digests.items() if k in algorithms}
    m.unknown = list(r.unknown)
    m.fast = r.content
    return m


def _accepted(m: _Measured, signed: SegmentReport | None) -> bool:
    """The one-pass content root may stand: the signed bytes, yielding the signed root."""
    return (m.fast is not None and signed is not None and signed.content_root is not None
            and m.size == signed.size and bool(m.digests) and not m.unknown
            and all(m.digests[k] == signed.digests.get(k) for k in m.digests)
            and m.fast.root.hex() == signed.content_root)


def _needs_ffmpeg(m: _Measured, signed: SegmentReport | None) -> bool:
    return m.exists and not m.link and m.error is None and not _accepted(m, signed)


def _bytes_differ(m: _Measured, signed: SegmentReport | None) -> bool:
    """The file is readable but its bytes are not the signed ones (its presentation must be measured)."""
    return (m.exists and not m.link and m.error is None and signed is not None
            and not (m.size == signed.size and bool(m.digests)
                     and all(m.digests[k] == signed.digests.get(k) for k in m.digests)))


def _measure_presentation(path: Path) -> tuple[Any, str | None]:
    """(FileMeasurement, error) of a file whose bytes differ from the signed ones; never raises."""
    from bwc_core.media.presentation import measure_file

    try:
        return measure_file(path), None
    except (BwcError, OSError, ValueError) as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - a hostile file must not crash the verifier
        return None, f"{type(exc).__name__}: {exc}"


def _settle(m: _Measured, signed: SegmentReport | None, leaves_path: Path | None,
            leaves_algorithms: Sequence[str], demuxed: tuple[Any, list[str], str | None, str | None] | None) -> None:
    """Content (the accepted one-pass root, or FFmpeg's *demuxed* reading) and the sidecar."""
    from bwc_core.format.content import leaves_bytes, parse_leaves

    if m.exists and not m.link and m.error is None:
        if _accepted(m, signed):
            m.content = m.fast
        elif demuxed is not None:
            m.content, m.demux_errors, m.content_error, m.format = demuxed
    m.fast = None
    if leaves_path is not None:
        exists, odd = _lstat_regular(leaves_path)
        m.leaves_exists = exists and not odd
        if m.leaves_exists:
            try:
                data = leaves_path.read_bytes()
                m.leaves_size = len(data)
                for name in leaves_algorithms:
                    h = _new_hasher(name)
                    if h is not None:
                        h.update(data)
                        m.leaves_digests[name] = h.hexdigest()
                if m.content is not None and data == leaves_bytes(m.content):
                    m.leaves = m.content  # byte for byte the sidecar of the content just derived
                else:
                    m.leaves = parse_leaves(data, name=str(leaves_path))
            except (BwcError, OSError, ValueError) as exc:
                m.leaves_error = str(exc)


def _measure_content(path: Path, expected_root: str | None = None, salvage: bool = False,
                     with_format: bool = False) -> tuple[Any, ...]:
    """(content, demux problems, error) of a file re-demuxed, plus FFmpeg's format name
    *with_format*; never raises (see :func:`_demux_file`)."""
    measured = _demux_file(path, expected_root, salvage)
    return measured if with_format else measured[:3]


def _demux_file(path: Path, expected_root: str | None = None,
                salvage: bool = False) -> tuple[Any, list[str], str | None, str | None]:
    """(content, demux problems, error, FFmpeg format name) of a file re-demuxed; never raises.

    MP4 and MKV are opened with a light stream probe first; a root other than
    *expected_root* (the signed one) is recomputed with FFmpeg's default
    probe, so the findings are those of a full probe. *salvage* is set for a
    segment journaled as ``recovered`` (see :func:`_content_of`).
    """
    exists, odd = _lstat_regular(path)
    if not exists or odd:
        return None, [], "not a regular file", None
    info: dict[str, Any] = {}
    try:
        if expected_root is not None and header_declares_streams(path):
            try:
                content, problems = content_of(path, _LIGHT_PROBE, salvage, info=info)
                if not problems and content.root.hex() == expected_root:
                    return content, problems, None, info.get("format")
            except (BwcError, OSError, ValueError):
                pass
        content, problems = content_of(path, None, salvage, info=info)
        return content, problems, None, info.get("format")
    except (BwcError, OSError, ValueError) as exc:
        return None, [], str(exc), info.get("format")
    except Exception as exc:  # noqa: BLE001 - a hostile file must not crash the verifier
        return None, [], f"{type(exc).__name__}: {exc}", info.get("format")


# --- the engine -------------------------------------------------------------------------------

ProgressFn = Callable[[int, int, str], None]


@dataclass
class _Lost:
    """A file a signed record lists as lost (``recovery``: nothing readable; ``recording.close``
    ``import_failed``: left unjournaled), or the stale sidecar beside it."""

    recording: str
    seq: int
    why: str = "crash recovery found no readable packet in this file"
    index: int | None = None
    size: int | None = None
    digests: dict[str, str] = field(default_factory=dict)
    sidecar_of: str | None = None  # set for the ``.leaves`` left beside a lost file
    absent: bool = False  # format 1.4: moved aside by recovery; a file at this path is unattested


def lost_files(body: dict[str, Any], rid: str, seq: int, lost: dict[str, _Lost], why: str | None = None) -> None:
    """The lost files of one record: ``lost`` paths, their signed bytes from ``lost_files``."""
    why = why or _Lost.why
    paths = body.get("lost") if isinstance(body.get("lost"), list) else []
    for value in paths:
        rel = safe_rel(value)
        if rel is not None:
            lost[rel] = _Lost(rid, seq, why)
    files = body.get("lost_files") if isinstance(body.get("lost_files"), list) else []
    for entry in files:
        if not isinstance(entry, dict):
            continue
        rel = safe_rel(entry.get("file"))
        digests = entry.get("digests")
        if rel is None or not isinstance(digests, dict):
            continue
        item = lost.setdefault(rel, _Lost(rid, seq, why))
        item.index = entry.get("index") if type(entry.get("index")) is int else None
        item.size = entry.get("size") if type(entry.get("size")) is int else None
        item.digests = {str(k): str(v) for k, v in digests.items()}
        leaves = entry.get("leaves")
        if isinstance(leaves, dict) and isinstance(leaves.get("digests"), dict):
            leaves_rel = safe_rel(leaves.get("file"))
            if leaves_rel is not None:
                size = leaves.get("size") if type(leaves.get("size")) is int else None
                lost[leaves_rel] = _Lost(rid, seq, why, item.index, size,
                                         {str(k): str(v) for k, v in leaves["digests"].items()}, rel)


@dataclass
class _Seg:
    """A segment record under check."""

    record: Record
    body: dict[str, Any]
    recording: str | None
    rel: str | None  # normalised relative path, None if unsafe
    leaves_rel: str | None
    report: SegmentReport
    measured: _Measured | None = None
    unattested: bool = False  # recovered, matching no segment.progress record


def _safe_aside(value: Any) -> str | None:
    """A path a ``recovery`` record set aside: ``unattested[-N]/media/...``, else None."""
    if not isinstance(value, str) or "/" not in value:
        return None
    top, rest = value.split("/", 1)
    if not re.fullmatch(r"unattested(-[0-9]+)?", top) or safe_rel(rest) is None:
        return None
    return value


def _aside_index(rel: str, rid: str) -> int | None:
    """The segment index a set-aside file of recording *rid* was found at
    (``media/RID/RID-NNNNN.EXT``), else None: a segment finished but not yet
    journaled when the power went, with no progress record yet, is set aside
    whole, and its index is then accounted for (a warning), not a gap."""
    m = re.fullmatch(r"media/([^/]+)/([^/]+)-([0-9]{5})\.(mp4|mkv|ts)", _aside_origin(rel))
    if m is None or m.group(1) != rid or m.group(2) != rid:
        return None
    return int(m.group(3))


def _aside_origin(rel: str) -> str:
    """The media/ path a set-aside file was found at."""
    return rel.split("/", 1)[1]


def _load_anchors(anchors: TrustAnchors, revocations: Iterable[RevocationList | str | os.PathLike[str]] | None) -> None:
    for item in revocations or ():
        if not isinstance(item, RevocationList):
            item = RevocationList.load(item)  # a FIFO or device is refused unread
        anchors.add_revocation_list(item)


def _cert_json(cert: Certificate, since_seq: int) -> dict[str, Any]:
    return {
        "subject": cert.subject,
        "role": cert.role,
        "key_id": cert.key_id,
        "serial": cert.serial,
        "not_before": cert.not_before,
        "not_after": cert.not_after,
        "issuer_key_id": cert.issuer_key_id,
        "from_seq": since_seq,
    }


def verify_evidence(
    path: str | os.PathLike[str],
    anchors: Trust,
    *,
    revocations: Iterable[RevocationList | str | os.PathLike[str]] | None = None,
    progress: ProgressFn | None = None,
    workers: int | None = None,
    follow_exhibit: bool = True,
    processes: bool = False,
    prefetched: Any = None,
    heads: Iterable[tuple[int, str]] = (),
) -> Report:
    """Verify an evidence directory against ``anchors`` and return the :class:`Report`.

    ``revocations`` (root-signed lists, or paths of their JSON files) are added
    to ``anchors``. ``progress(done, total, what)`` is called as segment files
    are checked. Segment files are read by ``workers`` threads (default: one
    per core); ``processes=True`` uses forked worker processes instead (on
    Linux), which avoids the interpreter lock between workers
    (what the ``bwc`` command does; a library caller with threads of its own
    should keep the default, as forking a multi-threaded process is unsafe).
    ``prefetched`` (a :class:`bwc_core.verify.io.Prefetch` of this directory,
    started before the journal is read) supplies files already read and the
    worker pool. ``anchors`` is required: :class:`TrustAnchors`, or
    :data:`bwc_core.format.keys.UNSAFE_NO_ORIGIN` to check everything but
    origin on purpose (the warning ``origin.unchecked`` heads the findings and
    the origin verdict is ``"unchecked"``); ``None`` raises
    :class:`BwcTypeError`. These are the steps for an evidence
    directory: call the dispatcher :func:`bwc_core.verify.verify_evidence`,
    which sends a court exhibit (folder with ``exhibit.json`` or a zip) to
    :func:`bwc_core.verify.exhibit.verify_exhibit` unless ``follow_exhibit`` is
    false. ``heads`` are ``(seq, record hash hex)`` pairs known from outside
    the journal (a dock's receipt, an earlier audit): the only way to see
    records removed from its end (``journal.head_missing``; a different
    record at that seq is ``journal.head_mismatch``). Raises
    :class:`JournalError` (an
    ``OSError``) only when the input is not an evidence directory at all: no
    readable ``journal.jsonl``, or not one line of it is a signed record.
    Everything else is a finding.
    """
    checked = require_trust(anchors, "verify_evidence")
    root = Path(path)
    heads = list(heads)
    if not root.exists():
        raise JournalError(f"{root}: no such file or directory")
    if root.is_file() and root.name == JOURNAL_NAME:
        root = root.parent
    if not root.is_dir():
        raise JournalError(f"{root}: not an evidence directory (expected a directory with {JOURNAL_NAME})")
    if not os.path.lexists(root / JOURNAL_NAME):
        raise JournalError(f"{root}: not an evidence directory: no {JOURNAL_NAME}")
    if follow_exhibit and os.path.lexists(root / EXHIBIT_MANIFEST):
        # exhibit.json present but not a regular file (a FIFO, a directory):
        # neither an exhibit nor evidence to be verified as if it were absent.
        raise JournalError(f"{root / EXHIBIT_MANIFEST}: not a regular file")
    if checked is not None:
        _load_anchors(checked, revocations)

    journal = Journal.open(root, anchors=checked, strict=False)
    if not journal.records and not _any_envelope(read_lines(root / JOURNAL_NAME)):
        raise JournalError(f"{root / JOURNAL_NAME}: not a bwc-core journal (no signed record in it)")

    report = Report(str(root))
    if checked is None:
        report.findings.append(origin_unchecked())
    report.findings.extend(journal.findings)
    report.trust = {"roots": sorted(checked.fingerprints) if checked is not None else [],
                    "checked": checked is not None,
                    "policy": "anchors" if checked is not None else "UNSAFE_NO_ORIGIN"}
    keys = journal.keys
    report.device = {
        "id": journal.device,
        # the role of the key in force at the journal's end; each certificate has its own
        "role": keys[-1][1].role if keys else None,
        "certificates": [_cert_json(cert, start) for start, cert in keys],
    }

    # One copy of each record, in seq order (duplicates and reorders are findings already).
    seen: set[bytes] = set()
    records: list[Record] = []
    for rec in journal.records:
        if rec.hash not in seen:
            seen.add(rec.hash)
            records.append(rec)
    records.sort(key=lambda r: (r.seq, r.line))
    if records:
        report.journal = {"records": len(records), "head_seq": records[-1].seq,
                          "head": records[-1].hash_hex, "first_time": iso(records[0].time),
                          "last_time": iso(records[-1].time)}

    _check_heads(journal.records, heads, report)
    lost: dict[str, _Lost] = {}
    aside: dict[str, _Lost] = {}
    segs = _walk_records(records, report, lost, aside)
    _check_segments(root, segs, report, progress, workers, processes, prefetched)
    for s in segs:
        if s.unattested:
            s.report.status = "unattested"
    # An exhibit folder (verified through bwc_core.exhibit.build) accounts for its other files itself.
    _check_unexpected(root, segs, report, prefetched, lost, aside,
                      whole=follow_exhibit or not (root / EXHIBIT_MANIFEST).is_file())
    _check_continuity(report, [*lost.values(), *aside.values()])
    return report


def _check_heads(records: list[Record], heads: Iterable[tuple[int, str]], report: Report) -> None:
    """Known heads (seq, record hash) against the journal's records."""
    by_seq: dict[int, set[str]] = defaultdict(set)
    for rec in records:
        by_seq[rec.seq].add(rec.hash_hex)
    last = max(by_seq, default=-1)
    for seq, digest in heads:
        digest = digest.lower()
        where = {"seq": seq, "head": digest}
        if seq not in by_seq:
            if seq > last:
                report.findings.append(_finding(
                    JOURNAL_HEAD_MISSING, f"the known head seq {seq} ({digest[:16]}…) is past the journal's "
                    f"last record (seq {last}): records were removed from its end", **where, last_seq=last))
            # a seq inside the journal but absent is a journal.gap already
        elif digest not in by_seq[seq]:
            report.findings.append(_finding(
                JOURNAL_HEAD_MISMATCH, f"the record at seq {seq} is not the known head {digest[:16]}… "
                f"(found {sorted(by_seq[seq])[0][:16]}…)", **where))


def _any_envelope(lines: list[bytes]) -> bool:
    """True if at least one line is a DSSE envelope (else the file is no journal at all)."""
    for line in lines:
        try:
            Envelope.from_json(line)
            return True
        except (BwcError, ValueError):
            continue
    return False


def _walk_records(records: list[Record], report: Report, lost: dict[str, _Lost],
                  aside: dict[str, _Lost] | None = None) -> list[_Seg]:
    """The recordings and segments the records describe; files a ``recovery`` or ``import_failed``
    record keeps as lost go in *lost*, what a ``recovery`` record set aside as unattested in *aside*."""
    aside = {} if aside is None else aside
    # (recording, file) -> [(size, digests, index)] of the camera's segment.progress records
    progress: dict[tuple[str | None, str], list[tuple[Any, dict[str, Any], Any]]] = defaultdict(list)
    recs: dict[str, RecordingReport] = {}
    open_now: str | None = None
    recovered: set[str] = set()
    segs: list[_Seg] = []
    add = report.findings.append

    def recording(rid: str) -> RecordingReport:
        if rid not in recs:
            recs[rid] = RecordingReport(rid)
            report.recordings.append(recs[rid])
        return recs[rid]

    for rec in records:
        body = rec.body
        rid = body.get("recording")
        rid = rid if isinstance(rid, str) else None
        if rec.type == "recording.open" and rid is not None:
            r = recs.get(rid)
            if r is not None and r.open_seq is not None:
                add(_finding(RECORDING_REOPENED, f"recording {rid} opened again at seq {rec.seq} "
                             f"(first at seq {r.open_seq})", recording=rid, seq=rec.seq))
                continue
            r = recording(rid)
            r.open_seq, r.opened = rec.seq, rec.time
            r.trigger, r.officer = body.get("trigger"), body.get("officer")
            r.policy = body.get("policy") if isinstance(body.get("policy"), dict) else None
            r.pre_event = body.get("pre_event") if isinstance(body.get("pre_event"), dict) else None
            if open_now is not None and recs[open_now].close_seq is None:
                add(_finding(RECORDING_UNCLOSED, f"recording {open_now} was never closed "
                             f"(recording {rid} opened at seq {rec.seq})", recording=open_now))
                recs[open_now].close_reason = "never closed"
            open_now = rid
        elif rec.type == "recording.close" and rid is not None:
            r = recs.get(rid)
            if r is None or r.open_seq is None:
                add(_finding(RECORDING_UNOPENED, f"seq {rec.seq}: closes recording {rid}, "
                             "which was never opened", recording=rid, seq=rec.seq))
                r = recording(rid)
            r.close_seq, r.closed = rec.seq, rec.time
            r.close_reason = body.get("reason") if isinstance(body.get("reason"), str) else None
            journaled = sum(1 for s in segs if s.recording == rid)
            count = body.get("segments")
            if type(count) is int and count != journaled:
                add(_finding(RECORDING_SEGMENT_COUNT,
                             f"recording {rid}: close counts {count} segment(s), {journaled} journaled",
                             recording=rid, seq=rec.seq, expected=count, found=journaled))
            if r.close_reason == "import_failed":
                lost_files(body, rid, rec.seq, lost, "a failed import left this file, never journaled")
                add(_finding(RECORDING_IMPORT_FAILED, f"recording {rid}: the import failed part-way "
                             f"(recording.close at seq {rec.seq}); it holds {journaled} segment(s) of its "
                             "source", recording=rid, seq=rec.seq))
            if rid in recovered or r.close_reason == "power_loss":
                add(_finding(RECORDING_RECOVERED,
                             f"recording {rid} was closed by crash recovery ({r.close_reason})",
                             recording=rid, seq=rec.seq))
            if open_now == rid:
                open_now = None
        elif rec.type == "segment.progress":
            digests = body.get("digests")
            if isinstance(body.get("file"), str) and isinstance(digests, dict):
                progress[(rid, body["file"])].append((body.get("size"), digests, body.get("index")))
        elif rec.type == "recovery" and rid is not None:
            recovered.add(rid)
            lost_files(body, rid, rec.seq, lost)
            if isinstance(body.get("unattested"), list):  # format 1.4: nothing found is signed
                for value in body.get("lost") if isinstance(body.get("lost"), list) else []:
                    rel = safe_rel(value)
                    if rel is not None and rel in lost:
                        lost[rel].absent = True
                        indices = {i for _, _, i in progress.get((rid, rel), []) if type(i) is int}
                        if len(indices) == 1:
                            lost[rel].index = indices.pop()
                        lost[rel].why = "the camera attested part of this file, of which nothing was left to salvage"
                for value in body["unattested"]:
                    rel = _safe_aside(value)
                    if rel is not None:
                        aside[rel] = _Lost(rid, rec.seq, "crash recovery set this aside: no attestation covers it",
                                           _aside_index(rel, rid))
            recording(rid).events.append({"kind": "recovery", "seq": rec.seq, "time": rec.time,
                                          "time_utc": iso(rec.time), "salvaged": body.get("salvaged"),
                                          "lost": body.get("lost")})
        elif rec.type == "segment":
            if rid is None or rid not in recs or recs[rid].open_seq is None:
                add(_finding(RECORDING_UNOPENED, f"seq {rec.seq}: segment of recording {rid!r}, "
                             "which was never opened", recording=rid, seq=rec.seq))
            r = recording(rid) if rid is not None else recording("(none)")
            rel = safe_rel(body.get("file"))
            leaves = body.get("leaves") if isinstance(body.get("leaves"), dict) else {}
            leaves_rel = safe_rel(leaves.get("file"))
            digests = body.get("digests") if isinstance(body.get("digests"), dict) else {}
            index = body.get("index") if type(body.get("index")) is int else None
            sr = SegmentReport(
                index=index, path=str(body.get("file")), size=body.get("size"),
                digests={str(k): str(v) for k, v in digests.items()},
                content_root=body.get("content_root") if isinstance(body.get("content_root"), str) else None,
                pre_event=body.get("pre_event") is True, recovered=body.get("recovered") is True,
                seq=rec.seq, start=frac(body.get("start")), end=frac(body.get("end")), body=body,
            )
            r.segments.append(sr)
            segs.append(_Seg(rec, body, rid, rel, leaves_rel, sr))
            if sr.recovered and not any(
                    size == sr.size and digests and sr.digests
                    and all(sr.digests.get(k) == v for k, v in digests.items())
                    for size, digests, _ in progress.get((rid, body.get("file")), [])):
                segs[-1].unattested = True
                add(_finding(SEGMENT_RECOVERED_UNATTESTED,
                             f"{body.get('file')}: journaled by crash recovery (seq {rec.seq}) as {sr.size} bytes "
                             "that no segment.progress record of the file attests: recovery signed what it "
                             "found, not what the camera recorded", segment=rel, recording=rid, seq=rec.seq))
        elif rec.type == "event":
            kind = body.get("kind")
            if not isinstance(kind, str):  # signed, but unusable: counted nowhere, reported
                add(_finding(JOURNAL_MALFORMED_LINE, f"line {rec.line}: seq {rec.seq}: event kind is not a "
                             "string", line=rec.line, seq=rec.seq))
                continue
            entry = {"kind": kind, "seq": rec.seq, "time": rec.time, "time_utc": iso(rec.time)}
            for k in ("reason", "note", "label", "last_frame", "media", "discarded"):
                if k in body and body[k] is not None:
                    entry[k] = body[k]
            if rid is not None:
                recording(rid).events.append(entry)
            else:
                report.events.append(entry)
    for r in report.recordings:
        if r.open_seq is not None and r.close_seq is None and r.close_reason != "never closed":
            add(_finding(RECORDING_UNCLOSED, f"recording {r.id} (opened at seq {r.open_seq}) "
                         "has no recording.close", recording=r.id, seq=r.open_seq))
    return segs


def _pool(workers: int, processes: bool) -> Executor:
    """Threads, or forked processes when asked for, on Linux, with no other
    thread running (forking beside threads can deadlock the child)."""
    from bwc_core.verify import io as _fmp4

    if processes and _fmp4._fork_is_safe(multiprocessing) and threading.active_count() == 1:
        from bwc_core.format import content  # noqa: F401 - imported once, before the fork
        return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"))
    return ThreadPoolExecutor(max_workers=workers)


def _run(pool: Executor, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` on *pool*, or here when the pool is broken (a worker died)."""
    try:
        return pool.submit(fn, *args)
    except BrokenExecutor:
        return None


def _result(future: Any, fn: Callable[..., Any], *args: Any) -> Any:
    """The result of *future*; computed here instead if it is None or its worker died."""
    if future is not None:
        try:
            return future.result()
        except BrokenExecutor:
            pass
    return fn(*args)


def _measure_all(pool: Executor, prefetched: Any, todo: list[_Seg], plans: list[tuple],
                 progress: ProgressFn | None) -> None:
    """Every segment measured: one read each on the workers, then FFmpeg where needed."""
    from bwc_core.verify import io as _fmp4

    total = len(todo)
    reads = []
    for path, algorithms, _, _ in plans:
        future = prefetched.take(path, algorithms) if prefetched is not None else None
        reads.append(future or _run(pool, _fmp4.read_segment, path, algorithms))
    done = 0
    demuxes: dict[int, Any] = {}
    presentations: dict[int, Any] = {}
    for i, (s, (path, algorithms, leaves_path, leaves_algos)) in enumerate(zip(todo, plans, strict=False)):
        s.measured = _from_read(_result(reads[i], _fmp4.read_segment, path, algorithms), algorithms)
        if _bytes_differ(s.measured, s.report):
            presentations[i] = _run(pool, _measure_presentation, path)
        if _needs_ffmpeg(s.measured, s.report):
            demuxes[i] = _run(pool, _measure_content, path, s.report.content_root, s.report.recovered, True)
            continue
        _settle(s.measured, s.report, leaves_path, leaves_algos, None)
        done += 1
        if progress is not None:
            progress(done, total, s.rel or "")
    for i, future in demuxes.items():
        s = todo[i]
        path, _, leaves_path, leaves_algos = plans[i]
        demuxed = _result(future, _measure_content, path, s.report.content_root, s.report.recovered, True)
        _settle(s.measured, s.report, leaves_path, leaves_algos, demuxed)
        done += 1
        if progress is not None:
            progress(done, total, s.rel or "")
    for i, future in presentations.items():
        todo[i].measured.presentation, todo[i].measured.presentation_error = _result(
            future, _measure_presentation, plans[i][0])


def _check_segments(root: Path, segs: list[_Seg], report: Report, progress: ProgressFn | None,
                    workers: int | None, processes: bool = False, prefetched: Any = None) -> None:
    add = report.findings.append
    by_file: dict[str, list[_Seg]] = defaultdict(list)
    for s in segs:
        if s.rel is None:
            s.report.status = "bad_path"
            add(_finding(SEGMENT_BAD_PATH, f"seq {s.record.seq}: file {s.body.get('file')!r} is not "
                         "a plain relative path under media/", seq=s.record.seq, recording=s.recording))
            continue
        by_file[s.rel].append(s)
    for rel, group in by_file.items():
        if len(group) > 1:
            add(_finding(SEGMENT_DUPLICATE, f"{rel} is named by {len(group)} segment records "
                         f"(seq {', '.join(str(g.record.seq) for g in group)})",
                         segment=rel, seqs=[g.record.seq for g in group]))
    by_index: dict[tuple[str | None, int], list[_Seg]] = defaultdict(list)
    for s in segs:
        if s.report.index is not None:
            by_index[(s.recording, s.report.index)].append(s)
    for (rid, index), group in by_index.items():
        if len(group) > 1:
            add(_finding(SEGMENT_DUPLICATE, f"recording {rid}: segment index {index} journaled "
                         f"{len(group)} times", recording=rid, index=index,
                         seqs=[g.record.seq for g in group]))

    todo = [s for s in segs if s.rel is not None]
    total = len(todo)
    # One job per segment reads it once (digests and, for our own fragmented
    # MP4, the content root: _fmp4.read_segment), one worker per core; the
    # verifier then accepts that root or queues an FFmpeg re-demux on the same
    # workers, and reads the sidecar itself (_measure_all). Threads share the
    # interpreter lock for the per-packet work, so the command line forks
    # worker processes instead (``processes``, ``prefetched``).
    nworkers = workers or max(1, min(8, os.cpu_count() or 2))
    plans = []
    for s in todo:
        algorithms = list(s.report.digests) or ["blake3", "sha256"]
        leaves_info = s.body.get("leaves") if isinstance(s.body.get("leaves"), dict) else {}
        leaves_algos = list(leaves_info.get("digests") or {}) if isinstance(leaves_info.get("digests"), dict) else []
        leaves_path = root / s.leaves_rel if s.leaves_rel else None
        plans.append((root / s.rel, algorithms, leaves_path, leaves_algos))
    own = None
    if prefetched is not None:
        pool: Executor = prefetched.pool
    else:
        pool = own = _pool(nworkers, processes and nworkers > 1 and total > 1)
    try:
        _measure_all(pool, prefetched, todo, plans, progress)
    finally:
        if own is not None:
            own.shutdown(wait=True, cancel_futures=True)

    # Where each signed segment's bytes / content are expected to be found.
    by_digest: dict[str, _Seg] = {}
    by_root: dict[str, _Seg] = {}
    for s in todo:
        b = s.report.digests.get("blake3") or next(iter(s.report.digests.values()), None)
        if b:
            by_digest.setdefault(b, s)
        if s.report.content_root:
            by_root.setdefault(s.report.content_root, s)

    def holder(m: _Measured) -> _Seg | None:
        """The record whose signed bytes (or content) this measured file carries."""
        b = m.digests.get("blake3") or next(iter(m.digests.values()), None)
        if b and b in by_digest:
            return by_digest[b]
        if m.content is not None and m.content.root.hex() in by_root:
            return by_root[m.content.root.hex()]
        return None

    swapped_pairs: set[frozenset[int]] = set()
    for s in todo:
        m = s.measured
        assert m is not None
        where = {"segment": s.rel, "recording": s.recording, "index": s.report.index, "seq": s.record.seq}
        if m.link:
            s.report.status = "bad_path"
            add(_finding(SEGMENT_BAD_PATH, f"{s.rel} is a link or special file; not followed", **where))
            continue
        if not m.exists:
            s.report.status = "missing"
            add(_finding(SEGMENT_MISSING, f"{s.rel} is missing", **where))
            continue
        report.bytes_checked += m.size or 0
        if m.error is not None:
            s.report.status = "unreadable"
            add(_finding(SEGMENT_UNREADABLE, f"{s.rel}: cannot read: {m.error}", **where))
            continue
        s.report.measured = {"size": m.size, "digests": dict(m.digests),
                             "content_root": m.content.root.hex() if m.content is not None else None}
        if m.demux_errors:
            s.report.measured["demux_errors"] = m.demux_errors[:MAX_PACKET_FINDINGS]
        for name in m.unknown:
            add(_finding(SEGMENT_DIGEST_UNKNOWN, f"{s.rel}: digest {name!r} not supported here; "
                         "not checked", algorithm=name, **where))
        bytes_ok = (m.size == s.report.size and bool(m.digests)
                    and all(m.digests[k] == s.report.digests.get(k) for k in m.digests))
        agree = {k: m.digests[k] == s.report.digests.get(k) for k in m.digests}
        if not bytes_ok and any(agree.values()):
            # One signed digest is this file's, another is not: the record's digests describe
            # different bytes (format 2.10: a recovered record matching a BLAKE3-only progress
            # record by its blake3 while its sha256 and content root are another file's). No
            # remux matches any digest, so whatever the content says, an error.
            s.report.status = "altered"
            for name, same in agree.items():
                if not same:
                    add(_finding(SEGMENT_DIGEST_MISMATCH, f"{s.rel}: {name} differs from the signed digest, "
                                 f"while {', '.join(k for k, v in agree.items() if v)} matches: the signed "
                                 "digests describe different bytes", algorithm=name,
                                 expected=s.report.digests.get(name), found=m.digests[name], **where))
            continue
        if not bytes_ok:
            other = holder(m)
            if other is not None and other is not s:
                om = other.measured
                mine_there = om is not None and holder(om) is s if om is not None and om.exists else False
                if mine_there:
                    pair = frozenset((s.record.seq, other.record.seq))
                    s.report.status = "swapped"
                    if pair not in swapped_pairs:
                        swapped_pairs.add(pair)
                        add(_finding(SEGMENT_SWAPPED,
                                     f"{s.rel} and {other.rel} were exchanged (each holds the other's "
                                     "signed segment)", other=other.rel, **where))
                else:
                    s.report.status = "misplaced"
                    same = other.recording == s.recording
                    add(_finding(SEGMENT_MISPLACED,
                                 f"{s.rel} holds segment {other.report.index} of "
                                 f"{'the same recording' if same else 'recording ' + str(other.recording)}"
                                 f" ({other.rel}), not the signed one", other=other.rel,
                                 other_recording=other.recording, **where))
                continue
        _check_leaves(s, m, where, add)
        # Bytes after a prefix equal to the signed file: an error whatever they hold
        # (a player may decode them: an fMP4 fragment, MPEG-TS packets).
        appended = None if bytes_ok else _appended_bytes(root / s.rel, m.size, s.report)
        if appended is not None:
            add(_finding(SEGMENT_APPENDED,
                         f"{s.rel}: the signed file followed by {appended} added byte(s); they are "
                         "covered by no signature (a player may decode them)",
                         size=m.size, expected_size=s.report.size, appended_bytes=appended, **where))
        irregular = [] if bytes_ok else _irregularities(s, m, where)
        if m.content is None:
            s.report.status = "unreadable"
            report.findings.extend(irregular)
            if m.size != s.report.size and appended is None:
                add(_finding(SEGMENT_SIZE_MISMATCH, f"{s.rel}: {m.size} bytes, signed {s.report.size}",
                             size=m.size, expected=s.report.size, **where))
            add(_finding(SEGMENT_UNREADABLE, f"{s.rel}: not readable as media: {m.content_error}", **where))
            continue
        content_same = s.report.content_root is not None and m.content.root.hex() == s.report.content_root
        if bytes_ok:
            if not content_same:
                # The signed bytes, but a root that does not match them: the device
                # signed a wrong root or the content format changed.
                s.report.status = "altered"
                add(_finding(CONTENT_ALTERED, f"{s.rel}: the file is the signed one but its content "
                             "root does not match the signed root", **where))
            continue
        # The bytes are not the signed ones: a remux or tampering?
        findings = _compare_content(s, m, where)
        payload_same = not any(f.failed and f.code.startswith("content.") for f in findings)
        # Presentation step: the signed frames may still be shown otherwise (rotated,
        # stretched, recoloured, hidden by an edit list): an error even beside container_changed.
        presented = _compare_presented(s, m, where)
        if not payload_same:  # a stream that no longer decodes is already named by its content findings
            presented = [f for f in presented if f.where.get("field") != "decoded"]
        if payload_same and not irregular and appended is None:
            s.report.status = "container_changed"
            add(_finding(CONTENT_CONTAINER_CHANGED,
                         f"{s.rel}: file bytes differ from the signed file, but every packet is the "
                         "signed one, demuxed without irregularity (a stream-copy remux); content "
                         "integrity holds", size=m.size, expected_size=s.report.size, **where))
            report.findings.extend(findings)
            if presented:
                s.report.status = "altered"
                report.findings.extend(presented)
            continue
        s.report.status = "altered"
        report.findings.extend(irregular)
        if appended is not None:
            report.findings.extend(findings + presented)
            continue
        if m.size != s.report.size:
            add(_finding(SEGMENT_SIZE_MISMATCH, f"{s.rel}: {m.size} bytes, signed {s.report.size}",
                         size=m.size, expected=s.report.size, **where))
        for name, value in m.digests.items():
            if value != s.report.digests.get(name):
                add(_finding(SEGMENT_DIGEST_MISMATCH, f"{s.rel}: {name} differs from the signed digest",
                             algorithm=name, expected=s.report.digests.get(name), found=value, **where))
        report.findings.extend(findings + presented)


def _compare_presented(s: _Seg, m: _Measured, where: dict[str, Any]) -> list[Finding]:
    """Presentation step: the file's display matrix, aspect ratio, colour and edit lists against the
    signed ``streams[i].presentation`` (absent in format <= 1.3: the defaults; format.md 1.15); its
    container metadata against the muxer allowlist and its last-frame holds and stated durations
    against the signed ``spans`` (1.16)."""
    from bwc_core.media.presentation import compare_extents, compare_metadata, compare_presentation

    streams = s.body.get("streams")
    if not isinstance(streams, list):
        return []
    if m.presentation is None:
        if m.presentation_error is None:
            return []
        # Its packets could be read, what it presents could not: nothing may be left unchecked.
        return [_finding(CONTENT_PRESENTATION_ALTERED, f"{s.rel}: its presentation metadata cannot be "
                         f"measured ({m.presentation_error})", **where)]
    found = m.presentation
    # Container metadata (format 1.16): the camera writes none beyond its muxer's name, so any is unsigned.
    # Durations (1.16): how long each stream's last frame is held (its packet's duration).
    return (compare_presentation(streams, found.presentation, where) + compare_metadata(found.metadata, where)
            + compare_extents(_list(s.body.get("spans")), found.extents, where, found.duration, found.stated))


def _irregularities(s: _Seg, m: _Measured, where: dict[str, Any]) -> list[Finding]:
    """``content.demux_irregular`` for what the tolerant re-demux met (format section 1.13)."""
    if not m.demux_errors:
        return []
    out = [_finding(CONTENT_DEMUX_IRREGULAR, f"{s.rel}: {problem}; from there on the file holds what "
                    "no signature covers", problem=problem, **where)
           for problem in m.demux_errors[:MAX_PACKET_FINDINGS]]
    if len(m.demux_errors) > MAX_PACKET_FINDINGS:
        out.append(_finding(CONTENT_DEMUX_IRREGULAR, f"{s.rel}: {len(m.demux_errors)} irregularities in all",
                            count=len(m.demux_errors), **where))
    return out


def _appended_bytes(path: Path, size: int | None, signed: SegmentReport) -> int | None:
    """How many bytes follow the signed file, when the file starts with exactly the signed bytes.

    The prefix of the signed size must match every signed digest this
    verifier can compute (BLAKE3, SHA-256), at least one.
    """
    if size is None or type(signed.size) is not int or not 0 <= signed.size < size:
        return None
    hashers = {}
    for name, value in signed.digests.items():
        h = _new_hasher(name)
        if h is not None and isinstance(value, str):
            hashers[name] = h
    if not hashers:
        return None
    left = signed.size
    try:
        with open(path, "rb") as fh:
            while left:
                chunk = fh.read(min(left, 1 << 20))
                if not chunk:
                    return None
                for h in hashers.values():
                    h.update(chunk)
                left -= len(chunk)
    except OSError:
        return None
    same = all(h.hexdigest() == signed.digests[name] for name, h in hashers.items())
    return size - signed.size if same else None


def _check_leaves(s: _Seg, m: _Measured, where: dict[str, Any], add: Callable[[Finding], None]) -> None:
    leaves = s.body.get("leaves") if isinstance(s.body.get("leaves"), dict) else None
    if leaves is None or s.leaves_rel is None:
        add(_finding(SEGMENT_LEAVES_MISSING, f"{s.rel}: the record names no usable .leaves sidecar",
                     **where))
        return
    if not m.leaves_exists:
        add(_finding(SEGMENT_LEAVES_MISSING, f"{s.leaves_rel} is missing", leaves=s.leaves_rel, **where))
        return
    signed = leaves.get("digests") if isinstance(leaves.get("digests"), dict) else {}
    bad = [k for k, v in m.leaves_digests.items() if signed.get(k) != v]
    if m.leaves_size != leaves.get("size") or bad:
        add(_finding(SEGMENT_LEAVES_MISMATCH, f"{s.leaves_rel}: bytes differ from the signed sidecar",
                     leaves=s.leaves_rel, **where))
    elif m.leaves_error is not None:
        add(_finding(SEGMENT_LEAVES_MISMATCH, f"{s.leaves_rel}: {m.leaves_error}", leaves=s.leaves_rel,
                     **where))
    if m.leaves is not None and s.report.content_root and m.leaves.root.hex() != s.report.content_root:
        if not bad and m.leaves_size == leaves.get("size"):
            add(_finding(SEGMENT_LEAVES_MISMATCH, f"{s.leaves_rel}: recomputed root differs from the "
                         "signed content root", leaves=s.leaves_rel, **where))
        m.leaves = None  # not usable to name packets
    elif m.leaves_error is not None:
        m.leaves = None


def _compare_content(s: _Seg, m: _Measured, where: dict[str, Any]) -> list[Finding]:
    """Findings from aligning the re-demuxed packets with the signed sidecar's."""
    from bwc_core.format.content import config_digest

    signed, found = m.leaves, m.content
    out: list[Finding] = []
    if signed is None:
        if found.root.hex() != s.report.content_root:
            out.append(_finding(CONTENT_ALTERED, f"{s.rel}: content root differs from the signed root "
                                "(no usable sidecar to name the packets)", **where))
        return out
    if found.root == signed.root:
        return out
    signed_cfg = {c.index: c for c in signed.streams}
    found_cfg = {c.index: c for c in found.streams}
    for index, c in signed_cfg.items():
        f = found_cfg.get(index)
        if f is not None and f.config_digest != c.config_digest:
            none = f.config_digest == config_digest(f.codec)  # the digest of no configuration at all
            out.append(_finding(CONTENT_CONFIG_ALTERED, f"{s.rel}: stream {index} " + (
                "carries no codec configuration (no parameter sets: a stream copy into MPEG-TS that "
                "starts on a non-IDR keyframe drops them)" if none else
                "codec configuration differs from the signed one"), stream=index, missing=none, **where))

    def per_stream(result: Any) -> dict[int, list[tuple[int, Any]]]:
        d: dict[int, list[tuple[int, Any]]] = defaultdict(list)
        for n, p in enumerate(result.packets):
            d[p.stream].append((n, p))
        return d

    a_streams, b_streams = per_stream(signed), per_stream(found)
    counts: dict[str, int] = defaultdict(int)
    payload_equal = True

    def emit(code: str, message: str, **extra: Any) -> None:
        counts[code] += 1
        if counts[code] <= MAX_PACKET_FINDINGS:
            out.append(_finding(code, f"{s.rel}: {message}", **extra, **where))

    for stream in sorted(set(a_streams) | set(b_streams)):
        a = a_streams.get(stream, [])
        b = b_streams.get(stream, [])
        a_leaves = [p.leaf for _, p in a]
        b_leaves = [p.leaf for _, p in b]
        if a_leaves == b_leaves:
            continue
        payload_equal = False
        sm = SequenceMatcher(None, a_leaves, b_leaves, autojunk=False)
        lost: list[int] = []  # positions in a
        extra: list[int] = []  # positions in b
        pairs: list[tuple[int, int]] = []
        for tag, i1, i2, j1, j2 in sm.get_opcodes():
            if tag == "equal":
                continue
            k = min(i2 - i1, j2 - j1) if tag == "replace" else 0
            pairs.extend((i1 + x, j1 + x) for x in range(k))
            lost.extend(range(i1 + k, i2))
            extra.extend(range(j1 + k, j2))
        unmatched_a = {a_leaves[i] for i in lost} | {a_leaves[i] for i, _ in pairs}
        unmatched_b = {b_leaves[j] for j in extra} | {b_leaves[j] for _, j in pairs}
        moved = unmatched_a & unmatched_b

        def at_a(i: int) -> dict[str, Any]:
            n, p = a[i]  # noqa: B023 - called in this iteration only
            return {"stream": stream, "chunk": p.chunk, "packet": n, "stream_packet": i,  # noqa: B023
                    "pts": p.pts}

        def at_b(j: int) -> dict[str, Any]:
            n, p = b[j]  # noqa: B023 - called in this iteration only
            return {"stream": stream, "chunk": p.chunk, "file_packet": n, "stream_packet": j,  # noqa: B023
                    "pts": p.pts}

        reported_moved: set[bytes] = set()
        for i, j in pairs:
            ia, jb = a_leaves[i] in moved, b_leaves[j] in moved
            if ia and a_leaves[i] not in reported_moved:
                reported_moved.add(a_leaves[i])
                w = at_a(i)
                emit(CONTENT_PACKET_REORDERED, f"stream {stream} packet {i} (chunk {w['chunk']}) "
                     "appears at another position", **w)
            if not ia and not jb:
                w = at_a(i)
                emit(CONTENT_PACKET_ALTERED, f"stream {stream} packet {i} (chunk {w['chunk']}, "
                     f"pts {w['pts']}) differs from the signed packet", **w)
            elif not ia:
                w = at_a(i)
                emit(CONTENT_PACKET_MISSING, f"stream {stream} packet {i} (chunk {w['chunk']}, "
                     f"pts {w['pts']}) is missing", **w)
            elif not jb:
                w = at_b(j)
                emit(CONTENT_PACKET_INSERTED, f"stream {stream}: unsigned packet at position {j} "
                     f"(pts {w['pts']})", **w)
        for i in lost:
            if a_leaves[i] in moved:
                if a_leaves[i] not in reported_moved:
                    reported_moved.add(a_leaves[i])
                    w = at_a(i)
                    emit(CONTENT_PACKET_REORDERED, f"stream {stream} packet {i} (chunk {w['chunk']}) "
                         "appears at another position", **w)
                continue
            w = at_a(i)
            emit(CONTENT_PACKET_MISSING, f"stream {stream} packet {i} (chunk {w['chunk']}, "
                 f"pts {w['pts']}) is missing", **w)
        for j in extra:
            if b_leaves[j] in moved:
                continue
            w = at_b(j)
            emit(CONTENT_PACKET_INSERTED, f"stream {stream}: unsigned packet at position {j} "
                 f"(pts {w['pts']})", **w)

    for code, n in counts.items():
        if n > MAX_PACKET_FINDINGS:
            out.append(_finding(code, f"{s.rel}: and {n - MAX_PACKET_FINDINGS} more packet(s) "
                                f"({n} in all) with {code}", count=n, **where))
    if payload_equal:
        out.extend(_compare_timing(s, signed, found, where, m.format))
    elif not counts and not out:
        out.append(_finding(CONTENT_ALTERED, f"{s.rel}: content root differs from the signed root",
                            **where))
    return out


def _frame_step(packets: Sequence[Any]) -> int:
    """The smallest positive pts step of one stream's packets (0 for fewer than two)."""
    pts = sorted({p.pts for p in packets})
    return min((b - a for a, b in zip(pts, pts[1:], strict=False)), default=0)


#: The MPEG-TS muxer's delay under the ffmpeg command line: 2 x its default ``-muxdelay`` 0.7 s.
TS_MUX_DELAY = Fraction(7, 5)

#: The most a file's own time base may add to the timing tolerance (format 1.11): Matroska's
#: 1 ms, the coarsest a stream copy into MP4, Matroska or MPEG-TS writes. The file's time base
#: is attacker-chosen: a 15 Hz MP4 timescale would otherwise let every pts move a whole frame.
MAX_REMUX_ROUNDING = Fraction(1, 1000)


def _remux_offsets(s: _Seg, packets: dict[int, Sequence[Any]], tb_a: dict[int, Fraction],
                   fmt: str | None) -> list[tuple[str, Fraction]]:
    """The constant offsets a documented stream copy gives a segment (format section 1.11).

    *packets* are the signed packets by stream. ``S`` is the segment's
    earliest signed pts, ``D`` its earliest signed dts (the record's
    ``spans``; S when absent), ``K`` the earliest over streams of each
    stream's first pts in decode order. Any container: 0 (timestamps kept:
    PyAV, ``ffmpeg -copyts``) or -S (``ffmpeg -c copy`` rebases the earliest
    pts to 0). MP4/MOV and (format 1.5) Matroska output also -K: ``ffmpeg -c
    copy`` rebases FFmpeg's start time (each stream's first packet's pts), and
    the mov muxer keeps the earlier pts of leading (open-GOP) B-frames
    negative, the Matroska muxer writes them as negative block times (read
    back from the file, format 1.13). MPEG-TS output
    instead: 0, 1.4 s (``-copyts``: the TS muxer's delay) or 1.4 s - D (the
    earliest dts moved to 1.4 s).
    """
    start = min(min(p.pts for p in mine) * tb_a[stream] for stream, mine in packets.items() if mine)
    first_dts = start
    spans = s.body.get("spans")
    if isinstance(spans, list):
        for sp in spans:
            tb = frac(sp.get("time_base")) if isinstance(sp, dict) else None
            if tb is not None and type(sp.get("first_dts")) is int:
                first_dts = min(first_dts, sp["first_dts"] * tb)
    if fmt is not None and "mpegts" in fmt.split(","):
        return [("timestamps kept", Fraction(0)), ("timestamps kept, MPEG-TS mux delay", TS_MUX_DELAY),
                ("rebased by ffmpeg: earliest dts at the MPEG-TS mux delay", TS_MUX_DELAY - first_dts)]
    out = [("timestamps kept", Fraction(0)), ("rebased by ffmpeg: earliest pts at 0", -start)]
    names = set(fmt.split(",")) if fmt is not None else set()
    if names & {"mov", "mp4", "matroska"}:
        first_pts = min(mine[0].pts * tb_a[stream] for stream, mine in packets.items() if mine)
        if first_pts != start:
            kind = "MP4" if names & {"mov", "mp4"} else "Matroska"
            out.append((f"rebased by ffmpeg: first pts in decode order at 0 ({kind})", -first_pts))
    return out


def _hidden_leading_pictures(
    signed: dict[int, list[Any]], discarded: frozenset[tuple[int, int]]
) -> set[tuple[int, int]]:
    """(stream, position) of the signed leading pictures the file's MP4 edit list hides (format 1.11).

    A leading picture: after its stream's first keyframe in decode order, with a signed pts below
    that keyframe's (an open GOP's B-frames presented before it). FFmpeg never presents a packet
    it flags discard, so such a packet's pts is not compared (its payload still is): ``ffmpeg``
    5.1 copying a Matroska segment (no dts stored) raises one's pts to a dts it invents.
    """
    out: set[tuple[int, int]] = set()
    for stream, position in discarded:
        pa = signed.get(stream, [])
        first = next((i for i, p in enumerate(pa) if p.flags & 1), None)
        if first is not None and first < position < len(pa) and pa[position].pts < pa[first].pts:
            out.add((stream, position))
    return out


def _compare_timing(s: _Seg, signed: Any, found: Any, where: dict[str, Any], fmt: str | None = None) -> list[Finding]:
    """Same packets: is the timing the signed timing within the new container's rounding?

    Each stream's constant offset (a remux may start the file at another time)
    is taken from its first packet and removed; then every packet's pts must
    lie within one unit of the signed time base plus one of the new one of
    the signed pts: each side's rounding, half a unit in the packet and half
    in the offset. The signed pts are themselves rounded (Matroska keeps
    milliseconds), and a remuxer may rebuild timestamps from sample counts
    rather than copy them (FFmpeg does for audio into MP4), landing anywhere
    within that rounding. The streams' offsets must
    agree within one frame of each stream (a muxer may re-align audio by an
    edit list), else the streams moved against each other. Only pts are
    compared: dts and durations are not committed (format section 1.7), and
    a frame is the smallest step between the stream's signed pts.

    The common offset itself must be one a documented stream copy into the
    file's container (*fmt*, FFmpeg's format name) produces
    (:func:`_remux_offsets`), within one frame of the first stream plus each
    side's time base unit; any other is ``content.time_shifted``.
    """
    tb_a = {c.index: c.time_base for c in signed.streams}
    # The file's rounding counts only up to what a stream copy writes (MAX_REMUX_ROUNDING).
    tb_b = {c.index: min(c.time_base, MAX_REMUX_ROUNDING) for c in found.streams}
    tb_file = {c.index: c.time_base for c in found.streams}
    a_by: dict[int, list[Any]] = defaultdict(list)
    b_by: dict[int, list[Any]] = defaultdict(list)
    for p in signed.packets:
        a_by[p.stream].append(p)
    for p in found.packets:
        b_by[p.stream].append(p)
    if not a_by:
        return []
    first = min(a_by)
    offsets = {st: b_by[st][0].pts * tb_file[st] - a_by[st][0].pts * tb_a[st] for st in a_by}
    ref = offsets[first]
    out: list[Finding] = []
    worst = Fraction(0)
    bad: list[tuple[int, int, Any, Fraction]] = []
    hidden = _hidden_leading_pictures(a_by, getattr(found, "discarded", frozenset()))
    for stream, pa in sorted(a_by.items()):
        pb = b_by[stream]
        tol = tb_a[stream] + tb_b[stream]
        off = offsets[stream]
        frame = max(_frame_step(pa) * tb_a[stream], tb_b[stream])
        if abs(off - ref) > frame:
            out.append(_finding(CONTENT_TIMING_ALTERED,
                                f"{s.rel}: stream {stream} moved {float(off - ref) * 1000:.3f} ms against "
                                f"stream {first} (more than one frame)", stream=stream,
                                shift_ms=round(float(off - ref) * 1000, 3), **where))
        worst = max(worst, abs(off - ref))
        for i, (x, y) in enumerate(zip(pa, pb, strict=False)):
            if (stream, i) in hidden:
                continue
            dev = abs((y.pts * tb_file[stream] - off) - x.pts * tb_a[stream])
            worst = max(worst, dev)
            if dev > tol:
                bad.append((stream, i, x, dev))
    for stream, i, x, dev in bad[:MAX_PACKET_FINDINGS]:
        out.append(_finding(CONTENT_TIMING_ALTERED,
                            f"{s.rel}: stream {stream} packet {i} (chunk {x.chunk}) moved "
                            f"{float(dev) * 1000:.3f} ms beyond the container's rounding",
                            stream=stream, stream_packet=i, chunk=x.chunk, pts=x.pts,
                            deviation_ms=round(float(dev) * 1000, 3), **where))
    if len(bad) > MAX_PACKET_FINDINGS:
        out.append(_finding(CONTENT_TIMING_ALTERED, f"{s.rel}: {len(bad)} packets in all moved in time",
                            count=len(bad), **where))
    if out:
        return out
    if worst == 0 and ref == 0:
        return []
    frame = max(_frame_step(a_by[first]) * tb_a[first], tb_b[first]) + tb_a[first] + tb_b[first]
    candidates = _remux_offsets(s, a_by, tb_a, fmt)
    how, expected = min(candidates, key=lambda c: abs(ref - c[1]))
    if abs(ref - expected) > frame:
        return [_finding(CONTENT_TIME_SHIFTED,
                         f"{s.rel}: every stream moved {float(ref):+.3f} s; a stream copy into this "
                         f"container ({fmt or 'unknown'}) moves it by one of "
                         f"{', '.join(f'{float(c):+.3f} s' for _, c in candidates)} (within "
                         f"{float(frame) * 1000:.3f} ms)", offset_ms=round(float(ref) * 1000, 3),
                         expected_ms=[round(float(c) * 1000, 3) for _, c in candidates], **where)]
    return [_finding(CONTENT_TIMING_SHIFTED,
                     f"{s.rel}: timing equals the signed timing after a constant offset of "
                     f"{float(ref) * 1000:.3f} ms ({how}), within {float(worst) * 1000:.3f} ms of rounding",
                     offset_ms=round(float(ref) * 1000, 3), max_deviation_ms=round(float(worst) * 1000, 3),
                     remux=how, **where)]


def _check_unexpected(root: Path, segs: list[_Seg], report: Report, prefetched: Any = None,
                      lost: dict[str, _Lost] | None = None, aside: dict[str, _Lost] | None = None,
                      whole: bool = True) -> None:
    """Every file of the evidence directory is accounted for (format 1.4, section 2.11).

    Accounted for: ``journal.jsonl``, the files signed segment records name
    (segment and ``.leaves``), a file a signed ``recovery`` or
    ``import_failed`` record keeps as *lost* (``segment.lost``; if that
    record signed its bytes, they must still be those bytes) and what a
    signed ``recovery`` record set aside under ``unattested*/``
    (``segment.unattested_kept``). Any other file, anywhere in the tree (links
    are not followed): ``segment.unexpected`` (error) when FFmpeg can open it
    as media or it is not a regular file, else ``evidence.stray_file``
    (warning). With ``whole=False`` (an exhibit, whose other files
    :mod:`bwc_core.exhibit.build` accounts for) only ``media/`` is walked.
    """
    from bwc_core.verify import io as _fmp4

    lost = lost or {}
    aside = aside or {}
    media = root / MEDIA_DIR
    set_aside = {_aside_origin(rel) for rel in aside}
    named: set[str] = set()
    for s in segs:
        if s.rel:
            named.add(s.rel)
        if s.leaves_rel:
            named.add(s.leaves_rel)
    by_digest = {s.report.digests.get("blake3"): s for s in segs if s.report.digests.get("blake3")}
    for rel, kept in lost.items():
        if rel not in named:
            _check_lost(root / rel, rel, kept, report)
    _check_aside(root, aside, report)
    for full, rel in _tree(media, root):
        if rel in named or (rel in lost and not lost[rel].absent):
            continue
        if rel in set_aside or rel in lost:
            report.findings.append(_finding(
                SEGMENT_UNATTESTED, f"{rel}: crash recovery set this file aside as unattested (no "
                "signature covers it), yet it is under media/, presented as evidence", file=rel))
            continue
        note = ""
        if full.is_file() and not full.is_symlink():
            # Read ahead already if bwc verify's workers were given it.
            ahead = prefetched.take(full, ["blake3"]) if prefetched is not None else None
            r = _result(ahead, _fmp4.read_segment, full, ["blake3"])
            twin = by_digest.get(r.digests.get("blake3")) if r.error is None else None
            if twin is not None:
                note = f" (a copy of {twin.rel})"
        report.findings.append(_unexpected_finding(full, rel, note))
    if not whole:
        return
    for full, rel in _tree(root, root, skip=media):
        if rel == JOURNAL_NAME or rel in aside:
            continue
        report.findings.append(_unexpected_finding(full, rel))


def _tree(top: Path, root: Path, skip: Path | None = None) -> Iterator[tuple[Path, str]]:
    """Files (and links, FIFOs, ... : every non-directory, and links to directories) under *top*,
    sorted, without following links; *skip* (a directory) left out."""
    if os.path.islink(top):
        yield top, top.relative_to(root).as_posix()
        return
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        if skip is not None:
            dirnames[:] = [d for d in dirnames if Path(dirpath) / d != skip or os.path.islink(skip)]
        dirnames.sort()
        for name in sorted(filenames) + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            full = Path(dirpath) / name
            yield full, full.relative_to(root).as_posix()


def _check_aside(root: Path, aside: dict[str, _Lost], report: Report) -> None:
    """What a signed recovery record kept beside the evidence (``unattested*/``): a warning each,
    never evidence. Files there no recovery record names are unexpected files (the caller)."""
    for rel, kept in sorted(aside.items()):
        if os.path.lexists(root / rel):
            report.findings.append(_finding(
                SEGMENT_UNATTESTED_KEPT, f"{rel}: kept beside the evidence by crash recovery (record seq "
                f"{kept.seq}); no signature covers it and it is not evidence", file=rel,
                recording=kept.recording, seq=kept.seq))


def _check_lost(full: Path, rel: str, kept: _Lost, report: Report) -> None:
    """A file kept as lost (or its sidecar): reported, and the bytes its record signed checked."""
    from bwc_core.verify import io as _fmp4

    where = {"file": rel, "recording": kept.recording, "seq": kept.seq}
    if kept.sidecar_of is None:
        report.findings.append(_finding(SEGMENT_LOST, f"{rel}: {kept.why} (recording {kept.recording}, "
                                        f"record seq {kept.seq}); its footage is not committed", **where))
    if not kept.digests:
        return  # the record names the path only
    r = _fmp4.read_segment(full, list(kept.digests))
    differs = [k for k, v in r.digests.items() if v != kept.digests.get(k)]
    if not r.exists or r.link or r.error is not None or r.size != kept.size or differs:
        if not r.exists:
            found = "the file is gone"
        elif r.link or r.error is not None:
            found = r.error or "not a regular file"
        else:
            found = f"{r.size} bytes, signed {kept.size}" + (f"; {', '.join(differs)} differ" if differs else "")
        report.findings.append(_finding(SEGMENT_LOST_ALTERED, f"{rel}: not the bytes the record at seq "
                                        f"{kept.seq} signed ({found})", **where))


def _check_continuity(report: Report, kept_files: Iterable[_Lost] = ()) -> None:
    """Segment indices without holes, and video timing continuous across segments.

    An index whose file a signed record kept (*lost* by crash recovery or a
    failed import, or set aside as unattested by crash recovery) is accounted
    for (reported as ``segment.lost`` / ``segment.unattested_kept``).
    """
    add = report.findings.append
    kept = {(k.recording, k.index) for k in kept_files if k.index is not None}
    for r in report.recordings:
        indices = sorted({s.index for s in r.segments if s.index is not None and s.index >= 0})
        if indices:
            # Walked between the indices present (a signed index near 2**63 must
            # not build a range of that size); at most 100 missing ones are named.
            kept_here = {k for rid, k in kept if rid == r.id}
            missing: list[int] = []
            count = 0
            expect = 0
            for i in indices:
                if i > expect:
                    count += (i - expect) - sum(1 for k in kept_here if expect <= k < i)
                    j = expect
                    while j < i and len(missing) < 100:
                        if j not in kept_here:
                            missing.append(j)
                        j += 1
                expect = i + 1
            if missing:
                more = f" and {count - len(missing)} more" if count > len(missing) else ""
                add(_finding(SEGMENT_INDEX_GAP, f"recording {r.id}: segment index(es) "
                             f"{', '.join(map(str, missing))}{more} never journaled", recording=r.id,
                             missing=missing, count=count))
        pre = r.pre_event or {}
        had_pre = type(pre.get("packets")) is int and pre.get("packets") > 0
        ordered = sorted((s for s in r.segments if s.index is not None), key=lambda s: s.index)
        flags = [s.pre_event for s in ordered]
        if flags:
            prefix_ok = all(not later or earlier for earlier, later in zip(flags, flags[1:], strict=False))
            if not prefix_ok or (r.pre_event is not None and flags[0] != had_pre):
                add(_finding(SEGMENT_PRE_EVENT, f"recording {r.id}: pre-event flags "
                             f"{['pre' if f else 'live' for f in flags]} disagree with recording.open "
                             f"({pre.get('packets', 0)} buffered packets)", recording=r.id))
    # Timing: the journaled per-stream spans of consecutive segments.
    for rec_report, segs in _segments_by_recording(report):
        for prev, nxt in zip(segs, segs[1:], strict=False):
            if prev[0].index is None or nxt[0].index != prev[0].index + 1:
                continue
            # Signed but possibly malformed fields: only a list of objects with integer
            # stream numbers is read (a hostile value is skipped, never raises).
            spans_a = {sp.get("stream"): sp for sp in _list(prev[1].get("spans"))
                       if isinstance(sp, dict) and type(sp.get("stream")) is int}
            spans_b = {sp.get("stream"): sp for sp in _list(nxt[1].get("spans"))
                       if isinstance(sp, dict) and type(sp.get("stream")) is int}
            video = [st.get("index") for st in _list(prev[1].get("streams"))
                     if isinstance(st, dict) and st.get("kind") == "video" and type(st.get("index")) is int]
            for stream in video:
                a, b = spans_a.get(stream), spans_b.get(stream)
                if not a or not b:
                    continue
                tb = frac(a.get("time_base"))
                tb_b = frac(b.get("time_base"))
                try:
                    end = a["end_pts"] * tb
                    frame = (a["end_pts"] - a["last_pts"]) * tb
                    start = b["first_pts"] * tb_b
                except (KeyError, TypeError):
                    continue
                gap = start - end
                if gap > max(frame, Fraction(0)) and prev[0].recovered:
                    # Crash recovery keeps only the attested prefix of a segment
                    # that was still being written: its unattested tail is set
                    # aside, so the next segment starts later than it ends.
                    add(_finding(CONTENT_TIMING_GAP_RECOVERED,
                                 f"recording {rec_report.id}: stream {stream} jumps "
                                 f"{float(gap) * 1000:.1f} ms after segment {prev[0].index}, salvaged by crash "
                                 "recovery up to its last attested prefix (the rest was never attested)",
                                 recording=rec_report.id, stream=stream, after=prev[0].index,
                                 gap_ms=round(float(gap) * 1000, 1)))
                elif abs(gap) > max(frame, Fraction(0)):
                    add(_finding(CONTENT_TIMING_GAP,
                                 f"recording {rec_report.id}: stream {stream} "
                                 f"{'jumps' if gap > 0 else 'overlaps'} {abs(float(gap)) * 1000:.1f} ms "
                                 f"between segments {prev[0].index} and {nxt[0].index}",
                                 recording=rec_report.id, stream=stream, after=prev[0].index,
                                 gap_ms=round(float(gap) * 1000, 1)))


def _list(value: Any) -> list[Any]:
    """``value`` if it is a JSON array, else an empty list (a signed field of the wrong type)."""
    return value if isinstance(value, list) else []


def _segments_by_recording(
    report: Report,
) -> Iterable[tuple[RecordingReport, list[tuple[SegmentReport, dict[str, Any]]]]]:
    for r in report.recordings:
        items = [(s, s.body) for s in r.segments if s.index is not None]
        items.sort(key=lambda x: x[0].index)  # type: ignore[arg-type,return-value]
        yield r, items
