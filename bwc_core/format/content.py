"""Container-independent content hashing: packet framing, chunks, Merkle trees.

This module defines what every segment signature covers (docs/format.md,
section 1). Each packet's payload is put in a canonical form (H.264/HEVC as
4-byte big-endian length-prefixed NAL units without parameter sets, AUDs or
filler; AAC without an ADTS header that says what its configuration says),
framed with a little-endian header and hashed into a leaf. Leaves form one
RFC 9162 tree per chunk (a video GOP plus the audio and data packets of its
time span); chunk roots form the segment tree. The same packets therefore
give the same payload roots whether they sit in MP4, MKV or MPEG-TS and
however the muxer interleaved them; timing is committed separately so a
verifier can tell "re-timed by a lossless remux" from "altered".

The hot paths (NAL scanning, leaf hashing, tree building) are compiled in
``bwc_core._framing``; ``tests/_content_ref.py`` is the short pure-Python
reference the tests hold them equal to.
"""

from __future__ import annotations

import builtins
import hashlib
import math
import os
import struct
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, NamedTuple, overload

from blake3 import blake3

from bwc_core import _framing
from bwc_core._fileio import read_regular_file
from bwc_core.errors import (
    BwcValueError,
    CorruptMediaError,
    LeavesError,
    MediaError,
    PacketError,
    UnsupportedCodecError,
)
from bwc_core.format.codec import StreamInfo, canonical_asc, h264_extradata_sets, hevc_extradata_sets

__all__ = [
    "CONTEXTS",
    "ChunkInfo",
    "ContentHasher",
    "ContentResult",
    "FileDigester",
    "PacketLeaf",
    "PacketLeaves",
    "RangeProof",
    "StreamCommit",
    "canonical_payload",
    "config_digest",
    "file_digests",
    "inclusion_proof",
    "merkle_root",
    "packet_leaf",
    "pts_bits_of",
    "read_leaves",
    "segment_chunks",
    "signed_leaves",
    "verify_range_proof",
    "write_leaves",
]

#: BLAKE3 derive-key contexts, one per use, so no hash can stand in for another.
CONTEXTS: dict[str, str] = {
    "packet_tree": "bwc-core v1 packet tree",
    "timing": "bwc-core v1 timing",
    "segment_tree": "bwc-core v1 segment tree",
    "codec_config": "bwc-core v1 codec config",
    "record": "bwc-core v1 record",
}
PT = CONTEXTS["packet_tree"]
TM = CONTEXTS["timing"]
ST = CONTEXTS["segment_tree"]
CC = CONTEXTS["codec_config"]

LEAVES_MAGIC = b"BWCLEAV1"
_STREAM = struct.Struct("<III")
_U32 = struct.Struct("<I")
_PACKET = struct.Struct("<IIIIq")
_CHUNK_HEAD = struct.Struct("<IIII")
_PACKET_RECORD = _PACKET.size + 32

_TEMPLATES: dict[str, Any] = {}


def _template(context: str) -> Any:
    """One derive-key hasher per context, copied per use (cheaper than re-deriving)."""
    t = _TEMPLATES.get(context)
    if t is None:
        t = _TEMPLATES[context] = blake3(derive_key_context=context)
    return t


def _h(context: str, data: bytes) -> bytes:
    h = _template(context).copy()
    h.update(data)
    digest: bytes = h.digest()
    return digest


def _context(context: str) -> str:
    return CONTEXTS.get(context, context)


# --- primitives ------------------------------------------------------------------------


def canonical_payload(codec: str, payload: Any, extradata: bytes = b"") -> bytes | memoryview:
    """The container-independent form of one packet payload.

    Returns *payload* itself (no copy) when it is already canonical, e.g.
    length-prefixed H.264 with 4-byte lengths and nothing to drop.
    """
    return _framing.Framer(codec, bytes(extradata)).canonical(payload)


def packet_leaf(stream: int, flags: int, canonical_payload: Any) -> bytes:
    """H_PT(0x00 || "<IIQ"(stream, flags, len) || canonical payload): one tree leaf."""
    return _framing.LeafTable().leaf(_framing.Framer("data"), canonical_payload, stream, flags)[0]


def merkle_root(leaves: Sequence[bytes], context: str) -> bytes:
    """RFC 9162 Merkle tree hash over already-hashed 32-byte leaves.

    Nodes are H_ctx(0x01 || left || right); *context* is a key of
    :data:`CONTEXTS` or a full context string. No leaves: H_ctx(b"").
    """
    return _framing.merkle_root(leaves, _context(context))


