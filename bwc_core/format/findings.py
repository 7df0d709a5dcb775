"""Findings: what verification reports, as data rather than exceptions.

Every check in bwc-core produces :class:`Finding` s with a stable, dotted
``code`` (documented in ``docs/findings.md``), a severity, a plain-words
message and where it was found. Each code belongs to one of the three
verdicts kept apart by the verifier: integrity, completeness and origin.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "CODES",
    "Finding",
    "Severity",
    "Verdict",
    "finding",
    "register",
    "JOURNAL_CODES",
    "PRESENTATION_CODES",
    "VERIFY_CODES",
    "EXHIBIT_CODES",
]


class Severity(str, enum.Enum):
    """How much a finding matters: ``error`` fails verification, the rest inform."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class Verdict(str, enum.Enum):
    """The three questions verification answers separately."""

    INTEGRITY = "integrity"  # are the bytes and frames those that were signed
    COMPLETENESS = "completeness"  # is anything missing, unclosed or out of place
    ORIGIN = "origin"  # was it signed by a trusted, valid, unrevoked key


@dataclass(frozen=True)
class Finding:
    """One verification result: ``code``, ``severity``, ``verdict``, ``message``, ``where``."""

    code: str
    severity: Severity
    verdict: Verdict
    message: str
    where: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """True when this finding fails verification."""
        return self.severity is Severity.ERROR

    def to_json(self) -> dict[str, Any]:
        """The finding as a JSON-ready dict."""
        return {
            "code": self.code,
            "severity": self.severity.value,
            "verdict": self.verdict.value,
            "message": self.message,
            "where": dict(self.where),
        }


#: Every finding code bwc-core emits: code -> (verdict, severity, meaning), filled
#: from the tables below, one per emitting area. ``docs/findings.md`` lists them all.
CODES: dict[str, tuple[Verdict, Severity, str]] = {}


def register(table: Mapping[str, tuple[Verdict, Severity, str]]) -> dict[str, tuple[Verdict, Severity, str]]:
    """Add a table of finding codes to :data:`CODES`; a code keeps one meaning everywhere."""
    for code, entry in table.items():
        if CODES.setdefault(code, entry) != entry:
            raise ValueError(f"finding code {code!r} registered twice with different meanings")
    return dict(table)


def finding(code: str, message: str, **where: Any) -> Finding:
    """A :class:`Finding` of a registered ``code``; ``where`` entries that are None are left out."""
    verdict, severity, _ = CODES[code]
    return Finding(code, severity, verdict, message, {k: v for k, v in where.items() if v is not None})


