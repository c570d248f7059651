"""Binning estimators of a layer's information: discrete entropies of binned activation patterns.

Each unit's activation is cut into bins, and each sample's pattern of bin
indices (one per unit) is a discrete symbol.  With a deterministic network and
one distinct input per sample, the layer :math:`T` is a function of the input
:math:`X`, so :math:`I(X;T) = H(T_{binned})`, and
:math:`I(T;Y) = H(T_{binned}) - \\sum_y p(y)\\, H(T_{binned} \\mid Y = y)`
(Shwartz-Ziv & Tishby 2017).  All entropies are plug-in (maximum-likelihood)
entropies of the empirical pattern frequencies.

Two ways to bin:

- ``"fixed"``: ``bins`` equal-width bins per unit between ``value_range``
  (Shwartz-Ziv & Tishby: 30 bins on ``(-1, 1)`` for tanh units), or between
  each unit's own minimum and maximum when ``value_range`` is None;
- ``"adaptive"``: equal-mass bins per unit, edges at the unit's quantiles
  (Chelombiev et al. 2019), so every bin holds about the same number of
  samples; repeated values (e.g. a ReLU's zeros) share one bin, so a unit may
  get fewer than ``bins`` distinct bins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from ...errors import ConfigError
from ...fitting.base import check_choice, check_int
from ._checks import as_labels, as_samples, check_units

__all__ = ["bin_activations", "pattern_entropy", "binned_information", "BIN_STRATEGIES"]

#: The ways :func:`bin_activations` places bin edges.
BIN_STRATEGIES = ("fixed", "adaptive")


def _check_range(value_range: Any) -> tuple[float, float] | None:
    if value_range is None:
        return None
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        low, high = np.nan, np.nan
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ConfigError(f"value_range must be a (low, high) pair of finite numbers with low < high, got "
                          f"{value_range!r}", source="value_range",
                          fix="pass e.g. value_range=(-1, 1) for tanh units, or None for each unit's own range")
    return low, high


def bin_activations(
    activations: Any,
    *,
    bins: int = 30,
    strategy: Literal["fixed", "adaptive"] = "fixed",
    value_range: Sequence[float] | None = None,
) -> np.ndarray:
    """Each unit's activations as bin indices ``0 … bins-1``.

    Parameters
    ----------
    activations : array-like
        ``(samples, units)`` values (a 1-D array is one unit).
    bins : int
        Bins per unit (at least 2).
    strategy : {"fixed", "adaptive"}
        Equal-width bins (``"fixed"``) or equal-mass bins at each unit's
        quantiles (``"adaptive"``).
    value_range : (low, high), optional
        For ``"fixed"``: the range cut into ``bins`` equal bins for every unit
        (values outside fall in the first or last bin).  Default: each unit's
        own minimum and maximum (a constant unit gets a single bin).  Not
        used by ``"adaptive"``.

    Returns
    -------
    numpy.ndarray
        ``(samples, units)`` integer bin indices.

    Raises
    ------
    ConfigError
        ``bins`` below 2, an unknown ``strategy`` (UnknownNameError), a bad
        ``value_range``, or a ``value_range`` passed with ``"adaptive"``.
    DataError
        NaN or inf values, fewer than two samples.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.geometry.information.binning import bin_activations
    >>> bin_activations(np.array([[0.1], [0.2], [0.9], [0.95]]), bins=2, value_range=(0, 1)).ravel().tolist()
    [0, 0, 1, 1]
    >>> bin_activations(np.array([[1.0], [2.0], [3.0], [40.0]]), bins=2, strategy="adaptive").ravel().tolist()
    [0, 0, 1, 1]
    """
    bins = check_int("bins", bins, minimum=2)
    check_choice("strategy", strategy, BIN_STRATEGIES)
    value_range = _check_range(value_range)
    values = as_samples(activations, "activations")
    if strategy == "adaptive":
        if value_range is not None:
            raise ConfigError("value_range applies to strategy='fixed' only", source="value_range",
                              fix="leave value_range=None with strategy='adaptive'")
        inner = np.quantile(values, np.arange(1, bins) / bins, axis=0)  # (bins-1, units) inner edges
        return np.stack([np.searchsorted(np.unique(inner[:, j]), values[:, j], side="right")
                         for j in range(values.shape[1])], axis=1)
    if value_range is None:
        low, high = values.min(axis=0), values.max(axis=0)
    else:
        low, high = np.full(values.shape[1], value_range[0]), np.full(values.shape[1], value_range[1])
    width = np.where(high > low, (high - low) / bins, 1.0)
    index = np.floor((values - low) / width).astype(np.int64)
    return np.clip(index, 0, bins - 1)


def pattern_entropy(codes: Any, *, units: Literal["nats", "bits"] = "nats") -> float:
    """The plug-in entropy of the rows of ``codes`` taken as discrete symbols (each distinct row one symbol).

    Parameters
    ----------
    codes : array-like
        ``(samples, units)`` discrete codes, e.g. from :func:`bin_activations`.
    units : {"nats", "bits"}

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.geometry.information.binning import pattern_entropy
    >>> pattern_entropy(np.array([[0, 1], [0, 1], [1, 0], [1, 1]]), units="bits")   # p = 1/2, 1/4, 1/4
    1.5
    """
    divisor = check_units(units)
    codes = np.asarray(codes)
    if codes.ndim == 1:
        codes = codes[:, None]
    _, counts = np.unique(codes, axis=0, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum()) / divisor


def binned_information(
    activations: Any,
    labels: Any,
    *,
    bins: int = 30,
    strategy: Literal["fixed", "adaptive"] = "fixed",
    value_range: Sequence[float] | None = None,
    units: Literal["nats", "bits"] = "nats",
) -> tuple[float, float]:
    """``(I(X;T), I(T;Y))`` of a layer by binning, for a deterministic network and one distinct input per sample.

    Parameters
    ----------
    activations : array-like
        ``(samples, units)`` activations :math:`T` of one layer.
    labels : array-like
        The class :math:`Y` of each sample.
    bins, strategy, value_range
        As :func:`bin_activations`.
    units : {"nats", "bits"}

    Returns
    -------
    (float, float)
        :math:`I(X;T) = H(T_b)` and :math:`I(T;Y) = H(T_b) - H(T_b \\mid Y)`.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.geometry.information.binning import binned_information
    >>> t = np.array([[0.1], [0.2], [0.9], [0.95]])
    >>> binned_information(t, [0, 0, 1, 1], bins=2, value_range=(0, 1), units="bits")
    (1.0, 1.0)
    >>> binned_information(t, [0, 1, 0, 1], bins=2, value_range=(0, 1), units="bits")
    (1.0, 0.0)
    """
    divisor = check_units(units)
    codes = bin_activations(activations, bins=bins, strategy=strategy, value_range=value_range)
    classes = as_labels(labels, codes.shape[0])
    h_t = pattern_entropy(codes)
    h_t_given_y = sum(float((classes == c).mean()) * pattern_entropy(codes[classes == c]) for c in np.unique(classes))
    return h_t / divisor, max(0.0, h_t - h_t_given_y) / divisor