def config_digest(
    codec: str, extradata: bytes = b"", parameter_sets: Iterable[bytes] = (), adts_config: bytes | None = None
) -> bytes:
    """H_CC of a stream's codec configuration (format section 1.3).

    H.264/HEVC: the sorted, de-duplicated parameter-set NAL units from
    *extradata* (avcC/hvcC or Annex B) and *parameter_sets* found in-band, each
    as 4-byte big-endian length + NAL. AAC: the AudioSpecificConfig from
    *extradata*, else *adts_config*. Other codecs: H_CC(b"").
    """
    extradata = bytes(extradata or b"")
    if codec in ("h264", "hevc"):
        sets = set(parameter_sets)
        if extradata:
            if extradata[0] == 1:
                sets.update(h264_extradata_sets(extradata) if codec == "h264" else hevc_extradata_sets(extradata))
            else:
                framer = _framing.Framer(codec, b"")
                framer.canonical(extradata)
                sets.update(framer.parameter_sets)
        return _h(CC, b"".join(len(n).to_bytes(4, "big") + n for n in sorted(sets)))
    if codec == "aac":
        if extradata:
            return _h(CC, canonical_asc(extradata))
        return _h(CC, adts_config or b"")
    return _h(CC, b"")


# --- results -----------------------------------------------------------------------------


class PacketLeaf(NamedTuple):
    """One packet as committed: where it sits, its framing header, pts and leaf.

    ``pts`` is in the stream's committed time base (the stream table's). dts
    and duration are not committed: containers do not store them faithfully
    (format section 1.7).
    """

    chunk: int
    stream: int
    flags: int
    size: int  # canonical payload length
    pts: int
    leaf: bytes


class PacketLeaves(Sequence[PacketLeaf]):
    """The packets of a segment in tree order, stored as packed sidecar records.

    A read-only sequence of :class:`PacketLeaf`, decoded on access: 56 bytes
    per packet instead of a Python object each (50k packets per segment).
    """

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        if len(data) % _PACKET_RECORD:
            raise LeavesError(f"packet records are not a whole number of {_PACKET_RECORD}-byte entries")
        self._data = bytes(data)

    @property
    def records(self) -> bytes:
        """The packed records, exactly as the sidecar stores them."""
        return self._data

    def __len__(self) -> int:
        return len(self._data) // _PACKET_RECORD

    def _get(self, i: int) -> PacketLeaf:
        off = i * _PACKET_RECORD
        return PacketLeaf._make(_PACKET.unpack_from(self._data, off) + (self._data[off + 24 : off + 56],))

    @overload
    def __getitem__(self, index: int) -> PacketLeaf: ...

    @overload
    def __getitem__(self, index: slice) -> list[PacketLeaf]: ...

    def __getitem__(self, index: int | slice) -> PacketLeaf | list[PacketLeaf]:
        if isinstance(index, slice):
            return [self._get(i) for i in range(*index.indices(len(self)))]
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("packet index out of range")
        return self._get(index)

    def __iter__(self) -> Iterator[PacketLeaf]:
        data = self._data
        for off in range(0, len(data), _PACKET_RECORD):
            yield PacketLeaf._make(_PACKET.unpack_from(data, off) + (data[off + 24 : off + 56],))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PacketLeaves):
            return self._data == other._data
        if isinstance(other, (list, tuple)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=False))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<PacketLeaves: {len(self)} packets>"


@dataclass(frozen=True)
class ChunkInfo:
    """One chunk (GOP) of a segment. ``start``/``duration`` are exact seconds, not committed.

    ``duration`` runs to the next chunk's start; the last chunk's runs to its
    latest pts (durations are not committed, so the last frame's is unknown).
    """

    index: int
    start: Fraction
    duration: Fraction
    payload_root: bytes
    timing_hash: bytes
    root: bytes
    first_packet: int
    packet_count: int

    def to_json(self) -> dict[str, Any]:
        """JSON-ready (integers, strings and lists only; seconds as [num, den])."""
        return {
            "index": self.index,
            "start": [self.start.numerator, self.start.denominator],
            "duration": [self.duration.numerator, self.duration.denominator],
            "payload_root": self.payload_root.hex(),
            "timing_hash": self.timing_hash.hex(),
            "root": self.root.hex(),
            "first_packet": self.first_packet,
            "packet_count": self.packet_count,
        }


