"""bwc-core: provably intact body-worn-camera footage.

Pre-event ring buffers, keyframe-aligned segments, streaming BLAKE3/SHA-256
hashing, Ed25519-signed hash-chain journals and one verification engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bwc_core import errors
from bwc_core._version import __version__
from bwc_core.errors import BwcError

# Public names are imported on first use (PEP 562): a command-line run or a
# camera process pays only for the modules it touches (PyAV, zipfile, the
# report renderer ... stay unloaded until needed).
_EXPORTS = {
    "BufferStats": "capture.buffer",
    "PreEventBuffer": "capture.buffer",
    "canonical_bytes": "format.canonical",
    "parse_canonical": "format.canonical",
    "ContentHasher": "format.content",
    "ContentResult": "format.content",
    "FileDigester": "format.content",
    "RangeProof": "format.content",
    "content_root": "media.commit",
    "file_digests": "format.content",
    "inclusion_proof": "format.content",
    "read_leaves": "format.content",
    "verify_range_proof": "format.content",
    "write_leaves": "format.content",
    "Envelope": "format.envelope",
    "pae": "format.envelope",
    "record_hash": "format.envelope",
    "ExhibitReport": "verify.model",
    "build_exhibit": "exhibit.build",
    "verify_exhibit": "verify.exhibit",
    "Finding": "format.findings",
    "Severity": "format.findings",
    "Verdict": "format.findings",
    "Journal": "format.journal",
    "Record": "format.journal",
    "validate_chain": "format.journal",
    "validate_journal": "format.journal",
    "Certificate": "format.keys",
    "Identity": "format.keys",
    "PublicIdentity": "format.keys",
    "Revocation": "format.keys",
    "RevocationList": "format.keys",
    "Signer": "format.keys",
    "TrustAnchors": "format.keys",
    "UNSAFE_NO_ORIGIN": "format.keys",
    "UnsafeNoOrigin": "format.keys",
    "HashingSink": "media.writers",
    "MediaSource": "media.source",
    "StreamInfo": "format.codec",
    "SyntheticCamera": "capture.synthetic",
    "write_packets": "media.writers",
    "PacketRecord": "media.packets",
    "DeactivationReason": "capture.recorder",
    "Recorder": "capture.recorder",
    "RecorderState": "capture.recorder",
    "RecordingPolicy": "capture.recorder",
    "RecoveryReport": "capture.recorder",
    "seal_files": "capture.seal",
    "SegmentInfo": "capture.segmenter",
    "Segmenter": "capture.segmenter",
    "RecordingReport": "verify.model",
    "Report": "verify.model",
    "SegmentReport": "verify.model",
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
    from bwc_core.capture.buffer import BufferStats, PreEventBuffer
    from bwc_core.capture.recorder import (
        DeactivationReason,
        Recorder,
        RecorderState,
        RecordingPolicy,
        RecoveryReport,
    )
    from bwc_core.capture.seal import seal_files
    from bwc_core.capture.segmenter import Segmenter, SegmentInfo
    from bwc_core.capture.synthetic import SyntheticCamera
    from bwc_core.exhibit.build import build_exhibit
    from bwc_core.format.canonical import canonical_bytes, parse_canonical
    from bwc_core.format.codec import StreamInfo
    from bwc_core.format.content import (
        ContentHasher,
        ContentResult,
        FileDigester,
        RangeProof,
        file_digests,
        inclusion_proof,
        read_leaves,
        verify_range_proof,
        write_leaves,
    )
    from bwc_core.format.envelope import Envelope, pae, record_hash
    from bwc_core.format.findings import Finding, Severity, Verdict
    from bwc_core.format.journal import Journal, Record, validate_chain, validate_journal
    from bwc_core.format.keys import (
        UNSAFE_NO_ORIGIN,
        Certificate,
        Identity,
        PublicIdentity,
        Revocation,
        RevocationList,
        Signer,
        TrustAnchors,
        UnsafeNoOrigin,
    )
    from bwc_core.media.commit import content_root
    from bwc_core.media.packets import PacketRecord
    from bwc_core.media.source import MediaSource
    from bwc_core.media.writers import HashingSink, write_packets
    from bwc_core.verify import verify_evidence
    from bwc_core.verify.exhibit import verify_exhibit
    from bwc_core.verify.model import ExhibitReport, RecordingReport, Report, SegmentReport

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
    "UNSAFE_NO_ORIGIN",
    "UnsafeNoOrigin",
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
