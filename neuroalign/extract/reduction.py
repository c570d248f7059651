"""On-the-fly dimensionality reduction of a layer's features.

Both reductions give every stimulus the same features whatever the batch
order or batch size:

* :class:`SparseRandomProjection` is a fixed linear map drawn from a seeded
  generator (Li, Hastie & Church 2006, "very sparse random projections"; the
  same distribution as ``sklearn.random_projection.SparseRandomProjection``).
  It needs no data, so it is applied batch by batch.
* :class:`PCA` is fitted on a *declared* subset of stimuli, run through the
  model before the main pass; the fit rows are ordered by stimulus content,
  so neither the order of the stimulus set nor the batching changes it.

Both follow the scikit-learn estimator contract: parameters stored unchanged
in ``__init__``, ``fit`` returns ``self``, fitted state ends in ``_``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..errors import ConfigError, DataError, ExtractionError

__all__ = ["Reduction", "SparseRandomProjection", "PCA"]

log = logging.getLogger(__name__)


class Reduction:
    """Base class: ``fit`` on ``(n, F)`` features, ``transform`` ``(n, F)`` → ``(n, K)``."""

    #: Whether ``fit`` needs real activations (of a declared stimulus subset).
    needs_data = False

    def get_params(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def spec(self) -> dict[str, Any]:
        """A JSON-serialisable description: the class name and its parameters."""
        return {"reduction": type(self).__name__, **self.get_params()}

    def clone(self) -> "Reduction":
        """An unfitted copy with the same parameters."""
        return type(self)(**self.get_params())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"

    def fit(self, features: np.ndarray) -> "Reduction":  # pragma: no cover - abstract
        raise NotImplementedError

    def transform(self, features: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def transform_features(self, features: np.ndarray) -> np.ndarray:
        """Transform ``(n, F)`` or, per time step, ``(n, F, T)`` features."""
        if features.ndim == 2:
            return self.transform(features)
        n, f, t = features.shape
        flat = features.transpose(0, 2, 1).reshape(n * t, f)
        return self.transform(flat).reshape(n, t, -1).transpose(0, 2, 1)

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_features_in_"):
            raise ExtractionError(f"{type(self).__name__} is not fitted", source="reduce",
                                  fix="call fit() first (extract() does it for you)")

    def _check_width(self, features: np.ndarray) -> None:
        if features.shape[1] != self.n_features_in_:
            raise ExtractionError(f"{type(self).__name__} was fitted on {self.n_features_in_} features, "
                                  f"got {features.shape[1]}", source="reduce",
                                  fix="use one reduction object per layer (extract() clones it per layer)")


class SparseRandomProjection(Reduction):
    """Project onto ``n_components`` dims with a seeded very sparse random matrix.

    Each entry is ``+s`` or ``-s`` with probability ``density / 2`` each and
    0 otherwise, ``s = 1 / sqrt(density * n_components)``, so squared
    distances are preserved in expectation (Johnson–Lindenstrauss).

    Parameters
    ----------
    n_components : int
        Output dims.
    density : float or "auto"
        Fraction of non-zero entries; ``"auto"`` is ``1 / sqrt(n_features)``.
    seed : int
        Seed of the ``numpy.random.Generator`` that draws the matrix.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.extract import SparseRandomProjection
    >>> x = np.random.default_rng(0).normal(size=(5, 2000)).astype(np.float32)
    >>> srp = SparseRandomProjection(300, seed=1).fit(x)
    >>> srp.transform(x).shape
    (5, 300)
    >>> np.array_equal(srp.transform(x[2:3]), srp.transform(x)[2:3])   # row by row
    True
    """

    def __init__(self, n_components: int = 1000, *, density: float | str = "auto", seed: int = 0):
        self.n_components = n_components
        self.density = density
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {"n_components": self.n_components, "density": self.density, "seed": self.seed}

    def fit(self, features: np.ndarray) -> "SparseRandomProjection":
        """Draw the matrix for ``features.shape[1]`` input features (the values are not used)."""
        n_features = int(features.shape[1])
        k = int(self.n_components)
        if k < 1:
            raise ConfigError(f"n_components must be positive, got {self.n_components}",
                              source="SparseRandomProjection", fix="pass e.g. n_components=1000")
        density = 1.0 / math.sqrt(n_features) if self.density == "auto" else float(self.density)
        if not 0.0 < density <= 1.0:
            raise ConfigError(f"density must be in (0, 1], got {self.density!r}", source="SparseRandomProjection",
                              fix="pass density='auto' or a fraction such as 0.01")
        rng = np.random.default_rng(self.seed)
        total = n_features * k
        # iid Bernoulli(density) entries = a Binomial count of positions drawn without replacement
        nnz = int(rng.binomial(total, density))
        flat = np.sort(rng.choice(total, size=nnz, replace=False))
        values = (rng.integers(0, 2, size=nnz) * 2 - 1) / math.sqrt(density * k)
        rows, cols = np.divmod(flat, n_features)
        self.components_ = sp.csr_matrix((values.astype(np.float32), (rows, cols)), shape=(k, n_features))
        self.density_ = density
        self.n_features_in_ = n_features
        if k >= n_features:
            log.warning("random projection to %d dims from only %d features adds dims", k, n_features)
        return self

    def transform(self, features: np.ndarray) -> np.ndarray:
        """``features @ components_.T`` as float32."""
        self._check_fitted()
        self._check_width(features)
        x = np.ascontiguousarray(features, dtype=np.float32)
        return np.ascontiguousarray((self.components_ @ x.T).T, dtype=np.float32)


class PCA(Reduction):
    """Principal components fitted on a declared subset of stimuli.

    Parameters
    ----------
    n_components : int
        Number of components (at most ``len(fit_on) - 1`` and the number of features).
    fit_on : sequence
        Stimulus ids to fit on; their activations (one ``(len(fit_on), F)``
        matrix per layer) are computed before the main pass.

    Notes
    -----
    Components are signed so that each one's largest loading is positive
    (scikit-learn's convention since 1.5), computed in float64 by SVD, or by
    the eigendecomposition of the ``n × n`` Gram matrix when the features
    matrix is large.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.extract import PCA
    >>> x = np.random.default_rng(0).normal(size=(20, 6))
    >>> pca = PCA(3, fit_on=range(20)).fit(x)
    >>> pca.transform(x).shape, bool(np.all(np.diff(pca.explained_variance_) <= 0))
    ((20, 3), True)
    """

    needs_data = True

    #: Above this many float64 bytes the fit uses the Gram matrix instead of a full SVD.
    svd_bytes = 512 * 2**20

    def __init__(self, n_components: int, *, fit_on: Sequence[Any]):
        self.n_components = n_components
        self.fit_on = fit_on

    def get_params(self) -> dict[str, Any]:
        return {"n_components": self.n_components, "fit_on": self.fit_on}

    def spec(self) -> dict[str, Any]:
        return {"reduction": "PCA", "n_components": self.n_components}

    def __repr__(self) -> str:
        return f"PCA(n_components={self.n_components!r}, fit_on=<{len(list(self.fit_on))} stimulus ids>)"

    def fit(self, features: np.ndarray) -> "PCA":
        """Fit on ``(n, F)`` (or ``(n, F, T)``: every time step is a sample) features."""
        x = features if features.ndim == 2 else features.transpose(0, 2, 1).reshape(-1, features.shape[1])
        n, f = x.shape
        k = int(self.n_components)
        if not 1 <= k <= min(n - 1, f):
            raise ConfigError(f"PCA with {k} components needs at least {k + 1} fit samples and {k} features; "
                              f"got {n} samples of {f} features", source="PCA(n_components)",
                              fix="declare more fit_on stimuli or ask for fewer components")
        mean = x.mean(axis=0, dtype=np.float64)
        if n * f * 8 <= self.svd_bytes:
            _, s, vt = np.linalg.svd(x.astype(np.float64) - mean, full_matrices=False)
            s, vt = s[:k], vt[:k]
        else:
            s, vt = _gram_pca(x, mean, k)
        if s[-1] <= s[0] * 1e-12:
            raise DataError(f"the fit activations have fewer than {k} directions of variance", source="PCA",
                            fix="declare more varied fit_on stimuli or ask for fewer components")
        signs = np.sign(vt[np.arange(k), np.abs(vt).argmax(axis=1)])
        vt = vt * signs[:, None]
        self.mean_ = mean.astype(np.float32)
        self.components_ = vt.astype(np.float32)
        self.explained_variance_ = s**2 / (n - 1)
        self.n_features_in_ = f
        return self

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Scores ``(features - mean_) @ components_.T`` as float32."""
        self._check_fitted()
        self._check_width(features)
        return np.ascontiguousarray((features - self.mean_) @ self.components_.T, dtype=np.float32)


def _gram_pca(x: np.ndarray, mean: np.ndarray, k: int, chunk: int = 1 << 15) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` singular values and right vectors from the ``n × n`` Gram matrix, by column chunks."""
    n, f = x.shape
    starts = range(0, f, chunk)
    gram = np.zeros((n, n))
    for start in starts:
        block = x[:, start:start + chunk].astype(np.float64) - mean[start:start + chunk]
        gram += block @ block.T
    eigenvalues, u = np.linalg.eigh(gram)
    order = np.argsort(eigenvalues)[::-1][:k]
    s = np.sqrt(np.clip(eigenvalues[order], 0.0, None))
    u = u[:, order]
    vt = np.empty((k, f))
    for start in starts:
        block = x[:, start:start + chunk].astype(np.float64) - mean[start:start + chunk]
        vt[:, start:start + chunk] = (u.T @ block) / np.where(s > 0, s, 1.0)[:, None]
    return s, vt
