"""The MNIST classifiers: named stages, separate non-in-place ReLUs, seeded construction."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neuroalign.extract import resolve_layers
from neuroalign.models.mnist import MNIST_CNN_LAYERS, MNIST_MLP_LAYERS, MnistCNN, MnistMLP


@pytest.mark.parametrize("cls, layers", [(MnistCNN, MNIST_CNN_LAYERS), (MnistMLP, MNIST_MLP_LAYERS)])
def test_layers_are_named_modules_and_relus_are_not_inplace(cls, layers):
    net = cls(seed=0)
    assert resolve_layers(net, list(layers)) == list(layers)
    relus = [m for m in net.modules() if isinstance(m, nn.ReLU)]
    assert relus and not any(m.inplace for m in relus)
    assert all(isinstance(getattr(net, name), nn.ReLU) for name in layers if name.startswith("relu"))


@pytest.mark.parametrize("cls", [MnistCNN, MnistMLP])
def test_seeded_construction_and_global_rng_untouched(cls):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a, b, c = cls(seed=0), cls(seed=0), cls(seed=1)
    assert torch.equal(torch.rand(3), expected)  # construction drew nothing from the global generator
    for (name, pa), pb, pc in zip(a.named_parameters(), b.parameters(), c.parameters()):
        assert torch.equal(pa, pb), name
        if name.endswith("weight"):
            assert not torch.equal(pa, pc), name


def test_cnn_stage_shapes_follow_the_docstring_table():
    net = MnistCNN(seed=0)
    shapes = {}
    hooks = [getattr(net, name).register_forward_hook(
        lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape[1:]))) for name in MNIST_CNN_LAYERS]
    net(torch.zeros(2, 1, 28, 28))
    for hook in hooks:
        hook.remove()
    assert shapes == {"conv1": (16, 28, 28), "relu1": (16, 28, 28), "pool1": (16, 14, 14),
                      "conv2": (32, 14, 14), "relu2": (32, 14, 14), "pool2": (32, 7, 7),
                      "fc1": (128,), "relu3": (128,), "fc2": (10,)}


def test_he_normal_initialisation_scale():
    """Closed form: He-normal weights have standard deviation sqrt(2 / fan_in); biases are zero."""
    net = MnistCNN(seed=0)
    for module in (net.conv2, net.fc1):
        fan_in = module.weight[0].numel()
        assert abs(float(module.weight.detach().std()) / (2.0 / fan_in) ** 0.5 - 1) < 0.05
        assert not module.bias.any()
