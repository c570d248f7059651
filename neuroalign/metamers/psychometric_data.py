"""Counts correct per stimulus level: the checks every psychometric fit starts with.

A psychometric fit takes one row per stimulus level (or per block): the level
``x``, the number of correct answers ``n_correct`` and the number of trials
``n_trials``.  Rows are kept as given (two rows at one level are two blocks of
the likelihood, as in psignifit); nothing is pooled, dropped or reordered.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DataError

__all__ = ["check_psychometric_data", "counts_from_proportions"]


def check_psychometric_data(x: Any, n_correct: Any, n_trials: Any, *, source: str = "data"
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated ``(x, n_correct, n_trials)`` as float arrays, in the given order.

    Raises
    ------
    DataError
        Arrays of different lengths or not 1-D; a non-finite level; a count
        that is negative, not a whole number or not finite; zero trials at a
        level; more correct answers than trials; fewer than two distinct levels.
        The message names the rows (0-based).

    Examples
    --------
    >>> from neuroalign.metamers.psychometric_data import check_psychometric_data
    >>> check_psychometric_data([1, 2], [3, 4], [0, 5])
    Traceback (most recent call last):
    ...
    neuroalign.errors.DataError: data: zero trials at 1 level(s) (rows [0], x = [1.0]). Fix: leave out levels \
without trials, or check the n_trials column
    """
    arrays = []
    for name, values in (("x", x), ("n_correct", n_correct), ("n_trials", n_trials)):
        try:
            array = np.asarray(values, dtype=float)
        except (TypeError, ValueError) as exc:
            raise DataError(f"{name} is not numeric ({exc})", source=source, fix=f"pass numbers for {name}") from None
        if array.ndim != 1:
            raise DataError(f"{name} must be 1-D, got shape {array.shape}", source=source,
                            fix="pass one value per stimulus level")
        arrays.append(array)
    x, k, n = arrays
    if not (len(x) == len(k) == len(n)):
        raise DataError(f"x, n_correct and n_trials have different lengths ({len(x)}, {len(k)}, {len(n)})",
                        source=source, fix="pass one x, n_correct and n_trials per stimulus level")

    def rows(bad: np.ndarray, what: str, fix: str, show: np.ndarray | None = None) -> None:
        if bad.any():
            idx = np.flatnonzero(bad)
            values = (x if show is None else show)[idx][:10].tolist()
            raise DataError(f"{what} at {idx.size} level(s) (rows {idx[:10].tolist()}, "
                            f"{'x' if show is None else 'value'} = {values})", source=source, fix=fix)

    rows(~np.isfinite(x), "a stimulus level x that is not finite", "remove or correct those rows", show=x)
    for name, array in (("n_correct", k), ("n_trials", n)):
        rows(~np.isfinite(array), f"{name} that is not finite", f"give every level a whole-number {name}", show=array)
        rows(array < 0, f"a negative {name}", f"counts cannot be negative: correct {name}")
        rows(array != np.round(array), f"{name} that is not a whole number",
             "pass counts; for proportions use counts_from_proportions(proportion, n_trials)", show=array)
    rows(n == 0, "zero trials", "leave out levels without trials, or check the n_trials column")
    rows(k > n, "more correct answers than trials (n_correct > n_trials)", "check the n_correct and n_trials columns")
    if np.unique(x).size < 2:
        raise DataError(f"a psychometric function needs at least 2 distinct stimulus levels, got {np.unique(x).size}",
                        source=source, fix="add data at more stimulus levels")
    return x, k, n


def counts_from_proportions(proportion: Any, n_trials: Any, *, source: str = "proportion") -> np.ndarray:
    """Numbers correct from proportions correct and numbers of trials (``round(p·n)``, checked).

    Raises
    ------
    DataError
        A proportion outside [0, 1] or not finite, or one that is not a whole
        number of trials out of ``n_trials`` (the rows are named).

    Examples
    --------
    >>> from neuroalign.metamers.psychometric_data import counts_from_proportions
    >>> counts_from_proportions([0.5, 0.75], [10, 20]).tolist()
    [5.0, 15.0]
    """
    p = np.asarray(proportion, dtype=float)
    n = np.asarray(n_trials, dtype=float)
    bad = ~np.isfinite(p) | (p < 0) | (p > 1)
    if bad.any():
        idx = np.flatnonzero(bad)
        raise DataError(f"proportions outside [0, 1] (rows {idx[:10].tolist()}, values {p[idx][:10].tolist()})",
                        source=source, fix="pass proportions correct between 0 and 1")
    k = p * n
    off = np.abs(k - np.round(k)) > 1e-6 * np.maximum(n, 1)
    if off.any():
        idx = np.flatnonzero(off)
        raise DataError(f"proportion × n_trials is not a whole number (rows {idx[:10].tolist()}, "
                        f"{k[idx][:10].tolist()})", source=source,
                        fix="pass numbers correct, or the proportions of whole numbers of trials")
    return np.round(k)
