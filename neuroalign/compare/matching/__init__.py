"""Model-vs-model comparisons of units and samples: unit correlations and unit matching across networks
(Li et al. 2015: :mod:`.unit_correlation`, :mod:`.neuron_matching`, :mod:`.sparse_prediction`,
:mod:`.unit_groups`) and relative representations (Moschella et al. 2023).

Public names are imported on first use.
"""

from ..._lazy import lazy_exports

_LAZY = {
    **{name: ".unit_correlation" for name in ("unit_correlation",)},
    **{name: ".neuron_matching" for name in ("one_to_one_matching", "semi_matching", "matching_profile",
                                             "MATCHINGS")},
    **{name: ".sparse_prediction" for name in ("sparse_prediction",)},
    **{name: ".unit_groups" for name in ("unit_groups",)},
}
__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
