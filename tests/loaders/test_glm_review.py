"""Regressions found in review of the task-fMRI GLM (issue 13): options and run labels."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from neuroalign.errors import ConfigError
from neuroalign.loaders.glm import estimate_patterns
from ..cli_runner import assert_one_line_error

pytest.importorskip("nilearn")

AFFINE = np.diag([3.0, 3.0, 3.0, 1.0])


def _run(path, seed, n=40):
    rng = np.random.default_rng(seed)
    img = nib.Nifti1Image((100 + rng.normal(size=(2, 2, 2, n))).astype(np.float32), AFFINE)
    img.header.set_zooms((3.0, 3.0, 3.0, 2.0))
    nib.save(img, path)
    return path


def _events(path, stimuli=("s1", "s2", "s3")):
    pd.DataFrame({"onset": [4.0, 24.0, 44.0][:len(stimuli)], "duration": 1.0, "trial_type": "x",
                  "stim": list(stimuli)}).to_csv(path, sep="\t", index=False)
    return path


@pytest.mark.parametrize("estimator", ["lsa", "lss-1"])
def test_standardize_is_refused_by_every_estimator(tmp_path, estimator):
    # nilearn 0.14's FirstLevelModel never applies standardize (signal_scaling resets it), so LSA used to
    # return the unstandardised betas silently while LSS refused it
    run, events = _run(tmp_path / "run.nii.gz", 0), _events(tmp_path / "events.tsv")
    with pytest.raises(ConfigError, match="standardize"):
        estimate_patterns(run, events, t_r=2.0, estimator=estimator, standardize=True, progress=False)


def test_runs_of_two_sessions_with_the_same_run_number(tmp_path):
    # BIDS run numbers restart in every session: ses-1_run-1 and ses-2_run-1 are two runs (was "run 1 is given
    # twice"); the run coord then numbers the runs in the order given
    runs = [_run(tmp_path / f"sub-01_ses-{s}_task-x_run-1_bold.nii.gz", s) for s in (1, 2)]
    events = [_events(tmp_path / f"sub-01_ses-{s}_task-x_run-1_events.tsv") for s in (1, 2)]
    result = estimate_patterns(runs, events, stimulus_column="stim", noise_model="ols", progress=False)
    p = result.patterns
    assert p.run.values.tolist() == [0] * 3 + [1] * 3
    assert p.session.values.tolist() == ["1"] * 3 + ["2"] * 3
    assert p.repetition.values.tolist() == [0] * 3 + [1] * 3
    assert sorted(result.design_matrices) == sorted(result.dof) == [0, 1]
    assert result.residuals.run.values.tolist() == [0] * 40 + [1] * 40
    single = estimate_patterns(runs[1], events[1], stimulus_column="stim", noise_model="ols", progress=False)
    np.testing.assert_allclose(p.values[3:], single.patterns.values, atol=1e-12)


def test_the_same_run_twice_is_refused(tmp_path):
    run, events = _run(tmp_path / "sub-01_task-x_run-1_bold.nii.gz", 0), _events(tmp_path / "events.tsv")
    with pytest.raises(ConfigError, match="twice"):
        estimate_patterns([run, run], [events, events], stimulus_column="stim", progress=False)


def test_glm_command_errors_name_cli_flags(cli, tmp_path):
    run, events = _run(tmp_path / "run.nii.gz", 0), _events(tmp_path / "events.tsv")
    result = cli("glm", "--runs", run, "--events", events, "--stimulus-column", "stimulus", "--out", "p.nc",
                 "--no-progress", cwd=tmp_path)
    assert_one_line_error(result, "--stimulus-column")
    assert "stimulus_column=" not in result.stderr


def test_glm_command_checks_the_noise_model_and_output_before_fitting(cli, tmp_path):
    run, events = _run(tmp_path / "run.nii.gz", 0), _events(tmp_path / "events.tsv")
    result = cli("glm", "--runs", run, "--events", events, "--noise-model", "ar2", "--out", "p.nc",
                 "--no-progress", cwd=tmp_path)
    assert result.returncode != 0 and "ar2" in result.stderr and "Traceback" not in result.stderr
    (tmp_path / "taken").write_text("a file, not a folder")
    result = cli("glm", "--runs", run, "--events", events, "--out", "taken/p.nc", "--no-progress", cwd=tmp_path)
    assert_one_line_error(result, "--out")


@pytest.mark.parametrize("t_r", [-1.0, 0.0, float("nan")])
def test_a_bad_t_r_is_named_as_the_argument(tmp_path, t_r, cli):
    # the error named 'repetition_time', an argument of another loader
    run, events = _run(tmp_path / "run.nii.gz", 0), _events(tmp_path / "events.tsv")
    with pytest.raises(ConfigError, match="t_r") as error:
        estimate_patterns(run, events, t_r=t_r, stimulus_column="stim", progress=False)
    assert error.value.source == "t_r" and "repetition_time" not in str(error.value)
    result = cli("glm", "--runs", run, "--events", events, "--t-r", str(t_r), "--out", "p.nc", "--no-progress",
                 cwd=tmp_path)
    assert result.returncode != 0 and "--t-r" in result.stderr and "repetition_time" not in result.stderr


@pytest.mark.parametrize("onset", [98.0, 99.0, 99.9])
@pytest.mark.parametrize("estimator", ["lsa", "lss-1"])
def test_a_trial_at_or_after_the_last_volume_is_refused(tmp_path, onset, estimator):
    # 50 volumes x 2 s: the last volume is acquired at 98 s, so these trials have a zero regressor (~1e-15 after
    # nilearn's oversampling). LSA used to return beta 0 for them silently (nilearn's pinv drops the column)
    # and report one more residual dof; LSS refused them
    import nibabel as nib_

    from neuroalign.errors import DataError

    run = nib_.Nifti1Image(100 + np.random.default_rng(0).normal(size=(2, 2, 2, 50)), AFFINE)
    events = pd.DataFrame({"onset": [4.0, 24.0, onset], "duration": 1.0, "trial_type": ["a", "b", "a"]})
    with pytest.raises(DataError, match="outside the run|all-zero (column|regressor)"):
        estimate_patterns(run, events, t_r=2.0, estimator=estimator, noise_model="ols", progress=False)


def test_lss_errors_name_the_run_and_estimate_patterns_arguments(tmp_path, cli):
    # LSS errors used to name "events['trial_type']" and variant= (an argument of lss_estimates), not the file
    runs = [_run(tmp_path / f"sub-01_task-x_run-{r}_bold.nii.gz", r) for r in (1, 2)]
    events = [_events(tmp_path / f"sub-01_task-x_run-{r}_events.tsv") for r in (1, 2)]
    pd.DataFrame({"onset": [4.0, 24.0, 44.0], "duration": 1.0, "trial_type": ["x", "x", "y"],
                  "stim": ["s1", "s2", "s3"]}).to_csv(events[1], sep="\t", index=False)
    from neuroalign.errors import DataError

    with pytest.raises(DataError, match="occur once") as error:
        estimate_patterns(runs, events, estimator="lss-n", stimulus_column="stim", noise_model="ols", progress=False)
    assert str(events[1]) in error.value.source and "estimator='lss-1'" in error.value.fix
    result = cli("glm", "--runs", *runs, "--events", *events, "--estimator", "lss-n", "--stimulus-column", "stim",
                 "--out", "p.nc", "--no-progress", cwd=tmp_path)
    assert_one_line_error(result, "run-2_events.tsv", "--estimator lss-1")


@pytest.mark.parametrize("option, value, error", [
    ("hrf_model", "glovr", "glover"), ("drift_model", "cosin", "cosine"), ("high_pass", -1.0, "high_pass"),
    ("signal_scaling", 1, "signal_scaling"), ("slice_time_ref", 2.0, "slice_time_ref")])
def test_bad_glm_options_are_named_errors(tmp_path, option, value, error):
    # nilearn raised a bare ValueError / NotImplementedError for these (the CLI's "unexpected error", exit 3)
    from neuroalign.errors import NeuroalignError

    run, events = _run(tmp_path / "run.nii.gz", 0), _events(tmp_path / "events.tsv")
    with pytest.raises(NeuroalignError, match=error) as info:
        estimate_patterns(run, events, stimulus_column="stim", progress=False, **{option: value})
    assert info.value.source == option


def test_glm_command_bad_hrf_model_is_a_one_line_error(cli, tmp_path):
    run, events = _run(tmp_path / "run.nii.gz", 0), _events(tmp_path / "events.tsv")
    result = cli("glm", "--runs", run, "--events", events, "--hrf-model", "glovr", "--out", "p.nc", "--no-progress",
                 cwd=tmp_path)
    assert_one_line_error(result, "--hrf-model", "glover")


def test_to_nifti_refuses_fractional_voxel_indices():
    # voxel_i = 1.7 was truncated to voxel 1 silently
    import xarray as xr

    from neuroalign.errors import SchemaError
    from neuroalign.loaders.voxels import to_nifti

    coords = {"voxel_i": ("neuroid", [0.0, 1.7]), "voxel_j": ("neuroid", [0, 0]), "voxel_k": ("neuroid", [0, 0])}
    with pytest.raises(SchemaError, match="whole numbers"):
        to_nifti(xr.DataArray([1.0, 2.0], dims="neuroid", coords=coords), np.eye(4), (2, 1, 1))
    coords["voxel_i"] = ("neuroid", [0.0, 1.0])  # whole floats are fine
    image = to_nifti(xr.DataArray([1.0, 2.0], dims="neuroid", coords=coords), np.eye(4), (2, 1, 1))
    assert image.get_fdata().ravel().tolist() == [1.0, 2.0]


def test_ar2_is_lsa_only_and_says_so(tmp_path):
    # LSA fits nilearn's AR(2); LSS refused it as an unknown noise model without saying that LSA takes it
    run, events = _run(tmp_path / "run.nii.gz", 0), _events(tmp_path / "events.tsv")
    lsa = estimate_patterns(run, events, stimulus_column="stim", noise_model="ar2", progress=False)
    assert lsa.patterns.sizes["presentation"] == 3
    with pytest.raises(ConfigError, match="closed form") as info:
        estimate_patterns(run, events, stimulus_column="stim", noise_model="ar2", estimator="lss-1", progress=False)
    assert "estimator='lsa'" in info.value.fix
