"""Conditions and dichotomies of a labelled representation, the input of the abstraction measures.

A *condition* is one combination of the task variables (e.g. ``context=A, value=high``); a *dichotomy*
splits the conditions into two sides (e.g. every condition with ``value=high`` against the others).  Both
come from presentation coords: binary ``factors`` (each condition is one combination of their values, each
factor one dichotomy), or a ``condition`` coord with ``dichotomies`` named by the conditions on one side.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from ..data.schema import NEUROID, PRESENTATION, validate
from ..errors import ConfigError, DataError, SchemaError, UnknownNameError

__all__ = ["Conditions", "labelled_conditions", "balanced_dichotomies"]


@dataclass(frozen=True)
class Conditions:
    """The trials of a representation grouped by condition.

    Attributes
    ----------
    values : numpy.ndarray
        ``(presentation, neuroid)`` responses, float64.
    condition : numpy.ndarray
        The condition (an index into ``labels``) of each presentation.
    labels : tuple of str
        One label per condition, e.g. ``"context=A,value=high"``.
    dichotomies : dict of str to numpy.ndarray
        Dichotomy name → boolean mask over the conditions (True: the positive side).
    contexts : dict of str to numpy.ndarray
        With factors only: factor → the combination of the *other* factors'
        values of each condition (an integer id per condition).
    """

    values: np.ndarray
    condition: np.ndarray
    labels: tuple[str, ...]
    dichotomies: dict[str, np.ndarray]
    contexts: dict[str, np.ndarray]

    def means(self) -> np.ndarray:
        """``(condition, neuroid)``: the mean response of each condition."""
        sums = np.zeros((len(self.labels), self.values.shape[1]))
        np.add.at(sums, self.condition, self.values)
        return sums / np.bincount(self.condition, minlength=len(self.labels))[:, None]

    def trial_labels(self, positive: np.ndarray) -> np.ndarray:
        """The side (0/1) of every presentation, for a boolean mask over the conditions."""
        return positive[self.condition].astype(int)


def _coord(data: xr.DataArray, key: Any, name: str, argument: str) -> np.ndarray:
    if not isinstance(key, str):
        raise ConfigError(f"{argument} must name presentation coords, got {key!r}", source=argument,
                          fix="pass coord names, e.g. factors=['context', 'value']")
    if key not in data.coords or data[key].dims != (PRESENTATION,):
        have = sorted(str(c) for c in data.coords if data[c].dims == (PRESENTATION,))
        raise SchemaError(f"{name} has no {key!r} coordinate on 'presentation' (it has {have})", source=name,
                          fix=f"label each presentation, e.g. data.assign_coords({key}=('presentation', values))")
    return np.asarray(data[key].values)


def labelled_conditions(
    data: xr.DataArray,
    factors: Sequence[str] | None = None,
    *,
    condition: str | None = None,
    dichotomies: Mapping[str, Iterable[Any]] | None = None,
    min_conditions: int = 4,
    name: str = "data",
) -> Conditions:
    """Group the presentations of ``data`` by condition and build the dichotomies to score.

    Parameters
    ----------
    data : xarray.DataArray
        ``(presentation, neuroid)`` responses, several presentations per condition.
    factors : sequence of str, optional
        Presentation coords of binary variables.  Each combination of their
        values is a condition; each factor is a dichotomy named after it, its
        positive side the conditions with the factor's larger value.
    condition : str, optional
        Instead of ``factors``: a presentation coord of condition labels.
    dichotomies : mapping of str to iterable, optional
        With ``condition``: dichotomy name → the condition labels on its
        positive side (the other conditions form the other side).
    min_conditions : int
        The fewest conditions accepted.
    name : str
        How ``data`` is named in error messages.

    Returns
    -------
    Conditions

    Raises
    ------
    SchemaError
        A named coord is missing, or ``data`` does not follow the data model.
    DataError
        A factor does not take exactly two values, too few conditions, a
        dichotomy with an empty side, or the responses are constant.
    ConfigError, UnknownNameError
        Neither or both of ``factors`` and ``condition``; a dichotomy names an
        unknown condition.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.geometry.conditions import labelled_conditions
    >>> a = create_assembly(np.arange(16.0).reshape(8, 2), stimulus_id=range(8),
    ...                     presentation={"x": [0, 1] * 4, "y": [0, 0, 1, 1] * 2})
    >>> c = labelled_conditions(a, ["x", "y"])
    >>> c.labels
    ('x=0,y=0', 'x=0,y=1', 'x=1,y=0', 'x=1,y=1')
    >>> c.dichotomies["y"].tolist()
    [False, True, False, True]
    """
    validate(data, dims=(PRESENTATION, NEUROID), name=name)
    if (factors is None) == (condition is None):
        raise ConfigError("pass either factors or condition (with dichotomies)", source="factors",
                          fix="e.g. factors=['context', 'value'], or condition='condition', "
                              "dichotomies={'value': ['A-high', 'B-high']}")
    if factors is not None and dichotomies is not None:
        raise ConfigError("dichotomies are defined over a condition coord, and factors were given",
                          source="dichotomies",
                          fix="pass either factors=[...] (each factor is a dichotomy) or condition= with dichotomies=")
    if factors is not None:
        if isinstance(factors, str):
            factors = [factors]
        factors = list(factors)
        if not factors or len(set(factors)) != len(factors):
            raise ConfigError(f"factors must name distinct coords, got {factors}", source="factors",
                              fix="pass e.g. factors=['context', 'value']")
        columns = [_coord(data, f, name, "factors") for f in factors]
        levels = []
        for factor, column in zip(factors, columns):
            values = np.unique(column)
            if len(values) != 2:
                raise DataError(f"factor {factor!r} takes {len(values)} value(s) ({values[:5].tolist()}); "
                                "a factor must be binary", source=name,
                                fix="pass binary variables as factors, or define the dichotomies yourself with "
                                    "condition= and dichotomies=")
            levels.append(values)
        trial_keys = [",".join(f"{f}={v}" for f, v in zip(factors, row)) for row in zip(*columns)]
        labels, index = np.unique(np.asarray(trial_keys, dtype=object).astype(str), return_inverse=True)
        first = {label: i for i, label in reversed(list(enumerate(index)))}  # a trial of each condition
        split = {f: np.array([columns[k][first[c]] == levels[k][1] for c in range(len(labels))])
                 for k, f in enumerate(factors)}
        table = np.array([[columns[k][first[c]] == levels[k][1] for k in range(len(factors))]
                          for c in range(len(labels))], dtype=int)
        contexts = {f: np.unique(np.delete(table, k, axis=1), axis=0, return_inverse=True)[1].ravel()
                    for k, f in enumerate(factors)}
    else:
        contexts = {}
        column = _coord(data, condition, name, "condition").astype(str)
        labels, index = np.unique(column, return_inverse=True)
        if dichotomies is None:
            split = {}
        elif not isinstance(dichotomies, Mapping):
            raise ConfigError("dichotomies must map a name to the condition labels of one side", source="dichotomies",
                              fix="pass e.g. {'value': ['A-high', 'B-high']}")
        else:
            split = {str(key): _side(side, labels, str(key)) for key, side in dichotomies.items()}
    labels = tuple(str(label) for label in labels)
    if len(labels) < min_conditions:
        raise DataError(f"{name} holds {len(labels)} condition(s); this measure needs at least {min_conditions}",
                        source=name, fix="pass more conditions (e.g. two binary factors give four)")
    for key, positive in split.items():
        if positive.all() or not positive.any():
            raise DataError(f"dichotomy {key!r} puts every condition on one side", source="dichotomies",
                            fix="name the conditions of one side only")
    values = np.asarray(data.transpose(PRESENTATION, NEUROID).values, dtype=float)
    if not np.any(values != values[:1]):
        raise DataError(f"{name} is constant over the presentations: no condition can be told apart", source=name,
                        fix="check the extraction (e.g. a layer of dead units) or pass another layer")
    return Conditions(values, index.ravel().astype(int), labels, split, contexts)


def _side(side: Iterable[Any], labels: np.ndarray, key: str) -> np.ndarray:
    side = [side] if isinstance(side, str) else [str(v) for v in side]
    for label in side:
        if label not in labels:
            raise UnknownNameError(label, labels, what=f"condition of dichotomy {key!r}", source="dichotomies")
    return np.isin(labels, side)


def balanced_dichotomies(n_conditions: int) -> np.ndarray:
    """Every split of ``n`` conditions into sides of ``n // 2`` and ``n - n // 2``, each once.

    Returns a boolean array ``(dichotomy, condition)``; for an even ``n`` the
    first condition is always on the positive side, so that a split and its
    mirror image are not both listed (``C(n, n/2) / 2`` dichotomies).

    Examples
    --------
    >>> from neuroalign.geometry.conditions import balanced_dichotomies
    >>> balanced_dichotomies(4).astype(int).tolist()
    [[1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 0, 1]]
    >>> len(balanced_dichotomies(8))
    35
    """
    half = n_conditions // 2
    rows = []
    for side in itertools.combinations(range(n_conditions), half):
        if n_conditions % 2 == 0 and side[0] != 0:
            continue
        row = np.zeros(n_conditions, dtype=bool)
        row[list(side)] = True
        rows.append(row)
    return np.array(rows, dtype=bool).reshape(len(rows), n_conditions)
