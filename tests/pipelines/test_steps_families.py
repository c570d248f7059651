"""The metamer and graph-pretraining families as analyses of a study config (steps_families).

The reference of each score is the family's own runner called directly with
the same settings (``run_metamer_study``, ``run_graph_pretraining``): the
study engine must store exactly what the runner returns.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from neuroalign.errors import ConfigError, FileFormatError, UnknownNameError
from neuroalign.pipelines.analysis_kinds import ANALYSIS_KINDS, analysis_kind
from neuroalign.pipelines.engine import run_study
from neuroalign.pipelines.graph_pretraining import GRAPH_PRETRAINING_DEFAULTS, run_graph_pretraining
from neuroalign.pipelines.study_files import load_study
from neuroalign.score import Score

from ._studies import write_study

REPO = Path(__file__).resolve().parents[2]

#: Graph pretraining small enough for seconds (the runner's own docstring example).
TINY_GRAPHS = {"n_subjects": 12, "n_rois": 6, "n_volumes": 60, "window": 20, "step": 10, "hidden": 8, "epochs": 2,
               "batch_size": 6, "inner_splits": 2}
#: The metamer study's docstring example: one layer, ten test digits.
TINY_METAMERS = {"n_test": 10, "n_train": 200, "layers": ["relu3"], "max_iter": 8, "n_passes": 2, "epochs": 1,
                 "n_null": 20, "n_bootstrap": 10}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def family_study(kind: str, params: dict, out: Path, name: str = "family") -> dict:
    return {"name": name, "seed": 0, "analyses": [{"name": kind, "kind": kind, "params": params}],
            "outputs": {"dir": str(out), "report": False}}


def assert_same_score(got: Score, want: Score) -> None:
    assert got.metric == want.metric and got.dims == want.dims
    np.testing.assert_array_equal(got.values.values, want.values.values)
    if want.ci is not None:
        np.testing.assert_array_equal(got.ci[0].values, want.ci[0].values)
        np.testing.assert_array_equal(got.ci[1].values, want.ci[1].values)


def write_timeseries(folder: Path, n_subjects: int = 8) -> None:
    """Tiny ROI time-series files (one CSV per subject, as in docs/graphs-cli.md) and a participants table."""
    from neuroalign.datasets.dynamic_fc import simulate_dynamic_fc

    folder.mkdir(parents=True, exist_ok=True)
    bold = simulate_dynamic_fc("static", n_subjects=n_subjects, n_rois=6, n_volumes=40, seed=0).timeseries
    for i, subject in enumerate(bold["subject"].values):
        table = pd.DataFrame(bold.sel(subject=subject).values, columns=bold["neuroid_id"].values)
        table.to_csv(folder / f"sub-{i + 1:02d}_timeseries.csv", index=False)
    pd.DataFrame({"participant_id": [f"sub-{i + 1:02d}" for i in range(n_subjects)],
                  "group": bold["group"].values}).to_csv(folder / "participants.csv", index=False)


# -- the kinds -----------------------------------------------------------------------------------------------------


def test_params_mirror_the_runners_defaults_less_what_the_engine_owns():
    from neuroalign.metamers.study import STUDY_DEFAULTS

    for kind, defaults in (("metamers", STUDY_DEFAULTS), ("graph_pretraining", GRAPH_PRETRAINING_DEFAULTS)):
        params = analysis_kind(kind).params()
        dumped = params.model_dump()
        assert set(dumped) == set(defaults) - {"out", "progress", "overwrite"}
        assert dumped.pop("seed") is None  # the study's seed, resolved by the plan
        assert dumped == {k: v for k, v in defaults.items() if k in dumped}
        assert ANALYSIS_KINDS[kind].requires == () and not ANALYSIS_KINDS[kind].per_layer


@pytest.mark.parametrize("kind,key,close", [("graph_pretraining", "n_subject", "n_subjects"),
                                             ("metamers", "max_iters", "max_iter"),
                                             ("graph_pretraining", "out", None)])
def test_unknown_params_are_named_with_close_matches(tmp_path, kind, key, close):
    config = write_study(tmp_path / "study.yaml", family_study(kind, {key: 3}, tmp_path / "results"))
    with pytest.raises(UnknownNameError) as info:
        load_study(config)
    assert info.value.source == f"{config} (analyses[0].params.{key})"
    if close:
        assert f"'{close}'" in str(info.value)


def test_a_value_the_runner_refuses_is_a_config_error_before_any_work(tmp_path):
    config = write_study(tmp_path / "study.yaml",
                         family_study("graph_pretraining", {"test_fraction": 1.5}, tmp_path / "results"))
    with pytest.raises(ConfigError, match="test_fraction") as info:
        load_study(config)
    assert "analyses[0].params" in info.value.source
    config = write_study(tmp_path / "study.yaml", family_study("metamers", {"epochs": True}, tmp_path / "results"))
    with pytest.raises(ConfigError, match="integer"):
        load_study(config)


# -- graph pretraining ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("graphs")
    torch.set_num_threads(1)
    config = write_study(folder / "study.yaml", family_study("graph_pretraining", TINY_GRAPHS, folder / "results"))
    return config, run_study(config, scheduler="synchronous", progress=False)


def test_graph_pretraining_scores_what_the_runner_returns(graph_run, tmp_path):
    _, run = graph_run
    reference = run_graph_pretraining({**TINY_GRAPHS, "seed": 0}, out=tmp_path / "direct", progress=False)
    assert_same_score(run.scores["graph_pretraining"], reference.score)
    assert run.scores["graph_pretraining"].metric == "probe-auroc"
    folder = run.out / "results" / "graph_pretraining"
    assert (folder / "figures" / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((folder / "meta.json").read_text())["kind"] == "graph_pretraining"


def test_graph_pretraining_rerun_reuses_the_task(graph_run):
    config, run = graph_run
    again = run_study(config, scheduler="synchronous", progress=False)
    assert again.computed == [] and len(again.reused) == len(run.plan.tasks) == 1
    assert again.scores["graph_pretraining"].values.identical(run.scores["graph_pretraining"].values)


def test_the_study_seed_is_the_analysis_seed(graph_run):
    config, run = graph_run
    other = run_study(config, overrides=["seed=1"], dry_run=True)
    assert len(other.computed) == 1
    task = other.plan.tasks[other.computed[0]]
    assert task.params["params"]["seed"] == 1


def test_timeseries_files_relative_to_the_config_and_in_the_key(tmp_path, monkeypatch):
    study_dir = tmp_path / "study"
    write_timeseries(study_dir / "data")
    params = {"timeseries": "data/sub-*_timeseries.csv", "labels": "data/participants.csv", "repetition_time": 2.0,
              "window": 20, "step": 10, "hidden": 8, "epochs": 1, "batch_size": 4, "inner_splits": 2}
    config = write_study(study_dir / "study.yaml", family_study("graph_pretraining", params, tmp_path / "results"))
    monkeypatch.chdir(tmp_path)  # paths are the config file's, not the current folder's
    study = load_study(config)
    assert study.analyses[0].params.timeseries == str(study_dir / "data" / "sub-*_timeseries.csv")
    assert study.analyses[0].params.labels == str(study_dir / "data" / "participants.csv")

    run = run_study(config, scheduler="synchronous", progress=False)
    reference = run_graph_pretraining({**study.analyses[0].params.model_dump(), "seed": 0},
                                      out=tmp_path / "direct", progress=False)
    assert_same_score(run.scores["graph_pretraining"], reference.score)
    assert "analyses.graph_pretraining" in json.loads((run.out / "provenance.json").read_text())["inputs"]
    assert run_study(config, dry_run=True).computed == []

    series = study_dir / "data" / "sub-03_timeseries.csv"
    table = pd.read_csv(series)
    table.iloc[0, 0] += 1.0
    table.to_csv(series, index=False)
    changed = run_study(config, dry_run=True)
    assert len(changed.computed) == 1 and changed.computed[0] not in run.plan.tasks

    labels = study_dir / "data" / "participants.csv"
    labels.write_text(labels.read_text() + "\n")
    assert run_study(config, dry_run=True).plan.finals != changed.plan.finals


def test_a_set_path_is_relative_to_the_current_folder(tmp_path, monkeypatch):
    config = write_study(tmp_path / "study.yaml", family_study("graph_pretraining", {}, tmp_path / "results"))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    study = load_study(config, ["analyses.0.params.timeseries=data/sub-*.csv", "analyses.0.params.labels=p.csv"])
    assert study.analyses[0].params.timeseries == str(tmp_path / "elsewhere" / "data" / "sub-*.csv")
    assert study.analyses[0].params.labels == str(tmp_path / "elsewhere" / "p.csv")


def test_a_pattern_without_files_is_named_before_any_work(tmp_path):
    params = {"timeseries": "nothing/sub-*.csv", "repetition_time": 2.0}
    config = write_study(tmp_path / "study.yaml", family_study("graph_pretraining", params, tmp_path / "results"))
    with pytest.raises(FileFormatError, match="no file matches"):
        run_study(config, dry_run=True)


# -- metamers ------------------------------------------------------------------------------------------------------


def test_metamers_plan_one_task_with_the_study_seed(tmp_path):
    config = write_study(tmp_path / "study.yaml", family_study("metamers", TINY_METAMERS, tmp_path / "results"))
    dry = run_study(config, overrides=["seed=3"], dry_run=True)
    (task,) = dry.plan.tasks.values()
    assert task.step == "neuroalign.pipelines.steps_families:metamers"
    assert task.params["params"] == {**analysis_kind("metamers").params(**TINY_METAMERS).model_dump(), "seed": 3}


def test_metamers_score_what_the_runner_returns_and_rerun_reuses(tmp_path):
    from neuroalign.metamers.study import run_metamer_study

    config = write_study(tmp_path / "study.yaml", family_study("metamers", TINY_METAMERS, tmp_path / "results"))
    run = run_study(config, scheduler="synchronous", progress=False)
    reference = run_metamer_study({**TINY_METAMERS, "seed": 0}, out=tmp_path / "direct", progress=False)
    got = run.scores["metamers"]
    assert got.dims == ("generator", "layer", "observer")
    assert [str(v) for v in got.values["layer"].values] == ["natural", "relu3"]
    assert_same_score(got, reference.recognisability)
    figures = run.out / "results" / "metamers" / "figures"
    assert sorted(p.name for p in figures.iterdir()) == ["metamers.png", "recognisability.png"]
    again = run_study(config, scheduler="synchronous", progress=False)
    assert again.computed == []
    assert again.scores["metamers"].values.identical(got.values)


# -- bundled studies -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,kind", [("metamers-mnist-study", "metamers"),
                                       ("graphs-simulated-study", "graph_pretraining")])
def test_bundled_family_studies_load(name, kind):
    study = load_study(REPO / "pipelines" / f"{name}.yaml")
    assert [a.kind for a in study.analyses] == [kind]


@pytest.mark.slow
@pytest.mark.parametrize("name,figures", [("metamers-mnist-study", ["metamers.png", "recognisability.png"]),
                                          ("graphs-simulated-study", ["loss.png"])])
def test_bundled_family_studies_run(tmp_path, name, figures):
    run = run_study(REPO / "pipelines" / f"{name}.yaml", out=tmp_path / "results",
                    overrides=[f"outputs.store={tmp_path / 'store'}"], scheduler="synchronous", progress=False)
    (analysis,) = run.scores
    folder = run.out / "results" / analysis
    assert sorted(p.name for p in (folder / "figures").iterdir()) == figures
    assert Score.load(folder / "score.nc").values.identical(run.scores[analysis].values)
    assert (run.out / "report.html").is_file()
