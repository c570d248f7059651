"""Searchlight RSA: an RDM per sphere in batched products, compared with model or layer RDMs.

:func:`searchlight_rdms` computes the RDM of every sphere of
:func:`~neuroalign.compare.common.searchlight_grid.searchlight_spheres` with the
measures of :func:`~neuroalign.compare.compute_rdm` (same definitions, same
numbers as ``compute_rdm`` of each sphere's voxels): spheres of equal size are
stacked, and each stack goes through the measure as one batched product.
:func:`searchlight_compare` compares every sphere's RDM with model or layer
RDMs by any method of :func:`~neuroalign.compare.compare_rdms`, optionally
with the across-subject noise ceiling of
:func:`~neuroalign.compare.noise_ceiling`; the map keeps the voxel coords
and grid attrs that :func:`neuroalign.loaders.voxels.to_nifti` needs to write it
back into the mask's image grid.  The numbers equal rsatoolbox's
``get_searchlight_RDMs`` and ``evaluate_models_searchlight`` on the same spheres.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from ..._threads import thread_map
from ...data.provenance import provenance
from ...data.schema import NEUROID, PRESENTATION, STIMULUS_ID, label_index, validate
from ...errors import AlignmentError, ConfigError, DataError, SchemaError, UnknownNameError
from . import rdm_methods as rm
from .comparison_methods import single_threaded_blas
from .noise_ceiling import noise_ceiling as _noise_ceiling
from .rdm import _SMALLEST, _SQUARED, PAIR, RDM_METHODS, _pair_coords, _stimulus_metadata
from .rdm_comparison import checked_options, compared, matched_rdm
from ..common.searchlight_grid import VOXEL_COORDS, SearchlightSpheres

__all__ = ["searchlight_compare", "searchlight_rdms"]

_BUDGET = 2**17  # floats per chunk of stacked spheres (1 MB: cache-resident, measured fastest)
_COMPARE_BUDGET = 2**20  # floats of the sphere RDMs of one compare_rdms call (8 MB, measured fastest)
_MODERATE = 2.0**180  # nonzero |values| in [1/_MODERATE, _MODERATE]: no sphere's sums of squares over- or underflow
_MAX_SIZE = 2**20  # voxels per sphere within which that bound holds


def _moderate(values: np.ndarray, largest_sphere: int) -> bool:
    """Whether correlation may skip its per-pattern power-of-two rescaling with the same result to the last bit.

    Rescaling by a power of two commutes with every correctly rounded step
    (sums, the mean, squares, the square root, the division by the norm) as
    long as no intermediate overflows or becomes subnormal, with or without
    the rescaling; finite values whose nonzero magnitudes lie within
    2^±180 keep every intermediate of a sphere of up to 2^20 voxels normal.
    """
    if largest_sphere > _MAX_SIZE or not np.all(np.isfinite(values)):
        return False
    magnitudes = np.abs(values)
    nonzero = magnitudes[magnitudes > 0]
    return nonzero.size == 0 or (float(nonzero.min()) >= 1 / _MODERATE and float(nonzero.max()) <= _MODERATE)


def _positions(patterns: xr.DataArray, spheres: SearchlightSpheres) -> np.ndarray:
    """For each voxel of the spheres' mask, its position along the patterns' ``neuroid`` dim."""
    missing = [c for c in VOXEL_COORDS if c not in patterns.coords]
    if missing:
        raise SchemaError(f"the patterns lack the neuroid coords {missing}", source="patterns",
                          fix="pass patterns with voxel_i/voxel_j/voxel_k coords (the GLM's output)")
    if "grid_shape" in patterns.attrs and tuple(int(s) for s in patterns.attrs["grid_shape"]) != spheres.grid_shape:
        raise AlignmentError(f"the patterns' grid {tuple(patterns.attrs['grid_shape'])} is not the spheres' "
                             f"{spheres.grid_shape}", source="spheres",
                             fix="make the spheres from a mask on the patterns' grid (or from the patterns)")
    if "affine" in patterns.attrs and not np.allclose(np.asarray(patterns.attrs["affine"], float).reshape(4, 4),
                                                      spheres.affine, atol=1e-3):
        raise AlignmentError("the patterns' affine is not the spheres' affine", source="spheres",
                             fix="make the spheres from a mask on the patterns' grid (or from the patterns)")
    ijk = np.stack([np.asarray(patterns[c].values, dtype=np.int64) for c in VOXEL_COORDS], axis=1)
    outside = np.any((ijk < 0) | (ijk >= np.array(spheres.grid_shape)), axis=1)
    if outside.any():
        raise AlignmentError(f"{int(outside.sum())} voxels of the patterns lie outside the spheres' grid "
                             f"{spheres.grid_shape} (e.g. voxel {tuple(ijk[outside][0].tolist())})", source="spheres",
                             fix="make the spheres from a mask on the patterns' grid (or from the patterns)")
    flat = pd.Index(np.ravel_multi_index(tuple(ijk.T), spheres.grid_shape))
    if not flat.is_unique:
        raise DataError("the patterns list a voxel twice", source="patterns", fix="drop duplicated voxels")
    wanted = np.ravel_multi_index(tuple(spheres.voxels.T), spheres.grid_shape)
    positions = flat.get_indexer(wanted)
    if np.any(positions < 0):
        i, j, k = spheres.voxels[np.flatnonzero(positions < 0)[0]]
        raise AlignmentError(f"{int((positions < 0).sum())} voxels of the spheres' mask are not in the patterns "
                             f"(e.g. voxel ({i}, {j}, {k}))", source="spheres",
                             fix="make the spheres from the patterns themselves or from a mask within them")
    return positions


def _stack(array: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``array`` (V, ...) gathered at ``index`` (c, size) with voxels moved last: (c, ..., size)."""
    return np.moveaxis(array[index], 1, -1)


