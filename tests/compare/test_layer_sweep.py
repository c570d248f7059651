"""rsa() and cka_sweep(): every kind of input, every ceiling, and the errors that name what to use instead.

reference: rsatoolbox 0.3 (``rsatoolbox.rdm.compare``, ``rsatoolbox.inference.boot_noise_ceiling``) on the real
92-image human-IT RDMs of Kriegeskorte et al. (2008), as shipped with rsatoolbox's demos; a direct numpy
computation of CKA from centred Gram matrices for the CKA ceiling across subjects.
"""

import inspect
import warnings

import numpy as np
import pytest
import scipy.io
import xarray as xr

from neuroalign.compare import (
    as_rdm,
    cka_noise_ceiling,
    cka_sweep,
    compare_rdms,
    compute_rdm,
    crossvalidate_models,
    evaluate_models,
    evaluate_resamples,
    linear_gram,
    noise_ceiling,
    permutation_test,
    pool_rdms,
    rdm_split_half_ceiling,
    rsa,
)
from neuroalign.data import average_repetitions, create_assembly
from neuroalign.errors import ConfigError, DataError, SchemaError
from neuroalign.plot import plot_rdm_mds

rsatoolbox = pytest.importorskip("rsatoolbox")
from rsatoolbox.inference import boot_noise_ceiling  # noqa: E402
from rsatoolbox.rdm import RDMs  # noqa: E402
from rsatoolbox.rdm import compare as rsa_compare  # noqa: E402


@pytest.fixture(scope="module")
def rdms92(shared_data):
    folder = shared_data / "kriegeskorte2008"
    load = lambda name, key: scipy.io.loadmat(folder / name, squeeze_me=True, struct_as_record=False)[key]  # noqa: E731
    models, brains = load("92_modelRDMs.mat", "Models"), load("92_brainRDMs.mat", "RDMs").ravel()
    model_values = np.array([m.RDM for m in models], dtype=float)
    brain_values = np.array([b.RDM for b in brains], dtype=float)  # 4 subjects x 2 sessions, used as 8 RDMs
    ids = [f"img{i:02d}" for i in range(92)]
    model_rdms = as_rdm(model_values, ids, dims=["layer"]).assign_coords(layer=[m.name for m in models])
    brain_rdms = as_rdm(brain_values, ids, dims=["subject"]).assign_coords(
        subject=[f"{b.name.split('|')[1].strip()}-{b.name[-1]}" for b in brains])
    return model_rdms, brain_rdms, model_values, brain_values


def study(rng, n_stimuli=20, n_subjects=3, n_voxels=15, n_repetitions=2, layers=("a", "b"), noise=0.5):
    """Layer 'a' drives the brain, the others are unrelated."""
    ids = [f"s{i:02d}" for i in range(n_stimuli)]
    acts = {name: create_assembly(rng.normal(size=(n_stimuli, 12)), stimulus_id=ids) for name in layers}
    signal = acts[layers[0]].values @ rng.normal(size=(12, n_subjects * n_voxels))
    rows = np.concatenate([signal + noise * rng.normal(size=signal.shape) for _ in range(n_repetitions)])
    subjects = np.repeat([f"sub-{s}" for s in range(n_subjects)], n_voxels)
    brain = create_assembly(rows, stimulus_id=ids * n_repetitions, neuroid={"subject": subjects})
    return acts, brain


