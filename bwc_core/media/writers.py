"""Writing packets into containers: muxer options, hashing sinks, payload rewrites."""

from __future__ import annotations

import builtins
import io
import math
import os
import queue
import threading
from collections.abc import Iterable
from fractions import Fraction
from typing import Any, BinaryIO, Protocol

from bwc_core.errors import (
    BwcValueError,
    ContainerError,
    MediaError,
    UnsupportedCodecError,
    UnsupportedStreamError,
)
from bwc_core.format.codec import StreamInfo
from bwc_core.media.packets import PacketRecord
from bwc_core.media.source import CONTAINER_FORMATS

__all__ = [
    "HashingSink",
    "add_streams",
    "check_streams",
    "container_options",
    "open_output",
    "write_packets",
    "CARRIED_TYPES",
    "Digester",
    "PayloadRewrite",
    "adts_streams",
    "payload_rewrites",
    "preflight",
]


def write_packets(
    path: str | os.PathLike[str],
    streams: Iterable[StreamInfo],
    packets: Iterable[PacketRecord],
    *,
    container: str = "mp4",
    options: dict[str, str] | None = None,
    live: bool = False,
) -> int:
    """Stream-copy *packets* into a new file at *path*; returns packets written.

    Streams are created from their templates (``add_stream_from_template``),
    so codec configuration is copied exactly. Each packet is converted with
    :meth:`PacketRecord.to_av`, so the muxer never rewrites a record. With
    ``live`` the muxer gets the segment options (:func:`container_options`:
    fragmented MP4, source timestamps kept as they are); otherwise plain
    options, or *options* when given.
    """
    import av

    if live and options is None:
        options = container_options(container, list(streams))
    streams = list(streams)
    out, mapping = open_output(path, container, streams, options=options or {})
    rewrites = payload_rewrites(streams, container)
    count = 0
    try:
        for record in packets:
            target = mapping.get(record.stream)
            if target is None:
                continue
            rewrite = rewrites.get(record.stream)
            payload = rewrite(record.payload, record.keyframe) if rewrite is not None else None
            if payload is not None:
                record = record.replace(payload=payload)
            out.mux(record.to_av(target))
            count += 1
    except av.FFmpegError as exc:
        raise ContainerError(f"{path}: mux failed at packet {count} ({exc})") from None
    finally:
        out.close()
    return count


def _lcm(a: int, b: int) -> int:
    return a * b // math.gcd(a, b)


def _mp4_movie_timescale(streams: Iterable[StreamInfo]) -> int:
    """A movie timescale in which every track's start offset is exact.

    The MP4 muxer writes each track's start offset (edit list) in the movie
    timescale, 1000 by default: audio starting 2.67 ms after video would be
    moved to 2 ms. The LCM of the track timescales keeps it exact.
    """
    scale = 1000
    for info in streams:
        if info.kind == "video":
            den = info.time_base.denominator
            while den < 10000:  # the MP4 muxer's own rule for video tracks
                den *= 2
        elif info.kind == "audio" and info.sample_rate:
            den = info.sample_rate
        else:
            den = info.time_base.denominator
        scale = _lcm(scale, den)
    return scale if scale < 2**31 else 1000


