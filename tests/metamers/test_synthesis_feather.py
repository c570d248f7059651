"""The "feather2023" preset: one step against a hand computation (numpy), fake ReLU, halving schedule,
start noise, clamping (Feather et al. 2023)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from torch import nn

from neuroalign.metamers.starts import image_seed
from neuroalign.metamers.steps import HalvingScheduler, NormalizedGradient
from neuroalign.metamers.synthesis import Metamer

from ._nets import images, small_cnn


pytestmark = pytest.mark.usefixtures("one_thread")


def _linear_relu(seed=0):
    generator = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 5), nn.ReLU())
    with torch.no_grad():
        net[1].weight.copy_(torch.randn(5, 16, generator=generator))
        net[1].bias.copy_(torch.randn(5, generator=generator))
    return net.double().eval().requires_grad_(False)


@pytest.mark.parametrize("fake_relu", [True, False])
def test_one_step_by_hand(fake_relu):
    """x1 = clip(x0 − g/‖g‖, 0, 1), g = Wᵀ[(a − t) ⊙ d] / (‖a − t‖·‖t‖), d = 1 (fake ReLU) or 1[z > 0]."""
    net = _linear_relu()
    target = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    start = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    met = Metamer(net, "2", target, preset="feather2023", initial=start, fake_relu=fake_relu)
    met.synthesize(1, progress=False)
    w, b = net[1].weight.numpy(), net[1].bias.numpy()
    for i in range(2):
        x0, xt = start[i].numpy().ravel(), target[i].numpy().ravel()
        z = w @ x0 + b
        a, t = np.maximum(z, 0), np.maximum(w @ xt + b, 0)
        loss = np.linalg.norm(a - t) / np.linalg.norm(t)
        derivative = np.ones_like(z) if fake_relu else (z > 0).astype(float)
        g = w.T @ ((a - t) * derivative) / (np.linalg.norm(a - t) * np.linalg.norm(t))
        x1 = np.clip(x0 - g / (np.linalg.norm(g) + 1e-10), 0, 1)
        np.testing.assert_allclose(met.losses[0, i].item(), loss, rtol=1e-12)
        np.testing.assert_allclose(met.gradient_norm[0, i].item(), np.linalg.norm(g), rtol=1e-10)
        np.testing.assert_allclose(met.metamer[i].numpy().ravel(), x1, rtol=0, atol=1e-12)


def test_fake_relu_is_the_default_at_relu_layers_only():
    net = small_cnn()
    assert Metamer(net, "1", images(1), preset="feather2023").fake_relu is True
    assert Metamer(net, "0", images(1), preset="feather2023").fake_relu is False
    assert Metamer(net, "1", images(1), preset="feather2023", fake_relu=False).fake_relu is False
    assert Metamer(net, "1", images(1)).fake_relu is False  # plenoptic preset


def test_fake_relu_moves_units_at_zero():
    """With every unit of the target layer at zero for the start, a real ReLU gives no gradient at all."""
    net = _linear_relu()
    with torch.no_grad():
        net[1].bias.fill_(-100.0)  # every unit below zero for images in [0, 1] ...
        net[1].bias[0] = 0.0
        net[1].weight[0].abs_()  # ... but unit 0, positive for the target
    target = torch.ones(1, 1, 4, 4, dtype=torch.float64)
    start = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    real = Metamer(net, "2", target, preset="feather2023", initial=start, fake_relu=False).synthesize(1, progress=False)
    fake = Metamer(net, "2", target, preset="feather2023", initial=start).synthesize(1, progress=False)
    assert real.gradient_norm[0, 0] == 0 and torch.equal(real.metamer, start)
    assert fake.gradient_norm[0, 0] > 0 and fake.losses[-1, 0] < fake.losses[0, 0]


def test_halving_schedule_of_the_preset():
    optimizer = NormalizedGradient([torch.zeros(1, 2, requires_grad=True)])
    scheduler = HalvingScheduler(optimizer)  # the preset's: 8 passes of 3,000 steps
    rates = []
    for _ in range(24000):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    rates = np.array(rates)
    expected = np.repeat(0.5 ** np.arange(8), 3000)
    np.testing.assert_array_equal(rates, expected)
    assert scheduler.finished


def test_synthesis_ends_with_the_schedule():
    schedule = functools.partial(HalvingScheduler, steps_per_pass=2, n_passes=3)
    met = Metamer(small_cnn(), "4", images(2), preset="feather2023", scheduler=schedule)
    met.synthesize(100, progress=False)
    assert met.n_iter == 6
    assert met.pixel_change_norm.max() <= 1.0 + 1e-12  # a step never exceeds the step size (clamping shortens)


def test_start_noise():
    """clamp(0.5 + N(0, 1)/20, 0, 1) from the image's own generator; mean 0.5, sd 0.05."""
    target = images(2, channels=3, seed=4).repeat(1, 1, 4, 4)  # 3 × 64 × 64
    met = Metamer(small_cnn(channels=3), "0", target, preset="feather2023", random_state=5,
                  stimulus_ids=["a", "b"])
    start = met.initial_image
    for i, stimulus_id in enumerate(["a", "b"]):
        noise = torch.randn(3, 64, 64, generator=torch.Generator().manual_seed(image_seed(5, stimulus_id)),
                            dtype=torch.float64)
        torch.testing.assert_close(start[i], torch.clamp(0.5 + noise / 20, 0, 1), rtol=0, atol=0)
    assert abs(float(start.mean()) - 0.5) < 0.002 and abs(float(start.std()) - 0.05) < 0.002
