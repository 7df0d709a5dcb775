"""PyAV adapters: demuxing (MediaSource), packets, writers, what a file presents, the fMP4 reader,
and the demux-to-commitment functions."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Imported on first use (PEP 562): importing one module of the package loads only what it needs.
_EXPORTS = {
    "PacketRecord": "packets",
    "MediaSource": "source",
    "HashingSink": "writers",
    "write_packets": "writers",
    "compare_presentation": "presentation",
    "measure_presentation": "presentation",
    "content_root": "commit",
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
    from bwc_core.media.commit import content_root
    from bwc_core.media.packets import PacketRecord
    from bwc_core.media.presentation import compare_presentation, measure_presentation
    from bwc_core.media.source import MediaSource
    from bwc_core.media.writers import HashingSink, write_packets

__all__ = [
    "HashingSink",
    "MediaSource",
    "PacketRecord",
    "compare_presentation",
    "content_root",
    "measure_presentation",
    "write_packets",
]
