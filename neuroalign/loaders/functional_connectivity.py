"""Functional connectivity from ROI time series: static or sliding-window, all at once.

:func:`connectivity` turns a ``(…, time, neuroid)`` array into square matrices
``(…, [window,] neuroid_a, neuroid_b)``; :func:`vectorize_connectivity` and
:func:`square_connectivity` go to the upper-triangle ``edge`` form and back.
Every window is computed in one batched matrix product over a strided view of
the series: there is no Python loop over windows.  The kinds follow nilearn's
``ConnectivityMeasure`` (and are tested against it), except that the default
``"correlation"`` is plain Pearson correlation, equal to ``np.corrcoef``.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import xarray as xr

from ..data import provenance, validate
from ..errors import ConfigError, DataError, SchemaError, UnknownNameError
from .connectivity_edges import CORRELATION_KINDS, square_connectivity, vectorize_connectivity
from .connectivity_symmetry import mirror_upper, symmetric_gram
from .durations import parse_duration

__all__ = ["CONNECTIVITY_KINDS", "connectivity", "vectorize_connectivity", "square_connectivity", "parse_duration"]

log = logging.getLogger(__name__)

#: The connectivity kinds :func:`connectivity` knows.
CONNECTIVITY_KINDS = ("correlation", "partial correlation", "covariance", "precision", "tangent")


def connectivity(
    timeseries: xr.DataArray,
    kind: str = "correlation",
    *,
    window: int | str | None = None,
    step: int | str | None = None,
    taper: str | tuple | np.ndarray | None = None,
    fisher_z: bool = False,
    shrinkage: str | float | None = "auto",
    min_volumes: int | None = None,
    name: str = "timeseries",
) -> xr.DataArray:
    """Functional connectivity matrices, static or for every sliding window at once.

    Parameters
    ----------
    timeseries : xarray.DataArray
        Dims ``("time", "neuroid")`` plus any leading dims (``subject``,
        ``run`` …), e.g. from :func:`~neuroalign.loaders.fmri.load_roi_timeseries`.
        Time rows that are NaN for every neuroid are missing volumes (padding
        or scrubbing) and are left out; any other NaN is an error.
    kind : {"correlation", "partial correlation", "covariance", "precision", "tangent"}
        ``"correlation"`` (default) is Pearson's r.  ``"covariance"`` is the
        Ledoit–Wolf shrunk covariance (maximum-likelihood, divided by n);
        ``"precision"`` its inverse; ``"partial correlation"`` the normalised
        negative precision; ``"tangent"`` the matrix log of each covariance
        whitened by the group's geometric mean (needs several matrices: a
        ``subject``/``run`` dim or windows).
    window, step : int or str, optional
        Sliding window length and step; ints count volumes, strings carry a
        unit (``"60s"``, ``"20vol"``).  ``step`` defaults to one volume.
        ``None`` (default) gives one static matrix per series.
    taper : str, tuple or array, optional
        Window weights: a :func:`scipy.signal.get_window` name (``"hamming"``,
        ``("tukey", 0.5)``, ``("gaussian", 10)``, symmetric) or an array of
        ``window`` weights.  Weighted (co)variances use the weighted mean.
    fisher_z : bool
        Return ``arctanh`` of correlations (kinds correlation and partial
        correlation only); the diagonal is then set to 0.
    shrinkage : "auto", "ledoit-wolf", float or None
        Covariance estimate.  ``"auto"``: none for correlation (so it equals
        ``np.corrcoef``), Ledoit–Wolf for the other kinds, as nilearn does.
        A float in [0, 1] shrinks by that amount towards ``mu * I``.  With
        ``"ledoit-wolf"``, correlations are computed from z-scored series like
        nilearn's ``ConnectivityMeasure(kind="correlation")``.
    min_volumes : int, optional
        Windows with fewer valid volumes become NaN (logged, counted in
        ``attrs["n_missing_windows"]``); default ``max(3, ceil(window / 2))``,
        at least 2.  A static series with fewer than 3 valid volumes, or
        windows that are all missing, are an error.
    name : str
        How the input is named in error messages.

    Returns
    -------
    xarray.DataArray
        Dims ``(*leading, ["window",] "neuroid_a", "neuroid_b")`` with index
        coords equal to the neuroid ids (``region_a``/``region_b`` when the
        input has ``region``); windows carry ``window_start``/``window_end``
        (seconds, end exclusive) and ``window_start_volume``; ``n_volumes``
        counts the volumes used; ``shrinkage`` is the value used per matrix.
        attrs: ``kind``, ``fisher_z``, ``shrinkage_method``, provenance.

        Every matrix is exactly symmetric (``np.array_equal(m, m.swapaxes(-1, -2))``).

    Raises
    ------
    SchemaError, DataError, ConfigError, UnknownNameError
        Bad dims or repetition time, partial NaN rows or constant series, bad
        window arguments, unknown kind; a singular covariance for precision,
        partial correlation or tangent (use shrinkage), covariances that
        overflow float64.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.loaders.functional_connectivity import connectivity
    >>> x = np.random.default_rng(0).normal(size=(100, 3))
    >>> ts = xr.DataArray(x, dims=("time", "neuroid"), coords={"time": np.arange(100) * 2.0,
    ...                   "neuroid_id": ("neuroid", ["a", "b", "c"])}, attrs={"repetition_time": 2.0})
    >>> fc = connectivity(ts)
    >>> bool(np.allclose(fc.values, np.corrcoef(x.T)))
    True
    >>> connectivity(ts, window="40s", step=5).sizes["window"]
    17
    """
    if kind not in CONNECTIVITY_KINDS:
        raise UnknownNameError(kind, CONNECTIVITY_KINDS, what="connectivity kind", source="kind")
    if fisher_z and kind not in CORRELATION_KINDS:
        raise ConfigError(f"fisher_z=True is only defined for correlations, not kind={kind!r}",
                          source="fisher_z", fix="use kind='correlation' or 'partial correlation', or fisher_z=False")
    method = _shrinkage_method(kind, shrinkage)
    if min_volumes is not None and (isinstance(min_volumes, bool) or not isinstance(min_volumes, (int, np.integer))
                                    or min_volumes < 2):
        raise ConfigError(f"min_volumes={min_volumes!r} is not a whole number of volumes >= 2", source="min_volumes",
                          fix="pass an int >= 2 (a correlation needs at least 2 volumes), or None for the default")
    timeseries = validate(timeseries, dims=("time", "neuroid"), name=name, allow_nan=True)
    _check_repetition_time(timeseries, name)
    if timeseries.sizes["neuroid"] == 0:
        raise SchemaError("the time series has no neuroid", source=name, fix="pass at least one region")
    timeseries = _regular_time(timeseries, name)
    lead = [d for d in timeseries.dims if d not in ("time", "neuroid")]
    if "window" in lead:
        raise SchemaError("the input already has a 'window' dim", source=name,
                          fix="compute dynamic connectivity from the time series, not from windows")
    ts = timeseries.transpose(*lead, "time", "neuroid")
    values = np.asarray(ts.values, dtype=float)
    n_time, n_neuroid = values.shape[-2:]
    valid = _valid_rows(values, ts, name)
    values = np.where(valid[..., None], values, 0.0)
    tr = timeseries.attrs.get("repetition_time")

    if window is None:
        if step is not None or taper is not None:
            raise ConfigError("step and taper need a sliding window", source="window",
                              fix="pass window=... (volumes or e.g. '60s'), or drop step/taper")
        length, starts = n_time, np.array([0])
        minimum = 3 if min_volumes is None else min_volumes
    else:
        length = parse_duration(window, tr, argument="window")
        stride = 1 if step is None else parse_duration(step, tr, argument="step")
        if length > n_time:
            raise ConfigError(f"window of {length} volumes is longer than the series ({n_time} volumes)",
                              source="window", fix="use a shorter window")
        starts = np.arange(0, n_time - length + 1, stride)
        minimum = max(3, math.ceil(length / 2)) if min_volumes is None else min_volumes
    weights = _taper(taper, length)
    if taper is not None and method == "ledoit-wolf":
        raise ConfigError("Ledoit-Wolf shrinkage is defined for equally weighted samples, not a taper",
                          source="taper", fix="pass shrinkage=None (empirical) or a fixed float with a taper")

    pearson = kind == "correlation" and method is None  # unit-norm windows: the product is the correlation
    cov, shrunk, counts, constant = _window_covariances(values, valid, starts, length, weights, method,
                                                        standardize=kind == "correlation", unit_rows=pearson)
    missing = counts < minimum
    if window is None and missing.any():
        raise DataError(f"a series has only {int(counts.min())} valid volumes; at least {minimum} are needed",
                        source=name, fix="use longer runs or scrub fewer volumes")
    if missing.all():
        raise DataError(f"no window has the {minimum} valid volumes needed (at most {int(counts.max())})",
                        source=name, fix="use longer windows, a smaller min_volumes, or check that the series is "
                        "not all NaN")
    constant &= ~missing[..., None]
    if constant.any():
        where = np.argwhere(constant)[0]
        raise DataError(f"neuroid {ts['neuroid_id'].values[where[-1]]!r} is constant (zero variance) in a series "
                        "or window", source=name, fix="drop constant neuroids (e.g. empty regions) first")
    if missing.any():
        cov[missing] = np.eye(n_neuroid)
    if not pearson and not np.isfinite(cov).all():
        raise DataError(f"the covariances overflow float64 (values up to {float(np.nanmax(np.abs(values))):.3g})",
                        source=name, fix="rescale the series first (e.g. z-score each region, or change units)")
    if pearson:
        matrices = cov  # in [-1, 1] by construction (see _window_covariances)
        matrices[..., np.arange(n_neuroid), np.arange(n_neuroid)] = 1.0
    else:
        matrices = _transform(cov, kind, missing, counts, [*lead, "window"], name)
    matrices[missing] = np.nan
    if missing.any():
        log.warning("%d of %d windows have fewer than %d valid volumes and are NaN",
                    int(missing.sum()), missing.size, minimum)
    if fisher_z:
        matrices = _fisher(matrices, name)
    if window is None:
        matrices, shrunk, counts = matrices[..., 0, :, :], shrunk[..., 0], counts[..., 0]
    out = _label(matrices, ts, lead, window is not None, starts, length, tr, shrunk, counts)
    out.attrs.update(kind=kind, fisher_z=bool(fisher_z), shrinkage_method=method or "none",
                     n_missing_windows=int(missing.sum()))
    if window is not None:
        out.attrs.update(window_volumes=int(length), step_volumes=int(starts[1] - starts[0]) if len(starts) > 1
                         else int(length), taper=repr(taper) if taper is not None else "none")
    params = dict(kind=kind, window=window, step=step, taper=None if taper is None else repr(taper),
                  fisher_z=fisher_z, shrinkage=shrinkage, min_volumes=min_volumes)
    out.attrs.update(provenance(params, {name: timeseries}))
    # Pearson windows are finite by construction (finite input, constant neuroids refused, values clipped), so
    # their values are not scanned again; every other kind is checked in full.
    validate(out, dims=("neuroid_a", "neuroid_b"), name="connectivity", allow_nan=bool(missing.any()),
             check_values=not pearson)
    return out


def _shrinkage_method(kind: str, shrinkage: Any) -> str | float | None:
    if shrinkage == "auto":
        return None if kind == "correlation" else "ledoit-wolf"
    if shrinkage is None or shrinkage == "ledoit-wolf":
        return shrinkage
    if isinstance(shrinkage, (int, float)) and not isinstance(shrinkage, bool) and 0 <= shrinkage <= 1:
        return float(shrinkage) or None
    raise ConfigError(f"shrinkage={shrinkage!r} is not valid", source="shrinkage",
                      fix="use 'auto', 'ledoit-wolf', None or a float between 0 and 1")


def _check_repetition_time(ts: xr.DataArray, name: str) -> None:
    tr = ts.attrs.get("repetition_time")
    if tr is None:
        return
    if isinstance(tr, bool) or not isinstance(tr, (int, float, np.integer, np.floating)) or not np.isfinite(tr) \
            or tr <= 0:
        raise SchemaError(f"attrs['repetition_time'] = {tr!r} is not a positive number of seconds", source=name,
                          fix="set attrs['repetition_time'] to the sampling interval in seconds (e.g. 2.0)")


def _regular_time(ts: xr.DataArray, name: str) -> xr.DataArray:
    """Put scrubbed (missing) volumes back as NaN rows so windows count real volumes."""
    t = np.asarray(ts["time"].values, dtype=float)
    if t.size < 2:
        return ts
    steps = np.diff(t)
    tr = float(ts.attrs.get("repetition_time") or steps.min())
    index = np.round((t - t[0]) / tr)
    if not np.allclose(index * tr, t - t[0], atol=1e-6 * max(1.0, tr)):
        raise SchemaError("the time coordinate is not on a regular grid of the repetition time", source=name,
                          fix="set attrs['repetition_time'] to the sampling interval (seconds)")
    if index[-1] + 1 == t.size:
        return ts
    full = t[0] + np.arange(int(index[-1]) + 1) * tr
    log.info("%s: %d missing volumes restored as NaN rows", name, full.size - t.size)
    out = ts.reindex(time=full, method="nearest", tolerance=1e-6 * max(1.0, tr))
    return out.assign_attrs(ts.attrs)


def _valid_rows(values: np.ndarray, ts: xr.DataArray, name: str) -> np.ndarray:
    nan = np.isnan(values)
    if np.isinf(values).any():
        raise DataError("the time series has inf values", source=name, fix="remove or clip them first")
    rows = nan.all(axis=-1)
    partial = nan.any(axis=-1) & ~rows
    if partial.any():
        where = np.unravel_index(int(np.flatnonzero(partial)[0]), partial.shape)
        at = ", ".join(f"{d}={i}" for d, i in zip(ts.dims[:-1], where))
        raise DataError(f"{int(partial.sum())} time point(s) are NaN for some neuroids only, the first at {at}",
                        source=name, fix="impute them, drop the neuroid (ts.dropna('neuroid')), or set the "
                        "whole time point to NaN to mark a missing volume")
    return ~rows


def _taper(taper: Any, length: int) -> np.ndarray | None:
    if taper is None:
        return None
    if isinstance(taper, (str, tuple)):
        from scipy.signal import get_window

        try:
            weights = get_window(taper, length, fftbins=False)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"unknown taper {taper!r} ({exc})", source="taper",
                              fix="use a scipy.signal.get_window name such as 'hamming', 'hann', ('tukey', 0.5)")
    else:
        weights = np.asarray(taper, dtype=float)
    if weights.shape != (length,) or not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
        raise ConfigError(f"the taper must be {length} finite non-negative weights", source="taper",
                          fix="pass one weight per volume of the window")
    return weights


def _window_covariances(values, valid, starts, length, weights, method, *, standardize, unit_rows=False):
    """Covariance of every window at once: strided view, weighted centring, batched product.

    With ``unit_rows`` each centred window row is scaled to unit norm first, so
    the product is the Pearson correlation itself.  Returns the matrices, the
    shrinkage per matrix, the valid volumes per window and which neuroids are
    constant in which window.
    """
    import torch
    from numpy.lib.stride_tricks import sliding_window_view

    n_windows, stride = len(starts), int(starts[1] - starts[0]) if len(starts) > 1 else 1
    by_neuroid = np.ascontiguousarray(np.swapaxes(values, -1, -2))  # (..., p, T): each window row is contiguous
    x = sliding_window_view(by_neuroid, length, axis=-1, writeable=True)[..., ::stride, :][..., :n_windows, :]
    x = np.swapaxes(x, -3, -2)  # (..., W, p, L), a view: torch reads it in place, nothing writes to it
    w = sliding_window_view(valid.astype(float), length, axis=-1)[..., ::stride, :][..., :n_windows, :]
    if weights is not None:
        w = w * weights
    total = w.sum(axis=-1)  # (..., W)
    counts = np.count_nonzero(w, axis=-1)
    safe = np.where(total > 0, total, 1.0)
    mean = np.einsum("...pl,...l->...p", x, w) / safe[..., None]
    # The elementwise passes over the (..., W, p, L) windows run in torch, on its intra-op threads.
    centred = np.empty(x.shape)
    rows = torch.from_numpy(centred)
    torch.sub(torch.from_numpy(x), torch.from_numpy(mean)[..., None], out=rows)
    if weights is not None or not np.all(w == 1):
        rows.mul_(torch.from_numpy(np.sqrt(w))[..., None, :])
    norms = torch.linalg.vector_norm(rows, dim=-1).numpy()
    constant = norms <= 1e-12 * np.maximum(np.abs(mean), 1.0) * np.sqrt(np.maximum(total, 1.0))[..., None]
    if unit_rows:
        # Unit rows shrunk by a rounding margin: the float dot product of two unit vectors of length L can
        # exceed 1 by about (L + 2) eps, so each row is scaled by 1 - 4 (L + 4) eps (a relative change of
        # ~1e-13 for L = 50, far below the error of any BLAS summation order).  Every product then lies in
        # [-1, 1] without a clipping pass over the (windows x p x p) output.
        margin = 1.0 - 4 * (length + 4) * np.finfo(float).eps
        rows.mul_(torch.from_numpy(margin / np.where(constant, 1.0, norms))[..., None])
    cov = symmetric_gram(centred)  # one batched product for all windows, exactly symmetric
    shrunk = np.zeros(total.shape)
    if unit_rows:
        return cov, shrunk, counts, constant
    cov /= safe[..., None, None]
    if method is None:
        return cov, shrunk, counts, constant
    if standardize:  # z-score (ddof=1) first, like nilearn's correlation kind
        n = np.maximum(total, 2.0)
        std = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1) * (n / (n - 1))[..., None])
        std = np.where(std > 0, std, 1.0)
        centred = centred / std[..., :, None]
        cov = cov / _outer(std)  # one divisor per pair (s_i s_j == s_j s_i): symmetry is kept exactly
    p = cov.shape[-1]
    mu = np.trace(cov, axis1=-2, axis2=-1) / p
    if method == "ledoit-wolf":  # Ledoit & Wolf (2004), as in sklearn.covariance.ledoit_wolf_shrinkage
        n = safe
        beta_ = (np.sum(centred**2, axis=-2) ** 2).sum(axis=-1)  # sum over volumes of |x_t|^4
        delta_ = (cov**2).sum(axis=(-2, -1))
        beta = (beta_ / n - delta_) / (p * n)
        delta = (delta_ - 2 * mu * mu * p + p * mu**2) / p
        beta = np.minimum(beta, delta)
        shrunk = np.where(beta == 0, 0.0, beta / np.where(delta == 0, 1.0, delta)) if p > 1 else shrunk
    else:
        shrunk = np.full(total.shape, float(method))
    return _shrink(cov, method, shrunk), shrunk, counts, constant


def _shrink(cov: np.ndarray, method, shrunk: np.ndarray) -> np.ndarray:
    """(1 - s) * cov + s * mu * I, mu = trace / p (in place)."""
    if method is None:
        return cov
    if method != "ledoit-wolf":
        shrunk = np.full(cov.shape[:-2], float(method))
    p = cov.shape[-1]
    mu = np.trace(cov, axis1=-2, axis2=-1) / p
    cov *= (1 - shrunk)[..., None, None]
    cov[..., np.arange(p), np.arange(p)] += (shrunk * mu)[..., None]
    return cov


def _outer(d: np.ndarray) -> np.ndarray:
    """``d_i * d_j`` for every pair: one divisor per pair, bit-identical for ``(i, j)`` and ``(j, i)``."""
    return d[..., :, None] * d[..., None, :]


def _transform(cov: np.ndarray, kind: str, missing: np.ndarray, counts: np.ndarray, dims: list[str],
               name: str) -> np.ndarray:
    """The matrices of ``kind`` from exactly symmetric covariances; every step keeps them exactly symmetric."""
    if kind == "covariance":
        return cov
    if kind == "correlation":
        return _cov_to_corr(cov, name)
    _check_invertible(cov, kind, missing, counts, dims, name)
    if kind == "tangent":
        return _tangent(cov[~missing], missing, cov, name)
    try:
        precision = np.linalg.inv(cov)
    except np.linalg.LinAlgError as exc:
        raise DataError(f"a covariance matrix is singular ({exc})", source=name,
                        fix="use shrinkage='ledoit-wolf' or longer windows (more volumes than neuroids)") from exc
    precision = (precision + np.swapaxes(precision, -1, -2)) / 2  # a + b == b + a: exactly symmetric
    if kind == "precision":
        return precision
    p = cov.shape[-1]
    partial = -precision / _outer(np.sqrt(np.diagonal(precision, axis1=-2, axis2=-1)))
    partial[..., np.arange(p), np.arange(p)] = 1.0
    return partial


def _check_invertible(cov: np.ndarray, kind: str, missing: np.ndarray, counts: np.ndarray, dims: list[str],
                      name: str) -> None:
    """Refuse covariances that are singular at working precision, whose inverse or log would be noise.

    Singular means the smallest eigenvalue is at most ``p * eps`` times the
    largest (``numpy.linalg.matrix_rank``'s tolerance): an empirical covariance
    of ``n <= p`` volumes, or of neuroids that are linear combinations of others.
    """
    p = cov.shape[-1]
    try:
        vals = np.linalg.eigvalsh(cov)  # ascending
    except np.linalg.LinAlgError as exc:
        raise DataError(f"the eigenvalues of a covariance matrix cannot be computed ({exc})", source=name,
                        fix="rescale the series (e.g. z-score each region) and use shrinkage='ledoit-wolf'") from exc
    tol = np.maximum(vals[..., -1], 0.0) * p * np.finfo(float).eps
    singular = (vals[..., 0] <= tol) & ~missing
    if not singular.any():
        return
    where = np.unravel_index(int(np.flatnonzero(singular)[0]), singular.shape)
    at = ", ".join(f"{d}={i}" for d, i in zip(dims, where) if not (d == "window" and singular.shape[-1] == 1))
    rank, n = int(np.count_nonzero(vals[where] > tol[where])), int(counts[where])
    why = (f"{n} volumes for {p} neuroids" if n <= p else
           "some neuroids are linear combinations of others, e.g. a duplicated region")
    raise DataError(f"{int(singular.sum())} of {singular.size} covariance matrices are singular (the first"
                    f"{' at ' + at if at else ''} has rank {rank} < {p}: {why}), so kind={kind!r} is undefined",
                    source=name, fix="use shrinkage='ledoit-wolf' (the default for this kind) or a fixed float "
                    "shrinkage > 0, or use more volumes (longer windows) or fewer neuroids")


def _cov_to_corr(cov: np.ndarray, name: str) -> np.ndarray:
    d = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    if np.any(d == 0):
        where = np.argwhere(d == 0)[0]
        raise DataError(f"neuroid {int(where[-1])} is constant (zero variance) in a series or window",
                        source=name, fix="drop constant neuroids (e.g. empty regions) before computing correlations")
    corr = cov  # in place: the covariances are not needed any more
    corr /= _outer(d)
    np.clip(corr, -1.0, 1.0, out=corr)
    corr[..., np.arange(cov.shape[-1]), np.arange(cov.shape[-1])] = 1.0
    return corr


def _eig_map(function, matrices: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(matrices)
    return np.matmul(vecs * function(vals)[..., None, :], np.swapaxes(vecs, -1, -2))


def _tangent(covs: np.ndarray, missing: np.ndarray, all_covs: np.ndarray, name: str,
             max_iter: int = 100, tol: float = 1e-12) -> np.ndarray:
    """Matrix logs of the covariances whitened by their Riemannian geometric mean, iterated to convergence."""
    if covs.shape[0] < 2:
        raise ConfigError("the tangent kind needs a group: at least two matrices", source=name,
                          fix="stack several subjects or runs (a 'subject' dim) or use sliding windows")
    # Riemannian geometric mean by gradient descent (Fletcher & Joshi 2007, Algorithm 3)
    mean, step, best = covs.mean(axis=0), 1.0, np.inf
    for _ in range(max_iter):
        vals, vecs = np.linalg.eigh(mean)
        inv_sqrt = (vecs / np.sqrt(vals)) @ vecs.T
        sqrt = (vecs * np.sqrt(vals)) @ vecs.T
        gradient = _eig_map(np.log, inv_sqrt @ covs @ inv_sqrt).mean(axis=0)
        norm = np.linalg.norm(gradient)
        mean = sqrt @ _eig_map(np.exp, step * gradient) @ sqrt
        if norm < best:
            best = norm
        elif norm > best:
            step /= 2
        if norm / mean.size < tol:
            break
    vals, vecs = np.linalg.eigh(mean)
    whitening = (vecs / np.sqrt(vals)) @ vecs.T
    out = np.zeros_like(all_covs)
    out[~missing] = _eig_map(np.log, whitening @ covs @ whitening)
    return mirror_upper(out)  # products of eigenvectors are not bit-symmetric


def _fisher(matrices: np.ndarray, name: str) -> np.ndarray:
    p = matrices.shape[-1]
    off = ~np.eye(p, dtype=bool)
    if np.any(np.abs(matrices[..., off]) >= 1):
        raise DataError("some correlations are exactly +-1, whose Fisher z is infinite", source=name,
                        fix="drop duplicated neuroids, or use fisher_z=False")
    out = np.arctanh(np.where(off, matrices, 0.0))
    return out


def _label(matrices, ts, lead, windowed, starts, length, tr, shrunk, counts) -> xr.DataArray:
    ids = np.asarray(ts["neuroid_id"].values)
    dims = [*lead, *(["window"] if windowed else []), "neuroid_a", "neuroid_b"]
    coords: dict[str, Any] = {"neuroid_a": ids, "neuroid_b": ids}
    if "region" in ts.coords and ts["region"].dims == ("neuroid",):
        coords["region_a"] = ("neuroid_a", ts["region"].values)
        coords["region_b"] = ("neuroid_b", ts["region"].values)
    for key, coord in ts.coords.items():
        if key not in coords and set(coord.dims) <= set(lead):
            coords[key] = coord.variable
    mat_dims = dims[:-2]
    if windowed:
        t = np.asarray(ts["time"].values, dtype=float)
        step_t = tr or (t[1] - t[0] if t.size > 1 else 1.0)
        coords["window_start"] = ("window", t[starts])
        coords["window_end"] = ("window", t[starts + length - 1] + step_t)
        coords["window_start_volume"] = ("window", starts.astype(int))
    coords["shrinkage"] = (mat_dims, shrunk)
    coords["n_volumes"] = (mat_dims, counts.astype(int))
    return xr.DataArray(matrices, dims=dims, coords=coords, name="connectivity")
