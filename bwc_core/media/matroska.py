"""The stored time of a Matroska block FFmpeg's demuxer reports without pts (format 1.5, 1.13).

FFmpeg's Matroska demuxer computes a block's time as its Cluster's
``Timestamp`` plus the block's signed 16-bit relative timestamp, and reports
*no pts* when that sum is negative (``matroskadec.c``: ``block_time >= 0 ||
cluster_time >= -block_time``). Its muxer writes such blocks without
complaint: ``ffmpeg -c copy`` of a segment that starts on an open-GOP
keyframe rebases the keyframe to 0 and writes the leading B-frames at
-40, -80, -120 ms. The packets are all there, their times are in the file;
only FFmpeg's report of them is missing.

:func:`negative_block_pts` reads them back: given the byte position FFmpeg
reports for such a packet (``AVPacket.pos``: the block's data, i.e. its track
number), it walks the file's top-level elements to the Cluster holding that
block and returns the block's stored time, with the cluster's earlier blocks
so the caller can check the reading against FFmpeg's own (format 1.13). It
models only what FFmpeg's muxer and mkvmerge write (one Timestamp before the
blocks, SimpleBlock or BlockGroup/Block, no lacing for video) and answers
None for anything else: the caller then reports the packet as irregular.
"""

from __future__ import annotations

import os
from typing import BinaryIO, NamedTuple

_SEGMENT = 0x18538067
_CLUSTER = 0x1F43B675
_TIMESTAMP = 0xE7
_SIMPLEBLOCK = 0xA3
_BLOCKGROUP = 0xA0
_BLOCK = 0xA1
_REFERENCE = 0xFB
#: Level-1 elements: one of them ends a Cluster of unknown size.
_LEVEL1 = frozenset({0x114D9B74, 0x1549A966, 0x1654AE6B, _CLUSTER, 0x1C53BB6B, 0x1941A469, 0x1043A770,
                     0x1254C367})
#: The most of one Cluster read into memory (FFmpeg's muxer closes clusters at 5 MB or 5 s).
_MAX_CLUSTER = 64 << 20


class Block(NamedTuple):
    """One block of a Cluster: where its data starts, its track, relative time and flags."""

    pos: int
    track: int
    relative: int
    keyframe: bool
    laced: bool


class BlockTime(NamedTuple):
    """A block FFmpeg reported without pts: its Cluster's Timestamp, itself, and the blocks before it."""

    cluster_timestamp: int
    block: Block
    #: The latest keyframe block of the same track earlier in the Cluster under the same
    #: Timestamp (none: empty): what the caller checks the reading against.
    earlier: tuple[Block, ...]

    @property
    def pts(self) -> int:
        """The stored time: Cluster Timestamp + relative timestamp (Segment ticks, FFmpeg's time base)."""
        return self.cluster_timestamp + self.block.relative


def _vint(data: bytes, i: int, *, keep_marker: bool) -> tuple[int, int] | None:
    """(value, length) of the EBML variable-size integer at *i*; the all-ones size is -1."""
    if i >= len(data):
        return None
    first = data[i]
    length = 1
    mask = 0x80
    while length <= 8 and not first & mask:
        length += 1
        mask >>= 1
    if length > 8 or i + length > len(data):
        return None
    value = first if keep_marker else first & (mask - 1)
    for k in range(1, length):
        value = (value << 8) | data[i + k]
    if not keep_marker and value == (1 << (7 * length)) - 1:
        value = -1  # unknown size
    return value, length


def _header(data: bytes, i: int) -> tuple[int, int, int] | None:
    """(id, size or -1, data start) of the element at *i* of *data*."""
    eid = _vint(data, i, keep_marker=True)
    if eid is None:
        return None
    size = _vint(data, i + eid[1], keep_marker=False)
    if size is None:
        return None
    return eid[0], size[0], i + eid[1] + size[1]


def _read_at(fh: BinaryIO, pos: int, n: int) -> bytes:
    fh.seek(pos)
    return fh.read(n)


def _block(data: bytes, start: int, end: int, base: int, keyframe: bool | None) -> Block | None:
    track = _vint(data, start, keep_marker=False)
    if track is None or track[0] < 0 or start + track[1] + 3 > end:
        return None
    i = start + track[1]
    relative = int.from_bytes(data[i:i + 2], "big", signed=True)
    flags = data[i + 2]
    key = bool(flags & 0x80) if keyframe is None else keyframe
    return Block(base + start, track[0], relative, key, bool(flags & 0x06))