def container_options(container: str, streams: Iterable[StreamInfo]) -> dict[str, str]:
    """Muxer options for a live segment written to a forward-only sink.

    - MP4: fragmented at every video keyframe (one-second fragments without
      video), moov delayed to the first fragment so per-track start offsets
      (A/V alignment) survive (``empty_moov`` drops them), and an exact movie
      timescale.
    - MKV: live-style clusters (at most one second without video).
    - MKV and MPEG-TS: ``avoid_negative_ts=disabled``, so negative source
      timestamps are stored as they are instead of shifting the segment.
    - every container: ``flush_packets=1``, so bytes reach the file as soon
      as the muxer emits them and a power cut loses at most the fragment or
      cluster in flight.
    - MKV and MPEG-TS: ``max_interleave_delta=1`` (one microsecond): FFmpeg's
      interleaving queue (``av_interleaved_write_frame``) otherwise holds
      every packet until each stream has one queued, up to 10 s, so while a
      stream is silent (audio muted) video waited there instead of reaching
      the file. Both store absolute timestamps per block / PES, so the order
      the segmenter hands packets over in is fine as it is. MP4 keeps the
      queue: its muxer peeks into it for the next sample of each track to
      time a fragment's last sample (``trun`` stores durations, not
      timestamps), and an audio gap at a fragment boundary would otherwise be
      lost; the camera starts a segment without an audio track at a mute
      instead (see :class:`bwc_core.capture.segmenter.Segmenter`), so no MP4 track is
      ever silent for long.
    """
    streams = list(streams)
    if container not in CONTAINER_FORMATS:
        raise BwcValueError(f"unknown container {container!r}; expected one of {sorted(CONTAINER_FORMATS)}")
    has_video = any(s.kind == "video" for s in streams)
    options = {"flush_packets": "1"}
    if container == "mp4":
        options["movflags"] = "frag_keyframe+delay_moov"
        options["movie_timescale"] = str(_mp4_movie_timescale(streams))
        if not has_video:
            options["frag_duration"] = "1000000"
    else:
        # Keep the source timeline as it is, including negative timestamps
        # (AAC priming, B-frame dts): the default shift to zero would move one
        # segment's timeline against its neighbours'.
        options["avoid_negative_ts"] = "disabled"
        options["max_interleave_delta"] = "1"
        if container == "mkv":
            options["cluster_time_limit"] = "1000"
    return options


def add_streams(out: Any, streams: Iterable[StreamInfo]) -> dict[int, Any]:
    """Create one output stream per :class:`StreamInfo`; returns index -> output stream.

    Uses ``add_stream_from_template`` (``add_mux_stream`` mis-stores H.264 /
    AAC codec configuration when remuxing in PyAV 18). An HEVC stream going
    into MPEG-TS keeps only the parameter-set arrays of its hvcC record (see
    :func:`bwc_core.format.codec.hvcc_parameter_sets_only`).
    """
    mapping: dict[int, Any] = {}
    for info in streams:
        if info.template is None:
            raise ContainerError(f"stream {info.index}: no template to copy codec configuration from")
        try:
            mapping[info.index] = ostream = out.add_stream_from_template(info.template)
        except builtins.ValueError as exc:  # the format cannot hold this codec
            raise UnsupportedCodecError(
                f"stream {info.index}: {out.format.name} cannot hold codec {info.codec!r} ({exc})"
            ) from None
        if _takes_raw_aac(info, out.format.name):
            ostream.codec_context.extradata = info.extradata  # before the header is written
        elif info.codec == "hevc" and out.format.name == "mpegts" and info.extradata[:1] == b"\x01":
            from bwc_core.format.codec import hvcc_parameter_sets_only

            ostream.codec_context.extradata = hvcc_parameter_sets_only(info.extradata)
        if info.kind == "video" and out.format.name == "mp4":
            sar = _container_sar(info.template)
            if sar is not None:
                ostream.codec_context.sample_aspect_ratio = sar  # written as the pasp box
    return mapping


def _container_sar(template: Any) -> Fraction | None:
    """The sample aspect ratio a source's container declares over its codec's (an MP4 ``pasp``, a
    Matroska display size), or None. ``add_stream_from_template`` copies only the codec
    parameters, so without it a segment would show the codec's aspect ratio instead."""
    try:
        shown = template.sample_aspect_ratio  # the container's, else the codec parameters'
        codec = template.codec_context.sample_aspect_ratio
    except Exception:  # noqa: BLE001 - not a video stream of a demuxer
        return None
    if not shown or shown <= 0 or (codec and shown == codec):
        return None
    return Fraction(shown)


def _takes_raw_aac(info: StreamInfo, format_name: str) -> bool:
    """True for ADTS AAC (its demuxer gave no AudioSpecificConfig) going into a
    container that stores raw AAC + AudioSpecificConfig (MP4, Matroska)."""
    template = info.template
    return (info.codec == "aac" and bool(info.extradata) and format_name != "mpegts"
            and template is not None and not (template.codec_context.extradata or b""))


