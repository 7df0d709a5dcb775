"""TEMPORARY stand-in for :mod:`bwc_core.content` (branch ``content``).

Same names and signatures as the real module so :mod:`bwc_core.segment` can
be built and tested before that branch lands. ``FileDigester`` and
``file_digests`` are real (blake3 + hashlib); ``ContentHasher`` computes a
simple keyframe-chunked BLAKE3 tree that is NOT the v1 content format. The
lead deletes this file when ``content`` is merged.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import blake3

from .errors import ValueError as BwcValueError

_FACTORIES = {"blake3": blake3.blake3, "sha256": hashlib.sha256}
_PACKET_CTX = blake3.blake3(derive_key_context="bwc-core v1 packet tree")
_SEGMENT_CTX = blake3.blake3(derive_key_context="bwc-core v1 segment tree")


class FileDigester:
    """Plain BLAKE3 / SHA-256 of a byte stream, fed in order."""

    def __init__(self, algorithms: Iterable[str] = ("blake3", "sha256")) -> None:
        algorithms = tuple(algorithms)
        unknown = [a for a in algorithms if a not in _FACTORIES]
        if unknown or not algorithms:
            raise BwcValueError(f"unknown digest algorithms {unknown}; expected some of {sorted(_FACTORIES)}")
        self._hashers = {a: _FACTORIES[a]() for a in algorithms}

    def update(self, data: Any, /) -> None:
        for h in self._hashers.values():
            h.update(data)

    def hexdigests(self) -> dict[str, str]:
        return {a: h.hexdigest() for a, h in self._hashers.items()}

    def copy(self) -> FileDigester:
        new = object.__new__(FileDigester)
        new._hashers = {a: h.copy() for a, h in self._hashers.items()}
        return new


def file_digests(path: str | os.PathLike[str], algorithms: Iterable[str] = ("blake3", "sha256")) -> dict[str, str]:
    d = FileDigester(algorithms)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            d.update(chunk)
    return d.hexdigests()


@dataclass
class ChunkInfo:
    index: int
    start: Fraction
    duration: Fraction
    payload_root: bytes
    timing_hash: bytes
    root: bytes
    first_packet: int
    packet_count: int


@dataclass
class PacketLeaf:
    index: int
    stream: int
    leaf: bytes


@dataclass
class StreamCommit:
    index: int
    codec: str


@dataclass
class ContentResult:
    root: bytes
    chunks: list[ChunkInfo] = field(default_factory=list)
    packets: list[PacketLeaf] = field(default_factory=list)
    streams: list[StreamCommit] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"root": self.root.hex(), "chunks": len(self.chunks), "packets": len(self.packets)}


class ContentHasher:
    """Stand-in: one chunk per keyframe of the first video stream (or per packet run)."""

    def __init__(self, streams: Sequence[Any]) -> None:
        self._streams = list(streams)
        video = [s.index for s in self._streams if s.kind == "video"]
        self._master = video[0] if video else None
        self._leaves: list[PacketLeaf] = []
        self._chunks: list[ChunkInfo] = []
        self._chunk_start: int = 0
        self._t0: Fraction | None = None

    def update(self, record: Any, /) -> None:
        if record.stream == self._master and record.keyframe and self._leaves:
            self._close_chunk(record.pts_seconds)
        if self._t0 is None:
            self._t0 = record.pts_seconds
        h = _PACKET_CTX.copy()
        h.update(b"\x00")
        h.update(record.payload)
        self._leaves.append(PacketLeaf(len(self._leaves), record.stream, h.digest()))

    def _close_chunk(self, end: Fraction | None) -> None:
        leaves = self._leaves[self._chunk_start :]
        if not leaves:
            return
        h = _PACKET_CTX.copy()
        for leaf in leaves:
            h.update(leaf.leaf)
        root = h.digest()
        start = self._t0 or Fraction(0)
        self._chunks.append(
            ChunkInfo(len(self._chunks), start, (end - start) if end is not None else Fraction(0),
                      root, b"\x00" * 32, root, self._chunk_start, len(leaves))
        )
        self._chunk_start = len(self._leaves)
        self._t0 = end

    def finish(self) -> ContentResult:
        self._close_chunk(None)
        h = _SEGMENT_CTX.copy()
        for c in self._chunks:
            h.update(c.root)
        return ContentResult(h.digest(), self._chunks, self._leaves,
                             [StreamCommit(s.index, s.codec) for s in self._streams])


def write_leaves(path: str | os.PathLike[str], result: ContentResult) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump([leaf.leaf.hex() for leaf in result.packets], fh)
