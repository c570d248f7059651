"""Cross-validation of triplet probes over OBJECT folds, with nested selection of λ.

Triplets share objects, so a probe tested on triplets whose objects it was
trained on is not tested on new objects.  Here the objects are split into
``k`` folds; the test triplets of fold ``f`` have all three objects in fold
``f`` and the training triplets have none there (triplets that mix are left
out).  The penalty weight λ is chosen by an inner cross-validation on the
training objects only, so the reported held-out accuracies never saw the test
objects (the ICLR 2023 probe chose λ on the reported folds).

Examples
--------
>>> import numpy as np
>>> triplets = np.array([[0, 1, 2], [3, 4, 5], [0, 3, 4]])
>>> [f.tolist() for f in fold_triplets(triplets, np.array([0, 0, 0, 1, 1, 1]))]
[[0], [1]]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr
from sklearn.base import clone
from tqdm.auto import tqdm

from ..data import provenance
from ..errors import ConfigError, DataError
from ..fitting.base import check_int, resolve_seed
from ..score import Score
from .indexing import check_triplets
from .probes import LinearProbe, _features

__all__ = ["LAMBDA_GRID", "assign_object_folds", "fold_triplets", "split_triplets", "select_lambda",
           "cross_validate_probe"]

log = logging.getLogger(__name__)
LAMBDA_GRID = (1.0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5)


def assign_object_folds(n_objects: int, n_folds: int, *, random_state: Any = 0) -> np.ndarray:
    """A random fold number (0 … ``n_folds`` − 1) per object, fold sizes differing by at most one.

    Examples
    --------
    >>> np.bincount(assign_object_folds(10, 3)).tolist()
    [4, 3, 3]
    """
    check_int("n_folds", n_folds, minimum=2)
    if n_objects < n_folds:
        raise ConfigError(f"{n_objects} objects cannot fill {n_folds} folds", source="n_folds",
                          fix="pass fewer folds")
    rng = np.random.default_rng(resolve_seed(random_state))
    folds = np.empty(n_objects, dtype=np.int64)
    folds[rng.permutation(n_objects)] = np.arange(n_objects) % n_folds
    return folds


def fold_triplets(triplets: np.ndarray, folds: np.ndarray, *, source: str = "triplets") -> list[np.ndarray]:
    """Row indices of the triplets whose three objects all lie in each fold.

    Raises
    ------
    DataError
        A fold keeps no triplet (name the fold and what to change).

    Examples
    --------
    >>> [r.tolist() for r in fold_triplets(np.array([[0, 1, 2], [3, 4, 5], [1, 2, 3]]), np.array([0, 0, 0, 1, 1, 1]))]
    [[0], [1]]
    """
    t = np.asarray(triplets)
    f = np.asarray(folds)[t]
    same = (f[:, 0] == f[:, 1]) & (f[:, 0] == f[:, 2])
    rows = [np.flatnonzero(same & (f[:, 0] == k)) for k in range(int(np.max(folds)) + 1)]
    empty = [k for k, r in enumerate(rows) if len(r) == 0]
    if empty:
        raise DataError(f"object fold(s) {empty} keep no triplet with all three objects inside "
                        f"({int(same.sum())} of {len(t)} triplets lie within one fold)", source=source,
                        fix="use fewer folds, or more triplets per object")
    return rows


def split_triplets(triplets: np.ndarray, folds: np.ndarray, test_fold: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the training triplets (no object in ``test_fold``) and test triplets (all three in it).

    Examples
    --------
    >>> t = np.array([[0, 1, 2], [3, 4, 5], [0, 3, 4]])
    >>> [a.tolist() for a in split_triplets(t, np.array([0, 0, 0, 1, 1, 1]), 1)]
    [[0], [1]]
    """
    inside = np.asarray(folds)[np.asarray(triplets)] == test_fold
    return np.flatnonzero(~inside.any(axis=1)), np.flatnonzero(inside.all(axis=1))


def _fit_score(estimator: LinearProbe, lam: float, X: np.ndarray, t: np.ndarray, c: np.ndarray,
               train: np.ndarray, test: np.ndarray) -> float:
    probe = clone(estimator).set_params(lam=lam)
    probe.fit(X, t[train], c[train])
    return probe.score(X, t[test], c[test])


