"""Encoding models: how well do a layer's features linearly predict each neuroid?

Brain-Score's neural predictivity, on the data model:

1. average the brain data's repetitions and align model and brain on
   ``stimulus_id`` (an exact match is required);
2. split the stimuli into cross-validation folds (:mod:`.cv_splits`),
   optionally stratified or grouped by a presentation coordinate;
3. on each fold, fit a regression from the features to all neuroids at once on
   the training stimuli and correlate its predictions with the held-out
   responses: one Pearson r per neuroid and fold;
4. per neuroid, average r over folds; aggregate over neuroids with the median
   (Brain-Score's choice, robust to unreliable neuroids) or the mean;
5. ceil with the split-half reliability of each neuroid, corrected with
   Spearman–Brown (:func:`.split_half_ceiling`), aggregated the same way.
   ``ceiled = aggregate(r) / aggregate(ceiling)``.

Note on the ceiling: the Spearman–Brown reliability ρ is the correlation
between two independent repetition-averages; a noise-free model correlates
with one of them at √ρ, so ceiled scores of near-perfect models can exceed 1.
This is Brain-Score's convention, kept for comparability.

The ridge regression (:class:`~neuroalign.compare.encoding.ridge.RidgeEncoder`) chooses
one penalty per neuroid by exact leave-one-out error over a grid (see :mod:`.ridge`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import xarray as xr
from sklearn.base import clone
from tqdm.auto import tqdm

from ...data.align import align, average_repetitions
from ...data.layers import LAYER, as_layer_mapping
from ...data.provenance import hash_array, provenance
from ...data.schema import NEUROID, NEUROID_ID, PRESENTATION, validate
from ...errors import ConfigError, DataError, SchemaError, UnknownNameError
from ...score import Score
from ..common.ceiling import split_half_ceiling
from ..common.cv_splits import resolve_cv
from .ridge import DEFAULT_ALPHAS, RidgeEncoder

__all__ = ["RidgeEncoder", "encoding_score", "encoding_sweep", "pearson_per_neuroid", "REGRESSIONS",
           "AGGREGATIONS", "DEFAULT_ALPHAS"]

log = logging.getLogger(__name__)

SPLIT = "split"
PLS_COMPONENTS = 25  # Brain-Score's PLS regression


def _pls(n_train: int, n_features: int, **params: Any):
    from sklearn.cross_decomposition import PLSRegression

    n_components = params.pop("n_components", PLS_COMPONENTS)
    limit = min(n_features, n_train - 1)
    if n_components > limit:
        log.info("PLS: %d components requested, %d possible; using %d", n_components, limit, limit)
        n_components = limit
    return PLSRegression(n_components=n_components, **{"scale": False, **params})


#: Registry of regressions: name → factory(n_train, n_features, **params) → scikit-learn regressor.
REGRESSIONS: dict[str, Callable[..., Any]] = {
    "ridge": lambda n_train, n_features, **params: RidgeEncoder(**params),
    "pls": _pls,
}

#: How per-neuroid values are aggregated.
AGGREGATIONS: dict[str, Callable[[xr.DataArray, str], xr.DataArray]] = {
    "median": lambda values, dim: values.median(dim),
    "mean": lambda values, dim: values.mean(dim),
}


def pearson_per_neuroid(a: xr.DataArray, b: xr.DataArray, dim: str = PRESENTATION) -> xr.DataArray:
    """Pearson r between ``a`` and ``b`` along ``dim``, for every neuroid (broadcast over other dims).

    Raises
    ------
    DataError
        A neuroid is constant along ``dim`` in ``a`` or ``b`` (r undefined).

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import pearson_per_neuroid
    >>> from neuroalign.data import create_assembly
    >>> a = create_assembly(np.array([[1., 2.], [2., 1.], [3., 5.]]), stimulus_id=list("xyz"))
    >>> pearson_per_neuroid(a, a).values.round(6).tolist()
    [1.0, 1.0]
    """
    ac, bc = a - a.mean(dim), b - b.mean(dim)
    r = (ac * bc).sum(dim) / np.sqrt((ac**2).sum(dim) * (bc**2).sum(dim))
    if r.isnull().any():
        where = r.isnull()
        ids = []
        if NEUROID in where.dims:
            others = [d for d in where.dims if d != NEUROID]
            bad = (where.any(others) if others else where).values
            labels = r[NEUROID_ID].values if NEUROID_ID in r.coords else np.arange(r.sizes[NEUROID])
            ids = labels[bad][:5].tolist()
        raise DataError(f"{int(where.sum())} correlation(s) are undefined: a neuroid is constant across "
                        f"stimuli (e.g. {ids})", source="data",
                        fix="drop constant neuroids (or constant features) before scoring")
    return r


def _check_2d(array: xr.DataArray, name: str) -> None:
    validate(array, dims=(PRESENTATION, NEUROID), name=name)
    if array.ndim != 2:
        extra = [d for d in array.dims if d not in (PRESENTATION, NEUROID)]
        raise SchemaError(f"expected dims (presentation, neuroid), got {tuple(array.dims)}", source=name,
                          fix=f"select or average the extra dims {extra} first, e.g. array.mean({extra[0]!r})")


def _prepare(model_data: Mapping[str, xr.DataArray], brain_data: xr.DataArray, stratify: str | None,
             groups: str | None) -> tuple[dict[str, np.ndarray], xr.DataArray, xr.DataArray]:
    _check_2d(brain_data, "brain_data")
    brain_mean = average_repetitions(brain_data, name="brain_data")
    features = {}
    for name, layer in model_data.items():
        _check_2d(layer, f"model_data[{name!r}]")
        _, aligned = align(brain_mean, layer, names=("brain_data", f"model_data[{name!r}]"))
        features[name] = aligned.transpose(PRESENTATION, NEUROID).values.astype(float)
        for coord in (stratify, groups):  # split labels may live on the model's stimuli only
            if coord and coord not in brain_mean.coords and coord in aligned.coords:
                brain_mean = brain_mean.assign_coords({coord: (PRESENTATION, aligned[coord].values)})
    return features, brain_mean, brain_data


def _score_layer(features: np.ndarray, targets: xr.DataArray, splits, regression: Any,
                 regression_params: Mapping[str, Any], bar) -> xr.Dataset:
    y = targets.transpose(PRESENTATION, NEUROID).values.astype(float)
    n_train = min(len(train) for train, _ in splits)
    if isinstance(regression, str):
        if regression not in REGRESSIONS:
            raise UnknownNameError(regression, REGRESSIONS, what="regression", source="regression")
        template = REGRESSIONS[regression](n_train, features.shape[1], **dict(regression_params))
    else:
        template = regression
    r = np.empty((len(splits), y.shape[1]))
    alphas = np.full_like(r, np.nan)
    for k, (train, test) in enumerate(splits):  # one fit per fold: each needs its own decomposition
        estimator = clone(template).fit(features[train], y[train])
        predicted = np.asarray(estimator.predict(features[test])).reshape(len(test), -1)
        r[k] = _pearson_columns(predicted, y[test], targets)
        if hasattr(estimator, "alpha_"):
            alphas[k] = estimator.alpha_
        bar.update()
    neuroid_coords = {c: targets[c] for c in targets.coords if targets[c].dims == (NEUROID,)}
    out = xr.Dataset({"r": ((SPLIT, NEUROID), r)}, coords={**neuroid_coords, SPLIT: np.arange(len(splits))})
    if not np.isnan(alphas).all():
        out["alpha"] = ((SPLIT, NEUROID), alphas)
    return out


def _pearson_columns(predicted: np.ndarray, observed: np.ndarray, targets: xr.DataArray) -> np.ndarray:
    pc, oc = predicted - predicted.mean(axis=0), observed - observed.mean(axis=0)
    denominator = np.sqrt((pc**2).sum(axis=0) * (oc**2).sum(axis=0))
    bad = ~(denominator > 1e-300)
    if bad.any():
        ids = targets[NEUROID].values[bad][:5].tolist()
        raise DataError(f"Pearson r is undefined for {int(bad.sum())} neuroid(s) on a test fold (e.g. {ids}): "
                        "the responses or the predictions are constant there", source="brain_data",
                        fix="drop neuroids that are constant across stimuli, or use fewer, larger folds")
    return (pc * oc).sum(axis=0) / denominator


def _ceiling(brain: xr.DataArray, n_splits: int, rng: np.random.Generator) -> xr.DataArray:
    try:
        ceiling = split_half_ceiling(brain, pearson_per_neuroid, n_splits=n_splits, seed=rng,
                                     metric="encoding-ceiling")
    except DataError as error:
        raise DataError(error.problem, source="brain_data",
                        fix="pass ceiling=False to score without a ceiling, or keep repeated stimuli only") from None
    return ceiling.values


def _encoding(model_data: Mapping[str, xr.DataArray], brain_data: xr.DataArray, *, regression: Any,
              regression_params: Mapping[str, Any] | None, cv: Any, stratify: str | None, groups: str | None,
              seed: int, aggregate: str, ceiling: bool, n_ceiling_splits: int, progress: bool) -> list[Score]:
    if aggregate not in AGGREGATIONS:
        raise UnknownNameError(aggregate, AGGREGATIONS, what="aggregation", source="aggregate")
    if not model_data:
        raise ConfigError("no layers to score", source="model_data", fix="pass a mapping of layer name → array")
    rng = np.random.default_rng(seed)
    features, targets, brain = _prepare(model_data, brain_data, stratify, groups)
    splits = resolve_cv(cv, targets, stratify=stratify, groups=groups, seed=rng, min_test=3)
    ceiling_per_neuroid = _ceiling(brain, n_ceiling_splits, rng) if ceiling else None
    reduce = AGGREGATIONS[aggregate]
    name = regression if isinstance(regression, str) else type(regression).__name__
    params = {"regression": name, "regression_params": dict(regression_params or {}), "n_folds": len(splits),
              "stratify": stratify, "groups": groups, "seed": seed, "aggregate": aggregate,
              "n_ceiling_splits": n_ceiling_splits if ceiling else None}
    hashes = {"brain_data": hash_array(brain_data), **{f"model_data[{k}]": hash_array(v) for k, v in features.items()}}
    params["brain_hash"] = hashes["brain_data"]
    scores = []
    with tqdm(total=len(features) * len(splits), disable=not progress, desc="encoding") as bar:
        for layer, values in features.items():
            raw = _score_layer(values, targets, splits, regression, regression_params or {}, bar)
            raw["per_neuroid"] = raw["r"].mean(SPLIT)
            per_split = reduce(raw["r"], NEUROID)
            error = per_split.std(SPLIT, ddof=1) / np.sqrt(len(splits)) if len(splits) > 1 else None
            layer_ceiling = None
            if ceiling_per_neuroid is not None:
                raw["ceiling_per_neuroid"] = ceiling_per_neuroid
                raw["ceiled_per_neuroid"] = raw["per_neuroid"] / ceiling_per_neuroid
                layer_ceiling = reduce(ceiling_per_neuroid, NEUROID)
            layer_params = {**params, "model_hash": hashes[f"model_data[{layer}]"]}
            raw.attrs.update(provenance(params, hashes))
            scores.append(Score(reduce(raw["per_neuroid"], NEUROID), ceiling=layer_ceiling, error=error, raw=raw,
                                metric=f"encoding-{name}", params=layer_params))
    return scores


def encoding_score(
    model_data: xr.DataArray,
    brain_data: xr.DataArray,
    *,
    regression: str | Any = "ridge",
    regression_params: Mapping[str, Any] | None = None,
    cv: Any = 10,
    stratify: str | None = None,
    groups: str | None = None,
    seed: int = 0,
    aggregate: str = "median",
    ceiling: bool = True,
    n_ceiling_splits: int = 10,
    progress: bool = False,
) -> Score:
    """Cross-validated neural predictivity of one representation, ceiled (Brain-Score style).

    Parameters
    ----------
    model_data : xarray.DataArray
        ``(presentation, neuroid)`` features, one row per stimulus.
    brain_data : xarray.DataArray
        ``(presentation, neuroid)`` responses; repetitions (repeated
        ``stimulus_id``) are averaged for the regression and split in halves
        for the ceiling.
    regression : {"ridge", "pls"} or scikit-learn regressor
        ``"ridge"``: :class:`RidgeEncoder` (a LOO-chosen penalty per neuroid);
        ``"pls"``: ``PLSRegression(n_components=25, scale=False)`` as in
        Brain-Score (components capped at what the data allow).  Any object
        with ``fit``/``predict`` is cloned per fold.
    regression_params : mapping, optional
        Passed to the named regression (e.g. ``{"alphas": [...]}``).
    cv : int, splitter or sequence of (train, test)
        Number of folds (default 10, as Brain-Score); an object with
        ``split(data)`` such as :class:`CoordKFold`; or explicit row indices
        into the repetition-averaged, aligned stimuli (brain order).
    stratify, groups : str, optional
        Presentation coordinates (of the brain or model data) for stratified
        or grouped folds when ``cv`` is an int; see :func:`assign_folds`.
    seed : int
        Seeds the folds and the ceiling's splits.
    aggregate : {"median", "mean"}
        Aggregation over neuroids (median by default, as Brain-Score).
    ceiling : bool
        Compute the split-half Spearman–Brown ceiling (needs repetitions).
    n_ceiling_splits : int
        Random split-halves averaged for the ceiling.
    progress : bool
        Show a progress bar over folds.

    Returns
    -------
    Score
        Value: ``aggregate`` over neuroids of the fold-mean Pearson r; error:
        standard error over folds of the per-fold aggregate; ceiling: the
        aggregate of the per-neuroid ceilings.  ``raw`` is a Dataset with
        ``r`` (split, neuroid), ``per_neuroid``, ``ceiling_per_neuroid``,
        ``ceiled_per_neuroid`` and, for ridge, the chosen ``alpha``.

    Raises
    ------
    AlignmentError
        Model and brain data do not hold the same stimuli.
    DataError
        A neuroid is constant on a test fold, or no repetitions with ``ceiling=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import encoding_score
    >>> from neuroalign.data import create_assembly
    >>> rng = np.random.default_rng(0)
    >>> features = rng.normal(size=(40, 50))
    >>> signal = features @ rng.normal(size=(50, 8)) / 7
    >>> brain = create_assembly(np.concatenate([signal + 0.5 * rng.normal(size=signal.shape) for _ in range(2)]),
    ...                         stimulus_id=[f"s{i}" for i in range(40)] * 2)
    >>> model = create_assembly(features, stimulus_id=[f"s{i}" for i in range(40)])
    >>> score = encoding_score(model, brain, cv=5)
    >>> 0.5 < float(score) <= 1, score.raw["r"].dims
    (True, ('split', 'neuroid'))
    """
    if isinstance(model_data, (Mapping, list, tuple)):
        raise ConfigError(f"model_data is a {type(model_data).__name__} of layers; encoding_score scores one array",
                          source="model_data",
                          fix="score every layer with encoding_sweep(model_data, brain_data), or pass one layer's "
                              "DataArray, e.g. model_data['conv1']")
    return _encoding({"model": model_data}, brain_data, regression=regression, regression_params=regression_params,
                     cv=cv, stratify=stratify, groups=groups, seed=seed, aggregate=aggregate, ceiling=ceiling,
                     n_ceiling_splits=n_ceiling_splits, progress=progress)[0]


def encoding_sweep(
    model_data: Mapping[str, xr.DataArray],
    brain_data: xr.DataArray,
    *,
    regression: str | Any = "ridge",
    regression_params: Mapping[str, Any] | None = None,
    cv: Any = 10,
    stratify: str | None = None,
    groups: str | None = None,
    seed: int = 0,
    aggregate: str = "median",
    ceiling: bool = True,
    n_ceiling_splits: int = 10,
    progress: bool = False,
) -> Score:
    """:func:`encoding_score` of every layer, with the same folds and one ceiling → a ``layer`` dim.

    Parameters
    ----------
    model_data : mapping of str to xarray.DataArray
        Layer name → ``(presentation, neuroid)`` features (e.g. from
        :func:`neuroalign.extract.extract`); a single DataArray is one layer
        (see :func:`neuroalign.data.as_layer_mapping`), a list raises
        :class:`ConfigError`.
    brain_data : xarray.DataArray
    regression, regression_params, cv, stratify, groups, seed, aggregate, ceiling, n_ceiling_splits, progress
        As in :func:`encoding_score`; every layer is scored on the same folds.

    Returns
    -------
    Score
        Dim ``layer``; ``raw`` stacks each layer's Dataset along ``layer``.

    Examples
    --------
    >>> from neuroalign.compare import encoding_sweep
    >>> from neuroalign.datasets.synthetic import make_synthetic_study
    >>> from neuroalign.extract import extract
    >>> study = make_synthetic_study(seed=0, n_stimuli=32, n_voxels=20, n_subjects=1)
    >>> acts = extract(study.network, study.stimuli, ["block1", "block3"], progress=False)
    >>> encoding_sweep(acts, study.brain, cv=4, n_ceiling_splits=2).dims
    ('layer',)
    """
    model_data = as_layer_mapping(model_data, argument="model_data")
    scores = _encoding(model_data, brain_data, regression=regression, regression_params=regression_params,
                       cv=cv, stratify=stratify, groups=groups, seed=seed, aggregate=aggregate, ceiling=ceiling,
                       n_ceiling_splits=n_ceiling_splits, progress=progress)
    return Score.concat(scores, LAYER, list(model_data))
