"""Presentation metadata: what a viewer sees beyond the decoded frames (format 1.4).

The content root commits every packet and each stream's codec configuration,
but a container also tells a player how to *show* them: a display matrix
(MP4 ``tkhd`` matrix, Matroska projection: rotation and mirroring), the
sample aspect ratio (MP4 ``pasp``, Matroska display size), a colour
description (MP4 ``colr``, Matroska ``Colour``), stereo 3D / spherical /
HDR / ICC metadata, and edit lists that hide frames (MP4 ``elst``: FFmpeg
flags the packets an edit list hides *discard*; the sub-frame audio trim it
adds, *skip samples*, is not committed: a stream copy legitimately moves
AAC's encoder-delay trim between containers). None of that is in a packet,
so the segment record commits it per stream (``streams[i].presentation``)
and the verifier measures the same from a changed file:
:func:`measure_presentation` measures a file, :func:`compare_presentation`
compares a measurement with a signed stream table and returns findings
(``content.presentation_altered``, an error).

A changed file is also held to two more rules (format 1.16): container metadata a
player lists (tags, chapters, attachments, a track's language, name or disposition, an
MPEG-TS service name) beyond what a muxer writes to name itself is unsigned
(``content.metadata_unsigned``, :func:`compare_metadata`), and a stream's last frame held
longer than its signed span, or a stated duration beyond the last packet, is
``content.presentation_altered`` (:func:`compare_extents`); :func:`measure_file` measures
all of it in one open.

Everything is measured as FFmpeg presents it, through one function, so the
writer (which measures its first closed segment on its finisher thread,
:func:`writer_presentation`) and the verifier cannot disagree about a
pristine file. ``docs/format.md`` section 1.15 is the normative description.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any, NamedTuple

from bwc_core.errors import ContainerError, CorruptMediaError, MediaError
from bwc_core.format.findings import (
    CONTENT_METADATA_UNSIGNED,
    CONTENT_PRESENTATION_ALTERED,
    Finding,
)
from bwc_core.format.findings import finding as _finding

__all__ = [
    "DEFAULT_COLOR",
    "IDENTITY_MATRIX",
    "check_carried",
    "compare_presentation",
    "default_presentation",
    "FileMeasurement",
    "compare_extents",
    "compare_metadata",
    "header_declares_streams",
    "measure_file",
    "measure_presentation",
    "signed_presentation",
    "writer_presentation",
]


#: FFmpeg's display matrix of an unrotated, unmirrored picture (16.16 / 2.30 fixed point).
IDENTITY_MATRIX = (65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30)
#: FFmpeg's enum values for "unspecified" primaries, transfer and matrix, and the limited
#: ("tv") range, which is what players apply to video of unspecified range.
DEFAULT_COLOR = {"primaries": 2, "transfer": 2, "matrix": 2, "range": 1}


def default_presentation(kind: str) -> dict[str, Any]:
    """The presentation of a stream that declares nothing (also what a format <= 1.3 record implies)."""
    if kind == "video":
        return {"display_matrix": list(IDENTITY_MATRIX), "sar": [1, 1], "color": dict(DEFAULT_COLOR),
                "side_data": {}, "discarded": 0}
    return {"discarded": 0}


def _kind(stream: Any) -> str:
    t = getattr(stream, "type", None)
    return t if t in ("video", "audio") else "data"


def _sar(stream: Any) -> list[int]:
    """The container's sample aspect ratio, else the decoder's (read after a frame was decoded)."""
    try:
        sar = stream.sample_aspect_ratio  # av_guess_sample_aspect_ratio: the stream's, else codecpar's
    except Exception:  # noqa: BLE001 - no decoder parameters yet
        sar = None
    if not sar or sar <= 0:
        sar = getattr(stream.codec_context, "sample_aspect_ratio", None)
    if not sar or sar <= 0:
        return [1, 1]  # unknown: shown as square pixels
    sar = Fraction(sar)
    return [sar.numerator, sar.denominator]


def _color(frame: Any) -> dict[str, int]:
    """The colour description a player applies: the decoded frame's (the bitstream's VUI where it
    has one, else the container's)."""
    # An unspecified range (0) is shown as limited (1), which an MP4 colr box (full_range_flag 0)
    # or a Matroska Colour element states explicitly: the same picture, so the same value.
    return {"primaries": int(frame.color_primaries), "transfer": int(frame.color_trc),
            "matrix": int(frame.colorspace), "range": int(frame.color_range) or 1}


#: Other frame side data that changes how a picture is shown (format 1.15 ``side_data``):
#: stereoscopic packing, 360° projection, HDR mastering display and light level, ICC profile.
_SHOWN_SIDE_DATA = ("STEREO3D", "SPHERICAL", "MASTERING_DISPLAY_METADATA", "CONTENT_LIGHT_LEVEL", "ICC_PROFILE")


