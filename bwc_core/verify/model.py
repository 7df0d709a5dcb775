"""The verification report model: Report, RecordingReport, SegmentReport, ExhibitReport."""

from __future__ import annotations

import datetime as _dt
from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

from bwc_core.format.findings import (
    CONTENT_TIMING_GAP,
    JOURNAL_GAP,
    ORIGIN_UNCHECKED,
    SEGMENT_INDEX_GAP,
    SEGMENT_MISSING,
    Finding,
    Severity,
    Verdict,
)

__all__ = [
    "Report",
    "RecordingReport",
    "SegmentReport",
    "ExhibitReport",
    "REPORT_FORMAT",
    "frac",
    "iso",
]


REPORT_FORMAT = "bwc-core verify report"


def iso(ns: int | None) -> str | None:
    if not isinstance(ns, int):
        return None
    when = _dt.datetime.fromtimestamp(ns / 1e9, tz=_dt.UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def frac(value: Any) -> Fraction | None:
    """``[num, den]`` from a record as a Fraction (None if malformed)."""
    if (isinstance(value, list) and len(value) == 2 and all(type(v) is int for v in value)
            and value[1] > 0):
        return Fraction(value[0], value[1])
    return None


#: What verification found a journaled segment to be (``SegmentReport.status``;
#: ``report.json`` carries the same strings).
SegmentStatus = Literal[
    "ok", "container_changed", "altered", "missing", "misplaced", "swapped", "unreadable", "bad_path",
    "unattested",
    # exhibits: a segment not exported, exported as a clip, a clip whose bytes differ
    "omitted", "clipped", "clip_altered",
]


@dataclass
class SegmentReport:
    """One journaled segment: the signed facts and what the file turned out to be.

    ``status`` is ``ok``, ``container_changed``, ``altered``, ``missing``,
    ``misplaced``, ``swapped``, ``unreadable``, ``bad_path`` or
    ``unattested`` (journaled by crash recovery, but no ``segment.progress``
    record attests those bytes); in an exhibit also ``omitted``, ``clipped``
    or ``clip_altered`` (:data:`SegmentStatus`).
    """

    index: int | None
    path: str
    size: int | None
    digests: dict[str, str]
    content_root: str | None
    pre_event: bool
    recovered: bool
    seq: int
    status: SegmentStatus = "ok"
    measured: dict[str, Any] = field(default_factory=dict)
    start: Fraction | None = None
    end: Fraction | None = None
    #: The signed ``segment`` record body (chunk table, spans, streams).
    body: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": self.index,
            "path": self.path,
            "size": self.size,
            "digests": dict(self.digests),
            "content_root": self.content_root,
            "pre_event": self.pre_event,
            "recovered": self.recovered,
            "status": self.status,
            "seq": self.seq,
            "start": None if self.start is None else [self.start.numerator, self.start.denominator],
            "end": None if self.end is None else [self.end.numerator, self.end.denominator],
        }
        if self.measured:
            out["measured"] = dict(self.measured)
        return out


@dataclass
class RecordingReport:
    """One recording: how it opened and closed, its segments and its events."""

    id: str
    trigger: str | None = None
    officer: str | None = None
    policy: dict[str, Any] | None = None
    opened: int | None = None  # unix ns
    closed: int | None = None
    close_reason: str | None = None
    open_seq: int | None = None
    close_seq: int | None = None
    pre_event: dict[str, Any] | None = None
    segments: list[SegmentReport] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def event_summary(self) -> dict[str, Any]:
        """Counts of each event kind, and every deactivation with its reason."""
        counts: dict[str, int] = defaultdict(int)
        for e in self.events:
            counts[e["kind"]] += 1
        return {
            "deactivations": [
                {k: e.get(k) for k in ("time", "reason", "note", "seq", "last_frame")}
                for e in self.events if e["kind"] == "deactivate"
            ],
            "mutes": counts["mute"],
            "unmutes": counts["unmute"],
            "markers": [{"time": e.get("time"), "label": e.get("label"), "seq": e["seq"]}
                        for e in self.events if e["kind"] == "marker"],
            "notices": counts["notice"],
            "counts": dict(sorted(counts.items())),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "trigger": self.trigger,
            "officer": self.officer,
            "policy": self.policy,
            "opened": self.opened,
            "opened_utc": iso(self.opened),
            "closed": self.closed,
            "closed_utc": iso(self.closed),
            "close_reason": self.close_reason,
            "pre_event": self.pre_event,
            "segments": [s.to_json() for s in self.segments],
            "events": list(self.events),
            "event_summary": self.event_summary(),
        }


