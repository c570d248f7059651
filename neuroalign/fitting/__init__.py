"""What every fitted estimator of neuroalign shares.

- :mod:`neuroalign.fitting.base`: parameter checks that name the parameter,
  seeds split into independent streams, torch thread settings, the epoch bar.
- :mod:`neuroalign.fitting.state_files`: checkpoints and saved models as
  dictionaries of tensors and plain values, written atomically and read with
  ``torch.load(weights_only=True)``; a checkpoint resumes only the training
  that wrote it.

The graph, spike and triplet estimators build on these, so a bad parameter,
a seed or a stale checkpoint behaves the same way in every family.
"""