# FFmpeg's AVStereo3D and AVSphericalMapping structs grew fields across versions: only their
# first field (an int32 enum: the stereo packing, the projection) is committed, so a verifier
# built on another FFmpeg reads the same value. The HDR structs and an ICC profile are stable.
_ENUM_ONLY = ("STEREO3D", "SPHERICAL")


def _side_data(frame: Any) -> dict[str, str]:
    out = {}
    for data in frame.side_data:
        name = getattr(data.type, "name", "")
        if name in _SHOWN_SIDE_DATA:
            raw = bytes(data)
            out[name.lower()] = (raw[:4] if name in _ENUM_ONLY else raw).hex()
    return dict(sorted(out.items()))


def _matrix(frame: Any) -> list[int]:
    import av.sidedata.sidedata as sd

    for data in frame.side_data:
        if data.type == sd.Type.DISPLAYMATRIX:
            raw = bytes(data)
            if len(raw) == 36:
                return list(struct.unpack("<9i", raw))
    return list(IDENTITY_MATRIX)


# The stream probe of ISO BMFF and Matroska headers needs no decoding (everything measured
# here comes from the header, the packets' flags or the first decoded frame); MPEG-TS keeps
# FFmpeg's default probe, which finds its streams in the packets.
_LIGHT_PROBE = {"analyzeduration": "0", "probesize": "32"}


