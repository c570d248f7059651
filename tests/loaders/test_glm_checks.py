"""The LSA and LSS paths check their voxels and their designs with one implementation each, with the same errors.

Voxels: :mod:`neuroalign.loaders.glm_voxels` (finite, not constant: by the range, since numpy's standard deviation of
a constant series is often rounding noise > 0).  Designs: :func:`neuroalign.loaders.glm_design.check_full_rank`
(QR with column pivoting, the dependent columns named), on each LSA design and on every LSS model.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.errors import DataError
from neuroalign.loaders.glm import estimate_patterns
from neuroalign.loaders.glm_design import check_full_rank
from neuroalign.loaders.glm_lss import lss_estimates
from neuroalign.loaders.glm_voxels import check_voxels, usable_voxels

pytest.importorskip("nilearn")

T_R = 2.0
EVENTS = pd.DataFrame({"onset": [4.0, 24.0, 44.0, 64.0], "duration": 1.0, "trial_type": ["a", "b", "a", "b"]})


def _run(tmp_path, data):
    img = nib.Nifti1Image(data.astype(np.float64), np.eye(4))
    img.header.set_zooms((1.0, 1.0, 1.0, T_R))
    img.header.set_xyzt_units("mm", "sec")
    nib.save(img, tmp_path / "run.nii.gz")
    return tmp_path / "run.nii.gz"


def _data(seed=0, n=60):
    return 100 + np.random.default_rng(seed).normal(size=(2, 2, 1, n))


@pytest.mark.parametrize("value, problem", [(np.nan, "1 selected voxel(s) have NaN or inf values (first: voxel 2)"),
                                            (np.inf, "1 selected voxel(s) have NaN or inf values (first: voxel 2)"),
                                            ("constant", "1 selected voxel(s) are constant over the run (first: "
                                                         "voxel 2)")])
def test_lsa_and_lss_refuse_bad_voxels_with_one_error(tmp_path, value, problem):
    data = _data()
    if value == "constant":
        data[1, 0, 0] = 0.1   # numpy's std of this series is 1.4e-17, not 0: the range tells
    else:
        data[1, 0, 0, 5] = value
    mask = nib.Nifti1Image(np.ones((2, 2, 1), np.uint8), np.eye(4))
    errors = []
    for estimator in ("lsa", "lss-1"):
        with pytest.raises(DataError) as info:
            estimate_patterns(_run(tmp_path, data), EVENTS, mask=mask, estimator=estimator, progress=False)
        errors.append(info.value)
    with pytest.raises(DataError) as info:  # LSS on a (time, voxel) array: the same check
        lss_estimates(data.reshape(4, -1).T, EVENTS, {"t_r": T_R})
    errors.append(info.value)
    assert all(e.problem.startswith(problem) for e in errors) and len({e.problem for e in errors}) == 1
    assert errors[0].fix == errors[1].fix == errors[2].fix
    assert errors[0].source == errors[1].source == str(tmp_path / "run.nii.gz") and errors[2].source == "data"


def test_the_whole_brain_leaves_out_constant_voxels_found_by_their_range(tmp_path):
    data = _data()
    data[1, 0, 0] = 0.1
    patterns = estimate_patterns(_run(tmp_path, data), EVENTS, progress=False).patterns
    assert patterns.sizes["neuroid"] == 3 and 2 not in 2 * patterns["voxel_i"].values + patterns["voxel_j"].values


def test_lsa_and_lss_name_collinear_confounds_with_one_error(tmp_path):
    rng = np.random.default_rng(1)
    confounds = pd.DataFrame({"wm": rng.normal(size=60), "csf": rng.normal(size=60)})
    confounds["wm_copy"] = 2 * confounds["wm"]
    problems = []
    for estimator in ("lsa", "lss-1", "lss-n"):
        with pytest.raises(DataError) as info:
            estimate_patterns(_run(tmp_path, _data()), EVENTS, confounds=confounds, estimator=estimator,
                              noise_model="ols", progress=False)
        problems.append(info.value.problem)
        assert "fMRIPrep's cosine regressors" in info.value.fix and "trials at the same onset" in info.value.fix
    for problem in problems:  # the design's confound columns carry the table's column names
        assert ("is rank-deficient (rank" in problem
                and "['confound_wm', 'confound_wm_copy'] are linearly dependent" in problem), problem
    with pytest.raises(DataError, match=r"\['confound_0', 'confound_2'\] are linearly dependent"):  # an array
        estimate_patterns(_run(tmp_path, _data()), EVENTS, confounds=confounds.to_numpy(), estimator="lsa",
                          noise_model="ols", progress=False)
    with pytest.raises(DataError, match=r"\['wm', 'wm_copy'\] are linearly dependent"):
        lss_estimates(_data().reshape(4, -1).T, EVENTS, {"t_r": T_R}, confounds=confounds)


def test_an_lss_model_names_its_collinear_columns():
    # trials 0 and 1 at the same onset: trial 0's regressor equals the other-trials regressor of its model
    events = pd.DataFrame({"onset": [10.0, 10.0, 40.0], "duration": 1.0, "trial_type": "a"})
    y = np.random.default_rng(2).normal(size=(50, 2))
    with pytest.raises(DataError) as info:
        lss_estimates(y, events.iloc[[0, 1]], {"t_r": T_R})
    assert info.value.source == "events"
    assert info.value.problem.startswith("the LSS design of trial a__000 is rank-deficient (rank")
    assert "['a__000', 'other_trials'] are linearly dependent" in info.value.problem
    # with a third trial the models are of full rank: nothing refused
    assert lss_estimates(y, events, {"t_r": T_R}).betas.shape == (3, 2)


def test_check_full_rank_takes_a_frame_or_an_array_with_names():
    x = np.random.default_rng(3).normal(size=(20, 2))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 0] - x[:, 1]})
    messages = []
    for design, names in ((frame, None), (frame.to_numpy(), ["a", "b", "c"])):
        with pytest.raises(DataError) as info:
            check_full_rank(design, names=names)
        messages.append(str(info.value))
    assert messages[0] == messages[1] and "['a', 'b', 'c'] are linearly dependent" in messages[0]
    check_full_rank(frame[["a", "b"]])


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.floats(-1e3, 1e3).filter(lambda v: abs(v) > 1e-3), st.floats(-1e3, 1e3))
def test_usable_voxels_invariant_to_affine_maps_and_time_order(seed, scale, shift):
    """Property: a voxel's usability does not change with a x + b (a != 0) or a permutation of time."""
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(6, 8))
    data[1] = 3.0
    data[2, 4] = np.nan
    data[3, :] = data[3, 0]
    usable = usable_voxels(data)
    assert usable.tolist() == [True, False, False, False, True, True]
    assert usable_voxels(scale * data + shift).tolist() == usable.tolist()
    assert usable_voxels(data[:, rng.permutation(8)]).tolist() == usable.tolist()
    assert usable_voxels(data.T, axis=0).tolist() == usable.tolist()
    with pytest.raises(DataError):
        check_voxels(data, "x")
    check_voxels(data[usable], "x")
