"""Noise normalisation of GLM patterns (Walther et al. 2016).

references: rsatoolbox 0.3 (``rsatoolbox.data.noise.prec_from_residuals`` / ``cov_from_residuals`` and
``rsatoolbox.rdm.calc_rdm(method="crossnobis", noise=...)``), scikit-learn's ``sklearn.covariance.ledoit_wolf``
(Ledoit & Wolf 2004) and numpy closed forms.
"""

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from rsatoolbox.data import Dataset
from rsatoolbox.data.noise import cov_from_residuals, prec_from_residuals
from rsatoolbox.rdm import calc_rdm
from sklearn.covariance import ledoit_wolf

from neuroalign.compare import compute_rdm
from neuroalign.compare.rsa.noise_normalisation import (
    noise_normalise,
    residual_covariance,
    residual_precision,
)
from neuroalign.data import create_assembly
from neuroalign.errors import AlignmentError, ConfigError, DataError, SchemaError, UnknownNameError

pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")


def glm(n_stim=6, n_runs=3, n_time=50, p=8, seed=0):
    """OLS fits of boxcar designs (one regressor per stimulus + constant) to voxels with correlated noise."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(p, p)) / np.sqrt(p) + np.eye(p)
    truth = rng.normal(size=(n_stim, p))
    betas, residuals, runs, dofs = [], [], [], []
    for run in range(n_runs):
        design = np.zeros((n_time, n_stim + 1))
        onsets = rng.permutation(np.arange(2, n_time - 4, (n_time - 6) // n_stim)[:n_stim])
        for s, onset in enumerate(onsets):
            design[onset:onset + 3, s] = 1.0
        design[:, -1] = 1.0
        y = design[:, :n_stim] @ truth + rng.normal(size=(n_time, p)) @ mixing + 5.0
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        betas.append(coef[:n_stim])
        residuals.append(y - design @ coef)
        runs.append(np.full(n_time, run))
        dofs.append(n_time - np.linalg.matrix_rank(design))
    ids = [f"v{i}" for i in range(p)]
    patterns = create_assembly(np.concatenate(betas), stimulus_id=[f"s{s}" for s in range(n_stim)] * n_runs,
                               neuroid_id=ids, presentation={"run": np.repeat(np.arange(n_runs), n_stim)})
    res = xr.DataArray(np.concatenate(residuals), dims=("time", "neuroid"),
                       coords={"run": ("time", np.concatenate(runs)), "neuroid_id": ("neuroid", ids),
                               "time": ("time", np.tile(np.arange(n_time) * 2.0, n_runs))})
    return patterns, res, dofs


def rsatoolbox_crossnobis(patterns, precision):
    dataset = Dataset(patterns.values, obs_descriptors={"stim": patterns.stimulus_id.values,
                                                        "run": patterns.run.values})
    return calc_rdm(dataset, method="crossnobis", descriptor="stim", cv_descriptor="run",
                    noise=precision).get_vectors()[0]


@pytest.mark.parametrize("estimator", ["shrinkage_diag", "shrinkage_eye", "diag", "full"])
def test_pooled_whitening_then_crossnobis_equals_rsatoolbox_with_prec_from_residuals(estimator):
    patterns, res, dofs = glm()
    precision = prec_from_residuals(res.values, dof=sum(dofs), method=estimator)
    reference = rsatoolbox_crossnobis(patterns, precision)
    normalised = noise_normalise(patterns, res, "multivariate", covariance=estimator, per_run=False, dof=dofs)
    ours = compute_rdm(normalised, "crossnobis")
    assert ours.attrs["cv_descriptor"] == "run"
    np.testing.assert_allclose(ours.values, reference, rtol=1e-8, atol=1e-8 * np.abs(reference).max())
    # the same precision handed to compute_rdm directly
    labelled = residual_precision(res, estimator, dof=dofs)
    np.testing.assert_allclose(labelled.values, precision, rtol=1e-8, atol=1e-8 * np.abs(precision).max())
    direct = compute_rdm(patterns, "crossnobis", noise=labelled)
    np.testing.assert_allclose(direct.values, reference, rtol=1e-8, atol=1e-8 * np.abs(reference).max())


@pytest.mark.parametrize("estimator", ["shrinkage_diag", "shrinkage_eye", "diag", "full"])
def test_per_run_covariance_equals_rsatoolbox_cov_from_residuals(estimator):
    _, res, dofs = glm()
    ours = residual_covariance(res, estimator, dof=dofs)
    assert ours.dims == ("run", "neuroid_a", "neuroid_b") and ours.run.values.tolist() == [0, 1, 2]
    for run, dof in enumerate(dofs):
        reference = cov_from_residuals(res.values[res.run.values == run], dof=dof, method=estimator)
        np.testing.assert_allclose(ours.values[run], reference, rtol=1e-10, atol=1e-12)


def test_shrinkage_eye_is_sklearn_ledoit_wolf_rescaled_to_the_dof():
    _, res, dofs = glm(p=10)
    run0 = res.values[res.run.values == 0]
    reference, _ = ledoit_wolf(run0 - run0.mean(0))  # divides by the number of volumes
    ours = residual_covariance(res, "shrinkage_eye", dof=dofs).values[0]
    np.testing.assert_allclose(ours * dofs[0] / len(run0), reference, rtol=1e-10)


def test_fixed_shrinkage_towards_the_diagonal_closed_form():
    _, res, dofs = glm()
    centred = res.values - res.groupby("run").mean().sel(run=res.run).values
    sample = centred.T @ centred / sum(dofs)
    expected = 0.7 * sample + 0.3 * np.diag(np.diag(sample))
    np.testing.assert_allclose(residual_covariance(res, 0.3, per_run=False, dof=dofs).values, expected, rtol=1e-12)


def test_univariate_per_run_divides_by_each_runs_residual_sd():
    patterns, res, dofs = glm()
    out = noise_normalise(patterns, res, "univariate", dof=dofs)
    for run, dof in enumerate(dofs):
        r = res.values[res.run.values == run]
        sd = np.sqrt(((r - r.mean(0)) ** 2).sum(0) / dof)
        np.testing.assert_allclose(out.values[patterns.run.values == run],
                                   patterns.values[patterns.run.values == run] / sd, rtol=1e-12)
    assert out.attrs["noise_normalisation"] == "univariate" and "input_hashes" in out.attrs
    assert out.stimulus_id.values.tolist() == patterns.stimulus_id.values.tolist()


def test_per_run_multivariate_whitens_each_runs_residuals_to_the_identity():
    patterns, res, dofs = glm()
    as_patterns = create_assembly(res.values, stimulus_id=np.arange(res.sizes["time"]).astype(str),
                                  neuroid_id=res.neuroid_id.values, presentation={"run": res.run.values})
    whitened = noise_normalise(as_patterns, res, covariance="full", dof=dofs)
    for run, dof in enumerate(dofs):
        w = whitened.values[res.run.values == run]
        w = w - w.mean(0)
        np.testing.assert_allclose(w.T @ w / dof, np.eye(patterns.sizes["neuroid"]), atol=1e-10)


def test_residual_voxels_in_another_order_are_matched_by_neuroid_id():
    patterns, res, dofs = glm()
    shuffled = res.isel(neuroid=np.random.default_rng(1).permutation(res.sizes["neuroid"]))
    np.testing.assert_allclose(noise_normalise(patterns, shuffled, dof=dofs).values,
                               noise_normalise(patterns, res, dof=dofs).values, rtol=1e-12)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), per_run=st.booleans())
def test_crossnobis_after_full_whitening_is_invariant_to_a_voxel_mixing(seed, per_run):
    # pooled: Mahalanobis distances are affine invariant, so mixing the voxels of betas and residuals alike by any
    # invertible matrix changes nothing.  Per run, each run's symmetric root (M'ΣM)^-1/2 is M^-1 Σ^-1/2 only up to
    # a rotation of its own, so only rotations of the voxels leave the cross-run products unchanged.
    patterns, res, dofs = glm(p=5, n_time=40, seed=seed % 1000)
    rng = np.random.default_rng(seed)
    rotation, other = (np.linalg.qr(rng.normal(size=(5, 5)))[0] for _ in range(2))
    mixing = rotation if per_run else rotation @ np.diag(rng.uniform(0.5, 2.0, 5)) @ other  # well conditioned
    mixed_patterns = patterns.copy(data=patterns.values @ mixing)
    mixed_res = res.copy(data=res.values @ mixing)
    a = compute_rdm(noise_normalise(patterns, res, covariance="full", per_run=per_run, dof=dofs), "crossnobis")
    b = compute_rdm(noise_normalise(mixed_patterns, mixed_res, covariance="full", per_run=per_run, dof=dofs),
                    "crossnobis")
    np.testing.assert_allclose(a.values, b.values, rtol=1e-7, atol=1e-9 * np.abs(a.values).max())


@settings(max_examples=20, deadline=None)
@given(scales=st.lists(st.floats(1e-3, 1e3), min_size=6, max_size=6))
def test_univariate_normalisation_is_invariant_to_each_voxels_scale(scales):
    patterns, res, dofs = glm(p=6)
    scale = np.asarray(scales)
    a = noise_normalise(patterns, res, "univariate", dof=dofs)
    b = noise_normalise(patterns.copy(data=patterns.values * scale), res.copy(data=res.values * scale),
                        "univariate", dof=dofs)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-9)


def test_more_voxels_than_residual_dof_for_a_full_covariance_raises_with_the_fix():
    patterns, res, _ = glm(p=30, n_time=20)  # 20 volumes - 7 regressors = 13 dof per run
    with pytest.raises(DataError, match=r"more voxels \(30\) than residual degrees of freedom \(13\) in run 0") as info:
        noise_normalise(patterns, res, covariance="full", dof=13)
    assert "shrinkage_diag" in info.value.fix and "univariate" in info.value.fix
    with pytest.raises(DataError, match="more voxels"):
        residual_covariance(res, 0.0, per_run=False, dof=[5, 5, 5])
    # shrinkage is fine with the same residuals
    rdm = compute_rdm(noise_normalise(patterns, res, covariance="shrinkage_diag", dof=13), "crossnobis")
    assert np.isfinite(rdm.values).all()


def test_bad_inputs_raise_named_errors():
    patterns, res, dofs = glm()
    with pytest.raises(AlignmentError, match=r"run\(s\) \[2\]"):
        noise_normalise(patterns, res.isel(time=res.run.values < 2))
    with pytest.raises(AlignmentError, match="voxels"):
        noise_normalise(patterns, res.isel(neuroid=slice(0, 4)))
    with pytest.raises(SchemaError, match="'run' coordinate on 'time'"):
        noise_normalise(patterns, res.drop_vars("run"))
    with pytest.raises(SchemaError, match="'run' coordinate on 'presentation'"):
        noise_normalise(patterns.drop_vars("run"), res)
    with pytest.raises(ConfigError, match="takes no covariance"):
        noise_normalise(patterns, res, "univariate", covariance="full")
    with pytest.raises(ConfigError, match=r"shrinkage in \[0, 1\]"):
        noise_normalise(patterns, res, covariance=1.5)
    with pytest.raises(UnknownNameError):
        noise_normalise(patterns, res, covariance="ledoit")
    with pytest.raises(UnknownNameError):
        noise_normalise(patterns, res, "whiten")
    with pytest.raises(ConfigError, match="dof"):
        noise_normalise(patterns, res, dof=[10, 10])
    with pytest.raises(DataError, match="no residual variance"):
        noise_normalise(patterns, res.copy(data=np.where(np.arange(8) == 3, 0.0, res.values)), "univariate")
    with pytest.raises(DataError, match="singular"):
        noise_normalise(patterns, res.copy(data=np.where(np.arange(8) == 3, 0.0, res.values)), covariance="diag")


def test_glm_patterns_from_nifti_files_through_noise_normalisation_and_crossnobis(tmp_path):
    # end to end on written NIfTI runs and BIDS events: estimate_patterns' residuals and dof feed the normalisation
    import nibabel as nib
    import pandas as pd

    from neuroalign.loaders.glm import estimate_patterns

    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    rng = np.random.default_rng(3)
    truth = rng.normal(size=(4, 3, 3, 4)) * 4
    runs, events = [], []
    for run in range(3):
        onsets = np.array([6.0, 30.0, 54.0, 78.0]) + run
        order = rng.permutation(4)
        signal = np.zeros((4, 3, 3, 60))
        for s, onset in zip(order, onsets):
            signal[..., int(onset // 2): int(onset // 2) + 4] += truth[..., s, None]
        data = 100 + signal + rng.normal(size=(4, 3, 3, 60))
        img = nib.Nifti1Image(data.astype(np.float32), affine)
        img.header.set_zooms((3.0, 3.0, 3.0, 2.0))
        runs.append(tmp_path / f"sub-01_task-x_run-{run + 1}_bold.nii.gz")
        nib.save(img, runs[-1])
        events.append(tmp_path / f"sub-01_task-x_run-{run + 1}_events.tsv")
        pd.DataFrame({"onset": onsets, "duration": 2.0, "trial_type": [f"s{s}" for s in order]}).to_csv(
            events[-1], sep="\t", index=False)
    result = estimate_patterns(runs, events, per="stimulus", noise_model="ols", progress=False)
    normalised = noise_normalise(result.patterns, result.residuals, dof=result.dof, per_run=False)
    ours = compute_rdm(normalised.sortby("stimulus_id"), "crossnobis")  # rsatoolbox sorts the stimuli
    precision = prec_from_residuals(result.residuals.values, dof=sum(result.dof.values()), method="shrinkage_diag")
    reference = rsatoolbox_crossnobis(result.patterns, precision)
    np.testing.assert_allclose(ours.values, reference, rtol=1e-8, atol=1e-8 * np.abs(reference).max())
    assert ours.stimulus_id_a.values.tolist()[:3] == ["s0", "s0", "s0"]
    assert normalised.attrs["affine"] == result.patterns.attrs["affine"]
    # the GLM's patterns (provenance, affine, onsets…) survive a round trip through rsatoolbox
    from neuroalign.compare.rsa.rsatoolbox_interop import from_rsatoolbox, to_rsatoolbox

    xr.testing.assert_identical(from_rsatoolbox(to_rsatoolbox(result.patterns)), result.patterns)
    # per run (Walther et al.), each run's betas with its own residuals: finite, and the planted patterns differ
    per_run = compute_rdm(noise_normalise(result.patterns, result.residuals, dof=result.dof), "crossnobis")
    assert np.isfinite(per_run.values).all() and per_run.values.mean() > 0
