"""The verifier's file I/O: segment reads (digests and fMP4 commitment) and the forked prefetch."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bwc_core.media.fmp4 import Measured, measure

__all__ = [
    "Prefetch",
    "read_segment",
    "PREFETCH_ALGORITHMS",
    "lstat_regular",
    "new_hasher",
]


def new_hasher(name: str) -> Any:
    """A fresh single-threaded hasher for a digest name (``blake3``, hashlib's), or None."""
    if name == "blake3":
        import blake3

        return blake3.blake3(max_threads=1)
    import hashlib

    if name in hashlib.algorithms_guaranteed and not name.startswith("shake"):
        return hashlib.new(name)
    return None


def lstat_regular(path: str | os.PathLike[str]) -> tuple[bool, bool]:
    """(exists, is a link or special file): evidence paths are never followed."""
    try:
        st = os.lstat(path)
    except OSError:
        return False, False
    return True, not stat.S_ISREG(st.st_mode)


def read_segment(path: str | os.PathLike[str], algorithms: Sequence[str]) -> Measured:
    """A segment file read once for the verifier; never raises.

    Links and special files are not opened; a read error is kept in
    ``error``. Runs in the verifier's workers (threads or forked processes).
    """
    exists, link = lstat_regular(path)
    hashers = {}
    unknown = []
    for name in algorithms:
        h = new_hasher(name)
        if h is None:
            unknown.append(name)
        else:
            hashers[name] = h
    if not exists or link:
        m = Measured()
        m.exists, m.link = exists, link
    else:
        try:
            m = measure(path, hashers)
        except OSError as exc:
            m = Measured()
            m.error = exc.strerror or str(exc)
    m.unknown = unknown
    return m


def _fork_is_safe(multiprocessing: Any) -> bool:
    """Linux only: macOS offers fork, but its system frameworks (which FFmpeg
    may load) do not survive it."""
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


#: The digests ``bwc verify`` reads ahead (those bwc-core's writers sign).
PREFETCH_ALGORITHMS = ("blake3", "sha256")


class Prefetch:
    """Segment files of an evidence directory read ahead by forked workers.

    ``bwc verify`` starts this before it has imported the rest of bwc-core or
    parsed the journal, so the workers read and hash while the journal and
    certificates are checked; :func:`bwc_core.verify.verify_evidence` then
    :meth:`take` s each journaled file's result and uses :attr:`pool` for the
    rest. Every regular file under ``media/`` except sidecars is read (links
    are not followed); for one no record names, the reading serves only to
    tell whether it is a copy of a signed segment. Use as a context manager.
    """

    def __init__(self, root: str | os.PathLike[str], workers: int | None = None) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.root = Path(root)
        n = workers or max(1, min(8, os.cpu_count() or 2))
        self.pool = ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("fork"))
        self._futures: dict[str, Any] = {}
        try:
            for path in self._files(self.root / "media"):
                self._futures[os.path.normpath(path)] = self.pool.submit(
                    read_segment, path, PREFETCH_ALGORITHMS)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _files(top: Path) -> list[str]:
        out = []
        for dirpath, dirnames, filenames in os.walk(top):  # never follows links
            dirnames.sort()
            for name in sorted(filenames):
                path = os.path.join(dirpath, name)
                if not name.endswith(".leaves") and lstat_regular(path) == (True, False):
                    out.append(path)
        return out

    @classmethod
    def start(cls, root: str | os.PathLike[str]) -> Prefetch | None:
        """A prefetch of an evidence directory, or None where it does not apply
        (not a directory with a journal, a court exhibit, not Linux, one core,
        other threads running)."""
        import multiprocessing
        import threading

        p = Path(root)
        # The names are journal.JOURNAL_NAME, verify.EXHIBIT_MANIFEST and
        # recorder.MEDIA_DIR, spelled out: importing those modules here would
        # load them before the fork (a test holds them equal).
        if ((os.cpu_count() or 1) < 2 or not _fork_is_safe(multiprocessing)
                or threading.active_count() > 1  # forking beside other threads is unsafe
                or not p.is_dir() or not (p / "journal.jsonl").is_file()
                or (p / "exhibit.json").exists() or not (p / "media").is_dir()):
            return None
        return cls(p)

    def take(self, path: str | os.PathLike[str], algorithms: Sequence[str]) -> Any:
        """The future of *path*'s reading if it was read ahead with *algorithms*, else None."""
        if not set(algorithms) <= set(PREFETCH_ALGORITHMS):
            return None
        return self._futures.pop(os.path.normpath(path), None)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Prefetch:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