@dataclass
class Report:
    """The outcome of verifying one evidence directory.

    ``ok`` is True when no finding has severity ``error``; ``verdicts`` maps
    integrity, completeness and origin to ``"pass"`` or ``"fail"`` each; origin
    is ``"unchecked"`` instead of ``"pass"`` under ``UNSAFE_NO_ORIGIN``.
    """

    path: str
    findings: list[Finding] = field(default_factory=list)
    recordings: list[RecordingReport] = field(default_factory=list)
    device: dict[str, Any] = field(default_factory=dict)
    trust: dict[str, Any] = field(default_factory=dict)
    journal: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)  # not inside a recording
    bytes_checked: int = 0

    @property
    def verdicts(self) -> dict[str, str]:
        failed = {f.verdict for f in self.findings if f.failed}
        out = {v.value: ("fail" if v in failed else "pass") for v in Verdict}
        if out[Verdict.ORIGIN.value] == "pass" and not self.origin_checked:
            out[Verdict.ORIGIN.value] = "unchecked"  # UNSAFE_NO_ORIGIN: never a pass of origin
        return out

    @property
    def origin_checked(self) -> bool:
        """False when verified under ``UNSAFE_NO_ORIGIN`` (an ``origin.unchecked`` finding)."""
        return not any(f.code == ORIGIN_UNCHECKED for f in self.findings)

    @property
    def ok(self) -> bool:
        return not any(f.failed for f in self.findings)

    def codes(self) -> set[str]:
        """The distinct finding codes (handy in tests and scripts)."""
        return {f.code for f in self.findings}

    def summary(self) -> dict[str, Any]:
        """What an auditor counts: activations, deactivations and reasons, gaps, failures."""
        reasons: dict[str, int] = defaultdict(int)
        counts: dict[str, int] = defaultdict(int)
        for rec in self.recordings:
            for e in rec.events:
                counts[e["kind"]] += 1
                if e["kind"] == "deactivate":
                    reasons[str(e.get("reason"))] += 1
        for e in self.events:
            counts[e["kind"]] += 1
        return {
            "activations": sum(1 for r in self.recordings if r.open_seq is not None),
            "deactivations": counts["deactivate"],
            "deactivation_reasons": dict(sorted(reasons.items())),
            "mutes": counts["mute"],
            "sleeps": counts["sleep"],
            "markers": counts["marker"],
            "notices": counts["notice"],
            "segments": sum(len(r.segments) for r in self.recordings),
            "gaps": sum(1 for f in self.findings
                        if f.code in (JOURNAL_GAP, SEGMENT_INDEX_GAP, CONTENT_TIMING_GAP,
                                      SEGMENT_MISSING)),
            "errors": sum(1 for f in self.findings if f.failed),
            "warnings": sum(1 for f in self.findings if f.severity is Severity.WARNING),
        }

    def to_json(self) -> dict[str, Any]:
        """The ``bwc verify --json`` object (see docs/cli.md)."""
        from bwc_core import __version__

        return {
            "format": REPORT_FORMAT,
            "version": 1,
            "bwc_core": __version__,
            "path": self.path,
            "ok": self.ok,
            "verdicts": self.verdicts,
            "device": self.device,
            "trust": self.trust,
            "journal": self.journal,
            "recordings": [r.to_json() for r in self.recordings],
            "events": list(self.events),
            "summary": self.summary(),
            "bytes_checked": self.bytes_checked,
            "findings": [f.to_json() for f in self.findings],
        }


@dataclass
class ExhibitReport(Report):
    """A :class:`bwc_core.verify.model.Report` of an exhibit, with its manifest facts (``exhibit``)."""

    exhibit: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["exhibit"] = self.exhibit
        return out
