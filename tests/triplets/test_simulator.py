"""The planted-embedding triplet simulator."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.special import softmax

from neuroalign.datasets.triplet_simulator import planted_pair_similarities, simulate_triplets
from neuroalign.errors import ConfigError, UnknownNameError


def test_shapes_ids_and_dataset_agree():
    sim = simulate_triplets(25, 6, 300, n_subjects=3, repeats=20, seed=2)
    assert sim.triplets.shape == (320, 3) and sim.choices.shape == (320,)
    assert (np.sort(sim.triplets, axis=1)[:, :-1] != np.sort(sim.triplets, axis=1)[:, 1:]).all()
    ids = sim.stimulus_ids
    assert (sim.judgements.stimulus_id.values == ids[sim.triplets]).all()
    assert (sim.judgements.choice_index.values == sim.choices).all()
    assert (sim.judgements.choice.values == ids[sim.triplets[np.arange(320), sim.choices]]).all()
    assert set(sim.judgements.subject.values) <= {"0", "1", "2"}
    np.testing.assert_array_equal(sim.features.values, sim.X)
    # repeated trials are earlier triplets in another order
    first = {tuple(sorted(t)) for t in sim.triplets[:300]}
    assert all(tuple(sorted(t)) in first for t in sim.triplets[300:])
    # the planted similarity is (XW)(XW)^T up to an affine rescaling
    Z = sim.X @ sim.transform
    raw = (Z @ Z.T)[np.triu_indices(25, 1)]
    assert np.corrcoef(raw, sim.similarity[np.triu_indices(25, 1)])[0, 1] > 1 - 1e-12


def test_pair_order_against_a_loop():
    sim = simulate_triplets(15, 4, 50, seed=3)
    s = planted_pair_similarities(sim.similarity, sim.triplets)
    for row, (i, j, k) in zip(s, sim.triplets):
        assert row.tolist() == [sim.similarity[j, k], sim.similarity[i, k], sim.similarity[i, j]]


def test_zero_noise_picks_the_item_outside_the_most_similar_pair():
    sim = simulate_triplets(30, 5, 400, noise=0.0, seed=4)
    s = planted_pair_similarities(sim.similarity, sim.triplets)
    assert (sim.choices == s.argmax(axis=1)).all()


def test_choice_frequencies_follow_the_softmax():
    # one triplet asked many times: empirical frequencies vs scipy's softmax
    sim = simulate_triplets(3, 4, 1, repeats=20000, noise=1.0, seed=5)
    s = planted_pair_similarities(sim.similarity, sim.triplets)
    canon = sim.triplets[np.arange(len(sim.choices)), sim.choices]  # the chosen object
    freq = np.bincount(canon, minlength=3) / len(canon)
    p_obj = np.zeros(3)
    for row, p in zip(sim.triplets, softmax(s / 1.0, axis=1)):
        p_obj[row] += p / len(s)
    np.testing.assert_allclose(freq, p_obj, atol=0.015)


def test_seeded():
    a, b = simulate_triplets(20, 3, 100, seed=7), simulate_triplets(20, 3, 100, seed=7)
    assert (a.choices == b.choices).all() and (a.triplets == b.triplets).all()


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.permutations([0, 1, 2]))
def test_pair_similarities_permute_with_the_columns(seed, perm):
    sim = simulate_triplets(10, 3, 30, seed=seed)
    s = planted_pair_similarities(sim.similarity, sim.triplets)
    np.testing.assert_array_equal(planted_pair_similarities(sim.similarity, sim.triplets[:, perm]), s[:, perm])


def test_bad_arguments_are_named():
    with pytest.raises(UnknownNameError, match="transform"):
        simulate_triplets(10, 3, 10, transform="nonlinear")
    with pytest.raises(ConfigError, match="noise"):
        simulate_triplets(10, 3, 10, noise=-1)
    with pytest.raises(ConfigError, match="n_objects"):
        simulate_triplets(2, 3, 10)
