"""KSG's per-sample terms by an exact, blocked scan over all pairs: faster than KD-trees in many dims.

In tens of joint dims a KD-tree prunes poorly: each query still visits a good share of the leaves,
with the bookkeeping of a tree walk on top.  Here every query is compared with every sample, but as
a compiled, vectorised loop (numba): the samples are stored dims-major (one contiguous row per dim),
so for one query and one dim the inner loop runs over contiguous samples,

    dist[j] = max(dist[j], |z[d, j] - q[d]|),

without a branch or an early exit, which the compiler turns into SIMD instructions.  Samples are
taken in tiles (about 512 KiB of data, reused from cache by a block of queries), and the queries in
blocks whose distance rows stay small; no ``n × n`` matrix is ever built (memory: the data, plus
two rows of ``n`` distances per query of a block).

The values are the trees' exactly: the max-norm distance in each space is the same floating-point
maximum of the same ``|a - b|`` terms; the joint distance is the larger of the two spaces' (equal
to the max over all joint dims); :math:`\\varepsilon_i` is the ``k``-th smallest joint distance to the
*other* samples (ties counted with their multiplicity, as a tree's ``k + 1`` nearest including the
query itself); the counts are of the samples with distance strictly below :math:`\\varepsilon_i`
(the query itself included, then removed), exactly what ``query_radius(nextafter(ε, 0))`` counts.

Ross's estimator for labels uses the same scan in one space: :func:`scan_kth_distance` (the ``k``-th
distance to the other samples, run on one class's samples) and :func:`scan_count_closer` (the strict
counts within given radii, over all samples).
"""

from __future__ import annotations

import numpy as np

from ..._compiled import compiled

__all__ = ["scan_neighbour_counts", "scan_kth_distance", "scan_count_closer"]

#: bytes of sample data per tile (both spaces): a tile is reused by a block of queries from cache
TILE_BYTES = 512 * 1024
#: queries per block (fewer when their distance rows would exceed ``ROW_BYTES``)
QUERY_BLOCK = 16
#: bytes of the distance rows of one query block, at most
ROW_BYTES = 64 * 1024 * 1024


@compiled
def _max_abs_rows(points, query, first, stop, row):  # pragma: no cover - compiled
    """``row[j] = max_d |points[d, j] - points[d, query]|`` for ``first <= j < stop`` (max-norm distances).

    The loops index slices from 0, so the compiler knows no index is negative (numba would otherwise
    test each one for wraparound) and vectorises the inner loop; four dims per pass over ``row`` cut its
    loads and stores fourfold (a maximum is exact in any order, so the values do not change).
    """
    out = row[first:stop]
    size = out.shape[0]
    values = points[0, first:stop]
    centre = points[0, query]
    for j in range(size):
        out[j] = abs(values[j] - centre)
    dims = points.shape[0]
    d = 1
    while d + 4 <= dims:
        v0, v1 = points[d, first:stop], points[d + 1, first:stop]
        v2, v3 = points[d + 2, first:stop], points[d + 3, first:stop]
        c0, c1, c2, c3 = points[d, query], points[d + 1, query], points[d + 2, query], points[d + 3, query]
        for j in range(size):
            a, b = abs(v0[j] - c0), abs(v1[j] - c1)
            c, e = abs(v2[j] - c2), abs(v3[j] - c3)
            a = a if a > b else b
            c = c if c > e else e
            a = a if a > c else c
            out[j] = a if a > out[j] else out[j]
        d += 4
    for rest in range(d, dims):
        values = points[rest, first:stop]
        centre = points[rest, query]
        for j in range(size):
            value = abs(values[j] - centre)
            out[j] = value if value > out[j] else out[j]


@compiled
def _insert(best, value):  # pragma: no cover - compiled
    """Put ``value`` into the sorted ``best`` (dropping its largest entry); the new largest entry."""
    at = best.shape[0] - 1
    while at > 0 and best[at - 1] > value:
        best[at] = best[at - 1]
        at -= 1
    best[at] = value
    return best[best.shape[0] - 1]


@compiled
def _block_rows(points, q0, q1, tile, rows):  # pragma: no cover - compiled
    """``rows[q - q0]`` := the max-norm distances from sample ``q`` to every sample, for ``q0 <= q < q1``,
    tile by tile of samples (a tile's columns stay in cache for the whole block of queries)."""
    n = points.shape[1]
    for t0 in range(0, n, tile):
        t1 = min(t0 + tile, n)
        for q in range(q0, q1):
            _max_abs_rows(points, q, t0, t1, rows[q - q0])


