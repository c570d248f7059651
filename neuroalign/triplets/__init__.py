"""Triplet (odd-one-out) studies: scoring models against human choices, ceilings, alignment probes, designs.

- :func:`score_triplets` — a representation's odd-one-out accuracy on human
  judgements (expected credit for ties, the tie rate reported, a fitted
  temperature, CIs over objects or subjects); :func:`score_indices` on index form.
- :func:`repeated_triplet_ceiling`, :func:`leave_one_subject_out_ceiling`,
  :func:`normalised_score` — noise ceilings and (raw − 1/3)/(ceiling − 1/3).
- :func:`rdm_implied_choices`, :func:`score_rdm_implied` — RDM-implied choices
  of similarity-judgement RDMs and the scores of model RDMs or layers on them.
- :class:`LinearProbe`, :class:`GLocalProbe`, :func:`cross_validate_probe` —
  human-alignment probes, cross-validated over object folds.
- :func:`decorrelated_design` — triplets whose low- and high-level
  similarity differences are decorrelated.

Names are imported on first use (torch loads only with the probes).
"""

from __future__ import annotations

from .._lazy import lazy_exports

#: Where each public name lives, imported when it is first used.
_LAZY = {
    "score_triplets": ".scoring", "score_indices": ".scoring", "predict_odd_one": ".scoring",
    "odd_one_credit": ".scoring", "choice_probabilities": ".scoring", "fit_temperature": ".scoring",
    "TIE_POLICIES": ".scoring",
    "triplet_positions": ".indexing", "check_triplets": ".indexing", "pair_similarities": ".indexing",
    "repeated_triplet_ceiling": ".ceilings", "leave_one_subject_out_ceiling": ".ceilings",
    "normalised_score": ".ceilings",
    "all_triplets": ".rdm_choices", "rdm_implied_choices": ".rdm_choices", "implied_judgements": ".rdm_choices",
    "rdm_implied_ceiling": ".rdm_choices", "score_rdm_implied": ".rdm_choices",
    "LinearProbe": ".probes", "load_transform": ".probes", "GLocalProbe": ".glocal",
    "cross_validate_probe": ".object_folds", "select_lambda": ".object_folds",
    "assign_object_folds": ".object_folds",
    "decorrelated_design": ".design", "design_triplets": ".design", "design_diagnostics": ".design",
}
__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
