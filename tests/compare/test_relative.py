"""Relative representations and latent-space similarity (Moschella et al., 2023), against scikit-learn
(cosine_similarity, NearestNeighbors, label_ranking_average_precision_score, paired_cosine_distances) and
brute-force loops, with their invariances (hypothesis) and named errors."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ortho_group
from sklearn.metrics import label_ranking_average_precision_score
from sklearn.metrics.pairwise import cosine_similarity, paired_cosine_distances
from sklearn.neighbors import NearestNeighbors

from neuroalign.compare.matching.relative import (farthest_point_indices, knn_jaccard, latent_similarity,
                                                  mean_cosine, relative_representation, retrieval_mrr,
                                                  select_anchors)
from neuroalign.errors import AlignmentError, ConfigError, DataError, UnknownNameError


def rep(values, ids=None, prefix="n", **coords):
    n, p = values.shape
    ids = [f"s{i}" for i in range(n)] if ids is None else ids
    return xr.DataArray(values, dims=("presentation", "neuroid"),
                        coords={"stimulus_id": ("presentation", ids),
                                "neuroid_id": ("neuroid", [f"{prefix}{j}" for j in range(p)]),
                                **{k: ("presentation", v) for k, v in coords.items()}})


def test_relative_representation_is_cosine_to_the_anchor_rows(rng):
    values = rng.normal(size=(30, 7))
    x = rep(values, label=np.arange(30) % 3)
    anchors = ["s4", "s0", "s17"]
    rel = relative_representation(x, anchors)
    expected = cosine_similarity(values, values[[4, 0, 17]])
    np.testing.assert_allclose(rel.values, expected, atol=1e-12)
    assert rel.dims == ("presentation", "neuroid")
    assert rel["neuroid_id"].values.tolist() == ["anchor:s4", "anchor:s0", "anchor:s17"]
    assert rel["anchor_id"].values.tolist() == anchors
    assert rel["label"].values.tolist() == x["label"].values.tolist()
    # anchors given as their own activations (e.g. stimuli outside x) give the same values
    by_rows = relative_representation(x.isel(presentation=slice(18, 30)), x.isel(presentation=[4, 0, 17]))
    np.testing.assert_allclose(by_rows.values, expected[18:], atol=1e-12)
    # centering on the anchors' mean
    centered = relative_representation(x, anchors, center=True)
    mean = values[[4, 0, 17]].mean(0)
    np.testing.assert_allclose(centered.values, cosine_similarity(values - mean, values[[4, 0, 17]] - mean),
                               atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), scale=st.floats(1e-3, 1e3), shift=st.floats(-5, 5))
def test_invariant_to_angle_preserving_maps(seed, scale, shift):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(25, 6)) + 0.5
    moved = scale * values @ ortho_group.rvs(6, random_state=seed)
    anchors = ["s1", "s3", "s8", "s20"]
    base = relative_representation(rep(values), anchors)
    np.testing.assert_allclose(relative_representation(rep(moved), anchors).values, base.values, atol=1e-9)
    # centering adds translation invariance
    np.testing.assert_allclose(relative_representation(rep(moved + shift), anchors, center=True).values,
                               relative_representation(rep(values), anchors, center=True).values, atol=1e-8)
    # the latent similarity of a space and its rotated, rescaled copy is perfect
    assert knn_jaccard(rep(values), rep(moved), k=4) == pytest.approx(1.0)
    assert latent_similarity(base, relative_representation(rep(moved), anchors), k=4).values.values \
        == pytest.approx([1.0, 1.0, 1.0])


def test_knn_jaccard_equals_sklearn_neighbours_and_sets(rng):
    a, b = rng.normal(size=(40, 5)), rng.normal(size=(40, 8))
    b[:, :5] += a
    k = 6
    sets = []
    for values in (a, b):
        index = NearestNeighbors(n_neighbors=k + 1, metric="cosine", algorithm="brute").fit(values)
        neighbours = index.kneighbors(values, return_distance=False)
        sets.append([set(row[row != i][:k]) for i, row in enumerate(neighbours)])
    expected = np.mean([len(sa & sb) / len(sa | sb) for sa, sb in zip(*sets)])
    assert knn_jaccard(rep(a), rep(b, prefix="m"), k=k) == pytest.approx(expected, abs=1e-12)


def test_mrr_equals_sklearn_label_ranking_average_precision(rng):
    a = rng.normal(size=(50, 6))
    b = a + rng.normal(scale=1.5, size=a.shape)
    expected = label_ranking_average_precision_score(np.eye(50, dtype=int), cosine_similarity(a, b))
    assert retrieval_mrr(rep(a), rep(b)) == pytest.approx(expected, abs=1e-12)
    # brute force: 1 / (number of rows of b at least as similar as the stimulus' own row)
    sim = cosine_similarity(a, b)
    assert retrieval_mrr(rep(a), rep(b)) == pytest.approx(np.mean([1 / np.sum(sim[i] >= sim[i, i])
                                                                   for i in range(50)]), abs=1e-12)


def test_mean_cosine_equals_sklearn_paired_cosine(rng):
    a, b = rng.normal(size=(30, 4)), rng.normal(size=(30, 4))
    assert mean_cosine(rep(a), rep(b)) == pytest.approx(1 - paired_cosine_distances(a, b).mean(), abs=1e-12)


def test_latent_similarity_aligns_stimuli_and_keeps_per_stimulus_values(rng):
    a, b = rng.normal(size=(20, 4)), rng.normal(size=(20, 4))
    order = rng.permutation(20)
    shuffled = rep(b[order], ids=[f"s{i}" for i in order])
    score = latent_similarity(rep(a), shuffled, k=3)
    direct = latent_similarity(rep(a), rep(b), k=3)
    np.testing.assert_allclose(score.values.values, direct.values.values, atol=1e-12)
    assert score.values["measure"].values.tolist() == ["jaccard", "mrr", "cosine"]
    assert score.raw.dims == ("presentation", "measure")
    np.testing.assert_allclose(score.raw.mean("presentation").values, score.values.values)
    assert score.values.sel(measure="cosine") == pytest.approx(mean_cosine(rep(a), rep(b)))
    with pytest.raises(AlignmentError):
        latent_similarity(rep(a), rep(b, ids=[f"t{i}" for i in range(20)]))


def _naive_farthest(values, n, start):
    chosen = [start]
    while len(chosen) < n:
        best, best_d = None, -1.0
        for i in range(len(values)):
            d = min(np.linalg.norm(values[i] - values[j]) for j in chosen)
            if d > best_d:
                best, best_d = i, d
        chosen.append(best)
    return chosen


def test_farthest_point_sampling_equals_a_naive_loop_and_finds_planted_clusters(rng):
    values = rng.normal(size=(40, 3))
    assert farthest_point_indices(values, 8, start=5).tolist() == _naive_farthest(values, 8, 5)
    centres = 20 * np.eye(5)
    clustered = np.concatenate([c + rng.normal(scale=0.1, size=(12, 5)) for c in centres])
    x = rep(clustered)
    chosen = select_anchors(x, 5, method="farthest", random_state=3)
    clusters = sorted(int(sid[1:]) // 12 for sid in chosen)
    assert clusters == [0, 1, 2, 3, 4]


def test_select_anchors_is_seeded(rng):
    x = rep(rng.normal(size=(50, 3)))
    for method in ("random", "farthest"):
        first = select_anchors(x, 10, method=method, random_state=1)
        assert first.tolist() == select_anchors(x, 10, method=method, random_state=1).tolist()
        assert len(set(first.tolist())) == 10 and set(first.tolist()) <= set(x.stimulus_id.values.tolist())
    assert select_anchors(x, 10, random_state=1).tolist() != select_anchors(x, 10, random_state=2).tolist()


def test_errors(rng):
    x = rep(rng.normal(size=(10, 3)))
    with pytest.raises(DataError, match="not stimuli of x"):
        relative_representation(x, ["s1", "zz"])
    with pytest.raises(DataError, match="repeat"):
        relative_representation(x, ["s1", "s1"])
    with pytest.raises(ConfigError, match="no anchors"):
        relative_representation(x, [])
    with pytest.raises(ConfigError, match="DataArray"):
        relative_representation(x.values, ["s1"])
    with pytest.raises(ConfigError, match="stimulus ids"):
        relative_representation(x, "s1")
    zero = x.copy()
    zero[2] = 0.0
    with pytest.raises(DataError, match="all-zero"):
        relative_representation(zero, ["s1"])
    with pytest.raises(DataError, match="another space"):
        relative_representation(x, rep(rng.normal(size=(3, 3)), prefix="m"))
    with pytest.raises(DataError, match="features"):
        retrieval_mrr(x, rep(rng.normal(size=(10, 4))))
    with pytest.raises(ConfigError, match="k="):
        knn_jaccard(x, x, k=10)
    with pytest.raises(ConfigError, match="n_anchors"):
        select_anchors(x, 11)
    with pytest.raises(UnknownNameError):
        select_anchors(x, 3, method="kmeans")
    twice = rep(rng.normal(size=(4, 3)), ids=["a", "a", "b", "c"])
    with pytest.raises(DataError, match="more than once"):
        relative_representation(twice, ["b"])
