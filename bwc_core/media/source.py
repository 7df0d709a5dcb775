"""PyAV adapters: media files in as :class:`PacketRecord` s, packets out to files.

Also the synthetic camera (test pattern + tone, H.264 + AAC) that tests, the
demo and the benchmarks use in place of a real sensor.
"""

from __future__ import annotations

import builtins
import io
import os
from collections.abc import Collection, Iterator, Sequence
from dataclasses import replace
from fractions import Fraction
from typing import Any, BinaryIO

from bwc_core.errors import (
    CorruptMediaError,
    MediaError,
    PacketError,
    PacketOrderError,
    UnsupportedCodecError,
)
from bwc_core.format.codec import StreamInfo
from bwc_core.media.packets import PacketRecord

__all__ = [
    "CONTAINER_EXTENSIONS",
    "CONTAINER_FORMATS",
    "MediaSource",
    "SUPPORTED_CODECS",
    "decode_first_frame",
]

#: Container names bwc-core writes, mapped to FFmpeg muxer names.
CONTAINER_FORMATS = {"mp4": "mp4", "mkv": "matroska", "ts": "mpegts"}

#: Audio and video codecs bwc-core segments and frames (data streams pass
#: through if the container accepts them).
SUPPORTED_CODECS = frozenset({"h264", "hevc", "aac", "mp3", "opus"})

#: File name extension of each container.
CONTAINER_EXTENSIONS = {"mp4": ".mp4", "mkv": ".mkv", "ts": ".ts"}

# Formats whose demuxers report stored decode timestamps (Matroska has none:
# its demuxer guesses dts, which is not monotonic with B-frames).
STORES_DTS = ("mov", "mp4", "mpegts")

_KIND = {"video": "video", "audio": "audio", "subtitle": "data", "data": "data"}


def _codec_name(ctx: Any) -> str:
    if ctx is None:
        return "unknown"
    codec = ctx.codec
    return getattr(codec, "canonical_name", None) or ctx.name


def _stream_info(stream: Any) -> StreamInfo:
    kind = _KIND.get(stream.type, "data")
    ctx = stream.codec_context
    tb = stream.time_base or Fraction(1, 90000)
    info = dict(
        index=stream.index,
        kind=kind,
        # The codec's name, not its decoder's (FFmpeg decodes MP3 with "mp3float").
        codec=_codec_name(ctx),
        time_base=Fraction(tb),
        extradata=bytes(ctx.extradata or b"") if ctx is not None else b"",
        template=stream,
    )
    if kind == "video":
        info.update(width=ctx.width or 0, height=ctx.height or 0)
    elif kind == "audio":
        info.update(sample_rate=ctx.sample_rate or 0, channels=ctx.channels or 0)
    return StreamInfo(**info)


