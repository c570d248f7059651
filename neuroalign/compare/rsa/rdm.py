"""Representational dissimilarity matrices (RDMs) as labelled arrays.

An RDM is stored in **vector form**: a DataArray whose last dim is ``pair``,
one entry per unordered pair of distinct stimuli, in the order of
``np.triu_indices(n, k=1)`` (row-major upper triangle, which is also the order
of scipy's and MATLAB's ``squareform``), with coordinates ``stimulus_id_a``
and ``stimulus_id_b`` on ``pair``.  Stimulus metadata (e.g. a ``category``
presentation coordinate) travels as ``category_a``/``category_b`` pair
coordinates.  Leading dims (``subject``, ``layer``, ``time_bin``, ``split``,
``resample``…) hold batches of RDMs over the same stimuli.  :func:`to_square`
gives the ``(…, stimulus_id_a, stimulus_id_b)`` square form and
:func:`to_vector` goes back; :func:`as_rdm` wraps plain arrays.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ...data.layers import LAYER, as_layer_mapping
from ...data.provenance import provenance
from ...data.schema import (
    NEUROID,
    PRESENTATION,
    STIMULUS_ID,
    label_index,
    validate,
)
from ...errors import (
    AlignmentError,
    ConfigError,
    DataError,
    SchemaError,
    UnknownNameError,
)
from . import rdm_methods as rm

__all__ = [
    "PAIR",
    "RDM_METHODS",
    "RDMMethod",
    "as_rdm",
    "compute_rdm",
    "rdm_stimulus_ids",
    "to_square",
    "to_vector",
]

log = logging.getLogger(__name__)

PAIR = "pair"
ID_A, ID_B = "stimulus_id_a", "stimulus_id_b"


@dataclass(frozen=True)
class RDMMethod:
    """One entry of :data:`RDM_METHODS`.

    ``function`` maps condition means ``(..., n, p)`` (or, when
    ``cross_validated``, the sums ``(..., n, k, p)`` and counts ``(n, k)`` of
    every stimulus in every fold)
    to ``(..., n, n)``; ``noise`` says whether it takes a precision matrix and
    ``prior`` whether it takes the Poisson prior.
    """

    function: Callable[..., np.ndarray]
    description: str
    rsatoolbox: str | None
    cross_validated: bool = False
    noise: bool = False
    prior: bool = False


#: Registry of RDM methods (``compute_rdm(method=...)``).
RDM_METHODS: dict[str, RDMMethod] = {
    "sqeuclidean": RDMMethod(rm.squared_euclidean, "‖x_i − x_j‖² / p", "euclidean"),
    "euclidean": RDMMethod(rm.euclidean, "‖x_i − x_j‖ (not divided by p)", None),
    "correlation": RDMMethod(rm.correlation, "1 − Pearson r", "correlation"),
    "cosine": RDMMethod(rm.cosine, "1 − cos(x_i, x_j)", None),
    "mahalanobis": RDMMethod(rm.squared_euclidean, "(x_i − x_j)ᵀ Λ (x_i − x_j) / p", "mahalanobis", noise=True),
    "crossnobis": RDMMethod(rm.crossnobis, "cross-validated (a_i − a_j)ᵀ Λ (b_i − b_j) / p", "crossnobis",
                            cross_validated=True, noise=True),
    "poisson": RDMMethod(rm.poisson, "symmetrised Poisson KL divergence / p", "poisson", prior=True),
    "poisson_cv": RDMMethod(rm.poisson_cv, "cross-validated Poisson KL / p", "poisson_cv", cross_validated=True,
                            prior=True),
}


#: Methods built from squared differences, and the smallest data magnitude whose squares stay normal floats.
_SQUARED = ("sqeuclidean", "euclidean", "mahalanobis", "crossnobis")
_SMALLEST = float(np.sqrt(np.finfo(float).tiny)) * 2**26  # ~1e-146: a margin for sums over few channels


def compute_rdm(
    data: xr.DataArray | Mapping[str, xr.DataArray],
    method: str = "correlation",
    *,
    groupby: str | None = None,
    noise: str | np.ndarray | xr.DataArray | None = None,
    cv_descriptor: str | None = None,
    prior_lambda: float = 1.0,
    prior_weight: float = 0.1,
    remove_mean: bool = False,
) -> xr.DataArray:
    """The RDMs of ``(presentation, neuroid[, time_bin, …])`` data, in vector form.

    Presentations sharing a ``stimulus_id`` are averaged (or, for the
    cross-validated methods, averaged within each fold); stimuli keep the
    order of their first presentation.  Every other dim (``time_bin``,
    ``split``…) is a batch dim, computed in the same matrix products.

    Parameters
    ----------
    data : xarray.DataArray or mapping of str to xarray.DataArray
        Dims ``presentation`` and ``neuroid``, possibly more.  A mapping (e.g.
        layer name → activations) gives one RDM per entry along a new
        ``layer`` dim; a list raises :class:`ConfigError` (the layers need
        names: see :func:`neuroalign.data.as_layer_mapping`).
    method : str
        One of :data:`RDM_METHODS`: ``"sqeuclidean"`` (squared Euclidean / p,
        rsatoolbox's ``"euclidean"``), ``"euclidean"``, ``"correlation"``
        (1 − r), ``"cosine"``, ``"mahalanobis"``, ``"crossnobis"``,
        ``"poisson"``, ``"poisson_cv"``.
    groupby : str, optional
        A ``neuroid`` coordinate (e.g. ``"subject"``): one RDM per group, along
        a new dim of that name.
    noise : str, array or DataArray, optional
        Noise precision for ``mahalanobis``/``crossnobis`` (rsatoolbox's
        ``noise``): None for the identity; one of
        :data:`~neuroalign.compare.NOISE_ESTIMATORS` to estimate a shrinkage
        precision from the repetitions; a ``(p, p)`` precision, or ``(p,)``
        for a diagonal one; or the DataArray of
        :func:`~neuroalign.compare.estimate_noise_precision` (selected by
        ``neuroid_id``, so it works with ``groupby``).
    cv_descriptor : str, optional
        Presentation coordinate whose values are the cross-validation folds
        (``crossnobis``, ``poisson_cv``).  Default: the first of ``run``,
        ``session``, ``repetition`` present.
    prior_lambda, prior_weight : float
        Poisson prior: rates become (x + λ₀ w) / (1 + w) (rsatoolbox's
        defaults 1 and 0.1).
    remove_mean : bool
        Subtract each pattern's mean over neuroids first (not for the
        correlation and Poisson methods).

    Returns
    -------
    xarray.DataArray
        Dims ``(*batch, pair)`` with ``stimulus_id_a``/``stimulus_id_b`` and
        stimulus metadata ``<coord>_a``/``<coord>_b`` on ``pair``; attrs
        ``method``, ``n_stimuli`` and provenance.

    Raises
    ------
    UnknownNameError
        Unknown ``method`` or noise estimator.
    ConfigError
        ``noise`` with a method that takes none, or a precision of the wrong shape.
    SchemaError
        No cross-validation coordinate for a cross-validated method.
    DataError
        Fewer than 3 stimuli, a stimulus missing from a fold, constant or
        negative patterns where the method cannot take them.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.compare import compute_rdm, to_square
    >>> x = create_assembly(np.random.default_rng(0).normal(size=(8, 10)), stimulus_id=list("abcd") * 2,
    ...                     presentation={"run": [0] * 4 + [1] * 4})
    >>> rdm = compute_rdm(x, "crossnobis")
    >>> rdm.sizes["pair"], to_square(rdm).shape, rdm.attrs["cv_descriptor"]
    (6, (4, 4), 'run')
    """
    if method not in RDM_METHODS:
        raise UnknownNameError(method, RDM_METHODS, what="RDM method", source="method")
    options = {"groupby": groupby, "noise": noise, "cv_descriptor": cv_descriptor, "prior_lambda": prior_lambda,
               "prior_weight": prior_weight, "remove_mean": remove_mean}
    if isinstance(data, (Mapping, list, tuple)):
        layers = as_layer_mapping(data, argument="data")
        rdms = [compute_rdm(array, method, **options) for array in layers.values()]
        return xr.concat(rdms, dim=label_index(list(layers), LAYER), combine_attrs="drop_conflicts")
    validate(data, dims=(PRESENTATION, NEUROID), name="data")
    if groupby is not None:
        if groupby not in data.coords or data[groupby].dims != (NEUROID,):
            raise SchemaError(f"groupby={groupby!r} is not a coordinate on 'neuroid'", source="groupby",
                              fix="pass the name of a neuroid coordinate such as 'subject' or 'region'")
        if isinstance(noise, np.ndarray):
            raise ConfigError("a plain precision array cannot be split by groupby", source="noise",
                              fix="pass the labelled output of estimate_noise_precision, or an estimator name")
        labels = pd.unique(pd.Index(data[groupby].values))
        options["groupby"] = None
        rdms = [compute_rdm(data.isel({NEUROID: np.flatnonzero(data[groupby].values == label)}), method, **options)
                for label in labels]
        return xr.concat(rdms, dim=label_index(labels, groupby), combine_attrs="drop_conflicts")
    return _compute_single(data, method, **{k: v for k, v in options.items() if k != "groupby"})


def _compute_single(data: xr.DataArray, method: str, *, noise, cv_descriptor, prior_lambda, prior_weight,
                    remove_mean) -> xr.DataArray:
    spec = RDM_METHODS[method]
    batch = [d for d in data.dims if d not in (PRESENTATION, NEUROID)]
    values = np.asarray(data.transpose(*batch, PRESENTATION, NEUROID).values, dtype=float)
    codes, uniques = pd.factorize(pd.Index(data[STIMULUS_ID].values), sort=False)
    n = len(uniques)
    if n < 3:
        raise DataError(f"an RDM needs at least 3 stimuli, got {n}", source="data", fix="pass more stimuli")
    if values.shape[-1] == 0:
        raise DataError("the data have no neuroids", source="data", fix="pass at least one neuroid")
    if remove_mean and method not in ("correlation", "poisson", "poisson_cv"):
        values = values - values.mean(axis=-1, keepdims=True)
    largest = float(np.abs(values).max()) if values.size else 0.0
    if method in _SQUARED and 0 < largest < _SMALLEST:
        raise DataError(f"the {method!r} dissimilarities underflow float64: the data are of extreme magnitude "
                        f"(largest |value| {largest:.3g}), so their squares round to 0", source="data",
                        fix="rescale the data (e.g. to unit variance) or use a scale-free method such as "
                            "'correlation' or 'cosine'")
    attrs: dict[str, Any] = {"method": method, "n_stimuli": n}
    kwargs: dict[str, Any] = {}
    if spec.noise:
        precision, diagonal, attrs["noise"] = rm.resolve_noise(noise, data, values, codes, n)
        kwargs.update(precision=precision, diagonal=diagonal)
    elif noise is not None:
        raise ConfigError(f"method {method!r} takes no noise precision", source="noise",
                          fix="pass noise only with method='mahalanobis' or 'crossnobis'")
    if spec.prior:
        kwargs.update(prior_lambda=prior_lambda, prior_weight=prior_weight)
    if spec.cross_validated:
        sums, counts, descriptor, n_folds = rm.fold_sums_of(data, cv_descriptor, values, codes, n, uniques,
                                                            source="data")
        with np.errstate(over="ignore", invalid="ignore"):  # non-finite results raise below
            square = spec.function(sums, counts, **kwargs)
        attrs.update(cv_descriptor=descriptor, n_folds=n_folds)
    else:
        with np.errstate(over="ignore", invalid="ignore"):  # non-finite results raise below
            square = spec.function(rm.condition_means(values, codes, n), **kwargs)
    if not np.all(np.isfinite(square)):  # finite data (validated), so an overflow of the squared distances
        raise DataError(f"the {method!r} dissimilarities overflow float64: the data are of extreme magnitude "
                        f"(largest |value| {largest:.3g})", source="data",
                        fix="rescale the data (e.g. to unit variance) or use a scale-free method such as "
                            "'correlation' or 'cosine'")
    rows, cols = np.triu_indices(n, k=1)
    coords: dict[str, Any] = {d: data[d] for d in batch if d in data.coords}
    for name, coord in data.coords.items():
        if set(coord.dims) <= set(batch) and name not in coords:
            coords[name] = coord
    first = np.unique(codes, return_index=True)[1]
    coords.update(_pair_coords(_stimulus_metadata(data, codes, first), rows, cols))
    params = {"method": method, "noise": attrs.get("noise"), "cv_descriptor": attrs.get("cv_descriptor"),
              "prior_lambda": prior_lambda, "prior_weight": prior_weight, "remove_mean": remove_mean}
    attrs.update(provenance(params, {"data": data}))
    return xr.DataArray(square[..., rows, cols], dims=(*batch, PAIR), coords=coords, attrs=attrs)


def _stimulus_metadata(data: xr.DataArray, codes: np.ndarray, first: np.ndarray) -> dict[str, np.ndarray]:
    """Presentation coordinates that are constant within every stimulus, one value per stimulus."""
    meta = {"stimulus_id": np.asarray(data[STIMULUS_ID].values)[first]}
    for name, coord in data.coords.items():
        if coord.dims != (PRESENTATION,) or name == STIMULUS_ID:
            continue
        values = np.asarray(coord.values)
        per_stimulus = values[first]
        if pd.Index(values).equals(pd.Index(per_stimulus[codes])):
            meta[name] = per_stimulus
    return meta


def _pair_coords(meta: Mapping[str, np.ndarray], rows: np.ndarray, cols: np.ndarray) -> dict[str, tuple]:
    return {f"{name}_{side}": (PAIR, np.asarray(values)[index])
            for name, values in meta.items() for side, index in (("a", rows), ("b", cols))}


# ----------------------------------------------------------------------------- forms
def rdm_stimulus_ids(rdm: xr.DataArray) -> np.ndarray:
    """The stimulus order of a vector-form RDM, read off its pair coordinates."""
    if not isinstance(rdm, xr.DataArray) or PAIR not in rdm.dims or ID_A not in rdm.coords:
        raise SchemaError("not a vector-form RDM (no 'pair' dim with stimulus_id_a/b)", source="rdm",
                          fix="build RDMs with compute_rdm, as_rdm or to_vector")
    n = _n_from_pairs(rdm.sizes[PAIR])
    return np.concatenate([rdm[ID_A].values[:1], rdm[ID_B].values[: n - 1]])


def _n_from_pairs(n_pairs: int) -> int:
    n = round((1 + np.sqrt(1 + 8 * n_pairs)) / 2)
    if n * (n - 1) // 2 != n_pairs or n < 2:
        raise SchemaError(f"{n_pairs} pairs is not n(n-1)/2 for any n", source="rdm",
                          fix="pass a complete upper triangle")
    return n


def _metadata_of(rdm: xr.DataArray, n: int) -> dict[str, np.ndarray]:
    """Per-stimulus metadata stored as ``<name>_a``/``<name>_b`` pair coordinates."""
    meta = {}
    for name in rdm.coords:
        if name.endswith("_a") and name[:-2] + "_b" in rdm.coords and rdm[name].dims == (PAIR,):
            base = name[:-2]
            meta[base] = np.concatenate([rdm[name].values[:1], rdm[base + "_b"].values[: n - 1]])
    return meta


def to_square(rdm: Any) -> xr.DataArray:
    """Vector form (or anything :func:`as_rdm` takes) → square ``(*batch, stimulus_id_a, stimulus_id_b)``.

    The diagonal is zero; stimulus metadata becomes coordinates on both axes.
    """
    rdm = as_rdm(rdm)
    meta = _metadata_of(rdm, _n_from_pairs(rdm.sizes[PAIR]))
    ids = meta.pop("stimulus_id")
    n = len(ids)
    batch = [d for d in rdm.dims if d != PAIR]
    vector = rdm.transpose(*batch, PAIR).values
    square = np.zeros(vector.shape[:-1] + (n, n), dtype=np.result_type(vector.dtype, float))
    rows, cols = np.triu_indices(n, k=1)
    square[..., rows, cols] = vector
    square[..., cols, rows] = vector
    coords: dict[str, Any] = {name: coord for name, coord in rdm.coords.items() if PAIR not in coord.dims}
    coords.update({ID_A: ids, ID_B: ids})
    for name, values in meta.items():
        coords[f"{name}_a"] = (ID_A, values)
        coords[f"{name}_b"] = (ID_B, values)
    return xr.DataArray(square, dims=(*batch, ID_A, ID_B), coords=coords, attrs=dict(rdm.attrs))


def to_vector(square: xr.DataArray | np.ndarray, stimulus_ids: Sequence | np.ndarray | None = None) -> xr.DataArray:
    """Square form (labelled or a plain ``(…, n, n)`` array) → vector form.

    The square must be symmetric; only its upper triangle is read.
    """
    if isinstance(square, xr.DataArray) and ID_A in square.dims:
        batch = [d for d in square.dims if d not in (ID_A, ID_B)]
        values = square.transpose(*batch, ID_A, ID_B).values
        ids = square[ID_A].values
        coords = {name: c for name, c in square.coords.items() if not ({ID_A, ID_B} & set(c.dims))}
        attrs = dict(square.attrs)
        meta = {name[:-2]: square[name].values for name in square.coords
                if name.endswith("_a") and square[name].dims == (ID_A,) and name != ID_A}
        if not np.array_equal(ids, square[ID_B].values):
            raise AlignmentError("rows and columns list different stimuli", source="rdm",
                                 fix="order both axes of the square RDM the same way")
    else:
        values = _float_array(square)
        batch = [f"rdm_{i}" for i in range(values.ndim - 2)] if values.ndim > 2 else []
        ids = np.arange(values.shape[-1]).astype(str) if stimulus_ids is None else np.asarray(stimulus_ids)
        coords, attrs, meta = {}, {}, {}
    n = values.shape[-1]
    if values.ndim < 2 or values.shape[-2] != n or len(ids) != n:
        raise SchemaError(f"a square RDM needs shape (..., n, n) with n ids, got {values.shape}", source="rdm",
                          fix="pass square matrices and one stimulus id per row")
    _check_no_inf(values)
    if not np.allclose(values, np.swapaxes(values, -1, -2), equal_nan=True):
        raise DataError("the RDM is not symmetric", source="rdm", fix="symmetrise it, e.g. (D + D.T) / 2")
    rows, cols = np.triu_indices(n, k=1)
    coords.update(_pair_coords({"stimulus_id": ids, **meta}, rows, cols))
    return xr.DataArray(values[..., rows, cols], dims=(*batch, PAIR), coords=coords, attrs=attrs)


def _float_array(values: Any) -> np.ndarray:
    """``values`` as a float array; DataError for anything but numbers (a None would silently become NaN)."""
    if isinstance(values, (Mapping, xr.Dataset)):
        raise ConfigError(f"expected one RDM (an array), got a {type(values).__name__}", source="rdm",
                          fix="pass the RDMs one at a time, or stack them: as_rdm(np.stack(list(rdms.values())), "
                              "dims=['model'])")
    try:
        raw = np.asarray(values)
    except ValueError:  # ragged nested lists
        raw = np.asarray(values, dtype=object)
    numeric = raw.dtype.kind in "biuf" or (raw.dtype.kind == "O" and all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in raw.ravel()))
    if not numeric:
        raise DataError(f"dissimilarities must be numbers, got values of dtype {raw.dtype}", source="rdm",
                        fix="pass a numeric vector or square matrix (NaN marks a missing pair)")
    return raw.astype(float)


def _check_no_inf(values: np.ndarray) -> None:
    """Raise on infinite dissimilarities (NaN marks a missing pair and is allowed)."""
    infinite = np.isinf(values)
    if infinite.any():
        raise DataError(f"{int(infinite.sum())} dissimilarit{'y is' if infinite.sum() == 1 else 'ies are'} "
                        "infinite", source="rdm",
                        fix="fix the computation that produced them, or set them to NaN to mark missing pairs")


def _relabelled(rdm: xr.DataArray, stimulus_ids: Sequence | np.ndarray) -> xr.DataArray:
    """A vector-form RDM with its stimuli renamed, in their current order, to ``stimulus_ids``."""
    n = _n_from_pairs(rdm.sizes[PAIR])
    ids = np.asarray(stimulus_ids)
    if ids.shape != (n,):
        raise SchemaError(f"{ids.size} stimulus ids for an RDM of {n} stimuli", source="stimulus_ids",
                          fix="pass one id per stimulus, in the RDM's stimulus order")
    if len(pd.unique(ids)) != n:
        raise SchemaError("stimulus ids are not unique", source="stimulus_ids", fix="pass one distinct id per stimulus")
    rows, cols = np.triu_indices(n, k=1)
    return rdm.assign_coords(_pair_coords({"stimulus_id": ids}, rows, cols))


def as_rdm(
    values: Any,
    stimulus_ids: Sequence | np.ndarray | None = None,
    *,
    form: str = "auto",
    order: str = "squareform",
    dims: Sequence[str] | None = None,
    stimulus_coords: Mapping[str, Sequence] | None = None,
    method: str | None = None,
) -> xr.DataArray:
    """Wrap existing RDMs (square matrices, stacks of them, or upper-triangle vectors) as labelled RDMs.

    Parameters
    ----------
    values : array_like or xarray.DataArray
        A vector-form RDM (returned as is), a labelled square RDM, or a plain
        array: ``(n_pairs,)`` vector, ``(…, n, n)`` symmetric squares, or with
        ``form="vector"`` a ``(…, n_pairs)`` stack of vectors.  A DataArray
        without RDM dims keeps the names and coordinates of its leading dims.
    stimulus_ids : sequence, optional
        One id per stimulus, in the order of the rows; default ``"0"``,
        ``"1"``, ….  Given with an RDM that is already labelled, it renames
        that RDM's stimuli (keeping their order), e.g. to give an RDM read
        from a file the ids of the stimuli it was measured on.
    form : {"auto", "square", "vector"}
        ``"auto"`` reads 1-D input as a vector and ``(…, n, n)`` input as
        squares; a stack of vectors must say ``form="vector"`` (a 2-D array is
        never silently taken for one).
    order : {"squareform", "columnmajor"}
        Order of the entries of a vector.  ``"squareform"`` is the row-major
        upper triangle (``np.triu_indices``), the order of scipy's and
        MATLAB's ``squareform`` (e.g. the 92-image ``.mat`` vectors);
        ``"columnmajor"`` is MATLAB's ``D(triu(true(n), 1))``.
    dims : sequence of str, optional
        Names of the batch dims of a plain array (default ``rdm`` for one,
        ``rdm_0``, ``rdm_1``… for several).
    stimulus_coords : mapping, optional
        Per-stimulus metadata, e.g. ``{"category": [...]}``, stored as
        ``category_a``/``category_b`` pair coordinates.
    method : str, optional
        Recorded in ``attrs["method"]``.

    Returns
    -------
    xarray.DataArray
        Vector form ``(*batch, pair)``.

    Raises
    ------
    SchemaError
        Ambiguous or malformed shapes, or a wrong number of stimulus ids.
    DataError
        Infinite dissimilarities, non-symmetric squares, or a diagonal that
        is neither zero nor NaN (similarities rather than dissimilarities).

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import as_rdm
    >>> rdm = as_rdm(np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0.]]), ["cat", "dog", "car"])
    >>> rdm.values.tolist(), rdm.stimulus_id_b.values.tolist()
    ([1.0, 2.0, 3.0], ['dog', 'car', 'car'])
    >>> as_rdm(np.ones((2, 3)), form="vector").dims
    ('rdm', 'pair')
    """
    if form not in ("auto", "square", "vector"):
        raise ConfigError(f"form must be 'auto', 'square' or 'vector', got {form!r}", source="form",
                          fix="pass form='square' or form='vector'")
    if order not in ("squareform", "columnmajor"):
        raise ConfigError(f"order must be 'squareform' or 'columnmajor', got {order!r}", source="order",
                          fix="pass order='squareform' (scipy/MATLAB squareform) or 'columnmajor'")
    if isinstance(values, xr.DataArray) and (PAIR in values.dims or ID_A in values.dims):
        if PAIR in values.dims:
            rdm_stimulus_ids(values)
            rdm = values.transpose(..., PAIR)
            _check_no_inf(rdm.values)
        else:
            rdm = to_vector(values)
        return rdm if stimulus_ids is None else _relabelled(rdm, stimulus_ids)
    lead_coords: dict[str, Any] = {}
    if isinstance(values, xr.DataArray):
        names = list(values.dims)
        array = _float_array(values.values)
        lead_coords = {k: c for k, c in values.coords.items() if set(c.dims) <= set(names[:-1])}
    else:
        array = _float_array(values)
        names = None
    if array.ndim == 0:
        raise SchemaError("an RDM cannot be a scalar", source="rdm", fix="pass a vector or a square matrix")
    _check_no_inf(array)
    square_like = array.ndim >= 2 and array.shape[-1] == array.shape[-2]
    if form == "auto":
        if array.ndim == 1:
            form = "vector"
        elif square_like:
            form = "square"
        else:
            raise SchemaError(
                f"a {array.ndim}-D array of shape {array.shape} is not square; a stack of upper-triangle "
                "vectors must be declared", source="rdm", fix="pass form='vector' (and dims=[...] to name the stack)")
    n_core = 2 if form == "square" else 1
    n_batch = array.ndim - n_core
    if names is not None:
        batch_dims = names[:n_batch]
    elif dims is not None:
        batch_dims = list(dims)
    else:
        batch_dims = ["rdm"] if n_batch == 1 else [f"rdm_{i}" for i in range(n_batch)]
    if len(batch_dims) != n_batch:
        raise SchemaError(f"{len(batch_dims)} dim names for {n_batch} batch dims", source="dims",
                          fix="pass one name per leading axis")
    if form == "square":
        n = array.shape[-1]
        diagonal = np.diagonal(array, axis1=-2, axis2=-1)
        if np.any(np.abs(np.nan_to_num(diagonal)) > 1e-8 * max(1.0, np.nanmax(np.abs(array), initial=0.0))):
            raise DataError("the diagonal is not zero, so these are not dissimilarities", source="rdm",
                            fix="convert similarities to dissimilarities first, e.g. 1 - r")
        if not np.allclose(array, np.swapaxes(array, -1, -2), equal_nan=True):
            raise DataError("the RDM is not symmetric", source="rdm", fix="symmetrise it, e.g. (D + D.T) / 2")
        rows, cols = np.triu_indices(n, k=1)
        vector = array[..., rows, cols]
    else:
        n = _n_from_pairs(array.shape[-1])
        vector = array
        if order == "columnmajor":
            rows, cols = np.triu_indices(n, k=1)
            colmajor = np.lexsort((rows, cols))  # entry k of a column-major vector is pair colmajor[k]
            vector = np.empty_like(array)
            vector[..., colmajor] = array
    ids = np.arange(n).astype(str) if stimulus_ids is None else np.asarray(stimulus_ids)
    if ids.shape != (n,):
        raise SchemaError(f"{ids.size} stimulus ids for an RDM of {n} stimuli", source="stimulus_ids",
                          fix="pass one id per row of the RDM")
    if len(pd.unique(ids)) != n:
        raise SchemaError("stimulus ids are not unique", source="stimulus_ids", fix="pass one distinct id per stimulus")
    meta = {"stimulus_id": ids}
    for name, coord in (stimulus_coords or {}).items():
        coord = np.asarray(coord)
        if coord.shape != (n,):
            raise SchemaError(f"stimulus coordinate {name!r} has {coord.size} values for {n} stimuli",
                              source="stimulus_coords", fix="pass one value per stimulus")
        meta[name] = coord
    rows, cols = np.triu_indices(n, k=1)
    coords = dict(lead_coords)
    coords.update(_pair_coords(meta, rows, cols))
    attrs = {"method": method} if method is not None else {}
    return xr.DataArray(vector, dims=(*batch_dims, PAIR), coords=coords, attrs=attrs)
