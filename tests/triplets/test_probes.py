"""The naive linear probe: recovery of a planted similarity, null controls, the .npz format, invariances.

References: the planted similarity of the simulator (the best achievable accuracy), per-triplet Python loops
for accuracies and losses (scipy.special.logsumexp), scipy.stats.spearmanr.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy.special import logsumexp
from scipy.stats import spearmanr
from sklearn.base import clone

from neuroalign.datasets.triplet_simulator import simulate_triplets
from neuroalign.errors import ConfigError, DataError, FileFormatError, UnknownNameError
from neuroalign.triplets.probes import LinearProbe, load_transform, triplet_loss

from ._probe_helpers import loop_accuracy, split_study


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _recovery(sim, train, test, **params):
    probe = LinearProbe(**params).fit(sim.X, sim.triplets[train], sim.choices[train])
    t, c = sim.triplets[test], sim.choices[test]
    planted = loop_accuracy(sim.similarity, t, c)
    zero_shot = loop_accuracy(sim.X @ sim.X.T, t, c)
    held_out = probe.score(sim.X, t, c)
    assert held_out == pytest.approx(loop_accuracy(probe.similarity(sim.X), t, c), abs=1e-12)
    iu = np.triu_indices(len(sim.X), 1)
    rho = spearmanr(probe.similarity(sim.X)[iu], sim.similarity[iu]).statistic
    return planted, zero_shot, held_out, rho


def test_probe_recovers_the_planted_similarity_on_held_out_objects():
    sim, train, test = split_study()
    planted, zero_shot, held_out, rho = _recovery(sim, train, test, lam=1e-4, optimizer="lbfgs")
    assert held_out >= planted - 0.03
    assert rho >= 0.9
    assert zero_shot < planted - 0.15


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_probe_recovers_the_planted_similarity_full(optimizer):
    sim, train, test = split_study(n_objects=200, n_features=20, n_triplets=120_000, seed=1)
    planted, zero_shot, held_out, rho = _recovery(sim, train, test, lam=1e-4, optimizer=optimizer, lr=1e-2)
    assert held_out >= planted - 0.03
    assert rho >= 0.9
    assert zero_shot < planted - 0.15


def _null_study(n_triplets, seed):
    sim, train, test = split_study(n_objects=60, n_features=8, n_triplets=n_triplets, test_fraction=0.5, seed=seed)
    return sim, train, test


def test_shuffled_choices_give_chance():
    sim, train, test = _null_study(60_000, seed=2)
    shuffled = np.random.default_rng(0).permutation(sim.choices)
    probe = LinearProbe(lam=1e-4, optimizer="lbfgs").fit(sim.X, sim.triplets[train], shuffled[train])
    assert test.sum() > 6000
    assert probe.score(sim.X, sim.triplets[test], shuffled[test]) == pytest.approx(1 / 3, abs=0.02)


def test_an_unrelated_embedding_gains_nothing():
    sim, train, test = _null_study(60_000, seed=3)
    unrelated = np.random.default_rng(7).normal(size=sim.X.shape)
    t, c = sim.triplets[test], sim.choices[test]
    zero_shot = loop_accuracy(unrelated @ unrelated.T, t, c)
    probe = LinearProbe(lam=1e-4, optimizer="lbfgs").fit(unrelated, sim.triplets[train], sim.choices[train])
    held_out = probe.score(unrelated, t, c)
    assert zero_shot == pytest.approx(1 / 3, abs=0.02)
    assert held_out == pytest.approx(1 / 3, abs=0.02)
    assert held_out <= zero_shot + 0.02


def _loop_loss(z, triplets, choices):
    total = 0.0
    for (i, j, k), c in zip(triplets, choices):
        s = np.array([z[j] @ z[k], z[i] @ z[k], z[i] @ z[j]])
        total += logsumexp(s) - s[c]
    return total / len(triplets)


def test_triplet_loss_against_a_loop():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(12, 4))
    sim = simulate_triplets(12, 4, 80, seed=0)
    for rows in (slice(None), slice(0, 5)):  # more triplets than objects (Gram matrix) and fewer (gathered rows)
        t, c = sim.triplets[rows], sim.choices[rows]
        got = triplet_loss(torch.as_tensor(z), torch.as_tensor(t), torch.as_tensor(c))
        assert float(got) == pytest.approx(_loop_loss(z, t, c), rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.permutations([0, 1, 2]))
def test_permuting_triplet_columns_leaves_loss_and_accuracy_unchanged(seed, perm):
    sim = simulate_triplets(10, 3, 40, seed=seed)
    probe = LinearProbe.from_arrays(np.random.default_rng(seed).normal(size=(3, 3)), mean=0.1, std=1.3)
    inverse = np.argsort(perm)
    permuted, moved = sim.triplets[:, perm], inverse[sim.choices]  # the odd object keeps its identity
    assert (permuted[np.arange(40), moved] == sim.triplets[np.arange(40), sim.choices]).all()
    assert probe.loss(sim.X, permuted, moved) == pytest.approx(probe.loss(sim.X, sim.triplets, sim.choices),
                                                                rel=1e-12)
    assert probe.score(sim.X, permuted, moved) == probe.score(sim.X, sim.triplets, sim.choices)


def test_fit_is_seeded_and_clonable():
    sim = simulate_triplets(30, 4, 3000, seed=4)
    a = LinearProbe(optimizer="adam", max_epochs=3, random_state=5).fit(sim.X, sim.triplets, sim.choices)
    b = clone(a).fit(sim.X, sim.triplets, sim.choices)
    np.testing.assert_array_equal(a.weights_, b.weights_)
    assert a.n_epochs_ <= 3 and len(a.history_["train_loss"]) == a.n_epochs_


def test_a_large_penalty_shrinks_the_transform():
    sim = simulate_triplets(30, 4, 3000, seed=4)
    small = LinearProbe(lam=1e-5, optimizer="lbfgs", validation_fraction=0, max_epochs=5).fit(
        sim.X, sim.triplets, sim.choices)
    large = LinearProbe(lam=10.0, optimizer="lbfgs", validation_fraction=0, max_epochs=5).fit(
        sim.X, sim.triplets, sim.choices)
    assert np.linalg.norm(large.weights_) < 0.1 * np.linalg.norm(small.weights_)


@pytest.mark.parametrize("bias", [False, True])
def test_npz_round_trip_in_the_released_format(tmp_path, bias):
    sim = simulate_triplets(30, 4, 2000, seed=6)
    probe = LinearProbe(bias=bias, optimizer="lbfgs", max_epochs=2).fit(sim.X, sim.triplets, sim.choices)
    path = tmp_path / "transform.npz"
    probe.save_npz(path)
    with np.load(path, allow_pickle=False) as data:
        assert set(data.files) == ({"weights", "mean", "std"} | ({"bias"} if bias else set()))
        expected = (sim.X - data["mean"]) / data["std"] @ data["weights"] + (data["bias"] if bias else 0)
    loaded = LinearProbe.load_npz(path)
    np.testing.assert_allclose(loaded.transform(sim.X), probe.transform(sim.X), rtol=0, atol=1e-12)
    np.testing.assert_allclose(loaded.transform(sim.X), expected, rtol=0, atol=1e-12)
    assert loaded.score(sim.X, sim.triplets, sim.choices) == probe.score(sim.X, sim.triplets, sim.choices)


def test_bad_transform_files_are_named(tmp_path):
    path = tmp_path / "t.npz"
    np.savez(path, weights=np.eye(2), mean=0.0)
    with pytest.raises(FileFormatError, match="std"):
        load_transform(path)
    np.savez(path, weights=np.eye(2), mean=0.0, std=1.0, bias=np.zeros(3))
    with pytest.raises(FileFormatError, match="shapes"):
        load_transform(path)
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(FileFormatError):
        load_transform(tmp_path / "junk.npz")


def test_bad_input_is_named():
    sim = simulate_triplets(20, 3, 200, seed=0)
    with pytest.raises(UnknownNameError, match="optimizer"):
        LinearProbe(optimizer="sgd").fit(sim.X, sim.triplets, sim.choices)
    with pytest.raises(ConfigError, match="lam"):
        LinearProbe(lam=-1).fit(sim.X, sim.triplets, sim.choices)
    with pytest.raises(DataError, match="validation_fraction|training"):
        LinearProbe(validation_fraction=0.95).fit(sim.X, sim.triplets, sim.choices)
    with pytest.raises(DataError):
        LinearProbe().fit(sim.X, sim.triplets + 100, sim.choices)
    probe = LinearProbe.from_arrays(np.eye(3))
    with pytest.raises(DataError, match="features"):
        probe.transform(np.ones((4, 5)))
    X = sim.X.copy()
    X[0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        LinearProbe().fit(X, sim.triplets, sim.choices)


def test_a_zero_transform_ties_everywhere_and_scores_chance():
    sim = simulate_triplets(20, 3, 300, seed=8)
    probe = LinearProbe.from_arrays(np.zeros((3, 3)))
    assert (probe.predict(sim.X, sim.triplets) == -1).all()
    assert probe.score(sim.X, sim.triplets, sim.choices) == pytest.approx(1 / 3)
    np.testing.assert_allclose(probe.predict_proba(sim.X, sim.triplets), 1 / 3)


@pytest.mark.slow
def test_lbfgs_leaves_the_flat_start_on_many_features():
    # from W ~ N(0, 1e-3) on 64 features the loss is flat; L-BFGS used to stall at a held-out accuracy of 0.60
    sim, train, test = split_study(n_objects=300, n_features=64, n_triplets=150_000, seed=0)
    planted, zero_shot, held_out, rho = _recovery(sim, train, test, lam=1e-4, optimizer="lbfgs",
                                                  validation_fraction=0, max_epochs=60)
    assert held_out >= planted - 0.03
    assert rho >= 0.9


def test_data_model_features_and_the_epoch_callback():
    sim = simulate_triplets(30, 4, 3000, seed=9)
    a = LinearProbe(optimizer="lbfgs", max_epochs=3).fit(sim.features, sim.triplets, sim.choices)
    b = LinearProbe(optimizer="lbfgs", max_epochs=3).fit(sim.X, sim.triplets, sim.choices)
    np.testing.assert_array_equal(a.weights_, b.weights_)
    seen = []
    probe = LinearProbe(optimizer="adam", max_epochs=50, validation_fraction=0).fit(
        sim.X, sim.triplets, sim.choices, callback=lambda epoch, w, bias: seen.append(w.shape) or epoch == 1)
    assert probe.n_epochs_ == 2 and seen == [(4, 4), (4, 4)]
    assert set(probe.provenance_) >= {"parameters", "input_hashes"}


def test_from_arrays_refuses_per_feature_mean_and_std():
    # the released format standardises by ONE scalar mean and std (gLocal's GlobalTransform: features.mean(),
    # features.std()); a per-feature vector must not be cut silently to its first element
    with pytest.raises(DataError, match="mean"):
        LinearProbe.from_arrays(np.eye(2), mean=np.array([0.5, 1.0]))
    with pytest.raises(DataError, match="std"):
        LinearProbe.from_arrays(np.eye(2), std=np.array([1.0, 2.0]))
    assert LinearProbe.from_arrays(np.eye(2), mean=np.array([0.5]), std=2.0).mean_ == 0.5
