"""Small frozen networks for the synthesis tests (weights from a seeded generator)."""

from __future__ import annotations

import torch
from torch import nn


def small_cnn(dtype: torch.dtype = torch.float64, seed: int = 0, channels: int = 1) -> nn.Sequential:
    """conv(4) → relu → pool → conv(6) → relu → flatten → linear(10), for 16×16 images; frozen, eval."""
    generator = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(channels, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 8 * 8, 10))
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    return net.to(dtype).eval().requires_grad_(False)


def images(n: int, dtype: torch.dtype = torch.float64, seed: int = 1, channels: int = 1) -> torch.Tensor:
    return torch.rand(n, channels, 16, 16, generator=torch.Generator().manual_seed(seed), dtype=dtype)
