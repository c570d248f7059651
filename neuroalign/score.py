"""The result type of every metric: a value with its ceiling, error and raw values."""

from __future__ import annotations

import os
from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .data.io import load, load_group, save
from .data.schema import label_index
from .errors import FileFormatError, ScoreError

__all__ = ["Score", "COLUMNS", "BOUND"]

#: The columns of every score table, in order: :meth:`Score.to_dataframe`,
#: the repr, the demo's ``scores.csv`` and the command line's table.  The
#: score's dims (e.g. ``layer``) come right after ``metric``; a column is
#: left out when the score has no such field.
COLUMNS = ("metric", "score", "ceiling_lower", "ceiling", "ceiled", "error", "ci_low", "ci_high")

#: The dim of a ceiling given as bounds, labelled ``"lower"`` and ``"upper"``
#: (as returned by :func:`neuroalign.compare.noise_ceiling`).
BOUND = "bound"

_FIELDS = ("score", "ceiling_lower", "ceiling", "error", "ci_low", "ci_high")  # what Score.data may hold
_SCORE_ATTR = "neuroalign_score"  # the attribute of a saved score's metric, params and ci_level


class Score:
    """A score, with the ceiling, error and raw values that make it meaningful.

    Parameters
    ----------
    value : float or xarray.DataArray
        The point estimate.  A DataArray may carry any dims, e.g. ``layer`` for
        a sweep over a network's layers.
    ceiling : float, xarray.DataArray or (lower, upper), optional
        The noise ceiling on the same dims (the best score a perfect model of
        the data could reach).  Must be positive.  Two bounds, as a
        ``(lower, upper)`` pair or a DataArray with a ``bound`` dim labelled
        ``"lower"``/``"upper"``, are kept as ``ceiling_lower`` and
        ``ceiling`` (the upper bound, which :attr:`ceiled` divides by).
    error : float or xarray.DataArray, optional
        Standard error (e.g. the standard deviation of bootstrap resamples).
    ci : (low, high), optional
        Confidence interval bounds, floats or DataArrays.
    raw : xarray.DataArray or xarray.Dataset, optional
        The values the estimate was made from: one per split, neuroid,
        subject or resample (dims such as ``resample`` or ``neuroid``); a
        Dataset when there are several kinds (e.g. resamples and per-split
        ceilings).
    metric : str
        Name of the metric, e.g. ``"rsa-spearman"``.
    params : mapping, optional
        The parameters that produced the score.
    ci_level : float
        Coverage of ``ci`` (0.95 by default).

    Raises
    ------
    ScoreError
        The value contains NaN, a ceiling is not positive, or a lower
        ceiling bound is NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign import Score
    >>> s = Score.from_resamples(0.5, np.array([0.4, 0.5, 0.6, 0.55, 0.45]), metric="demo", ceiling=0.8)
    >>> round(float(s.ceiled), 3)
    0.625
    >>> list(s.to_dataframe().columns)
    ['metric', 'score', 'ceiling', 'ceiled', 'error', 'ci_low', 'ci_high']
    >>> Score(0.3, ceiling=(0.4, 0.6), metric="rsa")
    Score(metric='rsa', score=0.3, ceiling_lower=0.4, ceiling=0.6, ceiled=0.5)
    """

    def __init__(
        self,
        value: Any,
        *,
        ceiling: Any = None,
        error: Any = None,
        ci: tuple[Any, Any] | None = None,
        raw: xr.DataArray | xr.Dataset | None = None,
        metric: str = "",
        params: Mapping[str, Any] | None = None,
        ci_level: float = 0.95,
    ):
        score = _as_array(value)
        if np.isnan(score.values).any():
            raise ScoreError(
                f"metric {metric or 'score'} produced NaN",
                source=metric or "score",
                fix="check the inputs for constant or too few rows; neuroalign never returns NaN scores",
            )
        fields = {"score": score}
        if ceiling is not None:
            lower, ceil = _ceiling_bounds(ceiling, metric)
            if lower is not None:
                fields["ceiling_lower"] = lower
            if (~(ceil.values > 0)).any():
                raise ScoreError(
                    f"the noise ceiling of {metric or 'the score'} is not positive "
                    f"(min {np.nanmin(ceil.values):.3g}); the data are too noisy to ceil",
                    source=metric or "ceiling",
                    fix="collect more repetitions, or report the raw score without ceiling",
                )
            fields["ceiling"] = ceil
        if error is not None:
            fields["error"] = _as_array(error)
        if ci is not None:
            fields["ci_low"], fields["ci_high"] = _as_array(ci[0]), _as_array(ci[1])
        self.data = xr.Dataset(fields)
        self.raw = raw
        self.metric = metric
        self.params = dict(params or {})
        self.ci_level = ci_level

    # ------------------------------------------------------------------ build
    @classmethod
    def from_resamples(
        cls,
        value: Any,
        resamples: Any,
        *,
        dim: str = "resample",
        ci_level: float = 0.95,
        **kwargs: Any,
    ) -> "Score":
        """A score whose error and percentile CI come from resampled values.

        Parameters
        ----------
        value : float or DataArray
            Point estimate on the full data.
        resamples : array_like or DataArray
            Values on resamples, along ``dim`` (the first axis for plain arrays).
            NaN resamples (e.g. a degenerate bootstrap draw) are ignored; at
            least two finite resamples are needed.
        dim : str
            Name of the resample dimension.
        ci_level : float
            Coverage of the percentile interval.
        """
        resamples = _as_array(resamples, first_dim=dim)
        finite = resamples.notnull().sum(dim)
        if int(finite.min()) < 2:
            raise ScoreError("fewer than two finite resamples", source=dim,
                             fix="increase the number of resamples")
        tail = (1 - ci_level) / 2
        low = resamples.quantile(tail, dim=dim, skipna=True).drop_vars("quantile")
        high = resamples.quantile(1 - tail, dim=dim, skipna=True).drop_vars("quantile")
        error = resamples.std(dim, ddof=1, skipna=True)
        return cls(value, error=error, ci=(low, high), raw=resamples, ci_level=ci_level, **kwargs)

    @classmethod
    def concat(cls, scores: Sequence["Score"], dim: str, labels: Iterable[Hashable]) -> "Score":
        """Stack scores along a new dimension, e.g. ``dim="layer"`` for a sweep.

        Examples
        --------
        >>> from neuroalign import Score
        >>> s = Score.concat([Score(0.1), Score(0.3)], "layer", ["conv1", "conv2"])
        >>> s.values.sel(layer="conv2").item()
        0.3
        """
        scores = list(scores)
        labels = list(labels)
        if not scores or len(scores) != len(labels):
            raise ScoreError(f"got {len(scores)} scores and {len(labels)} labels", source="labels",
                             fix="pass one label per score")
        fields = [sorted(s.data.data_vars) for s in scores]
        if any(f != fields[0] for f in fields):
            odd = next(i for i, f in enumerate(fields) if f != fields[0])
            raise ScoreError(f"score {labels[odd]!r} has the fields {fields[odd]}, score {labels[0]!r} has "
                             f"{fields[0]}", source="scores",
                             fix="stack scores computed the same way (all with a ceiling, or none)")
        index = label_index(labels, dim)
        data = xr.concat([s.data for s in scores], dim=index)
        raws = [s.raw for s in scores]
        raw = xr.concat(raws, dim=index) if all(r is not None for r in raws) else None
        return scores[0]._replace(data, raw)

    def _replace(self, data: xr.Dataset, raw: xr.DataArray | xr.Dataset | None) -> "Score":
        """A score with new data and raw values, and this one's metric, params and CI level."""
        out = self.__class__.__new__(self.__class__)
        out.data, out.raw = data, raw
        out.metric, out.params, out.ci_level = self.metric, dict(self.params), self.ci_level
        return out

    # ---------------------------------------------------------------- access
    @property
    def values(self) -> xr.DataArray:
        """The point estimate as a DataArray."""
        return self.data["score"]

    @property
    def ceiling(self) -> xr.DataArray | None:
        """The noise ceiling (its upper bound when there are two), or None."""
        return self.data["ceiling"] if "ceiling" in self.data else None

    @property
    def ceiling_bounds(self) -> tuple[xr.DataArray, xr.DataArray] | None:
        """``(lower, upper)`` when the ceiling was given as two bounds, else None."""
        if "ceiling_lower" not in self.data:
            return None
        return self.data["ceiling_lower"], self.data["ceiling"]

    @property
    def error(self) -> xr.DataArray | None:
        return self.data["error"] if "error" in self.data else None

    @property
    def ci(self) -> tuple[xr.DataArray, xr.DataArray] | None:
        if "ci_low" not in self.data:
            return None
        return self.data["ci_low"], self.data["ci_high"]

    @property
    def ceiled(self) -> xr.DataArray:
        """The score divided by its ceiling (the upper bound when there are two)."""
        if self.ceiling is None:
            raise ScoreError("this score has no ceiling", source=self.metric or "score",
                             fix="compute one (e.g. neuroalign.compare.split_half_ceiling) and pass ceiling=")
        return self.values / self.ceiling

    @property
    def dims(self) -> tuple[Hashable, ...]:
        return tuple(self.values.dims)

    def __float__(self) -> float:
        if self.values.size != 1:
            raise ScoreError(f"the score has dims {self.dims}; float() needs a single value",
                             source=self.metric or "score", fix="select one with score.sel(...)")
        return float(self.values)

    # ------------------------------------------------------------- transform
    def sel(self, **indexers: Any) -> "Score":
        """Select by label along the score's dims, like :meth:`xarray.Dataset.sel`.

        The raw values are selected along the same dims where they have them.
        """
        return self._subset("sel", indexers)

    def isel(self, **indexers: Any) -> "Score":
        """Select by position along the score's dims, like :meth:`xarray.Dataset.isel`.

        Examples
        --------
        >>> from neuroalign import Score
        >>> s = Score.concat([Score(0.1), Score(0.3)], "layer", ["conv1", "conv2"])
        >>> float(s.isel(layer=-1))
        0.3
        """
        return self._subset("isel", indexers)

    def _subset(self, method: str, indexers: Mapping[str, Any]) -> "Score":
        unknown = [str(k) for k in indexers if k not in self.data.dims]
        if unknown:
            raise ScoreError(f"{', '.join(map(repr, unknown))} is not a dim of the score (dims: {self.dims})",
                             source=self.metric or "score", fix=f"select along one of {list(map(str, self.dims))}")
        try:
            data = getattr(self.data, method)(**indexers)
            raw = None
            if self.raw is not None:
                raw = getattr(self.raw, method)(**{k: v for k, v in indexers.items() if k in self.raw.dims})
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise ScoreError(f"cannot select {dict(indexers)} ({type(exc).__name__}: {exc})",
                             source=self.metric or "score",
                             fix="use labels (sel) or positions (isel) that exist on each dim") from exc
        return self._replace(data, raw)

    def rename(self, names: Mapping[Hashable, Hashable] | None = None, **more: Hashable) -> "Score":
        """Rename dims and coordinates, in the values, ceiling, error, CI and raw values.

        Parameters
        ----------
        names : mapping, optional
            Old name → new name; keyword arguments add to it.

        Examples
        --------
        >>> from neuroalign import Score
        >>> s = Score.concat([Score(0.1), Score(0.3)], "layer", ["conv1", "conv2"])
        >>> s.rename(layer="model").dims
        ('model',)
        """
        names = {**dict(names or {}), **more}
        known = set(self.data.dims) | set(self.data.coords)
        unknown = [str(k) for k in names if k not in known]
        if unknown:
            raise ScoreError(f"{', '.join(map(repr, unknown))} is not a dim or coordinate of the score "
                             f"(it has {sorted(map(str, known))})", source=self.metric or "score",
                             fix="rename one of the names listed")
        taken = [str(v) for v in names.values() if v in _FIELDS]
        if taken:
            raise ScoreError(f"{', '.join(map(repr, taken))} names a field of the score", source="names",
                             fix="choose another name")
        try:
            data = self.data.rename(names)
            raw = None
            if self.raw is not None:
                raw_names = set(self.raw.dims) | set(self.raw.coords)
                raw = self.raw.rename({k: v for k, v in names.items() if k in raw_names})
        except ValueError as exc:
            raise ScoreError(f"cannot rename {names} ({exc})", source=self.metric or "score",
                             fix="choose names that are not already used") from exc
        return self._replace(data, raw)

    # ----------------------------------------------------------------- tables
    @staticmethod
    def columns(dims: Iterable[Hashable] = (), present: Iterable[Hashable] | None = None) -> list[str]:
        """The columns of a score table, in the order of :data:`COLUMNS`, with ``dims`` after ``metric``.

        Parameters
        ----------
        dims : iterable of str
            The label columns (the score's dims, e.g. ``["layer"]``).
        present : iterable of str, optional
            Keep only these value columns (default: all of :data:`COLUMNS`).

        Examples
        --------
        >>> from neuroalign import Score
        >>> Score.columns(["layer"], present=["ci_low", "score", "ci_high", "metric"])
        ['metric', 'layer', 'score', 'ci_low', 'ci_high']
        """
        keep = COLUMNS if present is None else {str(c) for c in present}
        values = [c for c in COLUMNS if c in keep]
        head = ["metric"] if "metric" in values else []
        return [*head, *map(str, dims), *(c for c in values if c != "metric")]

    def to_dataframe(self) -> pd.DataFrame:
        """One row per element, in the order of :meth:`columns`: metric, dims, score, ceiling(s), ceiled, error, CI."""
        data = self.data
        if "ceiling" in data:
            data = data.assign(ceiled=data["score"] / data["ceiling"])
        fields = [f for f in COLUMNS if f in data]
        data = data[fields]
        if data["score"].ndim == 0:
            frame = pd.DataFrame({name: [data[name].item()] for name in fields})
        else:
            frame = data.to_dataframe().reset_index()
        frame.insert(0, "metric", self.metric)
        dims = list(map(str, data["score"].dims))
        return frame[self.columns(dims, present=frame.columns)]

    def __repr__(self) -> str:
        head = f"Score(metric={self.metric!r}"
        frame = self.to_dataframe().drop(columns="metric")
        if self.values.ndim == 0:
            text = "".join(f", {name}={value:.4g}" for name, value in frame.iloc[0].items())
            if self.ci is not None and self.ci_level != 0.95:
                text += f", ci_level={self.ci_level:g}"
            return f"{head}{text})"
        table = frame.to_string(index=False, float_format="{:.4g}".format)
        return f"{head}, dims={self.dims})\n{table}"

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> Path:
        """Write the score to a netCDF file (``.nc``; ``.zarr`` works too), atomically.

        Everything is kept: values, ceiling (one value or both bounds),
        error, CI, raw values (a DataArray or a Dataset, with their
        attributes such as provenance), metric, params and CI level.
        ``params`` are stored as JSON: numbers, text, booleans, None, lists
        and dicts come back equal (a tuple comes back as a list).

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from neuroalign import Score
        >>> s = Score.from_resamples(0.5, np.array([0.4, 0.5, 0.6]), metric="demo", params={"seed": 0})
        >>> path = s.save(os.path.join(tempfile.mkdtemp(), "score.nc"))
        >>> Score.load(path).params
        {'seed': 0}
        """
        data, raw = self.to_dataset()
        return save(data, path, groups=None if raw is None else {"raw": raw})

    def to_dataset(self) -> tuple[xr.Dataset, xr.DataArray | xr.Dataset | None]:
        """What :meth:`save` writes: the fields with metric, params and CI level as an attribute, and the raw values.

        :meth:`from_dataset` turns the pair back into the score (e.g. to keep
        several scores in the groups of one file).
        """
        data = self.data.copy()
        data.attrs[_SCORE_ATTR] = {"metric": self.metric, "params": self.params, "ci_level": self.ci_level,
                                   "raw": self.raw is not None}
        return data, self.raw

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Score":
        """Read a score written by :meth:`save`.

        Raises
        ------
        FileFormatError
            The file is unreadable or does not hold a score.
        ScoreError
            The stored values break a rule of :class:`Score` (a NaN score, a
            non-positive ceiling).
        """
        data = load(path)
        return cls.from_dataset(data, lambda: load_group(path, "raw"), source=str(path))

    @classmethod
    def from_dataset(cls, data: Any, raw: Any = None, *, source: str = "score") -> "Score":
        """The score of a Dataset made by :meth:`to_dataset` (e.g. read back from a file).

        ``raw`` is the raw values, or a function that reads them (called only
        when the Dataset says the score has raw values); ``source`` names the
        file in errors.

        Examples
        --------
        >>> from neuroalign import Score
        >>> data, raw = Score(0.3, ceiling=0.6, metric="demo").to_dataset()
        >>> Score.from_dataset(data, raw)
        Score(metric='demo', score=0.3, ceiling=0.6, ceiled=0.5)
        """
        meta = data.attrs.get(_SCORE_ATTR) if isinstance(data, xr.Dataset) else None
        fields = set(data.data_vars) if isinstance(data, xr.Dataset) else set()
        if not isinstance(meta, dict) or "score" not in fields or not fields <= set(_FIELDS):
            raise FileFormatError("the file does not hold a score", source=source,
                                  fix="read it with neuroalign.data.load, or write scores with Score.save")
        raw = (raw() if callable(raw) else raw) if meta.get("raw") else None
        ceiling = data.get("ceiling")
        if ceiling is not None and "ceiling_lower" in data:
            ceiling = (data["ceiling_lower"], ceiling)
        ci = (data["ci_low"], data["ci_high"]) if "ci_low" in data else None
        out = cls(data["score"], ceiling=ceiling, error=data.get("error"), ci=ci, raw=raw,
                  metric=meta.get("metric", ""), params=meta.get("params"), ci_level=meta.get("ci_level", 0.95))
        out.data = out.data[[f for f in data.data_vars]]  # the stored order of the fields
        out.data.attrs = {k: v for k, v in data.attrs.items() if k != _SCORE_ATTR}
        return out


