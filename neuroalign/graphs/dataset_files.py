"""Saving and loading :class:`~neuroalign.graphs.dataset.ConnectivityGraphs`: raw arrays and processed tensors.

Layout of a dataset folder (as PyG datasets: raw inputs apart from processed tensors, never pickle)::

    raw/connectivity.nc     the connectivity DataArray, labels as subject coords (neuroalign.data.save)
    raw/statistics.nc       the per-window time-series statistics, when there are any
    processed/tensors.pt    torch.save of a dict of tensors {"fc", ["extra"]}, read with weights_only=True
    processed/meta.json     format, spec, the raw files' content hash, the tensors' hash, shapes

On load the raw arrays are read and hashed; the processed tensors are used when
the metadata's raw hash, tensor hash and spec all match, and are processed
again from the raw arrays (and rewritten) otherwise: after the raw files
changed, when the processed files are missing or damaged, or when another
spec is asked for.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from ..data.io import load, save, write_atomically
from ..data.provenance import content_digest, hash_array
from ..errors import FileFormatError
from .spec import GraphSpec

__all__ = ["save_dataset", "load_dataset", "FORMAT_VERSION"]

log = logging.getLogger(__name__)

#: Version of the processed/ layout; another version is processed again.
FORMAT_VERSION = 1
_RAW, _STATS, _TENSORS, _META = "raw/connectivity.nc", "raw/statistics.nc", "processed/tensors.pt", "processed/meta.json"


def _raw_hash(raw, raw_extra) -> str:
    return hash_array(raw) + ("" if raw_extra is None else "+" + hash_array(raw_extra))


def _tensors_hash(tensors: dict[str, torch.Tensor]) -> str:
    digest = content_digest()
    for name in sorted(tensors):
        digest.update(f"{name}{tuple(tensors[name].shape)}{tensors[name].dtype}".encode())
        digest.update(tensors[name].contiguous().numpy().tobytes())
    return digest.hexdigest()


def _write_processed(folder: Path, tensors: dict[str, torch.Tensor], spec: GraphSpec, raw_hash: str) -> None:
    (folder / "processed").mkdir(parents=True, exist_ok=True)
    write_atomically(folder / _TENSORS, lambda tmp: torch.save(tensors, tmp))
    meta = {"format": FORMAT_VERSION, "spec": spec.to_dict(), "raw_hash": raw_hash,
            "tensors_hash": _tensors_hash(tensors), "shapes": {k: list(v.shape) for k, v in tensors.items()}}
    write_atomically(folder / _META, lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=1)))


def save_dataset(dataset: Any, folder: str | os.PathLike) -> Path:
    """Write ``dataset`` to ``folder`` (created): ``raw/`` netCDF files and ``processed/`` tensors + metadata.

    Examples
    --------
    >>> import numpy as np, tempfile, xarray as xr
    >>> from neuroalign.graphs.dataset import ConnectivityGraphs
    >>> ts = xr.DataArray(np.random.default_rng(0).normal(size=(2, 40, 3)), dims=("subject", "time", "neuroid"),
    ...                   coords={"subject": ["a", "b"], "time": np.arange(40) * 2.0,
    ...                           "neuroid_id": ("neuroid", list("xyz"))}, attrs={"repetition_time": 2.0})
    >>> ds = ConnectivityGraphs.from_timeseries(ts, window=20, step=10)
    >>> folder = ds.save(tempfile.mkdtemp())
    >>> ConnectivityGraphs.load(folder).content_hash == ds.content_hash
    True
    """
    folder = Path(folder)
    (folder / "raw").mkdir(parents=True, exist_ok=True)
    save(dataset.raw, folder / _RAW)
    if dataset.raw_extra is not None:
        save(dataset.raw_extra, folder / _STATS)
    elif (folder / _STATS).exists():
        (folder / _STATS).unlink()
    tensors = {"fc": dataset.fc} if dataset.extra is None else {"fc": dataset.fc, "extra": dataset.extra}
    _write_processed(folder, tensors, dataset.spec, _raw_hash(dataset.raw, dataset.raw_extra))
    return folder


def load_dataset(cls: type, folder: str | os.PathLike, *, spec: GraphSpec | None = None) -> Any:
    """Read a dataset folder written by :func:`save_dataset` (see the module description).

    Raises
    ------
    FileFormatError
        ``folder`` has no ``raw/connectivity.nc``.
    """
    from .dataset import _check_connectivity, process

    folder = Path(folder)
    if not (folder / _RAW).is_file():
        raise FileFormatError(f"no {_RAW} in the folder", source=str(folder),
                              fix="pass a folder written by ConnectivityGraphs.save")
    raw = _check_connectivity(load(folder / _RAW), None)
    raw_extra = load(folder / _STATS) if (folder / _STATS).is_file() else None
    raw_hash = _raw_hash(raw, raw_extra)
    meta, tensors = _read_processed(folder)
    saved_spec = GraphSpec.from_dict(meta["spec"]) if meta else None
    use_spec = spec or saved_spec or GraphSpec()
    fresh = (meta is not None and tensors is not None and meta.get("format") == FORMAT_VERSION
             and meta.get("raw_hash") == raw_hash and meta.get("tensors_hash") == _tensors_hash(tensors)
             and use_spec == saved_spec and set(tensors) == ({"fc"} if raw_extra is None else {"fc", "extra"}))
    if not fresh:
        log.info("%s: processing the raw arrays again (processed files missing, stale or for another spec)", folder)
        tensors = process(raw, raw_extra)
        try:
            _write_processed(folder, tensors, use_spec, raw_hash)
        except (OSError, FileFormatError) as exc:  # a read-only folder: the dataset is still usable
            log.warning("%s: could not rewrite processed/ (%s)", folder, exc)
    return cls(raw, tensors["fc"], spec=use_spec, raw_extra=raw_extra, extra=tensors.get("extra"))


def _read_processed(folder: Path) -> tuple[dict | None, dict | None]:
    try:
        meta = json.loads((folder / _META).read_text())
        tensors = torch.load(folder / _TENSORS, weights_only=True, map_location="cpu")
    except (OSError, ValueError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:  # refused objects too
        log.info("%s: processed files unreadable (%s)", folder, exc)
        return None, None
    if not isinstance(meta, dict) or not isinstance(tensors, dict) or \
            not all(isinstance(v, torch.Tensor) for v in tensors.values()):
        return None, None
    try:
        GraphSpec.from_dict(meta.get("spec"))
    except (ValueError, TypeError, KeyError):
        return None, None
    return meta, tensors
