"""Pretraining on spiking data: Neural Latents Benchmark metrics, baselines, masked and autoregressive models.

Binned spikes are ``(presentation, neuroid, time_bin)`` arrays of counts (the
loaders' output); rates are the same dims in counts per bin.  Held-out
neurons are named by ``neuroid_id``; trials are split by presentation.

- :func:`bits_per_spike`, :func:`co_bps`, :func:`fp_bps`, :func:`psth_r2`,
  :func:`behaviour_r2`, :func:`evaluate_rates` — the NLB metrics, equal to
  ``nlb_tools``; :func:`log_rate_r2` against known true rates.
- :class:`SmoothingBaseline`, :class:`PSTHBaseline` — the NLB smoothing
  baseline and the trial-averaged PSTH.
- :class:`MaskedSpikeModel` — masked modelling (NDT-style), multi-session.
- :class:`SpikeTokenModel`, :func:`tokenize`, :func:`detokenize` — the
  autoregressive spike-token model (Neuroformer-style).

Names are imported on first use (torch loads only with the models).
"""

from __future__ import annotations

from .._lazy import lazy_exports

#: Where each public name lives, imported when it is first used.
_LAZY = {
    "check_counts": ".arrays", "split_neurons": ".arrays", "split_trials": ".arrays", "held_out_ids": ".arrays",
    "select_neurons": ".arrays", "check_sessions": ".arrays",
    "bits_per_spike": ".metrics", "co_bps": ".metrics", "fp_bps": ".metrics", "psth_r2": ".metrics",
    "behaviour_r2": ".metrics", "evaluate_rates": ".metrics", "log_rate_r2": ".ground_truth",
    "SmoothingBaseline": ".smoothing_baseline", "PSTHBaseline": ".psth_baseline",
    "MaskedSpikeModel": ".masked_model",
    "SpikeTokenModel": ".autoregressive_model", "tokenize": ".tokens", "detokenize": ".tokens",
    "SpikeTokens": ".tokens",
}
__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