def adts_streams(streams: Iterable[StreamInfo], container: str) -> frozenset[int]:
    """Indices of the streams whose packets lose their ADTS header when muxed into *container*.

    FFmpeg's fragmented-MP4 muxer does not insert ``aac_adtstoasc`` itself:
    bwc-core gives such a stream the AudioSpecificConfig its ADTS headers carry
    (:class:`MediaSource` reads it) and writes each frame without its header,
    which is what the content format commits for AAC anyway.
    """
    fmt = CONTAINER_FORMATS.get(container, container)
    return frozenset(s.index for s in streams if _takes_raw_aac(s, fmt))


class PayloadRewrite:
    """How one stream's packets change on their way into a container; the leaves do not.

    * AAC with ADTS headers into MP4/Matroska: each frame loses its header
      (see :func:`adts_streams`) when it says what the stream's
      AudioSpecificConfig says; a header that says otherwise (another sample
      rate, channel configuration or profile) is kept, as the content format
      commits it with the frame (format 1.2) and FFmpeg decodes by it.
    * H.264/HEVC with an avcC/hvcC record into MPEG-TS: a keyframe that is
      neither an IDR/IRAP picture nor carries its own SPS (an open-GOP I frame,
      an intra-refresh recovery point) gets the record's parameter sets in
      front, in-band. FFmpeg's ``*_mp4toannexb`` filters insert them only
      before IDR/IRAP pictures, so a segment starting on such a keyframe
      would hold no parameter set at all: neither decodable on its own nor
      described by the configuration the device signed. Parameter sets are
      not packet content (format 1.2), so the packet's leaf is unchanged.

    Calling it with a payload and its keyframe flag returns the payload to
    write, or None when the packet goes as it is.
    """

    __slots__ = ("adts", "prefix", "hevc", "length_size")

    def __init__(self, adts: bool = False, prefix: bytes = b"", hevc: bool = False, length_size: int = 4,
                 extradata: bytes = b"") -> None:
        from bwc_core import _framing

        # The content format's own AAC framer: strips exactly the headers it does not commit.
        self.adts = _framing.Framer("aac", bytes(extradata)) if adts else None
        self.prefix = prefix
        self.hevc = hevc
        self.length_size = length_size

    def __call__(self, payload: Any, keyframe: bool) -> bytes | None:
        if self.adts is not None:
            return bytes(self.adts.canonical(payload))
        if not (self.prefix and keyframe):
            return None
        data = memoryview(payload).cast("B")  # NAL headers only: no copy unless rewritten
        size, pos, n = self.length_size, 0, len(data)
        while pos + size < n:
            length = int.from_bytes(data[pos:pos + size], "big")
            t = (data[pos + size] >> 1) & 0x3F if self.hevc else data[pos + size] & 0x1F
            if (self.hevc and (t == 33 or 16 <= t <= 23)) or (not self.hevc and t in (5, 7)):
                return None  # the filter inserts them, or they are there
            pos += size + length
        return self.prefix + data.tobytes()


def payload_rewrites(streams: Iterable[StreamInfo], container: str) -> dict[int, PayloadRewrite]:
    """The :class:`PayloadRewrite` of each stream whose packets change on their way into *container*."""
    from bwc_core.format.codec import h264_extradata_sets, hevc_extradata_sets

    streams = list(streams)
    raw_aac = adts_streams(streams, container)
    out = {s.index: PayloadRewrite(adts=True, extradata=s.extradata) for s in streams if s.index in raw_aac}
    if CONTAINER_FORMATS.get(container, container) != "mpegts":
        return out
    for s in streams:
        extradata = s.extradata
        if s.codec not in ("h264", "hevc") or extradata[:1] != b"\x01" or len(extradata) < 23:
            continue
        hevc = s.codec == "hevc"
        size = (extradata[21 if hevc else 4] & 3) + 1
        sets = hevc_extradata_sets(extradata) if hevc else h264_extradata_sets(extradata)
        if sets and size != 3 and all(len(nal) < 1 << (8 * size) for nal in sets):
            prefix = b"".join(len(nal).to_bytes(size, "big") + nal for nal in sets)
            out[s.index] = PayloadRewrite(prefix=prefix, hevc=hevc, length_size=size)
    return out