def header_declares_streams(name: str | os.PathLike[str]) -> bool:
    """True when the file starts like ISO BMFF (``ftyp``) or Matroska (EBML): containers that
    declare every stream in their header, so FFmpeg's stream probe can be cut short."""
    try:
        with open(name, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return False
    return head[4:8] == b"ftyp" or head[:4] == b"\x1a\x45\xdf\xa3"


# --- container metadata (format 1.16) -------------------------------------------------------------

#: Tags a stream copy writes to name the muxer or the file type, never facts about the footage
#: (format 1.16): the key (case-insensitive: Matroska stores tags upper case) and the values a
#: muxer writes. Every other tag, and these with another value, is attacker-written text a
#: player or ``ffprobe`` lists. Values are never shown as fact.
#: The ISO BMFF brands a muxer writes in ``ftyp`` (FFmpeg's mov/mp4/3gp/ipod/ismv/f4v/psp/avif
#: muxers, fragmented and CMAF MP4, HEIF): a closed set, so the brand tags list no free text.
_BRANDS = "|".join(re.escape(b) for b in (
    "isom", "iso2", "iso3", "iso4", "iso5", "iso6", "iso7", "iso8", "iso9", "isml", "piff", "avc1", "avc3",
    "hvc1", "hev1", "av01", "vp09", "mp41", "mp42", "mp71", "dash", "msdh", "msix", "cmfc", "cmf2", "ccff",
    "M4V ", "M4A ", "M4P ", "M4B ", "qt  ", "3gp4", "3gp5", "3gp6", "3gp7", "3gp8", "3gp9", "3gg6", "3gs6",
    "3g2a", "3g2b", "3g2c", "MSNV", "f4v ", "mif1", "msf1", "miaf", "avif", "avis", "MA1B", "MA1A", "heic",
    "heix", "dby1", "opus", "caqv", "XAVC", "mmp4", "nvr1", "mqt "))
_MUXER_FORMAT_TAGS = {
    "encoder": re.compile(r"Lavf[0-9]+(?:\.[0-9]+)*"),  # every FFmpeg / PyAV muxer
    # ISO BMFF ftyp (copied into Matroska by a remux): registered brands only, FFmpeg's muxers'
    # and the common ISO ones; four-character groups of any letters would spell a sentence.
    "major_brand": re.compile(f"(?:{_BRANDS})"),
    "minor_version": re.compile(r"[0-9]{1,10}"),
    "compatible_brands": re.compile(f"(?:{_BRANDS}){{0,32}}"),
}
_MUXER_STREAM_TAGS = {
    "handler_name": re.compile(r"VideoHandler|SoundHandler"),  # FFmpeg's mov muxer's defaults
    "vendor_id": re.compile(r"\[0\]\[0\]\[0\]\[0\]|FFMP"),
    "language": re.compile(r"und"),  # undetermined: what MP4 stores when nothing is set
    "duration": re.compile(r"[0-9]{2,}:[0-9]{2}:[0-9]{2}\.[0-9]{9}"),  # FFmpeg's Matroska muxer, per track
}
#: AV_DISPOSITION_DEFAULT: which of the signed streams of a kind a player picks first (muxers set
#: and clear it on their own: MP4 marks every track, Matroska keeps the input's, MPEG-TS has none).
_ALLOWED_DISPOSITION = 0x1
#: The value of an allowlisted ``duration`` stream tag, read as a stated duration (format 1.16).
_TAG_DURATION = re.compile(r"([0-9]{2,}):([0-9]{2}):([0-9]{2})\.([0-9]{9})")
#: FFmpeg's AV_DISPOSITION_* bits by name, for the findings.
_DISPOSITIONS = {0x1: "default", 0x2: "dub", 0x4: "original", 0x8: "comment", 0x10: "lyrics",
                 0x20: "karaoke", 0x40: "forced", 0x80: "hearing_impaired", 0x100: "visual_impaired",
                 0x200: "clean_effects", 0x400: "attached_pic", 0x800: "timed_thumbnails",
                 0x1000: "non_diegetic", 0x10000: "captions", 0x20000: "descriptions",
                 0x40000: "metadata", 0x80000: "dependent", 0x100000: "still_image", 0x200000: "multilayer"}
#: What FFmpeg's MPEG-TS muxer names its one service (SDT) when nothing is set.
_MUXER_SERVICE = ("FFmpeg", "Service01")


def _escaped(value: Any, limit: int = 200) -> str:
    """A metadata value as a finding shows it: attacker text, non-printables escaped, cut at *limit*."""
    text = str(value)
    text = text if len(text) <= limit else text[:limit] + "..."
    return "".join(c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii")
                   for c in text)


def _tags_unsigned(tags: Mapping[str, Any], allowed: Mapping[str, Any], scope: str,
                   stream: int | None) -> list[dict[str, Any]]:
    out = []
    for key, value in sorted(tags.items()):
        rule = allowed.get(str(key).lower())
        if rule is not None and rule.fullmatch(str(value)):
            continue
        out.append({"scope": scope, "stream": stream, "key": _escaped(key, 100), "found": _escaped(value)})
    return out


def _container_metadata(container: Any, name: str) -> list[dict[str, Any]]:
    """Everything a player or ``ffprobe`` lists from *container* (open) beyond the frames and the
    presentation of 1.15 that the muxer allowlist does not explain (format 1.16): one item each."""
    items = _tags_unsigned(dict(container.metadata), _MUXER_FORMAT_TAGS, "container", None)
    try:
        chapters = container.chapters()
    except Exception:  # noqa: BLE001 - older PyAV: nothing to list
        chapters = []
    for n, ch in enumerate(chapters):
        title = dict(ch.get("metadata") or {}).get("title", "")
        items.append({"scope": "chapter", "stream": None, "key": f"chapter {n + 1}",
                      "found": _escaped(f"{title} ({ch.get('start')}-{ch.get('end')} x {ch.get('time_base')})")})
    for s in container.streams:
        if s.type == "attachment":
            tags = dict(s.metadata)
            items.append({"scope": "attachment", "stream": s.index, "key": "attachment",
                          "found": _escaped(f"{tags.get('filename', '')} ({tags.get('mimetype', '')})")})
            continue
        items.extend(_tags_unsigned(dict(s.metadata), _MUXER_STREAM_TAGS, "stream", s.index))
        bits = int(s.disposition) & ~_ALLOWED_DISPOSITION
        if bits:
            names = [n for b, n in sorted(_DISPOSITIONS.items()) if bits & b] or [hex(bits)]
            items.append({"scope": "stream", "stream": s.index, "key": "disposition",
                          "found": "+".join(names)})
    if container.format.name == "mpegts":
        for provider, service in _ts_services(name):
            if (provider, service) != _MUXER_SERVICE:
                items.append({"scope": "service", "stream": None, "key": "service_provider/service_name",
                              "found": _escaped(f"{provider}/{service}")})
    return items


def _ts_services(name: str) -> list[tuple[str, str]]:
    """(provider, name) of every service descriptor in the MPEG-TS file's SDTs (PID 0x11, table
    0x42), as FFmpeg's demuxer reads them into its program metadata, which PyAV does not expose.
    Every SDT in the file counts, not only the first one: FFmpeg takes each it meets."""
    import mmap

    import numpy as np

    with open(name, "rb") as fh:
        try:
            data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)  # no copy of a large file
        except ValueError:  # empty file
            return []
    with data:
        start = data.find(b"\x47")
        if start < 0:
            return []
        rows = (len(data) - start) // 188
        packets = np.frombuffer(data, dtype=np.uint8, count=rows * 188, offset=start).reshape(rows, 188)
        pid = ((packets[:, 1].astype(np.uint16) & 0x1F) << 8) | packets[:, 2]
        chosen = [bytes(packets[row]) for row in np.nonzero((packets[:, 0] == 0x47) & (pid == 0x11))[0]]
        del packets, pid  # the mmap cannot close while a view of it exists
    sections: list[bytearray] = []
    for pkt in chosen:
        afc = (pkt[3] >> 4) & 3
        if not afc & 1:
            continue
        pos = 4 + (1 + pkt[4] if afc & 2 else 0)
        payload = pkt[pos:]
        if pkt[1] & 0x40:  # a section starts here
            if not payload:
                continue
            pointer = payload[0]
            if sections:
                sections[-1] += payload[1:1 + pointer]
            sections.append(bytearray(payload[1 + pointer:]))
        elif sections:
            sections[-1] += payload
    services = []
    for sec in sections:
        at = 0  # an index, not a slice per table: a section of a million empty tables stays linear
        while at + 3 <= len(sec) and sec[at] == 0x42:
            length = ((sec[at + 1] & 0x0F) << 8) | sec[at + 2]
            body, at = bytes(sec[at:at + 3 + length]), at + 3 + length
            pos, end = 11, len(body) - 4  # after the SDT header, before the CRC
            while pos + 5 <= end:
                loop = ((body[pos + 3] & 0x0F) << 8) | body[pos + 4]
                d, dend = pos + 5, min(pos + 5 + loop, end)
                while d + 2 <= dend:
                    tag, dlen = body[d], body[d + 1]
                    desc = body[d + 2:d + 2 + dlen]
                    if tag == 0x48 and len(desc) >= 2:
                        plen = desc[1]
                        provider = desc[2:2 + plen]
                        nlen = desc[2 + plen] if len(desc) > 2 + plen else 0
                        service = desc[3 + plen:3 + plen + nlen]
                        services.append((provider.decode("utf-8", "replace"), service.decode("utf-8", "replace")))
                    d += 2 + dlen
                pos = dend
    return list(dict.fromkeys(services))


