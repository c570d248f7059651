"""Linear probes on frozen subject embeddings, with nested cross-validation.

A probe asks how much of a label a fixed embedding holds linearly:

1. the embeddings ``(subject, feature)`` and the label are matched on subject
   ids (an exact match is required: never a silent reorder or drop);
2. subjects are put in the order of their ids, so a result depends on the set
   of subjects, not on the order they are stored in;
3. outer folds (stratified K-fold, repeated over ``seeds``), or one explicit
   ``train``/``test`` split, evaluate; on each training set an inner
   (stratified) K-fold chooses the regularisation from a grid (nested CV),
   then the probe is refitted on the whole training set;
4. the probe is a :class:`~sklearn.pipeline.Pipeline` of a
   :class:`~sklearn.preprocessing.StandardScaler` and an L2
   :class:`~sklearn.linear_model.LogisticRegression` (classification, metric
   AUROC, one-vs-rest macro average for more than two classes) or a
   :class:`~sklearn.linear_model.Ridge` (regression, metric R²).

The inner CV scores candidates with the outer metric and keeps the first best
one in grid order (what :class:`~sklearn.model_selection.GridSearchCV` keeps).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr
from scipy import stats
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm

from ..compare.common.bootstrap import bootstrap_indices
from ..data.provenance import hash_array, provenance
from ..errors import ConfigError, DataError, UnknownNameError
from ..score import Score
from ._probe_data import ProbeData, probe_data, resolve_subjects

__all__ = ["probe", "probe_metric", "fit_probe", "ProbeData", "probe_data", "TASKS", "C_GRID", "ALPHA_GRID",
           "METRICS"]

TASKS = ("classification", "regression")
#: The metric of each task.
METRICS = {"classification": "auroc", "regression": "r2"}
#: Inverse regularisation strengths C of the logistic probe: 10^-4 … 10^4, ten values
#: (the grid of scikit-learn's ``LogisticRegressionCV(Cs=10)``).
C_GRID = tuple(float(c) for c in np.logspace(-4, 4, 10))
#: Penalties alpha of the ridge probe: 10^-3 … 10^5, nine values.
ALPHA_GRID = tuple(float(a) for a in np.logspace(-3, 5, 9))
SEED, FOLD = "seed", "fold"
_MAX_ITER = 10_000


def probe_metric(task: str, y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """AUROC (classification) or R² (regression) along the last axis, batched over leading axes.

    Parameters
    ----------
    task : {"classification", "regression"}
    y : numpy.ndarray
        ``(..., n)``: class codes ``0 … K-1`` (classification) or targets.
    scores : numpy.ndarray
        Classification: ``(..., n)`` decision values of class 1 (two classes)
        or ``(..., n, K)`` class probabilities (one-vs-rest AUROC, macro
        average, as ``roc_auc_score(multi_class="ovr")``).  Regression:
        ``(..., n)`` predictions.

    Returns
    -------
    numpy.ndarray
        One value per leading index; NaN where the metric is undefined (one
        class only, a constant target).

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.graphs.probes import probe_metric
    >>> float(probe_metric("classification", np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])))
    0.75
    """
    y = np.asarray(y)
    scores = np.asarray(scores, dtype=float)
    if task == "regression":
        y = y.astype(float)
        total = ((y - y.mean(axis=-1, keepdims=True)) ** 2).sum(axis=-1)
        residual = ((y - scores) ** 2).sum(axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(total > 0, 1 - residual / np.where(total > 0, total, 1), np.nan)
    if scores.ndim == y.ndim:  # two classes: decision values of class 1
        return _binary_auroc(y == 1, scores)
    per_class = [_binary_auroc(y == k, scores[..., k]) for k in range(scores.shape[-1])]
    return np.mean(per_class, axis=0)


def _binary_auroc(positive: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Mann–Whitney AUROC (ties count one half) along the last axis."""
    ranks = stats.rankdata(scores, axis=-1)  # average ranks of ties
    n_pos = positive.sum(axis=-1)
    n_neg = positive.shape[-1] - n_pos
    rank_sum = np.where(positive, ranks, 0.0).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), value, np.nan)


def _estimator(task: str, value: float) -> Pipeline:
    if task == "classification":
        model = LogisticRegression(C=value, max_iter=_MAX_ITER)
    else:
        model = Ridge(alpha=value)
    return Pipeline([("scale", StandardScaler()), ("model", model)])


