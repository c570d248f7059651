"""Odd-one-out scoring: tie policies, the tie trap, temperature MLE, Score with object / subject CIs.

References: a per-triplet Python loop (three np.dot per triplet and an argmax, as SPoSE /
Brain-Score evaluation code does it), the closed-form temperature of a two-level design, a
brute-force grid over log T, scipy.special.softmax, and explicit copy counting for the bootstrap.
"""

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import softmax

from neuroalign import Score
from neuroalign.compare.common.bootstrap import bootstrap_indices
from neuroalign.data import create_assembly
from neuroalign.errors import AlignmentError, ConfigError, DataError, UnknownNameError
from neuroalign.triplets.resampling import object_resamples, subject_resamples
from neuroalign.triplets.scoring import (choice_probabilities, fit_temperature, odd_one_credit, predict_odd_one,
                                         score_indices, score_similarities, score_triplets, tied_pairs)


def _random_triplets(rng, n_objects, n):
    return np.stack([rng.choice(n_objects, 3, replace=False) for _ in range(n)])


def _loop_predictions(x, triplets):
    """Brain-Score / SPoSE style: sims [s01, s02, s12], argmax picks the most similar pair (first on ties)."""
    odd_of_pair = (2, 1, 0)
    out = []
    for i, j, k in triplets:
        sims = [np.dot(x[i], x[j]), np.dot(x[i], x[k]), np.dot(x[j], x[k])]
        out.append(odd_of_pair[int(np.argmax(sims))])
    return np.array(out)


def _loop_expected_credit(x, triplets, choices):
    """Expected credit of a uniform tie-break, from exact float equality (for data whose ties are exact)."""
    credit = []
    for (i, j, k), c in zip(triplets, choices):
        sims = {2: float(np.dot(x[i], x[j])), 1: float(np.dot(x[i], x[k])), 0: float(np.dot(x[j], x[k]))}
        top = max(sims.values())
        tied = [odd for odd, v in sims.items() if v == top]
        credit.append(1.0 / len(tied) if c in tied else 0.0)
    return np.array(credit)


def _judgements(ids, choices, subjects=None):
    coords = {"trial": np.arange(len(ids)), "item": np.arange(3)}
    if subjects is not None:
        coords["subject"] = ("trial", np.asarray(subjects))
    return xr.Dataset({"stimulus_id": (("trial", "item"), np.asarray(ids, dtype=object)),
                       "choice_index": ("trial", np.asarray(choices))}, coords=coords)


def test_predictions_match_loop_on_tie_free_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 16)).astype(np.float32)
    t = _random_triplets(rng, 40, 500)
    c = rng.integers(0, 3, 500)
    score = score_indices(x, t, c, resample=None)
    expected = _loop_predictions(x.astype(np.float64), t)
    assert float(score.raw["tie_rate"]) == 0.0
    np.testing.assert_array_equal(score.raw["predicted"].values, expected)
    assert float(score) == pytest.approx(np.mean(expected == c), abs=1e-15)


def test_expected_credit_matches_loop_with_exact_ties():
    rng = np.random.default_rng(1)
    x = rng.integers(-2, 3, size=(15, 3)).astype(float)  # small integers: many exact ties
    t = _random_triplets(rng, 15, 400)
    c = rng.integers(0, 3, 400)
    score = score_indices(x, t, c, resample=None)
    reference = _loop_expected_credit(x, t, c)
    assert float(score.raw["tie_rate"]) > 0.1
    np.testing.assert_allclose(score.raw["credit"].values, reference, rtol=0, atol=1e-15)


