"""Square connectivity matrices and their upper-triangle ``edge`` form, back and forth."""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from ..data import validate
from ..errors import ConfigError, SchemaError

__all__ = ["vectorize_connectivity", "square_connectivity"]

#: Kinds whose diagonal is 1 by definition (it can be restored when squaring edges).
CORRELATION_KINDS = ("correlation", "partial correlation")


def vectorize_connectivity(matrix: xr.DataArray, *, diagonal: bool = False) -> xr.DataArray:
    """The upper triangle of square connectivity as an ``edge`` dim.

    Edges follow ``np.triu_indices(n, k)`` (row-major), ``k = 0`` when
    ``diagonal`` is True and ``k = 1`` otherwise; coords ``neuroid_id_a`` and
    ``neuroid_id_b`` name the two ends.  ``attrs["diagonal"]`` records the choice.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.loaders.functional_connectivity import vectorize_connectivity
    >>> m = xr.DataArray(np.eye(3), dims=("neuroid_a", "neuroid_b"),
    ...                  coords={"neuroid_a": list("abc"), "neuroid_b": list("abc")})
    >>> vectorize_connectivity(m).neuroid_id_b.values.tolist()
    ['b', 'c', 'c']
    """
    validate(matrix, dims=("neuroid_a", "neuroid_b"), name="matrix", allow_nan=True)
    a, b = (np.asarray(matrix[d].values) for d in ("neuroid_a", "neuroid_b"))
    if a.shape != b.shape or np.any(a != b):
        raise SchemaError("neuroid_a and neuroid_b differ; the matrix is not square over one set of neuroids",
                          source="matrix", fix="reindex both dims on the same neuroid ids")
    rows, cols = np.triu_indices(a.size, 0 if diagonal else 1)
    lead = [d for d in matrix.dims if d not in ("neuroid_a", "neuroid_b")]
    m = matrix.transpose(*lead, "neuroid_a", "neuroid_b")
    coords = {k: c.variable for k, c in m.coords.items() if set(c.dims) <= set(lead)}
    coords.update(neuroid_id_a=("edge", a[rows]), neuroid_id_b=("edge", b[cols]))
    for side, index in (("a", rows), ("b", cols)):
        if f"region_{side}" in m.coords:
            coords[f"region_{side}"] = ("edge", np.asarray(m[f"region_{side}"].values)[index])
    out = xr.DataArray(np.asarray(m.values)[..., rows, cols], dims=[*lead, "edge"], coords=coords,
                       attrs={**matrix.attrs, "diagonal": bool(diagonal)}, name=matrix.name)
    return out


def square_connectivity(edges: xr.DataArray, *, diagonal_value: float | None = None) -> xr.DataArray:
    """Square symmetric matrices back from :func:`vectorize_connectivity`'s ``edge`` form.

    When the diagonal was not kept, it is filled with ``diagonal_value``, which
    defaults to 1 for correlations (0 with Fisher z) and must be given otherwise.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.loaders.functional_connectivity import square_connectivity, vectorize_connectivity
    >>> m = xr.DataArray([[1, .5], [.5, 1]], dims=("neuroid_a", "neuroid_b"),
    ...                  coords={"neuroid_a": ["x", "y"], "neuroid_b": ["x", "y"]}, attrs={"kind": "correlation"})
    >>> square_connectivity(vectorize_connectivity(m)).values.tolist()
    [[1.0, 0.5], [0.5, 1.0]]
    """
    validate(edges, dims=("edge",), name="edges", allow_nan=True)
    for coord in ("neuroid_id_a", "neuroid_id_b"):
        if coord not in edges.coords:
            raise SchemaError(f"coordinate {coord!r} is missing on 'edge'", source="edges",
                              fix="make edges with vectorize_connectivity")
    diagonal = bool(edges.attrs.get("diagonal", False))
    m = edges.sizes["edge"]
    n = int(round((math.sqrt(8 * m + 1) + (-1 if diagonal else 1)) / 2))
    rows, cols = np.triu_indices(n, 0 if diagonal else 1)
    a, b = np.asarray(edges["neuroid_id_a"].values), np.asarray(edges["neuroid_id_b"].values)
    if rows.size != m:
        raise SchemaError(f"{m} edges are not the upper triangle of any square matrix "
                          f"(diagonal={diagonal})", source="edges", fix="set attrs['diagonal'] correctly")
    ids = np.empty(n, dtype=a.dtype if a.dtype.kind not in "US" else object)
    ids[rows], ids[cols] = a, b
    if np.any(ids[rows] != a) or np.any(ids[cols] != b):
        raise SchemaError("the edge coords are not in np.triu_indices order", source="edges",
                          fix="make edges with vectorize_connectivity")
    if not diagonal and diagonal_value is None:
        kind = edges.attrs.get("kind")
        if kind not in CORRELATION_KINDS:
            raise ConfigError(f"the diagonal was not kept and kind={kind!r} does not define it",
                              source="diagonal_value", fix="pass diagonal_value=..., or vectorise with diagonal=True")
        diagonal_value = 0.0 if edges.attrs.get("fisher_z") else 1.0
    lead = [d for d in edges.dims if d != "edge"]
    e = edges.transpose(*lead, "edge")
    values = np.empty((*e.shape[:-1], n, n))
    values[..., rows, cols] = e.values
    values[..., cols, rows] = e.values
    if not diagonal:
        values[..., np.arange(n), np.arange(n)] = diagonal_value
    ids = ids.astype(a.dtype) if a.dtype.kind in "US" else ids
    coords = {k: c.variable for k, c in e.coords.items() if set(c.dims) <= set(lead)}
    coords.update(neuroid_a=ids, neuroid_b=ids)
    attrs = {k: v for k, v in edges.attrs.items() if k != "diagonal"}
    return xr.DataArray(values, dims=[*lead, "neuroid_a", "neuroid_b"], coords=coords, attrs=attrs, name=edges.name)
