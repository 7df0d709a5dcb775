"""The built-in demo flow (``bwc demo`` / ``make demo``).

A synthetic camera (test pattern + tone, H.264 with B-frames + AAC) streams
into the pre-event buffer while the camera is in standby; the officer
"activates"; the buffered packets are drained and written to an MP4 that
plays on its own. The demo prints what the buffer kept and why.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import TextIO

from .buffer import PreEventBuffer
from .media import MediaSource, SyntheticCamera, write_packets

__all__ = ["run_demo"]


def run_demo(
    out: str | os.PathLike[str],
    *,
    stream: TextIO,
    seconds: float = 20.0,
    pre_event_seconds: float = 8.0,
    activate_at: float = 15.0,
) -> int:
    """Run the demo into directory *out*; returns the exit code (0 on success)."""
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    say = lambda text="": print(text, file=stream)  # noqa: E731

    camera = SyntheticCamera(seconds=seconds, width=640, height=360, fps=30, gop=30, bframes=2)
    say(f"synthetic camera: {seconds:.0f} s of 640x360 H.264 (B-frames) + AAC, 1 s GOP")
    source_path = camera.write(out_dir / "camera-source.mp4")

    buf = PreEventBuffer(max_seconds=pre_event_seconds, max_bytes=32 * 2**20, keep_audio=False)
    path = out_dir / "pre-event.mp4"
    with MediaSource(source_path) as source:
        for record in source:
            if record.pts_seconds >= activate_at:
                break
            buf.push(record)
        stats = buf.stats
        held = buf.drain()
        # Stream templates live as long as the source is open: write inside.
        video_streams = [s for s in source.streams if s.kind == "video"]
        write_packets(path, video_streams, held)

    say(f"standby: pre-event buffer of {pre_event_seconds:.0f} s, video only (buffer audio off by default)")
    say(f"activate at {activate_at:.1f} s: buffer held {stats.packets} packets, "
        f"{stats.bytes / 1024:.0f} KiB, {float(stats.seconds):.2f} s; "
        f"evicted {stats.evicted_gops} GOPs, dropped {stats.dropped_audio} audio packets")

    with MediaSource(path) as written:
        first = next(iter(written))
    import av

    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    start = Fraction(held[0].pts) * held[0].time_base
    say(f"drained {len(held)} packets starting at keyframe pts {float(start):.3f} s "
        f"(first written packet keyframe={first.keyframe})")
    say(f"wrote {path} ({path.stat().st_size} bytes), {frames} frames decode from the first")
    return 0
