"""``neuroalign alignment guide``: the table and the score equal run_guidance_experiment with the same settings;
wrong input is one line and exit status 2, before any training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuroalign.alignment.experiment import INITS, LOSS_NAMES, run_guidance_experiment
from neuroalign.score import Score

from ..cli_runner import assert_one_line_error

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY_FLAGS = ["--n-test", "60", "--n-train", "240", "--guide-epochs", "1", "--depth", "4", "--width", "16",
              "--layers", "relu1=pool1", "relu2=relu3", "--epochs", "2", "--batch-size", "60", "--seeds", "2",
              "--weights", "0", "2", "--seed", "1", "--no-progress"]
TINY = {"n_test": 60, "n_train": 240, "guide_epochs": 1, "depth": 4, "width": 16,
        "layers": {"relu1": "pool1", "relu2": "relu3"}, "epochs": 2, "batch_size": 60, "n_seeds": 2,
        "weights": [0.0, 2.0], "seed": 1}


def test_choices_equal_the_librarys():
    from neuroalign.cli import alignment_cmd as cmd

    assert cmd.LOSSES == LOSS_NAMES and cmd.INITS == INITS


@pytest.mark.parametrize("action", [[], ["guide"]])
def test_help_with_an_example(cli, tmp_path, action):
    result = cli("alignment", *action, "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "example: neuroalign alignment guide" in result.stdout


def test_no_action_is_one_line(cli, tmp_path):
    assert_one_line_error(cli("alignment", cwd=tmp_path), "ACTION")


def test_guide_writes_the_experiment_as_a_table_and_a_score(cli, tmp_path):
    result = cli("alignment", "guide", *TINY_FLAGS, "--out", "out/guide.csv", "--score", "out/guide.nc",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "wrote out/guide.csv" in result.stdout and "guide CNN: held-out accuracy" in result.stdout
    want = run_guidance_experiment(TINY)
    saved = Score.load(tmp_path / "out" / "guide.nc")
    assert saved.values.identical(want.values) and saved.params == want.params
    table = pd.read_csv(tmp_path / "out" / "guide.csv")
    measures = list(want.values["measure"].values)
    assert list(table.columns) == ["weight", "seed", "epoch", *measures]
    assert len(table) == 2 * 2 * 2
    cube = want.values.transpose("weight", "seed", "epoch", "measure")
    np.testing.assert_array_equal(table[["weight", "seed", "epoch"]].to_numpy(),
                                  [[w, s, e] for w in cube["weight"].values for s in cube["seed"].values
                                   for e in cube["epoch"].values])
    np.testing.assert_array_equal(table[measures].to_numpy(), cube.values.reshape(-1, len(measures)))
    assert not list(tmp_path.joinpath("out").glob(".*tmp"))  # written atomically: no temporaries left


@pytest.mark.parametrize("flags, fragments", [
    (["--layers", "relu1"], ["--layers", "TARGET=GUIDE"]),
    (["--layers", "relu1=pool1", "relu1=relu3"], ["--layers", "paired twice"]),
    (["--layers", "relu30=pool1"], ["--layers", "'relu30' is not a layer of the target MLP"]),
    (["--layers", "relu1=relu9"], ["--layers", "'relu9' is not a layer of the guide CNN"]),
    (["--n-train", "4500"], ["--n-train", "5,000 digits"]),
    (["--weights", "1", "1"], ["--weights", "distinct"]),
    (["--weights", "-1"], ["--weights"]),
    (["--init", "xavier"], ["--init"]),
    (["--loss", "cka"], ["--loss"]),
    (["--depth", "1"], ["--depth"]),
    (["--lr", "0"], ["--lr"]),
])
def test_wrong_input_is_one_line_before_any_work(cli, tmp_path, flags, fragments):
    result = cli("alignment", "guide", "--out", "guide.csv", *flags, cwd=tmp_path)
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "guide.csv").exists()


def test_an_unwritable_out_is_named(cli, tmp_path):
    (tmp_path / "file").write_text("")
    assert_one_line_error(cli("alignment", "guide", "--out", "file/guide.csv", cwd=tmp_path), "--out")
    assert_one_line_error(cli("alignment", "guide", "--out", "ok.csv", "--score", "file/s.nc", cwd=tmp_path),
                          "--score")
