"""Resampling stimuli with replacement, and scoring many resamples at once.

A bootstrap resample of ``n`` stimuli draws each stimulus ``c_i`` times.  Its
RDM lists every pair of drawn copies; pairs of two copies of one stimulus are
NaN (they carry no information, rsatoolbox's treatment), so the pair of
stimuli ``(i, j)`` appears ``c_i * c_j`` times.  Every comparison of two
resampled RDMs is therefore a *weighted* comparison of the original pair
vectors with weights ``w_ij = c_i c_j`` (:func:`~neuroalign.compare.pair_weights`,
``compare_rdms(..., weights=...)``).

:func:`weighted_similarity` holds the kernels that inference uses to score
thousands of resamples, models and subjects in one call (rsatoolbox's
numbers, resample by resample).  They are exact — each equals the comparison
of the expanded resampled vectors, NaN pairs dropped — and organised for
speed:

- ``cosine``, ``corr``/``pearson``: weighted moments, one matrix product per
  moment for fixed vectors.
- ``spearman``, ``rho-a``: mid-ranks among the expanded entries (a pair drawn
  ``w`` times is ``w`` tied entries), computed for fixed vectors by sorting
  once and gathering whole rows of resamples, then weighted Pearson /
  rsatoolbox's rho-a ``12 Σ w (r_a − m)(r_b − m) / (N³ − N)``.
- ``tau-a``, ``tau-b``/``kendall``: Kendall's concordance sums over the
  expanded entries.  Sorting by ``(x, y)`` turns them into a weighted
  dominance count, counted in blocks of ``B`` sorted positions: a 2-D prefix
  sum over a grid of (position block, rank block) cells plus dense
  ``B × B`` masks inside blocks (batched matrix products), about ``N·B``
  operations per resample instead of ``N²``; ties are removed exactly with
  group sums.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import xarray as xr
from scipy import sparse
from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

from ..errors import ConfigError
from .rdm import ID_A, ID_B, PAIR, to_square
from .rdm_comparison import RDM_COMPARISONS

__all__ = ["bootstrap_indices", "resample_rdm", "resample_gram", "resample_counts", "RESAMPLE"]

RESAMPLE = "resample"
_CHUNK_ELEMENTS = 2**23  # floats per working array when chunking resamples


def bootstrap_indices(n: int, n_bootstrap: int, seed: int | np.random.Generator = 0) -> np.ndarray:
    """``(n_bootstrap, n)`` indices drawn with replacement from ``range(n)``.

    Examples
    --------
    >>> from neuroalign.compare import bootstrap_indices
    >>> bootstrap_indices(5, 3, seed=0).shape
    (3, 5)
    """
    if n_bootstrap < 2:
        raise ConfigError(f"n_bootstrap must be at least 2, got {n_bootstrap}", source="n_bootstrap",
                          fix="use e.g. n_bootstrap=1000")
    return np.random.default_rng(seed).integers(0, n, size=(n_bootstrap, n))


def resample_rdm(rdm: xr.DataArray, indices: np.ndarray) -> xr.DataArray:
    """RDMs of stimulus resamples, along a new leading ``resample`` dim.

    Entry (i, j) of a resample is the dissimilarity of stimuli ``indices[i]``
    and ``indices[j]``.  Pairs of two copies of the same stimulus carry no
    information (their dissimilarity is zero by construction) and are set to
    NaN, which :func:`~neuroalign.compare.compare_rdms` drops pairwise — rsatoolbox's treatment.
    Stimulus ids become resample positions (``"#0"``, ``"#1"``…), identical
    for every RDM resampled with the same ``indices``.
    """
    square = to_square(rdm)
    batch = [d for d in square.dims if d not in (ID_A, ID_B)]
    values = square.transpose(*batch, ID_A, ID_B).values
    n = indices.shape[1]
    rows, cols = np.triu_indices(n, k=1)
    first, second = indices[:, rows], indices[:, cols]  # (resample, pair)
    picked = values[..., first, second]  # (*batch, resample, pair)
    picked = np.where(first == second, np.nan, picked)
    picked = np.moveaxis(picked, -2, 0)
    labels = np.char.add("#", np.arange(n).astype(str))
    coords = {d: square[d] for d in batch if d in square.coords}
    coords.update({ID_A: (PAIR, labels[rows]), ID_B: (PAIR, labels[cols])})
    return xr.DataArray(picked, dims=(RESAMPLE, *batch, PAIR), coords=coords, attrs=dict(rdm.attrs))


def resample_gram(gram: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Gram matrices of stimulus resamples: (…, n, n) → (resample, …, n, n)."""
    picked = gram[..., indices[:, :, None], indices[:, None, :]]  # (..., resample, n, n)
    return np.moveaxis(picked, -3, 0)