class FileMeasurement(NamedTuple):
    """What a player presents from a file beyond its packets' payloads (format 1.15, 1.16)."""

    #: ``{stream index: presentation}`` (:func:`measure_presentation`).
    presentation: dict[int, dict[str, Any]]
    #: The container metadata no signature covers: ``{scope, stream, key, found}`` each
    #: (*found* escaped): a tag, chapter, attachment, non-default disposition or MPEG-TS
    #: service name beyond what a stream copy writes to name its muxer.
    metadata: list[dict[str, Any]]
    #: ``{stream index: (latest pts, latest pts + duration, time base)}``, seconds: how long a
    #: player holds each stream's last frame (the packet's duration: Matroska BlockDuration, the
    #: MP4 sample duration; MPEG-TS stores none).
    extents: dict[int, tuple[Fraction, Fraction, Fraction]]
    #: The file's duration as FFmpeg states it (``AVFormatContext.duration``: Matroska's
    #: ``Duration``, MP4's track durations, MPEG-TS an estimate), seconds; None when it states none.
    duration: Fraction | None = None
    #: ``(box, seconds)`` of every duration an MP4 header states (``mvhd``, ``mehd``, ``tkhd``,
    #: ``mdhd``, ``elst``), which other FFmpeg versions show as the file's length.
    stated: tuple[tuple[str, Fraction], ...] = ()