class MediaSource:
    """An opened media file (or bytes) read as :class:`PacketRecord` s in file order.

    The demuxer's final flush packets (``dts=None``, no data) are skipped.
    Errors name the file and the packet position. *options* go to FFmpeg's
    demuxer (``av.open(..., options=...)``), e.g. a shorter stream probe.

    With ``salvage`` (a file cut short by a crash) the file is read front to
    back without first indexing every fragment (FFmpeg's ``fflags=+ignidx``;
    FFmpeg otherwise reads all of a fragmented MP4's ``moof`` boxes when it
    opens the file and refuses it if the last one was cut off), so the
    fragments before the damage stay readable.
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | bytes | BinaryIO,
        *,
        name: str | None = None,
        codecs: Collection[str] | None = None,
        options: dict[str, str] | None = None,
        salvage: bool = False,
    ) -> None:
        import av

        options = dict(options or {})
        if salvage:
            options["fflags"] = options.get("fflags", "") + "+ignidx"
        #: The file read, when a path was given (a packet's stored time may have to be read from it).
        self.path: str | None = None

        if isinstance(source, bytes):
            source = io.BytesIO(source)
            self.name = name or "<bytes>"
        elif isinstance(source, (str, os.PathLike)):
            self.name = name or os.fspath(source)
            self.path = os.fspath(source)
        else:
            self.name = name or getattr(source, "name", "<stream>")
        try:
            self._container = av.open(source, "r", options=options)
        except FileNotFoundError:
            raise MediaError(f"{self.name}: no such file") from None
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise CorruptMediaError(f"{self.name}: not readable media ({exc})") from None
        self.format = self._container.format.name
        self.streams = [_stream_info(s) for s in self._container.streams]
        if isinstance(source, (str, os.PathLike)):
            configs = _adts_configs(source, self.streams)
            self.streams = [replace(s, extradata=configs[s.index]) if s.index in configs else s
                            for s in self.streams]
        if not self.streams:
            self.close()
            raise CorruptMediaError(f"{self.name}: no audio or video streams")
        if codecs is not None:
            for info in self.streams:
                if info.codec not in codecs:
                    self.close()
                    raise UnsupportedCodecError(
                        f"{self.name}: stream {info.index} uses codec {info.codec!r}; supported: {sorted(codecs)}"
                    )

    def __enter__(self) -> MediaSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the demuxer (stream templates become unusable)."""
        container = getattr(self, "_container", None)
        if container is not None:
            # A template outliving its demuxer points at freed FFmpeg memory:
            # drop it, so a later writer gets a typed error, not a crash.
            for info in self.streams:
                object.__setattr__(info, "template", None)
            container.close()
            self._container = None

    def __iter__(self) -> Iterator[PacketRecord]:
        return self.packets()

    def packets(self, *, salvage: bool = False) -> Iterator[PacketRecord]:
        """Yield every packet as a record, in the order the file stores them.

        In formats that store decode timestamps (MP4, MPEG-TS) a dts that goes
        backwards within a stream raises :class:`PacketOrderError`. With
        ``salvage`` (a file cut short by a crash) iteration stops quietly at
        the first packet the demuxer flags corrupt (a sample cut off by the
        end of the file), that has no pts or a dts going backwards, or at the
        first demux error, instead of raising.
        """
        import av

        if self._container is None:
            raise MediaError(f"{self.name}: source is closed")
        position = 0
        # One shared kind and time base per stream: every demuxed packet
        # carries its stream's time base, and records then share the object.
        meta = {s.index: (s.kind, s.time_base) for s in self.streams}
        check = any(f in STORES_DTS for f in self.format.split(","))
        # MPEG-TS stores 33 bits: the order check compares dts by the pts rule of
        # format 1.7 (FFmpeg may demux a first dts as 2**33 - n, the next as small).
        wrapped = "mpegts" in self.format.split(",")
        last_dts: dict[int, int] = {}
        try:
            for packet in self._demux(check):
                dts = packet.dts
                if dts is None and packet.size == 0:
                    continue  # demuxer flush packet
                if salvage and packet.is_corrupt:
                    return
                position += 1
                index = packet.stream_index
                kind, time_base = meta[index]
                try:
                    record = PacketRecord(
                        index, kind, packet.pts, dts, packet.duration or 0, time_base, packet.is_keyframe, bytes(packet)
                    )
                except PacketError as exc:
                    if salvage:
                        return
                    raise CorruptMediaError(f"{self.name}: packet {position}: {exc}") from None
                if check:
                    previous = last_dts.get(record.stream)
                    dts = ((record.dts + (1 << 32)) & ((1 << 33) - 1)) - (1 << 32) if wrapped else record.dts
                    if previous is not None and dts < previous:
                        if salvage:
                            return
                        raise PacketOrderError(
                            f"{self.name}: packet {position} (stream {record.stream}): "
                            f"dts {record.dts} after {previous}"
                        )
                    last_dts[record.stream] = dts
                yield record
        except av.FFmpegError as exc:
            if salvage:
                return
            raise CorruptMediaError(f"{self.name}: demux failed after packet {position} ({exc})") from None
        except IndexError:  # PyAV: a packet of a stream that appeared after the file was opened
            if salvage:
                return
            raise CorruptMediaError(f"{self.name}: packet {position + 1} belongs to a stream not declared "
                                    "when the file was opened") from None

    def av_packets(self) -> Iterator[Any]:
        """Yield the raw ``av.Packet`` s (no flush packets), for zero-overhead consumers.

        As in :meth:`packets`, every packet has a dts (see :meth:`_demux`).
        """
        import av

        if self._container is None:
            raise MediaError(f"{self.name}: source is closed")
        check = any(f in STORES_DTS for f in self.format.split(","))
        try:
            for packet in self._demux(check):
                if packet.dts is None and packet.size == 0:
                    continue
                yield packet
        except av.FFmpegError as exc:
            raise CorruptMediaError(f"{self.name}: demux failed ({exc})") from None
        except IndexError:  # PyAV: a packet of a stream that appeared after the file was opened
            raise CorruptMediaError(f"{self.name}: a packet belongs to a stream not declared when the "
                                    "file was opened") from None

    def _demux(self, stores_dts: bool) -> Iterator[Any]:
        """The container's packets; where it stores no dts, the missing ones filled in.

        Matroska and WebM store presentation times only. For a stream with
        B-frames FFmpeg derives each dts from the pts once it knows the
        reordering delay, so the first few packets come without one (and a
        PacketRecord would default it to the pts, which breaks decode order:
        pts 21, 121, then dts 21). Those packets, and everything after them,
        are held back until the stream's first known dts D; the m held
        packets then get D - m*step ... D - step (step = their duration, or
        one tick), strictly increasing and before every later dts. Containers
        that store dts (MP4, MPEG-TS) pass through untouched, as does a
        stream whose dts never appears within :data:`_DTS_LOOKAHEAD` packets
        (its packets keep dts = pts, the former behaviour).
        """
        demux = self._container.demux()
        if stores_dts:
            yield from demux
            return
        held: list[Any] = []
        waiting: set[int] = set()  # streams whose first packets lack a dts
        started: set[int] = set()  # streams that had a dts, or a packet with one
        keys: dict[int, list[int]] = {}  # keyframe pts FFmpeg reported, per stream
        matroska = self.path is not None and "matroska" in self.format.split(",")
        video = {s.index for s in self.streams if s.kind == "video"}
        for packet in demux:
            if packet.dts is None and packet.size == 0:
                if not held:
                    yield packet
                continue
            index = packet.stream_index
            if matroska:
                if packet.pts is None:  # a leading picture's negative block time (format 1.13)
                    packet.pts = stored_leading_pts(self.path, packet, keys.get(index, ()),  # type: ignore[arg-type]
                                                    video=index in video)
                elif packet.is_keyframe:
                    keys.setdefault(index, []).append(packet.pts)
            if index not in started:
                if packet.dts is None and packet.pts is not None:
                    waiting.add(index)
                else:
                    started.add(index)
                    if index in waiting:
                        backfill_dts(held, index, packet)
                        waiting.discard(index)
            if waiting:
                held.append(packet)
                if len(held) < DTS_LOOKAHEAD:
                    continue
                started.update(waiting)  # give up waiting: dts = pts as before
                waiting.clear()
            if held:
                if packet is not held[-1]:
                    held.append(packet)
                yield from held
                held = []
            else:
                yield packet
        yield from held


