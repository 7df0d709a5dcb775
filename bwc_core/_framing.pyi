"""Type stub for the compiled hot paths of the content format (private)."""

from typing import Any

from blake3 import blake3

PT: str

def codec_id(codec: str) -> int: ...

class Framer:
    codec: int
    length_size: int
    parameter_sets: set[bytes]
    adts_config: bytes | None
    def __init__(self, codec: str, extradata: bytes = b"", *, template: blake3 | None = None) -> None: ...
    def leaf(self, payload: Any, stream: int, flags: int) -> tuple[bytes, int]: ...
    def canonical(self, payload: Any) -> bytes | memoryview: ...

def merkle_root(leaves: Any, template: blake3) -> bytes: ...
