"""Small random dynamic connectivity for the model tests: Pearson correlations of random series per window."""

from __future__ import annotations

import torch


def random_fc(batch: int, windows: int, n_rois: int, *, volumes: int = 30, seed: int = 0) -> torch.Tensor:
    """``[batch, windows, n_rois, n_rois]`` float32 correlation matrices, exactly symmetric, diagonal 1."""
    generator = torch.Generator().manual_seed(seed)
    series = torch.randn(batch, windows, n_rois, volumes, generator=generator, dtype=torch.float64)
    series = series + 0.7 * torch.randn(batch, windows, 1, volumes, generator=generator, dtype=torch.float64)
    series = series - series.mean(-1, keepdim=True)
    series = series / series.norm(dim=-1, keepdim=True)
    upper = torch.triu(series @ series.transpose(-1, -2), 1)
    fc = upper + upper.transpose(-1, -2) + torch.eye(n_rois, dtype=torch.float64)
    return fc.float()


def replace_node(fc: torch.Tensor, where: torch.Tensor, *, seed: int = 1) -> torch.Tensor:
    """``fc`` with the rows and columns of the nodes in ``where`` (bool ``[B, W, N]``) set to new random values.

    The result stays exactly symmetric with diagonal 1; entries between two replaced nodes are replaced too.
    """
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(fc.shape, generator=generator) * 1.8 - 0.9
    noise = torch.triu(noise, 1)
    noise = noise + noise.transpose(-1, -2)
    touched = where[..., :, None] | where[..., None, :]
    out = torch.where(touched, noise, fc)
    eye = torch.eye(fc.shape[-1], dtype=torch.bool)
    return torch.where(eye, torch.ones((), dtype=fc.dtype), out)