@compiled
def _scan_one_space(points, k, radius, query_block, tile):  # pragma: no cover - compiled
    """In one space: for ``k > 0``, ``radius[q]`` := the ``k``-th smallest distance to the other samples;
    then (any ``k``) the number of samples, ``q`` itself included, strictly within ``radius[q]``."""
    n = points.shape[1]
    counts = np.empty(n, np.int64)
    rows = np.empty((query_block, n))
    best = np.empty(max(k, 1))
    for q0 in range(0, n, query_block):
        q1 = min(q0 + query_block, n)
        _block_rows(points, q0, q1, tile, rows)
        for q in range(q0, q1):
            row = rows[q - q0]
            if k > 0:
                best[:] = np.inf
                eps = np.inf
                for j in range(n):
                    if j != q and row[j] < eps:
                        eps = _insert(best, row[j])
                radius[q] = eps
            eps = radius[q]
            count = 0
            for j in range(n):
                count += row[j] < eps
            counts[q] = count
    return counts


@compiled
def _scan(xt, yt, k, query_block, tile):  # pragma: no cover - compiled
    """The joint ``k``-th neighbour distance and the strict counts, for every sample (see the module)."""
    n = xt.shape[1]
    radius = np.empty(n)
    n_x = np.empty(n, np.int64)
    n_y = np.empty(n, np.int64)
    rows_x = np.empty((query_block, n))
    rows_y = np.empty((query_block, n))
    best = np.empty(k)
    for q0 in range(0, n, query_block):
        q1 = min(q0 + query_block, n)
        _block_rows(xt, q0, q1, tile, rows_x)
        _block_rows(yt, q0, q1, tile, rows_y)
        for q in range(q0, q1):
            row_x = rows_x[q - q0]
            row_y = rows_y[q - q0]
            best[:] = np.inf
            eps = np.inf
            for j in range(n):  # the k smallest joint distances to the other samples, sorted
                if j == q:
                    continue
                value = row_x[j] if row_x[j] > row_y[j] else row_y[j]
                if value < eps:
                    eps = _insert(best, value)
            count_x = 0
            count_y = 0
            for j in range(n):
                count_x += row_x[j] < eps
                count_y += row_y[j] < eps
            radius[q] = eps
            n_x[q] = count_x - 1  # the sample itself (distance 0 < ε) is not a neighbour
            n_y[q] = count_y - 1
    return radius, n_x, n_y


def _layout(points: np.ndarray, dims: int) -> tuple[int, int]:
    """Queries per block and samples per tile for ``points`` (dims-major) of ``dims`` dims in all."""
    n = points.shape[1]
    return int(max(1, min(QUERY_BLOCK, ROW_BYTES // (16 * n)))), int(max(64, TILE_BYTES // (8 * dims)))


def scan_kth_distance(points: np.ndarray, k: int) -> np.ndarray:
    """Max-norm distance of each row of ``points`` (``(samples, dims)``) to its ``k``-th other row, by the scan.

    Examples
    --------
    >>> import numpy as np
    >>> scan_kth_distance(np.array([[0.0], [1.0], [3.0], [7.0]]), 2).tolist()
    [3.0, 2.0, 3.0, 6.0]
    """
    points = np.ascontiguousarray(points.T, dtype=np.float64)
    radius = np.empty(points.shape[1])
    _scan_one_space(points, int(k), radius, *_layout(points, points.shape[0]))
    return radius


def scan_count_closer(points: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """How many rows of ``points`` (each row itself included) lie strictly within ``radius`` of each row
    (max-norm), by the scan: what ``KDTree.query_radius(points, nextafter(radius, 0), count_only=True)``
    counts.

    Examples
    --------
    >>> import numpy as np
    >>> scan_count_closer(np.array([[0.0], [1.0], [3.0], [7.0]]), np.array([1.0, 2.5, 4.0, 4.0])).tolist()
    [1, 3, 3, 1]
    """
    points = np.ascontiguousarray(points.T, dtype=np.float64)
    radius = np.array(radius, dtype=np.float64)  # a copy: the kernel writes the radii it is asked for
    return _scan_one_space(points, 0, radius, *_layout(points, points.shape[0]))


def scan_neighbour_counts(x: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """KSG's per-sample terms on ``(samples, dims)`` float arrays by the blocked scan.

    Returns :math:`\\varepsilon_i` (the max-norm distance to the ``k``-th other sample in the joint
    space) and the counts :math:`n_x(i)`, :math:`n_y(i)` of other samples strictly closer than
    :math:`\\varepsilon_i` in each space, as ``neighbour_counts(..., method="tree")`` does; ``k`` must
    be below the number of samples (the caller checks it).  A zero :math:`\\varepsilon_i` (duplicated
    samples) is returned as it is.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.0], [1.0], [3.0], [7.0]])
    >>> radius, n_x, n_y = scan_neighbour_counts(x, 2 * x, 1)
    >>> radius.tolist(), n_x.tolist(), n_y.tolist()
    ([2.0, 2.0, 4.0, 8.0], [1, 1, 2, 3], [0, 0, 0, 0])
    """
    xt = np.ascontiguousarray(x.T, dtype=np.float64)
    yt = np.ascontiguousarray(y.T, dtype=np.float64)
    return _scan(xt, yt, int(k), *_layout(xt, xt.shape[0] + yt.shape[0]))
