import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neuroalign.data import create_assembly, hash_array, load, provenance, save, write_atomically
from neuroalign.data.io import load_group, missing_zarr_chunks
from neuroalign.errors import ConfigError, DataError, FileFormatError, SchemaError


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


# ------------------------------------------------------------------ trial Datasets


def assert_same(a, b):
    """Identical values, coords, attrs (decoded), dtypes and a DataArray's name."""
    xr.testing.assert_identical(a, b)
    assert type(a) is type(b) and a.attrs == b.attrs
    if isinstance(a, xr.DataArray):
        assert a.name == b.name and a.dtype == b.dtype
    for name in a.coords if isinstance(a, xr.DataArray) else a.variables:
        assert a[name].dtype == b[name].dtype, name
        assert a[name].attrs == b[name].attrs, name
    for dim, index in a.indexes.items():
        assert b.indexes[dim].dtype == index.dtype, dim


def behaviour_datasets(folder, shared):
    from neuroalign.loaders.behavior import load_trials
    from neuroalign.loaders.psychophysics import load_metameric_psychophysics
    from neuroalign.loaders.triplets import load_triplets

    events = folder / "sub-01_task-faces_run-1_events.tsv"
    events.write_text("onset\tduration\tstim_file\tresponse_time\tcorrect\ttrial_type\n"
                      "0.0\t1.0\tface1.png\t0.52\t1\tface\n2.0\t1.0\tface2.png\tn/a\tn/a\thouse\n"
                      "4.0\t1.0\tface3.png\t0.61\t0\tface\n")
    table = folder / "trials.csv"
    table.write_text("subject,stimulus,choice,rt,correct,flag\ns1,cat,left,612,1,True\ns1,dog,right,,0,False\n"
                     "s2,car,left,455,1,True\n")
    triplets = folder / "triplets.csv"
    triplets.write_text("subject,image_1,image_2,image_3,choice,rt\ns1,cat,dog,car,car,1.2\n"
                        "s1,cat,cow,dog,cat,0.9\ns2,cow,car,dog,dog,1.4\n")
    return {
        "bids-events": load_trials(events),
        "csv-trials": load_trials([table, table], rt_unit="ms"),
        "triplets": load_triplets(triplets),
        "psychophysics": load_metameric_psychophysics(shared / "harrington_deza2022", session_kinds=["main"],
                                                      progress=False),
    }


@pytest.fixture(scope="module")
def behaviour(tmp_path_factory, shared_data):
    return behaviour_datasets(tmp_path_factory.mktemp("behaviour"), shared_data)


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
@pytest.mark.parametrize("kind", ["bids-events", "csv-trials", "triplets", "psychophysics"])
def test_behaviour_trial_datasets_round_trip(tmp_path, behaviour, kind, suffix):
    dataset = behaviour[kind]
    assert isinstance(dataset, xr.Dataset) and "trial" in dataset.dims
    path = save(dataset, tmp_path / f"trials{suffix}")
    assert_same(dataset, load(path))
    lazy = load(path, lazy=True)
    assert any(v.chunks is not None for v in lazy.data_vars.values())
    assert_same(dataset, lazy.load())


def test_a_one_variable_dataset_stays_a_dataset(tmp_path):
    dataset = xr.Dataset({"correct": ("trial", [1.0, np.nan])}, coords={"trial": [0, 1]})
    assert_same(dataset, load(save(dataset, tmp_path / "one.nc")))


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
@pytest.mark.parametrize("name", [None, "values", "brain", "stimulus_id"])
def test_names_and_object_labels_round_trip(tmp_path, rng, suffix, name):
    a = sample(rng).rename(name)
    a = a.assign_coords(neuroid=pd.Index(np.array(["x", "y", "z"], dtype=object), dtype=object))
    a = a.assign_coords(label=("presentation", np.array(["p", "q", "r", "s"], dtype=object)))
    b = load(save(a, tmp_path / f"a{suffix}"))
    assert_same(a, b)
    assert b.indexes["neuroid"].dtype == object  # not pandas' str dtype, which breaks idxmax and netCDF


def test_text_coordinate_mixing_types_is_refused(tmp_path, rng):
    a = sample(rng).assign_coords(label=("presentation", np.array(["p", 1.5, None, "s"], dtype=object)))
    with pytest.raises(SchemaError, match="'label' has dtype object and holds NoneType, float values"):
        save(a, tmp_path / "a.nc")
    assert not (tmp_path / "a.nc").exists()


def test_groups_round_trip(tmp_path, rng, behaviour):
    a = sample(rng)
    path = save(a, tmp_path / "a.nc", groups={"trials": behaviour["triplets"], "other": a * 2})
    assert_same(a, load(path))
    assert_same(behaviour["triplets"], load_group(path, "trials"))
    assert_same(a * 2, load_group(path, "other"))
    with pytest.raises(FileFormatError, match="group 'nope'"):
        load_group(path, "nope")
    with pytest.raises(ConfigError, match="invalid group name"):
        save(a, tmp_path / "b.nc", groups={"a/b": a})


def test_unwritable_destination(tmp_path, rng):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(FileFormatError, match="cannot write it"):
        save(sample(rng), blocker / "a.nc")


