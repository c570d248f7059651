"""LSA patterns from real NIfTI/TSV files, checked against nilearn's FirstLevelModel + compute_contrast (1e-8).

Reference: nilearn 0.14 ``FirstLevelModel(...).fit(run, design_matrices=[...])`` and
``compute_contrast(column, output_type="effect_size" | "stat")``, the documented way to get a beta or t map
of one design column; designs built independently with ``make_first_level_design_matrix``.
"""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.data import validate
from neuroalign.errors import AlignmentError, ConfigError, DataError, SchemaError, UnknownNameError
from neuroalign.loaders.glm import GLMResult, estimate_patterns

nilearn_glm = pytest.importorskip("nilearn.glm.first_level")
from nilearn.glm.first_level import FirstLevelModel, make_first_level_design_matrix  # noqa: E402
from nilearn.masking import apply_mask  # noqa: E402

AFFINE = np.array([[-3.0, 0, 0, 90], [0, 3.0, 0, -126], [0, 0, 3.0, -72], [0, 0, 0, 1]])
TR = 2.0


def make_run(path, seed, n=60, shape=(4, 3, 3), tr=TR, affine=AFFINE):
    rng = np.random.default_rng(seed)
    data = 100 + 5 * rng.normal(size=(*shape, n)) + np.cumsum(rng.normal(size=(*shape, n)), axis=-1) * 0.3
    img = nib.Nifti1Image(data.astype(np.float32), affine)
    img.header.set_zooms((3.0, 3.0, 3.0, tr))
    nib.save(img, path)
    return path


def make_events(path, onsets, stimuli, duration=1.0):
    pd.DataFrame({"onset": onsets, "duration": duration, "trial_type": [s[0] for s in stimuli],
                  "stim_file": stimuli}).to_csv(path, sep="\t", index=False)
    return path


@pytest.fixture
def study(tmp_path):
    runs = [make_run(tmp_path / f"sub-01_ses-a_task-x_run-{r}_bold.nii.gz", seed=r) for r in (1, 2)]
    events = [make_events(tmp_path / "sub-01_ses-a_task-x_run-1_events.tsv", [4, 22, 40, 58, 80, 100],
                          ["a1", "b1", "a2", "b2", "a1", "b1"]),
              make_events(tmp_path / "sub-01_ses-a_task-x_run-2_events.tsv", [6, 30, 52, 76, 95],
                          ["b2", "a1", "a2", "b1", "a1"])]
    rng = np.random.default_rng(9)
    confounds = []
    for r in (1, 2):
        table = pd.DataFrame(rng.normal(size=(60, 7)), columns=["trans_x", "trans_y", "trans_z", "rot_x", "rot_y",
                                                                "rot_z", "csf"])
        table["framewise_displacement"] = np.r_[np.nan, np.abs(rng.normal(size=59))]
        path = tmp_path / f"sub-01_ses-a_task-x_run-{r}_desc-confounds_timeseries.tsv"
        table.to_csv(path, sep="\t", index=False, na_rep="n/a")
        confounds.append(path)
    mask = np.zeros((4, 3, 3), np.uint8)
    mask[1:, :, 1:] = 1
    mask_path = tmp_path / "mask.nii.gz"
    nib.save(nib.Nifti1Image(mask, AFFINE), mask_path)
    return runs, events, confounds, mask_path


