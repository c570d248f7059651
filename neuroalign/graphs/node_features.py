"""Node features of connectivity graphs: each ROI's FC row, and statistics of its time series.

Registry :data:`NODE_FEATURES` (names used by :class:`~neuroalign.graphs.spec.GraphSpec`):

``"fc_row"``
    The node's row of the window's connectivity, with its own (diagonal) entry
    set to 0: ``N`` features (:func:`fc_row_features`).
``"timeseries_stats"``
    Statistics of the ROI's BOLD series over the same windows as the
    connectivity (:func:`timeseries_statistics`), passed to
    ``GraphSpec.build`` as ``extra``: ``K`` features (3 by default).

A learnable ROI identity embedding is not a feature here: it belongs to the
encoder, which adds it after masking (a one-hot identity would be a trivial
reconstruction target).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from ..data import provenance, validate
from ..errors import ConfigError, DataError, SchemaError
from ..loaders.functional_connectivity import _regular_time

__all__ = ["NodeFeature", "NODE_FEATURES", "STATISTICS", "fc_row_features", "timeseries_statistics",
           "extra_features"]

#: The statistics :func:`timeseries_statistics` computes, in this order along ``statistic``.
STATISTICS = ("std", "lag1_autocorrelation", "mean")


def fc_row_features(fc: torch.Tensor, exclude: torch.Tensor | None = None) -> torch.Tensor:
    """Each node's FC row as its features: ``fc`` with the diagonal set to 0.

    Parameters
    ----------
    fc : torch.Tensor
        Connectivity ``[..., N, N]``.
    exclude : torch.Tensor, optional
        Bool ``[..., N]`` (broadcastable), True = excluded.  An excluded node's
        column is zeroed in every row (entry ``[i, j]`` also sits in row ``j``:
        without this, a masked node's row could be copied back by
        transposition), and its own row is zeroed too (a model replaces it with
        its mask token), so nothing of its FC reaches the features.

    Returns
    -------
    torch.Tensor
        ``[..., N, N]``, row ``i`` holding node ``i``'s features.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.graphs.node_features import fc_row_features
    >>> fc = torch.tensor([[1.0, 0.5, 0.2], [0.5, 1.0, 0.3], [0.2, 0.3, 1.0]])
    >>> fc_row_features(fc, exclude=torch.tensor([False, True, False]))
    tensor([[0.0000, 0.0000, 0.2000],
            [0.0000, 0.0000, 0.0000],
            [0.2000, 0.0000, 0.0000]])
    """
    n = fc.shape[-1]
    keep = ~torch.eye(n, dtype=torch.bool, device=fc.device)
    if exclude is not None:
        _check_exclude(exclude, n)
        inside = ~exclude.to(fc.device)
        keep = keep & inside[..., :, None] & inside[..., None, :]
    return torch.where(keep, fc, torch.zeros((), dtype=fc.dtype, device=fc.device))


def extra_features(extra: torch.Tensor, exclude: torch.Tensor | None = None) -> torch.Tensor:
    """The extra node features ``[..., N, K]``, with excluded nodes' rows set to 0.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.graphs.node_features import extra_features
    >>> extra_features(torch.ones(2, 1), exclude=torch.tensor([True, False])).tolist()
    [[0.0], [1.0]]
    """
    if exclude is None:
        return extra
    _check_exclude(exclude, extra.shape[-2])
    return torch.where(exclude.to(extra.device)[..., None], torch.zeros((), dtype=extra.dtype, device=extra.device),
                       extra)


def _check_exclude(exclude: torch.Tensor, n: int) -> None:
    if not isinstance(exclude, torch.Tensor) or exclude.dtype != torch.bool or exclude.shape[-1:] != (n,):
        raise ConfigError(f"exclude must be a bool tensor [..., {n}], got {type(exclude).__name__} "
                          f"{tuple(getattr(exclude, 'shape', ()))}", source="exclude",
                          fix="pass a bool tensor with one entry per node (True = excluded)")


@dataclass(frozen=True)
class NodeFeature:
    """One node feature of :data:`NODE_FEATURES`: how many columns it takes and how it is built."""

    name: str
    description: str
    width: Callable[[int, int], int]  # (n_rois, n_extra) -> columns
    build: Callable[[torch.Tensor, torch.Tensor | None, torch.Tensor | None], torch.Tensor]
    needs_extra: bool = False


#: The node features :class:`~neuroalign.graphs.spec.GraphSpec` knows, by name.
NODE_FEATURES: dict[str, NodeFeature] = {
    "fc_row": NodeFeature("fc_row", "the node's FC row, diagonal 0", lambda n_rois, n_extra: n_rois,
                          lambda fc, extra, exclude: fc_row_features(fc, exclude)),
    "timeseries_stats": NodeFeature("timeseries_stats", "statistics of the ROI's series per window (extra)",
                                    lambda n_rois, n_extra: n_extra,
                                    lambda fc, extra, exclude: extra_features(extra, exclude), needs_extra=True),
}


def timeseries_statistics(timeseries: xr.DataArray, connectivity: xr.DataArray, *,
                          name: str = "timeseries") -> xr.DataArray:
    """Per-window, per-ROI statistics of the BOLD series, on the windows of a connectivity result.

    Each ROI's series is z-scored over its whole run (valid volumes, ``ddof=0``),
    then, within every window of ``connectivity`` (the volumes
    ``window_start_volume`` to ``window_start_volume + attrs["window_volumes"]``,
    on the same regular time grid as :func:`~neuroalign.loaders.functional_connectivity.connectivity`
    uses), three statistics of the z-scored series (:data:`STATISTICS`):

    - ``std``: standard deviation (``ddof=0``): the window's amplitude relative to the run;
    - ``lag1_autocorrelation``: ``sum_t d_t d_{t+1} / sum_t d_t^2`` with ``d``
      the deviations from the window mean (the standard biased estimator, as
      ``statsmodels.tsa.stattools.acf``), over pairs of consecutive valid volumes;
    - ``mean``: the window mean: where the window sits relative to the run.

    Missing volumes (all-NaN time rows) are left out.  Windows that are NaN in
    ``connectivity`` (too few volumes) are NaN here.  A static connectivity (no
    ``window`` dim) has one window: the whole run.

    Parameters
    ----------
    timeseries : xarray.DataArray
        ``(…, time, neuroid)``, the series ``connectivity`` was computed from.
    connectivity : xarray.DataArray
        The output of :func:`~neuroalign.loaders.functional_connectivity.connectivity`
        on ``timeseries``.
    name : str
        How ``timeseries`` is named in error messages.

    Returns
    -------
    xarray.DataArray
        ``(…, [window,] neuroid, statistic)`` float64, with the leading and
        window coords of ``connectivity`` and ``statistic`` = :data:`STATISTICS`.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.loaders.functional_connectivity import connectivity
    >>> from neuroalign.graphs.node_features import timeseries_statistics
    >>> ts = xr.DataArray(np.random.default_rng(0).normal(size=(60, 3)), dims=("time", "neuroid"),
    ...                   coords={"time": np.arange(60) * 2.0, "neuroid_id": ("neuroid", list("abc"))},
    ...                   attrs={"repetition_time": 2.0})
    >>> stats = timeseries_statistics(ts, connectivity(ts, window=20, step=10))
    >>> dict(stats.sizes)
    {'window': 5, 'neuroid': 3, 'statistic': 3}
    """
    timeseries = validate(timeseries, dims=("time", "neuroid"), name=name, allow_nan=True)
    timeseries = _regular_time(timeseries, name)
    lead = [d for d in timeseries.dims if d not in ("time", "neuroid")]
    ts = timeseries.transpose(*lead, "time", "neuroid")
    ids = np.asarray(ts["neuroid_id"].values)
    if "neuroid_a" not in connectivity.dims or not np.array_equal(np.asarray(connectivity["neuroid_a"].values), ids):
        raise SchemaError("the connectivity's neuroid_a ids are not the time series' neuroid ids", source="connectivity",
                          fix="pass the connectivity computed from this time series")
    windowed = "window" in connectivity.dims
    n_time = ts.sizes["time"]
    if windowed:
        starts = np.asarray(connectivity["window_start_volume"].values, dtype=int)
        length = int(connectivity.attrs.get("window_volumes", 0))
        if length < 1 or starts.min(initial=0) < 0 or starts.max(initial=0) + length > n_time:
            raise SchemaError(f"the connectivity's windows (length {length}, starts {starts.min(initial=0)}.."
                              f"{starts.max(initial=0)}) do not fit the {n_time} volumes of the series",
                              source="connectivity", fix="pass the connectivity computed from this time series")
    else:
        starts, length = np.array([0]), n_time
    lead_shape = tuple(ts.sizes[d] for d in lead)
    conn_lead = tuple(connectivity.sizes.get(d, -1) for d in lead)
    if conn_lead != lead_shape:
        raise SchemaError(f"the connectivity's dims {dict(connectivity.sizes)} do not match the series' leading dims "
                          f"{dict(zip(lead, lead_shape))}", source="connectivity",
                          fix="pass the connectivity computed from this time series")
    for d in lead:
        if d in ts.coords and d in connectivity.coords and \
                not np.array_equal(np.asarray(ts[d].values), np.asarray(connectivity[d].values)):
            raise SchemaError(f"the connectivity's {d!r} coords differ from the series' (other ids or order)",
                              source="connectivity", fix=f"pass both with the same {d} ids in the same order")
    stats = _window_statistics(np.asarray(ts.values, dtype=float), starts, length, ids, name)
    missing = np.isnan(connectivity.transpose(*lead, *(["window"] if windowed else []), "neuroid_a",
                                              "neuroid_b").values).all(axis=(-1, -2))
    if not windowed:
        stats = stats[..., 0, :, :]
    stats[missing] = np.nan
    dims = [*lead, *(["window"] if windowed else []), "neuroid", "statistic"]
    coords = {k: c.variable for k, c in connectivity.coords.items()
              if set(c.dims) <= set(lead) | {"window"} and c.dims}
    coords.update(neuroid_id=("neuroid", ids), statistic=list(STATISTICS))
    attrs = {"window_volumes": int(length), "statistics": list(STATISTICS),
             **provenance({"window_volumes": int(length), "window_start_volume": starts.tolist()}, {name: timeseries})}
    return xr.DataArray(stats, dims=dims, coords=coords, name="timeseries_statistics", attrs=attrs)


def _window_statistics(values: np.ndarray, starts: np.ndarray, length: int, ids: np.ndarray,
                       name: str) -> np.ndarray:
    """``[..., W, N, 3]`` statistics from running sums over time (O(T) memory, no copy per window)."""
    valid = ~np.isnan(values).all(axis=-1)  # (..., T)
    z = np.where(valid[..., None], values, 0.0)
    n_run = valid.sum(-1)[..., None, None]
    mean = z.sum(-2, keepdims=True) / np.maximum(n_run, 1)
    std = np.sqrt((np.where(valid[..., None], z - mean, 0.0) ** 2).sum(-2, keepdims=True) / np.maximum(n_run, 1))
    if np.any(std == 0):
        where = np.argwhere(std[..., 0, :] == 0)[0]
        raise DataError(f"neuroid {ids[where[-1]]!r} is constant over a run", source=name,
                        fix="drop constant neuroids (e.g. empty regions) first")
    z = np.where(valid[..., None], (z - mean) / std, 0.0)
    v = valid[..., None].astype(float)
    pair = v[..., :-1, :] * v[..., 1:, :]  # (..., T-1, 1): both volumes of the pair are valid

    def window_sum(series: np.ndarray, span: int) -> np.ndarray:
        total = np.concatenate([np.zeros_like(series[..., :1, :]), np.cumsum(series, axis=-2)], axis=-2)
        return total[..., starts + span, :] - total[..., starts, :]  # (..., W, ·)

    n = window_sum(v, length)
    s1, s2 = window_sum(z, length), window_sum(z * z, length)
    lagged = z[..., :-1, :] * z[..., 1:, :]
    n_pairs = window_sum(pair, length - 1)
    p11, a, b = window_sum(lagged, length - 1), window_sum(pair * z[..., :-1, :], length - 1), \
        window_sum(pair * z[..., 1:, :], length - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = s1 / n
        ss = np.maximum(s2 - n * m * m, 0.0)
        w_std = np.sqrt(ss / n)
        numerator = p11 - m * (a + b) + m * m * n_pairs
        r1 = np.where(ss > 0, numerator / np.where(ss > 0, ss, 1.0), 0.0)
    return np.stack([w_std, r1, m], axis=-1)
