"""Cross-validation folds over presentations, stratified or grouped by coordinates.

Folds are assigned to the rows (presentations) of a data-model array.  With
``stratify="family"`` every fold holds about the same share of each family;
with ``groups="object"`` all presentations of one object land in the same
fold (no object is both trained and tested on).  Both can be combined when
the stratification label is constant within each group.  Every random draw
comes from a seeded :class:`numpy.random.Generator`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ...data.schema import PRESENTATION, validate
from ...errors import ConfigError, DataError, SchemaError

__all__ = ["CoordKFold", "assign_folds", "cv_splits", "resolve_cv"]

FOLD = "fold"


def _coord(data: xr.DataArray, name: str, argument: str) -> np.ndarray:
    if name not in data.coords or data[name].dims != (PRESENTATION,):
        found = sorted(str(c) for c in data.coords if data[c].dims == (PRESENTATION,))
        raise SchemaError(f"{argument}={name!r} is not a coordinate on 'presentation' (found {found})",
                          source=argument, fix=f"pass one of {found}, or add the coordinate first")
    return np.asarray(data[name].values)


def assign_folds(
    data: xr.DataArray,
    n_splits: int = 5,
    *,
    stratify: str | None = None,
    groups: str | None = None,
    seed: int | np.random.Generator = 0,
) -> xr.DataArray:
    """The fold (0 … ``n_splits`` − 1) of every presentation.

    Parameters
    ----------
    data : xarray.DataArray
        An array with a ``presentation`` dim.
    n_splits : int
        Number of folds (at least 2).
    stratify : str, optional
        A presentation coordinate whose classes are spread evenly over folds:
        within each class, rows are shuffled and dealt to folds in turn,
        starting at a random fold so that the folds with an extra row vary.
    groups : str, optional
        A presentation coordinate whose groups are kept whole.  Groups are
        shuffled, then placed largest first into the fold with the fewest rows
        so far (ties: lowest fold), which balances fold sizes.  With
        ``stratify`` too, the groups (not the rows) are dealt by class.
    seed : int or numpy.random.Generator

    Returns
    -------
    xarray.DataArray
        Integer folds on ``presentation``, with the array's presentation coords.

    Raises
    ------
    ConfigError
        ``n_splits`` < 2, more folds than rows (or groups), or a stratification
        label that varies within a group.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import assign_folds
    >>> from neuroalign.data import create_assembly
    >>> data = create_assembly(np.zeros((8, 1)), stimulus_id=list("abcdefgh"),
    ...                        presentation={"family": ["x", "y"] * 4})
    >>> folds = assign_folds(data, 2, stratify="family", seed=0)
    >>> [int((folds[data.family == f] == 0).sum()) for f in ("x", "y")]
    [2, 2]
    """
    validate(data, dims=(PRESENTATION,), name="data", allow_nan=True)
    if not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
        raise ConfigError(f"n_splits must be an integer of at least 2, got {n_splits!r}", source="n_splits",
                          fix="pass n_splits >= 2 (e.g. 5 or 10)")
    rng = np.random.default_rng(seed)
    n = data.sizes[PRESENTATION]
    if groups is None:
        units = np.arange(n)  # each row is its own unit
        unit_of_row = units
        sizes = np.ones(n, dtype=int)
        label_rows = _coord(data, stratify, "stratify") if stratify else None
        unit_labels = label_rows
    else:
        unit_of_row, uniques = pd.factorize(pd.Index(_coord(data, groups, "groups")), sort=False,
                                              use_na_sentinel=False)
        sizes = np.bincount(unit_of_row)
        unit_labels = None
        if stratify:
            label_rows = _coord(data, stratify, "stratify")
            codes = pd.factorize(pd.Index(label_rows), use_na_sentinel=False)[0]
            per_group = pd.Series(codes).groupby(unit_of_row).nunique()
            if (per_group > 1).any():
                bad = uniques[per_group.index[per_group.to_numpy() > 1][:3]].tolist()
                raise ConfigError(f"the {stratify!r} label varies within groups of {groups!r} (e.g. {bad})",
                                  source="stratify", fix="stratify by a label that is constant within each group")
            first = np.unique(unit_of_row, return_index=True)[1]
            unit_labels = label_rows[first]
    n_units = len(sizes)
    if n_splits > n_units:
        what = f"groups of {groups!r}" if groups else "presentations"
        raise ConfigError(f"{n_splits} folds but only {n_units} {what}", source="n_splits",
                          fix=f"pass n_splits <= {n_units}")
    if unit_labels is not None:
        fold_of_unit = _stratified(pd.factorize(pd.Index(unit_labels), use_na_sentinel=False)[0], n_splits, rng)
    elif groups is not None:
        fold_of_unit = _balanced_groups(sizes, n_splits, rng)
    else:
        fold_of_unit = np.empty(n, dtype=int)
        fold_of_unit[rng.permutation(n)] = np.arange(n) % n_splits
    folds = fold_of_unit[unit_of_row]
    coords = {c: data[c] for c in data.coords if data[c].dims == (PRESENTATION,)}
    return xr.DataArray(folds, dims=(PRESENTATION,), coords=coords, name=FOLD)


def _stratified(codes: np.ndarray, n_splits: int, rng: np.random.Generator) -> np.ndarray:
    """Deal the units of each class to folds in turn, in a random order, from a random start."""
    order = np.lexsort((rng.random(len(codes)), codes))  # grouped by class, shuffled within
    sorted_codes = codes[order]
    starts = np.searchsorted(sorted_codes, np.arange(codes.max() + 1))
    rank = np.arange(len(codes)) - starts[sorted_codes]
    offset = rng.integers(n_splits, size=codes.max() + 1)
    folds = np.empty(len(codes), dtype=int)
    folds[order] = (rank + offset[sorted_codes]) % n_splits
    return folds


def _balanced_groups(sizes: np.ndarray, n_splits: int, rng: np.random.Generator) -> np.ndarray:
    """Shuffle groups, then greedily place the largest first into the emptiest fold."""
    shuffled = rng.permutation(len(sizes))
    order = shuffled[np.argsort(-sizes[shuffled], kind="stable")]
    load = np.zeros(n_splits, dtype=int)
    folds = np.empty(len(sizes), dtype=int)
    for unit in order:  # one step per group: a greedy bin-packing, inherently sequential
        fold = int(np.argmin(load))
        folds[unit] = fold
        load[fold] += sizes[unit]
    return folds


def cv_splits(
    data: xr.DataArray,
    n_splits: int = 5,
    *,
    stratify: str | None = None,
    groups: str | None = None,
    seed: int | np.random.Generator = 0,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train, test)`` row indices of each fold of :func:`assign_folds`.

    Every presentation is tested exactly once.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import cv_splits
    >>> from neuroalign.data import create_assembly
    >>> data = create_assembly(np.zeros((6, 1)), stimulus_id=list("abcdef"))
    >>> sorted(np.concatenate([test for _, test in cv_splits(data, 3)]).tolist())
    [0, 1, 2, 3, 4, 5]
    """
    folds = assign_folds(data, n_splits, stratify=stratify, groups=groups, seed=seed).values
    splits = [(np.flatnonzero(folds != k), np.flatnonzero(folds == k)) for k in range(n_splits)]
    if any(len(test) == 0 for _, test in splits):
        raise DataError("a fold received no presentation (groups too unequal in size)", source="groups",
                        fix="use fewer folds or smaller groups")
    return splits


