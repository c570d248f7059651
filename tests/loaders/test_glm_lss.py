"""LSS beta series in closed form (neuroalign.loaders.glm_lss, lss_designs).

Reference: nilearn's documented beta-series loop (example "Beta-Series Modeling for
Task-Based Functional Connectivity and Decoding", nilearn 0.14): per trial, relabel
that trial in the events table, fit ``FirstLevelModel`` on the NIfTI run and take
``compute_contrast(trial_name, output_type="effect_size")`` (and ``"stat"`` for t).
The relabelling is written out below from the example, independently of
``lss_events``.
"""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.errors import ConfigError, DataError, UnknownNameError
from neuroalign.loaders.glm_lss import lss_estimates, lss_patterns
from neuroalign.loaders.lss_designs import lss_blocks, lss_design_matrix, lss_events

nilearn_fl = pytest.importorskip("nilearn.glm.first_level")

T_R = 2.0


def _events(rng, n_trials=10, n_types=3, span=200.0):
    onsets = np.sort(rng.uniform(4.0, span, n_trials))
    return pd.DataFrame({"onset": onsets, "duration": 1.0,
                         "trial_type": [f"c{i % n_types}" for i in range(n_trials)]})


def _run(rng, events, n_volumes=100, shape=(3, 2, 2), dtype=np.float32):
    """A 4D run (trial responses, AR(1) noise, drift) as a NIfTI image, its mask and confounds."""
    lsa = nilearn_fl.make_first_level_design_matrix(
        np.arange(n_volumes) * T_R, events.assign(trial_type=[f"t{i}" for i in range(len(events))]),
        drift_model=None)
    n_vox = int(np.prod(shape))
    signal = lsa.to_numpy()[:, :len(events)] @ rng.normal(2.0, 1.0, (len(events), n_vox))
    noise = np.zeros((n_volumes, n_vox))
    phi, shocks = rng.uniform(-0.2, 0.6, n_vox), rng.normal(size=(n_volumes, n_vox))
    for t in range(n_volumes):
        noise[t] = (phi * noise[t - 1] if t else 0) + shocks[t]
    data = 500 + 8 * signal + 3 * noise + np.outer(np.linspace(0, 10, n_volumes), rng.normal(size=n_vox))
    img = nib.Nifti1Image(data.T.reshape(*shape, n_volumes).astype(dtype), np.diag([3.0, 3.0, 3.0, 1.0]))
    mask = nib.Nifti1Image(np.ones(shape, np.uint8), img.affine)
    confounds = pd.DataFrame(rng.normal(size=(n_volumes, 2)), columns=["motion_x", "motion_y"])
    return img, mask, confounds


