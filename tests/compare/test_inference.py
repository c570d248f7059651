"""Model evaluation and inference against rsatoolbox 0.3.2 on the real 92-image RDMs.

Models: the 8 model RDMs of ``92_modelRDMs.mat``.  Data: the 8 human-IT RDMs of
``92_brainRDMs.mat`` (4 subjects × 2 sessions, one RDM each, dim ``subject``).
rsatoolbox draws its resamples with ``np.random``; the tests replay the same
draws so that every resample can be compared.
"""

import warnings

import numpy as np
import pytest
import scipy.io
import xarray as xr
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from neuroalign.compare import (
    RDM_COMPARISONS,
    as_rdm,
    crossvalidate_models,
    evaluate_models,
    evaluate_resamples,
    fdr_correction,
    pairwise_tests,
    permutation_test,
)
from neuroalign.compare.rsa.inference import _direct_scores, _prepare
from neuroalign.errors import AlignmentError, ConfigError, DataError, SchemaError, UnknownNameError

rsatoolbox = pytest.importorskip("rsatoolbox")
from rsatoolbox import inference as rsa_inference  # noqa: E402
from rsatoolbox.model import ModelFixed  # noqa: E402
from rsatoolbox.rdm import RDMs  # noqa: E402
from rsatoolbox.rdm import compare as rsa_compare  # noqa: E402

FAST = [m for m in ("cosine", "corr", "spearman", "rho-a") if m in RDM_COMPARISONS]
ALL_POOLED = [m for m in ("cosine", "corr", "spearman", "rho-a", "tau-a", "tau-b", "corr_cov", "cosine_cov")
              if m in RDM_COMPARISONS]


@pytest.fixture(scope="module")
def kriegeskorte(shared_data):
    folder = shared_data / "kriegeskorte2008"
    load = lambda name, key: scipy.io.loadmat(folder / name, squeeze_me=True, struct_as_record=False)[key]  # noqa
    models, brain = load("92_modelRDMs.mat", "Models"), load("92_brainRDMs.mat", "RDMs").ravel()
    model_squares = np.stack([m.RDM for m in models]).astype(float)  # uint8 category models → float
    data_squares = np.stack([r.RDM for r in brain]).astype(float)
    names = [m.name for m in models]
    ours_models = as_rdm(model_squares, dims=["model"]).assign_coords(model=names)
    ours_data = as_rdm(data_squares, dims=["subject"]).assign_coords(
        subject=[f"{r.name.split('|')[1].strip()}-{r.name[-1]}" for r in brain])
    ref_models = [ModelFixed(n, RDMs(s[None])) for n, s in zip(names, model_squares)]
    return ours_models, ours_data, ref_models, RDMs(data_squares)


class Replay(np.random.Generator):
    """A Generator whose ``integers`` calls return prepared draws (rsatoolbox's, replayed)."""

    def __init__(self, draws):
        super().__init__(np.random.PCG64(0))
        self.draws = list(draws)

    def integers(self, low, high=None, size=None, **kwargs):
        out = self.draws.pop(0)
        assert out.shape == size and out.max() < high
        return out


def _quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


@pytest.mark.parametrize("method", ALL_POOLED)
def test_fixed_evaluation_matches_eval_fixed(kriegeskorte, method):
    # reference: rsatoolbox.inference.eval_fixed — point estimates, noise ceiling, SEM and pairwise t-tests
    models, data, ref_models, ref_data = kriegeskorte
    ref = _quiet(rsa_inference.eval_fixed, ref_models, ref_data, method=method)
    score = evaluate_models(models, data, method=method, bootstrap=None)
    np.testing.assert_allclose(score.values.values, ref.get_means(), atol=1e-8)
    np.testing.assert_allclose(score.raw["noise_ceiling"].values, ref.noise_ceiling, atol=1e-8)
    np.testing.assert_allclose(score.error.values, ref.get_sem(), atol=1e-8)
    assert float(score.ceiling) == pytest.approx(ref.noise_ceiling[1], abs=1e-8)
    pairs = pairwise_tests(score, correction=None)
    np.testing.assert_allclose(pairs.raw["p_value"].values, ref.test_pairwise(), atol=1e-8)


