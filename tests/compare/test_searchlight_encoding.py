"""Searchlight encoding: equal to a per-sphere scikit-learn loop, invariant to stimulus order, finds the planted ROI.

References: scikit-learn's ``Ridge`` / ``RidgeCV(alpha_per_target=True)``, ``KFold``, ``r2_score`` and
scipy's ``pearsonr``, applied sphere by sphere (an independent loop) in the tests.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import pearsonr
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold

from neuroalign.compare.encoding.searchlight import searchlight_encoding
from neuroalign.compare.common.searchlight_grid import searchlight_spheres
from neuroalign.data import create_assembly
from neuroalign.errors import AlignmentError, ConfigError, DataError, UnknownNameError

N_STIMULI = 24


def _mask():
    mask = np.zeros((5, 4, 3), bool)
    mask[:4, :, :] = True
    mask[4, 1:3, 1] = True
    mask[0, 0, 0] = False
    return mask


def _spheres(radius, threshold=1.0):
    return searchlight_spheres(_mask(), radius, threshold=threshold, affine=np.diag([2.0, 2.0, 2.0, 1.0]))


def _data(seed=0, repetitions=2, n_features=6):
    """Patterns (stimuli shuffled, repeated) and features (another order) on the small grid."""
    rng = np.random.default_rng(seed)
    mask = _mask()
    ijk = np.argwhere(mask)
    ids = np.array([f"s{i:02d}" for i in range(N_STIMULI)])
    feats = rng.normal(size=(N_STIMULI, n_features))
    weights = rng.normal(size=(n_features, len(ijk))) * rng.uniform(0, 1, len(ijk))
    rows = np.concatenate([rng.permutation(N_STIMULI) for _ in range(repetitions)])
    values = feats[rows] @ weights + rng.normal(size=(len(rows), len(ijk)))
    patterns = create_assembly(values, stimulus_id=ids[rows].tolist(),
                               neuroid={"voxel_i": ijk[:, 0], "voxel_j": ijk[:, 1], "voxel_k": ijk[:, 2]})
    patterns.attrs.update(affine=[float(v) for v in np.diag([2.0, 2.0, 2.0, 1.0]).ravel()],
                          grid_shape=list(mask.shape))
    order = rng.permutation(N_STIMULI)
    features = create_assembly(feats[order], stimulus_id=ids[order].tolist())
    return patterns, features


def _reference(patterns, features, spheres, splits, make_model, scoring):
    """Per sphere: average repetitions, sort stimuli, fit a scikit-learn model per fold on the sphere's voxels."""
    frame = pd.DataFrame(patterns.values, index=patterns.stimulus_id.values).groupby(level=0).mean().sort_index()
    x = pd.DataFrame(features.values, index=features.stimulus_id.values).loc[frame.index].values
    ijk = np.stack([patterns[c].values for c in ("voxel_i", "voxel_j", "voxel_k")], axis=1)
    column = {tuple(v): n for n, v in enumerate(ijk.tolist())}
    out = []
    for neighbours in spheres.neighbour_lists():
        y = frame.values[:, [column[tuple(v)] for v in spheres.voxels[neighbours].tolist()]]
        per_fold = []
        for train, test in splits:
            predicted = make_model().fit(x[train], y[train]).predict(x[test])
            if scoring == "r2":
                per_fold.append(r2_score(y[test], predicted, multioutput="raw_values"))
            else:
                per_fold.append([pearsonr(predicted[:, v], y[test][:, v])[0] for v in range(y.shape[1])])
        out.append(np.mean(per_fold, axis=0).mean())
    return np.array(out)


@pytest.mark.parametrize("scoring", ["pearson", "r2"])
@pytest.mark.parametrize("radius", [1.5, 2.0])
def test_equals_per_sphere_sklearn_ridge_loop(scoring, radius):
    patterns, features = _data()
    spheres = _spheres(radius, threshold=0.0)
    splits = list(KFold(4, shuffle=True, random_state=0).split(np.zeros(N_STIMULI)))
    ours = searchlight_encoding(patterns, features, spheres, alphas=3.0, cv=splits, scoring=scoring)
    expected = _reference(patterns, features, spheres, splits, lambda: Ridge(alpha=3.0), scoring)
    np.testing.assert_allclose(ours.values, expected, rtol=0, atol=1e-8)
    assert ours.dims == ("neuroid",) and ours.attrs["scoring"] == scoring
    assert ours.sphere_size.values.tolist() == spheres.sizes.tolist()


def test_alpha_grid_equals_per_sphere_ridgecv_per_voxel():
    """Several alphas: each voxel's penalty by leave-one-out on the training fold, as RidgeCV(alpha_per_target)."""
    patterns, features = _data(seed=1)
    spheres = _spheres(1.5)
    alphas = np.logspace(-2, 4, 7)
    splits = list(KFold(3, shuffle=True, random_state=2).split(np.zeros(N_STIMULI)))
    ours = searchlight_encoding(patterns, features, spheres, alphas=alphas, cv=splits)
    expected = _reference(patterns, features, spheres, splits,
                          lambda: RidgeCV(alphas=alphas, alpha_per_target=True), "pearson")
    np.testing.assert_allclose(ours.values, expected, rtol=0, atol=1e-8)


