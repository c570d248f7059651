"""Fuzzing the fMRI, time-series and connectivity loaders and entry points with bad input.

Every case writes a real file (CSV, TSV, NPY, MAT, NIfTI) or passes a real
array.  Whatever goes in, only a :class:`~neuroalign.errors.NeuroalignError`
may come out, and a returned result may hold NaN only where NaN means
"missing" by the documented data model (padding, scrubbed volumes, windows
with too few volumes).
"""

from __future__ import annotations

import gzip
import warnings

import nibabel as nib
import numpy as np
import pytest
import scipy.io
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuroalign.errors import NeuroalignError
from neuroalign.loaders.bids import parse_bids_entities
from neuroalign.loaders.confounds import load_confounds, scrubbing_mask
from neuroalign.loaders.connectivity_files import load_connectivity
from neuroalign.loaders.functional_connectivity import (
    connectivity,
    parse_duration,
    square_connectivity,
    vectorize_connectivity,
)
from neuroalign.loaders.fmri import load_roi_timeseries
from neuroalign.loaders.timeseries_files import load_timeseries

pytest.importorskip("nilearn")

TR = 2.0


def outcome(call, allow_nan: bool = False):
    """Run ``call``: a NeuroalignError is fine, any other exception fails; a result must be finite."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = call()
        except NeuroalignError as err:
            assert err.problem and str(err)  # a message a user can read
            return err
    values = out[0] if isinstance(out, tuple) else out
    if values is not None and not isinstance(values, (dict, int)):
        values = np.asarray(getattr(values, "values", values), dtype=float)
        if not allow_nan:
            assert np.isfinite(values).all(), "a NaN or inf came back without an error"
    return out


def series(n_time=40, n_roi=4, seed=0, lead=None):
    rng = np.random.default_rng(seed)
    shape = (n_time, n_roi) if lead is None else (lead, n_time, n_roi)
    values = rng.normal(size=shape)
    dims = ("time", "neuroid") if lead is None else ("subject", "time", "neuroid")
    coords = {"time": np.arange(n_time) * TR, "neuroid_id": ("neuroid", [f"r{i}" for i in range(n_roi)])}
    if lead is not None:
        coords["subject"] = [f"s{i}" for i in range(lead)]
    return xr.DataArray(values, dims=dims, coords=coords, attrs={"repetition_time": TR})


# ---------------------------------------------------------------- time-series files

GOOD_CSV = "V1,V2,V3\n" + "".join(f"{i},{(i * 7) % 5},{(i * 3) % 11}\n" for i in range(12))

TEXT_FILES = {
    "empty": ("ts.csv", b""),
    "blank lines": ("ts.csv", b"\n\n\n"),
    "header only": ("ts.csv", b"V1,V2\n"),
    "one row": ("ts.csv", b"V1,V2\n1,2\n"),
    "one header-less row": ("ts.csv", b"1,2,3\n"),
    "truncated mid-row": ("ts.csv", GOOD_CSV.encode()[:-4]),
    "ragged rows": ("ts.csv", b"V1,V2\n1,2\n3,4,5\n6,7\n8,9\n"),
    "missing field": ("ts.csv", b"V1,V2\n1,2\n3,\n6,7\n8,9\n"),
    "text value": ("ts.csv", b"V1,V2\n1,2\n3,x\n6,7\n8,9\n"),
    "nan value": ("ts.csv", b"V1,V2\n1,2\n3,nan\n6,7\n8,9\n"),
    "n/a value": ("ts.csv", b"V1,V2\n1,2\n3,n/a\n6,7\n8,9\n"),
    "inf value": ("ts.csv", b"V1,V2\n1,2\n3,inf\n6,7\n8,9\n"),
    "huge value": ("ts.csv", b"V1,V2\n1,2\n3,1e999\n6,7\n8,9\n"),
    "duplicate names": ("ts.csv", b"V1,V1\n1,2\n3,4\n6,7\n8,9\n"),
    "unnamed column": ("ts.csv", b"V1,,V3\n1,2,3\n3,4,5\n6,7,8\n8,9,1\n"),
    "tsv read as csv": ("ts.csv", b"V1\tV2\n1\t2\n3\t4\n6\t7\n8\t9\n"),
    "binary garbage csv": ("ts.csv", bytes(range(256)) * 4),
    "latin-1 header": ("ts.csv", "caf\xe9,b\n1,2\n3,4\n5,6\n".encode("latin-1")),
    "quote never closed": ("ts.csv", b'V1,"V2\n1,2\n3,4\n5,6\n'),
    "duplicate names tsv": ("ts.tsv", b"a\ta\n1\t2\n3\t4\n5\t6\n"),
    "txt duplicate names": ("ts.txt", b"a b a\n1 2 3\n3 4 5\n5 6 7\n"),
    "txt ragged": ("ts.txt", b"a b\n1 2\n3 4 5\n5 6\n"),
    "unknown extension": ("ts.xlsx", b"V1,V2\n1,2\n"),
    "constant column": ("ts.csv", b"V1,V2\n1,5\n2,5\n3,5\n4,5\n"),
}


@pytest.mark.parametrize("case", list(TEXT_FILES))
def test_timeseries_text_files(tmp_path, case):
    name, content = TEXT_FILES[case]
    path = tmp_path / name
    path.write_bytes(content)
    out = outcome(lambda: load_timeseries(path, repetition_time=TR))
    if case in ("duplicate names", "duplicate names tsv", "txt duplicate names", "one row", "header only",
                "nan value", "inf value", "n/a value", "truncated mid-row", "ragged rows", "empty"):
        assert isinstance(out, NeuroalignError), f"{case} was accepted"
    if not isinstance(out, NeuroalignError):  # whatever loads must be usable downstream, or refused there
        outcome(lambda: connectivity(out))


def _npy(array):
    return lambda path: np.save(path, array, allow_pickle=True)


ARRAY_FILES = {
    "3d npy": ("ts.npy", _npy(np.zeros((4, 5, 6)))),
    "0d npy": ("ts.npy", _npy(np.float64(3.0))),
    "1d npy": ("ts.npy", _npy(np.arange(10.0))),
    "empty npy": ("ts.npy", _npy(np.zeros((0, 3)))),
    "zero columns npy": ("ts.npy", _npy(np.zeros((10, 0)))),
    "object npy (pickle)": ("ts.npy", _npy(np.array([{"a": 1}, None], dtype=object))),
    "string npy": ("ts.npy", _npy(np.array([["a", "b"], ["c", "d"], ["e", "f"]]))),
    "complex npy": ("ts.npy", _npy(np.ones((10, 3)) * (1 + 2j))),
    "bool npy": ("ts.npy", _npy(np.eye(5, dtype=bool))),
    "nan npy": ("ts.npy", _npy(np.where(np.eye(6, 3) > 0, np.nan, 1.0))),
    "structured npy": ("ts.npy", _npy(np.zeros(5, dtype=[("a", "f8"), ("b", "i4")]))),
    "truncated npy": ("ts.npy", lambda path: path.write_bytes(_npy_bytes(np.ones((50, 4)))[:100])),
    "text as npy": ("ts.npy", lambda path: path.write_text("V1,V2\n1,2\n")),
    "garbage mat": ("ts.mat", lambda path: path.write_bytes(b"MATLAB 5.0 MAT-file" + bytes(200))),
    "mat without arrays": ("ts.mat", lambda path: scipy.io.savemat(path, {"name": "abc"})),
    "mat two arrays": ("ts.mat", lambda path: scipy.io.savemat(path, {"a": np.ones((5, 2)), "b": np.ones((5, 2))})),
    "mat 3d": ("ts.mat", lambda path: scipy.io.savemat(path, {"a": np.ones((5, 2, 3))})),
    "mat cell": ("ts.mat", lambda path: scipy.io.savemat(path, {"a": np.array([np.ones(3), np.ones(2)],
                                                                            dtype=object)})),
    "folder": ("ts.csv", lambda path: path.mkdir()),
}


def _npy_bytes(array) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.mark.parametrize("case", list(ARRAY_FILES))
def test_timeseries_array_files(tmp_path, case):
    name, write = ARRAY_FILES[case]
    path = tmp_path / name
    write(path)
    out = outcome(lambda: load_timeseries(path, repetition_time=TR))
    if case in ("3d npy", "0d npy", "empty npy", "zero columns npy", "object npy (pickle)", "string npy",
                "complex npy", "nan npy", "structured npy", "truncated npy", "folder"):
        assert isinstance(out, NeuroalignError), f"{case} was accepted"


@pytest.mark.parametrize("kwargs", [
    dict(neuroid_ids=["a", "a", "b"]),
    dict(neuroid_ids=["a", "b"]),
    dict(neuroid_ids="abc"),
    dict(columns=["V9"]),
    dict(columns="V1"),
    dict(exclude=["V1", "V2", "V3"]),
    dict(columns=["V1", "V1"]),
    dict(repetition_time=0),
    dict(repetition_time=-2.0),
    dict(repetition_time=float("nan")),
    dict(repetition_time="2"),
    dict(stack_dim=3),
    dict(errors="ignore"),
    dict(transpose=True),
    dict(variable=["x"]),
])
def test_timeseries_arguments(tmp_path, kwargs):
    path = tmp_path / "ts.csv"
    path.write_text(GOOD_CSV)
    kwargs = {"repetition_time": TR, **kwargs}
    out = outcome(lambda: load_timeseries(path, **kwargs))
    if not isinstance(out, NeuroalignError):
        assert len(set(out.neuroid_id.values.tolist())) == out.sizes["neuroid"]
        assert out.attrs["repetition_time"] > 0 and out.sizes["time"] >= 3


def test_timeseries_stacks_with_bad_members(tmp_path):
    good = tmp_path / "sub-01_ts.csv"
    good.write_text(GOOD_CSV)
    other = tmp_path / "sub-02_ts.csv"
    other.write_text("A,B\n" + "".join(f"{i},{i % 3}\n" for i in range(10)))
    bad = tmp_path / "sub-03_ts.csv"
    bad.write_bytes(b"")
    for paths in ([good, other], [good, bad], [good, good], [bad], [], [good, tmp_path / "missing.csv"]):
        outcome(lambda: load_timeseries(paths, repetition_time=TR, progress=False), allow_nan=True)
    skipped = outcome(lambda: load_timeseries([good, bad], repetition_time=TR, errors="skip", progress=False))
    assert skipped.sizes["subject"] == 1 and len(skipped.attrs["skipped"]) == 1
    outcome(lambda: load_timeseries(str(tmp_path / "nothing-*.csv"), repetition_time=TR))
    lazy = outcome(lambda: load_timeseries([good, bad], repetition_time=TR, lazy=True, progress=False),
                   allow_nan=True)
    if not isinstance(lazy, NeuroalignError):
        outcome(lambda: lazy.compute(), allow_nan=True)


# ---------------------------------------------------------------- connectivity files

FC = np.array([[1.0, 0.3, -0.2], [0.3, 1.0, 0.5], [-0.2, 0.5, 1.0]])

CONNECTIVITY_FILES = {
    "rectangular": ("fc.npy", _npy(np.ones((3, 4)))),
    "asymmetric": ("fc.npy", _npy(FC + np.triu(np.ones((3, 3)), 1))),
    "nan": ("fc.npy", _npy(np.where(np.eye(3) > 0, np.nan, FC))),
    "inf": ("fc.npy", _npy(np.where(np.eye(3) > 0, np.inf, FC))),
    "4d": ("fc.npy", _npy(np.ones((2, 2, 3, 3)))),
    "scalar": ("fc.npy", _npy(np.float64(1.0))),
    "one value": ("fc.npy", _npy(np.ones(1))),
    "vector of 4": ("fc.npy", _npy(np.ones(4))),
    "empty": ("fc.npy", _npy(np.zeros((0, 0)))),
    "stack with nan": ("fc.npy", _npy(np.stack([FC, np.full((3, 3), np.nan)]))),
    "string": ("fc.npy", _npy(np.array([["a"]]))),
    "csv mismatched labels": ("fc.csv", lambda p: p.write_text(",A,B\nA,1,0.1\nC,0.1,1\n")),
    "csv duplicate labels": ("fc.csv", lambda p: p.write_text(",A,A\nA,1,0.1\nA,0.1,1\n")),
    "csv text cell": ("fc.csv", lambda p: p.write_text("A,B\n1,x\n0.1,1\n")),
    "csv truncated": ("fc.csv", lambda p: p.write_text(",A,B,C\nA,1,0.1,0.2\nB,0.1,1,0.3\nC,0.2")),
    "csv empty": ("fc.csv", lambda p: p.write_text("")),
    "csv header only": ("fc.csv", lambda p: p.write_text("A,B\n")),
}


@pytest.mark.parametrize("case", list(CONNECTIVITY_FILES))
def test_connectivity_files(tmp_path, case):
    name, write = CONNECTIVITY_FILES[case]
    path = tmp_path / name
    write(path)
    out = outcome(lambda: load_connectivity(path))
    if case == "one value":  # the upper triangle of a 2 x 2 correlation matrix
        assert out.shape == (2, 2)
    else:
        assert isinstance(out, NeuroalignError), f"{case} was accepted"


@pytest.mark.parametrize("ids", [["a", "a", "b"], ["a", "b"], ["a", "b", "c", "d"]])
def test_connectivity_file_ids(tmp_path, ids):
    path = tmp_path / "fc.npy"
    np.save(path, FC)
    assert isinstance(outcome(lambda: load_connectivity(path, neuroid_ids=ids)), NeuroalignError)


# ---------------------------------------------------------------- connectivity()


def _with(values=None, **changes):
    ts = series()
    if values is not None:
        ts = ts.copy(data=values)
    return ts.assign_coords(**changes) if changes else ts


def _set(index, value):
    ts = series()
    data = ts.values.copy()
    data[index] = value
    return ts.copy(data=data)


CONNECTIVITY_INPUTS = {
    "numpy array": lambda: series().values,
    "list": lambda: series().values.tolist(),
    "dataset": lambda: series().to_dataset(name="x"),
    "one row": lambda: series(n_time=1),
    "two rows": lambda: series(n_time=2),
    "no neuroid": lambda: series(n_roi=0),
    "one neuroid": lambda: series(n_roi=1),
    "inf value": lambda: _set((3, 1), np.inf),
    "nan value": lambda: _set((3, 1), np.nan),
    "all nan": lambda: series().copy(data=np.full((40, 4), np.nan)),
    "nan column": lambda: _set((slice(None), 2), np.nan),
    "constant column": lambda: _set((slice(None), 2), 4.0),
    "huge values": lambda: series() * 1e200,
    "tiny values": lambda: series() * 1e-200,
    "integer values": lambda: series().copy(data=(series().values * 10).astype(int)),
    "complex values": lambda: series().copy(data=series().values * (1 + 1j)),
    "string values": lambda: series().copy(data=series().values.astype(str)),
    "duplicate neuroid ids": lambda: _with(neuroid_id=("neuroid", ["a", "a", "b", "c"])),
    "duplicate times": lambda: _with(time=np.r_[0.0, np.arange(39) * TR]),
    "decreasing times": lambda: _with(time=np.arange(40)[::-1] * TR),
    "irregular times": lambda: _with(time=np.cumsum(np.random.default_rng(1).uniform(1, 3, 40))),
    "nan time": lambda: _with(time=np.r_[np.nan, np.arange(1, 40) * TR]),
    "no neuroid_id": lambda: series().drop_vars("neuroid_id"),
    "zero repetition time": lambda: series().assign_attrs(repetition_time=0.0),
    "negative repetition time": lambda: series().assign_attrs(repetition_time=-2.0),
    "string repetition time": lambda: series().assign_attrs(repetition_time="2"),
    "extra dim order": lambda: series(lead=2).transpose("neuroid", "subject", "time"),
    "window dim": lambda: series(lead=2).rename(subject="window"),
}


@pytest.mark.parametrize("case", list(CONNECTIVITY_INPUTS))
@pytest.mark.parametrize("kind", ["correlation", "partial correlation", "covariance", "precision", "tangent"])
def test_connectivity_inputs(case, kind):
    ts = CONNECTIVITY_INPUTS[case]()
    for options in (dict(), dict(window=10, step=3)):
        out = outcome(lambda: connectivity(ts, kind, **options), allow_nan=True)
        if isinstance(out, NeuroalignError):
            continue
        assert out.attrs["n_missing_windows"] == 0 and np.isfinite(out.values).all(), case
        assert np.array_equal(out.values, np.swapaxes(out.values, -1, -2))
        if kind in ("correlation", "partial correlation"):
            assert np.abs(out.values).max() <= 1


@pytest.mark.parametrize("kwargs", [
    dict(kind=["correlation"]), dict(kind=None), dict(window=0), dict(window=-5), dict(window=2.5),
    dict(window=True), dict(window="inf s"), dict(window="nan s"), dict(window="1e3s"), dict(window="-3vol"),
    dict(window=10 ** 12), dict(window=10, step=0), dict(window=10, step=-1), dict(window=10, step=1.5),
    dict(window=10, step=10 ** 9), dict(window=10, taper="nope"), dict(window=10, taper=np.ones(3)),
    dict(window=10, taper=np.r_[np.ones(9), np.nan]), dict(window=10, taper=-np.ones(10)),
    dict(window=10, taper=np.zeros(10)), dict(window=10, taper=("tukey", "x")), dict(window=10, taper=[1] * 10),
    dict(window=10, taper=5), dict(shrinkage=1.5), dict(shrinkage=-0.1), dict(shrinkage="lw"),
    dict(shrinkage=float("nan")), dict(shrinkage=True), dict(min_volumes=-1), dict(min_volumes=0),
    dict(min_volumes="3"), dict(min_volumes=2.5), dict(window=10, min_volumes=10 ** 6), dict(fisher_z="yes"),
    dict(shrinkage=1.0), dict(kind="tangent", shrinkage=1.0), dict(kind="covariance", shrinkage=0.0),
    dict(window=10, step=3, shrinkage=0.3),
])
def test_connectivity_arguments(kwargs):
    ts = series(lead=2)
    out = outcome(lambda: connectivity(ts, **kwargs), allow_nan=True)
    if not isinstance(out, NeuroalignError):
        assert np.isfinite(out.values).all() or out.attrs["n_missing_windows"] > 0


def test_missing_windows_are_counted_not_silent():
    x = series().values.copy()
    x[10:30] = np.nan  # 20 missing volumes: NaN rows
    out = connectivity(series().copy(data=x), window=8, step=4)
    nan_windows = np.isnan(out.values).all(axis=(-1, -2))
    assert nan_windows.sum() == out.attrs["n_missing_windows"] > 0
    assert np.isfinite(out.values[~nan_windows]).all()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 16), n_time=st.integers(1, 30), n_roi=st.integers(1, 6),
       kind=st.sampled_from(["correlation", "partial correlation", "covariance", "precision", "tangent"]),
       window=st.one_of(st.none(), st.integers(1, 35)), step=st.integers(1, 5),
       shrinkage=st.sampled_from(["auto", None, 0.0, 0.5, 1.0, "ledoit-wolf"]),
       poison=st.sampled_from([None, np.nan, np.inf, -np.inf, 1e308, 0.0]),
       nan_rows=st.integers(0, 10), scale=st.sampled_from([1.0, 1e-150, 1e150]))
def test_connectivity_fuzz(seed, n_time, n_roi, kind, window, step, shrinkage, poison, nan_rows, scale):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, n_time, n_roi)) * scale
    if poison is not None:
        x[rng.integers(2), rng.integers(n_time), rng.integers(n_roi)] = poison
    x[:, rng.permutation(n_time)[:min(nan_rows, n_time)]] = np.nan
    ts = series(n_time, n_roi, lead=2).copy(data=x)
    options = dict(window=window, step=step) if window is not None else {}
    out = outcome(lambda: connectivity(ts, kind, shrinkage=shrinkage, **options), allow_nan=True)
    if not isinstance(out, NeuroalignError):
        nan_windows = np.isnan(out.values).all(axis=(-1, -2))
        assert np.isfinite(out.values[~nan_windows]).all()  # NaN only as whole missing windows
        assert int(nan_windows.sum()) == out.attrs["n_missing_windows"]
        assert np.array_equal(out.values, np.swapaxes(out.values, -1, -2), equal_nan=True)


@pytest.mark.parametrize("value", [2.5, None, "", "s", "60", "60 parsecs", "1e3s", "inf s", "nan s", "0s", "-5s",
                                   "0.1s", True, [30], np.int64(4), np.float64(4.0), "5TR", "99999999999999999999vol"])
def test_parse_duration(value):
    out = outcome(lambda: parse_duration(value, TR))
    if not isinstance(out, NeuroalignError):
        assert isinstance(out, int) and out >= 1


def test_edges_round_trip_with_bad_inputs():
    fc = connectivity(series(lead=2))
    edges = vectorize_connectivity(fc)
    for bad in (edges.isel(edge=slice(0, 5)), edges.drop_vars("neuroid_id_a"), fc.values, edges.rename(edge="e"),
                edges.assign_attrs(diagonal=True), edges.isel(edge=slice(None, None, -1))):
        outcome(lambda: square_connectivity(bad), allow_nan=True)
    for bad in (fc.values, fc.rename(neuroid_b="x"), fc.isel(neuroid_b=[1, 0, 2, 3])):
        outcome(lambda: vectorize_connectivity(bad), allow_nan=True)


@pytest.mark.parametrize("name", ["", "sub-", "sub-01_run-x_bold.nii.gz", "run-007", "_-_", 3, None])
def test_parse_bids_entities(name):
    out = outcome(lambda: parse_bids_entities(name))
    assert isinstance(out, (dict, NeuroalignError))


# ---------------------------------------------------------------- NIfTI runs, atlases, confounds


def _write_nifti(path, data, tr=TR):
    img = nib.Nifti1Image(np.asarray(data), np.eye(4))
    if img.ndim == 4:
        img.header.set_zooms((1, 1, 1, tr))
    nib.save(img, str(path))
    return path


@pytest.fixture
def atlas():
    labels = np.zeros((4, 4, 2), dtype=np.int16)
    labels[:2], labels[2:] = 1, 2
    return nib.Nifti1Image(labels, np.eye(4))


def _run(tmp_path, seed=0):
    return _write_nifti(tmp_path / "sub-01_bold.nii.gz",
                        np.random.default_rng(seed).normal(100, 5, size=(4, 4, 2, 30)).astype("float32"))


NIFTI_RUNS = {
    "empty file": lambda p: p.write_bytes(b""),
    "text file": lambda p: p.write_text("not an image"),
    "truncated gzip": lambda p: p.write_bytes(gzip.compress(_nifti_bytes())[:300]),
    "truncated data": lambda p: p.write_bytes(gzip.compress(_nifti_bytes()[:600])),
    "3d": lambda p: _write_nifti(p, np.ones((4, 4, 2), dtype="float32")),
    "2 volumes": lambda p: _write_nifti(p, np.random.default_rng(0).normal(size=(4, 4, 2, 2)).astype("float32")),
    "5d": lambda p: _write_nifti(p, np.ones((4, 4, 2, 3, 2), dtype="float32")),
    "nan in a region": lambda p: _write_nifti(p, _data_with((0, 0, 0, 3), np.nan)),
    "inf in a region": lambda p: _write_nifti(p, _data_with((3, 3, 1, 0), np.inf)),
    "all nan": lambda p: _write_nifti(p, np.full((4, 4, 2, 30), np.nan, dtype="float32")),
    "constant": lambda p: _write_nifti(p, np.ones((4, 4, 2, 30), dtype="float32")),
    "zero tr": lambda p: _write_nifti(p, _data_with((0, 0, 0, 0), 1.0), tr=0.0),
    "other grid": lambda p: _write_nifti(p, np.ones((5, 5, 3, 30), dtype="float32")),
    "integer data": lambda p: _write_nifti(p, (_data_with((0, 0, 0, 0), 1.0) * 10).astype("int16")),
}


def _data_with(index, value):
    data = np.random.default_rng(0).normal(100, 5, size=(4, 4, 2, 30)).astype("float32")
    data[index] = value
    return data


def _nifti_bytes() -> bytes:
    img = nib.Nifti1Image(_data_with((0, 0, 0, 0), 1.0), np.eye(4))
    return img.header.binaryblock + b"\0" * 4 + img.get_fdata(dtype="float32").tobytes(order="F")


@pytest.mark.parametrize("case", list(NIFTI_RUNS))
def test_nifti_runs(tmp_path, atlas, case):
    path = tmp_path / "sub-01_bold.nii.gz"
    NIFTI_RUNS[case](path)
    out = outcome(lambda: load_roi_timeseries(path, atlas, progress=False))
    if case in ("nan in a region", "inf in a region", "all nan", "3d", "2 volumes", "empty file",
                "truncated gzip", "truncated data", "zero tr"):
        assert isinstance(out, NeuroalignError), f"{case} was accepted"


@pytest.mark.parametrize("kwargs", [
    dict(low_pass=1.0), dict(high_pass=0.3), dict(low_pass=0.01, high_pass=0.1), dict(low_pass="0.1"),
    dict(repetition_time=-1.0), dict(repetition_time=0.0), dict(repetition_time="2"),
    dict(repetition_time=float("inf")), dict(sample_mask=[0.5, 1.5]), dict(sample_mask=np.ones((2, 30), bool)),
    dict(sample_mask=[100]), dict(sample_mask=[0, 1]), dict(sample_mask="all"), dict(fd_threshold=0.5),
    dict(confounds=np.ones((29, 2))), dict(confounds=np.ones((30, 2, 2))), dict(confounds="missing.tsv"),
    dict(confounds=[["a"] * 2] * 30), dict(confounds=np.full((30, 1), np.nan)), dict(confounds=np.ones(30)),
    dict(labels=["a"]), dict(labels=["a", "a"]), dict(labels={1: "a", 2: "a"}), dict(labels={1: "a", 5: "b"}),
    dict(labels=3), dict(atlas_type="blobs"), dict(standardize="maybe"), dict(strategy="median"),
    dict(strategy="mode"), dict(empty_regions="keep"), dict(nan_voxels=None), dict(radius=-1.0),
    dict(detrend="yes"), dict(mask_img=np.ones(3)), dict(stack_dim="subject", lazy=True),
])
def test_nifti_arguments(tmp_path, atlas, kwargs):
    path = _run(tmp_path)
    outcome(lambda: load_roi_timeseries(path, atlas, progress=False, **kwargs))


@pytest.mark.parametrize("make_atlas", [
    lambda: nib.Nifti1Image(np.zeros((4, 4, 2), np.int16), np.eye(4)),
    lambda: nib.Nifti1Image(np.full((4, 4, 2), 0.5, np.float32), np.eye(4)),
    lambda: nib.Nifti1Image(np.full((4, 4, 2), np.nan, np.float32), np.eye(4)),
    lambda: nib.Nifti1Image(np.ones((4, 4, 2), np.int16), np.eye(4) * 2),
    lambda: np.array([[0.0, 0.0]]),
    lambda: np.array([[np.nan, 0.0, 0.0]]),
    lambda: [[1000.0, 1000.0, 1000.0]],
    lambda: "missing_atlas.nii.gz",
    lambda: 7,
    lambda: np.zeros((0, 3)),
])
def test_nifti_atlases(tmp_path, make_atlas):
    path = _run(tmp_path)
    outcome(lambda: load_roi_timeseries(path, make_atlas(), progress=False))


CONFOUND_TABLES = {
    "empty": "",
    "header only": "trans_x\tcsf\n",
    "text": "trans_x\tcsf\n" + "a\tb\n" * 30,
    "n/a after first row": "trans_x\tcsf\n" + "n/a\t1\n" * 30,
    "ragged": "trans_x\tcsf\n" + "1\t2\n" * 10 + "1\n" + "1\t2\n" * 19,
    "duplicate": "csf\tcsf\n" + "1\t2\n" * 30,
    "fd text": "trans_x\tframewise_displacement\n" + "0\tx\n" * 30,
    "fd nan in middle": "trans_x\tframewise_displacement\n" + "0\tn/a\n" * 30,
    "fd short": "framewise_displacement\n" + "0.1\n" * 12,
    "wrong rows": "trans_x\tcsf\n" + "1\t2\n" * 12,
}


@pytest.mark.parametrize("case", list(CONFOUND_TABLES))
def test_confound_tables(tmp_path, case):
    path = tmp_path / "sub-01_desc-confounds_timeseries.tsv"
    path.write_text(CONFOUND_TABLES[case])
    out = outcome(lambda: load_confounds(path, 30))
    if not isinstance(out, NeuroalignError):
        values, fd = out
        assert fd is None or np.isfinite(fd).all()
        outcome(lambda: scrubbing_mask(None, fd, 0.5, 30, str(path)))
    if case != "header only":
        assert isinstance(out, NeuroalignError), f"{case} was accepted"
