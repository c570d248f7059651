"""Dissimilarity measures and noise estimates behind :func:`~neuroalign.compare.compute_rdm`.

Every measure maps condition-mean patterns ``(..., n, p)`` (``n`` stimuli, ``p``
channels, any leading batch dims such as ``time_bin``) to a square
``(..., n, n)`` matrix, in one batched matrix product: no loop over pairs,
stimuli or batch elements.  The cross-validated measures take the sums of
every stimulus in every fold, ``(..., n, k, p)``, with their counts ``(n, k)``,
and average the ``k`` leave-one-fold-out matrices.  Conventions (division by ``p``, priors, shrinkage) are rsatoolbox's
(``rsatoolbox.rdm.calc`` and ``rsatoolbox.data.noise``, version 0.3), so that
numbers agree; ``docs/compare-rdm.md`` lists every formula.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy.sparse import csr_matrix

from ...data.schema import NEUROID, NEUROID_ID, PRESENTATION, STIMULUS_ID, validate
from ...errors import (
    AlignmentError,
    ConfigError,
    DataError,
    SchemaError,
    UnknownNameError,
)
from ..common.unit_scale import unit_scale

__all__ = ["NOISE_ESTIMATORS", "estimate_noise_precision"]

#: Covariance estimators for the noise of Mahalanobis and crossnobis RDMs (rsatoolbox's names).
NOISE_ESTIMATORS = ("shrinkage_diag", "shrinkage_eye", "diag", "full")


# ----------------------------------------------------------------------------- helpers
def _swap(x: np.ndarray) -> np.ndarray:
    return np.swapaxes(x, -1, -2)


def _kernel_to_distance(kernel: np.ndarray) -> np.ndarray:
    """d_ij = k_ii + k_jj − k_ij − k_ji, with an exact zero diagonal."""
    diag = np.diagonal(kernel, axis1=-2, axis2=-1)
    distance = diag[..., :, None] + diag[..., None, :] - kernel - _swap(kernel)
    n = distance.shape[-1]
    distance[..., np.arange(n), np.arange(n)] = 0.0
    return distance


def _weighted(x: np.ndarray, precision: np.ndarray | None, diagonal: bool) -> np.ndarray:
    """``x @ Λ`` for patterns ``(..., m, p)``: Λ is ``(..., p, p)``, or its diagonal ``(..., p)``.

    Λ's batch dims are those of ``x`` without ``m``; None is the identity.
    """
    if precision is None:
        return x
    if diagonal:
        return x * precision[..., None, :]
    return x @ precision


# ----------------------------------------------------------------------------- measures
def squared_euclidean(means: np.ndarray, precision: np.ndarray | None = None, diagonal: bool = False) -> np.ndarray:
    """‖x_i − x_j‖² / p, or the squared Mahalanobis distance / p with a noise precision.

    rsatoolbox ``calc_rdm(method="euclidean")`` / ``"mahalanobis"``.
    """
    kernel = _weighted(means, precision, diagonal) @ _swap(means)
    distance = _kernel_to_distance(kernel)
    if precision is not None:
        _check_positive(distance, kernel)
    return distance / means.shape[-1]


def _check_positive(distance: np.ndarray, kernel: np.ndarray) -> None:
    """Raise where a squared Mahalanobis distance is negative beyond rounding (a precision that is not PSD)."""
    scale = np.abs(np.diagonal(kernel, axis1=-2, axis2=-1)).max(axis=-1, initial=0.0)
    if np.any(distance < -1e-9 * scale[..., None, None]):
        raise DataError("negative squared Mahalanobis distances: the noise precision is not positive "
                        "semi-definite", source="noise",
                        fix="pass the inverse of a positive definite covariance, or estimate one with "
                            "noise='shrinkage_diag'")


def euclidean(means: np.ndarray) -> np.ndarray:
    """The plain Euclidean distance ‖x_i − x_j‖ (scipy ``pdist(metric="euclidean")``)."""
    squared = squared_euclidean(means) * means.shape[-1]
    return np.sqrt(np.clip(squared, 0.0, None))


def centred_unit(means: np.ndarray, scale: bool = True) -> np.ndarray:
    """Each pattern (last axis) minus its mean, divided by its norm: Pearson r is their product.

    ``scale=False`` skips the exact power-of-two rescaling of each pattern
    (:func:`unit_scale`), which only guards the sums of squares against
    overflow and underflow; the result is the same to the last bit when the
    caller has checked that the values are far from both.
    """
    if scale:
        means = unit_scale(means, axis=-1)  # each pattern; exact
    centered = means - means.mean(axis=-1, keepdims=True)
    norms = np.linalg.norm(centered, axis=-1, keepdims=True)
    if np.any(norms == 0):
        raise DataError(
            "a stimulus evokes the same value in every neuroid, so its correlation distance is undefined",
            source="data", fix="drop constant patterns or use method='euclidean'",
        )
    centered /= norms
    return centered


def correlation(means: np.ndarray) -> np.ndarray:
    """1 − Pearson r between patterns (rsatoolbox ``"correlation"``, scipy ``"correlation"``)."""
    unit = centred_unit(means)
    distance = 1.0 - unit @ _swap(unit)
    n = distance.shape[-1]
    distance[..., np.arange(n), np.arange(n)] = 0.0
    return distance


def cosine(means: np.ndarray) -> np.ndarray:
    """1 − cosine of the angle between patterns (scipy ``pdist(metric="cosine")``)."""
    means = unit_scale(means, axis=-1)  # each pattern; exact
    norms = np.linalg.norm(means, axis=-1, keepdims=True)
    if np.any(norms == 0):
        raise DataError("a stimulus evokes zero in every neuroid, so its cosine distance is undefined",
                        source="data", fix="drop all-zero patterns or use method='euclidean'")
    unit = means / norms
    distance = 1.0 - unit @ _swap(unit)
    n = distance.shape[-1]
    distance[..., np.arange(n), np.arange(n)] = 0.0
    return distance


def _fold_products(train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Σ_k train_k test_kᵀ / k for fold means laid out ``(..., n, k, p)``: one product over k·p columns."""
    n, k, p = train.shape[-3:]
    flat = train.shape[:-3] + (n, k * p)
    return train.reshape(flat) @ _swap(test.reshape(flat)) / k


