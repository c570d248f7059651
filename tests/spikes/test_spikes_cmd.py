"""``neuroalign spikes pretrain|evaluate``: the run folder, resuming, evaluation next to baselines, one-line errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from neuroalign.data import load
from neuroalign.pipelines.spike_pretraining import run_spike_pretraining
from neuroalign.spikes.masked_model import MaskedSpikeModel

from ..cli_runner import assert_one_line_error

#: A simulated session small enough for seconds.
DATA = ["--n-trials", "60", "--n-bins", "20", "--n-conditions", "4", "--test-fraction", "0.25"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("spikes-cli") / "run"


def test_pretrain_writes_the_model_and_the_run_record(cli, folder, tmp_path):
    result = cli("spikes", "pretrain", *DATA, "--epochs", "2", "--d-model", "16", "--out", str(folder),
                 "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "masked: 2 epochs" in result.stdout
    model = MaskedSpikeModel.load(folder / "masked.pt")
    assert len(model.history_) == 2 and model.d_model == 16
    record = json.loads((folder / "run.json").read_text())
    assert record["data"]["n_trials"] == 60 and len(record["test"]) == 15
    assert (folder / "loss.png").read_bytes()[:4] == b"\x89PNG"
    # a second model on the same data, in the same folder
    result = cli("spikes", "pretrain", *DATA, "--method", "tokens", "--epochs", "1", "--d-model", "16",
                 "--samples", "2", "--out", str(folder), "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (folder / "tokens.pt").is_file()


def test_evaluate_scores_the_models_next_to_the_baselines(cli, folder, tmp_path):
    result = cli("spikes", "evaluate", "--out", str(folder), "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(folder / "metrics.csv").set_index("method")
    assert table.index.tolist() == ["true rates", "smoothing", "psth", "masked", "tokens"]
    assert f"{table.loc['masked', 'co_bps']:.4f}" in result.stdout
    # the same numbers as the pipeline run with the same settings
    direct = run_spike_pretraining({"n_trials": 60, "n_bins": 20, "n_conditions": 4, "test_fraction": 0.25,
                                    "methods": ["smoothing", "masked"], "masked_epochs": 2, "masked_d_model": 16},
                                   out=tmp_path / "direct", progress=False)
    assert table.loc["masked", "co_bps"] == pytest.approx(direct.metrics.loc["masked", "co_bps"], abs=1e-12)
    assert table.loc["smoothing", "co_bps"] == pytest.approx(direct.metrics.loc["smoothing", "co_bps"], abs=1e-12)
    rates = load(folder / "rates-masked.nc")
    assert rates.sizes["presentation"] == 15 and rates.attrs["units"] == "counts/bin"


def test_pretrain_resumes_from_its_checkpoint(cli, tmp_path):
    out = tmp_path / "resume"
    common = ["spikes", "pretrain", *DATA, "--d-model", "16", "--out", str(out), "--no-progress"]
    assert cli(*common, "--epochs", "1", cwd=tmp_path).returncode == 0
    assert cli(*common, "--epochs", "3", cwd=tmp_path).returncode == 0
    resumed = MaskedSpikeModel.load(out / "masked.pt")
    straight = tmp_path / "straight"
    assert cli("spikes", "pretrain", *DATA, "--d-model", "16", "--out", str(straight), "--no-progress",
               "--epochs", "3", cwd=tmp_path).returncode == 0
    again = MaskedSpikeModel.load(straight / "masked.pt")
    pd.testing.assert_frame_equal(resumed.history_, again.history_)
    for key, value in again.model_.state_dict().items():
        assert torch.equal(value, resumed.model_.state_dict()[key]), key


@pytest.mark.parametrize("args,fragments", [
    (["pretrain", "--out", "x", "--lr", "0.1", "--method", "tokens"], ["--lr is an option of --method masked"]),
    (["pretrain", "--out", "x", "--nwb", "missing.nwb"], ["missing.nwb", "no such file"]),
    (["pretrain", "--out", "x", "--held-out", "n00", "nope", *DATA], ["not in the data", "nope"]),
    (["pretrain", "--out", "x", "--n-trials", "6", "--n-conditions", "2", "--test-fraction", "0.1"],
     ["too few trials"]),
    (["pretrain", "--out", "x", "--n-trials", "4"], ["4 trials cannot fill 8 conditions"]),
    (["pretrain", "--out", "x", "--test-fraction", "1.5"], ["--test-fraction"]),
    (["evaluate", "--out", "empty"], ["no run.json"]),
])
def test_wrong_input_is_one_line(cli, tmp_path, args, fragments):
    (tmp_path / "empty").mkdir()
    assert_one_line_error(cli("spikes", *args, cwd=tmp_path), *fragments)


def test_pretrain_on_other_data_in_the_same_folder_is_refused(cli, tmp_path):
    out = tmp_path / "run"
    assert cli("spikes", "pretrain", *DATA, "--epochs", "1", "--d-model", "16", "--out", str(out), "--no-progress",
               cwd=tmp_path).returncode == 0
    result = cli("spikes", "pretrain", "--n-trials", "80", "--n-bins", "20", "--n-conditions", "4",
                 "--test-fraction", "0.25", "--epochs", "1", "--out", str(out), "--no-progress", cwd=tmp_path)
    assert_one_line_error(result, "n_trials: 60 in run.json, 80 now", "--overwrite")