def _ceiling_bounds(ceiling: Any, metric: str) -> tuple[xr.DataArray | None, xr.DataArray]:
    """(lower bound or None, ceiling) from one value, a (lower, upper) pair or a DataArray with a bound dim."""
    if isinstance(ceiling, tuple):
        if len(ceiling) != 2:
            raise ScoreError(f"a ceiling tuple needs (lower, upper), got {len(ceiling)} values",
                             source="ceiling", fix="pass ceiling=(lower, upper) or one value")
        lower, upper = _as_array(ceiling[0]), _as_array(ceiling[1])
    elif isinstance(ceiling, xr.DataArray) and BOUND in ceiling.dims:
        labels = [str(b) for b in ceiling[BOUND].values] if BOUND in ceiling.coords else []
        if sorted(labels) != ["lower", "upper"]:
            raise ScoreError(f"the ceiling's {BOUND!r} dim is labelled {labels}, expected 'lower' and 'upper'",
                             source="ceiling",
                             fix=f"label the bounds: ceiling.assign_coords({BOUND}=['lower', 'upper'])")
        lower = _as_array(ceiling.sel({BOUND: "lower"}, drop=True))
        upper = _as_array(ceiling.sel({BOUND: "upper"}, drop=True))
    else:
        return None, _as_array(ceiling)
    if np.isnan(lower.values).any():
        raise ScoreError(f"the lower noise-ceiling bound of {metric or 'the score'} is NaN",
                         source=metric or "ceiling", fix="check the data the ceiling was computed from")
    return lower, upper


def _as_array(value: Any, first_dim: str | None = None) -> xr.DataArray:
    if isinstance(value, Score):
        return value.values
    if isinstance(value, xr.DataArray):
        return value.astype(float)
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        return xr.DataArray(array)
    if first_dim is not None and array.ndim == 1:
        return xr.DataArray(array, dims=(first_dim,))
    raise ScoreError(f"a plain array of shape {array.shape} has no dimension names", source="value",
                     fix="pass an xarray.DataArray with named dims")
