"""ROI time series and precomputed connectivity from CSV/TSV/NPY/MAT files.

Also the shared machinery of the fMRI loaders: BIDS names → coords, many files
→ one array with a ``subject`` (or ``run``/``session``) dim padded with NaN,
lazily with dask when asked, and ``errors="skip"``.
"""

from __future__ import annotations

import csv
import glob
import json
import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..data import provenance, validate
from ..errors import AlignmentError, ConfigError, DataError, FileFormatError, NeuroalignError, SchemaError, \
    UnknownNameError
from .bids import parse_bids_entities
from .text_tables import header_names, read_text_table, refuse_repeated_names

__all__ = ["load_timeseries", "stack_timeseries"]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike
#: Coordinates taken from BIDS names.
BIDS_COORDS = ("subject", "session", "task", "run")
_EXTENSIONS = (".csv", ".tsv", ".txt", ".npy", ".mat")


def _stem(path: Path) -> str:
    name = path.name
    for ext in (".nii.gz", ".nii", *_EXTENSIONS):
        if name.endswith(ext):
            return name[: -len(ext)]
    return path.stem


def _expand(path: PathLike | Sequence[PathLike], argument: str) -> tuple[list[Path], bool]:
    """Paths (globs expanded, sorted) and whether a single file was given."""
    if isinstance(path, (str, os.PathLike)):
        text = str(path)
        if any(ch in text for ch in "*?["):
            found = sorted(Path(p) for p in glob.glob(text))
            if not found:
                raise FileFormatError(f"no file matches the pattern {text!r}", source=argument,
                                      fix="check the folder and the pattern")
            return found, False
        return [Path(path)], True
    return [Path(p) for p in path], False


def _collect(items: Sequence[Any], read_one: Callable[[Any], Any], names: Sequence[str], errors: str,
             progress: bool) -> tuple[list[Any], list[str], list[int]]:
    """Read each item; with errors='skip' record what failed instead of raising."""
    if errors not in ("raise", "skip"):
        raise ConfigError(f"errors={errors!r} is not valid", source="errors", fix="use 'raise' or 'skip'")
    from tqdm.auto import tqdm

    results, skipped, kept = [], [], []
    for i, item in enumerate(tqdm(items, disable=not progress or len(items) < 2, desc="loading")):
        try:
            results.append(read_one(item))
            kept.append(i)
        except NeuroalignError as err:
            if errors == "raise":
                raise
            log.warning("skipping %s: %s", names[i], err)
            skipped.append(f"{names[i]}: {err.problem}")
    if not results:
        raise DataError(f"none of the {len(items)} inputs could be loaded: {'; '.join(skipped[:3])}",
                        source=names[0] if names else "input", fix="fix the files listed (attrs['skipped'])")
    return results, skipped, kept


def _repetition_time(path: Path | None, given: float | None, header: float | None = None) -> float | None:
    """TR in seconds: the argument, else a BIDS JSON sidecar, else the file header."""
    given = _positive_seconds(given, "repetition_time", "repetition_time", "pass repetition_time=<seconds>")
    sidecar = None
    if path is not None:
        candidate = path.parent / (_stem(path) + ".json")
        if candidate.is_file():
            try:
                meta = json.loads(candidate.read_text())
            except ValueError as exc:
                raise FileFormatError(f"the JSON sidecar cannot be read ({exc})", source=str(candidate),
                                      fix="repair the JSON") from exc
            fix = "write RepetitionTime in seconds (or SamplingFrequency in Hz) as a positive number"
            if isinstance(meta, dict) and "RepetitionTime" in meta:
                sidecar = _positive_seconds(meta["RepetitionTime"], "RepetitionTime", str(candidate), fix)
            elif isinstance(meta, dict) and "SamplingFrequency" in meta:
                sidecar = 1.0 / _positive_seconds(meta["SamplingFrequency"], "SamplingFrequency", str(candidate), fix)
    found = sidecar if sidecar is not None else header
    if given is not None:
        if found is not None and not np.isclose(found, given, rtol=1e-3):
            log.warning("%s: repetition_time=%s overrides %s s found in the file", path, given, found)
        return float(given)
    return found


