"""Label-efficiency curves: the test score of a method trained on 10, 20, 50, 100, 200 labelled subjects.

For every seed, the labelled subjects are drawn from the pool (every subject
not in the fixed test set, or ``pool``) with a :class:`numpy.random.Generator`
seeded with the seed: each class's pool members are shuffled once, and a size
of ``n`` takes the first ``n / K`` of each of the K classes (the remainder
going to classes in a seeded random order), so the classes are balanced and
the labelled sets of one seed are nested (the 10 are among the 20, …), which
makes the points of a curve comparable.  Regression targets are drawn without
balancing, nested the same way.

The method is either a linear probe of fixed embeddings
(:func:`~neuroalign.graphs.probes.fit_probe`: nested CV on the labelled
subjects only) or any estimator made by a factory ``method(seed)``, e.g. a
:class:`~neuroalign.graphs.finetune.GraphFineTuner` on graphs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from scipy import stats
from tqdm.auto import tqdm

from ..data.provenance import provenance
from ..errors import ConfigError, DataError
from ..score import Score
from ._probe_data import ProbeData, labelled_subjects, probe_data, resolve_subjects
from .probes import METRICS, _check_seeds, _check_task, fit_probe, probe_metric

__all__ = ["label_efficiency", "label_efficiency_score", "balanced_draws", "SIZES", "N_LABELLED"]

#: The default numbers of labelled subjects.
SIZES = (10, 20, 50, 100, 200)
N_LABELLED = "n_labelled"


def balanced_draws(codes: np.ndarray, sizes: Sequence[int], seed: int, *, balanced: bool = True,
                   n_classes: int | None = None) -> list[np.ndarray]:
    """Nested index sets of ``sizes`` elements, class-balanced when ``balanced`` (``codes`` 0 … K-1).

    Parameters
    ----------
    codes : numpy.ndarray
        Class code of each candidate (ignored when ``balanced=False``).
    sizes : sequence of int
        Set sizes, increasing.
    seed : int
        Seeds the :class:`numpy.random.Generator` of the draw.
    balanced : bool
        Take ``size // K`` of every class, the remainder going to classes in a
        seeded random order.
    n_classes : int, optional
        K (default: the largest code + 1).

    Returns
    -------
    list of numpy.ndarray
        Sorted indices into ``codes``, one set per size; each set holds the previous one.

    Raises
    ------
    DataError
        A class (or the pool) has fewer candidates than a size needs.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.graphs.label_curves import balanced_draws
    >>> codes = np.array([0] * 10 + [1] * 30)
    >>> small, large = balanced_draws(codes, [4, 10], seed=0)
    >>> np.bincount(codes[small]).tolist(), np.bincount(codes[large]).tolist(), bool(np.isin(small, large).all())
    ([2, 2], [5, 5], True)
    """
    rng = np.random.default_rng(seed)
    codes = np.asarray(codes)
    if not balanced:
        order = rng.permutation(len(codes))
        if max(sizes) > len(codes):
            raise DataError(f"{max(sizes)} labelled subjects asked for, the pool holds {len(codes)}",
                            source="sizes", fix=f"pass sizes of at most {len(codes)}, or a larger pool")
        return [np.sort(order[:n]) for n in sizes]
    k = int(n_classes) if n_classes is not None else int(codes.max(initial=-1)) + 1
    if k < 1:
        raise DataError("the pool is empty", source="pool", fix="pass a pool of labelled subjects")
    members = [rng.permutation(np.flatnonzero(codes == c)) for c in range(k)]
    rank = np.argsort(rng.permutation(k))  # which classes get the remainder first
    draws = []
    for n in sizes:
        quota = n // k + (rank < n % k)
        short = np.flatnonzero(quota > np.array([len(m) for m in members]))
        if short.size:
            c = int(short[0])
            raise DataError(f"{n} labelled subjects need {quota[c]} of class code {c}, the pool holds "
                            f"{len(members[c])}", source="sizes",
                            fix="pass smaller sizes, or a pool with more subjects of every class")
        draws.append(np.sort(np.concatenate([m[:q] for m, q in zip(members, quota)])))
    return draws


def label_efficiency(
    data: Any,
    target: Any,
    *,
    test: Any,
    method: str | Callable[[int], Any] = "probe",
    task: str = "classification",
    sizes: Sequence[int] = SIZES,
    seeds: int | Sequence[int] = (0, 1, 2, 3, 4),
    pool: Any = None,
    probe_params: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> xr.DataArray:
    """The test AUROC or R² of a method trained on growing labelled sets, over seeds.

    Parameters
    ----------
    data : xarray.DataArray or ConnectivityGraphs
        ``(subject, feature)`` embeddings (for a probe or an estimator on
        arrays) or a :class:`~neuroalign.graphs.dataset.ConnectivityGraphs`
        (for an estimator on graphs, e.g. a fine-tuner).
    target : str or array-like
        A label coordinate (embeddings) or label name (graphs), labels
        indexed by subject id (DataArray on ``subject``, pandas Series), or
        an array in the data's subject order.
    test : array-like
        The fixed test subjects: ids, or positions when ids are not integers.
    method : "probe" or callable
        ``"probe"``: logistic/ridge probe, C or alpha by inner CV on the
        labelled subjects (:func:`~neuroalign.graphs.probes.fit_probe`, with
        ``probe_params`` such as ``grid`` or ``inner_splits``).  A callable:
        ``method(seed)`` returns an unfitted estimator, fitted with
        ``fit(X, y)`` (embeddings as a float array) or ``fit(graphs, y)``
        (``data.subset(...)``), ``y`` the original labels; its test scores
        come from ``decision_function`` (two classes, else
        ``predict_proba``) or ``predict`` (regression).
    task : {"classification", "regression"}
    sizes : sequence of int
        Numbers of labelled subjects (default 10, 20, 50, 100, 200).
    seeds : int or sequence of int
        One labelled draw per seed (an int is one seed) (and the probe's inner folds, or the
        factory's seed).
    pool : array-like, optional
        Subjects the labelled ones are drawn from (default: all but ``test``).
    probe_params : mapping, optional
        ``grid`` and ``inner_splits`` of the probe.
    progress : bool
        Show a progress bar over (size, seed).

    Returns
    -------
    xarray.DataArray
        ``(n_labelled, seed)`` AUROC or R² on the test subjects (name
        ``"auroc"``/``"r2"``), attrs with provenance; summarise it with
        :func:`label_efficiency_score`.

    Raises
    ------
    DataError
        The pool has too few subjects of a class for a size, labels missing
        for test or pool subjects, a single class, a test set without every class.
    ConfigError
        Bad sizes, seeds, method or overlapping ``pool``/``test``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.graphs.label_curves import label_efficiency
    >>> rng = np.random.default_rng(0)
    >>> group = np.arange(120) % 2
    >>> emb = xr.DataArray(rng.normal(size=(120, 3)) + 2 * group[:, None], dims=("subject", "feature"),
    ...                    coords={"subject": np.arange(120), "group": ("subject", group)})
    >>> curve = label_efficiency(emb, "group", test=np.arange(60, 120), sizes=(10, 40), seeds=(0, 1),
    ...                          probe_params={"grid": [1.0]})
    >>> curve.dims, bool((curve > 0.9).all())
    (('n_labelled', 'seed'), True)
    """
    _check_task(task)
    seed_list = _check_seeds(seeds)
    size_list = _check_sizes(sizes)
    on_graphs = not isinstance(data, xr.DataArray)
    if on_graphs:
        if not callable(method):
            raise ConfigError("a probe needs embeddings (a DataArray); graphs need an estimator factory",
                              source="method", fix="pass method=lambda seed: GraphFineTuner(..., random_state=seed)"
                                                   " or the embeddings of the graphs")
        _check_graphs(data)
        subjects = labelled_subjects(data.subjects, data.labels, target, task=task, name="data")
    else:
        subjects = probe_data(data, target, task=task, name="data")
    if not (method == "probe" or callable(method)):
        raise ConfigError(f"method must be 'probe' or a factory method(seed) -> estimator, got {method!r}",
                          source="method", fix="pass method='probe' or a callable")
    params = dict(probe_params or {})
    unknown = sorted(set(params) - {"grid", "inner_splits"})
    if unknown:
        raise ConfigError(f"probe_params takes grid and inner_splits, got {unknown}", source="probe_params",
                          fix="pass e.g. probe_params={'inner_splits': 3}")
    test_idx = resolve_subjects(subjects, None, test)[1]
    pool_idx = (np.setdiff1d(np.arange(subjects.n_subjects), test_idx) if pool is None
                else resolve_subjects(subjects, pool, test)[0])
    used = np.union1d(pool_idx, test_idx)
    subjects = subjects.take(used).encoded()
    pool_idx, test_idx = np.searchsorted(used, pool_idx), np.searchsorted(used, test_idx)
    codes = subjects.codes
    values = np.empty((len(size_list), len(seed_list)))
    with tqdm(total=values.size, disable=not progress, desc="label efficiency") as bar:
        for j, seed in enumerate(seed_list):
            draws = balanced_draws(codes[pool_idx], size_list, seed, balanced=task == "classification",
                                   n_classes=None if subjects.class_names is None else len(subjects.class_names))
            for i, draw in enumerate(draws):
                train_idx = pool_idx[draw]
                if method == "probe":
                    subjects.check_split(train_idx, test_idx, inner_splits=params.get("inner_splits", 3))
                    model, _ = fit_probe(subjects.x[train_idx], codes[train_idx], task=task, seed=seed, **params)
                    scores = _scores_of(model, subjects.x[test_idx], task)
                else:
                    subjects.check_split(train_idx, test_idx, inner_splits=1)
                    scores = _fit_factory(method, seed, data, subjects, train_idx, test_idx, task, on_graphs)
                values[i, j] = float(probe_metric(task, codes[test_idx], scores))
                bar.update()
    if not np.isfinite(values).all():
        raise DataError("the method gave a non-finite test score", source="method",
                        fix="check the method's predictions (NaN or constant)")
    metric = METRICS[task]
    record = {"task": task, "method": method if isinstance(method, str) else getattr(method, "__name__", "factory"),
              "sizes": size_list, "seeds": seed_list, "n_test": len(test_idx), "n_pool": len(pool_idx),
              "probe_params": params, "classes": subjects.class_names,
              "sampling": "class-balanced, nested" if task == "classification" else "random, nested"}
    inputs = {"target": codes, "test": subjects.subjects[test_idx].astype(str)}
    inputs["data"] = data if not on_graphs else str(getattr(data, "content_hash", ""))
    return xr.DataArray(values, dims=(N_LABELLED, "seed"), coords={N_LABELLED: size_list, "seed": seed_list},
                        name=metric, attrs=provenance(record, inputs))


def _check_sizes(sizes: Any) -> list[int]:
    values = list(sizes) if not isinstance(sizes, (int, np.integer)) else [sizes]
    if not values or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 2
                             for n in values) or sorted(set(values)) != values:
        raise ConfigError(f"sizes must be increasing integers of at least 2, got {sizes!r}", source="sizes",
                          fix="pass e.g. sizes=(10, 20, 50, 100, 200)")
    return [int(n) for n in values]


def _check_graphs(data: Any) -> None:
    if not all(hasattr(data, name) for name in ("subjects", "labels", "subset")):
        raise ConfigError(f"data must be embeddings (a DataArray) or a ConnectivityGraphs, got {type(data).__name__}",
                          source="data", fix="pass GraphMAEPretrainer.transform(dataset) or the dataset")


def _scores_of(model: Any, x: Any, task: str) -> np.ndarray:
    if task == "regression":
        return np.asarray(model.predict(x), dtype=float)
    classes = getattr(model, "classes_", None)
    if classes is not None and len(classes) == 2 and hasattr(model, "decision_function"):
        return np.asarray(model.decision_function(x), dtype=float)
    return np.asarray(model.predict_proba(x), dtype=float)


def _fit_factory(method: Callable[[int], Any], seed: int, data: Any, subjects: ProbeData, train_idx: np.ndarray,
                 test_idx: np.ndarray, task: str, on_graphs: bool) -> np.ndarray:
    """Fit ``method(seed)`` on the training subjects; its scores on the test subjects (in id order)."""
    labels = subjects.labels if task == "classification" else subjects.codes
    estimator = method(seed)
    if not on_graphs:
        estimator.fit(subjects.x[train_idx], _array(labels[train_idx]))
        return _scores_of(estimator, subjects.x[test_idx], task)
    # graphs are subset in the dataset's own order; labels follow that order
    train_rows, test_rows = subjects.order[train_idx], subjects.order[test_idx]
    train_sort, test_sort = np.argsort(train_rows), np.argsort(test_rows)
    estimator.fit(data.subset(train_rows[train_sort]), _array(labels[train_idx][train_sort]))
    scores = _scores_of(estimator, data.subset(test_rows[test_sort]), task)
    back = np.empty_like(test_sort)
    back[test_sort] = np.arange(len(test_sort))
    return scores[back]  # back to id order


def _array(labels: np.ndarray) -> np.ndarray:
    """Object labels as a plain numeric or string array where possible."""
    try:
        return np.asarray(labels.tolist())
    except (TypeError, ValueError):
        return labels


def label_efficiency_score(curve: xr.DataArray, *, ci_level: float = 0.95) -> Score:
    """Summarise a label-efficiency curve over seeds: mean, standard error and t interval per size.

    The test set is fixed, so the interval covers the draw of the labelled
    subjects and the method's own randomness, not the sampling of the test
    subjects.

    Parameters
    ----------
    curve : xarray.DataArray
        ``(n_labelled, seed)`` values of :func:`label_efficiency` (at least two seeds).
    ci_level : float

    Returns
    -------
    Score
        Dims ``n_labelled``; value the mean over seeds; error the standard
        deviation over seeds / √seeds; CI mean ± t(seeds − 1) × error
        (clipped to [0, 1] for AUROC, at most 1 for R²); raw the curve.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.graphs.label_curves import label_efficiency_score
    >>> curve = xr.DataArray([[0.6, 0.7], [0.8, 0.9]], dims=("n_labelled", "seed"),
    ...                      coords={"n_labelled": [10, 20], "seed": [0, 1]}, name="auroc")
    >>> label_efficiency_score(curve).values.values.round(2).tolist()
    [0.65, 0.85]
    """
    if not isinstance(curve, xr.DataArray) or set(curve.dims) != {N_LABELLED, "seed"}:
        raise ConfigError("expected the (n_labelled, seed) DataArray of label_efficiency", source="curve",
                          fix="pass the result of label_efficiency(...)")
    n = curve.sizes["seed"]
    if n < 2:
        raise DataError(f"{n} seed: an interval over seeds needs at least 2", source="curve",
                        fix="run label_efficiency with seeds=(0, 1, 2, 3, 4)")
    mean = curve.mean("seed")
    error = curve.std("seed", ddof=1) / np.sqrt(n)
    half = float(stats.t.ppf(0.5 + ci_level / 2, df=n - 1)) * error
    upper = 1.0
    lower = 0.0 if curve.name == "auroc" else -np.inf
    ci = ((mean - half).clip(lower, upper), (mean + half).clip(lower, upper))
    return Score(mean, error=error, ci=ci, raw=curve, metric=f"label-efficiency-{curve.name or 'score'}",
                 params={"ci": "t over seeds (test set fixed)", "n_seeds": n}, ci_level=ci_level)
