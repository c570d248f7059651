"""Connectivity baselines: a subject's static FC edges, or how much each edge varies over windows.

Both turn connectivity from
:func:`~neuroalign.loaders.functional_connectivity.connectivity` into a
``(subject, feature)`` array, one feature per upper-triangle edge (in
:func:`~neuroalign.loaders.functional_connectivity.vectorize_connectivity`'s
order), ready for a linear probe:

- :func:`static_fc_features`: the edges of each subject's static FC;
- :func:`window_variability_features`: the standard deviation over sliding
  windows of each edge, the simplest summary of dynamic FC.

Correlations are Fisher-z transformed (``arctanh``) by default.  Label coords
on ``subject`` (``group``, ``dwell_probability``, ``age`` …) are kept.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..data import provenance, validate
from ..errors import ConfigError, DataError, SchemaError
from ..loaders.connectivity_edges import CORRELATION_KINDS
from ..loaders.functional_connectivity import _fisher, vectorize_connectivity

__all__ = ["static_fc_features", "window_variability_features"]

_SQUARE = ("neuroid_a", "neuroid_b")


def static_fc_features(fc: xr.DataArray, *, fisher_z: bool = True) -> xr.DataArray:
    """The upper-triangle edges of each subject's static connectivity, as features.

    Parameters
    ----------
    fc : xarray.DataArray
        ``(subject, neuroid_a, neuroid_b)`` connectivity, e.g.
        ``connectivity(timeseries)`` of a ``(subject, time, neuroid)`` series.
    fisher_z : bool
        Take ``arctanh`` of the correlations.  Connectivity already
        Fisher-transformed (``attrs["fisher_z"]``) is used as it is.

    Returns
    -------
    xarray.DataArray
        ``(subject, feature)``: feature ``"a~b"`` is the edge between
        neuroids ``a`` and ``b`` (coords ``neuroid_id_a``, ``neuroid_id_b``,
        and ``region_a``/``region_b`` when the input has them); the subject
        coords of ``fc``; attrs ``fisher_z`` and provenance.

    Raises
    ------
    SchemaError
        Other dims than ``(subject, neuroid_a, neuroid_b)`` (e.g. windows).
    ConfigError
        ``fisher_z`` for connectivity that is not a correlation.
    DataError
        NaN values, or correlations of ±1 off the diagonal with ``fisher_z``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.graphs.fc_features import static_fc_features
    >>> r = np.array([[[1.0, 0.5, 0.0], [0.5, 1.0, -0.5], [0.0, -0.5, 1.0]]])
    >>> fc = xr.DataArray(r, dims=("subject", "neuroid_a", "neuroid_b"),
    ...                   coords={"subject": ["s1"], "neuroid_a": list("abc"), "neuroid_b": list("abc")})
    >>> features = static_fc_features(fc, fisher_z=False)
    >>> features.feature.values.tolist(), features.values.tolist()
    (['a~b', 'a~c', 'b~c'], [[0.5, 0.0, -0.5]])
    """
    _check(fc, ("subject", *_SQUARE), "fc", fix="select one window, or use window_variability_features for "
           "(subject, window, neuroid_a, neuroid_b) connectivity")
    edges = vectorize_connectivity(_maybe_fisher(fc, fisher_z, "fc"))
    features = _as_features(edges.transpose("subject", "edge").values, edges)
    features.attrs.update(fisher_z=bool(fisher_z or fc.attrs.get("fisher_z", False)), statistic="edge",
                          **provenance({"fisher_z": fisher_z}, {"fc": fc}))
    return features.rename("static_fc")


def window_variability_features(dynamic_fc: xr.DataArray, *, fisher_z: bool = True, ddof: int = 1) -> xr.DataArray:
    """The standard deviation over windows of each edge of each subject's dynamic connectivity.

    Parameters
    ----------
    dynamic_fc : xarray.DataArray
        ``(subject, window, neuroid_a, neuroid_b)`` sliding-window
        connectivity, e.g. ``connectivity(timeseries, window=50, step=3)``.
    fisher_z : bool
        Take ``arctanh`` of each window's correlations first.  Connectivity
        already Fisher-transformed (``attrs["fisher_z"]``) is used as it is.
    ddof : int
        Delta degrees of freedom of the standard deviation (1: the sample
        standard deviation, ``numpy.std(..., ddof=1)``).

    Returns
    -------
    xarray.DataArray
        ``(subject, feature)`` as :func:`static_fc_features`, attrs
        ``fisher_z``, ``ddof``, ``n_windows`` and provenance.

    Raises
    ------
    SchemaError
        Dims other than ``(subject, window, neuroid_a, neuroid_b)``.
    ConfigError
        ``ddof`` not below the number of windows; ``fisher_z`` for
        connectivity that is not a correlation.
    DataError
        A NaN window (named by subject and window), or correlations of ±1
        off the diagonal with ``fisher_z``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.graphs.fc_features import window_variability_features
    >>> r = np.array([[[[1.0, 0.2], [0.2, 1.0]], [[1.0, 0.6], [0.6, 1.0]]]])
    >>> fc = xr.DataArray(r, dims=("subject", "window", "neuroid_a", "neuroid_b"),
    ...                   coords={"subject": ["s1"], "neuroid_a": ["x", "y"], "neuroid_b": ["x", "y"]})
    >>> round(float(window_variability_features(fc, fisher_z=False)[0, 0]), 4)  # std of 0.2 and 0.6
    0.2828
    """
    _check(dynamic_fc, ("subject", "window", *_SQUARE), "dynamic_fc",
           fix="compute sliding-window connectivity with connectivity(timeseries, window=..., step=...)")
    if isinstance(ddof, bool) or not isinstance(ddof, (int, np.integer)) or not 0 <= ddof < dynamic_fc.sizes["window"]:
        raise ConfigError(f"ddof={ddof!r} needs more than {ddof} windows; there are {dynamic_fc.sizes['window']}",
                          source="ddof", fix="use ddof=0 or 1 and connectivity with at least ddof + 1 windows")
    edges = vectorize_connectivity(_maybe_fisher(dynamic_fc, fisher_z, "dynamic_fc"))
    values = edges.transpose("subject", "window", "edge").values
    features = _as_features(values.std(axis=1, ddof=ddof), edges)
    features.attrs.update(fisher_z=bool(fisher_z or dynamic_fc.attrs.get("fisher_z", False)),
                          statistic="standard deviation over windows", ddof=int(ddof),
                          n_windows=int(dynamic_fc.sizes["window"]),
                          **provenance({"fisher_z": fisher_z, "ddof": ddof}, {"dynamic_fc": dynamic_fc}))
    return features.rename("window_fc_variability")


def _check(fc: xr.DataArray, dims: tuple[str, ...], name: str, *, fix: str) -> None:
    validate(fc, dims=dims, name=name, allow_nan=True)
    if set(fc.dims) != set(dims):
        raise SchemaError(f"{name} has dims {tuple(fc.dims)}; expected {dims}", source=name, fix=fix)
    values = np.asarray(fc.transpose(*dims).values)
    bad = np.isnan(values).any(axis=(-2, -1))
    if bad.any():
        where = np.unravel_index(int(np.flatnonzero(bad)[0]), bad.shape)
        at = ", ".join(f"{d}={fc.indexes[d][i] if d in fc.indexes else i}" for d, i in zip(dims[:-2], where))
        raise DataError(f"{int(bad.sum())} matrices of {name} have NaN values, the first at {at}", source=name,
                        fix="drop those subjects or windows (e.g. windows with too few volumes) first")


def _maybe_fisher(fc: xr.DataArray, fisher_z: bool, name: str) -> xr.DataArray:
    if not fisher_z or fc.attrs.get("fisher_z", False):
        return fc
    kind = fc.attrs.get("kind", "correlation")
    if kind not in CORRELATION_KINDS:
        raise ConfigError(f"fisher_z=True is only defined for correlations, not kind={kind!r}", source="fisher_z",
                          fix="pass fisher_z=False for this kind of connectivity")
    return fc.copy(data=_fisher(np.asarray(fc.values, dtype=float), name))


def _as_features(values: np.ndarray, edges: xr.DataArray) -> xr.DataArray:
    """``(subject, feature)`` from ``(subject, edge)`` values, keeping the subject and edge coords."""
    a, b = edges["neuroid_id_a"].values, edges["neuroid_id_b"].values
    coords = {k: c.variable for k, c in edges.coords.items() if set(c.dims) <= {"subject"}}
    coords.update({k: ("feature", edges[k].values) for k in ("neuroid_id_a", "neuroid_id_b", "region_a", "region_b")
                   if k in edges.coords})
    coords["feature"] = np.array([f"{x}~{y}" for x, y in zip(a, b)], dtype=object)
    return xr.DataArray(values, dims=("subject", "feature"), coords=coords)
