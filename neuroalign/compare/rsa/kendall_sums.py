"""Kendall concordance sums of weighted vectors, compiled with numba: one ``O(P log P)`` pass per row.

Every Kendall comparison in the toolkit (tau-a, tau-b, their resamples and
noise ceilings) reduces to four sums over the *expanded* entries, where an
entry of weight ``w`` stands for ``w`` tied copies (a stimulus bootstrap
repeats the pair of stimuli i and j ``c_i c_j`` times; weight 0 drops it).
:func:`kendall_sums` computes them with Knight's method (Knight 1966, "A
computer method for calculating Kendall's tau with ungrouped data", JASA
61:436) in its Fenwick-tree form: walk the entries in order of ``x`` and, for
each, look up the weight already seen with a larger ``y`` rank in a binary
indexed tree.  Groups of tied ``x`` are looked up before any of them is
added, so only strictly ordered pairs count as discordant.

The orders and ranks are computed by numpy outside the compiled loop (its
SIMD sorts are faster than a compiled sort), once per vector: a vector
shared by every resample is sorted once for all of them.  The loop releases
the GIL, so callers split rows over threads.
"""

from __future__ import annotations

import numpy as np

from ..._compiled import compiled
from ..common.bootstrap import weighted_columns

__all__ = ["dense_ranks", "has_ties", "kendall_sums", "row_orders"]


@compiled
def _x_groups(xs, ws, m, stops):
    """Ends of the runs of tied ``xs[:m]`` into ``stops``; returns (number of runs, Σ w, Σ_g W_g²)."""
    n_groups, start, seen, x_ties = 0, 0, 0.0, 0.0
    while start < m:
        stop, group = start + 1, ws[start]
        while stop < m and xs[stop] == xs[start]:
            group += ws[stop]
            stop += 1
        stops[n_groups] = stop
        n_groups += 1
        seen += group
        x_ties += group * group
        start = stop
    return n_groups, seen, x_ties


@compiled
def _discordant_pass(ys, ws, m, stops, n_groups, tree, counts, y_tied):
    """(Σ w_p w_q over x_p < x_q with y_p > y_q, Σ W² of the (x, y) tie groups, Σ W² of the y tie groups).

    ``tree`` (Fenwick tree over the ranks) and ``counts`` are zeroed scratch, left zeroed.  Without
    ties in y (``y_tied`` False) both tie sums are Σ w².
    """
    size = len(tree) - 1
    seen, discordant, joint_ties, start = 0.0, 0.0, 0.0, 0
    for g in range(n_groups):
        stop = stops[g]
        for t in range(start, stop):  # look up the whole group first: tied x never counts as discordant
            k = ys[t] + 1
            at_most = 0.0
            while k > 0:
                at_most += tree[k]
                k -= k & -k
            discordant += ws[t] * (seen - at_most)
        if stop - start > 1 and y_tied:  # Σ W² over the y-rank groups inside this x group
            for t in range(start, stop):
                counts[ys[t]] += ws[t]
            for t in range(start, stop):
                joint_ties += counts[ys[t]] ** 2
                counts[ys[t]] = 0.0
        else:
            for t in range(start, stop):
                joint_ties += ws[t] ** 2
        for t in range(start, stop):
            seen += ws[t]
            k = ys[t] + 1
            while k <= size:
                tree[k] += ws[t]
                k += k & -k
        start = stop
    tree[:] = 0.0
    if not y_tied:
        return discordant, joint_ties, joint_ties
    y_ties = 0.0
    for t in range(m):
        counts[ys[t]] += ws[t]
    for t in range(m):
        y_ties += counts[ys[t]] ** 2
        counts[ys[t]] = 0.0
    return discordant, joint_ties, y_ties


@compiled
def _rows(x, y_ranks, y_tied, w, n_ranks, out):
    """out[r, b] = (S, n, x_ties, y_ties) of row r of x, w against y_ranks[b] (ties in it: ``y_tied[b]``)."""
    length, n_y = w.shape[1], y_ranks.shape[0]
    tree, counts = np.zeros(n_ranks + 1), np.zeros(n_ranks + 1)
    xs, ws, stops = np.empty(length), np.empty(length), np.empty(length, dtype=np.int64)
    ys = np.empty((n_y, length), dtype=np.int64)
    for r in range(w.shape[0]):
        xr, wr = x[r if x.shape[0] > 1 else 0], w[r]
        yr = r if y_ranks.shape[1] > 1 else 0
        m = 0
        for t in range(length):  # keep the weighted entries (branch-free), once for every y
            xs[m], ws[m] = xr[t], wr[t]
            for b in range(n_y):
                ys[b, m] = y_ranks[b, yr, t]
            m += wr[t] != 0
        n_groups, n, x_ties = _x_groups(xs, ws, m, stops)
        for b in range(n_y):
            discordant, joint_ties, y_ties = _discordant_pass(ys[b], ws, m, stops, n_groups, tree, counts,
                                                                y_tied[b])
            # 2 (concordant − discordant) over all pairs of expanded entries, from the pair counts: all
            # n(n−1)/2, minus those tied in x, minus tied in y, plus tied in both, minus twice the discordant
            out[r, b, 0] = n * n - x_ties - y_ties + joint_ties - 4.0 * discordant
            out[r, b, 1], out[r, b, 2], out[r, b, 3] = n, x_ties, y_ties


