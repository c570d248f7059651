"""Pipeline steps that bring data in: a data source's array, a model's activations on a stimulus set.

Each step writes its result into the folder the engine gives it (see
:mod:`.store`); activations go to a zarr store there, and later steps read
them lazily, so large activations never travel through the scheduler.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import xarray as xr

from ..data.io import load, save
from .plan import Task
from .store import ResultsStore

__all__ = ["load_data", "extract_activations", "read_array", "read_activations"]

_ARRAY = "array.nc"
_ACTIVATIONS = "activations.zarr"
_LOCK = threading.Lock()


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
    """The array a :func:`load_data` task stored (read once per process, then shared read-only)."""
    return _cached((store.path, key, _ARRAY), lambda: load(store.folder(key) / _ARRAY))


def read_activations(store: ResultsStore, key: str, layers: list[str]) -> dict[str, xr.DataArray]:
    """Layer name → activations of an :func:`extract_activations` task, read from its zarr store in this process.

    Only the named layers are read, each once per process and then shared
    read-only; nothing large ever passes through the scheduler.
    """
    from ..extract.store import open_activations

    folder = store.folder(key) / _ACTIVATIONS
    return {layer: _cached((store.path, key, layer),
                           lambda layer=layer: open_activations(folder, layers=[layer], lazy=False)[layer])
            for layer in layers}


#: Arrays read by this process's tasks, by (store, key, part), least recently used first.  A key names
#: content that never changes, so a cached array is the stored one; its values are made read-only so that no
#: step can change them for the next.
_CACHE: OrderedDict[tuple, xr.DataArray] = OrderedDict()
#: The most bytes the cache keeps.
CACHE_BYTES = 1 << 30


def _cached(name: tuple, read: Callable[[], xr.DataArray]) -> xr.DataArray:
    with _LOCK:
        if name in _CACHE:
            _CACHE.move_to_end(name)
            return _CACHE[name]
    array = read()
    for variable in (array.variable, *array.coords.values()):
        values = variable.values
        values.flags.writeable = False
    with _LOCK:
        _CACHE[name] = array
        while sum(a.nbytes for a in _CACHE.values()) > CACHE_BYTES and len(_CACHE) > 1:
            _CACHE.popitem(last=False)
    return array
