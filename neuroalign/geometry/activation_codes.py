"""Activation patterns as binary codes: which units are on (ReLU on/off) for each stimulus.

A layer's code for a stimulus is the vector ``a > threshold`` (``threshold=0``: the units a ReLU lets
through).  :func:`code_statistics` reports

- ``uniqueness``: the share of stimuli whose code no other stimulus has;
- ``collision_rate``: the share of stimulus pairs ``(i < j)`` with identical codes;
- ``distinct_codes``: the number of distinct codes divided by the number of stimuli;
- ``active_fraction``: the mean share of units that are on;
- with a class label, ``hamming_within`` and ``hamming_between``: the mean normalised Hamming distance
  (share of units that differ) over the pairs of stimuli of the same class and of different classes.

Distances come from one matrix product (``d_ij = |b_i| + |b_j| - 2 b_i · b_j`` with 0/1 codes, exact in
float64) and identical codes from hashing the bit-packed rows (``numpy.packbits``), never a loop over pairs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..data.layers import LAYER, as_layer_mapping
from ..data.provenance import provenance
from ..data.schema import NEUROID, PRESENTATION, STIMULUS_ID, label_index, validate
from ..errors import ConfigError, DataError, SchemaError
from ..score import Score

__all__ = ["CODE_STATISTICS", "STATISTIC", "binary_codes", "code_counts", "hamming_distances", "class_hamming",
           "code_statistics", "layer_code_statistics"]

#: The statistics of :func:`code_statistics` (the last two only with a class label).
CODE_STATISTICS = ("uniqueness", "collision_rate", "distinct_codes", "active_fraction", "hamming_within",
                   "hamming_between")
#: The dim that labels the statistics.
STATISTIC = "statistic"
#: The two dims of a matrix of distances between stimuli, and the pair dim of :func:`class_hamming`.
STIMULUS_A, STIMULUS_B, PAIR = "stimulus_a", "stimulus_b", "pair"


def _check_threshold(threshold: Any) -> float:
    ok = not isinstance(threshold, bool) and isinstance(threshold, (int, float, np.integer, np.floating))
    if not ok or not np.isfinite(threshold):
        raise ConfigError(f"threshold must be a finite number, got {threshold!r}", source="threshold",
                          fix="pass threshold=0 for ReLU on/off patterns")
    return float(threshold)


def binary_codes(activations: xr.DataArray, *, threshold: float = 0.0, name: str = "activations") -> xr.DataArray:
    """The on/off pattern ``activations > threshold`` of each stimulus, as a boolean array.

    Parameters
    ----------
    activations : xarray.DataArray
        ``(presentation, neuroid)`` activations of one layer.
    threshold : float
        A unit is on when its activation is strictly above ``threshold``.
    name : str
        How ``activations`` is named in error messages.

    Returns
    -------
    xarray.DataArray
        Boolean, dims ``(presentation, neuroid)``, with the coords of ``activations``.

    Examples
    --------
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.geometry.activation_codes import binary_codes
    >>> binary_codes(create_assembly([[0.0, 1.5], [-1.0, 0.2]], stimulus_id=["a", "b"])).values.tolist()
    [[False, True], [False, True]]
    """
    validate(activations, dims=(PRESENTATION, NEUROID), name=name)
    threshold = _check_threshold(threshold)
    codes = activations.transpose(PRESENTATION, NEUROID) > threshold
    codes.attrs = {"threshold": threshold}
    return codes.rename("code")


def code_counts(codes: xr.DataArray) -> np.ndarray:
    """How many stimuli share each stimulus's code (1: the code is unique), from the bit-packed rows.

    Examples
    --------
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.geometry.activation_codes import binary_codes, code_counts
    >>> a = create_assembly([[1, 0], [1, 0], [0, 1]], stimulus_id=list("xyz"))
    >>> code_counts(binary_codes(a)).tolist()
    [2, 2, 1]
    """
    bits = np.ascontiguousarray(np.packbits(np.asarray(codes.transpose(PRESENTATION, NEUROID).values, bool), axis=1))
    rows = bits.view(np.dtype((np.void, bits.shape[1]))).ravel() if bits.shape[1] else np.zeros(len(bits), "V1")
    _, inverse, counts = np.unique(rows, return_inverse=True, return_counts=True)
    return counts[inverse.ravel()]


def _distances(codes: np.ndarray) -> np.ndarray:
    """Hamming distances between the rows of a 0/1 matrix: ``|b_i| + |b_j| - 2 b_i · b_j`` (exact integers)."""
    b = codes.astype(np.float64)
    ones = b.sum(axis=1)
    return np.rint(ones[:, None] + ones[None, :] - 2.0 * (b @ b.T)).astype(np.int64)


def hamming_distances(activations: xr.DataArray, *, threshold: float = 0.0, normalize: bool = False,
                      name: str = "activations") -> xr.DataArray:
    """Hamming distances between the codes of every pair of stimuli.

    Parameters
    ----------
    activations : xarray.DataArray
        ``(presentation, neuroid)`` activations of one layer.
    threshold : float
        As in :func:`binary_codes`.
    normalize : bool
        Divide by the number of units (the share of units that differ).
    name : str
        How ``activations`` is named in error messages.

    Returns
    -------
    xarray.DataArray
        Dims ``(stimulus_a, stimulus_b)`` with coords ``stimulus_id_a`` and
        ``stimulus_id_b``; integers, or floats in ``[0, 1]`` when normalised.

    Examples
    --------
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.geometry.activation_codes import hamming_distances
    >>> a = create_assembly([[1, 0, 1], [0, 0, 1], [0, 1, 0]], stimulus_id=list("xyz"))
    >>> hamming_distances(a).values.tolist()
    [[0, 1, 3], [1, 0, 2], [3, 2, 0]]
    """
    codes = binary_codes(activations, threshold=threshold, name=name)
    distances = _distances(codes.values)
    values = distances / codes.sizes[NEUROID] if normalize else distances
    ids = codes[STIMULUS_ID].values
    return xr.DataArray(values, dims=(STIMULUS_A, STIMULUS_B),
                        coords={f"{STIMULUS_ID}_a": (STIMULUS_A, ids), f"{STIMULUS_ID}_b": (STIMULUS_B, ids)},
                        attrs={"threshold": codes.attrs["threshold"], "normalize": bool(normalize)},
                        name="hamming")


def _labels(activations: xr.DataArray, label: str, name: str) -> np.ndarray:
    if not isinstance(label, str):
        raise ConfigError(f"label must name a presentation coord, got {type(label).__name__}", source="label",
                          fix="pass e.g. label='label'")
    if label not in activations.coords or activations[label].dims != (PRESENTATION,):
        have = [c for c in activations.coords if activations[c].dims == (PRESENTATION,)]
        raise SchemaError(f"{name} has no {label!r} coordinate on 'presentation' (it has {have})", source=name,
                          fix=f"add the class of each stimulus, e.g. activations.assign_coords({label}=("
                              "'presentation', classes)), or name another coord with label=")
    return np.asarray(activations[label].values)


def class_hamming(activations: xr.DataArray, label: str = "label", *, threshold: float = 0.0,
                  normalize: bool = True, name: str = "activations") -> xr.DataArray:
    """Hamming distances of every stimulus pair ``(i < j)``, marked same-class or not: the two distributions.

    Parameters
    ----------
    activations : xarray.DataArray
        ``(presentation, neuroid)`` activations of one layer.
    label : str
        The presentation coord holding each stimulus's class.
    threshold, normalize, name
        As in :func:`hamming_distances` (normalised by default).

    Returns
    -------
    xarray.DataArray
        Dim ``pair`` (``n (n - 1) / 2`` entries, row-major upper triangle), coords
        ``stimulus_id_a``, ``stimulus_id_b`` and ``same_class`` (bool).

    Raises
    ------
    SchemaError
        No ``label`` coord on ``presentation``.

    Examples
    --------
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.geometry.activation_codes import class_hamming
    >>> a = create_assembly([[1, 0, 1, 1], [1, 0, 1, 0], [0, 1, 0, 0]], stimulus_id=list("xyz"),
    ...                     presentation={"label": [3, 3, 7]})
    >>> d = class_hamming(a)
    >>> d.values.tolist(), d.same_class.values.tolist()
    ([0.25, 1.0, 0.75], [True, False, False])
    """
    labels = _labels(activations, label, name)
    square = hamming_distances(activations, threshold=threshold, normalize=normalize, name=name)
    i, j = np.triu_indices(len(labels), k=1)
    ids = square[f"{STIMULUS_ID}_a"].values
    return xr.DataArray(square.values[i, j], dims=(PAIR,),
                        coords={f"{STIMULUS_ID}_a": (PAIR, ids[i]), f"{STIMULUS_ID}_b": (PAIR, ids[j]),
                                "same_class": (PAIR, labels[i] == labels[j])},
                        attrs=dict(square.attrs, label=label), name="hamming")


def _class_means(codes: np.ndarray, labels: np.ndarray, label: str, name: str) -> dict[str, float]:
    """Mean normalised Hamming distance over the pairs ``i < j`` of the same and of different classes."""
    distances = _distances(codes) / codes.shape[1]
    _, classes = np.unique(labels, return_inverse=True)
    same = classes[:, None] == classes[None, :]
    n = len(labels)
    n_same = (int(same.sum()) - n) // 2  # the diagonal (distance 0) is not a pair
    n_between = n * (n - 1) // 2 - n_same
    means = {}
    for key, count, total, what in (("hamming_within", n_same, distances[same].sum() / 2, "the same class"),
                                    ("hamming_between", n_between, distances[~same].sum() / 2,
                                     "different classes")):
        if count == 0:
            raise DataError(f"no two stimuli of {name} belong to {what} (label {label!r})", source=name,
                            fix="pass stimuli of at least two classes, two or more of some class")
        means[key] = float(total / count)
    return means


def code_statistics(activations: xr.DataArray, *, threshold: float = 0.0, label: str | None = None,
                    name: str = "activations") -> xr.DataArray:
    """Uniqueness, collision rate and Hamming distances of a layer's binary codes.

    See the module docstring for each statistic's definition.

    Parameters
    ----------
    activations : xarray.DataArray
        ``(presentation, neuroid)`` activations of one layer, one presentation
        per stimulus.
    threshold : float
        As in :func:`binary_codes`.
    label : str, optional
        A presentation coord of classes; adds ``hamming_within`` and
        ``hamming_between``.
    name : str
        How ``activations`` is named in error messages.

    Returns
    -------
    xarray.DataArray
        Dim ``statistic`` with provenance in ``attrs``.

    Raises
    ------
    DataError
        Fewer than two stimuli, or (with ``label``) no pair within or no pair
        between classes.
    SchemaError
        ``activations`` does not follow the data model, or lacks ``label``.

    Examples
    --------
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.geometry.activation_codes import code_statistics
    >>> a = create_assembly([[1, 0], [1, 0], [0, 1], [1, 1]], stimulus_id=list("wxyz"))
    >>> code_statistics(a).sel(statistic=["uniqueness", "collision_rate"]).values.tolist()
    [0.5, 0.16666666666666666]
    """
    codes = binary_codes(activations, threshold=threshold, name=name)
    n = codes.sizes[PRESENTATION]
    if n < 2:
        raise DataError(f"{name} has {n} stimulus; codes are compared between at least 2", source=name,
                        fix="pass more stimuli")
    counts = code_counts(codes)
    values = {
        "uniqueness": float(np.mean(counts == 1)),
        # a code shared by c stimuli gives c (c - 1) / 2 identical pairs; summing over stimuli counts each pair twice
        "collision_rate": float(np.sum(counts - 1) / (n * (n - 1))),
        "distinct_codes": float(np.sum(1.0 / counts) / n),
        "active_fraction": float(codes.values.mean()),
    }
    if label is not None:
        values.update(_class_means(codes.values, _labels(activations, label, name), label, name))
    attrs = {"provenance": provenance({"threshold": float(threshold), "label": label},
                                      {name: np.asarray(codes.values)})}
    return xr.DataArray(list(values.values()), dims=(STATISTIC,),
                        coords={STATISTIC: label_index(values, STATISTIC)}, attrs=attrs, name="code_statistics")


def layer_code_statistics(layers: Any, *, threshold: float = 0.0, label: str | None = None) -> Score:
    """:func:`code_statistics` of every layer.

    Parameters
    ----------
    layers : mapping of str to xarray.DataArray, Dataset or DataArray
        Layer name → ``(presentation, neuroid)`` activations (the output of
        :func:`neuroalign.extract.extract`).
    threshold, label
        As in :func:`code_statistics`.

    Returns
    -------
    Score
        Metric ``"activation-codes"``, value with dims ``(layer, statistic)``.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.geometry.activation_codes import layer_code_statistics
    >>> x = np.random.default_rng(0).normal(size=(30, 20))
    >>> s = layer_code_statistics({"wide": create_assembly(x, stimulus_id=range(30)),
    ...                            "narrow": create_assembly(x[:, :2], stimulus_id=range(30))})
    >>> s.data.score.sel(statistic="uniqueness").values.tolist()
    [1.0, 0.0]
    """
    mapping = as_layer_mapping(layers, argument="layers")
    rows = [code_statistics(a, threshold=threshold, label=label, name=f"layers[{layer!r}]")
            for layer, a in mapping.items()]
    for row in rows:
        row.attrs = {}  # each layer's provenance; the score keeps the parameters
    value = xr.concat(rows, dim=label_index(mapping, LAYER))
    return Score(value, metric="activation-codes", params={"threshold": float(threshold), "label": label})
