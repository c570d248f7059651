"""Pretraining on spiking data: Neural Latents Benchmark metrics, baselines, masked and autoregressive models.

Binned spikes are ``(presentation, neuroid, time_bin)`` arrays of counts (the
loaders' output); rates are the same dims in counts per bin.  Held-out
neurons are named by ``neuroid_id``; trials are split by presentation.

Names are imported on first use (torch loads only with the models).
"""

from __future__ import annotations

from .._lazy import lazy_exports

#: Where each public name lives, imported when it is first used.
_LAZY = {
    "check_counts": ".arrays", "split_neurons": ".arrays", "split_trials": ".arrays",
    "held_out_ids": ".arrays",
}
__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
