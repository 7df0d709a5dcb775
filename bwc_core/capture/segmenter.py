"""Keyframe-aligned segments, written and hashed while the packets arrive.

A :class:`Segmenter` takes the camera's packets in decode (arrival) order,
drained pre-event packets first, then live ones, and writes them into
standalone container files of about ``target_seconds`` each:

- a new segment starts at the first keyframe of the first video stream whose
  pts is at least ``target_seconds`` after the current segment's start, so a
  segment lasts at most target + one GOP (audio-only: the first packet of the
  first audio stream at or after the target, i.e. a cut on time);
- every other stream is routed **by timestamp**: a packet whose pts is before
  the cut belongs to the earlier segment even when it arrives after the cut
  keyframe. The earlier segment's muxer stays open until every other stream
  has delivered a packet at or after the cut, or until a packet arrives
  ``max_lag`` seconds (default 1) past the cut; a straggler arriving later
  still is written into the newer segment rather than lost;
- file digests are computed from the bytes as the muxer writes them (a
  forward-only :class:`~bwc_core.media.writers.HashingSink`), never read back;
- the content root (container-independent, see ``docs/format.md``) is
  computed from the same packets, and the per-packet leaves are written to a
  ``<segment file>.leaves`` sidecar.

A segment file appears under its final name as soon as it is opened and
grows fragment by fragment. It is **complete only once a SegmentInfo for it
has been returned** (by :meth:`Segmenter.push`, :meth:`Segmenter.poll` or
:meth:`Segmenter.close`): then its muxer has been closed and the file,
sidecar and directory fsynced. That finishing work runs on a background
thread, so the capture thread never waits for storage. After a crash, a file
without a SegmentInfo (journal record) is a partial segment that still
decodes up to its last flushed fragment.

Packets come as :class:`PacketRecord` s (:meth:`Segmenter.push`) or, for a
file being sealed, straight from a demuxer (:meth:`Segmenter.push_av`: no
record, no payload copy, the same bytes written).

Cuts assume closed GOPs: no frame after a keyframe (in decode order) refers
to a frame before it, as body cameras and x264's defaults produce.
"""

from __future__ import annotations

import math
import os
import stat
import time
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from bwc_core.errors import (
    BwcTypeError,
    BwcValueError,
    ContainerError,
    CorruptMediaError,
    MediaError,
    PacketError,
    PacketOrderError,
    StateError,
    UnsupportedCodecError,
)
from bwc_core.format.codec import StreamInfo
from bwc_core.format.content import ContentHasher, FileDigester, file_digests, leaves_bytes, pts_bits_of
from bwc_core.media.packets import PacketRecord
from bwc_core.media.presentation import default_presentation, measure_presentation, writer_presentation
from bwc_core.media.source import CONTAINER_EXTENSIONS, CONTAINER_FORMATS, SUPPORTED_CODECS, MediaSource
from bwc_core.media.writers import HashingSink, open_output, payload_rewrites, preflight

_AV_KIND = {"video": "video", "audio": "audio", "subtitle": "data", "data": "data"}


def _ffmpeg_error() -> type[Exception]:
    import av

    return av.FFmpegError


__all__ = [
    "Segmenter",
    "SegmentInfo",
    "SegmentProgress",
    "StreamSpan",
    "salvage",
]


def _fraction_json(value: Fraction) -> list[int]:
    return [value.numerator, value.denominator]


@dataclass(frozen=True)
class StreamSpan:
    """The timestamps one stream covers inside one segment (in its time base)."""

    stream: int
    time_base: Fraction
    first_pts: int
    last_pts: int
    end_pts: int  #: max(pts + duration): where the stream's last packet ends
    first_dts: int
    last_dts: int
    packets: int

    @property
    def start(self) -> Fraction:
        """Presentation time of the earliest packet, seconds."""
        return self.first_pts * self.time_base

    @property
    def end(self) -> Fraction:
        """Presentation time where the stream ends, seconds."""
        return self.end_pts * self.time_base

    def to_json(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "time_base": _fraction_json(self.time_base),
            "first_pts": self.first_pts,
            "last_pts": self.last_pts,
            "end_pts": self.end_pts,
            "first_dts": self.first_dts,
            "last_dts": self.last_dts,
            "packets": self.packets,
        }


class _Spans:
    """Accumulates per-stream timestamp spans as packets go by."""

    __slots__ = ("_spans",)

    def __init__(self) -> None:
        # stream -> [first_pts, last_pts, end_pts, first_dts, last_dts, count, time_base]
        self._spans: dict[int, list[Any]] = {}

    def add(self, record: PacketRecord) -> None:
        span = self._spans.get(record.stream)
        end = record.pts + record.duration
        if span is None:
            self._spans[record.stream] = [record.pts, record.pts, end, record.dts, record.dts, 1, record.time_base]
            return
        if record.pts < span[0]:
            span[0] = record.pts
        if record.pts > span[1]:
            span[1] = record.pts
        if end > span[2]:
            span[2] = end
        span[4] = record.dts
        span[5] += 1

    def freeze(self) -> tuple[StreamSpan, ...]:
        return tuple(
            StreamSpan(stream, s[6], s[0], s[1], s[2], s[3], s[4], s[5]) for stream, s in sorted(self._spans.items())
        )