def _nilearn_lss(img, mask, events, variant, noise_model, confounds=None, **glm_kwargs):
    """nilearn's documented LSS loop: per trial relabel it, fit FirstLevelModel, take its contrast."""
    betas, stats, ar = [], [], []
    inside = mask.get_fdata() > 0
    for row in range(len(events)):
        trial_events = events.copy()
        name = f"{events.loc[row, 'trial_type']}__{row:03d}"
        if variant == "lss-1":
            trial_events["trial_type"] = "other_trials"
        trial_events.loc[row, "trial_type"] = name
        glm = nilearn_fl.FirstLevelModel(t_r=T_R, mask_img=mask, noise_model=noise_model, **glm_kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            glm.fit(img, trial_events, confounds=confounds)
        betas.append(glm.compute_contrast(name, output_type="effect_size").get_fdata()[inside])
        stats.append(glm.compute_contrast(name, output_type="stat").get_fdata()[inside])
        if noise_model == "ar1":
            ar.append(glm.labels_[0].astype(float))
    return np.array(betas), np.array(stats), np.array(ar) if ar else None


@pytest.mark.parametrize("noise_model", ["ols", "ar1"])
@pytest.mark.parametrize("variant", ["lss-1", "lss-n"])
def test_equals_nilearn_loop_on_nifti_files(tmp_path, variant, noise_model):
    rng = np.random.default_rng(3)
    events = _events(rng)
    img, mask, confounds = _run(rng, events)
    nib.save(img, tmp_path / "bold.nii.gz")
    nib.save(mask, tmp_path / "mask.nii.gz")
    ours = lss_estimates(str(tmp_path / "bold.nii.gz"), events, {"t_r": T_R}, variant=variant, confounds=confounds,
                         noise_model=noise_model, mask_img=str(tmp_path / "mask.nii.gz"))
    ref_b, ref_t, ref_ar = _nilearn_lss(str(tmp_path / "bold.nii.gz"), mask, events, variant, noise_model,
                                        confounds=confounds)
    np.testing.assert_allclose(ours.betas, ref_b, rtol=0, atol=1e-8)
    np.testing.assert_allclose(ours.t, ref_t, rtol=0, atol=1e-8)
    if noise_model == "ar1":
        np.testing.assert_array_equal(ours.ar_coef, ref_ar)  # the same AR(1) bin for every model and voxel


@pytest.mark.parametrize("settings_", [
    dict(hrf_model="spm + derivative", slice_time_ref=0.5, high_pass=0.02),
    dict(hrf_model="glover + derivative + dispersion", drift_model="polynomial", drift_order=2),
    dict(hrf_model=None, drift_model=None),
])
def test_equals_nilearn_with_other_hrf_drift_slice_time_and_float64(settings_):
    rng = np.random.default_rng(4)
    events = _events(rng, n_trials=8, n_types=2, span=170.0)
    img, mask, _ = _run(rng, events, dtype=np.float64)
    events["duration"] = 4.0
    for variant, noise_model in [("lss-1", "ar1"), ("lss-n", "ols")]:
        ours = lss_estimates(img, events, {"t_r": T_R, **settings_}, variant=variant, noise_model=noise_model,
                             mask_img=mask)
        ref_b, ref_t, _ = _nilearn_lss(img, mask, events, variant, noise_model, **settings_)
        np.testing.assert_allclose(ours.betas, ref_b, rtol=0, atol=1e-8)
        np.testing.assert_allclose(ours.t, ref_t, rtol=0, atol=1e-8)


@pytest.mark.parametrize("variant", ["lss-1", "lss-n"])
def test_blocks_are_nilearns_per_trial_designs(variant):
    rng = np.random.default_rng(5)
    events = _events(rng, n_trials=7)
    confounds = pd.DataFrame(rng.normal(size=(90, 2)), columns=["a", "b"])
    blocks = lss_blocks(events, 90, {"t_r": T_R}, variant=variant, confounds=confounds)
    for trial in range(len(events)):
        full = lss_design_matrix(events, 90, {"t_r": T_R}, trial, variant=variant, confounds=confounds)
        name = blocks.trial_names[trial]
        other = "other_trials" if variant == "lss-1" else events.loc[trial, "trial_type"]
        np.testing.assert_allclose(blocks.varying[trial], full[[name, other]].to_numpy(), rtol=0, atol=1e-12)
        key = next(k for k, (_, members) in blocks.groups.items() if trial in members)
        np.testing.assert_array_equal(blocks.groups[key][0], full[blocks.extra_names[key]].to_numpy())
        np.testing.assert_array_equal(blocks.common, full[blocks.common_names].to_numpy())
        assert sorted([name, other, *blocks.extra_names[key], *blocks.common_names]) == sorted(full.columns)
        assert full.shape[1] == blocks.n_columns


def test_lss_events_follow_nilearns_example():
    events = pd.DataFrame({"onset": [1.0, 5.0, 9.0, 13.0], "duration": 1.0, "trial_type": ["a", "b", "a", "b"]})
    lss_n, name = lss_events(events, 2, "lss-n")
    assert name == "a__002" and lss_n["trial_type"].tolist() == ["a", "b", "a__002", "b"]
    lss_1, _ = lss_events(events, 0, "lss-1")
    assert lss_1["trial_type"].tolist() == ["a__000", "other_trials", "other_trials", "other_trials"]


def test_equals_nilearn_without_signal_scaling():
    rng = np.random.default_rng(9)
    events = _events(rng, n_trials=6)
    img, mask, _ = _run(rng, events)
    ours = lss_estimates(img, events, {"t_r": T_R}, variant="lss-1", noise_model="ar1", mask_img=mask,
                         signal_scaling=False)
    ref_b, ref_t, _ = _nilearn_lss(img, mask, events, "lss-1", "ar1", signal_scaling=False)
    np.testing.assert_allclose(ours.betas, ref_b, rtol=0, atol=1e-8)
    np.testing.assert_allclose(ours.t, ref_t, rtol=0, atol=1e-8)


def test_array_input_equals_image_input():
    rng = np.random.default_rng(6)
    events = _events(rng, n_trials=6)
    img, mask, _ = _run(rng, events)
    from_img = lss_estimates(img, events, {"t_r": T_R}, mask_img=mask)
    data = img.get_fdata(dtype=np.float32).reshape(-1, img.shape[3]).T
    from_array = lss_estimates(data, events, {"t_r": T_R})
    np.testing.assert_array_equal(from_img.betas, from_array.betas)


def test_run_adapter_for_estimate_patterns():
    rng = np.random.default_rng(7)
    events = _events(rng, n_trials=6, n_types=2)
    img, mask, confounds = _run(rng, events)
    times = np.arange(img.shape[3]) * T_R
    values, residuals, design, dof = lss_patterns(
        img, mask, events, times, variant="lss-n", statistic="t", confounds=confounds.to_numpy(),
        confound_names=["confound_0", "confound_1"], design_options={"hrf_model": "glover"},
        fit_options={"noise_model": "ar1"})
    ours = lss_estimates(img, events, {"t_r": T_R}, variant="lss-n", confounds=confounds.to_numpy(),
                         noise_model="ar1", mask_img=mask)
    np.testing.assert_array_equal(values, ours.t)
    assert design.columns.tolist()[:2] == ["c0", "c1"] and dof == img.shape[3] - design.shape[1]
    # residuals Y - X theta of nilearn's own fit of the standard model (one regressor per trial type)
    glm = nilearn_fl.FirstLevelModel(t_r=T_R, mask_img=mask, minimize_memory=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        glm.fit(img, events, confounds=pd.DataFrame(confounds.to_numpy(), columns=["confound_0", "confound_1"]))
    x = glm.design_matrices_[0].to_numpy()
    reference = np.empty_like(residuals)
    for label, fitted in glm.results_[0].items():
        where = glm.labels_[0] == label
        reference[:, where] = fitted.Y - x @ fitted.theta
    np.testing.assert_allclose(residuals, reference, rtol=0, atol=1e-8)
    np.testing.assert_array_equal(design.to_numpy(), glm.design_matrices_[0].to_numpy())


# ---- property tests -------------------------------------------------------------------------------------------

def _small(seed, n_trials, variant):
    rng = np.random.default_rng(seed)
    events = _events(rng, n_trials=n_trials, n_types=2, span=120.0)
    n, v = 80, 4
    y = rng.normal(size=(n, v)) + nilearn_fl.make_first_level_design_matrix(
        np.arange(n) * T_R, events, drift_model=None).to_numpy()[:, :2] @ rng.normal(size=(2, v))
    return rng, events, y


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**16), n_trials=st.integers(4, 9), variant=st.sampled_from(["lss-1", "lss-n"]),
       noise_model=st.sampled_from(["ols", "ar1"]), power=st.integers(-3, 3))