# Every finding code bwc-core emits, as a named constant (a typo fails at import);
# the tables below give each its verdict, severity and meaning.
CERT_EXPIRED: Final = "cert.expired"
CERT_MALFORMED: Final = "cert.malformed"
CERT_NOT_YET_VALID: Final = "cert.not_yet_valid"
CERT_REVOKED: Final = "cert.revoked"
CERT_UNCHECKED: Final = "cert.unchecked"
CERT_UNTRUSTED: Final = "cert.untrusted"
CERT_WRONG_ROLE: Final = "cert.wrong_role"
ORIGIN_UNCHECKED: Final = "origin.unchecked"
CLIP_APPENDED: Final = "clip.appended"
CLIP_CHUNK_ALTERED: Final = "clip.chunk_altered"
CLIP_CHUNK_FOREIGN: Final = "clip.chunk_foreign"
CLIP_CHUNK_MISSING: Final = "clip.chunk_missing"
CLIP_CONFIG_ALTERED: Final = "clip.config_altered"
CLIP_FRAMES_REMOVED: Final = "clip.frames_removed"
CLIP_FRAMES_REORDERED: Final = "clip.frames_reordered"
CLIP_LEAVES_MISMATCH: Final = "clip.leaves_mismatch"
CLIP_PROOF_INVALID: Final = "clip.proof_invalid"
CLIP_SEGMENT_UNKNOWN: Final = "clip.segment_unknown"
CLIP_TIMING_ALTERED: Final = "clip.timing_altered"
CLIP_UNREADABLE: Final = "clip.unreadable"
CONTENT_ALTERED: Final = "content.altered"
CONTENT_CONFIG_ALTERED: Final = "content.config_altered"
CONTENT_CONTAINER_CHANGED: Final = "content.container_changed"
CONTENT_DEMUX_IRREGULAR: Final = "content.demux_irregular"
CONTENT_METADATA_UNSIGNED: Final = "content.metadata_unsigned"
CONTENT_PACKET_ALTERED: Final = "content.packet_altered"
CONTENT_PACKET_INSERTED: Final = "content.packet_inserted"
CONTENT_PACKET_MISSING: Final = "content.packet_missing"
CONTENT_PACKET_REORDERED: Final = "content.packet_reordered"
CONTENT_PRESENTATION_ALTERED: Final = "content.presentation_altered"
CONTENT_TIME_SHIFTED: Final = "content.time_shifted"
CONTENT_TIMING_ALTERED: Final = "content.timing_altered"
CONTENT_TIMING_GAP: Final = "content.timing_gap"
CONTENT_TIMING_GAP_RECOVERED: Final = "content.timing_gap_recovered"
CONTENT_TIMING_SHIFTED: Final = "content.timing_shifted"
EVIDENCE_STRAY_FILE: Final = "evidence.stray_file"
EXHIBIT_CHUNK_GAP: Final = "exhibit.chunk_gap"
EXHIBIT_CLIP_MISSING: Final = "exhibit.clip_missing"
EXHIBIT_DECLARATION_MISMATCH: Final = "exhibit.declaration_mismatch"
EXHIBIT_EXCERPT: Final = "exhibit.excerpt"
EXHIBIT_EXCERPT_BOUNDS: Final = "exhibit.excerpt_bounds"
EXHIBIT_EXPORTER_ROLE: Final = "exhibit.exporter_role"
EXHIBIT_EXPORTER_UNTRUSTED: Final = "exhibit.exporter_untrusted"
EXHIBIT_FILE_ALTERED: Final = "exhibit.file_altered"
EXHIBIT_FILE_MISSING: Final = "exhibit.file_missing"
EXHIBIT_FILE_UNLISTED: Final = "exhibit.file_unlisted"
EXHIBIT_MANIFEST_INVALID: Final = "exhibit.manifest_invalid"
EXHIBIT_MEDIA_UNSIGNED: Final = "exhibit.media_unsigned"
EXHIBIT_MODE_MISMATCH: Final = "exhibit.mode_mismatch"
EXHIBIT_RECORDING_INCOMPLETE: Final = "exhibit.recording_incomplete"
EXHIBIT_REPORT_MISMATCH: Final = "exhibit.report_mismatch"
EXHIBIT_SEGMENT_GAP: Final = "exhibit.segment_gap"
EXHIBIT_SEGMENT_OMITTED: Final = "exhibit.segment_omitted"
EXHIBIT_SIGNATURE_INVALID: Final = "exhibit.signature_invalid"
EXHIBIT_SPAN_MISMATCH: Final = "exhibit.span_mismatch"
EXHIBIT_TRUST_INSIDE: Final = "exhibit.trust_inside"
EXHIBIT_UNSIGNED: Final = "exhibit.unsigned"
JOURNAL_DUPLICATE: Final = "journal.duplicate"
JOURNAL_EDITED: Final = "journal.edited"
JOURNAL_FORK: Final = "journal.fork"
JOURNAL_GAP: Final = "journal.gap"
JOURNAL_HEAD_MISMATCH: Final = "journal.head_mismatch"
JOURNAL_HEAD_MISSING: Final = "journal.head_missing"
JOURNAL_MALFORMED_LINE: Final = "journal.malformed_line"
JOURNAL_MALFORMED_RECORD: Final = "journal.malformed_record"
JOURNAL_REORDER: Final = "journal.reorder"
JOURNAL_TIME_BACKWARDS: Final = "journal.time_backwards"
JOURNAL_TORN_TAIL: Final = "journal.torn_tail"
JOURNAL_WRONG_DEVICE: Final = "journal.wrong_device"
RECORDING_IMPORT_FAILED: Final = "recording.import_failed"
RECORDING_RECOVERED: Final = "recording.recovered"
RECORDING_REOPENED: Final = "recording.reopened"
RECORDING_SEGMENT_COUNT: Final = "recording.segment_count"
RECORDING_UNCLOSED: Final = "recording.unclosed"
RECORDING_UNOPENED: Final = "recording.unopened"
SEGMENT_APPENDED: Final = "segment.appended"
SEGMENT_BAD_PATH: Final = "segment.bad_path"
SEGMENT_DIGEST_MISMATCH: Final = "segment.digest_mismatch"
SEGMENT_DIGEST_UNKNOWN: Final = "segment.digest_unknown"
SEGMENT_DUPLICATE: Final = "segment.duplicate"
SEGMENT_INDEX_GAP: Final = "segment.index_gap"
SEGMENT_LEAVES_MISMATCH: Final = "segment.leaves_mismatch"
SEGMENT_LEAVES_MISSING: Final = "segment.leaves_missing"
SEGMENT_LOST: Final = "segment.lost"
SEGMENT_LOST_ALTERED: Final = "segment.lost_altered"
SEGMENT_MISPLACED: Final = "segment.misplaced"
SEGMENT_MISSING: Final = "segment.missing"
SEGMENT_PRE_EVENT: Final = "segment.pre_event"
SEGMENT_RECOVERED_UNATTESTED: Final = "segment.recovered_unattested"
SEGMENT_SIZE_MISMATCH: Final = "segment.size_mismatch"
SEGMENT_SWAPPED: Final = "segment.swapped"
SEGMENT_UNATTESTED: Final = "segment.unattested"
SEGMENT_UNATTESTED_KEPT: Final = "segment.unattested_kept"
SEGMENT_UNEXPECTED: Final = "segment.unexpected"
SEGMENT_UNREADABLE: Final = "segment.unreadable"
SIGNATURE_INVALID: Final = "signature.invalid"


