"""The numerics behind :func:`~neuroalign.compare.compare_rdms` and the RSA bootstrap: one kernel per method.

Registry kernels (``RDM_COMPARISONS[name].kernel(a, b, w)``) take RDM vectors
``a`` ``(s_a, k_a, n)`` and ``b`` ``(s_b, k_b, n)`` and pair weights ``w``
``(s_w, n)``, where each ``s_*`` is 1 or the common size ``s``, and return the
``(s, k_a, k_b)`` table of similarities: the ``s`` axis is matched element by
element, the ``k`` axes are crossed.  A weight is the number of times a pair
is repeated (0 drops it): a stimulus bootstrap repeats the pair of stimuli i
and j c_i·c_j times, so weighting the original RDMs gives exactly the
comparison of the resampled ones.  Entries with weight 0 must be finite (e.g.
NaN replaced by 0).  Degenerate comparisons (constant vectors — for every
method but ``cosine``, including ``tau-a`` and ``rho-a``, whose formulas
would give 0 —, fewer than 2 pairs) come back as NaN, for the caller to report.

For the methods with a weighted kernel (:data:`WEIGHTED_COMPARISONS`), the
registry kernel and :func:`weighted_similarity` (used by inference, model
tests and noise ceilings on thousands of resamples, optionally ``paired``)
run the same code.  The kernels are organised for speed:

- ``cosine``, ``corr``/``pearson``: weighted moments, one matrix product per
  moment for fixed vectors.
- ``spearman``, ``rho-a``: mid-ranks among the expanded entries (a pair drawn
  ``w`` times is ``w`` tied entries), computed for fixed vectors by sorting
  once and gathering whole rows of resamples, then weighted Pearson /
  rsatoolbox's rho-a ``12 Σ w (r_a − m)(r_b − m) / (N³ − N)``.
- ``tau-a``, ``tau-b``/``kendall``: Kendall's concordance sums over the
  expanded entries (:mod:`~neuroalign.compare.rsa.kendall_sums`): each vector is
  sorted or ranked once (a fixed vector once for all resamples), then a
  compiled Fenwick-tree pass per resample counts the discordant weight in
  ``O(P log P)``; ties are removed exactly with group sums.

``corr_cov``/``cosine_cov`` (whitened) and ``bures`` take no weights.
Formulas follow rsatoolbox 0.3 (``rsatoolbox.rdm.compare``); see
``docs/compare-rdm.md``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from threadpoolctl import ThreadpoolController  # a dependency of scikit-learn

from ..._threads import available_cores, thread_map
from ..common.bootstrap import weighted_columns
from .kendall_sums import dense_ranks, has_ties, kendall_sums, row_orders

__all__: list[str] = []

_CHUNK_ELEMENTS = 2**23  # floats per working array when chunking resamples


def _swap(x: np.ndarray) -> np.ndarray:
    return np.swapaxes(x, -1, -2)


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


# ----------------------------------------------------------------------------- weighted kernels
# Shapes: a (Ra, A, P) and b (Rb, B, P) with Ra, Rb in {1, R}; weights (R, P).
# Crossed output (R, A, B); paired output (A == B) is (R, A).
def _take(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Gather along the last axis: values (Rv, K or 1, M), order (Ro, K, P) → (max(Rv, Ro), K, P).

    2-D arguments are read as K = 1.  A shared ``order`` (Ro = 1) takes the
    fast route of one flat index along axis 1.
    """
    flat = order.ndim == 2
    values = values[:, None, :] if values.ndim == 2 else values
    order = order[:, None, :] if order.ndim == 2 else order
    k, m = order.shape[1], values.shape[-1]
    if order.shape[0] == 1:
        offsets = (np.arange(k) * m)[:, None] if values.shape[1] > 1 else 0
        out = np.take(values.reshape(values.shape[0], -1), (order[0] + offsets).ravel(), axis=1)
        out = out.reshape(values.shape[0], k, order.shape[-1])
    else:
        rows = max(values.shape[0], order.shape[0])
        out = np.take_along_axis(np.broadcast_to(values, (rows, k, m)),
                                 np.broadcast_to(order, (rows,) + order.shape[1:]), axis=-1)
    return out[:, 0] if flat else out


