"""Guidance of a deep plain MLP (12 layers of 64 ReLU units, no normalisation or skips; torch's default
initialisation, under which the signal shrinks layer by layer, or He initialisation) by a trained CNN on MNIST
digits, with and without the alignment term, over three seeds (slow).

The accuracies and CKAs are logged; run with
``python -m pytest tests/alignment/test_guidance_mnist.py -m slow --log-cli-level=INFO`` to see them
(docs/alignment.md quotes a run)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from neuroalign.alignment.experiment import plain_mlp
from neuroalign.alignment.guidance import GuidedTraining
from neuroalign.datasets.mnist import load_mnist_5k, split_train_test
from neuroalign.metamers.training import train_classifier
from neuroalign.models.mnist import MnistCNN
from neuroalign.models.weights import he_normal_


log = logging.getLogger(__name__)

#: deep MLP layer → CNN layer
PAIRS = {"relu3": "pool1", "relu7": "pool2", "relu10": "relu3"}
SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def digits_and_guide():
    torch.set_num_threads(1)
    train, test = split_train_test(load_mnist_5k(), test_size=1000, random_state=0)
    guide = train_classifier(MnistCNN(seed=0), train, epochs=3, batch_size=64, lr=2e-3, random_state=0,
                             progress=False).model
    with torch.no_grad():
        guide_accuracy = float((guide(torch.as_tensor(test.values)).argmax(1).numpy() == test.label.values).mean())
    log.info("guide CNN test accuracy %.3f", guide_accuracy)
    return train, test, guide


@pytest.mark.slow
@pytest.mark.parametrize("init", ["default", "he"])
def test_guidance_of_a_deep_plain_mlp_by_a_trained_cnn(digits_and_guide, init):
    train, test, guide = digits_and_guide
    rows = []
    for seed in SEEDS:
        for weight in (0.0, 1.0):
            net = plain_mlp(12, 64, seed=seed)
            if init == "he":
                he_normal_(net, seed)
            fit = GuidedTraining(net, guide, PAIRS, weight=weight, epochs=5,
                                 batch_size=128, lr=1e-3, random_state=seed).fit(train)
            cka = fit.alignment(test).values
            rows.append({"init": init, "seed": seed, "weight": weight, "accuracy": fit.score(test),
                         "train_accuracy": float(fit.history_["train_accuracy"].iloc[-1]),
                         "mean_cka": float(cka.mean()), **{f"cka_{k}": float(cka.sel(layer=k)) for k in PAIRS}})
            log.info("%s", rows[-1])
    for seed in SEEDS:
        unguided, guided = (r for r in rows if r["seed"] == seed)
        assert guided["mean_cka"] > unguided["mean_cka"] + 0.05
        if init == "he":  # trainable on its own; guidance keeps it so
            assert min(guided["accuracy"], unguided["accuracy"]) > 0.8
    accuracy = {w: np.mean([r["accuracy"] for r in rows if r["weight"] == w]) for w in (0.0, 1.0)}
    log.info("%s init, mean test accuracy: without guidance %.3f, with guidance %.3f", init, accuracy[0.0],
             accuracy[1.0])
