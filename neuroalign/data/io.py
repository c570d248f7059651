"""Saving and loading data-model arrays to netCDF and zarr, atomically.

Zarr stores are written in zarr format 2 with consolidated metadata: every
zarr reader (zarr-python 2 and 3, xarray, zarr.js) opens them, and strings
have a specified encoding there (format 3 has none yet for them).

Attributes that netCDF cannot hold natively (dicts, lists of strings, bools,
``None`` — e.g. provenance) are stored as JSON strings with a ``json:`` prefix
and decoded on load, so ``load(save(a))`` returns ``a`` with its attributes.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..errors import ConfigError, FileFormatError
from .schema import validate

__all__ = ["save", "load", "atomic_path", "move_into_place", "write_atomically"]

_JSON_PREFIX = "json:"
_FORMATS = {".nc": "netcdf", ".nc4": "netcdf", ".netcdf": "netcdf", ".zarr": "zarr"}


def _format_of(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in ("netcdf", "zarr"):
            raise ConfigError(f"unknown format {fmt!r}", source="format", fix="use 'netcdf' or 'zarr'")
        return fmt
    try:
        return _FORMATS[path.suffix.lower()]
    except KeyError:
        raise ConfigError(
            f"cannot tell the format from the suffix {path.suffix!r}",
            source=str(path),
            fix="use a .nc (netCDF) or .zarr path, or pass format='netcdf'/'zarr'",
        ) from None


def atomic_path(path: str | os.PathLike) -> Path:
    """A temporary sibling of ``path`` to write to before renaming into place."""
    path = Path(path)
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")


def write_atomically(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` then move ``tmp`` onto ``path`` (a file or a directory).

    A crash during ``write`` leaves ``path`` as it was; the temporary is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic_path(path)
    try:
        write(tmp)
        move_into_place(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink()
    return path


def move_into_place(source: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Rename a finished file or directory onto ``path``, replacing what was there.

    A file is replaced in one atomic rename.  A directory (a zarr store)
    cannot be renamed over another, so the old one is first renamed aside and
    removed only after the new one is in place.
    """
    source, path = Path(source), Path(path)
    if source.is_dir() and path.exists():
        backup = atomic_path(path)
        os.replace(path, backup)
        os.replace(source, path)
        shutil.rmtree(backup, ignore_errors=True)
    else:
        os.replace(source, path)
    return path


def _encode_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in attrs.items():
        if isinstance(value, str):
            out[key] = value
        elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
            out[key] = value
        else:
            out[key] = _JSON_PREFIX + json.dumps(value, default=_json_default)
    return out


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return repr(value)


def _decode_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in attrs.items():
        if isinstance(value, str) and value.startswith(_JSON_PREFIX):
            out[key] = json.loads(value[len(_JSON_PREFIX):])
        elif isinstance(value, np.generic):
            out[key] = value.item()
        else:
            out[key] = value
    return out


def _encoded(array: xr.DataArray) -> xr.DataArray:
    out = array.copy(deep=False)
    out.attrs = _encode_attrs(array.attrs)
    for name in out.coords:
        coord = out.coords[name]
        if coord.dtype == object:  # netCDF/zarr need a concrete string dtype
            out = out.assign_coords({name: coord.astype(str)})
        out[name].attrs = _encode_attrs(coord.attrs)
    return out


def save(array: xr.DataArray, path: str | os.PathLike, *, format: str | None = None) -> Path:
    """Write a data-model array to netCDF (``.nc``) or zarr (``.zarr``), atomically.

    Coordinates and attributes (including provenance) are kept.  The file
    appears only once it is complete.

    Parameters
    ----------
    array : xarray.DataArray
        Validated array (``validate`` is called with ``dims=None``).
    path : path-like
        Destination; the suffix picks the format unless ``format`` is given.
    format : {"netcdf", "zarr"}, optional

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from neuroalign.data import create_assembly, load, save
    >>> a = create_assembly(np.ones((2, 2)), stimulus_id=["a", "b"], attrs={"parameters": {"seed": 1}})
    >>> path = save(a, os.path.join(tempfile.mkdtemp(), "a.nc"))
    >>> load(path).attrs["parameters"]
    {'seed': 1}
    """
    path = Path(path)
    fmt = _format_of(path, format)
    validate(array, dims=None, name=str(path), allow_nan=True)
    encoded = _encoded(array)
    if encoded.name is None:
        encoded.name = "values"
    if fmt == "netcdf":
        write_atomically(path, lambda tmp: encoded.to_netcdf(tmp, engine="h5netcdf"))
    else:
        write_atomically(path, lambda tmp: encoded.to_zarr(tmp, mode="w", consolidated=True, zarr_format=2))
    return path


def load(path: str | os.PathLike, *, format: str | None = None, lazy: bool = False) -> xr.DataArray:
    """Read an array written by :func:`save` (or any single-variable netCDF/zarr).

    Parameters
    ----------
    path : path-like
    format : {"netcdf", "zarr"}, optional
    lazy : bool
        Keep the values on disk (dask-backed) instead of reading them now.

    Raises
    ------
    FileFormatError
        The path does not exist or is not a readable netCDF/zarr array.
    """
    path = Path(path)
    fmt = _format_of(path, format)
    if not path.exists():
        raise FileFormatError("file not found", source=str(path), fix="check the path")
    try:
        if fmt == "netcdf":
            array = xr.open_dataarray(path, engine="h5netcdf", chunks={} if lazy else None)
        else:
            array = xr.open_dataarray(path, engine="zarr", chunks={} if lazy else None)
        if not lazy:
            array = array.load()
            array.close()
    except (OSError, ValueError, KeyError) as exc:
        raise FileFormatError(
            f"cannot read it as a {fmt} array ({exc})",
            source=str(path),
            fix="check that the file is complete and was written by neuroalign.data.save",
        ) from exc
    if array.name == "values":
        array.name = None
    array.attrs = _decode_attrs(array.attrs)
    for name in array.coords:
        array[name].attrs = _decode_attrs(array[name].attrs)
    return array
