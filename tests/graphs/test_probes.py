"""Linear probes on frozen embeddings: against scikit-learn's GridSearchCV + roc_auc_score/r2_score, invariances, errors."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neuroalign import Score
from neuroalign.errors import AlignmentError, ConfigError, DataError, SchemaError, UnknownNameError
from neuroalign.graphs.probes import ALPHA_GRID, C_GRID, fit_probe, probe, probe_metric

GRID = [0.01, 0.1, 1.0, 10.0]


def embeddings(rng, n=40, p=5, shift=0.8, classes=2, shuffle_ids=True):
    """Gaussian embeddings whose first feature carries the class; subject ids stored out of order."""
    group = np.arange(n) % classes
    x = rng.normal(size=(n, p))
    x[:, 0] += shift * group
    ids = np.array([f"sub-{i:03d}" for i in range(n)])
    if shuffle_ids:
        ids = ids[rng.permutation(n)]
    target = x[:, 1] + 0.5 * rng.normal(size=n)
    return xr.DataArray(x, dims=("subject", "feature"),
                        coords={"subject": ids, "group": ("subject", group), "score": ("subject", target)})


def sorted_arrays(emb, label):
    order = np.argsort(emb.subject.values)
    return emb.values[order], emb[label].values[order]


def reference_nested_cv(x, y, task, seeds, n_splits, inner_splits, grid):
    """scikit-learn's GridSearchCV inside StratifiedKFold/KFold, scored by roc_auc_score / r2_score."""
    values, chosen = [], []
    for seed in seeds:
        outer_kind = StratifiedKFold if task == "classification" else KFold
        row, row_c = [], []
        for train, test in outer_kind(n_splits, shuffle=True, random_state=seed).split(x, y):
            if task == "classification":
                model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=10_000))
                search = GridSearchCV(model, {"logisticregression__C": grid}, scoring="roc_auc",
                                      cv=StratifiedKFold(inner_splits, shuffle=True, random_state=seed))
                search.fit(x[train], y[train])
                row.append(roc_auc_score(y[test], search.decision_function(x[test])))
                row_c.append(search.best_params_["logisticregression__C"])
            else:
                model = make_pipeline(StandardScaler(), Ridge())
                search = GridSearchCV(model, {"ridge__alpha": grid}, scoring="r2",
                                      cv=KFold(inner_splits, shuffle=True, random_state=seed))
                search.fit(x[train], y[train])
                row.append(r2_score(y[test], search.predict(x[test])))
                row_c.append(search.best_params_["ridge__alpha"])
        values.append(row)
        chosen.append(row_c)
    return np.array(values), np.array(chosen)


def test_classification_probe_equals_gridsearchcv_and_roc_auc_score(rng):
    emb = embeddings(rng, n=48)
    score = probe(emb, "group", n_splits=4, seeds=(0, 3), inner_splits=3, grid=GRID)
    x, y = sorted_arrays(emb, "group")
    expected, chosen = reference_nested_cv(x, y, "classification", (0, 3), 4, 3, GRID)
    np.testing.assert_allclose(score.raw.values, expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(score.raw["C"].values, chosen)
    assert score.raw.dims == ("seed", "fold") and list(score.raw.seed.values) == [0, 3]
    assert float(score) == pytest.approx(expected.mean(), abs=1e-12)
    assert score.metric == "probe-auroc"
    # corrected repeated k-fold t interval (Nadeau & Bengio 2003), by hand
    j, ratio = expected.size, 12 / 36
    se = np.sqrt((1 / j + ratio) * expected.var(ddof=1))
    half = stats.t.ppf(0.975, j - 1) * se
    assert float(score.error) == pytest.approx(se, rel=1e-12)
    low, high = (float(v) for v in score.ci)
    assert low == pytest.approx(max(expected.mean() - half, 0), rel=1e-12)
    assert high == pytest.approx(min(expected.mean() + half, 1), rel=1e-12)


def test_regression_probe_equals_gridsearchcv_and_r2_score(rng):
    emb = embeddings(rng, n=36)
    score = probe(emb, "score", task="regression", n_splits=3, seeds=(1,), inner_splits=3,
                  grid=[0.1, 10.0, 1000.0])
    x, y = sorted_arrays(emb, "score")
    expected, chosen = reference_nested_cv(x, y, "regression", (1,), 3, 3, [0.1, 10.0, 1000.0])
    np.testing.assert_allclose(score.raw.values, expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(score.raw["alpha"].values, chosen)
    assert score.metric == "probe-r2" and 0.3 < float(score) <= 1


def test_explicit_split_equals_reference_and_bootstraps_the_test_set(rng):
    emb = embeddings(rng, n=90)
    ids = np.sort(emb.subject.values)
    train, test = ids[:30], ids[30:]
    score = probe(emb, "group", train=train, test=test, seeds=(0, 1), grid=GRID, n_bootstrap=200)
    x, y = sorted_arrays(emb, "group")
    for seed in (0, 1):
        search = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression(max_iter=10_000)),
                              {"logisticregression__C": GRID}, scoring="roc_auc",
                              cv=StratifiedKFold(3, shuffle=True, random_state=seed)).fit(x[:30], y[:30])
        auc = roc_auc_score(y[30:], search.decision_function(x[30:]))
        assert float(score.raw.sel(seed=seed, fold=0)) == pytest.approx(auc, abs=1e-12)
    assert score.raw.sizes["fold"] == 1 and int(score.raw.n_train[0, 0]) == 30 and int(score.raw.n_test[0, 0]) == 60
    low, high = (float(v) for v in score.ci)
    assert low < float(score) < high and float(score.error) > 0
    assert "bootstrap" in score.params["ci"]
    # positions are accepted when ids are not integers, and give the same split (input order)
    positions = np.flatnonzero(np.isin(emb.subject.values, train))
    again = probe(emb, "group", train=positions, seeds=(0, 1), grid=GRID, n_bootstrap=200)
    np.testing.assert_array_equal(again.raw.values, score.raw.values)