def resolve_cv(
    cv: Any,
    data: xr.DataArray,
    *,
    stratify: str | None = None,
    groups: str | None = None,
    seed: int | np.random.Generator = 0,
    min_test: int = 1,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Turn a ``cv`` argument into a list of ``(train, test)`` row indices of ``data``.

    Parameters
    ----------
    cv : int, splitter or iterable of (train, test)
        A number of folds (then ``stratify``/``groups`` apply, see
        :func:`assign_folds`); an object with ``split(data)`` such as
        :class:`CoordKFold`; or explicit index pairs.
    data : xarray.DataArray
        The rows (presentations) to split.
    stratify, groups : str, optional
    seed : int or numpy.random.Generator
    min_test : int
        Smallest acceptable test fold.

    Raises
    ------
    ConfigError
        ``stratify``/``groups`` with a non-integer ``cv``, empty or
        out-of-range indices, or a test fold smaller than ``min_test``.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import resolve_cv
    >>> from neuroalign.data import create_assembly
    >>> data = create_assembly(np.zeros((6, 1)), stimulus_id=list("abcdef"))
    >>> [len(test) for _, test in resolve_cv([([0, 1, 2], [3, 4, 5])], data)]
    [3]
    """
    n = data.sizes[PRESENTATION]
    if isinstance(cv, (int, np.integer)):
        splits = cv_splits(data, int(cv), stratify=stratify, groups=groups, seed=seed)
    else:
        if stratify is not None or groups is not None:
            raise ConfigError("stratify/groups apply only with cv=<number of folds>", source="cv",
                              fix="pass cv=CoordKFold(n, stratify=..., groups=...) or an int with stratify=...")
        splits = list(cv.split(data)) if hasattr(cv, "split") else list(cv)
        splits = [(np.asarray(train, dtype=int), np.asarray(test, dtype=int)) for train, test in splits]
        if not splits or any(t.size == 0 or t.min() < 0 or t.max() >= n for pair in splits for t in pair):
            raise ConfigError("cv gave no splits, an empty split or indices out of range", source="cv",
                              fix=f"pass (train, test) index arrays within 0..{n - 1}")
    small = min(len(test) for _, test in splits)
    if small < min_test:
        raise ConfigError(f"a test fold holds {small} stimuli; at least {min_test} are needed", source="cv",
                          fix="use fewer folds")
    return splits


class CoordKFold:
    """K-fold splitter over presentations with scikit-learn's ``split`` interface.

    Parameters
    ----------
    n_splits : int
    stratify, groups : str, optional
        Presentation coordinates; see :func:`assign_folds`.
    random_state : int or numpy.random.Generator

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import CoordKFold
    >>> from neuroalign.data import create_assembly
    >>> data = create_assembly(np.zeros((6, 1)), stimulus_id=list("abcdef"))
    >>> CoordKFold(3, random_state=0).get_n_splits()
    3
    >>> len(list(CoordKFold(3).split(data)))
    3
    """

    def __init__(self, n_splits: int = 5, *, stratify: str | None = None, groups: str | None = None,
                 random_state: int | np.random.Generator = 0):
        self.n_splits = n_splits
        self.stratify = stratify
        self.groups = groups
        self.random_state = random_state

    def get_n_splits(self, *args: Any, **kwargs: Any) -> int:
        return self.n_splits

    def split(self, data: xr.DataArray, *args: Any, **kwargs: Any) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train, test)`` row indices; ``data`` must carry the named coordinates."""
        yield from cv_splits(data, self.n_splits, stratify=self.stratify, groups=self.groups,
                             seed=self.random_state)
