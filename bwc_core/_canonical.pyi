"""Compiled canonical JSON encoder (src_cython/_canonical.pyx); use bwc_core.canonical."""

from typing import Any, Final

MAX_DEPTH: Final[int]

def encode(obj: Any, /) -> bytes | None:
    """Canonical JSON bytes of ``obj``; None if it holds a subclass of an allowed type.

    Raises CanonicalJSONError for a value that is not canonical JSON.
    """

def b64encode(data: bytes | bytearray | memoryview, /) -> bytes:
    """Standard padded base64 of a C-contiguous buffer (``binascii.b2a_base64`` without newline)."""
