"""Cross-validation over object folds and nested selection of λ.

References: per-triplet loops over fold membership; the simulator's planted similarity.
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from neuroalign import Score
from neuroalign.datasets.triplet_simulator import simulate_triplets
from neuroalign.errors import ConfigError, DataError
from neuroalign.triplets.object_folds import (assign_object_folds, cross_validate_probe, fold_triplets, select_lambda,
                                              split_triplets)
from neuroalign.triplets.probes import LinearProbe

from ._probe_helpers import loop_accuracy


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_folds_are_balanced_and_seeded():
    folds = assign_object_folds(11, 3, random_state=4)
    assert sorted(np.bincount(folds).tolist()) == [3, 4, 4]
    np.testing.assert_array_equal(folds, assign_object_folds(11, 3, random_state=4))
    with pytest.raises(ConfigError, match="n_folds"):
        assign_object_folds(2, 3)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.permutations([0, 1, 2]))
def test_fold_membership_against_a_loop(seed, perm):
    sim = simulate_triplets(12, 2, 300, seed=seed)
    folds = assign_object_folds(12, 2, random_state=seed)
    expected = [[r for r, t in enumerate(sim.triplets) if all(folds[o] == k for o in t)] for k in range(2)]
    try:
        rows = fold_triplets(sim.triplets, folds)
    except DataError:
        assert any(len(e) == 0 for e in expected)
        return
    assert [r.tolist() for r in rows] == expected
    # the order of the items within a triplet does not matter
    assert [r.tolist() for r in fold_triplets(sim.triplets[:, perm], folds)] == expected
    for k in range(2):
        train, test = split_triplets(sim.triplets, folds, k)
        assert test.tolist() == expected[k]
        assert train.tolist() == [r for r, t in enumerate(sim.triplets) if all(folds[o] != k for o in t)]


def test_a_fold_without_triplets_is_a_named_error():
    triplets = np.array([[0, 1, 2], [0, 1, 3]])
    with pytest.raises(DataError, match="fold"):
        fold_triplets(triplets, np.array([0, 0, 0, 1]))
    sim = simulate_triplets(30, 3, 40, seed=0)
    with pytest.raises(DataError, match="fold"):
        cross_validate_probe(sim.X, sim.triplets, sim.choices, n_folds=5, lams=(1e-3,))


def _probe():
    return LinearProbe(optimizer="lbfgs", validation_fraction=0, max_epochs=5)


def test_nested_cv_score_and_selected_lambdas():
    sim = simulate_triplets(60, 5, 12000, noise=0.25, seed=1)
    score = cross_validate_probe(sim.X, sim.triplets, sim.choices, estimator=_probe(), lams=(1.0, 1e-4),
                                    n_folds=2, inner_folds=2)
    assert isinstance(score, Score) and score.raw.dims == ("fold",)
    assert set(score.raw["lam"].values.tolist()) <= {1.0, 1e-4}
    assert float(score) == pytest.approx(float(score.raw.mean()))
    folds = assign_object_folds(60, 2, random_state=0)
    planted = [loop_accuracy(sim.similarity, sim.triplets[r], sim.choices[r]) for r in fold_triplets(
        sim.triplets, folds)]
    assert float(score) >= np.mean(planted) - 0.05
    assert score.params["selected_lams"] == score.raw["lam"].values.tolist()


def test_lambda_selection_prefers_the_larger_of_tied_values():
    # λ = 0 and λ = 1e-12 give the same predictions on every fold: the larger λ wins the tie
    sim = simulate_triplets(40, 3, 6000, seed=2)
    lam, acc = select_lambda(_probe(), sim.X, sim.triplets, sim.choices, lams=(0.0, 1e-12), n_folds=2)
    assert acc.shape == (2, 2)
    np.testing.assert_array_equal(acc[0], acc[1])
    assert lam == 1e-12
    lam, _ = select_lambda(_probe(), sim.X, sim.triplets, sim.choices, lams=(1e-12, 0.0), n_folds=2)
    assert lam == 1e-12


@pytest.mark.slow
def test_nested_cv_on_the_full_grid_reaches_the_planted_accuracy():
    sim = simulate_triplets(120, 8, 60000, noise=0.25, seed=3)
    score = cross_validate_probe(sim.X, sim.triplets, sim.choices,
                                    estimator=LinearProbe(optimizer="lbfgs"), n_folds=3, inner_folds=3)
    folds = assign_object_folds(120, 3, random_state=0)
    planted = [loop_accuracy(sim.similarity, sim.triplets[r], sim.choices[r])
               for r in fold_triplets(sim.triplets, folds)]
    np.testing.assert_array_less(np.array(planted) - 0.03, score.raw.values)
