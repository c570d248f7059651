"""``neuroalign run``: a study through the command line; every wrong input is one line and exit status 2."""

from __future__ import annotations

import pytest

from neuroalign.cli.main import main

from ..cli_runner import assert_one_line_error
from ._studies import small_study, write_study


def test_run_prints_scores_and_a_dry_run_prints_the_plan(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_study(tmp_path / "study.yaml", small_study(out=tmp_path / "out", kinds=("rsa",)))
    assert main(["run", "study.yaml", "--scheduler", "synchronous", "--no-progress"]) == 0
    assert (tmp_path / "out" / "results" / "rsa" / "score.nc").exists()
    assert "block3" in capsys.readouterr().out
    assert main(["run", "study.yaml", "--dry-run", "--set", "analyses.0.params.n_bootstrap=21"]) == 0
    printed = capsys.readouterr().out
    assert "would compute 4" in printed and "rsa:block3" in printed and "stored" in printed


@pytest.mark.parametrize("args, fragments", [
    (["missing.yaml"], ["missing.yaml"]),
    (["study.yaml", "--scheduler", "thread"], ["--scheduler", "unknown scheduler 'thread'", "threads"]),
    (["study.yaml", "--workers", "0"], ["--workers"]),
    (["study.yaml", "--set", "analyses.0.params.n_boostrap=3"], ["n_boostrap", "n_bootstrap"]),
    (["study.yaml", "--set", "seed"], ["seed"]),
    (["no-such-bundled-study"], ["no-such-bundled-study"]),
])
def test_wrong_inputs_are_one_line(cli, tmp_path, args, fragments):
    write_study(tmp_path / "study.yaml", small_study(out=tmp_path / "out", kinds=("rsa",)))
    assert_one_line_error(cli("run", *args, cwd=tmp_path), *fragments)
    assert not (tmp_path / "out").exists()


def test_an_unreachable_scheduler_is_one_line(cli, tmp_path, monkeypatch):
    from neuroalign.pipelines import schedulers

    monkeypatch.setattr(schedulers, "CONNECT_TIMEOUT", 2)
    write_study(tmp_path / "study.yaml", small_study(out=tmp_path / "out", kinds=("rsa",)))
    assert_one_line_error(cli("run", "study.yaml", "--scheduler", "tcp://127.0.0.1:9", cwd=tmp_path),
                          "tcp://127.0.0.1:9", "cannot reach the Dask scheduler", "dask scheduler")


def test_help(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "--scheduler" in capsys.readouterr().out