def _scores(task: str, estimator: Pipeline, x: np.ndarray) -> np.ndarray:
    """What the metric needs: decision values (two classes), probabilities (more), predictions (regression)."""
    if task == "regression":
        return estimator.predict(x)
    if len(estimator.classes_) == 2:
        return estimator.decision_function(x)
    return estimator.predict_proba(x)


def _splitter(task: str, n_splits: int, seed: int):
    kind = StratifiedKFold if task == "classification" else KFold
    return kind(n_splits=n_splits, shuffle=True, random_state=seed)


def fit_probe(x: np.ndarray, y: np.ndarray, *, task: str = "classification", grid: Sequence[float] | None = None,
              inner_splits: int = 3, seed: int = 0) -> tuple[Pipeline, float]:
    """Choose the regularisation by inner K-fold CV, then refit on all of ``x``.

    Parameters
    ----------
    x : numpy.ndarray
        ``(n, features)`` training embeddings.
    y : numpy.ndarray
        Class codes ``0 … K-1`` (every class present) or regression targets.
    task : {"classification", "regression"}
    grid : sequence of float, optional
        Candidate C (classification, default :data:`C_GRID`) or alpha
        (regression, default :data:`ALPHA_GRID`).
    inner_splits : int
        Inner folds (stratified for classification), shuffled with ``seed``.
    seed : int

    Returns
    -------
    (Pipeline, float)
        The refitted probe and the chosen C or alpha: the first grid value
        with the best mean inner-fold AUROC or R².

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.graphs.probes import fit_probe
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(30, 3)); y = (x[:, 0] > 0).astype(int)
    >>> model, c = fit_probe(x, y, grid=[0.01, 1.0], inner_splits=3)
    >>> c, float((model.predict(x) == y).mean()) > 0.9
    (1.0, True)
    """
    grid = _grid(task, grid)
    inner = list(_splitter(task, inner_splits, seed).split(x, y))
    mean_scores = np.empty(len(grid))
    for g, value in enumerate(grid):  # one fit per candidate and fold
        fold_scores = []
        for train, test in inner:
            fitted = _estimator(task, value).fit(x[train], y[train])
            fold_scores.append(float(probe_metric(task, y[test], _scores(task, fitted, x[test]))))
        mean_scores[g] = np.mean(fold_scores)
    if np.isnan(mean_scores).all():
        raise DataError("the inner cross-validation gave no finite score (a class or target value missing from "
                        "every inner test fold)", source="inner_splits", fix="use fewer inner folds")
    best = int(np.nanargmax(mean_scores))
    return _estimator(task, grid[best]).fit(x, y), grid[best]


def _grid(task: str, grid: Sequence[float] | None) -> list[float]:
    if grid is None:
        return list(C_GRID if task == "classification" else ALPHA_GRID)
    values = np.asarray(list(grid), dtype=float).ravel()
    if values.size == 0 or not np.all(np.isfinite(values) & (values > 0)):
        raise ConfigError(f"grid must hold positive finite values, got {list(grid)!r}", source="grid",
                          fix="pass e.g. grid=numpy.logspace(-4, 4, 10)")
    return [float(v) for v in values]


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise UnknownNameError(task, TASKS, what="task", source="task")


def _check_splits(value: Any, name: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 2:
        raise ConfigError(f"{name} must be an integer of at least 2, got {value!r}", source=name,
                          fix=f"pass {name}=5 (or another integer >= 2)")
    return int(value)


def _check_seeds(seeds: Any) -> list[int]:
    values = [seeds] if isinstance(seeds, (int, np.integer)) else list(seeds)
    if not values or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0
                             for s in values) or len(set(values)) != len(values):
        raise ConfigError(f"seeds must be distinct non-negative integers, got {seeds!r}", source="seeds",
                          fix="pass e.g. seeds=(0, 1, 2, 3, 4)")
    return [int(s) for s in values]


