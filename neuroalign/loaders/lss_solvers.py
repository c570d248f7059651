"""Closed-form LSS solvers for nilearn's noise models, batched over trials and voxels.

Inputs: ``Z`` (n, V), the data with the shared columns projected out, and ``B``
(T, n, k), each trial's varying columns projected the same way (the trial's
regressor first), ``Q`` (n, q) an orthonormal basis of the shared columns.

- ``"ols"``: ``beta = (B'B)^-1 B'Z``, ``RSS = |Z|^2 - beta' B'Z``.
- ``"ar1"``, exactly nilearn's ``run_glm``: per model and voxel the lag-1
  Yule–Walker coefficient of that model's OLS residuals (their overall mean
  removed), truncated to ``bins`` levels, then the model refitted on
  AR(1)-whitened data (``W = I - rho L``, first row kept).  The residual moments
  need only products of Z and B with their one-volume shifts; every whitened
  Gram matrix is a quadratic in rho of three precomputed ones, so the refit is a
  k x k solve per (trial, level), batched over voxels.

Variances follow nilearn: ``[(X'X)^-1]_00 * RSS / (n - p)``, p the model's
column count (``dof = n - p``).
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError

__all__ = ["Moments", "cross", "ols_fit", "ar1_fit"]


def cross(b: np.ndarray, z: np.ndarray) -> np.ndarray:
    """B_t' Z for every trial t: (T, k, V), one matrix product."""
    t, n, k = b.shape
    return (b.transpose(1, 0, 2).reshape(n, t * k).T @ z).reshape(t, k, -1)


class Moments:
    """Inner products of Z (n, V) and the projected varying columns B (T, n, k) with their lag-1 shifts."""

    def __init__(self, z: np.ndarray, b: np.ndarray):
        self.z, self.b, self.n = z, b, z.shape[0]
        self.bz0 = cross(b, z)                                          # B'Z
        self.bz_f = cross(b[:, :-1], z[1:])                             # sum_t b_t z_{t+1}
        self.bz_b = cross(b[:, 1:], z[:-1])                             # sum_t b_{t+1} z_t
        self.bb0 = np.einsum("tni,tnj->tij", b, b)
        self.zz0 = np.einsum("nv,nv->v", z, z)


def ols_fit(b: np.ndarray, bz: np.ndarray, zz: np.ndarray, dof: int) -> tuple[np.ndarray, np.ndarray]:
    """Betas and variances of the trial's column: (B'B)^-1 B'Z, [(B'B)^-1]_00 * RSS / dof."""
    inv = np.linalg.inv(np.einsum("tni,tnj->tij", b, b))
    beta = inv @ bz
    rss = zz[None] - np.einsum("tkv,tkv->tv", beta, bz)
    return beta[:, 0], inv[:, 0, 0, None] * (rss / dof)


def ar1_fit(m: Moments, q: np.ndarray, z: np.ndarray, dof: int, bins: int):
    n = m.n
    b = np.linalg.inv(m.bb0) @ m.bz0
    # OLS residuals e = z - B b of each model: their sums, ends, lag-0 and lag-1 products.
    rss = m.zz0[None] - np.einsum("tkv,tkv->tv", b, m.bz0)
    z_lag = np.einsum("nv,nv->v", z[:-1], z[1:])
    b_lag = np.einsum("tni,tnj->tij", m.b[:, :-1], m.b[:, 1:])
    r1 = (z_lag[None] - np.einsum("tkv,tkv->tv", b, m.bz_f) - np.einsum("tkv,tkv->tv", b, m.bz_b)
          + np.einsum("tiv,tij,tjv->tv", b, b_lag, b))
    e_sum = z.sum(0)[None] - np.einsum("tk,tkv->tv", m.b.sum(1), b)
    e_first = z[0][None] - np.einsum("tk,tkv->tv", m.b[:, 0], b)
    e_last = z[-1][None] - np.einsum("tk,tkv->tv", m.b[:, -1], b)
    c = e_sum.sum(1, keepdims=True) / (n * z.shape[1])  # nilearn removes the mean of all residuals
    r0 = rss - 2 * c * e_sum + n * c**2
    r1 = r1 - c * (2 * e_sum - e_first - e_last) + (n - 1) * c**2
    if np.any(r0 <= 0):
        raise DataError("some voxels have no residual variance: their AR(1) coefficient is undefined",
                        source="data", fix="mask out constant voxels (see neuroalign.loaders.voxels.select_voxels)")
    rho = (r1 / ((n - 1) * n)) / (r0 / (n * n))
    level = (rho * bins).astype(int)  # nilearn's binning: truncation to 1/bins
    return (*_whitened_fit(m, q, z, level, bins, dof), level * 1.0 / bins)


