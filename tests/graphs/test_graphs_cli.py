"""``neuroalign graphs pretrain|embed|probe`` on real files: outputs equal the Python API's; wrong inputs are one line.

Every test writes the files a user would have (CSV time series, a label table,
NPY and netCDF connectivity, a saved graph dataset) and runs the command through
the ``cli`` fixture (``tests/cli_runner.py``).
"""

from __future__ import annotations

import argparse
import copy
import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from neuroalign.data import load, save
from neuroalign.graphs.dataset import ConnectivityGraphs
from neuroalign.graphs.pretrainer import GraphMAEPretrainer
from neuroalign.graphs.probes import probe
from neuroalign.loaders.timeseries_files import load_timeseries
from tests.cli_runner import assert_one_line_error

MODEL = ["--hidden", "8", "--epochs", "2", "--batch-size", "3", "--seed", "3", "--no-progress"]
SERIES = ["--repetition-time", "2", "--window", "20", "--step", "10"]
PARAMS = dict(hidden=8, epochs=2, batch_size=3, random_state=3, progress=False, threads=1)


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Six subjects' CSV time series (6 ROIs, 60 volumes, BIDS names), a participants table."""
    from neuroalign.datasets.dynamic_fc import simulate_dynamic_fc

    folder = tmp_path_factory.mktemp("graphs-cli")
    ts = simulate_dynamic_fc("dynamic-only", n_subjects=6, n_rois=6, n_volumes=60, seed=0).timeseries
    paths = []
    for i, subject in enumerate(ts["subject"].values):
        path = folder / f"sub-{i + 1:02d}_task-rest_timeseries.csv"
        pd.DataFrame(ts.sel(subject=subject).values, columns=ts["neuroid_id"].values).to_csv(path, index=False)
        paths.append(path)
    labels = folder / "participants.csv"
    pd.DataFrame({"participant_id": [f"sub-{i + 1:02d}" for i in range(6)], "group": ts["group"].values,
                  "dwell": ts["dwell_probability"].values}).to_csv(labels, index=False)
    return {"folder": folder, "paths": paths, "labels": labels}


def api_dataset(files, *, labelled: bool = True) -> ConnectivityGraphs:
    """The dataset the command builds from the CSV files, built with the public API."""
    ts = load_timeseries(files["paths"], repetition_time=2.0, progress=False)
    table = pd.read_csv(files["labels"])
    assert ts["subject"].values.tolist() == [p[4:] for p in table["participant_id"]]
    labels = {"group": table["group"].to_numpy(), "dwell": table["dwell"].to_numpy()} if labelled else None
    return ConnectivityGraphs.from_timeseries(ts, window=20, step=10, labels=labels, statistics=False)


@pytest.fixture(scope="module")
def reference(files):
    dataset = api_dataset(files)
    return dataset, GraphMAEPretrainer(**PARAMS).fit(dataset)


def test_help_of_every_action(cli, tmp_path):
    for argv in (["graphs"], ["graphs", "pretrain"], ["graphs", "embed"], ["graphs", "probe"]):
        assert cli(*argv, "--help", cwd=tmp_path).returncode == 0
    assert_one_line_error(cli("graphs", cwd=tmp_path), "ACTION")


