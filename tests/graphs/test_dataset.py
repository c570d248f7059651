"""ConnectivityGraphs: construction from connectivity / time series, labels, subsets, errors, files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from neuroalign.data import load, save
from neuroalign.errors import ConfigError, DataError, FileFormatError, SchemaError, UnknownNameError
from neuroalign.graphs.dataset import ConnectivityGraphs
from neuroalign.graphs.node_features import timeseries_statistics
from neuroalign.graphs.spec import GraphSpec
from neuroalign.loaders.functional_connectivity import connectivity


def timeseries(n_subjects=4, n_time=60, n_rois=5, seed=0):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n_subjects, n_time, n_rois)) + rng.normal(size=(n_subjects, n_time, 1))
    return xr.DataArray(values, dims=("subject", "time", "neuroid"),
                        coords={"subject": [f"sub-{i:02d}" for i in range(n_subjects)],
                                "group": ("subject", np.arange(n_subjects) % 2),
                                "age": ("subject", np.linspace(20, 50, n_subjects)),
                                "time": np.arange(n_time) * 2.0,
                                "neuroid_id": ("neuroid", [f"r{i}" for i in range(n_rois)])},
                        attrs={"repetition_time": 2.0})


def test_from_timeseries_equals_connectivity_and_statistics():
    ts = timeseries()
    ds = ConnectivityGraphs.from_timeseries(ts, window=20, step=10)
    fc = connectivity(ts, window=20, step=10)
    assert torch.equal(ds.fc, torch.from_numpy(fc.values.astype(np.float32)))
    assert torch.equal(ds.extra, torch.from_numpy(timeseries_statistics(ts, fc).values.astype(np.float32)))
    assert ds.dynamic and (ds.n_subjects, ds.n_windows, ds.n_rois, ds.n_extra) == (4, 5, 5, 3)
    assert ds.subjects.tolist() == [f"sub-{i:02d}" for i in range(4)] and ds.rois.tolist()[0] == "r0"
    assert set(ds.labels) == {"group", "age"} and ds.label("group").tolist() == [0, 1, 0, 1]
    assert ds.window_coords["window_start_volume"].tolist() == [0, 10, 20, 30, 40]
    assert ds.extra_names == ["std", "lag1_autocorrelation", "mean"]
    fc0, extra0 = ds[1]
    assert torch.equal(fc0, ds.fc[1]) and torch.equal(extra0, ds.extra[1]) and len(ds) == 4
    assert torch.equal(ds.fc, ds.fc.transpose(-1, -2))


def test_static_connectivity_is_one_window():
    ts = timeseries()
    ds = ConnectivityGraphs.from_timeseries(ts)
    assert not ds.dynamic and ds.fc.shape == (4, 1, 5, 5) and ds.extra.shape == (4, 1, 5, 3)
    assert torch.allclose(ds.fc[:, 0].double(), torch.from_numpy(connectivity(ts).values), atol=1e-7)
    assert ds.window_coords == {}


def test_dense_uses_the_spec_and_subset_keeps_everything_in_order():
    spec = GraphSpec(edges="top_k", edge_value=2, features=("fc_row", "timeseries_stats"))
    ds = ConnectivityGraphs.from_timeseries(timeseries(), window=20, step=10, spec=spec)
    x, adj = ds.dense([3, 1])
    x_ref, adj_ref = spec.build(ds.fc[torch.tensor([3, 1])], ds.extra[torch.tensor([3, 1])])
    assert torch.equal(x, x_ref) and torch.equal(adj, adj_ref) and x.shape[-1] == ds.n_features == 8
    sub = ds.subset([3, 1])
    assert sub.subjects.tolist() == ["sub-03", "sub-01"] and sub.label("age").tolist() == [50.0, 30.0]
    assert torch.equal(sub.dense()[0], x) and sub.content_hash != ds.content_hash
    assert ds.subset(np.array([False, True, False, True])).subjects.tolist() == ["sub-01", "sub-03"]
    assert ds.with_spec(GraphSpec()).content_hash != ds.content_hash
    with pytest.raises(ConfigError, match="indices"):
        ds.subset([7])


def test_labels_argument_and_missing_labels():
    ts = timeseries()
    sex = pd.Series(["f", "m", "m", "f"], index=["sub-03", "sub-00", "sub-01", "sub-02"])
    ds = ConnectivityGraphs.from_timeseries(ts, window=20, step=10, labels={"sex": sex, "score": [1.0, np.nan, 2.0,
                                                                                                  np.nan]})
    assert ds.label("sex").tolist() == ["m", "m", "f", "f"]
    with pytest.raises(DataError, match="sub-01, sub-03"):
        ds.label("score")
    with pytest.raises(UnknownNameError, match="group"):
        ds.label("grup")
    with pytest.raises(DataError, match="sub-00, sub-02"):
        ConnectivityGraphs.from_timeseries(ts, window=20, step=10, labels={"sex": sex.iloc[[0, 2]]})
    with pytest.raises(DataError, match="one value per subject"):
        ConnectivityGraphs.from_timeseries(ts, window=20, step=10, labels={"sex": ["f", "m"]})


def test_schema_errors():
    ts = timeseries()
    static = connectivity(ts)
    with pytest.raises(SchemaError, match="window") as err:
        ConnectivityGraphs.from_connectivity(static, dynamic=True)
    assert "window=" in str(err.value)
    with pytest.raises(SchemaError, match="window"):
        ConnectivityGraphs.from_connectivity(connectivity(ts, window=20), dynamic=False)
    with pytest.raises(SchemaError, match="'subject'"):
        ConnectivityGraphs.from_connectivity(static.isel(subject=0))
    with pytest.raises(SchemaError, match="run"):
        ConnectivityGraphs.from_connectivity(connectivity(ts.expand_dims(run=[1, 2])))
    with pytest.raises(SchemaError, match="DataArray"):
        ConnectivityGraphs.from_connectivity(static.values)
    with pytest.raises(ConfigError, match="timeseries"):
        ConnectivityGraphs.from_connectivity(static, spec=GraphSpec(features=("fc_row", "timeseries_stats")))


def test_nan_windows_name_subject_and_window():
    ts = timeseries()
    values = ts.values.copy()
    values[2, 20:32] = np.nan  # 12 missing volumes: the window starting at volume 20 has 8 of its 20 (< 10)
    fc = connectivity(ts.copy(data=values), window=20, step=10)
    with pytest.raises(DataError, match=r"subject 'sub-02' at window 2 \(starting at 40 s\)"):
        ConnectivityGraphs.from_connectivity(fc)


def test_non_symmetric_connectivity():
    fc = connectivity(timeseries())
    values = fc.values.copy()
    values[0, 0, 1] += 0.1
    with pytest.raises(DataError, match="symmetric"):
        ConnectivityGraphs.from_connectivity(fc.copy(data=values))
    values[0, 0, 1] -= 0.1 - 1e-9  # rounding-level asymmetry is averaged away exactly
    ds = ConnectivityGraphs.from_connectivity(fc.copy(data=values))
    assert torch.equal(ds.fc, ds.fc.transpose(-1, -2))


def test_save_load_round_trip_and_reprocessing(tmp_path, caplog):
    spec = GraphSpec(edges="top_k", edge_value=3)
    ds = ConnectivityGraphs.from_timeseries(timeseries(), window=20, step=10, spec=spec,
                                            labels={"site": ["a", "b", "a", "b"]})
    folder = ds.save(tmp_path / "ds")
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        "processed/meta.json", "processed/tensors.pt", "raw/connectivity.nc", "raw/statistics.nc"]
    tensors = torch.load(folder / "processed/tensors.pt", weights_only=True)
    assert set(tensors) == {"fc", "extra"} and torch.equal(tensors["fc"], ds.fc)
    back = ConnectivityGraphs.load(folder)
    assert back.content_hash == ds.content_hash and back.spec == spec
    assert back.label("site").tolist() == ["a", "b", "a", "b"] and torch.equal(back.extra, ds.extra)
    assert back.window_coords["window_start"].tolist() == ds.window_coords["window_start"].tolist()

    other = GraphSpec(edges="threshold")  # another spec: processed again, metadata rewritten
    caplog.set_level("INFO", logger="neuroalign.graphs.dataset_files")
    assert ConnectivityGraphs.load(folder, spec=other).spec == other
    assert "processing the raw arrays again" in caplog.text
    assert json.loads((folder / "processed/meta.json").read_text())["spec"] == other.to_dict()

    caplog.clear()  # the raw file changed: its hash differs, the tensors follow the raw file
    raw = load(folder / "raw/connectivity.nc")
    save(raw.isel(subject=[1, 0, 2, 3]), folder / "raw/connectivity.nc")
    reordered = ConnectivityGraphs.load(folder)
    assert "processing the raw arrays again" in caplog.text
    assert reordered.subjects.tolist()[:2] == ["sub-01", "sub-00"] and torch.equal(reordered.fc[0], ds.fc[1])

    (folder / "processed/tensors.pt").write_bytes(b"damaged")  # unreadable tensors: processed again
    assert torch.equal(ConnectivityGraphs.load(folder).fc[0], ds.fc[1])
    with pytest.raises(FileFormatError, match="raw/connectivity.nc"):
        ConnectivityGraphs.load(tmp_path / "nothing")


def test_processed_file_with_pickled_objects_is_not_executed(tmp_path):
    ds = ConnectivityGraphs.from_timeseries(timeseries(), window=20, step=10)
    folder = ds.save(tmp_path)

    class Evil:
        def __reduce__(self):
            return (exec, ("raise SystemExit('executed')",))

    torch.save({"fc": ds.fc, "evil": Evil()}, folder / "processed/tensors.pt")
    back = ConnectivityGraphs.load(folder)  # weights_only=True refuses it; the raw file is processed again
    assert torch.equal(back.fc, ds.fc)


def test_real_nitime_timeseries_through_graphs(shared_data):
    """The nitime ROI series (28 ROIs, 250 TRs) → sliding-window graphs → a PyG Batch → dense and back."""
    from neuroalign.graphs.pyg_conversion import pyg_to_dense
    from neuroalign.loaders.timeseries_files import load_timeseries

    ts = load_timeseries(shared_data / "nitime" / "fmri_timeseries.csv", repetition_time=1.89,
                         exclude=["WM", "Vent", "Brain"])
    assert ts.sizes["neuroid"] == 28
    ds = ConnectivityGraphs.from_timeseries(ts.expand_dims(subject=["nitime"]), window=50, step=25,
                                            spec=GraphSpec(features=("fc_row", "timeseries_stats")))
    assert (ds.n_subjects, ds.n_windows, ds.n_rois, ds.n_features) == (1, 9, 28, 31)
    batch = ds.to_batch()
    assert batch.num_graphs == 9 and batch.num_nodes == 9 * 28
    # top 30% of 378 pairs = 113 (if positive), both directions
    assert batch.edge_index.shape[1] <= 9 * 2 * 113 and batch.edge_index.shape[1] > 0
    x, adj = pyg_to_dense(batch)
    x_ref, adj_ref = ds.dense()
    assert torch.equal(x, x_ref) and torch.equal(adj, adj_ref)
    assert torch.isfinite(x).all()