@dataclass(frozen=True)
class StreamCommit:
    """What the segment root commits about one stream (codec is informative only)."""

    index: int
    codec: str
    time_base: Fraction
    config_digest: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "codec": self.codec,
            "time_base": [self.time_base.numerator, self.time_base.denominator],
            "config_digest": self.config_digest.hex(),
        }


def _stream_table(streams: Sequence[StreamCommit]) -> bytes:
    parts = [_U32.pack(len(streams))]
    for s in sorted(streams, key=lambda s: s.index):
        parts.append(_STREAM.pack(s.index, s.time_base.numerator, s.time_base.denominator))
        parts.append(s.config_digest)
    return b"".join(parts)


def _segment_root(chunk_roots: Sequence[bytes], table: bytes) -> bytes:
    return _h(ST, b"\x02" + merkle_root(chunk_roots, ST) + table)


@dataclass
class ContentResult:
    """The content commitment of one segment: root, chunk table, leaves, streams."""

    root: bytes
    chunks: list[ChunkInfo]
    packets: Sequence[PacketLeaf]  # PacketLeaves (packed) or a list
    streams: list[StreamCommit]
    #: (stream, position in the stream's decode order) of the packets FFmpeg flagged discard (an
    #: MP4 edit list hides them), filled in by the verifier's re-demux of an MP4/MOV file only.
    discarded: frozenset[tuple[int, int]] = frozenset()

    @property
    def chunk_roots(self) -> list[bytes]:
        """The leaves of the segment tree, in chunk order."""
        return [c.root for c in self.chunks]

    @property
    def stream_table(self) -> bytes:
        """The stream section bytes the root commits to (and the sidecar stores)."""
        return _stream_table(self.streams)

    def chunk_packets(self, index: int) -> Sequence[PacketLeaf]:
        """The packets of chunk *index*, in tree order."""
        c = self.chunks[index]
        return self.packets[c.first_packet : c.first_packet + c.packet_count]

    def to_json(self) -> dict[str, Any]:
        """Root, chunk table and streams as JSON-ready data (no per-packet leaves)."""
        return {
            "root": self.root.hex(),
            "chunks": [c.to_json() for c in self.chunks],
            "streams": [s.to_json() for s in self.streams],
            "packet_count": len(self.packets),
        }


def _build(
    streams: Sequence[StreamCommit],
    ordered: list[tuple[int, int, int, int, int, bytes]],
    nchunks: int,
    tbs: dict[int, Fraction],
    packets: Sequence[PacketLeaf] | None = None,
) -> ContentResult:
    """Trees and tables from packets already in chunk/tree order.

    *ordered* rows are (chunk, stream, flags, size, pts, leaf).
    """
    built: list[tuple[int, bytes, bytes, bytes, int, int]] = []
    if packets is None:
        packets = list(map(PacketLeaf._make, ordered))
    starts: list[Fraction] = []
    ends: list[Fraction] = []
    bounds: list[int] = []
    i = 0
    n = len(ordered)
    for c in range(nchunks):
        first = i
        while i < n and ordered[i][0] == c:
            i += 1
        if i == first:
            raise LeavesError(f"chunk {c} has no packets")
        rows = ordered[first:i]
        payload_root = _framing.merkle_root([r[5] for r in rows], PT)
        table = []
        start: Fraction | None = None
        end: Fraction | None = None
        j = 0
        while j < len(rows):
            stream = rows[j][1]
            k = j
            while k < len(rows) and rows[k][1] == stream:
                k += 1
            tb = tbs[stream]
            table.append(_CHUNK_HEAD.pack(stream, tb.numerator, tb.denominator, k - j))
            table.append(struct.pack(f"<{k - j}q", *[r[4] for r in rows[j:k]]))
            lo = min(r[4] for r in rows[j:k]) * tb
            hi = max(r[4] for r in rows[j:k]) * tb
            start = lo if start is None or lo < start else start
            end = hi if end is None or hi > end else end
            j = k
        timing = _h(TM, b"".join(table))
        root = _h(ST, b"\x00" + payload_root + timing)
        assert start is not None and end is not None  # the chunk has packets
        starts.append(start)
        ends.append(end)
        bounds.append(first)
        built.append((c, payload_root, timing, root, first, i - first))
    if i != n:
        raise LeavesError("packets out of chunk order")
    infos = []
    for c, payload_root, timing, root, first, count in built:
        nxt = starts[c + 1] if c + 1 < nchunks else ends[c]
        infos.append(
            ChunkInfo(c, starts[c], max(Fraction(0), nxt - starts[c]), payload_root, timing, root, first, count)
        )
    streams = sorted(streams, key=lambda s: s.index)
    root = _segment_root([ci.root for ci in infos], _stream_table(streams))
    return ContentResult(root, infos, packets, list(streams))


