"""PyAV adapters: media files in as :class:`PacketRecord` s, packets out to files.

Also the synthetic camera (test pattern + tone, H.264 + AAC) that tests, the
demo and the benchmarks use in place of a real sensor.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, BinaryIO

import numpy as np

from .errors import ContainerError, CorruptMediaError, MediaError, PacketError
from .packets import PacketRecord

__all__ = [
    "CONTAINER_FORMATS",
    "MediaSource",
    "StreamInfo",
    "SyntheticCamera",
    "write_packets",
]

#: Container names bwc-core writes, mapped to FFmpeg muxer names.
CONTAINER_FORMATS = {"mp4": "mp4", "mkv": "matroska", "ts": "mpegts"}

_KIND = {"video": "video", "audio": "audio", "subtitle": "data", "data": "data"}


@dataclass(frozen=True)
class StreamInfo:
    """What a writer needs to know about one stream besides its packets.

    ``template`` is the demuxer's ``av`` stream, used with
    ``add_stream_from_template`` so codec configuration (SPS/PPS, AAC
    AudioSpecificConfig) is copied exactly; it is ``None`` once the source
    is closed.
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


def _stream_info(stream: Any) -> StreamInfo:
    kind = _KIND.get(stream.type, "data")
    ctx = stream.codec_context
    tb = stream.time_base or Fraction(1, 90000)
    info = dict(
        index=stream.index,
        kind=kind,
        codec=ctx.name if ctx is not None else "unknown",
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
    Errors name the file and the packet position.
    """

    def __init__(self, source: str | os.PathLike[str] | bytes | BinaryIO, *, name: str | None = None) -> None:
        import av

        if isinstance(source, bytes):
            source = io.BytesIO(source)
            self.name = name or "<bytes>"
        elif isinstance(source, (str, os.PathLike)):
            self.name = name or os.fspath(source)
        else:
            self.name = name or getattr(source, "name", "<stream>")
        try:
            self._container = av.open(source, "r")
        except FileNotFoundError:
            raise MediaError(f"{self.name}: no such file") from None
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise CorruptMediaError(f"{self.name}: not readable media ({exc})") from None
        self.format = self._container.format.name
        self.streams = [_stream_info(s) for s in self._container.streams]
        if not self.streams:
            self.close()
            raise CorruptMediaError(f"{self.name}: no audio or video streams")

    def __enter__(self) -> MediaSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the demuxer (stream templates become unusable)."""
        container = getattr(self, "_container", None)
        if container is not None:
            container.close()
            self._container = None

    def __iter__(self) -> Iterator[PacketRecord]:
        return self.packets()

    def packets(self) -> Iterator[PacketRecord]:
        """Yield every packet as a record, in the order the file stores them."""
        import av

        if self._container is None:
            raise MediaError(f"{self.name}: source is closed")
        position = 0
        kinds = {s.index: s.kind for s in self.streams}
        try:
            for packet in self._container.demux():
                if packet.dts is None and packet.size == 0:
                    continue  # demuxer flush packet
                position += 1
                try:
                    yield PacketRecord.from_av(packet, kind=kinds[packet.stream.index])
                except PacketError as exc:
                    raise CorruptMediaError(f"{self.name}: packet {position}: {exc}") from None
        except av.FFmpegError as exc:
            raise CorruptMediaError(f"{self.name}: demux failed after packet {position} ({exc})") from None

    def av_packets(self) -> Iterator[Any]:
        """Yield the raw ``av.Packet`` s (no flush packets), for zero-overhead consumers."""
        import av

        try:
            for packet in self._container.demux():
                if packet.dts is None and packet.size == 0:
                    continue
                yield packet
        except av.FFmpegError as exc:
            raise CorruptMediaError(f"{self.name}: demux failed ({exc})") from None


def write_packets(
    path: str | os.PathLike[str],
    streams: Iterable[StreamInfo],
    packets: Iterable[PacketRecord],
    *,
    container: str = "mp4",
    options: dict[str, str] | None = None,
) -> int:
    """Stream-copy *packets* into a new file at *path*; returns packets written.

    Streams are created from their templates (``add_stream_from_template``),
    so codec configuration is copied exactly. Each packet is converted with
    :meth:`PacketRecord.to_av`, so the muxer never rewrites a record.
    """
    import av

    fmt = CONTAINER_FORMATS.get(container)
    if fmt is None:
        raise ValueError(f"unknown container {container!r}; expected one of {sorted(CONTAINER_FORMATS)}")
    streams = list(streams)
    try:
        out = av.open(os.fspath(path), "w", format=fmt, options=options or {})
    except (av.FFmpegError, OSError) as exc:
        raise ContainerError(f"{path}: cannot create ({exc})") from None
    count = 0
    try:
        mapping = {}
        for info in streams:
            if info.template is None:
                raise ContainerError(f"stream {info.index}: no template to copy codec configuration from")
            mapping[info.index] = out.add_stream_from_template(info.template)
        for record in packets:
            target = mapping.get(record.stream)
            if target is None:
                continue
            out.mux(record.to_av(target))
            count += 1
    except av.FFmpegError as exc:
        raise ContainerError(f"{path}: mux failed at packet {count} ({exc})") from None
    finally:
        out.close()
    return count


@dataclass
class SyntheticCamera:
    """A deterministic H.264 (+ AAC) source: moving test pattern and a tone.

    ``encode()`` returns the clip as MP4 bytes; ``source()`` opens them as a
    :class:`MediaSource`. B-frames (``bframes``) make decode order differ
    from presentation order, as on real cameras with high-profile encoders.
    """

    seconds: float = 5.0
    width: int = 320
    height: int = 240
    fps: int = 30
    gop: int = 30
    bitrate: int = 0  # bits/s; 0 lets x264 pick (CRF)
    bframes: int = 0
    audio: bool = True
    video: bool = True
    sample_rate: int = 48000
    tone_hz: float = 440.0

    def encode(self, container: str = "mp4") -> bytes:
        """Encode the clip and return the container bytes."""
        import av

        if not (self.audio or self.video):
            raise ValueError("a synthetic camera needs audio, video or both")
        buf = io.BytesIO()
        out = av.open(buf, "w", format=CONTAINER_FORMATS[container])
        vstream = astream = None
        if self.video:
            vstream = out.add_stream("libx264", rate=self.fps)
            vstream.width, vstream.height, vstream.pix_fmt = self.width, self.height, "yuv420p"
            params = (
                f"bframes={self.bframes}:b-adapt=0:keyint={self.gop}:min-keyint={self.gop}"
                ":scenecut=0:rc-lookahead=0"
            )
            opts = {"preset": "superfast" if self.bframes else "ultrafast", "x264-params": params}
            if self.bitrate:
                vstream.bit_rate = self.bitrate
                opts["x264-params"] += f":vbv-maxrate={self.bitrate // 1000}:vbv-bufsize={self.bitrate // 1000}"
            vstream.codec_context.options = opts
        if self.audio:
            astream = out.add_stream("aac", rate=self.sample_rate)
            astream.layout = "mono"
        frames = int(round(self.seconds * self.fps)) if vstream is not None else 0
        total = int(round(self.seconds * self.sample_rate)) if astream is not None else 0
        step = 1024
        if astream is not None:
            t = np.arange(total + step, dtype=np.float64) / self.sample_rate
            tone = (0.25 * np.sin(2 * math.pi * self.tone_hz * t)).astype(np.float32)
        if vstream is not None:
            ys, xs = np.mgrid[0 : self.height, 0 : self.width]
            base = ((xs + ys) % 256).astype(np.uint8)
            ramp = (xs * 255 // max(1, self.width - 1)).astype(np.uint8)
            rgb = np.empty((self.height, self.width, 3), np.uint8)
        audio_next = 0
        # Interleave by time, as a live camera delivers them.
        for i in range(max(frames, 1 if astream is not None else 0)):
            if vstream is not None:
                rgb[:, :, 0] = base + np.uint8((i * 3) % 256)
                rgb[:, :, 1] = np.uint8((i * 7) % 256)
                rgb[:, :, 2] = ramp
                box = (i * 4) % max(1, self.width - 16)
                rgb[8:24, box : box + 16, :] = 255
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts = i
                for packet in vstream.encode(frame):
                    out.mux(packet)
                horizon = (i + 1) * self.sample_rate // self.fps
            else:
                horizon = total
            while astream is not None and audio_next < min(horizon, total):
                chunk = tone[audio_next : audio_next + step]
                frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
                frame.sample_rate = self.sample_rate
                frame.pts = audio_next
                for packet in astream.encode(frame):
                    out.mux(packet)
                audio_next += step
        for stream in (vstream, astream):
            if stream is not None:
                for packet in stream.encode():
                    out.mux(packet)
        out.close()
        return buf.getvalue()

    def write(self, path: str | os.PathLike[str], container: str = "mp4") -> str:
        """Encode the clip to *path* and return the path."""
        data = self.encode(container)
        with open(path, "wb") as fh:
            fh.write(data)
        return os.fspath(path)

    def source(self) -> MediaSource:
        """Encode the clip and open it as a :class:`MediaSource`."""
        return MediaSource(self.encode(), name="<synthetic camera>")
