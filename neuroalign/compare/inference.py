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
:func:`~neuroalign.compare.bootstrap.weighted_similarity`, vectorised over
resamples, models and subjects (methods without a kernel — ``corr_cov``,
``cosine_cov``, ``bures`` — build the resampled RDMs and call
:func:`compare_rdms`).
"""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr
from scipy import stats

from ..data.provenance import provenance
from ..errors import AlignmentError, ConfigError, DataError, SchemaError, ScoreError
from ..score import Score
from .bootstrap import (RESAMPLE, _weighted_ranks, counts_to_pair_weights, has_kernel, rank_similarity,
                        resample_counts, resample_rdm, single_threaded_blas, weighted_similarity)
from .noise_ceiling import (BOUND, _as_rdms, _pooling, _transform, noise_ceiling, pool_rdms, rank_noise_ceiling,
                            resampled_noise_ceiling)
from .rdm import ID_A, ID_B, PAIR, rdm_stimulus_ids, to_square
from .rdm_comparison import RDM_COMPARISONS, compare_rdms

__all__ = ["evaluate_models", "evaluate_resamples", "crossvalidate_models", "permutation_test",
           "pairwise_tests", "fdr_correction", "BOOTSTRAPS"]

logger = logging.getLogger(__name__)

#: Valid values of ``bootstrap`` in :func:`evaluate_models`.
BOOTSTRAPS = ("stimulus", "subject", "both", None)
PERMUTATION = "permutation"
FOLD = "fold"


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
            raise AlignmentError(f"model_rdms and data_rdms describe different stimuli ({len(ids)} vs "
                                 f"{len(data_ids)})", source="data_rdms",
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
    evaluations, nc = np.empty((n_res, len(mv))), np.full((n_res, 2), np.nan)
    step = max(1, 2**21 // ((len(mv) + 3 * len(dv)) * mv.shape[1]))
    with single_threaded_blas():
        for start in range(0, n_res, step):  # chunks bound memory; each chunk is vectorised
            rows = slice(start, start + step)
            model_ranks, data_ranks = _weighted_ranks(mv[None], w[rows]), _weighted_ranks(dv[None], w[rows])
            with np.errstate(invalid="ignore", divide="ignore"):
                per_subject = rank_similarity(model_ranks, data_ranks, w[rows], paired=False, rho_a=rho_a)
            evaluations[rows] = np.einsum("rms,rs->rm", per_subject, m[rows]) / m[rows].sum(-1)[:, None]
            if ceiling:
                nc[rows] = rank_noise_ceiling(data_ranks, w[rows], m[rows], rho_a=rho_a)
    evaluations[(w > 0).sum(axis=-1) < 3] = np.nan
    return evaluations, nc if ceiling else None


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
    ceiling_resamples: bool | None = None,
    model: str = "model",
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
    ceiling_resamples : bool, optional
        Also compute the noise ceiling of every resample (rsatoolbox does).
        Default: yes, except for the Kendall taus, whose pooled RDMs must be
        re-sorted in every resample (about 10× the cost of the evaluations).
        The score's ceiling is always the full-data ceiling.
    model, subject : str
        Names of the model and subject dims.

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
        if ceiling_resamples is None:
            ceiling_resamples = method not in ("tau-a", "tau-b", "kendall")
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
        bad = int(resamples.isnull().any(model).sum())
        if bad:
            logger.warning("%d of %d resamples had fewer than 3 distinct stimuli and are ignored", bad, n_bootstrap)
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


def permutation_test(
    model_rdms,
    data_rdms,
    *,
    method: str = "corr",
    n_permutations: int = 1000,
    seed: int | np.random.Generator = 0,
    model: str = "model",
    subject: str = "subject",
) -> Score:
    """Stimulus-label permutation test of each model's evaluation (one-sided: better than chance).

    The null distribution relabels the model's stimuli at random (rows and
    columns of its RDM together) and re-scores it against every subject.
    ``p = (1 + #{null ≥ observed}) / (1 + n_permutations)``.

    Returns
    -------
    Score
        Dim ``model``: the observed evaluation; ``raw`` holds ``null``
        (permutation, model) and ``p_value`` (model).

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import as_rdm, permutation_test
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.random(66)
    >>> data = as_rdm(truth + 0.1 * rng.normal(size=(3, 66)), form="vector", dims=["subject"])
    >>> test = permutation_test(as_rdm(truth), data, n_permutations=99)
    >>> float(test.raw["p_value"][0])
    0.01
    """
    if n_permutations < 1:
        raise ConfigError(f"n_permutations must be positive, got {n_permutations}", source="n_permutations",
                          fix="use e.g. n_permutations=1000")
    models, data, mask = _prepare(model_rdms, data_rdms, method, model, subject)
    ids = rdm_stimulus_ids(models)
    n = len(ids)
    rng = np.random.default_rng(seed)
    perms = rng.permuted(np.tile(np.arange(n), (n_permutations, 1)), axis=1)
    rows, cols = np.triu_indices(n, 1)
    square = to_square(models).transpose(model, ID_A, ID_B).values
    observed = compare_rdms(models, data, method).mean(subject)
    step = max(1, 2**22 // (models.sizes[model] * len(rows)))
    parts = []
    for start in range(0, n_permutations, step):  # chunks bound memory; each is one vectorised call
        chunk = square[:, perms[start:start + step][:, rows], perms[start:start + step][:, cols]]
        if has_kernel(method) and mask.all():
            ones = np.ones((chunk.shape[1], len(rows)))
            parts.append(weighted_similarity(chunk.transpose(1, 0, 2), data.values[None], ones, method).mean(-1))
        else:
            permuted = xr.DataArray(chunk, dims=(model, PERMUTATION, PAIR),
                                    coords={ID_A: (PAIR, ids[rows]), ID_B: (PAIR, ids[cols])})
            permuted = permuted.where(xr.DataArray(mask, dims=PAIR))
            parts.append(compare_rdms(permuted, data, method).mean(subject).transpose(PERMUTATION, model).values)
    null = np.concatenate(parts)
    null = xr.DataArray(null, dims=(PERMUTATION, model), coords={model: models[model]})
    p_value = (1 + (null >= observed - 1e-12).sum(PERMUTATION)) / (1 + n_permutations)
    raw = xr.Dataset({"null": null, "p_value": p_value})
    params = {"method": method, "n_permutations": n_permutations, "seed": seed if isinstance(seed, int) else None}
    raw.attrs.update(provenance(params, {"model_rdms": models, "data_rdms": data}))
    return Score(observed, raw=raw, metric=f"rsa-{method}-permutation", params=params)


def _folds(n: int, k: int, order: np.ndarray) -> list[np.ndarray]:
    """rsatoolbox's k-fold groups: k blocks of ⌊n/k⌋ of ``order``, the remainder spread from the end."""
    size, extra = n // k, n % k
    groups = []
    for g in range(k):
        members = list(range(g * size, (g + 1) * size)) + ([n - (g + 1)] if g < extra else [])
        groups.append(order[np.array(members, dtype=int)])
    return groups


def _default_k(n: int, limits: tuple[int, ...]) -> int:
    return 2 + sum(n >= limit for limit in limits)


def crossvalidate_models(
    model_rdms,
    data_rdms,
    *,
    method: str = "corr",
    k_stimulus: int | None = None,
    k_subject: int | None = None,
    shuffle: bool = True,
    seed: int | np.random.Generator = 0,
    model: str = "model",
    subject: str = "subject",
) -> Score:
    """Cross-validated evaluation over stimulus and subject folds (rsatoolbox's ``sets_k_fold`` + ``crossval``).

    Subjects are split into ``k_subject`` groups and, within each, stimuli into
    ``k_stimulus`` groups.  A fold tests the models on the test subjects' RDMs
    restricted to the test stimuli (fixed models need no fitting).  Its noise
    ceiling follows rsatoolbox's ``cv_noise_ceiling``: the lower bound pools
    the training subjects' RDMs restricted to the test stimuli, the upper bound
    pools all subjects' full RDMs and then restricts them.

    Parameters
    ----------
    k_stimulus, k_subject : int, optional
        Numbers of folds; defaults follow rsatoolbox (2–5 stimulus folds by the
        number of stimuli, 2–5 subject folds by the number of subjects).  1
        disables cross-validation over that factor.
    shuffle : bool
        Assign folds at random (seeded); otherwise in order.

    Returns
    -------
    Score
        Dim ``model``: the mean over folds (a model constant on a fold's test
        stimuli scores 0 there, as in rsatoolbox); ceiling: the mean upper bound;
        ``raw``: ``evaluations`` (fold, model), ``noise_ceiling`` (fold, bound),
        and boolean fold memberships ``test_subject`` and ``test_stimulus``.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import as_rdm, crossvalidate_models
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.random(190)
    >>> data = as_rdm(truth + 0.2 * rng.normal(size=(4, 190)), form="vector", dims=["subject"])
    >>> cv = crossvalidate_models(as_rdm(truth), data, k_stimulus=2)
    >>> cv.raw["evaluations"].sizes["fold"]
    4
    """
    models, data, _ = _prepare(model_rdms, data_rdms, method, model, subject)
    ids = rdm_stimulus_ids(models)
    n, s = len(ids), data.sizes[subject]
    k_subject = _default_k(s, (6, 12, 20)) if k_subject is None else k_subject
    k_stimulus = _default_k(n, (12, 24, 40)) if k_stimulus is None else k_stimulus
    if not 1 <= k_subject <= s or not 1 <= k_stimulus <= n // 3:
        raise ConfigError(f"cannot make {k_subject} subject folds of {s} subjects and {k_stimulus} stimulus folds "
                          f"of {n} stimuli (at least 3 stimuli per fold)", source="k_subject/k_stimulus",
                          fix="use fewer folds")
    if k_subject > 1 and s < 2:
        raise DataError("cross-validation over subjects needs at least 2 subjects", source="data_rdms",
                        fix="pass k_subject=1")
    rng = np.random.default_rng(seed)
    everyone = pool_rdms(data, method, dim=subject)
    evaluations, ceilings, test_subjects, test_stimuli = [], [], [], []
    subject_order = rng.permutation(s) if shuffle else np.arange(s)
    for test_s in _folds(s, k_subject, subject_order):  # a few folds, each one vectorised call
        train_s = np.setdiff1d(np.arange(s), test_s) if k_subject > 1 else test_s
        stimulus_order = rng.permutation(n) if shuffle else np.arange(n)
        for test_i in _folds(n, k_stimulus, stimulus_order):
            keep = np.isin(models[ID_A].values, ids[test_i]) & np.isin(models[ID_B].values, ids[test_i])
            test = data.isel({subject: np.sort(test_s), PAIR: keep})
            # a category model can be constant on a fold's stimuli: it then predicts nothing and scores 0
            # there (rsatoolbox's convention for zero-variance vectors) instead of being skipped
            per_subject = compare_rdms(models.isel({PAIR: keep}), test, method, on_degenerate="nan")
            evaluations.append(per_subject.fillna(0.0).mean(subject).values)
            lower = compare_rdms(pool_rdms(data.isel({subject: train_s, PAIR: keep}), method, dim=subject),
                                 test, method).mean(subject)
            upper = compare_rdms(everyone.isel({PAIR: keep}), test, method).mean(subject)
            ceilings.append([float(lower), float(upper)])
            test_subjects.append(np.isin(np.arange(s), test_s))
            test_stimuli.append(np.isin(np.arange(n), test_i))
    folds = np.arange(len(evaluations))
    raw = xr.Dataset({
        "evaluations": ((FOLD, model), np.array(evaluations)),
        "noise_ceiling": ((FOLD, BOUND), np.array(ceilings)),
        "test_subject": ((FOLD, subject), np.array(test_subjects)),
        "test_stimulus": ((FOLD, "stimulus_id"), np.array(test_stimuli)),
    }, coords={FOLD: folds, model: models[model], subject: data[subject], BOUND: ["lower", "upper"],
               "stimulus_id": ids})
    value = raw["evaluations"].mean(FOLD, skipna=True)
    upper = float(raw["noise_ceiling"].sel({BOUND: "upper"}).mean())
    params = {"method": method, "k_stimulus": k_stimulus, "k_subject": k_subject, "shuffle": shuffle,
              "seed": seed if isinstance(seed, int) else None}
    raw.attrs.update(provenance(params, {"model_rdms": models, "data_rdms": data}))
    return Score(value, ceiling=upper if upper > 0 else None, raw=raw, metric=f"rsa-{method}-crossval",
                 params=params)


def fdr_correction(p_values: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (``p_adj < q`` controls the FDR at ``q``).

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import fdr_correction
    >>> fdr_correction(np.array([0.01, 0.04, 0.03, 0.5])).round(3).tolist()
    [0.04, 0.053, 0.053, 0.5]
    """
    p = np.asarray(p_values, dtype=float).ravel()
    order = np.argsort(p)
    scaled = p[order] * len(p) / np.arange(1, len(p) + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty_like(p)
    out[order] = np.clip(adjusted, p[order], 1.0)  # p·m/m can round below p
    return out.reshape(np.shape(p_values))


def pairwise_tests(score: Score, *, test: str = "t-test", correction: str | None = "fdr",
                   alpha: float = 0.05) -> Score:
    """Pairwise differences between the models of an :func:`evaluate_models` score, with p-values.

    Parameters
    ----------
    score : Score
        From :func:`evaluate_models`.
    test : {"t-test", "bootstrap"}
        ``"t-test"``: rsatoolbox's ``t_tests``: the difference of the models'
        mean bootstrap evaluations (the full-data values for ``bootstrap=None``)
        over the square root of its variance (as in :func:`evaluate_models`),
        two-sided with the score's ``dof``.  ``"bootstrap"``: rsatoolbox's
        ``bootstrap_pair_tests``: twice the smaller fraction of resamples in
        which one model beats the other, ``(N − 1)/N · p + 1/N``.
    correction : {"fdr", "bonferroni", None}
        Benjamini–Hochberg FDR, Bonferroni, or none, over the
        ``M (M − 1) / 2`` pairs.
    alpha : float
        Threshold for ``significant`` (FDR level q for ``"fdr"``).

    Returns
    -------
    Score
        Dims ``(model, model_b)``: ``value[i, j]`` = evaluation of model i −
        model j; ``error`` the standard error of the difference; ``raw`` holds
        ``p_value``, ``p_adjusted``, ``significant`` and the difference
        ``resamples`` (bootstraps) or ``per_subject`` differences.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import as_rdm, evaluate_models, pairwise_tests
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.random(45)
    >>> models = as_rdm(np.stack([truth, rng.random(45)]), form="vector", dims=["model"])
    >>> data = as_rdm(truth + 0.3 * rng.normal(size=(5, 45)), form="vector", dims=["subject"])
    >>> score = evaluate_models(models, data, n_bootstrap=100)
    >>> bool(pairwise_tests(score).raw["significant"][0, 1])
    True
    """
    if not isinstance(score.raw, xr.Dataset) or "per_subject" not in score.raw:
        raise ConfigError("pairwise_tests needs a score from evaluate_models", source="score",
                          fix="pass the result of neuroalign.compare.evaluate_models")
    if test not in ("t-test", "bootstrap"):
        raise ConfigError(f"unknown test {test!r}", source="test", fix="use 't-test' or 'bootstrap'")
    if correction not in ("fdr", "bonferroni", None):
        raise ConfigError(f"unknown correction {correction!r}", source="correction",
                          fix="use 'fdr', 'bonferroni' or None")
    bootstrap, raw = score.params["bootstrap"], score.raw
    model = score.dims[0]
    labels = score.values[model].values
    m = len(labels)
    contrast = np.zeros((m, m, m))
    i, j = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
    contrast[i, j, i] += 1
    contrast[i, j, j] -= 1  # contrast[i, j] picks model i − model j
    kinds = [k for k in ("resamples", "resamples_subject", "resamples_stimulus") if k in raw]
    extra = {}
    if bootstrap is None:
        if test == "bootstrap":
            raise ConfigError("a bootstrap test needs bootstrap resamples", source="test",
                              fix="evaluate with bootstrap='stimulus' (or 'subject', 'both')")
        per_subject = raw["per_subject"].transpose(model, ...).values
        diffs = contrast @ per_subject  # (m, m, subject)
        centre = per_subject.mean(-1)
        variance = diffs.var(axis=-1, ddof=1) / per_subject.shape[-1]
        extra["per_subject"] = (("model", "model_b", raw["per_subject"].dims[1]), diffs)
    else:
        samples = [raw[k].transpose(RESAMPLE, model).values for k in kinds]
        ok = np.all([np.isfinite(x).all(-1) for x in samples], axis=0)
        centre = np.mean([np.nanmean(x[ok], axis=0) for x in samples], axis=0)
        diff_samples = [np.einsum("ijk,rk->rij", contrast, x[ok]) for x in samples]
        v = [d.var(axis=0, ddof=1) for d in diff_samples]
        if bootstrap == "both":
            variance = _dual(*v, score.params["n_subjects"], score.params["n_stimuli"])
        else:
            n = score.params["n_stimuli" if bootstrap == "stimulus" else "n_subjects"]
            variance = v[0] * n / (n - 1)
        resampled = np.mean(diff_samples, axis=0)  # rsatoolbox averages the bootstrap kinds per resample
        extra["resamples"] = ((RESAMPLE, "model", "model_b"), diff_samples[0])
    difference = contrast @ centre
    if test == "t-test":
        t = difference / np.sqrt(np.maximum(variance, np.finfo(float).eps))
        p = 2 * (1 - stats.t.cdf(np.abs(t), score.params["dof"]))
        extra["t"] = (("model", "model_b"), t)
    else:
        count = len(resampled)
        with np.errstate(invalid="ignore", divide="ignore"):  # the diagonal is 0/0, set to 1 below
            below = (resampled < 0).sum(0) / (count - (resampled == 0).sum(0))
        p = (count - 1) / count * 2 * np.minimum(below, 1 - below) + 1 / count
    np.fill_diagonal(p, 1.0)
    upper = np.triu_indices(m, 1)
    adjusted = p.copy()
    if correction == "fdr":
        adjusted[upper] = fdr_correction(p[upper])
    elif correction == "bonferroni":
        adjusted[upper] = np.minimum(p[upper] * len(upper[0]), 1.0)
    adjusted[upper[1], upper[0]] = adjusted[upper]
    coords = {"model": labels, "model_b": labels}
    out = xr.Dataset({"p_value": (("model", "model_b"), p), "p_adjusted": (("model", "model_b"), adjusted),
                      "significant": (("model", "model_b"), (adjusted < alpha) & ~np.eye(m, dtype=bool)),
                      **extra}, coords=coords)
    value = xr.DataArray(contrast @ score.values.values, dims=("model", "model_b"), coords=coords)
    error = xr.DataArray(np.sqrt(np.maximum(variance, 0)), dims=("model", "model_b"), coords=coords)
    return Score(value, error=error, raw=out, metric=f"{score.metric}-difference",
                 params={**score.params, "test": test, "correction": correction, "alpha": alpha})
