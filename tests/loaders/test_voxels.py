"""Tests of mask voxels as neuroids and of per-voxel values written back to NIfTI (checked against nilearn)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from neuroalign.errors import AlignmentError, ConfigError, DataError, SchemaError, UnknownNameError
from neuroalign.loaders.voxels import select_voxels, to_nifti, voxel_coords

AFFINE = np.array([[-3.0, 0, 0, 90], [0, 3.0, 0, -126], [0, 0, 3.5, -72], [0, 0, 0, 1]])


def test_coords_follow_nilearn_masker_order_and_the_affine():
    maskers = pytest.importorskip("nilearn.maskers")
    rng = np.random.default_rng(0)
    mask = rng.random((5, 4, 3)) > 0.5
    mask_img = nib.Nifti1Image(mask.astype(np.uint8), AFFINE)
    data = rng.normal(size=(5, 4, 3, 2))
    coords = voxel_coords(mask_img)
    # nilearn's NiftiMasker returns the voxels in the same order
    masked = maskers.NiftiMasker(mask_img, standardize=None).fit_transform(nib.Nifti1Image(data, AFFINE))
    np.testing.assert_allclose(masked.T, data[coords["voxel_i"], coords["voxel_j"], coords["voxel_k"]], atol=1e-6)
    # world coordinates: nibabel's apply_affine
    from nibabel.affines import apply_affine
    ijk = np.stack([coords["voxel_i"], coords["voxel_j"], coords["voxel_k"]], 1)
    np.testing.assert_allclose(np.stack([coords["x"], coords["y"], coords["z"]], 1), apply_affine(AFFINE, ijk))
    assert coords["neuroid_id"][0] == "v{}_{}_{}".format(*ijk[0])
    assert len(set(coords["neuroid_id"])) == mask.sum()


def test_to_nifti_puts_values_back_and_round_trips_through_nilearn():
    maskers = pytest.importorskip("nilearn.maskers")
    rng = np.random.default_rng(1)
    mask = rng.random((4, 4, 4)) > 0.4
    mask_img = nib.Nifti1Image(mask.astype(np.uint8), AFFINE)
    coords = voxel_coords(mask_img)
    values = rng.normal(size=(3, mask.sum()))
    array = xr.DataArray(values, dims=("presentation", "neuroid"),
                         coords={k: ("neuroid", v) for k, v in coords.items()},
                         attrs={"affine": AFFINE.ravel().tolist(), "grid_shape": [4, 4, 4]})
    img = to_nifti(array)
    assert img.shape == (4, 4, 4, 3)
    np.testing.assert_allclose(img.affine, AFFINE)
    np.testing.assert_allclose(maskers.NiftiMasker(mask_img, standardize=None).fit_transform(img), values)
    assert (img.get_fdata()[~mask] == 0).all()
    one = to_nifti(array.isel(presentation=1), fill=np.nan)
    assert one.shape == (4, 4, 4) and np.isnan(one.get_fdata()[~mask]).all()


def test_to_nifti_errors():
    base = xr.DataArray([1.0, 2.0], dims="neuroid", coords={"voxel_i": ("neuroid", [0, 0]),
                                                           "voxel_j": ("neuroid", [0, 0]),
                                                           "voxel_k": ("neuroid", [0, 0])})
    with pytest.raises(DataError, match="share a voxel"):
        to_nifti(base, np.eye(4), (2, 2, 2))
    with pytest.raises(ConfigError, match="grid is unknown"):
        to_nifti(base)
    with pytest.raises(DataError, match="outside the grid"):
        to_nifti(base.assign_coords(voxel_i=("neuroid", [0, 5])), np.eye(4), (2, 2, 2))
    with pytest.raises(SchemaError, match="voxel_i"):
        to_nifti(xr.DataArray([1.0], dims="neuroid"), np.eye(4), (2, 2, 2))


def test_select_voxels_mask_atlas_and_errors(tmp_path):
    run = nib.Nifti1Image(np.zeros((4, 3, 2, 5), np.float32), AFFINE)
    atlas = np.zeros((4, 3, 2), np.int16)
    atlas[:2] = 1
    atlas[2:, 0] = 7
    atlas_path = tmp_path / "atlas.nii.gz"
    nib.save(nib.Nifti1Image(atlas, AFFINE), atlas_path)
    mask = np.zeros((4, 3, 2), bool)
    mask[:, :, 0] = True
    selected, regions = select_voxels(run, atlas=atlas_path, region=["V1", "IT"], labels={1: "V1", 7: "IT"},
                                      mask=nib.Nifti1Image(mask.astype(np.uint8), AFFINE))
    assert (selected == ((atlas > 0) & mask)).all()
    assert regions.tolist() == ["V1" if a == 1 else "IT" for a in atlas[selected]]
    assert select_voxels(run) == (None, None)
    with pytest.raises(UnknownNameError):
        select_voxels(run, atlas=atlas_path, region="FFA", labels={1: "V1", 7: "IT"})
    with pytest.raises(AlignmentError, match="mask grid"):
        select_voxels(run, mask=nib.Nifti1Image(np.ones((4, 3, 3), np.uint8), AFFINE))
    with pytest.raises(AlignmentError, match="mask grid"):
        select_voxels(run, mask=nib.Nifti1Image(np.ones((4, 3, 2), np.uint8), np.eye(4)))
    with pytest.raises(ConfigError):
        select_voxels(run, atlas=atlas_path)
    with pytest.raises(ConfigError):
        select_voxels(run, region=1)


@settings(max_examples=25, deadline=None)
@given(arrays(bool, st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5))))
def test_to_nifti_inverts_masking(mask):
    """Property: for any mask, to_nifti puts each voxel's value at its own (i, j, k)."""
    coords = voxel_coords(mask, affine=AFFINE)
    values = np.arange(mask.sum(), dtype=float) + 1
    img = to_nifti(xr.DataArray(values, dims="neuroid", coords={k: ("neuroid", v) for k, v in coords.items()}),
                   AFFINE, mask.shape)
    np.testing.assert_array_equal(img.get_fdata()[mask], values)
    assert (img.get_fdata()[~mask] == 0).all()
