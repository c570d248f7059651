"""Behavioural trial tables → an :class:`xarray.Dataset` with a ``trial`` dimension.

:func:`load_trials` reads the trial tables users actually have — CSV, TSV,
BIDS ``*_events.tsv``, the intervals tables of an NWB file and MATLAB files
(v5 through :mod:`scipy.io`, v7.3 through :mod:`h5py`) — into one Dataset:

* one row per trial along the ``trial`` dimension;
* the columns that play a known *role* are renamed to canonical variables:
  ``choice``, ``correct`` (float, 1 correct / 0 wrong / NaN no response),
  ``reaction_time`` (seconds) and ``condition``; the stimulus column becomes
  the ``stimulus_id`` coordinate.  The mapping is kept in
  ``attrs["column_roles"]``;
* every other column is kept as a variable under its own name;
* BIDS entities in the file name (``sub-``, ``ses-``, ``task-``, ``run-``, …)
  become the coordinates ``subject``, ``session``, ``task``, ``run`` and are
  listed in ``attrs["bids_entities"]``; the coordinate ``file`` names the file.

:func:`load_triplets` reads odd-one-out (triplet) judgements into a Dataset with
``trial`` and ``item`` dimensions and checks that every choice is one of the
three items.  Harrington & Deza's metameric psychophysics has its own loader,
:func:`neuroalign.loaders.psychophysics.load_metameric_psychophysics`.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..data import provenance, validate
from ..errors import ConfigError, DataError, FileFormatError, NeuroalignError, SchemaError, UnknownNameError
from .bids import BIDS_COORDS, parse_bids_entities
from .trial_tables import read_trial_table

__all__ = ["TRIAL", "ROLE_ALIASES", "load_trials", "read_trial_table", "check_trials", "check_reaction_times",
           "check_present_ids", "NEGATIVE_RT_MODES"]

logger = logging.getLogger(__name__)

TRIAL = "trial"

#: Column names recognised for each role, in order of preference.  Matching
#: ignores case, ``_``, ``-`` and spaces ("Reaction Time" matches ``reactiontime``).
ROLE_ALIASES: dict[str, tuple[str, ...]] = {
    "stimulus_id": ("stimulus_id", "stimulus", "stim_id", "stim_file", "stim", "image_id", "image",
                    "image_name", "stimulus_name", "frame_name", "clip_name"),
    "choice": ("choice", "response", "resp", "resp_value", "button", "key", "answer"),
    "correct": ("correct", "is_correct", "accuracy", "acc", "hit", "portion_correct"),
    "reaction_time": ("reaction_time", "rt", "response_time", "latency", "resp_rt", "reactiontime"),
    "condition": ("condition", "cond", "trial_type", "condition_name", "condition_id"),
}
_TRUE = {"1", "1.0", "true", "t", "yes", "y", "correct", "hit"}
_FALSE = {"0", "0.0", "false", "f", "no", "n", "incorrect", "wrong", "error", "miss"}
_MISSING_TEXT = "n/a"


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", str(name)).lower()


# --------------------------------------------------------------------------- roles


def _assign_roles(columns: Sequence[str], explicit: Mapping[str, str | bool | None], source: str,
                  require: Iterable[str]) -> dict[str, str]:
    roles: dict[str, str] = {}
    by_norm = {}
    for column in columns:
        by_norm.setdefault(_norm(column), column)
    for role, given in explicit.items():  # named columns first, so that guessing cannot take them
        if isinstance(given, str):
            if given not in columns:
                raise UnknownNameError(given, columns, what=f"column (for {role})", source=source)
            if given in roles.values():
                raise ConfigError(f"column {given!r} is named for two roles", source=source,
                                  fix="give each role its own column")
            roles[role] = given
    for role, given in explicit.items():
        if given is not None:
            continue
        for alias in ROLE_ALIASES[role]:
            if _norm(alias) in by_norm and by_norm[_norm(alias)] not in roles.values():
                roles[role] = by_norm[_norm(alias)]
                break
        else:
            near = _near_aliases(role, columns)
            if role in require:
                hint = f"did you mean {', '.join(map(repr, near))}? " if near else ""
                raise ConfigError(
                    f"no column for {role} (looked for {', '.join(ROLE_ALIASES[role][:6])}, …); "
                    f"the columns are {list(columns)}",
                    source=source, fix=f"{hint}rename the column or pass {role}='<column name>'",
                )
            if near:
                logger.warning("%s: no %s column, but %s look(s) like one; pass %s=%r to use it",
                               source, role, near, role, near[0])
    return roles


def _near_aliases(role: str, columns: Sequence[str]) -> list[str]:
    """Columns that look like a misspelt alias of ``role``, best first (exact aliases of any role excluded)."""
    exact = {_norm(a) for aliases in ROLE_ALIASES.values() for a in aliases}
    scores = {}
    for column in columns:
        if _norm(column) in exact:
            continue
        best = max(difflib.SequenceMatcher(None, _norm(column), _norm(a)).ratio() for a in ROLE_ALIASES[role])
        if best >= 0.8:
            scores[column] = best
    return sorted(scores, key=lambda c: -scores[c])


def _as_correct(values: pd.Series, column: str, source: str, mapping: Mapping[Any, float] | None,
                strict: bool, description: str | None = None) -> np.ndarray | None:
    """Correctness as float 1.0/0.0/NaN, or None (kept as is) for a guessed column with other codes.

    A column that ends up named ``correct`` always holds 1/0/NaN: other codes
    raise unless the column has another name and was only guessed (then it is
    kept under that name, with a warning).
    """
    said = f" (the file describes it as {description!r})" if description else ""
    if mapping is not None:
        missing = values.isna().to_numpy()
        known = values.map(lambda v: v in mapping).to_numpy(dtype=bool)
        unmapped = ~missing & ~known
        if unmapped.any():
            codes = sorted(set(values[unmapped].map(repr)))[:6]
            raise DataError(f"column {column!r} (correct) has codes {codes} that correct_map does not list "
                            f"(it maps {sorted(map(repr, mapping))[:6]}){said}", source=source,
                            fix="add every code to correct_map (mapping it to 1.0, 0.0 or float('nan')); "
                            "codes read from text files are numbers, e.g. {2: 1.0}, not {'2': 1.0}")
        mapped = np.array([np.nan if m else float(mapping[v]) for v, m in zip(values, missing)], dtype=float)
        wrong = ~np.isnan(mapped) & ~np.isin(mapped, (0.0, 1.0))
        if wrong.any():
            raise DataError(f"correct_map maps codes to {sorted(set(mapped[wrong].tolist()))}, not to 1.0, 0.0 "
                            "or NaN", source="correct_map", fix="map every code to 1.0 (correct), 0.0 (wrong) "
                            "or float('nan') (no response)")
        return mapped
    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=float)
    if pd.api.types.is_numeric_dtype(values):
        out = values.to_numpy(dtype=float)
    else:
        text = values.map(lambda v: np.nan if pd.isna(v) else str(v.decode() if isinstance(v, bytes) else v)
                          .strip().lower())
        out = text.map(lambda v: 1.0 if v in _TRUE else 0.0 if v in _FALSE else (np.nan if pd.isna(v) else -9.0))
        out = out.to_numpy(dtype=float)
    bad = ~np.isnan(out) & ~np.isin(out, (0.0, 1.0))
    if bad.any():
        seen = sorted(set(values[bad].map(str)))[:6]
        rows = (np.flatnonzero(bad)[:5] + 1).tolist()
        if strict or column == "correct":
            raise DataError(
                f"column {column!r} (correct) has values other than 0/1/true/false: {seen} "
                f"({int(bad.sum())} trial(s), data rows {rows}){said}",
                source=source,
                fix="pass correct_map={...} mapping each code to 1.0, 0.0 or nan "
                "(e.g. {2: 1.0, 1: 0.0, 0: float('nan')}), or correct=False to keep the column as it is",
            )
        logger.warning("%s: column %r has codes %s, not 0/1%s, so it is kept as is and not used as 'correct'; "
                       "pass correct_map={...} to translate it", source, column, seen, said)
        return None
    return out


# --------------------------------------------------------------------------- building


def _missing_text(series: pd.Series) -> np.ndarray:
    """Cells that are missing: NaN/None, or text that is empty or ``n/a`` once stripped."""
    return series.map(lambda v: bool(pd.isna(v)) if not isinstance(v, (str, bytes))
                      else (v.decode("utf-8", "replace") if isinstance(v, bytes) else v).strip().lower()
                      in ("", _MISSING_TEXT, "nan", "na")).to_numpy(dtype=bool)


#: What to do with negative reaction times.
NEGATIVE_RT_MODES = ("raise", "nan", "keep")


def check_present_ids(values: pd.Series, column: str, source: str) -> None:
    """Raise :class:`DataError` when an id column (subject, stimulus) has empty or ``n/a`` cells."""
    missing = _missing_text(values)
    if missing.any():
        rows = (np.flatnonzero(missing)[:5] + 1).tolist()
        raise DataError(f"{int(missing.sum())} row(s) have no value in the id column {column!r} (data rows {rows})",
                        source=source, fix=f"fill in {column} for every row, or leave the column out")


def check_reaction_times(values: pd.Series, column: str, source: str, negative: str = "raise") -> np.ndarray:
    """Reaction times as float (NaN where missing), checked.

    Non-numeric or infinite values always raise.  Negative values (a response
    before the moment the reaction time is measured from) raise with
    ``negative="raise"``, become NaN with ``"nan"`` and are kept with
    ``"keep"``; both of the latter log a warning with their rows.

    Examples
    --------
    >>> import pandas as pd
    >>> check_reaction_times(pd.Series([0.4, None]), "rt", "t.csv").tolist()
    [0.4, nan]
    >>> check_reaction_times(pd.Series([0.4, -1.0]), "rt", "t.csv")
    Traceback (most recent call last):
    ...
    neuroalign.errors.DataError: t.csv: column 'rt' (reaction time) has 1 negative value(s), e.g. -1.0 (data rows [2]). Fix: ...
    >>> check_reaction_times(pd.Series([0.4, -1.0]), "rt", "t.csv", negative="nan").tolist()
    [0.4, nan]
    """
    if negative not in NEGATIVE_RT_MODES:
        raise UnknownNameError(negative, NEGATIVE_RT_MODES, what="negative_rt mode", source="negative_rt")
    if not (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)):
        raise DataError(f"column {column!r} (reaction time) is not numeric", source=source,
                        fix="pass reaction_time='<numeric column>' or reaction_time=False")
    out = np.array(values.to_numpy(dtype=float, na_value=np.nan), dtype=float)  # a copy: it may be edited
    infinite = np.isinf(out)
    if infinite.any():
        raise DataError(f"column {column!r} (reaction time) has {int(infinite.sum())} infinite value(s) (data rows "
                        f"{(np.flatnonzero(infinite)[:5] + 1).tolist()})", source=source,
                        fix="leave missing reaction times empty or 'n/a', or pass na_values=[<code>]")
    below = out < 0
    if below.any():
        rows = (np.flatnonzero(below)[:5] + 1).tolist()
        message = (f"column {column!r} (reaction time) has {int(below.sum())} negative value(s), e.g. "
                   f"{float(out[below][0])!r} (data rows {rows})")
        if negative == "raise":
            raise DataError(
                message, source=source,
                fix="if a negative value codes a missing response, pass na_values=[<code>]; if responses before "
                "the moment reaction times are measured from (e.g. a response prompt) are real, pass "
                "negative_rt='keep' (or 'nan' to treat them as missing)")
        logger.warning("%s: %s: %s", source, message, "kept" if negative == "keep" else "set to NaN")
        if negative == "nan":
            out[below] = np.nan
    return out


def _values(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(series):
        if pd.api.types.is_integer_dtype(series) and not series.isna().any():
            return series.to_numpy(dtype=np.int64)
        return series.to_numpy(dtype=float)
    text = series.map(lambda v: _MISSING_TEXT if v is None or (isinstance(v, float) and np.isnan(v))
                      else v.decode() if isinstance(v, bytes) else str(v))
    return text.to_numpy(dtype=str)


def _frame_to_dataset(frame: pd.DataFrame, coord_columns: Iterable[str]) -> xr.Dataset:
    coord_columns = [c for c in coord_columns if c in frame.columns]
    trial = np.arange(len(frame))
    if TRIAL in frame.columns:
        values = frame[TRIAL]
        if pd.api.types.is_integer_dtype(values) and values.is_unique:
            trial = values.to_numpy(dtype=np.int64)
            frame = frame.drop(columns=TRIAL)
        else:
            logger.warning("column %r is not a unique integer trial number, so it is kept as 'trial_label'", TRIAL)
            frame = frame.rename(columns={TRIAL: "trial_label"})
    data_vars = {str(c): (TRIAL, _values(frame[c])) for c in frame.columns if c not in coord_columns}
    coords = {TRIAL: trial, **{str(c): (TRIAL, _values(frame[c])) for c in coord_columns}}
    return xr.Dataset(data_vars, coords=coords)


def check_trials(dataset: xr.Dataset, name: str = "trials") -> xr.Dataset:
    """Check a trial Dataset: a ``trial`` dim, finite numbers, no MultiIndex."""
    if not isinstance(dataset, xr.Dataset) or TRIAL not in dataset.dims:
        raise SchemaError(f"expected an xarray.Dataset with a {TRIAL!r} dimension", source=name,
                          fix="build it with neuroalign.loaders.behavior.load_trials")
    for key, variable in dataset.variables.items():
        if variable.dtype.kind in "biuf" and key not in dataset.indexes:
            validate(xr.DataArray(variable), dims=None, name=f"{name}:{key}", allow_nan=True)
    return dataset


def load_trials(
    path: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    table: str | None = None,
    stimulus: str | bool | None = None,
    choice: str | bool | None = None,
    correct: str | bool | None = None,
    reaction_time: str | bool | None = None,
    condition: str | bool | None = None,
    require: Iterable[str] = (),
    correct_map: Mapping[Any, float] | None = None,
    rt_unit: str = "s",
    column_names: Sequence[str] | None = None,
    na_values: Iterable[Any] | None = None,
    format: str | None = None,
    missing_stimulus: str = "raise",
    negative_rt: str = "raise",
    errors: str = "raise",
    progress: bool = True,
) -> xr.Dataset:
    """Load one or several trial tables into a Dataset with a ``trial`` dimension.

    Parameters
    ----------
    path : path-like or sequence of path-likes
        CSV, TSV (BIDS ``*_events.tsv`` included), MATLAB (v5 or v7.3) or NWB
        files.  Several files are stacked along ``trial``; the ``file``
        coordinate says where each trial came from.
    table : str, optional
        NWB intervals table (default ``"trials"``) or MATLAB variable.
    stimulus, choice, correct, reaction_time, condition : str, False or None
        The column playing each role.  ``None`` looks for the usual names
        (:data:`ROLE_ALIASES`), a string names the column (it must exist),
        ``False`` turns the role off.  The stimulus column becomes the
        ``stimulus_id`` coordinate; the others the variables ``choice``,
        ``correct``, ``reaction_time`` and ``condition``.
    require : str or iterable of str
        Roles that must be found, e.g. ``("correct", "reaction_time")``
        (``"stimulus"`` and ``"stimulus_id"`` both name the stimulus role).
    correct_map : mapping, optional
        Translates correctness codes to 1.0/0.0/NaN, e.g. ``{2: 1.0, 1: 0.0,
        0: float("nan")}`` for tables that code correct as 2.
    rt_unit : {"s", "ms"}
        Unit of the reaction-time column; ``reaction_time`` is always seconds.
    column_names : sequence of str, optional
        Column names for a MATLAB matrix without a header variable.
    na_values : iterable, optional
        Extra codes meaning "missing" (e.g. ``[-1]``), turned into NaN.
    format : {"csv", "tsv", "mat", "nwb"}, optional
        Override the format the suffix implies.
    missing_stimulus : {"raise", "drop"}
        Trials whose stimulus cell is empty or ``n/a`` (e.g. the response or
        fixation rows of a BIDS events file): ``"raise"`` a
        :class:`DataError` naming the rows, or ``"drop"`` those trials
        (logged, and listed per file in ``attrs["dropped_trials"]`` as data
        rows, 1 being the first row after the header).  A missing id is never turned into a stimulus name.
    negative_rt : {"raise", "nan", "keep"}
        Negative reaction times: raise a :class:`DataError` (the default),
        treat them as missing, or keep them (some experiments measure the
        reaction time from a response prompt, so early responses are
        negative).  ``"nan"`` and ``"keep"`` log the rows.
    errors : {"raise", "skip"}
        With several files, ``"skip"`` logs and skips unreadable ones and lists
        them in ``attrs["skipped"]``.
    progress : bool
        Show a progress bar over files.

    Returns
    -------
    xarray.Dataset
        Dims ``trial``; coords ``trial``, ``file``, ``stimulus_id`` (when a
        stimulus column is found) and ``subject``/``session``/``task``/``run``
        when known; variables for every column.  ``correct`` is float (1.0,
        0.0, NaN for missing responses), ``reaction_time`` float seconds (NaN
        when missing).  In other text columns a missing cell reads ``"n/a"``.

    Raises
    ------
    FileFormatError
        Unknown suffix, missing/empty/truncated/corrupt file, unreadable table.
    UnknownNameError
        A named column or table is not in the file (the message lists the
        closest names).
    ConfigError
        A required role has no column, or an argument is invalid.
    DataError
        A ``correct`` column (named, required, or called ``correct``) has codes
        other than 0/1 and no ``correct_map``, or a code that ``correct_map``
        does not list; infinite reaction times, or negative ones with
        ``negative_rt="raise"``; trials without a stimulus (with
        ``missing_stimulus="raise"``).
    DependencyError
        An NWB file without ``pynwb`` installed.

    Examples
    --------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "sub-01_task-faces_run-1_events.tsv")
    >>> _ = open(path, "w").write("onset\\tduration\\tstim_file\\tresponse_time\\tcorrect\\n"
    ...                           "0.0\\t1.0\\tface1.png\\t0.52\\t1\\n2.0\\t1.0\\tface2.png\\tn/a\\tn/a\\n")
    >>> trials = load_trials(path)
    >>> trials.stimulus_id.values.tolist(), trials.subject.values.tolist()
    (['face1.png', 'face2.png'], ['01', '01'])
    >>> trials.correct.values.tolist()
    [1.0, nan]
    """
    if errors not in ("raise", "skip"):
        raise UnknownNameError(errors, ("raise", "skip"), what="errors mode", source="errors")
    if rt_unit not in ("s", "ms"):
        raise UnknownNameError(rt_unit, ("s", "ms"), what="reaction-time unit", source="rt_unit")
    if negative_rt not in NEGATIVE_RT_MODES:
        raise UnknownNameError(negative_rt, NEGATIVE_RT_MODES, what="negative_rt mode", source="negative_rt")
    if missing_stimulus not in ("raise", "drop"):
        raise UnknownNameError(missing_stimulus, ("raise", "drop"), what="missing_stimulus mode",
                               source="missing_stimulus")
    paths = [Path(path)] if isinstance(path, (str, os.PathLike)) else [Path(p) for p in path]
    if not paths:
        raise ConfigError("no files given", source="path", fix="pass a path or a list of paths")
    explicit = {"stimulus_id": stimulus, "choice": choice, "correct": correct,
                "reaction_time": reaction_time, "condition": condition}
    for key, value in explicit.items():
        if not (value is None or value is False or isinstance(value, str)):
            raise ConfigError(f"{key} must be a column name, None or False, got {value!r}",
                              source="stimulus" if key == "stimulus_id" else key, fix="pass a column name")
    require = {"stimulus_id" if r == "stimulus" else r for r in ((require,) if isinstance(require, str) else require)}
    unknown = require - set(ROLE_ALIASES)
    if unknown:
        raise UnknownNameError(sorted(unknown)[0], ROLE_ALIASES, what="role", source="require")
    from tqdm.auto import tqdm

    frames, skipped, all_roles, dropped = [], [], {}, {}
    for file in tqdm(paths, desc="trial tables", unit="file", disable=not progress or len(paths) < 2):
        try:
            frame, roles, dropped_rows = _load_one(file, explicit, require, table, column_names, na_values,
                                                   format, correct_map, rt_unit, missing_stimulus, negative_rt)
        except NeuroalignError as exc:
            if errors == "raise" or len(paths) == 1:
                raise
            logger.warning("skipping %s: %s", file, exc)
            skipped.append({"file": str(file), "error": str(exc)})
            continue
        frames.append(frame)
        if dropped_rows:
            dropped[str(file)] = dropped_rows
        for role, column in roles.items():
            all_roles.setdefault(role, column)
    if not frames:
        raise FileFormatError(f"none of the {len(paths)} files could be read; the first error was: "
                              f"{skipped[0]['error']}", source=str(paths[0].parent),
                              fix="check the files, or load them one by one to see each error")
    without = sorted({str(f["file"].iloc[0]) for f in frames if "stimulus_id" not in f.columns})
    if without and len(without) < len(frames):
        raise DataError(f"{len(without)} of {len(frames)} files have no stimulus column ({without[:3]}), so their "
                        "trials would have no stimulus_id", source=str(paths[0].parent),
                        fix="load those files separately, name their stimulus column with stimulus='<column>', or "
                        "pass stimulus=False")
    frame = pd.concat(frames, ignore_index=True, sort=False)
    dataset = _frame_to_dataset(frame, ["stimulus_id", "file", *BIDS_COORDS.values(), "participant_id"])
    if "reaction_time" in dataset:
        dataset["reaction_time"].attrs["units"] = "s"
    single = paths[0] if len(paths) == 1 else None
    dataset.attrs.update({
        "column_roles": all_roles,
        "source": str(single) if single else [str(p) for p in paths],
        "skipped": skipped,
        "dropped_trials": dropped,
    })
    if single is not None:
        dataset.attrs["bids_entities"] = parse_bids_entities(single)
    params = {"table": table, "roles": {k: v for k, v in explicit.items() if isinstance(v, str)},
              "rt_unit": rt_unit, "missing_stimulus": missing_stimulus, "negative_rt": negative_rt,
              "require": sorted(require), "errors": errors}
    dataset.attrs.update(provenance(params, {p.name: str(p) for p in paths if p.is_file()}))
    return check_trials(dataset, name=str(single or paths[0].parent))


def _load_one(path: Path, explicit: Mapping[str, Any], require: set[str], table: str | None,
              column_names: Sequence[str] | None, na_values: Iterable[Any] | None, format: str | None,
              correct_map: Mapping[Any, float] | None, rt_unit: str,
              missing_stimulus: str, negative_rt: str) -> tuple[pd.DataFrame, dict[str, str], list[int]]:
    frame, meta = read_trial_table(path, format=format, table=table, column_names=column_names,
                                   na_values=na_values)
    source = str(path)
    frame.columns = [str(c) for c in frame.columns]
    if path.name.split(".")[0].endswith("_events"):
        missing = [c for c in ("onset", "duration") if c not in frame.columns]
        if missing:
            raise FileFormatError(f"BIDS events file without the required column(s) {missing}", source=source,
                                  fix="BIDS events.tsv files need 'onset' and 'duration' (seconds) columns")
    roles = _assign_roles(list(frame.columns), explicit, source, require)
    out = frame.copy()
    dropped_rows: list[int] = []
    if "stimulus_id" in roles:
        missing = _missing_text(frame[roles["stimulus_id"]])
        if missing.any():
            rows = np.flatnonzero(missing)
            if missing_stimulus == "raise":
                raise DataError(
                    f"{rows.size} of {len(frame)} trial(s) have no stimulus in column {roles['stimulus_id']!r} "
                    f"(data rows {(rows[:5] + 1).tolist()})", source=source,
                    fix="pass missing_stimulus='drop' to leave those trials out, stimulus=False to keep the column "
                    "as a plain variable, or fill in the ids")
            if missing.all():
                raise DataError(f"no trial has a stimulus in column {roles['stimulus_id']!r}", source=source,
                                fix="pass stimulus=False, or name the stimulus column with stimulus='<column>'")
            logger.warning("%s: %d trial(s) without a stimulus in %r are dropped (data rows %s)", source, rows.size,
                           roles["stimulus_id"], (rows[:5] + 1).tolist())
            dropped_rows = (rows + 1).tolist()
    for role, column in roles.items():
        values = out.pop(column)
        if role in out.columns:  # another column already has the canonical name: keep it, renamed
            logger.warning("%s: column %r renamed %r because %r plays that role", source, role, f"{role}_column",
                           column)
            out = out.rename(columns={role: f"{role}_column"})
        if role == "correct":
            as_float = _as_correct(values, column, source, correct_map,
                                   strict=isinstance(explicit[role], str) or role in require,
                                   description=meta.get("descriptions", {}).get(column))
            if as_float is None:
                out[column] = values
                continue
            out[role] = as_float
        elif role == "reaction_time":
            out[role] = (check_reaction_times(values, column, source, negative_rt)
                         / (1000.0 if rt_unit == "ms" else 1.0))
        else:
            out[role] = values
    roles = {role: column for role, column in roles.items() if role in out.columns}
    if "participant_id" in out.columns and "subject" not in out.columns:
        check_present_ids(out["participant_id"], "participant_id", source)
        out["subject"] = out.pop("participant_id").map(lambda v: str(v).removeprefix("sub-"))
    entities = parse_bids_entities(path)
    for coord in BIDS_COORDS.values():
        value = entities.get(coord)
        if value is None and coord in ("subject", "session"):
            value = meta.get(coord)
        if value is not None and coord not in out.columns:
            out[coord] = str(value)
    if "file" in out.columns:  # the loader's own coordinate: the table's column is kept under another name
        logger.warning("%s: column 'file' renamed 'file_column' because 'file' names the source file", source)
        out = out.rename(columns={"file": "file_column"})
    out["file"] = path.name
    if dropped_rows:
        out = out.drop(index=out.index[np.asarray(dropped_rows) - 1]).reset_index(drop=True)
    return out, roles, dropped_rows
