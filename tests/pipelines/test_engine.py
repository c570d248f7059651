"""The study engine: results equal to calling the comparisons by hand, reuse, recompute-what-changed, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neuroalign.compare import cka_sweep, commit_layer, rsa
from neuroalign.datasets.synthetic import make_synthetic_study
from neuroalign.errors import ConfigError, SchedulerError, StoreError, UnknownNameError
from neuroalign.extract import extract
from neuroalign.pipelines.engine import describe_plan, run_study
from neuroalign.pipelines.store import ResultsStore
from neuroalign.score import Score

from ._studies import LAYERS, SMALL, small_study, write_study


def by_hand(n_bootstrap=20, n_splits=2):
    """The same analyses as small_study, computed directly (the reference)."""
    study = make_synthetic_study(**SMALL)
    activations = extract(study.network, study.stimuli, LAYERS, batch_size=8, model_name="net", progress=False)
    return {
        "rsa": rsa(activations, study.brain, n_bootstrap=n_bootstrap, n_splits=n_splits, seed=0),
        "cka": cka_sweep(activations, study.brain, n_bootstrap=n_bootstrap, n_splits=n_splits, seed=0),
        "commit_layer": commit_layer(activations, study.brain, metric="rsa", n_splits=n_splits, seed=0),
    }


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study")
    config = write_study(folder / "study.yaml", small_study(kinds=("rsa", "cka", "commit_layer"),
                                                            out=folder / "results"))
    return config, run_study(config, scheduler="synchronous", progress=False)


def test_scores_equal_the_comparisons_called_by_hand(first_run):
    _, run = first_run
    expected = by_hand()
    for name in ("rsa", "cka"):
        got, want = run.scores[name], expected[name]
        assert list(got.values.layer.values) == LAYERS
        # one task per layer with the analysis' seed: the same resamples as one call over every layer
        np.testing.assert_allclose(got.values.values, want.values.sel(layer=LAYERS).values, rtol=0, atol=1e-12)
        np.testing.assert_allclose(got.ci[0].values, want.ci[0].sel(layer=LAYERS).values, rtol=0, atol=1e-12)
        np.testing.assert_allclose(float(got.ceiling), float(want.ceiling), rtol=0, atol=1e-12)
    assert float(run.scores["commit_layer"]) == pytest.approx(float(expected["commit_layer"]), abs=1e-12)
    assert run.scores["commit_layer"].params["layer"] == expected["commit_layer"].params["layer"]


def test_results_folder_layout(first_run):
    _, run = first_run
    for name in ("rsa", "cka", "commit_layer"):
        folder = run.out / "results" / name
        meta = json.loads((folder / "meta.json").read_text())
        assert meta["kind"] == name and meta["x_dim"] == "layer" and meta["planted_layer"] == "block3"
        assert Score.load(folder / "score.nc").values.identical(run.scores[name].values)
    assert (run.out / "results" / "rsa" / "rdms.nc").exists()
    provenance = json.loads((run.out / "provenance.json").read_text())
    assert provenance["tasks"] == {"computed": len(run.plan.tasks), "reused": 0}
    assert set(provenance["inputs"]) == {"data.brain", "models.net", "stimuli.synthetic"}
    assert (run.out / "study.yaml").read_text().startswith("name: small") or "name: small" in \
        (run.out / "study.yaml").read_text()


def test_a_rerun_computes_nothing_and_gives_the_same_scores(first_run):
    config, run = first_run
    again = run_study(config, scheduler="synchronous", progress=False)
    assert again.computed == [] and len(again.reused) == len(run.plan.tasks)
    for name, score in run.scores.items():
        assert again.scores[name].values.identical(score.values)


def test_changing_one_parameter_recomputes_only_what_depends_on_it(first_run):
    config, run = first_run
    changed = run_study(config, overrides=["analyses.0.params.n_bootstrap=21"], scheduler="synchronous",
                        progress=False)
    labels = sorted(changed.plan.tasks[k].label for k in changed.computed)
    assert labels == sorted(["rsa", *(f"rsa:{layer}" for layer in LAYERS)])
    assert changed.scores["cka"].values.identical(run.scores["cka"].values)
    expected = rsa(extract(make_synthetic_study(**SMALL).network, make_synthetic_study(**SMALL).stimuli, LAYERS,
                           batch_size=8, progress=False), make_synthetic_study(**SMALL).brain, n_bootstrap=21,
                   n_splits=2, seed=0)
    np.testing.assert_allclose(changed.scores["rsa"].ci[1].values, expected.ci[1].sel(layer=LAYERS).values,
                               atol=1e-12, rtol=0)


def test_a_changed_model_argument_changes_the_activations_key(first_run, tmp_path):
    config, run = first_run
    other = run_study(config, overrides=["models.net.args.seed=1"], dry_run=True)
    labels = {other.plan.tasks[k].label for k in other.computed}
    assert "activations:net@synthetic" in labels and "data:brain" not in labels


def test_threads_and_processes_give_identical_scores(first_run):
    config, run = first_run
    for scheduler in ("threads", "processes"):
        out = run.out.parent / f"results-{scheduler}"
        other = run_study(config, scheduler=scheduler, workers=2, out=out,
                          overrides=[f"outputs.store={out / 'store'}"], progress=False)
        assert len(other.computed) == len(run.plan.tasks)
        for name, score in run.scores.items():
            assert other.scores[name].values.identical(score.values), (scheduler, name)
            assert other.scores[name].data.identical(score.data), (scheduler, name)


def test_dry_run_lists_tasks_and_what_would_run(first_run):
    config, run = first_run
    dry = run_study(config, overrides=["analyses.1.params.n_splits=3"], dry_run=True)
    table = describe_plan(dry)
    assert "would compute 4" in table and "activations:net@synthetic" in table
    assert sorted(dry.plan.tasks[k].label for k in dry.computed) == sorted(["cka", *(f"cka:{x}" for x in LAYERS)])


def test_a_store_of_another_version_is_refused_before_any_work(tmp_path):
    store = tmp_path / "store"
    ResultsStore(store, create=True)
    (store / "store.json").write_text(json.dumps({"package": "neuroalign", "version": "0.0.1"}))
    config = write_study(tmp_path / "s.yaml", small_study(out=tmp_path / "out"))
    with pytest.raises(StoreError, match="written by neuroalign 0.0.1"):
        run_study(config, overrides=[f"outputs.store={store}"], progress=False)
    assert not (tmp_path / "out").exists()


def test_an_unreachable_scheduler_is_a_named_error(tmp_path, monkeypatch):
    from neuroalign.pipelines import schedulers

    monkeypatch.setattr(schedulers, "CONNECT_TIMEOUT", 2)
    config = write_study(tmp_path / "s.yaml", small_study(out=tmp_path / "out"))
    with pytest.raises(SchedulerError, match="cannot reach the Dask scheduler"):
        run_study(config, scheduler="tcp://127.0.0.1:9", progress=False)
    assert not (tmp_path / "out" / "results").exists()


def test_unknown_scheduler_name(tmp_path):
    config = write_study(tmp_path / "s.yaml", small_study(out=tmp_path / "out"))
    with pytest.raises(UnknownNameError, match="thread"):
        run_study(config, scheduler="thread")


def test_cycles_are_named():
    from neuroalign.pipelines.plan import Task, order_tasks

    a = Task("a" * 32, "score", "first", "m:f", {}, {"x": "b" * 32})
    b = Task("b" * 32, "score", "second", "m:f", {}, {"x": "a" * 32})
    with pytest.raises(ConfigError, match="cycle: .*first.*second|cycle: .*second.*first"):
        order_tasks({a.key: a, b.key: b})


def test_a_failed_task_leaves_no_result_and_the_error_reaches_the_driver(tmp_path):
    study = small_study(out=tmp_path / "out", layers=["block1", "no_such_layer"])
    config = write_study(tmp_path / "s.yaml", study)
    with pytest.raises(Exception, match="no_such_layer"):
        run_study(config, scheduler="synchronous", progress=False)
    store = ResultsStore(tmp_path / "out" / "store")
    labels = {store.record(k)["label"] for k in store.keys()}
    assert "activations:net@synthetic" not in labels
    assert not any((store.path / "tmp").iterdir())

