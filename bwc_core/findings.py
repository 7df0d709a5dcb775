"""Findings: what verification reports, as data rather than exceptions.

Every check in bwc-core produces :class:`Finding` s with a stable, dotted
``code`` (documented in ``docs/findings.md``), a severity, a plain-words
message and where it was found. Each code belongs to one of the three
verdicts kept apart by the verifier: integrity, completeness and origin.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Finding", "Severity", "Verdict"]


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