@pytest.mark.parametrize("order", [[0, 1, 2], [2, 0, 1], [1, 2, 0], [2, 1, 0]])
def test_constant_model_scores_one_third_however_the_columns_are_ordered(order):
    rng = np.random.default_rng(2)
    x = np.full((30, 768), 0.37, dtype=np.float32)
    t = _random_triplets(rng, 30, 300)
    choices = np.full(300, 2)  # THINGS storage: the odd one last
    t, choices = t[:, order], np.argsort(order)[choices]
    for kind in ("dot", "cosine", "euclidean"):
        score = score_indices(x, t, choices, similarity=kind, resample=None)
        assert float(score) == pytest.approx(1 / 3, abs=1e-12)
        assert float(score.raw["tie_rate"]) == 1.0
        # an infinite maximum-likelihood temperature cannot be stored with the score: a note says so instead
        assert "temperature" not in score.raw and "carry no information" in score.raw.attrs["temperature_note"]


def test_tie_trap_positional_tie_break_scores_one_on_odd_last_data():
    rng = np.random.default_rng(3)
    x = np.ones((20, 8))
    t = _random_triplets(rng, 20, 200)
    choices = np.full(200, 2)  # odd one last, as THINGS, SPoSE, AligNet and Brain-Score store triplets
    loop = _loop_predictions(x, t)  # the reference implementations' argmax
    assert np.mean(loop == choices) == 1.0  # the trap: a featureless model looks perfect
    assert float(score_indices(x, t, choices, tie_policy="first", resample=None)) == 1.0  # reproduced
    assert float(score_indices(x, t, choices, resample=None)) == pytest.approx(1 / 3)  # the default is honest
    rand = score_indices(x, t, choices, tie_policy="random", resample=None)
    assert 0.2 < float(rand) < 0.5
    # and "first" depends on the column order; the default does not
    t2, c2 = t[:, [2, 0, 1]], np.full(200, 0)
    assert float(score_indices(x, t2, c2, tie_policy="first", resample=None)) == 0.0
    assert float(score_indices(x, t2, c2, resample=None)) == pytest.approx(1 / 3)


def test_random_tie_policy_is_seeded():
    x = np.ones((10, 2))
    t = _random_triplets(np.random.default_rng(4), 10, 100)
    a = score_indices(x, t, np.zeros(100, int), tie_policy="random", resample=None, seed=5)
    b = score_indices(x, t, np.zeros(100, int), tie_policy="random", resample=None, seed=5)
    np.testing.assert_array_equal(a.raw["predicted"], b.raw["predicted"])


def test_float_ties_within_tolerance():
    s = np.array([[1.0, 1.0 + 1e-13, 0.0], [1.0, 1.0 + 1e-6, 0.0]])
    assert tied_pairs(s).tolist() == [[True, True, False], [False, True, False]]
    assert predict_odd_one(s).tolist() == [-1, 1]
    assert odd_one_credit(s, [0, 1]).tolist() == [0.5, 1.0]
    assert tied_pairs(s, rtol=0).tolist() == [[False, True, False], [False, True, False]]


def _permute_rows(rng, t, c):
    perms = np.array([rng.permutation(3) for _ in range(len(t))])
    t2 = np.take_along_axis(t, perms, axis=1)
    c2 = np.argmax(perms == c[:, None], axis=1)  # the odd one's new position
    return t2, c2


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), kind=st.sampled_from(["dot", "cosine", "euclidean"]),
       policy=st.sampled_from(["expected", "first"]), duplicate=st.booleans())
def test_permuting_the_columns_of_every_triplet_changes_nothing(seed, kind, policy, duplicate):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(12, 5))
    if duplicate:
        x[4] = x[7]  # exact ties
    t = _random_triplets(rng, 12, 60)
    c = rng.integers(0, 3, 60)
    t2, c2 = _permute_rows(rng, t, c)
    a = score_indices(x, t, c, similarity=kind, n_bootstrap=20, seed=1)
    b = score_indices(x, t2, c2, similarity=kind, n_bootstrap=20, seed=1)
    if policy == "expected":
        np.testing.assert_array_equal(a.raw["credit"], b.raw["credit"])
        assert float(a) == float(b)
        np.testing.assert_allclose(a.raw["resampled"], b.raw["resampled"], rtol=1e-12)
        assert ("temperature" in a.raw) == ("temperature" in b.raw)  # absent when the fit diverges (random choices)
        if "temperature" in a.raw:
            assert float(a.raw["temperature"]) == pytest.approx(float(b.raw["temperature"]), rel=1e-9)
    if not duplicate:  # tie-free: every policy is invariant
        a = score_indices(x, t, c, similarity=kind, tie_policy=policy, resample=None)
        b = score_indices(x, t2, c2, similarity=kind, tie_policy=policy, resample=None)
        assert float(a) == float(b)