def test_bures_point_estimates_match_rsatoolbox(kriegeskorte):
    # rsatoolbox cannot pool RDMs for bures, so only the evaluations are compared
    models, data, _, ref_data = kriegeskorte
    if "bures" not in RDM_COMPARISONS:
        pytest.skip("bures is not registered")
    score = evaluate_models(models.isel(model=[2, 3]), data.isel(subject=[0, 1, 2]), method="bures",
                            bootstrap=None)
    expected = [rsa_compare(RDMs(models.isel(model=[k]).values), ref_data.subset("index", [0, 1, 2]), "bures").mean()
                for k in (2, 3)]
    np.testing.assert_allclose(score.values.values, expected, atol=1e-8)


def _replayed(seed, count, n):
    np.random.seed(seed)
    return np.stack([np.random.randint(0, n, size=n) for _ in range(count)])


@pytest.mark.parametrize("method,count", [(m, 12) for m in FAST]
                         + [(m, 3) for m in ("tau-a", "tau-b", "corr_cov", "cosine_cov") if m in RDM_COMPARISONS])
def test_stimulus_resamples_match_eval_bootstrap_pattern(kriegeskorte, method, count):
    # reference: rsatoolbox.inference.eval_bootstrap_pattern, resample by resample, with its own draws
    models, data, ref_models, ref_data = kriegeskorte
    np.random.seed(5)
    ref = _quiet(rsa_inference.eval_bootstrap_pattern, ref_models, ref_data, method=method, N=count)
    out = evaluate_resamples(models, data, method=method, stimulus_indices=_replayed(5, count, 92))
    np.testing.assert_allclose(out["evaluations"].values, ref.evaluations, atol=1e-8)
    np.testing.assert_allclose(out["noise_ceiling"].values, ref.noise_ceiling.T, atol=1e-8)
    np.testing.assert_allclose(out["evaluations"].mean("resample").values, ref.get_means(), atol=1e-8)


@pytest.mark.parametrize("method", FAST)
def test_subject_resamples_match_eval_bootstrap_rdm(kriegeskorte, method):
    # reference: rsatoolbox.inference.eval_bootstrap_rdm (ceiling: leave out every copy of a subject)
    models, data, ref_models, ref_data = kriegeskorte
    np.random.seed(6)
    ref = _quiet(rsa_inference.eval_bootstrap_rdm, ref_models, ref_data, method=method, N=15)
    out = evaluate_resamples(models, data, method=method, subject_indices=_replayed(6, 15, 8))
    np.testing.assert_allclose(out["evaluations"].values, ref.evaluations, atol=1e-8)
    valid = np.isfinite(out["noise_ceiling"].values[:, 0])
    np.testing.assert_allclose(out["noise_ceiling"].values[valid], ref.noise_ceiling.T[valid], atol=1e-8)


def _dual_draws(seed, count):
    """rsatoolbox eval_dual_bootstrap's draws: subject then stimulus indices, then 3 × 2 shuffles per sample."""
    np.random.seed(seed)
    subjects, stimuli = [], []
    for _ in range(count):
        s, p = np.random.randint(0, 8, size=8), np.random.randint(0, 92, size=92)
        subjects.append(s)
        stimuli.append(p)
        for n_rdm, n_pattern in ((len(set(s)), len(set(p))), (len(set(s)), 92), (8, len(set(p)))):
            np.random.shuffle(np.arange(n_rdm))  # sets_k_fold shuffles even with k = 1
            np.random.shuffle(np.arange(n_pattern))
    return np.array(subjects), np.array(stimuli)


@pytest.mark.parametrize("method", ["corr", "spearman"])
def test_dual_bootstrap_matches_eval_dual_bootstrap(kriegeskorte, method):
    # reference: rsatoolbox.inference.eval_dual_bootstrap — all three resample kinds, the corrected
    # variance (Result.model_var) and the pairwise t-tests built on it
    models, data, ref_models, ref_data = kriegeskorte
    count = 25
    np.random.seed(3)
    ref = _quiet(rsa_inference.eval_dual_bootstrap, ref_models, ref_data, method=method, N=count)
    subjects, stimuli = _dual_draws(3, count)
    score = evaluate_models(models, data, method=method, bootstrap="both", n_bootstrap=count,
                            seed=Replay([subjects, stimuli]))
    for k, name in enumerate(["resamples", "resamples_subject", "resamples_stimulus"]):
        np.testing.assert_allclose(score.raw[name].values, ref.evaluations[:, :, 0, 0, k], atol=1e-8)
        ceiling = score.raw[f"noise_ceiling_{name}"].values
        np.testing.assert_allclose(ceiling[np.isfinite(ceiling)], ref.noise_ceiling[:, :, 0, k].T[np.isfinite(ceiling)],
                                   atol=1e-8)
    np.testing.assert_allclose(score.error.values ** 2, ref.model_var, rtol=1e-8)
    np.testing.assert_allclose(pairwise_tests(score, correction=None).raw["p_value"].values, ref.test_pairwise(),
                               atol=1e-8)
    assert score.params["dof"] == ref.dof