def _prepare(values, codes, uniques, method, data, noise, cv_descriptor):
    """Per-voxel inputs (voxels first) and the function mapping gathered inputs to square RDMs."""
    spec, n = RDM_METHODS[method], len(uniques)
    if spec.cross_validated:
        sums, counts, descriptor, n_folds = rm.fold_sums_of(data, cv_descriptor, values, codes, n, uniques,
                                                            source="patterns")
        per_voxel = np.moveaxis(sums, -1, 0)  # (V, n, k)
        extra = {"cv_descriptor": descriptor, "n_folds": n_folds}
    else:
        per_voxel = rm.condition_means(values, codes, n).T  # (V, n)
        counts, extra = None, {}
    if noise is None:
        noise_kind, noise_values = "identity", None
    elif not spec.noise:
        raise ConfigError(f"method {method!r} takes no noise precision", source="noise",
                          fix="pass noise only with method='mahalanobis' or 'crossnobis'")
    elif isinstance(noise, str):
        if noise not in rm.NOISE_ESTIMATORS:
            raise UnknownNameError(noise, rm.NOISE_ESTIMATORS, what="noise estimator", source="noise")
        residuals, dof = rm.residuals_of(values, codes, n)
        noise_kind, noise_values = noise, (residuals.T, dof)
    else:
        noise_kind, noise_values = "diagonal precision", noise  # validated and put in the voxels' order by the caller
    return spec, per_voxel, counts, noise_kind, noise_values, extra


def _sphere_rdms(index, spec, per_voxel, counts, noise_kind, noise_values, options, remove_mean):
    """Square RDMs ``(c, n, n)`` of the spheres whose voxels are ``index`` (c, size)."""
    stacked = _stack(per_voxel, index)  # (c, n, size) or (c, n, k, size)
    if remove_mean:
        stacked = stacked - stacked.mean(axis=-1, keepdims=True)
    kwargs = dict(options)
    if noise_kind in rm.NOISE_ESTIMATORS:
        residuals, dof = noise_values
        residuals = _stack(residuals, index)
        if remove_mean:  # the residuals of demeaned presentations are the residuals demeaned (linear)
            residuals = residuals - residuals.mean(axis=-1, keepdims=True)
        kwargs.update(precision=rm.precision_from_residuals(residuals, dof, noise_kind, source="noise"),
                      diagonal=False)
    elif noise_values is not None:
        kwargs.update(precision=noise_values[index], diagonal=True)
    with np.errstate(over="ignore", invalid="ignore"):
        if spec.cross_validated:
            return spec.function(stacked, counts, **kwargs)
        return spec.function(stacked, **kwargs)


