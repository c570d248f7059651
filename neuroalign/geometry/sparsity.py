"""Activation sparsity: how many units a stimulus drives, and how unevenly (the "lazy neuron" analysis).

Four measures of one vector of activations ``a`` of ``n`` units:

- **zero fraction**: the share of entries with ``|a_i| <= tol`` (``tol=0``: exact zeros, as a ReLU writes them);
- **Hoyer sparsity** (Hoyer 2004): ``(sqrt(n) - ||a||_1 / ||a||_2) / (sqrt(n) - 1)``, 1 for a one-hot vector,
  0 for a constant one;
- **Gini index** (Hurley & Rickard 2009, eq. for ``G``): with the magnitudes sorted ascending
  ``c_(1) <= … <= c_(n)``, ``G = 1 - 2 * sum_k (c_(k) / ||c||_1) * (n - k + 1/2) / n``; ``(n - 1) / n`` for a
  one-hot vector, 0 for a constant one;
- **excess kurtosis**: ``m4 / m2**2 - 3`` with the population (biased) central moments, the convention of
  ``scipy.stats.kurtosis(a, fisher=True, bias=True)``; 0 for a Gaussian.

Hoyer and Gini use the magnitudes ``|a|`` and ignore the scale of ``a``; the kurtosis uses the signed values.
Per stimulus (``over="neuroid"``, population sparsity: across the units for each presentation) or per unit
(``over="presentation"``, lifetime sparsity: across the stimuli for each unit).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..data.layers import LAYER, as_layer_mapping
from ..data.provenance import provenance
from ..data.schema import NEUROID, PRESENTATION, STIMULUS_ID, label_index, validate
from ..errors import AlignmentError, ConfigError, DataError, UnknownNameError
from ..score import Score

__all__ = ["SPARSITY_MEASURES", "MEASURE", "hoyer_sparsity", "gini_index", "activation_sparsity", "layer_sparsity"]

#: The measures of :func:`activation_sparsity`, in the order of its ``measure`` dim.
SPARSITY_MEASURES = ("zero_fraction", "hoyer", "gini", "kurtosis")
#: The dim that labels the measures.
MEASURE = "measure"
_OVER = (NEUROID, PRESENTATION)
_DEGENERATE = ("raise", "nan")


def hoyer_sparsity(values: Any, axis: int = -1) -> np.ndarray:
    """Hoyer's sparsity ``(sqrt(n) - L1/L2) / (sqrt(n) - 1)`` of the vectors along ``axis``.

    NaN where a vector is all zeros (L2 = 0: the measure is undefined) or has a single entry.

    Examples
    --------
    >>> from neuroalign.geometry.sparsity import hoyer_sparsity
    >>> hoyer_sparsity([[0, 0, 3, 0], [1, 1, 1, 1]]).tolist()
    [1.0, 0.0]
    """
    values = np.abs(np.asarray(values, dtype=float))
    n = values.shape[axis]
    scale = values.max(axis=axis, keepdims=True)  # exact rescaling: no overflow or underflow of the squares
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = values / scale
        ratio = unit.sum(axis=axis) / np.sqrt((unit * unit).sum(axis=axis))
        root = np.sqrt(n)
        result = (root - ratio) / (root - 1)
    return np.clip(result, 0.0, 1.0)  # rounding can push a one-hot or constant vector a few ulps outside


def gini_index(values: Any, axis: int = -1) -> np.ndarray:
    """The Gini index of Hurley & Rickard (2009) of the magnitudes of the vectors along ``axis``.

    ``1 - 2 * sum_k (c_(k) / ||c||_1) * (n - k + 1/2) / n`` with ``c_(1) <= … <= c_(n)`` the sorted
    magnitudes.  NaN where a vector is all zeros (the measure is undefined).

    Examples
    --------
    >>> from neuroalign.geometry.sparsity import gini_index
    >>> gini_index([[0, 0, 3, 0], [2, 2, 2, 2]]).tolist()
    [0.75, 0.0]
    """
    values = np.moveaxis(np.abs(np.asarray(values, dtype=float)), axis, -1)
    n = values.shape[-1]
    ordered = np.sort(values, axis=-1)
    weights = (n - np.arange(1, n + 1) + 0.5) / n
    with np.errstate(invalid="ignore", divide="ignore"):
        result = 1.0 - 2.0 * (ordered @ weights) / ordered.sum(axis=-1)
    return np.clip(result, 0.0, 1.0)


def _excess_kurtosis(values: np.ndarray) -> np.ndarray:
    """``m4 / m2**2 - 3`` along the last axis (population moments); NaN for constant vectors."""
    centred = values - values.mean(axis=-1, keepdims=True)
    scale = np.abs(centred).max(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = centred / scale
        squares = unit * unit
        n = values.shape[-1]
        m2 = np.einsum("...i,...i->...", unit, unit) / n
        m4 = np.einsum("...i,...i->...", squares, squares) / n
        return m4 / m2 ** 2 - 3.0


def _measures(values: np.ndarray, measures: Sequence[str], tol: float) -> np.ndarray:
    """``(rows, measure)``: each measure of each row of ``values``."""
    columns = {
        "zero_fraction": lambda: (np.abs(values) <= tol).mean(axis=-1),
        "hoyer": lambda: hoyer_sparsity(values),
        "gini": lambda: gini_index(values),
        "kurtosis": lambda: _excess_kurtosis(values),
    }
    return np.stack([columns[m]() for m in measures], axis=-1)


def _check_measures(measures: Any) -> tuple[str, ...]:
    if isinstance(measures, str):
        measures = (measures,)
    measures = tuple(measures)
    if not measures:
        raise ConfigError("no measures were asked for", source="measures",
                          fix=f"pass some of {', '.join(SPARSITY_MEASURES)}")
    for name in measures:
        if name not in SPARSITY_MEASURES:
            raise UnknownNameError(name, SPARSITY_MEASURES, what="sparsity measure", source="measures")
    if len(set(measures)) != len(measures):
        raise ConfigError(f"measures repeat a name: {measures}", source="measures", fix="name each measure once")
    return measures


def _check_tol(tol: Any) -> float:
    ok = not isinstance(tol, bool) and isinstance(tol, (int, float, np.integer, np.floating))
    if not ok or not np.isfinite(tol) or tol < 0:
        raise ConfigError(f"tol must be a finite number >= 0, got {tol!r}", source="tol",
                          fix="pass tol=0 for exact zeros, or a small magnitude such as tol=1e-6")
    return float(tol)


def activation_sparsity(
    activations: xr.DataArray,
    *,
    over: str = NEUROID,
    measures: Sequence[str] = SPARSITY_MEASURES,
    tol: float = 0.0,
    degenerate: str = "raise",
    name: str = "activations",
) -> xr.DataArray:
    """Sparsity of each stimulus's activation vector (or of each unit's responses).

    Parameters
    ----------
    activations : xarray.DataArray
        ``(presentation, neuroid)`` activations of one layer (e.g. one entry of
        :func:`neuroalign.extract.extract`).
    over : {"neuroid", "presentation"}
        ``"neuroid"``: across the units, one value per presentation (population
        sparsity); ``"presentation"``: across the stimuli, one value per unit
        (lifetime sparsity).
    measures : sequence of str
        Some of :data:`SPARSITY_MEASURES` (all by default), in the order wanted.
    tol : float
        Entries with ``|a| <= tol`` count as zeros in ``zero_fraction`` (0: exact zeros).
    degenerate : {"raise", "nan"}
        What to do where a measure is undefined (Hoyer and Gini of an all-zero
        vector, the kurtosis of a constant vector): raise a DataError naming
        the vectors (default), or write NaN there.
    name : str
        How ``activations`` is named in error messages.

    Returns
    -------
    xarray.DataArray
        Dims ``(presentation, measure)`` with the presentation coords of
        ``activations`` (or ``(neuroid, measure)`` with its neuroid coords), and
        provenance in ``attrs``.

    Raises
    ------
    SchemaError
        ``activations`` does not follow the data model.
    DataError
        Fewer than two entries per vector, or a measure is undefined and
        ``degenerate="raise"``.
    ConfigError, UnknownNameError
        A bad ``over``, ``measures``, ``tol`` or ``degenerate``.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.geometry.sparsity import activation_sparsity
    >>> a = create_assembly([[0, 0, 0, 2.0], [1, 2, 3, 4]], stimulus_id=["sparse", "dense"])
    >>> s = activation_sparsity(a, measures=["zero_fraction", "hoyer", "gini"])
    >>> s.sel(measure="zero_fraction").values.tolist()
    [0.75, 0.0]
    >>> round(float(s.sel(measure="gini", presentation=0)), 3)
    0.75
    """
    validate(activations, dims=(PRESENTATION, NEUROID), name=name)
    if over not in _OVER:
        raise UnknownNameError(over, _OVER, what="dim to measure over", source="over")
    if degenerate not in _DEGENERATE:
        raise UnknownNameError(degenerate, _DEGENERATE, what="degenerate policy", source="degenerate")
    measures = _check_measures(measures)
    tol = _check_tol(tol)
    keep = PRESENTATION if over == NEUROID else NEUROID
    values = np.asarray(activations.transpose(keep, over).values, dtype=float)
    if values.shape[1] < 2:
        raise DataError(f"{name} has {values.shape[1]} {over}(s); sparsity needs at least 2 values per vector",
                        source=name, fix=f"pass a layer with several {over}s")
    result = _measures(values, measures, tol)
    if degenerate == "raise":
        _raise_undefined(result, measures, activations, keep, name)
    coords = {c: activations[c] for c in activations.coords if activations[c].dims == (keep,)}
    coords[MEASURE] = label_index(measures, MEASURE)
    attrs = {"provenance": provenance({"over": over, "measures": list(measures), "tol": tol,
                                       "degenerate": degenerate}, {name: values})}
    return xr.DataArray(result, dims=(keep, MEASURE), coords=coords, attrs=attrs, name="sparsity")


def _raise_undefined(result: np.ndarray, measures: tuple[str, ...], activations: xr.DataArray, keep: str,
                     name: str) -> None:
    bad = np.isnan(result)
    if not bad.any():
        return
    column = int(np.flatnonzero(bad.any(axis=0))[0])
    rows = np.flatnonzero(bad[:, column])
    ids = STIMULUS_ID if keep == PRESENTATION else "neuroid_id"
    labels = activations[ids].values[rows] if ids in activations.coords else rows
    shown = ", ".join(repr(v) for v in labels[:5].tolist()) + (" …" if len(rows) > 5 else "")
    why = "is constant" if measures[column] == "kurtosis" else "is all zeros"
    raise DataError(f"{measures[column]} is undefined for {len(rows)} {keep}(s) whose vector {why}: {shown}",
                    source=name,
                    fix="drop those vectors first (e.g. silent units: activations.isel(neuroid=activations.std("
                        "'presentation') > 0)), or pass degenerate='nan' to mark them NaN")


def layer_sparsity(
    layers: Any,
    *,
    measures: Sequence[str] = SPARSITY_MEASURES,
    tol: float = 0.0,
    degenerate: str = "raise",
) -> Score:
    """Population sparsity of every layer: the mean over stimuli of each measure, with its standard error.

    Parameters
    ----------
    layers : mapping of str to xarray.DataArray, Dataset or DataArray
        Layer name → ``(presentation, neuroid)`` activations of the same
        stimuli (the output of :func:`neuroalign.extract.extract`).
    measures, tol, degenerate
        As in :func:`activation_sparsity` (``over="neuroid"``).  With
        ``degenerate="nan"`` the means skip the undefined values.

    Returns
    -------
    Score
        Metric ``"sparsity"``: value and error (standard error of the mean over
        stimuli) with dims ``(layer, measure)``; ``raw`` holds every stimulus's
        values, dims ``(layer, presentation, measure)``.

    Raises
    ------
    AlignmentError
        The layers do not hold the same stimuli in the same order.
    ConfigError
        ``layers`` is not a mapping of named layers.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.geometry.sparsity import layer_sparsity
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(20, 50))
    >>> layers = {"pre": create_assembly(x, stimulus_id=range(20)),
    ...           "relu": create_assembly(np.maximum(x, 0), stimulus_id=range(20))}
    >>> s = layer_sparsity(layers, measures=["zero_fraction", "hoyer"])
    >>> s.data.score.dims
    ('layer', 'measure')
    >>> bool(s.data.score.sel(layer="relu", measure="hoyer") > s.data.score.sel(layer="pre", measure="hoyer"))
    True
    """
    mapping = as_layer_mapping(layers, argument="layers")
    measures = _check_measures(measures)
    per_layer, reference = [], None
    for layer, activations in mapping.items():
        label = f"layers[{layer!r}]"
        validate(activations, dims=(PRESENTATION, NEUROID), name=label)
        ids = np.asarray(activations[STIMULUS_ID].values)
        if reference is None:
            reference, first = ids, layer
        elif ids.shape != reference.shape or not np.array_equal(ids, reference):
            raise AlignmentError(f"{label} does not hold the stimuli of layers[{first!r}] in the same order",
                                 source=label, fix="extract every layer from the same stimuli, or align them "
                                                   "with neuroalign.data.align first")
        result = activation_sparsity(activations, measures=measures, tol=tol, degenerate=degenerate, name=label)
        per_layer.append(result.drop_vars([c for c in result.coords if c not in (STIMULUS_ID, MEASURE)]))
    if len(reference) < 2:
        raise DataError(f"the layers hold {len(reference)} stimulus; a mean with a standard error needs at least 2",
                        source="layers", fix="pass more stimuli, or use activation_sparsity for one stimulus")
    raw = xr.concat(per_layer, dim=label_index(mapping, LAYER))
    counts = raw.notnull().sum(PRESENTATION)
    mean = raw.mean(PRESENTATION, skipna=True)
    error = raw.std(PRESENTATION, ddof=1, skipna=True) / np.sqrt(counts)
    return Score(mean, error=error, raw=raw, metric="sparsity",
                 params={"measures": list(measures), "tol": float(tol), "degenerate": degenerate,
                         "n_stimuli": int(len(reference))})