def _mp4_stated_durations(name: str) -> list[tuple[str, Fraction]]:
    """Every duration an ISO BMFF header states, in seconds: ``mvhd``, ``mvex/mehd``, each
    track's ``tkhd`` (movie timescale), ``mdhd`` (its own) and the sum of its ``elst`` segment
    durations (movie timescale). Players built on other FFmpeg versions show these (FFmpeg
    5.1's ``ffprobe`` reports the ``mvhd`` duration, 8.1 derives its own). Unknown (all ones) and
    zero durations are left out. The first ``moov`` is read whole, as FFmpeg reads it."""
    def boxes(data: bytes, start: int, end: int):
        pos = start
        while pos + 8 <= end:
            size, kind = struct.unpack_from(">I4s", data, pos)
            head = 8
            if size == 1 and pos + 16 <= end:
                size, head = struct.unpack_from(">Q", data, pos + 8)[0], 16
            elif size == 0:
                size = end - pos
            if size < head or pos + size > end:
                return
            yield kind, pos + head, pos + size
            pos += size

    moov = None
    with open(name, "rb") as fh:
        total = os.fstat(fh.fileno()).st_size
        pos = 0
        while pos + 8 <= total:
            fh.seek(pos)
            head = fh.read(16)
            if len(head) < 8:
                break
            size, kind = struct.unpack_from(">I4s", head)
            hlen = 8
            if size == 1 and len(head) == 16:
                size, hlen = struct.unpack_from(">Q", head, 8)[0], 16
            elif size == 0:
                size = total - pos
            if size < hlen:
                break
            if kind == b"moov":
                fh.seek(pos)
                moov = fh.read(min(size, total - pos))  # FFmpeg, too, reads a box to the file's end
                break
            pos += size
    if moov is None:
        return []
    out: list[tuple[str, Fraction]] = []
    unknown = (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF)

    def add(label: str, value: int, scale: int) -> None:
        if value and value not in unknown and scale:
            out.append((label, Fraction(value, scale)))

    movie_scale = 0
    children = list(boxes(moov, 8 if moov[:4] != b"\0\0\0\1" else 16, len(moov)))
    try:
        for kind, a, _end in children:
            if kind == b"mvhd":
                v1 = moov[a] == 1
                movie_scale, value = struct.unpack_from(">IQ" if v1 else ">II", moov, a + (20 if v1 else 12))
                add("mvhd", value, movie_scale)
        for kind, a, b in children:
            if kind == b"mvex":
                for k, c, _ in boxes(moov, a, b):
                    if k == b"mehd":
                        add("mehd", struct.unpack_from(">Q" if moov[c] == 1 else ">I", moov, c + 4)[0], movie_scale)
            if kind != b"trak":
                continue
            for k, c, d in boxes(moov, a, b):
                if k == b"tkhd":
                    v1 = moov[c] == 1
                    add("tkhd", struct.unpack_from(">Q" if v1 else ">I", moov, c + (28 if v1 else 20))[0], movie_scale)
                elif k == b"mdia":
                    for k2, e, _ in boxes(moov, c, d):
                        if k2 == b"mdhd":
                            v1 = moov[e] == 1
                            scale, value = struct.unpack_from(">IQ" if v1 else ">II", moov, e + (20 if v1 else 12))
                            add("mdhd", value, scale)
                elif k == b"edts":
                    for k2, e, f in boxes(moov, c, d):
                        if k2 != b"elst":
                            continue
                        v1 = moov[e] == 1
                        count = struct.unpack_from(">I", moov, e + 4)[0]
                        step, fmt = (20, ">Q") if v1 else (12, ">I")
                        count = min(count, max(f - e - 8, 0) // step)
                        add("elst", sum(struct.unpack_from(fmt, moov, e + 8 + n * step)[0] for n in range(count)),
                            movie_scale)
    except struct.error:
        pass  # a truncated box: what was read so far
    return out


def measure_file(path: str | os.PathLike[str]) -> FileMeasurement:
    """Presentation, unsigned container metadata and last-frame holds of a file whose bytes are
    not the signed ones, in one open and one demux pass (format 1.15, 1.16)."""
    metadata: list[dict[str, Any]] = []
    extents: dict[int, Any] = {}
    presentation = _measure(path, None, metadata=metadata, extents=extents)[0]
    duration = extents.pop(None, None)
    tagged = [
        (f"DURATION tag (stream {key[1]})", extents.pop(key))
        for key in sorted(k for k in extents if isinstance(k, tuple))
    ]
    with open(path, "rb") as fh:
        iso_bmff = fh.read(8)[4:] == b"ftyp"
    stated = tuple(_mp4_stated_durations(os.fspath(path))) if iso_bmff else ()
    stated += tuple(tagged)
    return FileMeasurement(presentation, metadata,
                           {i: (last * tb, stop * tb, tb) for i, (last, stop, tb) in extents.items()},
                           duration, stated)


def compare_extents(spans: Sequence[Any], extents: Mapping[int, Sequence[Fraction]],
                    where: Mapping[str, Any], duration: Fraction | None = None,
                    stated: Sequence[tuple[str, Fraction]] = ()) -> list[Finding]:
    """``content.presentation_altered`` (``field`` ``hold``) where a changed file holds a stream's
    last frame longer or shorter than signed: ``max(pts + duration) - max(pts)`` against the span's
    ``end_pts - last_pts``, within one frame of the stream (its signed hold, else its mean packet
    spacing) and each side's rounding (format 1.16). A last frame given a minute is shown a minute.
    ``field`` ``duration``: the file states a *duration* beyond the end of its latest packet (a
    player's timeline a minute long over two seconds of frames)."""
    findings: list[Finding] = []
    slack = Fraction(1, 1000)
    latest: Fraction | None = None
    for sp in spans:
        if not isinstance(sp, dict) or type(sp.get("stream")) is not int:
            continue
        try:
            ta = Fraction(*sp["time_base"]) if isinstance(sp["time_base"], list) else Fraction(sp["time_base"])
            first, last, end, count = (int(sp[k]) for k in ("first_pts", "last_pts", "end_pts", "packets"))
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            continue
        found = extents.get(sp["stream"])
        if found is None or ta <= 0:
            continue
        signed_hold = max(end - last, 0) * ta
        spacing = (last - first) * ta / (count - 1) if count > 1 else Fraction(0)
        last_pts, stop, tb = found
        hold = stop - last_pts
        tolerance = max(signed_hold, spacing) + ta + min(tb, Fraction(1, 1000))
        slack = max(slack, tolerance + Fraction(1, 1000))
        latest = stop if latest is None else max(latest, stop)
        if abs(hold - signed_hold) > tolerance:
            findings.append(_finding(
                CONTENT_PRESENTATION_ALTERED,
                f"{where.get('segment')}: stream {sp['stream']}'s last frame is shown for {_ms(hold)} ms, "
                f"signed {_ms(signed_hold)} ms (a packet duration was changed)",
                stream=sp["stream"], field="hold", expected=_ms(signed_hold), found=_ms(hold), **dict(where)))
    # FFmpeg's duration runs from timestamp 0 in some muxers (Matroska after -copyts: 8 s for a
    # 2 s segment starting at 6 s) and is estimated short in MPEG-TS: only an excess is a claim.
    claims = ([("FFmpeg", duration)] if duration is not None else []) + list(stated)
    for source, value in claims:
        if latest is not None and value > latest + slack:
            findings.append(_finding(
                CONTENT_PRESENTATION_ALTERED,
                f"{where.get('segment')}: the file states a duration of {_ms(value)} ms ({source}), its last "
                f"packet ends at {_ms(latest)} ms", field="duration", source=source, expected=_ms(latest),
                found=_ms(value), **dict(where)))
    return findings


def _ms(value: Fraction) -> float:
    return round(float(value) * 1000, 3)


def compare_metadata(items: Sequence[Mapping[str, Any]], where: Mapping[str, Any]) -> list[Finding]:
    """``content.metadata_unsigned`` findings, one per item of :func:`measure_file`: bwc-core's
    segments carry no container metadata beyond the muxer's identification, and none is signed."""
    findings = []
    for item in items:
        at = "the container" if item["scope"] in ("container", "chapter", "service") else \
            f"stream {item['stream']}"
        findings.append(_finding(
            CONTENT_METADATA_UNSIGNED,
            f"{where.get('segment')}: {at} carries {item['key']} = {item['found']!r}, which no signature "
            "covers (a player may list it; it is not evidence)",
            scope=item["scope"], stream=item["stream"], key=item["key"], found=item["found"], **dict(where)))
    return findings


def measure_presentation(
    path: str | os.PathLike[str], *, options: dict[str, str] | None = None
) -> dict[int, dict[str, Any]]:
    """``{stream index: presentation}`` of a media file, as FFmpeg presents it (format 1.15).

    One demux pass (no payload hashing): per stream the packets FFmpeg flags
    *discard* (hidden by an edit list; for audio not counting the stream's
    first packet, the encoder delay a plain MP4 hides); per video stream, from
    its first decoded frame, the display matrix (FFmpeg attaches the
    container's to decoded frames) and the colour description, and the sample
    aspect ratio (the container's, else the codec's; unknown = 1:1). Values
    do not depend on how the streams were probed. Raises
    :class:`CorruptMediaError` when the file cannot be opened.
    """
    return _measure(path, options)[0]


def _measure(
    path: str | os.PathLike[str],
    options: dict[str, str] | None,
    hidden: bool = True,
    metadata: list[dict[str, Any]] | None = None,
    extents: dict[Any, Any] | None = None,
) -> tuple[dict[int, dict[str, Any]], dict[int, list[int]]]:
    """:func:`measure_presentation`, plus the video streams whose first frame decoded (with their
    codec's own sample aspect ratio, which a container's may override). Without
    *hidden* the demux stops at the first frame of every video stream (nothing counted hidden)."""
    import av

    name = os.fspath(path)
    opts = dict(_LIGHT_PROBE if header_declares_streams(name) else {})
    opts.update(options or {})
    try:
        container = av.open(name, "r", options=opts)
    except FileNotFoundError:
        raise MediaError(f"{name}: no such file") from None
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise CorruptMediaError(f"{name}: not readable media ({exc})") from None
    with container:
        if metadata is not None:
            metadata.extend(_container_metadata(container, name))
        if extents is not None and container.duration is not None and container.duration > 0:
            extents[None] = Fraction(container.duration, 1_000_000)  # AV_TIME_BASE
        if extents is not None:  # Matroska's per-track DURATION tag: a length ffprobe lists
            for s in container.streams:
                for key, value in dict(s.metadata).items():
                    m = _TAG_DURATION.fullmatch(str(value)) if str(key).lower() == "duration" else None
                    if m:
                        h, mi, sec, frac = m.groups()
                        extents[("DURATION", s.index)] = (int(h) * 3600 + int(mi) * 60 + int(sec)
                                                          + Fraction(int(frac), 10 ** len(frac)))
        out: dict[int, dict[str, Any]] = {}
        kinds: dict[int, str] = {}
        pending: dict[int, Any] = {}  # video streams still waiting for their first frame
        decoded: dict[int, list[int]] = {}  # video stream -> the codec's own aspect ratio
        # An audio stream's first packet is AAC's encoder delay (priming) when it is hidden:
        # a muxer hides it with an edit list (plain MP4) or trims it (fragmented MP4).
        audio_first = {s.index for s in container.streams}
        # A video stream's leading pictures (pts before its first keyframe's, after it in decode
        # order: an open GOP's B-frames, which reference the GOP before the segment) decode to
        # nothing from the segment alone; a stream copy into MP4 hides exactly them (format 1.11).
        key_pts: dict[int, int] = {}
        for s in container.streams:
            kind = kinds[s.index] = _kind(s)
            out[s.index] = default_presentation(kind)
            if kind == "video" and s.codec_context is not None:
                ctx = s.codec_context
                ctx.thread_count = 1  # frame threads would hold the first frame back for several packets
                ctx.thread_type = "SLICE"
                pending[s.index] = s

        def first_frame(i: int, frame: Any) -> None:
            p = out[i]
            p["display_matrix"] = _matrix(frame)
            p["color"] = _color(frame)
            p["side_data"] = _side_data(frame)
            p["size"] = [frame.width, frame.height]  # after any cropping FFmpeg applies
            stream = pending.pop(i)
            p["sar"] = _sar(stream)
            codec = getattr(stream.codec_context, "sample_aspect_ratio", None)
            decoded[i] = [codec.numerator, codec.denominator] if codec and codec > 0 else [1, 1]

        try:
            for packet in container.demux():
                if packet.dts is None and packet.size == 0:
                    continue
                i = packet.stream_index
                if not hidden and not pending:
                    break
                if kinds[i] == "video" and packet.is_keyframe and packet.pts is not None:
                    key_pts.setdefault(i, packet.pts)
                leading = (i in key_pts and packet.pts is not None and packet.pts < key_pts[i]
                           and not packet.is_keyframe)
                if (hidden and packet.is_discard and not leading
                        and not (i in audio_first and kinds[i] == "audio")):
                    out[i]["discarded"] += 1
                audio_first.discard(i)
                if extents is not None and packet.pts is not None:
                    e = extents.get(i)
                    if e is None:
                        e = extents[i] = [packet.pts, packet.pts, packet.time_base]
                    e[0] = max(e[0], packet.pts)
                    e[1] = max(e[1], packet.pts + max(packet.duration or 0, 0))
                if i in pending:
                    try:
                        # A reordering decoder returns the first frame a few packets later; a
                        # packet flagged discard decodes to no frame (the player shows none).
                        frames = packet.decode()
                    except (av.FFmpegError, ValueError):
                        frames = []
                    if frames:
                        first_frame(i, frames[0])
        except av.FFmpegError:
            pass  # the content commitment reports a damaged file
        for i, s in list(pending.items()):
            try:
                frames = s.codec_context.decode(None)
            except (av.FFmpegError, ValueError, AttributeError):
                frames = []
            if frames:
                first_frame(i, frames[0])
            else:  # nothing decodes: only the container's aspect ratio is known
                for key in ("display_matrix", "color", "side_data"):
                    out[i].pop(key, None)
                out[i]["sar"] = _sar(s)
    return out, decoded


def writer_presentation(path: str | os.PathLike[str], known: dict[int, dict[str, Any]] | None,
                        kinds: Mapping[int, str]) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]] | None]:
    """(presentation of a segment a writer just closed, what later segments of the writer may reuse).

    Every segment of one writer has the same header configuration (display matrix,
    aspect ratio, colour) and none hides a packet (fragmented MP4 applies an edit list
    as a time offset; Matroska and MPEG-TS have none: ``discarded`` is 0, which the
    tests check against a full measurement of every pristine segment), so only the
    first segment is measured, up to its first frame of each video stream, on the
    writer's finisher thread; a later one reuses its values (*known*). A video stream
    without a decoded frame yet keeps the measuring going.
    """
    if known is not None:
        return {i: dict(p, discarded=0) for i, p in known.items()}, known
    # Read front to back (no fragment index) only up to the first frame of each video stream.
    measured, decoded = _measure(path, {"fflags": "+ignidx"}, hidden=False)
    complete = all(i in decoded for i, k in kinds.items() if k == "video")
    return measured, ({i: dict(p, discarded=0) for i, p in measured.items()} if complete else None)


