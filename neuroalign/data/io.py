"""Saving and loading data-model arrays and Datasets to netCDF and zarr, atomically.

Zarr stores are written in zarr format 2 with consolidated metadata: every
zarr reader (zarr-python 2 and 3, xarray, zarr.js) opens them, and strings
have a specified encoding there (format 3 has none yet for them).  Every chunk
is written, even one that holds only the fill value, so that :func:`load` can
tell a complete store from one with deleted chunk files (zarr would silently
read those as the fill value: NaN, empty ids).

Attributes that netCDF cannot hold natively (dicts, lists of strings, bools,
``None`` — e.g. provenance) are stored as JSON strings with a ``json:`` prefix
and decoded on load, so ``load(save(a))`` returns ``a`` with its attributes.
A root attribute, ``neuroalign_layout``, records what was saved (a DataArray
and its name, or a Dataset) and which text variables had dtype ``object``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import ConfigError, FileFormatError, NeuroalignError, SchemaError
from .provenance import content_digest
from .schema import validate, validate_dataset

__all__ = ["save", "load", "load_group", "atomic_path", "move_into_place", "write_atomically",
           "missing_zarr_chunks", "check_zarr_store"]

log = logging.getLogger(__name__)

_JSON_PREFIX = "json:"
_FORMATS = {".nc": "netcdf", ".nc4": "netcdf", ".netcdf": "netcdf", ".zarr": "zarr"}
#: Root attribute recording what a file holds (see the module docstring).
LAYOUT_ATTR = "neuroalign_layout"
_VALUES = "values"  # the variable of an unnamed DataArray
_GROUP_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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


# ---------------------------------------------------------------- attributes


def _encode_attrs(attrs: Mapping[str, Any], where: str) -> dict[str, Any]:
    out = {}
    for key, value in attrs.items():
        if isinstance(value, str):
            out[key] = value
        elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
            out[key] = value
        else:
            out[key] = _JSON_PREFIX + json.dumps(value, default=lambda v: _json_default(v, f"{where}:{key}"))
    return out


def _json_default(value: Any, where: str = "attribute") -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    log.warning("%s: a %s is not JSON; it is stored as its repr, a string", where, type(value).__name__)
    return repr(value)


def _decode_attrs(attrs: Mapping[str, Any], source: str) -> dict[str, Any]:
    out = {}
    for key, value in attrs.items():
        if isinstance(value, str) and value.startswith(_JSON_PREFIX):
            try:
                out[key] = json.loads(value[len(_JSON_PREFIX):])
            except ValueError as exc:
                raise FileFormatError(f"attribute {key!r} is not valid JSON ({exc})", source=source,
                                      fix="re-create the file with neuroalign.data.save") from exc
        elif isinstance(value, np.generic):
            out[key] = value.item()
        else:
            out[key] = value
    return out


# -------------------------------------------------------------- to and from disk


def _text(variable: xr.Variable, name: str, source: str) -> np.ndarray:
    """An ``object`` variable of strings as a fixed-width string array (netCDF and zarr need one)."""
    values = np.asarray(variable.values)
    others = sorted({type(v).__name__ for v in values.ravel() if not isinstance(v, str)})
    if others:
        raise SchemaError(
            f"{name!r} has dtype object and holds {', '.join(others)} values besides text; "
            "netCDF and zarr store one type per variable",
            source=source,
            fix=f"convert {name!r} to text (e.g. .astype(str), with a string such as 'n/a' for missing "
            "entries) or to numbers",
        )
    return values.astype(str) if values.size else values.astype("<U1")


def _digest(values: Any) -> str:
    """A digest of a variable's values as stored: dtype, shape and bytes (NaN payloads made equal)."""
    values = np.ascontiguousarray(values)
    if values.dtype.kind == "f":
        nan = np.isnan(values)
        if nan.any():
            values = np.where(nan, np.nan, values)  # decoding a fill value gives the plain NaN
    digest = content_digest(f"{values.dtype.str}{values.shape}".encode())
    digest.update(values.reshape(-1).view(np.uint8))
    return digest.hexdigest()


