"""Ridge regression with one penalty per target, chosen by exact leave-one-out error.

:class:`RidgeEncoder` fits every neuroid at once.  For all neuroids and all
penalties of the grid, the leave-one-out errors come from one
eigendecomposition (Rifkin & Lippert 2007, "Notes on regularized least
squares"), in the dual (kernel) form when features outnumber samples.  It is
the default regression of :func:`~neuroalign.compare.encoding_score`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

from ...errors import ConfigError, DataError, UnknownNameError

__all__ = ["RidgeEncoder", "DEFAULT_ALPHAS"]

#: Default ridge penalties: 10^-3 … 10^8 in half decades.
DEFAULT_ALPHAS = tuple(float(a) for a in 10.0 ** np.arange(-3, 8.5, 0.5))


class RidgeEncoder(RegressorMixin, BaseEstimator):
    """Multi-output ridge regression with a penalty per target chosen by leave-one-out error.

    For every penalty in ``alphas`` the exact leave-one-out (LOO) residuals
    of every target are obtained from one decomposition of the centred
    features (the closed form that scikit-learn's ``RidgeCV`` calls GCV);
    each target keeps the penalty with the lowest mean squared LOO residual
    (the first on ties, like ``RidgeCV(alpha_per_target=True)``).  The
    intercept is not penalised.

    With more features than samples (``solver="dual"``) the Gram matrix
    XXᵀ (n × n) is eigendecomposed and the fit is kept in dual form,
    ``dual_coef_`` (n × targets), so a p × targets weight matrix is never
    formed; otherwise (``"primal"``) the thin SVD of X gives ``coef_``.

    Parameters
    ----------
    alphas : sequence of float
        Positive penalties to choose from.
    alpha_per_target : bool
        One penalty per target (default), or one for all targets (lowest LOO
        error averaged over targets).
    fit_intercept : bool
        Centre features and targets on the training means.
    solver : {"auto", "dual", "primal"}
        ``"auto"`` uses the dual form when features outnumber samples.

    Attributes
    ----------
    alpha_ : ndarray (targets,) or float
        Chosen penalty per target (a float for 1-D ``y``).
    loo_mse_ : ndarray (alphas, targets)
        Mean squared LOO residual of each penalty and target.
    solver_ : str
        ``"dual"`` or ``"primal"``.
    x_mean_, y_mean_ : ndarray
        Training means (zeros without intercept).
    dual_coef_, X_fit_ : ndarray
        Dual coefficients and centred training features (dual solver only).
    coef_ : ndarray (targets, features)
        Weights (computed on access for the dual solver).
    intercept_ : ndarray (targets,)

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import RidgeEncoder
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 100))
    >>> y = X[:, :3] + 0.1 * rng.normal(size=(30, 3))
    >>> model = RidgeEncoder().fit(X, y)
    >>> model.solver_, model.alpha_.shape, model.predict(X).shape
    ('dual', (3,), (30, 3))
    """

    def __init__(self, alphas: Sequence[float] = DEFAULT_ALPHAS, *, alpha_per_target: bool = True,
                 fit_intercept: bool = True, solver: str = "auto"):
        self.alphas = alphas
        self.alpha_per_target = alpha_per_target
        self.fit_intercept = fit_intercept
        self.solver = solver

    def fit(self, X: Any, y: Any) -> "RidgeEncoder":
        """Choose the penalties and fit; returns ``self``."""
        X = _check_matrix(X, "X")
        y_in = np.asarray(y, dtype=float)
        y = _check_matrix(y_in.reshape(len(y_in), -1) if y_in.ndim == 1 else y_in, "y")
        if len(X) != len(y):
            raise DataError(f"X has {len(X)} rows but y has {len(y)}", source="X/y",
                            fix="pass one row of features per row of targets")
        if len(X) < 3:
            raise DataError(f"ridge needs at least 3 samples, got {len(X)}", source="X", fix="pass more samples")
        alphas = np.asarray(self.alphas, dtype=float).ravel()
        if alphas.size == 0 or not np.all(np.isfinite(alphas) & (alphas > 0)):
            raise ConfigError(f"alphas must be positive and finite, got {self.alphas!r}", source="alphas",
                              fix="pass e.g. alphas=np.logspace(-3, 8, 23)")
        if self.solver not in ("auto", "dual", "primal"):
            raise UnknownNameError(self.solver, ("auto", "dual", "primal"), what="solver", source="solver")
        n, p = X.shape
        for stale in ("dual_coef_", "X_fit_", "_coef"):
            self.__dict__.pop(stale, None)
        self.solver_ = "dual" if self.solver == "dual" or (self.solver == "auto" and p > n) else "primal"
        self.x_mean_ = X.mean(axis=0) if self.fit_intercept else np.zeros(p)
        self.y_mean_ = y.mean(axis=0) if self.fit_intercept else np.zeros(y.shape[1])
        Xc, yc = X - self.x_mean_, y - self.y_mean_
        eps = np.finfo(float).eps
        if self.solver_ == "dual":
            lam, Q = np.linalg.eigh(Xc @ Xc.T)
            keep = lam > max(lam[-1], 0) * n * eps
            lam, Q, s, Vt = lam[keep], Q[:, keep], None, None
        else:
            Q, s, Vt = np.linalg.svd(Xc, full_matrices=False)
            keep = s > (s[0] if s.size else 0) * max(n, p) * eps
            Q, s, Vt = Q[:, keep], s[keep], Vt[keep]
            lam = s**2
        self.loo_mse_ = _loo_mse(Q, lam, yc, alphas, self.fit_intercept)
        if self.alpha_per_target:
            best = np.argmin(self.loo_mse_, axis=0)
        else:
            best = np.full(y.shape[1], np.argmin(self.loo_mse_.mean(axis=1)))
        alpha = alphas[best]
        weighted = (Q.T @ yc) / (lam[:, None] + alpha[None, :])  # (rank, targets)
        if self.solver_ == "dual":
            self.dual_coef_ = Q @ weighted
            self.X_fit_ = Xc
        else:
            self._coef = (Vt.T @ (s[:, None] * weighted)).T
        self.alpha_ = float(alpha[0]) if y_in.ndim == 1 else alpha
        self._one_target = y_in.ndim == 1
        return self

    @property
    def coef_(self) -> np.ndarray:
        if self.solver_ == "dual":
            return (self.X_fit_.T @ self.dual_coef_).T
        return self._coef

    @property
    def intercept_(self) -> np.ndarray:
        return self.y_mean_ - self.coef_ @ self.x_mean_

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets for new rows of features."""
        if not hasattr(self, "solver_"):
            raise ConfigError("this RidgeEncoder is not fitted yet", source="RidgeEncoder", fix="call fit(X, y) first")
        X = _check_matrix(X, "X")
        if X.shape[1] != self.x_mean_.size:
            raise DataError(f"X has {X.shape[1]} features, the model was fitted on {self.x_mean_.size}",
                            source="X", fix="pass the same features as in fit")
        Xc = X - self.x_mean_
        if self.solver_ == "dual":
            out = (Xc @ self.X_fit_.T) @ self.dual_coef_ + self.y_mean_
        else:
            out = Xc @ self._coef.T + self.y_mean_
        return out[:, 0] if self._one_target else out


