"""The CKA family: Gram matrices, HSIC and the CKA of two representations (:mod:`.core`), every pair of
layers in one pass (:mod:`.matrix`, with the tiled products of :mod:`.tiled`) and minibatch CKA
(:mod:`.minibatch`).

``neuroalign.compare.cka`` was the module that is :mod:`.core` now: its names are exported here (imported
on first use), with the rest of the family's.
"""

from ..._lazy import lazy_exports

_LAZY = {
    **{name: ".core" for name in ("cka", "hsic", "linear_gram", "rbf_gram", "center_gram", "cka_from_grams",
                                  "CKA_KERNELS", "CKA_BACKENDS")},
    **{name: ".matrix" for name in ("cka_matrix", "LAYER_A", "LAYER_B")},
    "MinibatchCKA": ".minibatch",
    **{name: ".tiled" for name in ("rows_per_block", "tiled_linear_products")},
}
__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
