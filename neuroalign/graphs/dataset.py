"""ConnectivityGraphs: many subjects' static or sliding-window connectivity as graphs.

A ``torch.utils.data.Dataset`` of subjects built on the output of
:func:`~neuroalign.loaders.functional_connectivity.connectivity`: the raw
labelled array is kept (``raw``, saved as netCDF), the processed tensors are
``fc`` ``[S, W, N, N]`` float32 and ``extra`` ``[S, W, N, K]`` (time-series
statistics), and a :class:`~neuroalign.graphs.spec.GraphSpec` turns them into
dense graphs (:meth:`ConnectivityGraphs.dense`) or PyG ``Data``/``Batch``
(:meth:`ConnectivityGraphs.to_pyg`, :meth:`ConnectivityGraphs.to_batch`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

import numpy as np
import torch
import xarray as xr

from ..data.provenance import content_digest
from ..errors import ConfigError, DataError, SchemaError, UnknownNameError
from ..loaders.functional_connectivity import connectivity
from .node_features import timeseries_statistics
from .pyg_conversion import dense_to_data_list, pyg_to_dense
from .spec import GraphSpec

__all__ = ["ConnectivityGraphs"]

_MATRIX_DIMS = ("neuroid_a", "neuroid_b")


class ConnectivityGraphs(torch.utils.data.Dataset):
    """Subjects' connectivity graphs: raw labelled arrays, processed tensors, a :class:`GraphSpec`.

    Build it with :meth:`from_connectivity` or :meth:`from_timeseries`;
    ``dataset[i]`` is ``(fc[i], extra[i] or None)``.

    Attributes
    ----------
    fc : torch.Tensor
        ``[S, W, N, N]`` float32, exactly symmetric (``W = 1`` for static connectivity).
    extra : torch.Tensor or None
        ``[S, W, N, K]`` float32 time-series statistics (``statistic`` coords in ``extra_names``).
    spec : GraphSpec
    raw : xarray.DataArray
        The connectivity ``(subject, [window,] neuroid_a, neuroid_b)`` with the
        labels as ``subject`` coords; ``raw_extra`` the statistics (or None).
    subjects, rois : numpy.ndarray
        Subject ids and ROI ids.
    labels : dict of str to numpy.ndarray
        Every coord on ``subject`` alone (``group``, ``age`` …), in subject order.
    window_coords : dict of str to numpy.ndarray
        Coords on ``window`` (``window_start``, ``window_start_volume`` …); empty when static.
    dynamic : bool
        Whether the graphs are windows of a sliding-window connectivity.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.graphs.dataset import ConnectivityGraphs
    >>> rng = np.random.default_rng(0)
    >>> ts = xr.DataArray(rng.normal(size=(4, 60, 5)), dims=("subject", "time", "neuroid"),
    ...                   coords={"subject": ["a", "b", "c", "d"], "group": ("subject", [0, 1, 0, 1]),
    ...                           "time": np.arange(60) * 2.0, "neuroid_id": ("neuroid", list("vwxyz"))},
    ...                   attrs={"repetition_time": 2.0})
    >>> ds = ConnectivityGraphs.from_timeseries(ts, window=20, step=10)
    >>> len(ds), ds.n_windows, ds.n_rois, ds.n_features, ds.label("group").tolist()
    (4, 5, 5, 5, [0, 1, 0, 1])
    >>> x, adj = ds.dense([0, 1])
    >>> tuple(x.shape), tuple(adj.shape)
    ((2, 5, 5, 5), (2, 5, 5, 5))
    """

    def __init__(self, raw: xr.DataArray, fc: torch.Tensor, *, spec: GraphSpec | None = None,
                 raw_extra: xr.DataArray | None = None, extra: torch.Tensor | None = None):
        self.raw, self.raw_extra = raw, raw_extra
        self.fc, self.extra = fc, extra
        self.spec = GraphSpec() if spec is None else spec
        self.dynamic = "window" in raw.dims
        self.subjects = np.asarray(raw["subject"].values)
        self.rois = np.asarray(raw["neuroid_a"].values)
        self.labels = {name: np.asarray(c.values) for name, c in raw.coords.items()
                       if c.dims == ("subject",) and name != "subject"}
        self.window_coords = {name: np.asarray(c.values) for name, c in raw.coords.items()
                              if c.dims == ("window",) and name != "window"}
        self.extra_names = None if raw_extra is None else [str(v) for v in raw_extra["statistic"].values]
        if self.spec.needs_extra and extra is None:
            raise ConfigError("the spec uses 'timeseries_stats' but the dataset has no time-series statistics",
                              source="spec", fix="pass timeseries= to from_connectivity (or use from_timeseries), "
                              "or drop 'timeseries_stats' from the spec's features")

    # ---- construction ------------------------------------------------------------------------------------
    @classmethod
    def from_connectivity(cls, fc: xr.DataArray, *, spec: GraphSpec | None = None,
                          timeseries: xr.DataArray | None = None, labels: Mapping[str, Any] | None = None,
                          dynamic: bool | None = None) -> "ConnectivityGraphs":
        """Graphs from connectivity ``(subject, [window,] neuroid_a, neuroid_b)``.

        Parameters
        ----------
        fc : xarray.DataArray
            The output of :func:`~neuroalign.loaders.functional_connectivity.connectivity`
            on series with a ``subject`` dim; coords on ``subject`` are labels.
        spec : GraphSpec, optional
            How graphs are built (default ``GraphSpec()``).
        timeseries : xarray.DataArray, optional
            The series ``fc`` was computed from: adds per-window statistics as
            ``extra`` (:func:`~neuroalign.graphs.node_features.timeseries_statistics`).
        labels : mapping, optional
            More labels: name → values in subject order, or a ``pandas.Series``
            indexed by subject id (every subject must be present).
        dynamic : bool, optional
            True: sliding-window graphs are required (``fc`` must have a
            ``window`` dim); False: static graphs required (no ``window``);
            None (default): whatever ``fc`` holds (static gives ``W = 1``).

        Raises
        ------
        SchemaError
            No ``subject`` dim, no ``window`` dim where ``dynamic=True`` (or
            one where ``dynamic=False``), other dims, differing neuroid_a/b.
        DataError
            NaN windows (naming the subject and window), non-symmetric
            matrices, labels missing for some subjects.
        """
        raw = _check_connectivity(fc, dynamic)
        raw = _attach_labels(raw, labels)
        raw_extra = None
        if timeseries is not None:
            raw_extra = timeseries_statistics(timeseries, fc)
            raw_extra = raw_extra.transpose("subject", *(["window"] if "window" in raw.dims else []), "neuroid",
                                            "statistic")
        tensors = process(raw, raw_extra)
        return cls(raw, tensors["fc"], spec=spec, raw_extra=raw_extra, extra=tensors.get("extra"))

    @classmethod
    def from_timeseries(cls, timeseries: xr.DataArray, *, window: int | str | None = None,
                        step: int | str | None = None, spec: GraphSpec | None = None, kind: str = "correlation",
                        labels: Mapping[str, Any] | None = None, statistics: bool = True,
                        **connectivity_kwargs: Any) -> "ConnectivityGraphs":
        """Graphs from ROI time series ``(subject, time, neuroid)`` through :func:`connectivity`.

        ``window``/``step`` (volumes or e.g. ``"60s"``) give sliding windows;
        ``window=None`` gives one static graph per subject.  With
        ``statistics`` (default) the per-window time-series statistics are
        computed as ``extra``.  Other keyword arguments go to
        :func:`~neuroalign.loaders.functional_connectivity.connectivity`.
        """
        fc = connectivity(timeseries, kind, window=window, step=step, **connectivity_kwargs)
        return cls.from_connectivity(fc, spec=spec, timeseries=timeseries if statistics else None, labels=labels,
                                     dynamic=window is not None)

    # ---- sizes and access --------------------------------------------------------------------------------
    n_subjects = property(lambda self: int(self.fc.shape[0]), doc="Number of subjects.")
    n_windows = property(lambda self: int(self.fc.shape[1]), doc="Windows per subject (1 when static).")
    n_rois = property(lambda self: int(self.fc.shape[2]), doc="Number of ROIs (nodes).")
    n_extra = property(lambda self: 0 if self.extra is None else int(self.extra.shape[-1]),
                       doc="Extra node features per ROI (time-series statistics).")

    @property
    def n_features(self) -> int:
        """Node features per ROI under :attr:`spec`."""
        return self.spec.n_features(self.n_rois, self.n_extra)

    def __len__(self) -> int:
        return self.n_subjects

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.fc[i], None if self.extra is None else self.extra[i]

    def __repr__(self) -> str:
        return (f"ConnectivityGraphs({self.n_subjects} subjects, {self.n_windows} windows, {self.n_rois} ROIs, "
                f"{self.n_extra} extra, spec={self.spec})")

    @cached_property
    def content_hash(self) -> str:
        """xxh3-128 of the tensors, subject and ROI ids, labels and spec: a key for checkpoints and caches."""
        digest = content_digest()
        for tensor in (self.fc, self.extra):
            if tensor is not None:
                digest.update(str(tuple(tensor.shape)).encode())
                digest.update(tensor.contiguous().numpy().tobytes())
        meta = {"subjects": self.subjects.tolist(), "rois": self.rois.tolist(), "spec": self.spec.to_dict(),
                "labels": {k: [str(v) for v in vals] for k, vals in sorted(self.labels.items())}}
        digest.update(json.dumps(meta, sort_keys=True, default=str).encode())
        return digest.hexdigest()

    def with_spec(self, spec: GraphSpec) -> "ConnectivityGraphs":
        """The same data under another spec (tensors shared, not copied)."""
        return type(self)(self.raw, self.fc, spec=spec, raw_extra=self.raw_extra, extra=self.extra)

    def subset(self, indices: Sequence[int] | np.ndarray | slice) -> "ConnectivityGraphs":
        """The subjects at ``indices`` (positions, in the given order), as a new dataset."""
        index = _positions(indices, self.n_subjects)
        raw_extra = None if self.raw_extra is None else self.raw_extra.isel(subject=index)
        extra = None if self.extra is None else self.extra[torch.as_tensor(index)]
        return type(self)(self.raw.isel(subject=index), self.fc[torch.as_tensor(index)], spec=self.spec,
                          raw_extra=raw_extra, extra=extra)

    def label(self, name: str) -> np.ndarray:
        """The label ``name`` over subjects; an error when it is missing for some subjects.

        Raises
        ------
        UnknownNameError
            No such label.
        DataError
            NaN or None for some subjects (examples of their ids in the message).
        """
        if name not in self.labels:
            raise UnknownNameError(name, self.labels, what="label", source="name")
        values = self.labels[name]
        missing = _missing(values)
        if missing.any():
            ids = self.subjects[missing]
            raise DataError(f"label {name!r} is missing for {int(missing.sum())} of {len(values)} subjects, e.g. "
                            f"{', '.join(map(str, ids[:5]))}", source=name,
                            fix="drop those subjects with dataset.subset(...) or fill the label")
        return values

    # ---- graphs ------------------------------------------------------------------------------------------
    def dense(self, indices: Sequence[int] | np.ndarray | slice | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x [S, W, N, F], adj [S, W, N, N])`` of the subjects at ``indices`` (all by default), by :attr:`spec`."""
        index = torch.as_tensor(_positions(slice(None) if indices is None else indices, self.n_subjects))
        extra = None if self.extra is None else self.extra[index]
        return self.spec.build(self.fc[index], extra)

    def to_pyg(self, i: int, *, fc: bool = True) -> list:
        """One ``torch_geometric.data.Data`` per window of subject ``i`` (see :mod:`.pyg_conversion`).

        Each carries ``x``, ``edge_index``, ``edge_attr`` (weights), ``subject``,
        ``subject_position``, ``window``, and with ``fc`` (default) the window's
        dense ``fc`` and ``extra`` for :mod:`~neuroalign.graphs.transforms`.
        """
        return self._graphs(_positions([i], self.n_subjects), fc)

    def to_batch(self, indices: Sequence[int] | np.ndarray | slice | None = None, *, fc: bool = True):
        """A ``torch_geometric.data.Batch`` of every window of the subjects at ``indices`` (all by default)."""
        from torch_geometric.data import Batch

        index = _positions(slice(None) if indices is None else indices, self.n_subjects)
        return Batch.from_data_list(self._graphs(index, fc))

    def _graphs(self, index: np.ndarray, fc: bool) -> list:
        t = torch.as_tensor(index)
        x, adj = self.spec.build(self.fc[t], None if self.extra is None else self.extra[t])
        return dense_to_data_list(x, adj, subjects=self.subjects[index].tolist(), positions=index.tolist(),
                                  fc=self.fc[t] if fc else None,
                                  extra=self.extra[t] if fc and self.extra is not None else None)

    from_pyg = staticmethod(pyg_to_dense)

    # ---- files -------------------------------------------------------------------------------------------
    def save(self, folder: Any) -> Any:
        """Write ``raw/`` (netCDF) and ``processed/`` (tensors + JSON metadata); see :mod:`.dataset_files`."""
        from .dataset_files import save_dataset

        return save_dataset(self, folder)

    @classmethod
    def load(cls, folder: Any, *, spec: GraphSpec | None = None) -> "ConnectivityGraphs":
        """Read what :meth:`save` wrote; ``spec`` replaces the saved one (processed again when it differs)."""
        from .dataset_files import load_dataset

        return load_dataset(cls, folder, spec=spec)


