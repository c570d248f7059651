"""Noise ceilings: how well could a perfect model score, given the data's noise?"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import xarray as xr

from ...data.schema import NEUROID, PRESENTATION, STIMULUS_ID, validate
from ...errors import ConfigError, DataError
from ...score import Score

__all__ = ["spearman_brown", "split_half_ceiling", "split_halves"]

SPLIT = "split"


def spearman_brown(r: np.ndarray | xr.DataArray | float, factor: float = 2.0):
    """Reliability of data ``factor`` times longer: k r / (1 + (k − 1) r).

    With ``factor=2`` this corrects a split-half correlation to the
    reliability of the full data (Spearman 1910; Brown 1910).

    Examples
    --------
    >>> from neuroalign.compare import spearman_brown
    >>> round(spearman_brown(0.5), 4)
    0.6667
    """
    return factor * r / (1 + (factor - 1) * r)


def split_halves(data: xr.DataArray, n_splits: int = 10, seed: int | np.random.Generator = 0):
    """Random halves of each stimulus's repetitions, averaged, for ``n_splits`` splits.

    Parameters
    ----------
    data : xarray.DataArray
        ``(presentation, neuroid)`` with every ``stimulus_id`` presented at
        least twice.
    n_splits : int
        Number of random splits.
    seed : int or numpy.random.Generator

    Returns
    -------
    (xarray.DataArray, xarray.DataArray)
        Two arrays ``(split, presentation, neuroid)``, one row per stimulus (in
        order of first presentation); for an odd number of repetitions the
        second half holds the extra one.
    """
    validate(data, dims=(PRESENTATION, NEUROID), name="data")
    if n_splits < 1:
        raise ConfigError(f"n_splits must be positive, got {n_splits}", source="n_splits", fix="pass n_splits >= 1")
    rng = np.random.default_rng(seed)
    codes, uniques = pd.factorize(pd.Index(data[STIMULUS_ID].values), sort=False)
    counts = np.bincount(codes)
    if counts.min() < 2:
        lonely = uniques[np.flatnonzero(counts < 2)[:3]].tolist()
        raise DataError(
            f"{int(np.sum(counts < 2))} stimuli are presented only once (e.g. {lonely}); "
            "a split-half ceiling needs repetitions",
            source="data", fix="keep only repeated stimuli, or use a ceiling across subjects",
        )
    values = data.transpose(PRESENTATION, NEUROID).values.astype(float)
    n_pres = len(codes)
    weights = np.zeros((2, n_splits, len(uniques), n_pres))
    for split in range(n_splits):
        order = np.lexsort((rng.random(n_pres), codes))  # rows grouped by stimulus, shuffled within
        sorted_codes = codes[order]
        starts = np.searchsorted(sorted_codes, np.arange(len(uniques)))
        rank = np.arange(n_pres) - starts[sorted_codes]
        in_first = rank < counts[sorted_codes] // 2
        weights[0, split, sorted_codes[in_first], order[in_first]] = 1
        weights[1, split, sorted_codes[~in_first], order[~in_first]] = 1
    weights /= weights.sum(axis=-1, keepdims=True)
    means = weights @ values  # (2, split, stimulus, neuroid)
    first_rows = np.unique(codes, return_index=True)[1]
    coords = {c: (PRESENTATION, data[c].values[first_rows]) for c in data.coords
              if data[c].dims == (PRESENTATION,) and c == STIMULUS_ID}
    coords.update({c: data[c] for c in data.coords if data[c].dims == (NEUROID,)})
    coords[SPLIT] = np.arange(n_splits)
    halves = [xr.DataArray(means[h], dims=(SPLIT, PRESENTATION, NEUROID), coords=coords) for h in range(2)]
    return halves[0], halves[1]


def split_half_ceiling(
    data: xr.DataArray,
    consistency: Callable[[xr.DataArray, xr.DataArray], xr.DataArray],
    *,
    n_splits: int = 10,
    seed: int | np.random.Generator = 0,
    metric: str = "split-half",
) -> Score:
    """Split-half noise ceiling with the Spearman–Brown correction (Brain-Score's convention).

    The repetitions of each stimulus are split at random into two halves; the
    ``consistency`` of the two half-averages is corrected with
    :func:`spearman_brown` to the reliability of the full data, and averaged
    over splits.

    Parameters
    ----------
    data : xarray.DataArray
        ``(presentation, neuroid)`` with repeated ``stimulus_id``.
    consistency : callable
        ``consistency(half_a, half_b)`` on two ``(split, presentation,
        neuroid)`` arrays, returning values with a ``split`` dim — e.g.
        ``lambda a, b: compare_rdms(compute_rdm(a), compute_rdm(b))`` or a
        per-neuroid Pearson r.  It must broadcast over ``split``.
    n_splits : int
    seed : int or numpy.random.Generator
    metric : str
        Name recorded on the Score.

    Returns
    -------
    Score
        Value: mean corrected consistency over splits (other dims kept);
        error: its standard deviation over splits; raw: per split.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.compare import compare_rdms, compute_rdm, split_half_ceiling
    >>> rng = np.random.default_rng(0)
    >>> signal = rng.normal(size=(20, 30))
    >>> data = create_assembly(np.concatenate([signal + 0.5 * rng.normal(size=signal.shape) for _ in range(4)]),
    ...                        stimulus_id=[f"s{i}" for i in range(20)] * 4)
    >>> c = split_half_ceiling(data, lambda a, b: compare_rdms(compute_rdm(a), compute_rdm(b)))
    >>> 0.8 < float(c) < 1.0
    True
    """
    half_a, half_b = split_halves(data, n_splits=n_splits, seed=seed)
    raw = spearman_brown(xr.DataArray(consistency(half_a, half_b)))
    if SPLIT not in raw.dims:
        raise ConfigError("the consistency function dropped the 'split' dim", source="consistency",
                          fix="make it broadcast over leading dims (compare_rdms and cka_from_grams do)")
    value = raw.mean(SPLIT)
    error = raw.std(SPLIT, ddof=1) if n_splits > 1 else None
    return Score(value, error=error, raw=raw, metric=metric,
                 params={"n_splits": n_splits, "correction": "spearman-brown"})
