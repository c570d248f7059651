"""Feature matrices → data-model arrays, with the same coordinate set for every layer.

``presentation`` carries ``stimulus_id`` and the stimulus set's metadata;
``neuroid`` carries ``neuroid_id`` = ``"<model>.<layer>.<index>"``, ``model``,
``layer``, ``channel``, ``row`` and ``col``; time-unrolled layers add
``time_bin`` with ``time_bin_start``/``time_bin_end`` counting model steps
(step ``t`` spans ``[t, t + 1)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..data.schema import NEUROID, NEUROID_ID, PRESENTATION, STIMULUS_ID, TIME_BIN, TIME_BIN_END, TIME_BIN_START
from .pooling import UnitCoords
from .stimuli import StimulusSet

__all__ = ["dims_of", "presentation_coords", "presentation_variables", "neuroid_coords", "time_coords", "to_assembly",
           "relabel"]


def dims_of(units: UnitCoords) -> tuple[str, ...]:
    return (PRESENTATION, NEUROID) if units.n_time is None else (PRESENTATION, NEUROID, TIME_BIN)


def _plain(values: Any) -> np.ndarray:
    """Strings as fixed-width numpy strings (xarray copies those with one memcpy, object arrays element by
    element, on every DataArray it builds); mixed-type columns stay ``object``."""
    array = np.asarray(values)
    if array.dtype.kind in "UST" or type(array.dtype).__name__ == "StringDType":
        return array.astype(str)
    if array.dtype == object and array.size and all(isinstance(v, str) for v in array.ravel()):
        return array.astype(str)
    return array


def presentation_coords(stimuli: StimulusSet) -> dict[str, tuple[str, np.ndarray]]:
    coords = {STIMULUS_ID: (PRESENTATION, _plain(stimuli.stimulus_ids.to_numpy()))}
    for column in stimuli.metadata.columns:
        coords[str(column)] = (PRESENTATION, _plain(stimuli.metadata[column].to_numpy()))
    return coords


def neuroid_coords(model: str, layer: str, units: UnitCoords) -> dict[str, tuple[str, np.ndarray]]:
    n = units.n_units
    # fixed-width strings: xarray copies them with one memcpy (object arrays element by element)
    return {
        NEUROID_ID: (NEUROID, np.char.add(f"{model}.{layer}.", np.arange(n).astype(str))),
        "model": (NEUROID, np.full(n, model)),
        "layer": (NEUROID, np.full(n, layer)),
        "channel": (NEUROID, np.asarray(units.channel, dtype=np.int64)),
        "row": (NEUROID, np.asarray(units.row, dtype=np.int64)),
        "col": (NEUROID, np.asarray(units.col, dtype=np.int64)),
    }


def time_coords(units: UnitCoords) -> dict[str, tuple[str, np.ndarray]]:
    if units.n_time is None:
        return {}
    steps = np.arange(units.n_time, dtype=float)
    return {TIME_BIN_START: (TIME_BIN, steps), TIME_BIN_END: (TIME_BIN, steps + 1.0)}


def to_assembly(values: Any, units: UnitCoords, stimuli: StimulusSet | dict[str, xr.Variable], model: str,
                layer: str, attrs: dict[str, Any] | None = None) -> xr.DataArray:
    """One layer's ``(presentation, neuroid[, time_bin])`` array.

    ``stimuli`` may be the output of :func:`presentation_variables`, to share
    those coordinates between the layers of one extraction.
    """
    presentation = stimuli if isinstance(stimuli, dict) else presentation_variables(stimuli)
    variables = {**presentation}
    for name, (dim, array) in {**neuroid_coords(model, layer, units), **time_coords(units)}.items():
        variables[name] = xr.Variable(dim, array)
    # built from Variables without indexes: no merge machinery, and object coordinates are not deep-copied
    coords = xr.Coordinates(variables, indexes={})
    return xr.DataArray(values, coords=coords, dims=dims_of(units), name=layer, attrs=dict(attrs or {}))


def presentation_variables(stimuli: StimulusSet) -> dict[str, xr.Variable]:
    """The ``presentation`` coordinates of a stimulus set, as Variables."""
    return {name: xr.Variable(dim, array) for name, (dim, array) in presentation_coords(stimuli).items()}


def relabel(array: xr.DataArray, stimuli: StimulusSet, model: str, layer: str) -> xr.DataArray:
    """Put the current stimulus ids, metadata and model name on an array read from a cache entry."""
    units = UnitCoords(array["channel"].values, array["row"].values, array["col"].values,
                       array.sizes.get(TIME_BIN))
    keep = {k: v for k, v in array.coords.items() if k in ("channel", "row", "col", TIME_BIN_START, TIME_BIN_END)}
    out = array.drop_vars([c for c in array.coords if c not in keep])
    coords = {**presentation_coords(stimuli), **neuroid_coords(model, layer, units)}
    out = out.assign_coords(coords)
    out.name = layer
    return out
