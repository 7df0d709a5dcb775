"""Names of files and directories in evidence and exhibits, and the path validators."""

from __future__ import annotations

import posixpath
from typing import Any

__all__ = [
    "JOURNAL_NAME",
    "MEDIA_DIR",
    "UNATTESTED_DIR",
    "EXHIBIT_MANIFEST",
    "safe_rel",
    "CERT_DIR",
    "CLIP_DIR",
    "REPORT_FILES",
    "TRUST_DIR",
    "safe_member",
]


JOURNAL_NAME = "journal.jsonl"

MEDIA_DIR = "media"

#: Where crash recovery moves what no attestation covers (never evidence).
UNATTESTED_DIR = "unattested"

#: The manifest that makes a folder a court exhibit (see :mod:`bwc_core.exhibit.build`).
EXHIBIT_MANIFEST = "exhibit.json"


def safe_rel(value: Any) -> str | None:
    """A journaled path if it is a plain relative path under media/, else None."""
    if not isinstance(value, str) or not value or "\\" in value or "\x00" in value:
        return None
    norm = posixpath.normpath(value)
    if norm != value or norm.startswith("/") or norm.startswith("../") or norm == "..":
        return None
    parts = norm.split("/")
    if len(parts) < 2 or parts[0] != MEDIA_DIR or any(p in ("", ".", "..") for p in parts):
        return None
    return norm


CLIP_DIR = "clips"

CERT_DIR = "certs"

TRUST_DIR = "trust"

REPORT_FILES = ("report.json", "report.html")


def safe_member(name: Any) -> str | None:
    """*name* if it is a plain relative POSIX path inside the exhibit, else None."""
    if not isinstance(name, str) or not name or "\\" in name or "\x00" in name or ":" in name:
        return None
    norm = posixpath.normpath(name)
    if norm != name or norm.startswith("/") or norm == "." or any(p in ("", ".", "..") for p in norm.split("/")):
        return None
    # Names no filesystem takes (a component over 255 bytes) would raise
    # ENAMETOOLONG from every later stat: refused here as unsafe.
    if len(norm.encode("utf-8", "surrogatepass")) > 1024 or any(len(p.encode("utf-8", "surrogatepass")) > 255
                                                                 for p in norm.split("/")):
        return None
    return norm
