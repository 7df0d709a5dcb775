"""Verification: one engine for evidence directories and court exhibits.

- :mod:`bwc_core.verify.model`: the report (``Report``, ``RecordingReport``, ``SegmentReport``,
  ``ExhibitReport``);
- :mod:`bwc_core.verify.evidence`: the ordered steps of verifying an evidence directory;
- :mod:`bwc_core.verify.exhibit`: court exhibits (declaration, coverage, clips and range proofs);
- :mod:`bwc_core.verify.io`: segment reads and the forked prefetch; :mod:`bwc_core.verify.archive`:
  safe reading of zip exhibits.

:func:`verify_evidence` is the dispatcher: a court exhibit (a folder with ``exhibit.json``, or a
zip) goes to :func:`bwc_core.verify.exhibit.verify_exhibit`, anything else to
:func:`bwc_core.verify.evidence.verify_evidence`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bwc_core.errors import BwcValueError
from bwc_core.format.keys import RevocationList, Trust, TrustAnchors, UnsafeNoOrigin, require_trust
from bwc_core.format.layout import EXHIBIT_MANIFEST
from bwc_core.verify import evidence as _evidence
from bwc_core.verify.evidence import ProgressFn
from bwc_core.verify.model import ExhibitReport, RecordingReport, Report, SegmentReport

if TYPE_CHECKING:
    from bwc_core.verify.exhibit import is_exhibit, verify_exhibit

__all__ = [
    "ExhibitReport",
    "RecordingReport",
    "Report",
    "SegmentReport",
    "is_exhibit",
    "verify_evidence",
    "verify_exhibit",
]


def verify_evidence(
    path: str | os.PathLike[str],
    anchors: Trust,
    *,
    revocations: Iterable[RevocationList | str | os.PathLike[str]] | None = None,
    progress: ProgressFn | None = None,
    workers: int | None = None,
    follow_exhibit: bool = True,
    processes: bool = False,
    prefetched: Any = None,
    heads: Iterable[tuple[int, str]] = (),
) -> Report:
    """Verify an evidence directory or a court exhibit against ``anchors``; return the :class:`Report`.

    A court exhibit (folder with ``exhibit.json``, or a zip) is checked by
    :func:`bwc_core.verify.exhibit.verify_exhibit` unless ``follow_exhibit`` is false
    (the exhibit module, with zipfile and the report renderer, loads only then);
    everything else by :func:`bwc_core.verify.evidence.verify_evidence`, which
    documents the arguments. ``anchors`` is required and never ``None``:
    :class:`bwc_core.format.keys.TrustAnchors`, or
    :data:`bwc_core.format.keys.UNSAFE_NO_ORIGIN` to skip the origin checks on
    purpose (reported as the warning ``origin.unchecked``).
    """
    if not isinstance(anchors, (TrustAnchors, UnsafeNoOrigin)):
        require_trust(anchors, "verify_evidence")  # raises BwcTypeError, before any file is read
    root = Path(path)
    heads = list(heads)
    if follow_exhibit and root.exists() and (root.is_file() or (root / EXHIBIT_MANIFEST).is_file()):
        from bwc_core.verify.exhibit import is_exhibit, verify_exhibit

        if is_exhibit(root):  # a court exhibit (folder with exhibit.json, or .zip)
            if heads:
                raise BwcValueError(f"{root}: an exhibit holds a journal excerpt; known heads apply to the "
                                    "device's evidence directory")
            return verify_exhibit(root, anchors, revocations=revocations, progress=progress)
    return _evidence.verify_evidence(path, anchors, revocations=revocations, progress=progress, workers=workers,
                                     follow_exhibit=follow_exhibit, processes=processes, prefetched=prefetched,
                                     heads=heads)


def __getattr__(name: str) -> Any:
    if name in ("is_exhibit", "verify_exhibit"):  # loads zipfile and the exhibit checks only when asked
        from bwc_core.verify import exhibit

        return getattr(exhibit, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
