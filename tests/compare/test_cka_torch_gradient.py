"""CKA of torch Gram matrices has the right gradient (torch.ldexp's backward is 0 for negative exponents,
pytorch/pytorch#186556, so the exact power-of-two rescaling multiplies instead)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuroalign.compare import cka_from_grams


@pytest.mark.parametrize("scale", [1e-100, 1.0, 1e100])
def test_gradient_passes_gradcheck_and_values_equal_numpys(scale):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(16, 5, dtype=torch.float64, generator=generator) * scale
    y = torch.randn(16, 4, dtype=torch.float64, generator=generator)
    ky = y @ y.T
    value = cka_from_grams(x @ x.T, ky)
    assert float(value) == pytest.approx(float(cka_from_grams((x @ x.T).numpy(), ky.numpy())), rel=1e-14)
    leaf = (x / scale).clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda a: cka_from_grams(a @ a.T, ky), (leaf,))
    cka_from_grams(leaf @ leaf.T, ky).backward()
    assert np.abs(leaf.grad.numpy()).sum() > 0
