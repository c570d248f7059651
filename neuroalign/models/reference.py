"""A small convolutional network defined in the package, for demos and tests.

It needs no download: its weights are drawn from a seeded ``torch.Generator``,
so ``ReferenceNet(seed=0)`` is the same network on every machine.
"""

from __future__ import annotations

import torch
from torch import nn

from .weights import he_normal_

__all__ = ["ReferenceNet", "REFERENCE_LAYERS"]

#: The layers of :class:`ReferenceNet` that are scored, in processing order.
REFERENCE_LAYERS = ("block1", "block2", "block3", "block4", "fc", "readout")


class ReferenceNet(nn.Module):
    """A 4-block convolutional network for 3×32×32 images.

    Parameters
    ----------
    seed : int
        Seed of the generator that draws the weights (He-normal for
        convolutions and linear layers, zero biases).
    n_classes : int
        Size of the readout.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.models import ReferenceNet
    >>> net = ReferenceNet(seed=0)
    >>> net(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(self, seed: int = 0, n_classes: int = 10):
        super().__init__()
        self.seed = seed
        with torch.random.fork_rng(devices=[]):  # default inits must not move the global RNG
            self._build(n_classes)
        self.reset_parameters(seed)

    def _build(self, n_classes: int) -> None:
        self.block1 = _block(3, 16, pool=True)     # 16 × 16 × 16
        self.block2 = _block(16, 32, pool=True)    # 32 × 8 × 8
        self.block3 = _block(32, 48, pool=True)    # 48 × 4 × 4
        self.block4 = _block(48, 64, pool=False)   # 64 × 4 × 4
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(64 * 16, 128), nn.ReLU())
        self.readout = nn.Linear(128, n_classes)

    def reset_parameters(self, seed: int) -> None:
        """Draw every weight from a generator seeded with ``seed`` (:func:`~neuroalign.models.weights.he_normal_`)."""
        he_normal_(self, seed)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.block4(self.block3(self.block2(self.block1(images))))
        return self.readout(self.fc(x))


def _block(c_in: int, c_out: int, *, pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel_size=3, padding=1), nn.ReLU()]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)