def _lag_terms(a: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(W a)'(W c) = g0 - rho g1 + rho^2 g2 for W = I - rho L (L the one-volume delay), over the last two axes."""
    at = np.swapaxes(a, -1, -2)
    g0 = at @ c
    g1 = at[..., 1:] @ c[..., :-1, :] + at[..., :-1] @ c[..., 1:, :]
    g2 = at[..., :-1] @ c[..., :-1, :]
    return g0, g1, g2


def _at(terms, r):
    """A quadratic in rho, evaluated (r broadcasts against the terms)."""
    return terms[0] - r * terms[1] + r * r * terms[2]


def _whitened_fit(m: Moments, q: np.ndarray, z: np.ndarray, level: np.ndarray, bins: int, dof: int):
    """Refit every (trial, voxel) on data whitened with its binned AR(1) coefficient, in closed form.

    ``level`` (trials, voxels) holds the coefficients in units of 1/bins.  With
    ``F = W Q`` (W = I - rho L) and ``G = W B``: the trial's estimate is
    ``S^-1 (G' W z - G'F (F'F)^-1 F' W z)``, ``S = G'G - G'F (F'F)^-1 F'G``, and
    the whitened residual sum of squares ``|W z|^2 - z'W'F (F'F)^-1 F'W z - h' beta``.
    Every product is a quadratic in rho of three precomputed ones.
    """
    n_vox = z.shape[1]
    low = int(level.min())
    index = level - low
    levels = (np.arange(int(index.max()) + 1) + low) * 1.0 / bins
    rho = level * 1.0 / bins
    lv = levels[:, None, None]
    ff_inv = np.linalg.inv(_at(_lag_terms(q, q), lv))                      # (L, q, q)
    bq = _lag_terms(m.b, q[None])                                           # 3 x (T, k, q)
    gf = _at(tuple(x[:, None] for x in bq), lv[None])                       # (T, L, k, q)
    gg = _at(tuple(x[:, None] for x in _lag_terms(m.b, m.b)), lv[None])     # (T, L, k, k)
    s_inv = np.linalg.inv(gg - gf @ ff_inv[None] @ np.swapaxes(gf, -1, -2))
    qz = _lag_terms(q, z)                                                   # 3 x (q, V)
    flat = m.b.transpose(1, 0, 2).reshape(m.b.shape[1], -1)
    bz = (m.bz0, m.bz_f + m.bz_b, (flat[:-1].T @ z[:-1]).reshape(m.b.shape[0], m.b.shape[2], -1))
    zz = (m.zz0, 2 * np.einsum("nv,nv->v", z[1:], z[:-1]), np.einsum("nv,nv->v", z[:-1], z[:-1]))

    # F'Wz and its (F'F)^-1 product depend on the voxel and the level only: once per (level, voxel) pair.
    present = np.zeros(levels.size * n_vox, bool)
    present[(index * n_vox + np.arange(n_vox)).ravel()] = True
    keys = np.flatnonzero(present)
    lookup = np.zeros(present.size, np.intp)
    lookup[keys] = np.arange(keys.size)
    key_level, key_vox = np.divmod(keys, n_vox)
    pfz = np.empty((keys.size, q.shape[1]))
    fpf = np.empty(keys.size)
    bounds = np.searchsorted(key_level, np.arange(levels.size + 1))
    for lev in range(levels.size):
        sl = slice(bounds[lev], bounds[lev + 1])
        vox = key_vox[sl]
        fz = _at((qz[0][:, vox], qz[1][:, vox], qz[2][:, vox]), levels[lev]).T
        pfz[sl] = fz @ ff_inv[lev]
        fpf[sl] = np.einsum("uq,uq->u", fz, pfz[sl])

    betas, var = np.empty(rho.shape), np.empty(rho.shape)
    voxels = np.arange(n_vox)
    for t in range(rho.shape[0]):
        r, lev = rho[t], index[t]
        u = lookup[lev * n_vox + voxels]
        p = pfz[u]                                                          # (V, q)
        gfp = _at(tuple((p @ x[t].T).T for x in bq), r)                     # (k, V)
        h = _at((bz[0][t], bz[1][t], bz[2][t]), r) - gfp                    # (k, V)
        si = s_inv[t, lev]                                                  # (V, k, k)
        beta = np.einsum("vij,jv->iv", si, h)
        rss = _at(zz, r) - fpf[u] - np.einsum("kv,kv->v", h, beta)
        betas[t] = beta[0]
        var[t] = si[:, 0, 0] * rss / dof
    return betas, var
