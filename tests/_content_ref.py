"""Pure-Python reference of the v1 content format (the test oracle).

Written for clarity, not speed: every rule of docs/format.md section 1 in its
most literal form, sharing no code with the fast path (``content.py`` and
``_framing.pyx``). Tests hold the two byte-identical on random inputs.
"""

from __future__ import annotations

import math
import struct
from bisect import bisect_right
from collections.abc import Sequence
from fractions import Fraction

from blake3 import blake3

from bwc_core.errors import CorruptMediaError, UnsupportedCodecError

PT = "bwc-core v1 packet tree"
TM = "bwc-core v1 timing"
ST = "bwc-core v1 segment tree"
CC = "bwc-core v1 codec config"

RAW_CODECS = ("opus", "mp3", "mjpeg", "data")

H264_DROP = {7, 8, 9, 12}
H264_PS = {7, 8}
HEVC_DROP = {32, 33, 34, 35, 38}
HEVC_PS = {32, 33, 34}


def H(context: str, data: bytes) -> bytes:
    return blake3(data, derive_key_context=context).digest()


# --- NAL units -------------------------------------------------------------------


def nal_type(codec: str, nal: bytes) -> int:
    return nal[0] & 0x1F if codec == "h264" else (nal[0] >> 1) & 0x3F


def length_size(codec: str, extradata: bytes) -> int:
    """0 for Annex B, else the NAL length field size from avcC / hvcC."""
    if not extradata or extradata[0] != 1:
        return 0
    if codec == "h264":
        return (extradata[4] & 3) + 1
    return (extradata[21] & 3) + 1


def split_annexb(buf: bytes) -> list[bytes]:
    pieces = []
    start = 0
    while True:
        i = buf.find(b"\x00\x00\x01", start)
        end = len(buf) if i < 0 else i
        pieces.append(buf[start:end].rstrip(b"\x00"))
        if i < 0:
            break
        start = i + 3
    return [p for p in pieces if p]


def split_length_prefixed(buf: bytes, size: int) -> list[bytes]:
    nals = []
    pos = 0
    while pos < len(buf):
        if pos + size > len(buf):
            raise CorruptMediaError("NAL length field runs past the packet end")
        n = int.from_bytes(buf[pos : pos + size], "big")
        pos += size
        if pos + n > len(buf):
            raise CorruptMediaError("NAL unit runs past the packet end")
        nal = buf[pos : pos + n].rstrip(b"\x00")  # a NAL unit never ends in 0x00
        if nal:
            nals.append(nal)
        pos += n
    return nals


def split_nals(codec: str, payload: bytes, extradata: bytes) -> list[bytes]:
    size = length_size(codec, extradata)
    return split_length_prefixed(payload, size) if size else split_annexb(payload)


# --- AAC ----------------------------------------------------------------------------


def adts_header_length(payload: bytes) -> int:
    """7 or 9 if *payload* is exactly one ADTS frame, else 0."""
    if len(payload) < 7 or payload[0] != 0xFF or (payload[1] & 0xF6) != 0xF0:
        return 0
    frame_length = ((payload[3] & 3) << 11) | (payload[4] << 3) | (payload[5] >> 5)
    header = 7 if payload[1] & 1 else 9
    if frame_length != len(payload) or frame_length < header:
        return 0
    return header


def adts_fields(payload: bytes) -> tuple[int, int, int, int]:
    """(profile, sampling_frequency_index, channel_configuration, number_of_raw_data_blocks)."""
    return (payload[2] >> 6, (payload[2] >> 2) & 0xF, ((payload[2] & 1) << 2) | (payload[3] >> 6),
            payload[6] & 3)


def asc_from_adts(payload: bytes) -> bytes:
    profile = payload[2] >> 6
    sfi = (payload[2] >> 2) & 0xF
    chan = ((payload[2] & 1) << 2) | (payload[3] >> 6)
    v = ((profile + 1) << 11) | (sfi << 7) | (chan << 3)
    return v.to_bytes(2, "big")