# --- the hasher -----------------------------------------------------------------------------


class ContentHasher(_framing.LeafTable):
    """Incremental content commitment of one segment.

    Feed every packet with ``update(packet, /)`` (any interleaving of streams,
    but each stream's packets in decode order, as a demuxer or encoder
    delivers them: dts cannot be used for that, MKV does not store it), then
    call :meth:`finish`. Only per-packet metadata and the 32-byte leaf are
    kept, never payloads; each leaf is computed as the packet arrives.
    ``update`` is compiled (``_framing.LeafTable.update``): it raises
    :class:`PacketError` for an undeclared stream or a foreign time base and
    :class:`CorruptMediaError` for a NAL unit that overruns its packet.

    Only pts are committed, in each stream's *committed* time base. By
    default that is the stream's own. A writer that muxes the packets passes
    the output streams' ``time_bases`` (MKV 1/1000, MPEG-TS 1/90000): pts
    are then rescaled exactly as FFmpeg's muxer rescales them, so the root
    equals :func:`content_root` of the file written. Records must still come
    in the stream's declared time base. ``pts_bits`` (33 for MPEG-TS, see
    :func:`pts_bits_of`) commits the signed value of that many low bits, as
    the container stores no more.
    """

    def __init__(
        self,
        streams: Sequence[StreamInfo],
        *,
        time_bases: Mapping[int, Fraction] | None = None,
        pts_bits: int | None = None,
        name: str | None = None,
    ) -> None:
        self.name = name
        self._infos: dict[int, StreamInfo] = {}
        self._stream_framers: dict[int, Any] = {}
        self._committed_tb: dict[int, Fraction] = {}
        if pts_bits is not None and not 2 <= pts_bits <= 64:
            raise BwcValueError(f"pts_bits must be in 2..64, got {pts_bits!r}")
        wrap = 0 if pts_bits is None or pts_bits == 64 else int(pts_bits)
        for info in streams:
            if info.index in self._infos:
                raise BwcValueError(f"{self._prefix()}stream {info.index} declared twice")
            codec = "data" if info.kind == "data" else info.codec
            try:
                framer = _framing.Framer(codec, bytes(info.extradata or b""))
            except UnsupportedCodecError:
                raise UnsupportedCodecError(
                    f"{self._prefix()}stream {info.index}: codec {info.codec!r} is not supported "
                    "(supported: h264, hevc, aac, pcm_*, opus, mp3, mjpeg, data streams)"
                ) from None
            except CorruptMediaError as exc:
                raise CorruptMediaError(f"{self._prefix()}stream {info.index}: {exc}") from None
            tb = Fraction(info.time_base)
            out = tb
            if time_bases is not None and info.index in time_bases:
                out = Fraction(time_bases[info.index])
                if out <= 0 or out.numerator >= 2**32 or out.denominator >= 2**32:
                    raise BwcValueError(f"{self._prefix()}stream {info.index}: bad output time base {out}")
            self._infos[info.index] = info
            self._stream_framers[info.index] = framer
            self._committed_tb[info.index] = out
            self._declare(info.index, framer, info.kind == "video", tb.numerator, tb.denominator,
                          out.numerator, out.denominator, wrap)
        if time_bases is not None:
            unknown = sorted(set(time_bases) - set(self._infos))
            if unknown:
                raise BwcValueError(f"{self._prefix()}time_bases names undeclared stream(s) {unknown}")
        videos = sorted(i.index for i in streams if i.kind == "video")
        self._first_video = videos[0] if videos else None

    def _prefix(self) -> str:
        return f"{self.name}: " if self.name else ""

    def finish(self, *, origin: Fraction | None = None) -> ContentResult:
        """Assign chunks, build the trees and return the result; the hasher is then spent.

        *origin* replaces t0 of the chunking without video (format 1.5): a
        clip's packets are chunked by the seconds of the segment it was cut
        from, whose t0 is the signed one, not the clip's own first pts.
        """
        if self.finished:
            raise PacketError("ContentHasher.finish() was already called")
        self.finished = True
        present = self.present_streams()
        streams = [
            StreamCommit(
                i.index,
                i.codec,
                self._committed_tb[i.index],
                # A stream with no packet here commits no configuration (format 1.3):
                # MPEG-TS carries AAC's only in the packets' ADTS headers.
                config_digest(
                    "data" if i.kind == "data" else i.codec,
                    i.extradata,
                    self._stream_framers[i.index].parameter_sets,
                    self._stream_framers[i.index].adts_config,
                ) if i.index in present else config_digest("data"),
            )
            for i in sorted(self._infos.values(), key=lambda i: i.index)
        ]
        tbs = {s.index: s.time_base for s in streams}
        chunk = None
        fv = self._first_video
        if fv is not None:
            keys = self.keyframe_pts(fv)
            # Keyframe pts are in V's time base, so bounds b_k = keys[k] * tb_V are
            # non-decreasing exactly when keys are (tb_V > 0).
            if keys and all(x <= y for x, y in zip(keys, keys[1:], strict=False)):
                # b <= pts * tb  <=>  ceil(b / tb) <= pts: integer bisection per stream,
                # with ceil(k * vn/vd / (n/d)) = ceil(k * vn * d / (vd * n)) in integers.
                vn, vd = tbs[fv].numerator, tbs[fv].denominator
                per_stream = {
                    i: [-((-k * vn * tb.denominator) // (vd * tb.numerator)) for k in keys]
                    for i, tb in tbs.items()
                    if i != fv
                }
                chunk, nchunks = self.assign_gop_chunks(fv, per_stream), len(keys)
        if chunk is None:
            chunk, nchunks = _assign_chunks(self.rows(), fv, tbs, origin)
        order, payload_roots, timing_hashes, chunk_roots, firsts, spans = self.build(chunk, nchunks)
        packets = PacketLeaves(self.packed_rows(order, chunk))
        # Chunk spans in exact integer units of 1/L s (L = LCM of the time base
        # denominators): one Fraction per value instead of Fraction arithmetic.
        scale = math.lcm(*(tb.denominator for tb in tbs.values()))
        mul = {k: tb.numerator * (scale // tb.denominator) for k, tb in tbs.items()}
        starts, ends = [], []
        for chunk_spans in spans:
            starts.append(min(lo * mul[k] for k, lo, _ in chunk_spans))
            ends.append(max(hi * mul[k] for k, _, hi in chunk_spans))
        chunks = []
        for c in range(nchunks):
            first = firsts[c]
            count = (firsts[c + 1] if c + 1 < nchunks else len(order)) - first
            nxt = starts[c + 1] if c + 1 < nchunks else ends[c]
            chunks.append(ChunkInfo(c, Fraction(starts[c], scale), Fraction(max(0, nxt - starts[c]), scale),
                                    payload_roots[c], timing_hashes[c], chunk_roots[c], first, count))
        root = _segment_root(chunk_roots, _stream_table(streams))
        return ContentResult(root, chunks, packets, streams)


def _assign_chunks(rows: list[Any], first_video: int | None, tbs: dict[int, Fraction],
                   origin: Fraction | None = None) -> tuple[list[int], int]:
    """Chunk index of every row (format section 1.5)."""
    n = len(rows)
    chunk = [0] * n
    bounds: list[Fraction] = []
    if first_video is not None:
        video = [i for i in range(n) if rows[i][0] == first_video]  # decode order
        tb = tbs[first_video]
        count = 0
        for i in video:
            if rows[i][1] & 1:
                count += 1
                bounds.append(rows[i][3] * tb)
            chunk[i] = count - 1 if count else 0
    if bounds:
        monotonic = all(a <= b for a, b in zip(bounds, bounds[1:], strict=False))
        per_stream: dict[int, list[int]] = {}
        for i in range(n):
            stream = rows[i][0]
            if stream == first_video:
                continue
            if monotonic:
                # b <= pts * tb  <=>  ceil(b / tb) <= pts: integer bisection per stream.
                ib = per_stream.get(stream)
                if ib is None:
                    tb = tbs[stream]
                    ib = per_stream[stream] = [math.ceil(b / tb) for b in bounds]
                k = bisect_right(ib, rows[i][3]) - 1
            else:
                t = rows[i][3] * tbs[stream]
                k = max((j for j, b in enumerate(bounds) if b <= t), default=0)
            chunk[i] = k if k > 0 else 0
        return chunk, len(bounds)
    if not n:
        return chunk, 0
    t0 = min(rows[i][3] * tbs[rows[i][0]] for i in range(n)) if origin is None else origin
    for i in range(n):
        chunk[i] = math.floor(rows[i][3] * tbs[rows[i][0]] - t0)
    present = sorted(set(chunk))
    renumber = {c: k for k, c in enumerate(present)}
    return [renumber[c] for c in chunk], len(present)


def pts_bits_of(format_name: str) -> int | None:
    """Bits of pts a container format stores when fewer than 64 (MPEG-TS: 33), else None.

    *format_name* is a bwc-core container name (``"ts"``) or an FFmpeg
    format name, possibly comma-separated as demuxers report them.
    """
    names = set(format_name.split(","))
    return 33 if names & {"ts", "mpegts"} else None


# --- the leaves sidecar ----------------------------------------------------------------------------


def leaves_bytes(result: ContentResult) -> bytes:
    """The ``.leaves`` sidecar bytes of *result* (format section 1.9)."""
    parts = [LEAVES_MAGIC, result.stream_table, _U32.pack(len(result.chunks)), _U32.pack(len(result.packets))]
    if isinstance(result.packets, PacketLeaves):
        parts.append(result.packets.records)
    else:
        pack = _PACKET.pack
        for p in result.packets:
            parts.append(pack(p.chunk, p.stream, p.flags, p.size, p.pts))
            parts.append(p.leaf)
    return b"".join(parts)


def write_leaves(path: str | os.PathLike[str], result: ContentResult) -> int:
    """Write the ``.leaves`` sidecar of *result* (format section 1.9); returns its size."""
    data = leaves_bytes(result)
    with open(path, "wb") as fh:
        fh.write(data)
    return len(data)


#: Largest sidecar read (24 bytes a packet: about 45 million packets).
LEAVES_FILE_LIMIT = 1 << 30


def read_leaves(path: str | os.PathLike[str]) -> ContentResult:
    """Read and validate a ``.leaves`` sidecar; chunk roots and root are recomputed.

    Compare ``.root`` with the signed content root: equal means every byte of
    the sidecar is what was signed. Codec names are not stored (``codec=""``).
    """
    name = os.fspath(path)
    if not os.path.lexists(path):
        raise LeavesError(f"{name}: no such file")
    # Opened without blocking, regular files only: a FIFO in an exhibit must not hang.
    data = read_regular_file(path, LEAVES_FILE_LIMIT, LeavesError, "a leaves sidecar")
    return parse_leaves(data, name=name)


def parse_leaves(data: bytes, *, name: str = "<leaves>") -> ContentResult:
    """Parse sidecar bytes (see :func:`read_leaves`)."""
    if data[:8] != LEAVES_MAGIC:
        raise LeavesError(f"{name}: not a bwc-core leaves file (bad magic)")
    pos = 8

    def need(count: int, what: str) -> None:
        if pos + count > len(data):
            raise LeavesError(f"{name}: truncated in {what} at byte {pos}")

    need(4, "stream count")
    (nstreams,) = _U32.unpack_from(data, pos)
    pos += 4
    need(nstreams * 44, "stream table")
    streams: list[StreamCommit] = []
    seen: set[int] = set()
    for _ in range(nstreams):
        index, num, den = _STREAM.unpack_from(data, pos)
        if index in seen or num == 0 or den == 0:
            raise LeavesError(f"{name}: bad stream entry at byte {pos}")
        if streams and index < streams[-1].index:
            raise LeavesError(f"{name}: streams not in index order at byte {pos}")
        seen.add(index)
        streams.append(StreamCommit(index, "", Fraction(num, den), data[pos + 12 : pos + 44]))
        pos += 44
    need(8, "counts")
    nchunks, npackets = struct.unpack_from("<II", data, pos)
    pos += 8
    if len(data) - pos != npackets * _PACKET_RECORD:
        raise LeavesError(
            f"{name}: {'truncated' if len(data) - pos < npackets * _PACKET_RECORD else 'trailing bytes'}: "
            f"{len(data) - pos} bytes for {npackets} packets"
        )
    ordered = []
    section = pos
    last = (-1, -1)
    for k in range(npackets):
        c, stream, flags, size, pts = _PACKET.unpack_from(data, pos)
        if stream not in seen:
            raise LeavesError(f"{name}: packet {k} names undeclared stream {stream}")
        if c >= nchunks or (c, stream) < last or c > last[0] + 1:
            raise LeavesError(f"{name}: packet {k} is out of chunk/stream order")
        last = (c, stream)
        ordered.append((c, stream, flags, size, pts, data[pos + 24 : pos + _PACKET_RECORD]))
        pos += _PACKET_RECORD
    if nchunks and (not ordered or ordered[-1][0] != nchunks - 1):
        raise LeavesError(f"{name}: chunk count {nchunks} does not match the packets")
    return _build(streams, ordered, nchunks, {s.index: s.time_base for s in streams}, PacketLeaves(data[section:]))


# --- range proofs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RangeProof:
    """Proof that chunks first..last (inclusive) are leaves of a segment tree.

    ``siblings`` are the roots of the subtrees outside the range, in the order
    the recursive walk of format section 1.8 meets them; ``streams`` is the
    segment's stream table, which the root also covers.
    """

    tree_size: int
    first: int
    last: int
    siblings: list[bytes] = field(default_factory=list)
    streams: bytes = b""

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "tree_size": self.tree_size,
            "first": self.first,
            "last": self.last,
            "siblings": [s.hex() for s in self.siblings],
            "streams": self.streams.hex(),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> RangeProof:
        try:
            if obj["version"] != 1:
                raise BwcValueError(f"unsupported range proof version {obj['version']!r}")
            siblings = [bytes.fromhex(s) for s in obj["siblings"]]
            if any(len(s) != 32 for s in siblings):
                raise BwcValueError("range proof sibling is not 32 bytes")
            return cls(
                int(obj["tree_size"]), int(obj["first"]), int(obj["last"]), siblings, bytes.fromhex(obj["streams"])
            )
        except (KeyError, TypeError, AttributeError, builtins.ValueError) as exc:
            if isinstance(exc, BwcValueError):
                raise
            raise BwcValueError(f"malformed range proof ({exc!r})") from None


def _split(size: int) -> int:
    return 1 << ((size - 1).bit_length() - 1)


def inclusion_proof(result: ContentResult, first_chunk: int, last_chunk: int) -> RangeProof:
    """Prove chunks first_chunk..last_chunk (inclusive) belong to ``result.root``."""
    roots = result.chunk_roots
    if not 0 <= first_chunk <= last_chunk < len(roots):
        raise BwcValueError(f"chunk range {first_chunk}..{last_chunk} outside 0..{len(roots) - 1}")
    siblings: list[bytes] = []

    def walk(a: int, b: int) -> None:
        if b <= first_chunk or a > last_chunk:
            siblings.append(merkle_root(roots[a:b], ST))
        elif first_chunk <= a and b - 1 <= last_chunk:
            return
        else:
            k = _split(b - a)
            walk(a, a + k)
            walk(a + k, b)

    walk(0, len(roots))
    return RangeProof(len(roots), first_chunk, last_chunk, siblings, result.stream_table)


def verify_range_proof(proof: RangeProof, chunk_roots: Sequence[bytes], root: bytes) -> bool:
    """True when *chunk_roots* are leaves proof.first..proof.last of the tree signed as *root*."""
    n, lo, hi = proof.tree_size, proof.first, proof.last
    if not (0 <= lo <= hi < n) or len(chunk_roots) != hi - lo + 1:
        return False
    if any(not isinstance(r, bytes) or len(r) != 32 for r in chunk_roots):
        return False
    siblings = iter(proof.siblings)
    node = bytes([1])

    def walk(a: int, b: int) -> bytes:
        if b <= lo or a > hi:
            return next(siblings)
        if lo <= a and b - 1 <= hi:
            return merkle_root(chunk_roots[a - lo : b - lo], ST)
        k = _split(b - a)
        left = walk(a, a + k)
        return _h(ST, node + left + walk(a + k, b))

    try:
        tree = walk(0, n)
    except StopIteration:
        return False
    if next(siblings, None) is not None:
        return False
    return _h(ST, b"\x02" + tree + proof.streams) == root


# --- file digests --------------------------------------------------------------------------------


class FileDigester:
    """Digests of a file's bytes as they are written (hashlib style, several at once).

    ``"blake3"`` is plain BLAKE3 (what ``b3sum`` prints); other names are
    hashlib algorithms (``"sha256"`` is what ``sha256sum`` prints).
    """

    def __init__(self, algorithms: Sequence[str] = ("blake3", "sha256")) -> None:
        if not algorithms:
            raise BwcValueError("at least one digest algorithm is needed")
        self._hashers: dict[str, Any] = {}
        for name in algorithms:
            if name == "blake3":
                self._hashers[name] = blake3(max_threads=1)
            elif name in hashlib.algorithms_guaranteed and not name.startswith("shake"):
                self._hashers[name] = hashlib.new(name)
            else:
                raise BwcValueError(f"unknown digest algorithm {name!r}")

    @property
    def algorithms(self) -> tuple[str, ...]:
        return tuple(self._hashers)

    def update(self, data: Any, /) -> None:
        """Feed the next bytes of the file."""
        for h in self._hashers.values():
            h.update(data)

    def hexdigests(self) -> dict[str, str]:
        """Lowercase hex digests by algorithm name (the hasher stays usable)."""
        return {name: h.hexdigest() for name, h in self._hashers.items()}

    def copy(self) -> FileDigester:
        """An independent copy of the current state."""
        new = FileDigester.__new__(FileDigester)
        new._hashers = {name: h.copy() for name, h in self._hashers.items()}
        return new


def file_digests(path: str | os.PathLike[str], algorithms: Sequence[str] = ("blake3", "sha256")) -> dict[str, str]:
    """Digests of a whole file, read in 1 MiB blocks; equal to b3sum / sha256sum."""
    digester = FileDigester(algorithms)
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    try:
        with open(path, "rb", buffering=0) as fh:
            while n := fh.readinto(buf):
                digester.update(view[:n])
    except FileNotFoundError:
        raise MediaError(f"{os.fspath(path)}: no such file") from None
    return digester.hexdigests()


# --- the chunk table of a segment record ------------------------------------------------------


def _chunk_from_json(value: Any) -> ChunkInfo:
    def frac(v: Any) -> Fraction:
        if type(v) is not list or len(v) != 2 or any(type(x) is not int for x in v) or v[1] <= 0:
            raise ValueError("not a fraction")
        return Fraction(v[0], v[1])

    if type(value) is not dict:
        raise ValueError("not an object")
    return ChunkInfo(
        value["index"], frac(value["start"]), frac(value["duration"]), bytes.fromhex(value["payload_root"]),
        bytes.fromhex(value["timing_hash"]), bytes.fromhex(value["root"]), value["first_packet"],
        value["packet_count"],
    )


def segment_chunks(body: Mapping[str, Any], sidecar: ContentResult | None) -> list[ChunkInfo] | None:
    """The chunk table of a signed ``segment`` record (format 2.5), or None when it is not known.

    Records before format 1.5 carry it (``chunks``); since 1.5 it is derived
    from the segment's sidecar, which *sidecar* must be once checked against
    the record (:func:`signed_leaves`): its chunk starts, durations, roots,
    first packets and counts are those the writer computed (section 1.9).
    Every reader of a chunk table goes through here.
    """
    chunks = body.get("chunks")
    if chunks is not None:
        try:
            return [_chunk_from_json(c) for c in chunks]
        except (KeyError, TypeError, ValueError):
            return None
    return None if sidecar is None else list(sidecar.chunks)


def signed_leaves(path: str | os.PathLike[str], body: Mapping[str, Any]) -> ContentResult:
    """Read the sidecar at *path* and check it against the ``segment`` record *body*.

    Its size and every digest must be the record's ``leaves`` and the root
    recomputed from it the record's ``content_root``; otherwise
    :class:`LeavesError`.
    """
    name = os.fspath(path)
    leaves = body.get("leaves")
    ref: Mapping[str, Any] = leaves if isinstance(leaves, Mapping) else {}
    digests = ref.get("digests")
    signed: Mapping[str, Any] = digests if isinstance(digests, Mapping) else {}
    if not signed:
        raise LeavesError(f"{name}: the segment record names no sidecar digests")
    data = read_regular_file(path, LEAVES_FILE_LIMIT, LeavesError, "a leaves sidecar")
    if len(data) != ref.get("size"):
        raise LeavesError(f"{name}: {len(data)} bytes, the segment record signs {ref.get('size')}")
    try:
        digester = FileDigester(list(signed))
    except BwcValueError:
        raise LeavesError(f"{name}: the segment record signs an unknown digest algorithm") from None
    digester.update(data)
    if digester.hexdigests() != dict(signed):
        raise LeavesError(f"{name}: bytes differ from the signed sidecar")
    result = parse_leaves(data, name=name)
    if result.root.hex() != body.get("content_root"):
        raise LeavesError(f"{name}: recomputed root differs from the signed content root")
    return result
