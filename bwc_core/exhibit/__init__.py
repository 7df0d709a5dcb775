"""Court exhibits: building (whole recordings, clips with range proofs), zipping, VERIFY.txt.

Verifying an exhibit is :func:`bwc_core.verify.verify_exhibit`."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Imported on first use (PEP 562): importing one module of the package loads only what it needs.
_EXPORTS = {
    "build_exhibit": "build",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:
    from bwc_core.exhibit.build import build_exhibit

__all__ = [
    "build_exhibit",
]
