"""What several comparison families share: bootstrap resampling of stimuli (:mod:`.bootstrap`), split-half
ceilings (:mod:`.ceiling`), cross-validation splits (:mod:`.cv_splits`), layer sweeps and layer commitment
over RSA and CKA (:mod:`.layer_sweep`, :mod:`.layer_commitment`), searchlight spheres for the RSA and the
encoding searchlights (:mod:`.searchlight_grid`) and unit scaling (:mod:`.unit_scale`).

The public names are importable from :mod:`neuroalign.compare`.
"""