def test_choice_probabilities_match_scipy_softmax():
    s = np.random.default_rng(6).normal(size=(50, 3))
    for T in (0.1, 1.0, 7.0):
        np.testing.assert_allclose(choice_probabilities(s, T), softmax(s / T, axis=1), rtol=1e-12)
    np.testing.assert_allclose(choice_probabilities(s, np.inf), 1 / 3)
    assert choice_probabilities([[1.0, 1.0, 0.0]], 0).tolist() == [[0.5, 0.5, 0.0]]


@pytest.mark.parametrize("d, q", [(1.0, 0.75), (2.5, 0.5), (0.3, 0.9)])
def test_temperature_closed_form(d, q):
    """All triplets s = (d, 0, 0); a fraction q chose item 0.  P(0) = e^(d/T) / (e^(d/T) + 2) = q at the MLE."""
    n = 40
    s = np.tile([d, 0.0, 0.0], (n, 1))
    k = int(round(q * n))
    c = np.array([0] * k + [1, 2] * ((n - k) // 2) + [1] * ((n - k) % 2))
    T, ll = fit_temperature(s, c)
    assert T == pytest.approx(d / np.log(2 * q / (1 - q)), rel=1e-9)
    p = choice_probabilities(s, T)
    assert ll == pytest.approx(np.log(p[np.arange(n), c]).sum(), rel=1e-12)


def test_temperature_against_brute_force_grid():
    rng = np.random.default_rng(7)
    s = rng.normal(size=(300, 3))
    c = np.array([rng.choice(3, p=softmax(row / 0.4)) for row in s])
    T, ll = fit_temperature(s, c)
    grid = np.exp(np.linspace(np.log(0.05), np.log(5), 20001))
    lls = [np.log(softmax(s / g, axis=1)[np.arange(300), c]).sum() for g in grid[::20]]
    best = grid[::20][int(np.argmax(lls))]
    assert T == pytest.approx(best, rel=0.01)
    assert ll >= max(lls) - 1e-9
    assert 0.25 < T < 0.65  # near the planted 0.4


def test_temperature_limits():
    s = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    assert fit_temperature(s, [0, 1]) == (0.0, 0.0)  # every choice is the maximum: T -> 0
    T, ll = fit_temperature(s, [1, 0])  # anti-correlated: uniform is best
    assert np.isinf(T) and ll == pytest.approx(-2 * np.log(3))


def test_object_bootstrap_weights_count_copies():
    rng = np.random.default_rng(8)
    t = _random_triplets(rng, 9, 40)
    credit = rng.random(40)
    got = object_resamples(credit, t, n_bootstrap=30, random_state=np.random.default_rng(11))
    draws = bootstrap_indices(9, 30, np.random.default_rng(11))  # the objects 0..8 all appear in t
    assert np.unique(t).tolist() == list(range(9))
    for r, drawn in enumerate(draws):
        num = den = 0.0
        for row, value in zip(t, credit):  # every combination of drawn copies of the three objects
            copies = 1
            for obj in row:
                copies *= int(np.sum(drawn == obj))
            num += copies * value
            den += copies
        assert (np.isnan(got[r]) and den == 0) or got[r] == pytest.approx(num / den, rel=1e-12)


def test_subject_bootstrap_matches_explicit_resamples():
    credit = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.5])
    subjects = np.array(["a", "a", "b", "c", "c", "c"])
    got = subject_resamples(credit, subjects, n_bootstrap=25, random_state=np.random.default_rng(3))
    draws = bootstrap_indices(3, 25, np.random.default_rng(3))
    for r, drawn in enumerate(draws):
        pooled = np.concatenate([credit[subjects == "abc"[d]] for d in drawn])
        assert got[r] == pytest.approx(pooled.mean(), rel=1e-12)


