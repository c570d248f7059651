"""Precomputed connectivity matrices from CSV/TSV/NPY/MAT files → ``(neuroid_a, neuroid_b)`` arrays.

For matrices computed elsewhere (nilearn, CONN, a lab pipeline).  Files are
found, named and stacked with the machinery of :mod:`.timeseries_files` (BIDS
names → coords, NaN padding, ``errors="skip"``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..data import provenance, validate
from ..errors import AlignmentError, DataError, SchemaError
from .bids import parse_bids_entities
from .timeseries_files import BIDS_COORDS, PathLike, _check_finite, _collect, _expand, _labels, _numeric, \
    _read_values, _stem

__all__ = ["load_connectivity"]

log = logging.getLogger(__name__)


def load_connectivity(
    path: PathLike | Sequence[PathLike],
    *,
    kind: str = "unknown",
    fisher_z: bool = False,
    neuroid_ids: Sequence[str] | None = None,
    variable: str | None = None,
    stack_dim: str = "subject",
    errors: str = "raise",
    progress: bool = True,
) -> xr.DataArray:
    """Precomputed connectivity matrices (CSV/TSV/NPY/MAT) as ``(neuroid_a, neuroid_b)``.

    Parameters
    ----------
    path : path, glob pattern or sequence of paths
        Square matrices (a text table with a header row and optionally a first
        column of the same labels), an upper-triangle vector in
        ``np.triu_indices`` order (with or without the diagonal) or, for NPY,
        a 3D stack ``(subject, n, n)``.  Several files stack on ``stack_dim``.
    kind, fisher_z : str, bool
        Recorded in attrs (e.g. ``kind="correlation"``).
    neuroid_ids : sequence of str, optional
        Region names when the file has none.
    variable : str, optional
        The MAT variable to read.
    stack_dim, errors, progress
        As in :func:`load_timeseries`.

    Returns
    -------
    xarray.DataArray
        dims ``([stack_dim,] neuroid_a, neuroid_b)`` with index coords the ids.

    Raises
    ------
    FileFormatError, SchemaError, DataError
        Unreadable, not square, not symmetric, NaN values.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from neuroalign.loaders import load_connectivity
    >>> path = os.path.join(tempfile.mkdtemp(), "sub-02_fc.npy")
    >>> np.save(path, np.array([[1.0, 0.3], [0.3, 1.0]]))
    >>> fc = load_connectivity(path, neuroid_ids=["A", "B"], kind="correlation")
    >>> fc.dims, str(fc.subject.values)
    (('neuroid_a', 'neuroid_b'), '02')
    """
    paths, single = _expand(path, "path")
    params = dict(kind=kind, fisher_z=fisher_z, variable=variable, stack_dim=stack_dim)

    def read_one(p: Path) -> xr.DataArray:
        content, has_header = _read_values(p, variable=variable)
        ids = None
        if isinstance(content, pd.DataFrame):
            first = content.columns[0]
            if not pd.api.types.is_numeric_dtype(content[first]):  # a first column of row labels
                content = content.set_index(first)
                if [str(i) for i in content.index] != [str(c) for c in content.columns]:
                    raise SchemaError("the row labels differ from the column labels", source=str(p),
                                      fix="write the matrix with the same labels on rows and columns")
            ids = [str(c) for c in content.columns] if has_header else None
            content = _numeric(content, p)
        values = _square(np.asarray(content, dtype=float), p)
        n = values.shape[-1]
        ids = [str(i) for i in neuroid_ids] if neuroid_ids is not None else ids or [str(i) for i in range(n)]
        if len(ids) != n:
            raise SchemaError(f"{len(ids)} neuroid ids for a {n} x {n} matrix", source=str(p),
                              fix="pass one id per row of the matrix")
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise SchemaError(f"the neuroid ids {repeated[:5]} appear more than once", source=str(p),
                              fix="give every region its own id")
        flat = values.reshape(-1, n, n)
        _check_finite(flat.reshape(-1, n), ids, str(p), what="matrix row")
        if not np.allclose(flat, np.swapaxes(flat, -1, -2), rtol=1e-5, atol=1e-8):
            raise DataError("the matrix is not symmetric", source=str(p),
                            fix="symmetrise it ((m + m.T) / 2) if it should be, or check the file")
        dims = ("neuroid_a", "neuroid_b") if values.ndim == 2 else (stack_dim, "neuroid_a", "neuroid_b")
        coords: dict[str, Any] = {"neuroid_a": ids, "neuroid_b": ids}
        if values.ndim == 3:
            coords[stack_dim] = [str(i) for i in range(values.shape[0])]
        for key, value in parse_bids_entities(p).items():
            if key in BIDS_COORDS and key not in coords:
                coords[key] = value
        out = xr.DataArray(values, dims=dims, coords=coords, name="connectivity",
                           attrs={"kind": kind, "fisher_z": bool(fisher_z), "source": str(p),
                                  **provenance(params, {"path": str(p)})})
        return validate(out, dims=("neuroid_a", "neuroid_b"), name=str(p))

    if single:
        return read_one(paths[0])
    arrays, skipped, _ = _collect(paths, read_one, [str(p) for p in paths], errors, progress)
    first = list(arrays[0]["neuroid_a"].values)
    for a in arrays:
        if list(a["neuroid_a"].values) != first:
            raise AlignmentError("the matrices have different neuroids", source=a.attrs["source"],
                                 fix="use matrices of the same atlas")
    labels = _labels([a.coords[stack_dim].item() if stack_dim in a.coords else None for a in arrays],
                     [_stem(Path(a.attrs["source"])) for a in arrays], stack_dim)
    out = xr.concat([a.drop_vars(stack_dim, errors="ignore").drop_attrs(deep=False) for a in arrays],
                    dim=xr.DataArray(labels, dims=stack_dim, name=stack_dim), coords="different", compat="equals")
    out.attrs = {"kind": kind, "fisher_z": bool(fisher_z), "sources": [a.attrs["source"] for a in arrays],
                 "skipped": skipped, **provenance(params, {a.attrs["source"]: a.attrs["source"] for a in arrays})}
    return validate(out, dims=(stack_dim, "neuroid_a", "neuroid_b"), name="connectivity")


def _square(values: np.ndarray, path: Path) -> np.ndarray:
    if values.size == 0:
        raise SchemaError(f"the file holds no values (shape {values.shape})", source=str(path),
                          fix="save the n x n matrix (n >= 1)")
    if values.ndim == 2 and 1 in values.shape:
        values = values.ravel()
    if values.ndim == 1:  # an upper-triangle vector
        m = values.size
        for k in (1, 0):
            n = int(round((np.sqrt(8 * m + 1) + (1 if k else -1)) / 2))
            rows, cols = np.triu_indices(n, k)
            if rows.size == m:
                square = np.empty((n, n))
                square[rows, cols] = values
                square[cols, rows] = values
                if k:
                    np.fill_diagonal(square, 1.0)
                    log.info("%s: diagonal of the vector form set to 1", path)
                return square
        raise SchemaError(f"a vector of {m} values is not the upper triangle of a square matrix", source=str(path),
                          fix="save the square matrix, or the np.triu_indices(n, 1) upper triangle")
    if values.ndim not in (2, 3) or values.shape[-1] != values.shape[-2]:
        raise SchemaError(f"expected a square matrix, got shape {values.shape}", source=str(path),
                          fix="save an n x n matrix (rows and columns are regions)")
    return values
