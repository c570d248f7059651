"""Pipeline steps that bring data in: a data source's array, a model's activations on a stimulus set.

Each step writes its result into the folder the engine gives it (see
:mod:`.store`); activations go to a zarr store there, and later steps read
them lazily, so large activations never travel through the scheduler.
"""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from ..data.io import load, save
from .plan import Task
from .store import ResultsStore

__all__ = ["load_data", "extract_activations", "read_array", "read_activations"]

_ARRAY = "array.nc"
_ACTIVATIONS = "activations.zarr"


def load_data(task: Task, store: ResultsStore, out: Path) -> None:
    """Read one data source (a loader with its arguments, or a saved array) into ``array.nc``."""
    from .sources import load_data_source

    save(load_data_source(task.params["spec"], source=task.where), out / _ARRAY)


def extract_activations(task: Task, store: ResultsStore, out: Path) -> None:
    """Run a model on a stimulus set and stream every configured layer to ``activations.zarr``."""
    from ..extract import extract
    from ..extract.models import load_model
    from .sources import load_stimuli
    from .study_schema import ModelSpec

    spec = ModelSpec.model_validate(task.params["model"])
    model = load_model(spec.factory, weights=spec.weights, kwargs=spec.args or {})
    stimuli = load_stimuli(task.params["stimuli"], source=task.where)
    extract(model, stimuli, list(spec.layers), batch_size=spec.batch_size, model_name=task.params["model_name"],
            preprocess=spec.preprocess(), progress=False, store=out / _ACTIVATIONS)


def read_array(store: ResultsStore, key: str) -> xr.DataArray:
    """The array a :func:`load_data` task stored."""
    return load(store.folder(key) / _ARRAY)


def read_activations(store: ResultsStore, key: str, layers: list[str]) -> dict[str, xr.DataArray]:
    """Layer name → lazily read (zarr-backed) activations of an :func:`extract_activations` task."""
    from ..extract.store import open_activations

    return open_activations(store.folder(key) / _ACTIVATIONS, layers=list(layers))
