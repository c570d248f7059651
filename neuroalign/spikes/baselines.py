"""Baselines for spike models, with the estimators' interface (``fit``, ``transform``, ``score``, ``save``/``load``).

- :class:`~neuroalign.spikes.smoothing_baseline.SmoothingBaseline`: the Neural Latents Benchmark's
  smoothing baseline (Gaussian-smoothed held-in spikes, a Poisson GLM per held-out neuron, the kernel
  width chosen on validation trials).
- :class:`~neuroalign.spikes.psth_baseline.PSTHBaseline`: each trial predicted by its condition's
  trial-averaged PSTH.
"""

from __future__ import annotations

from .psth_baseline import PSTHBaseline
from .smoothing_baseline import SmoothingBaseline

__all__ = ["SmoothingBaseline", "PSTHBaseline"]
