"""Type stub for the one-chunk BLAKE3 test hook (private; see src_cython/_blake3.pyx)."""

from typing import Any

MAX_INPUT: int

def hash_small(data: Any, *, derive_key_context: str | None = None) -> bytes: ...

def context_key(context: str) -> bytes: ...
def derive_key_small(key: bytes, data: bytes, /) -> bytes: ...
