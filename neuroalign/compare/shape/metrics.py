"""Generalized shape metrics on neural representations (Williams et al., 2021).

Two representations X (n × p) and Y (n × q) of the same n stimuli are
compared after the best alignment within a group of transformations, so that
the result is a metric (symmetric, zero on identical shapes, triangle
inequality) on representations modulo that group:

**Linear metrics** (``method="linear"``).  Columns are centred and partially
whitened, φ_α(X) = X Z with Z = c · V diag(α + (1 − α) λ^(−1/2)) Vᵀ, where
V diag(λ) Vᵀ is the eigendecomposition of XᵀX and c rescales so that the total
variance ‖XZ‖²_F equals ‖X‖²_F.  α = 1 leaves X alone (Procrustes: invariant
to rotations and translations); α = 0 whitens fully (invariant to any
invertible linear map: the CCA metric); 0 < α < 1 interpolates.  The two
whitened representations are then aligned by the best rotation, whose value
is the nuclear norm ‖φ(X)ᵀφ(Y)‖_*:

- angular: θ = arccos(‖φ(X)ᵀφ(Y)‖_* / (‖φ(X)‖_F ‖φ(Y)‖_F)), in [0, π/2]
  (also invariant to isotropic scaling);
- euclidean: √(‖φ(X)‖²_F + ‖φ(Y)‖²_F − 2 ‖φ(X)ᵀφ(Y)‖_*).

For α = 0 and p = q, the angular distance is arccos of the mean canonical
correlation.  Only the nonzero singular directions of X enter (a
representation with p > n, or with zero-padded units, is whitened on its
rank); this equals the authors' package ``netrep`` when X has full column
rank, and otherwise differs only in the variance rescaling c (so angular
distances agree; Euclidean ones may not).

**Permutation metric** (``method="permutation"``).  Units are matched by the
permutation maximising ⟨X P, Y⟩ (linear assignment), with the same angular
and Euclidean forms; representations with different numbers of units are
compared as if the smaller were zero-padded.

The definitions were taken from the paper and from reading ``netrep``
(github.com/ahwillia/netrep); the code is independent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from scipy.optimize import linear_sum_assignment
from sklearn.base import BaseEstimator
from tqdm.auto import tqdm

from ...data.align import align
from ...data.provenance import provenance
from ...data.schema import NEUROID, PRESENTATION, label_index, validate
from ...errors import ConfigError, DataError, UnknownNameError

__all__ = ["LinearMetric", "PermutationMetric", "shape_distance", "pairwise_shape_distances", "SHAPE_METHODS",
           "SHAPE_DISTANCES"]

SHAPE_METHODS = ("linear", "permutation")
SHAPE_DISTANCES = ("angular", "euclidean")
NETWORK_A, NETWORK_B = "network_a", "network_b"
_MAX_CHUNK_BYTES = 1 << 27  # pairwise cross-products are formed in chunks of about 128 MiB


def _check_options(alpha: float, distance: str) -> None:
    if not (np.isscalar(alpha) and 0 <= float(alpha) <= 1):
        raise ConfigError(f"alpha must lie in [0, 1], got {alpha!r}", source="alpha",
                          fix="pass 0 (CCA), 1 (Procrustes) or a value in between")
    if distance not in SHAPE_DISTANCES:
        raise UnknownNameError(distance, SHAPE_DISTANCES, what="distance", source="distance")


def _as_matrix(x: Any, name: str) -> np.ndarray:
    if isinstance(x, (Mapping, xr.Dataset)):
        raise ConfigError(f"{name} is a mapping, but this compares one representation with another", source=name,
                          fix="pass one array, or compare many with pairwise_shape_distances(networks)")
    if isinstance(x, xr.DataArray):
        validate(x, dims=(PRESENTATION, NEUROID), name=name)
        x = x.transpose(PRESENTATION, NEUROID).values
    try:
        array = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"values of type {type(x).__name__} are not numeric", source=name,
                        fix="pass a (stimulus, unit) array of numbers") from None
    if array.ndim != 2:
        raise DataError(f"expected a 2-D (stimuli, units) array, got shape {array.shape}", source=name,
                        fix="pass one row per stimulus")
    if not np.all(np.isfinite(array)):
        raise DataError("contains NaN or inf", source=name, fix="drop or impute non-finite values")
    if array.shape[0] < 2:
        raise DataError(f"needs at least 2 stimuli, got {array.shape[0]}", source=name, fix="pass more stimuli")
    if array.shape[1] < 1:
        raise DataError("has no units", source=name, fix="pass at least one unit per stimulus")
    return array


def _svd(matrix: np.ndarray, **kwargs: Any) -> Any:
    """numpy's SVD, with a DataError where it fails (values whose squares overflow or underflow)."""
    try:
        return np.linalg.svd(matrix, **kwargs)
    except np.linalg.LinAlgError:
        raise _range_error() from None


