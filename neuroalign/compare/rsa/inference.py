"""Inference on RDM model comparisons: bootstrap, permutation, cross-validation, pairwise tests.

:func:`evaluate_models` scores fixed model RDMs against subjects' data RDMs
(the mean over subjects of :func:`compare_rdms`, rsatoolbox's ``eval_fixed``)
and attaches uncertainty from one of:

``bootstrap=None``
    variation across subjects: error = SEM across subjects, t-based CI
    (rsatoolbox's ``eval_fixed``).
``"stimulus"``
    resample stimuli with replacement (rsatoolbox's ``eval_bootstrap_pattern``);
    pairs of copies of one stimulus are dropped.
``"subject"``
    resample subjects with replacement (``eval_bootstrap_rdm``).
``"both"``
    the dual bootstrap (``eval_dual_bootstrap``): each draw gives a subject
    resample, a stimulus resample and the joint resample.

Variances follow rsatoolbox: the covariance of the bootstrap evaluations
(``ddof=1``) times ``n/(n−1)`` (``n`` = stimuli, or subjects) for one-factor
bootstraps; for ``"both"`` the dual-bootstrap combination
``s/(s−1) V_subj + n/(n−1) V_stim − s n/((s−1)(n−1)) (V_both − V_subj − V_stim)``,
clipped to ``[max(s/(s−1) V_subj, n/(n−1) V_stim), V_both]``.  The error is
its square root; the CI is the bootstrap percentile interval for one-factor
bootstraps and ``value ± t_dof · error`` otherwise (``dof`` = n−1, s−1, or
min(s, n)−1).  Resamples are scored with the weighted kernels of
:func:`~neuroalign.compare.rsa.comparison_methods.weighted_similarity`, vectorised over
resamples, models and subjects (methods without a kernel — ``corr_cov``,
``cosine_cov``, ``bures`` — build the resampled RDMs and call
:func:`compare_rdms`).
"""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr
from scipy import stats

from ..._threads import thread_map
from ...data.align import stimulus_mismatch_error
from ...data.provenance import provenance
from ...errors import ConfigError, DataError, SchemaError, ScoreError
from ...score import Score
from ..common.bootstrap import RESAMPLE, counts_to_pair_weights, resample_counts, resample_rdm
from .comparison_methods import (_weighted_ranks, has_kernel, rank_similarity, single_threaded_blas,
                                 weighted_similarity)
from .noise_ceiling import (BOUND, _as_rdms, _batch_dim, _pooling, _transform, noise_ceiling, rank_noise_ceiling,
                            resampled_noise_ceiling)
from .rdm import ID_A, ID_B, PAIR, rdm_stimulus_ids, to_square
from .rdm_comparison import RDM_COMPARISONS, compare_rdms

__all__ = ["evaluate_models", "evaluate_resamples", "BOOTSTRAPS"]

logger = logging.getLogger(__name__)

#: Valid values of ``bootstrap`` in :func:`evaluate_models`.
BOOTSTRAPS = ("stimulus", "subject", "both", None)


