"""Searchlight encoding: how well a layer's features predict the voxels of every sphere.

For every sphere of :func:`~neuroalign.compare.common.searchlight_grid.searchlight_spheres`,
a cross-validated ridge regression from model features to the sphere's voxels
is scored by the mean, over the sphere's voxels, of the fold-averaged
prediction correlation (Pearson r, as :func:`~neuroalign.compare.encoding_score`)
or of the coefficient of determination R².

The features are the same for every sphere and ridge fits each voxel on its
own, so a sphere's model is the sphere's columns of one model of all the
mask's voxels.  Each fold is therefore fitted once, for all voxels of the mask
at once (:class:`~neuroalign.compare.encoding.ridge.RidgeEncoder`: one decomposition of
the training features per fold), every voxel is scored on the held-out
stimuli, and each sphere averages its voxels' scores: no per-sphere refit, and
the same numbers as a loop fitting every sphere separately.  With several
``alphas``, each voxel's penalty is chosen within each training fold by exact
leave-one-out error (an inner cross-validation that never sees the test fold),
as ``RidgeCV(alpha_per_target=True)`` does; a single alpha is plain ridge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from ...data.align import align, average_repetitions
from ...data.provenance import provenance
from ...data.schema import NEUROID, PRESENTATION, STIMULUS_ID, validate
from ...errors import AlignmentError, ConfigError, DataError, SchemaError, UnknownNameError
from ..common.cv_splits import resolve_cv
from .scoring import _pearson_columns
from .ridge import DEFAULT_ALPHAS, RidgeEncoder
from ..rsa.searchlight import _positions
from ..common.searchlight_grid import SearchlightSpheres

__all__ = ["searchlight_encoding", "SEARCHLIGHT_SCORINGS"]

#: Scores of held-out predictions, per voxel and fold.
SEARCHLIGHT_SCORINGS = ("pearson", "r2")


def _r2_columns(predicted: np.ndarray, observed: np.ndarray, targets: xr.DataArray) -> np.ndarray:
    """R² of every column on a test fold (scikit-learn's ``r2_score(..., multioutput="raw_values")``)."""
    total = ((observed - observed.mean(axis=0)) ** 2).sum(axis=0)
    bad = ~(total > 1e-300)
    if bad.any():
        ids = targets[NEUROID].values[bad][:5].tolist()
        raise DataError(f"R² is undefined for {int(bad.sum())} voxel(s) on a test fold (e.g. {ids}): the responses "
                        "are constant there", source="patterns",
                        fix="drop voxels that are constant across stimuli, or use fewer, larger folds")
    return 1.0 - ((observed - predicted) ** 2).sum(axis=0) / total


def _check_2d(array: Any, name: str) -> None:
    if isinstance(array, Mapping):
        raise ConfigError(f"{name} is a mapping (of layers?); searchlight_encoding takes one array", source=name,
                          fix=f"pass one layer's DataArray, e.g. {name}['block3']")
    if not isinstance(array, xr.DataArray):
        raise SchemaError(f"{name} must be an xarray.DataArray, got {type(array).__name__}", source=name,
                          fix="pass a (presentation, neuroid) DataArray with a stimulus_id coord")
    validate(array, dims=(PRESENTATION, NEUROID), name=name)
    if set(array.dims) != {PRESENTATION, NEUROID}:
        raise SchemaError(f"{name} must have dims (presentation, neuroid) only, got {array.dims}", source=name,
                          fix="select one element of the extra dims first")


def searchlight_encoding(
    patterns: xr.DataArray,
    features: xr.DataArray,
    spheres: SearchlightSpheres,
    *,
    alphas: float | Sequence[float] = DEFAULT_ALPHAS,
    n_splits: int = 5,
    cv: Any = None,
    scoring: str = "pearson",
    random_state: int | np.random.Generator = 0,
    progress: bool = False,
) -> xr.DataArray:
    """Cross-validated ridge encoding of every searchlight sphere: a labelled map.

    Repetitions of a stimulus in ``patterns`` are averaged; patterns and
    features are matched on ``stimulus_id`` and put in sorted ``stimulus_id``
    order (so the folds, and the map, do not depend on the order of the
    input rows).  On every fold one ridge model of all the mask's voxels is
    fitted on the training stimuli; every voxel's held-out predictions are
    scored; a sphere's value is the mean over its voxels of the fold-averaged
    scores.

    Parameters
    ----------
    patterns : xarray.DataArray
        ``(presentation, neuroid)`` patterns (e.g. from
        :func:`neuroalign.loaders.glm.estimate_patterns`) with
        ``voxel_i``/``voxel_j``/``voxel_k`` neuroid coords; every voxel of the
        spheres' mask must be in it.
    features : xarray.DataArray
        ``(presentation, neuroid)`` model features (e.g. one layer of
        :func:`neuroalign.extract.extract`), one row per stimulus.
    spheres : SearchlightSpheres
        From :func:`~neuroalign.compare.common.searchlight_grid.searchlight_spheres`.
    alphas : float or sequence of float
        Ridge penalties.  One value: plain ridge with that penalty; several:
        each voxel's penalty is chosen on each training fold by exact
        leave-one-out error (:class:`~neuroalign.compare.RidgeEncoder`).
    n_splits : int
        Number of cross-validation folds (random, seeded by ``random_state``).
    cv : splitter or sequence of (train, test), optional
        Overrides ``n_splits``: an object with ``split(data)`` or explicit row
        indices into the stimuli in sorted ``stimulus_id`` order.
    scoring : {"pearson", "r2"}
        Held-out Pearson r (default) or R² (``1 - SS_res / SS_tot`` on the
        test fold) of each voxel.
    random_state : int or numpy.random.Generator
        Seeds the folds.
    progress : bool
        Show a progress bar over folds.

    Returns
    -------
    xarray.DataArray
        Dim ``neuroid``: one value per sphere centre, with the centres'
        ``neuroid_id``, voxel and mm coords and ``sphere_size``; attrs
        ``affine``, ``grid_shape``, ``radius``, ``units``, ``threshold``,
        ``scoring``, ``n_folds`` and provenance, so that
        :func:`neuroalign.loaders.voxels.to_nifti` writes it as an image.

    Raises
    ------
    AlignmentError
        Patterns and features hold different stimuli, or patterns on another
        grid than the spheres.
    SchemaError
        Inputs without the (presentation, neuroid) dims or voxel coords.
    DataError
        A voxel constant on a test fold, non-finite values.
    ConfigError, UnknownNameError
        Bad alphas, folds or scoring.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.compare.common.searchlight_grid import searchlight_spheres
    >>> from neuroalign.compare.encoding.searchlight import searchlight_encoding
    >>> rng = np.random.default_rng(0)
    >>> ijk = np.argwhere(np.ones((3, 3, 3), bool))
    >>> ids = [f"s{i}" for i in range(20)]
    >>> features = create_assembly(rng.normal(size=(20, 4)), stimulus_id=ids)
    >>> voxels = features.values @ rng.normal(size=(4, 27)) + rng.normal(size=(20, 27))
    >>> patterns = create_assembly(voxels, stimulus_id=ids,
    ...     neuroid={"voxel_i": ijk[:, 0], "voxel_j": ijk[:, 1], "voxel_k": ijk[:, 2]})
    >>> spheres = searchlight_spheres(np.ones((3, 3, 3)), radius=1.5)
    >>> r = searchlight_encoding(patterns, features, spheres, alphas=1.0, n_splits=4)
    >>> r.dims, r.shape, bool((r > 0.3).all())
    (('neuroid',), (27,), True)
    """
    if scoring not in SEARCHLIGHT_SCORINGS:
        raise UnknownNameError(scoring, SEARCHLIGHT_SCORINGS, what="scoring", source="scoring")
    if not isinstance(spheres, SearchlightSpheres):
        raise ConfigError(f"spheres must be SearchlightSpheres, got {type(spheres).__name__}", source="spheres",
                          fix="make them with searchlight_spheres(mask, radius)")
    _check_2d(patterns, "patterns")
    _check_2d(features, "features")
    alpha_grid = np.atleast_1d(np.asarray(alphas, dtype=float)).ravel()  # RidgeEncoder checks the values
    positions = _positions(patterns, spheres)
    brain = average_repetitions(patterns.isel({NEUROID: positions}), name="patterns")
    try:
        brain, model = align(brain, features, names=("patterns", "features"))
    except AlignmentError as error:
        raise AlignmentError(error.problem, source="patterns/features",
                             fix="pass features of exactly the stimuli of the patterns (select the shared "
                                 "stimulus_ids in both, or fix the ids)") from None
    order = np.argsort(brain[STIMULUS_ID].values.astype(str), kind="stable")
    brain, model = brain.isel({PRESENTATION: order}), model.isel({PRESENTATION: order})
    y = np.asarray(brain.transpose(PRESENTATION, NEUROID).values, dtype=float)
    x = np.asarray(model.transpose(PRESENTATION, NEUROID).values, dtype=float)
    if not np.all(np.isfinite(y)):
        raise DataError("the patterns of the mask's voxels contain NaN or inf", source="patterns",
                        fix="drop or impute non-finite voxels (or leave them out of the mask)")
    splits = resolve_cv(n_splits if cv is None else cv, brain, seed=random_state, min_test=3 if scoring == "pearson"
                        else 2)
    score = _pearson_columns if scoring == "pearson" else _r2_columns
    per_voxel = np.zeros(y.shape[1])
    for train, test in tqdm(splits, desc="searchlight encoding", disable=not progress):
        # one fit for every voxel of the mask: the features, hence the decomposition, are shared by all spheres
        model_fit = RidgeEncoder(alphas=alpha_grid).fit(x[train], y[train])
        per_voxel += score(model_fit.predict(x[test]), y[test], brain)
    per_voxel /= len(splits)
    out = np.empty(spheres.n_spheres)
    for rows, index in spheres.groups():  # spheres of one size: one gather and mean
        out[rows] = per_voxel[index].mean(axis=1)
    params = {"scoring": scoring, "alphas": [float(a) for a in alpha_grid], "n_folds": len(splits),
              "n_splits": n_splits, "cv": "explicit" if cv is not None else None,
              "random_state": random_state if isinstance(random_state, int) else "generator",
              "radius": spheres.radius, "units": spheres.units, "threshold": spheres.threshold}
    attrs = {"scoring": scoring, "n_folds": len(splits), "n_stimuli": len(y), "radius": spheres.radius,
             "units": spheres.units, "threshold": spheres.threshold,
             "affine": [float(v) for v in spheres.affine.ravel()], "grid_shape": list(spheres.grid_shape)}
    attrs.update(provenance(params, {"patterns": patterns, "features": features}))
    return xr.DataArray(out, dims=(NEUROID,), coords=dict(spheres.centre_coords()), attrs=attrs,
                        name=f"encoding_{scoring}")