def test_stimulus_bootstrap_score_matches_rsatoolbox_inference(kriegeskorte):
    # reference: eval_bootstrap_pattern's Result: SEM (n/(n−1)-corrected), t-tests and bootstrap tests
    models, data, ref_models, ref_data = kriegeskorte
    np.random.seed(8)
    ref = _quiet(rsa_inference.eval_bootstrap_pattern, ref_models, ref_data, method="corr", N=40)
    score = evaluate_models(models, data, method="corr", bootstrap="stimulus", n_bootstrap=40,
                            seed=Replay([_replayed(8, 40, 92)]))
    np.testing.assert_allclose(score.error.values, ref.get_sem(), rtol=1e-8)
    np.testing.assert_allclose(pairwise_tests(score, correction=None).raw["p_value"].values, ref.test_pairwise(),
                               atol=1e-8)
    np.testing.assert_allclose(pairwise_tests(score, test="bootstrap", correction=None).raw["p_value"].values,
                               ref.test_pairwise("bootstrap"), atol=1e-12)
    assert score.params["dof"] == ref.dof == 91


@pytest.mark.parametrize("method", ["corr", "spearman"])
def test_crossvalidation_matches_rsatoolbox_crossval(kriegeskorte, method):
    # reference: rsatoolbox sets_k_fold(random=False) + crossval with cv_noise_ceiling
    models, data, ref_models, ref_data = kriegeskorte
    train, test, ceil = rsa_inference.sets_k_fold(ref_data, k_pattern=3, k_rdm=3, random=False)
    ref = _quiet(rsa_inference.crossval, ref_models, ref_data, train, test, ceil_set=ceil, method=method)
    cv = crossvalidate_models(models, data, method=method, k_stimulus=3, k_subject=3, shuffle=False)
    np.testing.assert_allclose(cv.raw["evaluations"].values, ref.evaluations[0].T, atol=1e-8)
    np.testing.assert_allclose(cv.values.values, ref.get_means(), atol=1e-8)
    lower, upper = _quiet(rsa_inference.cv_noise_ceiling, ref_data, ceil, test, method=method)
    np.testing.assert_allclose(cv.raw["noise_ceiling"].mean("fold").values, [lower, upper], atol=1e-8)
    assert cv.raw["test_subject"].sum("fold").values.tolist() == [3] * 8  # each subject tested k_stimulus times


def test_direct_route_equals_the_kernels(kriegeskorte):
    # the fallback for methods without a kernel builds resampled RDMs; on corr both routes must agree
    models, data, _, _ = kriegeskorte
    stimuli, subjects = _replayed(1, 4, 92), _replayed(2, 4, 8)
    fast = evaluate_resamples(models, data, method="corr", stimulus_indices=stimuli, subject_indices=subjects)
    counts = np.stack([np.bincount(s, minlength=8) for s in subjects])
    evaluations, ceiling = _direct_scores(*_prepare(models, data, "corr", "model", "subject")[:2], "corr",
                                          stimuli, counts, True)
    np.testing.assert_allclose(evaluations, fast["evaluations"].values, atol=1e-10)
    np.testing.assert_allclose(ceiling, fast["noise_ceiling"].values, atol=1e-10)


def test_permutation_test(kriegeskorte):
    models, data, _, _ = kriegeskorte
    test = permutation_test(models.isel(model=[0, 2]), data, method="spearman", n_permutations=200, seed=0)
    assert test.raw["null"].dims == ("permutation", "model")
    np.testing.assert_allclose(test.raw["p_value"].values, 1 / 201)  # animacy and monkey IT beat every relabelling
    assert abs(float(test.raw["null"].mean())) < 0.02  # relabelled models score about zero
    again = permutation_test(models.isel(model=[0, 2]), data, method="spearman", n_permutations=200, seed=0)
    xr.testing.assert_equal(test.raw["null"], again.raw["null"])
    rng = np.random.default_rng(0)
    noise = as_rdm(rng.random((1, 4186)), form="vector", dims=["model"])
    noise = noise.assign_coords(stimulus_id_a=models.stimulus_id_a, stimulus_id_b=models.stimulus_id_b)
    assert float(permutation_test(noise, data, n_permutations=99, seed=1).raw["p_value"][0]) > 0.05