def _cluster_blocks(data: bytes, base: int) -> tuple[list[tuple[int | None, Block]], int] | None:
    """Blocks of the Cluster whose data is *data* (file offset *base*), each with the Timestamp in
    force before it (None: none yet, or more than one), and the bytes the Cluster spans."""
    out: list[tuple[int | None, Block]] = []
    timestamp: int | None = None
    seen = 0
    i = 0
    while i < len(data):
        h = _header(data, i)
        if h is None:
            return out, i  # cut: what was read stands
        eid, size, start = h
        if eid in _LEVEL1:
            return out, i  # the end of a Cluster of unknown size
        if size < 0 or start + size > len(data):
            return (out, i) if size >= 0 else None
        end = start + size
        if eid == _TIMESTAMP:
            seen += 1
            timestamp = int.from_bytes(data[start:end], "big") if seen == 1 and 0 < size <= 8 else None
        elif eid == _SIMPLEBLOCK:
            b = _block(data, start, end, base, None)
            if b is not None:
                out.append((timestamp, b))
        elif eid == _BLOCKGROUP:
            block, reference = None, False
            j = start
            while j < end:
                g = _header(data, j)
                if g is None or g[1] < 0 or g[2] + g[1] > end:
                    break
                if g[0] == _BLOCK:
                    block = (g[2], g[2] + g[1])
                elif g[0] == _REFERENCE:
                    reference = True
                j = g[2] + g[1]
            if block is not None:
                b = _block(data, block[0], block[1], base, not reference)
                if b is not None:
                    out.append((timestamp, b))
        i = end
    return out, i


#: The last Cluster read (file identity, its element position, the Segment's end, blocks, block
#: index by position, each block's latest earlier keyframe of its track under the same Timestamp).
#: FFmpeg reports packets in file order, so one Cluster kept makes a file of thousands of blocks
#: without pts linear to read, not one walk and one Cluster parse per block.
_LAST: list = [None]


def _indexed(blocks: list[tuple[int | None, Block]]) -> tuple[dict[int, int], list[int]]:
    index: dict[int, int] = {}
    prev: list[int] = []
    latest: dict[tuple[int | None, int], int] = {}
    for k, (timestamp, block) in enumerate(blocks):
        index.setdefault(block.pos, k)
        prev.append(latest.get((timestamp, block.track), -1))
        if block.keyframe:
            latest[(timestamp, block.track)] = k
    return index, prev


def negative_block_pts(path: str | os.PathLike[str], pos: int) -> BlockTime | None:
    """The block whose data starts at byte *pos* of the Matroska file *path*, if its stored time
    is negative (why FFmpeg reports no pts for it); None for anything this reader does not model."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            size = st.st_size
            ident = (os.fspath(path), st.st_dev, st.st_ino, size, st.st_mtime_ns)
            last = _LAST[0] if _LAST[0] is not None and _LAST[0][0] == ident else None
            head = _read_at(fh, 0, 64)
            h = _header(head, 0)
            if h is None or h[1] < 0:
                return None
            at = h[2] + h[1]  # past the EBML header
            head = _read_at(fh, at, 16)
            h = _header(head, 0)
            if h is None or h[0] != _SEGMENT:
                return None
            at += h[2]
            end = size if h[1] < 0 else min(size, at + h[1])
            if last is not None and last[1] <= pos and last[2] == end:
                at = last[1]  # resume at the Cluster read last: every element before it was walked
            while at < end:
                head = _read_at(fh, at, 16)
                h = _header(head, 0)
                if h is None:
                    return None
                eid, length, start = h
                data_at = at + start
                if eid == _CLUSTER:
                    span = (end - data_at) if length < 0 else length
                    if length >= 0 and not data_at <= pos < data_at + length:
                        at = data_at + length
                        continue
                    if span > _MAX_CLUSTER:
                        return None
                    if last is not None and last[1] == at:
                        blocks, used, index, prev = last[3:]
                    else:
                        parsed = _cluster_blocks(_read_at(fh, data_at, span), data_at)
                        if parsed is None:
                            return None
                        blocks, used = parsed
                        index, prev = _indexed(blocks)
                        _LAST[0] = last = (ident, at, end, blocks, used, index, prev)
                    k = index.get(pos)
                    if k is not None:
                        timestamp, block = blocks[k]
                        if timestamp is None or timestamp + block.relative >= 0:
                            return None
                        earlier = (blocks[prev[k]][1],) if prev[k] >= 0 else ()
                        return BlockTime(timestamp, block, earlier)
                    if length >= 0 or data_at + used > pos:
                        return None
                    at = data_at + used
                    continue
                if length < 0:
                    return None
                at = data_at + length
    except OSError:
        return None
    return None