def select_lambda(estimator: LinearProbe, X: Any, triplets: np.ndarray, choices: np.ndarray, *,
                  lams: Sequence[float] = LAMBDA_GRID, n_folds: int = 3, random_state: Any = 0,
                  objects: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """The λ with the best mean held-out-object accuracy in an object-fold CV (ties: the larger λ).

    ``objects`` restricts the folds to these object positions (the outer
    training objects in a nested CV); ``triplets`` must only use them.
    Returns ``(best λ, accuracies (n_lams, n_folds))``.

    Examples
    --------
    >>> import torch; torch.set_num_threads(1)
    >>> from neuroalign.datasets.triplet_simulator import simulate_triplets
    >>> sim = simulate_triplets(40, 3, 4000, seed=0)
    >>> probe = LinearProbe(optimizer="lbfgs", max_epochs=2, validation_fraction=0)
    >>> lam, acc = select_lambda(probe, sim.X, sim.triplets, sim.choices, lams=(1.0, 1e-3), n_folds=2)
    >>> acc.shape
    (2, 2)
    """
    X = _features(X)
    objects = np.arange(len(X)) if objects is None else np.asarray(objects)
    folds = np.full(len(X), -1, dtype=np.int64)
    folds[objects] = assign_object_folds(len(objects), n_folds, random_state=random_state)
    fold_triplets(triplets, folds, source="triplets (inner folds)")
    acc = np.empty((len(lams), n_folds))
    for k in range(n_folds):
        train, test = split_triplets(triplets, folds, k)
        for i, lam in enumerate(lams):
            acc[i, k] = _fit_score(estimator, lam, X, triplets, choices, train, test)
    mean = acc.mean(axis=1)
    order = np.argsort(-np.asarray(lams, dtype=float), kind="stable")  # larger λ first among ties
    best = order[np.argmax(mean[order])]
    return float(lams[best]), acc


def cross_validate_probe(X: Any, triplets: Any, choices: Any, *, estimator: LinearProbe | None = None,
                         lams: Sequence[float] = LAMBDA_GRID, n_folds: int = 3, inner_folds: int = 3,
                         random_state: Any = 0, progress: bool = False) -> Score:
    """Held-out-object accuracy of a probe, with λ chosen by nested object-fold CV.

    Parameters
    ----------
    X : array_like (n_objects, p)
        Features of every object.
    triplets, choices : array_like
        Index-form triplets ``(n, 3)`` and odd-one positions ``(n,)``.
    estimator : LinearProbe or GLocalProbe, optional
        The probe to fit (cloned; its ``lam`` is replaced by the selected λ).
        ``LinearProbe()`` by default.
    lams : sequence of float
        λ grid (1 … 1e-5 by default).
    n_folds, inner_folds : int
        Outer object folds (reported) and inner folds (λ selection).
    random_state : int
        Seed of the object folds.
    progress : bool
        Progress bar over outer folds.

    Returns
    -------
    Score
        Value: mean held-out accuracy over the outer folds; ``raw``: the
        accuracy per fold (dim ``fold``, coords ``lam`` and ``n_test``);
        ``error``: their standard deviation; ``params``: the selected λ per
        fold.

    Raises
    ------
    DataError
        A fold (outer or inner) keeps no triplet, or bad triplets.

    Examples
    --------
    >>> import torch; torch.set_num_threads(1)
    >>> from neuroalign.datasets.triplet_simulator import simulate_triplets
    >>> sim = simulate_triplets(60, 4, 6000, seed=0)
    >>> probe = LinearProbe(optimizer="lbfgs", max_epochs=3, validation_fraction=0)
    >>> score = cross_validate_probe(sim.X, sim.triplets, sim.choices, estimator=probe, lams=(1e-1, 1e-3),
    ...                              n_folds=2, inner_folds=2)
    >>> score.raw.dims
    ('fold',)
    """
    X = _features(X)
    triplets, choices = check_triplets(triplets, len(X), choices, source="triplets")
    estimator = LinearProbe() if estimator is None else estimator
    if not len(lams):
        raise ConfigError("the λ grid is empty", source="lams", fix="pass e.g. lams=(1, 1e-2, 1e-4)")
    seed = resolve_seed(random_state)
    folds = assign_object_folds(len(X), n_folds, random_state=seed)
    fold_triplets(triplets, folds)
    accuracies, chosen, n_test = [], [], []
    for k in tqdm(range(n_folds), desc="object folds", disable=not progress, leave=False):
        train, test = split_triplets(triplets, folds, k)
        lam, _ = select_lambda(estimator, X, triplets[train], choices[train], lams=lams, n_folds=inner_folds,
                               random_state=seed + 1 + k, objects=np.flatnonzero(folds != k))
        accuracies.append(_fit_score(estimator, lam, X, triplets, choices, train, test))
        chosen.append(lam)
        n_test.append(len(test))
        log.info("object fold %d: λ = %g, held-out accuracy %.4f on %d triplets", k, lam, accuracies[-1], len(test))
    params = {"estimator": type(estimator).__name__, "estimator_params": _jsonable(estimator.get_params()),
              "lams": [float(v) for v in lams], "n_folds": n_folds, "inner_folds": inner_folds, "random_state": seed,
              "selected_lams": chosen}
    raw = xr.DataArray(np.array(accuracies), dims=("fold",),
                       coords={"fold": np.arange(n_folds), "lam": ("fold", chosen), "n_test": ("fold", n_test)},
                       attrs=provenance(params, {"features": X, "triplets": triplets, "choices": choices}))
    return Score(float(np.mean(accuracies)), error=float(np.std(accuracies, ddof=1)), raw=raw,
                 metric="triplet-probe-accuracy", params=params)


def _jsonable(params: dict) -> dict:
    return {k: v for k, v in params.items() if isinstance(v, (int, float, str, bool, type(None)))}
