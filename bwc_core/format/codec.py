"""Codec configuration: the stream description (StreamInfo) and the parsing of H.264 / HEVC
parameter sets (avcC, hvcC), AAC AudioSpecificConfig and ADTS headers.

The one home for bitstream configuration; :func:`bwc_core.format.content.config_digest`
commits to what it extracts (Opus, MP3 and the rest are committed as their extradata
bytes, format section 1.3). The per-packet framing is the compiled ``bwc_core._framing``."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from bwc_core.errors import (
    CorruptMediaError,
)

__all__ = [
    "StreamInfo",
    "canonical_asc",
    "h264_extradata_sets",
    "hevc_extradata_sets",
    "hvcc_parameter_sets_only",
    "strip_adts",
]


def h264_extradata_sets(extradata: bytes) -> list[bytes]:
    out = []
    pos = 5
    for mask in (0x1F, 0xFF):
        if pos >= len(extradata):
            break  # some avcC records stop after the SPS list
        count = extradata[pos] & mask
        pos += 1
        for _ in range(count):
            n = int.from_bytes(extradata[pos : pos + 2], "big")
            if pos + 2 + n > len(extradata):
                raise CorruptMediaError("avcC parameter set runs past the record end")
            out.append(extradata[pos + 2 : pos + 2 + n].rstrip(b"\x00"))
            pos += 2 + n
    return [nal for nal in out if nal]


#: HEVC parameter-set NAL unit types (VPS, SPS, PPS): the configuration (format 1.3).
_HEVC_PARAMETER_SETS = (32, 33, 34)


def _hvcc_arrays(extradata: bytes) -> list[tuple[int, list[bytes]]]:
    """The NAL unit arrays of an hvcC record: (array header byte, NAL units) each."""
    out = []
    arrays = extradata[22]
    pos = 23
    for _ in range(arrays):
        if pos + 3 > len(extradata):
            raise CorruptMediaError("hvcC array header runs past the record end")
        kind = extradata[pos]
        count = int.from_bytes(extradata[pos + 1 : pos + 3], "big")
        pos += 3
        nals = []
        for _ in range(count):
            n = int.from_bytes(extradata[pos : pos + 2], "big")
            if pos + 2 + n > len(extradata):
                raise CorruptMediaError("hvcC parameter set runs past the record end")
            nals.append(extradata[pos + 2 : pos + 2 + n])
            pos += 2 + n
        out.append((kind, nals))
    return out


def hevc_extradata_sets(extradata: bytes) -> list[bytes]:
    """The VPS/SPS/PPS of an hvcC record; its other arrays (declarative SEI) are not configuration."""
    trimmed = (nal.rstrip(b"\x00") for _, nals in _hvcc_arrays(extradata) for nal in nals)
    return [nal for nal in trimmed if nal and (nal[0] >> 1) & 0x3F in _HEVC_PARAMETER_SETS]


def hvcc_parameter_sets_only(extradata: bytes) -> bytes:
    """*extradata* (an hvcC record) without the arrays that hold no parameter set.

    What bwc-core gives FFmpeg's MPEG-TS muxer: its ``hevc_mp4toannexb``
    filter writes every NAL unit of the record in-band before each IRAP
    picture, which would turn a declarative SEI into frame content.
    """
    kept = [(kind, nals) for kind, nals in _hvcc_arrays(extradata) if kind & 0x3F in _HEVC_PARAMETER_SETS]
    parts = [extradata[:22], bytes([len(kept)])]
    for kind, nals in kept:
        parts.append(bytes([kind]) + len(nals).to_bytes(2, "big"))
        parts.extend(len(nal).to_bytes(2, "big") + nal for nal in nals)
    return b"".join(parts)


def canonical_asc(asc: bytes) -> bytes:
    """An AudioSpecificConfig as ADTS would rebuild it, when nothing is lost.

    Encoders (FFmpeg's among them) append an explicit "SBR absent" sync
    extension to AAC-LC configs; ADTS cannot carry it and it does not change
    decoding, so it is dropped. Anything else ADTS cannot express is kept.
    """
    if len(asc) < 2:
        return asc
    nbits = len(asc) * 8
    bits = int.from_bytes(asc, "big")

    def take(pos: int, n: int) -> int:
        return (bits >> (nbits - pos - n)) & ((1 << n) - 1)

    aot, sfi, chan, flags = take(0, 5), take(5, 4), take(9, 4), take(13, 3)
    if not (1 <= aot <= 4 and sfi < 15 and chan and not flags):
        return asc
    if len(asc) == 2:
        return asc
    if (
        len(asc) == 5
        and take(16, 11) == 0x2B7
        and take(27, 5) == 5
        and take(32, 1) == 0
        and take(33, 7) == 0
    ):
        return asc[:2]
    return asc


@dataclass(frozen=True)
class StreamInfo:
    """What a writer needs to know about one stream besides its packets.

    ``template`` is the demuxer's ``av`` stream, used with
    ``add_stream_from_template`` so codec configuration (SPS/PPS, AAC
    AudioSpecificConfig) is copied exactly; it is ``None`` once the source
    is closed. ``extradata`` is the demuxer's codec configuration; for AAC in
    ADTS (MPEG-TS), which comes without one, :class:`MediaSource` puts the
    AudioSpecificConfig of the stream's first ADTS header here.
    """

    index: int
    kind: str
    codec: str
    time_base: Fraction
    width: int = 0
    height: int = 0
    sample_rate: int = 0
    channels: int = 0
    extradata: bytes = b""
    template: Any = field(default=None, compare=False, repr=False)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description (integers and strings only)."""
        d: dict[str, Any] = {
            "index": self.index,
            "kind": self.kind,
            "codec": self.codec,
            "time_base": [self.time_base.numerator, self.time_base.denominator],
        }
        if self.kind == "video":
            d.update(width=self.width, height=self.height)
        elif self.kind == "audio":
            d.update(sample_rate=self.sample_rate, channels=self.channels)
        return d


def strip_adts(payload: Any) -> bytes:
    """One AAC frame without its ADTS header (the payload as is when it has none)."""
    data = bytes(payload)
    if len(data) >= 7 and data[0] == 0xFF and (data[1] & 0xF6) == 0xF0:
        return data[7 if data[1] & 1 else 9:]
    return data
