"""Guided training as an analysis of a study (steps_alignment): the engine stores exactly what
run_guidance_experiment returns, whose last epoch equals GuidedTraining + guide_alignment called by hand; reruns
reuse the task, and a fresh store recomputes the same numbers bit for bit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from neuroalign.alignment.experiment import plain_mlp, run_guidance_experiment
from neuroalign.alignment.guidance import GuidedTraining, guide_alignment
from neuroalign.datasets.mnist import load_mnist_5k, split_train_test
from neuroalign.errors import ConfigError, UnknownNameError
from neuroalign.metamers.training import train_classifier
from neuroalign.models.mnist import MnistCNN
from neuroalign.pipelines.analysis_kinds import ANALYSIS_KINDS, analysis_kind
from neuroalign.pipelines.engine import run_study
from neuroalign.pipelines.study_files import load_study
from neuroalign.score import Score

from ._studies import write_study

REPO = Path(__file__).resolve().parents[2]

#: A few seconds on one core: 240 training and 60 held-out digits, a 4-layer MLP, two epochs.
TINY = {"n_test": 60, "n_train": 240, "guide_epochs": 1, "depth": 4, "width": 16,
        "layers": {"relu1": "pool1", "relu2": "relu3"}, "weights": [0.0, 2.0], "epochs": 2, "batch_size": 60}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def guidance_study(out: Path, params: dict, seed: int = 0) -> dict:
    return {"name": "guidance", "seed": seed, "analyses": [{"name": "guided", "kind": "guided_training",
                                                            "params": params}],
            "outputs": {"dir": str(out), "report": False}}


@pytest.fixture(scope="module")
def guided_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("guidance")
    torch.set_num_threads(1)
    config = write_study(folder / "study.yaml", guidance_study(folder / "results", TINY, seed=2))
    return config, run_study(config, scheduler="synchronous", progress=False)


def test_the_kind_needs_no_model_and_takes_the_study_seed(guided_run):
    config, run = guided_run
    kind = ANALYSIS_KINDS["guided_training"]
    assert kind.requires == () and not kind.per_layer
    (task,) = run.plan.tasks.values()
    assert task.step == "neuroalign.pipelines.steps_alignment:guided_training"
    assert task.params["params"] == {**analysis_kind("guided_training").params(**TINY).model_dump(), "seed": 2}
    assert json.loads((run.out / "results" / "guided" / "meta.json").read_text())["kind"] == "guided_training"


def test_the_score_is_the_experiment_and_its_last_epoch_is_guide_alignment_by_hand(guided_run):
    _, run = guided_run
    got = run.scores["guided"]
    want = run_guidance_experiment(TINY, seed=2)
    assert got.metric == want.metric == "guided-training-linear-cka" and got.params == want.params
    assert got.values.identical(want.values)  # bit for bit, computed again here
    assert got.values.dims == ("weight", "seed", "epoch", "measure")
    # by hand: the split, the guide, the target network, its training and its held-out CKA and accuracy
    train, test = split_train_test(load_mnist_5k(), test_size=60, random_state=2)
    train = split_train_test(train, test_size=240, random_state=2)[1]
    guide = train_classifier(MnistCNN(seed=2), train, epochs=1, batch_size=64, lr=0.002, random_state=2,
                             progress=False).model
    for weight in (0.0, 2.0):
        fit = GuidedTraining(plain_mlp(4, 16, seed=2), guide, TINY["layers"], weight=weight, epochs=2,
                             batch_size=60, random_state=2).fit(train)
        cka = guide_alignment(fit.model_, guide, test, TINY["layers"]).values
        last = got.values.sel(weight=weight, seed=2, epoch=2)
        for layer in ("relu1", "relu2"):
            assert float(last.sel(measure=f"cka:{layer}")) == float(cka.sel(layer=layer))
        assert float(last.sel(measure="held_out_accuracy")) == fit.score(test)
        np.testing.assert_array_equal(got.values.sel(weight=weight, seed=2, measure="task_loss").values,
                                      fit.history_["task_loss"].to_numpy())
    # the alignment term raises the CKA to the guide
    cka_last = got.values.sel(epoch=2, seed=2, measure=["cka:relu1", "cka:relu2"]).mean("measure")
    assert float(cka_last.sel(weight=2.0)) > float(cka_last.sel(weight=0.0))


def test_a_rerun_reuses_and_a_fresh_store_recomputes_the_same_numbers(guided_run, tmp_path):
    config, run = guided_run
    again = run_study(config, scheduler="synchronous", progress=False)
    assert again.computed == [] and len(again.reused) == 1
    fresh = run_study(config, scheduler="synchronous", progress=False, out=tmp_path / "fresh")
    assert len(fresh.computed) == 1
    assert fresh.scores["guided"].values.identical(run.scores["guided"].values)
    saved = Score.load(run.out / "results" / "guided" / "score.nc")
    assert saved.values.identical(run.scores["guided"].values)


@pytest.mark.parametrize("params, error, match", [
    ({"layers": {"relu11": "relu3"}}, ConfigError, r"'relu11' is not a layer of the target MLP"),
    ({"depth": 4, "layers": {"relu1": "relu9"}}, ConfigError, r"'relu9' is not a layer of the guide CNN"),
    ({"weights": [-1.0]}, ConfigError, r"weights"),
    ({"weights": []}, ConfigError, r"weights"),
    ({"n_train": 4500}, ConfigError, r"n_train"),
    ({"init": "xavier"}, ConfigError, r"init"),
    ({"loss": "cka"}, UnknownNameError, r"'cka'"),
    ({"epoch": 3}, UnknownNameError, r"'epochs'"),
])
def test_bad_params_are_named_before_any_work(tmp_path, params, error, match):
    config = write_study(tmp_path / "study.yaml", guidance_study(tmp_path / "results", params))
    with pytest.raises(error, match=match) as info:
        load_study(config)
    assert "analyses[0].params" in str(info.value.source)


def test_the_bundled_guidance_study_is_valid():
    study = load_study(REPO / "pipelines" / "guidance-mnist.yaml")
    assert [a.kind for a in study.analyses] == ["guided_training", "guided_training"]
    assert [a.params.init for a in study.analyses] == ["default", "he"]
    assert study.analyses[0].params.weights == [0.0, 0.0001, 1.0]


@pytest.mark.slow
def test_the_bundled_guidance_study_runs_and_shows_the_collapse_under_default_init(tmp_path):
    """The measured state of the bundled study (about a minute): see docs/alignment.md."""
    run = run_study(REPO / "pipelines" / "guidance-mnist.yaml", out=tmp_path / "results", scheduler="synchronous",
                    overrides=[f"outputs.store={tmp_path / 'store'}"], progress=False)
    default, he = (run.scores[name].values.sel(epoch=5) for name in ("guided-default-init", "guided-he-init"))
    cka = ["cka:relu3", "cka:relu7", "cka:relu10"]
    for values in (default, he):  # guidance raises the held-out CKA to the guide at every paired layer
        assert (values.sel(weight=1.0, measure=cka) > values.sel(weight=0.0, measure=cka) + 0.1).all()
    accuracy = default.sel(measure="held_out_accuracy")
    assert (accuracy.sel(weight=1.0) == 0.1).all()             # λ = 1: the task stays at chance
    assert (accuracy.sel(weight=1e-4) > accuracy.sel(weight=0.0)).all()  # a small λ helps
    assert (he.sel(measure="held_out_accuracy") > 0.8).all()
    assert (run.out / "report.html").is_file()
