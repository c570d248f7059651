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

from .._compiled import compiled
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


@compiled
def _terms(s: np.ndarray, c: np.ndarray, beta: float,
           p_choice: np.ndarray) -> tuple[float, float, float]:  # pragma: no cover - compiled
    """L(β), dL/dβ and d²L/dβ² of softmax(β s) at the choices, in one pass; p_choice[n] = P(choice n) if sized n.

    Rows are shifted by their maximum (d = s − max ≤ 0), so no exponential overflows.
    """
    ll = 0.0
    grad = 0.0
    hess = 0.0
    write = p_choice.shape[0] > 0
    for n in range(s.shape[0]):
        top = 0
        for k in (1, 2):
            if s[n, k] > s[n, top]:
                top = k
        z = 1.0  # the maximum's term: exp(0)
        m1 = 0.0
        m2 = 0.0
        ec = 1.0
        for k in range(3):
            if k != top:
                d = s[n, k] - s[n, top]
                e = np.exp(beta * d) if beta != 0.0 else 1.0
                z += e
                m1 += e * d
                m2 += e * d * d
                if k == c[n]:
                    ec = e
        mean = m1 / z
        dc = s[n, c[n]] - s[n, top]
        ll += beta * dc - np.log(z)
        grad += dc - mean
        hess -= m2 / z - mean * mean
        if write:
            p_choice[n] = ec / z
    return ll, grad, hess


@compiled
def _choices_at_maximum(s: np.ndarray, c: np.ndarray, n_top: np.ndarray) -> bool:  # pragma: no cover - compiled
    """Whether every choice is the odd one of an exactly maximal pair; n_top[n] = #exactly maximal pairs."""
    every = True
    for n in range(s.shape[0]):
        top = max(s[n, 0], max(s[n, 1], s[n, 2]))
        n_top[n] = int(s[n, 0] == top) + int(s[n, 1] == top) + int(s[n, 2] == top)
        if s[n, c[n]] != top:
            every = False
    return every


_NO_OUTPUT = np.empty(0)


def _fit(s: np.ndarray, c: np.ndarray, with_probabilities: bool) -> tuple[float, float, np.ndarray | None]:
    """(T, L(T), P(choice) per triplet or None) at the maximum likelihood; see :func:`fit_temperature`."""
    out = np.empty(len(s)) if with_probabilities else _NO_OUTPUT
    ll0, g0, h0 = _terms(s, c, 0.0, out)
    if g0 <= 0:  # no signal: uniform choices
        return float("inf"), ll0, (out if with_probabilities else None)
    n_top = np.empty(len(s), dtype=np.int64)
    if _choices_at_maximum(s, c, n_top):  # every choice is a maximal pair's odd one: L grows up to T = 0
        return 0.0, float(-np.log(n_top).sum()), (1.0 / n_top if with_probabilities else None)
    beta = g0 / -h0 if h0 < 0 else 1.0 / float(np.ptp(s))
    stride = len(s) // _SUBSAMPLE
    if stride > 1:  # start from the root of an evenly spaced subsample: fewer passes over all triplets
        sub_s, sub_c = s[::stride], c[::stride]
        _, sub_g, _ = _terms(sub_s, sub_c, 0.0, _NO_OUTPUT)
        if sub_g > 0 and not _choices_at_maximum(sub_s, sub_c, np.empty(len(sub_s), dtype=np.int64)):
            beta, _, _ = _newton(sub_s, sub_c, beta, _NO_OUTPUT)
    beta, ll, _ = _newton(s, c, beta, out)
    return 1.0 / beta, ll, (out if with_probabilities else None)


def _newton(s: np.ndarray, c: np.ndarray, beta: float, out: np.ndarray) -> tuple[float, float, np.ndarray]:
    """The root of dL/dβ from ``beta`` (dL/dβ > 0 at 0), as (β, L(β), out written at β)."""
    lo, hi = 0.0, np.inf  # β brackets: dL/dβ > 0 at lo, <= 0 at hi
    ll = -np.inf
    for _ in range(_MAX_ITER):
        ll, g, h = _terms(s, c, beta, out)
        if g > 0:
            lo = beta
        else:
            hi = beta
        if g == 0:
            break
        step = beta - g / h if h < 0 else np.nan  # Newton on the concave log-likelihood
        if abs(step - beta) <= _RTOL * beta:  # β (evaluated) is this close to the root
            break
        if not lo < step < hi:  # outside the bracket: double, or bisect geometrically
            step = 2.0 * beta if np.isinf(hi) else (np.sqrt(lo * hi) if lo > 0 else hi / 2.0)
        beta = step
    return beta, ll, out


_RTOL = 1e-10
_SUBSAMPLE = 50_000
_MAX_ITER = 200


def fit_temperature(similarities: Any, choices: Any) -> tuple[float, float]:
    """The maximum-likelihood temperature of ``softmax(s / T)`` for the human choices, and its log-likelihood.

    The log-likelihood ``L(β) = Σ_n [β s_n,c − logsumexp(β s_n)]`` is concave in
    ``β = 1/T``, so its maximum is the root of ``dL/dβ``: Newton's method on
    ``β``, kept inside a bracket of the root (doubling, then geometric
    bisection when a step leaves it), to a relative precision of 1e-10.  Each
    step is one compiled pass over the triplets (4.7 M triplets: ~0.2 s); on
    more than 100,000 triplets, Newton starts from the root of every k-th
    triplet (~50,000), so that about three passes over all of them remain.
    When the similarities carry no signal (``dL/dβ ≤ 0`` at ``β = 0``) the
    maximum is at ``T = inf`` (uniform choices, ``L = −n log 3``); when every
    choice is the odd one of a maximal pair, ``L`` grows up to ``T = 0``
    (``L = −Σ log #maximal pairs``).

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
    temperature, ll, _ = _fit(s, c, False)
    return temperature, ll
