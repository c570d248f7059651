"""CCGP, parallelism score and shattering dimensionality (Bernardi et al. 2020) on planted geometries.

References: a factorised representation (each binary factor along its own direction) generalises across
conditions (CCGP near 1) and its coding vectors are parallel (PS near 1); condition means at random places
give CCGP near 0.5 and PS near 0 while every dichotomy is decodable (SD near 1); closed forms for tiny
noiseless geometries; loops over splits, pairings and dichotomies written with scikit-learn directly.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ortho_group
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neuroalign.data import create_assembly
from neuroalign.errors import ConfigError, DataError, SchemaError, UnknownNameError
from neuroalign.geometry.abstraction import ccgp, parallelism_score, shattering_dimensionality
from neuroalign.geometry.conditions import balanced_dichotomies, labelled_conditions

FACTORS = ["a", "b", "c"]


def _planted(seed, *, factorised, n=320, units=40, signal=6.0, noise=1.0):
    """Three binary factors; factorised: each along an orthogonal direction; else random condition means."""
    rng = np.random.default_rng(seed)
    levels = np.array(list(itertools.product([0, 1], repeat=3)))
    factors = levels[np.arange(n) % 8]
    if factorised:
        directions = np.linalg.qr(rng.normal(size=(units, 3)))[0].T * signal
        means = levels @ directions
    else:
        means = rng.normal(size=(8, units)) * signal / np.sqrt(2 * units) * np.sqrt(units)
    x = means[np.arange(n) % 8] + noise * rng.normal(size=(n, units))
    return create_assembly(x, stimulus_id=range(n), presentation=dict(zip(FACTORS, factors.T)))


def test_planted_factorised_generalises_and_random_does_not():
    planted = ccgp(_planted(0, factorised=True), FACTORS)
    assert planted.data.score.dims == ("dichotomy",) and list(planted.data.dichotomy.values) == FACTORS
    assert (planted.data.score > 0.97).all(), planted.data.score.values
    assert planted.raw.sizes["split"] == 12  # 4 contexts of the other two factors, per factor
    assert abs(_mean_random_ccgp(8) - 0.5) < 0.15
    ps_planted = parallelism_score(_planted(0, factorised=True), FACTORS).data.score
    ps_random = parallelism_score(_planted(1, factorised=False), FACTORS).data.score
    assert (ps_planted > 0.95).all() and (np.abs(ps_random) < 0.4).all()


def _mean_random_ccgp(n_geometries):
    """One random geometry varies a lot around 0.5 (its splits share the condition means): average several."""
    return np.mean([float(ccgp(_planted(seed, factorised=False, n=80, units=20), FACTORS, classifier="logistic")
                          .data.score.mean()) for seed in range(n_geometries)])


@pytest.mark.slow
def test_random_geometries_average_to_chance():
    assert abs(_mean_random_ccgp(60) - 0.5) < 0.05


def test_ccgp_all_splits_equal_a_loop_with_scikit_learn():
    data = _planted(3, factorised=True, n=160, units=10, signal=1.5, noise=1.5)
    score = ccgp(data, FACTORS, held_out="all", classifier="logistic")
    values = data.values
    labels = [",".join(f"{f}={data[f].values[i]}" for f in FACTORS) for i in range(data.sizes["presentation"])]
    names = sorted(set(labels))
    condition = np.array([names.index(label) for label in labels])
    for k, factor in enumerate(FACTORS):
        positive = [c for c, name in enumerate(names) if f"{factor}=1" in name.split(",")]
        negative = [c for c in range(8) if c not in positive]
        y = np.isin(condition, positive).astype(int)
        accuracies = []
        for p, m in itertools.product(positive, negative):  # hold out one condition per side: 16 splits
            test = np.isin(condition, [p, m])
            model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(values[~test], y[~test])
            accuracies.append(balanced_accuracy_score(y[test], model.predict(values[test])))
        assert score.data.score.sel(dichotomy=factor) == pytest.approx(np.mean(accuracies), abs=1e-12)
    assert score.raw.sizes["split"] == 48 and score.params["held_out"] == "all"


def test_two_factors_matched_splits_and_dichotomies_by_condition(rng):
    a, b = np.arange(80) % 2, (np.arange(80) // 2) % 2
    x = np.stack([4 * a, 4 * b], axis=1) + rng.normal(size=(80, 2)) * 0.3
    data = create_assembly(x, stimulus_id=range(80), presentation={"a": a, "b": b,
                                                                     "cond": [f"{i}{j}" for i, j in zip(a, b)]})
    score = ccgp(data, ["a", "b"])
    assert list(score.raw.held_out.values[:2]) == ["a=0,b=0|a=1,b=0", "a=0,b=1|a=1,b=1"]
    assert (score.data.score == 1).all()
    by_condition = ccgp(data, condition="cond", dichotomies={"a": ["10", "11"], "b": ["01", "11"]},
                        classifier="logistic")
    assert by_condition.params["held_out"] == "all" and (by_condition.data.score > 0.4).all()
    assert parallelism_score(data, condition="cond", dichotomies={"a": ["10", "11"]}).data.score > 0.99


def test_parallelism_closed_form():
    # two contexts (b); the coding vector of a turns by 60 degrees between them
    theta = np.pi / 3
    means = {(0, 0): [0, 0, 0], (1, 0): [1, 0, 0], (0, 1): [0, 0, 5], (1, 1): [np.cos(theta), np.sin(theta), 5]}
    keys = list(means)
    data = create_assembly(np.array([means[k] for k in keys]), stimulus_id=range(4),
                           presentation={"a": [k[0] for k in keys], "b": [k[1] for k in keys]})
    ps = parallelism_score(data, ["a", "b"]).data.score
    # pairing (a=1,b=0)-(a=0,b=0) with (a=1,b=1)-(a=0,b=1): cos 60° = 0.5; the crossed pairing:
    crossed_1, crossed_2 = np.array([1, 0, -5.0]), np.array([np.cos(theta), np.sin(theta), 5.0])
    crossed = crossed_1 @ crossed_2 / np.linalg.norm(crossed_1) / np.linalg.norm(crossed_2)
    assert float(ps.sel(dichotomy="a")) == pytest.approx(max(0.5, crossed))


def _ps_loop(means, positive):
    plus, minus = np.flatnonzero(positive), np.flatnonzero(~positive)
    best = -np.inf
    for pairing in itertools.permutations(minus):
        vectors = [means[p] - means[m] for p, m in zip(plus, pairing)]
        cosines = [u @ v / np.linalg.norm(u) / np.linalg.norm(v) for u, v in itertools.combinations(vectors, 2)]
        best = max(best, np.mean(cosines))
    return best


def test_parallelism_equals_a_loop_over_pairings():
    data = _planted(4, factorised=False, n=80, units=6)
    conditions = labelled_conditions(data, FACTORS)
    ps = parallelism_score(data, FACTORS).data.score
    for factor in FACTORS:
        expected = _ps_loop(conditions.means(), conditions.dichotomies[factor])
        assert float(ps.sel(dichotomy=factor)) == pytest.approx(expected, abs=1e-12)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**16), st.floats(0.1, 100))
def test_parallelism_invariant_to_rotation_scale_shift_and_side(seed, scale):
    data = _planted(seed, factorised=False, n=16, units=5)
    rotation = ortho_group.rvs(5, random_state=seed)
    base = parallelism_score(data, FACTORS).data.score
    moved = data.copy(data=(data.values @ rotation) * scale + 3.0)
    np.testing.assert_allclose(parallelism_score(moved, FACTORS).data.score, base, atol=1e-9)
    flipped = data.assign_coords(a=("presentation", 1 - data.a.values))
    np.testing.assert_allclose(parallelism_score(flipped, FACTORS).data.score, base, atol=1e-12)


@settings(max_examples=5, deadline=None)
@given(st.integers(0, 2**16))
def test_ccgp_invariant_to_unit_order(seed):
    data = _planted(seed, factorised=True, n=64, units=8, signal=2.0, noise=1.5)
    order = np.random.default_rng(seed).permutation(8)
    base = ccgp(data, FACTORS, classifier="logistic").raw.values
    np.testing.assert_allclose(ccgp(data.isel(neuroid=order), FACTORS, classifier="logistic").raw.values, base,
                               atol=1e-12)


def test_balanced_dichotomies_are_every_split_once():
    for n in (4, 5, 6, 8):
        rows = balanced_dichotomies(n)
        expected = math.comb(n, n // 2) // (2 if n % 2 == 0 else 1)
        assert len(rows) == expected and (rows.sum(axis=1) == n // 2).all()
        partitions = {frozenset([frozenset(np.flatnonzero(r)), frozenset(np.flatnonzero(~r))]) for r in rows}
        assert len(partitions) == expected


def test_shattering_dimensionality():
    # two factors coded linearly: both factors decodable, their XOR not (chance): (1 + 1 + 1/2) / 3
    rng = np.random.default_rng(0)
    a, b = np.arange(200) % 2, (np.arange(200) // 2) % 2
    x = np.stack([a, b], axis=1) * 8.0 - 4.0 + rng.normal(size=(200, 2))
    linear = create_assembly(np.hstack([x, rng.normal(size=(200, 3))]), stimulus_id=range(200),
                             presentation={"a": a, "b": b})
    sd = shattering_dimensionality(linear, ["a", "b"], classifier="logistic")
    assert sd.raw.sizes["dichotomy"] == 3 and sd.data.score.dims == ()
    np.testing.assert_allclose(sorted(sd.raw.values), [0.5, 1.0, 1.0], atol=0.1)
    random = shattering_dimensionality(_planted(0, factorised=False, n=160, units=30), FACTORS,
                                       max_dichotomies=10, classifier="logistic")
    assert random.raw.sizes["dichotomy"] == 10 and random.params["n_balanced_dichotomies"] == 35
    assert float(random.data.score) > 0.95


def test_named_errors(rng):
    data = _planted(0, factorised=True, n=32, units=4)
    with pytest.raises(SchemaError, match="'d'"):
        ccgp(data, ["a", "d"])
    with pytest.raises(DataError, match="at least 4"):
        ccgp(data, ["a"])
    with pytest.raises(DataError, match="binary"):
        ccgp(data.assign_coords(a=("presentation", np.arange(32) % 3)), FACTORS)
    with pytest.raises(DataError, match="constant"):
        ccgp(data.copy(data=np.ones(data.shape)), FACTORS)
    with pytest.raises(DataError, match="leaves none"):
        ccgp(data, FACTORS, n_held_out=4)
    with pytest.raises(ConfigError, match="either factors or condition"):
        ccgp(data)
    with pytest.raises(ConfigError, match="factors were given"):
        ccgp(data, FACTORS, dichotomies={"x": ["a=0,b=0,c=0"]})
    with pytest.raises(UnknownNameError, match="svn"):
        ccgp(data, FACTORS, classifier="svn")
    with pytest.raises(ConfigError, match="matched"):
        ccgp(data.assign_coords(cond=("presentation", np.arange(32) % 4)), condition="cond",
             dichotomies={"x": ["0", "1"]}, held_out="matched")
    with pytest.raises(UnknownNameError, match="'7'"):
        ccgp(data.assign_coords(cond=("presentation", np.arange(32) % 4)), condition="cond", dichotomies={"x": ["7"]})
    with pytest.raises(DataError, match="one to one"):
        parallelism_score(data.assign_coords(cond=("presentation", np.arange(32) % 4)), condition="cond",
                          dichotomies={"x": ["0"]})
    with pytest.raises(DataError, match="fewer than the 5 folds"):
        shattering_dimensionality(data.isel(presentation=slice(0, 24)), FACTORS)
