"""Sealing existing media files into signed evidence (``bwc seal``).

Each file becomes one recording (trigger ``import``): ``recording.open``,
its keyframe-aligned segments (stream-copied, hashed while written, each
journaled exactly as the camera's recorder journals them), ``recording.close``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .content import ContentHasher
from .errors import TrustError
from .journal import JOURNAL_NAME, Journal
from .keys import Certificate, Identity
from .media import MediaSource
from .recorder import MEDIA_DIR, segment_body
from .segment import Segmenter

__all__ = ["seal_files"]


def seal_files(media: Sequence[str], *, key: str, cert: str, out: str, segment_seconds: int,
                container: str, passphrase: bytes | None) -> list[tuple[str, str, int]]:
    """Seal each media file as one recording (trigger ``import``) into the evidence dir.

    Every input is opened (and its codecs checked) before anything is
    written, so a bad argument leaves the evidence untouched. A file that
    fails mid-way still gets its ``recording.close`` (reason
    ``import_failed``) before the error is raised.
    """
    signer = Identity.load(key, passphrase)
    certificate = Certificate.load(cert)
    if certificate.key_id != signer.key_id:
        raise TrustError(f"{cert}: certificate is for key {certificate.key_id[:16]}…, "
                         f"not {signer.key_id[:16]}… in {key}")
    for path in media:
        with MediaSource(path) as src:
            ContentHasher(src.streams, name=str(path))  # refuses unsupported codecs up front
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
                try:
                    seg = Segmenter(evidence / MEDIA_DIR / rid, streams=src.streams,
                                    target_seconds=segment_seconds, container=container, name=rid)
                    try:
                        # Demuxed packets go straight in (no PacketRecord, no
                        # payload copy); same files and roots as push().
                        for packet in src.av_packets():
                            info = seg.push_av(packet)
                            if info is not None:
                                journal.append("segment", segment_body(evidence, rid, info))
                                count += 1
                    finally:
                        infos = seg.close()
                    for info in infos:
                        journal.append("segment", segment_body(evidence, rid, info))
                        count += 1
                except BaseException:
                    journal.append("recording.close", {"recording": rid, "reason": "import_failed",
                                                       "segments": count})
                    raise
                journal.append("recording.close", {"recording": rid, "reason": "import_complete",
                                                   "segments": count})
            results.append((str(path), rid, count))
    finally:
        journal.close()
    return results
