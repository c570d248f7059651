"""Choice probabilities ``softmax(s / T)`` of odd-one-out triplets and their maximum-likelihood temperature.

Column ``k`` of the similarities ``s`` ``(n, 3)`` is the similarity of the pair
that excludes item ``k`` (:mod:`neuroalign.triplets.indexing`), so
``softmax(s / T)[k]`` is the probability that item ``k`` is chosen as the odd
one.  The temperature ``T`` is free: fit it by maximum likelihood
(:func:`fit_temperature`) when the probabilities matter.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import brentq

from ..errors import ConfigError, DataError
from .indexing import check_triplets

__all__ = ["choice_probabilities", "fit_temperature"]


def _similarities(similarities: Any) -> np.ndarray:
    s = np.asarray(similarities, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] != 3:
        raise DataError(f"similarities must have shape (n, 3), got {s.shape}", source="similarities",
                        fix="compute them with neuroalign.triplets.indexing.pair_similarities")
    if not np.isfinite(s).all():
        rows = np.flatnonzero(~np.isfinite(s).all(axis=1))
        raise DataError(f"{rows.size} triplet(s) have NaN or infinite similarities, rows {rows[:5].tolist()}",
                        source="similarities", fix="check the features or RDMs they were computed from")
    return s


def _choices(choices: Any, n: int) -> np.ndarray:
    """Choices checked against n triplets (0, 1 or 2 each)."""
    return check_triplets(np.tile(np.arange(3), (n, 1)), 3, choices, source="choices")[1]


def choice_probabilities(similarities: Any, temperature: float = 1.0) -> np.ndarray:
    """``softmax(s / T)`` over the three pairs: P(odd one = item k), ``(n, 3)``.

    ``temperature=inf`` gives 1/3 each; ``0`` splits the mass among the tied maxima.

    Examples
    --------
    >>> choice_probabilities([[0.0, 0.0, np.log(2)]]).round(3).tolist()
    [[0.25, 0.25, 0.5]]
    """
    s = _similarities(similarities)
    if not temperature >= 0:
        raise ConfigError(f"temperature must be >= 0, got {temperature}", source="temperature",
                          fix="fit it with fit_temperature, or pass a positive number")
    if temperature == 0:
        tied = s == s.max(axis=1, keepdims=True)
        return tied / tied.sum(axis=1, keepdims=True)
    z = (s - s.max(axis=1, keepdims=True)) / temperature
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _log_likelihood(d: np.ndarray, dc: np.ndarray, beta: float) -> float:
    """Σ log softmax(β s)[choice] from d = s − rowmax (≤ 0) and dc = d[choice]."""
    if np.isinf(beta):
        return float(-np.log((d == 0).sum(axis=1)).sum()) if np.all(dc == 0) else -np.inf
    return float(beta * dc.sum() - np.log(np.exp(beta * d).sum(axis=1)).sum())


def _gradient(d: np.ndarray, dc: np.ndarray, beta: float) -> float:
    """dL/dβ = Σ (d_choice − E_softmax(βd)[d]): decreasing in β (L is concave in β = 1/T)."""
    e = np.exp(beta * d)
    return float(dc.sum() - ((e * d).sum(axis=1) / e.sum(axis=1)).sum())


def fit_temperature(similarities: Any, choices: Any) -> tuple[float, float]:
    """The maximum-likelihood temperature of ``softmax(s / T)`` for the human choices, and its log-likelihood.

    The log-likelihood ``L(β) = Σ_n [β s_n,c − logsumexp(β s_n)]`` is concave in
    ``β = 1/T``, so its maximum is the root of ``dL/dβ``, found with
    :func:`scipy.optimize.brentq` on ``log β = −log T`` after bracketing.
    When the similarities carry no signal (``dL/dβ ≤ 0`` at ``β = 0``) the
    maximum is at ``T = inf`` (uniform choices, ``L = −n log 3``); when every
    choice is a maximal pair's odd one, ``L`` grows up to ``T = 0``.

    Returns
    -------
    (float, float)
        ``T`` (may be ``inf`` or ``0``) and the maximal summed log-likelihood.

    Examples
    --------
    >>> s = np.array([[1.0, 0.0, 0.0]] * 4)  # P(choice 0) = e^(1/T) / (e^(1/T) + 2)
    >>> T, _ = fit_temperature(s, [0, 0, 0, 1])  # 3/4 chose item 0: 1/T = log(2 * 0.75 / 0.25) = log 6
    >>> bool(abs(T - 1 / np.log(6)) < 1e-9)
    True
    """
    s = _similarities(similarities)
    c = _choices(choices, len(s))
    if len(s) == 0:
        raise DataError("no triplets to fit a temperature on", source="similarities", fix="pass some triplets")
    d = s - s.max(axis=1, keepdims=True)
    dc = d[np.arange(len(d)), c]
    if _gradient(d, dc, 0.0) <= 0:
        return float("inf"), _log_likelihood(d, dc, 0.0)
    if np.all(dc == 0):
        return 0.0, _log_likelihood(d, dc, np.inf)
    spread = float(np.abs(d).max())
    lo = np.log(1e-3 / spread)  # log β, β d tiny: the gradient is still positive there
    while _gradient(d, dc, np.exp(lo)) <= 0:
        lo -= 10.0
    hi = lo + 1.0
    while _gradient(d, dc, np.exp(hi)) > 0:
        lo, hi = hi, hi + 2.0
        if hi > 700:  # β d at float64's exp range: the likelihood still grows towards T = 0
            return 0.0, _log_likelihood(d, dc, np.inf)
    log_beta = brentq(lambda u: _gradient(d, dc, np.exp(u)), lo, hi, xtol=1e-12, rtol=1e-12)
    beta = float(np.exp(log_beta))
    return 1.0 / beta, _log_likelihood(d, dc, beta)
