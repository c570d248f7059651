"""The numerics behind :func:`~neuroalign.compare.compare_rdms` and the RSA bootstrap: one kernel per method.

Registry kernels (``RDM_COMPARISONS[name].kernel(a, b, w)``) take RDM vectors
``a`` ``(s_a, k_a, n)`` and ``b`` ``(s_b, k_b, n)`` and pair weights ``w``
``(s_w, n)``, where each ``s_*`` is 1 or the common size ``s``, and return the
``(s, k_a, k_b)`` table of similarities: the ``s`` axis is matched element by
element, the ``k`` axes are crossed.  A weight is the number of times a pair
is repeated (0 drops it): a stimulus bootstrap repeats the pair of stimuli i
and j c_i·c_j times, so weighting the original RDMs gives exactly the
comparison of the resampled ones.  Entries with weight 0 must be finite (e.g.
NaN replaced by 0).  Degenerate comparisons (constant vectors, fewer than 2
pairs) come back as NaN, for the caller to report.

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
  expanded entries.  Sorting by ``(x, y)`` turns them into a weighted
  dominance count, counted in blocks of ``B`` sorted positions: a 2-D prefix
  sum over a grid of (position block, rank block) cells plus dense
  ``B × B`` masks inside blocks (batched matrix products), about ``N·B``
  operations per resample instead of ``N²``; ties are removed exactly with
  group sums.

``corr_cov``/``cosine_cov`` (whitened) and ``bures`` take no weights.
Formulas follow rsatoolbox 0.3 (``rsatoolbox.rdm.compare``); see
``docs/compare-rdm.md``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import sparse
from threadpoolctl import ThreadpoolController  # a dependency of scikit-learn

from .._threads import available_cores, thread_map

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
    products = _wcross(ra - middle, rb - middle, w, paired)
    scale = n**3 - n
    return _divide(12 * products, np.broadcast_to(scale[:, None] if paired else scale[:, None, None], products.shape))


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


def _weighted_columns(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of w (R, P), the columns with a positive weight first (in order), cut to the longest such set.

    A stimulus bootstrap draws ~63% of the stimuli, so ~40% of the pairs carry
    weight; the columns after a row's own weighted ones weigh zero and change
    no Kendall sum.  Returns the columns (R, M) and their weights.
    """
    weighted = w > 0
    longest = max(int(weighted.sum(axis=-1).max()), 1)
    columns = np.argsort(~weighted, axis=-1, kind="stable")[:, :longest]
    return columns, np.take_along_axis(w, columns, axis=-1)


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
    cached, compact = {}, None
    for k, (i, j) in enumerate(pairs):  # a handful of RDM pairs; every resample at once
        if shared:
            x = a[0, i]
            if i not in cached:  # an x without ties has one order for every y: gather its weights once
                pad = (-len(x)) % block
                order = np.argsort(x, kind="stable")
                cached[i] = ((order, np.take(weights, np.r_[order, np.full(pad, len(x))], axis=0))
                             if len(np.unique(x)) == len(x) else None)
            s, n, x_ties, y_ties = _kendall_shared(x, b[0, j], weights, n, squares, block, cached[i])
        else:  # masks are built per resample: smaller blocks, over the pairs each resample weighs
            if compact is None:
                compact = _weighted_columns(w)
            columns, weights_c = compact
            x, y = (np.take_along_axis(np.broadcast_to(v, w.shape), columns, axis=-1) for v in (a[:, i], b[:, j]))
            s, n, x_ties, y_ties = _kendall_sums(x, y, weights_c, 24)
        if variant == "a":
            out[:, k] = _divide(s, n * (n - 1))
        else:  # untied pairs in x: (n(n−1) − Σ W_g² + n) / 2
            out[:, k] = _divide(s / 2, np.sqrt(np.clip(n * (n - 1) - x_ties + n, 0, None) / 2 *
                                              np.clip(n * (n - 1) - y_ties + n, 0, None) / 2))
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
    if method in ("tau-a", "tau-b", "kendall"):  # per-resample block masks, or a few (R, P) arrays
        per_row = p * (40 if a.shape[0] != 1 or b.shape[0] != 1 else 8)
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
    element).  Resamples with fewer than 3 weighted pairs are NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare.comparison_methods import weighted_similarity
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
