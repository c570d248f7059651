"""The compiled weighted Kendall sums against brute force on the expanded vectors, and against scipy.

A weight ``w`` stands for ``w`` tied copies of an entry, so every sum must
equal the plain sum over the vector with each entry repeated ``w`` times.
"""

import numpy as np
import pytest
from scipy.stats import kendalltau

from neuroalign.compare.rsa.comparison_methods import weighted_similarity
from neuroalign.compare.common.bootstrap import weighted_columns
from neuroalign.compare.rsa.kendall_sums import dense_ranks, has_ties, kendall_sums, row_orders


def brute_force(x, y, w):
    """(S, n, x_ties, y_ties) of one row from the expanded vectors."""
    counts = w.astype(int)
    xe, ye = np.repeat(x, counts), np.repeat(y, counts)
    s = float((np.sign(xe[:, None] - xe[None]) * np.sign(ye[:, None] - ye[None])).sum())
    return s, float(len(xe)), tie_squares(xe), tie_squares(ye)


def tie_squares(v):
    return float(sum(c**2 for c in np.unique(v, return_counts=True)[1]))


def sums(x, y, w):
    """The kernel's sums for x (Rx, P), y (Ry, P), w (R, P), through the sorting helpers."""
    order = row_orders(x, w)

    def take(v):
        rows = max(len(v), len(order))
        return np.take_along_axis(np.broadcast_to(v, (rows, v.shape[1])),
                                  np.broadcast_to(order, (rows, order.shape[1])), axis=-1)

    ranks = dense_ranks(y)
    return kendall_sums(take(x), take(ranks)[None], take(w), np.array([has_ties(ranks)]))


@pytest.mark.parametrize("shared_x, shared_y", [(True, True), (False, True), (True, False), (False, False)])
def test_sums_equal_brute_force_with_ties_and_weights(shared_x, shared_y):
    rng = np.random.default_rng(3)
    rows, p = 6, 40
    x = rng.integers(0, 8, size=(1 if shared_x else rows, p)).astype(float)  # many ties
    y = rng.integers(0, 12, size=(1 if shared_y else rows, p)).astype(float)
    w = rng.integers(0, 4, size=(rows, p)).astype(float)  # zeros drop entries
    s, n, x_ties, y_ties = sums(x, y, w)
    for r in range(rows):
        expected = brute_force(x[r % len(x)], y[r % len(y)], w[r])
        np.testing.assert_array_equal([s[r, 0], n[r, 0], x_ties[r, 0], y_ties[r, 0]], expected)


def test_untied_y_flag_gives_the_same_sums():
    rng = np.random.default_rng(4)
    x = rng.integers(0, 5, size=(1, 50)).astype(float)
    y = rng.permutation(50)[None].astype(float)  # no ties
    w = rng.integers(0, 3, size=(5, 50)).astype(float)
    order = row_orders(x, w)
    args = (x[:, order[0]], dense_ranks(y)[:, order[0]][None], w[:, order[0]])
    flagged = kendall_sums(*args, np.array([False]))
    general = kendall_sums(*args, np.array([True]))
    assert not has_ties(dense_ranks(y))
    for a, b in zip(flagged, general, strict=True):
        np.testing.assert_array_equal(a, b)


def test_several_y_at_once_equal_one_at_a_time():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 30))
    ys = [rng.integers(0, 6, size=(1, 30)).astype(float) for _ in range(3)]
    w = rng.integers(0, 3, size=(4, 30)).astype(float)
    order = row_orders(x, w)
    xs, ws = np.take_along_axis(x, order, -1), np.take_along_axis(w, order, -1)
    ranks = np.stack([dense_ranks(y)[0][order] for y in ys])
    together = kendall_sums(xs, ranks, ws)
    for b in range(3):
        alone = kendall_sums(xs, ranks[b:b + 1], ws)
        for a, c in zip(together, alone, strict=True):
            np.testing.assert_array_equal(a[:, b], c[:, 0])


def test_tau_b_equals_scipy_on_the_expanded_vectors():
    # scipy.stats.kendalltau computes tau-b (Knight's algorithm, ties corrected)
    rng = np.random.default_rng(6)
    x = rng.integers(0, 10, size=(1, 60)).astype(float)
    y = rng.integers(0, 7, size=(1, 60)).astype(float)
    w = rng.integers(0, 4, size=(3, 60)).astype(float)
    ours = weighted_similarity(x[None], y[None], w, "tau-b")[:, 0, 0]
    for r in range(3):
        counts = w[r].astype(int)
        expected = kendalltau(np.repeat(x[0], counts), np.repeat(y[0], counts)).statistic
        assert ours[r] == pytest.approx(expected, abs=1e-12)


def test_weighted_columns_lists_the_weighted_entries_first_in_order():
    w = np.array([[0.0, 2.0, 0.0, 1.0], [1.0, 1.0, 1.0, 0.0]])
    columns = weighted_columns(w)
    assert columns.tolist() == [[1, 3, 0], [0, 1, 2]]  # cut to the longest set (3); row 0 padded with a zero


def test_a_row_without_weight_sums_to_zero():
    s, n, x_ties, y_ties = kendall_sums(np.arange(4.0)[None], np.arange(4)[None, None], np.zeros((1, 4)))
    assert (s[0, 0], n[0, 0], x_ties[0, 0], y_ties[0, 0]) == (0.0, 0.0, 0.0, 0.0)
