import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neuroalign.cli.main import main

from .cli_runner import assert_one_line_error
from neuroalign.data import create_assembly, save

REPO = Path(__file__).resolve().parents[1]


def readme_commands():
    text = (REPO / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_readme_opens_with_exactly_two_commands_and_ci_runs_the_second():
    commands = readme_commands()
    assert len(commands) == 2
    assert "neuroalign demo" in commands[0] and "pytest" in commands[1]
    assert commands[1] in (REPO / ".ci" / "run").read_text()


def test_readme_demo_command_through_the_cli(tmp_path):
    demo = readme_commands()[0].split("&&")[-1].strip()
    assert demo.startswith("neuroalign demo")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    result = subprocess.run(shlex.split(demo) + ["--no-progress"], cwd=tmp_path, capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "neuroalign-demo"
    table = pd.read_csv(out / "scores.csv")
    assert list(table.columns[:7]) == ["analysis", "kind", "metric", "layer", "score", "ceiling", "ceiled"]
    assert set(table.analysis) == {"rsa", "cka", "rsa-committed", "cka-committed"} and len(table) == 14
    assert (out / "report.html").exists() and (out / "results" / "rsa" / "score.nc").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best_layer"] == {"rsa": summary["planted_layer"], "cka": summary["planted_layer"]}
    assert (out / "layer_profile.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "planted layer: block3" in result.stdout
    assert "layer commitment" in result.stdout and summary["committed"]["rsa"]["layer"] == "block3"


@pytest.mark.parametrize("argv", [["--help"], ["demo", "--help"], ["validate", "--help"]])
def test_help_everywhere(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    assert "usage: neuroalign" in capsys.readouterr().out


def test_errors_are_one_line_with_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.nc"
    bad.write_bytes(b"garbage")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith(f"neuroalign: error: {bad}: cannot read it") and "Fix:" in err


def test_debug_shows_the_traceback(tmp_path):
    bad = tmp_path / "bad.nc"
    bad.write_bytes(b"garbage")
    result = subprocess.run([sys.executable, "-m", "neuroalign", "--debug", "validate", str(bad)],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_validate_reports_schema_problems(tmp_path, capsys):
    good = create_assembly(np.zeros((3, 2)), stimulus_id=list("abc"))
    save(good, tmp_path / "good.nc")
    assert main(["validate", str(tmp_path / "good.nc")]) == 0
    assert "valid (presentation: 3, neuroid: 2)" in capsys.readouterr().out
    assert main(["validate", str(tmp_path / "good.nc"), "--dims", "presentation,time_bin"]) == 2
    assert "dimension 'time_bin' is missing" in capsys.readouterr().err


def _cli(*argv, cwd=None):
    return subprocess.run([sys.executable, "-m", "neuroalign", *argv], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_validate_a_saved_trial_dataset(tmp_path, suffix, capsys):
    from neuroalign.data import load
    from neuroalign.loaders.behavior import load_trials

    table = tmp_path / "trials.csv"
    table.write_text("subject,stimulus,choice,rt,correct\ns1,cat,left,612,1\ns1,dog,right,,0\ns2,car,left,455,1\n")
    trials = load_trials(table, rt_unit="ms", progress=False)
    path = save(trials, tmp_path / f"trials{suffix}")
    assert isinstance(load(path), type(trials))  # a Dataset, with a missing reaction time (NaN)
    result = _cli("validate", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{path}: valid Dataset (trial: 3; variables: {', '.join(trials.data_vars)})"
    assert main(["validate", str(path), "--dims", "trial"]) == 0
    assert main(["validate", str(path), "--dims", "presentation"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}: dimension 'presentation' is missing" in err and "Fix:" in err


@pytest.mark.parametrize("argv", [["demo", "--n-bootstrap", "-1"], ["demo", "--n-splits", "0"],
                                  ["demo", "--seed", "-3"]])
def test_demo_options_are_checked_before_torch_is_imported(argv):
    code = ("import sys; from neuroalign.cli.main import main; status = main(sys.argv[1:]); "
            "heavy = ('torch', 'neuroalign.compare', 'neuroalign.extract'); "
            "print(status, sorted(m for m in heavy if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "2 []", result.stderr
    assert result.stderr.count("\n") == 1 and f"{argv[1]}: " in result.stderr


def test_pipelines_names_import_on_first_use():
    import neuroalign.pipelines as pipelines
    from neuroalign.pipelines import DemoResult, run_demo
    from neuroalign.pipelines.demo import run_demo as defined

    assert run_demo is defined and pipelines.DemoResult is DemoResult
    assert {"run_demo", "DemoResult"} <= set(dir(pipelines))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        pipelines.nothing  # noqa: B018


def test_validate_checks_the_values_written(tmp_path):
    """A chunk replaced by another valid chunk decodes fine; only the digest recorded at save tells."""
    import shutil

    import xarray as xr

    def trials(correct):
        return xr.Dataset({"correct": ("trial", correct), "choice": ("trial", ["a", "b", "a"])},
                          coords={"trial": [0, 1, 2]})

    path = save(trials([1.0, 0.0, 1.0]), tmp_path / "trials.zarr")
    other = save(trials([0.0, 1.0, 0.0]), tmp_path / "other.zarr")
    shutil.copyfile(other / "correct" / "0", path / "correct" / "0")
    result = _cli("validate", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{path}: the values of 'correct' differ from those that were written" in result.stderr


def test_bad_seed_is_a_config_error(capsys):
    assert main(["demo", "--seed", "-1"]) == 2
    assert "--seed" in capsys.readouterr().err


# ---------------------------------------------------------------- no tracebacks: every case through the real command


def test_demo_out_pointing_at_an_existing_file(cli, tmp_path):
    (tmp_path / "results").write_text("not a folder")
    assert_one_line_error(cli("demo", "--out", "results", cwd=tmp_path, real=True), "--out",
                          "results is a file")
    assert (tmp_path / "results").read_text() == "not a folder"


def test_demo_out_that_cannot_be_written(cli, tmp_path):
    (tmp_path / "file").write_text("")
    assert_one_line_error(cli("demo", "--out", "file/demo", cwd=tmp_path), "--out", "is a file, not a folder")


@pytest.mark.parametrize("args, fragments, real", [
    (["--n-bootstrap", "0"], ["--n-bootstrap: n_bootstrap must be at least 2, got 0"], True),
    (["--n-bootstrap", "many"], ["argument --n-bootstrap: invalid int value: 'many'"], False),
    (["--n-splits", "0"], ["--n-splits"], False),
    (["--seed", "-1"], ["--seed"], False),
    (["--no-such-option"], ["unrecognized arguments: --no-such-option"], False),
])
def test_demo_options_are_checked_before_any_work(cli, tmp_path, args, fragments, real):
    assert_one_line_error(cli("demo", *args, cwd=tmp_path, real=real), *fragments)
    assert not (tmp_path / "neuroalign-demo").exists()


def test_an_unexpected_exception_is_one_line_with_status_3(tmp_path, monkeypatch, capsys):
    import neuroalign.pipelines.demo

    def broken(**kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(neuroalign.pipelines.demo, "run_demo", broken)
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 3
    err = capsys.readouterr().err
    assert err == ("neuroalign: error: unexpected ZeroDivisionError: division by zero "
                   "(run with --debug for the traceback)\n")
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "demo", "--out", str(tmp_path / "demo")])
