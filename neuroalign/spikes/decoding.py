"""Cross-validated ridge decoding as NLB scores behaviour: every alpha of every fold from one eigendecomposition.

``nlb_tools.evaluation.fit_and_eval_decoder`` fits ``GridSearchCV(Ridge(), {"alpha": alphas})`` (5-fold
``KFold``, unshuffled: contiguous folds, the first ``n % 5`` one sample longer), keeps the alpha with the
best mean fold R² (the first among ties), refits it on all training samples and returns its R² on the
evaluation samples (``r2_score``, averaged uniformly over the behaviour variables).  scikit-learn's
``Ridge`` (``fit_intercept=True``) centres X and y on each training set and solves
``(Xc'Xc + alpha I) w = Xc'yc``.

Here each fold's centred Gram matrix is built from per-fold blocks of one pass over the data (after
centring everything on the global mean, so that the per-fold rank-one correction is small), and
``Gc = V diag(l) V'`` gives the coefficients of all alphas at once: ``w(alpha) = V diag(1 / (l + alpha)) V'Xc'yc``.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, DataError

__all__ = ["ridge_cv_r2", "r2_uniform", "NLB_ALPHAS"]

#: the alphas of NLB's grid search
NLB_ALPHAS = np.logspace(-4, 0, 9)


def r2_uniform(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """scikit-learn's ``r2_score(y_true, y_pred)`` (``multioutput="uniform_average"``, ``force_finite=True``).

    A column with zero variance scores 1 when predicted exactly and 0 otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> r2_uniform(np.array([[1.0], [2.0], [3.0]]), np.array([[1.0], [2.0], [4.0]]))
    0.5
    """
    y_true = y_true.reshape(len(y_true), -1)
    y_pred = y_pred.reshape(len(y_pred), -1)
    numerator = ((y_true - y_pred) ** 2).sum(axis=0)
    denominator = ((y_true - y_true.mean(axis=0)) ** 2).sum(axis=0)
    return float(_r2_from_sums(numerator, denominator).mean())


def _r2_from_sums(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    scores = np.ones(numerator.shape)
    valid = (denominator != 0) & (numerator != 0)
    scores[valid] = 1 - numerator[valid] / denominator[valid]
    scores[(numerator != 0) & (denominator == 0)] = 0.0
    return scores


def ridge_cv_r2(train_x: np.ndarray, train_y: np.ndarray, eval_x: np.ndarray, eval_y: np.ndarray, *,
                alphas: np.ndarray = NLB_ALPHAS, cv: int = 5) -> tuple[float, float, np.ndarray]:
    """R² on the evaluation samples of the ridge whose alpha wins a ``cv``-fold grid search on the training ones.

    Equals ``GridSearchCV(Ridge(), {"alpha": alphas}, cv=cv).fit(train_x, train_y).score(eval_x, eval_y)``.

    Returns
    -------
    r2 : float
        The evaluation R².
    best_alpha : float
        The alpha chosen.
    mean_scores : numpy.ndarray
        The mean fold R² of each alpha (GridSearchCV's ``mean_test_score``).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 5)); y = x @ rng.normal(size=(5, 2)) + 0.1 * rng.normal(size=(200, 2))
    >>> r2, alpha, _ = ridge_cv_r2(x[:150], y[:150], x[150:], y[150:])
    >>> round(r2, 3)
    0.973
    """
    alphas = np.asarray(alphas, dtype=np.float64).reshape(-1)
    if alphas.size == 0 or not np.all(np.isfinite(alphas)) or np.any(alphas <= 0):
        raise ConfigError(f"alphas must be positive finite numbers, got {alphas.tolist()}", source="alphas",
                          fix="pass e.g. alphas=np.logspace(-4, 0, 9) (NLB's grid)")
    n = len(train_x)
    if isinstance(cv, bool) or not isinstance(cv, (int, np.integer)) or cv < 2:
        raise ConfigError(f"cv must be an integer of at least 2, got {cv!r}", source="cv", fix="pass cv=5")
    if n < cv:
        raise DataError(f"{n} training samples cannot make {cv} folds", source="train_rates",
                        fix="pass more training trials or a smaller cv")
    x_shift, y_shift = train_x.mean(axis=0), train_y.mean(axis=0)
    x = train_x - x_shift
    y = train_y - y_shift
    bounds = np.cumsum([0] + [len(part) for part in np.array_split(np.arange(n), cv)])
    blocks = [slice(bounds[i], bounds[i + 1]) for i in range(cv)]
    grams = np.stack([x[b].T @ x[b] for b in blocks])
    crosses = np.stack([x[b].T @ y[b] for b in blocks])
    x_sums = np.stack([x[b].sum(axis=0) for b in blocks])
    y_sums = np.stack([y[b].sum(axis=0) for b in blocks])
    fold_scores = np.empty((cv, alphas.size))
    for f, test in enumerate(blocks):
        keep = np.arange(cv) != f
        coefs, x_mean, y_mean = _ridge_all_alphas(grams[keep].sum(axis=0), crosses[keep].sum(axis=0),
                                                  x_sums[keep].sum(axis=0), y_sums[keep].sum(axis=0),
                                                  n - (test.stop - test.start), alphas)
        fold_scores[f] = _r2_all_alphas(x[test] - x_mean, y[test], y_mean, coefs)
    mean_scores = fold_scores.mean(axis=0)
    best = int(np.argmax(mean_scores))  # the first of tied maxima, as GridSearchCV's rank picks
    coefs, x_mean, y_mean = _ridge_all_alphas(grams.sum(axis=0), crosses.sum(axis=0), x_sums.sum(axis=0),
                                              y_sums.sum(axis=0), n, alphas[best:best + 1])
    prediction = (eval_x - x_shift - x_mean) @ coefs[0] + y_mean + y_shift
    return r2_uniform(eval_y, prediction), float(alphas[best]), mean_scores


def _ridge_all_alphas(gram, cross, x_sum, y_sum, n, alphas):
    """Coefficients (alpha, feature, output) of the centred ridge from uncentred sums, and the centring means."""
    x_mean, y_mean = x_sum / n, y_sum / n
    centred_gram = gram - n * np.outer(x_mean, x_mean)
    centred_cross = cross - n * np.outer(x_mean, y_mean)
    centred_gram = (centred_gram + centred_gram.T) / 2
    eigenvalues, vectors = np.linalg.eigh(centred_gram)
    projected = vectors.T @ centred_cross  # (feature, output)
    scaled = projected[None] / (eigenvalues[None, :, None] + alphas[:, None, None])
    return np.einsum("pk,ako->apo", vectors, scaled, optimize=True), x_mean, y_mean


def _r2_all_alphas(x_test, y_test, y_mean, coefs):
    """R² (uniform average over outputs) of each alpha's predictions on one test fold."""
    predictions = np.einsum("np,apo->ano", x_test, coefs, optimize=True) + y_mean
    numerator = ((y_test[None] - predictions) ** 2).sum(axis=1)  # (alpha, output)
    denominator = ((y_test - y_test.mean(axis=0)) ** 2).sum(axis=0)
    return np.stack([_r2_from_sums(row, denominator).mean() for row in numerator])
