"""The numerics behind :func:`~neuroalign.compare.compare_rdms`: one kernel per comparison method.

Every kernel takes RDM vectors ``a`` ``(s_a, k_a, n)`` and ``b`` ``(s_b, k_b, n)``
and pair weights ``w`` ``(s_w, n)``, where each ``s_*`` is 1 or the common
size ``s``, and returns the ``(s, k_a, k_b)`` table of similarities: the ``s``
axis is matched element by element, the ``k`` axes are crossed.  A weight is
the number of times a pair is repeated (0 drops it): a stimulus bootstrap
repeats the pair of stimuli i and j c_i·c_j times, so weighting the original
RDMs gives exactly the comparison of the resampled ones.  Entries with weight
0 must be finite (e.g. NaN replaced by 0).  Degenerate comparisons (constant
vectors, fewer than 2 pairs) come back as NaN, for the caller to report.

Formulas follow rsatoolbox 0.3 (``rsatoolbox.rdm.compare``); see
``docs/compare-rdm.md``.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular
from scipy.stats import kendalltau

__all__: list[str] = []


def _swap(x: np.ndarray) -> np.ndarray:
    return np.swapaxes(x, -1, -2)


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


# ----------------------------------------------------------------------------- linear
def _moments(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    """Σw, Σw·a, Σw·b, Σw·a², Σw·b², Σw·a·b over pairs, shaped to broadcast to (s, k_a, k_b)."""
    if a.shape[0] == 1 and b.shape[0] == 1:  # fixed RDMs, many weight rows: matrix products with w
        products = (a[0][:, None, :] * b[0][None, :, :]).reshape(-1, a.shape[-1])
        cross = (w @ products.T).reshape(w.shape[0], a.shape[1], b.shape[1])
        return (w.sum(axis=-1)[:, None, None], (w @ a[0].T)[:, :, None], (w @ b[0].T)[:, None, :],
                (w @ (a[0] ** 2).T)[:, :, None], (w @ (b[0] ** 2).T)[:, None, :], cross)
    wa = a * w[:, None, :]
    return (w.sum(axis=-1)[:, None, None], wa.sum(axis=-1)[:, :, None], (b * w[:, None, :]).sum(axis=-1)[:, None, :],
            (wa * a).sum(axis=-1)[:, :, None], (b * b * w[:, None, :]).sum(axis=-1)[:, None, :], wa @ _swap(b))


def cosine(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Σ w a b / √(Σ w a² · Σ w b²)  (rsatoolbox ``"cosine"``)."""
    _, _, _, aa, bb, ab = _moments(a, b, w)
    return _divide(ab, np.sqrt(aa * bb))


