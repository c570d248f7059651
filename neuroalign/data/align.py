"""Matching two arrays on ``stimulus_id``, and averaging repeated presentations."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import AlignmentError, ConfigError
from .schema import PRESENTATION, STIMULUS_ID, validate

__all__ = ["align", "average_repetitions", "stimulus_ids", "stimulus_mismatch_error"]

log = logging.getLogger(__name__)

#: Ids shown from each side in a mismatch message.
_SHOWN = 3


def _looks_default(ids: pd.Index) -> bool:
    """Whether ids are consecutive integers from 0 or 1 (``"0"``, ``"1"``…: what unlabelled inputs get)."""
    if len(ids) == 0:
        return False
    try:
        numbers = [int(str(v)) for v in ids]
    except ValueError:
        return False
    if any(str(number) != str(v) for number, v in zip(numbers, ids)):  # "01", " 1", "1.0" are real labels
        return False
    return min(numbers) in (0, 1) and sorted(numbers) == list(range(min(numbers), min(numbers) + len(ids)))


def _range_text(ids: pd.Index) -> str:
    ordered = sorted(ids, key=lambda v: int(str(v)))
    return f"{str(ordered[0])!r} … {str(ordered[-1])!r}"


def stimulus_mismatch_error(
    ids_a: Sequence | np.ndarray | pd.Index,
    ids_b: Sequence | np.ndarray | pd.Index,
    *,
    names: tuple[str, str] = ("a", "b"),
    kind: Literal["array", "rdm"] = "array",
    fix: str | None = None,
) -> AlignmentError:
    """The :class:`AlignmentError` for two inputs whose stimulus ids differ.

    It counts the ids found on one side only and shows a few of each.  Where
    one side's ids look like the defaults given to unlabelled inputs
    (``"0"`` … ``"91"``: consecutive integers), the fix says how to label it:
    ``as_rdm(..., stimulus_ids=...)`` for RDMs, ``assign_coords`` for arrays.

    Parameters
    ----------
    ids_a, ids_b : sequence
        The stimulus ids of each side.
    names : (str, str)
        How to name the two sides.
    kind : {"array", "rdm"}
        What the inputs are (chooses the suggested relabelling call).
    fix : str, optional
        The fix to give when no side has default ids.

    Examples
    --------
    >>> from neuroalign.data.align import stimulus_mismatch_error
    >>> err = stimulus_mismatch_error(["img01", "img02", "img03"], ["0", "1", "2"], names=("model", "brain"),
    ...                               kind="rdm")
    >>> err.problem
    "the stimulus sets differ: 3 only in model (e.g. ['img01', 'img02', 'img03']), 3 only in brain (e.g. ['0', '1', '2'])"
    >>> "as_rdm(brain_values, stimulus_ids=" in err.fix
    True
    """
    ids_a, ids_b = pd.Index(np.asarray(ids_a)), pd.Index(np.asarray(ids_b))
    only_a = ids_a.difference(ids_b, sort=False)
    only_b = ids_b.difference(ids_a, sort=False)
    problem = (f"the stimulus sets differ: {len(only_a)} only in {names[0]} (e.g. {only_a[:_SHOWN].tolist()}), "
               f"{len(only_b)} only in {names[1]} (e.g. {only_b[:_SHOWN].tolist()})")
    if len(ids_a) != len(ids_b):
        problem += f"; {names[0]} has {len(ids_a)} stimuli and {names[1]} {len(ids_b)}"
    hints = []
    for ids, other_ids, name, other in ((ids_a, ids_b, names[0], names[1]), (ids_b, ids_a, names[1], names[0])):
        if _looks_default(ids) and not _looks_default(other_ids):
            example = f"{other_ids[:2].tolist()[0]!r}, …" if len(other_ids) else "…"
            if kind == "rdm":
                call = f"as_rdm({name}_values, stimulus_ids=ids)"
            else:
                call = f"{name}.assign_coords(stimulus_id=('presentation', ids))"
            hints.append(f"{name}'s ids {_range_text(ids)} look like the defaults of unlabelled input: label its "
                         f"stimuli in their row order with {call}, where ids are the real stimulus ids (e.g. "
                         f"those of {other}: {example}, if the rows are in the same order)")
    if hints:
        fix = "; ".join(hints)
    return AlignmentError(problem, source=f"{names[0]}/{names[1]}",
                          fix=fix or "label both inputs with the same stimulus ids")


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
        raise stimulus_mismatch_error(
            ids_a, ids_b, names=names,
            fix="pass join='inner' to keep the shared stimuli explicitly, or fix the stimulus ids")
    keep = ids_a[ids_a.isin(ids_b)]
    if len(keep) == 0:
        error = stimulus_mismatch_error(ids_a, ids_b, names=names,
                                        fix="check that both arrays label stimuli with the same ids")
        raise AlignmentError(f"the arrays share no stimulus_id ({error.problem})", source=error.source,
                             fix=error.fix)
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