def check_carried(path: str | os.PathLike[str], container: str) -> None:
    """Refuse (:class:`ContainerError`) to seal *path* into a container that would drop what its
    video presents: MPEG-TS stores no display matrix (rotation, mirroring), stereo 3D / spherical
    / HDR / ICC side data or container aspect ratio; bwc-core's Matroska writer cannot set a
    container aspect ratio other than the codec's (PyAV sets only the codec's, which Matroska
    ignores). MP4 carries all of them. Reads up to the first frame of each video stream."""
    if container not in ("ts", "mkv"):
        return
    measured, decoded = _measure(path, None, hidden=False)
    for index, p in sorted(measured.items()):
        lost = []
        if index in decoded and p.get("sar") != decoded[index]:
            lost.append(f"sample aspect ratio {p['sar']} where its codec says {decoded[index]}")
        if container == "ts":
            if p.get("display_matrix", list(IDENTITY_MATRIX)) != list(IDENTITY_MATRIX):
                lost.append(f"display matrix {_describe_matrix(p['display_matrix'])}")
            if p.get("side_data"):
                lost.append(", ".join(sorted(p["side_data"])))
        if lost:
            name = {"ts": "MPEG-TS", "mkv": "bwc-core's Matroska writer"}[container]
            other = "mp4 or mkv" if container == "ts" else "mp4"
            raise ContainerError(
                f"{os.fspath(path)}: stream {index} presents {'; '.join(lost)}, which {name} cannot store: "
                f"the sealed footage would be shown otherwise than its source; seal into {other}")


