"""Stub for the compiled pre-event ring (use bwc_core.buffer.PreEventBuffer)."""

from fractions import Fraction
from typing import Any

from bwc_core.media.packets import PacketRecord

class Ring:
    max_seconds: Fraction
    max_bytes: int
    max_packets: int
    keep_audio: bool
    def __init__(
        self,
        max_seconds: float | int | Fraction = 30.0,
        max_bytes: int = 67108864,
        keep_audio: bool = False,
        *,
        max_packets: int | None = None,
    ) -> None: ...
    def __len__(self) -> int: ...
    def push(self, packet: Any, /) -> None: ...
    def drain(self) -> list[PacketRecord]: ...
    def _counters(self) -> dict[str, Any]: ...
    def _held(self) -> list[tuple[int, int, int, int, bool, bytes]]: ...