def _positive_seconds(value: Any, what: str, source: str, fix: str) -> float | None:
    """``value`` as a positive finite float (None stays None), or a ConfigError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or value <= 0:
        raise ConfigError(f"{what}={value!r} is not a positive number", source=source, fix=fix)
    return float(value)


def _read_values(path: Path, *, variable: str | None = None) -> tuple[Any, bool]:
    """One file's content: a DataFrame for text tables (and whether it had a header), else an array."""
    if not path.is_file():
        raise FileFormatError("the file does not exist", source=str(path), fix="check the path")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            sep = "," if suffix == ".csv" else "\t"
            names = header_names(path, sep)
            if names and all(_is_number(c) for c in names):  # no header row
                return pd.read_csv(path, header=None, sep=sep), False
            refuse_repeated_names(names, path)  # pandas would rename the second "a" to "a.1"
            if names and not names[0].strip():  # a first column of row labels without a name, as pandas writes
                return pd.read_csv(path, sep=sep), True
            return read_text_table(path, sep=sep, what="table"), True
        if suffix == ".txt":
            table = pd.read_csv(path, sep=r"\s+", engine="python")
            if all(_is_number(c) for c in table.columns):  # no header row
                return pd.read_csv(path, header=None, sep=r"\s+", engine="python"), False
            with open(path, encoding="utf-8-sig") as handle:
                names = next((line.split() for line in handle if line.strip()), [])
            refuse_repeated_names(names, path)
            return table, True
        if suffix == ".npy":
            array = np.load(path, allow_pickle=False)
            if array.dtype.kind not in "biuf":  # strings, complex numbers, records
                raise SchemaError(f"the array has dtype {array.dtype}; real numbers are needed", source=str(path),
                                  fix="save a float array (rows = volumes, columns = regions)")
            return array, False
        if suffix == ".mat":
            return _read_mat(path, variable), False
    except NeuroalignError:
        raise
    except (OSError, ValueError, EOFError, pd.errors.ParserError, csv.Error) as exc:
        raise FileFormatError(f"cannot read the file ({type(exc).__name__}: {exc})", source=str(path),
                              fix="check that the file is complete and in the format its extension says") from exc
    raise FileFormatError(f"unsupported extension {suffix!r}", source=str(path),
                          fix=f"use one of {', '.join(_EXTENSIONS)}")


def _is_number(text: Any) -> bool:
    try:
        float(text)
        return True
    except (TypeError, ValueError):
        return False


