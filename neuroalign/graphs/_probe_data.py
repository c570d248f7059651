"""Embeddings and labels matched on subject ids, checked, in the order of the ids (used by probes)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import AlignmentError, ConfigError, DataError, SchemaError

__all__ = ["ProbeData", "probe_data", "labelled_subjects", "resolve_subjects", "SUBJECT"]

SUBJECT = "subject"
_SHOW = 5  # example ids shown in an error


def _examples(ids: Any) -> str:
    ids = list(np.asarray(ids).tolist())
    more = f" and {len(ids) - _SHOW} more" if len(ids) > _SHOW else ""
    return f"{ids[:_SHOW]}{more}"


@dataclass
class ProbeData:
    """Subjects in the order of their ids, their features and labels.

    Attributes
    ----------
    subjects : numpy.ndarray
        Subject ids, sorted.
    x : numpy.ndarray or None
        ``(subject, feature)`` float64 features in that order (None for graphs).
    labels : numpy.ndarray
        The label of each subject (missing ones are NaN or None).
    task : str
    source : str
        Names the label in error messages.
    order : numpy.ndarray
        Position in the input embeddings of each sorted subject.
    codes : numpy.ndarray or None
        After :meth:`encoded`: class codes ``0 … K-1`` (classification) or
        float targets (regression).
    class_names : list or None
        After :meth:`encoded`: the classes, sorted (code ``k`` is ``class_names[k]``).
    """

    subjects: np.ndarray
    x: np.ndarray | None
    labels: np.ndarray
    task: str
    source: str
    order: np.ndarray
    codes: np.ndarray | None = None
    class_names: list | None = field(default=None)

    @property
    def n_subjects(self) -> int:
        return len(self.subjects)

    def take(self, index: np.ndarray) -> "ProbeData":
        """The subjects at sorted positions ``index`` (kept in id order)."""
        index = np.sort(np.asarray(index, dtype=int))
        codes = None if self.codes is None else self.codes[index]
        x = None if self.x is None else self.x[index]
        return replace(self, subjects=self.subjects[index], x=x, labels=self.labels[index],
                       order=self.order[index], codes=codes)

    def encoded(self) -> "ProbeData":
        """Labels as class codes or floats; every subject must have one, and a classification two classes."""
        missing = np.asarray(pd.isna(pd.Series(self.labels, dtype=object)))
        if missing.any():
            raise DataError(f"the label is missing (NaN or None) for {int(missing.sum())} of {self.n_subjects} "
                            f"subjects, e.g. {_examples(self.subjects[missing])}", source=self.source,
                            fix="label every subject, or leave the unlabelled ones out with embeddings.sel(subject=...)"
                                " (or train=/test=)")
        if self.task == "regression":
            try:
                codes = self.labels.astype(float)
            except (TypeError, ValueError) as exc:
                raise DataError(f"a regression target must be numeric ({exc})", source=self.source,
                                fix="pass numbers, or task='classification'") from None
            bad = ~np.isfinite(codes)
            if bad.any():
                raise DataError(f"the target is infinite for subjects {_examples(self.subjects[bad])}",
                                source=self.source, fix="pass finite targets")
            return replace(self, codes=codes, class_names=None)
        try:
            codes, names = pd.factorize(pd.Index(self.labels.tolist()), sort=True)
        except TypeError as exc:
            raise DataError(f"the classes cannot be ordered ({exc})", source=self.source,
                            fix="use labels of one type (all numbers or all strings)") from None
        if len(names) < 2:
            raise DataError(f"a single class ({names[0]!r}) among the {self.n_subjects} labelled subjects",
                            source=self.source, fix="pass a label with at least two classes")
        return replace(self, codes=codes.astype(int), class_names=[_plain(v) for v in names])

    def check_folds(self, n_splits: int) -> None:
        """At least ``n_splits`` subjects of every class (classification), 2 per fold (regression)."""
        if self.task == "regression":
            if self.n_subjects < 2 * n_splits:
                raise DataError(f"{self.n_subjects} subjects for n_splits={n_splits} folds of at least 2 subjects",
                                source="n_splits",
                                fix=f"pass n_splits <= {max(self.n_subjects // 2, 2)}, or label more subjects")
            return
        counts = np.bincount(self.codes, minlength=len(self.class_names))
        if counts.min() < n_splits:
            c = int(counts.argmin())
            raise DataError(f"class {self.class_names[c]!r} has {counts[c]} subjects, fewer than n_splits={n_splits} "
                            f"folds ({self.n_subjects} subjects in all)", source="n_splits",
                            fix=f"pass n_splits <= {counts.min()} (at least 2), or label more subjects")

    def check_split(self, train: np.ndarray, test: np.ndarray, *, inner_splits: int) -> None:
        """Enough training subjects (per class) for the inner folds; every class tested."""
        if self.task == "regression":
            if len(train) < 2 * inner_splits:
                raise DataError(f"{len(train)} training subjects for inner_splits={inner_splits} folds of at least "
                                "2 subjects", source="inner_splits",
                                fix="pass a smaller inner_splits (at least 2), or train on more subjects")
            if len(test) < 2:
                raise DataError(f"{len(test)} test subject(s): R² needs at least 2", source="test",
                                fix="test on more subjects")
            return
        k = len(self.class_names)
        train_counts = np.bincount(self.codes[train], minlength=k)
        if train_counts.min() < inner_splits:
            c = int(train_counts.argmin())
            raise DataError(f"class {self.class_names[c]!r} has {train_counts[c]} training subjects, fewer than "
                            f"inner_splits={inner_splits} folds", source="inner_splits",
                            fix="pass a smaller inner_splits (at least 2), or train on more subjects of each class")
        test_counts = np.bincount(self.codes[test], minlength=k)
        if (test_counts == 0).any():
            absent = [self.class_names[c] for c in np.flatnonzero(test_counts == 0)]
            raise DataError(f"the test subjects hold no member of class(es) {absent}; AUROC needs every class",
                            source="test", fix="test on subjects of every class")


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def probe_data(embeddings: xr.DataArray, target: Any, *, task: str, name: str = "embeddings",
               target_name: str = "target") -> ProbeData:
    """Check ``embeddings`` (subject, feature), match ``target`` on subject ids, sort by id (labels not yet encoded)."""
    if not isinstance(embeddings, xr.DataArray) or embeddings.ndim != 2 or SUBJECT not in embeddings.dims:
        dims = embeddings.dims if isinstance(embeddings, xr.DataArray) else type(embeddings).__name__
        raise SchemaError(f"expected a 2-d DataArray with dims (subject, feature), got {dims}", source=name,
                          fix="pass e.g. GraphMAEPretrainer.transform(dataset)")
    subjects = (np.asarray(embeddings[SUBJECT].values) if SUBJECT in embeddings.coords
                else np.arange(embeddings.sizes[SUBJECT]))
    feature_dim = next(d for d in embeddings.dims if d != SUBJECT)
    x = embeddings.transpose(SUBJECT, feature_dim).values
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"embeddings have dtype {x.dtype}, expected numbers", source=name, fix="pass float features")
    x = x.astype(float)
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        raise DataError(f"non-finite embeddings for {int(bad.sum())} subjects, e.g. {_examples(subjects[bad])}",
                        source=name, fix="drop those subjects or fix the encoder's input (NaN windows)")
    if x.shape[1] == 0:
        raise DataError("the embeddings have no features", source=name, fix="pass at least one feature")
    coords = {str(c): embeddings[c].values for c in embeddings.coords
              if embeddings[c].dims == (SUBJECT,) and c != SUBJECT}
    data = labelled_subjects(subjects, coords, target, task=task, name=name, target_name=target_name)
    return replace(data, x=x[data.order])


def labelled_subjects(subjects: Any, coords: Any, target: Any, *, task: str, name: str = "dataset",
                      target_name: str = "target") -> ProbeData:
    """Subject ids sorted, with ``target`` (a name in ``coords``, ids-indexed labels or an array) matched on them.

    ``x`` of the result is None; labels are not yet encoded (:meth:`ProbeData.encoded`).
    """
    subjects = np.asarray(subjects)
    index = pd.Index(subjects)
    if index.has_duplicates:
        raise SchemaError(f"duplicated subject ids {_examples(index[index.duplicated()].unique())}", source=name,
                          fix="give every row a distinct subject id")
    labels, source = _labels(coords, target, index, target_name)
    try:
        order = index.argsort()
    except TypeError as exc:
        raise SchemaError(f"subject ids cannot be ordered ({exc})", source=name,
                          fix="use subject ids of one type") from None
    return ProbeData(subjects=subjects[order], x=None, labels=labels[order], task=task, source=source,
                     order=np.asarray(order))


def _labels(coords: Any, target: Any, index: pd.Index, target_name: str) -> tuple[np.ndarray, str]:
    """The label of each subject, in the order of ``index``."""
    if isinstance(target, str):
        names = sorted(map(str, coords))
        if target not in coords:
            raise SchemaError(f"{target!r} is not a label coordinate on 'subject' (found {names})",
                              source=target_name, fix=f"pass one of {names}, or the labels as an array")
        values = np.asarray(coords[target], dtype=object)
        if values.shape != (len(index),):
            raise SchemaError(f"label {target!r} has shape {values.shape}, expected ({len(index)},)",
                              source=target_name, fix="give one label per subject")
        return values, f"{target_name}={target!r}"
    if isinstance(target, xr.DataArray):
        if target.dims != (SUBJECT,) or SUBJECT not in target.coords:
            raise SchemaError(f"a target DataArray must have the one dim 'subject' with ids, got {target.dims}",
                              source=target_name, fix="pass labels on 'subject' with its subject ids")
        target = pd.Series(np.asarray(target.values, dtype=object), index=pd.Index(target[SUBJECT].values))
    if isinstance(target, pd.Series):
        other = target.index
        if other.has_duplicates:
            raise AlignmentError(f"the target has duplicated subject ids {_examples(other[other.duplicated()])}",
                                 source=target_name, fix="give one label per subject")
        only_embeddings, only_target = index.difference(other), other.difference(index)
        if len(only_embeddings) or len(only_target):
            raise AlignmentError(f"the embeddings and the target hold different subjects: "
                                 f"{len(only_embeddings)} only in the embeddings (e.g. {_examples(only_embeddings)}), "
                                 f"{len(only_target)} only in the target (e.g. {_examples(only_target)})",
                                 source=target_name,
                                 fix="select the same subjects in both (embeddings.sel(subject=...)); "
                                     "nothing is dropped silently")
        return np.asarray(target.reindex(index).to_numpy(), dtype=object), target_name
    values = np.asarray(target, dtype=object)
    if values.ndim != 1 or len(values) != len(index):
        raise AlignmentError(f"the target has shape {values.shape}, the embeddings {len(index)} subjects",
                             source=target_name,
                             fix="pass one label per subject in the embeddings' order, or a DataArray on 'subject'")
    return values, target_name


def resolve_subjects(data: ProbeData, train: Any, test: Any) -> tuple[np.ndarray, np.ndarray]:
    """Sorted positions of ``train`` and ``test`` (ids, or positions when ids are not integers)."""
    picked = {}
    for name, selection in (("train", train), ("test", test)):
        if selection is not None:
            picked[name] = _positions(data, selection, name)
    everyone = np.arange(data.n_subjects)
    if "train" not in picked:
        picked["train"] = np.setdiff1d(everyone, picked["test"])
    if "test" not in picked:
        picked["test"] = np.setdiff1d(everyone, picked["train"])
    both = np.intersect1d(picked["train"], picked["test"])
    if len(both):
        raise ConfigError(f"{len(both)} subjects are in both train and test, e.g. {_examples(data.subjects[both])}",
                          source="test", fix="pass disjoint train and test subjects")
    for name, index in picked.items():
        if len(index) == 0:
            raise ConfigError(f"no {name} subjects", source=name, fix=f"pass at least two {name} subjects")
    return picked["train"], picked["test"]


def _positions(data: ProbeData, selection: Any, name: str) -> np.ndarray:
    values = np.asarray(selection).ravel()
    sorted_index = pd.Index(data.subjects)
    ids_are_integers = pd.api.types.is_integer_dtype(sorted_index.dtype)
    if values.dtype == bool:
        raise ConfigError(f"{name} is a boolean mask", source=name, fix="pass subject ids, e.g. ids[mask]")
    where = sorted_index.get_indexer(values)
    if (where < 0).any() and not ids_are_integers and np.issubdtype(values.dtype, np.integer):
        if values.min() < 0 or values.max() >= data.n_subjects:
            raise ConfigError(f"{name} positions outside 0..{data.n_subjects - 1}", source=name,
                              fix="pass subject ids or positions in range")
        inverse = np.empty(data.n_subjects, dtype=int)
        inverse[data.order] = np.arange(data.n_subjects)  # input position -> sorted position
        where = inverse[values]
    elif (where < 0).any():
        raise ConfigError(f"{int((where < 0).sum())} {name} subjects are not in the embeddings, "
                          f"e.g. {_examples(values[where < 0])}", source=name,
                          fix="pass subject ids of the embeddings")
    if len(np.unique(where)) != len(where):
        raise ConfigError(f"{name} lists a subject twice", source=name, fix="pass each subject once")
    return np.sort(where)


