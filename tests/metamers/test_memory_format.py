"""Channels-last runs of the model (Metamer's ``memory_format``): the same numbers up to float rounding, the
user's model untouched, ``"auto"`` only where it applies, and a model that cannot run channels-last still works."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neuroalign.errors import ConfigError, UnknownNameError
from neuroalign.metamers.layer_forward import LayerForward
from neuroalign.metamers.synthesis import Metamer

from ._nets import images, small_cnn

pytestmark = pytest.mark.usefixtures("one_thread")


def _strides(net):
    return [(p.data_ptr(), p.stride()) for p in net.parameters()]


def test_channels_last_gives_the_contiguous_numbers_and_leaves_the_model_alone():
    net, target = small_cnn(), images(4)
    before = _strides(net)
    plain = Metamer(net, "4", target, memory_format="contiguous").synthesize(15, progress=False)
    fast = Metamer(net, "4", target, memory_format="channels_last").synthesize(15, progress=False)
    auto = Metamer(net, "4", target).synthesize(15, progress=False)
    assert not plain._forward.channels_last and fast._forward.channels_last and auto._forward.channels_last
    # float64: the two layouts sum in other orders, nothing more
    torch.testing.assert_close(fast.losses, plain.losses, rtol=1e-10, atol=0)
    torch.testing.assert_close(fast.metamer, plain.metamer, rtol=1e-10, atol=1e-12)
    assert torch.equal(auto.losses, fast.losses)
    assert _strides(net) == before and all(p.is_contiguous() for p in net.parameters())
    assert fast.metamer.is_contiguous()  # what users get back is in the usual layout


def test_the_activations_equal_a_plain_forward_and_the_kernels_get_their_storage_back():
    net, batch = small_cnn(), images(3)
    expected, before = net[:5](batch), _strides(net)
    forward = LayerForward(net, "4", memory_format="channels_last")
    with forward:
        got = forward(batch)
        # only while the block runs; explicitly channels-last even for the one-input-channel kernel, whose
        # usual strides would count as both layouts (and keep the convolution in the usual one)
        weight = net[0].weight
        assert weight.stride() == torch.empty_like(weight, memory_format=torch.channels_last).stride() != (9, 9, 3, 1)
    assert got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-14)
    assert _strides(net) == before
    with pytest.raises(RuntimeError), forward:  # an error inside the block restores them too
        raise RuntimeError
    assert _strides(net) == before


@pytest.mark.parametrize("n, expected", [(1, False), (3, True)])
def test_auto_runs_channels_last_for_a_batch_of_images_only(n, expected):
    forward = LayerForward(small_cnn(), "4", memory_format="auto")
    assert forward.choose_memory_format(images(n)) is expected


def test_auto_keeps_a_model_without_kernels_or_with_trainable_ones_contiguous():
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(256, 8), nn.ReLU()).eval().requires_grad_(False)
    assert LayerForward(mlp, "2", memory_format="auto").choose_memory_format(images(3, dtype=torch.float32)) is False
    trainable = small_cnn().requires_grad_(True)
    assert LayerForward(trainable, "4", memory_format="auto").choose_memory_format(images(3)) is False
    with pytest.raises(ConfigError, match="frozen kernels"):
        with LayerForward(trainable, "4", memory_format="channels_last"):
            pass


class ViewsItsInput(nn.Module):
    """A model whose forward needs a contiguous tensor: ``.view`` fails on a channels-last one."""

    def __init__(self):
        super().__init__()
        self.conv = small_cnn(channels=3)[0]
        self.relu = nn.ReLU()

    def forward(self, x):
        flat = x.view(x.shape[0], -1)  # e.g. a model that normalises over all pixels
        flat = flat - flat.mean(1, keepdim=True)
        return self.relu(self.conv(flat.view(x.shape)))


def test_auto_falls_back_when_the_model_cannot_run_channels_last():
    net, target = ViewsItsInput().eval().requires_grad_(False), images(3, channels=3)
    with pytest.raises(RuntimeError, match="view"):
        net(target.contiguous(memory_format=torch.channels_last))  # what the fallback is for
    auto = Metamer(net, "relu", target, memory_format="auto").synthesize(5, progress=False)
    plain = Metamer(net, "relu", target, memory_format="contiguous").synthesize(5, progress=False)
    assert not auto._forward.channels_last
    assert torch.equal(auto.losses, plain.losses)


def test_an_unknown_memory_format_is_named():
    with pytest.raises(UnknownNameError, match="memory_format"):
        Metamer(small_cnn(), "4", images(2), memory_format="nhwc")
