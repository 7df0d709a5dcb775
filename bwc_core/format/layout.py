"""Names of files and directories in evidence and exhibits, and the path validators."""

from __future__ import annotations

import fcntl
from binascii import b2a_base64 as _b64
import logging
import os
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from bwc_core._fileio import read_regular_file, reserve, write_new_file
from bwc_core.format.canonical import canonical_bytes, parse_canonical
from bwc_core.format.envelope import RECORD_HASHER, RECORD_TYPE, Envelope, Signature, pae, record_hash
from bwc_core.errors import CanonicalJSONError, CertificateError, EnvelopeError, JournalError, TrustError
from bwc_core import errors
from bwc_core.format.findings import Finding, Severity, Verdict, register
from bwc_core.format.findings import finding as _finding
from bwc_core.format.keys import Certificate, Identity, Signer, TrustAnchors
from bwc_core.format.records import check_fields
import nacl.bindings
import nacl.exceptions
import nacl.signing
import enum
import stat
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any
from bwc_core.capture.buffer import PreEventBuffer
from bwc_core.format.content import file_digests
from bwc_core.errors import JournalError, PolicyError, StateError, BwcValueError
from bwc_core.format.journal import Journal
from bwc_core.media.source import CONTAINER_FORMATS
from bwc_core.format.codec import StreamInfo
from bwc_core.media.writers import check_streams
from bwc_core.media.packets import PacketRecord
from bwc_core.capture.segmenter import SegmentInfo, Segmenter, SegmentProgress, salvage
import datetime as _dt
import multiprocessing
import posixpath
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor, ThreadPoolExecutor
from difflib import SequenceMatcher
from fractions import Fraction
from bwc_core.errors import BwcError, JournalError, BwcValueError
from bwc_core.format.envelope import Envelope
from bwc_core.format.journal import Journal, Record, read_lines
from bwc_core.format.keys import Certificate, RevocationList, TrustAnchors
from bwc_core.media.presentation import header_declares_streams
import json
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from bwc_core._fileio import read_regular_file
from bwc_core.format.canonical import load_json, parse_canonical
from bwc_core.format.content import (
    RangeProof,
    config_digest,
    file_digests,
    inclusion_proof,
    read_leaves,
    segment_chunks,
    signed_leaves,
    verify_range_proof,
)
from bwc_core.format.envelope import EXHIBIT_TYPE, RECORD_CONTEXT, Envelope, record_hash, sign
from bwc_core.format.envelope import verify as verify_envelope
from bwc_core.errors import (
    BwcError,
    CertificateError,
    ContainerError,
    ExhibitError,
    LeavesError,
    SignatureError,
    UnsafePathError,
)
from bwc_core.format.journal import Journal, read_lines
from bwc_core.format.keys import Certificate, PublicIdentity, Signer, TrustAnchors
from bwc_core.media.source import MediaSource
from bwc_core.media.writers import write_packets
from bwc_core.report.html import write_report_html
from bwc_core.verify.model import Report
from bwc_core.verify.evidence import content_of, lost_files
from bwc_core.verify import verify_evidence

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
