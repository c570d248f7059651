"""Bootstrap resamples of a per-triplet credit over OBJECTS or SUBJECTS (never over triplets).

Triplets share objects (THINGS: 4.7 M triplets over 1,854 objects), so they
are not independent draws and a bootstrap over triplets gives intervals far
too narrow.  Two resampling units are honest:

- objects: draw the judged objects with replacement; a triplet then appears
  ``c_i c_j c_k`` times (the product of its three objects' draw counts, the
  triplet analogue of the pair weights ``c_i c_j`` of
  :mod:`neuroalign.compare.common.bootstrap`), and a resample's accuracy is the
  weighted mean credit;
- subjects: draw subjects with replacement; each triplet weighs its subject's
  draw count.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .._compiled import compiled
from ..compare.common.bootstrap import bootstrap_indices, resample_counts
from ..errors import DataError
from .indexing import check_triplets, used_objects

__all__ = ["object_resamples", "subject_resamples"]

_BLOCK = 64  # resamples per kernel call (the progress bar's step)


@compiled
def _weighted_sums(counts: np.ndarray, triplets: np.ndarray, credit: np.ndarray, num: np.ndarray,
                   den: np.ndarray) -> None:  # pragma: no cover - compiled
    """num[r] += Σ_n w[n, r] credit[n], den[r] += Σ_n w[n, r]; w[n, r] = c[a, r] c[b, r] c[c, r], counts (object, r)."""
    n_resamples = counts.shape[1]
    for n in range(triplets.shape[0]):
        a = counts[triplets[n, 0]]
        b = counts[triplets[n, 1]]
        c = counts[triplets[n, 2]]
        x = credit[n]
        for r in range(n_resamples):
            w = a[r] * b[r] * c[r]
            num[r] += w * x
            den[r] += w


def object_resamples(credit: Any, triplets: Any, *, n_bootstrap: int = 1000,
                     random_state: int | np.random.Generator = 0, progress: bool = False) -> np.ndarray:
    """Mean credit on bootstrap resamples of the judged objects, ``(n_bootstrap,)``.

    The objects that appear in ``triplets`` are drawn with replacement
    (:func:`~neuroalign.compare.bootstrap_indices`); triplet ``(i, j, k)``
    weighs ``c_i c_j c_k``.  A resample in which no triplet has all three
    objects drawn is NaN (:meth:`neuroalign.Score.from_resamples` skips it).

    Parameters
    ----------
    credit : array_like
        ``(n,)`` per-triplet credit (e.g. :func:`~neuroalign.triplets.scoring.odd_one_credit`).
    triplets : array_like
        ``(n, 3)`` object positions.
    n_bootstrap : int
    random_state : int or Generator
    progress : bool
        Show a progress bar.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.array([[0, 1, 2], [1, 2, 3], [0, 2, 3]])
    >>> r = object_resamples(np.array([1.0, 0.0, 1.0]), t, n_bootstrap=200)
    >>> r.shape, bool(np.nanmin(r) >= 0 and np.nanmax(r) <= 1)
    ((200,), True)
    """
    credit = np.asarray(credit, dtype=np.float64)
    triplets = np.asarray(triplets)
    if credit.shape != (len(triplets),) or len(triplets) == 0:
        raise DataError(f"need one credit per triplet, got {credit.shape} for {len(triplets)} triplets",
                        source="credit", fix="pass the per-triplet credit of the same triplets")
    triplets, _ = check_triplets(triplets, int(triplets.max()) + 1 if triplets.size else 0, source="triplets")
    objects, codes = used_objects(triplets, int(triplets.max()) + 1)
    rng = np.random.default_rng(random_state)
    draws = bootstrap_indices(len(objects), n_bootstrap, rng)
    counts = np.ascontiguousarray(resample_counts(draws, len(objects)).T, dtype=np.float64)  # (object, resample)
    num = np.zeros(n_bootstrap)
    den = np.zeros(n_bootstrap)
    with tqdm(total=n_bootstrap, disable=not progress, desc="object bootstrap", unit="resample") as bar:
        for start in range(0, n_bootstrap, _BLOCK):
            stop = min(start + _BLOCK, n_bootstrap)
            block_num, block_den = np.zeros(stop - start), np.zeros(stop - start)
            _weighted_sums(np.ascontiguousarray(counts[:, start:stop]), codes, credit, block_num, block_den)
            num[start:stop], den[start:stop] = block_num, block_den
            bar.update(stop - start)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def subject_resamples(credit: Any, subjects: Any, *, n_bootstrap: int = 1000,
                      random_state: int | np.random.Generator = 0) -> np.ndarray:
    """Mean credit on bootstrap resamples of subjects, ``(n_bootstrap,)``; each triplet weighs its subject's count.

    Raises
    ------
    DataError
        Fewer than two subjects, or not one subject label per triplet.

    Examples
    --------
    >>> import numpy as np
    >>> r = subject_resamples(np.array([1.0, 0.0, 1.0, 1.0]), ["a", "a", "b", "c"], n_bootstrap=100)
    >>> bool(np.all((r >= 0.5) & (r <= 1.0)))
    True
    """
    credit = np.asarray(credit, dtype=np.float64)
    labels = np.asarray(subjects)
    if labels.shape != credit.shape:
        raise DataError(f"need one subject per triplet, got {labels.shape} for {credit.shape[0]} triplets",
                        source="subjects", fix="pass the judgements' subject labels")
    codes, uniques = pd.factorize(labels, sort=False)
    if len(uniques) < 2:
        raise DataError(f"resampling subjects needs at least two subjects, the judgements have {len(uniques)}",
                        source="subjects", fix="resample objects instead (resample='objects')")
    sums = np.bincount(codes, weights=credit, minlength=len(uniques))
    sizes = np.bincount(codes, minlength=len(uniques)).astype(np.float64)
    rng = np.random.default_rng(random_state)
    counts = resample_counts(bootstrap_indices(len(uniques), n_bootstrap, rng), len(uniques)).astype(np.float64)
    return (counts @ sums) / (counts @ sizes)
