"""gLocal: the local contrastive term, the pull towards a scaled identity, and nearest-neighbour preservation.

References: a per-row numpy loop (scipy.special.softmax) for the local term, closed forms for the penalty.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy.special import log_softmax, softmax
from sklearn.base import clone

from neuroalign.errors import ConfigError, DataError
from neuroalign.triplets.glocal import GLocalProbe, local_contrastive_loss

from ._probe_helpers import knn_overlap, split_study


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _loop_local(teacher, student, tau):
    def cos(x):
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        return x @ x.T
    ct, cs = cos(teacher), cos(student)
    total = 0.0
    for i in range(len(teacher)):
        others = [j for j in range(len(teacher)) if j != i]
        p = softmax(ct[i, others] / tau)
        total -= (p * log_softmax(cs[i, others] / tau)).sum()
    return total / len(teacher)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([0.1, 1.0, 3.0]))
def test_local_term_against_a_loop(seed, tau):
    rng = np.random.default_rng(seed)
    teacher, student = rng.normal(size=(7, 4)), rng.normal(size=(7, 3))
    got = float(local_contrastive_loss(torch.as_tensor(teacher), torch.as_tensor(student), tau))
    assert got == pytest.approx(_loop_local(teacher, student, tau), rel=1e-10)
    # permuting the reference objects permutes rows and columns together: same loss
    perm = rng.permutation(7)
    again = float(local_contrastive_loss(torch.as_tensor(teacher[perm]), torch.as_tensor(student[perm]), tau))
    assert again == pytest.approx(got, rel=1e-12)


def test_local_term_is_smallest_when_the_student_is_the_teacher():
    rng = np.random.default_rng(1)
    x = torch.as_tensor(rng.normal(size=(10, 5)))
    same = float(local_contrastive_loss(x, 3.0 * x))  # cosine ignores the scale
    other = float(local_contrastive_loss(x, torch.as_tensor(rng.normal(size=(10, 5)))))
    assert same < other


def test_penalty_vanishes_on_scaled_identities_only():
    probe = GLocalProbe(lam=0.5)
    assert float(probe._penalty(torch.eye(4, dtype=torch.float64) * 2.5)) == 0.0
    W = torch.diag(torch.tensor([1.0, 3.0], dtype=torch.float64))
    assert float(probe._penalty(W)) == pytest.approx(0.5 * (1.0 + 1.0))  # diag − mean(diag) = (−1, 1)
    assert torch.equal(probe._initial_weights(3, torch.Generator()), 1e-3 * torch.eye(3, dtype=torch.float64))


def _neighbours(alpha, seed=0, **split):
    sim, train, test = split_study(seed=seed, **split)
    probe = GLocalProbe(alpha=alpha, optimizer="lbfgs", random_state=seed).fit(
        sim.X, sim.triplets[train], sim.choices[train])
    return knn_overlap(sim.X, probe.transform(sim.X)), probe.score(sim.X, sim.triplets[test], sim.choices[test])


def test_alpha_keeps_more_nearest_neighbours():
    kept0, acc0 = _neighbours(0.0, n_triplets=15000)
    kept, acc = _neighbours(0.3, n_triplets=15000)
    assert kept > kept0 + 0.02
    assert acc > 0.7 and acc0 > 0.7  # still far above zero-shot (about 0.48 here)


@pytest.mark.slow
def test_default_alpha_keeps_more_nearest_neighbours_full():
    gains = []
    for seed in range(3):
        kept0, _ = _neighbours(0.0, seed=seed, n_objects=150, n_features=10, n_triplets=40000)
        kept, _ = _neighbours(0.1, seed=seed, n_objects=150, n_features=10, n_triplets=40000)
        gains.append(kept - kept0)
    assert min(gains) > 0


def test_params_are_checked_and_clonable():
    sim, train, _ = split_study(n_triplets=3000)
    with pytest.raises(ConfigError, match="alpha"):
        GLocalProbe(alpha=1.0).fit(sim.X, sim.triplets[train], sim.choices[train])
    with pytest.raises(DataError, match="reference"):
        GLocalProbe().fit(sim.X, sim.triplets[train], sim.choices[train], reference=np.ones((5, 2)))
    probe = GLocalProbe(alpha=0.3, tau=0.5, max_epochs=2, optimizer="lbfgs")
    a = probe.fit(sim.X, sim.triplets[train], sim.choices[train]).weights_
    b = clone(probe).fit(sim.X, sim.triplets[train], sim.choices[train]).weights_
    np.testing.assert_array_equal(a, b)
    assert clone(probe).get_params()["tau"] == 0.5


def test_adam_with_bias_and_separate_reference_features():
    sim, train, test = split_study(n_triplets=4000)
    reference = np.random.default_rng(3).normal(size=(50, sim.X.shape[1]))
    probe = GLocalProbe(optimizer="adam", bias=True, max_epochs=2, lr=1e-2, reference_batch_size=16)
    probe.fit(sim.X, sim.triplets[train], sim.choices[train], reference=reference)
    assert probe.bias_.shape == (sim.X.shape[1],) and probe.n_epochs_ <= 2
    assert np.isfinite(probe.weights_).all()
    assert not hasattr(probe, "_reference")  # the reference batch is not kept on the estimator


def test_objects_outside_the_training_triplets_do_not_shape_the_fit():
    """No leakage: in object-fold CV, X holds the test objects too; their features must not enter the fit.

    Reference: the definition of a held-out object (Muttenthaler et al. 2023's object folds) — changing the
    features of objects that occur in no training triplet leaves the fitted transform exactly unchanged.
    """
    sim, train, test = split_study(n_triplets=4000)
    held = np.setdiff1d(np.arange(len(sim.X)), np.unique(sim.triplets[train]))
    assert held.size > 0
    moved = sim.X.copy()
    moved[held] = np.random.default_rng(7).normal(scale=5.0, size=(held.size, sim.X.shape[1]))
    for fraction in (0.0, 0.2):
        probe = GLocalProbe(alpha=0.5, optimizer="lbfgs", max_epochs=2, validation_fraction=fraction)
        a = clone(probe).fit(sim.X, sim.triplets[train], sim.choices[train]).weights_
        b = clone(probe).fit(moved, sim.triplets[train], sim.choices[train]).weights_
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_a_constant_shift_and_scale_of_the_features_changes_nothing():
    """The teacher of the local term is the probe's own input, the standardised features, as in gLocal
    (LukasMut/gLocal utils/probing/glocal_probe.py: teacher = normalize(features), student = normalize(features
    @ W + b), one input for both). The scalar standardisation absorbs a constant shift and scale of every
    feature, so the fitted transform must not change (the raw features' cosines would)."""
    sim, train, test = split_study(n_triplets=4000)
    probe = GLocalProbe(alpha=0.5, optimizer="lbfgs", max_epochs=2, validation_fraction=0)
    a = clone(probe).fit(sim.X, sim.triplets[train], sim.choices[train]).weights_
    b = clone(probe).fit(3.0 * sim.X + 5.0, sim.triplets[train], sim.choices[train]).weights_
    np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)
