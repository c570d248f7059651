"""layer_activations / LayerForward: the module's output as extract records it, the forward stopped there."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from neuroalign.errors import ConfigError, ExtractionError, UnknownNameError
from neuroalign.extract import StimulusSet, extract
from neuroalign.metamers.layer_forward import FakeReLU, LayerForward, layer_activations
from neuroalign.models import ReferenceNet


pytestmark = pytest.mark.usefixtures("one_thread")


def _images(n=3, seed=0):
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("layer", ["block1.0", "block2.1", "fc"])  # a conv, a ReLU, a Sequential ending in ReLU
def test_agrees_with_extract(layer):
    net = ReferenceNet(seed=0)
    images = _images()
    stimuli = StimulusSet.from_arrays(["a", "b", "c"], images.numpy())
    recorded = extract(net, stimuli, layer, progress=False)[layer]
    ours = layer_activations(net, layer, images)
    np.testing.assert_array_equal(ours.flatten(1).numpy(), recorded.values)


def test_later_layers_do_not_run():
    net = ReferenceNet(seed=0)
    ran = []
    net.block3.register_forward_hook(lambda *a: ran.append("block3"))
    net.readout.register_forward_hook(lambda *a: ran.append("readout"))
    layer_activations(net, "block2", _images())
    assert ran == []
    net(_images())  # the hook is gone: the model runs to the end again
    assert ran == ["block3", "readout"]


def test_hook_acts_only_during_own_calls():
    net = ReferenceNet(seed=0)
    forward = LayerForward(net, "block1")
    with forward:
        assert net(_images()).shape == (3, 10)  # other calls inside the block run the whole model
        assert forward(_images()).shape == (3, 16, 16, 16)
    assert not net.block1._forward_hooks


def test_grad_flag():
    net = ReferenceNet(seed=0).requires_grad_(False)
    images = _images().requires_grad_(True)
    assert not layer_activations(net, "block2", images).requires_grad
    out = layer_activations(net, "block2", images, grad=True)
    out.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_fake_relu_forward_is_relu_and_gradient_is_identity():
    net = ReferenceNet(seed=0).requires_grad_(False)
    images = _images().requires_grad_(True)
    real = layer_activations(net, "block2.1", images, grad=True)
    fake = layer_activations(net, "block2.1", images, grad=True, fake_relu=True)
    torch.testing.assert_close(fake, real, rtol=0, atol=0)
    pre = layer_activations(net, "block2.0", images, grad=True)  # the conv before the ReLU
    weights = torch.randn(pre.shape, generator=torch.Generator().manual_seed(1))
    (g_fake,) = torch.autograd.grad((fake * weights).sum(), images)
    (g_pre,) = torch.autograd.grad((pre * weights).sum(), images)  # identity backward through the ReLU
    torch.testing.assert_close(g_fake, g_pre, rtol=1e-5, atol=1e-6)
    (g_real,) = torch.autograd.grad((real * weights).sum(), images)
    assert not torch.allclose(g_real, g_pre)


@given(st.lists(st.floats(-5, 5, allow_nan=False, width=32), min_size=1, max_size=20))
@settings(max_examples=50, deadline=None)
def test_fake_relu_property(values):
    x = torch.tensor(values, requires_grad=True)
    y = FakeReLU.apply(x)
    assert torch.equal(y, torch.relu(x.detach()))
    upstream = torch.arange(len(values), dtype=torch.float32) + 1
    (grad,) = torch.autograd.grad(y, x, upstream)
    assert torch.equal(grad, upstream)


def test_fake_relu_needs_relu():
    with pytest.raises(ConfigError, match="fake_relu needs a ReLU layer"):
        layer_activations(ReferenceNet(seed=0), "block1.0", _images(), fake_relu=True)


def test_unknown_and_ambiguous_layer():
    net = ReferenceNet(seed=0)
    with pytest.raises(UnknownNameError, match="block9"):
        layer_activations(net, "block9", _images())
    with pytest.raises(ConfigError, match="selects 4 modules"):
        layer_activations(net, "block*", _images())


class _TupleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(4, 3, batch_first=True)
        self.unused = nn.Linear(2, 2)

    def forward(self, x):
        return self.rnn(x)[0]


def test_tuple_output_is_named_error():
    with pytest.raises(ExtractionError, match="returns a tuple"):
        layer_activations(_TupleNet(), "rnn", torch.zeros(2, 5, 4))


def test_layer_that_does_not_run():
    with pytest.raises(ExtractionError, match="did not run"):
        layer_activations(_TupleNet(), "unused", torch.zeros(2, 5, 4))


def test_forward_failure_names_shape():
    with pytest.raises(ExtractionError, match=r"\(2, 1, 32, 32\)"):
        layer_activations(ReferenceNet(seed=0), "block2", torch.zeros(2, 1, 32, 32))


class _Swallow(nn.Module):
    """A model whose forward catches every Exception: the stop must still end the pass."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(2, 2)
        self.b = nn.Linear(2, 2)

    def forward(self, x):
        try:
            return self.b(self.a(x))
        except Exception:  # noqa: BLE001
            return None


def test_stop_is_not_swallowed_by_model_code():
    out = layer_activations(_Swallow(), "a", torch.ones(1, 2))
    assert out.shape == (1, 2)
