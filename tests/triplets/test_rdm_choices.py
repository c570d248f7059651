"""RDM-implied choices (neuroalign.triplets.rdm_choices): derivation against a brute-force loop, invariance to
monotone transforms, the leave-one-subject-out ceiling of the 16 subjects of 92_behavRDMs.mat, errors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.io
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.compare import as_rdm
from neuroalign.errors import AlignmentError, ConfigError, DataError, SchemaError, UnknownNameError
from neuroalign.triplets.rdm_choices import (all_triplets, implied_choices, implied_judgements, rdm_implied_ceiling,
                                             rdm_implied_choices, score_rdm_implied)


def _loop_choices(d: np.ndarray):
    """Reference: for every triplet i < j < k, the item outside the least dissimilar pair (None when tied)."""
    out = []
    for i, j, k in itertools.combinations(range(len(d)), 3):
        pairs = {k: d[i, j], j: d[i, k], i: d[j, k]}  # odd one -> dissimilarity of the other two
        low = min(pairs.values())
        odd = [o for o, v in pairs.items() if v == low]
        out.append((i, j, k).index(odd[0]) if len(odd) == 1 else -1)
    return out


def _loop_ceiling(c: np.ndarray) -> list[float]:
    """Reference: per subject, mean over triplets of 1/#majority when the subject's choice is among the others' majority."""
    per = []
    for s in range(len(c)):
        credits = []
        for t in range(c.shape[1]):
            votes = [c[o, t] for o in range(len(c)) if o != s and c[o, t] >= 0]
            if c[s, t] < 0 or not votes:
                continue
            counts = {k: votes.count(k) for k in range(3)}
            top = max(counts.values())
            majority = [k for k in range(3) if counts[k] == top]
            credits.append(1 / len(majority) if c[s, t] in majority else 0.0)
        per.append(float(np.mean(credits)))
    return per


