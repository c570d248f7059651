"""Batches of the spike-token model: token rows, their context and their stimulus/behaviour bins.

A row is one window of one trial.  Its inputs are the stimulus and behaviour
values of the bins of its context and of the window itself
(``context_bins + window_bins`` bins, those before the trial's first bin
marked invalid), standardised with the training trials' mean and standard
deviation per variable.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import xarray as xr

from ..errors import AlignmentError, ConfigError, DataError, SchemaError
from ..fitting.base import check_int
from .arrays import DIMS, check_counts
from .tokens import SpikeTokens, pack, whole_counts

__all__ = ["INPUTS", "check_inputs", "token_batch", "context_batch", "trial_frame", "scaled_inputs"]

#: The optional inputs of the model, in the order of its memory.
INPUTS = ("stimulus", "behaviour")
_DIMS = ("presentation", "time_bin", "variable")


def check_inputs(array: Any, counts: xr.DataArray, name: str) -> np.ndarray | None:
    """A stimulus or behaviour array ``(presentation, time_bin, variable)`` of ``counts``' trials as float64 values.

    Raises
    ------
    SchemaError
        Not a DataArray with these dims.
    AlignmentError
        Its presentations (number, or ``stimulus_id`` order) or time bins differ from ``counts``'.
    DataError
        NaN or infinite values.
    """
    if array is None:
        return None
    if not isinstance(array, xr.DataArray) or set(array.dims) != set(_DIMS):
        dims = getattr(array, "dims", type(array).__name__)
        raise SchemaError(f"{name} must be a DataArray with dims {_DIMS}, got {dims}", source=name,
                          fix="build it with one value per presentation, time bin and variable")
    array = array.transpose(*_DIMS)
    n_trials, n_bins = counts.sizes["presentation"], counts.sizes["time_bin"]
    if array.sizes["presentation"] != n_trials:
        raise AlignmentError(f"{name} has {array.sizes['presentation']} presentations, the counts {n_trials}",
                             source=name, fix="pass one row per trial of the counts, in the same order")
    if "stimulus_id" in array.coords and "stimulus_id" in counts.coords:
        mine, theirs = np.asarray(array.stimulus_id.values), np.asarray(counts.stimulus_id.values)
        if not np.array_equal(mine.astype(str), theirs.astype(str)):
            first = int(np.nonzero(mine.astype(str) != theirs.astype(str))[0][0])
            raise AlignmentError(f"{name}'s presentations do not match the counts': stimulus_id {mine[first]!r} "
                                 f"where the counts have {theirs[first]!r} (presentation {first})", source=name,
                                 fix=f"select {name} with the counts' presentations in their order")
    if array.sizes["time_bin"] != n_bins:
        raise AlignmentError(f"{name} has {array.sizes['time_bin']} time bins, the counts {n_bins}", source=name,
                             fix="bin it like the counts (one value per time bin)")
    values = np.asarray(array.values, dtype=np.float64)
    if not np.isfinite(values).all():
        raise DataError(f"{name} has {int((~np.isfinite(values)).sum())} NaN or infinite value(s)", source=name,
                        fix="fill or drop them before fitting")
    return values


def _input_bins(values: np.ndarray, trial: np.ndarray, window: np.ndarray, window_bins: int, context_bins: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Values ``(rows, context_bins + window_bins, dim)`` of each row's bins and their validity (inside the trial)."""
    index = window[:, None] * window_bins - context_bins + np.arange(context_bins + window_bins)[None, :]
    valid = index >= 0
    return values[trial[:, None], np.maximum(index, 0)] * valid[..., None], valid


def _inputs(batch: dict[str, torch.Tensor], inputs: dict[str, np.ndarray], trial: np.ndarray, window: np.ndarray,
            window_bins: int, context_bins: int) -> None:
    for name, values in inputs.items():
        part, valid = _input_bins(values, trial, window, window_bins, context_bins)
        batch[name] = torch.as_tensor(part, dtype=torch.float32)
        batch[f"{name}_valid"] = torch.as_tensor(valid)


