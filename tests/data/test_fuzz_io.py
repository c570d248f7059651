"""Fuzzing neuroalign.data.load, save and validate: nothing but a NeuroalignError may escape.

Every case writes a real file (netCDF with h5netcdf, zarr stores with
neuroalign.data.save) and damages it the way files get damaged: truncated,
emptied, overwritten with other bytes, replaced by a file of another type.
A load that does not raise must return exactly what was saved: no silent
NaN, no wrong value.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from neuroalign.data import create_assembly, load, save, validate, validate_dataset
from neuroalign.errors import NeuroalignError

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def sample() -> xr.DataArray:
    a = create_assembly(np.random.default_rng(0).normal(size=(6, 4)), stimulus_id=list("abcdef"),
                        neuroid={"region": ["IT", "IT", "V4", "V4"]}, attrs={"parameters": {"seed": 1}})
    return a


def trials() -> xr.Dataset:
    return xr.Dataset({"correct": ("trial", [1.0, np.nan, 0.0]), "response": ("trial", ["left", "n/a", "right"]),
                       "flag": ("trial", [True, False, True])},
                      coords={"trial": [0, 1, 2], "stimulus_id": ("trial", ["x", "y", "z"])},
                      attrs={"skipped": [], "source": "t.csv"})


def load_or_refuse(path: Path, original, lazy: bool = False) -> None:
    """``load`` raises a NeuroalignError, or returns ``original`` unchanged."""
    try:
        back = load(path, lazy=lazy)
        if lazy:
            back = back.load()
    except NeuroalignError:
        return
    xr.testing.assert_identical(back, original)
    assert back.attrs == original.attrs


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved")
    return {(kind, suffix): save(obj, folder / f"{kind}{suffix}")
            for kind, obj in (("array", sample()), ("trials", trials())) for suffix in (".nc", ".zarr")}


def originals():
    return {"array": sample(), "trials": trials()}


# ------------------------------------------------------------------ netCDF bytes


@FUZZ
@given(kind=st.sampled_from(["array", "trials"]), cut=st.floats(0, 1, exclude_max=True))
def test_truncated_netcdf(saved, kind, cut):
    data = saved[kind, ".nc"].read_bytes()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cut.nc"
        path.write_bytes(data[: int(cut * len(data))])
        load_or_refuse(path, originals()[kind])


@FUZZ
@given(kind=st.sampled_from(["array", "trials"]), at=st.floats(0, 1, exclude_max=True),
       junk=st.binary(min_size=1, max_size=64))
@example(kind="array", at=0.19921875, junk=b" ")  # the layout record's prefix: loaded as a Dataset
def test_overwritten_netcdf_bytes(saved, kind, at, junk):
    data = bytearray(saved[kind, ".nc"].read_bytes())
    start = int(at * len(data))
    data[start:start + len(junk)] = junk
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "junk.nc"
        path.write_bytes(bytes(data))
        load_or_refuse(path, originals()[kind])


@pytest.mark.parametrize("kind, old, new", [
    *[(kind, b'json:{"type"', b'js n:{"type"') for kind in ("array", "trials")],  # the layout record's prefix
    *[(kind, b"neuroalign_layout", b"neuroalign_layouu") for kind in ("array", "trials")],  # its name
    ("array", b'"DataArray"', b'"DataArrby"'), ("trials", b'"Dataset"', b'"Datasft"'),  # the type it records
    ("trials", b"t.csv", b"t.csx"), ("array", b'"seed": 1', b'"seed": 7'),  # user attributes
])
def test_overwritten_metadata_bytes_are_detected(saved, kind, old, new):
    """Overwritten text in the attributes (not the values) must not load as other metadata or another type."""
    data = saved[kind, ".nc"].read_bytes()
    assert data.count(old) == 1
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "junk.nc"
        path.write_bytes(data.replace(old, new))
        with pytest.raises(NeuroalignError):
            load(path)


@FUZZ
@given(content=st.binary(max_size=512))
def test_arbitrary_bytes_as_netcdf(content):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "any.nc"
        path.write_bytes(content)
        with pytest.raises(NeuroalignError):
            load(path)


# ------------------------------------------------------------------ zarr stores


def store_files(store: Path) -> list[str]:
    return sorted(str(p.relative_to(store)) for p in store.rglob("*") if p.is_file())


@FUZZ
@given(kind=st.sampled_from(["array", "trials"]), pick=st.integers(0, 10_000),
       damage=st.sampled_from(["empty", "truncate", "junk", "delete", "text"]),
       cut=st.floats(0, 1, exclude_max=True), junk=st.binary(min_size=1, max_size=64),
       lazy=st.booleans())
def test_damaged_zarr_store(saved, kind, pick, damage, cut, junk, lazy):
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "store.zarr"
        shutil.copytree(saved[kind, ".zarr"], store)
        files = store_files(store)
        target = store / files[pick % len(files)]
        data = target.read_bytes()
        if damage == "empty":
            target.write_bytes(b"")
        elif damage == "truncate":
            target.write_bytes(data[: int(cut * len(data))])
        elif damage == "junk":
            target.write_bytes(junk)
        elif damage == "text":
            target.write_text('{"zarr_format": 2, "shape": "oops"}')
        else:
            target.unlink()
        if lazy and target.parent != store and not target.name.startswith("."):
            lazy = False  # lazy loads check chunk presence and metadata, not the chunks' bytes (docs/data-model.md)
        load_or_refuse(store, originals()[kind], lazy=lazy)


def test_wrong_kinds_of_paths(tmp_path):
    (tmp_path / "folder.nc").mkdir()
    (tmp_path / "file.zarr").write_text("not a store")
    (tmp_path / "empty.zarr").mkdir()
    (tmp_path / "empty.nc").write_bytes(b"")
    (tmp_path / "text.nc").write_text("x,y\n1,2\n")
    for name in ("folder.nc", "file.zarr", "empty.zarr", "empty.nc", "text.nc", "missing.nc"):
        for lazy in (False, True):
            with pytest.raises(NeuroalignError):
                load(tmp_path / name, lazy=lazy)


def test_a_plain_netcdf_of_a_string_array_is_refused(tmp_path):
    xr.DataArray(np.array(["a", "b"]), dims="x").to_netcdf(tmp_path / "s.nc", engine="h5netcdf")
    with pytest.raises(NeuroalignError, match="non-numeric"):
        load(tmp_path / "s.nc")


# ------------------------------------------------------------------ save / validate inputs

ODD_VALUES = st.sampled_from([0.0, -1.5, np.nan, np.inf, -np.inf, 1e308, -0.0])
ODD_LABELS = st.sampled_from(["a", "b", "", "n/a", "é", 0, 1.5, None, "a"])


@FUZZ
@given(values=st.lists(ODD_VALUES, min_size=6, max_size=6),
       ids=st.lists(st.sampled_from(["n0", "n1", "n2", ""]), min_size=2, max_size=2),
       labels=st.lists(ODD_LABELS, min_size=3, max_size=3),
       suffix=st.sampled_from([".nc", ".zarr"]))
def test_save_of_odd_arrays(values, ids, labels, suffix):
    array = xr.DataArray(np.array(values).reshape(3, 2), dims=("presentation", "neuroid"),
                         coords={"stimulus_id": ("presentation", ["a", "b", "a"]),
                                 "neuroid_id": ("neuroid", ids),
                                 "label": ("presentation", np.array(labels, dtype=object))})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"odd{suffix}"
        try:
            save(array, path)
        except NeuroalignError:
            assert not path.exists()
            return
        assert not np.isinf(values).any() and len(set(ids)) == 2
        assert all(isinstance(v, str) for v in labels)
        back = load(path)
        xr.testing.assert_identical(back, array)
        assert back.label.dtype == object


@FUZZ
@given(values=st.lists(ODD_VALUES, min_size=3, max_size=3),
       text=st.lists(ODD_LABELS, min_size=3, max_size=3),
       suffix=st.sampled_from([".nc", ".zarr"]))
def test_save_of_odd_datasets(values, text, suffix):
    dataset = xr.Dataset({"rt": ("trial", values), "text": ("trial", np.array(text, dtype=object))},
                         coords={"trial": [0, 1, 2]})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"odd{suffix}"
        try:
            save(dataset, path)
        except NeuroalignError:
            assert not path.exists()
            return
        assert not np.isinf(values).any() and all(isinstance(v, str) for v in text)
        back = load(path)
        xr.testing.assert_identical(back, dataset)
        assert back.text.dtype == object


WRONG_TYPES = [None, 3, "a.nc", [1, 2], {"a": 1}, np.zeros((2, 2)), xr.Variable("x", [1, 2]),
               xr.DataArray(["a", "b"], dims="x"), xr.DataArray([1 + 2j], dims="x"),
               xr.Dataset({"c": ("x", [1 + 2j])}), xr.Dataset({"o": ("x", np.array([object()], dtype=object))})]


@pytest.mark.parametrize("obj", WRONG_TYPES, ids=[type(o).__name__ + str(i) for i, o in enumerate(WRONG_TYPES)])
def test_save_and_validate_of_wrong_types(tmp_path, obj):
    with pytest.raises(NeuroalignError):
        validate(obj, dims=None)
    if not isinstance(obj, xr.DataArray):
        with pytest.raises(NeuroalignError):
            validate_dataset(obj)
    for suffix in (".nc", ".zarr"):
        with pytest.raises(NeuroalignError):
            save(obj, tmp_path / f"x{suffix}")
        assert not (tmp_path / f"x{suffix}").exists()


@pytest.mark.parametrize("name", ["a/b", "", None, ("t", 1), 3])
def test_save_of_awkward_names(tmp_path, name):
    array = sample()
    array.name = name
    for suffix in (".nc", ".zarr"):
        path = tmp_path / f"n{suffix}"
        try:
            save(array, path)
        except NeuroalignError:
            continue
        back = load(path)
        xr.testing.assert_identical(back, array)
        assert back.name == name or (name in ("",) and back.name == name)


@pytest.mark.parametrize("attrs", [{"a/b": 1}, {"obj": object()}, {"nan": float("nan")}, {"arr": np.arange(3)},
                                   {"big": 2**70}, {"nested": {"x": [1, {"y": None}]}}, {"t": (1, 2)}])
def test_save_of_awkward_attributes(tmp_path, attrs):
    array = sample().assign_attrs(attrs)
    for suffix in (".nc", ".zarr"):
        path = tmp_path / f"a{suffix}"
        try:
            save(array, path)
        except NeuroalignError:
            continue
        back = load(path)
        xr.testing.assert_identical(back.drop_attrs(), array.drop_attrs())
        assert set(back.attrs) == set(array.attrs)