JOURNAL_CODES: dict[str, tuple[Verdict, Severity, str]] = register({
    JOURNAL_MALFORMED_LINE: (Verdict.INTEGRITY, Severity.ERROR,
                               "a line is not a well-formed signed record"),
    JOURNAL_MALFORMED_RECORD: (Verdict.INTEGRITY, Severity.ERROR,
                                 "a signed record lacks a required field of its type, has one of the "
                                 "wrong type, or has a field its type does not define"),
    JOURNAL_EDITED: (Verdict.INTEGRITY, Severity.ERROR,
                       "a record's bytes do not match the device signature over them"),
    JOURNAL_DUPLICATE: (Verdict.INTEGRITY, Severity.ERROR,
                          "an identical record appears again (replayed line)"),
    JOURNAL_FORK: (Verdict.INTEGRITY, Severity.ERROR,
                     "two different validly signed records claim one place in the chain"),
    JOURNAL_REORDER: (Verdict.COMPLETENESS, Severity.ERROR,
                        "a record appears after records with higher seq"),
    JOURNAL_GAP: (Verdict.COMPLETENESS, Severity.ERROR,
                    "records with these seq numbers are missing"),
    JOURNAL_TORN_TAIL: (Verdict.COMPLETENESS, Severity.WARNING,
                          "an unterminated last line from a crash (never acknowledged)"),
    JOURNAL_WRONG_DEVICE: (Verdict.ORIGIN, Severity.ERROR,
                             "a record names a device other than the certificate subject"),
    SIGNATURE_INVALID: (Verdict.ORIGIN, Severity.ERROR,
                          "a record is not signed by the device key in force"),
    CERT_UNTRUSTED: (Verdict.ORIGIN, Severity.ERROR,
                       "the device certificate is not issued by a trusted root"),
    CERT_MALFORMED: (Verdict.ORIGIN, Severity.ERROR,
                       "the device certificate cannot be parsed"),
    CERT_EXPIRED: (Verdict.ORIGIN, Severity.ERROR,
                     "records signed after the certificate expired"),
    CERT_NOT_YET_VALID: (Verdict.ORIGIN, Severity.ERROR,
                           "records signed before the certificate was valid"),
    CERT_REVOKED: (Verdict.ORIGIN, Severity.ERROR,
                     "records signed at or after the key's revocation time"),
    CERT_WRONG_ROLE: (Verdict.ORIGIN, Severity.ERROR,
                        "a key signs records its certified role may not sign (a device journal: camera keys only)"),
    JOURNAL_TIME_BACKWARDS: (Verdict.ORIGIN, Severity.ERROR,
                               "a record is dated before the record it follows (backdated)"),
    CERT_UNCHECKED: (Verdict.ORIGIN, Severity.INFO,
                       "no trust anchors given: origin not checked"),
    ORIGIN_UNCHECKED: (Verdict.ORIGIN, Severity.WARNING,
                         "verified under the explicit unsafe policy UNSAFE_NO_ORIGIN: no signing key was checked "
                         "against a trusted root, so the origin verdict is \"unchecked\", never \"pass\""),
})