def probe(
    embeddings: xr.DataArray,
    target: Any,
    *,
    task: str = "classification",
    train: Any = None,
    test: Any = None,
    n_splits: int = 5,
    seeds: int | Sequence[int] = (0,),
    inner_splits: int = 3,
    grid: Sequence[float] | None = None,
    n_bootstrap: int = 1000,
    random_state: int = 0,
    progress: bool = False,
) -> Score:
    """Score a linear probe of a label on frozen embeddings, with nested cross-validation.

    Parameters
    ----------
    embeddings : xarray.DataArray
        ``(subject, feature)`` embeddings (any name for the feature dim),
        finite, one row per distinct subject id.
    target : str or array-like
        The label: the name of a coordinate on ``subject``; a DataArray on
        ``subject`` or a pandas Series indexed by subject id (matched on ids,
        which must be the same set); or a plain array in the embeddings'
        subject order.
    task : {"classification", "regression"}
        Logistic regression scored by AUROC, or ridge regression scored by R².
    train, test : array-like, optional
        An explicit split: subject ids (or integer positions, when subject ids
        are not integers).  Give one and the other defaults to every other
        subject.  Without them, repeated K-fold CV is used.
    n_splits : int
        Outer folds (stratified for classification) of the K-fold CV.
    seeds : int or sequence of int
        Each seed (an int is one seed) shuffles one repetition of the outer
        folds and the inner folds inside it.  With an explicit split, seeds only shuffle the
        inner folds.
    inner_splits : int
        Inner folds that choose C or alpha on each training set.
    grid : sequence of float, optional
        Candidate C (default :data:`C_GRID`: 10^-4 … 10^4, ten values) or
        alpha (default :data:`ALPHA_GRID`: 10^-3 … 10^5, nine values).
    n_bootstrap : int
        Resamples of the test subjects for the CI of an explicit split.
    random_state : int
        Seeds the bootstrap of an explicit split.
    progress : bool
        Show a progress bar over (seed, fold).

    Returns
    -------
    Score
        Metric ``"probe-auroc"`` or ``"probe-r2"``.  Value: the mean over
        (seed, fold).  ``raw``: the values on dims ``(seed, fold)`` with the
        chosen ``C``/``alpha`` and the ``n_train``/``n_test`` of each fold as
        coordinates, and provenance.  Error and 95% CI, K-fold CV: the
        corrected repeated K-fold t interval over all seeds and folds
        (Nadeau & Bengio 2003; Bouckaert & Frank 2004): variance
        ``(1/J + n_test/n_train) s²`` of the J = seeds × folds values, t with
        J − 1 degrees of freedom, as fold values share training subjects.
        Explicit split: the standard deviation and percentile interval of
        the seed-mean metric over ``n_bootstrap`` resamples of the test
        subjects.  CIs of AUROC are clipped to [0, 1], of R² to at most 1.

    Raises
    ------
    SchemaError
        ``embeddings`` is not ``(subject, feature)``, or ``target`` names no
        subject coordinate.
    AlignmentError
        Embeddings and target hold different subjects, or a target array has
        another length.
    DataError
        Non-finite embeddings, labels missing for some subjects, a single
        class, fewer subjects (or members of a class) than folds, or a test
        set without every class.
    ConfigError
        Bad ``n_splits``, ``inner_splits``, ``seeds`` or ``grid``,
        overlapping or unknown ``train``/``test`` subjects.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.graphs.probes import probe
    >>> rng = np.random.default_rng(0)
    >>> group = np.repeat([0, 1], 20)
    >>> emb = xr.DataArray(rng.normal(size=(40, 4)) + group[:, None], dims=("subject", "feature"),
    ...                    coords={"subject": [f"s{i}" for i in range(40)], "group": ("subject", group)})
    >>> score = probe(emb, "group", grid=[0.1, 1.0])
    >>> score.metric, float(score) > 0.8, score.raw.dims
    ('probe-auroc', True, ('seed', 'fold'))
    """
    _check_task(task)
    data = probe_data(embeddings, target, task=task)
    n_splits, inner_splits = _check_splits(n_splits, "n_splits"), _check_splits(inner_splits, "inner_splits")
    seed_list, grid_values = _check_seeds(seeds), _grid(task, grid)
    explicit = train is not None or test is not None
    if explicit:  # only the subjects of the split need labels
        train_idx, test_idx = resolve_subjects(data, train, test)
        used = np.union1d(train_idx, test_idx)
        data = data.take(used).encoded()
        train_idx, test_idx = np.searchsorted(used, train_idx), np.searchsorted(used, test_idx)
        splits = {s: [(train_idx, test_idx)] for s in seed_list}
    else:
        data = data.encoded()
        data.check_folds(n_splits)
        splits = {s: list(_splitter(task, n_splits, s).split(data.x, data.codes)) for s in seed_list}
    for pairs in splits.values():
        for train_idx, test_idx in pairs:
            data.check_split(train_idx, test_idx, inner_splits=inner_splits)
    n_folds = len(splits[seed_list[0]])
    values = np.empty((len(seed_list), n_folds))
    chosen = np.empty_like(values)
    sizes = np.empty((len(seed_list), n_folds, 2), dtype=int)
    test_scores = []
    with tqdm(total=values.size, disable=not progress, desc="probe") as bar:
        for i, seed in enumerate(seed_list):
            for k, (train_idx, test_idx) in enumerate(splits[seed]):
                model, chosen[i, k] = fit_probe(data.x[train_idx], data.codes[train_idx], task=task,
                                                grid=grid_values, inner_splits=inner_splits, seed=seed)
                scores = _scores(task, model, data.x[test_idx])
                values[i, k] = float(probe_metric(task, data.codes[test_idx], scores))
                sizes[i, k] = len(train_idx), len(test_idx)
                test_scores.append(scores)
                bar.update()
    metric = METRICS[task]
    param = "C" if task == "classification" else "alpha"
    raw = xr.DataArray(values, dims=(SEED, FOLD), name=metric,
                       coords={SEED: seed_list, FOLD: np.arange(n_folds), param: ((SEED, FOLD), chosen),
                               "n_train": ((SEED, FOLD), sizes[..., 0]), "n_test": ((SEED, FOLD), sizes[..., 1])})
    params = {"task": task, "target": target if isinstance(target, str) else None, "classes": data.class_names,
              "split": "explicit" if explicit else "kfold", "n_splits": None if explicit else n_splits,
              "seeds": seed_list, "inner_splits": inner_splits, "grid": grid_values,
              "n_subjects": data.n_subjects, "embeddings_hash": hash_array(embeddings)}
    if explicit:
        params.update(n_bootstrap=n_bootstrap, random_state=random_state,
                      ci="bootstrap-percentile over test subjects")
        error, ci = _bootstrap_ci(task, data.codes[splits[seed_list[0]][0][1]], test_scores, n_bootstrap,
                                  random_state)
    else:
        params["ci"] = "corrected repeated k-fold t (Nadeau-Bengio)"
        error, ci = _corrected_t(values.ravel(), sizes[..., 1].mean() / sizes[..., 0].mean())
    ci = _clip(task, ci)
    raw.attrs.update(provenance(params, {"embeddings": params["embeddings_hash"], "target": data.codes}))
    return Score(float(values.mean()), error=error, ci=ci, raw=raw, metric=f"probe-{metric}", params=params)