def token_batch(tokens: SpikeTokens, inputs: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, torch.Tensor]:
    """The batch of token rows ``rows`` (padding trimmed to the longest row)."""
    rows = np.asarray(rows)
    ids, offsets = tokens.ids[rows], tokens.offsets[rows]
    length = int((offsets != tokens.pad_offset).sum(1).max())
    context_ids, context_offsets = tokens.context_ids[rows], tokens.context_offsets[rows]
    context_length = int((context_offsets != tokens.context_bins + 1).sum(1).max())
    batch = {"ids": torch.as_tensor(ids[:, :length]), "offsets": torch.as_tensor(offsets[:, :length]),
             "context_ids": torch.as_tensor(context_ids[:, :context_length]),
             "context_offsets": torch.as_tensor(context_offsets[:, :context_length]),
             "window": torch.as_tensor(tokens.window[rows])}
    _inputs(batch, inputs, tokens.trial[rows], tokens.window[rows], tokens.window_bins, tokens.context_bins)
    return batch


def context_batch(counts: np.ndarray, trials: np.ndarray, window: int | np.ndarray, inputs: dict[str, np.ndarray],
                  window_bins: int, context_bins: int) -> dict[str, torch.Tensor]:
    """A batch whose contexts are the counts ``(trial, bin, neuron)`` (observed or generated) before each window."""
    trials = np.asarray(trials)
    windows = np.broadcast_to(np.asarray(window), trials.shape).astype(np.int64)
    n_neurons = counts.shape[2]
    index = windows[:, None] * window_bins - context_bins + np.arange(context_bins)[None, :]
    context = counts[trials[:, None], np.maximum(index, 0)] * (index >= 0)[..., None]
    context_ids, context_offsets = pack(context.astype(np.int64), n_neurons, start=(n_neurons, context_bins),
                                        end=None, pad=(n_neurons + 2, context_bins + 1))
    batch = {"context_ids": torch.as_tensor(context_ids), "context_offsets": torch.as_tensor(context_offsets),
             "window": torch.as_tensor(windows)}
    _inputs(batch, inputs, trials, windows, window_bins, context_bins)
    return batch


def trial_frame(data: Any, stimulus: Any, behaviour: Any, *, n_bins: int, neuroid_ids: list[str],
                time_bins: xr.Dataset, need_counts: bool) -> tuple[np.ndarray | None, xr.DataArray]:
    """The whole counts ``(trial, bin, neuron)`` of ``data`` (None for a number of trials) and the array whose
    presentation and time-bin coords the output carries (a number of trials takes the inputs' trial coords)."""
    if isinstance(data, (int, np.integer)) and not isinstance(data, bool):
        if need_counts:
            raise ConfigError("context='observed' needs observed counts", source="data",
                              fix="pass counts, or context='generated'")
        n = check_int("data", data, minimum=1)
        given = next((a for a in (stimulus, behaviour) if isinstance(a, xr.DataArray)), None)
        trials = {"stimulus_id": ("presentation", [f"generated-{i}" for i in range(n)])}
        if given is not None and given.sizes.get("presentation") == n:
            trials = {k: ("presentation", v.values) for k, v in given.coords.items() if v.dims == ("presentation",)}
        like = xr.DataArray(np.zeros((n, 0, n_bins)), dims=DIMS, coords={**trials, **time_bins.coords})
        return None, like
    like = check_counts(data)
    if like.sizes["time_bin"] != n_bins:
        raise ConfigError(f"the trials have {like.sizes['time_bin']} bins, the model was trained on {n_bins}",
                          source="counts", fix="pass trials of the training length")
    if [str(i) for i in like.neuroid_id.values] != list(neuroid_ids):
        raise ConfigError("the counts' neurons differ from the training neurons (ids or order)", source="counts",
                          fix="select the training neurons in their order (neuroid_ids_)")
    return whole_counts(like), like


def scaled_inputs(arrays: dict[str, Any], like: xr.DataArray, scale: dict[str, tuple[np.ndarray, np.ndarray]]
                  ) -> dict[str, np.ndarray]:
    """The inputs of ``like``'s trials, standardised with the training ``scale``; the fitted ones are required."""
    inputs = {}
    for name in INPUTS:
        array = arrays.get(name)
        if (name in scale) != (array is not None):
            raise ConfigError(f"the model was fitted {'with' if name in scale else 'without'} {name}", source=name,
                              fix=f"pass {name} as in fit" if name in scale else f"leave {name} out")
        if array is not None:
            mean, std = scale[name]
            inputs[name] = (check_inputs(array, like, name) - mean) / std
    return inputs
