"""Exact rescaling by powers of two, for scale-free measures whose sums of squares could overflow."""

from __future__ import annotations

import numpy as np

__all__ = ["unit_scale"]


def unit_scale(values: np.ndarray, axis: int | tuple[int, ...]) -> np.ndarray:
    """``values`` divided, per slice over ``axis``, by the power of two that brings its largest |value| into [0.5, 1).

    Exact in floating point (only the exponents change), so scale-free measures
    (correlations, CKA) are unchanged, while their sums of squares can no
    longer overflow or underflow (values of 1e200 or 1e-200).  An all-zero or
    empty slice is left as it is.

    Parameters
    ----------
    values : numpy.ndarray
        Floating-point values.
    axis : int or tuple of int
        The axes of one slice, e.g. ``-1`` for each pattern (row), ``(-2, -1)``
        for each matrix.
    """
    largest = np.abs(values).max(axis=axis, keepdims=True, initial=0.0)
    return np.ldexp(values, -np.frexp(largest)[1])
