"""Safe reading of zip exhibits: limits on members, sizes and ratios; refusal of unsafe names."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bwc_core.errors import (
    ExhibitError,
    UnsafePathError,
)
from bwc_core.format.layout import safe_member

__all__ = [
    "safe_extract",
    "ZIP_EXTRACT_FLOOR",
    "ZIP_EXTRACT_RATIO",
    "ZIP_MAX_MEMBER",
    "ZIP_MAX_MEMBERS",
    "ZIP_MAX_RATIO",
    "ZIP_MAX_TOTAL",
    "extract_budget",
    "zlib_error",
]


#: Zip limits: members, total and per-member uncompressed size, compression ratio.
ZIP_MAX_MEMBERS = 10_000

ZIP_MAX_TOTAL = 16 * 2**30

ZIP_MAX_MEMBER = 8 * 2**30

ZIP_MAX_RATIO = 200

#: Extraction budget: the bytes a zip may yield in total, counted while each
#: member is streamed out (its declared sizes are attacker-written): this
#: multiple of the zip's own size, at least ZIP_EXTRACT_FLOOR, at most
#: ZIP_MAX_TOTAL. bwc-core stores media uncompressed and deflates only JSON
#: and text, so a real exhibit yields barely more than its size.
ZIP_EXTRACT_RATIO = 4

ZIP_EXTRACT_FLOOR = 64 * 2**20


def extract_budget(zip_size: int) -> int:
    """The default number of bytes :func:`safe_extract` lets a zip of ``zip_size`` bytes yield."""
    return min(ZIP_MAX_TOTAL, max(ZIP_EXTRACT_FLOOR, ZIP_EXTRACT_RATIO * zip_size))


def _check_zip(zf: zipfile.ZipFile, name: str) -> list[zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > ZIP_MAX_MEMBERS:
        raise UnsafePathError(f"{name}: {len(infos)} members (more than {ZIP_MAX_MEMBERS}); refused")
    seen: set[str] = set()
    total = 0
    for info in infos:
        member = info.filename
        if member.startswith("/") or (len(member) > 1 and member[1] == ":") or member.startswith("\\"):
            raise UnsafePathError(f"{name}: member {member!r} has an absolute path; refused")
        parts = member.replace("\\", "/").split("/")
        if ".." in parts:
            raise UnsafePathError(f"{name}: member {member!r} escapes the archive (..); refused")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UnsafePathError(f"{name}: member {member!r} is a symbolic link; refused")
        if info.flag_bits & 0x1:
            raise UnsafePathError(f"{name}: member {member!r} is encrypted; refused")
        if info.is_dir():
            continue
        if safe_member(member) is None:
            raise UnsafePathError(f"{name}: member {member!r} is not a plain relative path; refused")
        if member in seen:
            raise UnsafePathError(f"{name}: member {member!r} appears twice; refused")
        seen.add(member)
        if info.file_size > ZIP_MAX_MEMBER:
            raise UnsafePathError(f"{name}: member {member!r} is {info.file_size} bytes "
                                  f"(limit {ZIP_MAX_MEMBER}); refused")
        if info.file_size > (1 << 20) and info.file_size > ZIP_MAX_RATIO * max(1, info.compress_size):
            raise UnsafePathError(f"{name}: member {member!r} expands {info.file_size // max(1, info.compress_size)}"
                                  f"x (limit {ZIP_MAX_RATIO}x, a zip bomb?); refused")
        total += info.file_size
        if total > ZIP_MAX_TOTAL:
            raise UnsafePathError(f"{name}: members total more than {ZIP_MAX_TOTAL} bytes; refused")
    return infos


@contextmanager
def safe_extract(path: str | os.PathLike[str], *, max_bytes: int | None = None) -> Iterator[Path]:
    """Extract a zip exhibit into a fresh temporary directory (removed afterwards).

    Refuses, before writing anything, path traversal, absolute paths,
    symbolic links, duplicate names, encrypted members, and members or a
    declared total beyond the limits. While extracting, every byte a member
    yields is counted as it is streamed out: no member may yield more than it
    declares, and all members together no more than ``max_bytes`` (default
    :func:`extract_budget` of the zip's size); extraction stops at the first
    byte over, and what was written is removed. A path that is not a regular
    file (a FIFO, a device) is refused without being read. Raises
    :class:`UnsafePathError` (or :class:`ExhibitError` for an unreadable zip).
    """
    name = os.fspath(path)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise ExhibitError(f"{name}: cannot read zip file: {exc.strerror}") from None
    fh = os.fdopen(fd, "rb")
    try:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ExhibitError(f"{name}: not a regular file; expected a zip exhibit")
        zf = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        fh.close()
        if isinstance(exc, ExhibitError):
            raise
        raise ExhibitError(f"{name}: not a readable zip file ({exc})") from None
    except BaseException:
        fh.close()
        raise
    budget = extract_budget(st.st_size) if max_bytes is None else max_bytes
    tmp = Path(tempfile.mkdtemp(prefix="bwc-exhibit-"))
    try:
        with fh, zf:
            infos = _check_zip(zf, name)
            declared = sum(i.file_size for i in infos if not i.is_dir())
            if declared > budget:
                raise UnsafePathError(f"{name}: members declare {declared} bytes, more than the extraction "
                                      f"budget of {budget} bytes; refused")
            total = 0
            for info in infos:
                if info.is_dir():
                    continue
                dest = tmp / info.filename
                if not dest.resolve().is_relative_to(tmp.resolve()):
                    raise UnsafePathError(f"{name}: member {info.filename!r} escapes the archive; refused")
                dest.parent.mkdir(parents=True, exist_ok=True)
                written = 0
                # Errors reading the zip (damaged headers seek before the file's
                # start: OSError) are the zip's; errors writing dest are the disk's.
                damaged = (zipfile.BadZipFile, zlib_error(), EOFError, NotImplementedError, OSError, ValueError)
                try:
                    fin = zf.open(info)
                except damaged as exc:
                    raise ExhibitError(f"{name}: member {info.filename!r} is damaged ({exc})") from None
                with fin, open(dest, "xb") as fout:
                    while True:
                        try:
                            block = fin.read(1 << 20)
                        except damaged as exc:
                            raise ExhibitError(f"{name}: member {info.filename!r} is damaged ({exc})") from None
                        if not block:
                            break
                        written += len(block)
                        total += len(block)
                        if written > info.file_size:
                            raise UnsafePathError(f"{name}: member {info.filename!r} is larger than it "
                                                  "declares; refused")
                        if total > budget:
                            raise UnsafePathError(f"{name}: members yield more than the extraction budget "
                                                  f"of {budget} bytes (a zip bomb?); refused")
                        fout.write(block)
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def zlib_error() -> type:
    import zlib

    return zlib.error
