"""Guidance: a target network trained with an alignment term to a frozen guide's layers aligns with the guide
(CKA on held-out digits, measured with neuroalign.compare.cka) more than the same network trained without it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuroalign.alignment.experiment import plain_mlp
from neuroalign.alignment.guidance import GuidedTraining, guide_alignment, resolve_layer_pairs
from neuroalign.alignment.losses import RBFCKALoss
from neuroalign.compare import cka
from neuroalign.datasets.mnist import load_mnist_5k, split_train_test
from neuroalign.errors import ConfigError, UnknownNameError
from neuroalign.metamers.training import train_classifier


@pytest.fixture(scope="module")
def digits():
    torch.set_num_threads(1)
    data = load_mnist_5k()
    train, test = split_train_test(data, test_size=300, random_state=0)
    chosen = np.sort(np.random.default_rng(0).permutation(train.sizes["presentation"])[:800])  # all classes
    return train.isel(presentation=chosen), test


@pytest.fixture(scope="module")
def guide(digits):
    train, _ = digits
    return train_classifier(plain_mlp(3, 32, seed=100), train, epochs=4, batch_size=32, lr=3e-3, random_state=0,
                            progress=False).model


def test_guidance_raises_alignment_to_the_guide(digits, guide):
    train, test = digits
    pairs = {"relu1": "relu1"}
    fits = {weight: GuidedTraining(plain_mlp(4, 32, seed=1), guide, pairs, weight=weight, epochs=3, batch_size=64,
                                   lr=3e-3, random_state=0).fit(train)
            for weight in (0.0, 2.0)}
    unguided, guided = (float(fits[w].alignment(test).values.sel(layer="relu1")) for w in (0.0, 2.0))
    assert guided > unguided + 0.1, (guided, unguided)
    # the training-set alignment loss recorded in the history falls with guidance
    assert fits[2.0].history_["alignment_loss"].iloc[-1] < fits[0.0].history_["alignment_loss"].iloc[-1]
    # the Score is neuroalign.compare.cka of the two extracted layers
    acts = {}
    for name, net in (("model", fits[2.0].model_), ("guide", guide)):
        recorded = {}
        handle = net.relu1.register_forward_hook(lambda m, i, o, r=recorded: r.setdefault("x", o.detach()))
        with torch.no_grad():
            net(torch.as_tensor(test.values))
        handle.remove()
        acts[name] = recorded["x"].numpy()
    assert abs(guided - cka(acts["model"], acts["guide"])) < 1e-6  # float32 activations
    for fit in fits.values():
        assert 0.2 < fit.score(test) <= 1.0  # above chance (0.1) after 3 short epochs
        assert list(fit.history_.columns) == ["epoch", "task_loss", "alignment_loss", "total_loss",
                                              "train_accuracy"]


def test_same_seed_same_weights_and_the_model_is_left_unchanged(digits, guide):
    train, _ = digits
    small = train.isel(presentation=slice(0, 128))
    net = plain_mlp(3, 16, seed=2)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    fits = [GuidedTraining(net, guide, [("relu0", "relu0")], loss=RBFCKALoss(threshold=0.5), epochs=1,
                           batch_size=30, random_state=5).fit(small) for _ in range(2)]
    for key, value in fits[0].model_.state_dict().items():
        assert torch.equal(value, fits[1].model_.state_dict()[key])
        assert torch.equal(net.state_dict()[key], before[key])
    assert fits[0].random_state_ == 5 and fits[0].model_.training is False
    assert not any(p.requires_grad for p in fits[0].model_.parameters())


def test_guide_alignment_of_a_network_with_itself_is_one(digits, guide):
    _, test = digits
    score = guide_alignment(guide, guide, test.isel(presentation=slice(0, 50)), {"relu0": "relu0", "relu1": "relu0"})
    assert score.dims == ("layer",)
    assert abs(float(score.values.sel(layer="relu0")) - 1.0) < 1e-6
    assert list(score.values["guide_layer"].values) == ["relu0", "relu0"]


def test_errors(digits, guide):
    train, _ = digits
    small = train.isel(presentation=slice(0, 64))
    net = plain_mlp(3, 16, seed=2)
    with pytest.raises(UnknownNameError):
        resolve_layer_pairs(net, guide, {"nope": "relu0"})
    with pytest.raises(ConfigError, match="selects 2"):
        resolve_layer_pairs(net, guide, {"relu*": "relu0"})
    with pytest.raises(ConfigError, match="layers"):
        resolve_layer_pairs(net, guide, "relu0")
    with pytest.raises(ConfigError, match="weight"):
        GuidedTraining(net, guide, {"relu0": "relu0"}, weight=-1).fit(small)
    with pytest.raises(ConfigError, match="batch_size"):
        GuidedTraining(net, guide, {"relu0": "relu0"}, batch_size=2).fit(small)
    with pytest.raises(UnknownNameError):
        GuidedTraining(net, guide, {"relu0": "relu0"}, loss="cosine").fit(small)
    with pytest.raises(ConfigError, match="not fitted"):
        GuidedTraining(net, guide, {"relu0": "relu0"}).predict(small)