def signed_presentation(stream: Mapping[str, Any]) -> dict[str, Any] | None:
    """The presentation a signed ``streams`` entry commits: its ``presentation`` object, or the
    defaults of its kind when the record (format <= 1.3) has none; None when malformed."""
    kind = stream.get("kind")
    if kind not in ("video", "audio", "data"):
        return None
    p = stream.get("presentation")
    if p is None:
        legacy = default_presentation(kind)
        if kind == "video":
            # The decoded size format <= 1.3 records as width and height.
            legacy["size"] = [stream.get("width"), stream.get("height")]
        return legacy
    return p if isinstance(p, dict) else None


_LABELS = {"display_matrix": "display matrix", "sar": "sample aspect ratio", "color": "colour description",
           "side_data": "stereo 3D, spherical, HDR or ICC metadata", "size": "picture size (cropping)",
           "discarded": "packets hidden by an edit list"}


def _describe_matrix(m: Sequence[int]) -> str:
    if list(m) == list(IDENTITY_MATRIX):
        return "identity"
    import math

    a, b, c, d = m[0], m[1], m[3], m[4]
    det = a * d - b * c
    # As FFmpeg's av_display_rotation_get (and ffprobe's "rotation") reports it: counterclockwise.
    angle = round(-math.degrees(math.atan2(b, a))) % 360 if (a or b) else 0
    return f"{list(m)} (rotation {angle} degrees{', mirrored' if det < 0 else ''})"


