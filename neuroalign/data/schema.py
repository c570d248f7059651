"""The canonical dimensions and coordinates of every neuroalign array.

Every loader, extractor and comparison exchanges :class:`xarray.DataArray`
objects that follow this schema (documented in ``docs/data-model.md``):

``presentation``
    one row per stimulus presentation; coordinate ``stimulus_id`` is required,
    ``repetition``, ``session``, ``run``, ``subject``, ``trial`` and any stimulus
    metadata are optional.
``neuroid``
    one column per recorded or model unit; coordinate ``neuroid_id`` (unique) is
    required, ``region``, ``subject``, ``model``, ``layer`` are optional.
``time_bin``
    binned responses; coordinates ``time_bin_start`` and ``time_bin_end`` in
    seconds are required.
``time``
    continuous signals; the dimension coordinate ``time`` (seconds, increasing).

Indexes are plain (never a ``pandas.MultiIndex``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import DataError, SchemaError

log = logging.getLogger(__name__)

PRESENTATION = "presentation"
NEUROID = "neuroid"
TIME_BIN = "time_bin"
TIME = "time"

STIMULUS_ID = "stimulus_id"
NEUROID_ID = "neuroid_id"
TIME_BIN_START = "time_bin_start"
TIME_BIN_END = "time_bin_end"

#: Coordinates a dimension must carry, and the fix to suggest when one is missing.
REQUIRED_COORDS: dict[str, tuple[str, ...]] = {
    PRESENTATION: (STIMULUS_ID,),
    NEUROID: (NEUROID_ID,),
    TIME_BIN: (TIME_BIN_START, TIME_BIN_END),
    TIME: (TIME,),
}

#: Optional coordinates with a documented meaning.
OPTIONAL_COORDS: dict[str, tuple[str, ...]] = {
    PRESENTATION: ("repetition", "session", "run", "subject", "trial"),
    NEUROID: ("region", "subject", "model", "layer"),
}

__all__ = [
    "PRESENTATION", "NEUROID", "TIME_BIN", "TIME", "STIMULUS_ID", "NEUROID_ID",
    "TIME_BIN_START", "TIME_BIN_END", "REQUIRED_COORDS", "OPTIONAL_COORDS",
    "validate", "validate_dataset", "create_assembly", "label_index",
]


def label_index(labels: Iterable[Any], name: str) -> pd.Index:
    """A plain index of labels for a new dim (strings stay ``object``, as xarray expects).

    pandas ≥ 3 infers a ``str`` dtype for strings, which xarray turns into
    numpy's ``StringDType``; that dtype breaks netCDF writing and ``idxmax``.
    """
    array = np.asarray(list(labels))
    return pd.Index(array, name=name, dtype=object if array.dtype.kind in "UOS" else array.dtype)


def validate(
    array: Any,
    *,
    dims: Sequence[str] | None = (PRESENTATION, NEUROID),
    name: str = "array",
    allow_nan: bool = False,
    check_values: bool = True,
) -> xr.DataArray:
    """Check that ``array`` follows the data model, and return it unchanged.

    Parameters
    ----------
    array : xarray.DataArray
        The array to check (for a Dataset, see :func:`validate_dataset`).
    dims : sequence of str or None
        Dimensions that must be present.  ``None`` checks only the dimensions
        the array has.  Every canonical dimension present (``presentation``,
        ``neuroid``, ``time_bin``, ``time``) is checked for its coordinates.
    name : str
        How the array is named in error messages (a file name or an argument).
    allow_nan : bool
        Accept NaN values (never inf).  Off by default: a NaN would turn into a
        NaN score downstream.
    check_values : bool
        Scan the values for NaN/inf.  Pass ``False`` only where the caller has
        already checked them (e.g. batch by batch while writing them).  Lazy
        (dask) values are never scanned: that would read the whole array.

    Returns
    -------
    xarray.DataArray
        The same object, for chaining.

    Raises
    ------
    SchemaError
        Not a DataArray, a required dimension or coordinate is missing, a
        coordinate lies on the wrong dimension, ``neuroid_id`` has duplicates,
        a MultiIndex is used, the dtype is not numeric, or time bins are empty.
    DataError
        The values contain NaN or inf.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly, validate
    >>> a = create_assembly(np.zeros((3, 2)), stimulus_id=["a", "b", "c"])
    >>> validate(a).dims
    ('presentation', 'neuroid')
    """
    if not isinstance(array, xr.DataArray):
        fix = ("select one variable, e.g. dataset['correct'], or check the whole Dataset with "
               "neuroalign.data.validate_dataset" if isinstance(array, xr.Dataset)
               else "wrap plain arrays with neuroalign.data.create_assembly(values, stimulus_id=...)")
        raise SchemaError(f"expected an xarray.DataArray, got {type(array).__name__}", source=name, fix=fix)
    _check_structure(array, dims, name)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise SchemaError(
            f"values have non-numeric dtype {array.dtype}",
            source=name,
            fix="convert the values to float, e.g. array.astype(float)",
        )
    if np.issubdtype(array.dtype, np.complexfloating):
        raise SchemaError(f"values are complex ({array.dtype})", source=name,
                          fix="take the real part or the magnitude first")
    if check_values:
        _check_finite(array, name, allow_nan)
    return array


def validate_dataset(
    dataset: Any,
    *,
    dims: Sequence[str] | None = None,
    name: str = "dataset",
    allow_nan: bool = True,
    check_values: bool = True,
) -> xr.Dataset:
    """Check a Dataset (e.g. a trial table) against the data model, and return it unchanged.

    The dims and coordinates follow the rules of :func:`validate`; the
    variables may hold numbers, booleans, dates or text (an ``object``
    variable only strings), and each float variable is scanned for inf (and
    for NaN unless ``allow_nan``; missing responses are NaN in trial tables,
    so NaN is allowed by default).

    Raises
    ------
    SchemaError
        Not a Dataset, a rule of :func:`validate` is broken, or a variable
        has an unsupported dtype or mixes text with other values.
    DataError
        A float variable holds inf (or NaN when ``allow_nan=False``).

    Examples
    --------
    >>> import xarray as xr
    >>> from neuroalign.data import validate_dataset
    >>> trials = xr.Dataset({"correct": ("trial", [1.0, float("nan")]), "response": ("trial", ["left", "n/a"])})
    >>> validate_dataset(trials, dims=["trial"]) is trials
    True
    """
    if not isinstance(dataset, xr.Dataset):
        raise SchemaError(f"expected an xarray.Dataset, got {type(dataset).__name__}", source=name,
                          fix="check a DataArray with neuroalign.data.validate")
    _check_structure(dataset, dims, name)
    for key, variable in dataset.data_vars.items():
        where = f"{name}:{key}"
        if variable.dtype == object:
            kinds = sorted({type(v).__name__ for v in variable.values.ravel() if not isinstance(v, str)})
            if kinds:
                raise SchemaError(
                    f"variable {key!r} mixes text with {', '.join(kinds)} values",
                    source=where,
                    fix="give the variable one type: text (mark missing entries with a string such as 'n/a') "
                    "or numbers (NaN for missing)",
                )
        elif variable.dtype.kind not in "biufUSmM":
            raise SchemaError(f"variable {key!r} has unsupported dtype {variable.dtype}", source=where,
                              fix="store numbers, booleans, text or dates")
        elif variable.dtype.kind == "f" and check_values:
            _check_finite(variable, where, allow_nan)
    return dataset


def _check_structure(array: xr.DataArray | xr.Dataset, dims: Sequence[str] | None, name: str) -> None:
    """The rules shared by DataArrays and Datasets: dims, plain indexes, canonical coordinates."""
    for dim in dims or ():
        if dim not in array.dims:
            raise SchemaError(
                f"dimension {dim!r} is missing (the array has dims {tuple(array.dims)})",
                source=name,
                fix=f"rename or add the dimension, e.g. array.rename({{'dim_0': {dim!r}}})",
            )
    for dim, index in array.indexes.items():
        if isinstance(index, pd.MultiIndex):
            raise SchemaError(
                f"dimension {dim!r} uses a MultiIndex; the data model uses plain indexes",
                source=name,
                fix=f"call array.reset_index({dim!r}) to turn its levels into plain coordinates",
            )
    for dim, required in REQUIRED_COORDS.items():
        if dim in array.dims:
            for coord in required:
                _check_coord(array, dim, coord, name)
    if NEUROID in array.dims:
        _check_unique(array, NEUROID, NEUROID_ID, name)
    if TIME_BIN in array.dims:
        start = np.asarray(array[TIME_BIN_START].values, dtype=float)
        end = np.asarray(array[TIME_BIN_END].values, dtype=float)
        if np.any(end <= start):
            raise SchemaError(
                "some time bins end before they start",
                source=name,
                fix="check that time_bin_end > time_bin_start for every bin (seconds)",
            )
    if TIME in array.dims:
        t = np.asarray(array[TIME].values)
        if t.size > 1 and np.issubdtype(t.dtype, np.number) and np.any(np.diff(t) <= 0):
            raise SchemaError("the time coordinate is not strictly increasing", source=name,
                              fix="sort by time with array.sortby('time') and drop duplicate samples")


def _check_coord(array: xr.DataArray, dim: str, coord: str, name: str) -> None:
    if coord not in array.coords:
        raise SchemaError(
            f"coordinate {coord!r} is missing on dimension {dim!r}",
            source=name,
            fix=f"add it with array.assign_coords({coord}=({dim!r}, values))",
        )
    if array[coord].dims != (dim,):
        raise SchemaError(
            f"coordinate {coord!r} lies on dims {array[coord].dims}, expected ({dim!r},)",
            source=name,
            fix=f"attach {coord!r} to the {dim!r} dimension only",
        )
    values = array[coord].values
    if values.dtype.kind in "fc" and np.isnan(values).any():
        raise SchemaError(f"coordinate {coord!r} has missing values", source=name,
                          fix=f"give every {dim} a {coord}")
    if values.dtype == object and any(v is None for v in values):
        raise SchemaError(f"coordinate {coord!r} has missing values", source=name,
                          fix=f"give every {dim} a {coord}")


def _check_unique(array: xr.DataArray, dim: str, coord: str, name: str) -> None:
    values = pd.Index(array[coord].values)
    if not values.is_unique:
        duplicated = values[values.duplicated()].unique()[:5].tolist()
        raise SchemaError(
            f"{coord} has duplicates along {dim!r}, e.g. {duplicated}",
            source=name,
            fix=f"make {coord} unique, e.g. prefix it with the subject or layer",
        )


def _check_finite(array: xr.DataArray, name: str, allow_nan: bool) -> None:
    if array.dtype == bool or np.issubdtype(array.dtype, np.integer):
        return
    if array.chunks is not None:  # lazy (dask): reading every value would defeat lazy loading
        log.debug("%s: values are lazy; NaN/inf are checked when they are computed", name)
        return
    values = array.data
    bad = ~np.isfinite(values)
    if allow_nan:
        bad &= ~np.isnan(values)
    count = int(np.count_nonzero(bad))
    if count:
        where = np.unravel_index(int(np.flatnonzero(bad)[0]), values.shape)
        first = ", ".join(f"{d}={i}" for d, i in zip(array.dims, where))
        kind = "NaN or inf" if not allow_nan else "inf"
        raise DataError(
            f"{count} value(s) are {kind}, the first at {first}",
            source=name,
            fix="drop or impute them before scoring (e.g. array.dropna('neuroid')), "
            "or pass allow_nan=True where NaN is meaningful",
        )


def create_assembly(
    values: Any,
    *,
    stimulus_id: Iterable[Any] | None = None,
    neuroid_id: Iterable[Any] | None = None,
    dims: Sequence[str] = (PRESENTATION, NEUROID),
    presentation: Mapping[str, Iterable[Any]] | None = None,
    neuroid: Mapping[str, Iterable[Any]] | None = None,
    time_bins: Sequence[tuple[float, float]] | None = None,
    attrs: Mapping[str, Any] | None = None,
    name: str | None = None,
) -> xr.DataArray:
    """Build a validated data-model array from a plain array and its labels.

    Parameters
    ----------
    values : array_like
        Numeric values with one axis per entry of ``dims``.
    stimulus_id : iterable, optional
        One id per presentation (required when ``dims`` has ``presentation``).
    neuroid_id : iterable, optional
        One unique id per neuroid; defaults to ``"0", "1", …``.
    dims : sequence of str
        Dimension names, in the order of the axes of ``values``.
    presentation, neuroid : mapping, optional
        Extra coordinates along these dimensions (``{"subject": [...]}``).
    time_bins : sequence of (start, end), optional
        Bin edges in seconds, when ``dims`` has ``time_bin``.
    attrs : mapping, optional
        Attributes, e.g. provenance.
    name : str, optional
        Name of the array.

    Returns
    -------
    xarray.DataArray

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> a = create_assembly(np.ones((2, 3)), stimulus_id=["cat", "dog"],
    ...                     neuroid={"region": ["IT"] * 3})
    >>> a.neuroid_id.values.tolist()
    ['0', '1', '2']
    """
    values = np.asarray(values)
    dims = tuple(dims)
    if values.ndim != len(dims):
        raise SchemaError(
            f"values have {values.ndim} axes but {len(dims)} dims were named {dims}",
            source="values",
            fix="pass one dimension name per axis",
        )
    sizes = dict(zip(dims, values.shape))
    coords: dict[str, tuple[str, Any]] = {}
    if PRESENTATION in dims:
        if stimulus_id is None:
            raise SchemaError("stimulus_id is required for the 'presentation' dimension",
                              source="stimulus_id", fix="pass stimulus_id=[...] (one per row)")
        coords[STIMULUS_ID] = (PRESENTATION, _sized(stimulus_id, sizes[PRESENTATION], STIMULUS_ID))
        for key, coord in (presentation or {}).items():
            coords[key] = (PRESENTATION, _sized(coord, sizes[PRESENTATION], key))
    if NEUROID in dims:
        ids = neuroid_id if neuroid_id is not None else [str(i) for i in range(sizes[NEUROID])]
        coords[NEUROID_ID] = (NEUROID, _sized(ids, sizes[NEUROID], NEUROID_ID))
        for key, coord in (neuroid or {}).items():
            coords[key] = (NEUROID, _sized(coord, sizes[NEUROID], key))
    if TIME_BIN in dims:
        if time_bins is None:
            raise SchemaError("time_bins is required for the 'time_bin' dimension",
                              source="time_bins", fix="pass time_bins=[(start, end), ...] in seconds")
        edges = np.asarray(time_bins, dtype=float).reshape(-1, 2)
        coords[TIME_BIN_START] = (TIME_BIN, _sized(edges[:, 0], sizes[TIME_BIN], TIME_BIN_START))
        coords[TIME_BIN_END] = (TIME_BIN, _sized(edges[:, 1], sizes[TIME_BIN], TIME_BIN_END))
    array = xr.DataArray(values, dims=dims, coords=coords, attrs=dict(attrs or {}), name=name)
    return validate(array, dims=dims, name=name or "values")


def _sized(values: Iterable[Any], size: int, name: str) -> np.ndarray:
    array = np.asarray(list(values) if not isinstance(values, np.ndarray) else values)
    if array.shape != (size,):
        raise SchemaError(f"{name} has {array.size} entries, expected {size}", source=name,
                          fix="pass exactly one label per element of that dimension")
    return array