def _random_rdms(rng, n_subjects, n, ties=False):
    vectors = rng.random((n_subjects, n * (n - 1) // 2))
    if ties:
        vectors = np.round(vectors * 4) / 4  # few distinct values: many ties
    return as_rdm(vectors, [f"o{i}" for i in range(n)], form="vector", dims=["subject"])


def test_all_triplets_is_itertools_combinations():
    for n in (3, 4, 9):
        assert all_triplets(n).tolist() == [list(t) for t in itertools.combinations(range(n), 3)]
    assert len(all_triplets(92)) == math.comb(92, 3) == 125_580


@pytest.mark.parametrize("ties", [False, True])
def test_implied_choices_equal_a_brute_force_loop(rng, ties):
    rdms = _random_rdms(rng, 3, 9, ties=ties)
    implied = rdm_implied_choices(rdms, rtol=0.0)
    squares = np.stack([np.asarray(to) for to in _squares(rdms)])
    expected = [_loop_choices(d) for d in squares]
    assert implied.choice_index.values.tolist() == expected
    assert implied.n_tied.values.tolist() == [sum(x < 0 for x in e) for e in expected]
    assert (implied.n_tied.values > 0).all() == ties
    ids = implied.stimulus_id.values
    assert ids[5].tolist() == [f"o{i}" for i in all_triplets(9)[5]]


def _squares(rdms):
    from neuroalign.compare import to_square

    return to_square(rdms).transpose("subject", ...).values


def test_implied_judgements_are_the_loaders_trial_form(rng):
    rdms = _random_rdms(rng, 2, 6, ties=True)
    implied = rdm_implied_choices(rdms)
    judgements = implied_judgements(implied)
    assert judgements.sizes["trial"] == int((implied.choice_index.values >= 0).sum())
    assert set(judgements.subject.values.tolist()) == {str(s) for s in implied.subject.values}
    rows = np.arange(judgements.sizes["trial"])
    np.testing.assert_array_equal(judgements.stimulus_id.values[rows, judgements.choice_index.values],
                                  judgements.choice.values)
    one = implied_judgements(implied, subjects=implied.subject.values[0])
    assert set(one.subject.values.tolist()) == {str(implied.subject.values[0])}


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["cube", "log", "affine", "rank"]))
def test_choices_are_invariant_to_a_monotone_transform(seed, transform):
    # property: only the order of dissimilarities within a triplet matters
    rng = np.random.default_rng(seed)
    n = 7
    values = rng.permutation(n * (n - 1) // 2).astype(float) + 1.0  # distinct, positive
    f = {"cube": lambda x: x ** 3 + 2 * x, "log": np.log, "affine": lambda x: 0.5 * x + 10,
         "rank": lambda x: np.argsort(np.argsort(x)).astype(float)}[transform]
    rdms = as_rdm(np.stack([values, f(values)]), [str(i) for i in range(n)], form="vector", dims=["subject"])
    choices = rdm_implied_choices(rdms).choice_index.values
    np.testing.assert_array_equal(choices[0], choices[1])
    # permuting the objects permutes the triplets: the implied odd OBJECT of each triplet is unchanged
    perm = rng.permutation(n)
    square = _squares(rdms)[0]
    permuted = implied_choices(square[np.ix_(perm, perm)])
    t = all_triplets(n)
    odd = {frozenset(row): row[c] for row, c in zip(t.tolist(), choices[0])}
    for row, c in zip(perm[t].tolist(), permuted):
        assert odd[frozenset(row)] == row[c]


def test_ceiling_equals_a_loop(rng):
    c = rng.integers(-1, 3, size=(5, 40))
    ceiling, per = rdm_implied_ceiling(c)
    np.testing.assert_allclose(per, _loop_ceiling(c))
    assert ceiling == pytest.approx(np.mean(_loop_ceiling(c)))
    identical = np.tile(rng.integers(0, 3, size=30), (4, 1))
    assert rdm_implied_ceiling(identical)[0] == 1.0


def test_the_16_subjects_ceiling_from_92_behavRDMs(shared_data):
    mat = scipy.io.loadmat(shared_data / "kriegeskorte2008" / "92_behavRDMs.mat", squeeze_me=True,
                           struct_as_record=False)["rdms_behav_92"]
    assert len(mat) == 16
    from neuroalign.datasets.kriegeskorte2008 import load_behaviour_rdms

    rdms = load_behaviour_rdms()
    assert rdms.sizes == {"subject": 16, "pair": 4186}
    rows, cols = np.triu_indices(92, k=1)
    np.testing.assert_array_equal(rdms.sel(subject="subject3").values, mat[2].RDM[rows, cols])
    implied = rdm_implied_choices(rdms)
    assert implied.sizes == {"subject": 16, "trial": 125_580, "item": 3, "object": 92}
    assert implied.n_tied.values.tolist() == [0] * 16  # the file's judgements have no exact ties
    # spot check one triplet against the matrix: items 0, 1, 2 of subject 1
    d = mat[0].RDM
    expected = int(np.argmin([d[1, 2], d[0, 2], d[0, 1]]))
    assert implied.choice_index.values[0, 0] == expected
    ceiling, per = rdm_implied_ceiling(implied.choice_index.values)
    print(f"leave-one-subject-out ceiling of the 16 subjects' RDM-implied choices: {ceiling:.4f}")
    assert 1 / 3 < ceiling < 1 and per.shape == (16,)
    assert ceiling == pytest.approx(0.6267, abs=5e-4)  # measured; pins the derivation


def test_errors():
    with pytest.raises(ConfigError):
        all_triplets(2)
    with pytest.raises(DataError, match="square"):
        implied_choices(np.zeros((3, 4)))
    with pytest.raises(DataError, match="symmetric"):
        implied_choices(np.array([[0, 1, 2], [1, 0, 3], [2, 4, 0]], dtype=float))
    with pytest.raises(DataError, match="NaN"):
        implied_choices(np.array([[0, 1, np.nan], [1, 0, 3], [np.nan, 3, 0]]))
    with pytest.raises(DataError, match="positions"):
        implied_choices(np.zeros((3, 3)), np.array([[0, 1, 3]]))
    one = as_rdm(np.arange(6.0), list("abcd"))
    with pytest.raises(SchemaError, match="subject"):
        rdm_implied_choices(one)
    with pytest.raises(SchemaError, match="DataArray"):
        rdm_implied_choices(np.zeros((2, 4, 4)))
    with pytest.raises(SchemaError, match="session"):
        rdm_implied_choices(xr.concat([_random_rdms(np.random.default_rng(0), 2, 4)] * 2, dim="session"))
    with pytest.raises(DataError, match=">= 2 subjects"):
        rdm_implied_ceiling([[0, 1, 2]])
    with pytest.raises(DataError, match="0, 1, 2 or -1"):
        rdm_implied_ceiling([[0, 3], [1, 1]])


# --------------------------------------------------------------------------- scoring against RDM-implied choices


def _loop_agreement(model_d: np.ndarray, subject_d: np.ndarray) -> float:
    """Reference: mean over the subject's untied triplets of 1/#tied when its odd one is among the model's."""
    credits = []
    for i, j, k in itertools.combinations(range(len(model_d)), 3):
        human = {k: subject_d[i, j], j: subject_d[i, k], i: subject_d[j, k]}
        low = min(human.values())
        odd = [o for o, v in human.items() if v == low]
        if len(odd) > 1:
            continue
        model = {k: model_d[i, j], j: model_d[i, k], i: model_d[j, k]}
        best = min(model.values())
        predicted = [o for o, v in model.items() if v == best]
        credits.append(1 / len(predicted) if odd[0] in predicted else 0.0)
    return float(np.mean(credits))


def test_scores_equal_a_per_triplet_loop(rng):
    n = 8
    ids = [f"o{i}" for i in range(n)]
    behaviour = _random_rdms(rng, 4, n, ties=True)
    models = as_rdm(np.stack([rng.random(28), np.round(rng.random(28) * 3), np.ones(28)]), ids, form="vector",
                    dims=["model"]).assign_coords(model=["random", "coarse", "constant"])
    score = score_rdm_implied(models, behaviour, n_bootstrap=20, rtol=0.0)
    squares_b, squares_m = _squares(behaviour), _squares(models.rename(model="subject"))
    expected = np.array([[_loop_agreement(m, b) for b in squares_b] for m in squares_m])
    np.testing.assert_allclose(score.raw["agreement"].values, expected)
    np.testing.assert_allclose(score.values.values, expected.mean(axis=1))
    assert float(score.values.sel(model="constant")) == pytest.approx(1 / 3)
    assert float(score.raw["tie_rate"].sel(model="constant")) == 1.0
    assert float(score.ceiling) == pytest.approx(rdm_implied_ceiling(rdm_implied_choices(behaviour).choice_index)[0])
    assert score.raw["normalised"].dims == ("model",) and score.params["kind"] == "RDM-implied choices"
    itself = score_rdm_implied(behaviour.isel(subject=[0]).rename(subject="model"), behaviour, n_bootstrap=5)
    assert float(itself.raw["agreement"].isel(subject=0, model=0)) == 1.0  # a subject's own RDM implies its choices


def test_layers_score_like_their_cosine_distance_rdms(rng):
    import scipy.spatial.distance
    from neuroalign.data import create_assembly

    n = 7
    ids = [f"o{i}" for i in range(n)]
    behaviour = _random_rdms(rng, 3, n)
    x = rng.normal(size=(n, 5))
    order = rng.permutation(n)  # the activations come in another order than the RDMs' stimuli
    layer = create_assembly(x[order], stimulus_id=[ids[i] for i in order])
    from_layer = score_rdm_implied({"conv1": layer}, behaviour, similarity="cosine", n_bootstrap=10)
    rdm = as_rdm(scipy.spatial.distance.pdist(x, "cosine")[None], ids, form="vector", dims=["model"])
    from_rdm = score_rdm_implied(rdm, behaviour, n_bootstrap=10)
    np.testing.assert_allclose(from_layer.raw["agreement"].values, from_rdm.raw["agreement"].values)
    assert from_layer.values.dims == ("layer",)
    with pytest.raises(AlignmentError, match="missing"):
        score_rdm_implied({"conv1": layer.isel(presentation=slice(0, 5))}, behaviour, n_bootstrap=10)


def test_image_bootstrap_equals_enumerating_the_drawn_copies(rng):
    # reference for one image resample: every triplet of drawn copies of three DIFFERENT images, its mean credit
    from neuroalign.compare.common.bootstrap import bootstrap_indices

    n = 6
    behaviour = _random_rdms(rng, 2, n)
    model = as_rdm(rng.random((1, 15)), [f"o{i}" for i in range(n)], form="vector", dims=["model"])
    score = score_rdm_implied(model, behaviour, resample="images", n_bootstrap=3, seed=7)
    image_rng = np.random.default_rng(np.random.SeedSequence(7).spawn(2)[1])
    draws = bootstrap_indices(n, 3, image_rng)
    sb, sm = _squares(behaviour), _squares(model.rename(model="subject"))[0]
    for r in range(3):
        credits = []
        for s in range(2):
            for a, b, c in itertools.combinations(draws[r], 3):
                if len({a, b, c}) == 3:
                    sub = np.ix_([a, b, c], [a, b, c])
                    credits.append(_loop_agreement(sm[sub], sb[s][sub]))
        assert float(score.raw["resampled"][r, 0]) == pytest.approx(np.mean(credits))


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_score_is_invariant_to_the_stimulus_order(seed):
    # property: relabelling the images in both RDMs (same permutation) changes nothing
    rng = np.random.default_rng(seed)
    n = 6
    ids = [f"o{i}" for i in range(n)]
    b = _squares(_random_rdms(rng, 3, n))
    m = _squares(_random_rdms(rng, 2, n))
    perm = rng.permutation(n)
    scores = []
    for order in (np.arange(n), perm):
        bp = as_rdm(b[:, order][:, :, order], [ids[i] for i in order], dims=["subject"])
        mp = as_rdm(m[:, order][:, :, order], [ids[i] for i in order], dims=["model"])
        scores.append(score_rdm_implied(mp, bp, n_bootstrap=2).raw["agreement"].values)
    np.testing.assert_allclose(scores[0], scores[1])


def test_model_rdms_against_the_16_subjects(shared_data):
    from neuroalign.datasets.kriegeskorte2008 import load_behaviour_rdms, load_model_rdms

    score = score_rdm_implied(load_model_rdms(), load_behaviour_rdms(), n_bootstrap=20, seed=0)
    values = score.values.to_series()
    print("RDM-implied choices, 16 subjects:", values.round(4).to_dict(), "ceiling", round(float(score.ceiling), 4))
    assert values.idxmax() == "animacy" and (values > 1 / 3).all() and (values < float(score.ceiling)).all()
    low, high = score.ci
    assert (low.values <= values.values).all() and (values.values <= high.values).all()


def test_scoring_errors(rng):
    behaviour = _random_rdms(rng, 2, 5)
    model = as_rdm(rng.random((1, 10)), [f"o{i}" for i in range(5)], form="vector", dims=["model"])
    with pytest.raises(UnknownNameError):
        score_rdm_implied(model, behaviour, resample="triplets")
    with pytest.raises(SchemaError, match="candidates"):
        score_rdm_implied(np.zeros((5, 5)), behaviour)
    with pytest.raises(UnknownNameError):
        score_rdm_implied({"l": xr.DataArray(np.zeros((5, 2)), dims=("presentation", "neuroid"))}, behaviour,
                          similarity="pearson")
    other = as_rdm(rng.random((1, 10)), [f"x{i}" for i in range(5)], form="vector", dims=["model"])
    with pytest.raises(AlignmentError, match="x0|o0"):
        score_rdm_implied(other, behaviour)


def test_subject_bootstrap_is_the_mean_over_the_drawn_subjects(rng):
    # reference (closed form): a subject resample's value is the point estimate (the mean of the subjects'
    # agreements) over the drawn subjects, each as often as drawn; subjects with ties (fewer triplets with an
    # implied choice) weigh the same as the others, as in the point estimate
    from neuroalign.compare.common.bootstrap import bootstrap_indices, resample_counts

    n = 7
    tied = _random_rdms(rng, 2, n, ties=True).values
    plain = _random_rdms(rng, 2, n).values
    behaviour = as_rdm(np.concatenate([tied, plain]), [f"o{i}" for i in range(n)], form="vector", dims=["subject"])
    assert len(set(rdm_implied_choices(behaviour).n_tied.values.tolist())) > 1
    model = as_rdm(rng.random((1, n * (n - 1) // 2)), [f"o{i}" for i in range(n)], form="vector", dims=["model"])
    score = score_rdm_implied(model, behaviour, resample="subjects", n_bootstrap=20, seed=3)
    agreement = score.raw["agreement"].values[0]
    assert float(score.values[0]) == pytest.approx(agreement.mean())
    subject_rng = np.random.default_rng(np.random.SeedSequence(3).spawn(2)[0])
    u = resample_counts(bootstrap_indices(4, 20, subject_rng), 4).astype(float)
    np.testing.assert_allclose(score.raw["resampled"].values[:, 0], u @ agreement / u.sum(axis=1), rtol=1e-12)