def resample_counts(indices: np.ndarray, n: int) -> np.ndarray:
    """How often each of ``n`` items is drawn in each resample: ``(resample, n)`` ints.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import resample_counts
    >>> resample_counts(np.array([[0, 0, 2]]), 3).tolist()
    [[2, 0, 1]]
    """
    indices = np.asarray(indices)
    if indices.ndim != 2 or (indices.size and (indices.min() < 0 or indices.max() >= n)):
        raise ConfigError(f"indices must be a (resample, draw) array of integers in [0, {n})", source="indices",
                          fix="draw them with bootstrap_indices(n, n_bootstrap, seed)")
    offsets = n * np.arange(indices.shape[0])[:, None]
    return np.bincount((indices + offsets).ravel(), minlength=n * indices.shape[0]).reshape(-1, n)


def counts_to_pair_weights(counts: np.ndarray) -> np.ndarray:
    """Multiplicity of each stimulus pair in a resample: ``c_i c_j`` in ``np.triu_indices`` order.

    The plain-array twin of :func:`~neuroalign.compare.pair_weights`, from counts.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare.bootstrap import counts_to_pair_weights
    >>> counts_to_pair_weights(np.array([[2, 0, 1]])).tolist()  # pairs (0,1), (0,2), (1,2)
    [[0.0, 2.0, 0.0]]
    """
    counts = np.asarray(counts, dtype=float)
    rows, cols = np.triu_indices(counts.shape[-1], k=1)
    return np.take(counts, rows, axis=-1) * np.take(counts, cols, axis=-1)


# ----------------------------------------------------------------- kernels
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


