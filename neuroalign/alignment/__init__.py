"""Representational alignment as a training signal: differentiable alignment losses and guidance.

Names are imported on first use (torch loads with them).
"""

from __future__ import annotations

from .._lazy import lazy_exports

#: Where each public name lives, imported when it is first used.
_LAZY: dict[str, str] = {}
__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
