"""Scoring alignment: RDMs and their comparison, CKA, noise ceilings, resampling."""

from .bootstrap import RESAMPLE, bootstrap_indices, resample_gram, resample_rdm
from .ceiling import spearman_brown, split_half_ceiling, split_halves
from .cka import CKA_KERNELS, center_gram, cka, cka_from_grams, linear_gram
from .layer_sweep import cka_sweep, rsa
from .rdm import PAIR, RDM_METHODS, compute_rdm, rdm_stimulus_ids, to_square, to_vector
from .rdm_comparison import RDM_COMPARISONS, compare_rdms

__all__ = [
    "CKA_KERNELS", "PAIR", "RDM_COMPARISONS", "RDM_METHODS", "RESAMPLE", "bootstrap_indices",
    "center_gram", "cka", "cka_from_grams", "cka_sweep", "rsa", "compare_rdms", "compute_rdm", "linear_gram",
    "rdm_stimulus_ids", "resample_gram", "resample_rdm", "spearman_brown", "split_half_ceiling",
    "split_halves", "to_square", "to_vector",
]
