"""The guidance experiment on MNIST digits (alignment.experiment): its networks, its settings, per-epoch held-out
scores, and its numbers against GuidedTraining and guide_alignment called directly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuroalign.alignment.experiment import (GUIDANCE_DEFAULTS, GUIDE_LAYERS, LOSS_NAMES, check_guidance_settings,
                                             mlp_layer_names, plain_mlp, run_guidance_experiment)
from neuroalign.alignment.guidance import GuidedTraining, guide_alignment
from neuroalign.alignment.losses import ALIGNMENT_LOSSES
from neuroalign.datasets.mnist import load_mnist_5k, split_train_test
from neuroalign.errors import ConfigError, UnknownNameError
from neuroalign.models.mnist import MnistCNN

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: Small enough for a few seconds on one core.
TINY = {"n_test": 60, "n_train": 240, "guide_epochs": 1, "depth": 4, "width": 16, "layers": {"relu1": "pool1",
        "relu2": "relu3"}, "epochs": 2, "batch_size": 60, "n_seeds": 2, "weights": [0.0, 1.0]}


def test_the_torch_free_names_match_the_networks_and_losses():
    assert LOSS_NAMES == tuple(ALIGNMENT_LOSSES)
    assert GUIDE_LAYERS == tuple(name for name, _ in MnistCNN(seed=0).named_modules() if name)
    for depth in (2, 5):
        assert mlp_layer_names(depth) == [name for name, _ in plain_mlp(depth, 8, seed=0).named_modules() if name]


def test_plain_mlp_inits_are_seeded_and_leave_the_global_generator_alone():
    state = torch.random.get_rng_state()
    default, he = plain_mlp(3, 32, seed=4), plain_mlp(3, 32, seed=4, init="he")
    assert torch.equal(torch.random.get_rng_state(), state)
    bound = 1 / np.sqrt(28 * 28)  # torch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases
    assert float(default.fc0.weight.detach().abs().max()) <= bound
    assert float(default.fc0.bias.detach().abs().max()) <= bound
    assert float(he.fc0.bias.detach().abs().max()) == 0.0
    assert abs(float(he.fc1.weight.detach().std()) - np.sqrt(2 / 32)) < 0.03  # He normal: std sqrt(2 / fan_in)
    assert not torch.equal(default.fc0.weight, plain_mlp(3, 32, seed=5).fc0.weight)


@pytest.fixture(scope="module")
def digits():
    torch.set_num_threads(1)
    train, test = split_train_test(load_mnist_5k(), test_size=60, random_state=0)
    return split_train_test(train, test_size=240, random_state=0)[1], test


def test_held_out_scores_leave_training_unchanged_and_equal_guide_alignment(digits):
    train, test = digits
    guide, pairs = MnistCNN(seed=0), {"relu1": "pool1", "relu2": "relu3"}
    fits = [GuidedTraining(plain_mlp(4, 16, seed=1), guide, pairs, epochs=2, batch_size=60, random_state=1)
            .fit(train, held_out=held_out) for held_out in (None, test)]
    for key, value in fits[0].model_.state_dict().items():
        assert torch.equal(value, fits[1].model_.state_dict()[key])
    history = fits[1].history_
    assert list(history.columns) == ["epoch", "task_loss", "alignment_loss", "total_loss", "train_accuracy",
                                     "held_out_accuracy", "cka:relu1", "cka:relu2"]
    assert fits[0].history_.equals(history[fits[0].history_.columns])
    last = history.iloc[-1]
    direct = guide_alignment(fits[1].model_, guide, test, pairs).values
    for layer in ("relu1", "relu2"):
        assert last[f"cka:{layer}"] == float(direct.sel(layer=layer))
    assert last["held_out_accuracy"] == fits[1].score(test)


def test_a_layer_with_two_partners_names_both(digits):
    train, test = digits
    fit = GuidedTraining(plain_mlp(3, 8, seed=0), MnistCNN(seed=0), [("relu1", "pool1"), ("relu1", "relu3")],
                         epochs=1, batch_size=60, random_state=0).fit(train, held_out=test)
    assert [c for c in fit.history_.columns if c.startswith("cka")] == ["cka:relu1:pool1", "cka:relu1:relu3"]


def test_the_experiment_is_guided_training_called_directly_and_reruns_bit_identically(digits):
    score = run_guidance_experiment(TINY, seed=3)
    values = score.values
    assert values.dims == ("weight", "seed", "epoch", "measure")
    assert values["seed"].values.tolist() == [3, 4] and values["epoch"].values.tolist() == [1, 2]
    assert values["measure"].values.tolist() == ["task_loss", "alignment_loss", "total_loss", "train_accuracy",
                                                 "held_out_accuracy", "cka:relu1", "cka:relu2"]
    # the reference: the same split, guide and networks, built and trained here
    from neuroalign.metamers.training import train_classifier

    train, test = split_train_test(load_mnist_5k(), test_size=60, random_state=3)
    train = split_train_test(train, test_size=240, random_state=3)[1]
    guide = train_classifier(MnistCNN(seed=3), train, epochs=1, batch_size=64, lr=0.002, random_state=3,
                             progress=False).model
    fit = GuidedTraining(plain_mlp(4, 16, seed=4), guide, TINY["layers"], weight=1.0, epochs=2, batch_size=60,
                         random_state=4).fit(train)
    direct = guide_alignment(fit.model_, guide, test, TINY["layers"]).values
    got = values.sel(weight=1.0, seed=4, epoch=2)
    assert float(got.sel(measure="cka:relu2")) == float(direct.sel(layer="relu2"))
    assert float(got.sel(measure="held_out_accuracy")) == fit.score(test)
    assert float(got.sel(measure="task_loss")) == float(fit.history_["task_loss"].iloc[-1])
    assert score.params["guide_accuracy"] == float((guide(torch.as_tensor(test.values)).argmax(1).numpy()
                                                    == test.label.values).mean())
    again = run_guidance_experiment(TINY, seed=3)
    assert again.values.identical(values)


def test_settings_are_checked_before_any_work():
    assert check_guidance_settings({}) == {**GUIDANCE_DEFAULTS, "weights": [0.0, 1.0]}
    with pytest.raises(UnknownNameError, match="depht"):
        check_guidance_settings({"depht": 3})
    with pytest.raises(ConfigError, match="'relu11' is not a layer of the target MLP"):
        check_guidance_settings({"layers": {"relu11": "relu3"}})
    with pytest.raises(ConfigError, match="'relu4' is not a layer of the guide CNN"):
        check_guidance_settings({"layers": {"relu1": "relu4"}})
    with pytest.raises(ConfigError, match="weights"):
        check_guidance_settings({"weights": [1.0, 1.0]})
    with pytest.raises(ConfigError, match="weights"):
        check_guidance_settings({"weights": [-1.0]})
    with pytest.raises(ConfigError, match="n_train"):
        check_guidance_settings({"n_train": 4500, "n_test": 1000})
    with pytest.raises(ConfigError, match="init"):
        check_guidance_settings({"init": "xavier"})
    with pytest.raises(UnknownNameError, match="cosine"):
        check_guidance_settings({"loss": "cosine"})
    with pytest.raises(ConfigError, match="lr"):
        check_guidance_settings({"lr": 0})