@pytest.mark.parametrize("method", ["corr", "spearman", "tau-a", "cosine"])
def test_rsa_of_precomputed_rdms_with_subjects_ceiling_matches_rsatoolbox(rdms92, method):
    # rsatoolbox: eval_fixed = the mean over data RDMs of compare(model, data); boot_noise_ceiling's bounds
    model_rdms, brain_rdms, model_values, brain_values = rdms92
    score = rsa(model_rdms, brain_rdms, comparison=method, ceiling="subjects", n_bootstrap=2)
    assert score.dims == ("layer",) and score.metric == f"rsa-{method}"
    expected = rsa_compare(RDMs(model_values), RDMs(brain_values), method=method).mean(axis=1)
    np.testing.assert_allclose(score.values.values, expected, atol=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rsatoolbox warns that tau pools averaged ranks
        lower, upper = boot_noise_ceiling(RDMs(brain_values), method=method)
    np.testing.assert_allclose(score.raw["noise_ceiling"].sel(bound=["lower", "upper"]).values, [lower, upper],
                               atol=1e-8)
    np.testing.assert_allclose(score.ceiling.values, upper, atol=1e-8)
    np.testing.assert_allclose(score.ceiling_bounds[0].values, lower, atol=1e-8)


def test_rdm_model_in_another_stimulus_order_is_matched_by_id(rdms92):
    model_rdms, brain_rdms, *_ = rdms92
    perm = np.random.default_rng(1).permutation(92)
    from neuroalign.compare import to_square, to_vector
    square = to_square(model_rdms.sel(layer="animacy"))
    shuffled = to_vector(square.isel(stimulus_id_a=perm, stimulus_id_b=perm))
    a = rsa({"animacy": shuffled}, brain_rdms, ceiling=None, n_bootstrap=2)
    b = rsa(model_rdms.sel(layer=["animacy"]), brain_rdms, ceiling=None, n_bootstrap=2)
    np.testing.assert_allclose(a.values.values, b.values.values, atol=1e-12)


def test_patterns_and_their_rdms_give_the_same_sweep(rng):
    acts, brain = study(rng)
    from_patterns = rsa(acts, brain, ceiling="subjects", n_bootstrap=30, seed=4)
    model_rdms = {name: compute_rdm(a) for name, a in acts.items()}
    brain_rdms = compute_rdm(average_repetitions(brain), groupby="subject")
    from_rdms = rsa(model_rdms, brain_rdms, ceiling="subjects", n_bootstrap=30, seed=4)
    mixed = rsa(acts, brain_rdms, ceiling="subjects", n_bootstrap=30, seed=4)
    for other in (from_rdms, mixed):
        np.testing.assert_allclose(other.values.values, from_patterns.values.values, atol=1e-12)
        np.testing.assert_allclose(other.raw["resamples"].values, from_patterns.raw["resamples"].values,
                                   atol=1e-12)
        np.testing.assert_allclose(other.raw["noise_ceiling"].values, from_patterns.raw["noise_ceiling"].values)
    np.testing.assert_allclose(from_patterns.raw["noise_ceiling"].values,
                               noise_ceiling(brain_rdms, "corr").values)


def test_patterns_without_repetitions_work_with_the_subjects_ceiling_or_none(rng):
    acts, brain = study(rng, n_repetitions=1)
    score = rsa(acts, brain, ceiling="subjects", n_bootstrap=20)
    assert str(score.values.idxmax("layer").item()) == "a"
    assert rsa(acts, brain, ceiling=None, n_bootstrap=20).ceiling is None
    cka = cka_sweep(acts, brain, ceiling="subjects", n_bootstrap=20)
    assert str(cka.values.idxmax("layer").item()) == "a"
    assert set(cka.raw.data_vars) == {"resamples", "per_subject", "noise_ceiling"}


def test_model_patterns_with_repetitions_are_averaged(rng):
    acts, brain = study(rng)
    repeated = {k: xr.concat([v, v + 0.0], dim="presentation") for k, v in acts.items()}
    a = rsa(acts, brain, n_bootstrap=10, n_splits=2)
    b = rsa(repeated, brain, n_bootstrap=10, n_splits=2)
    np.testing.assert_allclose(a.values.values, b.values.values, atol=1e-12)


def test_a_single_layer_array_is_one_layer(rng):
    acts, brain = study(rng)
    score = rsa(acts["a"].rename("conv1"), brain, n_bootstrap=10, n_splits=2)
    assert score.values.layer.values.tolist() == ["conv1"]
    with pytest.raises(ConfigError, match="mapping"):
        rsa(list(acts.values()), brain)
    with pytest.raises(ConfigError, match="mapping"):
        cka_sweep(list(acts.values()), brain)


def test_cka_ceiling_across_subjects_is_the_leave_one_out_cosine_of_centred_grams(rng):
    acts, brain = study(rng, n_subjects=4)
    means = average_repetitions(brain)
    grams = np.stack([linear_gram(means.where(means.subject == s, drop=True).values)
                      for s in ["sub-0", "sub-1", "sub-2", "sub-3"]])
    n = grams.shape[1]
    h = np.eye(n) - 1 / n
    centred = [h @ g @ h for g in grams]
    unit = [c / np.sqrt(np.sum(c * c)) for c in centred]
    cos = lambda a, b: np.sum(a * b) / np.sqrt(np.sum(a * a) * np.sum(b * b))  # noqa: E731
    upper = np.mean([cos(sum(unit), c) for c in centred])
    lower = np.mean([cos(sum(unit) - u, c) for u, c in zip(unit, centred)])
    ours = cka_noise_ceiling(xr.DataArray(grams, dims=("subject", "stimulus_a", "stimulus_b")))
    np.testing.assert_allclose(ours.values, [lower, upper], rtol=1e-10)
    score = cka_sweep(acts, brain, ceiling="subjects", n_bootstrap=10)
    np.testing.assert_allclose(score.raw["noise_ceiling"].values, [lower, upper], rtol=1e-10)
    assert float(score.ceiling) == pytest.approx(upper, rel=1e-10)


def test_cka_ceiling_bad_input():
    one = xr.DataArray(np.eye(5)[None], dims=("subject", "stimulus_a", "stimulus_b"))
    with pytest.raises(DataError, match="at least 2 subjects"):
        cka_noise_ceiling(one)
    flat = xr.DataArray(np.ones((2, 5, 5)), dims=("subject", "stimulus_a", "stimulus_b"))
    with pytest.raises(DataError, match="do not vary"):
        cka_noise_ceiling(flat)


def test_errors_name_the_option_or_function_that_handles_the_input(rng):
    acts, brain = study(rng)
    one_subject = brain.where(brain.subject == "sub-0", drop=True)
    with pytest.raises(DataError, match="one subject: ceiling='subjects' needs several") as err:
        rsa(acts, one_subject, ceiling="subjects")
    assert "ceiling='split-half'" in err.value.fix
    brain_rdms = compute_rdm(average_repetitions(brain), groupby="subject")
    with pytest.raises(ConfigError, match="holds RDMs") as err:
        rsa(acts, brain_rdms)  # the default ceiling is split-half
    assert "ceiling='subjects' (3 subjects given)" in err.value.fix
    with pytest.raises(DataError, match="presented once") as err:
        rsa(acts, average_repetitions(brain))
    assert "ceiling='subjects'" in err.value.fix
    with pytest.raises(DataError) as err:
        cka_sweep(acts, average_repetitions(one_subject), ceiling="split-half")
    assert "ceiling='subjects'" not in err.value.fix and "ceiling=None" in err.value.fix
    with pytest.raises(SchemaError, match="holds RDMs") as err:
        cka_sweep(acts, brain_rdms)
    assert "rsa(" in err.value.fix
    with pytest.raises(SchemaError, match="is an RDM") as err:
        cka_sweep({"a": compute_rdm(acts["a"])}, brain)
    assert "rsa(" in err.value.fix
    with pytest.raises(SchemaError, match="patterns or RDMs"):
        rsa(acts, brain.values)
    with pytest.raises(ConfigError, match="unknown ceiling"):
        rsa(acts, brain, ceiling="subject")
    with pytest.raises(ConfigError, match="n_bootstrap"):
        cka_sweep(acts, brain, n_bootstrap=1)


def test_one_default_comparison_method_everywhere():
    # docs/compare-rsa.md states the default; every RSA entry point must use the same one
    defaults = {
        "compare_rdms": inspect.signature(compare_rdms).parameters["method"].default,
        "rsa": inspect.signature(rsa).parameters["comparison"].default,
        "evaluate_models": inspect.signature(evaluate_models).parameters["method"].default,
        "evaluate_resamples": inspect.signature(evaluate_resamples).parameters["method"].default,
        "noise_ceiling": inspect.signature(noise_ceiling).parameters["method"].default,
        "pool_rdms": inspect.signature(pool_rdms).parameters["method"].default,
        "rdm_split_half_ceiling": inspect.signature(rdm_split_half_ceiling).parameters["comparison"].default,
        "permutation_test": inspect.signature(permutation_test).parameters["method"].default,
        "crossvalidate_models": inspect.signature(crossvalidate_models).parameters["method"].default,
        "plot_rdm_mds": inspect.signature(plot_rdm_mds).parameters["method"].default,
    }
    assert set(defaults.values()) == {"corr"}, defaults


def test_evaluate_models_keeps_the_layer_dim_so_layer_plots_work(rng):
    from matplotlib.figure import Figure

    from neuroalign.plot import plot_layer_profile

    acts, brain = study(rng)
    model_rdms = compute_rdm(acts)  # dims (layer, pair)
    brain_rdms = compute_rdm(average_repetitions(brain), groupby="subject")
    score = evaluate_models(model_rdms, brain_rdms, n_bootstrap=20)
    assert score.dims == ("layer",)
    assert score.raw["per_subject"].dims == ("layer", "subject")
    ax = plot_layer_profile(score, Figure().subplots())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"] and ax.get_xlabel() == "layer"
    assert evaluate_models(dict(zip("ab", model_rdms)), brain_rdms, bootstrap=None).dims == ("model",)
    assert evaluate_models(model_rdms.rename(layer="rdm"), brain_rdms, bootstrap=None).dims == ("model",)
    assert evaluate_models(model_rdms, brain_rdms, bootstrap=None, model="net").dims == ("net",)
    ax = plot_layer_profile(evaluate_models(dict(zip("ab", model_rdms)), brain_rdms, bootstrap=None),
                            Figure().subplots())
    assert ax.get_xlabel() == "model"


@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_cka_sweep_ignores_the_scale_of_each_representation(rng, scale):
    """CKA is scale-invariant; X Xᵀ of values near 1e±200 overflows or underflows unless rescaled first."""
    acts, brain = study(rng)
    plain = cka_sweep(acts, brain, n_bootstrap=10, n_splits=2)
    scaled_acts = {name: a * scale for name, a in acts.items()}
    scaled = cka_sweep(scaled_acts, brain * (1 / scale), n_bootstrap=10, n_splits=2)
    assert np.all(np.isfinite(scaled.values))
    np.testing.assert_allclose(scaled.values, plain.values, rtol=1e-12)
    np.testing.assert_allclose(scaled.ceiling, plain.ceiling, rtol=1e-12)
