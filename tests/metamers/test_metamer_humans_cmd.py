"""Tests of ``neuroalign metamer-humans`` on the real Feather et al. (2023) files."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.cli_runner import assert_one_line_error

from neuroalign.metamers.anova import ANOVA_COLUMNS


@pytest.fixture(scope="module")
def root(shared_data):
    return shared_data / "feather2023"


def test_one_experiment_writes_table_data_and_figure(cli, root, tmp_path):
    result = cli("metamer-humans", "--data", root, "--experiment", "1", "--out", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    anova = pd.read_csv(tmp_path / "out" / "anova.csv")
    assert list(anova.columns) == ["experiment", "model", "layers", *ANOVA_COLUMNS]
    assert sorted(set(anova.model)) == ["alexnet", "cornet_s", "resnet101", "resnet50", "vgg_19"]
    alexnet = anova[anova.model == "alexnet"].set_index("source")
    # the values Feather et al. printed (EXP1_ANALYSIS/17-Mar-2022-EXP1_ANALYSIS_ANOVA_NETWORK_HUMAN_RESULTS.txt)
    assert round(alexnet.loc["observer_type", "f"], 4) == 935.4408
    assert round(alexnet.loc["observer_type:layer", "f"], 4) == 195.0267
    tidy = pd.read_csv(tmp_path / "out" / "recognition.csv")
    assert list(tidy.columns) == ["experiment", "model", "participant", "layer", "observer_type",
                                  "proportion_correct"]
    assert len(tidy) == 22 * 2 * (9 + 6 + 8 + 8 + 10)  # participants × observers × layers of the five models
    assert tidy.proportion_correct.between(0, 1).all()
    png = (tmp_path / "out" / "recognition.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_one_file_and_excluded_layer(cli, root, tmp_path):
    """The published CLIP ResNet50 analysis left out the 'final' layer (EXP12 results, layer df 6)."""
    path = root / "EXP12_ANALYSIS" / "VisionExperiment12_network_vs_humans_datamatrix_CLIP_resnet50_public.mat"
    result = cli("metamer-humans", "--data", path, "--exclude-layer", "final", "--out", tmp_path / "o", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    anova = pd.read_csv(tmp_path / "o" / "anova.csv").set_index("source")
    assert anova.loc["observer_type", "layers"] == 7
    assert round(anova.loc["observer_type", "f"], 4) == 517.2581
    assert round(anova.loc["observer_type:layer", "f"], 4) == 181.1714


def test_model_filter_on_an_experiment_folder(cli, root, tmp_path):
    result = cli("metamer-humans", "--data", root / "EXP3_ANALYSIS", "--model", "resnet50_l2_3_robust",
                 "--out", tmp_path / "o", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    anova = pd.read_csv(tmp_path / "o" / "anova.csv")
    assert set(anova.model) == {"resnet50_l2_3_robust"} and len(anova) == 3


def test_help(capsys):
    from neuroalign.cli.main import main

    with pytest.raises(SystemExit) as exit:
        main(["metamer-humans", "--help"])
    assert exit.value.code == 0
    text = capsys.readouterr().out
    assert "--data" in text and "--exclude-layer" in text and "anova.csv" in text


@pytest.mark.parametrize("args, fragments", [
    (["--model", "alexnett"], ["--model", "alexnet"]),
    (["--experiment", "2"], ["--experiment", "12"]),
    (["--exclude-layer", "fc9"], ["--exclude-layer", "unknown layer", "fc7"]),
    (["--experiment", "0"], ["--experiment", "at least 1"]),
])
def test_one_line_errors(cli, root, tmp_path, args, fragments):
    result = cli("metamer-humans", "--data", root, *args, "--out", tmp_path / "o", cwd=tmp_path)
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "o").exists()


def test_missing_data_and_unwritable_out(cli, root, tmp_path):
    result = cli("metamer-humans", "--data", tmp_path / "nothing", "--out", tmp_path / "o", cwd=tmp_path)
    assert_one_line_error(result, "no such file or folder")
    (tmp_path / "file").write_text("x")
    result = cli("metamer-humans", "--data", root, "--out", tmp_path / "file", cwd=tmp_path)
    assert_one_line_error(result, "--out")
    result = cli("metamer-humans", "--data", root / "EXP1_ANALYSIS", "--experiment", "3", "--out",
                 tmp_path / "o", cwd=tmp_path)
    assert_one_line_error(result, "experiment 1")
    result = cli("metamer-humans", "--data", tmp_path, "--out", tmp_path / "o", cwd=tmp_path)
    assert_one_line_error(result, "EXP<N>_ANALYSIS")
