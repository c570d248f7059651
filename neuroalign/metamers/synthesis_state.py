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

__all__ = ["History", "history_dataset", "describe_factory", "restore_factory", "checkpoint_state", "restore_state"]


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
    optimizer, scheduler = metamer._optimizer, metamer._scheduler
    return {"settings": metamer.describe(), "model": model_identity(metamer.model),
            "stimulus_ids": list(metamer.stimulus_ids), "images": metamer.images.detach(),
            "targets": metamer._targets, "initial": metamer._initial, "metamer": metamer._x.detach(),
            "losses": metamer._losses.tensor(), "penalties": metamer._penalties.tensor(),
            "gradient_norm": metamer._gradient_norm.tensor(),
            "pixel_change_norm": metamer._pixel_change_norm.tensor(),
            "current": list(metamer._current), "saved": metamer.saved_metamer,
            "saved_iterations": torch.tensor(metamer._saved_iterations, dtype=torch.long),
            "stopped": metamer._stopped, "stop_iteration": metamer._stop_iteration,
            "channels_last": metamer._forward.channels_last,
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
    metamer._forward.channels_last = bool(state.get("channels_last", False))  # the layout the saved steps ran in
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
    n = len(metamer.stimulus_ids)
    metamer._losses, metamer._penalties = History(n, cpu["losses"]), History(n, cpu["penalties"])
    metamer._gradient_norm = History(n, cpu["gradient_norm"])
    metamer._pixel_change_norm = History(n, cpu["pixel_change_norm"])
    metamer._saved, metamer._saved_iterations = list(cpu["saved"]), cpu["saved_iterations"].tolist()
    metamer._stopped, metamer._stop_iteration = cpu["stopped"].clone(), cpu["stop_iteration"].clone()
    metamer._n_stopped = int(metamer._stopped.sum())
    metamer._current = tuple(value.to("cpu") for value in state["current"])


class History:
    """One per-step series of a synthesis: a row of ``n`` values (one per image) per step, read as one
    ``(steps, n)`` float64 tensor on the CPU.

    Rows are kept as they are appended (on the images' device, in the dtype they were computed in) and
    converted in blocks: one conversion per block instead of one per step, which matters for a step that
    takes a few hundred microseconds.  Converting a float16/32/64 value to float64 is exact, so the
    values read are the ones a per-step conversion would give.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.metamers.synthesis_state import History
    >>> history = History(2)
    >>> history.append(torch.tensor([1.5, 2.0]))
    >>> history.append(torch.tensor([1.25, 1.0]))
    >>> len(history), history[-1].tolist(), history.tensor().dtype
    (2, [1.25, 1.0], torch.float64)
    """

    _BLOCK = 256  # rows converted together (also bounds the number of small tensors kept)

    def __init__(self, n: int, rows: torch.Tensor | None = None):
        self.n = n
        self._blocks: list[torch.Tensor] = [] if rows is None or not len(rows) else [rows.to("cpu", torch.float64)]
        self._pending: list[torch.Tensor] = []
        self._length = sum(len(block) for block in self._blocks)

    def __len__(self) -> int:
        return self._length

    def append(self, row: torch.Tensor) -> None:
        """Add one step's row (kept as it is until its block is converted)."""
        if self._pending and (row.dtype != self._pending[0].dtype or row.device != self._pending[0].device):
            self._settle()
        self._pending.append(row)
        self._length += 1
        if len(self._pending) >= self._BLOCK:
            self._settle()

    def __getitem__(self, index: int) -> torch.Tensor:
        """One step's row as float64 on the CPU (negative indices count from the end)."""
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError(f"step {index} of a history of {self._length}")
        settled = self._length - len(self._pending)
        if index >= settled:
            return self._pending[index - settled].to("cpu", torch.float64)
        for block in reversed(self._blocks):  # the rows asked for are near the end
            settled -= len(block)
            if index >= settled:
                return block[index - settled]
        raise AssertionError("unreachable")

    def values(self, index: int) -> list[float]:
        """One step's row as Python floats (exactly the float64 values; no tensor is made)."""
        position = index + self._length if index < 0 else index
        if not 0 <= position < self._length:
            raise IndexError(f"step {index} of a history of {self._length}")
        back = position - self._length  # -1 for the last row
        if back >= -len(self._pending):  # a row not converted yet: its values directly
            return self._pending[back].tolist()
        return self[position].tolist()

    def tensor(self) -> torch.Tensor:
        """All rows, ``(steps, n)`` float64 on the CPU (do not modify it: it is the stored history)."""
        self._settle()
        if len(self._blocks) > 1:
            self._blocks = [torch.cat(self._blocks)]
        return self._blocks[0] if self._blocks else torch.empty((0, self.n), dtype=torch.float64)

    def _settle(self) -> None:
        if self._pending:
            self._blocks.append(torch.stack(self._pending).to("cpu", torch.float64))
            self._pending = []