def pearson(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Pearson r of the (weighted) pairs (rsatoolbox ``"corr"``)."""
    a = a - a.mean(axis=-1, keepdims=True)  # shifts leave r unchanged and limit cancellation below
    b = b - b.mean(axis=-1, keepdims=True)
    total, sa, sb, aa, bb, ab = _moments(a, b, w)
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = ab - sa * sb / total
        var_a = np.clip(aa - sa**2 / total, 0.0, None)
        var_b = np.clip(bb - sb**2 / total, 0.0, None)
    return _divide(cov, np.sqrt(var_a * var_b))


# ----------------------------------------------------------------------------- ranks
def weighted_ranks(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mid-ranks (ties averaged, 1-based) of ``x`` ``(s_x, k, n)`` with each entry repeated ``w`` times.

    With unit weights this is ``scipy.stats.rankdata(x, axis=-1)``.  The sort
    and the tie groups depend on ``x`` only; each weight row costs a gather,
    a cumulative sum and a scatter.
    """
    s_x, k, n = x.shape
    s = max(s_x, w.shape[0])
    order = np.argsort(x, axis=-1, kind="stable")
    xs = np.take_along_axis(x, order, axis=-1)
    position = np.arange(n)
    change = xs[..., 1:] != xs[..., :-1]
    first = np.ones((s_x, k, 1), bool)
    start = np.maximum.accumulate(np.where(np.concatenate([first, change], -1), position, 0), axis=-1)
    end = np.minimum.accumulate(np.where(np.concatenate([change, first], -1), position, n - 1)[..., ::-1],
                                axis=-1)[..., ::-1]
    rows = np.arange(s)[:, None, None] if s_x > 1 else slice(None)
    lanes = np.arange(k)[None, :, None]
    if s_x == 1:
        ws = w[:, order[0]]  # (s, k, n)
        start, end, order = start[0], end[0], order[0]
        lanes = np.arange(k)[:, None]
        index = (slice(None), lanes)
    else:
        ws = np.take_along_axis(np.broadcast_to(w[:, None, :], (s, k, n)), order, axis=-1)
        index = (rows, lanes)
    cum = np.cumsum(ws, axis=-1)
    before = (cum - ws)[(*index, start)]
    ranks_sorted = before + (cum[(*index, end)] - before + 1.0) / 2.0
    ranks = np.empty((s, k, n))
    ranks[(*index, order)] = ranks_sorted
    return ranks


def spearman(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Pearson r of the mid-ranks (rsatoolbox ``"spearman"``)."""
    return pearson(weighted_ranks(a, w), weighted_ranks(b, w), w)


def rho_a(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """12 Σ (r_a − (N+1)/2)(r_b − (N+1)/2) / (N³ − N), no tie correction (rsatoolbox ``"rho-a"``)."""
    total = w.sum(axis=-1)
    mid = ((total + 1.0) / 2.0)[:, None, None]
    ra = weighted_ranks(a, w) - mid
    rb = weighted_ranks(b, w) - mid
    num = (ra * w[:, None, :]) @ _swap(rb)
    return _divide(12.0 * num, (total**3 - total)[:, None, None] * np.ones_like(num))


# ----------------------------------------------------------------------------- Kendall
# The Kendall kernels keep weights as columns, (n, R): gathers copy whole rows.
def _tied_pairs(w: np.ndarray, starts: np.ndarray, self_pairs: np.ndarray, index: np.ndarray | None = None
                ) -> np.ndarray:
    """Pairs of weighted entries tied within groups of consecutive rows of ``w[index]`` that begin at ``starts``.

    ``self_pairs`` = Σ_p w_p (w_p − 1) / 2 (copies of one entry); only groups
    of several entries need a sum over the group.
    """
    sizes = np.diff(np.r_[starts, w.shape[0]])
    multi = sizes > 1
    if not multi.any():
        return self_pairs
    members = np.repeat(multi, sizes)
    rows = w[members] if index is None else w[index[members]]
    group = np.add.reduceat(rows, np.r_[0, np.cumsum(sizes[multi])[:-1]], axis=0)
    return self_pairs + (np.sum(group * group, axis=0) - np.sum(rows * rows, axis=0)) / 2.0


def _block_inversions(lower: np.ndarray, wb: np.ndarray) -> np.ndarray:
    """Σ over blocks b of Σ_ij w_bi U_bij w_bj, given ``lower`` = Uᵀ ``(nb, m, m)`` and wb ``(nb, m, R)``.

    Runs in float32: exact for whole numbers below 2²⁴ (block sums of weights).
    """
    return np.sum((lower @ wb) * wb, axis=(0, 1), dtype=float)


class _InversionPlan:
    """What :meth:`count` needs of a permutation, computed once for many weight columns.

    Counts Σ_{p<q, o_p > o_q} w_p w_q in two levels of blocks: pairs within a
    block of m positions, pairs in the same block of m values, and pairs in
    different blocks of both (from cumulative block histograms) — O(R·n·m) in
    batched matrix products, with m ≈ √n.  Exact for whole-number weights.
    """

    def __init__(self, order: np.ndarray):
        n = order.size
        self.n = n
        if n <= 64:
            self.upper = np.triu(order[:, None] > order[None, :], 1).astype(float)
            return
        m = int(2 ** round(np.log2(np.sqrt(n))))
        nb = -(-n // m)
        self.m, self.nb, self.size = m, nb, nb * m
        order = np.concatenate([order, np.arange(n, nb * m)])
        later = np.triu(np.ones((m, m), bool), 1)
        values = order.reshape(nb, m)
        self.inside = (later.T & (values[:, None, :] > values[:, :, None])).astype(np.float32)
        positions = np.sort(np.argsort(order).reshape(nb, m), axis=1)
        blocks, values = positions // m, order[positions]
        self.positions = positions
        self.same_value = ((blocks[:, None, :] < blocks[:, :, None]) &
                           (values[:, None, :] > values[:, :, None])).astype(np.float32)
        value_block = (order // m).reshape(nb, m)
        self.one_hot = (value_block[:, None, :] == np.arange(nb)[None, :, None]).astype(np.float32)
        self.strictly_lower = np.tril(np.ones((nb, nb), np.float32), -1)

    def padded(self, n_cols: int) -> np.ndarray:
        """A zero float32 buffer ``(size, n_cols)`` whose first n rows :meth:`count` reads as weights."""
        return np.zeros((self.size if self.n > 64 else self.n, n_cols), dtype=np.float32)

    def count(self, w: np.ndarray) -> np.ndarray:
        """Σ_{p<q, o_p > o_q} w_p w_q for weight columns ``w`` (from :meth:`padded`)."""
        if self.n <= 64:
            return np.einsum("ir,ij,jr->r", w.astype(float), self.upper, w.astype(float))
        nb, m, n_cols = self.nb, self.m, w.shape[1]
        blocks = w.reshape(nb, m, n_cols)
        total = _block_inversions(self.inside, blocks) + _block_inversions(self.same_value, w[self.positions])
        # pairs in different blocks of both: h[B, V] = weight in position block B and value block V;
        # Σ_{B<B', V>V'} h[B, V] h[B', V'] = Σ_{B', V} (Σ_{B<B'} h[B, V]) (Σ_{V'<V} h[B', V'])
        hist = self.one_hot @ blocks
        earlier = (self.strictly_lower @ hist.reshape(nb, -1)).reshape(hist.shape)
        below = self.strictly_lower @ hist
        return total + np.sum(earlier.astype(float) * below, axis=(0, 1))


def weighted_inversions(order: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Σ_{p<q, o_p > o_q} w_p w_q for a permutation ``order`` of 0..n−1 and weight columns ``w`` ``(n, R)``."""
    plan = _InversionPlan(order)
    buffer = plan.padded(w.shape[1])
    buffer[: w.shape[0]] = w
    return plan.count(buffer)


_COLUMNS = 1 << 20  # weight entries per chunk: keeps temporaries small (large fresh arrays page-fault)


def tau_counts(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    """Pair counts of Kendall's tau for vectors ``x``, ``y`` ``(n,)`` under weight columns ``w`` ``(n, R)``.

    Returns ``(total, x_ties, y_ties, joint_ties, discordant)``, each ``(R,)``,
    counted over the pairs of the weighted entries (an entry of weight c is c
    tied copies), as in ``scipy.stats.kendalltau``.
    """
    keep = np.flatnonzero(w.any(axis=1))
    if keep.size == 0:
        return tuple(np.zeros(w.shape[1]) for _ in range(5))
    x, y = x[keep], y[keep]
    order = np.lexsort((y, x))
    xs, ys, rows = x[order], y[order], keep[order]
    x_starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    joint_starts = np.flatnonzero(np.r_[True, (xs[1:] != xs[:-1]) | (ys[1:] != ys[:-1])])
    y_order = np.argsort(ys, kind="stable")
    y_sorted = ys[y_order]
    y_starts = np.flatnonzero(np.r_[True, y_sorted[1:] != y_sorted[:-1]])
    ranks = np.empty(keep.size, dtype=np.intp)
    ranks[y_order] = np.arange(keep.size)  # ties in y keep the (x, y) order: never counted as inversions
    plan = _InversionPlan(ranks)
    step = max(1, _COLUMNS // keep.size)
    parts = []
    for first in range(0, w.shape[1], step):
        ws = w[rows, first:first + step]
        buffer = plan.padded(ws.shape[1])
        buffer[: keep.size] = ws
        total = ws.sum(axis=0)
        self_pairs = np.sum(ws * (ws - 1.0), axis=0) / 2.0
        parts.append(np.stack([total * (total - 1.0) / 2.0, _tied_pairs(ws, x_starts, self_pairs),
                               _tied_pairs(ws, y_starts, self_pairs, y_order),
                               _tied_pairs(ws, joint_starts, self_pairs), plan.count(buffer)]))
    return tuple(np.concatenate(parts, axis=1))


def _tau_single(x: np.ndarray, y: np.ndarray, w: np.ndarray, variant: str) -> float:
    """One comparison, entries repeated by ``w``: scipy's O(n log n) ``kendalltau`` (tau-b, then tau-a)."""
    counts = w.astype(np.intp)
    x, y = np.repeat(x, counts), np.repeat(y, counts)
    if x.size < 2:
        return np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        tau_b = kendalltau(x, y).statistic
    if variant == "b" or not np.isfinite(tau_b):
        return tau_b
    total = x.size * (x.size - 1) / 2.0
    x_ties = sum(c * (c - 1) / 2.0 for c in np.unique(x, return_counts=True)[1] if c > 1)
    y_ties = sum(c * (c - 1) / 2.0 for c in np.unique(y, return_counts=True)[1] if c > 1)
    return tau_b * np.sqrt((total - x_ties) * (total - y_ties)) / total


def _kendall(a: np.ndarray, b: np.ndarray, w: np.ndarray, variant: str) -> np.ndarray:
    s = max(a.shape[0], b.shape[0], w.shape[0])
    out = np.empty((s, a.shape[1], b.shape[1]))
    if a.shape[0] > 1 or b.shape[0] > 1 or w.shape[0] == 1:  # one comparison at a time
        for row in range(s):
            weights = w[min(row, w.shape[0] - 1)]
            for i in range(a.shape[1]):
                for j in range(b.shape[1]):
                    out[row, i, j] = _tau_single(a[min(row, a.shape[0] - 1), i], b[min(row, b.shape[0] - 1), j],
                                                 weights, variant)
        return np.clip(out, -1.0, 1.0)
    columns = np.ascontiguousarray(w.T)  # the same RDMs under many weight rows: counts for all rows at once
    for i in range(a.shape[1]):
        for j in range(b.shape[1]):
            total, x_ties, y_ties, joint, discordant = tau_counts(a[0, i], b[0, j], columns)
            numerator = total - x_ties - y_ties + joint - 2.0 * discordant
            if variant == "a":
                out[:, i, j] = _divide(numerator, total)
            else:
                out[:, i, j] = _divide(numerator, np.sqrt(np.clip(total - x_ties, 0, None) *
                                                          np.clip(total - y_ties, 0, None)))
    return np.clip(out, -1.0, 1.0)


def tau_a(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(concordant − discordant) / all pairs, ties not corrected (rsatoolbox ``"tau-a"``)."""
    return _kendall(a, b, w, "a")


def tau_b(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Kendall's tau-b, ties corrected (rsatoolbox ``"tau-b"``/``"kendall"``, scipy ``kendalltau``)."""
    return _kendall(a, b, w, "b")


# ----------------------------------------------------------------------------- whitened
def _pair_index(n_pairs: int) -> tuple[int, np.ndarray, np.ndarray]:
    n = round((1 + np.sqrt(1 + 8 * n_pairs)) / 2)
    rows, cols = np.triu_indices(n, 1)
    return n, rows, cols


def _double_centered(vectors: np.ndarray) -> np.ndarray:
    """−½ D as a square, centred on rows and columns: (k, n_pairs) → (k, n, n)."""
    n, rows, cols = _pair_index(vectors.shape[-1])
    g = np.zeros(vectors.shape[:-1] + (n, n))
    g[..., rows, cols] = -0.5 * vectors
    g[..., cols, rows] = -0.5 * vectors
    row_mean = g.mean(axis=-1, keepdims=True)
    return g - row_mean - _swap(row_mean) + row_mean.mean(axis=-2, keepdims=True)


def _whitened(vectors: np.ndarray, valid: np.ndarray, sigma_k: np.ndarray | None) -> np.ndarray:
    """rsatoolbox's ``_cov_weighting``: RDM vectors → second-moment vectors in which entries are isotropic."""
    n, rows, cols = _pair_index(valid.size)
    if sigma_k is not None and sigma_k.ndim == 2:
        return _whitened_full(vectors[:, valid], valid, sigma_k)
    if valid.all():
        g = _double_centered(vectors)
        if sigma_k is not None:
            root = np.sqrt(sigma_k)
            g = g / root[:, None] / root[None, :]
        out = np.concatenate([g[..., rows, cols], np.diagonal(g, axis1=-2, axis2=-1)], axis=-1)
    else:
        index = np.flatnonzero(valid)
        k = index.size
        ext_rows, ext_cols = np.r_[rows[index], np.arange(n)], np.r_[cols[index], np.arange(n)]
        indicator = np.zeros((k + n, n))
        np.add.at(indicator, (np.arange(k + n), ext_rows), 1.0)
        np.add.at(indicator, (np.arange(k + n), ext_cols), 1.0)
        indicator[k:] /= 2.0
        weight = np.r_[np.full(k, 0.5), np.ones(n)][:, None]
        out = -0.5 * np.concatenate([vectors[:, index], np.zeros((vectors.shape[0], n))], axis=-1)
        out = out - out @ indicator @ np.linalg.inv(indicator.T @ (weight * indicator)) @ (weight * indicator).T
        if sigma_k is not None:
            root = np.sqrt(sigma_k)
            out = out / root[ext_rows] / root[ext_cols]
        out[:, :k] *= np.sqrt(2.0)
        return out
    out[:, : rows.size] *= np.sqrt(2.0)
    return out


def _whitened_full(vectors: np.ndarray, valid: np.ndarray, sigma_k: np.ndarray) -> np.ndarray:
    """L⁻¹ v with L Lᵀ = V = (C Σ Cᵀ)∘(C Σ Cᵀ), the covariance of the distance estimates."""
    _, rows, cols = _pair_index(valid.size)
    rows, cols = rows[valid], cols[valid]
    xi = (sigma_k[rows][:, rows] - sigma_k[rows][:, cols] - sigma_k[cols][:, rows] + sigma_k[cols][:, cols])
    factor = np.linalg.cholesky(xi * xi)
    return _swap(solve_triangular(factor, _swap(vectors), lower=True))


def _cov_weighted(a, b, w, sigma_k, center: bool) -> np.ndarray:
    s = max(a.shape[0], b.shape[0], w.shape[0])
    out = np.empty((s, a.shape[1], b.shape[1]))
    valid = w > 0
    masks, inverse = np.unique(valid, axis=0, return_inverse=True)
    inverse = np.broadcast_to(inverse.reshape(-1), (s,)) if w.shape[0] == 1 else inverse.reshape(-1)
    for index, mask in enumerate(masks):
        members = np.flatnonzero(inverse == index)
        sides = []
        for x in (a, b):
            rows = x[members] if x.shape[0] > 1 else x[[0]]
            flat = rows.reshape(-1, rows.shape[-1])
            if center:
                flat = flat - flat[:, mask].mean(axis=-1, keepdims=True)
            sides.append(_whitened(flat, mask, sigma_k).reshape(rows.shape[:2] + (-1,)))
        unit = np.ones((1, sides[0].shape[-1]))
        out[members] = cosine(sides[0], sides[1], unit)
    return out


def corr_cov(a, b, w, sigma_k=None) -> np.ndarray:
    """Pearson r after whitening by the covariance of the distance estimates (rsatoolbox ``"corr_cov"``)."""
    return _cov_weighted(a, b, w, sigma_k, center=True)


def cosine_cov(a, b, w, sigma_k=None) -> np.ndarray:
    """Cosine after whitening (rsatoolbox ``"cosine_cov"``; Diedrichsen et al. 2021)."""
    return _cov_weighted(a, b, w, sigma_k, center=False)


# ----------------------------------------------------------------------------- Bures
def bures(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """tr((A^½ B A^½)^½) / √(tr A · tr B) of the centred second moments A, B (rsatoolbox ``"bures"``)."""
    s = max(a.shape[0], b.shape[0])
    ga = _double_centered(a)
    gb = _double_centered(b)
    values, vectors = np.linalg.eigh(ga)
    root = vectors @ (np.sqrt(np.maximum(values, 0.0))[..., :, None] * _swap(vectors))
    out = np.empty((s, a.shape[1], b.shape[1]))
    trace_a = np.trace(ga, axis1=-2, axis2=-1)
    trace_b = np.trace(gb, axis1=-2, axis2=-1)
    for row in range(s):
        ra = root[min(row, root.shape[0] - 1)]
        gbr = gb[min(row, gb.shape[0] - 1)]
        product = ra[:, None] @ gbr[None, :] @ ra[:, None]
        eig = np.linalg.eigvalsh(product)
        num = np.sum(np.sqrt(np.maximum(eig, 0.0)), axis=-1)
        den = np.sqrt(trace_a[min(row, trace_a.shape[0] - 1)][:, None] * trace_b[min(row, trace_b.shape[0] - 1)][None])
        out[row] = _divide(num, den)
    return out
