"""Label-efficiency curves: known answers (separable vs noise), balanced nested draws, references, errors."""

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neuroalign.errors import ConfigError, DataError
from neuroalign.graphs.label_curves import (SIZES, balanced_draws, label_efficiency,
                                                label_efficiency_score)

GRID = [0.1, 1.0, 10.0]


def embeddings(rng, n=300, p=4, shift=0.0, classes=2):
    group = np.arange(n) % classes
    x = rng.normal(size=(n, p))
    x[:, :2] += shift * group[:, None]
    ids = np.array([f"s{i:04d}" for i in range(n)])
    return xr.DataArray(x, dims=("subject", "feature"),
                        coords={"subject": ids, "group": ("subject", group),
                                "age": ("subject", 2 * x[:, 2] + rng.normal(size=n))})


def test_separable_features_give_high_auroc_and_noise_gives_chance(rng):
    separable = embeddings(rng, shift=3.0)
    test = separable.subject.values[100:]  # 200 test subjects
    curve = label_efficiency(separable, "group", test=test, sizes=(10, 20, 50, 100), seeds=(0, 1, 2),
                             probe_params={"grid": GRID})
    assert curve.dims == ("n_labelled", "seed") and curve.name == "auroc"
    assert list(curve.n_labelled.values) == [10, 20, 50, 100]
    assert float(curve.min()) > 0.95
    noise = embeddings(rng, shift=0.0)
    null = label_efficiency(noise, "group", test=test, sizes=(10, 20, 50, 100), seeds=(0, 1, 2),
                            probe_params={"grid": GRID})
    assert abs(float(null.mean()) - 0.5) < 0.08
    assert float(null.mean()) < float(curve.mean()) - 0.3


def test_probe_point_equals_gridsearchcv_on_the_drawn_subjects(rng):
    emb = embeddings(rng, n=120, shift=0.7)
    test = emb.subject.values[60:]
    curve = label_efficiency(emb, "group", test=test, sizes=(12, 30), seeds=(4,), probe_params={"grid": GRID})
    pool = np.arange(60)  # ids are sorted already: positions = sorted positions
    x, y = emb.values, emb.group.values
    for i, draw in enumerate(balanced_draws(y[pool], [12, 30], seed=4)):
        train = pool[draw]
        assert np.bincount(y[train]).tolist() == [[6, 6], [15, 15]][i]
        search = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression(max_iter=10_000)),
                              {"logisticregression__C": GRID}, scoring="roc_auc",
                              cv=StratifiedKFold(3, shuffle=True, random_state=4)).fit(x[train], y[train])
        expected = roc_auc_score(y[60:], search.decision_function(x[60:]))
        assert float(curve.isel(n_labelled=i, seed=0)) == pytest.approx(expected, abs=1e-12)


def test_regression_and_estimator_factory(rng):
    emb = embeddings(rng, n=150)
    test = emb.subject.values[50:]
    curve = label_efficiency(emb, "age", task="regression", test=test, sizes=(20, 50), seeds=(0, 1),
                             method=lambda seed: Ridge(alpha=1.0))
    assert curve.name == "r2" and float(curve.min()) > 0.5
    # the factory's point equals fitting it by hand on the drawn subjects
    x, age = emb.values, emb.age.values
    train = np.arange(50)[balanced_draws(np.zeros(50, int), [20], seed=1, balanced=False)[0]]
    expected = r2_score(age[50:], Ridge(alpha=1.0).fit(x[train], age[train]).predict(x[50:]))
    assert float(curve.sel(n_labelled=20, seed=1)) == pytest.approx(expected, abs=1e-12)
    factory = label_efficiency(emb, "group", test=test, sizes=(20,), seeds=(0,),
                               method=lambda seed: LogisticRegression(random_state=seed))
    assert 0 <= factory.item() <= 1


@settings(max_examples=30, deadline=None)
@given(counts=st.lists(st.integers(0, 40), min_size=2, max_size=4), seed=st.integers(0, 2**32 - 1),
       sizes=st.lists(st.integers(2, 30), min_size=1, max_size=4, unique=True))
