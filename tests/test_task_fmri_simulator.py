"""The synthetic task-fMRI study: real BIDS-like files, the design asked for, the planted signal where it should be.

End to end through the public GLM (:func:`neuroalign.loaders.glm.estimate_patterns`): the LSA betas
estimate the stored true patterns in their units, and RSA of each ReferenceNet layer ranks the planted
layer first in the planted region and finds nothing in its mirror; a searchlight map of the planted
layer (:mod:`neuroalign.compare.rsa.searchlight`) peaks inside the planted region.

The planted signal is checked against an independent reconstruction: nilearn's
``make_first_level_design_matrix`` (the design a nilearn GLM fits) built from
the written events TSVs, times the true patterns; the noise against the closed
form of a stationary AR(1) process (variance σ², lag-1 autocorrelation φ).
"""

import doctest
import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nilearn.glm.first_level import make_first_level_design_matrix
from nilearn.signal import clean
from scipy.ndimage import distance_transform_edt

from neuroalign.compare import compute_rdm, rsa
from neuroalign.compare.rsa.searchlight import searchlight_compare, searchlight_rdms
from neuroalign.compare.common.searchlight_grid import searchlight_spheres
from neuroalign.data import validate
from neuroalign.datasets import task_fmri
from neuroalign.datasets.task_fmri import DESIGNS, make_events, make_task_fmri_study
from neuroalign.errors import ConfigError, UnknownNameError
from neuroalign.extract import extract
from neuroalign.loaders.events import check_events_in_run, read_events
from neuroalign.loaders.glm import estimate_patterns
from neuroalign.models import REFERENCE_LAYERS


@pytest.fixture(scope="module")
def slow(tmp_path_factory):
    return make_task_fmri_study(tmp_path_factory.mktemp("slow") / "study", design="slow", seed=0)


@pytest.fixture(scope="module")
def rapid(tmp_path_factory):
    return make_task_fmri_study(tmp_path_factory.mktemp("rapid") / "study", design="rapid", seed=0)


def _design(study, run):
    """(time, stimulus) nilearn design of one run, from the written files, columns in study.stimulus_ids order."""
    events = pd.read_csv(study.events[run], sep="\t")
    n_volumes = nib.load(study.bold[run]).shape[3]
    frame_times = np.arange(n_volumes) * study.repetition_time
    design = make_first_level_design_matrix(frame_times, events[["onset", "duration", "trial_type"]],
                                            hrf_model="glover", drift_model=None)
    return design[list(study.stimulus_ids)].to_numpy()


def test_files_are_real_nifti_and_bids_tables(slow):
    assert len(slow.bold) == len(slow.events) == 4
    for run, (bold, events) in enumerate(zip(slow.bold, slow.events)):
        assert bold.name == f"sub-01_task-stim_run-{run + 1}_bold.nii.gz" and bold.parent.name == "func"
        img = nib.load(bold)
        assert img.ndim == 4 and img.shape[:3] == (16, 16, 10) and img.get_data_dtype() == np.float32
        assert img.header.get_zooms() == (3.0, 3.0, 3.0, 2.0)
        assert img.header.get_xyzt_units() == ("mm", "sec")
        np.testing.assert_allclose(img.affine, slow.affine)
        assert int(img.header["sform_code"]) == 4  # MNI152
        table = pd.read_csv(events, sep="\t")
        assert list(table.columns) == ["onset", "duration", "trial_type", "stimulus_id"]
        assert (table["trial_type"] == table["stimulus_id"]).all()
        sidecar = json.loads(bold.with_name(bold.name.replace(".nii.gz", ".json")).read_text())
        assert sidecar == {"RepetitionTime": 2.0, "TaskName": "stim"}
        # the project's own events reader accepts the tables, and every event lies inside its run
        read = read_events(events)
        check_events_in_run(read, img.shape[3], 2.0, source=str(events))
    description = json.loads((slow.root / "dataset_description.json").read_text())
    assert description["BIDSVersion"] and description["DatasetType"] == "raw"
    assert pd.read_csv(slow.root / "participants.tsv", sep="\t")["participant_id"].tolist() == ["sub-01"]


