"""bwc-core: provably intact body-worn-camera footage.

Pre-event ring buffers, keyframe-aligned segments, streaming BLAKE3/SHA-256
hashing, Ed25519-signed hash-chain journals and one verification engine.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version as _version

from . import errors
from .errors import BwcError
from .media import MediaSource, StreamInfo, SyntheticCamera, write_packets
from .packets import PacketRecord
from .media import HashingSink
from .segment import SegmentInfo, Segmenter

try:
    __version__ = _version("bwc-core")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = [
    "BwcError",
    "MediaSource",
    "PacketRecord",
    "StreamInfo",
    "SyntheticCamera",
    "__version__",
    "errors",
    "write_packets",
    "HashingSink",
    "SegmentInfo",
    "Segmenter",
]
