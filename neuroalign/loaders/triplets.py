"""Triplet odd-one-out judgements into a trial Dataset.

Each trial shows three stimuli; the participant picks the odd one out.  See
``docs/loaders-behavior.md``.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..data import provenance
from ..errors import ConfigError, DataError, UnknownNameError
from .behavior import (NEGATIVE_RT_MODES, TRIAL, _assign_roles, _missing_text, _norm, _values, check_present_ids,
                       check_reaction_times, check_trials, read_trial_table)
from .triplet_files import map_indices, read_id_map, read_index_matrix

__all__ = ["load_triplets"]

_CHOICE_ALIASES = ("choice", "chosen", "odd_one_out", "oddoneout", "odd", "selected", "selection", "response")


def _triplet_columns(columns: Sequence[str], source: str) -> tuple[str, str, str]:
    groups: dict[str, dict[str, str]] = {}
    for column in columns:
        match = re.fullmatch(r"(.*?)[_\- ]?([0-9]|[abcABC])", column)
        if match:
            groups.setdefault(_norm(match.group(1)), {})[match.group(2).lower()] = column
    for suffixes in (("1", "2", "3"), ("0", "1", "2"), ("a", "b", "c")):
        found = [tuple(g[s] for s in suffixes) for g in groups.values() if set(suffixes) <= set(g)]
        if len(found) == 1:
            return found[0]
    raise ConfigError(
        f"cannot tell which three columns hold the triplet's stimuli (columns: {list(columns)})",
        source=source, fix="pass items=('<column 1>', '<column 2>', '<column 3>')",
    )


def load_triplets(
    path: str | os.PathLike,
    *,
    items: Sequence[str] | None = None,
    choice: str | None = None,
    choice_kind: str = "auto",
    index_base: int | None = None,
    subject: str | bool | None = None,
    reaction_time: str | bool | None = None,
    rt_unit: str = "s",
    negative_rt: str = "raise",
    table: str | None = None,
    format: str | None = None,
    odd_one: str | None = None,
    stimulus_ids: Sequence | np.ndarray | str | os.PathLike | None = None,
    object_base: int | None = None,
) -> xr.Dataset:
    """Load odd-one-out (triplet) judgements.

    Parameters
    ----------
    path : path-like
        A CSV/TSV/MAT/NWB table with one row per judgement; with ``odd_one``
        also a plain ``(n, 3)`` matrix of object indices without a header
        (whitespace-, comma- or tab-separated text such as SPoSE's
        ``trainset.txt``, or ``.npy``).
    items : (str, str, str), optional
        The three stimulus-id columns; found automatically when they share a
        stem with suffixes 1–3, 0–2 or a–c (``image_1, image_2, image_3``).
    choice : str, optional
        The column with the chosen (odd) item; looked for under ``choice``,
        ``chosen``, ``odd_one_out``, ``selected``, ``response``….
    choice_kind : {"auto", "id", "index"}
        Whether the choice is a stimulus id or the item's position.  ``"auto"``
        takes ids when every choice equals one of its row's items, else
        positions when that is unambiguous.
    index_base : {0, 1}, optional
        First position number when choices are positions (guessed from the
        values with ``"auto"`` when a 0 or a 3 occurs).
    subject, reaction_time : str, False or None
        Optional columns (found under the usual names when ``None``).
    rt_unit : {"s", "ms"}
    negative_rt : {"raise", "nan", "keep"}
        Negative reaction times, as in :func:`~neuroalign.loaders.behavior.load_trials`.
    table, format
        As in :func:`read_trial_table`.
    odd_one : {"last", "first"}, optional
        For files WITHOUT a choice column (THINGS-format): the odd one out is
        the item in the last column (THINGS-data, SPoSE) or the first.  Check
        a file's convention against a reference embedding before trusting it.
    stimulus_ids : sequence, array or path, optional
        Index-to-id map for files of integer object indices: index ``k``
        (after subtracting ``object_base``) becomes ``stimulus_ids[k]``.  An
        integer map (e.g. THINGS' ``sortind``, a path to a ``.mat``, ``.npy``
        or one-id-per-line text file) must be a permutation of ``0 … n−1`` or
        ``1 … n``, and is read as THINGS reads ``sortind`` (sorted row ``j``
        holds file index ``perm[j]``): index ``k`` becomes the 0-based sorted
        row ``numpy.argsort(perm)[k]``; pass ``numpy.argsort(perm)`` for the
        inverse convention (see :mod:`neuroalign.loaders.triplet_files`).
    object_base : {0, 1}, optional
        Number of the first object in the file's indices (with
        ``stimulus_ids``); guessed when a 0 or ``len(stimulus_ids)`` occurs.

    Returns
    -------
    xarray.Dataset
        Dims ``trial`` and ``item`` (0, 1, 2).  Variables ``stimulus_id``
        (trial, item), ``choice`` (the chosen stimulus id), ``choice_index``
        (0–2), ``reaction_time`` (seconds) when present, and every other column;
        coordinate ``subject`` when present.

    Raises
    ------
    DataError
        An item or a choice is missing, a row repeats an item, a choice is
        not one of its row's three items, a reaction time is infinite or
        negative (with ``negative_rt="raise"``), an object index is outside
        the map, or the map is not a permutation / repeats an id.
    ConfigError, UnknownNameError, FileFormatError
        The columns cannot be found, or the file cannot be read.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "triplets.csv")
    >>> _ = open(path, "w").write("subject,image_1,image_2,image_3,choice,rt\\n"
    ...                           "s1,cat,dog,car,car,1.2\\ns1,cat,cow,dog,cat,0.9\\n")
    >>> t = load_triplets(path)
    >>> t.choice_index.values.tolist(), t.stimulus_id.shape
    ([2, 0], (2, 3))

    A THINGS-format file (0-based indices, odd one last, no header):

    >>> path = os.path.join(tempfile.mkdtemp(), "trainset.txt")
    >>> _ = open(path, "w").write("0 1 2\\n2 0 1\\n")
    >>> t = load_triplets(path, odd_one="last", stimulus_ids=["cat", "dog", "car"])
    >>> t.choice.values.tolist(), t.choice_index.values.tolist()
    (['car', 'dog'], [2, 2])
    """
    path = Path(path)
    source = str(path)
    if choice_kind not in ("auto", "id", "index"):
        raise UnknownNameError(choice_kind, ("auto", "id", "index"), what="choice kind", source="choice_kind")
    if index_base not in (None, 0, 1):
        raise ConfigError(f"index_base must be 0 or 1, got {index_base!r}", source="index_base",
                          fix="pass 0 for positions 0–2, 1 for positions 1–3")
    if rt_unit not in ("s", "ms"):
        raise UnknownNameError(rt_unit, ("s", "ms"), what="reaction-time unit", source="rt_unit")
    if negative_rt not in NEGATIVE_RT_MODES:
        raise UnknownNameError(negative_rt, NEGATIVE_RT_MODES, what="negative_rt mode", source="negative_rt")
    if odd_one not in (None, "last", "first"):
        raise UnknownNameError(odd_one, ("last", "first"), what="odd_one position", source="odd_one")
    if odd_one is not None and choice is not None:
        raise ConfigError("odd_one= is for files without a choice column, but choice= names one", source="odd_one",
                          fix="pass either choice='<column>' or odd_one='last'/'first'")
    if object_base is not None and stimulus_ids is None:
        raise ConfigError("object_base= applies to object indices mapped through stimulus_ids=", source="object_base",
                          fix="pass stimulus_ids=, or leave object_base out")
    matrix = read_index_matrix(path) if items is None and format in (None, "csv", "tsv") else None
    if matrix is not None:
        if odd_one is None:
            raise ConfigError("the file has no header and no choice column (a THINGS-format index matrix)",
                              source=source, fix="pass odd_one='last' (THINGS-data, SPoSE) or odd_one='first'")
        frame = pd.DataFrame(matrix, columns=["item_0", "item_1", "item_2"])
    else:
        frame, _ = read_trial_table(path, format=format, table=table)
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    if items is None:
        items = _triplet_columns(columns, source)
    if isinstance(items, str) or len(items) != 3 or len(set(items)) != 3:
        raise ConfigError(f"items must name 3 different columns, got {items!r}", source="items",
                          fix="pass items=('<column 1>', '<column 2>', '<column 3>')")
    for column in items:
        if column not in columns:
            raise UnknownNameError(column, columns, what="column (for items)", source=source)
    if odd_one is not None:
        clash = [c for c in columns if c in ("choice", "choice_index", "stimulus_id") and c not in items]
        if clash:
            raise ConfigError(f"odd_one= derives the choice, but the file has column(s) {clash}", source=source,
                              fix="leave odd_one out and pass choice='<column>' to use the file's choices")
    elif choice is None:
        norm = {_norm(c): c for c in columns if c not in items}
        choice = next((norm[_norm(a)] for a in _CHOICE_ALIASES if _norm(a) in norm), None)
        if choice is None:
            near = [c for c in columns if difflib.get_close_matches(_norm(c), [_norm(a) for a in _CHOICE_ALIASES],
                                                                    n=1, cutoff=0.75)]
            hint = f"did you mean {', '.join(map(repr, near))}? " if near else ""
            raise ConfigError(f"no column with the chosen item (columns: {columns})", source=source,
                              fix=f"{hint}pass choice='<column>'")
    elif choice not in columns:
        raise UnknownNameError(choice, columns, what="column (for choice)", source=source)
    _check_items(frame, list(items), source)
    if all(pd.api.types.is_integer_dtype(frame[c]) for c in items):
        ids = np.stack([frame[c].to_numpy(dtype=np.int64) for c in items], axis=1)
    else:
        ids = np.stack([_values(frame[c].astype(object)) for c in items], axis=1)
    map_text = None
    if stimulus_ids is not None:
        id_map, map_text = read_id_map(stimulus_ids)
        ids, object_base = map_indices(ids, id_map, object_base, source)
    if odd_one is None:
        index = _choice_index(frame[choice], ids, choice_kind, index_base, choice, source)
    else:
        index = np.full(len(ids), 2 if odd_one == "last" else 0, dtype=np.int64)
    roles = _assign_roles([c for c in columns if c not in (*items, choice)],
                          {"reaction_time": reaction_time}, source, ())
    data_vars: dict[str, Any] = {
        "stimulus_id": ((TRIAL, "item"), ids),
        "choice": (TRIAL, ids[np.arange(len(ids)), index]),
        "choice_index": (TRIAL, index),
    }
    used = {*items, choice} - {None}
    if "reaction_time" in roles:
        rt = check_reaction_times(frame[roles["reaction_time"]], roles["reaction_time"], source, negative_rt)
        data_vars["reaction_time"] = (TRIAL, rt / (1000.0 if rt_unit == "ms" else 1.0))
        used.add(roles["reaction_time"])
    coords: dict[str, Any] = {TRIAL: np.arange(len(frame)), "item": np.arange(3)}
    subject_column = subject if isinstance(subject, str) else None
    if subject is None:
        subject_column = next((c for c in columns if _norm(c) in ("subject", "participant", "participantid",
                                                                  "subjectid", "worker", "workerid")), None)
    if subject_column:
        if subject_column not in columns:
            raise UnknownNameError(subject_column, columns, what="column (for subject)", source=source)
        check_present_ids(frame[subject_column], subject_column, source)
        coords["subject"] = (TRIAL, _values(frame[subject_column].astype(str)))
        used.add(subject_column)
    for column in columns:
        if column not in used and column != TRIAL:
            data_vars[column] = (TRIAL, _values(frame[column]))
    dataset = xr.Dataset(data_vars, coords=coords)
    if "reaction_time" in dataset:
        dataset["reaction_time"].attrs["units"] = "s"
    dataset.attrs.update({"source": source, "columns": {"items": list(items), "choice": choice},
                          **provenance({"items": list(items), "choice": choice, "choice_kind": choice_kind,
                                        "index_base": index_base, "rt_unit": rt_unit, "negative_rt": negative_rt,
                                        "odd_one": odd_one, "stimulus_ids": map_text, "object_base": object_base},
                                       {"file": source})})
    return check_trials(dataset, name=source)


def _check_items(frame: pd.DataFrame, items: list[str], source: str) -> None:
    """Every row names three different, present stimuli."""
    missing = np.stack([np.zeros(len(frame), dtype=bool) if pd.api.types.is_integer_dtype(frame[c])  # no NaN in ints
                        else _missing_text(frame[c]) for c in items], axis=1).any(axis=1)
    if missing.any():
        rows = (np.flatnonzero(missing)[:5] + 1).tolist()
        raise DataError(f"{int(missing.sum())} judgement(s) lack a stimulus in {items} (data rows {rows})",
                        source=source, fix="drop the incomplete triplets before loading")
    if all(pd.api.types.is_numeric_dtype(frame[c]) for c in items):
        text = np.stack([frame[c].to_numpy(dtype=float) for c in items], axis=1)
    else:
        text = np.stack([frame[c].map(lambda v: v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v))
                         .to_numpy(dtype=object) for c in items], axis=1)
    repeated = (text[:, 0] == text[:, 1]) | (text[:, 0] == text[:, 2]) | (text[:, 1] == text[:, 2])
    if repeated.any():
        first = int(np.flatnonzero(repeated)[0])
        raise DataError(
            f"{int(repeated.sum())} triplet(s) show the same stimulus twice, e.g. data row {first + 1}: "
            f"{tuple(text[first].tolist())} (data rows {(np.flatnonzero(repeated)[:5] + 1).tolist()})",
            source=source, fix="an odd-one-out judgement needs three different stimuli: drop those rows, or check "
            "that items= names the right columns")


def _choice_index(values: pd.Series, ids: np.ndarray, kind: str, base: int | None, column: str,
                  source: str) -> np.ndarray:
    missing = values.isna().to_numpy()
    if missing.any():
        rows = (np.flatnonzero(missing)[:5] + 1).tolist()
        raise DataError(f"{int(missing.sum())} judgement(s) have no choice in column {column!r}, data rows {rows}",
                        source=source, fix="drop the trials without a response before loading")
    numeric = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    as_id = numeric if ids.dtype.kind in "iu" else _values(values.astype(object))
    matches = ids == as_id[:, None]
    positional = not np.isnan(numeric).any() and np.all(numeric == np.round(numeric))
    if kind == "id" or (kind == "auto" and ((matches.any(axis=1).all() and base is None) or not positional)):
        return _checked(matches.any(axis=1), np.argmax(matches, axis=1), as_id, ids, column, source)
    if not positional:
        raise DataError(f"choice_kind='index' but column {column!r} holds non-integer values", source=source,
                        fix="pass choice_kind='id' when the column holds stimulus ids")
    if base is None:
        seen = set(numeric.astype(int).tolist())
        if 0 in seen and 3 not in seen:
            base = 0
        elif 3 in seen and 0 not in seen:
            base = 1
        else:
            raise ConfigError(
                f"choices in {column!r} look like positions but their numbering is ambiguous "
                f"(values {sorted(seen)[:6]})",
                source=source, fix="pass index_base=0 (positions 0-2) or index_base=1 (positions 1-3)",
            )
    index = numeric.astype(int) - base
    return _checked((index >= 0) & (index <= 2), np.clip(index, 0, 2), as_id, ids, column, source)


def _checked(ok: np.ndarray, index: np.ndarray, chosen: np.ndarray, ids: np.ndarray, column: str,
             source: str) -> np.ndarray:
    if not ok.all():
        bad = np.flatnonzero(~ok)
        first = bad[0]
        raise DataError(
            f"{bad.size} choice(s) in {column!r} are not one of their row's three items, e.g. data row "
            f"{first + 1}: {np.asarray(chosen)[first].item()!r} not in {tuple(ids[first].tolist())} "
            f"(data rows {(bad[:5] + 1).tolist()})",
            source=source,
            fix="check the column order and the choice coding; pass choice_kind='index' with index_base "
            "when choices are positions",
        )
    return index.astype(np.int64)