@dataclass(frozen=True)
class SegmentInfo:
    """One finished segment: where it is, what its bytes and content hash to.

    Returned only after the muxer was closed and the file fsynced: a
    SegmentInfo means the file is complete. ``start``/``end`` are exact
    seconds on the source timeline; ``cut`` is the pts (seconds) of the
    keyframe that opened the segment.
    """

    index: int
    path: str
    leaves_path: str
    container: str
    size: int
    digests: dict[str, str]
    content_root: bytes
    chunks: tuple[Any, ...]
    streams: tuple[dict[str, Any], ...]
    spans: tuple[StreamSpan, ...]
    cut: Fraction
    start: Fraction
    end: Fraction
    packet_count: int
    pre_event: bool
    content: Any = field(default=None, compare=False, repr=False)

    @property
    def content_root_hex(self) -> str:
        return self.content_root.hex()

    @property
    def file_name(self) -> str:
        return os.path.basename(self.path)

    @property
    def duration(self) -> Fraction:
        return self.end - self.start

    def span(self, stream: int) -> StreamSpan | None:
        """The span of *stream* in this segment, or None if it has no packets here."""
        for s in self.spans:
            if s.stream == stream:
                return s
        return None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of integers, strings, booleans and lists (no floats).

        Times are exact ``[numerator, denominator]`` pairs; the path is the
        bare file name (segments are addressed relative to their directory).
        The chunk table is not in it (format 1.5): the sidecar holds it.
        """
        return {
            "index": self.index,
            "file": self.file_name,
            "leaves": os.path.basename(self.leaves_path),
            "container": self.container,
            "size": self.size,
            "digests": dict(self.digests),
            "content_root": self.content_root_hex,
            "streams": [dict(s) for s in self.streams],
            "spans": [s.to_json() for s in self.spans],
            "cut": _fraction_json(self.cut),
            "start": _fraction_json(self.start),
            "end": _fraction_json(self.end),
            "packet_count": self.packet_count,
            "pre_event": self.pre_event,
        }


@dataclass(frozen=True)
class SegmentProgress:
    """A prefix of a segment file being written: what the camera attests while capturing.

    ``size`` bytes from the start of ``path`` have reached the file (and,
    with ``fsync``, storage); ``digests`` are those of exactly that prefix.
    The muxers write forward only, so the prefix is never rewritten: a
    ``segment.progress`` record of it (format section on crash recovery) is
    what recovery may later salvage, and nothing beyond.
    """

    index: int
    path: str
    size: int
    digests: dict[str, str]


class _AvPacket:
    """A demuxed ``av.Packet`` with its timing read once, for :meth:`Segmenter.push_av`.

    It quacks like a :class:`PacketRecord` (same attribute names), so routing,
    spans and content hashing are the very code ``push()`` runs; ``payload``
    is the packet itself, whose buffer the compiled hasher reads in place.
    The timing is a snapshot taken before the packet is muxed: muxing rewrites
    the packet's timestamps (see :meth:`_Writer.mux`).
    """

    __slots__ = ("stream", "kind", "pts", "dts", "duration", "time_base", "keyframe", "payload", "plain")

    def __init__(self, stream: int, kind: str, pts: int, dts: int, duration: int, time_base: Fraction,
                 keyframe: bool, packet: Any, plain: bool) -> None:
        self.stream = stream
        self.kind = kind
        self.pts = pts
        self.dts = dts
        self.duration = duration
        self.time_base = time_base
        self.keyframe = keyframe
        self.payload = packet
        #: True when the packet carries nothing a PacketRecord would drop
        #: (flags other than keyframe, side data): it can be muxed as it is.
        self.plain = plain

    @property
    def pts_seconds(self) -> Fraction:
        return self.pts * self.time_base


class _Writer:
    """One open segment: muxer on a hashing sink, content hasher, spans."""

    __slots__ = (
        "index", "path", "leaves_path", "sink", "out", "ostreams", "hasher", "spans",
        "count", "pre_event", "cut", "cut_ticks", "passed", "rewrites", "progress_at", "progress_size",
        "boundary", "streams",
    )

    def __init__(self, seg: Segmenter, index: int, cut: Fraction) -> None:
        self.index = index
        self.path = os.path.join(seg.out_dir, f"{seg.name}-{index:05d}{CONTAINER_EXTENSIONS[seg.container]}")
        self.leaves_path = self.path + ".leaves"
        self.sink = HashingSink(self.path, FileDigester(seg.digests))
        self.streams = seg._segment_streams()
        self.rewrites = payload_rewrites(self.streams, seg.container)  # ADTS AAC, parameter sets into TS
        import av

        try:
            self.out, self.ostreams = open_output(self.sink, seg.container, self.streams, options=seg.options)
            try:
                # Writes the header: the output time bases are final only now
                # (MP4 keeps the source's, MKV 1/1000, MPEG-TS 1/90000).
                self.out.start_encoding()
            except av.FFmpegError as exc:
                self.out.close()
                raise ContainerError(f"{self.path}: cannot write the {seg.container} header ({exc})") from None
        except BaseException:
            self.sink.abort()
            os.unlink(self.path)
            raise
        # Commit pts as the muxer stores them, so the signed root is the
        # root of the file as written (content_root(path)).
        self.hasher = ContentHasher(
            self.streams,
            time_bases={i: Fraction(o.time_base) for i, o in self.ostreams.items()},
            pts_bits=pts_bits_of(seg.container),
        )
        self.spans = _Spans()
        self.count = 0
        self.pre_event = False
        self.cut = cut  # seconds: pts of the packet that opened this segment
        self.cut_ticks: Any = None  # set when the next segment starts
        self.passed: set[int] = set()
        self.progress_at: Any = None  # master ticks from which the next progress snapshot is due
        self.progress_size = 0  # bytes covered by the last snapshot
        self.boundary = False  # a fragment boundary passed whose fragment is not attested yet

    def mux(self, record: PacketRecord | _AvPacket, pre_event: bool, position: int) -> None:
        if record.stream not in self.ostreams:
            raise PacketError(f"packet {position} (stream {record.stream}): the stream was silent when "
                              f"{os.path.basename(self.path)} opened and has no track there")
        # Content first: a payload the content framing refuses is never written.
        self.hasher.update(record)
        rewrite = self.rewrites.get(record.stream)
        payload = rewrite(record.payload, record.keyframe) if rewrite is not None else None
        if type(record) is _AvPacket and record.plain and payload is None:
            # Mux the demuxed packet itself: its timestamps are rewritten in
            # place, which is harmless because nothing reads the packet
            # afterwards (the item holds a snapshot of its timing) and its
            # buffer, which the muxer may still queue, is never written. Not
            # so for buffer contents: those go through to_av().
            packet = record.payload
            packet.stream = self.ostreams[record.stream]
        elif type(record) is _AvPacket or payload is not None:
            # A fresh packet carrying only what to_av() would (so both paths
            # write the same bytes): for flags or side data a PacketRecord
            # drops (aliasing the payload, no copy), or for a payload that
            # changes on its way into the container (same leaf; see
            # media.PayloadRewrite).
            import av

            packet = av.Packet(record.payload if payload is None else payload)
            packet.time_base = record.time_base
            packet.pts = record.pts
            packet.dts = record.dts
            packet.duration = record.duration
            packet.is_keyframe = record.keyframe
            packet.stream = self.ostreams[record.stream]
        else:
            packet = record.to_av(self.ostreams[record.stream])
        try:
            self.out.mux(packet)
        except _ffmpeg_error() as exc:  # evaluated only when something was raised
            raise ContainerError(
                f"{self.path}: mux failed at packet {position} (stream {record.stream}, dts {record.dts}): {exc}"
            ) from None
        self.spans.add(record)
        self.count += 1
        if pre_event:
            self.pre_event = True

    def close_muxer(self) -> None:
        """Write the trailer (caller's thread: the muxer is not shared)."""
        import av

        try:
            self.out.close()
        except av.FFmpegError as exc:
            self.sink.abort()
            raise ContainerError(f"{self.path}: closing the muxer failed ({exc})") from None
        except BaseException:
            self.sink.abort()
            raise

    def complete(self, seg: Segmenter) -> SegmentInfo:
        """Finish digests, fsync, content tree and sidecar (runs on the finisher thread)."""
        # Content tree and sidecar first: meanwhile the sink's worker is still
        # digesting the segment's last bytes.
        result = self.hasher.finish()
        _write_new(self.leaves_path, leaves_bytes(result), sync=seg.fsync)
        digests = self.sink.close(sync=seg.fsync)
        if seg.container == "mkv":
            _check_stored_timing(self.path, result)
        if seg.fsync:
            seg._sync_dir()
        spans = self.spans.freeze()
        start = min(s.start for s in spans)
        end = max(s.end for s in spans)
        return SegmentInfo(
            index=self.index,
            path=self.path,
            leaves_path=self.leaves_path,
            container=seg.container,
            size=self.sink.size,
            digests=digests,
            content_root=result.root,
            chunks=tuple(result.chunks),
            streams=_with_presentation(self.streams, seg._presentation_of(self.path, self.streams)),
            spans=spans,
            cut=self.cut,
            start=start,
            end=end,
            packet_count=self.count,
            pre_event=self.pre_event,
            content=result,
        )

    def abort(self) -> None:
        try:
            self.out.close()
        except Exception:  # noqa: BLE001 - best effort; the file stays partial
            pass
        self.sink.abort()


def _with_presentation(
    streams: Sequence[StreamInfo], measured: dict[int, dict[str, Any]]
) -> tuple[dict[str, Any], ...]:
    """The stream descriptions of a closed segment, each with the presentation the file shows
    (format 1.4; measured by :func:`bwc_core.media.presentation.writer_presentation`)."""
    out = []
    for s in streams:
        d = s.describe()
        d["presentation"] = measured.get(s.index, default_presentation(s.kind))
        out.append(d)
    return tuple(out)


def _measured(path: str, *, salvage: bool = False) -> dict[int, dict[str, Any]]:
    """What a closed (or, *salvage*, crash-cut) segment file presents; ContainerError if unreadable."""
    try:
        return measure_presentation(path, options={"fflags": "+ignidx"} if salvage else None)
    except MediaError as exc:
        if salvage:
            return {}  # what a crash left: the defaults (the verifier compares only a changed file)
        raise ContainerError(f"{path}: cannot measure its presentation metadata ({exc})") from None


def _check_stored_timing(path: str, result: Any) -> None:
    """Matroska only: every packet's stored pts is the committed one, or ContainerError.

    Matroska has no place for a negative timestamp beyond a stream's codec
    delay (FFmpeg reads such a block back without pts, or shifted), and
    FFmpeg's muxer writes it without complaint; the signed root would then
    not be the file's. The file stays as written (it is not journaled).
    Since format 1.5 a video stream's first-GOP leading pictures (an open GOP
    whose keyframe is at 0) are read back with the times the blocks store,
    as the verifier reads them (:func:`bwc_core.media.source.stored_leading_pts`).
    """
    import av

    from bwc_core.media.source import stored_leading_pts

    committed: dict[int, list[int]] = {}
    for p in result.packets:
        committed.setdefault(p.stream, []).append(p.pts)
    stored: dict[int, list[int | None]] = {}
    keys: dict[int, list[int]] = {}
    with av.open(path) as container:
        video = {s.index for s in container.streams if s.type == "video"}
        for packet in container.demux():
            if packet.dts is None and packet.size == 0:
                continue  # flush packet
            index = packet.stream_index
            pts = packet.pts
            if pts is None:
                pts = stored_leading_pts(path, packet, keys.get(index, ()), video=index in video)
            elif packet.is_keyframe:
                keys.setdefault(index, []).append(pts)
            stored.setdefault(index, []).append(pts)
    for stream, want in committed.items():
        got = stored.get(stream, [])
        if None in got or sorted(want) != sorted(got):  # type: ignore[type-var]
            first = min(want)
            raise ContainerError(
                f"{path}: Matroska did not store stream {stream}'s timestamps as written (first pts "
                f"{first} ms); it cannot hold negative timestamps beyond a codec delay: use mp4 or ts"
            )


def _as_fraction(value: float | int | Fraction, what: str) -> Fraction:
    try:
        frac = Fraction(value) if not isinstance(value, float) else Fraction(value).limit_denominator(1_000_000)
    except (TypeError, ValueError):
        raise BwcValueError(f"{what} must be a number, got {value!r}") from None
    if frac <= 0:
        raise BwcValueError(f"{what} must be > 0, got {value!r}")
    return frac


class Segmenter:
    """Cuts a packet stream into standalone, hashed segment files.

    ``streams`` describes every stream the packets may carry (their
    ``template`` must stay open: codec configuration is copied from it into
    every segment). With ``pre_event=True`` every packet pushed before
    :meth:`mark_live` counts as pre-event (buffered before the activation);
    a segment containing any such packet has ``SegmentInfo.pre_event`` True.

    Packets are validated before anything is written: an unknown stream, a
    kind mismatch or a decode timestamp that does not increase within its
    stream raises a typed error and the packet is dropped, leaving every
    segment, finished or open, untouched.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        *,
        streams: Sequence[StreamInfo],
        target_seconds: float | Fraction = 10.0,
        container: str = "mp4",
        digests: Iterable[str] = ("blake3", "sha256"),
        name: str = "seg",
        pre_event: bool = False,
        max_lag: float | Fraction = 1.0,
        fsync: bool = True,
        options: dict[str, str] | None = None,
        progress_seconds: float | Fraction | None = None,
    ) -> None:
        if container not in CONTAINER_FORMATS:
            raise BwcValueError(f"unknown container {container!r}; expected one of {sorted(CONTAINER_FORMATS)}")
        if not name or os.sep in name or (os.altsep and os.altsep in name) or name in (".", ".."):
            raise BwcValueError(f"segment name must be a plain file name part, got {name!r}")
        self.target = _as_fraction(target_seconds, "target_seconds")
        self.max_lag = _as_fraction(max_lag, "max_lag")
        self.container = container
        self.name = name
        self.fsync = bool(fsync)
        self.digests = tuple(digests)
        FileDigester(self.digests)  # validates the algorithm names
        self.streams = list(streams)
        if not self.streams:
            raise BwcValueError("a segmenter needs at least one stream")
        if any(not isinstance(s, StreamInfo) for s in self.streams):
            raise BwcTypeError("streams must be StreamInfo objects")
        self._info = {s.index: s for s in self.streams}
        if len(self._info) != len(self.streams):
            raise BwcValueError("stream indices must be unique")
        for s in self.streams:
            if s.kind in ("video", "audio") and s.codec not in SUPPORTED_CODECS:
                raise UnsupportedCodecError(
                    f"stream {s.index}: codec {s.codec!r} is not supported; supported: {sorted(SUPPORTED_CODECS)}"
                )
            if s.template is None:
                raise ContainerError(f"stream {s.index}: no template to copy codec configuration from")
        self.options = options
        self._check_container()
        self.out_dir = os.fspath(out_dir)
        os.makedirs(self.out_dir, exist_ok=True)
        if os.path.islink(self.out_dir):
            raise ContainerError(f"{self.out_dir}: is a link; segments are never written through one")

        video = [s.index for s in self.streams if s.kind == "video"]
        audio = [s.index for s in self.streams if s.kind == "audio"]
        #: The stream whose keyframes decide the cuts.
        self.master: int = (video or audio or [self.streams[0].index])[0]
        self._master_is_video = bool(video)
        self._others = len(self.streams) - 1
        # Exact integer "ticks" of 1/L s, L = LCM of the time base denominators.
        self._scale = math.lcm(*(s.time_base.denominator for s in self.streams))
        self._factor_cache: dict[tuple[int, int], Any] = {}
        self._tb_cache: dict[int, tuple[Fraction, Any]] = {}
        self._target_ticks = self._to_ticks_factor(self.target)
        self._lag_ticks = self._to_ticks_factor(self.max_lag)
        #: Seconds of master-stream time between progress snapshots (None: none taken).
        self.progress_seconds = None if progress_seconds is None else _as_fraction(progress_seconds, "progress_seconds")
        self._progress_ticks = None if self.progress_seconds is None else self._to_ticks_factor(self.progress_seconds)
        #: Prefixes of the segment being written, for the caller to attest (oldest first);
        #: filled by push() as the hashing threads finish them.
        self.progress: deque[SegmentProgress] = deque()
        self._snapshots: deque[tuple[int, str, Any]] = deque()
        #: Streams the caller says are silent now (audio muted): an MP4 segment
        #: opened meanwhile has no track for them (see :meth:`_segment_streams`).
        self.silent: frozenset[int] = frozenset()
        self._force_cut = False

        self._pre_event = bool(pre_event)
        self._cur: _Writer | None = None
        self._old: _Writer | None = None
        self._cur_start: Any = 0
        self._master_max: Any = None
        self._pending: list[tuple[PacketRecord, Any, bool]] = []
        self._last_dts: dict[int, Any] = {}
        self._position = 0
        self._next_index = 0
        self._closed = False
        self._executor: ThreadPoolExecutor | None = None
        self._inflight: deque[Future[SegmentInfo]] = deque()
        #: Every finished segment, in order.
        self.segments: list[SegmentInfo] = []
        # Presentation measured from the first finished segment (finisher thread only).
        self._presentation: dict[int, dict[str, Any]] | None = None

    # -- setup helpers -----------------------------------------------------------

    def _check_container(self) -> None:
        """Fail at construction, not at the first packet, if the container cannot carry a stream
        (its kind, codec or header): see :func:`bwc_core.media.writers.preflight`."""
        preflight(self.streams, self.container, options=self.options)

    def _to_ticks_factor(self, seconds: Fraction) -> Any:
        value = seconds * self._scale
        return value.numerator if value.denominator == 1 else value

    def _factor(self, time_base: Fraction) -> Any:
        """Ticks per time-base unit (an int whenever the time base divides 1/LCM)."""
        key = (time_base.numerator, time_base.denominator)
        factor = self._factor_cache.get(key)
        if factor is None:
            value = time_base * self._scale
            factor = value.numerator if value.denominator == 1 else value
            self._factor_cache[key] = factor
        return factor

    def _sync_dir(self) -> None:
        try:
            fd = os.open(self.out_dir, os.O_RDONLY)
        except OSError:  # pragma: no cover - platforms without directory fds
            return
        try:
            os.fsync(fd)
        except OSError:  # pragma: no cover
            pass
        finally:
            os.close(fd)

    # -- public ------------------------------------------------------------------

    @property
    def pre_event(self) -> bool:
        """True while pushed packets count as pre-event (before :meth:`mark_live`)."""
        return self._pre_event

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def open_paths(self) -> list[str]:
        """Files being written now: partial until a SegmentInfo is returned for them."""
        return [w.path for w in (self._old, self._cur) if w is not None]

    def mark_live(self) -> None:
        """The pre-event packets have all been pushed; what follows is live."""
        self._pre_event = False

    def push(self, record: PacketRecord, /) -> SegmentInfo | None:
        """Add one packet (decode order per stream); returns a segment if one was completed.

        Completed means durable: a retired segment is finished (digests,
        fsync, content tree, sidecar) on a background thread so the caller
        never waits for storage, and its SegmentInfo comes back from the first
        push() after that, at most one per call; close() returns the rest.
        An error while finishing a segment (e.g. fsync failed) is raised by
        the push(), poll() or close() that would have returned it; the packet
        given to that push() has then already been accepted.
        """
        if self._closed:
            raise StateError("segmenter is closed")
        if not isinstance(record, PacketRecord):
            raise BwcTypeError(f"push() takes a PacketRecord, not {type(record).__name__}")
        return self._accept(record)

    def push_av(self, packet: Any, /) -> SegmentInfo | None:
        """:meth:`push` for a packet straight from a demuxer: no PacketRecord, no payload copy.

        The fast path for files (``bwc seal``): *packet* is an ``av.Packet``
        yielded by ``demux()`` of the container whose streams were declared
        (or of any container with the same time bases). Routing, cuts,
        validation and what is written are those of :meth:`push` with
        ``PacketRecord.from_av(packet)``: the same files, digests, content
        roots and sidecars, byte for byte. A demuxer flush packet (no dts, no
        data) is skipped. The packet is consumed: it is muxed as it is, and
        the muxer rewrites its timestamps; never pass a packet you still need.
        """
        if self._closed:
            raise StateError("segmenter is closed")
        try:
            stream = packet.stream_index
            dts = packet.dts
            pts = packet.pts
            src = packet.stream
        except AttributeError:
            raise BwcTypeError(f"push_av() takes an av.Packet, not {type(packet).__name__}") from None
        if dts is None:
            if packet.size == 0:
                return None  # demuxer flush packet
            packet.dts = dts = pts  # as a PacketRecord defaults it, so both paths mux the same
        info = self._info.get(stream)
        if info is None:
            raise PacketError(f"packet {self._position + 1}: stream {stream} was not declared to the segmenter")
        if pts is None:
            raise PacketError(f"packet {self._position + 1}: packet on stream {stream} has no pts")
        if src is not info.template:
            # Not from the declared demuxer: check what push() and the
            # content hasher would (kind, time base).
            kind = _AV_KIND.get(getattr(src, "type", None))
            if kind != info.kind:
                raise PacketError(f"packet {self._position + 1}: stream {stream} is {info.kind}, packet says {kind}")
            time_base = packet.time_base
            if time_base is None or Fraction(time_base) != info.time_base:
                raise PacketError(f"packet {self._position + 1}: time base {time_base} differs from "
                                  f"stream {stream}'s {info.time_base}")
        duration = packet.duration
        if duration is None:
            packet.duration = duration = 0
        # Flags beyond keyframe (discard, disposable, corrupt, trusted) or
        # side data would reach the muxer but not a PacketRecord's to_av().
        plain = not (packet.is_discard or packet.is_disposable or packet.is_corrupt or packet.is_trusted)
        if plain:
            for _ in packet.iter_sidedata():
                plain = False
                break
        return self._accept(_AvPacket(stream, info.kind, pts, dts, duration, info.time_base,
                                      packet.is_keyframe, packet, plain))

    def _accept(self, record: PacketRecord | _AvPacket) -> SegmentInfo | None:
        """Validate and route one packet (push() and push_av())."""
        stream = record.stream
        position = self._position + 1
        info = self._info.get(stream)
        if info is None:
            raise PacketError(f"packet {position}: stream {stream} was not declared to the segmenter")
        if record.kind != info.kind:
            raise PacketError(f"packet {position}: stream {stream} is {info.kind}, packet says {record.kind}")
        time_base = record.time_base
        cached = self._tb_cache.get(stream)
        if cached is not None and cached[0] is time_base:
            factor = cached[1]
        else:
            factor = self._factor(time_base)
            self._tb_cache[stream] = (time_base, factor)
        dts = record.dts * factor
        last = self._last_dts.get(stream)
        if last is not None and dts <= last:
            raise PacketOrderError(
                f"packet {position} (stream {stream}): dts {record.dts} x {record.time_base} s "
                f"does not follow the previous packet's"
            )
        is_master = stream == self.master
        if is_master and self._cur is None and self._master_is_video and not record.keyframe:
            raise PacketError(f"packet {position} (stream {stream}): a segment must start on a keyframe")
        pts = record.pts * factor
        pre = self._pre_event

        old = self._old
        if old is not None and (len(old.passed) >= self._others or pts >= old.cut_ticks + self._lag_ticks):
            self._retire_old()
            old = None

        if is_master:
            cur = self._cur
            if cur is None or (
                (record.keyframe or not self._master_is_video)
                and (pts - self._cur_start >= self._target_ticks or self._force_cut)
            ):
                if old is not None:  # only when target < max_lag
                    self._retire_old()
                self._cut(record, pts)
                cur = self._cur
            assert cur is not None
            cur.mux(record, pre, position)
            if self._progress_ticks is not None:
                if pts >= cur.progress_at and (record.keyframe or not self._master_is_video):
                    # A fragment boundary (format 2.10): the fragment before it
                    # is attested as soon as the muxer has written it.
                    cur.progress_at = pts + self._progress_ticks
                    cur.boundary = True
                if cur.boundary and cur.sink.size > cur.progress_size:
                    self._snapshot(cur)
            if self._master_max is None or pts > self._master_max:
                self._master_max = pts
            if self._pending:
                self._release_pending()
        elif old is not None and stream not in old.passed and pts < old.cut_ticks and stream in old.ostreams:
            old.mux(record, pre, position)
        else:
            if old is not None:
                old.passed.add(stream)
            cur = self._cur
            if (
                cur is None
                or self._pending
                and any(p[0].stream == stream for p in self._pending)
                or (
                    pts - self._cur_start >= self._target_ticks and (self._master_max is None or pts > self._master_max)
                )
            ):
                # Its segment is not known yet: the next cut's pts is unknown.
                self._pending.append((record, pts, pre))
                if cur is not None and pts - self._pending[0][1] >= self._lag_ticks:
                    # The master stream stalled (or lags by more than max_lag):
                    # stop waiting for it rather than hold packets without bound.
                    for rec, _, was_pre in self._pending:
                        cur.mux(rec, was_pre, position)
                    self._pending.clear()
            else:
                cur.mux(record, pre, position)
        # Accepted (written or waiting for its segment to be known).
        self._last_dts[stream] = dts
        self._position = position
        if self._snapshots:
            self._collect_progress()
        if self._inflight and self._inflight[0].done():
            return self._collect()
        return None

    def poll(self, timeout: float | None = 0.0) -> SegmentInfo | None:
        """The next completed segment not yet returned, waiting up to *timeout* s (None: until one is).

        Returns None when nothing completes in time or no segment is being
        finished. For a control thread that wants to journal segments as soon
        as they are durable, between pushes.
        """
        if not self._inflight:
            return None
        try:
            self._inflight[0].result(timeout)
        except FutureTimeout:
            return None
        except BaseException:  # noqa: BLE001 - re-raised by _collect
            pass
        return self._collect()

    def close(self) -> list[SegmentInfo]:
        """Finish every open segment and wait for all of them; returns those not yet returned."""
        if self._closed:
            return []
        # Prefixes not yet handed out need no attestation: the segments are being finished.
        self._snapshots.clear()
        infos: list[SegmentInfo] = []
        error: BaseException | None = None
        try:
            if self._pending:
                if self._cur is None:
                    first = min(self._pending, key=lambda p: p[1])
                    self._cut(first[0], first[1])
                assert self._cur is not None
                for record, _, pre in self._pending:
                    self._cur.mux(record, pre, self._position)
                self._pending.clear()
            # Closing: the segment records follow at once, no progress record is needed.
            if self._old is not None:
                writer, self._old = self._old, None
                self._retire(writer, attest=False)
            if self._cur is not None:
                writer, self._cur = self._cur, None
                self._retire(writer, attest=False)
        except BaseException as exc:  # noqa: BLE001 - finish what can be finished, then raise
            error = exc
        finally:
            self._closed = True
            for writer in (self._old, self._cur):
                if writer is not None:
                    writer.abort()
            self._old = self._cur = None
            while self._inflight:
                try:
                    infos.append(self._collect())
                except BaseException as exc:  # noqa: BLE001
                    error = error or exc
            if self._executor is not None:
                self._executor.shutdown()
                self._executor = None
        if error is not None:
            raise error
        return infos

    def __enter__(self) -> Segmenter:
        return self

    def __exit__(self, *exc: object) -> None:
        # Finish even after an error: what was written is valid evidence.
        self.close()

    # -- internals -----------------------------------------------------------------

    def _presentation_of(self, path: str, streams: Sequence[StreamInfo]) -> dict[int, dict[str, Any]]:
        """What the segment at *path*, just closed with *streams*, presents (finisher thread):
        measured once per writer, then reused (:func:`bwc_core.media.presentation.writer_presentation`);
        measured again when a segment holds a video stream the measured one did not."""
        kinds = {s.index: s.kind for s in streams}
        known = self._presentation
        if known is not None and any(k == "video" and i not in known for i, k in kinds.items()):
            known = None
        try:
            measured, reusable = writer_presentation(path, known, kinds)
        except MediaError as exc:
            raise ContainerError(f"{path}: cannot measure its presentation metadata ({exc})") from None
        if reusable is not None:
            self._presentation = reusable
        return measured

    def _segment_streams(self) -> list[StreamInfo]:
        """The streams a new segment declares: all, but in MP4 none that is silent now.

        FFmpeg's MP4 muxer writes its first moov (with ``delay_moov``) only
        once every track has a sample, and until then keeps every fragment in
        memory: a segment opened while audio is muted would reach the file
        only at its end. Only trailing streams (in index order) are left out,
        so the file's stream numbering stays the declared one.
        """
        if self.container != "mp4" or not self.silent:
            return self.streams
        ordered = sorted(self.streams, key=lambda s: s.index)
        waiting = {p[0].stream for p in self._pending}  # packets already accepted need their track
        keep = [s for s in ordered if s.index not in self.silent or s.index == self.master or s.index in waiting]
        if keep != ordered[:len(keep)]:
            return self.streams
        return keep

    def carries(self, stream: int) -> bool:
        """True if the segment being written has a track for *stream* (or none is open yet)."""
        return self._cur is None or stream in self._cur.ostreams

    def cut_at_next_keyframe(self) -> None:
        """Start a new segment at the next master keyframe, whatever its length (e.g. audio resumes)."""
        self._force_cut = True

    def _cut(self, record: PacketRecord, pts: Any) -> None:
        """Open the next segment at *record*; the current one becomes the lagging 'old'."""
        writer = _Writer(self, self._next_index, record.pts_seconds)
        self._next_index += 1
        self._force_cut = False
        previous = self._cur
        self._cur, self._cur_start = writer, pts
        if self._progress_ticks is not None:
            writer.progress_at = pts + self._progress_ticks
        if previous is not None:
            previous.cut_ticks = pts
            self._old = previous
        if self._pending:
            keep = self._pending
            self._pending = []
            for rec, t, pre in keep:
                old = self._old
                if old is not None and rec.stream not in old.passed and t < pts and rec.stream in old.ostreams:
                    old.mux(rec, pre, self._position)
                else:
                    if old is not None:
                        old.passed.add(rec.stream)
                    self._pending.append((rec, t, pre))
            # What is left is at or after the cut: push() releases it into
            # the new segment once the master stream has passed it.
        self._master_max = None

    def _snapshot(self, writer: _Writer) -> None:
        """Queue a :class:`SegmentProgress` of what *writer*'s file holds now.

        Taken after the first master-stream packet by which the muxer has
        written the bytes before a fragment boundary (a master keyframe
        ``progress_seconds`` or more after the previous boundary): the
        muxers write whole fragments (MP4), clusters (Matroska) or PES
        packets (MPEG-TS) per call, so the prefix ends on a boundary a
        demuxer reads up to.
        """
        assert self._progress_ticks is not None
        # The hashing thread fsyncs and digests the prefix when it gets there
        # (it is hashing those bytes already): the capture thread does not wait.
        snap = writer.sink.snapshot_async(sync=self.fsync)
        writer.progress_size = snap.size
        writer.boundary = False
        self._snapshots.append((writer.index, writer.path, snap))

    def wait_progress(self, timeout: float | None = None) -> None:
        """Wait up to *timeout* s (None: until done) for the prefixes being digested; then in :attr:`progress`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for _, _, snap in list(self._snapshots):
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not snap.done.wait(left):
                break
        self._collect_progress()

    def _collect_progress(self) -> None:
        """Move the snapshots the hashing threads have finished to :attr:`progress`, in order."""
        snaps = self._snapshots
        while snaps and snaps[0][2].done.is_set():
            index, path, snap = snaps.popleft()
            size, digests = snap.result()  # raises MediaError if the fsync failed
            self.progress.append(SegmentProgress(index, path, size, digests))

    def _release_pending(self) -> None:
        """Mux pending packets now known to fall before the next cut (pts <= latest master pts)."""
        cur, limit = self._cur, self._master_max
        assert cur is not None
        keep: list[tuple[PacketRecord, Any, bool]] = []
        blocked: set[int] = set()
        for item in self._pending:
            rec, t, pre = item
            if rec.stream not in blocked and t <= limit:
                cur.mux(rec, pre, self._position)
            else:
                blocked.add(rec.stream)
                keep.append(item)
        self._pending = keep

    def _retire_old(self) -> None:
        writer, self._old = self._old, None
        assert writer is not None
        self._retire(writer)

    def _retire(self, writer: _Writer, *, attest: bool = True) -> None:
        """Close the muxer now; digests, fsync and content tree finish on the finisher thread.

        The capture thread never waits for storage: the SegmentInfo is
        returned by a later push() (or close()) once the file is durable.
        """
        writer.close_muxer()
        if attest and self._progress_ticks is not None and writer.sink.size > writer.progress_size:
            # The segment's last fragment, attested now: its `segment` record
            # lands only once the finisher is done (content tree, sidecar,
            # fsyncs, presentation probe). Queued before the sink's close.
            self._snapshot(writer)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bwc-segment-finisher")
        self._inflight.append(self._executor.submit(writer.complete, self))

    def _collect(self) -> SegmentInfo:
        info = self._inflight.popleft().result()
        self.segments.append(info)
        return info


def _write_new(path: str, data: bytes, *, sync: bool = True) -> None:
    """Write *data* to a new file *path* (fsynced unless *sync* is false); never through a link.

    Whatever is already there (a stale sidecar, a planted symbolic or hard
    link) is unlinked first (the name only: a link's target is untouched) and
    the file is created with ``O_EXCL | O_NOFOLLOW``, so the write can never
    land in another file. A directory there is refused.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if stat.S_ISDIR(st.st_mode):
            raise ContainerError(f"{path}: is a directory; sidecar not written")
        os.unlink(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except FileExistsError:
        raise ContainerError(f"{path}: appeared while being replaced; not written") from None
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def salvage(
    path: str | os.PathLike[str],
    *,
    index: int,
    pre_event: bool = False,
    digests: Iterable[str] = ("blake3", "sha256"),
) -> SegmentInfo | None:
    """Describe what a crash left of a segment file, or None if nothing is readable.

    The file is never modified: its digests are those of the bytes as found.
    It is opened as :class:`MediaSource` does with ``salvage`` (fragments
    read front to back), and its content commitment covers the packets
    before the first one the demuxer flags corrupt, that cannot be framed
    (a sample cut off by the end of the file), has no pts or a dts going
    backwards, or before a demux error.
    ``content_root(path, salvage=True)`` gives the same root, and the
    verifier derives it so for a segment journaled as ``recovered``. The
    sidecar is written beside it as for any segment (fsynced; whatever is at
    its name, a stale sidecar or a link, is replaced, never written through).
    """
    path = os.fspath(path)
    container = next((c for c, ext in CONTAINER_EXTENSIONS.items() if path.endswith(ext)), None)
    if container is None:
        raise BwcValueError(f"{path}: not a segment file name (expected {sorted(CONTAINER_EXTENSIONS.values())})")
    try:
        src = MediaSource(path, salvage=True)
    except MediaError:
        return None  # not even a header survived
    spans = _Spans()
    count = 0
    with src:
        hasher = ContentHasher(src.streams, pts_bits=pts_bits_of(src.format), name=src.name)
        for record in src.packets(salvage=True):
            try:
                hasher.update(record)
            except CorruptMediaError:
                break  # a sample cut short that the demuxer did not flag (nothing stored)
            spans.add(record)
            count += 1
        if count == 0:
            return None
        result = hasher.finish()
        stream_infos = list(src.streams)
    streams = _with_presentation(stream_infos, _measured(path, salvage=True))
    leaves_path = path + ".leaves"
    _write_new(leaves_path, leaves_bytes(result))
    frozen = spans.freeze()
    return SegmentInfo(
        index=index,
        path=path,
        leaves_path=leaves_path,
        container=container,
        size=os.path.getsize(path),
        digests=file_digests(path, tuple(digests)),
        content_root=result.root,
        chunks=tuple(result.chunks),
        streams=streams,
        spans=frozen,
        cut=min(s.start for s in frozen),
        start=min(s.start for s in frozen),
        end=max(s.end for s in frozen),
        packet_count=count,
        pre_event=pre_event,
        content=result,
    )
