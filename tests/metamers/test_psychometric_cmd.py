"""Tests of ``neuroalign psychometric``: the Harrington & Deza folder and a CSV of counts."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.cli_runner import assert_one_line_error

from neuroalign.metamers.psychometric import fit_psychometric


def test_folder_fits_both_tasks_and_writes_table_and_figure(cli, shared_data, tmp_path):
    result = cli("psychometric", "--data", shared_data / "harrington_deza2022", "--sigmoid", "logistic",
                 "--n-bootstrap", "3", "--percent-correct", "0.75", "--no-progress", "--out", tmp_path / "out",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(tmp_path / "out" / "psychometric_fits.csv")
    assert len(table) == 12 and sorted(set(table.task)) == ["2afc", "oddity"]
    assert {"threshold", "threshold_low", "threshold_high", "width", "lambda", "pc=0.75", "converged",
            "extrapolated", "n_trials", "n_no_response", "n_bootstrap_failed", "n_bootstrap_at_bound"
            } <= set(table.columns)
    row = table[(table.task == "2afc") & (table.condition == "original vs robust")].iloc[0]
    assert row.guess_rate == 0.5 and 5 < row.threshold < 30 and row.threshold_low < row.threshold_high
    png = (tmp_path / "out" / "psychometric.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_csv_of_counts_and_of_proportions(cli, tmp_path):
    (tmp_path / "counts.csv").write_text("x,n_correct,n_trials\n1,52,100\n2,61,100\n3,80,100\n4,93,100\n5,99,100\n")
    result = cli("psychometric", "--data", tmp_path / "counts.csv", "--experiment", "2AFC", "--sigmoid", "weibull",
                 "--n-bootstrap", "0", "--out", tmp_path / "a", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    row = pd.read_csv(tmp_path / "a" / "psychometric_fits.csv").iloc[0]
    ref = fit_psychometric([1, 2, 3, 4, 5], [52, 61, 80, 93, 99], [100] * 5, sigmoid="weibull", experiment="2AFC")
    assert row.threshold == pytest.approx(ref.threshold_, rel=1e-9) and row.width == pytest.approx(ref.width_, rel=1e-9)
    (tmp_path / "p.csv").write_text("x,proportion_correct,n_trials\n1,0.52,100\n2,0.61,100\n3,0.8,100\n"
                                    "4,0.93,100\n5,0.99,100\n")
    result = cli("psychometric", "--data", tmp_path / "p.csv", "--experiment", "2AFC", "--sigmoid", "weibull",
                 "--n-bootstrap", "0", "--out", tmp_path / "b", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert pd.read_csv(tmp_path / "b" / "psychometric_fits.csv").threshold.iloc[0] == pytest.approx(row.threshold)


@pytest.mark.parametrize("text,fragments", [
    ("x,n_correct,n_trials\n1,5,10\n2,3,0\n3,9,10\n", ("zero trials", "rows [1]", "bad.csv")),
    ("x,n_correct,n_trials\n1,5,10\n2,12,10\n3,9,10\n", ("more correct answers than trials", "rows [1]")),
    ("x,n_correct,n_trials\n1,-5,10\n2,3,10\n", ("negative n_correct", "rows [0]")),
    ("x,n_correct,n_trials\n1,5,10\n1,3,10\n", ("at least 2 distinct stimulus levels",)),
    ("x,proportion_correct,n_trials\n1,0.5,10\n2,1.5,10\n", ("proportions outside [0, 1]", "rows [1]")),
    ("level,correct,trials\n1,5,10\n2,3,10\n", ("expected columns x, n_correct",)),
])
def test_bad_csv_is_one_line_naming_the_problem(cli, tmp_path, text, fragments):
    (tmp_path / "bad.csv").write_text(text)
    result = cli("psychometric", "--data", tmp_path / "bad.csv", "--n-bootstrap", "0", "--out", tmp_path / "o",
                 cwd=tmp_path)
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "o" / "psychometric_fits.csv").exists()


def test_bad_arguments(cli, tmp_path):
    assert_one_line_error(cli("psychometric", "--data", tmp_path / "none.csv", "--out", tmp_path / "o",
                              cwd=tmp_path), "not found")
    assert_one_line_error(cli("psychometric", "--data", tmp_path, "--sigmoid", "neg_logistic", "--out", "o",
                              cwd=tmp_path), "--sigmoid")
    assert_one_line_error(cli("psychometric", "--data", tmp_path, "--lapse", "high", "--out", "o", cwd=tmp_path),
                          "--lapse")
    assert_one_line_error(cli("psychometric", "--data", tmp_path, "--percent-correct", "1.5", "--out", "o",
                              cwd=tmp_path), "--percent-correct")
    (tmp_path / "c.csv").write_text("x,n_correct,n_trials\n1,5,10\n2,7,10\n")
    assert_one_line_error(cli("psychometric", "--data", tmp_path / "c.csv", "--experiment", "2IFC", "--out", "o",
                              "--n-bootstrap", "0", cwd=tmp_path), "experiment type")
