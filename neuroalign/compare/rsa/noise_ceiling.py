"""Noise ceilings of RDM comparisons: how well could the true model score, given the data's noise?

Two families:

**Across subjects (rsatoolbox's ``boot_noise_ceiling``).**  For subject RDMs
``d_1 … d_S`` and a comparison method:

- *upper bound*: mean over subjects of ``compare(pool(d_1 … d_S), d_s)``; the
  pooled RDM includes the subject it is compared with, so it overestimates
  what the true model can reach;
- *lower bound*: mean over subjects of ``compare(pool(others), d_s)``
  (leave one subject out), which underestimates it.

``pool`` is the RDM that best fits all subjects under the method
(rsatoolbox's ``pool_rdm``, see :data:`POOLING`): the mean of RMS-normalised
RDMs for cosine, of z-scored RDMs for correlations, of rank-transformed RDMs
for the rank methods (spearman, rho-a, Kendall's tau-a/b: rsatoolbox averages
ranks for tau too, with a warning that it is not the optimal pool), and the
plain mean for methods without a rule (e.g. bures, which rsatoolbox does not
pool).

The same leave-one-subject-out bounds for linear CKA, the cosine of centred
Gram matrices, are :func:`cka_noise_ceiling`.

**Within subjects (Brain-Score's split-half ceiling).**
:func:`rdm_split_half_ceiling` splits the repetitions of each stimulus into
halves, compares the two half RDMs of each subject and corrects the
correlation with Spearman–Brown (:func:`split_half_ceiling`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.stats import rankdata

from ..._threads import thread_map
from ...data.provenance import provenance
from ...data.schema import NEUROID, PRESENTATION, label_index, validate
from ...errors import ConfigError, DataError, SchemaError, UnknownNameError
from ...score import Score
from ..common.bootstrap import weighted_columns
from ..cka.core import center_gram
from ..common.ceiling import SPLIT, split_half_ceiling
from .comparison_methods import _weighted_ranks, rank_similarity, single_threaded_blas, weighted_similarity
from .rdm import PAIR, as_rdm, compute_rdm, rdm_stimulus_ids
from .rdm_comparison import RDM_COMPARISONS, compare_rdms

__all__ = ["BOUND", "POOLING", "cka_noise_ceiling", "noise_ceiling", "pool_rdms", "rdm_split_half_ceiling",
           "resampled_noise_ceiling"]

BOUND = "bound"

#: How :func:`pool_rdms` pools subject RDMs for each comparison method (rsatoolbox's ``pool_rdm``):
#: ``"rms"`` mean of RDMs divided by their root mean square, ``"zscore"`` mean of z-scored RDMs
#: (shifted to a minimum of 0), ``"rank"`` mean of ranks; any other method: ``"mean"``.
POOLING: dict[str, str] = {
    "cosine": "rms", "cosine_cov": "rms",
    "corr": "zscore", "pearson": "zscore", "corr_cov": "zscore",
    "spearman": "rank", "rho-a": "rank", "tau-a": "rank", "tau-b": "rank", "kendall": "rank",
}


def _pooling(method: str) -> str:
    if method not in RDM_COMPARISONS:
        raise UnknownNameError(method, RDM_COMPARISONS, what="RDM comparison method", source="method")
    return POOLING.get(method, "mean")


def _as_rdms(rdms, dim: str, name: str) -> xr.DataArray:
    """Plain arrays, mappings and labelled RDMs → a vector-form RDM with batch dim ``dim``."""
    if isinstance(rdms, dict) or (hasattr(rdms, "keys") and not isinstance(rdms, xr.DataArray)):
        parts = [_as_single(v, f"{name}[{k!r}]") for k, v in rdms.items()]
        if not parts:
            raise ConfigError(f"{name} is empty", source=name, fix="pass at least one RDM")
        return xr.concat(parts, dim=label_index(list(rdms.keys()), dim))
    out = _as_single(rdms, name)
    batch = [d for d in out.dims if d != PAIR]
    if not batch:
        out = out.expand_dims({dim: ["0"]})
    elif dim not in out.dims:
        if len(batch) != 1:
            raise SchemaError(f"{name} has batch dims {batch}, expected one named {dim!r}", source=name,
                              fix=f"rename its batch dim, e.g. {name}.rename({{'x': {dim!r}}})")
        out = out.rename({batch[0]: dim})
        if dim not in out.coords:
            out = out.assign_coords({dim: np.arange(out.sizes[dim]).astype(str)})
    return out


def _batch_dim(rdms, default: str) -> str:
    """The name of the one batch dim of labelled RDMs (e.g. ``layer`` from ``compute_rdm`` of a layer mapping).

    ``default`` for anything else: plain arrays, mappings, several batch dims,
    or the unnamed ``rdm`` dim of :func:`as_rdm`.
    """
    if isinstance(rdms, xr.DataArray) and PAIR in rdms.dims:
        batch = [d for d in rdms.dims if d != PAIR]
        if len(batch) == 1 and not str(batch[0]).startswith("rdm"):
            return str(batch[0])
    return default


def _as_single(rdm, name: str) -> xr.DataArray:
    if isinstance(rdm, xr.DataArray) and PAIR in rdm.dims:
        rdm_stimulus_ids(rdm)  # validates the pair coordinates
        return rdm
    return as_rdm(rdm)


def _transform(values: np.ndarray, rule: str) -> np.ndarray:
    """The per-RDM transform of a pooling rule along the last axis, NaN kept."""
    if rule == "rank":
        return rankdata(values, axis=-1, nan_policy="omit")
    if rule == "zscore":
        centred = values - np.nanmean(values, axis=-1, keepdims=True)
        return centred / np.nanstd(centred, axis=-1, keepdims=True)
    if rule == "rms":
        return values / np.sqrt(np.nanmean(values**2, axis=-1, keepdims=True))
    return values


def pool_rdms(rdms: xr.DataArray, method: str = "corr", *, dim: str = "subject") -> xr.DataArray:
    """The RDM that best fits all RDMs along ``dim`` under ``method`` (rsatoolbox's ``pool_rdm``).

    Parameters
    ----------
    rdms : xarray.DataArray or array_like
        Vector-form RDMs with a ``dim`` dim (or plain square/vector arrays).
    method : str
        A comparison method of :data:`RDM_COMPARISONS`; its rule in :data:`POOLING`.
    dim : str
        The dim pooled over.

    Returns
    -------
    xarray.DataArray
        ``rdms`` without ``dim``; NaN where any input is NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import pool_rdms
    >>> from neuroalign.compare import as_rdm
    >>> rdms = as_rdm(np.array([[1.0, 2, 3], [1, 3, 2]]), form="vector")
    >>> pool_rdms(rdms, "spearman").values.tolist()
    [1.0, 2.5, 2.5]
    """
    rule = _pooling(method)
    rdms = _as_rdms(rdms, dim, "rdms")
    transformed = xr.apply_ufunc(_transform, rdms, kwargs={"rule": rule},
                                 input_core_dims=[[PAIR]], output_core_dims=[[PAIR]])
    pooled = transformed.mean(dim, skipna=False)
    if rule == "zscore":
        pooled = pooled - pooled.min(PAIR)
    return pooled.assign_attrs(pooling=rule, method=method)


def _pooled_leave_one_out(rdms: xr.DataArray, method: str, dim: str) -> tuple[xr.DataArray, xr.DataArray]:
    """(pool of all, pool of all but each subject along ``dim``)."""
    rule = _pooling(method)
    transformed = xr.apply_ufunc(_transform, rdms, kwargs={"rule": rule},
                                 input_core_dims=[[PAIR]], output_core_dims=[[PAIR]])
    n = rdms.sizes[dim]
    total = transformed.sum(dim, skipna=False)
    others = (total - transformed) / (n - 1)
    everyone = total / n
    if rule == "zscore":
        everyone, others = everyone - everyone.min(PAIR), others - others.min(PAIR)
    return everyone, others


def noise_ceiling(data_rdms, method: str = "corr", *, subject: str = "subject",
                  per_subject: bool = False) -> xr.DataArray:
    """Lower and upper bound of the noise ceiling across subjects (rsatoolbox's definition).

    Parameters
    ----------
    data_rdms : xarray.DataArray or array_like
        Vector-form RDMs with a ``subject`` dim (at least 2 subjects); other
        batch dims (e.g. ``time_bin``) are kept.  A plain ``(subject, n, n)``
        stack of squares is accepted (wrap vector stacks with
        ``as_rdm(values, form="vector")``).
    method : str
        Comparison method (see :data:`RDM_COMPARISONS`).
    subject : str
        The dim of subjects.
    per_subject : bool
        Return each subject's terms instead of their mean.

    Returns
    -------
    xarray.DataArray
        Dims ``(*batch, bound)`` (or ``(*batch, subject, bound)``) with
        ``bound = ["lower", "upper"]``.

    Raises
    ------
    DataError
        Fewer than 2 subjects.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import as_rdm, noise_ceiling
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.random(45)
    >>> subjects = as_rdm(truth + 0.3 * rng.normal(size=(6, 45)), form="vector", dims=["subject"])
    >>> nc = noise_ceiling(subjects, "corr")
    >>> bool(nc.sel(bound="lower") < nc.sel(bound="upper"))
    True
    """
    data = _as_rdms(data_rdms, subject, "data_rdms")
    if data.sizes[subject] < 2:
        raise DataError(f"a noise ceiling across subjects needs at least 2 subjects, got {data.sizes[subject]}",
                        source="data_rdms", fix="pass more subjects, or use rdm_split_half_ceiling")
    everyone, others = _pooled_leave_one_out(data, method, subject)
    lower = compare_rdms(others, data, method)
    upper = compare_rdms(everyone, data, method)
    out = xr.concat([lower, upper], dim=label_index(["lower", "upper"], BOUND))
    if not per_subject:
        out = out.mean(subject)
    out = out.transpose(..., BOUND)
    out.attrs.update({"method": method, "pooling": _pooling(method), "n_subjects": data.sizes[subject]})
    out.attrs.update(provenance({"method": method, "subject": subject}, {"data_rdms": data}))
    return out


def _weighted_transform(values: np.ndarray, weights: np.ndarray, rule: str) -> np.ndarray:
    """:func:`_transform` of fixed RDMs (S, P) on weighted resamples (R, P) → (R, S, P)."""
    if rule == "rank":
        return _weighted_ranks(values[None], weights)
    n = weights.sum(axis=-1)[:, None]
    if rule == "rms":
        return values[None] / np.sqrt((weights @ (values**2).T) / n)[:, :, None]
    if rule == "zscore":
        mean = (weights @ values.T) / n
        sd = np.sqrt(np.maximum((weights @ (values**2).T) / n - mean**2, 0))
        return (values[None] - mean[:, :, None]) / sd[:, :, None]
    return np.broadcast_to(values[None], (weights.shape[0],) + values.shape)


def resampled_noise_ceiling(data: np.ndarray, method: str, weights: np.ndarray | None = None,
                            subject_counts: np.ndarray | None = None) -> np.ndarray:
    """Noise ceilings of resamples, vectorised: (resample, 2) lower and upper bounds.

    ``data`` (S, P) finite subject RDM vectors; ``weights`` (R, P) stimulus-pair
    weights (None: every pair once); ``subject_counts`` (R, S) how often each
    subject is drawn (None: once).  Matches rsatoolbox's ``boot_noise_ceiling``
    on the resampled RDMs: pooling with multiplicity, leaving out every copy of
    a subject, averaging over the distinct subjects drawn.  Resamples with a
    single distinct subject have a NaN lower bound.
    """
    with single_threaded_blas():
        return _resampled_noise_ceiling(data, method, weights, subject_counts)


def _resampled_noise_ceiling(data, method, weights, subject_counts):
    rule = _pooling(method)
    data = np.asarray(data, dtype=float)
    n_res = max(1 if weights is None else len(weights), 1 if subject_counts is None else len(subject_counts))
    w = np.ones((1, data.shape[1])) if weights is None else weights
    m = np.ones((1, data.shape[0])) if subject_counts is None else np.asarray(subject_counts, dtype=float)
    if (method, rule) in (("cosine", "rms"), ("corr", "zscore"), ("pearson", "zscore")):
        return _linear_noise_ceiling(data, w, np.broadcast_to(m, (n_res, m.shape[1])), center=rule == "zscore")
    fixed = _weighted_transform(data, w, rule) if len(w) == 1 else None
    step = max(1, 2**21 // (data.shape[0] * data.shape[1]))

    def chunk(start: int) -> np.ndarray:  # chunks bound memory; each is vectorised, and they run on threads
        rows = slice(start, min(start + step, n_res))
        size = rows.stop - rows.start
        wc = np.broadcast_to(w if len(w) == 1 else w[rows], (size, w.shape[1]))
        mc = np.broadcast_to(m if len(m) == 1 else m[rows], (size, m.shape[1]))
        transformed = fixed if fixed is not None else _weighted_transform(data, wc, rule)
        if method in ("spearman", "rho-a"):  # re-rank the pooled ranks once, reuse the subjects' ranks
            return rank_noise_ceiling(np.broadcast_to(transformed, (size,) + transformed.shape[1:]), wc, mc,
                                      rho_a=method == "rho-a")
        total = np.einsum("rs,rsp->rp", mc, np.broadcast_to(transformed, (size,) + transformed.shape[1:]))
        others = total[:, None, :] - mc[:, :, None] * transformed  # pooled sums: the scale does not matter
        lower = weighted_similarity(others, data[None], wc, method, paired=True)  # (r, S)
        upper = weighted_similarity(total[:, None, :], data[None], wc, method)[:, 0, :]
        return _mean_over_drawn(lower, upper, mc)

    return np.concatenate(thread_map(chunk, range(0, n_res, step)), axis=0)


def _mean_over_drawn(lower: np.ndarray, upper: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Average the per-subject terms (R, S) over the distinct subjects drawn: (R, 2); one subject: no lower."""
    drawn = counts > 0
    distinct = drawn.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.stack([np.where(distinct > 1, np.where(drawn, lower, 0).sum(-1) / distinct, np.nan),
                         np.where(drawn, upper, 0).sum(-1) / distinct], axis=-1)


def rank_noise_ceiling(ranks: np.ndarray, w: np.ndarray, counts: np.ndarray, rho_a: bool = False) -> np.ndarray:
    """Spearman (or rho-a) noise ceilings of resamples from the subjects' weighted mid-ranks ``ranks`` (R, S, P).

    ``w`` (R, P) pair weights, ``counts`` (R, S) subject counts; returns (R, 2).
    """
    total = np.einsum("rs,rsp->rp", counts, ranks)
    others = total[:, None, :] - counts[:, :, None] * ranks  # pooled sums: the scale does not matter
    lower, upper = _rank_ceiling_terms(others, total, ranks, w, rho_a)
    return _mean_over_drawn(lower, upper, counts)


def _rank_ceiling_terms(others, total, ranks, w, rho_a):
    """Spearman/rho-a of the pooled mid-rank sums (re-ranked per resample) against each subject's mid-ranks."""
    pooled = np.concatenate([others, total[:, None, :]], axis=1)
    # keep only the pairs drawn in each resample (about 40% when all stimuli are resampled)
    keep = weighted_columns(w)
    w = np.take_along_axis(w, keep, axis=-1)  # padding beyond a resample's pairs weighs 0
    pooled = np.take_along_axis(pooled, keep[:, None, :], axis=-1)
    ranks = np.take_along_axis(ranks, keep[:, None, :], axis=-1)
    keys = 2 * pooled  # whole numbers (mid-ranks are multiples of ½): float32 keeps them exact and sorts faster
    if np.abs(keys).max() < 2**24:
        keys = keys.astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled_ranks = _weighted_ranks(keys, w)
        s = ranks.shape[1]
        lower = rank_similarity(pooled_ranks[:, :s], np.broadcast_to(ranks, pooled_ranks[:, :s].shape), w,
                                paired=True, rho_a=rho_a)
        upper = rank_similarity(pooled_ranks[:, s:], np.broadcast_to(ranks, pooled_ranks[:, :s].shape), w,
                                paired=False, rho_a=rho_a)[:, 0, :]
    return lower, upper


def _linear_noise_ceiling(data: np.ndarray, w: np.ndarray, m: np.ndarray, center: bool) -> np.ndarray:
    """:func:`resampled_noise_ceiling` for cosine (RMS pooling) and Pearson (z-score pooling), from Gram matrices.

    A pooled RDM is a combination Σ_s c_s T_s of the normalised subject RDMs
    T_s, so every comparison follows from the weighted Gram matrix of the
    subjects, one matrix product for all resamples:
    ``sim(Σ c_s T_s, T_u) = (c·G)_u / √(c·G·c)`` with ``G`` the weighted
    cosine (or correlation) matrix of the subject RDMs.
    """
    scaled = data - data.mean(axis=1, keepdims=True) if center else data
    scaled = scaled / np.sqrt((scaled**2).mean(axis=1, keepdims=True))  # conditioning only; G is scale-free
    s, p = data.shape
    n = w.sum(axis=1)
    products = (scaled[:, None, :] * scaled[None, :, :]).reshape(s * s, p)
    gram = ((w @ products.T) / n[:, None]).reshape(-1, s, s)
    if center:
        mean = (w @ scaled.T) / n[:, None]
        gram = gram - mean[:, :, None] * mean[:, None, :]
    return _cosine_pool_ceiling(gram, m)


def _cosine_pool_ceiling(gram: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Leave-one-out and all-subject bounds (R, 2) of a cosine similarity, from the subjects' inner products.

    ``gram`` (R, S, S) holds the inner products of the subjects' vectors (any
    scale), ``m`` (R, S) how often each subject is drawn.  The pool is the sum
    of the unit-norm vectors (rsatoolbox's RMS pooling for cosine), so
    ``cos(Σ c_s u_s, u_t) = (c·G)_t / √(c·G·c)`` with ``G`` the cosine matrix.
    """
    s = gram.shape[-1]
    scale = np.sqrt(np.maximum(np.einsum("rss->rs", gram), 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        gram = gram / (scale[:, :, None] * scale[:, None, :])  # weighted cosine / correlation matrix
        size = max(len(gram), len(m))
        gram, rows = np.broadcast_to(gram, (size, s, s)), np.broadcast_to(m, (size, s))
        others = rows[:, None, :] * (1 - np.eye(s))[None]  # (R, u, s): all copies of u left out
        lower = np.einsum("rus,rsu->ru", others, gram) / np.sqrt(np.einsum("rus,rst,rut->ru", others, gram, others))
        upper = np.einsum("rs,rsu->ru", rows, gram) / np.sqrt(np.einsum("rs,rst,rt->r", rows, gram, rows))[:, None]
    return _mean_over_drawn(lower, upper, rows)


def cka_noise_ceiling(grams: xr.DataArray, *, subject: str = "subject") -> xr.DataArray:
    """Lower and upper bound of the linear-CKA noise ceiling across subjects.

    rsatoolbox's leave-one-subject-out definition (:func:`noise_ceiling`)
    carried over to CKA.  Linear CKA is the cosine of the centred Gram
    matrices, ``CKA(K, L) = ⟨HKH, HLH⟩ / (‖HKH‖ ‖HLH‖)``, so the Gram matrix
    that best fits all subjects is the mean of their unit-norm centred Gram
    matrices (the cosine rule of :data:`POOLING`); the upper bound is the mean
    over subjects of its CKA with each subject, the lower bound the same with
    the subject left out of the pool.

    Parameters
    ----------
    grams : xarray.DataArray
        Uncentred Gram matrices ``(subject, stimulus_a, stimulus_b)`` on the
        same stimuli (e.g. ``linear_gram`` of each subject's patterns), at
        least 2 subjects.
    subject : str
        The dim of subjects.

    Returns
    -------
    xarray.DataArray
        Dim ``bound = ["lower", "upper"]``.

    Raises
    ------
    DataError
        Fewer than 2 subjects, or a subject whose responses do not vary over stimuli.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> from neuroalign.compare import cka_noise_ceiling, linear_gram
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.normal(size=(20, 5))
    >>> grams = np.stack([linear_gram(truth + 0.5 * rng.normal(size=truth.shape)) for _ in range(4)])
    >>> nc = cka_noise_ceiling(xr.DataArray(grams, dims=("subject", "stimulus_a", "stimulus_b")))
    >>> bool(0 < nc.sel(bound="lower") < nc.sel(bound="upper") < 1)
    True
    """
    if not isinstance(grams, xr.DataArray) or subject not in grams.dims or grams.ndim != 3:
        raise SchemaError(f"expected Gram matrices with dims ({subject!r}, stimulus_a, stimulus_b)",
                          source="grams", fix="stack one linear_gram(patterns) per subject along a subject dim")
    n_subjects = grams.sizes[subject]
    if n_subjects < 2:
        raise DataError(f"a noise ceiling across subjects needs at least 2 subjects, got {n_subjects}",
                        source="grams", fix="pass more subjects, or use a split-half ceiling (split_half_ceiling)")
    centred = center_gram(grams.transpose(subject, ...).values).reshape(n_subjects, -1)
    norms = np.linalg.norm(centred, axis=1)
    if not np.all(norms > 0):
        flat = np.asarray(grams[subject].values)[norms <= 0].tolist() if subject in grams.coords else []
        raise DataError(f"the responses of subject(s) {flat} do not vary over stimuli, so CKA is undefined",
                        source="grams", fix="drop those subjects or check their data")
    unit = centred / norms[:, None]
    bounds = _cosine_pool_ceiling((unit @ unit.T)[None], np.ones((1, n_subjects)))[0]
    out = xr.DataArray(bounds, dims=(BOUND,), coords={BOUND: ["lower", "upper"]})
    return out.assign_attrs(method="cka-linear", pooling="mean of unit-norm centred Gram matrices",
                            n_subjects=n_subjects)


def rdm_split_half_ceiling(
    data: xr.DataArray,
    *,
    rdm_method: str = "correlation",
    comparison: str = "corr",
    subject: str | None = "subject",
    n_splits: int = 10,
    seed: int | np.random.Generator = 0,
) -> Score:
    """Split-half reliability of RDMs, Spearman–Brown corrected (Brain-Score's ceiling).

    Each stimulus's repetitions are split at random into halves; the RDM of
    each half is computed per subject and the two are compared; the
    comparison is corrected to the full data with Spearman–Brown and averaged
    over splits (see :func:`split_half_ceiling`).

    Parameters
    ----------
    data : xarray.DataArray
        ``(presentation, neuroid)`` responses with repeated ``stimulus_id``.
    rdm_method, comparison : str
        Passed to :func:`compute_rdm` and :func:`compare_rdms`.
    subject : str or None
        A ``neuroid`` coordinate naming subjects: one ceiling per subject
        (dim ``subject``); None pools all neuroids.
    n_splits : int
    seed : int or numpy.random.Generator

    Returns
    -------
    Score
        The ceiling (per subject), its spread over splits and the per-split values.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.compare import rdm_split_half_ceiling
    >>> rng = np.random.default_rng(0)
    >>> signal = rng.normal(size=(12, 20))
    >>> data = create_assembly(np.concatenate([signal + 0.5 * rng.normal(size=signal.shape) for _ in range(4)]),
    ...                        stimulus_id=[f"s{i}" for i in range(12)] * 4)
    >>> 0 < float(rdm_split_half_ceiling(data, subject=None, n_splits=4)) <= 1
    True
    """
    validate(data, dims=(PRESENTATION, NEUROID), name="data")
    if subject is not None and (subject not in data.coords or data[subject].dims != (NEUROID,)):
        raise SchemaError(f"data has no {subject!r} coordinate on 'neuroid'", source="data",
                          fix="add one, or pass subject=None to pool all neuroids")

    def consistency(half_a: xr.DataArray, half_b: xr.DataArray) -> xr.DataArray:
        group = {} if subject is None else {"groupby": subject}
        return compare_rdms(compute_rdm(half_a, rdm_method, **group), compute_rdm(half_b, rdm_method, **group),
                            comparison)

    score = split_half_ceiling(data, consistency, n_splits=n_splits, seed=seed,
                               metric=f"rdm-split-half-{rdm_method}-{comparison}")
    score.params.update({"rdm_method": rdm_method, "comparison": comparison, "split_dim": SPLIT})
    return score
