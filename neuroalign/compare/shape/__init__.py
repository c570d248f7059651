"""Shape metrics (Williams et al. 2021): linear and permutation metrics, shape distances (:mod:`.metrics`).

``neuroalign.compare.shape`` was the module that is :mod:`.metrics` now: its names are exported here
(imported on first use).
"""

from ..._lazy import lazy_exports

_LAZY = {name: ".metrics" for name in ("LinearMetric", "PermutationMetric", "shape_distance",
                                       "pairwise_shape_distances", "SHAPE_METHODS", "SHAPE_DISTANCES")}
__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