#: FFmpeg stream types a segment carries. Every other kind is refused before anything
#: is written (docs/camera.md "Stream kinds"): none of them survives a segment round trip
#: as what it was, so sealing it would give evidence that does not verify, or that
#: verifies while no longer presenting what the source presented.
CARRIED_TYPES = frozenset({"video", "audio"})

_REFUSED_WHY = {
    ("subtitle", "mp4"): "the MP4 muxer adds empty samples between cues, packets the device never signed, "
                         "so the segment would not verify",
    ("subtitle", "mkv"): "a cue's display time is its packet duration, which the content commitment does not "
                         "cover (format 1.7), so a cue could be stretched or cut short undetected; and Matroska "
                         "holds only its own subtitle codecs",
    ("subtitle", "ts"): "MPEG-TS keeps it only as an anonymous private data stream that no player shows",
    ("data", "mp4"): "the MP4 muxer cannot write a copied data track (timecode, telemetry) as it was",
    ("data", "mkv"): "Matroska holds only audio, video and subtitles",
    ("data", "ts"): "MPEG-TS keeps it only as an anonymous private data stream (a timecode or telemetry "
                    "track loses its meaning)",
}


def check_streams(streams: Iterable[StreamInfo], container: str, *, name: str | None = None) -> None:
    """Refuse, before anything is written, a stream that a *container* segment cannot carry.

    Video and audio streams are carried (any number of each; their codecs are
    checked by the content framing). Subtitle and data streams (``mov_text``,
    a ``tmcd`` timecode, GPS or other telemetry) are refused with
    :class:`~bwc_core.errors.UnsupportedStreamError` naming the stream (index,
    FFmpeg type, codec), why, and how to leave it out.
    """
    fmt = CONTAINER_FORMATS.get(container)
    if fmt is None:
        raise BwcValueError(f"unknown container {container!r}; expected one of {sorted(CONTAINER_FORMATS)}")
    where = f"{name}: " if name else ""
    for s in streams:
        ftype = getattr(s.template, "type", None) or s.kind
        if ftype in CARRIED_TYPES and s.kind in CARRIED_TYPES:
            continue
        kind = "subtitle" if ftype == "subtitle" else "data"
        codec = s.codec if s.codec != "unknown" else "unknown (e.g. a tmcd timecode or telemetry track)"
        source = name or "IN"
        raise UnsupportedStreamError(
            f"{where}stream {s.index} ({kind}, codec {codec}) cannot be sealed into {container}: "
            f"{_REFUSED_WHY[(kind, container)]}. bwc-core seals video and audio streams only; leave it out "
            f"with a stream copy first, e.g. ffmpeg -i {source} -map 0 -map -0:{s.index} -c copy OUT, and seal OUT"
        )


def preflight(streams: Iterable[StreamInfo], container: str, *, options: dict[str, str] | None = None,
              name: str | None = None) -> None:
    """Everything that can be checked before a segment is written: the stream kinds
    (:func:`check_streams`) and a container header written to memory, so a muxer that
    refuses the streams fails here, not after evidence was started."""
    streams = list(streams)
    check_streams(streams, container, name=name)
    import av

    out, _ = open_output(io.BytesIO(), container, streams, options=options)
    try:
        out.start_encoding()
    except av.FFmpegError as exc:
        raise ContainerError(f"{name + ': ' if name else ''}cannot write a {container} header for these "
                             f"streams ({exc})") from None
    finally:
        try:
            out.close()
        except Exception:  # noqa: BLE001 - nothing was written anywhere
            pass


