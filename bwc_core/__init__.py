"""bwc-core: provably intact body-worn-camera footage.

Pre-event ring buffers, keyframe-aligned segments, streaming BLAKE3/SHA-256
hashing, Ed25519-signed hash-chain journals and one verification engine.
"""

from __future__ import annotations

from . import errors
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
from .errors import BwcError
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

from ._version import __version__

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
