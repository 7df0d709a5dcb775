"""The exhibit declaration (``exhibit.json``, format section 2.9): its format name and version,
and reading it into an :class:`ExhibitDeclaration` plus findings (an unsigned or badly
signed declaration is reported, never trusted)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bwc_core._fileio import read_regular_file
from bwc_core.errors import (
    BwcError,
    ExhibitError,
    SignatureError,
)
from bwc_core.format.canonical import load_json, parse_canonical
from bwc_core.format.envelope import EXHIBIT_TYPE, Envelope
from bwc_core.format.envelope import verify as verify_envelope
from bwc_core.format.findings import (
    EXHIBIT_EXPORTER_UNTRUSTED,
    EXHIBIT_MANIFEST_INVALID,
    EXHIBIT_SIGNATURE_INVALID,
    EXHIBIT_UNSIGNED,
    Finding,
)
from bwc_core.format.findings import finding as _finding
from bwc_core.format.keys import Certificate
from bwc_core.format.layout import EXHIBIT_MANIFEST

__all__ = [
    "EXHIBIT_FORMAT",
    "EXHIBIT_VERSION",
    "ExhibitDeclaration",
    "read_declaration",
]


EXHIBIT_FORMAT = "bwc-core exhibit"

#: 2: exhibit.json is a DSSE envelope signed by the exporting server (format 1.4).
EXHIBIT_VERSION = 2


@dataclass
class ExhibitDeclaration:
    """exhibit.json read: the declaration (signed or not) and what its signature showed."""

    body: dict[str, Any]
    envelope: Envelope | None = None  # None: not signed
    exporter: Certificate | None = None
    signature_ok: bool = False
    entries: list[dict[str, Any]] | None = None  # None: the segment table is malformed


_ENTRY_INTS = ("index", "seq", "chunk_count", "first_chunk", "last_chunk")


def read_declaration(p: Path, add: list[Finding]) -> ExhibitDeclaration:
    """Parse exhibit.json; an unsigned or badly signed one is a finding, never trusted."""
    manifest_path = p / EXHIBIT_MANIFEST
    try:
        if not os.path.lexists(manifest_path):
            raise FileNotFoundError(manifest_path)
        # Never blocks on a FIFO; deeply nested JSON is "not readable JSON", not a RecursionError.
        raw = load_json(read_regular_file(manifest_path, 1 << 26, ExhibitError, "an exhibit manifest"))
    except ExhibitError:
        raise
    except FileNotFoundError:
        raise ExhibitError(f"{p}: not an exhibit: no {EXHIBIT_MANIFEST}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ExhibitError(f"{manifest_path}: not readable JSON ({exc})") from None
    if isinstance(raw, dict) and "payloadType" in raw:
        try:
            env = Envelope.from_json(raw)
            if env.payload_type != EXHIBIT_TYPE:
                raise ExhibitError(f"payload type {env.payload_type!r}, not {EXHIBIT_TYPE}")
            body = parse_canonical(env.payload)
        except (BwcError, ValueError) as exc:
            raise ExhibitError(f"{manifest_path}: not a signed exhibit declaration ({exc})") from None
        if not isinstance(body, dict) or body.get("format") != EXHIBIT_FORMAT:
            raise ExhibitError(f"{manifest_path}: not a bwc-core exhibit declaration")
        decl = ExhibitDeclaration(body, env)
        try:
            decl.exporter = Certificate.from_json(body.get("exporter"))  # type: ignore[arg-type]
        except (BwcError, ValueError, TypeError) as exc:
            add.append(_finding(EXHIBIT_EXPORTER_UNTRUSTED, f"exhibit.json: the exporter certificate is "
                                f"missing or malformed ({exc}); its declared content is not authenticated"))
        if decl.exporter is not None and len(env.signatures) != 1:
            # format 2.2: one signature per envelope, so none is chosen or ignored
            add.append(_finding(EXHIBIT_SIGNATURE_INVALID, f"exhibit.json: the declaration carries "
                                f"{len(env.signatures)} signatures; a bwc-core envelope carries exactly one",
                                exporter=decl.exporter.subject))
        elif decl.exporter is not None:
            try:
                verify_envelope(env, {decl.exporter.key_id: decl.exporter.public_key})
                decl.signature_ok = True
            except SignatureError as exc:
                add.append(_finding(EXHIBIT_SIGNATURE_INVALID, f"exhibit.json: the declaration's signature "
                                    f"does not verify with the key of its exporter {decl.exporter.subject} "
                                    f"({exc}): its declared content was altered or re-signed",
                                    exporter=decl.exporter.subject))
    elif isinstance(raw, dict) and raw.get("format") == EXHIBIT_FORMAT:
        decl = ExhibitDeclaration(raw)
        add.append(_finding(EXHIBIT_UNSIGNED, "exhibit.json is not signed: what the exhibit declares "
                            "(recording, mode, span, clips, files) could have been written by anyone; an "
                            "exhibit must be re-exported by the evidence server (bwc exhibit --key --cert)"))
    else:
        raise ExhibitError(f"{manifest_path}: not a bwc-core exhibit manifest")
    body = decl.body
    segments = body.get("segments")
    problems = []
    if body.get("mode") not in ("recording", "clip"):
        problems.append(f"mode {body.get('mode')!r}")
    if not isinstance(body.get("recording"), str):
        problems.append("no recording id")
    if not isinstance(segments, list) or not segments:
        problems.append("no segment table")
    else:
        for e in segments:
            if (not isinstance(e, dict) or any(type(e.get(k)) is not int for k in _ENTRY_INTS)
                    or not isinstance(e.get("file"), str) or not isinstance(e.get("record"), str)
                    or not (e.get("clip") is None or isinstance(e.get("clip"), dict))):
                problems.append(f"segment entry {str(e)[:80]!r}")
                break
    if problems:
        add.append(_finding(EXHIBIT_MANIFEST_INVALID, "exhibit.json does not declare its content as "
                            f"format 2.9 requires: {', '.join(problems)}"))
    elif isinstance(segments, list):  # always so when nothing is wrong (for the type checker)
        decl.entries = sorted(segments, key=lambda e: (e["index"], e["first_chunk"]))
    return decl