def _prepare(model_rdms, data_rdms, method: str, model: str, subject: str):
    """Validated (models (model, pair), data (subject, pair)) on the models' stimulus order."""
    if method not in RDM_COMPARISONS:
        _pooling(method)  # raises UnknownNameError listing the registry
    models = _as_rdms(model_rdms, model, "model_rdms")
    data = _as_rdms(data_rdms, subject, "data_rdms")
    for name, array, dim in (("model_rdms", models, model), ("data_rdms", data, subject)):
        extra = [d for d in array.dims if d not in (dim, PAIR)]
        if extra:
            raise SchemaError(f"{name} has extra dims {extra}", source=name,
                              fix=f"select one element of them first, e.g. {name}.sel({extra[0]}=...)")
    ids, data_ids = rdm_stimulus_ids(models), rdm_stimulus_ids(data)
    if not np.array_equal(ids, data_ids):
        if len(ids) != len(data_ids) or set(ids.tolist()) != set(data_ids.tolist()):
            raise stimulus_mismatch_error(ids, data_ids, names=("model_rdms", "data_rdms"), kind="rdm",
                                          fix="compute all RDMs on the same stimulus set")
        rows, cols = np.triu_indices(len(ids), 1)
        square = to_square(data).sel({ID_A: ids, ID_B: ids})
        data = square.isel({ID_A: xr.DataArray(rows, dims=PAIR), ID_B: xr.DataArray(cols, dims=PAIR)})
        data = data.drop_vars([ID_A, ID_B]).assign_coords(
            {ID_A: (PAIR, ids[rows]), ID_B: (PAIR, ids[cols])})
    models, data = models.transpose(model, PAIR), data.transpose(subject, PAIR)
    values = np.concatenate([models.values, data.values]).astype(float)
    finite = np.isfinite(values)
    if not np.all(finite == finite[:1]):
        raise DataError("the RDMs have missing (NaN) dissimilarities in different pairs", source="data_rdms",
                        fix="drop the pairs missing anywhere from every RDM, or fill them")
    if finite[0].sum() < 3:
        raise DataError("fewer than 3 finite pairs to compare", source="data_rdms", fix="use at least 3 stimuli")
    return models, data, finite[0]


def _scores(mv, dv, mask, method, weights, subject_counts, ceiling):
    """Per-resample evaluations (R, M) and noise ceilings (R, 2) from pair weights and subject counts."""
    w = (np.ones((1, mv.shape[1])) if weights is None else weights) * mask
    m = np.ones((1, dv.shape[0])) if subject_counts is None else np.asarray(subject_counts, dtype=float)
    mv, dv = np.nan_to_num(mv), np.nan_to_num(dv)
    if method in ("spearman", "rho-a") and len(w) > 1:
        return _rank_scores(mv, dv, w, m, method == "rho-a", ceiling)
    per_subject = weighted_similarity(mv[None], dv[None], w, method)  # (Rw, M, S)
    evaluations = np.einsum("rms,rs->rm", np.broadcast_to(per_subject, (max(len(w), len(m)),) + per_subject.shape[1:]),
                            np.broadcast_to(m, (max(len(w), len(m)), m.shape[1]))) / m.sum(-1)[:, None]
    nc = resampled_noise_ceiling(dv, method, w, m) if ceiling else None
    return evaluations, nc