def _check_digests(dataset: xr.Dataset, digests: Mapping[str, str], source: str) -> None:
    """Compare the values read with the digests :func:`save` recorded."""
    damaged = [name for name, expected in digests.items()
               if name not in dataset.variables or _digest(dataset.variables[name].values) != expected]
    if damaged:
        raise FileFormatError(
            f"the values of {', '.join(map(repr, damaged[:5]))} differ from those that were written "
            "(the file is damaged: truncated or overwritten)",
            source=source,
            fix="copy the file again, or re-create it with neuroalign.data.save",
        )


def _storable(name: str) -> bool:
    return bool(name) and "/" not in name and not name.startswith(".")


def _to_dataset(obj: Any, source: str) -> xr.Dataset:
    """The Dataset that is written for ``obj``, with encoded attributes and the layout attribute."""
    if isinstance(obj, xr.Dataset):
        validate_dataset(obj, name=source)
    else:
        validate(obj, dims=None, name=source, allow_nan=True)
    if isinstance(obj, xr.DataArray):
        if obj.name is not None and not isinstance(obj.name, str):
            raise SchemaError(f"the array's name {obj.name!r} is not text", source=source,
                              fix="name it with text, e.g. array.rename('brain'), or array.rename(None)")
        variable = obj.name if isinstance(obj.name, str) and _storable(obj.name) else _VALUES
        while variable in obj.coords:
            variable = f"_{variable}"
        dataset = obj.to_dataset(name=variable)
        layout: dict[str, Any] = {"type": "DataArray", "variable": variable, "name": obj.name}
    else:
        if LAYOUT_ATTR in obj.attrs:
            raise SchemaError(f"the attribute name {LAYOUT_ATTR!r} is reserved", source=source,
                              fix=f"rename the attribute, e.g. dataset.attrs.pop({LAYOUT_ATTR!r})")
        dataset = obj
        layout = {"type": "Dataset"}
    dataset = dataset.drop_encoding()
    odd = [repr(n) for n in [*dataset.variables, *dataset.dims] if not (isinstance(n, str) and _storable(n))]
    if odd:
        raise SchemaError(f"names {', '.join(dict.fromkeys(odd))} cannot be stored: netCDF and zarr need "
                          "non-empty text names without '/'", source=source,
                          fix="rename them, e.g. obj.rename({old: 'new_name'})")
    texts = []
    variables = {}
    for name, var in dataset.variables.items():
        _check_attribute_names(var.attrs, f"{source}:{name}")
        data = var.data
        if var.dtype == object:
            data = _text(var, str(name), source)
            texts.append(name)
        variables[name] = xr.Variable(var.dims, data, _encode_attrs(var.attrs, f"{source}:{name}"))
    layout["object_text"] = texts
    # netCDF and zarr store times as numbers with CF units; they decode to datetime64[ns]/timedelta64[ns]
    # whatever resolution was written (e.g. pandas' datetime64[us]), so the dtype is recorded and restored
    layout["time_dtypes"] = {name: var.dtype.str for name, var in variables.items() if var.dtype.kind in "mM"}
    # lazy (dask) values would have to be computed twice to be digested; they are written unchecked
    layout["digests"] = {name: _digest(var.data) for name, var in variables.items() if var.chunks is None}
    written = xr.Dataset({k: variables[k] for k in dataset.data_vars},
                         coords={k: variables[k] for k in dataset.coords}, attrs=_encode_attrs(dataset.attrs, source))
    layout["attrs_digest"] = _attrs_digest(written)
    written.attrs[LAYOUT_ATTR] = _JSON_PREFIX + json.dumps(layout, default=str)
    return written


#: Variable attributes that netCDF/zarr readers apply to the values (CF conventions): stored as given, they
#: would change the values read back (e.g. ``missing_value: -1`` turns every -1 into NaN).
CF_VALUE_ATTRIBUTES = ("_FillValue", "missing_value", "scale_factor", "add_offset", "_Unsigned", "coordinates",
                       "compress")


