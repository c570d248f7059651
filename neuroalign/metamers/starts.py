"""Start images of metamer synthesis, seeded per image.

Each image's noise comes from its own ``torch.Generator``, seeded from the
synthesis's ``random_state`` and the image's ``stimulus_id``; so the start of an
image does not depend on which other images share its batch or on their order,
and the same image gets the same noise at every layer (as in Feather et al. 2023).

``"uniform"``
    Uniform in ``allowed_range``.
``"feather"``
    ``clamp(centre + N(0, 1)·width/20, low, high)`` with ``centre`` and ``width``
    the middle and width of ``allowed_range``: ``clamp(0.5 + N(0, 1)/20, 0, 1)``
    for the default range.

No random number is drawn after the start: a synthesis is deterministic from there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Union

import numpy as np
import torch

from ..data.provenance import content_digest
from ..errors import ConfigError, UnknownNameError

__all__ = ["STARTS", "image_seed", "draw_initial"]

#: The named kinds of start image.
STARTS = ("uniform", "feather")

Initial = Union[str, torch.Tensor, Callable[[torch.Tensor, torch.Generator], torch.Tensor]]


def image_seed(random_state: int, stimulus_id: str) -> int:
    """The 63-bit seed of one image's generator, from the synthesis seed and the image's id.

    Examples
    --------
    >>> from neuroalign.metamers.starts import image_seed
    >>> image_seed(0, "a") == image_seed(0, "a"), image_seed(0, "a") == image_seed(1, "a")
    (True, False)
    """
    key = content_digest(str(stimulus_id).encode()).intdigest()
    state = np.random.SeedSequence([int(random_state), key]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


def draw_initial(initial: Initial, images: torch.Tensor, stimulus_ids: Sequence[str], random_state: int,
                 allowed_range: tuple[float, float]) -> torch.Tensor:
    """The start images ``(N, C, H, W)``, of the images' dtype and device.

    ``initial`` is a name in :data:`STARTS`, a tensor ``(N, C, H, W)`` or ``(C, H, W)`` (the same start for
    every image), or a callable ``(images, generator) -> tensor`` given a generator seeded with ``random_state``.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.metamers.starts import draw_initial
    >>> start = draw_initial("feather", torch.zeros(2, 1, 4, 4), ["a", "b"], 0, (0.0, 1.0))
    >>> start.shape, bool(((start >= 0) & (start <= 1)).all())
    (torch.Size([2, 1, 4, 4]), True)
    """
    low, high = allowed_range
    if isinstance(initial, str):
        if initial not in STARTS:
            raise UnknownNameError(initial, STARTS, what="start image", source="initial")
        starts = []
        for stimulus_id in stimulus_ids:
            generator = torch.Generator().manual_seed(image_seed(random_state, stimulus_id))
            shape = tuple(images.shape[1:])
            if initial == "uniform":
                noise = torch.rand(shape, generator=generator, dtype=torch.float64)
                start = low + (high - low) * noise
            else:
                noise = torch.randn(shape, generator=generator, dtype=torch.float64)
                start = torch.clamp((low + high) / 2 + noise * (high - low) / 20, low, high)
            starts.append(start)
        return torch.stack(starts).to(dtype=images.dtype, device=images.device)
    if callable(initial) and not isinstance(initial, torch.Tensor):
        drawn = initial(images, torch.Generator().manual_seed(int(random_state)))
        return _checked(drawn, images, "the initial= callable's result")
    return _checked(initial, images, "initial")


def _checked(start: Any, images: torch.Tensor, what: str) -> torch.Tensor:
    if not isinstance(start, torch.Tensor):
        raise ConfigError(f"{what} is a {type(start).__name__}, not a tensor", source="initial",
                          fix=f"pass one of {list(STARTS)}, a tensor, or a callable (images, generator) -> tensor")
    if not start.is_floating_point():
        raise ConfigError(f"{what} has dtype {start.dtype}, not a float dtype", source="initial",
                          fix="pass float start images")
    if start.ndim == 3:
        start = start.unsqueeze(0).expand_as(images)
    if tuple(start.shape) != tuple(images.shape):
        raise ConfigError(f"{what} has shape {tuple(start.shape)}, the images {tuple(images.shape)}",
                          source="initial", fix="give one start per image, of the images' shape")
    if not bool(torch.isfinite(start).all()):
        raise ConfigError(f"{what} holds NaN or inf", source="initial", fix="pass finite start images")
    return start.detach().to(dtype=images.dtype, device=images.device).clone()
