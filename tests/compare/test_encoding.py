import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ortho_group, pearsonr
from sklearn.cross_decomposition import PLSRegression
from sklearn.linear_model import RidgeCV

from neuroalign.compare import (
    CoordKFold,
    RidgeEncoder,
    assign_folds,
    cv_splits,
    encoding_score,
    encoding_sweep,
    pearson_per_neuroid,
    split_half_ceiling,
)
from neuroalign.data import average_repetitions, create_assembly
from neuroalign.errors import AlignmentError, ConfigError, DataError, SchemaError, UnknownNameError

ALPHAS = np.logspace(-3, 4, 15)


def regression_problem(rng, n, p, t=6):
    X = rng.normal(size=(n, p)) * rng.uniform(0.2, 3, size=p) + rng.normal(size=p)
    y = X @ rng.normal(size=(p, t)) * rng.uniform(0, 1, t) + rng.normal(size=(n, t)) * rng.uniform(0.1, 10, t)
    return X, y + 5.0


def study(rng, n_stim=60, n_feat=40, n_vox=12, reps=3, noise=1.0, families=("a", "b", "c")):
    """Voxels = linear readout of features + noise, with repetitions."""
    features = rng.normal(size=(n_stim, n_feat))
    signal = features @ rng.normal(size=(n_feat, n_vox)) / np.sqrt(n_feat)
    ids = [f"s{i:03d}" for i in range(n_stim)]
    fam = [families[i % len(families)] for i in range(n_stim)]
    brain = create_assembly(
        np.concatenate([signal + noise * rng.normal(size=signal.shape) for _ in range(reps)]),
        stimulus_id=ids * reps, presentation={"family": fam * reps, "repetition": np.repeat(np.arange(reps), n_stim)},
        neuroid={"subject": ["sub-01"] * n_vox})
    model = create_assembly(features, stimulus_id=ids, presentation={"family": fam})
    return model, brain


# ------------------------------------------------------------------ RidgeEncoder
@pytest.mark.parametrize("n, p", [(40, 10), (30, 120), (25, 25)])
def test_ridge_matches_sklearn_ridgecv_per_target(rng, n, p):
    # reference: sklearn.linear_model.RidgeCV(alpha_per_target=True), efficient LOO ("gcv") mode
    X, y = regression_problem(rng, n, p)
    ours = RidgeEncoder(alphas=ALPHAS).fit(X, y)
    ref = RidgeCV(alphas=ALPHAS, alpha_per_target=True).fit(X, y)
    assert ours.solver_ == ("dual" if p > n else "primal")
    np.testing.assert_array_equal(ours.alpha_, ref.alpha_)
    assert len(set(ours.alpha_)) > 1  # the test really exercises per-target choices
    X_new = rng.normal(size=(9, p))
    np.testing.assert_allclose(ours.predict(X_new), ref.predict(X_new), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ours.loo_mse_.min(axis=0), -ref.best_score_, rtol=1e-8)


def test_ridge_shared_alpha_and_one_target_match_sklearn(rng):
    # reference: sklearn RidgeCV with one alpha for all targets, and with a 1-D target
    X, y = regression_problem(rng, 35, 80)
    ours = RidgeEncoder(alphas=ALPHAS, alpha_per_target=False).fit(X, y)
    ref = RidgeCV(alphas=ALPHAS).fit(X, y)
    assert np.all(ours.alpha_ == ref.alpha_)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-9, atol=1e-9)
    one = RidgeEncoder(alphas=ALPHAS).fit(X, y[:, 2])
    ref_one = RidgeCV(alphas=ALPHAS).fit(X, y[:, 2])
    assert one.alpha_ == ref_one.alpha_ and one.predict(X).shape == (35,)
    np.testing.assert_allclose(one.predict(X), ref_one.predict(X), rtol=1e-9, atol=1e-9)