def test_bootstrap_ci_covers_the_true_value_at_about_the_nominal_rate():
    # simulation: stimuli drawn from a population (features f ~ N(0, I)); model and data RDMs are squared
    # distances of noisy copies of f.  The population value is approximated on 1500 stimuli; the 95%
    # stimulus-bootstrap percentile CI from 25 stimuli should cover it in about 95% of 150 studies
    # (the stimulus bootstrap is known to be slightly conservative).
    rng = np.random.default_rng(0)

    def study(n):
        f = rng.normal(size=(n, 4))
        g = f + 0.7 * rng.normal(size=f.shape)
        rows, cols = np.triu_indices(n, 1)
        dist = lambda x: ((x[rows] - x[cols]) ** 2).sum(-1)  # noqa: E731
        data = dist(f) + 2.0 * rng.normal(size=(4, len(rows)))
        return (as_rdm(dist(g)[None], form="vector", dims=["model"]),
                as_rdm(data, form="vector", dims=["subject"]))

    big_model, big_data = study(1500)
    truth = np.mean([np.corrcoef(big_model.values[0], subject)[0, 1] for subject in big_data.values])
    hits = []
    for k in range(150):
        model, data = study(25)
        score = evaluate_models(model, data, n_bootstrap=200, seed=k, ceiling_resamples=False)
        hits.append(float(score.ci[0][0]) <= truth <= float(score.ci[1][0]))
    assert 0.9 <= np.mean(hits) <= 0.995


def test_seeded_and_reproducible(kriegeskorte):
    models, data, _, _ = kriegeskorte
    kwargs = dict(method="spearman", bootstrap="both", n_bootstrap=20)
    a = evaluate_models(models, data, seed=4, **kwargs)
    b = evaluate_models(models, data, seed=np.random.default_rng(4), **kwargs)
    c = evaluate_models(models, data, seed=5, **kwargs)
    xr.testing.assert_identical(a.raw["resamples"], b.raw["resamples"])
    assert not np.allclose(a.raw["resamples"].values, c.raw["resamples"].values)
    xr.testing.assert_equal(a.values, c.values)  # the point estimate does not depend on the draws


def test_score_layout(kriegeskorte):
    models, data, _, _ = kriegeskorte
    score = evaluate_models(models, data, method="spearman", n_bootstrap=30)
    assert score.dims == ("model",) and score.metric == "rsa-spearman"
    assert score.raw["resamples"].dims == ("resample", "model")
    assert score.raw["noise_ceiling_resamples"].dims == ("resample", "bound")
    assert score.raw["per_subject"].dims == ("model", "subject")
    assert (score.ci[0] <= score.values + 1e-12).all() and (score.ci[1] >= score.values - 1e-12).all()
    frame = score.to_dataframe()
    assert frame["model"].tolist()[:3] == ["animacy", "FaceBodyManmadeNatobj", "monkeyIT"]
    assert frame["ceiled"].iloc[0] == pytest.approx(frame["score"].iloc[0] / frame["ceiling"].iloc[0])