def test_invariances(seed, n_trials, variant, noise_model, power):
    """Nuisance-space shifts leave the estimates unchanged; scaling by 2^k scales betas exactly and keeps t;
    permuting voxels or trials permutes the estimates."""
    rng, events, y = _small(seed, n_trials, variant)
    kwargs = dict(variant=variant, noise_model=noise_model, signal_scaling=False)
    base = lss_estimates(y, events, {"t_r": T_R}, **kwargs)
    drift = nilearn_fl.make_first_level_design_matrix(np.arange(len(y)) * T_R, None).to_numpy()
    shifted = lss_estimates(y + drift @ rng.normal(0, 3, (drift.shape[1], y.shape[1])), events, {"t_r": T_R},
                            **kwargs)
    np.testing.assert_allclose(shifted.betas, base.betas, atol=1e-8)
    if noise_model == "ar1":
        assert np.mean(shifted.ar_coef == base.ar_coef) > 0.9  # equal but for bins at a rounding boundary
    scaled = lss_estimates(y * 2.0**power, events, {"t_r": T_R}, **kwargs)
    np.testing.assert_allclose(scaled.betas, base.betas * 2.0**power, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(scaled.t, base.t, rtol=1e-10, atol=1e-10)
    perm = rng.permutation(y.shape[1])
    np.testing.assert_allclose(lss_estimates(y[:, perm], events, {"t_r": T_R}, **kwargs).betas, base.betas[:, perm],
                               rtol=1e-12, atol=1e-12)
    order = rng.permutation(len(events))
    reordered = lss_estimates(y, events.iloc[order], {"t_r": T_R}, **kwargs)
    np.testing.assert_allclose(reordered.betas, base.betas[order], rtol=1e-9, atol=1e-9)


# ---- errors -----------------------------------------------------------------------------------------------------

def test_lss_n_refuses_a_trial_type_with_one_occurrence():
    events = pd.DataFrame({"onset": [4.0, 20.0, 40.0], "duration": 1.0, "trial_type": ["a", "a", "b"]})
    with pytest.raises(DataError, match=r"\['b'\] occur once") as info:
        lss_estimates(np.random.default_rng(0).normal(size=(40, 2)), events, {"t_r": T_R}, variant="lss-n")
    assert "lss-1" in info.value.fix


def test_rank_deficient_confounds_are_named():
    rng = np.random.default_rng(1)
    events = _events(rng, n_trials=5, span=60.0)
    confounds = pd.DataFrame({"wm": rng.normal(size=40), "csf": rng.normal(size=40)})
    confounds["wm_copy"] = 2 * confounds["wm"]
    with pytest.raises(DataError, match=r"rank-deficient.*'wm'.*'wm_copy'") as info:
        lss_estimates(rng.normal(size=(40, 2)), events, {"t_r": T_R}, confounds=confounds)
    assert info.value.source == "design"


def test_collinear_trial_regressors_are_refused():
    events = pd.DataFrame({"onset": [10.0, 10.0], "duration": 1.0, "trial_type": "a"})  # the same trial twice
    with pytest.raises(DataError, match="rank-deficient"):
        lss_estimates(np.random.default_rng(2).normal(size=(40, 2)), events, {"t_r": T_R})


def test_trial_outside_the_run_is_refused():
    events = pd.DataFrame({"onset": [10.0, 30.0, 500.0], "duration": 1.0, "trial_type": "a"})
    with pytest.raises(DataError, match="outside the run"):
        lss_estimates(np.random.default_rng(2).normal(size=(40, 2)), events, {"t_r": T_R})


def test_bad_settings_are_named():
    y = np.random.default_rng(3).normal(size=(40, 2))
    events = pd.DataFrame({"onset": [4.0, 30.0, 50.0], "duration": 1.0})
    with pytest.raises(UnknownNameError):
        lss_estimates(y, events, {"t_r": T_R}, variant="lss-2")
    with pytest.raises(UnknownNameError):
        lss_estimates(y, events, {"t_r": T_R}, noise_model="ar2")
    with pytest.raises(ConfigError, match="t_r"):
        lss_estimates(y, events, {})
    with pytest.raises(ConfigError, match="FIR"):
        lss_estimates(y, events, {"t_r": T_R, "fir_delays": [0, 1]})
    with pytest.raises(DataError, match="no onset"):
        lss_estimates(y, events.drop(columns="onset"), {"t_r": T_R})
    with pytest.raises(ConfigError, match="standardize"):
        lss_estimates(y, events, {"t_r": T_R}, signal_scaling=False, standardize=True)
    with pytest.raises(DataError, match="constant"):
        lss_estimates(np.c_[y[:, 0], np.ones(40)], events, {"t_r": T_R}, noise_model="ar1")


def test_estimate_patterns_with_lss_equals_nilearn_loop():
    from neuroalign.loaders.glm import estimate_patterns

    rng = np.random.default_rng(8)
    events = _events(rng, n_trials=6, n_types=2)
    img, mask, _ = _run(rng, events)
    result = estimate_patterns(img, events, mask=mask, t_r=T_R, estimator="lss-n", statistic="t", progress=False)
    _, ref_t, _ = _nilearn_lss(img, mask, events, "lss-n", "ar1")
    np.testing.assert_allclose(result.patterns.values, ref_t, rtol=0, atol=1e-8)
    assert result.patterns.attrs["estimator"] == "lss-n"
