"""The canonical JSON domain check (src_cython/_canonical.pyx); use bwc_core.canonical."""

from typing import Any, Final

MAX_DEPTH: Final[int]

def in_domain(obj: Any, /) -> bool:
    """True when orjson's sorted-keys bytes of ``obj`` are its canonical JSON.

    Exact builtin dict (exact str keys), list, tuple, str, int in the signed
    64-bit range, bool and None, fewer than MAX_DEPTH container levels.
    """
