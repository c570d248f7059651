"""One way to compile a numeric kernel with numba."""

from __future__ import annotations

import numba

__all__ = ["compiled"]


def compiled(function):
    """``numba.njit`` without the GIL, cached on disk; uncached where numba finds no writable cache folder
    (a read-only install and home directory: numba then refuses ``cache=True`` at import)."""
    try:
        return numba.njit(cache=True, nogil=True)(function)
    except RuntimeError:
        return numba.njit(nogil=True)(function)
