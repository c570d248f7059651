"""Representational dissimilarity matrices (RDMs) as labelled arrays.

An RDM is stored in **vector form**: a DataArray whose last dim is ``pair``,
one entry per unordered pair of distinct stimuli, in the order of
``np.triu_indices(n, k=1)`` (row-major upper triangle), with coordinates
``stimulus_id_a`` and ``stimulus_id_b`` on ``pair``.  Leading dims (``subject``,
``layer``, ``split``, ``resample``…) hold batches of RDMs over the same
stimuli.  :func:`to_square` gives the ``(…, stimulus_id_a, stimulus_id_b)``
square form and :func:`to_vector` goes back.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import xarray as xr

from ..data.align import average_repetitions
from ..data.schema import NEUROID, PRESENTATION, STIMULUS_ID, label_index, validate
from ..errors import AlignmentError, DataError, SchemaError, UnknownNameError

__all__ = ["compute_rdm", "to_square", "to_vector", "rdm_stimulus_ids", "RDM_METHODS", "PAIR"]

PAIR = "pair"
ID_A, ID_B = "stimulus_id_a", "stimulus_id_b"


def _correlation_distance(patterns: np.ndarray) -> np.ndarray:
    """1 − Pearson r between rows, for patterns of shape (..., stimulus, neuroid)."""
    centered = patterns - patterns.mean(axis=-1, keepdims=True)
    norms = np.linalg.norm(centered, axis=-1, keepdims=True)
    if np.any(norms == 0):
        raise DataError(
            "a stimulus evokes the same value in every neuroid, so its correlation distance is undefined",
            source="data", fix="drop constant patterns or use method='euclidean'",
        )
    unit = centered / norms
    return 1.0 - unit @ np.swapaxes(unit, -1, -2)


#: Registry of RDM methods: name → function of (..., stimulus, neuroid) patterns → (..., stimulus, stimulus).
RDM_METHODS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "correlation": _correlation_distance,
}


def compute_rdm(data: xr.DataArray, method: str = "correlation", *, groupby: str | None = None) -> xr.DataArray:
    """The RDM of a ``(presentation, neuroid)`` array, in vector form.

    Presentations sharing a ``stimulus_id`` are averaged first; stimuli keep
    the order of their first presentation.  Extra dims (e.g. ``split``) are
    batch dims of the result.

    Parameters
    ----------
    data : xarray.DataArray
        Dims ``presentation`` and ``neuroid``, possibly more.
    method : str
        One of :data:`RDM_METHODS` (``"correlation"``: 1 − Pearson r).
    groupby : str, optional
        A ``neuroid`` coordinate (e.g. ``"subject"``): one RDM per group, along
        a new dim of that name.

    Returns
    -------
    xarray.DataArray
        Dims ``(*batch, pair)``; attrs ``method`` and ``n_stimuli``.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.compare import compute_rdm, to_square
    >>> x = create_assembly(np.random.default_rng(0).normal(size=(4, 10)), stimulus_id=list("abcd"))
    >>> rdm = compute_rdm(x)
    >>> rdm.sizes["pair"], to_square(rdm).shape
    (6, (4, 4))
    """
    if method not in RDM_METHODS:
        raise UnknownNameError(method, RDM_METHODS, what="RDM method", source="method")
    validate(data, dims=(PRESENTATION, NEUROID), name="data")
    if groupby is not None:
        groups = []
        labels = []
        for label, group in data.groupby(groupby):
            groups.append(compute_rdm(group, method))
            labels.append(label)
        return xr.concat(groups, dim=label_index(labels, groupby))
    data = average_repetitions(data, name="data")
    n = data.sizes[PRESENTATION]
    if n < 3:
        raise DataError(f"an RDM needs at least 3 stimuli, got {n}", source="data",
                        fix="pass more stimuli")
    batch = [d for d in data.dims if d not in (PRESENTATION, NEUROID)]
    patterns = data.transpose(*batch, PRESENTATION, NEUROID).values.astype(float)
    square = RDM_METHODS[method](patterns)
    rows, cols = np.triu_indices(n, k=1)
    ids = data[STIMULUS_ID].values
    coords = {d: data[d] for d in batch if d in data.coords}
    coords[ID_A] = (PAIR, ids[rows])
    coords[ID_B] = (PAIR, ids[cols])
    return xr.DataArray(square[..., rows, cols], dims=(*batch, PAIR), coords=coords,
                        attrs={"method": method, "n_stimuli": n})


def rdm_stimulus_ids(rdm: xr.DataArray) -> np.ndarray:
    """The stimulus order of a vector-form RDM, read off its pair coordinates."""
    if PAIR not in rdm.dims or ID_A not in rdm.coords:
        raise SchemaError("not a vector-form RDM (no 'pair' dim with stimulus_id_a/b)", source="rdm",
                          fix="build RDMs with compute_rdm or to_vector")
    n_pairs = rdm.sizes[PAIR]
    n = int(round((1 + np.sqrt(1 + 8 * n_pairs)) / 2))
    if n * (n - 1) // 2 != n_pairs:
        raise SchemaError(f"{n_pairs} pairs is not n(n-1)/2 for any n", source="rdm",
                          fix="pass a complete upper triangle")
    return np.concatenate([rdm[ID_A].values[:1], rdm[ID_B].values[: n - 1]])


def to_square(rdm: xr.DataArray) -> xr.DataArray:
    """Vector form → square form ``(*batch, stimulus_id_a, stimulus_id_b)``, zero diagonal."""
    ids = rdm_stimulus_ids(rdm)
    n = len(ids)
    batch = [d for d in rdm.dims if d != PAIR]
    vector = rdm.transpose(*batch, PAIR).values
    square = np.zeros(vector.shape[:-1] + (n, n))
    rows, cols = np.triu_indices(n, k=1)
    square[..., rows, cols] = vector
    square[..., cols, rows] = vector
    coords = {d: rdm[d] for d in batch if d in rdm.coords}
    coords.update({ID_A: ids, ID_B: ids})
    return xr.DataArray(square, dims=(*batch, ID_A, ID_B), coords=coords, attrs=dict(rdm.attrs))


def to_vector(square: xr.DataArray, stimulus_ids: np.ndarray | None = None) -> xr.DataArray:
    """Square form (labelled or a plain ``(…, n, n)`` array) → vector form.

    The square must be symmetric; only its upper triangle is read.
    """
    if isinstance(square, xr.DataArray) and ID_A in square.dims:
        batch = [d for d in square.dims if d not in (ID_A, ID_B)]
        values = square.transpose(*batch, ID_A, ID_B).values
        ids = square[ID_A].values
        coords = {d: square[d] for d in batch if d in square.coords}
        attrs = dict(square.attrs)
        if not np.array_equal(ids, square[ID_B].values):
            raise AlignmentError("rows and columns list different stimuli", source="rdm",
                                 fix="order both axes of the square RDM the same way")
    else:
        values = np.asarray(square, dtype=float)
        batch = [f"rdm_{i}" for i in range(values.ndim - 2)] if values.ndim > 2 else []
        ids = np.arange(values.shape[-1]).astype(str) if stimulus_ids is None else np.asarray(stimulus_ids)
        coords, attrs = {}, {}
    n = values.shape[-1]
    if values.shape[-2] != n or len(ids) != n:
        raise SchemaError(f"a square RDM needs shape (..., n, n) with n ids, got {values.shape}", source="rdm",
                          fix="pass square matrices and one stimulus id per row")
    if not np.allclose(values, np.swapaxes(values, -1, -2), equal_nan=True):
        raise DataError("the RDM is not symmetric", source="rdm", fix="symmetrise it, e.g. (D + D.T) / 2")
    rows, cols = np.triu_indices(n, k=1)
    coords[ID_A] = (PAIR, ids[rows])
    coords[ID_B] = (PAIR, ids[cols])
    return xr.DataArray(values[..., rows, cols], dims=(*batch, PAIR), coords=coords, attrs=attrs)
