"""The camera side: pre-event buffer, segmenter, recorder state machine, sealing of existing files,
and the synthetic camera used by the demo and the tests."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Imported on first use (PEP 562): importing one module of the package loads only what it needs.
_EXPORTS = {
    "BufferStats": "buffer",
    "PreEventBuffer": "buffer",
    "SegmentInfo": "segmenter",
    "Segmenter": "segmenter",
    "salvage": "segmenter",
    "DeactivationReason": "recorder",
    "Recorder": "recorder",
    "RecorderState": "recorder",
    "RecordingPolicy": "recorder",
    "RecoveryReport": "recorder",
    "seal_files": "seal",
    "SyntheticCamera": "synthetic",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:
    from bwc_core.capture.buffer import BufferStats, PreEventBuffer
    from bwc_core.capture.recorder import DeactivationReason, Recorder, RecorderState, RecordingPolicy, RecoveryReport
    from bwc_core.capture.seal import seal_files
    from bwc_core.capture.segmenter import Segmenter, SegmentInfo, salvage
    from bwc_core.capture.synthetic import SyntheticCamera

__all__ = [
    "BufferStats",
    "DeactivationReason",
    "PreEventBuffer",
    "Recorder",
    "RecorderState",
    "RecordingPolicy",
    "RecoveryReport",
    "SegmentInfo",
    "Segmenter",
    "SyntheticCamera",
    "salvage",
    "seal_files",
]