def test_masks_are_nifti_on_the_bold_grid(slow):
    brain, roi, mirror = (np.asarray(nib.load(p).dataobj) != 0 for p in (slow.brain_mask, slow.roi_mask,
                                                                         slow.mirror_mask))
    for path in (slow.brain_mask, slow.roi_mask, slow.mirror_mask):
        np.testing.assert_allclose(nib.load(path).affine, slow.affine)
    np.testing.assert_array_equal(roi, slow.roi)
    assert 100 <= roi.sum() <= 200 and not (roi & ~brain).any() and not (mirror & ~brain).any()
    np.testing.assert_array_equal(mirror, roi[::-1])
    assert np.argwhere(roi)[:, 0].min() > 7.5 > np.argwhere(mirror)[:, 0].max()  # right vs left hemisphere
    data = nib.load(slow.bold[0]).get_fdata()
    assert (data[~brain] == 0).all() and (data[brain].std(axis=1) > 0).all()
    # MNI-like: RAS axes, 3 mm voxels, the grid centred on the origin
    centre = slow.affine @ np.r_[(np.array(roi.shape) - 1) / 2, 1.0]
    np.testing.assert_allclose(centre[:3], 0.0, atol=1e-12)


def test_true_patterns_follow_the_data_model(slow):
    validate(slow.patterns)
    assert slow.patterns.sizes == {"presentation": 40, "neuroid": int(slow.roi.sum())}
    assert slow.patterns["stimulus_id"].values.tolist() == list(slow.stimulus_ids)
    ijk = np.stack([slow.patterns[c].values for c in ("voxel_i", "voxel_j", "voxel_k")], axis=1)
    np.testing.assert_array_equal(ijk, np.argwhere(slow.roi))  # C order of the mask
    world = ijk @ slow.affine[:3, :3].T + slow.affine[:3, 3]
    np.testing.assert_allclose(np.stack([slow.patterns[c].values for c in "xyz"], axis=1), world)
    assert set(slow.patterns["region"].values.tolist()) == {"planted"}
    # snr: RMS across-stimulus sd of the peak responses over the noise sd
    peak_sd = np.sqrt((slow.patterns.values * slow.hrf_peak).var(axis=0).mean())
    assert peak_sd == pytest.approx(slow.params["snr"] * slow.params["noise_sd"])


def test_hrf_peak_is_the_peak_of_one_event_in_a_nilearn_design(slow):
    frame_times = np.arange(0, 32, 0.1)  # nilearn convolves on a 50 times finer grid: every 2 ms
    events = pd.DataFrame({"onset": [0.0], "duration": [1.0], "trial_type": ["a"]})
    design = make_first_level_design_matrix(frame_times, events, hrf_model="glover", drift_model=None)
    assert slow.hrf_peak == pytest.approx(design["a"].max(), rel=1e-3)


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    kwargs = dict(design="rapid", n_stimuli=8, n_runs=2)
    a = make_task_fmri_study(tmp_path / "a", seed=3, **kwargs)
    b = make_task_fmri_study(tmp_path / "b", seed=3, **kwargs)
    c = make_task_fmri_study(tmp_path / "c", seed=4, **kwargs)
    for run in range(2):
        np.testing.assert_array_equal(nib.load(a.bold[run]).get_fdata(), nib.load(b.bold[run]).get_fdata())
        assert a.events[run].read_text() == b.events[run].read_text()
        assert a.events[run].read_text() != c.events[run].read_text()
        assert not np.array_equal(nib.load(a.bold[run]).get_fdata(), nib.load(c.bold[run]).get_fdata())
    np.testing.assert_array_equal(a.patterns.values, b.patterns.values)
    assert a.params == b.params


@pytest.mark.parametrize("which", ["slow", "rapid"])
def test_design_is_what_was_asked(which, request):
    study = request.getfixturevalue(which)
    low, high = DESIGNS[which]
    orders = []
    for run, path in enumerate(study.events):
        table = pd.read_csv(path, sep="\t")
        gaps = np.diff(table["onset"].to_numpy())
        assert (gaps >= low - 1e-3).all() and (gaps <= high + 1e-3).all()
        assert gaps.std() > 0.2  # jittered
        assert sorted(table["stimulus_id"]) == sorted(study.stimulus_ids)  # every stimulus once per run
        orders.append(table["stimulus_id"].tolist())
        n_volumes = nib.load(study.bold[run]).shape[3]
        assert n_volumes * 2.0 >= table["onset"].iloc[-1] + 1.0 + 20.0  # the last response returns to baseline
    assert len({tuple(o) for o in orders}) == len(orders)  # a new order each run


@settings(max_examples=30, deadline=None)
@given(n_stimuli=st.integers(2, 30), n_runs=st.integers(1, 4), design=st.sampled_from(sorted(DESIGNS)),
       seed=st.integers(0, 2**32 - 1), lead_in=st.floats(0, 20))