def open_output(
    target: str | os.PathLike[str] | BinaryIO,
    container: str,
    streams: Iterable[StreamInfo],
    *,
    options: dict[str, str] | None = None,
    buffer_size: int = 1 << 18,
) -> tuple[Any, dict[int, Any]]:
    """Open a muxer for *container* on *target* (a path or a writable file object).

    Returns ``(output container, {stream index: output stream})``. *options*
    default to :func:`container_options`; pass a :class:`HashingSink` as
    *target* to digest the bytes as they are written.
    """
    import av

    streams = list(streams)
    fmt = CONTAINER_FORMATS.get(container)
    if fmt is None:
        raise BwcValueError(f"unknown container {container!r}; expected one of {sorted(CONTAINER_FORMATS)}")
    if options is None:
        options = container_options(container, streams)
    where = target if isinstance(target, (str, os.PathLike)) else getattr(target, "name", "<stream>")
    try:
        if isinstance(target, (str, os.PathLike)):
            out = av.open(os.fspath(target), "w", format=fmt, options=options)
        else:
            out = av.open(target, "w", format=fmt, options=options, buffer_size=buffer_size)
    except (av.FFmpegError, OSError, builtins.ValueError) as exc:
        raise ContainerError(f"{where}: cannot open a {container} muxer ({exc})") from None
    try:
        return out, add_streams(out, streams)
    except BaseException:
        try:
            out.close()
        except Exception:  # noqa: BLE001 - header never written; nothing to keep
            pass
        raise


class Digester(Protocol):
    """What :class:`HashingSink` feeds: hashlib-style ``update`` plus ``hexdigests``."""

    def update(self, data: bytes, /) -> None: ...

    def hexdigests(self) -> dict[str, str]: ...


_STOP = object()


class _Snapshot:
    """A request, queued behind the bytes it covers, for the digests of a sink's prefix."""

    __slots__ = ("size", "sync", "name", "digests", "error", "done")

    def __init__(self, size: int, sync: bool, name: str) -> None:
        self.size, self.sync, self.name = size, sync, name
        self.digests: dict[str, str] | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()

    def result(self) -> tuple[int, dict[str, str]]:
        self.done.wait()
        if self.error is not None:
            raise MediaError(f"{self.name}: snapshot failed ({self.error})") from None
        assert self.digests is not None
        return self.size, self.digests

    def take(self, sink: HashingSink) -> None:
        try:
            if sink._error is not None:
                raise sink._error
            if self.sync:
                os.fsync(sink._fd)
            self.digests = dict(sink._digester.hexdigests())
        except BaseException as exc:  # noqa: BLE001 - raised by snapshot()
            self.error = exc
        finally:
            self.done.set()


