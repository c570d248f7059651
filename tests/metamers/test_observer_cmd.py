"""``neuroalign metamer-observer``: outputs, the fit, and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ..cli_runner import assert_one_line_error


def _inputs(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.random((4, 3, 32, 32)).astype(np.float32)
    np.save(tmp_path / "images.npy", images)
    trials = pd.DataFrame({"target": [0, 1, 2] * 4, "match": [0, 1, 2] * 4, "foil": [1, 2, 3] * 4,
                           "eccentricity": np.repeat([5, 10, 20, 30], 3)})
    trials.to_csv(tmp_path / "trials.csv", index=False)
    human = pd.DataFrame({"eccentricity": [5, 10, 20, 30], "n_correct": [45, 40, 33, 28], "n_trials": 50})
    human.to_csv(tmp_path / "human.csv", index=False)
    return ["--model", "neuroalign.models:ReferenceNet", "--layer", "fc", "--stimuli", "images.npy",
            "--trials", "trials.csv", "--no-progress"]


def test_simulates_and_fits(cli, tmp_path):
    args = _inputs(tmp_path)
    result = cli("metamer-observer", *args, "--fit-to", "human.csv", "--n-draws", "200", "--out", "out",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    fit = json.loads((tmp_path / "out" / "fit.json").read_text())
    low, high = fit["ci"]["sigma"]
    assert low <= fit["params"]["sigma"] <= high and fit["log_likelihood"] < 0
    assert fit["provenance"]["parameters"]["n_draws"] == 200
    groups = pd.read_csv(tmp_path / "out" / "fit_predictions.csv")
    assert groups["eccentricity"].tolist() == [5, 10, 20, 30] and groups["n_trials"].eq(50).all()
    predictions = pd.read_csv(tmp_path / "out" / "predictions.csv")
    responses = pd.read_csv(tmp_path / "out" / "responses.csv")
    assert len(predictions) == len(responses) == 12
    assert predictions["p_correct"].between(0, 1).all()
    assert set(responses["choice_role"]) <= {"match", "foil"}


def test_oddity_with_sigma_zero_is_always_correct(cli, tmp_path):
    args = _inputs(tmp_path)
    pd.DataFrame({"odd": [0, 1], "standard_1": [2, 3], "standard_2": [2, 3]}).to_csv(tmp_path / "odd.csv",
                                                                                   index=False)
    args[args.index("trials.csv")] = "odd.csv"
    result = cli("metamer-observer", *args, "--task", "oddity", "--sigma", "0", "--n-draws", "10", "--out", "o",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert pd.read_csv(tmp_path / "o" / "predictions.csv")["p_correct"].tolist() == [1.0, 1.0]


def test_one_line_errors(cli, tmp_path):
    args = _inputs(tmp_path)
    pd.DataFrame({"target": [0], "match": [0]}).to_csv(tmp_path / "bad.csv", index=False)
    bad = list(args)
    bad[bad.index("trials.csv")] = "bad.csv"
    assert_one_line_error(cli("metamer-observer", *bad, "--out", "o", cwd=tmp_path), "'foil'", "target, match, foil")
    pd.DataFrame({"target": [0], "match": [0], "foil": [9]}).to_csv(tmp_path / "bad.csv", index=False)
    assert_one_line_error(cli("metamer-observer", *bad, "--out", "o", cwd=tmp_path), "not in the features", "'9'")
    assert_one_line_error(cli("metamer-observer", *args, "--sigma", "-1", "--out", "o", cwd=tmp_path), "--sigma")
    pd.DataFrame({"n_correct": [5], "n_trials": [4]}).to_csv(tmp_path / "h.csv", index=False)
    assert_one_line_error(cli("metamer-observer", *args, "--fit-to", "h.csv", "--out", "o", cwd=tmp_path),
                          "n_correct=5 of n_trials=4")
    assert_one_line_error(cli("metamer-observer", *args, "--fit-to", "missing.csv", "--out", "o", cwd=tmp_path),
                          "missing.csv", "file not found")
