"""``neuroalign report RESULTS_DIR [--out FILE]``."""

from __future__ import annotations

import pytest

from neuroalign.cli.main import main
from neuroalign.pipelines.report import load_scores

from ..cli_runner import assert_one_line_error
from .report_results import build_results


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return build_results(tmp_path_factory.mktemp("report-cmd") / "results").folder


def test_report_writes_the_report_and_the_scores(cli, folder, capsys):
    result = cli("report", folder, cwd=folder.parent)
    assert result.returncode == 0, result.stderr
    assert (folder / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert list(load_scores(folder / "scores.nc")) == ["rsa", "models", "rsa-committed"]
    assert (folder / "scores.csv").read_text().startswith("analysis,kind,metric,layer,model,score")


def test_report_out_puts_the_html_elsewhere(cli, folder, tmp_path):
    result = cli("report", folder, "--out", tmp_path / "mine.html", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "<h1>" in (tmp_path / "mine.html").read_text()


def test_not_a_results_folder_is_one_line_naming_it(cli, tmp_path):
    result = cli("report", tmp_path, cwd=tmp_path)
    assert_one_line_error(result, str(tmp_path), "not a results folder", "Fix:")


def test_help_describes_the_command(capsys):
    with pytest.raises(SystemExit) as info:
        main(["report", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "RESULTS_DIR" in text and "--out FILE" in text and "self-contained" in text
