"""Real data through the graph path: ROI time series → sliding-window graphs → pretrained encoder → embeddings.

Two public recordings of ``../shared/data/nitime`` (see its README):

- ``fmri_timeseries.csv``: 31 ROI series of one subject, 250 volumes at TR 1.89 s (nitime's example data);
  the nuisance signals WM, Vent and Brain are left out, 28 ROIs remain;
- ``fmri1.nii.gz`` / ``fmri2.nii.gz``: two 4D runs, 10×10×18 voxels × 40 volumes (TR 1.35 s from the header),
  cut into 8 regions on their own grid (voxel-grid blocks, not anatomy), the first 2 volumes dropped.

A smoke test of the real path: shapes, window coordinates, finite codes for every
window, the window FC against ``np.corrcoef`` of the same volumes, and the CLI
on the CSV file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from neuroalign.data import load
from neuroalign.graphs.dataset import ConnectivityGraphs
from neuroalign.graphs.pretrainer import GraphMAEPretrainer
from neuroalign.graphs.spec import GraphSpec

NUISANCE = ["WM", "Vent", "Brain"]


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def _assert_window_codes(codes, n_subjects: int, n_windows: int, hidden: int) -> None:
    assert codes.dims == ("subject", "window", "feature")
    assert codes.shape == (n_subjects, n_windows, hidden)
    assert np.isfinite(codes.values).all()
    # the codes follow the windows: not one constant vector repeated
    assert (codes.std("window") > 1e-6).any()


def test_nitime_roi_series_to_window_embeddings(shared_data):
    from neuroalign.loaders.timeseries_files import load_timeseries

    path = shared_data / "nitime" / "fmri_timeseries.csv"
    ts = load_timeseries(path, repetition_time=1.89, exclude=NUISANCE, progress=False)
    assert ts.sizes == {"time": 250, "neuroid": 28}
    spec = GraphSpec(features=("fc_row", "timeseries_stats"))
    graphs = ConnectivityGraphs.from_timeseries(ts.expand_dims(subject=["nitime"]), window=50, step=25, spec=spec)
    assert (graphs.n_subjects, graphs.n_windows, graphs.n_rois) == (1, 9, 28)
    values = pd.read_csv(path).drop(columns=NUISANCE).to_numpy()
    for w in (0, 8):
        np.testing.assert_allclose(graphs.fc[0, w].numpy(), np.corrcoef(values[25 * w:25 * w + 50].T), atol=1e-6)

    model = GraphMAEPretrainer(hidden=16, epochs=3, batch_size=1, progress=False, threads=1).fit(graphs)
    assert np.isfinite(model.history_["loss"]).all() and len(model.history_) == 3
    codes = model.transform_windows(graphs)
    _assert_window_codes(codes, 1, 9, 16)
    np.testing.assert_allclose(codes["window_start"].values, np.arange(9) * 25 * 1.89)
    subject = model.transform(graphs)
    np.testing.assert_allclose(subject.sel(statistic="mean").values, codes.mean("window").values, rtol=1e-12)
    # every ROI's code at every level: 2 statistics x 3 levels x 28 ROIs x 16 units, finite, ROIs named
    nodes = model.set_params(embedding="nodes").transform(graphs)
    assert nodes.sizes == {"subject": 1, "feature": 2 * 3 * 28 * 16} and np.isfinite(nodes.values).all()
    assert set(nodes["roi"].values) == set(graphs.rois)
    assert nodes.sel(statistic="std").values.min() >= 0


def test_nifti_runs_to_window_embeddings(shared_data):
    import nibabel as nib

    from neuroalign.loaders.fmri import load_roi_timeseries

    runs = [shared_data / "nitime" / "fmri1.nii.gz", shared_data / "nitime" / "fmri2.nii.gz"]
    grid = nib.load(runs[0])
    labels = np.zeros(grid.shape[:3], dtype="int16")
    half = grid.shape[2] // 2
    for k, (x, y) in enumerate([(slice(0, 5), slice(0, 5)), (slice(5, 10), slice(0, 5)),
                                (slice(0, 5), slice(5, 10)), (slice(5, 10), slice(5, 10))]):
        labels[x, y, :half], labels[x, y, half:] = k + 1, k + 5  # quadrants × lower/upper half of the slab
    atlas = nib.Nifti1Image(labels, grid.affine)
    ts = load_roi_timeseries(runs, atlas, sample_mask=np.arange(2, 40), detrend=True, standardize="zscore_sample",
                             progress=False)
    assert ts.sizes == {"subject": 2, "time": 40, "neuroid": 8}
    assert float(ts.attrs["repetition_time"]) == pytest.approx(1.35)
    assert np.isnan(ts.values[:, :2]).all() and np.isfinite(ts.values[:, 2:]).all()  # the dropped volumes

    graphs = ConnectivityGraphs.from_timeseries(ts, window=16, step=4, statistics=False)
    assert (graphs.n_subjects, graphs.n_windows, graphs.n_rois) == (2, 7, 8)
    series = ts.sel(subject="fmri1").values
    np.testing.assert_allclose(graphs.fc[0, 0].numpy(), np.corrcoef(series[2:16].T), atol=1e-6)  # 14 valid volumes
    np.testing.assert_allclose(graphs.fc[0, 6].numpy(), np.corrcoef(series[24:40].T), atol=1e-6)

    model = GraphMAEPretrainer(hidden=8, epochs=3, batch_size=2, progress=False, threads=1).fit(graphs)
    assert np.isfinite(model.history_["loss"]).all()
    codes = model.transform_windows(graphs)
    _assert_window_codes(codes, 2, 7, 8)
    assert codes["subject"].values.tolist() == ["fmri1", "fmri2"]


def test_nitime_roi_series_through_the_command(cli, shared_data, tmp_path):
    path = shared_data / "nitime" / "fmri_timeseries.csv"
    series = ["--timeseries", path, "--repetition-time", "1.89", "--exclude", ",".join(NUISANCE), "--window", "50",
              "--step", "25"]
    result = cli("graphs", "pretrain", *series, "--hidden", "8", "--epochs", "2", "--batch-size", "1",
                 "--no-progress", "--out", tmp_path / "model", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    result = cli("graphs", "embed", "--model", tmp_path / "model" / "model.pt", *series, "--windows",
                 "--no-progress", "--out", tmp_path / "emb", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    codes = load(tmp_path / "emb" / "window_embeddings.nc")
    _assert_window_codes(codes, 1, 9, 8)
    assert codes["subject"].values.tolist() == ["fmri_timeseries"]  # the file name