def process(raw: xr.DataArray, raw_extra: xr.DataArray | None) -> dict[str, torch.Tensor]:
    """The processed tensors of checked raw arrays: float32 ``fc`` ``[S, W, N, N]`` (and ``extra``)."""
    values = np.asarray(raw.values, dtype=np.float64)
    if "window" not in raw.dims:
        values = values[:, None]
    bad = ~np.isfinite(values).all(axis=(-1, -2))
    if bad.any():
        s, w = np.argwhere(bad)[0]
        at = f"window {int(w)}" if "window" in raw.dims else "its static matrix"
        if "window_start" in raw.coords:
            at += f" (starting at {float(raw['window_start'].values[w]):g} s)"
        raise DataError(f"{int(bad.sum())} connectivity matrices have NaN or inf, the first of subject "
                        f"{raw['subject'].values[s].item()!r} at {at}", source="fc",
                        fix="drop those subjects or windows (a window with too few valid volumes is NaN), or "
                        "use longer windows / a smaller min_volumes")
    gap = np.abs(values - np.swapaxes(values, -1, -2))
    scale = np.maximum(np.abs(values), 1.0)
    if np.any(gap > 1e-6 * scale):
        raise DataError(f"the connectivity is not symmetric (largest |fc - fc.T| = {float(gap.max()):.3g})",
                        source="fc", fix="symmetrise it, e.g. (fc + fc.transpose(...)) / 2")
    values = (values + np.swapaxes(values, -1, -2)) / 2  # exactly symmetric (a + b == b + a)
    out = {"fc": torch.from_numpy(values.astype(np.float32))}
    if raw_extra is not None:
        extra = np.asarray(raw_extra.values, dtype=np.float32)
        out["extra"] = torch.from_numpy(extra if "window" in raw_extra.dims else extra[:, None])
    return out


