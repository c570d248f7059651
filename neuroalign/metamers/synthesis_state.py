"""What a :class:`~neuroalign.metamers.synthesis.Metamer` hands out and takes back: its Dataset, its
description for checkpoints, and the factories a checkpoint needs again."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from ..data.provenance import provenance
from .objectives import describe_callable

if TYPE_CHECKING:
    from .synthesis import Metamer

__all__ = ["history_dataset", "describe_factory", "restore_factory"]


def describe_factory(factory: Callable | bool | None) -> Any:
    """``None`` (the preset's), ``False`` (none), or the factory's name (with a partial's keywords)."""
    if factory is None or factory is False:
        return factory
    return describe_callable(factory)


def restore_factory(settings: dict[str, Any], path: Any, **given: Any) -> dict[str, Any]:
    """The constructor arguments that rebuild a saved synthesis's parts: what the caller passed again, else
    "none" where the saved synthesis had none (``False``), else the preset's (``None``).

    The caller compares the rebuilt description with the saved one, so a custom part that is not passed
    again is refused by name.
    """
    parts = {}
    for key, value in given.items():
        if value is not None:
            parts[key] = value
        elif settings[key] is None and key == "penalty" or settings[key] is False:
            parts[key] = False
        else:
            parts[key] = None
    return parts


def history_dataset(metamer: "Metamer") -> xr.Dataset:
    """The metamers and their history, keyed by the target image's ``stimulus_id``.

    Variables: ``metamer`` and ``image`` (the target) ``(presentation, channel, row, col)``; ``loss`` and
    ``penalty`` ``(iteration, presentation)`` (iterates 0 … n_iter); ``gradient_norm`` and
    ``pixel_change_norm`` ``(step, presentation)`` (step ``k`` leads from iterate ``k`` to ``k + 1``);
    ``stopped`` and ``stop_iteration`` ``(presentation,)``.  Scalar coordinates ``layer`` and ``seed``
    (the ``random_state``); provenance in the attributes.
    """
    image_dims = ("presentation", "channel", "row", "col")
    n_iter = metamer.n_iter
    images = metamer.images.detach().to("cpu").numpy()
    data = {
        "metamer": (image_dims, metamer.metamer.to("cpu").numpy()),
        "image": (image_dims, images),
        "loss": (("iteration", "presentation"), metamer.losses.numpy()),
        "penalty": (("iteration", "presentation"), metamer.penalties.numpy()),
        "gradient_norm": (("step", "presentation"), metamer.gradient_norm.numpy()),
        "pixel_change_norm": (("step", "presentation"), metamer.pixel_change_norm.numpy()),
        "stopped": ("presentation", metamer.stopped.numpy()),
        "stop_iteration": ("presentation", metamer.stop_iteration.numpy().astype(np.int64)),
    }
    coords = {"stimulus_id": ("presentation", np.asarray(metamer.stimulus_ids, dtype=object)),
              "iteration": np.arange(n_iter + 1), "step": np.arange(n_iter),
              "layer": metamer.layer, "seed": metamer.random_state}
    from ..extract.fingerprint import model_fingerprint

    attrs = provenance({**metamer.describe(), "n_iter": n_iter},
                       {"images": images, "model": model_fingerprint(metamer.model).digest})
    return xr.Dataset(data, coords=coords, attrs=attrs)
