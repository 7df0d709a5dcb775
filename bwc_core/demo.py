"""The built-in demo flow (``bwc demo`` / ``make demo``)."""

from __future__ import annotations

import os
from typing import TextIO


def run_demo(out: str | os.PathLike[str], *, stream: TextIO) -> int:
    """Run the demo into *out*; returns the exit code."""
    raise NotImplementedError("demo lands with the pre-event buffer")
