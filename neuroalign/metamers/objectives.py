"""Per-image losses and penalties of metamer synthesis.

A loss takes the activations of a batch of candidate images and the target
activations, ``(N, ...)`` each, and returns one value per image, shape
``(N,)``; a penalty takes the candidate images ``(N, C, H, W)`` and returns
``(N,)``.  Synthesis minimises the SUM of the per-image objectives
``loss_i + λ·penalty_i``: the gradient with respect to image ``i`` is the
gradient of its own objective, so every image follows the trajectory it would
follow alone.

Losses and penalties are named in two registries, :data:`LOSSES` and
:data:`PENALTIES`; any callable with the same signature may be passed instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

from ..errors import ConfigError, UnknownNameError

__all__ = ["mse_loss", "normalized_l2_loss", "range_penalty", "LOSSES", "PENALTIES", "get_loss", "get_penalty",
           "describe_callable", "is_builtin"]

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Penalty = Callable[..., torch.Tensor]


def mse_loss(activations: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared error over each image's activations (plenoptic's ``loss.mse``, per image).

    Examples
    --------
    >>> import torch
    >>> from neuroalign.metamers.objectives import mse_loss
    >>> mse_loss(torch.tensor([[1.0, 3.0], [0.0, 0.0]]), torch.zeros(2, 2)).tolist()
    [5.0, 0.0]
    """
    squared = torch.pow(activations - targets, 2)
    return squared.mean(_image_dims(squared))


def normalized_l2_loss(activations: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``‖a − t‖ / ‖t‖`` per image: the normalised, not squared, L2 error of Feather et al. (2023).

    A target whose activations are all zero has no defined loss (the synthesis refuses it).

    Examples
    --------
    >>> import torch
    >>> from neuroalign.metamers.objectives import normalized_l2_loss
    >>> normalized_l2_loss(torch.tensor([[6.0, 18.0]]), torch.tensor([[0.0, 10.0]])).tolist()
    [1.0]
    """
    dims = _image_dims(targets)
    return torch.linalg.vector_norm(activations - targets, dim=dims) / torch.linalg.vector_norm(targets, dim=dims)


def range_penalty(images: torch.Tensor, allowed_range: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """Sum of squared excursions outside ``allowed_range`` per image (plenoptic's ``penalize_range``).

    Examples
    --------
    >>> import torch
    >>> from neuroalign.metamers.objectives import range_penalty
    >>> range_penalty(torch.tensor([[-0.5, 0.5, 1.25]])).tolist()
    [0.3125]
    """
    low, high = allowed_range
    dims = _image_dims(images)
    below = torch.clip(images - low if low else images, max=0).pow(2).sum(dims)  # x − 0 is x, bit for bit
    above = torch.clip(images - high, min=0).pow(2).sum(dims)
    return below + above


def _image_dims(values: torch.Tensor) -> tuple[int, ...]:
    """The axes of one image, ``(1, …, ndim − 1)``: a reduction over them equals one over ``flatten(1)`` (bit
    for bit for contiguous tensors) and skips the view's autograd node, which costs microseconds per step."""
    if values.ndim < 2:
        raise ConfigError(f"values of shape {tuple(values.shape)} have no per-image axes", source="loss",
                          fix="a loss or penalty needs (N, ...) tensors with at least one axis per image")
    return tuple(range(1, values.ndim))


#: Loss name → function ``(activations, targets) -> (N,)``.
LOSSES: dict[str, Loss] = {"mse": mse_loss, "normalized_l2": normalized_l2_loss}
#: Penalty name → function ``(images, allowed_range) -> (N,)`` (a custom penalty is ``images -> (N,)``).
PENALTIES: dict[str, Penalty] = {"range": range_penalty}


def get_loss(loss: str | Loss) -> Loss:
    """A loss from its name in :data:`LOSSES`, or the callable itself."""
    return _get(loss, LOSSES, "loss")


def get_penalty(penalty: str | Penalty | None, allowed_range: tuple[float, float] = (0.0, 1.0)) -> Penalty | None:
    """A penalty ``images -> (N,)``: a name in :data:`PENALTIES` (given ``allowed_range``), a callable, or ``None``."""
    if penalty is None:
        return None
    if isinstance(penalty, str):
        return functools.partial(_get(penalty, PENALTIES, "penalty"), allowed_range=tuple(allowed_range))
    return _get(penalty, PENALTIES, "penalty")


def is_builtin(function: Any) -> bool:
    """Whether ``function`` is one of :data:`LOSSES` or :data:`PENALTIES` (or a ``functools.partial`` of one).

    Their results are new tensors at every call; a custom function's may be a buffer it writes again, so
    synthesis copies what it records from those.

    Examples
    --------
    >>> from neuroalign.metamers.objectives import get_penalty, is_builtin
    >>> is_builtin(get_penalty("range")), is_builtin(lambda images: images.sum((1, 2, 3)))
    (True, False)
    """
    if isinstance(function, functools.partial):
        function = function.func
    return any(function is known for known in (*LOSSES.values(), *PENALTIES.values()))


def _get(value: Any, registry: dict[str, Any], what: str) -> Any:
    if isinstance(value, str):
        if value not in registry:
            raise UnknownNameError(value, registry, what=what, source=what)
        return registry[value]
    if not callable(value):
        raise ConfigError(f"{what} is a {type(value).__name__}, not a name or a callable", source=what,
                          fix=f"pass one of {sorted(registry)} or a function returning one value per image")
    return value


def describe_callable(value: Any) -> str | None:
    """``module.qualname`` of a function or of a callable object's class (for checkpoints and provenance)."""
    if value is None:
        return None
    if isinstance(value, functools.partial):
        return describe_callable(value.func) + "(" + ", ".join(f"{k}={v!r}" for k, v in value.keywords.items()) + ")"
    target = value if hasattr(value, "__qualname__") else type(value)
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"
