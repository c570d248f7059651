"""How many units of one layer are needed to predict each unit of another (Li et al. 2015, sparse prediction).

Each unit of B is predicted from all units of A by L1-penalised linear regression (the lasso).  Along the
lasso path (:func:`sklearn.linear_model.lasso_path`), the penalty decreases and units of A enter the
prediction one after another; the number of units needed for a target is the fewest non-zero weights at
which the held-out R² reaches a threshold.  A few units means B's unit has close counterparts in A
(one-to-one or few-to-one), many means its information is spread over A's units.

Both layers are z-scored with the training stimuli's means and standard deviations (so the penalty treats
every unit of A alike), the path is fitted on the training stimuli and each point of it is scored on the
held-out stimuli: R² = 1 - SS_res / SS_tot around the held-out mean (scikit-learn's ``r2_score``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import xarray as xr
from sklearn.linear_model import lasso_path

from ...data.align import align
from ...data.provenance import provenance
from ...data.schema import NEUROID, NEUROID_ID, PRESENTATION, validate
from ...errors import ConfigError, DataError
from ...fitting.base import check_int, check_number, resolve_seed
from .correlation import CONSTANT_TOLERANCE, MIN_STIMULI, NEUROID_B

__all__ = ["sparse_prediction"]


def sparse_prediction(
    a: xr.DataArray,
    b: xr.DataArray,
    *,
    r2: float = 0.5,
    test_size: float = 0.25,
    n_alphas: int = 50,
    eps: float = 1e-3,
    random_state: int | None = 0,
    join: Literal["exact", "inner"] = "exact",
    constant: Literal["raise", "drop"] = "raise",
) -> xr.Dataset:
    """The number of units of ``a`` that a lasso needs to predict each unit of ``b`` to a held-out R².

    Parameters
    ----------
    a, b : xarray.DataArray
        ``(presentation, neuroid)`` activations over the same stimuli (aligned on ``stimulus_id``).
    r2 : float
        The held-out R² a target must reach, in (0, 1].
    test_size : float
        Share of the stimuli held out (drawn with ``random_state``), in (0, 1).
    n_alphas, eps : int, float
        The lasso path: ``n_alphas`` penalties on a log grid from the smallest penalty that keeps every
        weight at zero down to ``eps`` times it.
    random_state : int or None
        Seeds the held-out draw.
    join : {"exact", "inner"}
        As in :func:`neuroalign.data.align`.
    constant : {"raise", "drop"}
        Units of ``a`` constant over the training stimuli, and units of ``b`` constant over the training or
        the held-out stimuli (a sparsely active ReLU unit can be silent on every stimulus of one split),
        raise a :class:`~neuroalign.errors.DataError` naming them (default), or with ``"drop"`` are left
        out and listed in the attributes ``dropped_neuroid_id_a`` / ``dropped_neuroid_id_b``.

    Returns
    -------
    xarray.Dataset
        On ``neuroid_b`` (coord ``neuroid_id_b``): ``units_needed`` (int; ``-1`` where no point of the path
        reaches ``r2``, flagged by ``reached``), ``reached`` (bool), ``best_r2`` (the highest held-out R² on
        the path) and ``units_at_best``; attrs with provenance.

    Raises
    ------
    DataError
        Too few stimuli, non-finite values, or constant units with ``constant="raise"``.
    ConfigError
        A setting out of range.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.compare.matching.lasso_prediction import sparse_prediction
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(300, 10))
    >>> y = np.stack([x[:, 0], x[:, 1] + x[:, 2] + x[:, 3]], axis=1) + 0.05 * rng.normal(size=(300, 2))
    >>> ids = [f"s{i}" for i in range(300)]
    >>> out = sparse_prediction(create_assembly(x, stimulus_id=ids), create_assembly(y, stimulus_id=ids), r2=0.9)
    >>> out.units_needed.values.tolist()
    [1, 3]
    """
    r2 = check_number("r2", r2, low=0, high=1, low_open=True)
    test_size = check_number("test_size", test_size, low=0, high=1, low_open=True, high_open=True)
    n_alphas = check_int("n_alphas", n_alphas, minimum=2)
    eps = check_number("eps", eps, low=0, high=1, low_open=True, high_open=True)
    seed = resolve_seed(random_state)
    for array, name in ((a, "a"), (b, "b")):
        validate(array, dims=(PRESENTATION, NEUROID), name=name)
    a, b = align(a, b, join=join, names=("a", "b"))
    x = a.transpose(PRESENTATION, NEUROID).values.astype(np.float64)
    y = b.transpose(PRESENTATION, NEUROID).values.astype(np.float64)
    n = len(x)
    n_test = int(round(test_size * n))
    if n_test < MIN_STIMULI or n - n_test < MIN_STIMULI:
        raise DataError(f"{n} stimuli leave {n - n_test} for fitting and {n_test} for testing; each needs at least "
                        f"{MIN_STIMULI}", source="a/b", fix="pass more stimuli or change test_size")
    order = np.random.default_rng(seed).permutation(n)
    test, train = order[:n_test], order[n_test:]
    if constant not in ("raise", "drop"):
        raise ConfigError(f"constant must be 'raise' or 'drop', got {constant!r}", source="constant",
                          fix="pass constant='raise' (default) or constant='drop'")
    ids_a, ids_b = _ids(a), _ids(b)
    keep_a = _varying(x[train], ids_a, "a", constant, "the training stimuli")
    keep_b = (_varying(y[train], ids_b, "b", constant, "the training stimuli")
              & _varying(y[test], ids_b, "b", constant, "the held-out stimuli (hold out more: test_size)"))
    x_train, x_test = _zscore(x[train][:, keep_a], x[test][:, keep_a])
    y_train, y_test = _zscore(y[train][:, keep_b], y[test][:, keep_b])
    total = ((y_test - y_test.mean(axis=0)) ** 2).sum(axis=0)
    needed, best, at_best = [], [], []
    for j in range(y_train.shape[1]):
        # the grid of lasso_path's own default (an explicit array, the same in every scikit-learn version)
        largest = np.abs(x_train.T @ y_train[:, j]).max() / len(x_train)
        alphas = np.geomspace(largest, largest * eps, n_alphas)
        _, coefs, _ = lasso_path(x_train, y_train[:, j], alphas=alphas, tol=1e-8, max_iter=100_000)
        residual = y_test[:, [j]] - x_test @ coefs
        scores = 1 - (residual ** 2).sum(axis=0) / total[j]
        counts = (coefs != 0).sum(axis=0)
        ok = scores >= r2
        needed.append(int(counts[ok].min()) if ok.any() else -1)
        best.append(float(scores.max()))
        at_best.append(int(counts[scores.argmax()]))
    needed = np.array(needed, dtype=int)
    on_b = {f"{NEUROID_ID}_b": (NEUROID_B, ids_b[keep_b])}
    params = {"r2": r2, "test_size": test_size, "n_alphas": n_alphas, "eps": eps, "random_state": seed, "join": join,
              "constant": constant}
    dropped = {}
    if constant == "drop":
        dropped = {"dropped_neuroid_id_a": [str(i) for i in ids_a[~keep_a]],
                   "dropped_neuroid_id_b": [str(i) for i in ids_b[~keep_b]]}
    return xr.Dataset(
        {"units_needed": xr.DataArray(needed, dims=(NEUROID_B,), coords=on_b),
         "reached": xr.DataArray(needed >= 0, dims=(NEUROID_B,), coords=on_b),
         "best_r2": xr.DataArray(best, dims=(NEUROID_B,), coords=on_b),
         "units_at_best": xr.DataArray(at_best, dims=(NEUROID_B,), coords=on_b)},
        attrs={"n_units_a": int(keep_a.sum()), **dropped, **provenance(params, {"a": x, "b": y})})


def _ids(array: xr.DataArray) -> np.ndarray:
    return np.asarray(array[NEUROID_ID].values) if NEUROID_ID in array.coords else np.arange(array.sizes[NEUROID])


def _varying(x: np.ndarray, ids: np.ndarray, name: str, constant: str, where: str) -> np.ndarray:
    """Which columns vary over these stimuli; constant ones raise (naming them) unless ``constant='drop'``."""
    if not np.isfinite(x).all():
        raise DataError("the activations contain NaN or inf", source=name, fix="check the extraction")
    keep = x.std(axis=0) > CONSTANT_TOLERANCE * np.abs(x).max(axis=0)
    if not keep.all() and constant == "raise":
        raise DataError(f"{int((~keep).sum())} units are constant over {where} (e.g. neuroid_id "
                        f"{[str(i) for i in ids[~keep][:5]]})", source=name,
                        fix="pass constant='drop' to leave them out (listed in the result's attrs)")
    if not keep.any():
        raise DataError(f"every unit of {name} is constant over {where}", source=name, fix="check the inputs")
    return keep


def _zscore(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = train.mean(axis=0), train.std(axis=0)
    return (train - mean) / std, (test - mean) / std