def test_dual_solution_closed_form(rng):
    # closed form: w = (XcᵀXc + αI)⁻¹ Xcᵀ yc = Xcᵀ (XcXcᵀ + αI)⁻¹ yc; ŷ = K* (K + αI)⁻¹ yc + ȳ
    X, y = regression_problem(rng, 20, 150, t=3)
    alpha = 3.7
    dual = RidgeEncoder(alphas=[alpha], solver="dual").fit(X, y)
    primal = RidgeEncoder(alphas=[alpha], solver="primal").fit(X, y)
    Xc, yc = X - X.mean(0), y - y.mean(0)
    w = np.linalg.solve(Xc.T @ Xc + alpha * np.eye(150), Xc.T @ yc)
    np.testing.assert_allclose(dual.coef_.T, w, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(primal.coef_.T, w, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(dual.dual_coef_, np.linalg.solve(Xc @ Xc.T + alpha * np.eye(20), yc), rtol=1e-8)
    X_new = rng.normal(size=(4, 150))
    kernel = (X_new - X.mean(0)) @ Xc.T
    expected = kernel @ np.linalg.solve(Xc @ Xc.T + alpha * np.eye(20), yc) + y.mean(0)
    np.testing.assert_allclose(dual.predict(X_new), expected, rtol=1e-9)
    np.testing.assert_allclose(primal.predict(X_new), expected, rtol=1e-9)


@pytest.mark.parametrize("p", [8, 60])
def test_loo_errors_match_brute_force_refits(rng, p):
    # reference: refit without each sample (unpenalised intercept) and predict it
    X, y = regression_problem(rng, 24, p, t=2)
    model = RidgeEncoder(alphas=[0.01, 1.0, 50.0]).fit(X, y)
    for k, alpha in enumerate([0.01, 1.0, 50.0]):
        errors = []
        for i in range(len(X)):
            keep = np.arange(len(X)) != i
            Xk, yk = X[keep], y[keep]
            xm, ym = Xk.mean(0), yk.mean(0)
            w = np.linalg.solve((Xk - xm).T @ (Xk - xm) + alpha * np.eye(p), (Xk - xm).T @ (yk - ym))
            errors.append(y[i] - ((X[i] - xm) @ w + ym))
        np.testing.assert_allclose(model.loo_mse_[k], np.mean(np.square(errors), axis=0), rtol=1e-8)


def test_ridge_follows_estimator_contract(rng):
    from sklearn.base import clone

    alphas = (0.1, 1.0)
    model = RidgeEncoder(alphas=alphas, fit_intercept=False)
    assert model.get_params()["alphas"] is alphas  # stored unchanged, no work in __init__
    assert not [k for k in vars(model) if k.endswith("_")]
    X, y = regression_problem(rng, 15, 4)
    assert model.fit(X, y) is model
    assert clone(model).get_params() == model.get_params()
    np.testing.assert_allclose(model.intercept_, 0.0)  # fit_intercept=False
    with pytest.raises(ConfigError, match="not fitted"):
        RidgeEncoder().predict(X)
    with pytest.raises(ConfigError, match="alphas"):
        RidgeEncoder(alphas=[0.0, 1.0]).fit(X, y)
    with pytest.raises(UnknownNameError, match="primal"):
        RidgeEncoder(solver="cholesky").fit(X, y)
    with pytest.raises(DataError, match="rows"):
        RidgeEncoder().fit(X, y[:-1])
    with pytest.raises(DataError, match="features"):
        model.predict(X[:, :3])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), p=st.sampled_from([5, 40]), scale=st.floats(0.1, 10), shift=st.floats(-5, 5))