def canonical_asc(asc: bytes) -> bytes:
    """Drop an explicit 'SBR absent' sync extension, as ADTS cannot carry it."""
    if len(asc) < 2:
        return asc
    bits = int.from_bytes(asc, "big")
    nbits = len(asc) * 8

    def take(pos: int, n: int) -> int:
        return (bits >> (nbits - pos - n)) & ((1 << n) - 1)

    aot, sfi, chan, flags = take(0, 5), take(5, 4), take(9, 4), take(13, 3)
    if not (1 <= aot <= 4 and sfi < 15 and chan and not flags):
        return asc
    core = asc[:2]
    if len(asc) == 2:
        return core
    if nbits >= 16 + 17 and take(16, 11) == 0x2B7 and take(27, 5) == 5 and take(32, 1) == 0:
        if len(asc) == 5 and take(33, nbits - 33) == 0:
            return core
    return asc


def adts_reference(asc: bytes) -> tuple[int, int, int, int] | None:
    """The ADTS fields an AudioSpecificConfig implies, as adts_fields() gives them (nrdb 0),
    or None when ADTS cannot carry it. Read as FFmpeg reads an ASC: HE-AAC (object type 5,
    or 29 unless FFmpeg's MP3onMP4 exception applies) carries its core type and rate."""
    bitstring = "".join(f"{b:08b}" for b in asc)
    pos = 0

    def read(n: int) -> int:
        nonlocal pos
        if pos + n > len(bitstring):
            raise IndexError("AudioSpecificConfig ends early")
        pos += n
        return int(bitstring[pos - n:pos], 2)

    def peek(n: int) -> int:
        return int((bitstring[pos:] + "0" * n)[:n], 2)  # zeros past the end, as FFmpeg's reader

    def object_type() -> int:
        aot = read(5)
        return 32 + read(6) if aot == 31 else aot

    try:
        aot = object_type()
        sfi = read(4)
        if sfi == 15:
            return None  # an explicit 24-bit rate has no ADTS index
        chan = read(4)
        if aot == 5 or (aot == 29 and not (peek(3) & 0x03 and not peek(9) & 0x3F)):
            if read(4) == 15:
                read(24)
            aot = object_type()
    except IndexError:
        return None
    if not 1 <= aot <= 4 or chan > 7:
        return None
    return (aot - 1, sfi, chan, 0)


def aac_config(extradata: bytes, payloads: Sequence[bytes]) -> bytes | None:
    """What the config digest of an AAC stream hashes (1.3); None: nothing yet (no ADTS frame)."""
    if extradata:
        return canonical_asc(extradata)
    for p in payloads:
        if adts_header_length(p):
            return asc_from_adts(p)
    return None


# --- canonical payload, leaves, trees ---------------------------------------------------


def canonical_payload(codec: str, payload: bytes, extradata: bytes = b"",
                      aac_configuration: bytes | None = None) -> bytes:
    """*aac_configuration*: the stream's committed ASC (aac_config of the segment's packets);
    by default that of *extradata*, else of this packet, as if it were the stream's first."""
    payload = bytes(payload)
    if codec in ("h264", "hevc"):
        drop = H264_DROP if codec == "h264" else HEVC_DROP
        out = b""
        for nal in split_nals(codec, payload, extradata):
            if nal_type(codec, nal) not in drop:
                out += len(nal).to_bytes(4, "big") + nal
        return out
    if codec == "aac":
        config = aac_configuration if aac_configuration is not None else aac_config(extradata, [payload])
        header = adts_header_length(payload)
        if header and config is not None and adts_fields(payload) == adts_reference(config):
            return payload[header:]
        return payload  # raw AAC, or a header that says something else: it is content
    if codec.startswith("pcm_") or codec in RAW_CODECS:
        return payload
    raise UnsupportedCodecError(f"codec {codec!r} is not supported")


