"""How much a layer keeps about its inputs and labels: mutual-information estimators and the information plane.

- :func:`layer_information` — I(X;T) and I(T;Y) of one layer's activations,
  by one of :data:`MI_METHODS`: fixed or adaptive (equal-mass) binning, the
  kernel-density pairwise-distance bound, or the k-NN (KSG) estimators.
- :func:`information_plane` — the same for every layer at every training
  epoch, an ``(epoch, layer, quantity)`` array.
- The estimators on plain arrays: :func:`bin_activations`,
  :func:`pattern_entropy`, :func:`binned_information`;
  :func:`pairwise_distance_bound`, :func:`kde_information`;
  :func:`ksg_mutual_information`, :func:`ksg_label_information`.

Names are imported on first use.
"""

from __future__ import annotations

from ..._lazy import lazy_exports

#: Where each public name lives, imported when it is first used.
_LAZY = {
    "bin_activations": ".binning", "pattern_entropy": ".binning", "binned_information": ".binning",
    "BIN_STRATEGIES": ".binning",
    "pairwise_distance_bound": ".kernel", "kde_information": ".kernel", "KDE_BOUNDS": ".kernel",
    "ksg_mutual_information": ".ksg", "ksg_label_information": ".ksg",
    "layer_information": ".layers", "MI_METHODS": ".layers", "QUANTITIES": ".layers", "QUANTITY": ".layers",
    "information_plane": ".plane", "EPOCH": ".plane",
}
__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