def _cumsum0(x: np.ndarray) -> np.ndarray:
    """Cumulative sum along axis 0, in sqrt-sized blocks of whole rows (numpy's is slow along axis 0)."""
    n = x.shape[0]
    size = max(1, int(np.sqrt(n)))
    nb = -(-n // size)
    out = np.zeros((nb * size,) + x.shape[1:])
    out[:n] = x
    blocks = out.reshape((nb, size) + x.shape[1:])
    for i in range(1, size):
        blocks[:, i] += blocks[:, i - 1]
    for k in range(1, nb):
        blocks[k] += blocks[k - 1, -1]
    return out[:n]


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
    if a.shape[0] == 1 and b.shape[0] == 1:
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


def _linear(a, b, w, paired, center):
    a, b = _standardised(a, center), _standardised(b, center)
    n = w.sum(axis=-1)[:, None]
    sab = _wcross(a, b, w, paired)
    saa, sbb = _wsum(a * a, w), _wsum(b * b, w)
    if center:
        ma, mb = _wsum(a, w) / n, _wsum(b, w) / n
        saa = saa - n * ma**2
        sbb = sbb - n * mb**2
        if paired:
            sab = sab - n * ma * mb
        else:
            sab = sab - n[:, :, None] * ma[:, :, None] * mb[:, None, :]
    saa, sbb = np.maximum(saa, 0), np.maximum(sbb, 0)  # rounding can leave a constant vector at −1e-17
    denom = np.sqrt(saa * sbb) if paired else np.sqrt(saa[:, :, None] * sbb[:, None, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        return sab / denom


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
    products = _wcross(ra - middle, rb - middle, w, paired)
    scale = 12 / (n**3 - n)
    return products * (scale[:, None] if paired else scale[:, None, None])


def _group_square_sums(w: np.ndarray, keys: list[np.ndarray]) -> np.ndarray:
    """Σ_g (Σ_{p in g} w_p)² over runs of equal ``keys`` along the last axis; (R, P) → (R,)."""
    change = np.zeros(np.broadcast_shapes(*[k.shape for k in keys]), dtype=bool)
    for key in keys:
        change[..., 1:] |= key[..., 1:] != key[..., :-1]
    if change.shape[0] == 1:  # shared boundaries: one reduceat
        starts = np.flatnonzero(np.r_[True, change[0, 1:]])
        return (np.add.reduceat(w, starts, axis=-1) ** 2).sum(axis=-1)
    end = np.ones(w.shape, dtype=bool)
    end[..., :-1] = change[..., 1:]
    cumulative = np.cumsum(w, axis=-1)
    previous = np.zeros(w.shape)
    previous[..., 1:] = np.maximum.accumulate(np.where(end, cumulative, 0.0), axis=-1)[..., :-1]
    return (np.where(end, cumulative - previous, 0.0) ** 2).sum(axis=-1)


def _masked_bilinear(w: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Σ_k Σ_ab w_rka mask_kab w_rkb for w (R, nb, B) and a mask shared (1, …) or per row (R, …)."""
    if mask.shape[0] == 1:  # one batched matrix product (contiguous, so BLAS takes it)
        blocks = np.ascontiguousarray(w.transpose(1, 0, 2))  # (nb, R, B)
        return (np.matmul(blocks, mask[0].astype(float)) * blocks).sum(axis=(0, 2))
    return np.einsum("rka,rkab,rkb->r", w, mask.astype(float), w, optimize=True)


def _kendall_sums(x: np.ndarray, y: np.ndarray, w: np.ndarray, block: int):
    """Kendall sums of expanded entries for one pair of vectors x (Rx, P), y (Ry, P), weights (R, P).

    Returns ``(S, n, x_ties, y_ties)``: S = Σ_{p≠q} w_p w_q sgn(x_p − x_q) sgn(y_p − y_q)
    (= 2 (concordant − discordant)), n = Σ w, and Σ_g W_g² over the tie groups of x and of y.
    """
    r, p = w.shape
    shape = (max(x.shape[0], y.shape[0]), p)
    order = np.lexsort((np.broadcast_to(y, shape), np.broadcast_to(x, shape)), axis=-1)  # sort by x, then y
    xs, ys, ws = _take(x, order), _take(y, order), _take(w, order)
    by_y = np.argsort(ys, axis=-1, kind="stable")  # positions listed by (y, position)
    rank_y = np.empty_like(by_y)
    np.put_along_axis(rank_y, by_y, np.broadcast_to(np.arange(p), by_y.shape), axis=-1)
    # S1 = Σ_q w_q Σ_{p<q, rank_y[p]<rank_y[q]} w_p, counted in blocks of `block` positions
    nb = -(-p // block)
    pad = nb * block - p
    ws_pad = np.pad(ws, ((0, 0), (0, pad)))
    rank_pad = np.concatenate([rank_y, np.broadcast_to(np.arange(p, p + pad), rank_y.shape[:1] + (pad,))], -1)
    by_y_pad = np.concatenate([by_y, np.broadcast_to(np.arange(p, p + pad), by_y.shape[:1] + (pad,))], -1)
    upper = np.triu(np.ones((block, block), dtype=bool), k=1)
    ranks_in_block = rank_pad.reshape(-1, nb, block)
    same_position_block = (ranks_in_block[..., :, None] < ranks_in_block[..., None, :]) & upper
    total = _masked_bilinear(ws_pad.reshape(r, nb, block), same_position_block)
    blocks_in_rank = (by_y_pad // block).reshape(-1, nb, block)
    same_rank_block = (blocks_in_rank[..., :, None] < blocks_in_rank[..., None, :]) & upper
    total += _masked_bilinear(_take(ws_pad, by_y_pad).reshape(r, nb, block), same_rank_block)
    cell = (np.arange(nb * block) // block) * nb + rank_pad // block  # (position block, rank block)
    if cell.shape[0] == 1:
        cell_order = np.argsort(cell[0], kind="stable")
        cells, starts = np.unique(cell[0][cell_order], return_index=True)
        grid = np.zeros((r, nb * nb))
        grid[:, cells] = np.add.reduceat(np.take(ws_pad, cell_order, axis=1), starts, axis=-1)
    else:
        flat = (cell + (nb * nb) * np.arange(r)[:, None]).ravel()
        grid = np.bincount(flat, weights=ws_pad.ravel(), minlength=r * nb * nb)
    grid = grid.reshape(r, nb, nb)
    prefix = np.cumsum(np.cumsum(grid, axis=1), axis=2)
    total += np.einsum("rik,rik->r", grid[:, 1:, 1:], prefix[:, :-1, :-1])
    n = ws.sum(axis=-1)
    squares = (ws**2).sum(axis=-1)
    x_ties = _group_square_sums(ws, [xs])
    y_ties = _group_square_sums(_take(ws, by_y), [_take(ys, by_y)])
    joint_ties = _group_square_sums(ws, [xs, ys])
    # ties in x were broken by y (contributing +1 per ordered pair with different y): remove them
    broken = 2 * (2 * total - (y_ties - squares) / 2 - (n**2 - squares) / 2)
    return broken - (x_ties - joint_ties), n, x_ties, y_ties


def _kendall_shared(x: np.ndarray, y: np.ndarray, weights: np.ndarray, n: np.ndarray, squares: np.ndarray,
                    block: int, sorted_by_x: tuple[np.ndarray, np.ndarray] | None = None):
    """:func:`_kendall_sums` for fixed vectors x, y (P,): weights transposed (P + 1, R), last row 0.

    Every gather copies whole rows of R resamples, and the in-block counts are
    one batched matrix product per block family.  ``weights`` may be float32
    when they are whole numbers with w_max² · block < 2²⁴ (every product and
    in-block sum is then an exact integer; the sums over blocks are float64);
    ``n`` and ``squares`` are Σ w and Σ w² per resample (float64).
    ``sorted_by_x``: ``(order, weights[order])`` when x has no ties, shared by every y.
    """
    p = x.shape[0]
    nb = -(-p // block)
    pads = np.arange(p, nb * block)
    if sorted_by_x is None:
        order = np.lexsort((y, x))
        ws = np.take(weights, np.concatenate([order, np.full(len(pads), p)]), axis=0)  # (P_pad, R), pads weigh 0
    else:
        order, ws = sorted_by_x
    xs, ys = x[order], y[order]
    by_y = np.argsort(ys, kind="stable")
    rank_y = np.empty(p, dtype=int)
    rank_y[by_y] = np.arange(p)
    rank_pad, by_y_pad = np.concatenate([rank_y, pads]), np.concatenate([by_y, pads])
    upper = np.triu(np.ones((block, block), dtype=bool), k=1)
    wy = np.take(ws, by_y_pad, axis=0)
    total = np.zeros(ws.shape[1])
    for key, values in ((rank_pad, ws), (by_y_pad // block, wy)):
        key = key.reshape(nb, block)
        mask = ((key[:, None, :] < key[:, :, None]) & upper.T).astype(ws.dtype)  # transposed (nb, B, B)
        blocks = values.reshape(nb, block, -1)
        total += (np.matmul(mask, blocks) * blocks).sum(axis=(0, 1), dtype=float)
    cell = (np.arange(nb * block) // block) * nb + rank_pad // block  # (position block, rank block)
    one_hot = sparse.csr_array((np.ones(len(cell), dtype=ws.dtype), (cell, np.arange(len(cell)))),
                               shape=(nb * nb, len(cell)))
    grid = (one_hot @ ws).reshape(nb, nb, -1)  # (position block, rank block, R); sums below 2**24 are exact
    prefix = grid.copy()
    for i in range(1, nb):  # 2-D prefix sums by whole slices (numpy's cumsum is slow along leading axes)
        prefix[i] += prefix[i - 1]
    for k in range(1, nb):
        prefix[:, k] += prefix[:, k - 1]
    total += np.einsum("ikr,ikr->r", grid[1:, 1:], prefix[:-1, :-1], dtype=float)

    def square_sums(values, *keys):  # Σ_g W_g², summing only over groups of tied entries
        change = np.zeros(p - 1, dtype=bool)
        for k in keys:
            change |= k[1:] != k[:-1]
        starts = np.flatnonzero(np.r_[True, change])
        sizes = np.diff(np.r_[starts, p])
        tied = sizes > 1
        if not tied.any():
            return squares
        offsets = np.r_[0, np.cumsum(sizes[tied])[:-1]]  # where each tied group starts among the picked rows
        rows = np.repeat(starts[tied] - offsets, sizes[tied]) + np.arange(sizes[tied].sum())
        picked = np.take(values, rows, axis=0).astype(float)
        groups = np.add.reduceat(picked, offsets, axis=0)
        return squares - (picked**2).sum(axis=0) + (groups**2).sum(axis=0)

    x_ties, joint_ties, y_ties = square_sums(ws, xs), square_sums(ws, xs, ys), square_sums(wy, ys[by_y])
    broken = 2 * (2 * total - (y_ties - squares) / 2 - (n**2 - squares) / 2)
    return broken - (x_ties - joint_ties), n, x_ties, y_ties


def _kendall(a, b, w, paired, variant, block=96):
    pairs = [(i, i) for i in range(a.shape[1])] if paired else [(i, j) for i in range(a.shape[1])
                                                                 for j in range(b.shape[1])]
    shared = a.shape[0] == 1 and b.shape[0] == 1
    if shared:
        # float32 is exact when the weights are small whole numbers (bootstrap counts c_i c_j)
        exact32 = w.max() ** 2 * block < 2**24 and w.sum(axis=-1).max() < 2**24 and np.array_equal(w, np.round(w))
        weights = np.zeros((w.shape[1] + 1, w.shape[0]), dtype=np.float32 if exact32 else float)
        weights[:-1] = w.T
        n, squares = w.sum(axis=-1), (w**2).sum(axis=-1)
    out = np.empty((w.shape[0], len(pairs)))
    cached = {}
    for k, (i, j) in enumerate(pairs):  # a handful of RDM pairs; every resample at once
        if shared:
            x = a[0, i]
            if i not in cached:  # an x without ties has one order for every y: gather its weights once
                pad = (-len(x)) % block
                order = np.argsort(x, kind="stable")
                cached[i] = ((order, np.take(weights, np.r_[order, np.full(pad, len(x))], axis=0))
                             if len(np.unique(x)) == len(x) else None)
            s, n, x_ties, y_ties = _kendall_shared(x, b[0, j], weights, n, squares, block, cached[i])
        else:  # masks are built per resample: smaller blocks
            s, n, x_ties, y_ties = _kendall_sums(a[:, i], b[:, j], w, 32)
        with np.errstate(invalid="ignore", divide="ignore"):
            if variant == "a":
                out[:, k] = s / (n * (n - 1))
            else:
                out[:, k] = (s / 2) / np.sqrt((n * (n - 1) - x_ties + n) / 2 * (n * (n - 1) - y_ties + n) / 2)
    return out if paired else out.reshape(w.shape[0], a.shape[1], b.shape[1])


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

#: Comparison methods scored on resamples by weighted kernels (no resampled RDMs are built).
WEIGHTED_COMPARISONS: tuple[str, ...] = tuple(_KERNELS)


def single_threaded_blas():
    """A context with one BLAS thread: the kernels issue many small matrix products, which a
    multi-threaded BLAS slows down by 10–20× (thread start-up per product, worse on a busy machine)."""
    return threadpool_limits(limits=1, user_api="blas")


def has_kernel(method: str) -> bool:
    """Whether ``method`` is registered in :data:`RDM_COMPARISONS` and has a weighted kernel."""
    return method in _KERNELS and method in RDM_COMPARISONS


def weighted_similarity(a: np.ndarray, b: np.ndarray, weights: np.ndarray, method: str, *,
                        paired: bool = False) -> np.ndarray:
    """Comparison of RDM vectors under pair weights, chunked over resamples (plain arrays).

    ``a`` (Ra, A, P) and ``b`` (Rb, B, P) with Ra, Rb in {1, R}, finite;
    ``weights`` (R, P) non-negative (zero drops a pair).  Returns (R, A, B), or
    (R, A) when ``paired``.  Resamples with fewer than 3 weighted pairs are NaN.
    """
    kernel = _KERNELS[method]
    a, b, weights = (np.asarray(x, dtype=float) for x in (a, b, weights))
    r, p = weights.shape
    if method in ("tau-a", "tau-b", "kendall"):  # per-resample block masks, or a few (R, P) arrays
        per_row = p * (40 if a.shape[0] != 1 or b.shape[0] != 1 else 8)
    else:
        per_row = p * 4 * (a.shape[1] + b.shape[1])
    step = max(1, _CHUNK_ELEMENTS // per_row)
    parts = []
    with single_threaded_blas():
        for start in range(0, r, step):  # chunks bound memory; each chunk is vectorised
            rows = slice(start, start + step)
            parts.append(kernel(*(x if x.shape[0] == 1 else x[rows] for x in (a, b)), weights[rows], paired))
    out = np.concatenate(parts, axis=0)
    too_few = (weights > 0).sum(axis=-1) < 3
    out[too_few] = np.nan
    return out
