"""Model-vs-model comparisons of units and samples: unit correlations and unit matching across networks
(Li et al. 2015: :mod:`.correlation`, :mod:`.neuron_matching`, :mod:`.lasso_prediction`,
:mod:`.coclustering`) and relative representations (Moschella et al. 2023).

Public names are imported on first use; no module is named like a public name (a submodule, once
imported, would hide the function of the same name).
"""

from ..._lazy import lazy_exports

_LAZY = {
    **{name: ".correlation" for name in ("unit_correlation",)},
    **{name: ".neuron_matching" for name in ("one_to_one_matching", "semi_matching", "matching_profile",
                                             "MATCHINGS")},
    **{name: ".lasso_prediction" for name in ("sparse_prediction",)},
    **{name: ".coclustering" for name in ("unit_groups",)},
    **{name: ".relative" for name in ("relative_representation", "select_anchors", "farthest_point_indices",
                                      "knn_jaccard", "retrieval_mrr", "mean_cosine", "latent_similarity",
                                      "ANCHOR_METHODS", "LATENT_MEASURES")},
    **{name: ".relative_stitching" for name in ("StitchingReadout", "zero_shot_stitching")},
}
__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
