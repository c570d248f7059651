"""Tests on RDM models: stimulus-label permutation, cross-validation, pairwise comparisons with FDR.

These build on :func:`neuroalign.compare.evaluate_models` (see ``docs/compare-rsa.md``).
"""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr
from scipy import stats

from ...data.provenance import provenance
from ...errors import ConfigError, DataError
from ...score import Score
from ..common.bootstrap import RESAMPLE
from .comparison_methods import has_kernel, weighted_similarity
from .inference import _dual, _prepare
from .noise_ceiling import BOUND, pool_rdms
from .rdm import ID_A, ID_B, PAIR, rdm_stimulus_ids, to_square
from .rdm_comparison import compare_rdms

__all__ = ["crossvalidate_models", "permutation_test", "pairwise_tests", "fdr_correction"]

logger = logging.getLogger(__name__)

PERMUTATION = "permutation"
FOLD = "fold"


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
        stimuli scores 0 there, as in rsatoolbox; one constant on all stimuli
        raises :class:`DataError`); ceiling: the mean upper bound;
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
    # a model constant on a fold's stimuli scores 0 there (below), but one constant on every stimulus (or a
    # constant data RDM) has no evaluation at all: raise as evaluate_models does
    compare_rdms(models, data, method)
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
