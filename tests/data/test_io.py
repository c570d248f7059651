import numpy as np
import pytest
import xarray as xr

from neuroalign.data import create_assembly, hash_array, load, provenance, save, write_atomically
from neuroalign.errors import ConfigError, FileFormatError


def sample(rng):
    a = create_assembly(rng.normal(size=(4, 3, 2)), stimulus_id=["a", "b", "c", "d"],
                        dims=("presentation", "neuroid", "time_bin"), time_bins=[(0, 0.05), (0.05, 0.1)],
                        presentation={"repetition": [0, 1, 0, 1]}, neuroid={"region": ["IT", "IT", "V4"]})
    a.attrs.update(provenance({"seed": 3, "flag": True, "layers": ["x", "y"], "none": None}, {"values": a.values}))
    return a


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_round_trip_keeps_values_coords_and_provenance(tmp_path, rng, suffix):
    a = sample(rng)
    path = save(a, tmp_path / f"a{suffix}")
    b = load(path)
    xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())
    assert b.attrs["parameters"] == {"seed": 3, "flag": True, "layers": ["x", "y"], "none": None}
    assert b.attrs["input_hashes"]["values"] == hash_array(a.values)
    assert b.attrs["neuroalign_version"] == a.attrs["neuroalign_version"]
    assert b.stimulus_id.values.tolist() == ["a", "b", "c", "d"]


def test_lazy_zarr_load_is_dask_backed(tmp_path, rng):
    path = save(sample(rng), tmp_path / "a.zarr")
    lazy = load(path, lazy=True)
    assert lazy.chunks is not None
    assert xr.open_zarr(path) is not None  # the store is readable by plain xarray too


def test_overwrite_replaces_atomically(tmp_path, rng):
    path = tmp_path / "a.zarr"
    save(sample(rng), path)
    second = sample(np.random.default_rng(9))
    save(second, path)
    np.testing.assert_allclose(load(path).values, second.values)
    assert [p.name for p in tmp_path.iterdir()] == ["a.zarr"]


def test_crash_during_write_leaves_old_file(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")

    def crash(tmp):
        tmp.write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        write_atomically(path, crash)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_unknown_suffix(tmp_path, rng):
    with pytest.raises(ConfigError, match="suffix '.h5'"):
        save(sample(rng), tmp_path / "a.h5")


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FileFormatError, match="file not found"):
        load(tmp_path / "nope.nc")
    bad = tmp_path / "bad.nc"
    bad.write_bytes(b"not a netcdf file at all")
    with pytest.raises(FileFormatError, match="cannot read it as a netcdf array"):
        load(bad)


def test_hash_array_sees_coords(rng):
    a = sample(rng)
    b = a.assign_coords(region=("neuroid", ["IT", "V4", "V4"]))
    assert hash_array(a) != hash_array(b)
    assert hash_array(a) == hash_array(a.copy(deep=True))