def parameter_sets(codec: str, data: bytes, *, extradata: bytes = b"") -> list[bytes]:
    """Parameter-set NALs found in one packet (framed like the stream)."""
    ps = H264_PS if codec == "h264" else HEVC_PS
    return [n for n in split_nals(codec, data, extradata) if nal_type(codec, n) in ps]


def extradata_parameter_sets(codec: str, extradata: bytes) -> list[bytes]:
    if not extradata:
        return []
    if extradata[0] != 1:
        return parameter_sets(codec, extradata)
    out = []
    if codec == "h264":
        pos = 5
        for count_mask in (0x1F, 0xFF):
            count = extradata[pos] & count_mask
            pos += 1
            for _ in range(count):
                n = int.from_bytes(extradata[pos : pos + 2], "big")
                out.append(extradata[pos + 2 : pos + 2 + n].rstrip(b"\x00"))
                pos += 2 + n
    else:
        arrays = extradata[22]
        pos = 23
        for _ in range(arrays):
            pos += 1
            count = int.from_bytes(extradata[pos : pos + 2], "big")
            pos += 2
            for _ in range(count):
                n = int.from_bytes(extradata[pos : pos + 2], "big")
                nal = extradata[pos + 2 : pos + 2 + n].rstrip(b"\x00")
                if nal and (nal[0] >> 1) & 0x3F in (32, 33, 34):  # VPS, SPS, PPS; not SEI arrays
                    out.append(nal)
                pos += 2 + n
    return out


def config_digest(codec: str, extradata: bytes, payloads: Sequence[bytes]) -> bytes:
    if codec in ("h264", "hevc"):
        ps = set(extradata_parameter_sets(codec, extradata))
        for p in payloads:
            ps.update(parameter_sets(codec, p, extradata=extradata))
        return H(CC, b"".join(len(n).to_bytes(4, "big") + n for n in sorted(ps)))
    if codec == "aac":
        config = aac_config(extradata, payloads)
        if config is not None:
            return H(CC, config)
    return H(CC, b"")


def packet_leaf(stream: int, flags: int, canonical: bytes) -> bytes:
    header = struct.pack("<IIQ", stream, flags, len(canonical))
    return H(PT, b"\x00" + header + bytes(canonical))


def mth(leaves: Sequence[bytes], context: str) -> bytes:
    """RFC 9162 Merkle tree hash over already-hashed leaves."""
    n = len(leaves)
    if n == 0:
        return H(context, b"")
    if n == 1:
        return leaves[0]
    k = 1 << (n - 1).bit_length() - 1
    return H(context, b"\x01" + mth(leaves[:k], context) + mth(leaves[k:], context))


def stream_table(streams: Sequence[tuple[int, Fraction, bytes]]) -> bytes:
    out = struct.pack("<I", len(streams))
    for index, tb, digest in sorted(streams):
        out += struct.pack("<III", index, tb.numerator, tb.denominator) + digest
    return out


def segment_root(chunk_roots: Sequence[bytes], table: bytes) -> bytes:
    return H(ST, b"\x02" + mth(chunk_roots, ST) + table)


# --- chunks ----------------------------------------------------------------------------------


def rescale(pts: int, src: Fraction, dst: Fraction) -> int:
    """FFmpeg's av_rescale_q_rnd(pts, src, dst, NEAR_INF | PASS_MINMAX), literally."""
    if pts in (-(2**63), 2**63 - 1):
        return pts
    exact = Fraction(pts) * src / dst
    whole = math.floor(abs(exact) + Fraction(1, 2))  # nearest, halves away from zero
    return whole if exact >= 0 else -whole


def wrap(pts: int, bits: int) -> int:
    """The low *bits* bits of *pts*, read as a signed (two's complement) number."""
    low = pts % (1 << bits)
    return low - (1 << bits) if low >= 1 << (bits - 1) else low


