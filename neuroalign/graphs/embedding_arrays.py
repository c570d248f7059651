"""Window codes of an encoder as labelled arrays: per window, or summarised per subject.

A subject's embedding is the mean and the standard deviation over its windows
of each unit of the window codes, so the window-to-window variability of the
dynamic connectivity is kept (an average alone would discard it).  The
standard deviation is the population one (divided by the number of windows):
it is 0, not NaN, for a single window (static connectivity).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import xarray as xr

__all__ = ["STATISTICS", "window_code_array", "subject_embedding_array"]

#: The statistics over windows that make up a subject's embedding, in the order of the features.
STATISTICS = ("mean", "std")


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


def subject_embedding_array(codes: torch.Tensor, dataset: Any, attrs: Mapping[str, Any]) -> xr.DataArray:
    """Mean and (population) standard deviation over windows of ``codes`` ``[subject, window, unit]``.

    Returns a DataArray ``(subject, feature)``: features ``mean_<unit>`` then ``std_<unit>``, with coords
    ``statistic`` and ``unit``; the dataset's subject ids and label coords are kept.  Computed in float64.

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
    values = codes.detach().to("cpu", torch.float64)
    mean = values.mean(dim=1)
    std = values.std(dim=1, correction=0)
    n_units = values.shape[-1]
    coords = _subject_coords(dataset)
    coords["feature"] = np.array([f"{stat}_{u}" for stat in STATISTICS for u in range(n_units)])
    coords["statistic"] = ("feature", np.repeat(np.array(STATISTICS), n_units))
    coords["unit"] = ("feature", np.tile(np.arange(n_units), len(STATISTICS)))
    return xr.DataArray(torch.cat([mean, std], dim=1).numpy(), dims=("subject", "feature"), coords=coords,
                        attrs=dict(attrs))
