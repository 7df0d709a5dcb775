"""bwc-core: provably intact body-worn-camera footage.

Pre-event ring buffers, keyframe-aligned segments, streaming BLAKE3/SHA-256
hashing, Ed25519-signed hash-chain journals and one verification engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import errors
from ._version import __version__
from .errors import BwcError

# Public names are imported on first use (PEP 562): a command-line run or a
# camera process pays only for the modules it touches (PyAV, zipfile, the
# report renderer ... stay unloaded until needed).
_EXPORTS = {
    "BufferStats": "buffer",
    "PreEventBuffer": "buffer",
    "canonical_bytes": "canonical",
    "parse_canonical": "canonical",
    "ContentHasher": "content",
    "ContentResult": "content",
    "FileDigester": "content",
    "RangeProof": "content",
    "content_root": "content",
    "file_digests": "content",
    "inclusion_proof": "content",
    "read_leaves": "content",
    "verify_range_proof": "content",
    "write_leaves": "content",
    "Envelope": "envelope",
    "pae": "envelope",
    "record_hash": "envelope",
    "ExhibitReport": "exhibit",
    "build_exhibit": "exhibit",
    "verify_exhibit": "exhibit",
    "Finding": "findings",
    "Severity": "findings",
    "Verdict": "findings",
    "Journal": "journal",
    "Record": "journal",
    "validate_chain": "journal",
    "validate_journal": "journal",
    "Certificate": "keys",
    "Identity": "keys",
    "PublicIdentity": "keys",
    "Revocation": "keys",
    "RevocationList": "keys",
    "Signer": "keys",
    "TrustAnchors": "keys",
    "HashingSink": "media",
    "MediaSource": "media",
    "StreamInfo": "media",
    "SyntheticCamera": "media",
    "write_packets": "media",
    "PacketRecord": "packets",
    "DeactivationReason": "recorder",
    "Recorder": "recorder",
    "RecorderState": "recorder",
    "RecordingPolicy": "recorder",
    "RecoveryReport": "recorder",
    "seal_files": "seal",
    "SegmentInfo": "segment",
    "Segmenter": "segment",
    "RecordingReport": "verify",
    "Report": "verify",
    "SegmentReport": "verify",
    "verify_evidence": "verify",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # the same names, eagerly, for type checkers and IDEs
    from .buffer import BufferStats, PreEventBuffer
    from .canonical import canonical_bytes, parse_canonical
    from .content import (
        ContentHasher,
        ContentResult,
        FileDigester,
        RangeProof,
        content_root,
        file_digests,
        inclusion_proof,
        read_leaves,
        verify_range_proof,
        write_leaves,
    )
    from .envelope import Envelope, pae, record_hash
    from .exhibit import ExhibitReport, build_exhibit, verify_exhibit
    from .findings import Finding, Severity, Verdict
    from .journal import Journal, Record, validate_chain, validate_journal
    from .keys import (
        Certificate,
        Identity,
        PublicIdentity,
        Revocation,
        RevocationList,
        Signer,
        TrustAnchors,
    )
    from .media import HashingSink, MediaSource, StreamInfo, SyntheticCamera, write_packets
    from .packets import PacketRecord
    from .recorder import DeactivationReason, Recorder, RecorderState, RecordingPolicy, RecoveryReport
    from .seal import seal_files
    from .segment import SegmentInfo, Segmenter
    from .verify import RecordingReport, Report, SegmentReport, verify_evidence

__all__ = [
    "__version__",
    "errors",
    # vocabulary
    "BwcError",
    "Finding",
    "PacketRecord",
    "Severity",
    "Verdict",
    # packets in / out
    "BufferStats",
    "HashingSink",
    "MediaSource",
    "PreEventBuffer",
    "StreamInfo",
    "SyntheticCamera",
    "write_packets",
    # media integrity
    "ContentHasher",
    "ContentResult",
    "FileDigester",
    "RangeProof",
    "SegmentInfo",
    "Segmenter",
    "content_root",
    "file_digests",
    "inclusion_proof",
    "read_leaves",
    "verify_range_proof",
    "write_leaves",
    # trust
    "Certificate",
    "Envelope",
    "Identity",
    "Journal",
    "PublicIdentity",
    "Record",
    "Revocation",
    "RevocationList",
    "Signer",
    "TrustAnchors",
    "canonical_bytes",
    "pae",
    "parse_canonical",
    "record_hash",
    "validate_chain",
    "validate_journal",
    # roles and workflows
    "DeactivationReason",
    "ExhibitReport",
    "Recorder",
    "RecorderState",
    "RecordingPolicy",
    "RecoveryReport",
    "build_exhibit",
    "seal_files",
    "verify_exhibit",
    # verification
    "RecordingReport",
    "Report",
    "SegmentReport",
    "verify_evidence",
]
