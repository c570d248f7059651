"""Edge rules against plain-loop numpy references and scikit-learn's k-nearest-neighbour graph."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.errors import ConfigError, DataError, UnknownNameError
from neuroalign.graphs.edges import EDGE_RULES, check_edge_value, edge_weights


def random_fc(rng, shape, n, *, ties=False):
    """Symmetric correlation-like matrices [*shape, n, n], diagonal 1."""
    if ties:
        values = rng.choice([-0.5, 0.0, 0.2, 0.5], size=(*shape, n, n))
    else:
        values = rng.uniform(-1, 1, size=(*shape, n, n))
    values = np.triu(values, 1)
    values = values + np.swapaxes(values, -1, -2)
    values[..., np.arange(n), np.arange(n)] = 1.0
    return values


# ---- independent references: one matrix at a time, Python loops ---------------------------------------------

def ref_one(fc, rule, value, binary, keep):
    n = fc.shape[0]
    nodes = [i for i in range(n) if keep[i]]
    chosen = np.zeros((n, n), dtype=bool)
    if rule == "top_k":
        for i in nodes:
            others = sorted((j for j in nodes if j != i), key=lambda j: (-fc[i, j], j))
            for j in others[:value]:
                if fc[i, j] > 0:
                    chosen[i, j] = chosen[j, i] = True
    elif rule == "top_percent":
        pairs = [(i, j) for i in nodes for j in nodes if i < j]
        count = math.floor(Fraction(len(pairs)) * Fraction(str(value)) / 100 + Fraction(1, 2))
        for i, j in sorted(pairs, key=lambda p: (-fc[p], p))[:count]:
            if fc[i, j] > 0:
                chosen[i, j] = chosen[j, i] = True
    elif rule == "threshold":
        for i in nodes:
            for j in nodes:
                chosen[i, j] = i != j and abs(fc[i, j]) >= value
    elif rule == "full":
        for i in nodes:
            for j in nodes:
                chosen[i, j] = i != j
        binary = False
    if binary:
        return chosen.astype(float)
    return np.where(chosen, fc, 0.0)


def reference(fc, rule, value, binary=True, exclude=None):
    flat = fc.reshape(-1, *fc.shape[-2:])
    keep = np.ones(flat.shape[:2], dtype=bool) if exclude is None else ~exclude.reshape(-1, fc.shape[-1])
    return np.stack([ref_one(m, rule, value, binary, k) for m, k in zip(flat, keep)]).reshape(fc.shape)


CASES = [("top_k", 1), ("top_k", 3), ("top_k", 20), ("top_percent", 30.0), ("top_percent", 12.5),
         ("top_percent", 100.0), ("threshold", 0.3), ("threshold", 0.0), ("full", None), ("none", None)]


@pytest.mark.parametrize("rule,value", CASES)
@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("ties", [False, True])
def test_rules_equal_loop_reference(rule, value, binary, ties):
    rng = np.random.default_rng(1)
    fc = random_fc(rng, (2, 3), 7, ties=ties)
    exclude = rng.random((2, 3, 7)) < 0.3
    for ex in (None, exclude):
        got = edge_weights(torch.from_numpy(fc), rule, value, binary=binary,
                           exclude=None if ex is None else torch.from_numpy(ex)).numpy()
        np.testing.assert_array_equal(got, reference(fc, rule, value, binary, ex))


def test_top_k_equals_scikit_learn_knn_graph():
    """sklearn.neighbors.kneighbors_graph on the distance 1 - r, positive r only, union: the same graph."""
    from sklearn.neighbors import kneighbors_graph

    rng = np.random.default_rng(3)
    fc = random_fc(rng, (4,), 12)
    got = edge_weights(torch.from_numpy(fc), "top_k", 4).numpy()
    for m, adj in zip(fc, got):
        knn = kneighbors_graph(1.0 - m, 4, mode="connectivity", metric="precomputed", include_self=False).toarray()
        knn = (knn > 0) & (m > 0)
        np.testing.assert_array_equal(adj, (knn | knn.T).astype(float))


def test_top_percent_equals_percentile_cut_without_ties():
    """STAGIN-style cut: pairs at or above the (1 - p) quantile of the upper triangle (no ties, exact count)."""
    rng = np.random.default_rng(4)
    fc = random_fc(rng, (3,), 20)
    got = edge_weights(torch.from_numpy(fc), "top_percent", 30).numpy()
    rows, cols = np.triu_indices(20, 1)
    for m, adj in zip(fc, got):
        upper = m[rows, cols]
        cut = np.sort(upper)[::-1][57 - 1]  # 30% of 190 pairs
        expected = np.zeros_like(m)
        expected[rows, cols] = (upper >= cut) & (upper > 0)
        np.testing.assert_array_equal(adj, np.maximum(expected, expected.T))
        assert adj[rows, cols].sum() == min(57, (upper > 0).sum())


def test_ties_are_broken_by_index():
    fc = torch.full((5, 5), 0.5)
    fc.fill_diagonal_(1.0)
    adj = edge_weights(fc, "top_k", 1)
    # node 0 picks node 1, every other node picks node 0 (the lowest other index)
    expected = torch.zeros(5, 5)
    expected[0, 1:] = expected[1:, 0] = 1
    assert torch.equal(adj, expected)
    adj = edge_weights(fc, "top_percent", 20)  # 2 of 10 pairs: (0, 1) and (0, 2)
    assert adj.triu(1).nonzero().tolist() == [[0, 1], [0, 2]]


def test_output_is_symmetric_without_self_loops_and_in_fc_dtype():
    fc = torch.from_numpy(random_fc(np.random.default_rng(5), (2, 4), 9)).float()
    for rule, value in CASES:
        adj = edge_weights(fc, rule, value, binary=False)
        assert adj.dtype == torch.float32 and adj.shape == fc.shape
        assert torch.equal(adj, adj.transpose(-1, -2))
        assert not adj.diagonal(dim1=-2, dim2=-1).any()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 9), rule=st.sampled_from(CASES), binary=st.booleans(),
       ties=st.booleans())
def test_excluded_nodes_have_no_influence(seed, n, rule, binary, ties):
    """Changing an excluded node's row and column (even to NaN or asymmetric values) leaves adj unchanged, and
    the result on the kept nodes equals the rule applied to the FC with the excluded nodes removed."""
    rng = np.random.default_rng(seed)
    fc = random_fc(rng, (3,), n, ties=ties)
    exclude = rng.random((3, n)) < 0.4
    adj = edge_weights(torch.from_numpy(fc), *rule, binary=binary, exclude=torch.from_numpy(exclude))
    changed = fc.copy()
    for b in range(3):
        for i in np.flatnonzero(exclude[b]):
            changed[b, i, :] = rng.uniform(-1, 1, n)
            changed[b, :, i] = np.nan if rng.random() < 0.3 else rng.uniform(-1, 1, n)
    again = edge_weights(torch.from_numpy(changed), *rule, binary=binary, exclude=torch.from_numpy(exclude))
    assert torch.equal(adj, again)
    for b in range(3):
        kept = np.flatnonzero(~exclude[b])
        assert not adj[b][exclude[b]].any() and not adj[b][:, exclude[b]].any()
        alone = edge_weights(torch.from_numpy(fc[b][np.ix_(kept, kept)]), *rule, binary=binary)
        assert torch.equal(adj[b][np.ix_(kept, kept)], alone)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rule=st.sampled_from(CASES))
def test_node_permutation_permutes_edges(seed, rule):
    """Without ties the rules do not depend on node order: permuting the ROIs permutes the adjacency."""
    rng = np.random.default_rng(seed)
    fc = random_fc(rng, (2,), 8)
    perm = rng.permutation(8)
    adj = edge_weights(torch.from_numpy(fc), *rule).numpy()
    permuted = edge_weights(torch.from_numpy(fc[:, perm][:, :, perm]), *rule).numpy()
    np.testing.assert_array_equal(permuted, adj[:, perm][:, :, perm])


def test_top_k_larger_than_nodes_keeps_every_positive_pair():
    fc = torch.from_numpy(random_fc(np.random.default_rng(6), (), 5))
    assert torch.equal(edge_weights(fc, "top_k", 50), ((fc > 0) & ~torch.eye(5, dtype=torch.bool)).double())


def test_registry_defaults_and_values():
    assert set(EDGE_RULES) == {"top_k", "top_percent", "threshold", "full", "none"}
    assert check_edge_value("top_k", None) == 5 and check_edge_value("top_percent", None) == 30.0
    assert check_edge_value("threshold", None) == 0.3 and check_edge_value("full", None) is None
    assert check_edge_value("top_k", 3.0) == 3


@pytest.mark.parametrize("rule,value", [("top_k", 0), ("top_k", 2.5), ("top_k", True), ("top_percent", 0),
                                        ("top_percent", 101), ("threshold", -0.1), ("threshold", float("nan")),
                                        ("full", 0.3), ("none", 1), ("top_k", "5")])
def test_bad_values_are_config_errors(rule, value):
    with pytest.raises(ConfigError):
        edge_weights(torch.eye(3), rule, value)


def test_bad_inputs():
    with pytest.raises(UnknownNameError, match="top_percent"):
        edge_weights(torch.eye(3), "top_pct")
    with pytest.raises(ConfigError, match="exclude"):
        edge_weights(torch.eye(3), "full", exclude=torch.zeros(4, dtype=torch.bool))
    with pytest.raises(ConfigError, match="exclude"):
        edge_weights(torch.eye(3), "full", exclude=torch.zeros(3))
    with pytest.raises(ConfigError, match="fc"):
        edge_weights(np.eye(3), "full")
    fc = torch.eye(3)
    fc[0, 1] = 0.5
    with pytest.raises(DataError, match="symmetric"):
        edge_weights(fc, "top_k")
    fc[1, 0] = float("nan")
    with pytest.raises(DataError, match="non-finite"):
        edge_weights(fc, "top_k")
