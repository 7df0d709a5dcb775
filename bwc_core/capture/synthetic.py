"""A synthetic camera: encoded test footage for the demo, tests and benchmarks."""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass

from bwc_core.media.source import CONTAINER_FORMATS, MediaSource

__all__ = [
    "SyntheticCamera",
]


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
        import numpy as np  # only the synthetic camera needs it: keeps `bwc verify` start-up short

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
