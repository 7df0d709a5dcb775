"""The packet vocabulary every layer of bwc-core speaks.

A :class:`PacketRecord` is one encoded packet with its timing and an immutable
payload. It is independent of PyAV so buffers, hashers and journals never hold
FFmpeg objects, and converting back to ``av.Packet`` always makes a fresh
packet: ``OutputContainer.mux()`` rewrites the timestamps of the packet it is
given, and it must never rewrite a record's.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any, Final

from bwc_core.errors import BwcTypeError, PacketError

if TYPE_CHECKING:  # pragma: no cover
    import av

__all__ = [
    "KINDS",
    "PacketRecord",
    "as_payload",
]

#: Stream kinds a record may carry. ``"data"`` covers subtitles, telemetry and
#: anything else a camera muxes beside audio and video.
KINDS: Final = frozenset({"video", "audio", "data"})

_AV_KIND = {"video": "video", "audio": "audio", "subtitle": "data", "data": "data"}


def as_payload(data: Any) -> bytes | memoryview:
    """Return an immutable view of *data*, copying only when it could change.

    ``bytes`` and read-only views of ``bytes`` are kept as they are (zero
    copy); writable buffers (bytearray, numpy arrays, av.Packet) are copied,
    because their owner may overwrite them later. Strided buffers are refused.
    """
    if type(data) is bytes:
        return data
    try:
        view = memoryview(data)
    except TypeError:
        raise BwcTypeError(
            f"payload must be a bytes-like object, not {type(data).__name__}"
        ) from None
    if not view.c_contiguous:
        view.release()
        raise BwcTypeError("payload must be a C-contiguous buffer (got a strided view)")
    if view.readonly and isinstance(view.obj, bytes):
        return view.cast("B") if view.format != "B" or view.ndim != 1 else view
    copied = view.tobytes()
    view.release()
    return copied


class PacketRecord:
    """One encoded packet: stream, kind, timing, keyframe flag and payload.

    ``dts`` defaults to ``pts`` when absent. ``time_base`` is a
    :class:`fractions.Fraction`; ``pts``, ``dts`` and ``duration`` are integers
    in that time base. Records are immutable and hashable by identity.
    """

    __slots__ = ("stream", "kind", "pts", "dts", "duration", "time_base", "keyframe", "payload")

    stream: int
    kind: str
    pts: int
    dts: int
    duration: int
    time_base: Fraction
    keyframe: bool
    payload: bytes | memoryview

    def __init__(
        self,
        stream: int,
        kind: str,
        pts: int | None,
        dts: int | None = None,
        duration: int = 0,
        time_base: Fraction | tuple[int, int] = Fraction(1, 90000),
        keyframe: bool = False,
        payload: Any = b"",
    ) -> None:
        if kind not in KINDS:
            raise PacketError(f"unknown stream kind {kind!r}; expected one of {sorted(KINDS)}")
        if pts is None:
            raise PacketError(f"packet on stream {stream} has no pts")
        if not isinstance(time_base, Fraction):
            time_base = Fraction(*time_base)
        if time_base <= 0:
            raise PacketError(f"time base must be positive, got {time_base}")
        if stream < 0:
            raise PacketError(f"stream index must be >= 0, got {stream}")
        set_ = object.__setattr__
        set_(self, "stream", int(stream))
        set_(self, "kind", kind)
        set_(self, "pts", int(pts))
        set_(self, "dts", int(pts if dts is None else dts))
        set_(self, "duration", int(duration or 0))
        set_(self, "time_base", time_base)
        set_(self, "keyframe", bool(keyframe))
        set_(self, "payload", as_payload(payload))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("PacketRecord is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("PacketRecord is immutable")

    def __repr__(self) -> str:
        return (
            f"PacketRecord(stream={self.stream}, kind={self.kind!r}, pts={self.pts}, "
            f"dts={self.dts}, duration={self.duration}, time_base={self.time_base}, "
            f"keyframe={self.keyframe}, size={self.size})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PacketRecord):
            return NotImplemented
        return (
            self.stream == other.stream
            and self.kind == other.kind
            and self.pts == other.pts
            and self.dts == other.dts
            and self.duration == other.duration
            and self.time_base == other.time_base
            and self.keyframe == other.keyframe
            and self.payload == other.payload
        )

    __hash__ = object.__hash__

    @property
    def size(self) -> int:
        """Payload length in bytes."""
        return len(self.payload)

    @property
    def pts_seconds(self) -> Fraction:
        """Presentation time in seconds, exact."""
        return self.pts * self.time_base

    @property
    def dts_seconds(self) -> Fraction:
        """Decode time in seconds, exact."""
        return self.dts * self.time_base

    def replace(self, **changes: Any) -> PacketRecord:
        """Return a copy with some fields changed (the payload is shared, not copied)."""
        fields = {name: getattr(self, name) for name in self.__slots__}
        fields.update(changes)
        return PacketRecord(**fields)

    @classmethod
    def from_av(cls, packet: av.Packet, *, kind: str | None = None) -> PacketRecord:
        """Make a record from a demuxed or encoded ``av.Packet``.

        The payload is copied: an ``av.Packet``'s buffer is writable
        (``Packet.update``) and may be reused by its owner.
        """
        stream = packet.stream
        if stream is None:
            raise PacketError("av.Packet has no stream; set packet.stream first")
        if kind is None:
            kind = _AV_KIND.get(stream.type)
            if kind is None:
                raise PacketError(f"unknown stream kind {stream.type!r}")
        if packet.pts is None:
            raise PacketError(f"packet on stream {stream.index} has no pts")
        time_base = packet.time_base or stream.time_base
        if time_base is None:
            raise PacketError(f"packet on stream {stream.index} has no time base")
        return cls(
            stream.index,
            kind,
            packet.pts,
            packet.dts,
            packet.duration or 0,
            time_base,
            packet.is_keyframe,
            bytes(packet),
        )

    def to_av(self, stream: Any = None) -> av.Packet:
        """Return a *new* ``av.Packet`` carrying this record.

        The new packet aliases the immutable payload (no copy) and owns its
        own timestamps, so muxing it, which rewrites the packet's timestamps
        in place, never changes this record. Pass the output *stream* to mux
        into; without one the caller must set ``packet.stream`` before muxing.
        """
        import av

        packet = av.Packet(self.payload)
        packet.time_base = self.time_base
        packet.pts = self.pts
        packet.dts = self.dts
        packet.duration = self.duration
        packet.is_keyframe = self.keyframe
        if stream is not None:
            packet.stream = stream
        return packet
