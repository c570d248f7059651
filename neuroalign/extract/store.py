"""Streaming activations to a zarr store, batch by batch, resumable after a crash.

Layout of ``acts.zarr`` (zarr format 2, consolidated metadata): one group per
layer holding a dataset with one variable named after the layer, so

>>> xr.open_zarr("acts.zarr", group="block1")["block1"]     # doctest: +SKIP

reads a layer lazily; :func:`open_activations` reads them all.  The root
attributes list the layers and record the key of the run.

Safety:

* The store is written under ``acts.zarr.partial`` and renamed to
  ``acts.zarr`` only when every batch is written: a path without
  ``.partial`` is always complete.
* Batch ``b`` covers whole chunks (chunk rows = batch size), so rewriting it
  after a crash replaces every byte a killed run may have half-written.
* ``acts.zarr.progress.json``, next to the partial store, counts completed
  batches; it is replaced atomically after each batch's chunks are written.  A rerun
  with the same key resumes after the last completed batch; a partial store
  of another run is discarded.
* Every chunk file is written, even one that holds only the fill value, so
  that a store that lost chunk files (an interrupted copy, a deleted file) is
  refused when it is opened instead of reading as NaN values and empty ids
  (:func:`open_activations`, a cache hit, a finished store found again).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr
import zarr

from .._paths import check_writable
from ..data.io import atomic_path, check_zarr_store, move_into_place
from ..errors import ConfigError, ExtractionError, FileFormatError, NeuroalignError, UnknownNameError
from .assembly import dims_of, neuroid_coords, presentation_coords, time_coords
from .pooling import UnitCoords
from .stimuli import StimulusSet

__all__ = ["ActivationStore", "open_activations", "check_store", "write_arrays", "partial_path", "progress_path",
           "read_store_attrs", "STORE_FORMAT"]

log = logging.getLogger(__name__)

STORE_FORMAT = "neuroalign-activations/1"
_JSON_PREFIX = "json:"  # same convention as neuroalign.data.io
_CHUNK_ELEMENTS = 1 << 22
_RECREATE = "extract it again with overwrite=True (neuroalign extract --overwrite)"


def partial_path(path: str | os.PathLike) -> Path:
    """Where an unfinished store lives: ``<path>.partial``."""
    path = Path(path)
    return path.with_name(path.name + ".partial")


def progress_path(path: str | os.PathLike) -> Path:
    """The progress file of an unfinished store: ``<path>.progress.json``."""
    path = Path(path)
    return path.with_name(path.name + ".progress.json")


def _encode(attrs: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in attrs.items():
        if isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            out[key] = value
        else:
            out[key] = _JSON_PREFIX + json.dumps(value, default=str)
    return out


def _decode(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: json.loads(v[len(_JSON_PREFIX):]) if isinstance(v, str) and v.startswith(_JSON_PREFIX) else v
            for k, v in attrs.items()}


def _store_path(path: Any, source: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"{source} is a {type(path).__name__}, not a path", source=source,
                          fix="pass the path of a .zarr folder")
    return Path(path)


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    tmp = atomic_path(path)
    tmp.write_text(json.dumps(payload))
    os.replace(tmp, path)


def read_store_attrs(path: str | os.PathLike) -> dict[str, Any]:
    """The root attributes of a store (layers, key, ``complete``...), or ``{}`` if it is not one."""
    try:
        return dict(zarr.open_group(str(path), mode="r", zarr_format=2).attrs)
    except (FileNotFoundError, ValueError, KeyError, OSError, zarr.errors.GroupNotFoundError):
        return {}


class ActivationStore:
    """A zarr store written batch by batch (see the module docstring).

    Parameters
    ----------
    path : path-like
        Final location (``….zarr``).
    key : str
        Identifies the run (model, layers, options, stimuli, batch size): only
        a partial store with the same key is resumed.
    n_stimuli, batch_size : int
    overwrite : bool
        Replace a complete store of another run at ``path``.
    """

    def __init__(self, path: str | os.PathLike, *, key: str, n_stimuli: int, batch_size: int,
                 overwrite: bool = False):
        self.path = _store_path(path, "store")
        self.partial = partial_path(self.path)
        self.progress_file = progress_path(self.path)
        self.key = key
        self.n_stimuli = n_stimuli
        self.batch_size = batch_size
        self.n_batches = -(-n_stimuli // batch_size)
        self.overwrite = overwrite
        self.done = 0
        self._arrays: dict[str, Any] = {}
        self._layers: list[str] = []
        self._damage_reported = False

    # ------------------------------------------------------------------ state
    @property
    def is_complete(self) -> bool:
        """Whether ``path`` already holds the finished, undamaged result of this run.

        A finished store of this run that lost chunk or metadata files is not
        complete when it may be overwritten (a cache entry: it is computed
        again, with a warning); otherwise it raises.

        Raises
        ------
        FileFormatError
            The store is this run's but damaged, and ``overwrite`` is False.
        """
        attrs = read_store_attrs(self.path)
        if not (attrs.get("complete") is True and attrs.get("key") == self.key):
            return False
        try:
            check_store(self.path)
        except FileFormatError as exc:
            if not self.overwrite:
                raise
            if not self._damage_reported:
                log.warning("%s is damaged and is computed again: %s", self.path, exc)
                self._damage_reported = True
            return False
        return True

    def check_target(self) -> None:
        """Raise unless ``path`` is free, already this run's result, or may be overwritten, and can be written."""
        if self.path.exists() and not self.overwrite and not self.is_complete:
            attrs = read_store_attrs(self.path)
            what = "a store of another extraction" if attrs.get("format") == STORE_FORMAT else "something else"
            raise ConfigError(f"{self.path} already exists and holds {what}", source=str(self.path),
                              fix="pass overwrite=True (--overwrite) or choose another path")
        check_writable(self.path, source="store", folder=True,
                       fix="choose a folder you can write to (store=, --out; $NEUROALIGN_CACHE for the cache)")

    def prepare(self) -> int:
        """Check ``path``, find a resumable partial store; returns the first batch to compute."""
        self.check_target()
        progress = self._progress()
        if progress is None:
            if self.partial.exists():
                log.info("discarding the unfinished store %s of another run", self.partial)
                shutil.rmtree(self.partial)
            self.progress_file.unlink(missing_ok=True)
            self.done = 0
            return 0
        self.done = int(progress["done"])
        self._layers = list(read_store_attrs(self.partial).get("layers", []))
        log.info("resuming %s after %d of %d batches", self.path, self.done, self.n_batches)
        return self.done

    def _progress(self) -> dict[str, Any] | None:
        try:
            progress = json.loads(self.progress_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        if progress.get("key") != self.key or progress.get("batch_size") != self.batch_size \
                or not self.partial.is_dir():
            return None
        return progress

    # ------------------------------------------------------------------ writing
    def create(self, layouts: Mapping[str, UnitCoords], stimuli: StimulusSet, model: str,
               attrs: Mapping[str, Mapping[str, Any]], root_attrs: Mapping[str, Any] | None = None) -> None:
        """Create (or, when resuming, reopen and check) one group per layer."""
        if self.done > 0 or self._layers:
            self._reopen(layouts)
            return
        if self.partial.exists():
            shutil.rmtree(self.partial)
        for layer, units in layouts.items():
            dims = dims_of(units)
            shape = (self.n_stimuli, units.n_units) + (() if units.n_time is None else (units.n_time,))
            per_row = self.batch_size * (units.n_time or 1)
            chunks = (self.batch_size, max(1, min(units.n_units, _CHUNK_ELEMENTS // per_row))) + shape[2:]
            values = da.zeros(shape, chunks=chunks, dtype=np.float32)
            coords = {**presentation_coords(stimuli), **neuroid_coords(model, layer, units), **time_coords(units)}
            coords = {k: (d, v.astype(str) if v.dtype == object else v) for k, (d, v) in coords.items()}
            dataset = xr.Dataset({layer: (dims, values, _encode(attrs.get(layer, {})))}, coords=coords)
            dataset.to_zarr(self.partial, group=layer, mode="w", compute=False, consolidated=False, zarr_format=2,
                            encoding={layer: {"chunks": chunks}}, write_empty_chunks=True)
        root = zarr.open_group(str(self.partial), mode="a", zarr_format=2)
        root.attrs.update({"format": STORE_FORMAT, "key": self.key, "complete": False, "layers": list(layouts),
                           "n_stimuli": self.n_stimuli, "batch_size": self.batch_size, "model": model,
                           **dict(root_attrs or {})})
        self._layers = list(layouts)
        self._open_arrays()
        _write_json(self.progress_file, {"key": self.key, "batch_size": self.batch_size,
                                         "n_batches": self.n_batches, "done": 0})

    def _reopen(self, layouts: Mapping[str, UnitCoords]) -> None:
        self._open_arrays()
        for layer, units in layouts.items():
            if layer not in self._arrays:
                raise ExtractionError(f"the unfinished store has no layer {layer!r}", source=str(self.partial),
                                      fix="delete the .partial folder to start over")
            expected = (self.n_stimuli, units.n_units) + (() if units.n_time is None else (units.n_time,))
            if tuple(self._arrays[layer].shape) != expected:
                raise ExtractionError(f"layer {layer!r} has shape {self._arrays[layer].shape} in the unfinished "
                                      f"store but {expected} now", source=str(self.partial),
                                      fix="delete the .partial folder to start over")

    def _open_arrays(self) -> None:
        root = zarr.open_group(str(self.partial), mode="r+", zarr_format=2)
        # every chunk is written, also one equal to the fill value (see the module docstring)
        self._arrays = {layer: root[layer][layer].with_config({"write_empty_chunks": True})
                        for layer in self._layers}

    def write(self, batch_index: int, rows: slice, features: Mapping[str, np.ndarray]) -> None:
        """Write one batch of every layer, then record it as complete."""
        if batch_index != self.done:
            raise ExtractionError(f"batch {batch_index} written after {self.done} completed batches",
                                  source=str(self.path), fix="write batches in order")
        for layer, values in features.items():
            self._arrays[layer][rows.start:rows.stop] = values
        self.done = batch_index + 1
        _write_json(self.progress_file, {"key": self.key, "batch_size": self.batch_size,
                                         "n_batches": self.n_batches, "done": self.done})

    def finish(self) -> Path:
        """Mark complete, consolidate metadata, and move the store into place atomically."""
        if self.done != self.n_batches:
            raise ExtractionError(f"only {self.done} of {self.n_batches} batches are written",
                                  source=str(self.path), fix="run the extraction to the end")
        root = zarr.open_group(str(self.partial), mode="a", zarr_format=2)
        root.attrs.update({"complete": True, "completed_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
        zarr.consolidate_metadata(str(self.partial), zarr_format=2)
        move_into_place(self.partial, self.path)
        self.progress_file.unlink(missing_ok=True)
        return self.path


def write_arrays(arrays: Mapping[str, xr.DataArray], path: str | os.PathLike, *,
                 root_attrs: Mapping[str, Any] | None = None, overwrite: bool = False) -> Path:
    """Write layer arrays (in memory or dask-backed, streamed chunk by chunk) as a complete store, atomically.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from neuroalign.extract import StimulusSet, extract, open_activations, write_arrays
    >>> from neuroalign.models import ReferenceNet
    >>> acts = extract(ReferenceNet(), StimulusSet.from_arrays(list("ab"), np.zeros((2, 3, 32, 32))), "fc",
    ...                progress=False)
    >>> path = write_arrays(acts, os.path.join(tempfile.mkdtemp(), "acts.zarr"))
    >>> open_activations(path)["fc"].shape
    (2, 128)
    """
    path = _store_path(path, "path")
    if path.exists() and not overwrite:
        raise ConfigError(f"{path} already exists", source=str(path),
                          fix="pass overwrite=True (--overwrite) or choose another path")
    tmp = atomic_path(path)
    try:
        for layer, array in arrays.items():
            out = array.copy(deep=False)
            out.attrs = _encode(array.attrs)
            out = out.assign_coords({k: (c.dims, c.values.astype(str)) for k, c in out.coords.items()
                                     if c.dtype == object})
            for name in out.coords:
                out[name].encoding = {}
            out.encoding = {}
            out.to_dataset(name=layer).to_zarr(tmp, group=layer, mode="w", consolidated=False, zarr_format=2,
                                               write_empty_chunks=True)
        root = zarr.open_group(str(tmp), mode="a", zarr_format=2)
        root.attrs.update({"format": STORE_FORMAT, "key": f"copy-{time.time_ns()}", "layers": list(arrays),
                           "n_stimuli": int(next(iter(arrays.values())).sizes["presentation"]) if arrays else 0,
                           **dict(root_attrs or {}), "complete": True,
                           "completed_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
        zarr.consolidate_metadata(str(tmp), zarr_format=2)
        return move_into_place(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def check_store(path: str | os.PathLike) -> None:
    """Raise unless the store at ``path`` has all its metadata and chunk files.

    zarr reads a missing chunk file as the fill value, so a store that lost
    files would otherwise read as NaN activations and empty ids.  The check
    lists the folder's chunk files (one ``stat`` per chunk); it reads no values.

    Raises
    ------
    FileFormatError
        Names the store, each array (``layer/variable``) with its missing
        chunk keys, and how to re-create it.
    """
    check_zarr_store(path, recreate=_RECREATE)


def open_activations(path: str | os.PathLike, *, lazy: bool = True,
                     layers: list[str] | None = None) -> dict[str, xr.DataArray]:
    """The layers of a complete store, as data-model arrays (dask-backed when ``lazy``).

    Before anything is read, also when ``lazy``, the store is checked for
    missing chunk and metadata files (:func:`check_store`).

    Parameters
    ----------
    path : path-like
        A store written by ``extract(..., store=path)``, ``neuroalign extract`` or :func:`write_arrays`.
    lazy : bool
        Return dask-backed arrays that read values when they are used.
    layers : list of str, optional
        Which layers (default all).

    Raises
    ------
    FileFormatError
        ``path`` is not an activation store, or it is damaged (missing chunk
        or metadata files, unreadable values).
    ExtractionError
        The store is unfinished (rerun the same extraction to resume it).
    UnknownNameError
        A layer of ``layers`` is not in the store.
    """
    path = _store_path(path, "path")
    if not path.exists():
        hint = " (an unfinished one is at .partial: rerun the extraction to resume)" \
            if partial_path(path).exists() else ""
        raise FileFormatError(f"store not found{hint}", source=str(path), fix="check the path")
    attrs = read_store_attrs(path)
    if attrs.get("format") != STORE_FORMAT:
        raise FileFormatError("not an activation store written by neuroalign.extract", source=str(path),
                              fix="pass the --out path of `neuroalign extract`")
    if attrs.get("complete") is not True:
        raise ExtractionError("the store is not complete", source=str(path),
                              fix="rerun the same extraction to resume it")
    stored = attrs.get("layers")
    if not isinstance(stored, list) or not all(isinstance(layer, str) for layer in stored):
        raise FileFormatError(f"the store's list of layers is damaged ({stored!r})", source=str(path),
                              fix=_RECREATE)
    if isinstance(layers, str):
        layers = [layers]
    if layers is not None and (not isinstance(layers, (list, tuple)) or not all(isinstance(x, str) for x in layers)):
        raise ConfigError(f"layers must be a list of layer names, got {layers!r}", source="layers",
                          fix=f"pass some of {stored}")
    for layer in layers or ():
        if layer not in stored:
            raise UnknownNameError(layer, stored, what="layer", source=str(path))
    check_store(path)
    return {layer: _open_layer(path, layer, lazy) for layer in layers or stored}


def _open_layer(path: Path, layer: str, lazy: bool) -> xr.DataArray:
    try:
        array = xr.open_zarr(path, group=layer, consolidated=True)[layer]
        array.attrs = _decode(array.attrs)
        array = array.assign_coords({name: (array[name].dims, _coord_values(array[name]))
                                     for name in array.coords if name not in array.dims})
        if not lazy:
            return array.load()
        values = zarr.open_group(str(path), mode="r", zarr_format=2)[layer][layer]
        return array.copy(data=da.from_array(_Guarded(values, path, layer), chunks=values.chunks,
                                             name=f"neuroalign-{layer}-{array.data.name}", asarray=True))
    except (MemoryError, NeuroalignError):
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of the zarr decoder means a damaged store
        raise _damaged(path, f"layer {layer!r}", exc) from exc


def _coord_values(coord: xr.DataArray) -> np.ndarray:
    """A coordinate's values, read now (small; reading them checks their chunks); text as ``object``."""
    values = coord.values
    if values.dtype.kind in "UTSO" or type(values.dtype).__name__ == "StringDType":
        return values.astype(object)
    return values


def _damaged(path: Path, what: str, exc: Exception) -> FileFormatError:
    return FileFormatError(f"{what} cannot be read ({type(exc).__name__}: {exc})", source=str(path),
                           fix=f"the store is damaged: copy it again or {_RECREATE}")


class _Guarded:
    """A zarr array whose read failures (a damaged chunk read lazily) raise :class:`FileFormatError`."""

    def __init__(self, values: Any, path: Path, layer: str):
        self.values, self.path, self.layer = values, path, layer
        self.shape, self.dtype, self.ndim = values.shape, values.dtype, values.ndim

    def __getitem__(self, key: Any) -> np.ndarray:
        try:
            return self.values[key]
        except (MemoryError, NeuroalignError):
            raise
        except Exception as exc:  # noqa: BLE001 - as in _open_layer
            where = ", ".join(f"{k.start}:{k.stop}" if isinstance(k, slice) else str(k)
                              for k in (key if isinstance(key, tuple) else (key,)))
            raise _damaged(self.path, f"layer {self.layer!r} (values [{where}])", exc) from exc
