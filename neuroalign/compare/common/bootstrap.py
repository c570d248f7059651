"""Resampling stimuli with replacement: indices, resampled RDMs and Gram matrices, pair weights.

A bootstrap resample of ``n`` stimuli draws each stimulus ``c_i`` times.  Its
RDM lists every pair of drawn copies; pairs of two copies of one stimulus are
NaN (they carry no information, rsatoolbox's treatment), so the pair of
stimuli ``(i, j)`` appears ``c_i * c_j`` times.  Every comparison of two
resampled RDMs is therefore a *weighted* comparison of the original pair
vectors with weights ``w_ij = c_i c_j`` (:func:`~neuroalign.compare.pair_weights`,
``compare_rdms(..., weights=...)``).

:func:`counts_to_pair_weights` gives these weights as plain arrays;
:func:`~neuroalign.compare.rsa.comparison_methods.weighted_similarity` scores
thousands of resamples with them in one call (the registry's kernels).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ...errors import ConfigError
from ..rsa.rdm import ID_A, ID_B, PAIR, to_square

__all__ = ["bootstrap_indices", "resample_rdm", "resample_gram", "resample_counts", "RESAMPLE"]

RESAMPLE = "resample"


def bootstrap_indices(n: int, n_bootstrap: int, seed: int | np.random.Generator = 0) -> np.ndarray:
    """``(n_bootstrap, n)`` indices drawn with replacement from ``range(n)``.

    Examples
    --------
    >>> from neuroalign.compare import bootstrap_indices
    >>> bootstrap_indices(5, 3, seed=0).shape
    (3, 5)
    """
    if n_bootstrap < 2:
        raise ConfigError(f"n_bootstrap must be at least 2, got {n_bootstrap}", source="n_bootstrap",
                          fix="use e.g. n_bootstrap=1000")
    return np.random.default_rng(seed).integers(0, n, size=(n_bootstrap, n))


def resample_rdm(rdm: xr.DataArray, indices: np.ndarray) -> xr.DataArray:
    """RDMs of stimulus resamples, along a new leading ``resample`` dim.

    Entry (i, j) of a resample is the dissimilarity of stimuli ``indices[i]``
    and ``indices[j]``.  Pairs of two copies of the same stimulus carry no
    information (their dissimilarity is zero by construction) and are set to
    NaN, which :func:`~neuroalign.compare.compare_rdms` drops pairwise — rsatoolbox's treatment.
    Stimulus ids become resample positions (``"#0"``, ``"#1"``…), identical
    for every RDM resampled with the same ``indices``.
    """
    square = to_square(rdm)
    batch = [d for d in square.dims if d not in (ID_A, ID_B)]
    values = square.transpose(*batch, ID_A, ID_B).values
    n = indices.shape[1]
    rows, cols = np.triu_indices(n, k=1)
    first, second = indices[:, rows], indices[:, cols]  # (resample, pair)
    picked = values[..., first, second]  # (*batch, resample, pair)
    picked = np.where(first == second, np.nan, picked)
    picked = np.moveaxis(picked, -2, 0)
    labels = np.char.add("#", np.arange(n).astype(str))
    coords = {d: square[d] for d in batch if d in square.coords}
    coords.update({ID_A: (PAIR, labels[rows]), ID_B: (PAIR, labels[cols])})
    return xr.DataArray(picked, dims=(RESAMPLE, *batch, PAIR), coords=coords, attrs=dict(rdm.attrs))


def resample_gram(gram: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Gram matrices of stimulus resamples: (…, n, n) → (resample, …, n, n)."""
    picked = gram[..., indices[:, :, None], indices[:, None, :]]  # (..., resample, n, n)
    return np.moveaxis(picked, -3, 0)


def resample_counts(indices: np.ndarray, n: int) -> np.ndarray:
    """How often each of ``n`` items is drawn in each resample: ``(resample, n)`` ints.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import resample_counts
    >>> resample_counts(np.array([[0, 0, 2]]), 3).tolist()
    [[2, 0, 1]]
    """
    indices = np.asarray(indices)
    if indices.ndim != 2 or (indices.size and (indices.min() < 0 or indices.max() >= n)):
        raise ConfigError(f"indices must be a (resample, draw) array of integers in [0, {n})", source="indices",
                          fix="draw them with bootstrap_indices(n, n_bootstrap, seed)")
    offsets = n * np.arange(indices.shape[0])[:, None]
    return np.bincount((indices + offsets).ravel(), minlength=n * indices.shape[0]).reshape(-1, n)


def counts_to_pair_weights(counts: np.ndarray) -> np.ndarray:
    """Multiplicity of each stimulus pair in a resample: ``c_i c_j`` in ``np.triu_indices`` order.

    The one implementation of pair weights; :func:`~neuroalign.compare.pair_weights`
    labels it for ``compare_rdms(..., weights=...)``.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare.common.bootstrap import counts_to_pair_weights
    >>> counts_to_pair_weights(np.array([[2, 0, 1]])).tolist()  # pairs (0,1), (0,2), (1,2)
    [[0.0, 2.0, 0.0]]
    """
    counts = np.asarray(counts, dtype=float)
    rows, cols = np.triu_indices(counts.shape[-1], k=1)
    return np.take(counts, rows, axis=-1) * np.take(counts, cols, axis=-1)


def weighted_columns(w: np.ndarray) -> np.ndarray:
    """Per row of pair weights w (R, P), the columns a resample weighs first (in order), cut to the longest set (R, K).

    A stimulus bootstrap draws ~63% of the stimuli, so ~40% of the pairs carry
    weight; the columns past a row's own weighted ones weigh zero.
    """
    weighted = w > 0
    longest = max(int(weighted.sum(axis=-1).max()), 1)
    return np.argsort(~weighted, axis=-1, kind="stable")[:, :longest]