def _study(seed=0, n_objects=25, n=400, n_subjects=4):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_objects, 6))
    t = _random_triplets(rng, n_objects, n)
    s = np.stack([(x[t[:, 1]] * x[t[:, 2]]).sum(1), (x[t[:, 0]] * x[t[:, 2]]).sum(1),
                  (x[t[:, 0]] * x[t[:, 1]]).sum(1)], axis=1)
    c = np.array([rng.choice(3, p=p) for p in softmax(s / 2.0, axis=1)])
    ids = np.array([f"obj{i:02d}" for i in range(n_objects)])
    subjects = np.array([f"s{i % n_subjects}" for i in range(n)])
    return x, ids, t, c, subjects


def test_score_triplets_front_door_and_cis():
    x, ids, t, c, subjects = _study()
    rep = create_assembly(x[::-1].copy(), stimulus_id=ids[::-1].tolist())  # rows in another order
    judgements = _judgements(ids[t], c, subjects)
    by_objects = score_triplets(rep, judgements, n_bootstrap=200, seed=1)
    again = score_triplets(rep, judgements, n_bootstrap=200, seed=1)
    by_subjects = score_triplets(rep, judgements, resample="subjects", n_bootstrap=200, seed=1)
    direct = score_indices(x, t, c, resample=None)
    assert isinstance(by_objects, Score) and by_objects.metric == "odd-one-out-accuracy"
    assert float(by_objects) == float(direct) == float(by_subjects) > 0.5
    np.testing.assert_array_equal(by_objects.raw["resampled"], again.raw["resampled"])
    assert not np.allclose(by_objects.raw["resampled"], by_subjects.raw["resampled"])
    low, high = (float(v) for v in by_objects.ci)
    assert low < float(by_objects) < high
    raw = by_objects.raw
    assert raw["credit"].dims == ("trial",) and raw["subject"].values.tolist() == subjects.tolist()
    assert {"tie_rate", "temperature", "log_likelihood", "p_choice", "predicted", "n_tied"} <= set(raw.variables)
    assert 1.0 < float(raw["temperature"]) < 4.0  # the choices were drawn at T = 2
    assert by_objects.params["similarity"] == "dot" and by_objects.params["resample"] == "objects"
    assert "input_hashes" in raw.attrs


def test_score_round_trips_through_a_file(tmp_path):
    x, ids, t, c, _ = _study(n=100)
    score = score_indices(x, t, c, n_bootstrap=20)
    back = Score.load(score.save(tmp_path / "score.nc"))
    assert float(back) == float(score)
    np.testing.assert_array_equal(back.raw["credit"], score.raw["credit"])


def test_object_ci_is_wider_than_a_triplet_bootstrap_would_be():
    x, ids, t, c, _ = _study(n=2000, n_objects=20)
    score = score_indices(x, t, c, n_bootstrap=300, seed=2)
    credit = score.raw["credit"].values
    naive = credit[np.random.default_rng(0).integers(0, len(credit), (300, len(credit)))].mean(1).std()
    assert float(score.error) > 1.5 * naive  # triplets share objects: they are not independent


