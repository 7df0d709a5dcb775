"""One-pass digests and content commitment of a fragmented MP4 segment (private).

Verification must read every byte of a segment for its file digests and
re-demux it for its content root. For the fragmented MP4 files bwc-core's
own writers produce (``ftyp`` ``moov`` then ``moof`` + ``mdat`` pairs), this
module does both in one streaming pass: each box is read once, fed to the
file hashers, and the samples a ``moof`` describes are hashed into a
:class:`~bwc_core.format.content.ContentHasher` straight from the ``mdat`` bytes
just read, with no demuxer, no packet objects and no second read.

The reader mirrors what FFmpeg's mov demuxer yields for such files (stream
order, codec configuration = the ``avcC`` / ``hvcC`` / AudioSpecificConfig
bytes, pts = ``tfdt`` + durations + composition offsets, shifted by the
edit list exactly as FFmpeg shifts it, keyframes from the sample flags) and
is held equal to it by differential tests. Anything it does not model
(``sidx``, several edits, negative composition offsets, a sample outside its
``mdat``, an unknown codec, QuickTime sound entries ...) makes it give up:
the caller then demuxes with FFmpeg. The verifier only *accepts* its root
for a file whose digests are the signed ones and whose root equals the
signed one; everything else is re-demuxed by FFmpeg, so this reader can make
verification faster but never decides a finding.
"""

from __future__ import annotations

import os
import struct
import sys
from array import array
from fractions import Fraction
from itertools import accumulate
from operator import add
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

__all__ = [
    "Measured",
    "measure",
]

_BOX = struct.Struct(">I4s")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_I32 = struct.Struct(">i")

#: Largest ``moov`` / ``moof`` body read into memory, and largest ``mdat``
#: whose samples are hashed from memory (bigger: FFmpeg demuxes the file).
_MAX_META = 16 << 20
_MAX_MDAT = 64 << 20
_BLOCK = 1 << 20

_NON_SYNC = 0x00010000  # sample_is_non_sync_sample
_DEPENDS_YES = 0x01000000  # sample_depends_on == 1
_NOT_KEY = _NON_SYNC | _DEPENDS_YES  # what FFmpeg reads as "not a keyframe"
_LITTLE = sys.byteorder == "little"

#: Top-level boxes this reader does not model (segment indexes and the like).
_REFUSED = frozenset({b"sidx", b"ssix", b"emsg", b"prft", b"meta", b"uuid"})

_CODECS = {b"avc1": ("h264", b"avcC"), b"avc3": ("h264", b"avcC"),
           b"hvc1": ("hevc", b"hvcC"), b"hev1": ("hevc", b"hvcC")}
_AUDIO_OTI = {0x40: "aac", 0x66: "aac", 0x67: "aac", 0x68: "aac"}


class _GiveUp(Exception):
    """The file is not one this reader models: FFmpeg demuxes it instead."""


def _boxes(data: bytes | memoryview, start: int, end: int):
    """(type, body_start, body_end) of the boxes in ``data[start:end]``."""
    pos = start
    while pos < end:
        kind, hlen, size = _header(data, pos, end)
        yield kind, pos + hlen, pos + size
        pos += size


def _children(data: bytes | memoryview, start: int, end: int) -> dict[bytes, list[tuple[int, int]]]:
    out: dict[bytes, list[tuple[int, int]]] = {}
    for kind, a, b in _boxes(data, start, end):
        out.setdefault(kind, []).append((a, b))
    return out


def _one(children: dict[bytes, list[tuple[int, int]]], kind: bytes) -> tuple[int, int]:
    found = children.get(kind)
    if not found or len(found) != 1:
        raise _GiveUp(f"expected one {kind!r} box")
    return found[0]


