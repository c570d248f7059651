"""Correlations between every unit of one layer and every unit of another, over the same stimuli.

The first step of convergent-learning analyses (Li et al. 2015, "Convergent learning: do different neural
networks learn the same representations?"): the Pearson correlation of unit ``i`` of network A with unit
``j`` of network B across a shared stimulus set.  Both layers are aligned on ``stimulus_id``
(:func:`neuroalign.data.align`), centred with float64 means, and the whole ``(n_a, n_b)`` matrix comes from
one product of the centred activations, accumulated over blocks of stimuli so that only one block of each
layer is held in float64 at a time.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import xarray as xr

from ...data.align import align
from ...data.provenance import provenance
from ...data.schema import NEUROID, NEUROID_ID, PRESENTATION, validate
from ...errors import ConfigError, DataError
from ...fitting.base import check_int

__all__ = ["unit_correlation", "NEUROID_A", "NEUROID_B"]

#: The dims of a unit correlation matrix: the units of layer A (rows) and of layer B (columns).
NEUROID_A, NEUROID_B = "neuroid_a", "neuroid_b"
#: A unit is constant when its standard deviation is at most this times its largest absolute value.
CONSTANT_TOLERANCE = 1e-12
MIN_STIMULI = 3


def unit_correlation(
    a: xr.DataArray,
    b: xr.DataArray,
    *,
    join: Literal["exact", "inner"] = "exact",
    constant: Literal["raise", "drop"] = "raise",
    block_size: int = 2048,
) -> xr.DataArray:
    """Pearson correlation of every unit of ``a`` with every unit of ``b`` across the shared stimuli.

    Parameters
    ----------
    a, b : xarray.DataArray
        ``(presentation, neuroid)`` activations of one layer each, with ``stimulus_id`` on ``presentation``
        (one row per stimulus) and ``neuroid_id`` on ``neuroid``.
    join : {"exact", "inner"}
        How the stimuli are matched (:func:`neuroalign.data.align`): ``"exact"`` requires the same stimulus
        set, ``"inner"`` keeps the shared stimuli.
    constant : {"raise", "drop"}
        A unit that does not vary across the stimuli (e.g. a dead ReLU) has no correlation.  ``"raise"``
        (default) raises :class:`~neuroalign.errors.DataError` naming such units; ``"drop"`` leaves them
        out and lists their ids in the attributes ``dropped_neuroid_id_a`` / ``dropped_neuroid_id_b``.
    block_size : int
        Stimuli per block of the accumulated product (memory: two blocks in float64).

    Returns
    -------
    xarray.DataArray
        ``(neuroid_a, neuroid_b)`` float64 correlations with coords ``neuroid_id_a`` and ``neuroid_id_b``;
        attribute ``n_stimuli`` and provenance.

    Raises
    ------
    AlignmentError
        The stimulus ids do not match (``join="exact"``) or are repeated.
    DataError
        Fewer than 3 stimuli, non-finite values, or constant units with ``constant="raise"``.
    ConfigError
        An unknown ``constant``/``join`` or a ``block_size`` below 1.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.compare.matching.correlation import unit_correlation
    >>> x = np.random.default_rng(0).normal(size=(50, 3))
    >>> a = create_assembly(x, stimulus_id=[f"s{i}" for i in range(50)])
    >>> b = create_assembly(-x[::-1, ::-1], stimulus_id=[f"s{i}" for i in range(50)][::-1])
    >>> corr = unit_correlation(a, b)
    >>> corr.dims, np.round(np.diag(corr.values[:, ::-1]), 6).tolist()
    (('neuroid_a', 'neuroid_b'), [-1.0, -1.0, -1.0])
    """
    if constant not in ("raise", "drop"):
        raise ConfigError(f"constant must be 'raise' or 'drop', got {constant!r}", source="constant",
                          fix="pass constant='raise' (default) or constant='drop'")
    block_size = check_int("block_size", block_size, minimum=1)
    for array, name in ((a, "a"), (b, "b")):
        if not isinstance(array, xr.DataArray):
            raise DataError(f"{name} must be an xarray.DataArray (presentation, neuroid), got "
                            f"{type(array).__name__}", source=name,
                            fix="wrap the activations with neuroalign.data.create_assembly, or pass extract's output")
        validate(array, dims=(PRESENTATION, NEUROID), name=name)
    a, b = align(a, b, join=join, names=("a", "b"))
    xa = a.transpose(PRESENTATION, NEUROID).values
    xb = b.transpose(PRESENTATION, NEUROID).values
    n = xa.shape[0]
    if n < MIN_STIMULI:
        raise DataError(f"{n} shared stimuli; a correlation needs at least {MIN_STIMULI}", source="a/b",
                        fix="pass more stimuli")
    ids_a, ids_b = _ids(a), _ids(b)
    mean_a, scale_a, keep_a = _column_stats(xa, "a", ids_a, constant, block_size)
    mean_b, scale_b, keep_b = _column_stats(xb, "b", ids_b, constant, block_size)
    cross = np.zeros((int(keep_a.sum()), int(keep_b.sum())))
    for start in range(0, n, block_size):
        block_a = xa[start:start + block_size][:, keep_a].astype(np.float64) - mean_a[keep_a]
        block_b = xb[start:start + block_size][:, keep_b].astype(np.float64) - mean_b[keep_b]
        cross += block_a.T @ block_b
    corr = np.clip(cross / np.outer(scale_a[keep_a], scale_b[keep_b]), -1.0, 1.0)
    attrs = {"n_stimuli": n, **provenance({"join": join, "constant": constant},
                                          {"a": xa, "b": xb})}
    if constant == "drop":
        attrs["dropped_neuroid_id_a"] = [str(i) for i in ids_a[~keep_a]]
        attrs["dropped_neuroid_id_b"] = [str(i) for i in ids_b[~keep_b]]
    return xr.DataArray(corr, dims=(NEUROID_A, NEUROID_B),
                        coords={f"{NEUROID_ID}_a": (NEUROID_A, ids_a[keep_a]),
                                f"{NEUROID_ID}_b": (NEUROID_B, ids_b[keep_b])},
                        name="unit_correlation", attrs=attrs)


def _ids(array: xr.DataArray) -> np.ndarray:
    if NEUROID_ID in array.coords:
        return np.asarray(array[NEUROID_ID].values)
    return np.arange(array.sizes[NEUROID])


def _column_stats(x: np.ndarray, name: str, ids: np.ndarray, constant: str,
                  block_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float64 means and root sums of squares of the centred columns (two passes over blocks), and which
    columns vary."""
    n, p = x.shape
    total, largest = np.zeros(p), np.zeros(p)
    for start in range(0, n, block_size):
        block = x[start:start + block_size].astype(np.float64)
        if not np.isfinite(block).all():
            raise DataError("the activations contain NaN or inf", source=name,
                            fix="check the extraction, or drop the affected units/stimuli first")
        total += block.sum(axis=0)
        np.maximum(largest, np.abs(block).max(axis=0), out=largest)
    mean = total / n
    squares = np.zeros(p)
    for start in range(0, n, block_size):
        centred = x[start:start + block_size].astype(np.float64) - mean
        squares += np.einsum("ij,ij->j", centred, centred)
    scale = np.sqrt(squares)
    keep = scale / np.sqrt(n) > CONSTANT_TOLERANCE * largest
    if not keep.all() and constant == "raise":
        example = [str(i) for i in ids[~keep][:5]]
        raise DataError(f"{int((~keep).sum())} of {p} units are constant across the stimuli (e.g. neuroid_id "
                        f"{example}), so their correlation is undefined", source=name,
                        fix="pass constant='drop' to leave them out (their ids are kept in the result's attrs), "
                            "or select the varying units first")
    if not keep.any():
        raise DataError(f"every unit of {name} is constant across the stimuli", source=name,
                        fix="check the layer and the stimuli")
    return mean, scale, keep


def as_matrix(corr: Any, name: str = "corr") -> xr.DataArray:
    """Check that ``corr`` is a unit correlation matrix (the output of :func:`unit_correlation`)."""
    if not isinstance(corr, xr.DataArray) or corr.dims != (NEUROID_A, NEUROID_B):
        raise DataError(f"{name} must be a (neuroid_a, neuroid_b) DataArray, got "
                        f"{getattr(corr, 'dims', type(corr).__name__)}", source=name,
                        fix="compute it with neuroalign.compare.matching.correlation.unit_correlation(a, b)")
    if not np.isfinite(corr.values).all():
        raise DataError(f"{name} contains NaN or inf", source=name,
                        fix="compute it with unit_correlation, which never leaves undefined correlations")
    return corr
