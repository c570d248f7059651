"""The optimizer and step-size schedule of Feather et al. (2023).

:class:`NormalizedGradient` takes, for every image (the first axis of the
parameter), a step of length ``lr`` against the direction of its gradient and
clamps the result to a range:
``x_i ← clamp(x_i − lr · g_i / (‖g_i‖ + 1e-10), low, high)``.  The ``1e-10``
is the one of the robustness library that Feather et al. used; an image with a
zero gradient does not move.

:class:`HalvingScheduler` halves ``lr`` every ``steps_per_pass`` steps, for
``n_passes`` passes (step sizes 1, 1/2, …, 1/128 for the defaults' 8 passes of
3,000 steps), and then reports itself :attr:`~HalvingScheduler.finished`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

from ..errors import ConfigError

__all__ = ["NormalizedGradient", "HalvingScheduler"]

_EPS = 1e-10


class NormalizedGradient(torch.optim.Optimizer):
    """Per-image normalised-gradient descent with clamping.

    Parameters
    ----------
    params : iterable of tensors
        Each of shape ``(N, ...)``: the first axis indexes images that are normalised separately.
    lr : float
        Step length (in the images' units, L2 over one image).
    bounds : (float, float) or None
        Clamp every value to this range after each step; ``None``: no clamp.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.metamers.steps import NormalizedGradient
    >>> x = torch.tensor([[0.5, 0.5]], requires_grad=True)
    >>> optimizer = NormalizedGradient([x], lr=0.5)
    >>> (x * torch.tensor([[3.0, 4.0]])).sum().backward()
    >>> _ = optimizer.step()
    >>> [round(v, 6) for v in x.detach()[0].tolist()]
    [0.2, 0.1]
    """

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1.0,
                 bounds: tuple[float, float] | None = (0.0, 1.0)):
        if not (isinstance(lr, (int, float)) and lr > 0):
            raise ConfigError(f"lr must be a positive number, got {lr!r}", source="lr", fix="pass e.g. lr=1.0")
        if bounds is not None:
            bounds = (float(bounds[0]), float(bounds[1]))
        super().__init__(params, {"lr": float(lr), "bounds": bounds})

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                shape = (-1,) + (1,) * (grad.ndim - 1)
                norm = grad.flatten(1).norm(dim=1).view(shape) if grad.ndim > 1 else grad.norm().view(1)
                param.sub_(grad / (norm + _EPS) * group["lr"])
                if group["bounds"] is not None:
                    param.clamp_(*group["bounds"])
        return loss


class HalvingScheduler(LRScheduler):
    """Halve the step size every ``steps_per_pass`` steps, for ``n_passes`` passes.

    The learning rate of step ``k`` (counted from 0) is ``lr₀ · 2^-min(k // steps_per_pass, n_passes − 1)``;
    after ``steps_per_pass · n_passes`` steps :attr:`finished` is true and synthesis ends.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.metamers.steps import HalvingScheduler, NormalizedGradient
    >>> optimizer = NormalizedGradient([torch.zeros(1, 2, requires_grad=True)], lr=1.0)
    >>> scheduler = HalvingScheduler(optimizer, steps_per_pass=2, n_passes=3)
    >>> rates = []
    >>> for _ in range(6):
    ...     rates.append(optimizer.param_groups[0]["lr"])
    ...     optimizer.step()
    ...     scheduler.step()
    >>> rates, scheduler.finished
    ([1.0, 1.0, 0.5, 0.5, 0.25, 0.25], True)
    """

    def __init__(self, optimizer: torch.optim.Optimizer, steps_per_pass: int = 3000, n_passes: int = 8,
                 last_epoch: int = -1):
        for name, value in (("steps_per_pass", steps_per_pass), ("n_passes", n_passes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive int, got {value!r}", source=name,
                                  fix=f"pass e.g. {name}={3000 if name == 'steps_per_pass' else 8}")
        self.steps_per_pass = steps_per_pass
        self.n_passes = n_passes
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        halvings = min(max(self.last_epoch, 0) // self.steps_per_pass, self.n_passes - 1)
        return [base * 0.5 ** halvings for base in self.base_lrs]

    @property
    def finished(self) -> bool:
        """Whether all passes are done."""
        return self.last_epoch >= self.steps_per_pass * self.n_passes