def test_draws_are_balanced_nested_and_seeded(counts, seed, sizes):
    sizes = sorted(sizes)
    codes = np.repeat(np.arange(len(counts)), counts)
    codes = codes[np.random.default_rng(seed).permutation(len(codes))]
    k, largest = len(counts), sizes[-1]
    if min(counts) < largest // k:  # some class cannot give its share
        with pytest.raises(DataError, match="need"):
            balanced_draws(codes, sizes, seed, n_classes=k)
        return
    try:
        draws = balanced_draws(codes, sizes, seed, n_classes=k)
    except DataError:  # only possible when a class is one short of a share of the remainder
        assert min(counts) < -(-largest // k)
        return
    previous = np.array([], int)
    for n, draw in zip(sizes, draws):
        assert len(draw) == n and len(np.unique(draw)) == n
        per_class = np.bincount(codes[draw], minlength=k)
        assert per_class.max() - per_class.min() <= 1
        assert np.isin(previous, draw).all()
        previous = draw
    again = balanced_draws(codes, sizes, seed, n_classes=k)
    assert all(np.array_equal(a, b) for a, b in zip(draws, again))


def test_subject_order_does_not_change_the_curve(rng):
    emb = embeddings(rng, n=80, shift=0.6)
    test = emb.subject.values[40:]
    curve = label_efficiency(emb, "group", test=test, sizes=(10, 20), seeds=(0, 1), probe_params={"grid": GRID})
    shuffled = emb.isel(subject=rng.permutation(80))
    again = label_efficiency(shuffled, "group", test=test, sizes=(10, 20), seeds=(0, 1), probe_params={"grid": GRID})
    np.testing.assert_array_equal(curve.values, again.values)
    assert "input_hashes" in curve.attrs and curve.attrs["parameters"]["n_test"] == 40


def test_summary_score_is_a_t_interval_over_seeds(rng):
    values = rng.uniform(0.5, 0.9, size=(3, 5))
    curve = xr.DataArray(values, dims=("n_labelled", "seed"), coords={"n_labelled": [10, 20, 50],
                                                                      "seed": np.arange(5)}, name="auroc")
    score = label_efficiency_score(curve)
    assert score.dims == ("n_labelled",) and score.metric == "label-efficiency-auroc"
    for i in range(3):
        low, high = stats.t.interval(0.95, 4, loc=values[i].mean(), scale=stats.sem(values[i]))
        assert float(score.values[i]) == pytest.approx(values[i].mean())
        assert float(score.error[i]) == pytest.approx(stats.sem(values[i]))
        assert float(score.ci[0][i]) == pytest.approx(max(low, 0))
        assert float(score.ci[1][i]) == pytest.approx(min(high, 1))
    with pytest.raises(DataError, match="at least 2"):
        label_efficiency_score(curve.isel(seed=[0]))


def test_errors(rng):
    emb = embeddings(rng, n=100)
    test = emb.subject.values[50:]
    assert SIZES == (10, 20, 50, 100, 200)
    with pytest.raises(DataError, match="need 50 of class"):
        label_efficiency(emb, "group", test=test, sizes=(100,), seeds=(0,))
    with pytest.raises(ConfigError, match="sizes"):
        label_efficiency(emb, "group", test=test, sizes=(20, 10))
    with pytest.raises(ConfigError, match="both train and test"):
        label_efficiency(emb, "group", test=test, pool=emb.subject.values[40:60], sizes=(10,))
    labels = emb.group.values.astype(float)
    labels[[70, 71]] = np.nan
    with pytest.raises(DataError, match=r"missing.*s0070"):
        label_efficiency(emb.assign_coords(group=("subject", labels)), "group", test=test, sizes=(10,))
    with pytest.raises(ConfigError, match="probe_params"):
        label_efficiency(emb, "group", test=test, sizes=(10,), probe_params={"C": 1})
    with pytest.raises(ConfigError, match="method"):
        label_efficiency(emb, "group", test=test, sizes=(10,), method="finetune")
    with pytest.raises(ConfigError, match="ConnectivityGraphs"):
        label_efficiency(object(), "group", test=test, method=lambda seed: Ridge())