def test_load_validates_what_it_reads(tmp_path, rng):
    a = sample(rng).drop_attrs()
    duplicated = a.assign_coords(neuroid_id=("neuroid", ["n0", "n0", "n1"]))
    duplicated.to_netcdf(tmp_path / "dup.nc", engine="h5netcdf")  # written by plain xarray, not save
    with pytest.raises(SchemaError, match="dup.nc: neuroid_id has duplicates"):
        load(tmp_path / "dup.nc")
    infinite = a.copy(data=np.where(a.values > 1, np.inf, a.values))
    infinite.to_netcdf(tmp_path / "inf.nc", engine="h5netcdf")
    with pytest.raises(DataError, match="inf.nc: .* inf"):
        load(tmp_path / "inf.nc")


# ------------------------------------------------------------------ zarr chunks


def chunked(rng):
    """An array stored in several chunks, with an all-NaN block (NaN is allowed in saved arrays)."""
    a = create_assembly(rng.normal(size=(4000, 600)), stimulus_id=[f"s{i}" for i in range(4000)])
    a[:1000] = np.nan
    return a


def test_chunks_equal_to_the_fill_value_are_written(tmp_path, rng):
    a = chunked(rng)
    path = save(a, tmp_path / "a.zarr")
    assert missing_zarr_chunks(path) == {}
    assert (path / "values" / "0.0").is_file()  # all NaN, still on disk
    assert_same(a, load(path))


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("variable, key", [("values", "1.0"), ("stimulus_id", "0")])
def test_missing_zarr_chunk_is_an_error(tmp_path, rng, lazy, variable, key):
    path = save(chunked(rng), tmp_path / "a.zarr")
    (path / variable / key).unlink()
    assert missing_zarr_chunks(path) == {variable: [key]}
    with pytest.raises(FileFormatError, match=rf"a.zarr: 1 chunk file\(s\) are missing \({variable}: {key}\).*"
                                              r"Fix: .*re-create it with neuroalign.data.save"):
        load(path, lazy=lazy)


def test_missing_chunk_in_a_group_is_an_error(tmp_path, rng, behaviour):
    path = save(sample(rng), tmp_path / "a.zarr", groups={"trials": behaviour["triplets"]})
    (path / "trials" / "choice" / "0").unlink()
    with pytest.raises(FileFormatError, match=r"trials/choice: 0"):
        load_group(path, "trials")


# ------------------------------------------------------------------ damaged bytes


def test_overwritten_values_in_a_netcdf_file_are_detected(tmp_path, rng):
    a = sample(rng)
    path = save(a, tmp_path / "a.nc")
    content = bytearray(path.read_bytes())
    start = bytes(content).find(a.values.tobytes())  # h5netcdf stores the values contiguously, uncompressed
    assert start > 0
    content[start + 3] ^= 0x40
    path.write_bytes(bytes(content))
    with pytest.raises(FileFormatError, match=r"a.nc: the values of 'values' differ from those that were written"):
        load(path)


def test_truncated_zarr_chunk_is_detected(tmp_path, rng):
    path = save(sample(rng), tmp_path / "a.zarr")
    chunk = path / "values" / "0.0.0"  # small: blosc stores it uncompressed, and decodes garbage from half of it
    chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])
    with pytest.raises(FileFormatError, match=r"a.zarr: the values of 'values' differ"):
        load(path)


def test_deleted_zarr_attributes_are_detected(tmp_path, rng):
    path = save(sample(rng), tmp_path / "a.zarr")
    (path / ".zattrs").unlink()  # zarr would read the store without its attributes (provenance)
    with pytest.raises(FileFormatError, match=r"metadata is damaged \(.zattrs is missing\)"):
        load(path)


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
@pytest.mark.parametrize("unit", ["s", "us", "ns"])
def test_datetime_and_timedelta_coordinates_round_trip(tmp_path, rng, suffix, unit):
    # CF decoding returns datetime64[ns]/timedelta64[ns] whatever resolution was written (pandas gives [us]);
    # a valid file must not be reported as damaged, and the dtype must come back as saved
    a = sample(rng).assign_coords(
        acquired=("presentation", pd.date_range("2020-01-01", periods=4, freq="h").values.astype(f"M8[{unit}]")),
        delay=("presentation", pd.to_timedelta([1, 2, 3, 4], unit="s").values.astype(f"m8[{unit}]")))
    b = load(save(a, tmp_path / f"a{suffix}"))
    xr.testing.assert_identical(a, b)
    trials = xr.Dataset({"onset": ("trial", a["acquired"].values)},
                        coords={"trial": pd.date_range("2021-05-01", periods=4, freq="min").values.astype(f"M8[{unit}]")})
    xr.testing.assert_identical(trials, load(save(trials, tmp_path / f"t{suffix}")))


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
@pytest.mark.parametrize("attrs", [{"missing_value": -1}, {"scale_factor": 2.0}, {"add_offset": 1.0},
                                   {"_FillValue": 0.0}, {"coordinates": "x"}, {"units": "days since 2000-01-01"}])
def test_attributes_that_readers_apply_to_the_values_are_refused_at_save(tmp_path, rng, attrs, suffix):
    """Stored as given, CF attributes change the values read back (missing_value=-1 made every -1 a NaN)."""
    array = create_assembly(rng.integers(-1, 2, size=(3, 4)).astype(float), stimulus_id=list("abc"))
    array.attrs.update(attrs)
    name = next(iter(attrs))
    with pytest.raises(SchemaError, match=f"'{name}' would be applied to the values") as error:
        save(array, tmp_path / f"a{suffix}")
    assert f"obj.attrs.pop('{name}')" in str(error.value)
    assert not list(tmp_path.iterdir())  # nothing written
    plain = array.copy()
    plain.attrs = {"units": "ms", "calendar": "noleap"}  # ordinary attributes still round trip
    assert load(save(plain, tmp_path / f"b{suffix}")).identical(plain)