def test_events_property_every_stimulus_once_per_run_within_the_intervals(n_stimuli, n_runs, design, seed, lead_in):
    ids = [f"s{i}" for i in range(n_stimuli)]
    runs = make_events(ids, n_runs, design=design, lead_in=lead_in, random_state=seed)
    assert len(runs) == n_runs
    low, high = DESIGNS[design]
    for table in runs:
        assert sorted(table["stimulus_id"]) == sorted(ids)
        assert table["onset"].iloc[0] == pytest.approx(lead_in, abs=1e-3)
        gaps = np.diff(table["onset"].to_numpy())
        assert ((gaps >= low - 1e-3) & (gaps <= high + 1e-3)).all()
    again = make_events(ids, n_runs, design=design, lead_in=lead_in, random_state=seed)
    for x, y in zip(runs, again):
        pd.testing.assert_frame_equal(x, y)


def test_bold_is_baseline_plus_convolved_patterns_plus_ar1_noise(tmp_path):
    # Without drift, BOLD - baseline - (nilearn design @ true betas) must be the AR(1) noise everywhere:
    # the same variance inside the planted region (snr 5: any signal left over would show) as outside.
    study = make_task_fmri_study(tmp_path / "s", design="rapid", snr=5.0, drift_sd=0.0, n_runs=3, seed=1,
                                 ar_coefficient=0.35, noise_sd=1.5)
    brain = np.asarray(nib.load(study.brain_mask).dataobj) != 0
    inside, outside, lag1, lag0 = [], [], 0.0, 0.0
    for run in range(3):
        data = nib.load(study.bold[run]).get_fdata()
        residual = data[brain].T - 100.0
        rows = np.searchsorted(np.flatnonzero(brain.ravel()), np.flatnonzero(study.roi.ravel()))
        signal = _design(study, run) @ study.patterns.values
        assert signal.std() > 3.0
        residual[:, rows] -= signal
        in_roi = np.zeros(residual.shape[1], bool)
        in_roi[rows] = True
        inside.append(residual[:, in_roi])
        outside.append(residual[:, ~in_roi])
        lag1 += (residual[1:] * residual[:-1]).sum()
        lag0 += (residual**2).sum() * (len(residual) - 1) / len(residual)
    inside, outside = np.concatenate(inside), np.concatenate(outside)
    assert inside.std() == pytest.approx(1.5, rel=0.04)
    assert outside.std() == pytest.approx(1.5, rel=0.03)
    assert abs(inside.mean()) < 0.05 and abs(outside.mean()) < 0.05
    assert lag1 / lag0 == pytest.approx(0.35, abs=0.02)


def _cleaned(x):
    return clean(x, detrend=True, high_pass=1 / 128, t_r=2.0, standardize=None)


def test_planted_signal_is_in_the_roi_and_nowhere_else(slow):
    # After nilearn's detrending and high-pass, each planted voxel's BOLD correlates with its true
    # HRF-convolved signal; voxels outside the region do not correlate with the region's signal.
    brain = np.asarray(nib.load(slow.brain_mask).dataobj) != 0
    inside, outside = [], []
    for run in range(len(slow.bold)):
        data = nib.load(slow.bold[run]).get_fdata()
        expected = _cleaned(_design(slow, run) @ slow.patterns.values)
        planted = _cleaned(data[slow.roi].T)
        inside += [np.corrcoef(planted[:, v], expected[:, v])[0, 1] for v in range(planted.shape[1])]
        others = _cleaned(data[brain & ~slow.roi].T)
        region_signal = expected.mean(axis=1)
        outside += [np.corrcoef(others[:, v], region_signal)[0, 1] for v in range(others.shape[1])]
    inside, outside = np.array(inside), np.array(outside)
    assert np.median(inside) > 0.4 and (inside > 0).mean() > 0.95
    assert abs(outside.mean()) < 0.02 and np.quantile(np.abs(outside), 0.99) < 0.3


def test_second_layer_goes_to_the_mirror_region(tmp_path):
    study = make_task_fmri_study(tmp_path / "s", design="rapid", n_stimuli=10, n_runs=1, second_layer="block1")
    regions = study.patterns["region"].values
    assert (regions == "planted").sum() == (regions == "mirror").sum() == int(study.roi.sum())
    mirror = study.patterns.sel(neuroid=regions == "mirror")
    peak_sd = np.sqrt((mirror.values * study.hrf_peak).var(axis=0).mean())
    assert peak_sd == pytest.approx(0.5)  # second_snr
    ijk = np.stack([mirror[c].values for c in ("voxel_i", "voxel_j", "voxel_k")], axis=1)
    np.testing.assert_array_equal(ijk, np.argwhere(study.roi[::-1]))