def _descriptor(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, body_start, body_end) of an MPEG-4 descriptor (ISO 14496-1 8.3.3)."""
    if pos >= end:
        raise _GiveUp("truncated descriptor")
    tag = data[pos]
    pos += 1
    length = 0
    for _ in range(4):
        if pos >= end:
            raise _GiveUp("truncated descriptor length")
        byte = data[pos]
        pos += 1
        length = (length << 7) | (byte & 0x7F)
        if not byte & 0x80:
            break
    if pos + length > end:
        raise _GiveUp("descriptor overruns its box")
    return tag, pos, pos + length


def _esds_config(data: bytes, start: int, end: int) -> tuple[int, bytes]:
    """(objectTypeIndication, DecoderSpecificInfo) of an ``esds`` box body."""
    tag, a, b = _descriptor(data, start + 4, end)  # after version/flags
    if tag != 0x03:
        raise _GiveUp("esds without ES_Descriptor")
    if b - a < 3:
        raise _GiveUp("short ES_Descriptor")
    flags = data[a + 2]
    pos = a + 3
    if flags & 0x80:
        pos += 2
    if flags & 0x40:
        if pos >= b:
            raise _GiveUp("short ES_Descriptor")
        pos += 1 + data[pos]
    if flags & 0x20:
        pos += 2
    tag, a, b = _descriptor(data, pos, b)
    if tag != 0x04 or b - a < 13:
        raise _GiveUp("esds without DecoderConfigDescriptor")
    oti = data[a]
    config = b""
    pos = a + 13
    while pos < b:
        tag, c, d = _descriptor(data, pos, b)
        if tag == 0x05:
            config = bytes(data[c:d])
            break
        pos = d
    return oti, config


class _Track:
    __slots__ = ("track_id", "index", "kind", "codec", "timescale", "extradata", "width",
                 "height", "channels", "sample_rate", "time_offset", "default_duration",
                 "default_size", "default_flags", "last_dts", "info")

    def stream_info(self) -> Any:
        from bwc_core.format.codec import StreamInfo

        return StreamInfo(index=self.index, kind=self.kind, codec=self.codec,
                          time_base=Fraction(1, self.timescale), width=self.width,
                          height=self.height, sample_rate=self.sample_rate,
                          channels=self.channels, extradata=self.extradata)


def _parse_moov(data: bytes) -> list[_Track]:
    top = _children(data, 0, len(data))
    a, b = _one(top, b"mvhd")
    version = data[a]
    movie_scale = _U32.unpack_from(data, a + (20 if version == 1 else 12))[0]
    if not movie_scale:
        raise _GiveUp("movie timescale 0")
    tracks: list[_Track] = []
    for index, (ta, tb) in enumerate(top.get(b"trak", [])):
        trak = _children(data, ta, tb)
        t = _Track()
        t.index = index
        a, b = _one(trak, b"tkhd")
        t.track_id = _U32.unpack_from(data, a + (20 if data[a] == 1 else 12))[0]
        ma, mb = _one(trak, b"mdia")
        mdia = _children(data, ma, mb)
        a, b = _one(mdia, b"mdhd")
        t.timescale = _U32.unpack_from(data, a + (20 if data[a] == 1 else 12))[0]
        if not t.timescale:
            raise _GiveUp("track timescale 0")
        a, b = _one(mdia, b"hdlr")
        handler = bytes(data[a + 8:a + 12])
        mi_a, mi_b = _one(mdia, b"minf")
        st_a, st_b = _one(_children(data, mi_a, mi_b), b"stbl")
        stbl = _children(data, st_a, st_b)
        # A fragmented file's moov holds no samples; one that does is not ours.
        for table in (b"stsz", b"stts"):
            a, b = _one(stbl, table)
            if _U32.unpack_from(data, a + 4 if table == b"stts" else a + 8)[0]:
                raise _GiveUp("samples in moov")
        a, b = _one(stbl, b"stsd")
        if _U32.unpack_from(data, a + 4)[0] != 1:
            raise _GiveUp("not exactly one sample description")
        entries = list(_boxes(data, a + 8, b))
        if len(entries) != 1:
            raise _GiveUp("bad stsd")
        fourcc, ea, eb = entries[0]
        t.width = t.height = t.channels = t.sample_rate = 0
        if handler == b"vide" and fourcc in _CODECS:
            t.kind = "video"
            t.codec, config_box = _CODECS[fourcc]
            if eb - ea < 78:
                raise _GiveUp("short visual sample entry")
            t.width, t.height = struct.unpack_from(">HH", data, ea + 24)
            configs = _children(data, ea + 78, eb).get(config_box, [])
            if len(configs) != 1:
                raise _GiveUp(f"no {config_box!r}")
            t.extradata = bytes(data[configs[0][0]:configs[0][1]])
        elif handler == b"soun" and fourcc == b"mp4a":
            t.kind = "audio"
            if eb - ea < 28 or struct.unpack_from(">H", data, ea + 8)[0] != 0:
                raise _GiveUp("QuickTime sound description")
            t.channels = struct.unpack_from(">H", data, ea + 16)[0]
            esds = _children(data, ea + 28, eb).get(b"esds", [])
            if len(esds) != 1:
                raise _GiveUp("no esds")
            oti, t.extradata = _esds_config(data, *esds[0])
            if oti not in _AUDIO_OTI:
                raise _GiveUp(f"audio object type {oti:#x}")
            t.codec = _AUDIO_OTI[oti]
            t.sample_rate = _U32.unpack_from(data, ea + 24)[0] >> 16
        else:
            raise _GiveUp(f"track of {handler!r} / {fourcc!r}")
        t.time_offset = _edit_offset(data, trak, movie_scale, t.timescale)
        t.default_duration = t.default_size = t.default_flags = 0
        t.last_dts = None
        tracks.append(t)
    if not tracks:
        raise _GiveUp("no tracks")
    ids = {t.track_id for t in tracks}
    if len(ids) != len(tracks):
        raise _GiveUp("duplicate track ids")
    mvex = top.get(b"mvex")
    if not mvex or len(mvex) != 1:
        raise _GiveUp("not fragmented")
    by_id = {t.track_id: t for t in tracks}
    for a, _end in _children(data, *mvex[0]).get(b"trex", []):
        tid, sdi, dur, size, flags = struct.unpack_from(">IIIII", data, a + 4)
        if tid in by_id:
            if sdi != 1:
                raise _GiveUp("trex sample description index")
            t = by_id[tid]
            t.default_duration, t.default_size, t.default_flags = dur, size, flags
    return tracks


def _edit_offset(data: bytes, trak: dict, movie_scale: int, track_scale: int) -> int:
    """FFmpeg's ``time_offset`` for one track: an optional empty edit + one edit."""
    edts = trak.get(b"edts")
    if not edts:
        return 0
    elst = _children(data, *edts[0]).get(b"elst")
    if not elst or len(elst) != 1:
        return 0
    a, b = elst[0]
    version = data[a]
    count = _U32.unpack_from(data, a + 4)[0]
    width = 20 if version == 1 else 12
    if a + 8 + count * width > b:
        raise _GiveUp("short elst")
    empty = start = 0
    first = 0
    for i in range(count):
        p = a + 8 + i * width
        if version == 1:
            duration, media_time = struct.unpack_from(">Qq", data, p)
            rate = _U32.unpack_from(data, p + 16)[0]
        else:
            duration, media_time, rate = struct.unpack_from(">IiI", data, p)
        if rate != 0x00010000:
            raise _GiveUp("edit rate other than 1")
        if i == 0 and media_time == -1:
            empty = duration
            first = 1
        elif i == first and media_time >= 0:
            start = media_time
        else:
            raise _GiveUp("several edits")
    if empty:  # av_rescale: movie time scale -> track time scale, rounded to nearest
        empty = (empty * track_scale + movie_scale // 2) // movie_scale
    return start - empty


def _be_u32(data: bytes, pos: int, count: int) -> array:
    """``count`` big-endian uint32 at ``data[pos:]`` as a native array."""
    out = array("I")
    out.frombytes(data[pos:pos + 4 * count])
    if _LITTLE:
        out.byteswap()
    return out


class _Run(NamedTuple):
    """The samples of one ``trun``: one stream, payloads at file offsets."""

    stream: int
    first: int  # file offset of the first payload; the others follow it back to back
    length: int  # bytes of all payloads
    sizes: array  # int64
    pts: array  # int64, the stream's time base
    keyframes: array  # uint8


def _parse_moof(data: bytes, moof_at: int, tracks: dict[int, _Track]) -> list[_Run]:
    """The sample runs one ``moof`` describes, as FFmpeg's mov demuxer reads them."""
    runs: list[_Run] = []
    implicit = moof_at
    for kind, ta, tb in _boxes(data, 0, len(data)):
        if kind != b"traf":
            continue
        traf = _children(data, ta, tb)
        a, b = _one(traf, b"tfhd")
        flags = _U32.unpack_from(data, a)[0] & 0xFFFFFF
        tid = _U32.unpack_from(data, a + 4)[0]
        track = tracks.get(tid)
        if track is None:
            raise _GiveUp(f"fragment of unknown track {tid}")
        p = a + 8
        if flags & 0x01:
            base = _U64.unpack_from(data, p)[0]
            p += 8
        elif flags & 0x020000:
            base = moof_at
        else:
            base = implicit
        if flags & 0x02:
            if _U32.unpack_from(data, p)[0] != 1:
                raise _GiveUp("sample description index")
            p += 4
        duration = track.default_duration
        size = track.default_size
        sflags = track.default_flags
        if flags & 0x08:
            duration = _U32.unpack_from(data, p)[0]
            p += 4
        if flags & 0x10:
            size = _U32.unpack_from(data, p)[0]
            p += 4
        if flags & 0x20:
            sflags = _U32.unpack_from(data, p)[0]
            p += 4
        if p > b:
            raise _GiveUp("short tfhd")
        if flags & 0x010000:
            raise _GiveUp("duration-is-empty fragment")
        tfdt = traf.get(b"tfdt")
        if not tfdt or len(tfdt) != 1:
            raise _GiveUp("traf without one tfdt")
        a, _ = tfdt[0]
        dts = (_U64.unpack_from(data, a + 4)[0] if data[a] == 1
               else _U32.unpack_from(data, a + 4)[0]) - track.time_offset
        video = track.kind == "video"
        for kind2, ra, rb in _boxes(data, ta, tb):
            if kind2 != b"trun":
                continue
            rflags = _U32.unpack_from(data, ra)[0] & 0xFFFFFF
            count = _U32.unpack_from(data, ra + 4)[0]
            p = ra + 8
            if not rflags & 0x01:
                raise _GiveUp("trun without data offset")
            offset = base + _I32.unpack_from(data, p)[0]
            p += 4
            first_flags = None
            if rflags & 0x04:
                first_flags = _U32.unpack_from(data, p)[0]
                p += 4
            fields = bin(rflags & 0xF00).count("1")
            if not count or p + 4 * count * fields > rb:
                raise _GiveUp("empty or short trun")
            table = _be_u32(data, p, count * fields)
            col = 0

            def column(default: int, present: int) -> Any:
                nonlocal col
                if present:
                    col += 1
                    return table[col - 1::fields]  # noqa: B023 - called in this iteration only
                return [default] * count  # noqa: B023 - called in this iteration only

            durations = column(duration, rflags & 0x100)
            sizes = array("q", column(size, rflags & 0x200))
            sample_flags = column(sflags, rflags & 0x400)
            if not rflags & 0x400 and first_flags is not None:
                sample_flags[0] = first_flags
            if rflags & 0x800:
                cts = array("i", table[col::fields].tobytes())  # FFmpeg reads them signed
                if min(cts) < 0:
                    raise _GiveUp("negative composition offset")
            else:
                cts = None
            if min(sizes) == 0:
                raise _GiveUp("empty sample")
            if track.last_dts is not None and dts < track.last_dts:
                raise _GiveUp("dts going backwards")
            length = sum(sizes)
            end = offset + length
            decode = array("q", accumulate(durations, initial=dts))
            dts = decode.pop()
            track.last_dts = decode[-1]
            pts = decode if cts is None else array("q", map(add, decode, cts))
            if video:
                keys = array("B", [not f & _NOT_KEY for f in sample_flags])
            else:
                keys = array("B", bytes(count))
            runs.append(_Run(track.index, offset, length, sizes, pts, keys))
            implicit = end
    return runs


class Measured:
    """What one pass over a file found: size, digests and (when modelled) content.

    From :func:`read_segment` also whether the path exists, is a link or
    special file, or could not be read (``error``), and the digest names it
    does not know (``unknown``).
    """

    __slots__ = ("exists", "link", "error", "size", "digests", "unknown", "content", "reason")

    def __init__(self) -> None:
        self.exists = True
        self.link = False
        self.error: str | None = None
        self.size = 0
        self.digests: dict[str, str] = {}
        self.unknown: list[str] = []
        self.content: Any = None  # a ContentResult when the reader modelled the file
        self.reason: str | None = None  # why it did not


class _Reader:
    """Turns the top-level boxes of one file, in order, into its content commitment.

    :meth:`check` and :meth:`box` take each box (type, file offset, body) as
    the file is read; :meth:`result` is the :class:`ContentResult` once every
    box was seen. Each raises :class:`_GiveUp` for anything not modelled.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.tracks: dict[int, _Track] | None = None
        self.hasher: Any = None
        self.pending: list[_Run] | None = None

    def check(self, kind: bytes, size: int) -> None:
        """Refuse a box before its body is read (type and size alone)."""
        if kind in _REFUSED:  # boxes that change what FFmpeg yields
            raise _GiveUp(f"{kind!r} box")
        if kind == b"mdat":
            if self.pending is None:
                raise _GiveUp("mdat without its moof")
            if size > _MAX_MDAT:
                raise _GiveUp("huge mdat")
        elif kind in (b"moov", b"moof") and size > _MAX_META:
            raise _GiveUp(f"huge {kind!r}")

    def box(self, kind: bytes, box_at: int, body_at: int, body: memoryview) -> None:
        from bwc_core.format.content import ContentHasher

        if kind == b"moov":
            if self.tracks is not None:
                raise _GiveUp("second moov")
            parsed = _parse_moov(bytes(body))
            self.tracks = {t.track_id: t for t in parsed}
            self.hasher = ContentHasher([t.stream_info() for t in parsed], name=self.name)
        elif kind == b"moof":
            if self.tracks is None or self.pending:
                raise _GiveUp("moof before moov" if self.tracks is None else "moof without mdat")
            self.pending = _parse_moof(bytes(body), box_at, self.tracks)
        elif kind == b"mdat":
            assert self.pending is not None and self.hasher is not None
            n = len(body)
            for run in self.pending:
                first = run.first - body_at  # payloads are back to back from here
                if first < 0 or first + run.length > n:
                    raise _GiveUp("sample outside its mdat")
                rel = array("q", accumulate(run.sizes, initial=first))
                rel.pop()
                self.hasher.update_run(body, run.stream, rel, run.sizes, run.pts, run.keyframes)
            self.pending = None
        elif kind == b"ftyp" and box_at != 0:
            raise _GiveUp("ftyp not first")

    def result(self) -> Any:
        if self.hasher is None:
            raise _GiveUp("no moov")
        if self.pending or not len(self.hasher):
            raise _GiveUp("moof without mdat" if self.pending else "no samples")
        return self.hasher.finish()


def _header(data: Any, pos: int, total: int) -> tuple[bytes, int, int]:
    """(type, header length, box size) of the box at *pos*, inside a file or parent box ending at *total*."""
    if total - pos < 8:
        raise _GiveUp("trailing bytes")
    size, kind = _BOX.unpack_from(data, pos)
    hlen = 8
    if size == 1:
        if total - pos < 16:
            raise _GiveUp("trailing bytes")
        size = _U64.unpack_from(data, pos + 8)[0]
        hlen = 16
    elif size == 0:
        size = total - pos
    if size < hlen or pos + size > total:
        raise _GiveUp(f"box {kind!r} overruns the file")
    return kind, hlen, size


def _give_up_reason(exc: Exception) -> str | None:
    """The reason to hand a file to FFmpeg, or None to let *exc* propagate (a read error)."""
    from bwc_core.errors import BwcError

    if isinstance(exc, (_GiveUp, BwcError)):  # (a refused packet is a BwcError, some are OSErrors)
        return str(exc)
    if isinstance(exc, OSError):
        return None
    return f"{type(exc).__name__}: {exc}"  # hostile numbers: FFmpeg decides


def _read_exact(fh: BinaryIO, view: memoryview) -> None:
    got = 0
    while got < len(view):
        n = fh.readinto(view[got:])
        if not n:
            raise OSError("file shrank while being read")
        got += n


def measure(path: str | os.PathLike[str], hashers: dict[str, Any], *, name: str | None = None) -> Measured:
    """Read *path* once: feed every byte to *hashers*; re-derive content if modelled.

    ``hashers`` maps digest names to fresh hashlib-like objects. The result
    has the size, the hex digests and, for a fragmented MP4 this reader
    models, the content commitment (``content``); otherwise ``content`` is
    None and ``reason`` says why. Raises ``OSError`` only for read errors.
    Each box is read into one reused buffer and hashed and parsed while in
    cache (mapping the file instead measured slower, and a file truncated
    while mapped would kill the process).
    """
    path = Path(path)
    with open(path, "rb", buffering=0) as fh:
        return _measure_stream(fh, os.fstat(fh.fileno()).st_size, hashers, name or str(path))


def _measure_stream(fh: BinaryIO, total: int, hashers: dict[str, Any], name: str) -> Measured:
    m = Measured()
    updates = [h.update for h in hashers.values()]
    buf = bytearray(_BLOCK)
    head = bytearray(16)
    hv = memoryview(head)
    reader: _Reader | None = _Reader(name)
    pos = 0
    while pos < total and reader is not None:
        try:
            got = min(16, total - pos)
            _read_exact(fh, hv[:got])
            kind, hlen, size = _header(head, 0, total - pos)
            for u in updates:
                u(hv[:hlen])
            body_at = pos + hlen
            n = size - hlen
            fh.seek(body_at)
            pos = body_at
            reader.check(kind, n)
            if len(buf) < n:
                buf = bytearray(n)
            body = memoryview(buf)[:n]
            _read_exact(fh, body)
            pos += n
            for u in updates:
                u(body)
            reader.box(kind, body_at - hlen, body_at, body)
        except Exception as exc:  # noqa: BLE001 - sorted by _give_up_reason
            m.reason = _give_up_reason(exc)
            if m.reason is None:
                raise
            reader = None
    # Whatever is left (after giving up) is still digested, in blocks.
    fh.seek(pos)
    view = memoryview(buf)
    while got := fh.readinto(view):
        pos += got
        for u in updates:
            u(view[:got])
    m.size = pos
    m.digests = {k: h.hexdigest() for k, h in hashers.items()}
    if reader is not None:
        try:
            m.content = reader.result()
        except Exception as exc:  # noqa: BLE001
            m.reason = _give_up_reason(exc) or str(exc)
    return m