def test_score_errors():
    x, ids, t, c, subjects = _study(n=50)
    rep = create_assembly(x[:20], stimulus_id=ids[:20].tolist())
    with pytest.raises(AlignmentError, match=r"missing from the representation, e\.g\. \['obj2"):
        score_triplets(rep, _judgements(ids[t], c), resample=None)
    full = create_assembly(x, stimulus_id=ids.tolist())
    with pytest.raises(ConfigError, match="subject"):
        score_triplets(full, _judgements(ids[t], c), resample="subjects")
    with pytest.raises(DataError, match="at least two subjects"):
        score_triplets(full, _judgements(ids[t], c, ["s0"] * len(c)), resample="subjects", n_bootstrap=10)
    with pytest.raises(DataError, match="not one of the three items"):
        score_indices(x, t, np.where(np.arange(len(c)) == 3, 3, c))
    with pytest.raises(DataError, match="repeat an object"):
        score_indices(x, np.array([[0, 0, 1]]), [0])
    with pytest.raises(DataError, match="outside"):
        score_indices(x, np.array([[0, 1, 99]]), [0])
    with pytest.raises(UnknownNameError, match="tie policy"):
        score_indices(x, t, c, tie_policy="positional")
    with pytest.raises(UnknownNameError, match="resampling unit"):
        score_indices(x, t, c, resample="triplets")
    with pytest.raises(ConfigError, match="triplets"):
        score_similarities(np.ones((2, 3)), [0, 1])


def test_temperature_can_be_skipped():
    x, ids, t, c, _ = _study(n=100)
    full = score_indices(x, t, c, resample=None)
    plain = score_indices(x, t, c, resample=None, temperature=False)
    assert float(plain) == float(full)
    assert "temperature" not in plain.raw and "p_choice" not in plain.raw
    T = float(full.raw["temperature"])
    s = np.stack([(x[t[:, 1]] * x[t[:, 2]]).sum(1), (x[t[:, 0]] * x[t[:, 2]]).sum(1),
                  (x[t[:, 0]] * x[t[:, 1]]).sum(1)], axis=1)
    np.testing.assert_allclose(full.raw["p_choice"], softmax(s / T, axis=1)[np.arange(len(c)), c], rtol=1e-9)
    assert (T, float(full.raw["log_likelihood"])) == pytest.approx(fit_temperature(s, c), rel=1e-12)


def test_score_similarities_from_an_rdm_and_unused_objects():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(30, 4))
    t = _random_triplets(rng, 10, 80) + 5  # objects 5..14 only: the others never enter
    c = rng.integers(0, 3, 80)
    rdm = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    s = -np.stack([rdm[t[:, 1], t[:, 2]], rdm[t[:, 0], t[:, 2]], rdm[t[:, 0], t[:, 1]]], axis=1)
    a = score_similarities(s, c, triplets=t, n_bootstrap=50, seed=3)
    b = score_indices(x, t, c, similarity="euclidean", n_bootstrap=50, seed=3)
    np.testing.assert_allclose(a.raw["credit"], b.raw["credit"])
    np.testing.assert_allclose(a.raw["resampled"], b.raw["resampled"], rtol=1e-12)
    assert b.params["similarity"] == "euclidean"


def test_many_triplets_match_an_independent_vectorised_reference():
    rng = np.random.default_rng(10)
    x = rng.normal(size=(1854, 64)).astype(np.float32)
    t = rng.integers(0, 1854, size=(300_000, 3))
    t = t[(t[:, 0] != t[:, 1]) & (t[:, 0] != t[:, 2]) & (t[:, 1] != t[:, 2])]
    c = rng.integers(0, 3, len(t))
    score = score_indices(x, t, c, n_bootstrap=20)
    xd = x.astype(float)
    s = np.stack([np.einsum("np,np->n", xd[t[:, 1]], xd[t[:, 2]]), np.einsum("np,np->n", xd[t[:, 0]], xd[t[:, 2]]),
                  np.einsum("np,np->n", xd[t[:, 0]], xd[t[:, 1]])], axis=1)
    np.testing.assert_array_equal(score.raw["predicted"], s.argmax(axis=1))
    assert float(score) == pytest.approx(np.mean(s.argmax(axis=1) == c), abs=1e-12)