def test_ridge_invariances(seed, p, scale, shift):
    # properties: rotating the features and translating them changes nothing (ridge + free intercept);
    # affine maps of the targets map the predictions alike and keep the chosen alphas.
    rng = np.random.default_rng(seed)
    X, y = regression_problem(rng, 20, p, t=3)
    base = RidgeEncoder(alphas=ALPHAS).fit(X, y)
    Q = ortho_group.rvs(p, random_state=seed % 2**32)
    moved = RidgeEncoder(alphas=ALPHAS).fit(X @ Q + shift, y)
    np.testing.assert_allclose(moved.predict(X @ Q + shift), base.predict(X), rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(moved.loo_mse_, base.loo_mse_, rtol=1e-6)
    affine = RidgeEncoder(alphas=ALPHAS).fit(X, scale * y + shift)
    np.testing.assert_allclose(affine.predict(X), scale * base.predict(X) + shift, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(affine.loo_mse_, scale**2 * base.loo_mse_, rtol=1e-6)


# ------------------------------------------------------------------ CV splits
def test_folds_partition_stratify_and_group():
    n = 48
    data = create_assembly(np.zeros((n, 1)), stimulus_id=[f"s{i}" for i in range(n)],
                           presentation={"family": np.repeat(["a", "b", "c"], 16),
                                         "object": np.repeat(np.arange(12), 4),
                                         "category": np.repeat(["x", "y"], 24)})
    splits = cv_splits(data, 4, stratify="family", seed=1)
    np.testing.assert_array_equal(np.sort(np.concatenate([t for _, t in splits])), np.arange(n))
    for train, test in splits:
        assert np.intersect1d(train, test).size == 0
        assert sorted(np.unique(data.family.values[test], return_counts=True)[1].tolist()) == [4, 4, 4]
    folds = assign_folds(data, 4, groups="object", seed=2)
    assert (folds.groupby(data.object).map(lambda f: f.max() - f.min()) == 0).all()  # groups kept whole
    assert np.bincount(folds.values).tolist() == [12, 12, 12, 12]
    both = assign_folds(data, 3, stratify="category", groups="object", seed=0)
    for k in range(3):
        cats = data.category.values[both.values == k]
        assert abs(np.sum(cats == "x") - np.sum(cats == "y")) <= 4  # groups dealt evenly by category
    again = assign_folds(data, 4, stratify="family", seed=1)
    np.testing.assert_array_equal(again.values, assign_folds(data, 4, stratify="family", seed=1).values)
    assert not np.array_equal(again.values, assign_folds(data, 4, stratify="family", seed=5).values)
    assert [len(t) for _, t in CoordKFold(4, groups="object", random_state=0).split(data)] == [12] * 4


def test_fold_errors():
    data = create_assembly(np.zeros((6, 1)), stimulus_id=list("abcdef"),
                           presentation={"g": [0, 0, 1, 1, 2, 2], "c": list("xyxyxy")})
    with pytest.raises(ConfigError, match="only 3 groups"):
        assign_folds(data, 4, groups="g")
    with pytest.raises(ConfigError, match="at least 2"):
        assign_folds(data, 1)
    with pytest.raises(SchemaError, match="not a coordinate"):
        assign_folds(data, 2, stratify="family")
    with pytest.raises(ConfigError, match="varies within groups"):
        assign_folds(data, 2, stratify="c", groups="g")


# ------------------------------------------------------------------ encoding_score
def test_encoding_score_matches_a_direct_cross_validation(rng):
    # reference: sklearn RidgeCV fitted per fold, scipy.stats.pearsonr per neuroid, median over neuroids
    model, brain = study(rng)
    score = encoding_score(model, brain, cv=5, seed=3, regression_params={"alphas": ALPHAS})
    target = average_repetitions(brain)
    y, X = target.values, model.values  # same stimulus order here
    splits = cv_splits(target, 5, seed=np.random.default_rng(3))
    r = np.array([[pearsonr(pred[:, v], y[test, v])[0] for v in range(y.shape[1])]
                  for train, test in splits
                  for pred in [RidgeCV(alphas=ALPHAS, alpha_per_target=True).fit(X[train], y[train]).predict(X[test])]])
    np.testing.assert_allclose(score.raw["r"].values, r, rtol=1e-9)
    assert float(score) == pytest.approx(np.median(r.mean(axis=0)), rel=1e-12)
    assert float(score.error) == pytest.approx(np.median(r, axis=1).std(ddof=1) / np.sqrt(5), rel=1e-9)
    assert set(score.raw.data_vars) == {"r", "alpha", "per_neuroid", "ceiling_per_neuroid", "ceiled_per_neuroid"}
    assert score.raw["alpha"].dims == ("split", "neuroid")
    assert score.params["brain_hash"] and score.metric == "encoding-ridge"
    # the ceiling is ceiling.py's split-half Spearman–Brown ceiling of per-neuroid r (same seed stream)
    stream = np.random.default_rng(3)
    cv_splits(target, 5, seed=stream)
    ceiling = split_half_ceiling(brain, pearson_per_neuroid, n_splits=10, seed=stream)
    np.testing.assert_allclose(score.raw["ceiling_per_neuroid"].values, ceiling.values.values)
    assert float(score.ceiling) == pytest.approx(float(ceiling.values.median()))
    assert float(score.ceiled) == pytest.approx(float(score) / float(score.ceiling))


def test_pls_matches_sklearn(rng):
    # reference: sklearn PLSRegression(n_components=25, scale=False) per fold (Brain-Score's PLS)
    model, brain = study(rng, n_stim=80)
    score = encoding_score(model, brain, regression="pls", cv=4, seed=0, ceiling=False, aggregate="mean")
    target = average_repetitions(brain)
    y, X = target.values, model.values
    r = []
    for train, test in cv_splits(target, 4, seed=np.random.default_rng(0)):
        pred = PLSRegression(n_components=25, scale=False).fit(X[train], y[train]).predict(X[test])
        r.append([np.corrcoef(pred[:, v], y[test, v])[0, 1] for v in range(y.shape[1])])
    np.testing.assert_allclose(score.raw["r"].values, r, rtol=1e-7)
    assert float(score) == pytest.approx(np.mean(r), rel=1e-7)
    assert score.ceiling is None and "alpha" not in score.raw


def test_stratified_grouped_and_explicit_cv(rng):
    model, brain = study(rng, n_stim=36)
    model = model.assign_coords(object=("presentation", np.arange(36) % 12))  # on the model only
    grouped = encoding_score(model, brain, cv=4, groups="object", stratify="family", seed=0)
    assert grouped.raw.sizes["split"] == 4
    explicit = [(np.arange(18, 36), np.arange(18)), (np.arange(18), np.arange(18, 36))]
    halves = encoding_score(model, brain, cv=explicit, ceiling=False)
    assert halves.raw.sizes["split"] == 2
    by_splitter = encoding_score(model, brain, cv=CoordKFold(3, stratify="family", random_state=1))
    assert by_splitter.raw.sizes["split"] == 3
    with pytest.raises(ConfigError, match="only with cv"):
        encoding_score(model, brain, cv=explicit, stratify="family")
    with pytest.raises(ConfigError, match="at least 3 are needed"):
        encoding_score(model, brain, cv=18)


def test_encoding_errors(rng):
    model, brain = study(rng, n_stim=30, reps=2)
    with pytest.raises(UnknownNameError, match="pls"):
        encoding_score(model, brain, regression="lasso")
    with pytest.raises(UnknownNameError, match="median"):
        encoding_score(model, brain, aggregate="max")
    with pytest.raises(AlignmentError):
        encoding_score(model.isel(presentation=slice(0, 20)), brain)
    single = average_repetitions(brain)
    with pytest.raises(DataError, match="ceiling=False"):
        encoding_score(model, single, cv=3)
    assert float(encoding_score(model, single, cv=3, ceiling=False)) > 0
    flat = brain.copy(data=brain.values.copy())
    flat[:, 2] = 1.0
    with pytest.raises(DataError, match="constant"):
        encoding_score(model, flat, cv=3, ceiling=False)


def test_custom_regression_estimator_is_cloned(rng):
    from sklearn.linear_model import Ridge

    model, brain = study(rng, n_stim=40)
    estimator = Ridge(alpha=1.0)
    score = encoding_score(model, brain, regression=estimator, cv=4)
    assert not hasattr(estimator, "coef_")  # the template itself was never fitted
    assert score.metric == "encoding-Ridge" and 0 < float(score) < 1


# ------------------------------------------------------------------ synthetic recovery
def _synthetic_sweep(seed):
    from neuroalign.datasets.synthetic import make_synthetic_study
    from neuroalign.extract import extract

    study_ = make_synthetic_study(seed=seed)
    acts = extract(study_.network, study_.stimuli, list(study_.layers), progress=False)
    return study_, encoding_sweep(acts, study_.brain, cv=10, seed=seed)


def test_planted_layer_wins_and_ceiling_matches_known_reliability():
    study_, score = _synthetic_sweep(0)
    assert score.dims == ("layer",)
    assert str(score.values.idxmax("layer").item()) == study_.planted_layer
    reliability = study_.brain["reliability"]
    ceiling = score.raw["ceiling_per_neuroid"].isel(layer=0)
    # the split-half Spearman–Brown ceiling estimates s² / (s² + σ² / R) per voxel
    assert float(score.ceiling.isel(layer=0)) == pytest.approx(float(reliability.median()), abs=0.03)
    assert float(abs(ceiling - reliability).mean()) < 0.05
    assert np.corrcoef(ceiling, reliability)[0, 1] > 0.8
    assert (score.ceiled <= 1).all() and (score.values > 0).all()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_planted_layer_wins_other_seeds(seed):
    study_, score = _synthetic_sweep(seed)
    assert str(score.values.idxmax("layer").item()) == study_.planted_layer


def test_pearson_per_neuroid_broadcasts_and_rejects_constants():
    a = xr.DataArray(np.arange(12.0).reshape(2, 3, 2) ** 2, dims=("split", "presentation", "neuroid"),
                     coords={"neuroid_id": ("neuroid", ["u", "v"])})
    r = pearson_per_neuroid(a, -a)
    assert r.dims == ("split", "neuroid")
    np.testing.assert_allclose(r.values, -1.0)
    with pytest.raises(DataError, match="constant"):
        pearson_per_neuroid(a, a * 0)