def nilearn_reference(run, events, tr, mask, *, confounds=None, noise_model="ar1", hrf_model="glover",
                      statistic="beta", per="trial", slice_time_ref=0.0, stimulus_column="stim_file"):
    """Per-trial (or per-stimulus) effect sizes or t maps the documented nilearn way; rows in onset order."""
    ev = pd.read_csv(events, sep="\t").sort_values("onset", kind="stable").reset_index(drop=True)
    if per == "trial":
        names = [f"reg{k}" for k in range(len(ev))]
    else:
        order = list(dict.fromkeys(ev[stimulus_column]))
        names = [f"reg{order.index(s)}" for s in ev[stimulus_column]]
    n = nib.load(run).shape[3]
    times = np.linspace(slice_time_ref * tr, (n - 1 + slice_time_ref) * tr, n)
    add = None
    if confounds is not None:
        add = pd.read_csv(confounds, sep="\t")[["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "csf"]]
    design = make_first_level_design_matrix(times, pd.DataFrame({"onset": ev["onset"], "duration": ev["duration"],
                                                                 "trial_type": names}),
                                            hrf_model=hrf_model, add_regs=add)
    model = FirstLevelModel(t_r=tr, mask_img=mask, noise_model=noise_model, hrf_model=hrf_model,
                            slice_time_ref=slice_time_ref, minimize_memory=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(run, design_matrices=[design])
        out = [apply_mask(model.compute_contrast(name, output_type="effect_size" if statistic == "beta" else "stat"),
                          mask) for name in dict.fromkeys(names)]
    return np.stack(out), model, design


@pytest.mark.parametrize("statistic", ["beta", "t"])
@pytest.mark.parametrize("noise_model", ["ar1", "ols"])
def test_lsa_equals_nilearn_with_fmriprep_confounds(study, statistic, noise_model):
    runs, events, confounds, mask = study
    result = estimate_patterns(runs, events, confounds=confounds, mask=mask, statistic=statistic,
                               noise_model=noise_model, stimulus_column="stim_file", progress=False)
    assert isinstance(result, GLMResult)
    p = result.patterns
    for r, run_id in enumerate((1, 2)):
        expected, model, design = nilearn_reference(runs[r], events[r], TR, mask, confounds=confounds[r],
                                                    noise_model=noise_model, statistic=statistic)
        got = p.where(p.run == run_id, drop=True).values
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-8)
        pd.testing.assert_frame_equal(result.design_matrices[run_id].reset_index(drop=True),
                                      design.reset_index(drop=True).set_axis(result.design_matrices[run_id].columns,
                                                                             axis=1), atol=1e-12)
        assert result.dof[run_id] == model.results_[0][next(iter(model.results_[0]))].df_residuals == 60 - \
            design.shape[1]
        if noise_model == "ols":  # nilearn's residuals: Y - X theta
            resid = apply_mask(model.residuals_[0], mask)
            np.testing.assert_allclose(result.residuals.where(result.residuals.run == run_id, drop=True).values,
                                       resid, atol=1e-8)


def test_coords_attrs_and_validation(study):
    runs, events, confounds, mask = study
    result = estimate_patterns(runs, events, mask=mask, stimulus_column="stim_file", progress=False)
    p = validate(result.patterns)
    assert p.stimulus_id.values.tolist() == ["a1", "b1", "a2", "b2", "a1", "b1", "b2", "a1", "a2", "b1", "a1"]
    assert p.repetition.values.tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 1, 2, 3]
    assert p.run.values.tolist() == [1] * 6 + [2] * 5 and set(p.session.values) == {"a"}
    assert p.trial.values.tolist() == list(range(6)) + list(range(5))
    assert p.trial_type.values.tolist()[:2] == ["a", "b"] and p.onset.values[1] == 22.0
    assert p.sizes["neuroid"] == 3 * 3 * 2
    assert p.neuroid_id.values[0] == "v1_0_1" and p.x.values[0] == -3.0 * 1 + 90
    assert p.attrs["grid_shape"] == [4, 3, 3] and np.allclose(np.reshape(p.attrs["affine"], (4, 4)), AFFINE)
    assert p.attrs["statistic"] == "beta" and p.attrs["estimator"] == "lsa"
    assert p.attrs["parameters"]["noise_model"] == "ar1" and len(p.attrs["input_hashes"]) == 4
    r = validate(result.residuals, dims=("time", "neuroid"))
    assert r.sizes["time"] == 120 and r.run.values.tolist() == [1] * 60 + [2] * 60
    assert (r.neuroid_id.values == p.neuroid_id.values).all()


def test_per_stimulus_and_spm_hrf_with_derivative_equal_nilearn(study):
    runs, events, _, mask = study
    result = estimate_patterns(runs[0], events[0], mask=mask, per="stimulus", hrf_model="spm + derivative",
                               slice_time_ref=0.5, stimulus_column="stim_file", progress=False)
    expected, _, _ = nilearn_reference(runs[0], events[0], TR, mask, per="stimulus", hrf_model="spm + derivative",
                                       slice_time_ref=0.5)
    np.testing.assert_allclose(result.patterns.values, expected, atol=1e-8)
    assert result.patterns.stimulus_id.values.tolist() == ["a1", "b1", "a2", "b2"]
    assert result.patterns.trial.values.tolist() == [0, 1, 2, 3]


def test_nitime_run_with_made_up_events_equals_nilearn(tmp_path, shared_data):
    tr = 1.35
    nitime = str(shared_data / "nitime" / "fmri1.nii.gz")
    ev = make_events(tmp_path / "events.tsv", [1.0, 9.5, 18.0, 27.0, 36.0, 45.0], list("abcabc"))
    img = nib.load(nitime)
    data = np.asarray(img.dataobj)
    mask = (data.std(axis=3) > 0) & (data.mean(axis=3) > np.percentile(data.mean(axis=3), 60))
    mask_path = tmp_path / "mask.nii.gz"
    nib.save(nib.Nifti1Image(mask.astype(np.uint8), img.affine), mask_path)
    for statistic in ("beta", "t"):
        result = estimate_patterns(nitime, ev, mask=mask_path, t_r=tr, statistic=statistic, progress=False)
        expected, _, _ = nilearn_reference(nitime, ev, tr, mask_path, statistic=statistic)
        assert result.patterns.shape == (6, mask.sum())
        np.testing.assert_allclose(result.patterns.values, expected, rtol=0, atol=1e-8)
    # whole brain: every voxel with non-zero variance
    whole = estimate_patterns(nitime, ev, t_r=tr, progress=False)
    assert whole.patterns.sizes["neuroid"] == int((data.std(axis=3) > 0).sum())


def test_a_trial_before_the_run_within_min_onset_equals_nilearn(tmp_path, shared_data):
    """nilearn keeps trials that start up to ``min_onset`` (-24 s) before the first volume: so do we."""
    tr = 1.35
    nitime = str(shared_data / "nitime" / "fmri1.nii.gz")
    ev = make_events(tmp_path / "events.tsv", [-6.0, 9.5, 18.0, 27.0, 36.0, 45.0], list("abcabc"))
    img = nib.load(nitime)
    data = np.asarray(img.dataobj)
    mask = (data.std(axis=3) > 0) & (data.mean(axis=3) > np.percentile(data.mean(axis=3), 60))
    mask_path = tmp_path / "mask.nii.gz"
    nib.save(nib.Nifti1Image(mask.astype(np.uint8), img.affine), mask_path)
    result = estimate_patterns(nitime, ev, mask=mask_path, t_r=tr, progress=False)
    expected, _, _ = nilearn_reference(nitime, ev, tr, mask_path, statistic="beta")
    np.testing.assert_allclose(result.patterns.values, expected, rtol=0, atol=1e-8)
    with pytest.raises(DataError, match=r"outside the run \[-5, "):
        estimate_patterns(nitime, ev, mask=mask_path, t_r=tr, min_onset=-5, progress=False)


def test_atlas_region_selects_voxels(study, tmp_path):
    runs, events, _, _ = study
    atlas = np.zeros((4, 3, 3), np.int16)
    atlas[0] = 3
    atlas[2:, 1] = 5
    path = tmp_path / "atlas.nii.gz"
    nib.save(nib.Nifti1Image(atlas, AFFINE), path)
    result = estimate_patterns(runs[0], events[0], atlas=path, region="FFA", labels={3: "V1", 5: "FFA"},
                               stimulus_column="stim_file", progress=False)
    assert result.patterns.sizes["neuroid"] == 6 and set(result.patterns.region.values) == {"FFA"}


def test_errors_name_the_file_and_the_fix(study, tmp_path):
    runs, events, _, mask = study
    late = make_events(tmp_path / "late_events.tsv", [4, 130], ["a1", "b1"])
    with pytest.raises(DataError, match="outside the run") as info:
        estimate_patterns(runs[0], late, mask=mask, progress=False)
    assert info.value.source == str(late)
    bad = tmp_path / "bad_events.tsv"
    pd.DataFrame({"onset": [1.0], "trial_type": ["a"]}).to_csv(bad, sep="\t", index=False)
    with pytest.raises(SchemaError, match="no 'duration' column"):
        estimate_patterns(runs[0], bad, mask=mask, progress=False)
    moved = make_run(tmp_path / "moved.nii.gz", 3, affine=AFFINE + np.diag([0, 0, 0, 0.0]) + np.eye(4) * 0.5)
    with pytest.raises(AlignmentError, match="grid"):
        estimate_patterns([runs[0], moved], events, mask=mask, progress=False)
    slow = make_run(tmp_path / "slow.nii.gz", 4, tr=2.5)
    with pytest.raises(AlignmentError, match="repetition time 2.5"):
        estimate_patterns([runs[0], slow], events, mask=mask, progress=False)
    other = tmp_path / "other_mask.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((4, 3, 4), np.uint8), AFFINE), other)
    with pytest.raises(AlignmentError, match="mask grid"):
        estimate_patterns(runs[0], events[0], mask=other, progress=False)
    twins = make_events(tmp_path / "twin_events.tsv", [4, 20, 20, 40], ["a1", "b1", "b2", "a2"])
    with pytest.raises(DataError, match=r"rank-deficient .*\['b1@20s', 'b2@20s'\]"):
        estimate_patterns(runs[0], twins, mask=mask, stimulus_column="stim_file", progress=False)
    with pytest.raises(UnknownNameError):
        estimate_patterns(runs[0], events[0], estimator="lsq", progress=False)
    with pytest.raises(AlignmentError, match="events file is for run 2, the run is run 1"):
        estimate_patterns(runs, events[::-1], mask=mask, progress=False)
    with pytest.raises(ConfigError, match="one pattern per trial"):
        estimate_patterns(runs[0], events[0], estimator="lss-1", per="stimulus", progress=False)
    img = nib.load(runs[0])
    data = np.asarray(img.dataobj, dtype=float)
    data[2, 1, 1, 7] = np.nan
    with pytest.raises(DataError, match="1 selected voxel.* NaN"):  # nilearn would make it 0
        estimate_patterns(nib.Nifti1Image(data, AFFINE), events[0], mask=mask, t_r=TR, progress=False)
    data[2, 1, 1] = 5.0
    with pytest.raises(DataError, match="1 selected voxel.* constant"):
        estimate_patterns(nib.Nifti1Image(data, AFFINE), events[0], mask=mask, t_r=TR, progress=False)


@settings(max_examples=6, deadline=None)
@given(st.floats(0.1, 50.0), st.permutations(range(6)))
def test_betas_invariant_to_data_scale_and_event_row_order(tmp_path_factory, scale, order):
    """Property: percent-signal-change betas do not change when the data are scaled by c > 0, nor when the
    events table's rows are shuffled."""
    tmp = tmp_path_factory.mktemp("prop")
    run = make_run(tmp / "run.nii.gz", 0, n=50)
    ev = pd.DataFrame({"onset": [3.0, 18, 33, 48, 63, 80], "duration": 1.0, "trial_type": list("abcabc")})
    img = nib.load(run)
    data = np.asarray(img.dataobj, dtype=float)
    base = estimate_patterns(nib.Nifti1Image(data, img.affine), ev, t_r=TR, progress=False).patterns
    scaled = nib.Nifti1Image(data * scale, img.affine)
    other = estimate_patterns(scaled, ev.iloc[list(order)], t_r=TR, progress=False).patterns
    np.testing.assert_allclose(other.values, base.values, atol=1e-8)
    assert other.stimulus_id.values.tolist() == base.stimulus_id.values.tolist()


@pytest.mark.parametrize("variant", ["lss-1", "lss-n"])
def test_lss_front_door_equals_nilearns_per_trial_loop(study, variant):
    """estimator='lss-1'/'lss-n' through estimate_patterns equals nilearn's documented LSS loop (one
    FirstLevelModel per trial: the trial, the other trials as one regressor or one per trial type)."""
    pytest.importorskip("neuroalign.loaders.glm_lss")
    runs, events, confounds, mask = study
    result = estimate_patterns(runs[0], events[0], confounds=confounds[0], mask=mask, estimator=variant,
                               stimulus_column="stim_file", progress=False)
    ev = pd.read_csv(events[0], sep="\t").sort_values("onset", kind="stable").reset_index(drop=True)
    add = pd.read_csv(confounds[0], sep="\t")[["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "csf"]]
    times = np.arange(60) * TR
    expected = []
    for i in range(len(ev)):
        types = ev["trial_type"].to_numpy(object).copy()
        types = np.where(np.arange(len(ev)) == i, "target", "other" if variant == "lss-1" else types)
        design = make_first_level_design_matrix(times, ev[["onset", "duration"]].assign(trial_type=types),
                                                add_regs=add)
        model = FirstLevelModel(mask_img=mask, minimize_memory=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(runs[0], design_matrices=[design])
            expected.append(apply_mask(model.compute_contrast("target", output_type="effect_size"), mask))
    np.testing.assert_allclose(result.patterns.values, np.stack(expected), rtol=0, atol=1e-8)
    assert result.patterns.attrs["estimator"] == variant
    assert result.residuals.sizes["time"] == 60 and result.dof[1] > 0
    assert result.design_matrices[1].columns[:2].tolist() == ["a", "b"]