def split_means(sums: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Training and test means of every leave-one-fold-out split from fold sums ``(..., n, k, p)``.

    The training mean of fold f averages every presentation outside f (as
    rsatoolbox does), not the means of the other folds.
    """
    test = sums / counts[:, :, None]
    train = (sums.sum(axis=-2, keepdims=True) - sums) / (counts.sum(axis=1, keepdims=True) - counts)[:, :, None]
    return train, test


def crossnobis(sums: np.ndarray, counts: np.ndarray, precision: np.ndarray | None = None,
               diagonal: bool = False) -> np.ndarray:
    """Cross-validated squared Mahalanobis distance, averaged over leave-one-fold-out splits.

    Fold k gives (a_i − a_j)ᵀ Λ (b_i − b_j) / p with a the mean of the other
    folds and b the mean of fold k (rsatoolbox ``"crossnobis"`` with one
    precision Λ).  Unbiased: zero in expectation for identical conditions, so
    entries can be negative.  Takes the fold sums ``(..., n, k, p)`` and
    counts ``(n, k)``.  The average over folds is linear, so all folds go into
    one matrix product; when every stimulus has the same count in every fold
    (and Λ is diagonal), Σ_k (T − S_k) S_kᵀ = T Tᵀ − Σ_k S_k S_kᵀ with T = Σ_k S_k
    halves the work (symmetric products).
    """
    n, k, p = sums.shape[-3:]
    if (precision is not None and not diagonal) or not np.all(counts == counts[:, :1]):
        train, test = split_means(sums, counts)
        if precision is not None:  # one product over all stimuli and folds (Λ's batch dims are the data's)
            flat = train.reshape(train.shape[:-3] + (n * k, p))
            train = _weighted(flat, precision, diagonal).reshape(train.shape)
        return _kernel_to_distance(_fold_products(train, test)) / p
    if precision is not None:
        sums = sums * np.sqrt(precision)[..., None, None, :]
    totals = sums.sum(axis=-2)
    stacked = sums.reshape(sums.shape[:-3] + (n, k * p))
    kernel = totals @ _swap(totals) - stacked @ _swap(stacked)
    per_stimulus = counts[:, 0].astype(float)
    kernel = kernel / ((k - 1) * per_stimulus)[:, None] / per_stimulus[None, :] / k
    return _kernel_to_distance(kernel) / p


def _with_prior(means: np.ndarray, prior_lambda: float, prior_weight: float) -> np.ndarray:
    rates = (means + prior_lambda * prior_weight) / (1.0 + prior_weight)
    if np.any(rates <= 0):
        raise DataError(
            "the Poisson dissimilarity needs non-negative rates, but some patterns are negative",
            source="data", fix="pass spike counts or firing rates, or use method='sqeuclidean'",
        )
    return rates


def poisson(means: np.ndarray, prior_lambda: float = 1.0, prior_weight: float = 0.1) -> np.ndarray:
    """Symmetrised KL divergence between Poisson rates, (λ_i − λ_j)·(log λ_i − log λ_j) / p.

    Rates are shrunk towards ``prior_lambda``: (x + λ₀ w) / (1 + w)
    (rsatoolbox ``"poisson"``).
    """
    rates = _with_prior(means, prior_lambda, prior_weight)
    return _kernel_to_distance(rates @ _swap(np.log(rates))) / means.shape[-1]


def poisson_cv(sums: np.ndarray, counts: np.ndarray, prior_lambda: float = 1.0,
               prior_weight: float = 0.1) -> np.ndarray:
    """Cross-validated Poisson KL: (a_i − a_j)·(log b_i − log b_j) / p, averaged over folds.

    Takes fold sums ``(..., n, k, p)`` and counts ``(n, k)``.  rsatoolbox 0.3.2's
    ``"poisson_cv"`` keeps only the last fold's matrix (its loop overwrites
    the result); each of our folds equals rsatoolbox run on that fold alone.
    """
    train, test = split_means(sums, counts)
    rates_train = _with_prior(train, prior_lambda, prior_weight)
    rates_test = _with_prior(test, prior_lambda, prior_weight)
    return _kernel_to_distance(_fold_products(rates_train, np.log(rates_test))) / train.shape[-1]


# ----------------------------------------------------------------------------- grouping
def _group_sums(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Sums of the presentations of each code: ``(..., n_obs, p)`` → ``(..., n_groups, p)``.

    One sparse indicator product, without reordering the (large) data.
    """
    n_obs = codes.size
    indicator = csr_matrix((np.ones(n_obs), (codes, np.arange(n_obs))), shape=(n_groups, n_obs))
    if values.ndim == 2:
        return np.asarray(indicator @ values)
    moved = np.moveaxis(values, -2, 0)
    sums = np.asarray(indicator @ moved.reshape(n_obs, -1)).reshape((n_groups,) + moved.shape[1:])
    return np.moveaxis(sums, 0, -2)


