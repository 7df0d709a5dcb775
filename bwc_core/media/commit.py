"""The content commitment of a file as FFmpeg demuxes it (MediaSource -> ContentHasher)."""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Any

from bwc_core.errors import (
    BwcError,
    CorruptMediaError,
)
from bwc_core.format.content import ContentHasher, ContentResult, pts_bits_of
from bwc_core.media.source import MediaSource

__all__ = [
    "content_root",
    "demux_content",
]


def content_root(
    path: str | os.PathLike[str], *, salvage: bool = False, problems: list[str] | None = None
) -> ContentResult:
    """Re-demux any media file and return its content commitment.

    Timing is committed as the file stores it: each stream's time base and
    demuxed pts (MPEG-TS: wrapped to 33 bits, see :func:`pts_bits_of`).
    With ``salvage`` (a segment cut short by a crash, journaled as
    ``recovered``) the file is opened as :class:`MediaSource` does with
    ``salvage`` and the commitment covers the packets before the first one
    the demuxer flags corrupt, that cannot be framed (a sample cut off by
    the end of the file), has no pts or a dts going backwards, or before a
    demux error; see
    :func:`bwc_core.capture.segmenter.salvage`.

    Packets are hashed straight from the demuxer's buffers (no
    :class:`PacketRecord`, no payload copy); the result is byte-identical to
    feeding ``MediaSource.packets()`` to a :class:`ContentHasher`. The
    per-packet leaves and committed pts are ``result.packets`` (tree order:
    :class:`PacketLeaf` rows with chunk, stream, flags, size, pts, leaf).

    For a verifier that must name damage rather than stop at it, pass a list
    as *problems*: a packet that cannot be framed (cut NAL unit) is then
    skipped, and a demux error, a missing pts or a dts going backwards ends
    the demux; each appends its message to *problems* instead of raising.
    """
    with MediaSource(path, salvage=salvage) as src:
        return demux_content(src, salvage=salvage, problems=problems)


def demux_content(src: MediaSource, *, salvage: bool = False, problems: list[str] | None = None,
                   origin: Fraction | None = None) -> ContentResult:
    """The content commitment of an open :class:`MediaSource` (see :func:`content_root`).

    The one demux loop behind :func:`content_root` and the verifier, which
    opens its sources with its own probe options.
    """
    import av

    from bwc_core.media.source import STORES_DTS

    tolerant = problems is not None
    hasher = ContentHasher(src.streams, pts_bits=pts_bits_of(src.format), name=src.name)
    check = any(f in STORES_DTS for f in src.format.split(","))
    update = hasher.update_av
    position = 0
    # Matroska blocks FFmpeg reports without pts because their stored time is negative (format
    # 1.13): an open GOP's leading pictures after a stream copy. Salvage keeps its rule (1.14).
    matroska = not salvage and src.path is not None and "matroska" in src.format.split(",")
    # A verifier hears which packets an MP4 edit list hides (never presented, format 1.11).
    hidden: list[int] | None = [] if tolerant and {"mov", "mp4"} & set(src.format.split(",")) else None
    try:
        for packet in src._container.demux():
            if hidden is not None and packet.is_discard:
                stored = len(hasher)
                state = update(packet, position + 1, check, salvage, problems)
                if len(hasher) > stored:
                    hidden.append(stored)
            else:
                try:
                    state = update(packet, position + 1, check, salvage, problems)
                except CorruptMediaError:
                    if not (matroska and _stored_leading_pts(src, hasher, packet)):
                        raise
                    state = update(packet, position + 1, check, salvage, problems)
            if state < 0:
                if tolerant:
                    # Salvage commits the packets before this one; a verifier must
                    # still hear that the file goes on (section 1.13).
                    problems.append(f"{src.name}: salvage stopped at packet {position + 1} "  # type: ignore[union-attr]
                                    f"(stream {packet.stream_index}): flagged corrupt, cut short, without "
                                    "pts or with a dts going backwards")
                break
            position += state
    except (av.FFmpegError, IndexError) as exc:
        # PyAV raises IndexError for a packet of a stream that appeared after the
        # file was opened (an MPEG-TS program added past the probe): undeclared.
        what = (f"packet {position + 1} belongs to a stream not declared when the file was opened"
                if isinstance(exc, IndexError) else f"demux failed after packet {position} ({exc})")
        error = CorruptMediaError(f"{src.name}: {what}")
        if tolerant:
            problems.append(str(error))  # type: ignore[union-attr]
        elif not salvage:
            raise error from None
    except (BwcError, OSError, ValueError) as exc:
        if not tolerant:
            raise
        problems.append(str(exc))  # type: ignore[union-attr]
    discarded: frozenset[tuple[int, int]] = frozenset()
    if hidden:
        wanted, seen, marks = set(hidden), {}, set()
        for i, row in enumerate(hasher.rows()):
            k = seen.get(row[0], 0)
            seen[row[0]] = k + 1
            if i in wanted:
                marks.add((row[0], k))
        discarded = frozenset(marks)
    result = hasher.finish(origin=origin)
    result.discarded = discarded
    return result


def _stored_leading_pts(src: MediaSource, hasher: ContentHasher, packet: Any) -> bool:
    """Give *packet* (no pts from FFmpeg's Matroska demuxer) the time the file stores when it is
    a leading picture of its video stream's first GOP (format section 1.13); False otherwise."""
    from bwc_core.media.source import stored_leading_pts

    if src.path is None:
        return False
    stream = packet.stream_index
    pts = stored_leading_pts(src.path, packet, hasher.keyframe_pts(stream),
                             video=any(s.index == stream and s.kind == "video" for s in src.streams))
    if pts is None:
        return False
    packet.pts = pts
    return True