PRESENTATION_CODES: dict[str, tuple[Verdict, Severity, str]] = register({
    CONTENT_PRESENTATION_ALTERED: (
        Verdict.INTEGRITY, Severity.ERROR,
        "a stream's presentation metadata (display matrix, aspect ratio, colour, edit list) differs from the signed "
        "one"),
    CONTENT_METADATA_UNSIGNED: (
        Verdict.INTEGRITY, Severity.ERROR,
        "a changed file carries container metadata a player lists (a tag, chapter, attachment, track language, "
        "name or disposition, a service name) that no signature covers"),
})

I, C, O = Verdict.INTEGRITY, Verdict.COMPLETENESS, Verdict.ORIGIN

E, W, N = Severity.ERROR, Severity.WARNING, Severity.INFO

VERIFY_CODES: dict[str, tuple[Verdict, Severity, str]] = register({
    JOURNAL_HEAD_MISSING: (C, E, "a head known from elsewhere (--head) is past the journal's end: records were "
                                 "removed"),
    JOURNAL_HEAD_MISMATCH: (I, E, "the record at a known head's seq is not the record that head names"),
    RECORDING_UNCLOSED: (C, E, "a recording was opened and never closed"),
    RECORDING_RECOVERED: (C, N, "a recording was closed by crash recovery (power loss)"),
    RECORDING_IMPORT_FAILED: (C, W, "bwc seal failed part-way: the recording holds only part of its source"),
    RECORDING_UNOPENED: (C, E, "a segment or close names a recording that was never opened"),
    RECORDING_REOPENED: (I, E, "one recording id is opened twice"),
    RECORDING_SEGMENT_COUNT: (C, E, "recording.close counts a different number of segments than journaled"),
    SEGMENT_MISSING: (C, E, "a journaled segment file is absent"),
    SEGMENT_BAD_PATH: (I, E, "a record names a path outside media/, or the file is a link"),
    SEGMENT_SIZE_MISMATCH: (I, E, "a segment file's size differs from the signed size"),
    SEGMENT_DIGEST_MISMATCH: (I, E, "a segment file's digest differs from the signed digest"),
    SEGMENT_DIGEST_UNKNOWN: (I, W, "a signed digest uses an algorithm this verifier lacks"),
    SEGMENT_UNREADABLE: (I, E, "a segment file cannot be demuxed as media"),
    SEGMENT_LEAVES_MISSING: (C, E, "a segment's .leaves sidecar is absent or unreadable"),
    SEGMENT_LEAVES_MISMATCH: (I, E, "a .leaves sidecar differs from the signed one"),
    SEGMENT_INDEX_GAP: (C, E, "segment indices of a recording skip a number"),
    SEGMENT_DUPLICATE: (I, E, "two segment records name one file, or one index twice"),
    SEGMENT_MISPLACED: (I, E, "a file holds another record's segment (same or other recording)"),
    SEGMENT_SWAPPED: (I, E, "two segment files were exchanged with each other"),
    SEGMENT_UNEXPECTED: (I, E, "a file in the evidence directory that no signed record names, and that FFmpeg "
                           "can open as media or that is not a regular file (inserted)"),
    EVIDENCE_STRAY_FILE: (I, W, "a regular file no signed record names that FFmpeg cannot open as media "
                            "(OS litter such as .DS_Store): a player presents nothing from it; not evidence"),
    SEGMENT_LOST: (C, W, "crash recovery or a failed import left a segment file unjournaled (its footage is not "
                         "committed)"),
    SEGMENT_LOST_ALTERED: (I, E, "a file a recovery or import_failed record lists as lost differs from the bytes it "
                                 "signed"),
    SEGMENT_RECOVERED_UNATTESTED: (I, E, "a segment journaled by crash recovery is not a prefix a segment.progress "
                                         "record of its file attests"),
    SEGMENT_UNATTESTED: (I, E, "a file under media/ holds bytes crash recovery set aside as unattested (presented as "
                               "evidence)"),
    SEGMENT_UNATTESTED_KEPT: (C, W, "a file kept beside the evidence under unattested/ that a signed recovery "
                                "record names: no signature covers it; not evidence"),
    SEGMENT_PRE_EVENT: (I, W, "pre-event flags disagree with the recording.open record"),
    SEGMENT_APPENDED: (I, E, "bytes were added after the signed file (its first bytes are the signed file)"),
    CONTENT_CONTAINER_CHANGED: (I, W, "file bytes differ but the packets are the signed ones (stream-copy remux)"),
    CONTENT_TIMING_SHIFTED: (I, N, "timing equal to the signed timing within the container's rounding after one "
                                   "constant offset a stream copy produces"),
    CONTENT_TIMING_ALTERED: (I, E, "packets moved in time beyond the container's rounding"),
    CONTENT_TIME_SHIFTED: (I, E, "the whole segment moved in time by an offset no documented stream-copy remux "
                                 "produces"),
    CONTENT_DEMUX_IRREGULAR: (I, E, "re-demuxing the file met an irregularity (dts going backwards, a packet without "
                                    "pts "
                                "or of an undeclared stream, a demux error): a player may show what follows, unsigned"),
    CONTENT_CONFIG_ALTERED: (I, E, "a stream's codec configuration differs from the signed one"),
    CONTENT_PACKET_ALTERED: (I, E, "a packet's bytes differ from the signed packet"),
    CONTENT_PACKET_MISSING: (C, E, "a signed packet is absent from the file"),
    CONTENT_PACKET_INSERTED: (I, E, "the file holds a packet that was never signed"),
    CONTENT_PACKET_REORDERED: (I, E, "a signed packet appears at another position in its stream"),
    CONTENT_ALTERED: (I, E, "the re-demuxed content root differs from the signed root"),
    CONTENT_TIMING_GAP: (C, E, "video timing jumps or overlaps between consecutive segments by more than a frame"),
    CONTENT_TIMING_GAP_RECOVERED: (C, W, "video timing jumps after a segment crash recovery salvaged up to its last "
                                         "attested prefix"),
})