def test_explicit_split_needs_labels_only_of_the_split(rng):
    emb = embeddings(rng, n=40, shuffle_ids=False)
    labels = emb.group.values.astype(float)
    labels[-4:] = np.nan
    emb = emb.assign_coords(group=("subject", labels))
    ids = emb.subject.values
    score = probe(emb, "group", train=ids[:20], test=ids[20:36], grid=GRID, n_bootstrap=50)
    assert 0 <= float(score) <= 1
    with pytest.raises(DataError, match=r"missing.*sub-036"):
        probe(emb, "group", train=ids[:20], grid=GRID)


def test_target_as_array_series_or_dataarray_matches_on_ids(rng):
    emb = embeddings(rng)
    by_name = probe(emb, "group", n_splits=3, grid=GRID)
    shuffled = emb.group.isel(subject=rng.permutation(emb.sizes["subject"]))
    as_dataarray = probe(emb.drop_vars("group"), shuffled, n_splits=3, grid=GRID)
    as_series = probe(emb, pd.Series(shuffled.values, index=shuffled.subject.values), n_splits=3, grid=GRID)
    as_array = probe(emb, emb.group.values, n_splits=3, grid=GRID)
    for other in (as_dataarray, as_series, as_array):
        np.testing.assert_array_equal(other.raw.values, by_name.raw.values)


def test_multiclass_probe_and_metric_match_roc_auc_score_ovr(rng):
    emb = embeddings(rng, n=60, classes=3, shift=1.5)
    score = probe(emb, "group", n_splits=3, grid=GRID)
    assert score.params["classes"] == [0, 1, 2] and 0.6 < float(score) <= 1
    y = rng.integers(0, 3, size=50)
    proba = rng.dirichlet(np.ones(3), size=50)
    assert float(probe_metric("classification", y, proba)) == pytest.approx(
        roc_auc_score(y, proba, multi_class="ovr", average="macro"), abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 30), st.integers(0, 4))
def test_metric_equals_roc_auc_score_and_r2_score_with_ties(seed, n, ties):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    y[:2] = [0, 1]
    scores = np.round(rng.normal(size=n), ties)  # rounding makes ties
    assert float(probe_metric("classification", y, scores)) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    # label flip: 1 - AUROC
    assert float(probe_metric("classification", 1 - y, scores)) == pytest.approx(
        1 - roc_auc_score(y, scores), abs=1e-12)
    target = rng.normal(size=n)
    assert float(probe_metric("regression", target, scores)) == pytest.approx(r2_score(target, scores), abs=1e-9)


def test_metric_batched_over_resamples_equals_one_by_one(rng):
    y = rng.integers(0, 2, size=(7, 20))
    s = rng.normal(size=(7, 20))
    batched = probe_metric("classification", y, s)
    for b in range(7):
        expected = roc_auc_score(y[b], s[b]) if 0 < y[b].sum() < 20 else np.nan
        np.testing.assert_allclose(batched[b], expected, atol=1e-12)
    assert np.isnan(probe_metric("classification", np.zeros(5, int), np.arange(5.0)))
    assert np.isnan(probe_metric("regression", np.ones(5), np.arange(5.0)))


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), factors=st.lists(st.floats(0.01, 100), min_size=3, max_size=3),
       signs=st.lists(st.booleans(), min_size=3, max_size=3))
