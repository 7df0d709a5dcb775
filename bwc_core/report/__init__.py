"""Human-readable reports (self-contained HTML) of a verification."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Imported on first use (PEP 562): importing one module of the package loads only what it needs.
_EXPORTS = {
    "render_html": "html",
    "thumbnail_png": "html",
    "write_report_html": "html",
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
    from bwc_core.report.html import render_html, thumbnail_png, write_report_html

__all__ = [
    "render_html",
    "thumbnail_png",
    "write_report_html",
]