class HashingSink:
    """A write-only, forward-only file that digests the bytes as the muxer writes them.

    Pass it to ``av.open(sink, "w", format=...)`` (or :func:`open_output`).
    ``seekable()`` is False, so FFmpeg never seeks: MKV is written live-style
    and MP4 must be fragmented (plain MP4 refuses to open). The digests are of
    exactly the bytes written, in order, never read back from disk.

    Seeks are refused, not handled: :meth:`seek` raises
    :class:`~bwc_core.errors.ContainerError` and poisons the sink, so
    :meth:`close` raises too instead of returning a digest that is not the
    file's. Bytes go to the file synchronously (``os.write``); hashing runs on
    a worker thread (hashlib and blake3 release the GIL), so it overlaps the
    muxing.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        digester: Digester,
        *,
        exclusive: bool = True,
        threaded: bool = True,
    ) -> None:
        self.name = os.fspath(path)
        # Never through a link: O_EXCL already refuses one; O_NOFOLLOW also
        # when overwriting (exclusive=False).
        flags = (os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
                 | (os.O_EXCL if exclusive else os.O_TRUNC))
        try:
            self._fd = os.open(self.name, flags, 0o644)
        except FileExistsError:
            raise ContainerError(f"{self.name}: already exists; bwc-core never overwrites a file") from None
        except OSError as exc:
            raise MediaError(f"{self.name}: cannot create ({exc.strerror})") from None
        self._digester = digester
        self._size = 0
        self._closed = False
        self._poisoned: str | None = None
        self._digests: dict[str, str] | None = None
        self._error: BaseException | None = None
        self._queue: queue.SimpleQueue[Any] | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._queue = queue.SimpleQueue()
            self._thread = threading.Thread(
                target=self._hash_worker, name=f"digest {os.path.basename(self.name)}", daemon=True
            )
            self._thread.start()

    def _hash_worker(self) -> None:
        assert self._queue is not None
        get, update = self._queue.get, self._digester.update
        while (data := get()) is not _STOP:
            if type(data) is _Snapshot:
                data.take(self)
                continue
            if self._error is None:
                try:
                    update(data)
                except BaseException as exc:  # noqa: BLE001 - re-raised by close()
                    self._error = exc

    # -- the file-object protocol PyAV uses ------------------------------------

    def write(self, data: bytes, /) -> int:
        """Write all of *data* at the end of the file and queue it for hashing."""
        if self._closed:
            raise ContainerError(f"{self.name}: write after close")
        if self._poisoned:
            raise ContainerError(f"{self.name}: {self._poisoned}")
        if type(data) is not bytes:
            data = bytes(data)  # the hashing thread needs an immutable copy
        view = memoryview(data)
        written = 0
        try:
            while written < len(view):
                written += os.write(self._fd, view[written:])
        except OSError as exc:
            self._poisoned = f"write failed at byte {self._size + written} ({exc.strerror})"
            raise MediaError(f"{self.name}: {self._poisoned}") from None
        self._size += written
        if self._queue is not None:
            self._queue.put(data)
        else:
            self._digester.update(data)
        return written

    def seek(self, offset: int, whence: int = 0) -> int:
        """Refuse: the digest covers bytes in write order, so rewriting them would falsify it."""
        self._poisoned = f"seek attempt (offset {offset}, whence {whence}) on a forward-only sink"
        raise ContainerError(f"{self.name}: {self._poisoned}")

    def tell(self) -> int:
        return self._size

    def seekable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def flush(self) -> None:
        """Nothing to do: every write already went to the OS."""

    # -- ours --------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._size

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def digests(self) -> dict[str, str] | None:
        """The hex digests once :meth:`close` has returned, else None."""
        return self._digests

    def sync(self) -> None:
        """``fsync`` what has been written so far (a power cut keeps it)."""
        os.fsync(self._fd)

    def snapshot(self, *, sync: bool = True) -> tuple[int, dict[str, str]]:
        """``(size, hex digests)`` of the bytes written so far: the file's prefix as it is now.

        The digests are those of exactly the first *size* bytes (the running
        hashers, not a re-read); with *sync* the prefix is ``fsync``-ed first,
        so an attestation of it never outlives the bytes after a power cut.
        Waits for the hashing thread to reach this point (it has been hashing
        the bytes as they were written).
        """
        snap = self.snapshot_async(sync=sync)
        return snap.result()

    def snapshot_async(self, *, sync: bool = True) -> _Snapshot:
        """:meth:`snapshot` without waiting: the hashing thread fills it in when it gets there.

        ``done`` (a ``threading.Event``) is set then; ``result()`` waits and
        returns ``(size, hex digests)`` or raises :class:`MediaError`.
        """
        if self._closed or self._poisoned:
            raise ContainerError(f"{self.name}: no snapshot of a closed or failed sink")
        snap = _Snapshot(self._size, sync, self.name)
        if self._queue is not None:
            self._queue.put(snap)
        else:
            snap.take(self)
        return snap

    def _stop_worker(self) -> None:
        if self._thread is not None:
            assert self._queue is not None
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    def close(self, *, sync: bool = True) -> dict[str, str]:
        """Finish hashing, ``fsync`` (unless ``sync=False``) and close; returns the hex digests."""
        if self._closed:
            if self._digests is None:
                raise ContainerError(f"{self.name}: sink was aborted")
            return self._digests
        self._stop_worker()
        try:
            if sync and not self._poisoned:
                os.fsync(self._fd)
        finally:
            os.close(self._fd)
            self._closed = True
        if self._poisoned:
            raise ContainerError(f"{self.name}: no digest: {self._poisoned}")
        if self._error is not None:
            raise ContainerError(f"{self.name}: hashing failed ({self._error})") from self._error
        self._digests = dict(self._digester.hexdigests())
        return self._digests

    def abort(self) -> None:
        """Close without digests (after a failure); the bytes written stay on disk."""
        if self._closed:
            return
        self._stop_worker()
        os.close(self._fd)
        self._closed = True

    def __enter__(self) -> HashingSink:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self.abort()