def _untake(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """The inverse of :func:`_take`: ``out[..., order[..., i]] = values[..., i]``."""
    if order.shape[0] == 1:
        return _take(values, np.argsort(order, axis=-1))
    out = np.empty(values.shape)
    np.put_along_axis(out, np.broadcast_to(order, values.shape), values, axis=-1)
    return out


def _wsum(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Σ_p w_rp x_…p → (R, …): one matrix product when ``x`` has no resample dim."""
    if x.shape[0] == 1:
        return (x[0].reshape(-1, x.shape[-1]) @ w.T).T.reshape((w.shape[0],) + x.shape[1:-1])
    rows = np.broadcast_to(x, (w.shape[0],) + x.shape[1:]).reshape(w.shape[0], -1, x.shape[-1])
    return np.matmul(rows, w[:, :, None])[..., 0].reshape((w.shape[0],) + x.shape[1:-1])  # batched GEMV


def _wcross(a: np.ndarray, b: np.ndarray, w: np.ndarray, paired: bool) -> np.ndarray:
    """Σ_p w_rp a_…p b_…p, crossed (R, A, B) or paired (R, A)."""
    if paired:
        return _wsum(a * b, w)
    if a.shape[0] == 1 and b.shape[0] == 1 and w.shape[0] > 1:  # one weight row: one matrix product below
        products = (a[0][:, None, :] * b[0][None, :, :]).reshape(-1, a.shape[-1])
        return (products @ w.T).T.reshape(w.shape[0], a.shape[1], b.shape[1])
    return np.matmul(a * w[:, None, :], np.swapaxes(b, -1, -2))


def _standardised(x: np.ndarray, center: bool) -> np.ndarray:
    """Fixed vectors rescaled (and centred) for numerically stable moment sums."""
    if x.shape[0] != 1:
        return x
    if center:
        x = x - x.mean(axis=-1, keepdims=True)
    scale = np.sqrt(np.mean(x**2, axis=-1, keepdims=True))
    return x / np.where(scale > 0, scale, 1.0)


#: Rounding error of a centred weighted moment sum, in units of P·eps·Σ w x² (a generous bound).
_CANCELLATION = 16


def _linear(a, b, w, paired, center):
    with np.errstate(divide="ignore", invalid="ignore"):  # resamples without weight: NaN, reported by callers
        return _linear_sums(a, b, w, paired, center)


def _linear_sums(a, b, w, paired, center):
    a, b = _standardised(a, center), _standardised(b, center)
    n = w.sum(axis=-1)[:, None]
    sab = _wcross(a, b, w, paired)
    saa, sbb = _wsum(a * a, w), _wsum(b * b, w)
    if center:
        ma, mb = _wsum(a, w) / n, _wsum(b, w) / n
        # a vector constant over the weighted pairs leaves a rounding residual of Σ w x², not 0, and its
        # correlation would be the ratio of two residuals: a variance below the sums' precision is none
        tolerance = _CANCELLATION * a.shape[-1] * np.finfo(float).eps
        saa = np.where(saa - n * ma**2 > tolerance * saa, saa - n * ma**2, 0.0)
        sbb = np.where(sbb - n * mb**2 > tolerance * sbb, sbb - n * mb**2, 0.0)
        if paired:
            sab = sab - n * ma * mb
        else:
            sab = sab - n[:, :, None] * ma[:, :, None] * mb[:, None, :]
    denom = np.sqrt(saa * sbb) if paired else np.sqrt(saa[:, :, None] * sbb[:, None, :])
    return _divide(sab, denom)


def _tie_bounds(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sorted values, the first index and one past the last index of each entry's tie group."""
    n = ordered.shape[-1]
    position = np.arange(n)
    new = np.ones(ordered.shape, dtype=bool)
    new[..., 1:] = ordered[..., 1:] != ordered[..., :-1]
    last = np.ones(ordered.shape, dtype=bool)
    last[..., :-1] = new[..., 1:]
    start = np.maximum.accumulate(np.where(new, position, 0), axis=-1)
    stop = np.flip(np.minimum.accumulate(np.flip(np.where(last, position, n), -1), axis=-1), -1) + 1
    return start, stop


def _weighted_ranks_shared(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    """:func:`_weighted_ranks` for fixed vectors (K, P): each sorted once, every resample gathered at once."""
    n = values.shape[-1]
    ranks = np.empty((w.shape[0], values.shape[0], n))
    cumulative = np.zeros((w.shape[0], n + 1))
    for k, vector in enumerate(values):  # a few vectors; every resample at once
        order = np.argsort(vector)  # ties share a mid-rank: any order within them
        start, stop = _tie_bounds(vector[order])
        np.cumsum(np.take(w, order, axis=1), axis=1, out=cumulative[:, 1:])
        before, through = np.take(cumulative, start, axis=1), np.take(cumulative, stop, axis=1)
        ranks[:, k] = np.take(before + (through - before + 1) / 2, np.argsort(order), axis=1)
    return ranks


def _weighted_ranks(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Average ranks of the expanded entries (entry p repeated w_p times): (Rv, K, P) → (R, K, P)."""
    if values.shape[0] == 1:
        return _weighted_ranks_shared(values[0], w)
    order = np.argsort(values, axis=-1)  # SIMD quicksort; tie order is irrelevant
    n = values.shape[-1]
    start, stop = _tie_bounds(np.take_along_axis(values, order, axis=-1))
    weights = _take(w[:, None, :], order)  # (R, K, P) in sorted order
    cumulative = np.zeros(weights.shape[:-1] + (n + 1,))
    np.cumsum(weights, axis=-1, out=cumulative[..., 1:])
    before, through = _take(cumulative, start), _take(cumulative, stop)
    return _untake(before + (through - before + 1) / 2, order)


def _ranked(a, b, w, paired, rho_a):
    return rank_similarity(_weighted_ranks(a, w), _weighted_ranks(b, w), w, paired, rho_a)


def rank_similarity(ra: np.ndarray, rb: np.ndarray, w: np.ndarray, paired: bool, rho_a: bool) -> np.ndarray:
    """Spearman (or rho-a) from weighted mid-ranks ``ra`` (R, A, P), ``rb`` (R, B, P)."""
    if not rho_a:
        return _linear(ra, rb, w, paired, center=True)
    n = w.sum(axis=-1)
    middle = ((n + 1) / 2)[:, None, None]
    ca, cb = ra - middle, rb - middle
    products = _wcross(ca, cb, w, paired)
    scale = n**3 - n
    out = _divide(12 * products, np.broadcast_to(scale[:, None] if paired else scale[:, None, None], products.shape))
    # a constant vector has every mid-rank equal to the middle: rho-a would be 0, but it is undefined
    varies_a, varies_b = _wsum(ca * ca, w) > 0, _wsum(cb * cb, w) > 0
    return np.where(varies_a & varies_b if paired else varies_a[:, :, None] & varies_b[:, None, :], out, np.nan)


def _kendall(a, b, w, paired, variant):
    ranks = [dense_ranks(b[:, j]) for j in range(b.shape[1])]
    tied = np.array([has_ties(r) for r in ranks])
    columns = weighted_columns(w) if a.shape[0] > 1 else None
    out = np.empty((w.shape[0], a.shape[1], 1 if paired else b.shape[1]))
    for i in range(a.shape[1]):  # a handful of RDMs; every resample at once
        order = row_orders(a[:, i], w, columns)  # each x sorted once (a fixed x once for every resample)
        ys = [i] if paired else range(b.shape[1])
        s, n, x_ties, y_ties = kendall_sums(_take(a[:, i], order), np.stack([_take(ranks[j], order) for j in ys]),
                                            _take(w, order), tied[list(ys)])
        # untied pairs: (n(n−1) − Σ W_g² + n) / 2, zero exactly when a vector is constant
        untied_x = np.clip(n * (n - 1) - x_ties + n, 0, None) / 2
        untied_y = np.clip(n * (n - 1) - y_ties + n, 0, None) / 2
        if variant == "a":  # defined as 0 for a constant vector, but undefined like the other correlations
            out[:, i] = np.where((untied_x > 0) & (untied_y > 0), _divide(s, n * (n - 1)), np.nan)
        else:
            out[:, i] = _divide(s / 2, np.sqrt(untied_x * untied_y))
    return out[..., 0] if paired else out


_Kernel = Callable[[np.ndarray, np.ndarray, np.ndarray, bool], np.ndarray]
_KERNELS: dict[str, _Kernel] = {
    "cosine": lambda a, b, w, paired: _linear(a, b, w, paired, center=False),
    "corr": lambda a, b, w, paired: _linear(a, b, w, paired, center=True),
    "pearson": lambda a, b, w, paired: _linear(a, b, w, paired, center=True),
    "spearman": lambda a, b, w, paired: _ranked(a, b, w, paired, rho_a=False),
    "rho-a": lambda a, b, w, paired: _ranked(a, b, w, paired, rho_a=True),
    "tau-a": lambda a, b, w, paired: _kendall(a, b, w, paired, "a"),
    "tau-b": lambda a, b, w, paired: _kendall(a, b, w, paired, "b"),
    "kendall": lambda a, b, w, paired: _kendall(a, b, w, paired, "b"),
}

#: Comparison methods with a weighted kernel (scored on resamples without building resampled RDMs).
WEIGHTED_COMPARISONS: tuple[str, ...] = tuple(_KERNELS)

_CONTROLLER: list[ThreadpoolController] = []  # created on first use: scanning the loaded libraries takes ~0.3 ms


def single_threaded_blas():
    """A context with one BLAS thread: the kernels issue many small matrix products, which a
    multi-threaded BLAS slows down by 10–20× (thread start-up per product, worse on a busy machine)."""
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


def has_kernel(method: str) -> bool:
    """Whether ``method`` has a weighted kernel (every such method is in ``RDM_COMPARISONS``)."""
    return method in _KERNELS


def _evaluate(method: str, a: np.ndarray, b: np.ndarray, w: np.ndarray, paired: bool) -> np.ndarray:
    """Run the kernel of ``method`` over chunks of rows; ``w`` with one row is shared by every row of a, b."""
    kernel = _KERNELS[method]
    a, b, w = (np.asarray(x, dtype=float) for x in (a, b, w))
    r, p = max(a.shape[0], b.shape[0], w.shape[0]), w.shape[-1]
    if w.shape[0] != r:  # the kernels take one weight row per output row
        w = np.broadcast_to(w, (r, p))
    if method in ("tau-a", "tau-b", "kendall"):  # one x sorted, weights and ranks gathered at a time
        per_row = p * (4 + b.shape[1])
    else:
        per_row = p * 4 * (a.shape[1] + b.shape[1])
    step = max(1, min(_CHUNK_ELEMENTS // per_row, -(-r // available_cores())))  # at least one chunk per core

    def chunk(start: int) -> np.ndarray:
        rows = slice(start, start + step)
        return kernel(*(x if x.shape[0] == 1 else x[rows] for x in (a, b)), w[rows], paired)

    # Chunks bound memory and run on a thread each (numpy releases the GIL in the large array operations
    # the kernels are made of); BLAS stays single-threaded, a setting global to the process.
    with single_threaded_blas():
        if r <= step:
            return kernel(a, b, w, paired)
        parts = thread_map(chunk, range(0, r, step))
    return np.concatenate(parts, axis=0)


def weighted_similarity(a: np.ndarray, b: np.ndarray, weights: np.ndarray, method: str, *,
                        paired: bool = False) -> np.ndarray:
    """Comparison of RDM vectors under pair weights, chunked over resamples (plain arrays).

    The same kernels as the registry's (:data:`~neuroalign.compare.RDM_COMPARISONS`),
    with a ``paired`` layout.  ``a`` (Ra, A, P) and ``b`` (Rb, B, P) with
    Ra, Rb in {1, R}, finite; ``weights`` (R, P) non-negative (zero drops a
    pair).  Returns (R, A, B), or (R, A) when ``paired`` (A == B, element by
    element).  Resamples with fewer than 3 weighted pairs, or in which a
    vector is constant over its weighted pairs, are NaN (every method).

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare.rsa.comparison_methods import weighted_similarity
    >>> x = np.array([[[1.0, 2.0, 3.0, 5.0]]])
    >>> weighted_similarity(x, 2 * x, np.array([[1.0, 2.0, 1.0, 1.0]]), "spearman").tolist()
    [[[1.0]]]
    """
    weights = np.asarray(weights, dtype=float)
    out = _evaluate(method, a, b, weights, paired)
    out[(weights > 0).sum(axis=-1) < 3] = np.nan
    return out


# ----------------------------------------------------------------------------- registry kernels
# compare_rdms's layout: a (s_a, k_a, n), b (s_b, k_b, n), w (s_w, n) → (s, k_a, k_b), crossed k axes.
def _registry_kernel(method: str, name: str, doc: str) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """The registry's ``kernel(a, b, w)`` for ``method``: the weighted kernel, crossed."""

    def kernel(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
        return _evaluate(method, a, b, w, False)

    kernel.__name__ = kernel.__qualname__ = name
    kernel.__doc__ = doc
    return kernel


cosine = _registry_kernel("cosine", "cosine", 'Σ w a b / √(Σ w a² · Σ w b²)  (rsatoolbox ``"cosine"``).')
pearson = _registry_kernel("corr", "pearson", 'Pearson r of the (weighted) pairs (rsatoolbox ``"corr"``).')
spearman = _registry_kernel("spearman", "spearman", 'Pearson r of the mid-ranks (rsatoolbox ``"spearman"``).')
rho_a = _registry_kernel("rho-a", "rho_a", "12 Σ (r_a − (N+1)/2)(r_b − (N+1)/2) / (N³ − N), no tie correction "
                                           '(rsatoolbox ``"rho-a"``).')
tau_a = _registry_kernel("tau-a", "tau_a", "(concordant − discordant) / all pairs, ties not corrected "
                                           '(rsatoolbox ``"tau-a"``).')
tau_b = _registry_kernel("tau-b", "tau_b", "Kendall's tau-b, ties corrected "
                                           '(rsatoolbox ``"tau-b"``/``"kendall"``, scipy ``kendalltau``).')