@pytest.mark.parametrize("kwargs, source", [
    (dict(planted_layer="block9"), "planted_layer"),
    (dict(second_layer="fc7"), "second_layer"),
    (dict(design="fast"), "design"),
    (dict(n_stimuli=1), "n_stimuli"),
    (dict(n_runs=0), "n_runs"),
    (dict(isi=(3.0, 2.0)), "isi"),
    (dict(duration=9.0), "duration"),
    (dict(ar_coefficient=1.0), "ar_coefficient"),
    (dict(noise_sd=0.0), "noise_sd"),
    (dict(snr=float("nan")), "snr"),
    (dict(roi_shape=(9, 9, 9)), "roi_shape"),
    (dict(grid_shape=(16, 16)), "grid_shape"),
])
def test_bad_arguments_raise_named_errors(tmp_path, kwargs, source):
    with pytest.raises(ConfigError) as info:
        make_task_fmri_study(tmp_path / "s", **{"n_stimuli": 4, "n_runs": 1, **kwargs})
    assert info.value.source == source
    if source in ("planted_layer", "second_layer", "design"):
        assert isinstance(info.value, UnknownNameError)


def test_refuses_to_write_into_a_non_empty_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not an empty folder") as info:
        make_task_fmri_study(tmp_path, n_stimuli=4, n_runs=1)
    assert info.value.source == "out_dir" and (tmp_path / "keep.txt").read_text() == "mine"


def test_docstring_examples_run():
    failures, attempted = doctest.testmod(task_fmri, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert attempted > 0 and failures == 0


# ---- end to end through the public GLM: files -> LSA patterns -> RSA per layer --------------------------------


def _lsa(study, mask, **kwargs):
    return estimate_patterns(list(study.bold), list(study.events), mask=mask, progress=False, **kwargs).patterns


def test_glm_betas_estimate_the_true_patterns_in_their_units(slow):
    # nilearn's design with the Glover HRF and the events' durations is the model the data were made with, so
    # without signal scaling the LSA betas (averaged over runs) regress on the true betas with slope 1.
    patterns = _lsa(slow, slow.roi_mask, signal_scaling=False)
    assert patterns["neuroid_id"].values.tolist() == slow.patterns["neuroid_id"].values.tolist()
    mean = patterns.groupby("stimulus_id").mean().sel(stimulus_id=list(slow.stimulus_ids)).values
    truth = slow.patterns.values
    centred_truth, centred_mean = truth - truth.mean(0), mean - mean.mean(0)
    slopes = (centred_truth * centred_mean).sum(0) / (centred_truth**2).sum(0)
    assert np.median(slopes) == pytest.approx(1.0, abs=0.05)
    assert np.mean([np.corrcoef(mean[:, v], truth[:, v])[0, 1] for v in range(truth.shape[1])]) > 0.8


def test_rsa_on_glm_patterns_ranks_the_planted_layer_first_in_the_planted_region_only(slow):
    acts = extract(slow.network, slow.stimuli, list(REFERENCE_LAYERS), progress=False)
    scores = {}
    for region, mask in (("planted", slow.roi_mask), ("mirror", slow.mirror_mask)):
        patterns = _lsa(slow, mask)
        patterns = patterns.assign_coords(subject=("neuroid", ["sub-01"] * patterns.sizes["neuroid"]))
        scores[region] = rsa(acts, patterns, ceiling=None, n_bootstrap=10).values.to_series()
    assert scores["planted"].idxmax() == slow.planted_layer == "block3"
    assert scores["planted"]["block3"] > 0.5
    assert scores["mirror"].abs().max() < 0.15  # noise and drift only: no layer explains it


def test_searchlight_map_of_the_planted_layer_peaks_in_the_planted_region(slow):
    patterns = _lsa(slow, slow.brain_mask)
    rdms = searchlight_rdms(patterns, searchlight_spheres(slow.brain_mask, radius=2))
    model = compute_rdm(extract(slow.network, slow.stimuli, [slow.planted_layer], progress=False))
    values = searchlight_compare(rdms, model).squeeze().values
    ijk = tuple(np.stack([rdms[c].values for c in ("voxel_i", "voxel_j", "voxel_k")]))
    in_roi = slow.roi[ijk]
    far = distance_transform_edt(~slow.roi)[ijk] > 2  # spheres (radius 2) that hold no planted voxel
    assert in_roi[np.argmax(values)] and in_roi.sum() > 10 and far.sum() > 100
    assert values[in_roi].mean() > 0.3
    assert abs(values[far].mean()) < 0.05 and values[far].max() < values.max() / 2
