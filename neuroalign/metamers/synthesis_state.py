"""What a :class:`~neuroalign.metamers.synthesis.Metamer` hands out and takes back: its Dataset, its
description for checkpoints, and the factories a checkpoint needs again."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import xarray as xr

from ..data.provenance import provenance
from ..errors import ConfigError
from .checkpoint import model_identity
from .objectives import describe_callable

if TYPE_CHECKING:
    from .synthesis import Metamer

__all__ = ["history_dataset", "describe_factory", "restore_factory", "checkpoint_state", "restore_state", "stacked"]


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
    attrs = provenance({**metamer.describe(), "n_iter": n_iter},
                       {"images": images, "model": model_identity(metamer.model)["digest"]})
    return xr.Dataset(data, coords=coords, attrs=attrs)


def checkpoint_state(metamer: "Metamer") -> dict[str, Any]:
    """Everything :meth:`Metamer.load` needs to continue bit-identically: tensors, dicts, plain values."""
    n = len(metamer.stimulus_ids)
    optimizer, scheduler = metamer._optimizer, metamer._scheduler
    return {"settings": metamer.describe(), "model": model_identity(metamer.model),
            "stimulus_ids": list(metamer.stimulus_ids), "images": metamer.images.detach(),
            "targets": metamer._targets, "initial": metamer._initial, "metamer": metamer._x.detach(),
            "losses": stacked(metamer._losses, n), "penalties": stacked(metamer._penalties, n),
            "gradient_norm": stacked(metamer._gradient_norm, n),
            "pixel_change_norm": stacked(metamer._pixel_change_norm, n),
            "current": list(metamer._current), "saved": metamer.saved_metamer,
            "saved_iterations": torch.tensor(metamer._saved_iterations, dtype=torch.long),
            "stopped": metamer._stopped, "stop_iteration": metamer._stop_iteration,
            "loss_check": metamer._loss(metamer._targets, 2 * metamer._targets).detach(),
            "optimizer": {"class": describe_callable(optimizer), "state": optimizer.state_dict()},
            "scheduler": None if scheduler is None else {"class": describe_callable(scheduler),
                                                         "state": scheduler.state_dict()}}


def restore_state(metamer: "Metamer", state: dict[str, Any], path: Any) -> None:
    """Put a checkpoint's state into a freshly built ``metamer`` (its loss, optimizer and scheduler checked)."""
    metamer._targets, metamer._initial = state["targets"], state["initial"]
    with torch.no_grad():
        check = metamer._loss(metamer._targets, 2 * metamer._targets)
    if not torch.allclose(check, state["loss_check"], rtol=1e-5, atol=1e-8):
        raise ConfigError("the loss gives other values than the saved loss did", source="loss",
                          fix="pass the loss the synthesis was saved with")
    metamer._start(state["metamer"].clone())
    for name, part in (("optimizer", metamer._optimizer), ("scheduler", metamer._scheduler)):
        saved = state[name]
        if (saved is None) != (part is None) or (saved is not None and saved["class"] != describe_callable(part)):
            raise ConfigError(f"the {name} ({describe_callable(part)}) is not the saved one "
                              f"({None if saved is None else saved['class']})", source=str(path),
                              fix=f"pass the {name} factory the synthesis was saved with")
        if part is not None:
            part.load_state_dict(saved["state"])
    # the history and the stopping state live on the CPU, wherever map_location put the images
    cpu = {name: state[name].to("cpu") for name in ("losses", "penalties", "gradient_norm", "pixel_change_norm",
                                                    "saved", "saved_iterations", "stopped", "stop_iteration")}
    metamer._losses, metamer._penalties = list(cpu["losses"]), list(cpu["penalties"])
    metamer._gradient_norm = list(cpu["gradient_norm"])
    metamer._pixel_change_norm = list(cpu["pixel_change_norm"])
    metamer._saved, metamer._saved_iterations = list(cpu["saved"]), cpu["saved_iterations"].tolist()
    metamer._stopped, metamer._stop_iteration = cpu["stopped"].clone(), cpu["stop_iteration"].clone()
    metamer._n_stopped = int(metamer._stopped.sum())
    metamer._current = tuple(value.to("cpu") for value in state["current"])


def stacked(rows: list[torch.Tensor], n: int) -> torch.Tensor:
    """Per-iterate rows of ``n`` values as one ``(iterations, n)`` float64 tensor (empty: ``(0, n)``)."""
    return torch.stack(rows) if rows else torch.empty((0, n), dtype=torch.float64)

