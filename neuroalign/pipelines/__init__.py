"""Whole studies: configuration in, scores and reports out.

The pipelines import torch and the scoring code, so they are imported on
first use (``from neuroalign.pipelines import run_demo`` works as usual):
reading and checking a configuration (:mod:`.config`) stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["DemoResult", "run_demo", "run_metamer_study", "run_graph_pretraining"]

#: Where each public name lives, imported when it is first used.
_LAZY = {"DemoResult": ".demo", "run_demo": ".demo", "run_metamer_study": ".metamer_study",
         "run_graph_pretraining": ".graph_pretraining"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