def _check_connectivity(fc: Any, dynamic: bool | None) -> xr.DataArray:
    if not isinstance(fc, xr.DataArray):
        raise SchemaError(f"expected an xarray.DataArray, got {type(fc).__name__}", source="fc",
                          fix="pass the output of neuroalign.loaders.functional_connectivity.connectivity")
    missing = [d for d in _MATRIX_DIMS if d not in fc.dims]
    if missing:
        raise SchemaError(f"the connectivity has no {missing} dim(s) (dims {fc.dims})", source="fc",
                          fix="pass square connectivity with dims (subject, [window,] neuroid_a, neuroid_b)")
    if "subject" not in fc.dims:
        raise SchemaError(f"the connectivity has no 'subject' dim (dims {fc.dims})", source="fc",
                          fix="stack subjects' series first (neuroalign.loaders.timeseries_files.stack_timeseries) "
                          "or add one with fc.expand_dims(subject=['sub-01'])")
    if dynamic and "window" not in fc.dims:
        raise SchemaError("dynamic graphs need sliding-window connectivity, but it has no 'window' dim",
                          source="fc", fix="compute it with connectivity(..., window=..., step=...), or pass "
                          "dynamic=False for one static graph per subject")
    if dynamic is False and "window" in fc.dims:
        raise SchemaError("static graphs were asked for, but the connectivity has a 'window' dim", source="fc",
                          fix="compute it with window=None, or pass dynamic=True (or None)")
    other = [d for d in fc.dims if d not in ("subject", "window", *_MATRIX_DIMS)]
    if other:
        raise SchemaError(f"the connectivity has dims {other} besides subject, window and neuroid_a/b",
                          source="fc", fix="select one value of them (fc.isel(run=0)) or stack them into 'subject'")
    a, b = (np.asarray(fc[d].values) if d in fc.coords else None for d in _MATRIX_DIMS)
    if a is None or b is None or a.shape != b.shape or np.any(a != b):
        raise SchemaError("neuroid_a and neuroid_b do not carry the same ROI ids", source="fc",
                          fix="pass square connectivity over one set of ROIs, as connectivity() returns")
    if "subject" not in fc.coords:
        fc = fc.assign_coords(subject=np.arange(fc.sizes["subject"]))
    ids = fc["subject"].values
    if len(set(ids.tolist())) != len(ids):
        raise SchemaError("subject ids are not unique", source="fc", fix="give every subject its own id")
    return fc.transpose("subject", *(["window"] if "window" in fc.dims else []), *_MATRIX_DIMS)


