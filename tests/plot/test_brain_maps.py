"""Per-voxel maps as NIfTI files and nilearn figures.

reference: nilearn's ``NiftiMasker`` (``inverse_transform`` writes masked values into the mask's grid, ``transform``
reads them back) and nibabel's reader; the figures are nilearn's ``plot_stat_map`` / ``plot_glass_brain``.
"""

import gzip

import matplotlib
import matplotlib.image
import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from nilearn.maskers import NiftiMasker

from neuroalign import Score
from neuroalign.errors import FileFormatError, SchemaError, UnknownNameError
from neuroalign.loaders.voxels import voxel_coords
from neuroalign.plot.brain_maps import plot_brain_map, save_nifti, to_nifti_map

matplotlib.use("Agg")

AFFINE = np.array([[3.0, 0, 0, -30], [0, 3.0, 0, -36], [0, 0, 3.0, -27], [0, 0, 0, 1]])
SHAPE = (20, 24, 18)


def mask_image(seed=0, fraction=0.3):
    mask = np.random.default_rng(seed).uniform(size=SHAPE) < fraction
    return nib.Nifti1Image(mask.astype(np.uint8), AFFINE)


def voxel_map(mask, values=None, name="score"):
    coords = voxel_coords(mask)
    n = coords["neuroid_id"].size
    values = np.random.default_rng(1).normal(size=n) if values is None else values
    return xr.DataArray(values, dims="neuroid", name=name, coords={k: ("neuroid", v) for k, v in coords.items()},
                        attrs={"affine": list(AFFINE.ravel()), "grid_shape": list(SHAPE)})


def test_the_image_equals_nilearns_inverse_transform():
    mask = mask_image()
    values = voxel_map(mask)
    masker = NiftiMasker(mask_img=mask, standardize=None).fit()
    reference = masker.inverse_transform(values.values)
    ours = to_nifti_map(values)
    np.testing.assert_array_equal(ours.get_fdata(), reference.get_fdata())
    np.testing.assert_array_equal(ours.affine, reference.affine)
    assert ours.header["descrip"].item() == b"score"


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_saved_files_read_back_with_nibabel_and_nilearn(tmp_path, suffix):
    mask = mask_image()
    values = voxel_map(mask)
    path = save_nifti(values, tmp_path / f"map{suffix}")
    assert [p.name for p in tmp_path.iterdir()] == [f"map{suffix}"]  # no temporary left behind
    loaded = nib.load(path)
    np.testing.assert_array_equal(loaded.affine, AFFINE)
    assert loaded.shape == SHAPE
    masker = NiftiMasker(mask_img=mask, standardize=None).fit()
    np.testing.assert_allclose(masker.transform(loaded).ravel(), values.values, rtol=0)
    if suffix == ".nii.gz":
        assert gzip.decompress(path.read_bytes())[344:348] == b"n+1\x00"  # a single-file NIfTI-1 inside gzip
        assert save_nifti(values, tmp_path / "again.nii.gz").read_bytes() == path.read_bytes()  # reproducible


def test_a_score_and_an_image_can_be_saved(tmp_path):
    mask = mask_image()
    values = voxel_map(mask)
    score = Score(values, metric="searchlight-rsa")
    a = save_nifti(score, tmp_path / "a.nii", affine=AFFINE, grid_shape=SHAPE)
    b = save_nifti(to_nifti_map(values), tmp_path / "b.nii")
    np.testing.assert_array_equal(nib.load(a).get_fdata(), nib.load(b).get_fdata())


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 1000), fraction=st.floats(0.01, 1.0), scale=st.floats(1e-3, 1e3))
def test_save_then_load_returns_every_voxel_value(tmp_path_factory, seed, fraction, scale):
    mask = mask_image(seed, fraction)
    if not np.asarray(mask.dataobj).any():
        return
    values = voxel_map(mask, np.random.default_rng(seed).normal(size=int(np.asarray(mask.dataobj).sum())) * scale)
    path = save_nifti(values, tmp_path_factory.mktemp("maps") / "map.nii")
    data = nib.load(path).get_fdata()
    np.testing.assert_array_equal(data[values.voxel_i.values, values.voxel_j.values, values.voxel_k.values],
                                  values.values)
    outside = np.ones(SHAPE, bool)
    outside[values.voxel_i.values, values.voxel_j.values, values.voxel_k.values] = False
    assert (data[outside] == 0).all()


@pytest.mark.parametrize("kind", ["stat", "glass"])
def test_figures_are_written_as_png_without_pyplot_state(tmp_path, kind):
    values = voxel_map(mask_image(fraction=0.05), name="r")
    before = plt.get_fignums()
    figure = plot_brain_map(values, kind, tmp_path / f"{kind}.png", threshold=0.5, dpi=60)
    assert plt.get_fignums() == before
    raw = (tmp_path / f"{kind}.png").read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(tmp_path / f"{kind}.png")
    assert pixels.shape[:2] == (180, 420)  # 7 x 3 inches at 60 dpi
    assert pixels[..., :3].std() > 0.05  # something is drawn
    assert figure.axes and [p.name for p in tmp_path.iterdir()] == [f"{kind}.png"]


def test_bad_inputs_raise_named_errors(tmp_path):
    values = voxel_map(mask_image())
    with pytest.raises(FileFormatError, match="NIfTI"):
        save_nifti(values, tmp_path / "map.img")
    with pytest.raises(FileFormatError, match="figure"):
        plot_brain_map(values, "stat", tmp_path / "map.jpg2")
    with pytest.raises(UnknownNameError):
        plot_brain_map(values, "surface")
    with pytest.raises(SchemaError, match="one value per voxel"):
        plot_brain_map(values.expand_dims(presentation=2), "glass")
    with pytest.raises(SchemaError, match="DataArray"):
        to_nifti_map(np.zeros(3))
    assert not list(tmp_path.iterdir())
