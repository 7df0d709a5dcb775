"""Compiled canonical JSON encoder (src_cython/_canonical.pyx); use bwc_core.canonical."""

from typing import Any, Final

MAX_DEPTH: Final[int]

def encode(obj: Any, /) -> bytes | None:
    """Canonical JSON bytes of ``obj``; None if it holds a subclass of an allowed type.

    Raises CanonicalJSONError for a value that is not canonical JSON.
    """

def b64encode(data: bytes | bytearray | memoryview, /) -> bytes:
    """Standard padded base64 of a C-contiguous buffer (``binascii.b2a_base64`` without newline)."""

def encode_pae(obj: Any, head: bytes, /) -> tuple[bytes, bytes] | None:
    """``(payload, head + b"%d " % len(payload) + payload)`` for canonical JSON ``payload`` of ``obj``.

    None when ``obj`` holds a subclass of an allowed type (as :func:`encode`).
    """

def dsse_line(head: bytes, payload: bytes, middle: bytes, sig: bytes, tail: bytes, /) -> bytes:
    """``head + base64(payload) + middle + base64(sig) + tail`` in one allocation."""
