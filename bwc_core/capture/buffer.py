"""The camera's pre-event ring buffer.

While the camera is on but not recording, the last ``max_seconds`` of encoded
video (and, only if policy allows, audio) are kept in memory so that, when
the officer activates, the recording can start *before* the trigger. The
buffer is bounded by seconds *and* bytes, evicts whole GOPs only, and always
hands back a window that starts on a video keyframe, so what it returns can
be written to a file that plays from its first frame.

The hot path lives in the compiled ``bwc_core._ringbuf``; the policy is
specified in ``docs/camera.md`` ("Pre-event buffer").
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from bwc_core._ringbuf import Ring as _Ring

__all__ = [
    "BufferStats",
    "PreEventBuffer",
]


@dataclass(frozen=True)
class BufferStats:
    """A consistent snapshot of a :class:`PreEventBuffer`.

    ``seconds`` is exact: the pts of the newest held video packet minus the
    pts of the first held keyframe, in the video stream's time base (no frame
    durations added, no float drift). Counters are cumulative since
    construction; ``packets``, ``bytes``, ``seconds`` and ``keyframes``
    describe what is held now.
    """

    packets: int            #: packets held now (video, kept audio, data)
    bytes: int              #: payload bytes held now
    seconds: Fraction       #: video span held now (see above)
    evicted_gops: int       #: whole GOPs dropped to respect max_seconds / max_bytes / slots
    dropped_audio: int      #: audio packets never stored because keep_audio is False
    oversize_events: int    #: times one GOP outgrew the buffer (bytes, slots or max_seconds)
    keyframes: int          #: video keyframes held now (= GOPs held)
    evicted_packets: int    #: packets dropped by GOP eviction, oversize events or orphan eviction
    dropped_video: int      #: video packets not stored because no keyframe preceded them
    trimmed: int            #: non-video packets dropped because they end before the window
    pushed: int             #: packets accepted by push() (rejected ones are not counted)
    capacity_bytes: int     #: arena size (max_bytes)
    capacity_packets: int   #: packet slots (max_packets, rounded up to a power of two)

    @property
    def seconds_float(self) -> float:
        """``seconds`` as a float, for display."""
        return float(self.seconds)


class PreEventBuffer(_Ring):
    """Holds the last ``max_seconds`` of encoded packets, keyframe-aligned.

    ``push()`` (from the capture thread) copies a :class:`PacketRecord` or an
    ``av.Packet`` into one arena allocated here; ``drain()`` (from any other
    thread) returns the held packets in decode order as records and leaves the
    buffer empty. With ``keep_audio=False`` (the default, for all-party-consent
    law) audio is never stored. ``max_packets`` overrides the slot count
    (default: 500 packets per second of ``max_seconds``, at least 1024).

    Bad input raises a typed error and leaves the buffer unchanged:
    :class:`~bwc_core.errors.BufferFullError` (payload larger than
    ``max_bytes``), :class:`~bwc_core.errors.PacketOrderError` (dts went
    backwards within a stream), :class:`~bwc_core.errors.PacketError`
    (missing pts, unknown kind, changed time base) and
    :class:`bwc_core.errors.BwcTypeError` (not a packet, strided payload).
    """

    def __init__(
        self,
        max_seconds: float | int | Fraction = 30.0,
        max_bytes: int = 64 * 2**20,
        keep_audio: bool = False,
        *,
        max_packets: int | None = None,
    ) -> None:
        # The compiled base validated the arguments and allocated everything.
        pass

    @property
    def stats(self) -> BufferStats:
        """Counters and what is held now (a frozen snapshot)."""
        return BufferStats(**self._counters())

    # push() and drain() are the compiled base's methods, inherited as they are so a
    # push costs no extra Python call (their docstrings live in src_cython/_ringbuf.pyx).

    def __repr__(self) -> str:
        s = self.stats
        return (
            f"PreEventBuffer(max_seconds={self.max_seconds}, max_bytes={self.max_bytes}, "
            f"keep_audio={self.keep_audio}, held={s.packets} packets / {s.bytes} bytes / "
            f"{float(s.seconds):.3f} s)"
        )
