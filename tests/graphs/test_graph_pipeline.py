"""The graph-pretraining pipeline: a tiny YAML config through simulate → graphs → pretrain → embed → probe.

Its results are compared with the same steps done by hand with the public API
(the pipeline only calls the estimator and the probe), and its files with those results.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.data import load
from neuroalign.datasets.dynamic_fc import simulate_dynamic_fc
from neuroalign.errors import ConfigError, FileFormatError, UnknownNameError
from neuroalign.graphs.dataset import ConnectivityGraphs
from neuroalign.graphs.pretrainer import GraphMAEPretrainer
from neuroalign.graphs.probes import probe
from neuroalign.pipelines import run_graph_pretraining
from neuroalign.pipelines.graph_pretraining import GRAPH_PRETRAINING_DEFAULTS, read_graph_pretraining_config
from neuroalign.pipelines.graph_reports import embeddings_table

TINY = {"n_subjects": 16, "n_rois": 6, "n_volumes": 60, "window": 20, "step": 10, "hidden": 8, "epochs": 2,
        "batch_size": 4, "inner_splits": 2, "progress": False, "seed": 1}


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({**TINY, "out": str(tmp_path / "report")}))
    return path


def test_the_shipped_config_has_every_setting_at_its_documented_value():
    from pathlib import Path

    shipped = Path(__file__).resolve().parents[2] / "pipelines" / "graphs-simulated.yaml"
    config = read_graph_pretraining_config(shipped)
    assert set(yaml.safe_load(shipped.read_text())) == set(GRAPH_PRETRAINING_DEFAULTS)
    assert config["scenario"] == "dynamic-only" and config["label"] == "group"


def test_tiny_study_equals_the_api_steps_and_writes_its_report(tiny_config, tmp_path):
    result = run_graph_pretraining(tiny_config)
    out = tmp_path / "report"
    assert result.out == out
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "embeddings.csv", "embeddings.nc",
                                                      "history.csv", "loss.png", "model.pt", "probe.csv",
                                                      "summary.json"]
    # the same steps by hand
    ts = simulate_dynamic_fc("dynamic-only", n_subjects=16, n_rois=6, n_volumes=60, seed=1).timeseries
    graphs = ConnectivityGraphs.from_timeseries(ts, window=20, step=10, statistics=False)
    assert graphs.content_hash == result.graphs.content_hash
    assert len(result.train) == len(result.test) == 8 and not set(result.train) & set(result.test)
    groups = dict(zip(graphs.subjects, graphs.label("group")))
    assert sorted(groups[s] for s in result.test) == [0] * 4 + [1] * 4  # stratified
    train = graphs.subset(pd.Index(graphs.subjects).get_indexer(result.train))
    model = GraphMAEPretrainer(hidden=8, epochs=2, batch_size=4, random_state=1, progress=False, threads=1).fit(train)
    pd.testing.assert_frame_equal(result.pretrainer.history_, model.history_)
    embeddings = model.transform(graphs)
    np.testing.assert_array_equal(result.embeddings.values, embeddings.values)
    score = probe(embeddings, "group", train=result.train, test=result.test, seeds=(1,), inner_splits=2,
                  random_state=1)
    assert float(result.score) == float(score) and result.score.ci == score.ci
    # the files hold those results
    pd.testing.assert_frame_equal(pd.read_csv(out / "history.csv"), model.history_)
    saved = load(out / "embeddings.nc")
    np.testing.assert_array_equal(saved.values, embeddings.values)
    assert sorted(saved["subject"].values[saved["split"].values == "test"].tolist()) == result.test
    assert pd.read_csv(out / "probe.csv")["score"].tolist() == [float(score)]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["score"]["value"] == float(score) and summary["n_train"] == 8
    assert GraphMAEPretrainer.load(out / "model.pt").content_hash_ == train.content_hash


def test_a_rerun_resumes_and_other_settings_are_refused(tiny_config, tmp_path):
    first = run_graph_pretraining(tiny_config, epochs=1)
    assert len(first.pretrainer.history_) == 1
    resumed = run_graph_pretraining(tiny_config, epochs=3)
    straight = run_graph_pretraining(tiny_config, epochs=3, out=tmp_path / "straight")
    pd.testing.assert_frame_equal(resumed.pretrainer.history_, straight.pretrainer.history_)
    np.testing.assert_array_equal(resumed.embeddings.values, straight.embeddings.values)
    with pytest.raises(ConfigError, match="checkpoint was written by another training.*hidden"):
        run_graph_pretraining(tiny_config, hidden=4, epochs=3)
    assert run_graph_pretraining(tiny_config, hidden=4, epochs=1, overwrite=True).pretrainer.hidden == 4


def test_time_series_files_with_a_label_table_and_a_regression(tmp_path):
    ts = simulate_dynamic_fc("static", n_subjects=12, n_rois=6, n_volumes=60, seed=2).timeseries
    for i, subject in enumerate(ts["subject"].values):
        pd.DataFrame(ts.sel(subject=subject).values, columns=ts["neuroid_id"].values).to_csv(
            tmp_path / f"sub-{i:02d}_timeseries.csv", index=False)
    pd.DataFrame({"participant_id": [f"sub-{i:02d}" for i in range(12)],
                  "dwell": ts["dwell_probability"].values}).to_csv(tmp_path / "participants.csv", index=False)
    result = run_graph_pretraining({**TINY, "timeseries": str(tmp_path / "sub-*_timeseries.csv"),
                                    "repetition_time": 2.0, "labels": str(tmp_path / "participants.csv"),
                                    "label": "dwell", "task": "regression", "out": str(tmp_path / "out")})
    assert result.score.metric == "probe-r2"
    assert result.graphs.subjects.tolist() == [f"{i:02d}" for i in range(12)]
    np.testing.assert_array_equal(result.graphs.label("dwell"), ts["dwell_probability"].values)
    expected = ConnectivityGraphs.from_timeseries(ts, window=20, step=10, statistics=False)
    torch.testing.assert_close(result.graphs.fc, expected.fc, rtol=1e-6, atol=1e-6)  # CSV text round trip


def test_without_a_label_every_subject_pretrains_and_nothing_is_probed(tmp_path):
    result = run_graph_pretraining(TINY, label="", out=tmp_path / "out")
    assert result.score is None and result.test == [] and len(result.train) == 16
    assert not (tmp_path / "out" / "probe.csv").exists()


def test_node_embeddings_reach_the_report(tmp_path):
    result = run_graph_pretraining(TINY, embedding="nodes", out=tmp_path / "out")
    pretrainer = result.pretrainer
    n_features = 2 * (pretrainer.n_layers + 1) * pretrainer.n_rois_ * pretrainer.hidden
    assert result.embeddings.sizes["feature"] == n_features
    assert set(result.embeddings["level"].values) == set(range(pretrainer.n_layers + 1))
    written = xr.open_dataarray(tmp_path / "out" / "embeddings.nc")
    np.testing.assert_array_equal(written.values, result.embeddings.values)
    written.close()


def test_bad_configs_name_the_file_and_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("n_subject: 20\n")
    with pytest.raises(UnknownNameError, match="n_subjects"):
        read_graph_pretraining_config(bad)
    bad.write_text("epochs: many\n")
    with pytest.raises(ConfigError, match="epochs must be a int") as info:
        read_graph_pretraining_config(bad)
    assert str(bad) in info.value.source
    bad.write_text("test_fraction: 1.5\n")
    with pytest.raises(ConfigError, match="test_fraction"):
        read_graph_pretraining_config(bad)
    with pytest.raises(UnknownNameError, match="task"):
        run_graph_pretraining(TINY, task="clustering")
    with pytest.raises(UnknownNameError, match="embedding"):
        run_graph_pretraining(TINY, embedding="graph")
    with pytest.raises(FileFormatError, match="not found"):
        run_graph_pretraining(tmp_path / "missing.yaml")
    with pytest.raises(UnknownNameError, match="setting"):
        run_graph_pretraining(TINY, epoch=3)


@settings(max_examples=25, deadline=None)
@given(n_subjects=st.integers(1, 4), n_windows=st.integers(0, 3), n_features=st.integers(1, 3),
       order=st.randoms(use_true_random=False))
def test_embedding_tables_hold_every_value_at_its_subject_and_window(n_subjects, n_windows, n_features, order):
    """Any (subject, [window,] feature) array, in any subject order: row r of the table is its element."""
    ids = [f"s{i}" for i in range(n_subjects)]
    order.shuffle(ids)
    dims = ("subject", "window", "feature") if n_windows else ("subject", "feature")
    shape = (n_subjects, n_windows, n_features) if n_windows else (n_subjects, n_features)
    coords = {"subject": ids, "group": ("subject", np.arange(n_subjects) % 2),
              "feature": [f"f{k}" for k in range(n_features)]}
    if n_windows:
        coords.update(window=np.arange(n_windows), window_start=("window", np.arange(n_windows) * 2.5))
    array = xr.DataArray(np.random.default_rng(0).normal(size=shape), dims=dims, coords=coords)
    table = embeddings_table(array.transpose(*reversed(dims)))  # the dims' order does not matter
    assert len(table) == n_subjects * max(n_windows, 1)
    for _, row in table.iterrows():
        element = array.sel(subject=row["subject"], **({"window": row["window"]} if n_windows else {}))
        np.testing.assert_array_equal(row[[f"f{k}" for k in range(n_features)]].to_numpy(float), element.values)
        assert row["group"] == int(array["group"].sel(subject=row["subject"]))
        if n_windows:
            assert row["window_start"] == row["window"] * 2.5