def _range_error() -> DataError:
    return DataError("the shape metric overflows or underflows in float64: the values are of extreme magnitude",
                     source="x/y", fix="rescale the representations (e.g. divide each by its standard deviation); "
                                       "shape metrics with 0 < alpha < 1 depend on the scale, so use one scale for all")


def _paired(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(x, xr.DataArray) and isinstance(y, xr.DataArray):
        x, y = align(x, y, names=("x", "y"))
    x, y = _as_matrix(x, "x"), _as_matrix(y, "y")
    if len(x) != len(y):
        raise DataError(f"x has {len(x)} stimuli but y has {len(y)}", source="x/y",
                        fix="pass responses to the same stimuli, in the same order (or labelled DataArrays)")
    return x, y


def _whitening(x: np.ndarray, alpha: float, center: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, (n × rank) whitened scores U diag(g) and the (p × rank) map V diag(g / s), with Xc @ map = scores."""
    mean = x.mean(axis=0) if center else np.zeros(x.shape[1])
    u, s, vt = _svd(x - mean, full_matrices=False)
    keep = s > (s[0] if s.size else 0.0) * max(x.shape) * np.finfo(float).eps
    u, s, vt = u[:, keep], s[keep], vt[keep]
    if not keep.any():
        raise DataError("a representation is constant across stimuli, so its shape is undefined", source="x/y",
                        fix="drop constant representations")
    g = alpha * s + (1.0 - alpha)  # whitened singular values (netrep: s · (α + (1 − α)/s))
    g *= np.sqrt(np.sum(s**2) / np.sum(g**2))  # preserve the total variance
    if not (np.all(np.isfinite(g)) and np.all(g > 0)):
        raise _range_error()
    return mean, u * g, vt.T * (g / s)


def _from_nuclear(nuclear: np.ndarray, sq_x: np.ndarray, sq_y: np.ndarray, distance: str) -> np.ndarray:
    if np.any(np.asarray(sq_x) <= 0) or np.any(np.asarray(sq_y) <= 0):
        raise DataError("a representation is constant across stimuli, so its shape is undefined", source="x/y",
                        fix="drop constant representations")
    with np.errstate(over="ignore", invalid="ignore"):
        if distance == "angular":
            out = np.arccos(np.clip(nuclear / np.sqrt(sq_x * sq_y), -1.0, 1.0))
        else:
            out = np.sqrt(np.clip(sq_x + sq_y - 2.0 * nuclear, 0.0, None))
    if not np.all(np.isfinite(out)):
        raise _range_error()
    return out


class LinearMetric(BaseEstimator):
    """The linear shape metric with regularisation ``alpha``, as a fit/score estimator.

    ``fit(X, Y)`` learns the centring, partial whitening and rotation that
    align X and Y; ``score(X, Y)`` is the distance between aligned
    representations — on the fitting data (that is :func:`shape_distance`) or
    on held-out stimuli (a cross-validated distance).

    Parameters
    ----------
    alpha : float
        0 (CCA) … 1 (Procrustes).
    center_columns : bool
        Subtract each unit's mean (learned in ``fit``).
    score_method : {"angular", "euclidean"}

    Attributes
    ----------
    mx_, my_ : ndarray
        Learned unit means.
    Wx_, Wy_ : ndarray (p, m), (q, m)
        Maps into the common aligned space, m = max(p, q).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.stats import ortho_group
    >>> from neuroalign.compare import LinearMetric
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 5))
    >>> Y = X @ ortho_group.rvs(5, random_state=1) + 3.0
    >>> round(float(LinearMetric(alpha=1.0).fit(X, Y).score(X, Y)), 6)
    0.0
    """

    def __init__(self, alpha: float = 1.0, *, center_columns: bool = True, score_method: str = "angular"):
        self.alpha = alpha
        self.center_columns = center_columns
        self.score_method = score_method

    def fit(self, X: Any, Y: Any) -> "LinearMetric":
        """Learn the alignment of X and Y; returns ``self``."""
        _check_options(self.alpha, self.score_method)
        X, Y = _paired(X, Y)
        self.mx_, _, zx = _whitening(X, float(self.alpha), self.center_columns)
        self.my_, _, zy = _whitening(Y, float(self.alpha), self.center_columns)
        xw, yw = (X - self.mx_) @ zx, (Y - self.my_) @ zy  # (n, rank_x), (n, rank_y)
        u, _, vt = _svd(xw.T @ yw, full_matrices=True)
        m = max(X.shape[1], Y.shape[1])
        self.Wx_ = _pad_columns(zx @ u, m)
        self.Wy_ = _pad_columns(zy @ vt.T, m)
        return self

    def transform(self, X: Any, Y: Any) -> tuple[np.ndarray, np.ndarray]:
        """X and Y in the aligned space (n × max(p, q) each)."""
        if not hasattr(self, "Wx_"):
            raise ConfigError("this LinearMetric is not fitted yet", source="LinearMetric", fix="call fit(X, Y) first")
        X, Y = _paired(X, Y)
        for array, w, name in ((X, self.Wx_, "X"), (Y, self.Wy_, "Y")):
            if array.shape[1] != w.shape[0]:
                raise DataError(f"{name} has {array.shape[1]} units, fit saw {w.shape[0]}", source=name,
                                fix="pass the same units as in fit")
        return (X - self.mx_) @ self.Wx_, (Y - self.my_) @ self.Wy_

    def score(self, X: Any, Y: Any) -> float:
        """Distance between X and Y in the aligned space."""
        tx, ty = self.transform(X, Y)
        return float(_from_nuclear(np.sum(tx * ty), np.sum(tx**2), np.sum(ty**2), self.score_method))


class PermutationMetric(BaseEstimator):
    """The permutation shape metric: units matched one to one by linear assignment.

    Parameters
    ----------
    center_columns : bool
    score_method : {"angular", "euclidean"}

    Attributes
    ----------
    mx_, my_ : ndarray
    rows_, cols_ : ndarray
        Matched unit indices: unit ``rows_[k]`` of X with ``cols_[k]`` of Y.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import PermutationMetric
    >>> X = np.random.default_rng(0).normal(size=(20, 4))
    >>> m = PermutationMetric().fit(X, X[:, [2, 0, 3, 1]])
    >>> m.cols_.tolist(), round(m.score(X, X[:, [2, 0, 3, 1]]), 6)
    ([1, 3, 0, 2], 0.0)
    """

    def __init__(self, *, center_columns: bool = True, score_method: str = "angular"):
        self.center_columns = center_columns
        self.score_method = score_method

    def fit(self, X: Any, Y: Any) -> "PermutationMetric":
        """Learn the matching of units; returns ``self``."""
        _check_options(1.0, self.score_method)
        X, Y = _paired(X, Y)
        self.mx_ = X.mean(axis=0) if self.center_columns else np.zeros(X.shape[1])
        self.my_ = Y.mean(axis=0) if self.center_columns else np.zeros(Y.shape[1])
        self.rows_, self.cols_ = linear_sum_assignment((X - self.mx_).T @ (Y - self.my_), maximize=True)
        return self

    def score(self, X: Any, Y: Any) -> float:
        """Distance between X and Y after matching their units."""
        if not hasattr(self, "rows_"):
            raise ConfigError("this PermutationMetric is not fitted yet", source="PermutationMetric",
                              fix="call fit(X, Y) first")
        X, Y = _paired(X, Y)
        xc, yc = X - self.mx_, Y - self.my_
        matched = np.sum(xc[:, self.rows_] * yc[:, self.cols_])
        return float(_from_nuclear(matched, np.sum(xc**2), np.sum(yc**2), self.score_method))


def _pad_columns(w: np.ndarray, m: int) -> np.ndarray:
    return np.pad(w, ((0, 0), (0, m - w.shape[1])))


def shape_distance(x: Any, y: Any, *, method: str = "linear", alpha: float = 1.0, distance: str = "angular",
                   center: bool = True) -> float:
    """Shape distance between two representations of the same stimuli.

    Parameters
    ----------
    x, y : array_like or xarray.DataArray
        ``(stimulus, unit)`` arrays; DataArrays ``(presentation, neuroid)``
        are matched on ``stimulus_id`` first.  Unit counts may differ.
    method : {"linear", "permutation"}
    alpha : float
        Regularisation of the linear metric: 0 (CCA) … 1 (Procrustes).
    distance : {"angular", "euclidean"}
    center : bool
        Centre every unit across stimuli first.

    Returns
    -------
    float
        Angular distances are radians, in [0, π/2] for the linear metric
        (a nuclear norm is never negative) and in [0, π] for the permutation one.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import shape_distance
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 6))
    >>> round(shape_distance(X, X @ rng.normal(size=(6, 6)), alpha=0.0), 6)  # CCA: any invertible map
    0.0
    >>> shape_distance(X, X @ rng.normal(size=(6, 6)), alpha=1.0) > 0.1  # Procrustes: rotations only
    True
    """
    if method not in SHAPE_METHODS:
        raise UnknownNameError(method, SHAPE_METHODS, what="shape method", source="method")
    _check_options(alpha, distance)
    if method == "permutation":
        return PermutationMetric(center_columns=center, score_method=distance).fit(x, y).score(x, y)
    x, y = _paired(x, y)
    ax = _whitening(x, float(alpha), center)[1]
    ay = _whitening(y, float(alpha), center)[1]
    nuclear = _svd(ax.T @ ay, compute_uv=False).sum()
    return float(_from_nuclear(nuclear, np.sum(ax**2), np.sum(ay**2), distance))


def pairwise_shape_distances(
    networks: Mapping[str, Any] | Sequence[Any],
    *,
    method: str = "linear",
    alpha: float = 1.0,
    distance: str = "angular",
    center: bool = True,
    progress: bool = False,
) -> xr.DataArray:
    """All pairwise shape distances between many representations of the same stimuli.

    Each representation is centred and whitened once; the linear metric then
    needs only the nuclear norms of the cross-products of whitened scores,
    computed in batches (one batched SVD per chunk of pairs).  The
    permutation metric solves one assignment problem per pair.

    Parameters
    ----------
    networks : mapping of label → array, or sequence of arrays
        ``(stimulus, unit)`` arrays or ``(presentation, neuroid)`` DataArrays
        (matched on ``stimulus_id`` to the first one).
    method, alpha, distance, center
        As in :func:`shape_distance`.
    progress : bool
        Show a progress bar over chunks of pairs.

    Returns
    -------
    xarray.DataArray
        Symmetric ``(network_a, network_b)`` distances with a zero diagonal,
        labelled by the mapping's keys (or 0 … N − 1) and carrying provenance.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import pairwise_shape_distances
    >>> rng = np.random.default_rng(0)
    >>> nets = {f"net{i}": rng.normal(size=(30, 5 + i)) for i in range(3)}
    >>> d = pairwise_shape_distances(nets, alpha=0.5)
    >>> d.dims, bool((d == d.T).all()), float(d.sel(network_a="net1", network_b="net1"))
    (('network_a', 'network_b'), True, 0.0)
    """
    if method not in SHAPE_METHODS:
        raise UnknownNameError(method, SHAPE_METHODS, what="shape method", source="method")
    _check_options(alpha, distance)
    labels = list(networks) if isinstance(networks, Mapping) else list(range(len(networks)))
    arrays = list(networks.values()) if isinstance(networks, Mapping) else list(networks)
    if len(arrays) < 2:
        raise ConfigError(f"need at least 2 networks, got {len(arrays)}", source="networks",
                          fix="pass a mapping or list of two or more representations")
    if all(isinstance(a, xr.DataArray) for a in arrays):
        arrays = [arrays[0]] + [align(arrays[0], a, names=(f"networks[{labels[0]!r}]", f"networks[{lab!r}]"))[1]
                                for lab, a in zip(labels[1:], arrays[1:])]
    matrices = [_as_matrix(a, f"networks[{lab!r}]") for lab, a in zip(labels, arrays)]
    if len({len(m) for m in matrices}) > 1:
        raise DataError(f"the networks have different numbers of stimuli {sorted({len(m) for m in matrices})}",
                        source="networks", fix="pass responses to the same stimuli (or labelled DataArrays)")
    n_net = len(matrices)
    i_idx, j_idx = np.triu_indices(n_net, k=1)
    values = np.empty(len(i_idx))
    if method == "linear":
        scores = [_whitening(m, float(alpha), center)[1] for m in matrices]
        rank = max(s.shape[1] for s in scores)
        stack = np.stack([np.pad(s, ((0, 0), (0, rank - s.shape[1]))) for s in scores])  # (N, n, rank)
        sq = np.einsum("knr,knr->k", stack, stack)
        chunk = max(1, _MAX_CHUNK_BYTES // (8 * rank * max(rank, stack.shape[1])))
        starts = range(0, len(i_idx), chunk)
        for start in tqdm(starts, disable=not progress, desc="shape distances"):
            a, b = i_idx[start:start + chunk], j_idx[start:start + chunk]
            cross = np.swapaxes(stack[a], 1, 2) @ stack[b]  # (chunk, rank, rank)
            nuclear = _svd(cross, compute_uv=False).sum(axis=-1)
            values[start:start + chunk] = _from_nuclear(nuclear, sq[a], sq[b], distance)
    else:
        for k, (i, j) in enumerate(tqdm(list(zip(i_idx, j_idx)), disable=not progress, desc="shape distances")):
            values[k] = PermutationMetric(center_columns=center, score_method=distance).fit(
                matrices[i], matrices[j]).score(matrices[i], matrices[j])
    out = np.zeros((n_net, n_net))
    out[i_idx, j_idx] = values
    out[j_idx, i_idx] = values
    params = {"method": method, "alpha": float(alpha) if method == "linear" else None, "distance": distance,
              "center": center}
    result = xr.DataArray(out, dims=(NETWORK_A, NETWORK_B),
                          coords={NETWORK_A: label_index(labels, NETWORK_A), NETWORK_B: label_index(labels, NETWORK_B)},
                          name=f"shape-{method}-{distance}")
    result.attrs.update(provenance(params, {str(lab): m for lab, m in zip(labels, matrices)}))
    return result