def _loo_mse(Q: np.ndarray, lam: np.ndarray, yc: np.ndarray, alphas: np.ndarray, intercept: bool) -> np.ndarray:
    """Mean squared leave-one-out residuals, (alphas, targets), from Xc's eigenvectors Q and eigenvalues lam.

    The hat matrix is H = 11ᵀ/n + Q diag(λ/(λ+α)) Qᵀ (the first term with an
    intercept), and the LOO residual is ((I − H) y)_i / (1 − H_ii).  The part
    of I − H outside span(1, Q) is split off so that it stays exact for small α.
    """
    n = len(yc)
    Qty = Q.T @ yc
    resid_outside = yc - Q @ Qty
    leverage_outside = np.clip(1.0 - (1.0 / n if intercept else 0.0) - np.einsum("ik,ik->i", Q, Q), 0, None)
    Q2 = Q**2
    mse = np.empty((len(alphas), yc.shape[1]))
    for i, alpha in enumerate(alphas):  # one pass per penalty; all targets at once
        shrink = alpha / (lam + alpha)
        resid = resid_outside + Q @ (shrink[:, None] * Qty)
        denom = leverage_outside + Q2 @ shrink
        mse[i] = np.mean((resid / denom[:, None]) ** 2, axis=0)
    return mse


def _check_matrix(x: Any, name: str) -> np.ndarray:
    array = np.asarray(x, dtype=float)
    if array.ndim != 2:
        raise DataError(f"expected a 2-D (samples, features) array, got shape {array.shape}", source=name,
                        fix="pass one row per stimulus")
    if not np.all(np.isfinite(array)):
        raise DataError("contains NaN or inf", source=name, fix="drop or impute non-finite values")
    return array
