"""Encoding models: cross-validated ridge scores per layer (:mod:`.scoring`, with the estimator of
:mod:`.ridge`) and the encoding searchlight (:mod:`.searchlight`).

``neuroalign.compare.encoding`` was the module that is :mod:`.scoring` now: its names are exported here
(imported on first use), with the rest of the family's.
"""

from ..._lazy import lazy_exports

_LAZY = {
    **{name: ".scoring" for name in ("encoding_score", "encoding_sweep", "pearson_per_neuroid", "REGRESSIONS",
                                     "AGGREGATIONS")},
    **{name: ".ridge" for name in ("RidgeEncoder", "DEFAULT_ALPHAS")},
    **{name: ".searchlight" for name in ("searchlight_encoding", "SEARCHLIGHT_SCORINGS")},
}
__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