def _corrected_t(values: np.ndarray, test_train_ratio: float, level: float = 0.95) -> tuple[float, tuple]:
    """Nadeau–Bengio corrected standard error and t interval of the mean of J resampled-CV values."""
    j = len(values)
    error = float(np.sqrt((1 / j + test_train_ratio) * values.var(ddof=1)))
    half = float(stats.t.ppf(0.5 + level / 2, df=j - 1)) * error
    mean = float(values.mean())
    return error, (mean - half, mean + half)


def _bootstrap_ci(task: str, y_test: np.ndarray, test_scores: list[np.ndarray], n_bootstrap: int,
                  random_state: int, level: float = 0.95) -> tuple[float, tuple]:
    """Spread of the seed-mean test metric over resamples of the test subjects (percentile interval)."""
    if not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 2:
        raise ConfigError(f"n_bootstrap must be an integer of at least 2, got {n_bootstrap!r}",
                          source="n_bootstrap", fix="pass e.g. n_bootstrap=1000")
    index = bootstrap_indices(len(y_test), int(n_bootstrap), seed=random_state)
    resampled = [probe_metric(task, y_test[index], s[index]) for s in test_scores]
    means = np.mean(resampled, axis=0)
    if np.isfinite(means).sum() < 2:
        raise DataError("fewer than two bootstrap resamples of the test subjects have a defined metric",
                        source="test", fix="use a larger test set")
    tail = (1 - level) / 2
    low, high = np.nanquantile(means, [tail, 1 - tail])
    return float(np.nanstd(means, ddof=1)), (float(low), float(high))


def _clip(task: str, ci: tuple[float, float]) -> tuple[float, float]:
    low, high = ci
    if task == "classification":
        return max(low, 0.0), min(high, 1.0)
    return min(low, 1.0), min(high, 1.0)
