"""Whitened RDM comparisons and the Bures similarity (rsatoolbox ``corr_cov``, ``cosine_cov``, ``bures``).

These methods compare RDMs after whitening by the covariance of dissimilarity
estimates (Diedrichsen et al., 2021) or through the second-moment matrices
the RDMs imply; they take no pair weights.  The other comparison kernels live
in :mod:`neuroalign.compare.rsa.comparison_methods`.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular

from .comparison_methods import _divide, _swap, cosine

__all__: list[str] = []


def _pair_index(n_pairs: int) -> tuple[int, np.ndarray, np.ndarray]:
    n = round((1 + np.sqrt(1 + 8 * n_pairs)) / 2)
    rows, cols = np.triu_indices(n, 1)
    return n, rows, cols


def _double_centered(vectors: np.ndarray) -> np.ndarray:
    """−½ D as a square, centred on rows and columns: (k, n_pairs) → (k, n, n)."""
    n, rows, cols = _pair_index(vectors.shape[-1])
    g = np.zeros(vectors.shape[:-1] + (n, n))
    g[..., rows, cols] = -0.5 * vectors
    g[..., cols, rows] = -0.5 * vectors
    row_mean = g.mean(axis=-1, keepdims=True)
    return g - row_mean - _swap(row_mean) + row_mean.mean(axis=-2, keepdims=True)


def _whitened(vectors: np.ndarray, valid: np.ndarray, sigma_k: np.ndarray | None) -> np.ndarray:
    """rsatoolbox's ``_cov_weighting``: RDM vectors → second-moment vectors in which entries are isotropic."""
    n, rows, cols = _pair_index(valid.size)
    if sigma_k is not None and sigma_k.ndim == 2:
        return _whitened_full(vectors[:, valid], valid, sigma_k)
    if valid.all():
        g = _double_centered(vectors)
        if sigma_k is not None:
            root = np.sqrt(sigma_k)
            g = g / root[:, None] / root[None, :]
        out = np.concatenate([g[..., rows, cols], np.diagonal(g, axis1=-2, axis2=-1)], axis=-1)
    else:
        index = np.flatnonzero(valid)
        k = index.size
        ext_rows, ext_cols = np.r_[rows[index], np.arange(n)], np.r_[cols[index], np.arange(n)]
        indicator = np.zeros((k + n, n))
        np.add.at(indicator, (np.arange(k + n), ext_rows), 1.0)
        np.add.at(indicator, (np.arange(k + n), ext_cols), 1.0)
        indicator[k:] /= 2.0
        weight = np.r_[np.full(k, 0.5), np.ones(n)][:, None]
        out = -0.5 * np.concatenate([vectors[:, index], np.zeros((vectors.shape[0], n))], axis=-1)
        out = out - out @ indicator @ np.linalg.inv(indicator.T @ (weight * indicator)) @ (weight * indicator).T
        if sigma_k is not None:
            root = np.sqrt(sigma_k)
            out = out / root[ext_rows] / root[ext_cols]
        out[:, :k] *= np.sqrt(2.0)
        return out
    out[:, : rows.size] *= np.sqrt(2.0)
    return out


def _whitened_full(vectors: np.ndarray, valid: np.ndarray, sigma_k: np.ndarray) -> np.ndarray:
    """L⁻¹ v with L Lᵀ = V = (C Σ Cᵀ)∘(C Σ Cᵀ), the covariance of the distance estimates."""
    _, rows, cols = _pair_index(valid.size)
    rows, cols = rows[valid], cols[valid]
    xi = (sigma_k[rows][:, rows] - sigma_k[rows][:, cols] - sigma_k[cols][:, rows] + sigma_k[cols][:, cols])
    factor = np.linalg.cholesky(xi * xi)
    return _swap(solve_triangular(factor, _swap(vectors), lower=True))


def _cov_weighted(a, b, w, sigma_k, center: bool) -> np.ndarray:
    s = max(a.shape[0], b.shape[0], w.shape[0])
    out = np.empty((s, a.shape[1], b.shape[1]))
    valid = w > 0
    masks, inverse = np.unique(valid, axis=0, return_inverse=True)
    inverse = np.broadcast_to(inverse.reshape(-1), (s,)) if w.shape[0] == 1 else inverse.reshape(-1)
    for index, mask in enumerate(masks):
        members = np.flatnonzero(inverse == index)
        sides = []
        for x in (a, b):
            rows = x[members] if x.shape[0] > 1 else x[[0]]
            flat = rows.reshape(-1, rows.shape[-1])
            if center:
                flat = flat - flat[:, mask].mean(axis=-1, keepdims=True)
            sides.append(_whitened(flat, mask, sigma_k).reshape(rows.shape[:2] + (-1,)))
        unit = np.ones((1, sides[0].shape[-1]))
        out[members] = cosine(sides[0], sides[1], unit)
    return out


def corr_cov(a, b, w, sigma_k=None) -> np.ndarray:
    """Pearson r after whitening by the covariance of the distance estimates (rsatoolbox ``"corr_cov"``)."""
    return _cov_weighted(a, b, w, sigma_k, center=True)


def cosine_cov(a, b, w, sigma_k=None) -> np.ndarray:
    """Cosine after whitening (rsatoolbox ``"cosine_cov"``; Diedrichsen et al. 2021)."""
    return _cov_weighted(a, b, w, sigma_k, center=False)


# ----------------------------------------------------------------------------- Bures
def bures(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """tr((A^½ B A^½)^½) / √(tr A · tr B) of the centred second moments A, B (rsatoolbox ``"bures"``)."""
    s = max(a.shape[0], b.shape[0])
    ga = _double_centered(a)
    gb = _double_centered(b)
    values, vectors = np.linalg.eigh(ga)
    root = vectors @ (np.sqrt(np.maximum(values, 0.0))[..., :, None] * _swap(vectors))
    out = np.empty((s, a.shape[1], b.shape[1]))
    trace_a = np.trace(ga, axis1=-2, axis2=-1)
    trace_b = np.trace(gb, axis1=-2, axis2=-1)
    for row in range(s):
        ra = root[min(row, root.shape[0] - 1)]
        gbr = gb[min(row, gb.shape[0] - 1)]
        product = ra[:, None] @ gbr[None, :] @ ra[:, None]
        eig = np.linalg.eigvalsh(product)
        num = np.sum(np.sqrt(np.maximum(eig, 0.0)), axis=-1)
        den = np.sqrt(trace_a[min(row, trace_a.shape[0] - 1)][:, None] * trace_b[min(row, trace_b.shape[0] - 1)][None])
        out[row] = _divide(num, den)
    return out