def _check_attribute_names(attrs: Mapping[str, Any], where: str) -> None:
    """Refuse attributes that readers would apply to the values instead of returning them."""
    reserved = [k for k in attrs if k in CF_VALUE_ATTRIBUTES]
    if isinstance(attrs.get("units"), str) and " since " in attrs["units"]:
        reserved.append("units")  # 'days since …': read back as dates
    if reserved:
        raise SchemaError(f"attribute(s) {', '.join(map(repr, reserved))} would be applied to the values when the "
                          "file is read (CF conventions), so they would not come back as written",
                          source=where, fix=f"rename them, e.g. obj.attrs['raw_{reserved[0]}'] = "
                                            f"obj.attrs.pop('{reserved[0]}')")


def _attrs_digest(dataset: xr.Dataset) -> str:
    """A digest of the stored (encoded) attributes of a Dataset and of each of its variables."""
    def plain(attrs: Mapping[str, Any]) -> dict[str, Any]:
        return {str(k): v.item() if isinstance(v, np.generic) else v.tolist() if isinstance(v, np.ndarray) else v
                for k, v in attrs.items() if k != LAYOUT_ATTR}

    described = {"": plain(dataset.attrs), **{f"/{name}": plain(var.attrs) for name, var in dataset.variables.items()}}
    return content_digest(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()


def _check_layout(dataset: xr.Dataset, layout: Any, attrs: Mapping[str, Any], source: str) -> None:
    """A layout record that is not one, or stored attributes that differ from those written: a damaged file."""
    damaged = FileFormatError("the file's metadata differ from those that were written (the file is damaged: "
                              "truncated or overwritten)", source=source,
                              fix="copy the file again, or re-create it with neuroalign.data.save")
    if layout is None:  # a file from another tool, unless a damaged name hides neuroalign's record
        if any(isinstance(v, dict) and {"type", "digests"} <= v.keys() for v in attrs.values()):
            raise damaged
        return
    if not isinstance(layout, dict) or layout.get("type") not in ("DataArray", "Dataset"):
        raise damaged
    if "attrs_digest" in layout and _attrs_digest(dataset) != layout["attrs_digest"]:
        raise damaged


def _restore_time_dtypes(dataset: xr.Dataset, dtypes: Mapping[str, str], source: str) -> xr.Dataset:
    """Cast datetime/timedelta variables back to the resolution they had when saved (CF decoding gives ns)."""
    changed = {}
    for name, dtype in dtypes.items():
        if name not in dataset.variables:
            continue
        variable = dataset.variables[name]
        try:
            target = np.dtype(dtype)
        except TypeError as exc:
            raise FileFormatError(f"the recorded dtype {dtype!r} of {name!r} is not a numpy dtype", source=source,
                                  fix="re-create the file with neuroalign.data.save") from exc
        if variable.dtype != target and variable.dtype.kind == target.kind:
            changed[name] = xr.Variable(variable.dims, variable.data.astype(target), variable.attrs,
                                        variable.encoding)
    if not changed:
        return dataset
    indexed = {k: v for k, v in changed.items() if k in dataset.indexes}
    others = {k: v for k, v in changed.items() if k not in dataset.indexes}
    dataset = dataset.assign_coords(indexed) if indexed else dataset.copy()
    for name, variable in others.items():
        dataset[name] = variable
    return dataset


def _from_dataset(dataset: xr.Dataset, source: str, *, lazy: bool) -> xr.DataArray | xr.Dataset:
    """Undo :func:`_to_dataset`: check the digests, decode attributes, restore text dtypes, a DataArray's name."""
    attrs = _decode_attrs(dataset.attrs, source)
    layout = attrs.pop(LAYOUT_ATTR, None)
    _check_layout(dataset, layout, attrs, source)
    if isinstance(layout, dict):
        dataset = _restore_time_dtypes(dataset, layout.get("time_dtypes", {}), source)
        if not lazy:
            _check_digests(dataset, layout.get("digests", {}), source)
    if not isinstance(layout, dict):  # a file from another tool, or from neuroalign before layouts
        names = list(dataset.data_vars)
        layout = ({"type": "DataArray", "variable": names[0], "name": None if names[0] == _VALUES else names[0]}
                  if len(names) == 1 else {"type": "Dataset"})
    dataset = dataset.copy()
    dataset.attrs = attrs
    for name in dataset.variables:
        dataset[name].attrs = _decode_attrs(dataset[name].attrs, f"{source}:{name}")
    for name in layout.get("object_text", ()):
        if name not in dataset.variables:
            continue
        variable = dataset.variables[name]
        if name in dataset.indexes:
            index = pd.Index(np.asarray(variable.values, dtype=object), dtype=object, name=name)
            dataset = dataset.assign_coords({name: xr.Variable(variable.dims, index, variable.attrs)})
        else:
            dataset[name] = xr.Variable(variable.dims, variable.data.astype(object), variable.attrs)
    if layout.get("type") != "DataArray":
        return dataset
    variable = layout.get("variable")
    if variable not in dataset.data_vars:
        raise FileFormatError(f"the array's variable {variable!r} is missing (variables: {list(dataset.data_vars)})",
                              source=source, fix="re-create the file with neuroalign.data.save")
    array = dataset[variable]
    array.name = layout.get("name")
    return array


def save(
    obj: xr.DataArray | xr.Dataset,
    path: str | os.PathLike,
    *,
    format: str | None = None,
    groups: Mapping[str, xr.DataArray | xr.Dataset] | None = None,
) -> Path:
    """Write a data-model array or Dataset to netCDF (``.nc``) or zarr (``.zarr``), atomically.

    Coordinates, attributes (including provenance), dtypes and a DataArray's
    name are kept: ``load(save(x))`` is identical to ``x``.  The file appears
    only once it is complete.

    Parameters
    ----------
    obj : xarray.DataArray or xarray.Dataset
        A validated array (``validate`` is called with ``dims=None`` and
        ``allow_nan=True``), or a Dataset such as a trial table
        (``validate_dataset``).
    path : path-like
        Destination; the suffix picks the format unless ``format`` is given.
    format : {"netcdf", "zarr"}, optional
    groups : mapping of str to DataArray or Dataset, optional
        More objects to store in the same file, each in a group of that name
        (letters, digits and ``_``), read back with :func:`load_group`.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    SchemaError, DataError
        ``obj`` does not follow the data model (e.g. inf values, a text
        coordinate mixing types).
    FileFormatError
        The file cannot be written there (e.g. the folder is not writable).

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
    parts = {"": _to_dataset(obj, str(path))}
    for name, member in (groups or {}).items():
        if not isinstance(name, str) or not _GROUP_NAME.fullmatch(name):
            raise ConfigError(f"invalid group name {name!r}", source="groups",
                              fix="name groups with letters, digits and '_' (not starting with a digit)")
        parts[name] = _to_dataset(member, f"{path}:{name}")
    write = _write_netcdf if fmt == "netcdf" else _write_zarr
    try:
        write_atomically(path, lambda tmp: write(parts, tmp))
    except NeuroalignError:
        raise
    except OSError as exc:
        raise FileFormatError(f"cannot write it ({exc.strerror or exc})", source=str(path),
                              fix="check that the folder is writable and the disk has space") from exc
    except (ValueError, TypeError) as exc:
        raise SchemaError(f"{fmt} cannot store it ({exc})", source=str(path),
                          fix="use plain names (no '/') and numeric, boolean or text values") from exc
    return path


def _write_netcdf(parts: Mapping[str, xr.Dataset], tmp: Path) -> None:
    for i, (group, dataset) in enumerate(parts.items()):
        dataset.to_netcdf(tmp, engine="h5netcdf", mode="w" if i == 0 else "a", group=group or None)


def _write_zarr(parts: Mapping[str, xr.Dataset], tmp: Path) -> None:
    import zarr

    for i, (group, dataset) in enumerate(parts.items()):
        dataset.to_zarr(tmp, mode="w" if i == 0 else "a", group=group or None, consolidated=False,
                        zarr_format=2, write_empty_chunks=True)
    zarr.consolidate_metadata(str(tmp), zarr_format=2)


def load(path: str | os.PathLike, *, format: str | None = None, lazy: bool = False) -> xr.DataArray | xr.Dataset:
    """Read what :func:`save` wrote (or any netCDF/zarr file of xarray variables).

    A file holding one variable is read as a DataArray, a Dataset saved by
    :func:`save` (or a file of several variables) as a Dataset.  The result
    is validated (NaN allowed, inf not) and named after ``path`` in errors.

    Parameters
    ----------
    path : path-like
    format : {"netcdf", "zarr"}, optional
    lazy : bool
        Keep the values on disk (dask-backed) instead of reading them now.

    Raises
    ------
    FileFormatError
        The path does not exist, is not a readable netCDF/zarr file, or is a
        zarr store with missing chunk files (checked before anything is read,
        also when ``lazy``).
    SchemaError, DataError
        The contents do not follow the data model (e.g. duplicate
        ``neuroid_id``, inf values).
    """
    return _read(Path(path), format, lazy, group=None)


def load_group(path: str | os.PathLike, group: str, *, format: str | None = None,
               lazy: bool = False) -> xr.DataArray | xr.Dataset:
    """Read the object that :func:`save` wrote under ``groups={group: ...}``.

    Raises
    ------
    FileFormatError
        As :func:`load`, or the file has no such group.
    """
    return _read(Path(path), format, lazy, group=group)


def _read(path: Path, format: str | None, lazy: bool, group: str | None) -> xr.DataArray | xr.Dataset:
    fmt = _format_of(path, format)
    source = str(path) if group is None else f"{path}:{group}"
    if not path.exists():
        raise FileFormatError("file not found", source=str(path), fix="check the path")
    if fmt == "zarr":
        check_zarr_store(path)
    try:
        dataset = xr.open_dataset(path, engine="h5netcdf" if fmt == "netcdf" else "zarr", group=group,
                                  chunks={} if lazy else None)
        if not lazy:
            dataset = dataset.load()
            dataset.close()
    except (MemoryError, NeuroalignError):
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of a third-party decoder means an unreadable file
        what = f"a {fmt} array or Dataset" + ("" if group is None else f" (group {group!r})")
        raise FileFormatError(
            f"cannot read it as {what} ({type(exc).__name__}: {exc})",
            source=str(path),
            fix="check that the file is complete and was written by neuroalign.data.save",
        ) from exc
    obj = _from_dataset(dataset, source, lazy=lazy)
    if isinstance(obj, xr.Dataset):
        return validate_dataset(obj, name=source)
    return validate(obj, dims=None, name=source, allow_nan=True)


# ------------------------------------------------------------------ zarr chunks


def missing_zarr_chunks(path: str | os.PathLike) -> dict[str, list[str]]:
    """The chunk files each array of a local zarr store lacks (empty when it is complete).

    Zarr reads a missing chunk as the array's fill value, so a store that lost
    chunk files (an interrupted copy, a deleted file) reads as NaN values and
    empty ids without an error.  Stores written by :func:`save` hold every
    chunk.  The expected chunks are worked out from each array's metadata
    (``.zarray`` of zarr format 2; ``zarr.json`` of format 3 without sharding).

    Parameters
    ----------
    path : path-like
        A zarr store in a local folder.

    Returns
    -------
    dict
        ``{array path: [missing chunk keys]}`` for the arrays that miss any.

    Raises
    ------
    FileFormatError
        An array's metadata cannot be read.
    """
    path = Path(path)
    missing = {}
    for meta_file in sorted([*path.rglob(".zarray"), *path.rglob("zarr.json")]):
        folder = meta_file.parent
        name = folder.relative_to(path).as_posix()
        try:
            meta = json.loads(meta_file.read_bytes())
            if meta_file.name == "zarr.json":
                if meta.get("node_type") != "array":
                    continue
                grid = meta["chunk_grid"]["configuration"]["chunk_shape"]
                encoding = meta.get("chunk_key_encoding", {"name": "default"})
                separator = encoding.get("configuration", {}).get("separator",
                                                                  "/" if encoding["name"] == "default" else ".")
                default = encoding["name"] == "default"
            else:
                grid, separator, default = meta["chunks"], meta.get("dimension_separator") or ".", False
            shape = meta["shape"]
            counts = [-(-int(n) // int(c)) for n, c in zip(shape, grid)]
        except (ValueError, KeyError, TypeError, AttributeError, ZeroDivisionError) as exc:
            raise FileFormatError(f"the metadata of array {name!r} cannot be read ({type(exc).__name__}: {exc})",
                                  source=str(path), fix="copy the store again, or re-create it with "
                                  "neuroalign.data.save") from exc
        keys = ("c" + "".join(separator + str(i) for i in index) if default
                else separator.join(map(str, index)) or "0" for index in np.ndindex(*counts))
        absent = [key for key in keys if not (folder / key).is_file()]
        if absent:
            missing[name] = absent
    return missing


def _metadata_problems(path: Path) -> list[str]:
    """How the metadata files of a consolidated zarr-2 store disagree with its ``.zmetadata``.

    zarr reads some metadata (e.g. ``.zattrs``) from the files themselves, so
    a lost or damaged file would silently drop attributes such as provenance.
    """
    consolidated = path / ".zmetadata"
    if not consolidated.is_file():
        return []
    try:
        recorded = json.loads(consolidated.read_bytes())["metadata"]
        entries = recorded.items()
    except (ValueError, KeyError, TypeError, AttributeError):
        return [".zmetadata is not valid consolidated metadata"]
    problems = []
    for key, expected in entries:
        file = path / key
        if not file.is_file():
            problems.append(f"{key} is missing")
            continue
        try:
            actual = json.loads(file.read_bytes())
        except ValueError:
            problems.append(f"{key} is not valid JSON")
            continue
        if _comparable(actual) != _comparable(expected):
            problems.append(f"{key} differs from .zmetadata")
    return problems


def _comparable(metadata: Any) -> str:
    """Metadata as canonical JSON, without the nested-consolidation entry zarr 3 adds to ``.zmetadata``."""
    if isinstance(metadata, dict):
        metadata = {k: v for k, v in metadata.items() if k != "consolidated_metadata"}
    return json.dumps(metadata, sort_keys=True)


def check_zarr_store(path: str | os.PathLike, *, recreate: str = "re-create it with neuroalign.data.save") -> None:
    """Raise unless a local zarr store's metadata files and chunk files are all there.

    Parameters
    ----------
    path : path-like
        A zarr store in a local folder.
    recreate : str
        How to re-create the store, ending the fix of the error.

    Raises
    ------
    FileFormatError
        A metadata file differs from ``.zmetadata`` or is missing, or chunk
        files are missing (the message names each array and its chunk keys).
    """
    path = Path(path)
    problems = _metadata_problems(path)
    if problems:
        raise FileFormatError(
            f"the store's metadata is damaged ({'; '.join(problems[:5])}{' …' if len(problems) > 5 else ''})",
            source=str(path),
            fix=f"the store is incomplete or was modified after writing: copy it again or {recreate}",
        )
    missing = missing_zarr_chunks(path)
    if missing:
        count = sum(map(len, missing.values()))
        listed = "; ".join(f"{name}: {', '.join(keys[:5])}{' …' if len(keys) > 5 else ''}"
                           for name, keys in sorted(missing.items()))
        raise FileFormatError(
            f"{count} chunk file(s) are missing ({listed}); zarr would read them as fill values "
            "(NaN, empty ids)",
            source=str(path),
            fix=f"the store is incomplete (an interrupted copy or deleted files): copy it again or {recreate}; "
            "a store from a tool that leaves out chunks equal to the fill value can be read with xarray.open_zarr",
        )