def content(streams, packets, time_bases=None, pts_bits=None) -> dict:
    """Root, chunk roots and ordered leaves of *packets* (``PacketRecord`` s).

    *streams* is a sequence of ``(index, kind, codec, time_base, extradata)``;
    *time_bases* optionally maps stream index -> committed (output) time base;
    *pts_bits* is the number of pts bits the container stores (MPEG-TS: 33).
    """
    info = {s[0]: s for s in streams}
    committed = {s[0]: Fraction((time_bases or {}).get(s[0], s[3])) for s in streams}
    aac = {s[0]: aac_config(s[4], [bytes(p.payload) for p in packets if p.stream == s[0]])
           for s in streams if s[1] != "data" and s[2] == "aac"}
    recs = []
    for arrival, p in enumerate(packets):
        index, kind, codec, tb, extradata = info[p.stream]
        canon = canonical_payload("data" if kind == "data" else codec, p.payload, extradata, aac.get(p.stream))
        flags = 1 if (kind == "video" and p.keyframe) else 0
        out_tb = committed[p.stream]
        pts = rescale(p.pts, tb, out_tb) if out_tb != tb else p.pts
        if pts_bits and pts_bits < 64:
            pts = wrap(pts, pts_bits)
        recs.append(
            dict(
                stream=p.stream, flags=flags, size=len(canon), pts=pts,
                tb=out_tb, t=pts * out_tb, arrival=arrival,
                leaf=packet_leaf(p.stream, flags, canon), key=p.keyframe,
            )
        )
    videos = sorted(s[0] for s in streams if s[1] == "video")
    first_video = [r for r in recs if videos and r["stream"] == videos[0]]
    keys = [r for r in first_video if r["key"]]
    if keys:
        bounds = [r["t"] for r in keys]
        count = 0
        for r in first_video:
            count += r["key"]
            r["chunk"] = max(0, count - 1)
        for r in recs:
            if "chunk" not in r:
                ks = [k for k, b in enumerate(bounds) if b <= r["t"]]
                r["chunk"] = max(ks) if ks else 0
    elif recs:
        t0 = min(r["t"] for r in recs)
        for r in recs:
            r["chunk"] = math.floor(r["t"] - t0)
        # Empty seconds make no chunk: renumber the non-empty ones.
        present = sorted({r["chunk"] for r in recs})
        for r in recs:
            r["chunk"] = bisect_right(present, r["chunk"]) - 1
    recs.sort(key=lambda r: (r["chunk"], r["stream"], r["arrival"]))
    nchunks = recs[-1]["chunk"] + 1 if recs else 0
    chunk_roots, payload_roots, timing_hashes = [], [], []
    for c in range(nchunks):
        mine = [r for r in recs if r["chunk"] == c]
        payload_root = mth([r["leaf"] for r in mine], PT)
        table = b""
        for s in sorted({r["stream"] for r in mine}):
            rows = [r for r in mine if r["stream"] == s]
            tb = rows[0]["tb"]
            table += struct.pack("<IIII", s, tb.numerator, tb.denominator, len(rows))
            for r in rows:
                table += struct.pack("<q", r["pts"])
        timing = H(TM, table)
        chunk_roots.append(H(ST, b"\x00" + payload_root + timing))
        payload_roots.append(payload_root)
        timing_hashes.append(timing)
    table = stream_table(
        [(s[0], committed[s[0]], config_digest("data" if s[1] == "data" else s[2], s[4],
                                    [p.payload for p in packets if p.stream == s[0]])
          if any(p.stream == s[0] for p in packets) else H(CC, b""))  # no packet: no configuration
         for s in streams]
    )
    return dict(root=segment_root(chunk_roots, table), chunk_roots=chunk_roots,
                payload_roots=payload_roots, timing_hashes=timing_hashes, stream_table=table,
                leaves=[r["leaf"] for r in recs], chunks=[r["chunk"] for r in recs],
                pts=[r["pts"] for r in recs])
