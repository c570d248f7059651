"""Spike pretraining as a pipeline (pipelines.spike_pretraining) and as an analysis of a study (steps_families).

References: the runner's metrics equal the metric functions called by hand on
the rates it wrote (``neuroalign.spikes.metrics``, themselves equal to
nlb_tools); the study engine stores exactly what the runner returns; a resumed
run equals an uninterrupted one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from neuroalign.data import load
from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
from neuroalign.errors import ConfigError, UnknownNameError
from neuroalign.pipelines.analysis_kinds import ANALYSIS_KINDS, analysis_kind
from neuroalign.pipelines.engine import run_study
from neuroalign.pipelines.spike_data import SpikeData, draw_held_out, nwb_path
from neuroalign.pipelines.spike_pretraining import (SPIKE_PRETRAINING_DEFAULTS, evaluate_folder,
                                                    run_spike_pretraining)
from neuroalign.pipelines.study_files import load_study
from neuroalign.spikes.metrics import co_bps, psth_r2

from ._studies import write_study

#: A run small enough for seconds: every method, a few epochs.
TINY = {"n_trials": 80, "n_bins": 20, "n_held_in": 10, "n_held_out": 4, "n_conditions": 4, "masked_epochs": 2,
        "masked_d_model": 16, "tokens_epochs": 1, "tokens_d_model": 16, "tokens_samples": 2, "test_fraction": 0.25}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    torch.set_num_threads(1)
    return run_spike_pretraining(TINY, out=tmp_path_factory.mktemp("spikes") / "run", progress=False)


def test_every_method_is_scored_on_the_test_trials_as_the_metrics_say(tiny_run):
    metrics = tiny_run.metrics
    assert metrics.index.tolist() == ["true rates", "smoothing", "psth", "masked", "tokens"]
    sim = simulate_lorenz_spikes(n_trials=80, n_bins=20, n_held_in=10, n_held_out=4, n_conditions=4, random_state=0)
    test = sim.counts.isel(presentation=tiny_run.test)
    for method in ("smoothing", "psth", "masked"):
        rates = load(tiny_run.out / f"rates-{method}.nc")
        assert metrics.loc[method, "co_bps"] == co_bps(rates, test, sim.held_out)
        assert metrics.loc[method, "psth_r2"] == psth_r2(rates, sim.psth)
    truth = sim.rates.isel(presentation=tiny_run.test)
    assert metrics.loc["true rates", "co_bps"] == co_bps(truth, test, sim.held_out)
    # the autoregressive model reads held-out neurons' earlier spikes: scored forward, never as co-smoothing
    assert np.isnan(metrics.loc["tokens", "co_bps"]) and np.isfinite(metrics.loc["tokens", "forward_bps"])
    assert metrics["forward_bps"].drop("tokens").isna().all()
    # the split is by trial: no trial on both sides
    assert not set(tiny_run.train) & set(tiny_run.test) and len(tiny_run.test) == 20


def test_the_folder_holds_what_the_docs_list(tiny_run):
    out = tiny_run.out
    table = pd.read_csv(out / "metrics.csv")
    assert table["method"].tolist() == ["true rates", "smoothing", "psth", "masked", "tokens"]
    for name in ("loss.png", "rates.png", "metrics.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    for method in ("masked", "tokens"):
        assert (out / f"{method}.pt").is_file()
        assert len(pd.read_csv(out / f"history-{method}.csv")) == TINY[f"{method}_epochs"]
    record = json.loads((out / "run.json").read_text())
    assert record["held_out"] == tiny_run.held_out and record["test"] == tiny_run.test.tolist()
    # the simulated counts' own bin width, not the NWB-only setting's default; no settings that do not apply
    assert record["data"]["bin_size"] == 0.01 == float(np.diff(tiny_run.counts.time_bin_start.values[:2])[0].round(12))
    assert not {"nwb", "trials", "window_start", "window_stop"} & set(record["data"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_test"] == 20 and "neuroalign_version" in summary


def test_evaluate_folder_scores_the_saved_models_like_the_run(tiny_run):
    metrics = evaluate_folder(tiny_run.out, baselines=["smoothing"], progress=False)
    assert metrics.index.tolist() == ["true rates", "smoothing", "masked", "tokens"]
    pd.testing.assert_series_equal(metrics.loc["masked"], tiny_run.metrics.loc["masked"])
    pd.testing.assert_series_equal(metrics.loc["smoothing"], tiny_run.metrics.loc["smoothing"])


def test_a_resumed_run_equals_an_uninterrupted_one(tiny_run, tmp_path):
    # Stop after one epoch (a run with fewer epochs), then continue to the full count from the checkpoint.
    first = run_spike_pretraining({**TINY, "methods": ["masked"], "masked_epochs": 1}, out=tmp_path / "r",
                                  progress=False)
    assert len(first.estimators["masked"].history_) == 1
    resumed = run_spike_pretraining({**TINY, "methods": ["masked"]}, out=tmp_path / "r", progress=False)
    assert resumed.metrics.loc["masked", "co_bps"] == tiny_run.metrics.loc["masked", "co_bps"]
    np.testing.assert_array_equal(resumed.rates["masked"].values, tiny_run.rates["masked"].values)


def test_a_folder_of_other_data_is_refused(tiny_run, tmp_path):
    run_spike_pretraining({**TINY, "methods": ["smoothing"]}, out=tmp_path / "r", progress=False)
    with pytest.raises(ConfigError, match="n_trials: 80 in run.json, 60 now"):
        run_spike_pretraining({**TINY, "methods": ["smoothing"], "n_trials": 60}, out=tmp_path / "r", progress=False)
    again = run_spike_pretraining({**TINY, "methods": ["smoothing"], "n_trials": 60, "overwrite": True},
                                  out=tmp_path / "r", progress=False)
    assert len(again.test) == 15


def test_bad_settings_are_named_before_any_work(tmp_path):
    with pytest.raises(UnknownNameError, match="'masked'"):
        run_spike_pretraining({"methods": ["maskd"]}, out=tmp_path / "x")
    with pytest.raises(ConfigError, match="test_fraction"):
        run_spike_pretraining({"test_fraction": 1.0}, out=tmp_path / "x")
    with pytest.raises(ConfigError, match="psth method needs conditions"):
        run_spike_pretraining({**TINY, "methods": ["psth"], "condition": ""}, out=tmp_path / "x", progress=False)
    assert not (tmp_path / "x" / "metrics.csv").exists()


def test_nwb_only_settings_are_refused_on_simulated_data(tmp_path):
    # The simulator bins at 10 ms (simulate_lorenz_spikes' bin_size) and has no trial window: a bin size or
    # window asked for simulated data would be silently ignored (the counts' time_bin_end - time_bin_start
    # stays 0.01 s), so the run would be recorded with a bin size its data do not have.
    default = run_spike_pretraining({**TINY, "methods": ["psth"]}, out=tmp_path / "ok", progress=False)
    widths = default.counts.time_bin_end.values - default.counts.time_bin_start.values
    assert np.allclose(widths, 0.01)
    for setting in ({"bin_size": 0.05}, {"window_start": 0.5}, {"window_stop": 2.0}):
        with pytest.raises(ConfigError, match="NWB"):
            run_spike_pretraining({**TINY, "methods": ["psth"], **setting}, out=tmp_path / "x", progress=False)
    assert not (tmp_path / "x" / "metrics.csv").exists()


def test_held_out_draw_and_dataset_references():
    counts = simulate_lorenz_spikes(n_trials=4, n_bins=3, n_held_in=6, n_held_out=2, n_conditions=2,
                                    random_state=0).counts
    drawn = draw_held_out(counts, 0.25, 3)
    assert len(drawn) == 2 and drawn == draw_held_out(counts, 0.25, 3)
    assert [i for i in counts.neuroid_id.values if i in drawn] == drawn  # the data's order
    path = nwb_path("dataset://pynapple/sub-4_ses-4_ecephys+image.nwb")
    assert path.is_file() and path.name == "sub-4_ses-4_ecephys+image.nwb"
    with pytest.raises(ConfigError, match="does not name a dataset's file"):
        nwb_path("dataset://pynapple")


def test_the_human_nwb_session_runs_through_the_whole_path(tmp_path):
    # The real session: 35 units, 180 trials. Co-bps near 0 for every method is expected (see the docs), so the
    # run is checked for what it must be, not for a ranking.
    settings = {"nwb": "dataset://pynapple/sub-4_ses-4_ecephys+image.nwb", "trials": "recognition_table",
                "window_start": 0.0, "window_stop": 1.5, "bin_size": 0.02, "condition": "",
                "methods": ["smoothing", "masked"], "masked_epochs": 2, "masked_d_model": 16}
    data = SpikeData.from_settings({**SPIKE_PRETRAINING_DEFAULTS, **settings})
    assert data.counts.sizes == {"presentation": 180, "neuroid": 35, "time_bin": 75}
    result = run_spike_pretraining(settings, out=tmp_path / "human", progress=False)
    assert result.metrics.index.tolist() == ["smoothing", "masked"] and len(result.held_out) == 9
    assert np.isfinite(result.metrics["co_bps"]).all()  # two epochs of the model: no ranking asked of it
    assert abs(result.metrics.loc["smoothing", "co_bps"]) < 0.1  # the session's held-out units are barely predictable
    assert "psth_r2" not in result.metrics
    recorded = json.loads((tmp_path / "human" / "run.json").read_text())["data"]
    assert recorded["bin_size"] == 0.02 and recorded["trials"] == "recognition_table"


# -- as an analysis of a study -------------------------------------------------------------------------------------


def test_params_mirror_the_runners_defaults_less_what_the_engine_owns():
    dumped = analysis_kind("spike_pretraining").params().model_dump()
    assert set(dumped) == set(SPIKE_PRETRAINING_DEFAULTS) - {"out", "progress", "overwrite"}
    assert dumped.pop("seed") is None
    assert dumped == {k: v for k, v in SPIKE_PRETRAINING_DEFAULTS.items() if k in dumped}
    assert ANALYSIS_KINDS["spike_pretraining"].requires == ()


def test_the_study_stores_what_the_runner_returns(tiny_run, tmp_path):
    study = {"name": "spikes", "seed": 0, "analyses": [{"name": "spikes", "kind": "spike_pretraining",
                                                        "params": TINY}],
             "outputs": {"dir": str(tmp_path / "results"), "report": False}}
    config = write_study(tmp_path / "study.yaml", study)
    run = run_study(config, scheduler="synchronous", progress=False)
    score = run.scores["spikes"]
    assert score.metric == "co-bps" and score.dims == ("method",)
    assert score.values["method"].values.tolist() == ["true rates", "smoothing", "psth", "masked"]
    np.testing.assert_array_equal(score.values.values, tiny_run.metrics["co_bps"].dropna().to_numpy())
    folder = run.out / "results" / "spikes"
    assert (folder / "figures" / "rates.png").read_bytes()[:4] == b"\x89PNG"
    again = run_study(config, scheduler="synchronous", progress=False)
    assert again.computed == []


def test_a_bad_param_is_named_by_the_study_file(tmp_path):
    study = {"name": "spikes", "seed": 0, "analyses": [{"name": "s", "kind": "spike_pretraining",
                                                        "params": {"methods": ["psth", "smooth"]}}],
             "outputs": {"dir": str(tmp_path / "results")}}
    config = write_study(tmp_path / "study.yaml", study)
    with pytest.raises(UnknownNameError, match="'smoothing'") as info:
        load_study(config)
    assert "analyses[0].params" in info.value.source


def test_bundled_studies_read(tmp_path):
    root = Path(__file__).resolve().parents[2] / "pipelines"
    for name in ("spikes-lorenz-study.yaml", "spikes-human-nwb-study.yaml"):
        study = load_study(root / name)
        assert study.analyses[0].kind == "spike_pretraining"
