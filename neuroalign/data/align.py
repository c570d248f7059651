"""Matching two arrays on ``stimulus_id``, and averaging repeated presentations."""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import AlignmentError, ConfigError
from .schema import PRESENTATION, STIMULUS_ID, validate

__all__ = ["align", "average_repetitions", "stimulus_ids"]

log = logging.getLogger(__name__)


def stimulus_ids(array: xr.DataArray, *, name: str = "array") -> pd.Index:
    """The ``stimulus_id`` of each presentation, as a pandas Index (order kept)."""
    validate(array, dims=(PRESENTATION,), name=name, allow_nan=True)
    return pd.Index(array[STIMULUS_ID].values)


def align(
    a: xr.DataArray,
    b: xr.DataArray,
    *,
    join: Literal["exact", "inner"] = "exact",
    names: tuple[str, str] = ("a", "b"),
) -> tuple[xr.DataArray, xr.DataArray]:
    """Match the presentations of two arrays one to one on ``stimulus_id``.

    The result keeps the presentation order of ``a``; ``b`` is indexed to that
    order by ``stimulus_id`` (an explicit join, never a sort).  Each array must
    hold each stimulus once: average repetitions first with
    :func:`average_repetitions`.

    Parameters
    ----------
    a, b : xarray.DataArray
        Arrays with a ``presentation`` dimension and unique ``stimulus_id``.
    join : {"exact", "inner"}
        ``"exact"`` (default) raises :class:`AlignmentError` unless both arrays
        hold the same set of stimuli.  ``"inner"`` keeps the stimuli they share
        (in the order of ``a``) and logs how many were dropped from each.
    names : (str, str)
        How to name ``a`` and ``b`` in error messages.

    Returns
    -------
    (xarray.DataArray, xarray.DataArray)
        ``a`` and ``b`` restricted and ordered so that row ``i`` of both shows
        the same stimulus.

    Raises
    ------
    AlignmentError
        Duplicated stimulus ids, different stimulus sets with ``join="exact"``,
        or no shared stimulus with ``join="inner"``.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import align, create_assembly
    >>> brain = create_assembly(np.arange(6.).reshape(3, 2), stimulus_id=["x", "y", "z"])
    >>> model = create_assembly(np.arange(9.).reshape(3, 3), stimulus_id=["z", "x", "y"])
    >>> b, m = align(brain, model)
    >>> m.stimulus_id.values.tolist()
    ['x', 'y', 'z']
    """
    if join not in ("exact", "inner"):
        raise ConfigError(f"join must be 'exact' or 'inner', got {join!r}", source="join",
                          fix="pass join='exact' (default) or join='inner' for the intersection")
    ids_a = stimulus_ids(a, name=names[0])
    ids_b = stimulus_ids(b, name=names[1])
    for ids, name in ((ids_a, names[0]), (ids_b, names[1])):
        if not ids.is_unique:
            dup = ids[ids.duplicated()].unique()[:3].tolist()
            raise AlignmentError(
                f"stimulus_id is repeated (e.g. {dup}); alignment needs one row per stimulus",
                source=name,
                fix="average repetitions first with neuroalign.data.average_repetitions(array)",
            )
    only_a = ids_a.difference(ids_b, sort=False)
    only_b = ids_b.difference(ids_a, sort=False)
    if join == "exact" and (len(only_a) or len(only_b)):
        raise AlignmentError(
            f"the stimulus sets differ: {len(only_a)} only in {names[0]} (e.g. {only_a[:3].tolist()}), "
            f"{len(only_b)} only in {names[1]} (e.g. {only_b[:3].tolist()})",
            source=f"{names[0]}/{names[1]}",
            fix="pass join='inner' to keep the shared stimuli explicitly, or fix the stimulus ids",
        )
    keep = ids_a[ids_a.isin(ids_b)]
    if len(keep) == 0:
        raise AlignmentError("the arrays share no stimulus_id", source=f"{names[0]}/{names[1]}",
                             fix="check that both arrays label stimuli with the same ids")
    if len(only_a) or len(only_b):
        log.info("align(join='inner'): kept %d stimuli, dropped %d from %s and %d from %s",
                 len(keep), len(only_a), names[0], len(only_b), names[1])
    a_out = a.isel({PRESENTATION: ids_a.get_indexer(keep)})
    b_out = b.isel({PRESENTATION: ids_b.get_indexer(keep)})
    return a_out, b_out


def average_repetitions(array: xr.DataArray, *, name: str = "array") -> xr.DataArray:
    """Average presentations that share a ``stimulus_id``.

    Stimuli keep the order of their first presentation.  Presentation
    coordinates that are constant within every stimulus (stimulus metadata) are
    kept; those that vary (``repetition``, ``trial``…) are dropped.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import average_repetitions, create_assembly
    >>> a = create_assembly(np.array([[1.], [3.], [5.]]), stimulus_id=["s1", "s1", "s2"])
    >>> average_repetitions(a).values.ravel().tolist()
    [2.0, 5.0]
    """
    ids = stimulus_ids(array, name=name)
    if ids.is_unique:
        return array
    codes, uniques = pd.factorize(ids, sort=False)
    axis = array.get_axis_num(PRESENTATION)
    values = np.moveaxis(np.asarray(array.values, dtype=float), axis, 0)
    sums = np.zeros((len(uniques),) + values.shape[1:])
    np.add.at(sums, codes, values)
    counts = np.bincount(codes, minlength=len(uniques)).reshape((-1,) + (1,) * (values.ndim - 1))
    mean = np.moveaxis(sums / counts, 0, axis)
    _, first_rows = np.unique(codes, return_index=True)  # codes number stimuli by first appearance
    coords = {}
    for cname, coord in array.coords.items():
        if PRESENTATION not in coord.dims:
            coords[cname] = coord
        elif coord.dims == (PRESENTATION,):
            per_stim = pd.Series(coord.values).groupby(codes).nunique(dropna=False)
            if (per_stim <= 1).all():
                coords[cname] = (PRESENTATION, coord.values[first_rows])
    out = xr.DataArray(mean, dims=array.dims, coords=coords, attrs=dict(array.attrs), name=array.name)
    out.attrs["repetitions_averaged"] = int(counts.max())
    return out