def condition_means(values: np.ndarray, codes: np.ndarray, n: int) -> np.ndarray:
    """Mean over presentations of each code: ``(..., n_obs, p)`` → ``(..., n, p)``."""
    return _group_sums(values, codes, n) / np.bincount(codes, minlength=n)[:, None]


def fold_sums(values: np.ndarray, stimulus: np.ndarray, fold: np.ndarray, n: int, k: int,
              fold_labels: np.ndarray, stimulus_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sums ``(..., n, k, p)`` and counts ``(n, k)`` of the presentations of each stimulus in each fold."""
    cell = stimulus * k + fold
    counts = np.bincount(cell, minlength=n * k).reshape(n, k)
    if np.any(counts == 0):
        s, f = np.argwhere(counts == 0)[0]
        raise DataError(
            f"stimulus {stimulus_labels[s]!r} is never presented in fold {fold_labels[f]!r} "
            f"({int((counts == 0).sum())} stimulus-fold cells are empty)",
            source="data", fix="cross-validate over folds that each hold every stimulus, or drop those stimuli",
        )
    sums = _group_sums(values, cell, n * k)
    return sums.reshape(sums.shape[:-2] + (n, k, values.shape[-1])), counts


# ----------------------------------------------------------------------------- noise
def shrinkage_covariance(residuals: np.ndarray, dof: int, method: str = "shrinkage_diag") -> np.ndarray:
    """Covariance of residuals ``(..., n_obs, p)`` → ``(..., p, p)`` (rsatoolbox's estimators).

    ``shrinkage_diag`` shrinks the sample covariance towards its diagonal
    (Schäfer & Strimmer 2005), ``shrinkage_eye`` towards a multiple of the
    identity (Ledoit & Wolf 2004), ``diag`` keeps the variances only and
    ``full`` is the plain sample covariance; ``dof`` divides the sums of squares.
    """
    if method not in NOISE_ESTIMATORS:
        raise UnknownNameError(method, NOISE_ESTIMATORS, what="noise estimator", source="noise")
    x = residuals - residuals.mean(axis=-2, keepdims=True)
    n_obs, p = x.shape[-2:]
    s_sum = _swap(x) @ x
    if method == "full":
        return s_sum / dof
    if method == "diag":
        return np.eye(p) * (np.einsum("...oi,...oi->...i", x, x) / dof)[..., None, :]
    squares = x * x
    s2_sum = _swap(squares) @ squares
    eye = np.eye(p)
    if method == "shrinkage_eye":
        s = s_sum / n_obs
        b2 = np.sum(s2_sum / n_obs - s * s, axis=(-2, -1)) / n_obs
        m = np.trace(s, axis1=-2, axis2=-1) / p
        d2 = np.sum((s - m[..., None, None] * eye) ** 2, axis=(-2, -1))
        b2 = np.minimum(d2, b2)
        shrunk = (b2 / d2 * m)[..., None, None] * eye + ((d2 - b2) / d2)[..., None, None] * s
        return shrunk * n_obs / dof
    s = s_sum / dof
    var = np.diagonal(s, axis1=-2, axis2=-1)
    std = np.sqrt(var)
    s_mean = s_sum / std[..., None, :] / std[..., :, None] / (n_obs - 1)
    s2_mean = s2_sum / var[..., None, :] / var[..., :, None] / (n_obs - 1)
    var_hat = n_obs / dof**2 * (s2_mean - s_mean**2)
    off = ~np.eye(p, dtype=bool)
    lamb = np.sum(var_hat * off, axis=(-2, -1)) / np.sum(s_mean**2 * off, axis=(-2, -1))
    lamb = np.clip(lamb, 0.0, 1.0)
    return s * (eye + (1.0 - lamb)[..., None, None] * off)


def precision_from_residuals(residuals: np.ndarray, dof: int, method: str, source: str = "data") -> np.ndarray:
    """Inverse of :func:`shrinkage_covariance`, with a clear error when it is singular.

    The covariance must be positive definite (checked with a Cholesky
    factorisation, a third of the cost of the inversion): otherwise its
    "inverse" is not a precision and gives negative squared distances.  The
    plain ``full`` covariance of ``p`` channels has rank at most ``dof``, so
    it needs ``dof >= p`` degrees of freedom.
    """
    p = residuals.shape[-1]
    if method == "full" and dof < p:
        raise DataError(
            f"the 'full' noise covariance of {p} channels has only {dof} degrees of freedom (presentations minus "
            f"stimuli), so it is singular and its inverse would give negative squared distances", source=source,
            fix=f"use noise='shrinkage_diag' (or 'shrinkage_eye', 'diag'), or at least {p - dof} more repeated "
                "presentations")
    cov = shrinkage_covariance(residuals, dof, method)
    try:
        if np.any(~np.isfinite(cov)):
            raise np.linalg.LinAlgError
        np.linalg.cholesky(cov)  # raises unless positive definite
        return np.linalg.inv(cov)
    except np.linalg.LinAlgError:
        raise DataError(
            f"the {method!r} noise covariance is singular or undefined (a channel without variance, or too "
            "few repetitions for a full covariance)",
            source=source, fix="use noise='shrinkage_diag' or 'diag', or drop constant channels",
        ) from None


def residuals_of(values: np.ndarray, codes: np.ndarray, n: int) -> tuple[np.ndarray, int]:
    """Presentations minus their stimulus mean, and the degrees of freedom n_obs − n."""
    dof = values.shape[-2] - n
    if dof < 1:
        raise DataError(
            "estimating the noise needs repeated presentations, but every stimulus is presented once",
            source="data", fix="pass single trials (several presentations per stimulus_id) or a precision matrix",
        )
    return values - condition_means(values, codes, n)[..., codes, :], dof


def estimate_noise_precision(data: xr.DataArray, method: str = "shrinkage_diag") -> xr.DataArray:
    """Noise precision (inverse covariance over neuroids) from the repetitions of each stimulus.

    The residuals are the presentations minus their stimulus mean, with
    ``n_presentations − n_stimuli`` degrees of freedom; the covariance is
    shrunk as in rsatoolbox's ``prec_from_unbalanced``.  Pass the result as
    ``compute_rdm(..., noise=precision)``; ``noise="shrinkage_diag"`` does the
    same in one call.

    Parameters
    ----------
    data : xarray.DataArray
        ``(presentation, neuroid[, time_bin, …])`` with repeated ``stimulus_id``.
    method : str
        One of :data:`NOISE_ESTIMATORS`.

    Returns
    -------
    xarray.DataArray
        Dims ``(*batch, neuroid_a, neuroid_b)``, coords ``neuroid_id_a`` and
        ``neuroid_id_b``.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.compare import estimate_noise_precision
    >>> x = create_assembly(np.random.default_rng(0).normal(size=(12, 3)), stimulus_id=list("abcd") * 3)
    >>> estimate_noise_precision(x).dims
    ('neuroid_a', 'neuroid_b')
    """
    import pandas as pd

    validate(data, dims=(PRESENTATION, NEUROID), name="data")
    batch = [d for d in data.dims if d not in (PRESENTATION, NEUROID)]
    values = data.transpose(*batch, PRESENTATION, NEUROID).values.astype(float)
    codes, uniques = pd.factorize(pd.Index(data[STIMULUS_ID].values), sort=False)
    residuals, dof = residuals_of(values, codes, len(uniques))
    precision = precision_from_residuals(residuals, dof, method)
    ids = data[NEUROID_ID].values
    coords = {d: data[d] for d in batch if d in data.coords}
    coords.update({"neuroid_id_a": ("neuroid_a", ids), "neuroid_id_b": ("neuroid_b", ids)})
    return xr.DataArray(precision, dims=(*batch, "neuroid_a", "neuroid_b"), coords=coords,
                        attrs={"noise_estimator": method, "dof": int(dof)})


# ----------------------------------------------------------------------------- arguments of compute_rdm
CV_DESCRIPTORS = ("run", "session", "repetition")


def _symmetric(matrix: np.ndarray, rows: int = 256) -> bool:
    """max |M − Mᵀ| ≤ 1e-8 max |M|, in blocks of rows (large temporaries are slow to allocate)."""
    p = matrix.shape[-1]
    tolerance = 1e-8 * max(float(matrix.max()), -float(matrix.min()), 1e-300)
    for start in range(0, p, rows):
        difference = matrix[..., start:start + rows, :] - np.swapaxes(matrix[..., :, start:start + rows], -1, -2)
        if max(float(difference.max()), -float(difference.min())) > tolerance:
            return False
    return True


def cv_descriptor_of(data: xr.DataArray, descriptor: str | None) -> str:
    """The presentation coordinate whose values are the cross-validation folds."""
    candidates = [descriptor] if descriptor is not None else list(CV_DESCRIPTORS)
    for name in candidates:
        if name in data.coords and data[name].dims == (PRESENTATION,):
            return name
    available = [c for c, v in data.coords.items() if v.dims == (PRESENTATION,) and c != STIMULUS_ID]
    raise SchemaError(
        f"no presentation coordinate {' or '.join(map(repr, candidates))} to cross-validate over "
        f"(available: {available})", source="cv_descriptor",
        fix="add a 'run' coordinate to presentation, or pass cv_descriptor='<coordinate name>'",
    )


def fold_sums_of(data: xr.DataArray, cv_descriptor: str | None, values: np.ndarray, codes: np.ndarray, n: int,
                 uniques, *, source: str) -> tuple[np.ndarray, np.ndarray, str, int]:
    """:func:`fold_sums` over the folds named by the ``cv_descriptor`` coordinate of ``data``.

    Returns ``(sums, counts, descriptor, n_folds)``; fewer than two folds is a DataError naming ``source``.
    """
    descriptor = cv_descriptor_of(data, cv_descriptor)
    fold, labels = pd.factorize(pd.Index(data[descriptor].values), sort=True)
    if len(labels) < 2:
        raise DataError(f"cross-validation needs at least 2 values of {descriptor!r}, got 1", source=source,
                        fix="pass presentations from several runs/sessions")
    sums, counts = fold_sums(values, codes, fold, n, len(labels), np.asarray(labels), np.asarray(uniques))
    return sums, counts, descriptor, len(labels)


def resolve_noise(noise, data: xr.DataArray, values: np.ndarray, codes: np.ndarray, n: int):
    """The ``noise`` argument of compute_rdm → (precision or None, diagonal?, description for attrs)."""
    p = values.shape[-1]
    if noise is None:
        return None, False, "identity"
    if isinstance(noise, str):
        residuals, dof = residuals_of(values, codes, n)
        return precision_from_residuals(residuals, dof, noise), False, noise
    if isinstance(noise, xr.DataArray):
        if "neuroid_a" not in noise.dims or "neuroid_id_a" not in noise.coords:
            raise ConfigError("a labelled noise precision needs dims neuroid_a/neuroid_b", source="noise",
                              fix="build it with estimate_noise_precision(data)")
        ids = data[NEUROID_ID].values
        try:
            noise = noise.set_index(neuroid_a="neuroid_id_a", neuroid_b="neuroid_id_b").sel(
                neuroid_a=ids, neuroid_b=ids)
        except KeyError:
            raise AlignmentError("the noise precision lacks some of the data's neuroids", source="noise",
                                 fix="estimate the precision on the same neuroids") from None
        batch = [d for d in data.dims if d not in (PRESENTATION, NEUROID)]
        noise = noise.transpose(*[d for d in batch if d in noise.dims], "neuroid_a", "neuroid_b").values
        return noise.astype(float), False, "precision array"
    noise = np.asarray(noise, dtype=float)
    if not np.all(np.isfinite(noise)):
        raise DataError("the noise precision has NaN or inf entries", source="noise", fix="pass a finite precision")
    if noise.shape == (p,):
        if np.any(noise <= 0):
            raise DataError("a diagonal precision must be positive", source="noise", fix="pass 1 / variances")
        return noise, True, "diagonal precision"
    if noise.ndim >= 2 and noise.shape[-2:] == (p, p):
        if not _symmetric(noise):
            raise DataError("the noise precision is not symmetric", source="noise",
                            fix="pass an inverse covariance, e.g. (L + L.T) / 2")
        return noise, False, "precision array"
    raise ConfigError(f"the noise precision has shape {noise.shape}, expected ({p}, {p}) or ({p},)",
                      source="noise", fix="pass one row and column per neuroid")