def _rank_scores(mv, dv, w, m, rho_a, ceiling):
    """:func:`_scores` for the rank methods: the subjects' mid-ranks serve the evaluations and the ceilings."""
    n_res = len(w)
    m = np.broadcast_to(m, (n_res, m.shape[1]))
    step = max(1, 2**21 // ((len(mv) + 3 * len(dv)) * mv.shape[1]))

    def chunk(start: int) -> tuple[np.ndarray, np.ndarray]:  # chunks bound memory; they run on threads
        rows = slice(start, start + step)
        model_ranks, data_ranks = _weighted_ranks(mv[None], w[rows]), _weighted_ranks(dv[None], w[rows])
        with np.errstate(invalid="ignore", divide="ignore"):
            per_subject = rank_similarity(model_ranks, data_ranks, w[rows], paired=False, rho_a=rho_a)
        evaluations = np.einsum("rms,rs->rm", per_subject, m[rows]) / m[rows].sum(-1)[:, None]
        nc = rank_noise_ceiling(data_ranks, w[rows], m[rows], rho_a=rho_a) if ceiling else None
        return evaluations, nc

    with single_threaded_blas():
        parts = thread_map(chunk, range(0, n_res, step))
    evaluations = np.concatenate([e for e, _ in parts])
    nc = np.concatenate([c for _, c in parts]) if ceiling else None
    evaluations[(w > 0).sum(axis=-1) < 3] = np.nan
    return evaluations, nc


def _direct_scores(models, data, method, stimulus_indices, subject_counts, ceiling):
    """The reference route for methods without a weighted kernel: build resampled RDMs, compare."""
    n_res = len(stimulus_indices) if stimulus_indices is not None else len(subject_counts)
    m = np.ones((n_res, data.sizes[data.dims[0]])) if subject_counts is None else np.asarray(subject_counts, float)
    if stimulus_indices is not None:
        models_r, data_r = resample_rdm(models, stimulus_indices), resample_rdm(data, stimulus_indices)
    else:
        models_r, data_r = models.expand_dims({RESAMPLE: n_res}), data.expand_dims({RESAMPLE: n_res})
    subject = data.dims[0]
    weight = xr.DataArray(m, dims=(RESAMPLE, subject))
    per_subject = compare_rdms(models_r, data_r, method)
    evaluations = (per_subject * weight).sum(subject) / weight.sum(subject)
    nc = None
    if ceiling:
        rule = _pooling(method)
        transformed = xr.apply_ufunc(_transform, data_r, kwargs={"rule": rule},
                                     input_core_dims=[[PAIR]], output_core_dims=[[PAIR]])
        total = (transformed * weight).sum(subject, skipna=False)
        rest = weight.sum(subject) - weight
        others = ((total - weight * transformed) / rest.where(rest > 0)).where(rest > 0, data_r)  # masked below
        lower = compare_rdms(others, data_r, method).where(rest > 0)
        upper = compare_rdms(total / weight.sum(subject), data_r, method)
        drawn = weight > 0
        lower = lower.where(drawn).mean(subject).where(drawn.sum(subject) > 1)
        nc = np.stack([lower.values, upper.where(drawn).mean(subject).values], axis=-1)
    return evaluations.transpose(RESAMPLE, ...).values, nc


def evaluate_resamples(
    model_rdms,
    data_rdms,
    *,
    method: str = "corr",
    stimulus_indices: np.ndarray | None = None,
    subject_indices: np.ndarray | None = None,
    ceiling: bool = True,
    model: str = "model",
    subject: str = "subject",
) -> xr.Dataset:
    """Model evaluations (and noise ceilings) on given stimulus and/or subject resamples.

    Equals, resample by resample, rsatoolbox's evaluation of the resampled
    RDMs (``compare`` averaged over the drawn subjects, ``boot_noise_ceiling``),
    computed for all resamples at once.

    Parameters
    ----------
    model_rdms, data_rdms
        RDMs with dims ``(model, pair)`` and ``(subject, pair)`` (or plain
        arrays, or mappings of name → RDM).
    method : str
        Comparison method.
    stimulus_indices : numpy.ndarray, optional
        ``(resample, n_stimuli)`` indices (e.g. :func:`bootstrap_indices`).
    subject_indices : numpy.ndarray, optional
        ``(resample, n_subjects)`` indices.  At least one of the two is needed.
    ceiling : bool
        Also compute each resample's noise ceiling.

    Returns
    -------
    xarray.Dataset
        ``evaluations`` (resample, model) and ``noise_ceiling`` (resample, bound).

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import as_rdm, bootstrap_indices, evaluate_resamples
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.random(28)
    >>> data = as_rdm(truth + 0.2 * rng.normal(size=(4, 28)), form="vector", dims=["subject"])
    >>> out = evaluate_resamples(as_rdm(truth), data, method="corr", stimulus_indices=bootstrap_indices(8, 5, seed=1))
    >>> out["evaluations"].dims, out["noise_ceiling"].dims
    (('resample', 'model'), ('resample', 'bound'))
    """
    models, data, mask = _prepare(model_rdms, data_rdms, method, model, subject)
    if stimulus_indices is None and subject_indices is None:
        raise ConfigError("no resamples given", source="stimulus_indices/subject_indices",
                          fix="pass stimulus_indices, subject_indices or both")
    if stimulus_indices is not None and getattr(RDM_COMPARISONS[method], "complete", False):
        raise ConfigError(f"method {method!r} needs complete RDMs, and a stimulus resample leaves the pairs of "
                          "copies of a stimulus empty", source="bootstrap",
                          fix="resample subjects only (bootstrap='subject'), or use another method")
    counts = None if subject_indices is None else resample_counts(np.asarray(subject_indices), data.sizes[subject])
    if stimulus_indices is not None and subject_indices is not None and len(stimulus_indices) != len(counts):
        raise ConfigError("stimulus_indices and subject_indices hold different numbers of resamples",
                          source="subject_indices", fix="draw both for the same resamples")
    if has_kernel(method):
        weights = None
        if stimulus_indices is not None:
            counts_stimuli = resample_counts(np.asarray(stimulus_indices), len(rdm_stimulus_ids(models)))
            weights = counts_to_pair_weights(counts_stimuli)
        evaluations, nc = _scores(models.values, data.values, mask, method, weights, counts, ceiling)
    else:
        evaluations, nc = _direct_scores(models, data, method, stimulus_indices, counts, ceiling)
    out = xr.Dataset({"evaluations": ((RESAMPLE, model), evaluations)}, coords={model: models[model]})
    if nc is not None:
        out["noise_ceiling"] = ((RESAMPLE, BOUND), nc)
        out = out.assign_coords({BOUND: ["lower", "upper"]})
    return out.assign_attrs(method=method)


#: Largest fraction of bootstrap resamples that may be unusable (NaN) before :func:`evaluate_models` refuses to
#: report an error from the rest: a stimulus resample with fewer than 3 distinct stimuli (or a constant
#: resampled RDM) has no comparison, and the usable ones alone understate the variability (with 3 stimuli
#: every usable resample is a permutation of the data, so the error would be 0).
MAX_UNUSABLE_FRACTION = 0.05


def _check_unusable(raw: xr.Dataset, model: str, n_bootstrap: int, n_stimuli: int) -> int:
    """The number of unusable resamples; ScoreError above :data:`MAX_UNUSABLE_FRACTION` of any bootstrap run."""
    worst = 0
    for name in ("resamples", "resamples_subject", "resamples_stimulus"):
        if name in raw:
            worst = max(worst, int(raw[name].isnull().any(model).sum()))
    if worst > MAX_UNUSABLE_FRACTION * n_bootstrap or n_bootstrap - worst < 2:
        raise ScoreError(f"{worst} of {n_bootstrap} bootstrap resamples are unusable (fewer than 3 distinct "
                         f"stimuli among the {n_stimuli}, or a constant resampled RDM); above "
                         f"{MAX_UNUSABLE_FRACTION:.0%} the error and CI of the rest would be too small",
                         source="data_rdms",
                         fix="use more stimuli (at least 6 keeps the loss under 5%), or pass bootstrap='subject' "
                             "or bootstrap=None for the error across subjects")
    if worst:
        logger.warning("%d of %d resamples are unusable (fewer than 3 distinct stimuli or a constant resampled "
                       "RDM) and are ignored; their number is in score.params['n_unusable_resamples']",
                       worst, n_bootstrap)
    return worst


def _covariance(resamples: np.ndarray) -> np.ndarray:
    """Covariance (ddof 1) of the finite bootstrap evaluations, (resample, model) → (model, model)."""
    ok = np.isfinite(resamples).all(axis=-1)
    return np.cov(resamples[ok], rowvar=False, ddof=1).reshape(resamples.shape[1], -1)


def _dual(v_both: np.ndarray, v_subject: np.ndarray, v_stimulus: np.ndarray, s: int, n: int) -> np.ndarray:
    """rsatoolbox's ``_dual_bootstrap`` combination (inputs without the n/(n−1) factors)."""
    fs, fn = s / (s - 1), n / (n - 1)
    combined = fs * v_subject + fn * v_stimulus - fs * fn * (v_both - v_subject - v_stimulus)
    return np.minimum(np.maximum(np.maximum(combined, fs * v_subject), fn * v_stimulus), v_both)


def evaluate_models(
    model_rdms,
    data_rdms,
    *,
    method: str = "corr",
    bootstrap: str | None = "stimulus",
    n_bootstrap: int = 1000,
    seed: int | np.random.Generator = 0,
    ci_level: float = 0.95,
    ceiling_resamples: bool = True,
    model: str | None = None,
    subject: str = "subject",
) -> Score:
    """Evaluate fixed model RDMs against subjects' data RDMs, with noise ceiling and uncertainty.

    Parameters
    ----------
    model_rdms : xarray.DataArray, mapping or array_like
        Model RDMs, dims ``(model, pair)`` (a mapping of name → RDM, or a plain
        ``(model, n, n)`` stack of squares, is converted with :func:`as_rdm`).
    data_rdms : xarray.DataArray or array_like
        Data RDMs, dims ``(subject, pair)``, on the same stimuli.
    method : str
        Comparison method of :data:`RDM_COMPARISONS`.
    bootstrap : {"stimulus", "subject", "both", None}
        What to resample (see the module docstring).
    n_bootstrap : int
        Number of resamples.
    seed : int or numpy.random.Generator
        Seeds every draw.
    ci_level : float
        Coverage of the CI.
    ceiling_resamples : bool
        Also compute the noise ceiling of every resample (rsatoolbox does).
        The score's ceiling is always the full-data ceiling.
    model : str, optional
        Name of the model dim: by default the batch dim of labelled
        ``model_rdms`` (e.g. ``layer`` for ``compute_rdm`` of a layer
        mapping), else ``"model"``.
    subject : str
        Name of the subject dim.

    Returns
    -------
    Score
        Dim ``model``: the mean over subjects of the comparison on the full
        data; ``ceiling`` is the upper bound of the noise ceiling; ``error``
        and ``ci`` as in the module docstring.  ``raw`` is a Dataset with
        ``per_subject`` (model, subject), ``noise_ceiling`` (bound) and, for
        bootstraps, ``resamples`` (resample, model) and
        ``noise_ceiling_resamples``; the dual bootstrap adds the subject-only
        and stimulus-only resamples (``resamples_subject``, ``resamples_stimulus``).

    Raises
    ------
    ConfigError
        Unknown ``bootstrap`` or too few resamples.
    DataError
        Fewer than 2 subjects for a subject bootstrap, or unusable RDMs.
    ScoreError
        More than :data:`MAX_UNUSABLE_FRACTION` (5%) of the bootstrap
        resamples are unusable — a stimulus resample needs 3 distinct stimuli
        and a non-constant RDM — which happens with fewer than 6 stimuli.
        Fewer unusable resamples are ignored, with a logged warning, and
        counted in ``params["n_unusable_resamples"]``.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import as_rdm, evaluate_models
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.random(45)
    >>> models = as_rdm(np.stack([truth, rng.random(45)]), form="vector", dims=["model"])
    >>> data = as_rdm(truth + 0.3 * rng.normal(size=(5, 45)), form="vector", dims=["subject"])
    >>> score = evaluate_models(models, data, n_bootstrap=50)
    >>> score.dims, bool(score.values[0] > score.values[1])
    (('model',), True)
    """
    model = _batch_dim(model_rdms, "model") if model is None else model
    if bootstrap not in BOOTSTRAPS:
        raise ConfigError(f"unknown bootstrap {bootstrap!r}", source="bootstrap",
                          fix=f"use one of {BOOTSTRAPS}")
    models, data, _ = _prepare(model_rdms, data_rdms, method, model, subject)
    per_subject = compare_rdms(models, data, method).transpose(model, subject)
    if np.isnan(per_subject.values).any():
        raise ScoreError("a comparison is NaN", source="data_rdms", fix="check for constant RDMs")
    n_subjects, n_stimuli = data.sizes[subject], len(rdm_stimulus_ids(models))
    point = per_subject.mean(subject)
    ceiling = noise_ceiling(data, method, subject=subject) if n_subjects > 1 else None
    raw = xr.Dataset({"per_subject": per_subject})
    if ceiling is not None:
        raw["noise_ceiling"] = ceiling
    rng = np.random.default_rng(seed)
    params = {"method": method, "bootstrap": bootstrap, "n_bootstrap": n_bootstrap if bootstrap else 0,
              "seed": seed if isinstance(seed, int) else None, "n_stimuli": n_stimuli, "n_subjects": n_subjects}
    tail = (1 - ci_level) / 2
    if bootstrap is None:
        if n_subjects < 2:
            raise DataError("an error across subjects needs at least 2 subjects", source="data_rdms",
                            fix="pass more subjects or use bootstrap='stimulus'")
        variance = np.cov(per_subject.values, ddof=1).reshape(len(point), -1) / n_subjects
        dof = n_subjects - 1
        error = np.sqrt(np.diag(variance))
        half = error * stats.t.ppf(1 - tail, dof)
        low, high = point - half, point + half
        params.update(dof=dof, ci="t", variance="cov across subjects (ddof 1) / n_subjects")
    else:
        if n_bootstrap < 2:
            raise ConfigError(f"n_bootstrap must be at least 2, got {n_bootstrap}", source="n_bootstrap",
                              fix="use e.g. n_bootstrap=1000")
        if bootstrap in ("subject", "both") and n_subjects < 2:
            raise DataError(f"a subject bootstrap needs at least 2 subjects, got {n_subjects}",
                            source="data_rdms", fix="use bootstrap='stimulus'")
        subject_idx = rng.integers(0, n_subjects, size=(n_bootstrap, n_subjects)) \
            if bootstrap in ("subject", "both") else None
        stimulus_idx = rng.integers(0, n_stimuli, size=(n_bootstrap, n_stimuli)) \
            if bootstrap in ("stimulus", "both") else None
        want_nc = ceiling_resamples and ceiling is not None
        runs = {"": (stimulus_idx, subject_idx)}
        if bootstrap == "both":
            runs.update({"_subject": (None, subject_idx), "_stimulus": (stimulus_idx, None)})
        for suffix, (sti, sui) in runs.items():
            out = evaluate_resamples(models, data, method=method, stimulus_indices=sti, subject_indices=sui,
                                     ceiling=want_nc, model=model, subject=subject)
            raw[f"resamples{suffix}"] = out["evaluations"]
            if want_nc:
                raw[f"noise_ceiling_resamples{suffix}"] = out["noise_ceiling"]
        resamples = raw["resamples"]
        params["n_unusable_resamples"] = _check_unusable(raw, model, n_bootstrap, n_stimuli)
        if bootstrap == "both":
            dof = min(n_subjects, n_stimuli) - 1
            v = [_covariance(raw[k].values) for k in ("resamples", "resamples_subject", "resamples_stimulus")]
            variance = _dual(*v, n_subjects, n_stimuli)
            error = np.sqrt(np.maximum(np.diag(variance), 0))
            half = error * stats.t.ppf(1 - tail, dof)
            low, high = point - half, point + half
            params.update(ci="t", variance="rsatoolbox dual bootstrap")
        else:
            n = n_stimuli if bootstrap == "stimulus" else n_subjects
            dof = n - 1
            variance = _covariance(resamples.values) * n / (n - 1)
            error = np.sqrt(np.diag(variance))
            low = resamples.quantile(tail, dim=RESAMPLE, skipna=True).drop_vars("quantile")
            high = resamples.quantile(1 - tail, dim=RESAMPLE, skipna=True).drop_vars("quantile")
            params.update(ci="percentile", variance=f"bootstrap cov (ddof 1) × {n}/{n - 1}")
        params["dof"] = dof
    error = xr.DataArray(np.asarray(error), dims=(model,), coords={model: point[model]})
    upper = None
    if ceiling is not None and float(ceiling.sel({BOUND: "upper"})) > 0:
        upper = float(ceiling.sel({BOUND: "upper"}))
    elif ceiling is not None:
        logger.warning("the upper noise ceiling is not positive (%.3g); the score is left unceiled",
                       float(ceiling.sel({BOUND: "upper"})))
    raw.attrs.update(provenance(params, {"model_rdms": models, "data_rdms": data}))
    return Score(point, ceiling=upper, error=error, ci=(low, high), raw=raw, metric=f"rsa-{method}",
                 params=params, ci_level=ci_level)