def row_orders(x: np.ndarray, w: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
    """The entries of each row in ascending ``x``: x (Rx, P), weights w (R, P) → indices (Rx, K) into P.

    A shared x (Rx = 1) is sorted once.  Rows of their own skip the entries
    of weight 0 before sorting (a stimulus bootstrap weighs ~40% of the
    pairs), so K is the largest number of weighted entries in a row; the
    padding indices point at entries of weight 0 (``columns``: :func:`.bootstrap.weighted_columns` of w, when the
    caller has it already).  Sorting uses float32 keys
    when they represent x exactly (same order, same ties, twice the SIMD width).
    """
    keys = _exact_float32(x)
    if x.shape[0] == 1:
        return np.argsort(keys, axis=-1)
    columns = weighted_columns(w) if columns is None else columns
    ordered = np.argsort(np.take_along_axis(keys, columns, axis=-1), axis=-1)
    return np.take_along_axis(columns, ordered, axis=-1)


def dense_ranks(y: np.ndarray) -> np.ndarray:
    """Ranks 0, 1, … of the distinct values of each row of y (R, P); ties share a rank (int64)."""
    order = np.argsort(_exact_float32(y), axis=-1)
    ordered = np.take_along_axis(y, order, axis=-1)
    new = np.ones(y.shape, dtype=np.int64)
    new[..., 0] = 0
    new[..., 1:] = ordered[..., 1:] != ordered[..., :-1]
    ranks = np.empty(y.shape, dtype=np.int64)
    np.put_along_axis(ranks, order, np.cumsum(new, axis=-1), axis=-1)
    return ranks


def has_ties(ranks: np.ndarray) -> bool:
    """Whether any row of dense ranks (R, P) (:func:`dense_ranks`) has tied values."""
    return bool((ranks.max(axis=-1, initial=0) + 1 < ranks.shape[-1]).any())


def _exact_float32(x: np.ndarray) -> np.ndarray:
    x32 = x.astype(np.float32)
    return x32 if np.array_equal(x32, x) else x


def kendall_sums(x: np.ndarray, y_ranks: np.ndarray, w: np.ndarray, y_tied: np.ndarray | None = None):
    """Kendall sums of the expanded entries of every row against several y, each row in ascending x.

    Parameters
    ----------
    x : ndarray, (Rx, K)
        The first vector, ascending along each row (for its ties).
    y_ranks : ndarray of int, (B, Ry, K)
        Dense ranks (:func:`dense_ranks`) of B second vectors, in the same order.
    w : ndarray, (R, K)
        Non-negative weights (copies of each entry) in the same order; entries
        of weight 0 are skipped.  ``Rx`` and ``Ry`` are 1 (shared) or R.
    y_tied : ndarray of bool, (B,), optional
        Whether each y may have ties (default: all may).  False skips the
        tie sums: they are then Σ w² (:func:`has_ties` of the whole ranks).

    Returns
    -------
    S, n, x_ties, y_ties : ndarray, (R, B)
        S = Σ_{p≠q} w_p w_q sgn(x_p − x_q) sgn(y_p − y_q) (= 2 (concordant −
        discordant) of the expanded entries), n = Σ w, and Σ_g W_g² over the
        groups of tied x and of tied y (W_g the weight of group g).  Then
        tau-a = S / (n (n − 1)).

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare.rsa.kendall_sums import dense_ranks, kendall_sums
    >>> x, y = np.array([[1.0, 2.0, 3.0]]), np.array([[1.0, 3.0, 2.0]])
    >>> s, n, _, _ = kendall_sums(x, dense_ranks(y)[None], np.ones((1, 3)))
    >>> float(s[0, 0] / (n[0, 0] * (n[0, 0] - 1)))  # tau-a: 2 concordant pairs, 1 discordant
    0.3333333333333333
    """
    out = np.empty((w.shape[0], y_ranks.shape[0], 4))
    y_ranks = np.ascontiguousarray(y_ranks, dtype=np.int64)
    y_tied = np.ones(len(y_ranks), dtype=bool) if y_tied is None else np.asarray(y_tied, dtype=bool)
    _rows(np.ascontiguousarray(x, dtype=np.float64), y_ranks, y_tied, np.ascontiguousarray(w, dtype=np.float64),
          int(y_ranks.max(initial=0)) + 1, out)
    return out[..., 0], out[..., 1], out[..., 2], out[..., 3]
