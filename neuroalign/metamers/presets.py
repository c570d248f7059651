"""Named settings of metamer synthesis: ``"plenoptic"`` and ``"feather2023"``.

A preset fixes every part of a synthesis — loss, penalty, optimizer, step-size
schedule, start image, fake ReLU, stopping rule — and every part can be
overridden by the corresponding argument of :class:`~neuroalign.metamers.synthesis.Metamer`.

``"plenoptic"`` (plenoptic 2.1's ``Metamer`` defaults)
    Per-image loss: mean squared error over the layer's elements, plus
    0.1 × the range penalty (sum of squared excursions outside
    ``allowed_range``); ``Adam(lr=0.01, amsgrad=True)``, no schedule; start
    uniform in ``allowed_range``.  plenoptic additionally stretches its
    uniform draw to span the range exactly; here each image's draw is used as
    it is.  Stopping rule: relative decrease below 1e-4 over 50 iterations
    (plenoptic's numbers, applied to the relative change of each image's
    objective; at 1e-3, images of the MNIST study's ``relu3`` stopped on
    plateaus that the objective left 25% lower 500 steps later).
``"feather2023"`` (Feather et al. 2023)
    Per-image loss ``‖a − t‖ / ‖t‖`` (not squared), no penalty; normalised-gradient
    steps clamped to ``allowed_range`` (:class:`~neuroalign.metamers.steps.NormalizedGradient`,
    step 1) halved every 3,000 steps for 8 passes (:class:`~neuroalign.metamers.steps.HalvingScheduler`:
    synthesis ends after 24,000 steps); start ``clamp(0.5 + N(0, 1)/20)`` (centre and
    scale follow ``allowed_range``); fake ReLU when the generating layer is an ``nn.ReLU``;
    no early stopping (all passes run, as in the paper).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch

from ..errors import UnknownNameError
from .steps import HalvingScheduler, NormalizedGradient

__all__ = ["Preset", "PRESETS", "get_preset"]


def _adam(params: list[torch.Tensor], allowed_range: tuple[float, float]) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=0.01, amsgrad=True)


def _normalized(params: list[torch.Tensor], allowed_range: tuple[float, float]) -> torch.optim.Optimizer:
    return NormalizedGradient(params, lr=1.0, bounds=allowed_range)


def _halving(optimizer: torch.optim.Optimizer) -> Any:
    return HalvingScheduler(optimizer, steps_per_pass=3000, n_passes=8)


@dataclasses.dataclass(frozen=True)
class Preset:
    """The settings of one preset (see the module docstring).

    ``optimizer(params, allowed_range)`` builds the optimizer; ``scheduler(optimizer)`` the
    schedule (``None``: constant step size); ``fake_relu="auto"`` uses the fake ReLU exactly
    when the generating layer is an ``nn.ReLU``; ``stop_tolerance=None`` switches the
    stopping rule off.
    """

    name: str
    loss: str
    penalty: str | None
    penalty_lambda: float
    optimizer: Callable[[list[torch.Tensor], tuple[float, float]], torch.optim.Optimizer]
    scheduler: Callable[[torch.optim.Optimizer], Any] | None
    initial: str
    fake_relu: bool | str
    stop_tolerance: float | None
    stop_window: int


#: Preset name → settings.
PRESETS: dict[str, Preset] = {
    "plenoptic": Preset("plenoptic", loss="mse", penalty="range", penalty_lambda=0.1, optimizer=_adam,
                        scheduler=None, initial="uniform", fake_relu=False, stop_tolerance=1e-4, stop_window=50),
    "feather2023": Preset("feather2023", loss="normalized_l2", penalty=None, penalty_lambda=0.0,
                          optimizer=_normalized, scheduler=_halving, initial="feather", fake_relu="auto",
                          stop_tolerance=None, stop_window=50),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``.

    Raises
    ------
    UnknownNameError
        ``name`` is not in :data:`PRESETS` (the message lists the valid names).

    Examples
    --------
    >>> from neuroalign.metamers.presets import get_preset
    >>> get_preset("feather2023").loss
    'normalized_l2'
    """
    if not isinstance(name, str) or name not in PRESETS:
        raise UnknownNameError(str(name), PRESETS, what="preset", source="preset")
    return PRESETS[name]
