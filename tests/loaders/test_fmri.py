"""Tests of the fMRI loaders: NIfTI → ROI time series, time-series and FC files, bad inputs."""

from __future__ import annotations

import gzip
import json
import struct

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import scipy.io

from neuroalign.data import validate
from neuroalign.errors import (
    AlignmentError,
    ConfigError,
    DataError,
    FileFormatError,
    NeuroalignError,
    SchemaError,
    UnknownNameError,
)
from neuroalign.loaders.functional_connectivity import connectivity
from neuroalign.loaders.fmri import load_confounds, load_roi_timeseries
from neuroalign.loaders.bids import parse_bids_entities
from neuroalign.loaders.connectivity_files import load_connectivity
from neuroalign.loaders.timeseries_files import load_timeseries

pytest.importorskip("nilearn")


def block_atlas(img, n_x=2, n_y=2):
    """A labels image on the image's grid: the x-y plane cut into n_x * n_y blocks, labels 1..K."""
    shape = img.shape[:3]
    xs = np.minimum(np.arange(shape[0]) * n_x // shape[0], n_x - 1)
    ys = np.minimum(np.arange(shape[1]) * n_y // shape[1], n_y - 1)
    labels = (xs[:, None] * n_y + ys[None, :] + 1)[:, :, None].repeat(shape[2], axis=2)
    return nib.Nifti1Image(labels.astype("int16"), img.affine)


def region_means(img, atlas):
    # reference: plain numpy mean over each label's voxels
    data, labels = img.get_fdata(), np.asarray(atlas.dataobj)
    return np.stack([data[labels == v].mean(axis=0) for v in np.unique(labels) if v != 0], axis=1)


def write_run(path, data, tr=2.0, affine=None):
    img = nib.Nifti1Image(np.asarray(data, dtype="float32"), np.eye(4) if affine is None else affine)
    img.header.set_zooms((*img.header.get_zooms()[:3], tr))
    img.header.set_xyzt_units("mm", "sec")
    nib.save(img, str(path))
    return img


# ---------------------------------------------------------------- real data


def test_nitime_roi_csv_loads(shared_data):
    path = shared_data / "nitime" / "fmri_timeseries.csv"
    ts = load_timeseries(path, repetition_time=1.89)
    assert ts.dims == ("time", "neuroid") and ts.shape == (250, 31)
    assert ts.neuroid_id.values[:3].tolist() == ["WM", "Vent", "Brain"]
    np.testing.assert_allclose(ts.time.values[:3], [0, 1.89, 3.78])
    assert ts.attrs["repetition_time"] == 1.89
    raw = pd.read_csv(path)
    np.testing.assert_array_equal(ts.values, raw.to_numpy())  # reference: pandas
    rois = load_timeseries(path, repetition_time=1.89, exclude=["WM", "Vent", "Brain"])
    fc = connectivity(rois)
    np.testing.assert_allclose(fc.values, np.corrcoef(raw.iloc[:, 3:].to_numpy().T), atol=1e-12)  # np.corrcoef


@pytest.mark.parametrize("name", ["nitime/fmri1.nii.gz", "nitime/fmri2.nii.gz", "nipy/functional.nii.gz"])
def test_real_nifti_runs_load(shared_data, name):
    path = shared_data / name
    img = nib.load(path)
    atlas = block_atlas(img)
    ts = load_roi_timeseries(path, atlas, labels={1: "A", 2: "B", 3: "C", 4: "D"})
    validate(ts, dims=("time", "neuroid"))
    assert ts.shape == (img.shape[3], 4) and ts.neuroid_id.values.tolist() == ["A", "B", "C", "D"]
    tr = {"nitime": 1.35, "nipy": 2.0}[name.split("/")[0]]
    assert ts.attrs["repetition_time"] == pytest.approx(tr)
    np.testing.assert_allclose(ts.time.values, np.arange(img.shape[3]) * ts.attrs["repetition_time"])
    np.testing.assert_allclose(ts.values, region_means(img, atlas), rtol=1e-6, atol=1e-6)
    assert ts.attrs["input_hashes"]["img"]


def test_real_runs_stack_on_subject(shared_data):
    paths = [shared_data / "nitime" / "fmri1.nii.gz", shared_data / "nitime" / "fmri2.nii.gz"]
    atlas = block_atlas(nib.load(paths[0]))
    ts = load_roi_timeseries(paths, atlas, progress=False)
    assert ts.dims == ("subject", "time", "neuroid") and ts.subject.values.tolist() == ["fmri1", "fmri2"]
    for i, p in enumerate(paths):
        np.testing.assert_allclose(ts.values[i], region_means(nib.load(p), atlas), rtol=1e-6, atol=1e-6)
    lazy = load_roi_timeseries(paths, atlas, progress=False, lazy=True)
    assert lazy.chunks is not None
    np.testing.assert_allclose(lazy.values, ts.values)
    fc = connectivity(ts, "tangent")
    assert fc.dims == ("subject", "neuroid_a", "neuroid_b")
    np.testing.assert_allclose(connectivity(lazy).values, connectivity(ts).values)  # dask input works too
    scrubbed = load_roi_timeseries(paths, atlas, sample_mask=np.arange(2, 40), progress=False)
    assert scrubbed.sizes["time"] == 40 and np.isnan(scrubbed.values[:, :2]).all()  # NaN rows where scrubbed
    lazy_scrubbed = load_roi_timeseries(paths, atlas, sample_mask=np.arange(2, 40), progress=False, lazy=True)
    np.testing.assert_allclose(lazy_scrubbed.values, scrubbed.values, equal_nan=True)


# ---------------------------------------------------------------- atlases


@pytest.fixture
def run(tmp_path, rng):
    data = rng.normal(100, 5, size=(6, 6, 4, 30))
    img = write_run(tmp_path / "sub-01_ses-pre_task-rest_run-2_bold.nii.gz", data, tr=2.0)
    return tmp_path / "sub-01_ses-pre_task-rest_run-2_bold.nii.gz", img


def test_bids_names_become_coords(run):
    path, img = run
    ts = load_roi_timeseries(path, block_atlas(img))
    assert (ts.subject.item(), ts.session.item(), ts.task.item(), ts.run.item()) == ("01", "pre", "rest", 2)
    assert parse_bids_entities("sub-A_desc-confounds_timeseries.tsv") == {"subject": "A", "desc": "confounds"}


def test_json_sidecar_sets_the_repetition_time(run):
    path, img = run
    (path.parent / "sub-01_ses-pre_task-rest_run-2_bold.json").write_text(json.dumps({"RepetitionTime": 0.8}))
    ts = load_roi_timeseries(path, block_atlas(img))
    assert ts.attrs["repetition_time"] == 0.8 and ts.time.values[1] == pytest.approx(0.8)


def test_label_table_files(run, tmp_path):
    path, img = run
    atlas = block_atlas(img)
    tsv = tmp_path / "atlas_dseg.tsv"
    pd.DataFrame({"index": [3, 1, 2, 4], "name": ["C", "A", "B", "D"]}).to_csv(tsv, sep="\t", index=False)
    ts = load_roi_timeseries(path, atlas, labels=tsv)
    assert ts.neuroid_id.values.tolist() == ["C", "A", "B", "D"]  # table order
    np.testing.assert_allclose(ts.values, region_means(img, atlas)[:, [2, 0, 1, 3]], rtol=1e-6)
    lut = tmp_path / "lut.txt"
    lut.write_text("1 A 0 0 0 0\n2 B 0 0 0 0\n3 C 0 0 0 0\n4 D 0 0 0 0\n")
    assert load_roi_timeseries(path, atlas, labels=lut).neuroid_id.values.tolist() == ["A", "B", "C", "D"]


def test_probabilistic_maps(run):
    # reference: for disjoint binary maps, nilearn's map regression equals the mean over each map
    path, img = run
    labels = np.asarray(block_atlas(img).dataobj)
    maps = nib.Nifti1Image(np.stack([labels == v for v in (1, 2, 3, 4)], axis=-1).astype("float32"), img.affine)
    ts = load_roi_timeseries(path, maps, labels=["A", "B", "C", "D"])
    np.testing.assert_allclose(ts.values, region_means(img, block_atlas(img)), rtol=1e-5)


def test_sphere_seeds(run):
    # reference: a zero-radius sphere is the voxel at the seed
    path, img = run
    voxels = np.array([[1, 1, 1], [4, 2, 3]])
    seeds = nib.affines.apply_affine(img.affine, voxels)
    ts = load_roi_timeseries(path, seeds, labels=["v1", "v2"])
    data = img.get_fdata()
    np.testing.assert_allclose(ts.values, np.stack([data[tuple(v)] for v in voxels], axis=1), rtol=1e-6)
    with pytest.raises(DataError, match="sphere"):
        load_roi_timeseries(path, [[500.0, 500.0, 500.0]], radius=2.0)


def test_resampling_target_data_resamples_the_atlas(run):
    path, img = run
    coarse = nib.Nifti1Image(np.asarray(block_atlas(img).dataobj)[::2, ::2, ::2], img.affine @ np.diag([2, 2, 2, 1]))
    ts = load_roi_timeseries(path, coarse, resampling_target="data")
    assert ts.shape == (30, 4) and np.isfinite(ts.values).all()


# ---------------------------------------------------------------- cleaning


def test_confounds_and_scrubbing_from_fmriprep_tsv(run, tmp_path, rng):
    # reference: least-squares residuals on the kept volumes (nilearn censors before the regression)
    path, img = run
    motion = rng.normal(size=(30, 6))
    table = pd.DataFrame(motion, columns=["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"])
    table["white_matter"], table["csf"] = rng.normal(size=30), rng.normal(size=30)
    table["global_signal"] = rng.normal(size=30)
    table["trans_x_derivative1"] = np.r_[np.nan, np.diff(motion[:, 0])]
    table["framewise_displacement"] = np.r_[np.nan, np.full(29, 0.1)]
    table.loc[[7, 8], "framewise_displacement"] = 0.9
    tsv = tmp_path / "sub-01_ses-pre_task-rest_run-2_desc-confounds_timeseries.tsv"
    table.to_csv(tsv, sep="\t", index=False, na_rep="n/a")
    atlas = block_atlas(img)
    ts = load_roi_timeseries(path, atlas, confounds=tsv, fd_threshold=0.5)
    keep = np.setdiff1d(np.arange(30), [7, 8])
    np.testing.assert_allclose(ts.time.values, keep * 2.0)
    assert ts.attrs["scrubbed_volumes"] == [7, 8]
    chosen = table[["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "white_matter", "csf"]].to_numpy()
    conf = chosen[keep] - chosen[keep].mean(axis=0)
    signal = region_means(img, atlas)[keep]
    expected = signal - conf @ np.linalg.lstsq(conf, signal, rcond=None)[0]
    np.testing.assert_allclose(ts.values, expected, rtol=1e-6, atol=1e-6)
    selected, _ = load_confounds(tsv, 30, columns=["trans_*", "global_signal"])
    assert selected.shape == (30, 5) and np.isfinite(selected).all()  # trans_x/y/z, trans_x_derivative1, global
    assert selected[0, 3] == selected[1, 3]  # the derivative's leading NaN takes the next value, as in nilearn


def test_filtering_is_delegated_to_nilearn(tmp_path, rng):
    # reference: nilearn.signal.clean applied to the region means with the same options
    from nilearn.signal import clean

    path = tmp_path / "long_bold.nii.gz"
    img = write_run(path, rng.normal(100, 5, size=(6, 6, 4, 120)))
    atlas = block_atlas(img)
    options = dict(detrend=True, low_pass=0.2, high_pass=0.01, standardize="zscore_sample")
    ts = load_roi_timeseries(path, atlas, **options)
    expected = clean(region_means(img, atlas), t_r=2.0, **options)
    np.testing.assert_allclose(ts.values, expected, atol=1e-5)
    with pytest.raises(DataError, match="filter"):
        load_roi_timeseries(write_run(tmp_path / "short.nii.gz", rng.normal(size=(6, 6, 4, 12))), atlas,
                            low_pass=0.2, high_pass=0.01)


def test_filter_cut_off_above_nyquist_raises(run):
    # TR 2 s: Nyquist is 0.25 Hz; nilearn would lower a higher low_pass to it with only a warning
    path, img = run
    with pytest.raises(ConfigError, match="Nyquist frequency 0.25 Hz") as info:
        load_roi_timeseries(path, block_atlas(img), low_pass=0.4)
    assert info.value.source == "low_pass" and "below 0.25 Hz" in info.value.fix and str(path) in str(info.value)
    with pytest.raises(ConfigError, match="Nyquist"):
        load_roi_timeseries(path, block_atlas(img), high_pass=0.25)
    with pytest.raises(ConfigError, match="band is empty"):
        load_roi_timeseries(path, block_atlas(img), low_pass=0.05, high_pass=0.1)
    for bad in (-0.1, 0, float("nan"), "0.1", True):
        with pytest.raises(ConfigError, match="positive frequency"):
            load_roi_timeseries(path, block_atlas(img), low_pass=bad)


# ---------------------------------------------------------------- non-finite voxels


def test_nan_voxels_in_a_region_raise(tmp_path, rng):
    data = rng.normal(100, 5, size=(6, 6, 4, 30))
    data[0, 0, 0, :] = np.nan  # a voxel NaN throughout, in region 1
    data[5, 5, 3, 7] = np.inf  # a voxel with one inf volume, in region 4
    path = tmp_path / "sub-01_bold.nii.gz"
    img = write_run(path, data)
    with pytest.raises(DataError, match=r"2 voxel\(s\) with NaN or inf values lie in region\(s\) \['A', 'D'\]") as info:
        load_roi_timeseries(path, block_atlas(img), labels=["A", "B", "C", "D"])
    assert str(path) in str(info.value) and "nan_voxels='exclude'" in info.value.fix


def test_nan_voxels_excluded_on_request(tmp_path, rng):
    # reference: the numpy mean over each region's finite voxels
    data = rng.normal(100, 5, size=(6, 6, 4, 30))
    data[0, 0, :, :] = np.nan
    data[4, 1, 2, 3] = np.nan
    path = tmp_path / "run_bold.nii.gz"
    img = write_run(path, data)
    atlas = block_atlas(img)
    ts = load_roi_timeseries(path, atlas, nan_voxels="exclude")
    labels = np.asarray(atlas.dataobj)
    finite = np.isfinite(img.get_fdata()).all(axis=-1)
    expected = np.stack([img.get_fdata()[(labels == v) & finite].mean(axis=0) for v in (1, 2, 3, 4)], axis=1)
    np.testing.assert_allclose(ts.values, expected, rtol=1e-6)
    maps = nib.Nifti1Image(np.stack([labels == v for v in (1, 2, 3, 4)], axis=-1).astype("float32"), img.affine)
    np.testing.assert_allclose(load_roi_timeseries(path, maps, nan_voxels="exclude").values, expected, rtol=1e-5)
    with pytest.raises(DataError, match="NaN or inf"):
        load_roi_timeseries(path, maps)
    with pytest.raises(ConfigError, match="nan_voxels"):
        load_roi_timeseries(path, atlas, nan_voxels="zero")


def test_nan_voxels_in_spheres(tmp_path, rng):
    data = rng.normal(100, 5, size=(6, 6, 4, 30))
    data[1, 1, 1, :] = np.nan
    path = tmp_path / "run_bold.nii.gz"
    img = write_run(path, data)
    seeds = nib.affines.apply_affine(img.affine, np.array([[1, 1, 1], [4, 4, 2]]))
    with pytest.raises(DataError, match="NaN or inf"):
        load_roi_timeseries(path, seeds, radius=1.5)
    ts = load_roi_timeseries(path, seeds, radius=1.5, nan_voxels="exclude")
    # reference: the mean over the finite voxels within 1.5 mm of the seed (the 6 face neighbours here)
    ijk = np.stack(np.meshgrid(*map(np.arange, data.shape[:3]), indexing="ij"), axis=-1)
    near = (np.linalg.norm(ijk - [1, 1, 1], axis=-1) <= 1.5) & np.isfinite(data).all(axis=-1)
    np.testing.assert_allclose(ts.values[:, 0], img.get_fdata()[near].mean(axis=0), rtol=1e-6)
    assert np.isfinite(ts.values).all()


def test_nan_voxels_outside_every_region_are_harmless(tmp_path, rng):
    # e.g. SPM writes NaN outside the brain: those voxels belong to no region and change nothing
    data = rng.normal(100, 5, size=(6, 6, 4, 30))
    data[0, 0, 0, :] = np.nan
    path = tmp_path / "run_bold.nii.gz"
    img = write_run(path, data)
    labels = np.asarray(block_atlas(img).dataobj).copy()
    labels[0, 0, 0] = 0
    atlas = nib.Nifti1Image(labels, img.affine)
    ts = load_roi_timeseries(path, atlas)
    np.testing.assert_allclose(ts.values, region_means(nib.Nifti1Image(np.nan_to_num(data), img.affine), atlas),
                               rtol=1e-6)


# ---------------------------------------------------------------- many subjects


def test_many_subjects_pad_and_skip(tmp_path, rng):
    paths = []
    for sub, n in (("01", 30), ("02", 25)):
        paths.append(tmp_path / f"sub-{sub}_task-rest_bold.nii.gz")
        img = write_run(paths[-1], rng.normal(size=(6, 6, 4, n)))
    bad = tmp_path / "sub-03_task-rest_bold.nii.gz"
    bad.write_bytes(b"not a nifti")
    atlas = block_atlas(img)
    with pytest.raises(FileFormatError, match="sub-03"):
        load_roi_timeseries([*paths, bad], atlas, progress=False)
    ts = load_roi_timeseries([*paths, bad], atlas, errors="skip", progress=False)
    assert ts.subject.values.tolist() == ["01", "02"] and ts.sizes["time"] == 30
    assert np.isnan(ts.values[1, 25:]).all() and np.isfinite(ts.values[1, :25]).all()
    assert len(ts.attrs["skipped"]) == 1 and "sub-03" in ts.attrs["skipped"][0]
    lazy = load_roi_timeseries(paths, atlas, lazy=True, progress=False)
    np.testing.assert_allclose(lazy.values, ts.values, equal_nan=True)
    fc = connectivity(ts)  # NaN padding is a missing volume, not an error
    assert fc.n_volumes.values.tolist() == [30, 25]


# ---------------------------------------------------------------- bad NIfTI inputs


def test_truncated_nifti_raises(run, tmp_path):
    path, img = run
    cut = tmp_path / "truncated_bold.nii.gz"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(FileFormatError) as info:
        load_roi_timeseries(cut, block_atlas(img))
    assert "truncated_bold.nii.gz" in str(info.value) and "Fix:" in str(info.value)


def test_corrupt_nifti_raises(tmp_path, run):
    path, img = run
    bad = tmp_path / "corrupt_bold.nii.gz"
    bad.write_bytes(gzip.compress(b"\x00" * 500))
    with pytest.raises(FileFormatError, match="corrupt_bold"):
        load_roi_timeseries(bad, block_atlas(img))


def test_3d_image_raises(tmp_path, run):
    _, img = run
    mean = tmp_path / "mean.nii.gz"
    nib.save(nib.Nifti1Image(img.get_fdata()[..., 0].astype("float32"), img.affine), str(mean))
    with pytest.raises(FileFormatError, match="3D") as info:
        load_roi_timeseries(mean, block_atlas(img))
    assert "mean.nii.gz" in str(info.value)


def test_atlas_shape_mismatch_raises(run):
    path, img = run
    small = nib.Nifti1Image(np.ones((5, 5, 4), dtype="int16"), img.affine)
    with pytest.raises(AlignmentError, match="resampling_target") as info:
        load_roi_timeseries(path, small)
    assert "bold.nii.gz" in str(info.value)


def test_atlas_affine_mismatch_raises(run):
    path, img = run
    shifted = nib.Nifti1Image(np.asarray(block_atlas(img).dataobj), img.affine @ nib.affines.from_matvec(
        np.eye(3), [10, 0, 0]))
    with pytest.raises(AlignmentError, match="affine"):
        load_roi_timeseries(path, shifted)


def test_label_with_no_voxels_raises(run):
    path, img = run
    atlas = block_atlas(img)
    names = {1: "A", 2: "B", 3: "C", 4: "D", 7: "Ghost"}
    with pytest.raises(DataError, match="Ghost") as info:
        load_roi_timeseries(path, atlas, labels=names)
    assert "empty_regions='drop'" in str(info.value)
    ts = load_roi_timeseries(path, atlas, labels=names, empty_regions="drop")
    assert ts.neuroid_id.values.tolist() == ["A", "B", "C", "D"] and ts.attrs["dropped_regions"] == ["Ghost"]


def test_confound_errors(run, tmp_path):
    path, img = run
    with pytest.raises(DataError, match="rows"):
        load_roi_timeseries(path, block_atlas(img), confounds=np.zeros((12, 2)))
    tsv = tmp_path / "conf.tsv"
    pd.DataFrame({"trans_x": np.arange(30.0), "csf": np.ones(30)}).to_csv(tsv, sep="\t", index=False)
    with pytest.raises(UnknownNameError, match="did you mean 'trans_x'"):
        load_roi_timeseries(path, block_atlas(img), confounds=tsv, confound_columns=["trans_xx"])


# ---------------------------------------------------------------- time-series files


@pytest.fixture
def series(rng):
    return rng.normal(size=(20, 3))


def test_timeseries_formats_agree(tmp_path, series):
    # reference: the array written by numpy/pandas/scipy/h5py
    ids = ["V1", "V2", "MT"]
    pd.DataFrame(series, columns=ids).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame(series, columns=ids).to_csv(tmp_path / "a.tsv", sep="\t", index=False)
    np.save(tmp_path / "a.npy", series)
    scipy.io.savemat(tmp_path / "a5.mat", {"roi_ts": series, "note": "text"})
    write_mat73(tmp_path / "a73.mat", "roi_ts", series)
    for name in ("a.csv", "a.tsv", "a.npy", "a5.mat", "a73.mat"):
        header = name.endswith("sv")  # CSV/TSV carry the names in their header
        ts = load_timeseries(tmp_path / name, repetition_time=1.5, neuroid_ids=None if header else ids)
        np.testing.assert_allclose(ts.values, series, err_msg=name)
        assert ts.neuroid_id.values.tolist() == ids
    scipy.io.savemat(tmp_path / "two.mat", {"roi_ts": series, "motion": series[:, :2]})
    with pytest.raises(ConfigError, match="variable="):
        load_timeseries(tmp_path / "two.mat", repetition_time=1.5)
    with pytest.raises(UnknownNameError, match="did you mean 'roi_ts'"):
        load_timeseries(tmp_path / "two.mat", repetition_time=1.5, variable="roi_tss")
    assert load_timeseries(tmp_path / "two.mat", repetition_time=1.5, variable="motion").shape == (20, 2)
    np.save(tmp_path / "t.npy", series.T)
    assert load_timeseries(tmp_path / "t.npy", repetition_time=1.0, transpose=True).shape == (20, 3)


def write_mat73(path, name, array):
    """A MATLAB v7.3 file: HDF5 with a 512-byte MATLAB user block, arrays stored transposed."""
    with h5py.File(path, "w", userblock_size=512) as handle:
        handle.create_dataset(name, data=np.asarray(array).T)
    header = b"MATLAB 7.3 MAT-file, written by a test".ljust(116, b" ") + b"\x00" * 8 + struct.pack("<H", 0x0200)
    with open(path, "r+b") as handle:
        handle.write(header + b"IM")


def test_timeseries_many_files_lazy_and_sidecar(tmp_path, series):
    for sub, n in (("01", 20), ("02", 15)):
        pd.DataFrame(series[:n], columns=["a", "b", "c"]).to_csv(tmp_path / f"sub-{sub}_timeseries.tsv", sep="\t",
                                                                 index=False)
        (tmp_path / f"sub-{sub}_timeseries.json").write_text(json.dumps({"SamplingFrequency": 0.5}))
    eager = load_timeseries(tmp_path / "sub-*_timeseries.tsv", progress=False)
    assert eager.dims == ("subject", "time", "neuroid") and eager.attrs["repetition_time"] == 2.0
    assert np.isnan(eager.values[1, 15:]).all()
    lazy = load_timeseries(tmp_path / "sub-*_timeseries.tsv", lazy=True, progress=False)
    assert lazy.chunks is not None
    np.testing.assert_allclose(lazy.values, eager.values, equal_nan=True)


def test_csv_misspelt_column_raises(shared_data):
    path = shared_data / "nitime" / "fmri_timeseries.csv"
    with pytest.raises(UnknownNameError) as info:
        load_timeseries(path, repetition_time=1.89, columns=["LThal", "RThall"])
    assert "fmri_timeseries.csv" in str(info.value) and "did you mean 'RThal'" in str(info.value)


def test_csv_missing_or_text_column_raises(tmp_path, series):
    table = pd.DataFrame(series, columns=["a", "b", "c"])
    table["condition"] = "rest"
    table.to_csv(tmp_path / "x.csv", index=False)
    with pytest.raises(SchemaError, match="condition"):
        load_timeseries(tmp_path / "x.csv", repetition_time=1.0)
    assert load_timeseries(tmp_path / "x.csv", repetition_time=1.0, exclude=["condition"]).shape == (20, 3)
    with pytest.raises(UnknownNameError, match="'d'"):
        load_timeseries(tmp_path / "x.csv", repetition_time=1.0, columns=["a", "d"])


def test_nan_in_time_series_file_raises(tmp_path, series):
    series = series.copy()
    series[4, 1] = np.nan
    pd.DataFrame(series, columns=["a", "b", "c"]).to_csv(tmp_path / "nan.csv", index=False)
    with pytest.raises(DataError, match="row 4, column 'b'") as info:
        load_timeseries(tmp_path / "nan.csv", repetition_time=1.0)
    assert "nan.csv" in str(info.value)


def test_unknown_repetition_time_raises(tmp_path, series):
    np.save(tmp_path / "x.npy", series)
    with pytest.raises(ConfigError, match="repetition_time"):
        load_timeseries(tmp_path / "x.npy")


def test_timeseries_file_errors_are_neuroalign_errors(tmp_path):
    (tmp_path / "x.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(NeuroalignError, match="x.npy"):
        load_timeseries(tmp_path / "x.npy", repetition_time=1.0)
    with pytest.raises(FileFormatError, match="does not exist"):
        load_timeseries(tmp_path / "missing.csv", repetition_time=1.0)


@pytest.mark.parametrize("name, text", [
    ("sub-01_timeseries.csv", "V1,V2,V1\n1,2,3\n2,1,4\n3,5,1\n4,4,4\n"),
    ("sub-01_timeseries.tsv", "V1\tV2\tV1\n1\t2\t3\n2\t1\t4\n3\t5\t1\n4\t4\t4\n"),
    ("sub-01_timeseries.txt", "V1 V2 V1\n1 2 3\n2 1 4\n3 5 1\n4 4 4\n"),
])
def test_duplicate_column_names_raise(tmp_path, name, text):
    # pandas would silently rename the second V1 to "V1.1"
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(FileFormatError, match=r"repeats the column name\(s\) \['V1'\]") as info:
        load_timeseries(path, repetition_time=2.0)
    assert str(path) in str(info.value) and "own name" in info.value.fix


def test_duplicate_confound_columns_raise(run, tmp_path):
    path, img = run
    tsv = tmp_path / "sub-01_desc-confounds_timeseries.tsv"
    tsv.write_text("trans_x\tcsf\tcsf\n" + "".join(f"{i * 0.1}\t1\t2\n" for i in range(30)))
    with pytest.raises(FileFormatError, match="csf") as info:
        load_roi_timeseries(path, block_atlas(img), confounds=tsv)
    assert str(tsv) in str(info.value)


@pytest.mark.parametrize("text", ["V1,V2\n1,2\n", "1,2,3\n", "V1,V2\n1,2\n3,4\n", "V1,V2\n"])
def test_too_short_time_series_raises(tmp_path, text):
    path = tmp_path / "short.csv"
    path.write_text(text)
    with pytest.raises(DataError, match="at least 3") as info:
        load_timeseries(path, repetition_time=2.0)
    assert str(path) in str(info.value) and "transpose=True" in info.value.fix


# ---------------------------------------------------------------- connectivity files


def test_load_connectivity_formats(tmp_path, rng):
    x = rng.normal(size=(50, 4))
    fc = np.corrcoef(x.T)
    ids = ["A", "B", "C", "D"]
    pd.DataFrame(fc, index=ids, columns=ids).to_csv(tmp_path / "sub-01_fc.csv")
    np.save(tmp_path / "sub-02_fc.npy", fc[np.triu_indices(4, 1)])
    a = load_connectivity(tmp_path / "sub-01_fc.csv", kind="correlation")
    assert a.dims == ("neuroid_a", "neuroid_b") and a.neuroid_a.values.tolist() == ids
    np.testing.assert_allclose(a.values, fc)
    b = load_connectivity(tmp_path / "sub-02_fc.npy", neuroid_ids=ids)
    np.testing.assert_allclose(b.values, fc)
    np.save(tmp_path / "sub-03_fc.npy", fc)
    both = load_connectivity([tmp_path / "sub-02_fc.npy", tmp_path / "sub-03_fc.npy"], neuroid_ids=ids,
                             kind="correlation", progress=False)
    assert both.dims == ("subject", "neuroid_a", "neuroid_b") and both.subject.values.tolist() == ["02", "03"]
    np.save(tmp_path / "rect.npy", np.ones((3, 4)))
    with pytest.raises(SchemaError, match="square"):
        load_connectivity(tmp_path / "rect.npy")
    asym = fc.copy()
    asym[0, 1] += 0.5
    np.save(tmp_path / "asym.npy", asym)
    with pytest.raises(DataError, match="symmetric"):
        load_connectivity(tmp_path / "asym.npy")


def test_missing_nilearn_names_the_pip_command(run, monkeypatch):
    import sys

    from neuroalign.errors import DependencyError

    path, img = run
    monkeypatch.setitem(sys.modules, "nilearn", None)  # makes `import nilearn` fail as if not installed
    with pytest.raises(DependencyError, match=r"pip install 'neuroalign\[fmri\]'"):
        load_roi_timeseries(path, block_atlas(img))
