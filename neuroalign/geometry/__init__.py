"""Analyses of one representation: activation sparsity, activation-pattern codes, abstraction, information.

Names are imported on first use.
"""

from __future__ import annotations

from .._lazy import lazy_exports

#: Where each public name lives, imported when it is first used.
_LAZY: dict[str, str] = {}
__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