def test_pretrain_then_embed_time_series_files_equal_the_api(cli, files, reference, tmp_path):
    dataset, model = reference
    out = tmp_path / "pretrained"
    result = cli("graphs", "pretrain", "--timeseries", *files["paths"], *SERIES, "--labels", files["labels"], *MODEL,
                 "--out", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "history.csv", "loss.png", "model.pt"]
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = GraphMAEPretrainer.load(out / "model.pt")
    assert saved.content_hash_ == dataset.content_hash  # the same graphs, labels and spec
    pd.testing.assert_frame_equal(pd.read_csv(out / "history.csv"), model.history_)
    for name, tensor in model.model_.state_dict().items():
        assert torch.equal(saved.model_.state_dict()[name], tensor), name

    emb = tmp_path / "emb"
    result = cli("graphs", "embed", "--model", out / "model.pt", "--timeseries", *files["paths"], *SERIES,
                 "--labels", files["labels"], "--windows", "--no-progress", "--out", emb, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    expected, windows = model.transform(dataset), model.transform_windows(dataset)
    got = load(emb / "embeddings.nc")
    np.testing.assert_array_equal(got.values, expected.values)
    assert got["group"].values.tolist() == expected["group"].values.tolist()
    assert got["subject"].values.tolist() == ["01", "02", "03", "04", "05", "06"]
    np.testing.assert_array_equal(load(emb / "window_embeddings.nc").values, windows.values)
    table = pd.read_csv(emb / "embeddings.csv", dtype={"subject": str})
    assert table.columns[:3].tolist() == ["subject", "group", "dwell"]
    np.testing.assert_allclose(table[list(expected["feature"].values)].to_numpy(), expected.values, rtol=1e-15)
    per_window = pd.read_csv(emb / "window_embeddings.csv")
    assert len(per_window) == 6 * dataset.n_windows and "window_start" in per_window
    np.testing.assert_allclose(per_window.filter(like="code_").to_numpy(),
                               windows.values.reshape(-1, windows.sizes["feature"]), rtol=1e-15)


def test_embed_with_node_codes_equals_the_api(cli, files, reference, tmp_path):
    dataset, model = reference
    model.save(tmp_path / "model.pt")
    emb = tmp_path / "emb"
    embed = ["graphs", "embed", "--model", tmp_path / "model.pt", "--timeseries", *files["paths"], *SERIES,
             "--labels", files["labels"], "--no-progress"]
    result = cli(*embed, "--embedding", "nodes", "--out", emb, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    expected = copy.copy(model).set_params(embedding="nodes").transform(dataset)
    got = load(emb / "embeddings.nc")
    np.testing.assert_array_equal(got.values, expected.values)
    assert got["feature"].values.tolist() == expected["feature"].values.tolist()
    assert got["roi"].values.tolist() == expected["roi"].values.tolist()
    assert f"{expected.sizes['feature']} features" in result.stdout
    assert_one_line_error(cli(*embed, "--embedding", "graph", "--out", emb, cwd=tmp_path), "--embedding")


def test_a_rerun_resumes_from_the_checkpoint_and_more_epochs_continue(cli, files, tmp_path):
    args = ["graphs", "pretrain", "--timeseries", *files["paths"], *SERIES, "--hidden", "8", "--batch-size", "3",
            "--no-progress", "--out", tmp_path / "out"]
    assert cli(*args, "--epochs", "1", cwd=tmp_path).returncode == 0
    assert cli(*args, "--epochs", "3", cwd=tmp_path).returncode == 0
    straight = GraphMAEPretrainer(hidden=8, epochs=3, batch_size=3, progress=False, threads=1).fit(
        api_dataset(files, labelled=False))
    resumed = pd.read_csv(tmp_path / "out" / "history.csv")
    np.testing.assert_array_equal(resumed["loss"].to_numpy(), straight.history_["loss"].to_numpy())


def test_checkpoint_of_another_configuration_is_one_line(cli, files, tmp_path):
    args = ["graphs", "pretrain", "--timeseries", *files["paths"], *SERIES, "--epochs", "1", "--batch-size", "3",
            "--no-progress", "--out", tmp_path / "out"]
    assert cli(*args, "--hidden", "8", cwd=tmp_path).returncode == 0
    line = assert_one_line_error(cli(*args, "--hidden", "4", cwd=tmp_path), "checkpoint", "hidden: 8 in the file")
    assert "Fix:" in line
    assert cli(*args, "--hidden", "4", "--overwrite", cwd=tmp_path).returncode == 0
    assert GraphMAEPretrainer.load(tmp_path / "out" / "model.pt").hidden == 4


def test_dynamic_npy_stack_and_netcdf_connectivity(cli, files, tmp_path):
    dataset = api_dataset(files)
    fc = dataset.raw  # (subject, window, neuroid_a, neuroid_b) with labels
    np.save(tmp_path / "stack.npy", fc.values)
    save(fc, tmp_path / "fc.nc")
    for source, name in (("stack.npy", "npy"), ("fc.nc", "nc")):
        out = tmp_path / name
        result = cli("graphs", "pretrain", "--connectivity", tmp_path / source, "--dynamic", *MODEL, "--out", out,
                     cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        result = cli("graphs", "embed", "--model", out / "model.pt", "--connectivity", tmp_path / source,
                     "--no-progress", "--out", out / "emb", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    # the netCDF keeps ids and labels: the same dataset, hence the same model as from the time series
    reference = GraphMAEPretrainer(**PARAMS).fit(dataset)
    np.testing.assert_array_equal(load(tmp_path / "nc" / "emb" / "embeddings.nc").values,
                                  reference.transform(dataset).values)
    # the NPY stack has no ids: ROIs and subjects are numbered, the values are the same
    unnamed = xr.DataArray(fc.values, dims=fc.dims, coords={"subject": [str(i) for i in range(6)],
                                                            "neuroid_a": [str(i) for i in range(6)],
                                                            "neuroid_b": [str(i) for i in range(6)]})
    plain = ConnectivityGraphs.from_connectivity(unnamed, dynamic=True)
    np.testing.assert_array_equal(load(tmp_path / "npy" / "emb" / "embeddings.nc").values,
                                  GraphMAEPretrainer(**PARAMS).fit(plain).transform(plain).values)


def test_static_matrices_per_subject_and_a_saved_graph_dataset(cli, files, tmp_path):
    static = api_dataset(files).raw.mean("window")
    paths = []
    for subject in static["subject"].values:
        path = tmp_path / f"sub-{subject}_fc.csv"
        matrix = static.sel(subject=subject)
        pd.DataFrame(matrix.values, columns=matrix["neuroid_b"].values).to_csv(path, index=False)
        paths.append(path)
    result = cli("graphs", "pretrain", "--connectivity", *paths, "--edges", "top_k", "--edge-value", "2", *MODEL,
                 "--out", tmp_path / "static", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    model = GraphMAEPretrainer.load(tmp_path / "static" / "model.pt")
    assert model.spec_.edges == "top_k" and model.spec_.edge_value == 2
    assert_one_line_error(cli("graphs", "pretrain", "--connectivity", *paths, "--dynamic", *MODEL,
                              "--out", tmp_path / "dyn", cwd=tmp_path), "no 'window' dim")

    folder = api_dataset(files).save(tmp_path / "graphs")
    result = cli("graphs", "pretrain", "--graphs", folder, *MODEL, "--out", tmp_path / "saved", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    result = cli("graphs", "embed", "--model", tmp_path / "saved" / "model.pt", "--graphs", folder, "--no-progress",
                 "--out", tmp_path / "saved", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    dataset = ConnectivityGraphs.load(folder)
    np.testing.assert_array_equal(load(tmp_path / "saved" / "embeddings.nc").values,
                                  GraphMAEPretrainer(**PARAMS).fit(dataset).transform(dataset).values)


def test_wrong_inputs_are_one_line_with_status_2(cli, files, tmp_path):
    pretrain = ["graphs", "pretrain", *MODEL, "--out", tmp_path / "out"]
    assert_one_line_error(cli(*pretrain, "--timeseries", tmp_path / "missing.csv", "--repetition-time", "2",
                              cwd=tmp_path), "missing.csv")
    assert_one_line_error(cli(*pretrain, "--connectivity", tmp_path / "missing.npy", cwd=tmp_path), "missing.npy")
    assert_one_line_error(cli(*pretrain, "--timeseries", *files["paths"], "--repetition-time", "2", "--dynamic",
                              cwd=tmp_path), "--window")
    assert_one_line_error(cli(*pretrain, "--timeseries", *files["paths"], *SERIES, "--edges", "top_ten",
                              cwd=tmp_path), "top_ten")
    assert_one_line_error(cli(*pretrain, "--timeseries", *files["paths"], *SERIES, "--mask-ratio", "1.5",
                              cwd=tmp_path), "--mask-ratio")
    np.save(tmp_path / "stack.npy", np.ones((2, 3, 4, 5)))
    assert_one_line_error(cli(*pretrain, "--connectivity", tmp_path / "stack.npy", "--window", "5", cwd=tmp_path),
                          "--window")
    assert_one_line_error(cli(*pretrain, "--connectivity", tmp_path / "stack.npy", "--kind", "covariance",
                              cwd=tmp_path), "--kind")
    assert_one_line_error(cli(*pretrain, "--connectivity", tmp_path / "stack.npy", cwd=tmp_path), "(2, 3, 4, 5)")
    short = tmp_path / "short.csv"
    pd.read_csv(files["labels"]).iloc[:4].to_csv(short, index=False)
    assert_one_line_error(cli(*pretrain, "--timeseries", *files["paths"], *SERIES, "--labels", short, cwd=tmp_path),
                          "2 of 6 subjects have no row", "'05'")
    assert not (tmp_path / "out").exists()  # nothing was written before the inputs were read


def test_embed_refuses_a_model_of_other_rois(cli, files, reference, tmp_path):
    _, model = reference
    model.save(tmp_path / "model.pt")
    line = assert_one_line_error(cli("graphs", "embed", "--model", tmp_path / "model.pt", "--timeseries",
                                     *files["paths"], *SERIES, "--exclude", "roi3", "--no-progress", "--out",
                                     tmp_path / "emb", cwd=tmp_path), "ROIs differ", "roi3")
    assert "Fix:" in line and not (tmp_path / "emb").exists()
    assert_one_line_error(cli("graphs", "embed", "--model", tmp_path / "missing.pt", "--timeseries",
                              *files["paths"], *SERIES, "--out", tmp_path / "emb", cwd=tmp_path), "missing.pt")


def test_probe_writes_the_score_of_the_api(cli, tmp_path):
    rng = np.random.default_rng(0)
    group = np.repeat([0, 1], 20)
    ids = [f"s{i:02d}" for i in range(40)]
    emb = xr.DataArray(rng.normal(size=(40, 4)) + group[:, None], dims=("subject", "feature"),
                       coords={"subject": ids, "feature": [f"mean_{i}" for i in range(4)]})
    save(emb, tmp_path / "embeddings.nc")
    pd.DataFrame({"subject": ids[::-1], "group": group[::-1]}).to_csv(tmp_path / "labels.csv", index=False)
    result = cli("graphs", "probe", "--embeddings", tmp_path / "embeddings.nc", "--labels", tmp_path / "labels.csv",
                 "--target", "group", "--repeats", "2", "--no-progress", "--out", tmp_path / "probe.csv",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    expected = probe(emb.assign_coords(group=("subject", group)), "group", seeds=(0, 1))
    table = pd.read_csv(tmp_path / "probe.csv")
    assert table["metric"].tolist() == ["probe-auroc"]
    assert table["score"].tolist() == pytest.approx([float(expected)], rel=1e-12)
    assert_one_line_error(cli("graphs", "probe", "--embeddings", tmp_path / "embeddings.nc", "--target", "age",
                              "--out", tmp_path / "p.csv", cwd=tmp_path), "age")


@pytest.mark.slow
def test_the_console_command_shows_progress_bars_by_default(cli, files, tmp_path):
    result = cli("graphs", "pretrain", "--timeseries", *files["paths"], *SERIES, "--hidden", "8", "--epochs", "2",
                 "--out", tmp_path / "out", cwd=tmp_path, real=True)
    assert result.returncode == 0, result.stderr
    assert "pretraining" in result.stderr and "epoch" in result.stderr
    assert (tmp_path / "out" / "model.pt").is_file()


def test_zero_epochs_give_the_untrained_encoder_without_a_curve(cli, files, reference, tmp_path):
    dataset, _ = reference
    result = cli("graphs", "pretrain", "--timeseries", *files["paths"], *SERIES, "--labels", files["labels"],
                 "--hidden", "8", "--epochs", "0", "--seed", "3", "--no-progress", "--out", tmp_path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "loss.png").exists() and len(pd.read_csv(tmp_path / "history.csv")) == 0
    untrained = GraphMAEPretrainer(hidden=8, epochs=0, random_state=3, progress=False).fit(dataset)
    np.testing.assert_array_equal(GraphMAEPretrainer.load(tmp_path / "model.pt").transform(dataset).values,
                                  untrained.transform(dataset).values)


DOCS = Path(__file__).resolve().parents[2] / "docs" / "graphs-cli.md"


def _graphs_options() -> set[str]:
    from neuroalign.cli.main import build_parser

    def subparsers(parser):
        return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices

    graphs = subparsers(build_parser())["graphs"]
    return {flag for action in subparsers(graphs).values() for a in action._actions for flag in a.option_strings}


def test_every_option_the_docs_page_names_exists():
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", DOCS.read_text()))
    assert len(named) > 30 and named - _graphs_options() == set()


def test_the_commands_of_the_docs_page_run_as_written(cli, shared_data, tmp_path, monkeypatch):
    text = DOCS.read_text()
    monkeypatch.chdir(tmp_path)
    exec(re.findall(r"```python\n(.*?)```", text, re.S)[0], {})  # the page's files: 24 CSV series, participants
    (tmp_path / "nitime").symlink_to(shared_data / "nitime")
    commands = [shlex.split(line) for block in re.findall(r"```bash\n(.*?)```", text, re.S)
                for line in block.replace("\\\n", " ").splitlines() if line.strip()]
    assert [c[:3] for c in commands] == [["neuroalign", "graphs", a] for a in ("pretrain", "embed", "probe",
                                                                               "pretrain", "embed")]
    for command in commands:
        result = cli(*command[1:], "--no-progress", cwd=tmp_path)
        assert result.returncode == 0, (command, result.stderr)
    assert load(tmp_path / "embeddings" / "embeddings.nc").sizes == {"subject": 24, "feature": 32}
    assert pd.read_csv(tmp_path / "probe.csv")["metric"].tolist() == ["probe-auroc"]
    assert load(tmp_path / "nitime-embeddings" / "window_embeddings.nc").sizes["window"] == 9
