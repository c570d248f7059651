"""The "plenoptic" preset reproduces plenoptic 2.1.1's Metamer (the oracle): same model (plenoptic gets the
network truncated after the layer), same start image, float64, one thread."""

from __future__ import annotations

import warnings

import pytest
import torch

from neuroalign.metamers.synthesis import Metamer

from ._nets import images, small_cnn

po = pytest.importorskip("plenoptic")


pytestmark = pytest.mark.usefixtures("one_thread")


def _plenoptic(net, layer_index, image, start, n_iter):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = po.Metamer(image, net[: layer_index + 1])  # mse + 0.1 × penalize_range
        reference.setup(initial_image=start)  # Adam(lr=0.01, amsgrad=True)
        reference.synthesize(n_iter, store_progress=False, stop_criterion=0.0)
    return reference


def test_losses_equal_plenoptic_for_50_iterations():
    net = small_cnn()
    target, start = images(2, seed=1)
    target, start = target[None], start[None]
    reference = _plenoptic(net, 4, target, start, 50)
    ours = Metamer(net, "4", target, initial=start).synthesize(50, progress=False)
    assert ours.losses.shape == (51, 1) and reference.losses.shape == (51,)
    torch.testing.assert_close(ours.losses[:, 0], reference.losses, rtol=0, atol=1e-6)
    torch.testing.assert_close(ours.penalties[:, 0], reference.penalties, rtol=0, atol=1e-6)
    torch.testing.assert_close(ours.gradient_norm[:, 0], reference.gradient_norm, rtol=0, atol=1e-6)
    torch.testing.assert_close(ours.pixel_change_norm[:, 0], reference.pixel_change_norm, rtol=0, atol=1e-6)
    torch.testing.assert_close(ours.metamer, reference.metamer.detach(), rtol=0, atol=1e-6)
    assert reference.losses[-1] < 0.5 * reference.losses[0]  # the comparison covers real progress


def test_batch_equals_plenoptic_one_image_at_a_time():
    net = small_cnn()
    targets, starts = images(3, seed=2), images(3, seed=3)
    ours = Metamer(net, "1", targets, initial=starts).synthesize(30, progress=False)
    for i in range(3):
        reference = _plenoptic(net, 1, targets[i:i + 1], starts[i:i + 1], 30)
        torch.testing.assert_close(ours.losses[:, i], reference.losses, rtol=0, atol=1e-6)
        torch.testing.assert_close(ours.metamer[i:i + 1], reference.metamer.detach(), rtol=0, atol=1e-6)