def test_inputs_in_other_forms_give_the_same_score(kriegeskorte):
    models, data, _, _ = kriegeskorte
    base = evaluate_models(models, data, bootstrap=None)
    mapping = {name: models.sel(model=name) for name in models.model.values}
    np.testing.assert_allclose(evaluate_models(mapping, data, bootstrap=None).values, base.values)
    squares = np.stack([np.asarray(rsatoolbox.rdm.RDMs(data.values).get_matrices()[k]) for k in range(8)])
    np.testing.assert_allclose(evaluate_models(models, squares, bootstrap=None).values, base.values, atol=1e-12)
    order = np.random.default_rng(0).permutation(92).astype(str)
    from neuroalign.compare import to_square, to_vector
    shuffled = to_vector(to_square(data).sel(stimulus_id_a=order, stimulus_id_b=order))
    np.testing.assert_allclose(evaluate_models(models, shuffled, bootstrap=None).values, base.values, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(p=st.lists(st.floats(1e-6, 1.0), min_size=1, max_size=30), alpha=st.floats(0.01, 0.2))
def test_fdr_matches_benjamini_hochberg_step_up(p, alpha):
    # reference: the BH step-up rule as rsatoolbox's plot_model_comparison applies it
    p = np.array(p)
    ranked = np.sort(p)
    criterion = alpha * np.arange(1, len(p) + 1) / len(p)
    # p exactly on a step-up boundary (e.g. p = 0.2 = alpha·3/3) is decided by the last bit of either
    # computation, not by the rule: such ties are left out
    assume(not np.isclose(ranked[:, None], criterion[None, :], rtol=1e-12, atol=0).any())
    passing = np.flatnonzero(ranked < criterion)
    crit = criterion[passing.max()] if len(passing) else 0
    adjusted = fdr_correction(p)
    np.testing.assert_array_equal(adjusted < alpha, p < crit)
    assert np.all(adjusted >= p) and np.all(adjusted <= 1)


def test_pairwise_tests_layout_and_corrections(kriegeskorte):
    models, data, _, _ = kriegeskorte
    score = evaluate_models(models, data, method="corr", n_bootstrap=50)
    fdr, bonferroni, raw = (pairwise_tests(score, correction=c) for c in ("fdr", "bonferroni", None))
    assert fdr.dims == ("model", "model_b")
    np.testing.assert_allclose(fdr.values.values, -fdr.values.values.T)
    np.testing.assert_allclose(fdr.values.sel(model="animacy", model_b="V1"),
                               score.values.sel(model="animacy") - score.values.sel(model="V1"))
    p = raw.raw["p_value"].values
    upper = np.triu_indices(8, 1)
    np.testing.assert_allclose(bonferroni.raw["p_adjusted"].values[upper], np.minimum(p[upper] * 28, 1))
    assert (fdr.raw["p_adjusted"].values >= p - 1e-15).all()
    assert not fdr.raw["significant"].values.diagonal().any()
    assert fdr.raw["resamples"].dims == ("resample", "model", "model_b")


@pytest.mark.parametrize("call,error,match", [
    (lambda m, d: evaluate_models(m, d, bootstrap="pattern"), ConfigError, "bootstrap"),
    (lambda m, d: evaluate_models(m, d, n_bootstrap=1), ConfigError, "n_bootstrap"),
    (lambda m, d: evaluate_models(m, d, method="pearsonn"), UnknownNameError, "pearson"),
    (lambda m, d: evaluate_models(m, d.isel(subject=[0]), bootstrap="subject"), DataError, "2 subjects"),
    (lambda m, d: evaluate_models(m.isel(pair=slice(0, 4000)), d), SchemaError, "pairs"),
    (lambda m, d: evaluate_models(m, d.assign_coords(stimulus_id_a=("pair", np.char.add(
        d.stimulus_id_a.values.astype(str), "x")))), AlignmentError, "stimulus sets differ"),
    (lambda m, d: evaluate_models(m, d.where(d.pair != 7)), DataError, "different pairs"),
    (lambda m, d: evaluate_models(m.expand_dims(layer=["a"]), d), SchemaError, "extra dims"),
    (lambda m, d: pairwise_tests(permutation_test(m, d, n_permutations=5)), ConfigError, "evaluate_models"),
    (lambda m, d: pairwise_tests(evaluate_models(m, d, bootstrap=None), test="bootstrap"), ConfigError,
     "resamples"),
    (lambda m, d: crossvalidate_models(m, d, k_stimulus=40), ConfigError, "folds"),
    (lambda m, d: evaluate_resamples(m, d), ConfigError, "no resamples"),
    (lambda m, d: evaluate_models(m, d, method="bures", n_bootstrap=5), ConfigError, "complete RDMs"),
])
def test_bad_input_raises(kriegeskorte, call, error, match):
    models, data, _, _ = kriegeskorte
    with pytest.raises(error, match=match):
        call(models, data)


@pytest.mark.slow
def test_rsa_tutorial_prints_the_documented_output(shared_data, tmp_path, monkeypatch):
    # docs/compare-rsa.md runs as shown and prints what the page shows
    import contextlib
    import io
    import re
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "compare-rsa.md"
    text = doc.read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    documented = re.search(r"Output:\n\n```\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)  # the figure goes to ./neuroalign-figures
    monkeypatch.setenv("NEUROALIGN_DATA", str(shared_data))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(doc), "exec"), {})
    lines = lambda out: [line.rstrip() for line in out.strip().splitlines()]  # noqa: E731
    assert lines(printed.getvalue()) == lines(documented)
    assert (tmp_path / "neuroalign-figures" / "rsa-92-images.png").stat().st_size > 10_000
