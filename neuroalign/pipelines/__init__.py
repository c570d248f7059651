"""Whole studies: configuration in, scores and reports out.

The pipelines import torch and the scoring code, so they are imported on
first use (``from neuroalign.pipelines import run_demo`` works as usual):
reading and checking a configuration (:mod:`.config`) stays fast.
"""

from __future__ import annotations

from .._lazy import lazy_exports

__all__ = ["DemoResult", "run_demo", "run_metamer_study", "run_graph_pretraining"]

#: Where each public name lives, imported when it is first used.
_LAZY = {"DemoResult": ".demo", "run_demo": ".demo", "run_metamer_study": ".metamer_study",
         "run_graph_pretraining": ".graph_pretraining"}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
