"""Resampling stimuli with replacement, for bootstrap confidence intervals."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import ConfigError
from .rdm import ID_A, ID_B, PAIR, to_square

__all__ = ["bootstrap_indices", "resample_rdm", "resample_gram", "RESAMPLE"]

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
    NaN, which :func:`compare_rdms` drops pairwise — rsatoolbox's treatment.
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
