"""``neuroalign searchlight`` and ``neuroalign rsa-roi`` on the synthetic task-fMRI study's real files.

End to end: make_task_fmri_study writes NIfTI runs + events TSVs, ``neuroalign glm`` estimates the patterns,
the ReferenceNet layers' RDMs go to a netCDF file; ``rsa-roi`` must rank the planted layer first in the planted
region and ``searchlight`` must write a map of the planted layer that peaks inside the planted region. Both
commands' numbers must equal the Python API's (neuroalign.compare.rsa, searchlight_rdms + searchlight_compare).
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from datasets.task_fmri import make_task_fmri_study
from neuroalign.compare import compute_rdm, rsa
from neuroalign.compare.rsa.searchlight import searchlight_compare, searchlight_rdms
from neuroalign.compare.common.searchlight_grid import searchlight_spheres
from neuroalign.data import create_assembly, load, save
from neuroalign.extract import extract
from neuroalign.models import REFERENCE_LAYERS
from ..cli_runner import assert_one_line_error

pytest.importorskip("nilearn")


def test_study_files_to_planted_layer_and_region_through_the_cli(cli, tmp_path):
    study = make_task_fmri_study(tmp_path / "study", design="slow")
    result = cli("glm", "--runs", *study.bold, "--events", *study.events, "--mask", study.brain_mask,
                 "--out", "patterns.nc", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    activations = extract(study.network, study.stimuli, list(REFERENCE_LAYERS), progress=False)
    rdms = compute_rdm(activations)
    save(rdms, tmp_path / "rdms.nc")

    result = cli("rsa-roi", "--patterns", "patterns.nc", "--roi", study.roi_mask, "--model-rdms", "rdms.nc",
                 "--n-bootstrap", 200, "--highlight", study.planted_layer, "--out", "rsa", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    scores = pd.read_csv(tmp_path / "rsa" / "scores.csv")
    assert scores.sort_values("score", ascending=False)["layer"].iloc[0] == study.planted_layer
    assert (tmp_path / "rsa" / "layer_profile.png").stat().st_size > 10_000
    # the same numbers as the Python API on the same patterns
    patterns = load(tmp_path / "patterns.nc")
    roi = study.roi[patterns["voxel_i"].values, patterns["voxel_j"].values, patterns["voxel_k"].values]
    region = patterns.isel(neuroid=np.flatnonzero(roi))
    region = region.assign_coords(subject=("neuroid", ["sub-01"] * region.sizes["neuroid"]))
    expected = rsa(activations, region, n_bootstrap=200, seed=0).to_dataframe()
    assert scores["layer"].tolist() == list(REFERENCE_LAYERS)
    for column in ("score", "ceiling", "ci_low", "ci_high"):
        np.testing.assert_allclose(scores[column], expected[column], rtol=1e-9, err_msg=column)

    result = cli("searchlight", "--patterns", "patterns.nc", "--mask", study.brain_mask, "--model-rdms", "rdms.nc",
                 "--radius", 3, "--out", "sl", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    peaks = pd.read_csv(tmp_path / "sl" / "peaks.csv").set_index("model")
    assert peaks.index.tolist() == list(REFERENCE_LAYERS)
    planted = peaks.loc[study.planted_layer]
    assert study.roi[int(planted["voxel_i"]), int(planted["voxel_j"]), int(planted["voxel_k"])]
    image = nib.load(tmp_path / "sl" / f"searchlight_{study.planted_layer}.nii.gz")
    np.testing.assert_allclose(image.affine, study.affine)
    values = image.get_fdata()
    assert np.unravel_index(np.argmax(values), values.shape) == tuple(
        int(planted[c]) for c in ("voxel_i", "voxel_j", "voxel_k"))
    spheres = searchlight_spheres(study.brain_mask, radius=3, threshold=0.5)
    reference = searchlight_compare(searchlight_rdms(patterns, spheres), rdms.sel(layer=study.planted_layer))
    ijk = tuple(reference[c].values for c in ("voxel_i", "voxel_j", "voxel_k"))
    np.testing.assert_allclose(values[ijk], reference.values, atol=1e-6)  # float32 NIfTI
    assert planted["peak"] == pytest.approx(float(reference.max()), abs=1e-12)
    assert all((tmp_path / "sl" / f"searchlight_{layer}.png").stat().st_size > 10_000 for layer in REFERENCE_LAYERS)

    # layer activations in a store of `neuroalign extract` give the same RDMs, hence the same scores
    extract(study.network, study.stimuli, list(REFERENCE_LAYERS), progress=False, store=tmp_path / "acts.zarr")
    result = cli("rsa-roi", "--patterns", "patterns.nc", "--roi", study.roi_mask, "--activations", "acts.zarr",
                 "--n-bootstrap", 200, "--out", "rsa-acts", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(pd.read_csv(tmp_path / "rsa-acts" / "scores.csv")["score"], scores["score"],
                               rtol=1e-6)


@pytest.fixture
def small(tmp_path):
    """A patterns file of 10 stimuli × 2 repetitions on a 4×4×4 grid, its mask and model RDMs."""
    rng = np.random.default_rng(0)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    ijk = np.argwhere(np.ones((4, 4, 4), bool))
    ids = [f"s{i}" for i in range(10)] * 2
    xyz = nib.affines.apply_affine(affine, ijk)
    patterns = create_assembly(
        rng.normal(size=(20, len(ijk))), stimulus_id=ids, neuroid_id=[f"v{i}_{j}_{k}" for i, j, k in ijk],
        presentation={"run": [1] * 10 + [2] * 10},
        neuroid={"voxel_i": ijk[:, 0], "voxel_j": ijk[:, 1], "voxel_k": ijk[:, 2], "x": xyz[:, 0],
                 "y": xyz[:, 1], "z": xyz[:, 2]},
        attrs={"affine": affine.ravel().tolist(), "grid_shape": [4, 4, 4]})
    save(patterns, tmp_path / "patterns.nc")
    nib.save(nib.Nifti1Image(np.ones((4, 4, 4), np.uint8), affine), tmp_path / "mask.nii.gz")
    nib.save(nib.Nifti1Image(np.ones((5, 4, 4), np.uint8), affine), tmp_path / "other_grid.nii.gz")
    features = create_assembly(rng.normal(size=(4, 5)), stimulus_id=[f"img{i}" for i in range(4)])
    save(compute_rdm({"a": features, "b": features ** 2}), tmp_path / "other_ids.nc")
    return tmp_path


def test_searchlight_and_rsa_roi_errors_are_one_line(cli, small):
    result = cli("searchlight", "--patterns", "patterns.nc", "--mask", "mask.nii.gz", "--model-rdms",
                 "other_ids.nc", "--out", "sl", "--no-progress", cwd=small)
    assert_one_line_error(result, "10 stimuli of the patterns are not in the RDMs", "'s0', 's1', 's2'", "'img0'")
    result = cli("rsa-roi", "--patterns", "patterns.nc", "--roi", "other_grid.nii.gz", "--model-rdms",
                 "other_ids.nc", "--out", "rsa", cwd=small)
    assert_one_line_error(result, "--roi", "not the patterns' grid (4, 4, 4)", "resample")
    result = cli("rsa-roi", "--patterns", "mask.nii.gz", "--roi", "mask.nii.gz", "--model-rdms", "other_ids.nc",
                 "--out", "rsa", cwd=small)
    assert_one_line_error(result, "mask.nii.gz")
    result = cli("searchlight", "--patterns", "patterns.nc", "--mask", "mask.nii.gz", "--model-rdms",
                 "other_ids.nc", "--activations", "acts.zarr", "--out", "sl", cwd=small)
    assert_one_line_error(result, "not allowed with argument")
    result = cli("searchlight", "--patterns", "patterns.nc", "--mask", "mask.nii.gz", "--model-rdms",
                 "patterns.nc", "--out", "sl", cwd=small)
    assert_one_line_error(result, "not vector-form RDMs")
    result = cli("searchlight", "--patterns", "patterns.nc", "--mask", "mask.nii.gz", "--model-rdms",
                 "other_ids.nc", "--rdm-method", "corelation", "--out", "sl", cwd=small)
    assert_one_line_error(result, "--rdm-method", "'correlation'")
    assert not (small / "sl").exists() and not (small / "rsa").exists()


def test_help_lists_the_options(capsys):
    from neuroalign.cli.main import main

    for command, option in (("searchlight", "--radius"), ("rsa-roi", "--n-bootstrap")):
        with pytest.raises(SystemExit) as exit:
            main([command, "--help"])
        assert exit.value.code == 0
        assert option in capsys.readouterr().out


def test_one_model_rdm_in_voxels_or_mm_equals_the_api(cli, small):
    patterns = load(small / "patterns.nc")
    ids = [f"s{i}" for i in np.random.default_rng(2).permutation(10)]  # another order: matched by id
    features = create_assembly(np.random.default_rng(1).normal(size=(10, 6)), stimulus_id=ids)
    model = compute_rdm(features).rename("my model")
    save(model, small / "one.nc")
    maps = {}
    for units, radius in (("voxels", 2), ("mm", 4)):  # 2 mm voxels: the same spheres
        result = cli("searchlight", "--patterns", "patterns.nc", "--mask", "mask.nii.gz", "--model-rdms", "one.nc",
                     "--radius", radius, "--units", units, "--out", units, "--no-progress", cwd=small)
        assert result.returncode == 0, result.stderr
        assert pd.read_csv(small / units / "peaks.csv")["model"].tolist() == ["my model"]
        maps[units] = nib.load(small / units / "searchlight_my_model.nii.gz").get_fdata()
    np.testing.assert_array_equal(maps["voxels"], maps["mm"])
    reference = searchlight_compare(searchlight_rdms(patterns, searchlight_spheres(small / "mask.nii.gz", 2,
                                                                                   threshold=0.5)), model)
    ijk = tuple(reference[c].values for c in ("voxel_i", "voxel_j", "voxel_k"))
    np.testing.assert_allclose(maps["voxels"][ijk], reference.values, atol=1e-6)
    # labels that are one file name once cleaned get distinct files
    save(compute_rdm({"a b": features, "a/b": np.exp(features)}), small / "alike.nc")
    result = cli("searchlight", "--patterns", "patterns.nc", "--mask", "mask.nii.gz", "--model-rdms", "alike.nc",
                 "--out", "alike", "--no-progress", cwd=small)
    assert result.returncode == 0, result.stderr
    assert pd.read_csv(small / "alike" / "peaks.csv")["map"].tolist() == ["searchlight_a_b.nii.gz",
                                                                          "searchlight_a_b_1.nii.gz"]


def test_rsa_roi_of_part_of_the_grid_equals_the_api(cli, small):
    roi = np.zeros((4, 4, 4), np.uint8)
    roi[:2] = 1
    nib.save(nib.Nifti1Image(roi, np.diag([2.0, 2.0, 2.0, 1.0])), small / "roi.nii.gz")
    ids = [f"s{i}" for i in np.random.default_rng(2).permutation(10)]  # another order: matched by id
    features = create_assembly(np.random.default_rng(1).normal(size=(10, 6)), stimulus_id=ids)
    save(compute_rdm({"a": features, "b": np.exp(features)}), small / "ab.nc")
    result = cli("rsa-roi", "--patterns", "patterns.nc", "--roi", "roi.nii.gz", "--model-rdms", "ab.nc",
                 "--n-bootstrap", 50, "--seed", 3, "--ceiling", "none", "--out", "rsa", cwd=small)
    assert result.returncode == 0, result.stderr
    patterns = load(small / "patterns.nc")
    region = patterns.isel(neuroid=np.flatnonzero(patterns["voxel_i"].values < 2))
    region = region.assign_coords(subject=("neuroid", ["sub-01"] * region.sizes["neuroid"]))
    expected = rsa(load(small / "ab.nc"), region, ceiling=None, n_bootstrap=50, seed=3).to_dataframe()
    scores = pd.read_csv(small / "rsa" / "scores.csv")
    assert scores["layer"].tolist() == ["a", "b"] and "ceiling" not in scores
    for column in ("score", "ci_low", "ci_high"):
        np.testing.assert_allclose(scores[column], expected[column], rtol=1e-12, err_msg=column)
    # a searchlight mask with voxels the GLM did not estimate
    save(patterns.isel(neuroid=slice(0, 32)), small / "half.nc")
    result = cli("searchlight", "--patterns", "half.nc", "--mask", "mask.nii.gz", "--model-rdms", "ab.nc",
                 "--out", "sl", "--no-progress", cwd=small)
    assert_one_line_error(result, "--mask", "32 of the mask's 64 voxels have no pattern")
    result = cli("rsa-roi", "--patterns", "half.nc", "--roi", "roi.nii.gz", "--model-rdms", "ab.nc",
                 "--out", "rsa2", cwd=small)
    assert result.returncode == 0, result.stderr  # the ROI's voxels all have patterns (i < 2)