def searchlight_rdms(
    patterns: xr.DataArray | Mapping[str, xr.DataArray],
    spheres: SearchlightSpheres,
    method: str = "correlation",
    *,
    noise: str | np.ndarray | None = None,
    cv_descriptor: str | None = None,
    prior_lambda: float = 1.0,
    prior_weight: float = 0.1,
    remove_mean: bool = False,
    subject: str = "subject",
    progress: bool = False,
) -> xr.DataArray:
    """The RDM of every searchlight sphere, in vector form over ``(neuroid, pair)``.

    Each sphere's RDM equals ``compute_rdm(patterns.isel(neuroid=sphere), method, ...)``;
    spheres of one size are stacked and computed in batched products.  Stimuli
    keep the order of their first presentation (rsatoolbox sorts them; the
    pair coords say which is which).

    Parameters
    ----------
    patterns : xarray.DataArray or mapping of str to xarray.DataArray
        ``(presentation, neuroid)`` patterns with ``voxel_i``/``voxel_j``/``voxel_k``
        neuroid coords; a mapping (subject → patterns on one grid, the same
        stimuli) adds a ``subject`` dim.
    spheres : SearchlightSpheres
        From :func:`~neuroalign.compare.common.searchlight_grid.searchlight_spheres`; every
        voxel of its mask must be in the patterns.
    method : str
        An RDM method of :data:`~neuroalign.compare.RDM_METHODS` (e.g.
        ``"correlation"``, ``"sqeuclidean"`` = rsatoolbox's ``"euclidean"``,
        ``"euclidean"``, ``"crossnobis"`` with runs).
    noise : str or numpy.ndarray, optional
        For ``mahalanobis``/``crossnobis``: None (identity), an estimator of
        :data:`~neuroalign.compare.NOISE_ESTIMATORS` (a shrinkage precision per
        sphere from the repetitions), or a ``(n_neuroids,)`` diagonal precision
        (e.g. 1 / residual variances: univariate noise normalisation).
    cv_descriptor, prior_lambda, prior_weight, remove_mean
        As in :func:`~neuroalign.compare.compute_rdm`.
    subject : str
        Name of the dim of a mapping's entries.
    progress : bool
        Show a progress bar over the sphere sizes.

    Returns
    -------
    xarray.DataArray
        Dims ``([subject,] neuroid, pair)``: one row per sphere, with the
        centres' ``neuroid_id``, voxel and mm coords and ``sphere_size``; pair
        coords as :func:`~neuroalign.compare.compute_rdm`'s; attrs ``method``,
        ``radius``, ``units``, ``threshold``, ``affine``, ``grid_shape``, provenance.

    Raises
    ------
    SchemaError, AlignmentError
        Patterns without voxel coords, or on another grid than the spheres.
    DataError
        Fewer than 3 stimuli, a constant pattern in a sphere (correlation), or
        non-finite dissimilarities.
    UnknownNameError, ConfigError
        Unknown method or noise estimator; invalid noise.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.compare.common.searchlight_grid import searchlight_spheres
    >>> from neuroalign.compare.rsa.searchlight import searchlight_rdms
    >>> ijk = np.argwhere(np.ones((4, 4, 4), bool))
    >>> x = create_assembly(np.random.default_rng(0).normal(size=(5, 64)), stimulus_id=list("abcde"),
    ...     neuroid={"voxel_i": ijk[:, 0], "voxel_j": ijk[:, 1], "voxel_k": ijk[:, 2]})
    >>> rdms = searchlight_rdms(x, searchlight_spheres(np.ones((4, 4, 4)), radius=2))
    >>> rdms.dims, rdms.shape
    (('neuroid', 'pair'), (64, 10))
    """
    if method not in RDM_METHODS:
        raise UnknownNameError(method, RDM_METHODS, what="RDM method", source="method")
    if not isinstance(spheres, SearchlightSpheres):
        raise ConfigError(f"spheres must be SearchlightSpheres, got {type(spheres).__name__}", source="spheres",
                          fix="make them with searchlight_spheres(mask, radius)")
    options = {"noise": noise, "cv_descriptor": cv_descriptor, "prior_lambda": prior_lambda,
               "prior_weight": prior_weight, "remove_mean": remove_mean, "progress": progress}
    if isinstance(patterns, Mapping):
        if not patterns:
            raise ConfigError("patterns is empty", source="patterns", fix="pass at least one subject's patterns")
        parts = [searchlight_rdms(p, spheres, method, **options) for p in patterns.values()]
        for name, part in zip(patterns, parts):
            if not parts[0][PAIR].equals(part[PAIR]) or not np.array_equal(parts[0]["stimulus_id_a"].values,
                                                                            part["stimulus_id_a"].values):
                raise AlignmentError(f"subject {name!r} has other stimuli (or another order) than the first",
                                     source="patterns", fix="present the same stimuli to every subject")
        return xr.concat(parts, dim=label_index(list(patterns), subject), combine_attrs="drop_conflicts")
    validate(patterns, dims=(PRESENTATION, NEUROID), name="patterns")
    if set(patterns.dims) != {PRESENTATION, NEUROID}:
        raise SchemaError(f"patterns must have dims (presentation, neuroid) only, got {patterns.dims}",
                          source="patterns", fix="select one element of the extra dims first")
    positions = _positions(patterns, spheres)
    if noise is not None and not isinstance(noise, str):
        diagonal = np.asarray(noise, dtype=float)
        if diagonal.shape != (patterns.sizes[NEUROID],) or not np.all(np.isfinite(diagonal)) or np.any(diagonal <= 0):
            raise ConfigError(f"noise must be None, an estimator name or a positive diagonal precision with one "
                              f"value per neuroid ({patterns.sizes[NEUROID]}), got shape {diagonal.shape}",
                              source="noise",
                              fix="pass noise='shrinkage_diag' (estimated per sphere) or 1 / residual variances")
        noise = diagonal[positions]
    values = np.asarray(patterns.transpose(PRESENTATION, NEUROID).values, dtype=float)[:, positions]
    codes, uniques = pd.factorize(pd.Index(patterns[STIMULUS_ID].values), sort=False)
    n = len(uniques)
    if n < 3:
        raise DataError(f"an RDM needs at least 3 stimuli, got {n}", source="patterns", fix="pass more stimuli")
    largest = float(np.abs(values).max())
    if method in _SQUARED and 0 < largest < _SMALLEST:
        raise DataError(f"the {method!r} dissimilarities underflow float64 (largest |value| {largest:.3g})",
                        source="patterns", fix="rescale the patterns, or use method='correlation'")
    spec, per_voxel, counts, noise_kind, noise_values, extra = _prepare(values, codes, uniques, method, patterns, noise,
                                                                       cv_descriptor)
    kwargs = {"prior_lambda": prior_lambda, "prior_weight": prior_weight} if spec.prior else {}
    demean = remove_mean and method not in ("correlation", "poisson", "poisson_cv")  # as compute_rdm
    rows, cols = np.triu_indices(n, k=1)
    upper = rows * n + cols
    out = np.empty((spheres.n_spheres, rows.size))
    per_voxel_size = int(np.prod(per_voxel.shape[1:]))

    # correlation in one pass per chunk: the gathered patterns laid out (stimulus, sphere, voxel), each
    # sphere's rows centred and scaled to unit norm, their products, and only the upper triangle of 1 - r
    # (the same numbers as rm.correlation, whose diagonal is not kept)
    by_stimulus = (np.ascontiguousarray(per_voxel.T) if method == "correlation"
                   and _moderate(per_voxel, int(spheres.sizes.max(initial=0))) else None)

    def correlation_rows(index: np.ndarray) -> np.ndarray:
        unit = np.swapaxes(rm.centred_unit(by_stimulus[:, index], scale=False), 0, 1)  # (c, n, size)
        products = unit @ np.swapaxes(unit, -1, -2)
        return 1.0 - products.reshape(len(products), n * n)[:, upper]

    def run(task: tuple[np.ndarray, np.ndarray]) -> None:
        spheres_rows, index = task
        try:
            if by_stimulus is not None:
                with np.errstate(over="ignore", invalid="ignore"):
                    out[spheres_rows] = correlation_rows(index)
                return
            square = _sphere_rdms(index, spec, per_voxel, counts, noise_kind, noise_values, kwargs, demean)
        except DataError as err:
            centres = spheres.voxels[spheres.centres[spheres_rows]]
            raise DataError(f"{err.problem} (in one of the spheres centred at voxels {centres[:3].tolist()}...)",
                            source=err.source or "patterns", fix=err.fix) from err
        out[spheres_rows] = square.reshape(len(square), n * n)[:, upper]

    tasks = []
    for sphere_rows, index in spheres.groups():
        step = max(1, _BUDGET // (per_voxel_size * index.shape[1] + n * n))
        tasks += [(sphere_rows[s:s + step], index[s:s + step]) for s in range(0, len(sphere_rows), step)]
    with single_threaded_blas(), tqdm(total=len(tasks), desc="searchlight RDMs", disable=not progress) as bar:
        def task_done(task):
            run(task)
            bar.update()
        thread_map(task_done, tasks)
    if not np.all(np.isfinite(out)):
        raise DataError(f"the {method!r} dissimilarities of some spheres are not finite (extreme magnitudes, "
                        f"largest |value| {largest:.3g})", source="patterns", fix="rescale the patterns")
    first = np.unique(codes, return_index=True)[1]
    coords: dict[str, Any] = dict(spheres.centre_coords())
    coords.update(_pair_coords(_stimulus_metadata(patterns, codes, first), rows, cols))
    params = {"method": method, "noise": noise_kind, "prior_lambda": prior_lambda, "prior_weight": prior_weight,
              "remove_mean": remove_mean, "radius": spheres.radius, "units": spheres.units,
              "threshold": spheres.threshold, **extra}
    attrs = {"method": method, "n_stimuli": n, "noise": noise_kind, "radius": spheres.radius, "units": spheres.units,
             "threshold": spheres.threshold, "affine": [float(v) for v in spheres.affine.ravel()],
             "grid_shape": list(spheres.grid_shape), **extra}
    attrs.update(provenance(params, {"patterns": patterns}))
    return xr.DataArray(out, dims=(NEUROID, PAIR), coords=coords, attrs=attrs)


def searchlight_compare(
    sphere_rdms: xr.DataArray,
    model_rdms: Any,
    method: str = "corr",
    *,
    subject: str = "subject",
    ceiling: bool = False,
    on_degenerate: str = "raise",
    progress: bool = False,
) -> xr.DataArray:
    """Compare every sphere's RDM with model or layer RDMs: a labelled searchlight map.

    Parameters
    ----------
    sphere_rdms : xarray.DataArray
        From :func:`searchlight_rdms`: ``([subject,] neuroid, pair)``.
    model_rdms : xarray.DataArray or array_like
        Vector-form RDMs over the same stimuli (any order; matched by
        ``stimulus_id``), e.g. ``compute_rdm(layer_activations)`` with a
        ``layer`` dim, or ``as_rdm(...)`` with a ``model`` dim.
    method : str
        Any comparison method of :data:`~neuroalign.compare.RDM_COMPARISONS`.
    subject : str
        The dim of subjects in ``sphere_rdms``, if any.
    ceiling : bool
        Add the across-subject noise ceiling of each sphere
        (:func:`~neuroalign.compare.noise_ceiling`, rsatoolbox's
        ``boot_noise_ceiling``) as neuroid coords ``ceiling_lower`` and
        ``ceiling_upper``; needs at least 2 subjects.
    on_degenerate : {"raise", "nan"}
        As in :func:`~neuroalign.compare.compare_rdms` (a sphere with a constant RDM).
    progress : bool
        Show a progress bar over chunks of spheres.

    Returns
    -------
    xarray.DataArray
        Dims ``([subject,] neuroid, *model dims)``, the sphere centres' coords
        on ``neuroid``; attrs ``affine`` and ``grid_shape``, so that
        :func:`neuroalign.loaders.voxels.to_nifti` writes it as a NIfTI image
        (3-D, or 4-D over one model dim) in the mask's grid.

    Raises
    ------
    SchemaError
        ``sphere_rdms`` without a ``neuroid`` dim.
    DataError
        A noise ceiling with fewer than 2 subjects; degenerate comparisons.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.compare import as_rdm
    >>> from neuroalign.compare.common.searchlight_grid import searchlight_spheres
    >>> from neuroalign.compare.rsa.searchlight import searchlight_compare, searchlight_rdms
    >>> ijk = np.argwhere(np.ones((4, 4, 4), bool))
    >>> x = create_assembly(np.random.default_rng(0).normal(size=(5, 64)), stimulus_id=list("abcde"),
    ...     neuroid={"voxel_i": ijk[:, 0], "voxel_j": ijk[:, 1], "voxel_k": ijk[:, 2]})
    >>> rdms = searchlight_rdms(x, searchlight_spheres(np.ones((4, 4, 4)), radius=2))
    >>> model = as_rdm(np.arange(20.0).reshape(2, 10), list("abcde"), form="vector", dims=["model"])
    >>> searchlight_compare(rdms, model, "spearman").dims
    ('neuroid', 'model')
    """
    if not isinstance(sphere_rdms, xr.DataArray) or NEUROID not in sphere_rdms.dims or PAIR not in sphere_rdms.dims:
        raise SchemaError("sphere_rdms must have dims neuroid and pair", source="sphere_rdms",
                          fix="pass the output of searchlight_rdms")
    options = checked_options(method, on_degenerate)
    n_spheres = sphere_rdms.sizes[NEUROID]
    others = int(np.prod([s for d, s in sphere_rdms.sizes.items() if d not in (NEUROID, PAIR)]))
    step = max(1, _COMPARE_BUDGET // (sphere_rdms.sizes[PAIR] * others))
    if ceiling and subject not in sphere_rdms.dims:
        raise DataError(f"a noise ceiling across subjects needs a {subject!r} dim in sphere_rdms", source="ceiling",
                        fix="pass a mapping of subjects to searchlight_rdms, or ceiling=False")
    # the model RDMs checked and put in the spheres' stimulus order once (every chunk has the same pairs); the
    # inputs' provenance recorded once, below, not per chunk
    models = matched_rdm(sphere_rdms.isel({NEUROID: slice(0, 1)}), model_rdms)
    parts, bounds = [], []
    for start in tqdm(range(0, n_spheres, step), desc="searchlight comparisons", disable=not progress):
        chunk = sphere_rdms.isel({NEUROID: slice(start, start + step)})
        parts.append(compared(chunk, models, method, options, on_degenerate=on_degenerate, record=False,
                              b_matched=True))
        if ceiling:
            bounds.append(_noise_ceiling(chunk, method, subject=subject).transpose(NEUROID, "bound").values)
    out = xr.concat(parts, dim=NEUROID, coords="minimal", compat="override", combine_attrs="override")
    lead = [subject] if subject in out.dims else []
    out = out.transpose(*lead, NEUROID, ...)
    if ceiling:
        lower, upper = np.concatenate(bounds).T  # bound = ["lower", "upper"]
        out = out.assign_coords(ceiling_lower=(NEUROID, lower), ceiling_upper=(NEUROID, upper))
    attrs = {key: sphere_rdms.attrs[key] for key in ("affine", "grid_shape", "radius", "units", "threshold")
             if key in sphere_rdms.attrs}
    attrs.update({"method": method, "rdm_method": sphere_rdms.attrs.get("method"), "ceiling": ceiling})
    attrs.update(provenance({"method": method, "ceiling": ceiling, "subject": subject},
                            {"sphere_rdms": sphere_rdms, "model_rdms": getattr(model_rdms, "values", model_rdms)}))
    return out.assign_attrs(attrs)