def test_default_folds_are_seeded_and_map_writes_as_nifti():
    from neuroalign.loaders.voxels import to_nifti

    patterns, features = _data()
    spheres = searchlight_spheres(patterns, 1.5)
    a = searchlight_encoding(patterns, features, spheres, n_splits=4, random_state=3)
    b = searchlight_encoding(patterns, features, spheres, n_splits=4, random_state=3)
    c = searchlight_encoding(patterns, features, spheres, n_splits=4, random_state=4)
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.array_equal(a.values, c.values)
    assert a.attrs["n_folds"] == 4 and "features" in a.attrs["input_hashes"] and "neuroalign_version" in a.attrs
    image = to_nifti(a)
    assert image.shape == _mask().shape
    np.testing.assert_allclose(image.affine, np.diag([2.0, 2.0, 2.0, 1.0]))
    centres = spheres.voxels[spheres.centres]
    np.testing.assert_allclose(image.get_fdata()[tuple(centres.T)], a.values)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_map_unchanged_by_consistent_stimulus_and_voxel_permutation(seed):
    patterns, features = _data(seed=5)
    spheres = _spheres(1.5)
    base = searchlight_encoding(patterns, features, spheres, alphas=[0.1, 1.0, 10.0], n_splits=4, random_state=1)
    rng = np.random.default_rng(seed)
    moved = searchlight_encoding(patterns.isel(presentation=rng.permutation(patterns.sizes["presentation"]),
                                               neuroid=rng.permutation(patterns.sizes["neuroid"])),
                                 features.isel(presentation=rng.permutation(N_STIMULI)), spheres,
                                 alphas=[0.1, 1.0, 10.0], n_splits=4, random_state=1)
    np.testing.assert_allclose(moved.values, base.values, rtol=0, atol=1e-10)


def test_errors_name_the_problem():
    patterns, features = _data()
    spheres = _spheres(1.5)
    renamed = features.assign_coords(stimulus_id=("presentation", [f"x{i}" for i in range(N_STIMULI)]))
    with pytest.raises(AlignmentError, match="only in features") as mismatch:
        searchlight_encoding(patterns, renamed, spheres)
    assert "'x0'" in str(mismatch.value) and mismatch.value.source == "patterns/features"
    with pytest.raises(UnknownNameError):
        searchlight_encoding(patterns, features, spheres, scoring="spearman")
    with pytest.raises(ConfigError, match="mapping"):
        searchlight_encoding(patterns, {"block3": features}, spheres)
    with pytest.raises(ConfigError):
        searchlight_encoding(patterns, features, spheres, alphas=[-1.0])
    with pytest.raises(ConfigError):
        searchlight_encoding(patterns, features, "spheres")
    constant = patterns.copy(data=patterns.values.copy())
    constant[:, 0] = 1.0
    with pytest.raises(DataError, match="constant"):
        searchlight_encoding(constant, features, spheres)
    with pytest.raises(AlignmentError):  # a mask voxel missing from the patterns
        searchlight_encoding(patterns.isel(neuroid=slice(1, None)), features, spheres)


def _planted_study_map(out_dir, **study_args):
    """Files -> GLM patterns -> searchlight encoding with the planted layer's features."""
    import nibabel as nib

    from neuroalign.datasets.task_fmri import make_task_fmri_study
    from neuroalign.extract import extract
    from neuroalign.loaders.glm import estimate_patterns

    start = time.perf_counter()
    study = make_task_fmri_study(out_dir, design="slow", seed=0, **study_args)
    patterns = estimate_patterns(list(study.bold), list(study.events), mask=study.brain_mask,
                                 progress=False).patterns
    features = extract(study.network, study.stimuli, [study.planted_layer], progress=False)[study.planted_layer]
    spheres = searchlight_spheres(study.brain_mask, radius=2, threshold=0.5)
    scores = searchlight_encoding(patterns, features, spheres, n_splits=5, random_state=0)
    roi = nib.load(study.roi_mask).get_fdata() > 0
    inside = roi[tuple(scores[c].values for c in ("voxel_i", "voxel_j", "voxel_k"))]
    peak = int(np.argmax(scores.values))
    print(f"spheres {spheres.n_spheres}, peak r {scores.values[peak]:.3f} in ROI {bool(inside[peak])}, "
          f"mean r in ROI {scores.values[inside].mean():.3f} outside {scores.values[~inside].mean():.3f}, "
          f"{time.perf_counter() - start:.1f} s")
    return scores, inside, peak


def test_small_synthetic_study_map_peaks_in_planted_roi(tmp_path):
    scores, inside, peak = _planted_study_map(tmp_path / "study", n_stimuli=24, n_runs=2)
    assert inside[peak]
    assert scores.values[inside].mean() > scores.values[~inside].mean() + 0.1


@pytest.mark.slow
def test_synthetic_study_map_peaks_in_planted_roi(tmp_path):
    """The full study (40 stimuli x 4 runs)."""
    scores, inside, peak = _planted_study_map(tmp_path / "study")
    assert inside[peak]
    assert scores.values[inside].mean() > scores.values[~inside].mean() + 0.2
