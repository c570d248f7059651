"""Per-condition sums of trials' rates in one pass over the rates in their memory order."""

from __future__ import annotations

import numpy as np

from .._compiled import compiled

__all__ = ["condition_sums"]


def condition_sums(values: np.ndarray, index: np.ndarray, n_conditions: int) -> np.ndarray:
    """Sum the trials of each condition: ``out[c] = values[index == c].sum(axis=0)``.

    ``values`` is ``(trial, a, b)`` in any memory layout; the sum runs over it in memory order (the
    faster-varying of ``a`` and ``b`` innermost), reading every value once, with no copy.

    Examples
    --------
    >>> import numpy as np
    >>> values = np.arange(12.0).reshape(3, 2, 2)
    >>> condition_sums(values, np.array([0, 1, 0]), 2)[0].tolist()
    [[8.0, 10.0], [12.0, 14.0]]
    """
    swap = values.strides[1] < values.strides[2]
    stored = values.transpose(0, 2, 1) if swap else values
    sums = _sums(stored, np.ascontiguousarray(index, dtype=np.intp), n_conditions)
    return sums.transpose(0, 2, 1) if swap else sums


@compiled
def _sums(values, index, n_conditions):
    n_trials, n_a, n_b = values.shape
    out = np.zeros((n_conditions, n_a, n_b))
    for i in range(n_trials):
        target = out[index[i]]
        for a in range(n_a):
            row = values[i, a]
            out_row = target[a]
            for b in range(n_b):
                out_row[b] += row[b]
    return out
