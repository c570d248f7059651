"""Small classifiers of 1 × 28 × 28 digits, for the MNIST metamer study.

Every stage is a named submodule, and every ReLU is its own ``nn.ReLU``
module (never in place), so any stage can be a metamer's generating layer or
an extraction layer:

=========  ===========================================  ==============
layer      operation                                    output shape
=========  ===========================================  ==============
conv1      Conv2d(1, 16, 5, padding=2)                  16 × 28 × 28
relu1      ReLU                                         16 × 28 × 28
pool1      MaxPool2d(2)                                 16 × 14 × 14
conv2      Conv2d(16, 32, 5, padding=2)                 32 × 14 × 14
relu2      ReLU                                         32 × 14 × 14
pool2      MaxPool2d(2)                                 32 × 7 × 7
flatten    Flatten                                      1568
fc1        Linear(1568, 128)                            128
relu3      ReLU                                         128
fc2        Linear(128, 10)                              10 (logits)
=========  ===========================================  ==============

The weights are drawn from a ``torch.Generator`` seeded with ``seed`` (He
normal, zero biases), so ``MnistCNN(seed=0)`` is the same untrained network on
every machine, and construction leaves torch's global random state untouched.
"""

from __future__ import annotations

import torch
from torch import nn

from .weights import he_normal_

__all__ = ["MnistCNN", "MnistMLP", "MNIST_CNN_LAYERS", "MNIST_MLP_LAYERS"]

#: The stages of :class:`MnistCNN`, in processing order (``flatten`` only reshapes).
MNIST_CNN_LAYERS = ("conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "fc1", "relu3", "fc2")
#: The stages of :class:`MnistMLP`, in processing order.
MNIST_MLP_LAYERS = ("fc1", "relu1", "fc2", "relu2", "fc3")


class _Seeded(nn.Module):
    """Shared by both networks: seeded He-normal initialisation, no global random state used."""

    def _init(self, seed: int) -> None:
        self.seed = int(seed)
        self.reset_parameters(self.seed)

    def reset_parameters(self, seed: int) -> None:
        """Draw every weight from a generator seeded with ``seed`` (He normal), and zero the biases."""
        he_normal_(self, seed)


class MnistCNN(_Seeded):
    """A two-block convolutional classifier of 1 × 28 × 28 digits (layers in :data:`MNIST_CNN_LAYERS`).

    Parameters
    ----------
    seed : int
        Seed of the weight draw.
    n_classes : int
        Size of the readout.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.models.mnist import MnistCNN
    >>> net = MnistCNN(seed=0)
    >>> net(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    >>> torch.equal(net.conv1.weight, MnistCNN(seed=0).conv1.weight)
    True
    """

    def __init__(self, seed: int = 0, n_classes: int = 10):
        super().__init__()
        with torch.random.fork_rng(devices=[]):  # torch's default inits must not move the global RNG
            self.conv1 = nn.Conv2d(1, 16, kernel_size=5, padding=2)
            self.relu1 = nn.ReLU()
            self.pool1 = nn.MaxPool2d(2)
            self.conv2 = nn.Conv2d(16, 32, kernel_size=5, padding=2)
            self.relu2 = nn.ReLU()
            self.pool2 = nn.MaxPool2d(2)
            self.flatten = nn.Flatten()
            self.fc1 = nn.Linear(32 * 7 * 7, 128)
            self.relu3 = nn.ReLU()
            self.fc2 = nn.Linear(128, n_classes)
        self._init(seed)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.conv1(images)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc2(self.relu3(self.fc1(self.flatten(x))))


class MnistMLP(_Seeded):
    """A fully connected classifier of 1 × 28 × 28 digits (layers in :data:`MNIST_MLP_LAYERS`).

    Parameters
    ----------
    seed : int
        Seed of the weight draw.
    hidden : int
        Width of both hidden layers.
    n_classes : int
        Size of the readout.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.models.mnist import MnistMLP
    >>> MnistMLP(seed=0)(torch.zeros(3, 1, 28, 28)).shape
    torch.Size([3, 10])
    """

    def __init__(self, seed: int = 0, hidden: int = 256, n_classes: int = 10):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            self.flatten = nn.Flatten()
            self.fc1 = nn.Linear(28 * 28, hidden)
            self.relu1 = nn.ReLU()
            self.fc2 = nn.Linear(hidden, hidden)
            self.relu2 = nn.ReLU()
            self.fc3 = nn.Linear(hidden, n_classes)
        self._init(seed)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.fc1(self.flatten(images)))
        return self.fc3(self.relu2(self.fc2(x)))
