"""An encoder's codes as labelled arrays: window codes per window, or summarised per subject.

A subject's embedding is the mean and the standard deviation over its windows
of each unit of the window codes, or of every ROI's code at every level
(:mod:`neuroalign.graphs.subject_codes`), so the window-to-window variability
of the dynamic connectivity is kept (an average alone would discard it).  The
standard deviation is the population one (divided by the number of windows):
it is 0, not NaN, for a single window (static connectivity).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import xarray as xr

from ..errors import DataError
from .subject_codes import STATISTICS, window_statistics

__all__ = ["STATISTICS", "window_code_array", "subject_embedding_array", "statistics_array"]


def _subject_coords(dataset: Any) -> dict[str, Any]:
    coords: dict[str, Any] = {"subject": np.asarray(dataset.subjects)}
    for name, values in (getattr(dataset, "labels", None) or {}).items():
        coords[name] = ("subject", np.asarray(values))
    return coords


def window_code_array(codes: torch.Tensor, dataset: Any, attrs: Mapping[str, Any]) -> xr.DataArray:
    """``codes`` ``[subject, window, unit]`` as a DataArray ``(subject, window, feature)``.

    Features are named ``code_<unit>`` with an int coord ``unit``; the dataset's subject ids, label
    coords and window coords are kept.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from types import SimpleNamespace
    >>> from neuroalign.graphs.embedding_arrays import window_code_array
    >>> ds = SimpleNamespace(subjects=np.array(["s1", "s2"]), labels={"group": np.array([0, 1])},
    ...                      window_coords={"window": np.arange(3)})
    >>> window_code_array(torch.zeros(2, 3, 4), ds, {}).dims
    ('subject', 'window', 'feature')
    """
    values = codes.detach().to("cpu", torch.float64).numpy()
    n_units = values.shape[-1]
    coords = _subject_coords(dataset)
    window_coords = dict(getattr(dataset, "window_coords", None) or {})
    raw = getattr(dataset, "raw", None)
    default = (raw["window"].values if raw is not None and "window" in raw.coords and raw["window"].ndim == 1
               else np.arange(values.shape[1]))
    coords["window"] = np.asarray(window_coords.pop("window", default))
    for name, array in window_coords.items():
        coords[name] = ("window", np.asarray(array))
    coords["feature"] = np.array([f"code_{u}" for u in range(n_units)])
    coords["unit"] = ("feature", np.arange(n_units))
    return xr.DataArray(values, dims=("subject", "window", "feature"), coords=coords, attrs=dict(attrs))


def subject_embedding_array(codes: torch.Tensor, dataset: Any, attrs: Mapping[str, Any],
                            rois: Any = None) -> xr.DataArray:
    """Mean and (population) standard deviation over windows of ``codes``, as a DataArray ``(subject, feature)``.

    ``codes`` are ``[subject, window, unit]`` window codes or ``[subject, window, level, roi, unit]`` node
    codes (then ``rois`` names the ROIs); see :func:`statistics_array` for the features.  Computed in float64.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from types import SimpleNamespace
    >>> from neuroalign.graphs.embedding_arrays import subject_embedding_array
    >>> ds = SimpleNamespace(subjects=np.array(["s1"]), labels={})
    >>> codes = torch.tensor([[[1.0], [3.0]]])          # one subject, two windows, one unit
    >>> subject_embedding_array(codes, ds, {}).values.tolist()
    [[2.0, 1.0]]
    """
    return statistics_array(window_statistics(codes), dataset, attrs, rois)


def statistics_array(statistics: torch.Tensor, dataset: Any, attrs: Mapping[str, Any],
                     rois: Any = None) -> xr.DataArray:
    """Statistics over windows ``[subject, statistic, ...]`` (:func:`~neuroalign.graphs.subject_codes.over_windows`) as a DataArray ``(subject, feature)``.

    Window codes ``[subject, statistic, unit]`` give features ``mean_<unit>`` then ``std_<unit>``, with
    coords ``statistic`` and ``unit``.  Node codes ``[subject, statistic, level, roi, unit]`` give features
    ``<statistic>_l<level>_<roi>_<unit>`` in that order, with coords ``statistic``, ``level``, ``roi`` (the
    ids in ``rois``) and ``unit``.  The dataset's subject ids and label coords are kept.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from types import SimpleNamespace
    >>> from neuroalign.graphs.embedding_arrays import statistics_array
    >>> ds = SimpleNamespace(subjects=np.array(["s1"]), labels={})
    >>> out = statistics_array(torch.zeros(1, 2, 2, 3, 1), ds, {}, rois=["a", "b", "c"])
    >>> out.sizes["feature"], out["feature"].values[:2].tolist(), out["roi"].values[:4].tolist()
    (12, ['mean_l0_a_0', 'mean_l0_b_0'], ['a', 'b', 'c', 'a'])
    """
    values = statistics.detach().to("cpu", torch.float64)
    shape = tuple(values.shape[2:])
    grid = np.indices((len(STATISTICS), *shape)).reshape(1 + len(shape), -1)
    stats = np.asarray(STATISTICS)[grid[0]]
    coords = _subject_coords(dataset)
    coords["statistic"] = ("feature", stats)
    coords["unit"] = ("feature", grid[-1])
    if len(shape) == 1:
        names = [f"{stat}_{u}" for stat, u in zip(stats, grid[-1])]
    else:
        if rois is None or len(rois) != shape[1]:
            raise DataError(f"node-code statistics of {shape[1]} ROIs need as many ROI ids, got "
                            f"{None if rois is None else len(rois)}", source="rois",
                            fix="pass the dataset's ROI ids (dataset.rois)")
        roi_ids = np.asarray(rois)[grid[2]]
        coords["level"] = ("feature", grid[1])
        coords["roi"] = ("feature", roi_ids)
        names = [f"{stat}_l{level}_{roi}_{u}" for stat, level, roi, u in zip(stats, grid[1], roi_ids, grid[-1])]
    coords["feature"] = np.asarray(names)
    return xr.DataArray(values.reshape(values.shape[0], -1).numpy(), dims=("subject", "feature"), coords=coords,
                        attrs=dict(attrs))
