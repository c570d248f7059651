"""Representational similarity analysis: RDMs (:mod:`.rdm`, :mod:`.rdm_methods`), their comparison
(:mod:`.rdm_comparison`, :mod:`.comparison_methods`, :mod:`.whitened_comparisons`, :mod:`.kendall_sums`),
noise ceilings (:mod:`.noise_ceiling`), inference over stimuli and subjects (:mod:`.inference`,
:mod:`.model_tests`), noise normalisation (:mod:`.noise_normalisation`), RSA searchlights
(:mod:`.searchlight`) and rsatoolbox interoperability (:mod:`.rsatoolbox_interop`).

The public names are importable from :mod:`neuroalign.compare`.
"""
