"""Sealing existing media files into signed evidence (``bwc seal``).

Each file becomes one recording (trigger ``import``): ``recording.open``,
its keyframe-aligned segments (stream-copied, hashed while written, each
journaled exactly as the camera's recorder journals them), ``recording.close``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from bwc_core._fileio import require_regular_file
from bwc_core.capture.recorder import lost_file_entry, segment_body, unjournaled_segments
from bwc_core.capture.segmenter import Segmenter
from bwc_core.errors import MediaError, TrustError
from bwc_core.format.content import ContentHasher
from bwc_core.format.journal import Journal
from bwc_core.format.keys import Certificate, Identity
from bwc_core.format.layout import JOURNAL_NAME, MEDIA_DIR
from bwc_core.media.presentation import check_carried
from bwc_core.media.source import MediaSource
from bwc_core.media.writers import preflight

__all__ = [
    "seal_files",
]


def seal_files(media: Sequence[str], *, key: str | Identity, cert: str, out: str, segment_seconds: int,
                container: str, passphrase: bytes | None = None,
                allow_open_key: bool = False) -> list[tuple[str, str, int]]:
    """Seal each media file as one recording (trigger ``import``) into the evidence dir.

    Every input is opened (its codecs, stream kinds and a container header
    checked) before anything is written, so a bad argument or a stream that
    cannot be sealed (:func:`bwc_core.media.writers.check_streams`) leaves the
    evidence untouched: no directory, journal or record is created. A file that
    fails mid-way still gets its ``recording.close`` (reason
    ``import_failed``) before the error is raised. ``key`` is a key file or
    an already loaded :class:`Identity`; ``allow_open_key`` loads a key file
    that group or others can access (refused by default). A FIFO or device given as media is
    refused before FFmpeg could block on it.
    """
    signer = key if isinstance(key, Identity) else Identity.load(key, passphrase,
                                                                 allow_open_permissions=allow_open_key)
    certificate = Certificate.load(cert)
    if certificate.key_id != signer.key_id:
        raise TrustError(f"{cert}: certificate is for key {certificate.key_id[:16]}…, "
                         f"not {signer.key_id[:16]}… in {key if isinstance(key, (str, os.PathLike)) else signer.id}")
    for path in media:
        require_regular_file(path, MediaError, "a media file")
    for path in media:
        with MediaSource(path) as src:
            ContentHasher(src.streams, name=str(path))  # refuses unsupported codecs up front
            preflight(src.streams, container, name=str(path))  # stream kinds, and the header
        check_carried(path, container)  # a rotation MPEG-TS would drop
    evidence = Path(out)
    if (evidence / JOURNAL_NAME).exists():
        journal = Journal.open(evidence, signer)
    else:
        journal = Journal.create(evidence, signer, certificate)
    results = []
    try:
        for path in media:
            rid = f"{journal.device}-{journal.seq + 1:06d}"
            with MediaSource(path) as src:
                journal.append("recording.open", {
                    "recording": rid, "trigger": "import", "officer": None,
                    "policy": {"pre_event_seconds": 0, "pre_event_audio": False,
                               "segment_seconds": segment_seconds, "container": container},
                    "pre_event": {"packets": 0, "first": None},
                    "source": {"name": os.path.basename(path)},
                })
                count = 0
                seg = None
                try:
                    seg = Segmenter(evidence / MEDIA_DIR / rid, streams=src.streams,
                                    target_seconds=segment_seconds, container=container, name=rid)
                    try:
                        # Demuxed packets go straight in (no PacketRecord, no
                        # payload copy); same files and roots as push().
                        for packet in src.av_packets():
                            if seg.push_av(packet) is not None:
                                count = _journal_segments(journal, evidence, rid, seg, count)
                    finally:
                        try:
                            seg.close()
                        finally:  # every segment finished, even when a later one failed
                            count = _journal_segments(journal, evidence, rid, seg, count)
                except BaseException:
                    # Files the failed import left are kept and signed (never journaled
                    # as segments, so the verifier reports them as lost, not inserted).
                    journaled = {f"{MEDIA_DIR}/{rid}/{Path(i.path).name}" for i in (seg.segments if seg else [])}
                    left = [lost_file_entry(evidence, p) for p in unjournaled_segments(evidence, rid, journaled)]
                    journal.append("recording.close", {"recording": rid, "reason": "import_failed",
                                                       "segments": count,
                                                       "lost": [e["file"] for e in left], "lost_files": left})
                    raise
                journal.append("recording.close", {"recording": rid, "reason": "import_complete",
                                                   "segments": count})
            results.append((str(path), rid, count))
    finally:
        journal.close()
    return results


def _journal_segments(journal: Journal, evidence: Path, rid: str, seg: Segmenter, count: int) -> int:
    """Journal the finished segments not journaled yet; returns how many are journaled now."""
    for info in seg.segments[count:]:
        journal.append("segment", segment_body(evidence, rid, info))
    return len(seg.segments)
