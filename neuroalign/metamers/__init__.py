"""Metameric tests: model metamers, their validity and recognisability, observer models and
psychometric analysis.

Names are imported on first use, so ``import neuroalign.metamers`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Where each public name lives, imported when it is first used.
_LAZY: dict[str, str] = {}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
