"""The geometry of abstraction (Bernardi et al. 2020, Cell): CCGP, parallelism score, shattering dimensionality.

For a representation whose presentations belong to conditions (combinations of task variables) and a
dichotomy of those conditions (a variable to read out):

- **cross-condition generalisation performance (CCGP)**: a linear classifier trained to tell the two sides
  apart on some conditions of each side is tested on the held-out conditions (``n_held_out`` per side, every
  such split, or ``max_splits`` of them drawn at random); the mean balanced accuracy over splits.  A variable
  coded along one direction, the same in every condition, generalises (CCGP near 1); condition means at
  random places do not (near 0.5).
- **parallelism score (PS)**: for each pairing of the conditions of one side with those of the other, the
  coding vectors (differences of paired condition means) and the mean cosine between every two of them;
  the maximum over pairings.
- **shattering dimensionality (SD)**: the mean cross-validated (stratified k-fold over presentations)
  balanced accuracy of a linear classifier over every balanced dichotomy of the conditions.

Classifiers are scikit-learn's ``LinearSVC`` (the paper's linear SVM, default) or ``LogisticRegression``,
after a ``StandardScaler`` fitted on the training presentations only.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from ..data.schema import label_index
from ..errors import ConfigError, DataError, UnknownNameError
from ..fitting.base import check_int, check_number, resolve_seed
from ..score import Score
from .conditions import Conditions, balanced_dichotomies, labelled_conditions

__all__ = ["CLASSIFIERS", "DICHOTOMY", "ccgp", "parallelism_score", "shattering_dimensionality"]

#: Valid values of ``classifier``.
CLASSIFIERS = ("svm", "logistic")
#: The dim that labels the dichotomies of a score.
DICHOTOMY = "dichotomy"
_HELD_OUT = ("auto", "matched", "all")
_MAX_PAIRED = 8  # the parallelism score enumerates m! pairings: 40,320 for 8 conditions per side


def _classifier(classifier: str, C: float, seed: int):
    if classifier not in CLASSIFIERS:
        raise UnknownNameError(classifier, CLASSIFIERS, what="classifier", source="classifier")
    C = check_number("C", C, low=0, low_open=True)
    if classifier == "svm":
        model = LinearSVC(C=C, dual="auto", max_iter=20_000, random_state=seed % 2**31)
    else:
        model = LogisticRegression(C=C, max_iter=2_000)
    return make_pipeline(StandardScaler(), model)


def _accuracy(model, x_train, y_train, x_test, y_test) -> float:
    fitted = clone(model).fit(x_train, y_train)
    return float(balanced_accuracy_score(y_test, fitted.predict(x_test)))


def _sides(conditions: Conditions, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.flatnonzero(positive), np.flatnonzero(~positive)


def _no_dichotomies(conditions: Conditions) -> None:
    if not conditions.dichotomies:
        raise ConfigError("no dichotomies to score", source="dichotomies",
                          fix="pass factors=[...], or dichotomies={'name': [conditions of one side]}")


def _ccgp_splits(conditions: Conditions, key: str, plus: np.ndarray, minus: np.ndarray, held_out: str,
                 n_held_out: int) -> list[tuple[int, ...]]:
    """The held-out conditions of every split of one dichotomy."""
    if held_out == "all":
        if min(len(plus), len(minus)) <= n_held_out:
            raise DataError(f"dichotomy {key!r} has {len(plus)} and {len(minus)} conditions on its sides; holding "
                            f"out {n_held_out} per side leaves none to train on", source="data",
                            fix="pass more conditions (e.g. another factor), or a smaller n_held_out")
        return [p + m for p, m in itertools.product(itertools.combinations(plus.tolist(), n_held_out),
                                                    itertools.combinations(minus.tolist(), n_held_out))]
    context = conditions.contexts[key]
    both = [c for c in np.unique(context) if np.isin(plus, np.flatnonzero(context == c)).any()
            and np.isin(minus, np.flatnonzero(context == c)).any()]
    if len(both) <= n_held_out:
        raise DataError(f"factor {key!r} has both its values in {len(both)} combination(s) of the other factors; "
                        f"holding out {n_held_out} leaves none to train on", source="data",
                        fix="pass another factor (each combination of factors is a condition), or n_held_out=1")
    splits = []
    for chosen in itertools.combinations(both, n_held_out):
        test = np.flatnonzero(np.isin(context, chosen))
        splits.append(tuple(int(c) for c in test))
    return splits


def ccgp(
    data: xr.DataArray,
    factors: Sequence[str] | None = None,
    *,
    condition: str | None = None,
    dichotomies: Mapping[str, Iterable[Any]] | None = None,
    held_out: str = "auto",
    n_held_out: int = 1,
    max_splits: int | None = None,
    classifier: str = "svm",
    C: float = 1.0,
    random_state: int | None = 0,
) -> Score:
    """Cross-condition generalisation performance of each dichotomy.

    Parameters
    ----------
    data : xarray.DataArray
        ``(presentation, neuroid)`` responses, several presentations per condition.
    factors : sequence of str, optional
        Binary presentation coords; each is a dichotomy, their combinations the conditions.
    condition, dichotomies
        Instead of ``factors``: a presentation coord of condition labels, and
        dichotomy name → the conditions of one side
        (see :func:`neuroalign.geometry.conditions.labelled_conditions`).
    held_out : {"auto", "matched", "all"}
        Which conditions a split holds out.  ``"matched"`` (with ``factors``):
        ``n_held_out`` combinations of the other factors' values, with both
        sides of the factor in each, so training and test differ only in the
        other factors (two factors: train at ``b=0``, test at ``b=1``, and
        back).  ``"all"``: ``n_held_out`` conditions of each side, in every
        combination (the paper's 16 splits of 8 conditions).  ``"auto"``:
        ``"matched"`` with ``factors``, ``"all"`` with ``dichotomies``.
    n_held_out : int
        How many contexts (``"matched"``) or conditions per side (``"all"``)
        each split holds out; at least one must stay for training.
    max_splits : int, optional
        Score at most this many splits per dichotomy, drawn without replacement
        with ``random_state`` (default: every split).
    classifier : {"svm", "logistic"}
        The linear classifier; ``C`` is its inverse regularisation strength.
    random_state : int or None
        Seeds the drawn splits and the SVM's coordinate descent.

    Returns
    -------
    Score
        Metric ``"ccgp"``, value dims ``(dichotomy,)``; ``raw`` holds the
        balanced accuracy of every split (dim ``split``, coords ``dichotomy``
        and ``held_out``).

    Raises
    ------
    DataError
        Too few conditions (fewer than ``n_held_out + 1`` on a side), a
        non-binary factor, constant responses.
    SchemaError
        A named coord is missing.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.geometry.abstraction import ccgp
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.integers(0, 2, 200), rng.integers(0, 2, 200)
    >>> x = np.outer(a, rng.normal(size=30)) + np.outer(b, rng.normal(size=30)) + rng.normal(size=(200, 30))
    >>> data = create_assembly(x, stimulus_id=range(200), presentation={"a": a, "b": b})
    >>> s = ccgp(data, ["a", "b"])
    >>> bool((s.data.score > 0.8).all())
    True
    """
    conditions = labelled_conditions(data, factors, condition=condition, dichotomies=dichotomies, name="data")
    _no_dichotomies(conditions)
    n_held_out = check_int("n_held_out", n_held_out, minimum=1)
    if held_out not in _HELD_OUT:
        raise UnknownNameError(held_out, _HELD_OUT, what="held-out scheme", source="held_out")
    if held_out == "auto":
        held_out = "matched" if conditions.contexts else "all"
    if held_out == "matched" and not conditions.contexts:
        raise ConfigError("held_out='matched' pairs conditions by the other factors, and no factors were given",
                          source="held_out", fix="pass factors=[...], or held_out='all' with dichotomies")
    if max_splits is not None:
        max_splits = check_int("max_splits", max_splits, minimum=1)
    seed = resolve_seed(random_state)
    model = _classifier(classifier, C, seed)
    rng = np.random.default_rng(seed)
    means, raw, names, held = [], [], [], []
    for key, positive in conditions.dichotomies.items():
        plus, minus = _sides(conditions, positive)
        splits = _ccgp_splits(conditions, key, plus, minus, held_out, n_held_out)
        if max_splits is not None and len(splits) > max_splits:
            splits = [splits[i] for i in np.sort(rng.choice(len(splits), size=max_splits, replace=False))]
        y = conditions.trial_labels(positive)
        scores = []
        for test_conditions in splits:
            test = np.isin(conditions.condition, test_conditions)
            scores.append(_accuracy(model, conditions.values[~test], y[~test], conditions.values[test], y[test]))
            held.append("|".join(conditions.labels[c] for c in test_conditions))
        means.append(np.mean(scores))
        raw.extend(scores)
        names.extend([key] * len(scores))
    value = xr.DataArray(means, dims=(DICHOTOMY,), coords={DICHOTOMY: label_index(conditions.dichotomies, DICHOTOMY)})
    raw_array = xr.DataArray(raw, dims=("split",), coords={DICHOTOMY: ("split", np.asarray(names, dtype=object)),
                                                           "held_out": ("split", np.asarray(held, dtype=object))})
    return Score(value, raw=raw_array, metric="ccgp",
                 params={"held_out": held_out, "n_held_out": n_held_out, "max_splits": max_splits,
                         "classifier": classifier, "C": C,
                         "random_state": seed, "conditions": list(conditions.labels)})


def _parallelism(means: np.ndarray, plus: np.ndarray, minus: np.ndarray, key: str) -> float:
    m = len(plus)
    directions = means[plus][:, None, :] - means[minus][None, :, :]  # (i, j, neuroid): plus_i - minus_j
    norms = np.linalg.norm(directions, axis=-1, keepdims=True)
    if (norms == 0).any():
        raise DataError(f"dichotomy {key!r}: two conditions on opposite sides have identical mean responses",
                        source="data", fix="check the labels, or drop duplicated conditions")
    unit = (directions / norms).reshape(m * m, -1)
    cosines = (unit @ unit.T).reshape(m, m, m, m)  # [i, j, k, l]: cos(plus_i - minus_j, plus_k - minus_l)
    pairings = np.array(list(itertools.permutations(range(m))))  # pairing p: plus_i ↔ minus_{p[i]}
    i, k = np.triu_indices(m, k=1)
    per_pairing = cosines[i, pairings[:, i], k, pairings[:, k]].mean(axis=1)
    return float(per_pairing.max())


def parallelism_score(
    data: xr.DataArray,
    factors: Sequence[str] | None = None,
    *,
    condition: str | None = None,
    dichotomies: Mapping[str, Iterable[Any]] | None = None,
) -> Score:
    """Parallelism score of each dichotomy: the best pairing's mean cosine between coding vectors.

    Parameters
    ----------
    data, factors, condition, dichotomies
        As in :func:`ccgp`.  Each dichotomy needs the same number of
        conditions on both sides (2 to 8).

    Returns
    -------
    Score
        Metric ``"parallelism"``, value dims ``(dichotomy,)`` in ``[-1, 1]``.

    Raises
    ------
    DataError
        Unequal sides, too few or too many conditions, identical condition
        means on opposite sides, constant responses.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.geometry.abstraction import parallelism_score
    >>> a, b = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    >>> x = np.stack([a, b, np.zeros(4)], axis=1) * 2.0   # each factor along its own axis
    >>> data = create_assembly(x, stimulus_id=range(4), presentation={"a": a, "b": b})
    >>> parallelism_score(data, ["a", "b"]).data.score.values.round(6).tolist()
    [1.0, 1.0]
    """
    conditions = labelled_conditions(data, factors, condition=condition, dichotomies=dichotomies, name="data")
    _no_dichotomies(conditions)
    means = conditions.means()
    scores = []
    for key, positive in conditions.dichotomies.items():
        plus, minus = _sides(conditions, positive)
        if len(plus) != len(minus) or not 2 <= len(plus) <= _MAX_PAIRED:
            raise DataError(f"dichotomy {key!r} has {len(plus)} and {len(minus)} conditions on its sides; the "
                            f"parallelism score pairs them one to one (2 to {_MAX_PAIRED} per side)",
                            source="dichotomies", fix="use balanced dichotomies of 4 to 16 conditions")
        scores.append(_parallelism(means, plus, minus, key))
    value = xr.DataArray(scores, dims=(DICHOTOMY,), coords={DICHOTOMY: label_index(conditions.dichotomies, DICHOTOMY)})
    return Score(value, metric="parallelism", params={"conditions": list(conditions.labels)})


def shattering_dimensionality(
    data: xr.DataArray,
    factors: Sequence[str] | None = None,
    *,
    condition: str | None = None,
    cv: int = 5,
    max_dichotomies: int | None = None,
    classifier: str = "svm",
    C: float = 1.0,
    random_state: int | None = 0,
) -> Score:
    """Shattering dimensionality: mean cross-validated decoding accuracy over all balanced dichotomies.

    Parameters
    ----------
    data, factors, condition
        As in :func:`ccgp` (only the conditions are used).
    cv : int
        Folds of the stratified k-fold split of the presentations (at least 2;
        each condition needs at least ``cv`` presentations).
    max_dichotomies : int, optional
        Score at most this many dichotomies, drawn without replacement with
        ``random_state`` (default: all ``C(n, n/2) / 2`` of ``n`` conditions).
    classifier, C, random_state
        As in :func:`ccgp`; ``random_state`` also shuffles the folds.

    Returns
    -------
    Score
        Metric ``"shattering-dimensionality"``, a scalar value; ``raw`` holds
        each dichotomy's accuracy (dim ``dichotomy``, labelled by its positive
        side, coord ``positive``).

    Raises
    ------
    DataError
        Fewer than 4 conditions, a condition with fewer than ``cv``
        presentations, constant responses.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.geometry.abstraction import shattering_dimensionality
    >>> rng = np.random.default_rng(0)
    >>> c = np.repeat(np.arange(4), 20)
    >>> x = rng.normal(size=(4, 40))[c] + 0.5 * rng.normal(size=(80, 40))   # random condition means
    >>> data = create_assembly(x, stimulus_id=range(80), presentation={"condition": c})
    >>> s = shattering_dimensionality(data, condition="condition")
    >>> s.raw.sizes["dichotomy"], bool(s.data.score > 0.9)
    (3, True)
    """
    conditions = labelled_conditions(data, factors, condition=condition, name="data")
    cv = check_int("cv", cv, minimum=2)
    if max_dichotomies is not None:
        max_dichotomies = check_int("max_dichotomies", max_dichotomies, minimum=1)
    seed = resolve_seed(random_state)
    model = _classifier(classifier, C, seed)
    counts = np.bincount(conditions.condition, minlength=len(conditions.labels))
    if counts.min() < cv:
        worst = conditions.labels[int(counts.argmin())]
        raise DataError(f"condition {worst!r} has {counts.min()} presentation(s), fewer than the {cv} folds",
                        source="data", fix=f"pass a smaller cv (at most {counts.min()}) or more presentations")
    splits = balanced_dichotomies(len(conditions.labels))
    n_total = len(splits)
    rng = np.random.default_rng(seed)
    if max_dichotomies is not None and len(splits) > max_dichotomies:
        splits = splits[np.sort(rng.choice(len(splits), size=max_dichotomies, replace=False))]
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed % 2**31)
    x = conditions.values
    scores = []
    for positive in splits:
        y = conditions.trial_labels(positive)
        # stratify on the conditions, so that every fold holds every condition in proportion
        fold_scores = [_accuracy(model, x[train], y[train], x[test], y[test])
                       for train, test in folds.split(x, conditions.condition)]
        scores.append(np.mean(fold_scores))
    names = ["|".join(conditions.labels[c] for c in np.flatnonzero(p)) for p in splits]
    raw = xr.DataArray(scores, dims=(DICHOTOMY,), coords={DICHOTOMY: label_index(range(len(splits)), DICHOTOMY),
                                                          "positive": (DICHOTOMY, np.asarray(names, dtype=object))})
    return Score(float(np.mean(scores)), raw=raw, metric="shattering-dimensionality",
                 params={"cv": cv, "max_dichotomies": max_dichotomies, "classifier": classifier, "C": C,
                         "random_state": seed, "conditions": list(conditions.labels),
                         "n_dichotomies": int(len(splits)), "n_balanced_dichotomies": n_total})
