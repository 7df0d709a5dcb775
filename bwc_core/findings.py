"""Findings: what verification reports, as data rather than exceptions.

Every check in bwc-core produces :class:`Finding` s with a stable, dotted
``code`` (documented in ``docs/findings.md``), a severity, a plain-words
message and where it was found. Each code belongs to one of the three
verdicts kept apart by the verifier: integrity, completeness and origin.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any

__all__ = ["CODES", "Finding", "Severity", "Verdict", "finding", "register"]


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


#: Every finding code bwc-core emits, gathered from the modules that emit
#: them: code -> (verdict, severity, meaning). ``docs/findings.md`` lists them all.
CODES: dict[str, tuple[Verdict, Severity, str]] = {}


def register(table: Mapping[str, tuple[Verdict, Severity, str]]) -> dict[str, tuple[Verdict, Severity, str]]:
    """Add a module's finding codes to :data:`CODES`; a code keeps one meaning everywhere."""
    for code, entry in table.items():
        if CODES.setdefault(code, entry) != entry:
            raise ValueError(f"finding code {code!r} registered twice with different meanings")
    return dict(table)


def finding(code: str, message: str, **where: Any) -> Finding:
    """A :class:`Finding` of a registered ``code``; ``where`` entries that are None are left out."""
    verdict, severity, _ = CODES[code]
    return Finding(code, severity, verdict, message, {k: v for k, v in where.items() if v is not None})
