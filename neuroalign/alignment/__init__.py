"""Representational alignment as a training signal: differentiable alignment losses and guidance.

- :class:`LinearCKALoss`, :class:`RBFCKALoss`, :class:`DebiasedCKALoss`,
  :class:`RDMCorrelationLoss` — ``1 − similarity`` between a layer's batch and a
  target representation (another network's, or brain rows), as torch modules;
  :func:`make_alignment_loss` picks one by name.
- :class:`GuidedTraining` — train a network with its task loss plus an alignment
  term to a frozen guide network's layers; :func:`guide_alignment` scores it.
- :func:`run_guidance_experiment` — a deep plain MLP trained on MNIST digits with and without
  guidance by a CNN (the ``guided_training`` pipeline kind and ``neuroalign alignment guide``).

Names are imported on first use (torch loads with them).
"""

from __future__ import annotations

from .._lazy import lazy_exports

#: Where each public name lives, imported when it is first used.
_LAZY: dict[str, str] = {
    "LinearCKALoss": ".losses", "RBFCKALoss": ".losses", "DebiasedCKALoss": ".losses",
    "RDMCorrelationLoss": ".losses", "ALIGNMENT_LOSSES": ".losses", "make_alignment_loss": ".losses",
    "GuidedTraining": ".guidance", "guide_alignment": ".guidance", "resolve_layer_pairs": ".guidance",
    "plain_mlp": ".experiment", "run_guidance_experiment": ".experiment", "check_guidance_settings": ".experiment",
    "GUIDANCE_DEFAULTS": ".experiment",
}
__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