def _numeric(table: pd.DataFrame, path: Path) -> np.ndarray:
    bad = [str(c) for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
    if bad and len(table):  # the columns of a table without rows have no type yet
        raise SchemaError(f"column(s) {bad[:5]} are not numeric", source=str(path),
                          fix="leave them out with exclude=[...] or fix the values")
    return table.to_numpy(dtype=float)


def _read_mat(path: Path, variable: str | None) -> np.ndarray:
    from .matfiles import read_mat  # MATLAB v5 and v7.3 (HDF5) alike

    data = read_mat(path)
    numeric = {k: v for k, v in data.items() if isinstance(v, np.ndarray) and v.dtype.kind in "fiub"
               and v.ndim in (1, 2, 3) and v.size > 1}
    if variable is None:
        if len(numeric) != 1:
            raise ConfigError(f"the file holds {len(numeric)} numeric arrays {sorted(numeric)}; which one?",
                              source=str(path), fix="pass variable='<name>'")
        variable = next(iter(numeric))
    if variable not in numeric:
        raise UnknownNameError(variable, numeric, what="MAT variable", source=str(path))
    return np.asarray(numeric[variable], dtype=float)


def _select(content: Any, has_header: bool, path: Path, *, columns, exclude, neuroid_ids,
            transpose: bool) -> tuple[np.ndarray, list[str]]:
    """The (time, neuroid) values and ids of a file's content, after column selection."""
    table = isinstance(content, pd.DataFrame)
    if table and transpose:
        content, table = _numeric(content, path), False
    if not table:
        content = np.asarray(content, dtype=float)
        content = content.T if transpose else content
        if content.ndim != 2:
            raise SchemaError(f"expected a 2D (time, neuroid) array, got shape {content.shape}", source=str(path),
                              fix="save one 2D array per file (rows = volumes), or pass transpose=True")
    n = content.shape[1]
    ids = [str(c) for c in content.columns] if table and has_header else [str(i) for i in range(n)]
    if neuroid_ids is not None:
        if len(neuroid_ids) != n:
            raise SchemaError(f"{len(neuroid_ids)} neuroid_ids for {n} columns", source=str(path),
                              fix="pass one id per column of the file")
        ids = [str(i) for i in neuroid_ids]
    for wanted, label in ((columns, "columns"), (exclude, "exclude")):
        for name in wanted or ():
            if str(name) not in ids:
                raise UnknownNameError(str(name), ids, what=f"column (in {label})", source=str(path))
    keep = [ids.index(str(c)) for c in columns] if columns is not None else list(range(n))
    dropped = {str(e) for e in exclude or ()}
    keep = [i for i in keep if ids[i] not in dropped]
    values = _numeric(content.iloc[:, keep], path) if table else content[:, keep]
    return values, [ids[i] for i in keep]


#: Fewest volumes a time series may have (connectivity needs 3; nilearn's cleaning needs more).
MIN_VOLUMES = 3


def _check_length(values: np.ndarray, ids: Sequence[str], path: str) -> None:
    if values.shape[1] == 0:
        raise SchemaError("no column is left to load", source=path,
                          fix="check columns=/exclude=, and that the file has one column per region")
    if values.shape[0] < MIN_VOLUMES:
        raise DataError(f"the series has {values.shape[0]} volume(s) (rows) of {len(ids)} region(s); a time series "
                        f"needs at least {MIN_VOLUMES}", source=path,
                        fix="check that the file is complete; if it stores one region per row, pass transpose=True")


def _check_finite(values: np.ndarray, ids: Sequence[str], path: str, what: str = "row") -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataError(f"{int(bad.sum())} value(s) are NaN or inf, the first at {what} {r}, column {ids[c]!r}",
                        source=path, fix="fill or drop them in the file, or leave that column out with "
                        "exclude=[...]")


def timeseries_array(values: np.ndarray, ids: Sequence[str], tr: float, *, source: str,
                     entities: dict[str, Any] | None = None, times: np.ndarray | None = None,
                     attrs: dict[str, Any] | None = None, region: Sequence[str] | None = None) -> xr.DataArray:
    """Label a ``(time, neuroid)`` array with the data-model coords (internal to the loaders)."""
    times = np.arange(values.shape[0]) * tr if times is None else times
    coords: dict[str, Any] = {"time": np.asarray(times, dtype=float), "neuroid_id": ("neuroid", [str(i) for i in ids])}
    if region is not None:
        coords["region"] = ("neuroid", list(region))
    for key in BIDS_COORDS:
        if entities and entities.get(key) is not None:
            coords[key] = entities[key]
    array = xr.DataArray(values, dims=("time", "neuroid"), coords=coords, name="timeseries",
                         attrs={"repetition_time": float(tr), "source": source, **(attrs or {})})
    array["time"].attrs["units"] = "s"
    return array


def load_timeseries(
    path: PathLike | Sequence[PathLike],
    *,
    repetition_time: float | None = None,
    columns: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    neuroid_ids: Sequence[str] | None = None,
    variable: str | None = None,
    transpose: bool = False,
    stack_dim: str = "subject",
    errors: str = "raise",
    lazy: bool = False,
    progress: bool = True,
) -> xr.DataArray:
    """ROI time series from CSV/TSV/NPY/MAT files as a ``(time, neuroid)`` array.

    Parameters
    ----------
    path : path, glob pattern or sequence of paths
        One file gives ``(time, neuroid)``; several (or a pattern such as
        ``"sub-*_timeseries.tsv"``) give ``(stack_dim, time, neuroid)``, shorter
        series padded with NaN at the end.  Rows are volumes, columns regions.
    repetition_time : float, optional
        Seconds between volumes.  Default: ``RepetitionTime`` (or
        ``1/SamplingFrequency``) of a BIDS JSON sidecar; required otherwise.
    columns, exclude : sequence of str, optional
        Columns to keep / leave out (e.g. nuisance signals such as ``"WM"``).
    neuroid_ids : sequence of str, optional
        Region names for files without a header (NPY, MAT, header-less text).
    variable : str, optional
        The MAT variable to read when the file holds several arrays.
    transpose : bool
        The file stores ``(neuroid, time)``.
    stack_dim : {"subject", "session", "run", "task"}
        Dim for several files; labels from BIDS names (else the file name).
    errors : {"raise", "skip"}
        With ``"skip"``, unreadable files are logged and listed in ``attrs["skipped"]``.
    lazy : bool
        Several files as a dask-backed array: shapes are read from the headers
        now, values when computed (so file errors then surface at compute time).
    progress : bool
        Show a progress bar over files.

    Returns
    -------
    xarray.DataArray
        dims ``(time, neuroid)``; ``time`` in seconds from 0; ``neuroid_id`` =
        column names; scalar coords subject/session/task/run from BIDS names;
        attrs ``repetition_time``, ``source`` and provenance.

    Raises
    ------
    FileFormatError, UnknownNameError, SchemaError, DataError, ConfigError
        Unreadable file, a column that does not exist (with close matches),
        non-numeric columns, NaN values, unknown TR.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from neuroalign.loaders.timeseries_files import load_timeseries
    >>> path = os.path.join(tempfile.mkdtemp(), "sub-01_task-rest_timeseries.csv")
    >>> _ = open(path, "w").write("V1,V2\\n1,2\\n2,1\\n3,5\\n")
    >>> ts = load_timeseries(path, repetition_time=2.0)
    >>> ts.dims, ts.time.values.tolist(), str(ts.subject.values)
    (('time', 'neuroid'), [0.0, 2.0, 4.0], '01')
    """
    paths, single = _expand(path, "path")
    params = dict(repetition_time=repetition_time, columns=columns, exclude=exclude, variable=variable,
                  transpose=transpose, stack_dim=stack_dim, errors=errors, lazy=lazy)

    def read_one(p: Path) -> xr.DataArray:
        content, has_header = _read_values(p, variable=variable)
        values, ids = _select(content, has_header, p, columns=columns, exclude=exclude,
                              neuroid_ids=neuroid_ids, transpose=transpose)
        _check_length(values, ids, str(p))
        _check_finite(values, ids, str(p))
        tr = _repetition_time(p, repetition_time)
        if tr is None:
            raise ConfigError("the repetition time is unknown", source=str(p),
                              fix="pass repetition_time=<seconds> or add a BIDS JSON sidecar with RepetitionTime")
        out = timeseries_array(values, ids, tr, source=str(p), entities=parse_bids_entities(p))
        out.attrs.update(provenance(params, {"path": str(p)}))
        return validate(out, dims=("time", "neuroid"), name=str(p))

    if single:
        return read_one(paths[0])
    if lazy:
        return _lazy_stack(paths, read_one, stack_dim, errors, progress, params)
    arrays, skipped, kept = _collect(paths, read_one, [str(p) for p in paths], errors, progress)
    labels = _labels([a.coords[stack_dim].item() if stack_dim in a.coords else None for a in arrays],
                     [_stem(paths[i]) for i in kept], stack_dim)
    return stack_timeseries(arrays, dim=stack_dim, labels=labels, skipped=skipped)


def _lazy_stack(paths: list[Path], read_one: Callable[[Path], xr.DataArray], dim: str, errors: str,
                progress: bool, params: dict) -> xr.DataArray:
    """Read the first file to learn the layout, the others' lengths from their headers."""
    import dask
    import dask.array as da

    def peek(p: Path) -> tuple[int, Path]:
        return _peek_length(p), p

    specs, skipped, _ = _collect(paths, peek, [str(p) for p in paths], errors, progress)
    template = read_one(specs[0][1])
    n_max = max(n for n, _ in specs)
    columns = []
    for n, p in specs:
        block = da.from_delayed(dask.delayed(lambda q: read_one(q).values)(p), (n, template.sizes["neuroid"]),
                                dtype=float)
        if n < n_max:
            block = da.concatenate([block, da.full((n_max - n, template.sizes["neuroid"]), np.nan)], axis=0)
        columns.append(block)
    entities = [parse_bids_entities(p) for _, p in specs]
    labels = _labels([e.get(dim) for e in entities], [_stem(p) for _, p in specs], dim)
    tr = template.attrs["repetition_time"]
    out = xr.DataArray(da.stack(columns), dims=(dim, "time", "neuroid"),
                       coords={dim: labels, "time": np.arange(n_max) * tr,
                               "neuroid_id": ("neuroid", template["neuroid_id"].values)},
                       attrs={"repetition_time": tr, "skipped": skipped, "sources": [str(p) for _, p in specs],
                              **provenance(params, {}), "lazy": True}, name="timeseries")
    validate(out, dims=("time", "neuroid"), name="lazy timeseries", allow_nan=True)  # values stay unread
    return out


def _peek_length(path: Path) -> int:
    """Number of rows (volumes) of a file without reading its values."""
    if not path.is_file():
        raise FileFormatError("the file does not exist", source=str(path), fix="check the path")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return int(np.load(path, mmap_mode="r", allow_pickle=False).shape[0])
        if suffix in (".csv", ".tsv", ".txt"):
            with open(path, "rb") as handle:
                first = handle.readline().decode(errors="replace")
                rows = sum(1 for line in handle if line.strip())
            header = not all(_is_number(c.strip().strip('"')) for c in re.split(r"[,\t ]+", first.strip()))
            return rows + (0 if header else 1)
    except (OSError, ValueError) as exc:
        raise FileFormatError(f"cannot read the header ({exc})", source=str(path), fix="check the file") from exc
    return int(np.shape(_read_values(path)[0])[0])


def _labels(values: Sequence[Any], fallback: Sequence[str], dim: str) -> list[Any]:
    labels = [v if v is not None else f for v, f in zip(values, fallback)]
    if len(set(map(str, labels))) != len(labels):
        raise ConfigError(f"the {dim} labels {labels} are not unique, so the inputs cannot be stacked on {dim!r}",
                          source="stack_dim", fix="stack on another dim (e.g. stack_dim='run') or load groups "
                          "separately")
    return labels


def stack_timeseries(arrays: Sequence[xr.DataArray], *, dim: str = "subject", labels: Sequence[Any] | None = None,
                     skipped: Sequence[str] = ()) -> xr.DataArray:
    """Stack ``(time, neuroid)`` arrays on a new leading dim, padding with NaN.

    Arrays are aligned on their ``time`` coordinate: a shorter series gets NaN
    rows at the end and a scrubbed volume a NaN row in its place.  The labels
    come from ``labels``, else each array's scalar ``dim`` coordinate (from its
    BIDS name), else its position.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.loaders.timeseries_files import stack_timeseries, timeseries_array
    >>> a = timeseries_array(np.ones((3, 2)), ["x", "y"], 2.0, source="a")
    >>> b = timeseries_array(np.ones((2, 2)), ["x", "y"], 2.0, source="b")
    >>> s = stack_timeseries([a, b], labels=["01", "02"])
    >>> s.dims, int(s.isnull().sum())
    (('subject', 'time', 'neuroid'), 2)
    """
    if not arrays:
        raise DataError("nothing to stack", source="arrays", fix="pass at least one array")
    trs = {round(float(a.attrs.get("repetition_time", np.nan)), 6) for a in arrays}
    if len(trs) > 1:
        raise AlignmentError(f"the series have different repetition times {sorted(trs)} s", source=dim,
                             fix="resample them to one TR, or stack only series with the same TR")
    ids = [list(map(str, a["neuroid_id"].values)) for a in arrays]
    for a, i in zip(arrays, ids):
        if i != ids[0]:
            raise AlignmentError(f"{a.attrs.get('source', 'an array')} has neuroids {i[:5]}…, the first has "
                                 f"{ids[0][:5]}…", source=dim, fix="use the same atlas/columns for every input")
    if labels is None:
        labels = _labels([a.coords[dim].item() if dim in a.coords else None for a in arrays],
                         [str(i) for i in range(len(arrays))], dim)
    prepared = []
    for a, label in zip(arrays, labels):
        a = a.drop_vars([dim], errors="ignore")
        for key in BIDS_COORDS:
            if key != dim and key not in a.coords and any(key in b.coords for b in arrays):
                a = a.assign_coords({key: "n/a"})
        prepared.append(a.expand_dims({dim: [label]}).drop_attrs(deep=False))
    out = xr.concat(prepared, dim=dim, join="outer", fill_value=np.nan, coords="different", compat="equals")
    out = out.transpose(dim, "time", "neuroid")
    out.attrs = {"repetition_time": arrays[0].attrs.get("repetition_time"),
                 "sources": [a.attrs.get("source", "") for a in arrays], "skipped": list(skipped)}
    out.attrs.update(provenance({"stack_dim": dim}, {str(i): a for i, a in enumerate(arrays)}))
    if out.isnull().any():
        log.info("stacked %d series on %r; shorter or scrubbed ones are padded with NaN", len(arrays), dim)
    return validate(out, dims=(dim, "time", "neuroid"), name="stacked timeseries", allow_nan=True)