def stored_leading_pts(path: str, packet: Any, keyframe_pts: Sequence[int], *, video: bool) -> int | None:
    """The time a Matroska file stores for *packet*, which FFmpeg's demuxer reported without pts,
    when it is a leading picture of its video stream's first GOP; else None (format 1.13).

    The block's time is read from the file (:mod:`bwc_core.media.matroska`): Cluster Timestamp plus
    its relative timestamp, negative (why FFmpeg reports none). It stands only if the reading
    agrees with FFmpeg's: *keyframe_pts*, the pts FFmpeg reported for the stream's keyframes so
    far, hold exactly one; *video*: the packet's stream is a video stream. That keyframe's block
    is earlier in the same Cluster with the same sum of its own; and the time is below that
    keyframe's (presented before the keyframe it follows in
    decode order: an open GOP's leading B-frame after ``ffmpeg -c copy`` rebased the keyframe
    to 0).
    """
    from bwc_core.media.matroska import negative_block_pts

    if not video or packet.pts is not None or not packet.size or len(keyframe_pts) != 1:
        return None
    found = negative_block_pts(path, packet.pos)
    if found is None or found.block.laced:
        return None
    keys = [b for b in found.earlier if b.track == found.block.track and b.keyframe]
    if not keys or keyframe_pts[0] != found.cluster_timestamp + keys[-1].relative:
        return None
    return found.pts if found.pts < keyframe_pts[0] else None


