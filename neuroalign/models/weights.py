"""Seeded weight initialisation shared by the networks defined in the package."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["he_normal_"]


@torch.no_grad()
def he_normal_(model: nn.Module, seed: int) -> nn.Module:
    """Draw the weights of every ``Conv2d`` and ``Linear`` of ``model`` (in place), He normal, zero biases.

    The draws come from one ``torch.Generator`` seeded with ``seed``, in the order of ``model.modules()``;
    torch's global random state is not used.  Returns ``model``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from neuroalign.models.weights import he_normal_
    >>> a, b = he_normal_(nn.Linear(4, 2), seed=0), he_normal_(nn.Linear(4, 2), seed=0)
    >>> torch.equal(a.weight, b.weight), a.bias.tolist()
    (True, [0.0, 0.0])
    """
    generator = torch.Generator().manual_seed(int(seed))
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            fan_in = module.weight[0].numel()
            module.weight.normal_(0.0, math.sqrt(2.0 / fan_in), generator=generator)
            module.bias.zero_()
    return model
