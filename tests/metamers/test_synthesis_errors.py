"""Every problem with the inputs of a synthesis is a named error that says what to do."""

from __future__ import annotations

import pytest
import torch
import xarray as xr
from torch import nn

from neuroalign.errors import ConfigError, DataError, ExtractionError, SchemaError, UnknownNameError
from neuroalign.metamers.synthesis import Metamer

from ._nets import images, small_cnn


pytestmark = pytest.mark.usefixtures("one_thread")


class _Wrap(nn.Module):
    """A network whose forward applies ``step`` after its first convolution (the layer 'conv' → 'out')."""

    def __init__(self, step):
        super().__init__()
        self.conv = small_cnn()[0]
        self.out = nn.Identity()
        self.step = step

    def forward(self, x):
        return self.out(self.step(self.conv(x)))


def _synth(model, layer="4", data=None, **kwargs):
    return Metamer(model, layer, images(1) if data is None else data, **kwargs).synthesize(1, progress=False)


def test_trainable_parameters():
    with pytest.raises(ConfigError, match=r"requires_grad_\(False\)"):
        _synth(small_cnn().requires_grad_(True))


def test_train_mode():
    net = small_cnn()
    net[3].train()
    with pytest.raises(ConfigError, match=r"model.eval\(\)") as error:
        _synth(net)
    assert "'3'" in str(error.value)


@pytest.mark.parametrize("step, match", [
    (lambda x: x.detach(), "not on a differentiable path"),
    (lambda x: torch.as_tensor(x.detach().numpy()), "not on a differentiable path"),
    (lambda x: x.argmax(dim=1), "no gradient"),
    (lambda x: x.float(), "float32 values for torch.float64 images"),
])
def test_layer_not_differentiable_or_other_dtype(step, match):
    with pytest.raises(ConfigError, match=match):
        _synth(_Wrap(step).eval().requires_grad_(False), layer="out")


def test_other_device():
    with pytest.raises(ConfigError, match="on meta"):
        _synth(_Wrap(lambda x: x.to("meta")).eval().requires_grad_(False), layer="out")


def test_model_fails_on_the_images_shape():
    with pytest.raises(ExtractionError, match=r"\(1, 3, 16, 16\) float64"):
        _synth(small_cnn(), data=images(1, channels=3))


def test_dtype_mismatch_in_the_model():
    with pytest.raises(ConfigError, match="'0.weight' is torch.float32, the images torch.float64"):
        _synth(small_cnn(dtype=torch.float32))


@pytest.mark.parametrize("data, error, match", [
    (images(1) * 2, DataError, "outside allowed_range"),
    (images(1).index_fill(3, torch.tensor([0]), float("nan")), DataError, "NaN"),
    ((images(1) * 255).to(torch.uint8), DataError, "expected floating point"),
    ((images(1) * 255).to(torch.uint8).numpy(), DataError, "dtype uint8; expected floating point"),
    (images(1)[0], DataError, r"expected \(images, channels, rows, cols\)"),
    ("images.png", DataError, "not a numeric array"),
])
def test_bad_images(data, error, match):
    with pytest.raises(error, match=match):
        Metamer(small_cnn(), "4", data)


def test_bad_dataarray():
    data = xr.DataArray(images(1).numpy(), dims=("presentation", "y", "x", "channel"))
    with pytest.raises(SchemaError, match="expected"):
        Metamer(small_cnn(), "4", data)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"preset": "feather"}, UnknownNameError, "feather2023"),
    ({"loss": "l2"}, UnknownNameError, "unknown loss"),
    ({"penalty": "box"}, UnknownNameError, "unknown penalty"),
    ({"loss": 3}, ConfigError, "not a name or a callable"),
    ({"initial": "noise"}, UnknownNameError, "start image"),
    ({"initial": torch.zeros(2, 1, 16, 16, dtype=torch.float64)}, ConfigError, "one start per image"),
    ({"allowed_range": (1, 0)}, ConfigError, "low < high"),
    ({"allowed_range": 1}, ConfigError, "two numbers"),
    ({"penalty_lambda": -1}, ConfigError, "penalty_lambda"),
    ({"optimizer": "adam"}, ConfigError, "not a factory"),
    ({"optimizer": lambda params: 3}, ConfigError, "optimizer factory returned"),
    ({"stop_tolerance": -0.1}, ConfigError, "stop_tolerance"),
    ({"stop_window": 0}, ConfigError, "stop_window"),
    ({"store_every": 0}, ConfigError, "store_every"),
    ({"random_state": -1}, ConfigError, "random_state"),
    ({"stimulus_ids": ["a", "b"]}, ConfigError, "2 stimulus_ids for 1 images"),
    ({"fake_relu": True}, ConfigError, "fake_relu needs a ReLU layer"),
    ({"loss": lambda a, t: ((a - t) ** 2).mean()}, ConfigError, "one value per image"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        _synth(small_cnn(), layer="3" if "fake_relu" in kwargs else "4", **kwargs)


def test_repeated_ids():
    with pytest.raises(ConfigError, match="repeat"):
        Metamer(small_cnn(), "4", images(2), stimulus_ids=["a", "a"])


def test_layer_names():
    with pytest.raises(UnknownNameError, match="did you mean"):
        Metamer(small_cnn(), "44", images(1))
    with pytest.raises(ConfigError, match="selects 7 modules"):
        Metamer(small_cnn(), "*", images(1))


def test_max_iter():
    with pytest.raises(ConfigError, match="max_iter"):
        Metamer(small_cnn(), "4", images(1)).synthesize(-1)


def test_normalized_loss_of_silent_targets():
    """‖a − t‖/‖t‖ has no value when the target's activations are all zero."""
    net = small_cnn()
    with torch.no_grad():
        net[0].bias.fill_(-10.0)
    with pytest.raises(DataError, match="non-zero activations"):
        _synth(net, layer="1", preset="feather2023")


def test_nan_objective_during_synthesis():
    def exploding(a, t):
        return ((a - t) ** 2).flatten(1).mean(1) * float("nan")

    met = Metamer(small_cnn(), "4", images(2), loss=exploding)
    with pytest.raises(DataError, match="NaN or inf for 2 images"):
        met.synthesize(1, progress=False)