#: Packets :meth:`MediaSource._demux` holds back at most while waiting for a dts.
DTS_LOOKAHEAD = 64


def backfill_dts(held: list[Any], index: int, first: Any) -> None:
    """Give stream *index*'s held packets dts values just before *first*'s."""
    mine = [p for p in held if p.stream_index == index and p.dts is None]
    if not mine or first.dts is None:  # a packet without pts either: PacketRecord refuses it
        return
    step = first.duration or mine[0].duration or 1
    for k, packet in enumerate(mine):
        packet.dts = min(first.dts - (len(mine) - k) * step, packet.pts)
    for a, b in zip(mine, mine[1:], strict=False):  # keep them strictly increasing whatever the pts
        if b.dts <= a.dts:
            b.dts = a.dts + 1
    if mine[-1].dts >= first.dts:
        for k, packet in enumerate(mine):
            packet.dts = first.dts - (len(mine) - k)


def _adts_configs(path: str | os.PathLike[str], streams: list[StreamInfo], limit: int = 2000) -> dict[int, bytes]:
    """The AudioSpecificConfig of each AAC stream that comes without one (ADTS in
    MPEG-TS), as its first frame's ADTS header gives it (exactly what the content
    format's framer derives); read through a second, short-lived demuxer."""
    import av

    from bwc_core import _framing

    wanted = {s.index for s in streams if s.codec == "aac" and not s.extradata}
    found: dict[int, bytes] = {}
    if not wanted:
        return found
    try:
        with av.open(os.fspath(path), "r") as container:
            for n, packet in enumerate(container.demux()):
                if n >= limit or not wanted:
                    break
                if packet.stream_index in wanted and packet.size:
                    framer = _framing.Framer("aac", b"")
                    framer.canonical(packet)
                    if framer.adts_config:
                        found[packet.stream_index] = framer.adts_config
                    wanted.discard(packet.stream_index)
    except (av.FFmpegError, OSError, builtins.ValueError):
        pass  # the main demuxer reports what is wrong with the file
    return found


def decode_first_frame(path: str | os.PathLike[str], kind: str | None = None) -> Any:
    """Decode and return the first frame of a file (video if it has video, else audio).

    Proves a segment plays alone: it has its own header and codec
    configuration and starts on a decodable frame. Raises
    :class:`CorruptMediaError` when nothing decodes.
    """
    import av

    name = os.fspath(path)
    try:
        with av.open(name, "r") as container:
            streams = [s for s in container.streams if s.type in ("video", "audio")]
            if kind is not None:
                streams = [s for s in streams if s.type == kind]
            else:
                streams = [s for s in streams if s.type == "video"] or streams
            if not streams:
                raise CorruptMediaError(f"{name}: no {kind or 'audio or video'} stream to decode")
            for frame in container.decode(streams[0]):
                return frame
    except FileNotFoundError:
        raise MediaError(f"{name}: no such file") from None
    except (av.FFmpegError, OSError) as exc:
        if isinstance(exc, MediaError):
            raise
        raise CorruptMediaError(f"{name}: first frame does not decode ({exc})") from None
    raise CorruptMediaError(f"{name}: no frame decodes")


