"""``neuroalign metamer-study``: the MNIST metamer study from a config, flags overriding it."""

from __future__ import annotations

import pandas as pd
import pytest

from neuroalign.data import load
from tests.cli_runner import assert_one_line_error

TINY = """\
n_test: 10
n_train: 200
layers: [relu1]
max_iter: 8
n_passes: 2
epochs: 1
n_null: 20
n_bootstrap: 10
"""


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def test_flags_override_the_config_and_outputs_are_written(cli, tmp_path, tiny_config):
    result = cli("metamer-study", "--config", tiny_config, "--layers", "relu3,fc2", "--max-iter", "4",
                 "--out", tmp_path / "study", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "study"
    table = pd.read_csv(out / "recognisability.csv")
    assert set(table["layer"]) == {"natural", "relu3", "fc2"}           # --layers won over the config's relu1
    assert set(table["observer"]) == {"cnn-seed0", "cnn-seed1", "mlp", "pixel-knn"}
    relu3 = load(out / "layers" / "relu3.nc")
    assert relu3.sizes["presentation"] == 10                           # n_test from the config
    assert relu3.sizes["iteration"] == 5                               # --max-iter 4: the start and 4 steps
    assert (out / "recognisability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_errors_are_one_line(cli, tmp_path, tiny_config):
    assert_one_line_error(cli("metamer-study", "--config", tiny_config, "--layers", "relu9", "--out",
                              tmp_path / "o", cwd=tmp_path), "relu9")
    bad = tmp_path / "bad.yaml"
    bad.write_text("n_tests: 10\n")
    assert_one_line_error(cli("metamer-study", "--config", bad, "--out", tmp_path / "o", cwd=tmp_path), "n_tests")
    assert_one_line_error(cli("metamer-study", "--max-iter", "0", cwd=tmp_path), "--max-iter")