def _attach_labels(raw: xr.DataArray, labels: Mapping[str, Any] | None) -> xr.DataArray:
    if not labels:
        return raw
    ids = raw["subject"].values
    coords = {}
    for name, values in labels.items():
        if hasattr(values, "reindex") and hasattr(values, "index"):  # pandas Series by subject id
            absent = [s for s in ids if s not in values.index]
            if absent:
                raise DataError(f"label {name!r} is missing for {len(absent)} subjects, e.g. "
                                f"{', '.join(map(str, absent[:5]))}", source="labels",
                                fix="give a value for every subject (or drop those subjects first)")
            values = values.reindex(ids).to_numpy()
        values = np.asarray(values)
        if values.shape != (len(ids),):
            raise DataError(f"label {name!r} has shape {values.shape}, not one value per subject ({len(ids)})",
                            source="labels", fix="pass one value per subject, in subject order, or a "
                            "pandas.Series indexed by subject id")
        coords[name] = ("subject", values)
    return raw.assign_coords(coords)


def _missing(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind == "O":
        return np.array([v is None or (isinstance(v, float) and np.isnan(v)) for v in values], dtype=bool)
    return np.zeros(values.shape, dtype=bool)


def _positions(indices: Any, n: int) -> np.ndarray:
    if isinstance(indices, slice):
        return np.arange(n)[indices]
    index = np.asarray(indices)
    if index.dtype == bool:
        if index.shape != (n,):
            raise ConfigError(f"a boolean subject mask needs {n} entries, got {index.shape}", source="indices",
                              fix="pass one bool per subject or integer positions")
        return np.flatnonzero(index)
    if index.ndim != 1 or (index.size and index.dtype.kind not in "iu"):
        raise ConfigError(f"indices must be 1-D integer positions, got {index.dtype} {index.shape}",
                          source="indices", fix="pass subject positions such as [0, 2, 5]")
    if index.size and (index.min() < -n or index.max() >= n):
        raise ConfigError(f"subject positions out of range for {n} subjects", source="indices",
                          fix=f"use positions between 0 and {n - 1}")
    return index.astype(np.int64) % max(n, 1)