def test_probe_invariant_to_feature_scaling_subject_order_and_label_flip(seed, factors, signs):
    rng = np.random.default_rng(seed)
    emb = embeddings(rng, n=24, p=3, shift=1.0)
    kwargs = dict(n_splits=3, inner_splits=2, grid=[0.1, 1.0], seeds=(seed % 7,))
    base = probe(emb, "group", **kwargs)
    scale = np.asarray(factors) * np.where(signs, 1, -1)
    scaled = emb.copy(data=emb.values * scale + rng.normal(size=3) * 10)  # per-feature affine, either sign
    np.testing.assert_allclose(probe(scaled, "group", **kwargs).raw.values, base.raw.values, atol=1e-9)
    permuted = emb.isel(subject=rng.permutation(emb.sizes["subject"]))
    np.testing.assert_array_equal(probe(permuted, "group", **kwargs).raw.values, base.raw.values)
    # a probe refitted on flipped labels is the mirrored model: the same AUROC (the metric flips, see above)
    flipped = emb.assign_coords(group=("subject", 1 - emb.group.values))
    np.testing.assert_allclose(probe(flipped, "group", **kwargs).raw.values, base.raw.values, atol=1e-9)


def test_fit_probe_defaults_and_score_roundtrip(rng, tmp_path):
    assert len(C_GRID) == 10 and C_GRID[0] == pytest.approx(1e-4) and C_GRID[-1] == pytest.approx(1e4)
    assert len(ALPHA_GRID) == 9 and ALPHA_GRID[0] == pytest.approx(1e-3)
    x = rng.normal(size=(30, 2))
    model, c = fit_probe(x, (x[:, 0] > 0).astype(int))
    assert c in C_GRID and hasattr(model, "predict_proba")
    score = probe(embeddings(rng), "group", n_splits=3, grid=GRID)
    loaded = Score.load(score.save(tmp_path / "probe.nc"))
    np.testing.assert_array_equal(loaded.raw.values, score.raw.values)
    assert loaded.params["grid"] == GRID and "input_hashes" in loaded.raw.attrs


# ----------------------------------------------------------------------------------------------------- errors
def test_fewer_subjects_than_folds(rng):
    emb = embeddings(rng, n=6)
    with pytest.raises(DataError, match=r"class 0 has 3 subjects, fewer than n_splits=5") as info:
        probe(emb, "group", grid=GRID)
    assert info.value.source == "n_splits"
    with pytest.raises(DataError, match="inner_splits=3"):
        probe(emb, "group", n_splits=2, grid=GRID)
    with pytest.raises(DataError, match="6 subjects for n_splits=5"):
        probe(emb, "score", task="regression")


def test_missing_labels_are_listed(rng):
    emb = embeddings(rng, shuffle_ids=False)
    labels = emb.group.values.astype(object)
    labels[[3, 7]] = [None, np.nan]
    with pytest.raises(DataError, match=r"missing \(NaN or None\) for 2 of 40 subjects, e\.g\. \['sub-003', "
                                        r"'sub-007'\]"):
        probe(emb.assign_coords(group=("subject", labels)), "group")


def test_single_class_and_bad_inputs(rng):
    emb = embeddings(rng)
    with pytest.raises(DataError, match="single class"):
        probe(emb, np.zeros(40, int))
    with pytest.raises(SchemaError, match="not a label coordinate on 'subject'"):
        probe(emb, "sex")
    with pytest.raises(SchemaError, match=r"\(subject, feature\)"):
        probe(emb.rename(subject="subj"), "group")
    with pytest.raises(DataError, match="non-finite embeddings.*sub-"):
        probe(emb.where(emb.subject != emb.subject.values[5]), "group")
    with pytest.raises(UnknownNameError):
        probe(emb, "group", task="ranking")
    with pytest.raises(ConfigError, match="n_splits"):
        probe(emb, "group", n_splits=1)
    with pytest.raises(ConfigError, match="grid"):
        probe(emb, "group", grid=[0.0, 1.0])
    with pytest.raises(ConfigError, match="seeds"):
        probe(emb, "group", seeds=(1, 1))


def test_mismatched_subjects_are_named_never_dropped(rng):
    emb = embeddings(rng, shuffle_ids=False)
    other = emb.group.isel(subject=slice(2, None)).assign_coords(
        subject=np.r_[emb.subject.values[2:-1], ["sub-999"]])
    with pytest.raises(AlignmentError, match=r"3 only in the embeddings \(e\.g\. \['sub-000', 'sub-001', 'sub-039'\]\).*"
                                             r"only in the target \(e\.g\. \['sub-999'\]\)"):
        probe(emb, other)
    with pytest.raises(AlignmentError, match="shape"):
        probe(emb, emb.group.values[:-1])


def test_bad_splits(rng):
    emb = embeddings(rng, shuffle_ids=False)
    ids = emb.subject.values
    with pytest.raises(ConfigError, match="both train and test"):
        probe(emb, "group", train=ids[:20], test=ids[15:])
    with pytest.raises(ConfigError, match="not in the embeddings.*sub-777"):
        probe(emb, "group", train=["sub-777"])
    with pytest.raises(DataError, match="no member of class"):
        probe(emb, "group", train=ids[:30], test=ids[30:31], grid=GRID)