def compare_presentation(signed_streams: Sequence[Any], measured: Mapping[int, Mapping[str, Any]],
                         where: Mapping[str, Any]) -> list[Finding]:
    """``content.presentation_altered`` findings: each committed presentation field that differs
    from the measured one (a stream of the file the record does not list is the content
    comparison's business, not this one's)."""
    findings: list[Finding] = []
    for entry in signed_streams:
        if not isinstance(entry, dict) or type(entry.get("index")) is not int:
            continue
        index = entry["index"]
        found = measured.get(index)
        if found is None:
            continue
        signed = signed_presentation(entry)
        if signed is None:
            findings.append(_finding(CONTENT_PRESENTATION_ALTERED,
                                     f"{where.get('segment')}: stream {index}: the signed presentation is malformed",
                                     stream=index, **dict(where)))
            continue
        keys = sorted(signed)
        if entry.get("kind") == "video" and "size" in signed and "size" not in found:
            # No frame of it decodes: a player shows none, and nothing frame-borne can be compared.
            findings.append(_finding(
                CONTENT_PRESENTATION_ALTERED, f"{where.get('segment')}: stream {index} (video): no frame "
                "decodes, so what it presents cannot be compared with the signed presentation",
                stream=index, field="decoded", **dict(where)))
            keys = [k for k in keys if k in found]
        for key in keys:
            want, got = signed[key], found.get(key)
            if want == got:
                continue
            if key == "display_matrix":
                text = f"{_describe_matrix(want)} signed, {_describe_matrix(got) if got else 'none'} in the file"
            else:
                text = f"{want} signed, {got} in the file"
            findings.append(_finding(
                CONTENT_PRESENTATION_ALTERED,
                f"{where.get('segment')}: stream {index} ({entry.get('kind')}): {_LABELS.get(key, key)} "
                f"differs: {text}", stream=index, field=key, expected=want, found=got, **dict(where)))
    return findings
