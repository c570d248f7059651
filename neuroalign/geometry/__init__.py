"""Analyses of one representation: activation sparsity, activation-pattern codes, abstraction, information.

- :func:`activation_sparsity`, :func:`layer_sparsity`, :func:`hoyer_sparsity`,
  :func:`gini_index` — fraction of zeros, Hoyer and Gini sparsity, kurtosis
  (the lazy-neuron analysis).
- :func:`binary_codes`, :func:`code_statistics`, :func:`layer_code_statistics`,
  :func:`hamming_distances`, :func:`class_hamming` — ReLU on/off patterns as codes.
- :func:`ccgp`, :func:`parallelism_score`, :func:`shattering_dimensionality` —
  the abstraction of a representation's geometry (Bernardi et al. 2020).
- :func:`layer_information`, :func:`information_plane` — I(X;T) and I(T;Y) of
  layers by binning, the kernel-density bound or KSG (:mod:`neuroalign.geometry.information`).

Names are imported on first use.
"""

from __future__ import annotations

from .._lazy import lazy_exports

#: Where each public name lives, imported when it is first used.
_LAZY: dict[str, str] = {
    "SPARSITY_MEASURES": ".sparsity", "hoyer_sparsity": ".sparsity", "gini_index": ".sparsity",
    "activation_sparsity": ".sparsity", "layer_sparsity": ".sparsity",
    "CODE_STATISTICS": ".activation_codes", "binary_codes": ".activation_codes", "code_counts": ".activation_codes",
    "hamming_distances": ".activation_codes", "class_hamming": ".activation_codes",
    "code_statistics": ".activation_codes", "layer_code_statistics": ".activation_codes",
    "ccgp": ".abstraction", "parallelism_score": ".abstraction", "shattering_dimensionality": ".abstraction",
    "labelled_conditions": ".conditions", "balanced_dichotomies": ".conditions", "Conditions": ".conditions",
    "layer_information": ".information.layers", "MI_METHODS": ".information.layers",
    "information_plane": ".information.plane", "ksg_mutual_information": ".information.ksg",
    "ksg_label_information": ".information.ksg", "kde_information": ".information.kernel",
    "binned_information": ".information.binning",
}
__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
