"""Names of files and directories in evidence and exhibits, and the path validators."""

from __future__ import annotations

import posixpath
from typing import Any

__all__ = [
    "JOURNAL_NAME",
    "MEDIA_DIR",
    "UNATTESTED_DIR",
    "EXHIBIT_MANIFEST",
    "safe_path",
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


def safe_path(value: Any, *, under: str | None = None, member: bool = False) -> str | None:
    """``value`` if it is a plain relative POSIX path, else None (the one path validator).

    Plain: a non-empty string without backslash or NUL, equal to its own
    normalisation, not absolute, with no empty, ``.`` or ``..`` component; with
    ``under``, at least two components, the first being ``under``.

    ``member=True`` (a file named inside an exhibit) also refuses a ``:`` and
    names no filesystem takes (a component over 255 bytes, the whole over 1024:
    they would raise ENAMETOOLONG from every later stat). The ``:`` choice: an
    exhibit is unpacked on court workstations, where ``a:b`` names an NTFS
    alternate data stream of ``a`` (or a drive-relative path), so such a member
    would not land where the declaration says. Journaled evidence paths keep
    ``:``: ``bwc seal`` names recordings after the device id, which may hold
    one, and refusing them would fail pristine evidence.
    """
    if not isinstance(value, str) or not value or "\\" in value or "\x00" in value or (member and ":" in value):
        return None
    norm = posixpath.normpath(value)
    parts = norm.split("/")
    if norm != value or norm.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return None
    if under is not None and (len(parts) < 2 or parts[0] != under):
        return None
    if member and (len(norm.encode("utf-8", "surrogatepass")) > 1024
                   or any(len(p.encode("utf-8", "surrogatepass")) > 255 for p in parts)):
        return None
    return norm


def safe_rel(value: Any) -> str | None:
    """A journaled path if it is a plain relative path under ``media/``, else None."""
    return safe_path(value, under=MEDIA_DIR)


CLIP_DIR = "clips"

CERT_DIR = "certs"

TRUST_DIR = "trust"

REPORT_FILES = ("report.json", "report.html")


def safe_member(name: Any) -> str | None:
    """*name* if it is a plain relative POSIX path inside an exhibit, else None."""
    return safe_path(name, member=True)
