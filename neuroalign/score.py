"""The result type of every metric: a value with its ceiling, error and raw values."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .data.schema import label_index
from .errors import ScoreError

__all__ = ["Score"]


class Score:
    """A score, with the ceiling, error and raw values that make it meaningful.

    Parameters
    ----------
    value : float or xarray.DataArray
        The point estimate.  A DataArray may carry any dims, e.g. ``layer`` for
        a sweep over a network's layers.
    ceiling : float or xarray.DataArray, optional
        The noise ceiling on the same dims (the best score a perfect model of
        the data could reach).  Must be positive.
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
        The value contains NaN, or a ceiling is not positive.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign import Score
    >>> s = Score.from_resamples(0.5, np.array([0.4, 0.5, 0.6, 0.55, 0.45]), metric="demo", ceiling=0.8)
    >>> round(float(s.ceiled), 3)
    0.625
    >>> list(s.to_dataframe().columns)
    ['metric', 'score', 'ceiling', 'ceiled', 'error', 'ci_low', 'ci_high']
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
            ceil = _as_array(ceiling)
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
        index = label_index(labels, dim)
        data = xr.concat([s.data for s in scores], dim=index)
        raws = [s.raw for s in scores]
        raw = xr.concat(raws, dim=index) if all(r is not None for r in raws) else None
        out = cls.__new__(cls)
        out.data, out.raw = data, raw
        out.metric = scores[0].metric
        out.params = dict(scores[0].params)
        out.ci_level = scores[0].ci_level
        return out

    # ---------------------------------------------------------------- access
    @property
    def values(self) -> xr.DataArray:
        """The point estimate as a DataArray."""
        return self.data["score"]

    @property
    def ceiling(self) -> xr.DataArray | None:
        return self.data["ceiling"] if "ceiling" in self.data else None

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
        """The score divided by its ceiling."""
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

    def sel(self, **indexers: Any) -> "Score":
        """Select along the score's dims, like :meth:`xarray.Dataset.sel`."""
        out = self.__class__.__new__(self.__class__)
        out.data = self.data.sel(**indexers)
        raw_indexers = {k: v for k, v in indexers.items() if self.raw is not None and k in self.raw.dims}
        out.raw = self.raw.sel(**raw_indexers) if self.raw is not None else None
        out.metric, out.params, out.ci_level = self.metric, dict(self.params), self.ci_level
        return out

    def to_dataframe(self) -> pd.DataFrame:
        """One row per element: dims as columns, then score, ceiling, ceiled, error, CI."""
        data = self.data
        if "ceiling" in data:
            data = data.assign(ceiled=data["score"] / data["ceiling"])
        order = [f for f in ("score", "ceiling", "ceiled", "error", "ci_low", "ci_high") if f in data]
        data = data[order]
        if data["score"].ndim == 0:
            frame = pd.DataFrame({name: [data[name].item()] for name in order})
        else:
            frame = data.to_dataframe().reset_index()
            frame = frame[[*map(str, data["score"].dims), *order]]
        frame.insert(0, "metric", self.metric)
        return frame

    def __repr__(self) -> str:
        head = f"Score(metric={self.metric!r}"
        if self.values.ndim == 0:
            text = f"{head}, value={self.values.item():.4g}"
            if self.error is not None:
                text += f" ± {self.error.item():.2g}"
            if self.ci is not None:
                text += f", {int(self.ci_level * 100)}% CI [{self.ci[0].item():.4g}, {self.ci[1].item():.4g}]"
            if self.ceiling is not None:
                text += f", ceiling={self.ceiling.item():.4g}, ceiled={self.ceiled.item():.4g}"
            return text + ")"
        table = self.to_dataframe().drop(columns="metric").to_string(index=False, float_format="{:.4g}".format)
        return f"{head}, dims={self.dims})\n{table}"


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