EXHIBIT_CODES: dict[str, tuple[Verdict, Severity, str]] = register({
    EXHIBIT_MANIFEST_INVALID: (I, E, "exhibit.json lacks a field or names an unsafe path"),
    EXHIBIT_UNSIGNED: (O, E, "exhibit.json is not signed: the exhibit's declared content is attacker-controlled"),
    EXHIBIT_SIGNATURE_INVALID: (O, E, "exhibit.json's signature does not verify with its exporter's key"),
    EXHIBIT_EXPORTER_UNTRUSTED: (O, E, "the exporter's certificate is not from a trusted root, or not valid "
                                   "and unrevoked at export time"),
    EXHIBIT_EXPORTER_ROLE: (O, E, "exhibit.json is signed by a certified key whose role is not server"),
    EXHIBIT_DECLARATION_MISMATCH: (I, E, "exhibit.json declares a segment, record or chunk range the signed "
                                     "records or range proofs do not have"),
    EXHIBIT_MODE_MISMATCH: (I, E, "a whole-recording exhibit declares clips, or a clip exhibit whole segments"),
    EXHIBIT_RECORDING_INCOMPLETE: (C, E, "a whole-recording exhibit lacks segments recording.close counts"),
    EXHIBIT_SEGMENT_GAP: (C, E, "a segment inside the declared span is in no clip"),
    EXHIBIT_SPAN_MISMATCH: (C, E, "the declared chunks are not those the signed requested span selects"),
    EXHIBIT_CHUNK_GAP: (C, E, "chunks inside the declared span are in no clip (a split or shortened clip)"),
    EXHIBIT_CLIP_MISSING: (C, E, "a clip file the declaration names is absent"),
    EXHIBIT_TRUST_INSIDE: (O, W, "the trust anchor given is a file inside the exhibit itself"),
    CLIP_CONFIG_ALTERED: (I, E, "a clip stream's codec configuration or time base differs from the signed "
                            "stream table"),
    EXHIBIT_FILE_MISSING: (C, E, "a file listed in exhibit.json is absent"),
    EXHIBIT_FILE_ALTERED: (I, E, "a file's size or digest differs from exhibit.json"),
    EXHIBIT_FILE_UNLISTED: (I, E, "the exhibit holds a file exhibit.json does not list"),
    EXHIBIT_EXCERPT: (C, N, "the journal is an excerpt: records outside it are not shown"),
    EXHIBIT_EXCERPT_BOUNDS: (C, E, "the excerpt does not hold the recording from its open to its close"),
    EXHIBIT_SEGMENT_OMITTED: (C, N, "a segment of the recording lies outside the signed declared span"),
    CLIP_SEGMENT_UNKNOWN: (I, E, "a clip names a segment no signed record in the excerpt describes"),
    CLIP_LEAVES_MISMATCH: (I, E, "a clipped segment's .leaves sidecar is absent or not the signed one"),
    CLIP_UNREADABLE: (I, E, "a clip file cannot be demuxed as media"),
    CLIP_PROOF_INVALID: (I, E, "a clip's range proof does not lead to the signed segment root"),
    CLIP_CHUNK_MISSING: (C, E, "a chunk the clip claims is absent from the clip file"),
    CLIP_CHUNK_FOREIGN: (I, E, "the clip holds a chunk that is not one of the signed chunks it claims"),
    CLIP_CHUNK_ALTERED: (I, E, "a clip chunk holds packets that differ from the signed chunk"),
    CLIP_FRAMES_REMOVED: (C, E, "frames of a signed chunk are absent from the clip"),
    CLIP_FRAMES_REORDERED: (I, E, "frames inside a chunk appear in another order than signed"),
    CLIP_TIMING_ALTERED: (I, E, "a chunk's frames are the signed ones but their timing differs"),
    CLIP_APPENDED: (I, E, "a clip file holds bytes its container structure does not account for (after its last "
                      "box, after its Matroska Segment, or not whole MPEG-TS packets)"),
    EXHIBIT_MEDIA_UNSIGNED: (I, E, "a file of the exhibit FFmpeg can open as media is neither a journaled segment "
                               "nor a declared clip proven against one (an error even when exhibit.json lists it)"),
    EXHIBIT_REPORT_MISMATCH: (I, E, "the shipped report.json or report.html states another verdict than this "
                                "verification"),
})
