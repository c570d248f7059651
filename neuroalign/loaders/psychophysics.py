"""The metameric psychophysics of Harrington & Deza (ICLR 2022) as one tidy Dataset.

Harrington, A. & Deza, A. (2022). *Finding biological plausibility for
adversarially robust features via metameric tasks.* ICLR.  Data and code:
``anneharrington/Adversarially-Robust-Periphery`` (``Psychophysics/``).

Twelve participants did two tasks at six eccentricities (5–30°): a 2AFC
matching task (``<SUBJ>_data{1,2}.mat``: a central target, then two peripheral
images, "which one matched?") and a 3-interval oddity task
(``<SUBJ>_oddity_data{1,2}.mat``: three images in sequence at one peripheral
position, "which one was different?").  ``data1`` files hold the robust and
standard-network stimuli, ``data2`` files the texforms.  Every file is a
MATLAB v7.3 ``full_condtable`` (one row per trial once transposed) with
column names in ``colHeaders``.

What this loader settles, with the evidence (see ``docs/loaders-behavior.md``):

* **The unnamed oddity column.**  Oddity tables have 16 columns but 15 names.
  The extra column is the second one: it holds only 0/1 (half each) and it is
  the side of fixation where the three images appeared (``target_position``
  in the experiment script: 0 left, 1 right).  Every name from
  ``condition_id`` on is shifted one place to the right: with the shift the
  oddity columns hold the same values as the 2AFC columns of the same name
  (condition ids 1–4 or 1–2, stimulus-type codes 1–5 or 1–3, class 1–9, image
  0–99, one-hot answer key and response, 0/1 correctness, reaction times in
  seconds), and the authors' analysis reads the oddity condition from column
  3 and correctness from column 15 (1-based).
* **Condition ids** (:data:`CONDITIONS`), from the table generators and the
  authors' figure legends, checked against the stimulus-type codes of every
  trial.
* **Missing responses.**  ``-1`` is the value the table was initialised with
  and means the trial was never presented (its block was not run); ``NaN``
  means it was presented but no valid key was pressed (timeout, another key,
  or escape).  Neither is a wrong answer: ``correct`` and ``reaction_time``
  are NaN for both, and ``response_status`` says which.
* **Partial and repeated files** are loaded and labelled, not dropped:
  coordinate ``session_kind`` is ``"main"`` for the twelve participants'
  ``<XX>_<NN>_…`` files, ``"partial"`` for the short one-repetition tables of
  which only the first block was run (``AE_data1``, ``EC_data2``,
  ``EC_oddity_data2``), and ``"repeat"`` for ``WL_03b_data2`` (two extra
  texform 2AFC blocks of participant WL_03, whose main ``data2`` file lacks a
  block).  The coordinate ``file`` names the source of every trial.
* **A wrong answer key.**  In the oddity ``standard vs standard`` condition a
  third of the trials (items ``standard_0, standard_0, standard_1`` and
  ``standard_0, standard_1, standard_0``) were generated with the answer key of
  another row, so the recorded ``correct`` scores those trials against the
  wrong interval.  ``correct`` keeps the recorded value (what the paper
  analysed); ``correct_by_stimuli`` rescores every trial from the stimulus
  types, and ``answer_key_mismatch`` flags the affected trials.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..data import provenance
from ..errors import ConfigError, DataError, FileFormatError, NeuroalignError, UnknownNameError
from .behavior import TRIAL, check_trials
from .matfiles import read_mat

__all__ = ["load_metameric_psychophysics", "CONDITIONS", "STIMULUS_TYPES", "IMAGE_FOLDERS",
           "COLUMNS_2AFC", "COLUMNS_ODDITY", "SESSION_KINDS"]

logger = logging.getLogger(__name__)

#: Column names of the 2AFC tables (13 columns, as in ``colHeaders``).
COLUMNS_2AFC = ("eccentricity", "condition_id", "target", "left", "right", "class_id", "im_id",
                "correct_button_left", "correct_button_right", "response_left", "response_right",
                "portion_correct", "reaction_time")
#: The 15 names stored in the oddity files' ``colHeaders``.
_ODDITY_HEADER = ("eccentricity", "condition_id", "target", "left", "right", "class_id", "im_id",
                  "correct_button_1", "correct_button_2", "correct_button_3", "response_1", "response_2",
                  "response_3", "portion_correct", "reaction_time")
#: The 16 oddity columns: the unnamed second column is ``target_position``.
COLUMNS_ODDITY = _ODDITY_HEADER[:1] + ("target_position",) + _ODDITY_HEADER[1:]

#: Readable name of each (session, condition_id): session 1 = ``data1`` files
#: (robust and standard stimuli), session 2 = ``data2`` files (texforms).
CONDITIONS: dict[tuple[int, int], str] = {
    (1, 1): "original vs robust",
    (1, 2): "robust vs robust",
    (1, 3): "original vs standard",
    (1, 4): "standard vs standard",
    (2, 1): "original vs texform",
    (2, 2): "texform vs texform",
}
#: Stimulus-type codes of the ``target``/``left``/``right`` columns, per session.
STIMULUS_TYPES: dict[int, tuple[str, ...]] = {
    1: ("original", "robust_0", "robust_1", "standard_0", "standard_1"),
    2: ("original", "texform_0", "texform_1"),
}
#: The image folders the experiment read for each code (``<folder>/class_<k>/<im>.png``).
IMAGE_FOLDERS: dict[int, tuple[str, ...]] = {
    1: ("original", "robust_results0", "robust_results1", "standard_results0", "standard_results1"),
    2: ("original", "texforms0", "texforms1"),
}
#: Stimulus set of each session.
STIMULUS_SETS = {1: "robust_standard", 2: "texform"}
SESSION_KINDS = ("main", "partial", "repeat")

_NAME = re.compile(r"(?P<initials>[A-Za-z]+)(?:_(?P<number>\d+)(?P<suffix>[a-z]*))?_(?P<oddity>oddity_)?"
                   r"data(?P<session>[12])\.mat")


def _describe(path: Path, folder_names: Iterable[str]) -> dict[str, Any]:
    match = _NAME.fullmatch(path.name)
    if match is None:
        raise FileFormatError(
            "the file name does not follow <SUBJ>_<NN>_[oddity_]data{1,2}.mat",
            source=str(path), fix="rename it, move it out of the folder, or pass errors='skip'",
        )
    initials, number, suffix = match["initials"], match["number"], match["suffix"]
    if number is not None:
        subject = f"{initials}_{number}"
        kind = "repeat" if suffix else "main"
    else:
        owners = sorted({m["initials"] + "_" + m["number"] for m in map(_NAME.fullmatch, folder_names)
                         if m and m["number"] and m["initials"] == initials})
        subject = owners[0] if len(owners) == 1 else initials
        kind = "partial"
    return {"subject": subject, "session_kind": kind, "session": int(match["session"]),
            "task": "oddity" if match["oddity"] else "2afc"}


def _read_file(path: Path, info: dict[str, Any]) -> dict[str, np.ndarray]:
    contents = read_mat(path, variables=("full_condtable", "colHeaders", "eccentricities", "blocks"))
    try:
        table = np.asarray(contents["full_condtable"], dtype=float)
        eccentricities = np.asarray(contents["eccentricities"], dtype=float).ravel()
        blocks = np.asarray(contents["blocks"], dtype=float)
    except (TypeError, ValueError) as exc:
        raise FileFormatError(f"full_condtable, eccentricities or blocks is not numeric ({exc})", source=str(path),
                              fix="check that this is an unmodified Harrington & Deza (2022) file") from None
    names_stored = contents["colHeaders"]
    header = tuple(names_stored) if isinstance(names_stored, list) else ()
    task, session = info["task"], info["session"]
    expected_header, names = ((_ODDITY_HEADER, COLUMNS_ODDITY) if task == "oddity" else (COLUMNS_2AFC, COLUMNS_2AFC))
    if table.ndim != 2 or table.shape[1] != len(names) or header != expected_header:
        raise FileFormatError(
            f"expected {'an oddity' if task == 'oddity' else 'a 2AFC'} table with {len(names)} columns and the "
            f"published colHeaders, got "
            f"{table.shape} with {len(header)} names",
            source=str(path), fix="check that this is an unmodified Harrington & Deza (2022) file",
        )
    col = dict(zip(names, table.T))
    n = table.shape[0]
    if task == "oddity" and not np.isin(col["target_position"], (0, 1)).all():
        raise FileFormatError("the unnamed second oddity column is not 0/1 (target side)", source=str(path),
                              fix="check that this is an unmodified Harrington & Deza (2022) file")
    n_types = len(STIMULUS_TYPES[session])
    codes = np.stack([col["target"], col["left"], col["right"]], axis=1)
    cond = col["condition_id"]
    if not (np.isin(codes, np.arange(1, n_types + 1)).all()
            and np.isin(cond, [c for (s, c) in CONDITIONS if s == session]).all()):
        raise FileFormatError(f"condition or stimulus-type codes outside those of session {session}",
                              source=str(path), fix="check that data1/data2 in the file name match its contents")
    ecc_index = _index_column(col["eccentricity"], 1, eccentricities.size, "eccentricity", path)
    _index_column(col["class_id"], 1, 9, "class_id", path)  # 9 classes of 100 images each
    _index_column(col["im_id"], 0, 99, "im_id", path)
    _check_condition_types(session, cond, codes, path)

    # response status: -1 = never presented, NaN = presented without a valid key, else valid
    key_names = ([f"correct_button_{i}" for i in (1, 2, 3)] if task == "oddity"
                 else ["correct_button_left", "correct_button_right"])
    resp_names = ([f"response_{i}" for i in (1, 2, 3)] if task == "oddity"
                  else ["response_left", "response_right"])
    recorded = col["portion_correct"]
    not_presented = recorded == -1
    no_response = np.isnan(recorded)
    valid = ~(not_presented | no_response)
    status = np.where(not_presented, "not_presented", np.where(no_response, "no_response", "valid"))
    responses = np.stack([col[k] for k in resp_names], axis=1)
    key = np.stack([col[k] for k in key_names], axis=1)
    _check_values(recorded[valid], col["reaction_time"][valid], key, responses[valid], path)
    responses[~valid] = np.nan
    choice = np.where(valid, np.argmax(np.nan_to_num(responses), axis=1) + 1.0, np.nan)
    correct_choice = np.argmax(key, axis=1) + 1

    # rescoring from the stimulus types
    if task == "oddity":
        odd = np.stack([(codes[:, k] != codes[:, (k + 1) % 3]) & (codes[:, k] != codes[:, (k + 2) % 3])
                        for k in range(3)], axis=1)
        answerable = odd.sum(axis=1) == 1  # two intervals alike, one different
        true_choice = np.argmax(odd, axis=1) + 1
    else:
        answerable = (codes[:, 1] == codes[:, 0]) != (codes[:, 2] == codes[:, 0])  # one side matches the target
        true_choice = np.where(codes[:, 1] == codes[:, 0], 1, 2)
    if not answerable.all():
        i = int(np.flatnonzero(~answerable)[0])
        raise FileFormatError(f"{int((~answerable).sum())} trial(s) have no single right answer (row {i}: stimulus "
                              f"types {codes[i].astype(int).tolist()})", source=str(path),
                              fix="check that this is an unmodified Harrington & Deza (2022) file")
    mismatch = true_choice != correct_choice
    by_stimuli = np.where(valid, (choice == true_choice).astype(float), np.nan)
    disagree = valid & (recorded != (choice == correct_choice))
    if disagree.any():
        raise FileFormatError(f"{int(disagree.sum())} answered trial(s) record a correctness that disagrees with "
                              "their response and answer key", source=str(path),
                              fix="check that this is an unmodified Harrington & Deza (2022) file")
    correct = np.where(valid, recorded, np.nan)

    block = np.full(n, -1, dtype=np.int64)
    position = np.full(n, -1, dtype=np.int64)
    whole = blocks.ndim == 2 and bool(np.all(np.isfinite(blocks)))
    rows = blocks.T.ravel().astype(np.int64) - 1 if whole else np.zeros(0, dtype=np.int64)
    if whole and np.array_equal(np.sort(rows), np.arange(n)):
        block[rows] = np.repeat(np.arange(1, blocks.shape[1] + 1), blocks.shape[0])
        position[rows] = np.tile(np.arange(1, blocks.shape[0] + 1), blocks.shape[1])
    else:
        logger.warning("%s: 'blocks' is not a permutation of the trials; block = -1", path)

    types = np.asarray(STIMULUS_TYPES[session])
    folders = np.asarray(IMAGE_FOLDERS[session])
    class_id = col["class_id"].astype(np.int64)
    im_id = col["im_id"].astype(np.int64)
    source_image = np.char.add(np.char.add("class_", (class_id - 1).astype(str)), np.char.add("/", im_id.astype(str)))
    out: dict[str, np.ndarray] = {
        "subject": np.full(n, info["subject"]),
        "session": np.full(n, session, dtype=np.int64),
        "task": np.full(n, task),
        "stimulus_set": np.full(n, STIMULUS_SETS[session]),
        "session_kind": np.full(n, info["session_kind"]),
        "file": np.full(n, path.stem),
        "row": np.arange(n, dtype=np.int64),
        "block": block,
        "block_position": position,
        "condition_id": cond.astype(np.int64),
        "condition": np.asarray([CONDITIONS[(session, int(c))] for c in cond]),
        "eccentricity": eccentricities[ecc_index - 1],
        "eccentricity_index": ecc_index.astype(np.int64),
        "stimulus_id": source_image,
        "correct": correct,
        "correct_by_stimuli": by_stimuli,
        "answer_key_mismatch": mismatch,
        "reaction_time": np.where(valid, col["reaction_time"], np.nan),
        "response_status": status,
        "choice": choice,
        "correct_choice": correct_choice.astype(np.int64),
        "side": (np.where(col["target_position"] == 0, "left", "right") if task == "oddity"
                 else np.full(n, "both")),
        "class_id": class_id,
        "im_id": im_id,
    }
    for name, column in (("target", 0), ("left", 1), ("right", 2)):
        code = codes[:, column].astype(np.int64)
        out[name] = code
        out[f"{name}_type"] = types[code - 1]
        out[f"{name}_image"] = np.char.add(np.char.add(folders[code - 1], "/"), source_image)
    for names, values in ((key_names, key), (resp_names, responses)):
        for i, name in enumerate(names):
            out[name] = values[:, i]
    return out


def _index_column(values: np.ndarray, low: int, high: int | None, name: str, path: Path) -> np.ndarray:
    """Whole numbers in ``[low, high]`` as int64, else a FileFormatError (never a wrapped or truncated index)."""
    ok = np.isfinite(values) & (values == np.round(values)) & (values >= low)
    if high is not None:
        ok &= values <= high
    if not ok.all():
        seen = sorted(set(values[~ok].tolist()), key=str)[:5]
        limits = f"{low} to {high}" if high is not None else f"at least {low}"
        raise FileFormatError(f"column {name!r} holds values that are not whole numbers {limits}: {seen} "
                              f"({int((~ok).sum())} trial(s))", source=str(path),
                              fix="check that this is an unmodified Harrington & Deza (2022) file")
    return values.astype(np.int64)


def _check_condition_types(session: int, cond: np.ndarray, codes: np.ndarray, path: Path) -> None:
    """Each trial shows the stimulus types of its condition (see :data:`CONDITIONS` and the module notes)."""
    originals = {1: (1, (2, 3)), 3: (1, (4, 5))} if session == 1 else {1: (1, (2, 3))}
    pairs = {2: (2, 3), 4: (4, 5)} if session == 1 else {2: (2, 3)}
    allowed = {c: [{o, t} for t in synths] for c, (o, synths) in originals.items()}
    allowed.update({c: [set(pair)] for c, pair in pairs.items()})
    wrong = [i for i, (c, row) in enumerate(zip(cond.astype(int), codes.astype(int)))
             if set(row.tolist()) not in allowed[c]]
    if wrong:
        i = wrong[0]
        raise FileFormatError(
            f"{len(wrong)} trial(s) show stimulus types that do not belong to their condition (row {i}: condition "
            f"{CONDITIONS[(session, int(cond[i]))]!r} with types {sorted(set(codes[i].astype(int).tolist()))})",
            source=str(path), fix="check that this is an unmodified Harrington & Deza (2022) file")


def _check_values(correct: np.ndarray, rt: np.ndarray, key: np.ndarray, responses: np.ndarray, path: Path) -> None:
    """The answered trials hold 0/1 correctness, finite non-negative reaction times and one-hot keys."""
    codes = ~np.isin(correct, (0.0, 1.0))
    if codes.any():
        raise DataError(f"portion_correct holds codes other than 0, 1, -1 (not presented) and NaN (no response): "
                        f"{sorted(set(correct[codes].tolist()))[:5]}", source=str(path),
                        fix="check that this is an unmodified Harrington & Deza (2022) file")
    bad_rt = ~np.isfinite(rt) | (rt < 0)
    if bad_rt.any():
        raise DataError(f"{int(bad_rt.sum())} answered trial(s) have a negative or missing reaction time (e.g. "
                        f"{rt[bad_rt][0]!r})", source=str(path),
                        fix="check that this is an unmodified Harrington & Deza (2022) file")
    for name, table in (("answer-key", key), ("response", responses)):
        one_hot = np.isin(table, (0.0, 1.0)).all(axis=1) & (np.nansum(table, axis=1) == 1)
        if not one_hot.all():
            raise FileFormatError(f"{int((~one_hot).sum())} trial(s) have {name} columns that do not mark exactly "
                                  "one interval", source=str(path),
                                  fix="check that this is an unmodified Harrington & Deza (2022) file")


_COORDS = ("subject", "session", "task", "stimulus_set", "session_kind", "file", "row", "block",
           "block_position", "condition_id", "condition", "eccentricity", "stimulus_id")


def load_metameric_psychophysics(
    folder: str | os.PathLike,
    *,
    session_kinds: Iterable[str] | None = None,
    tasks: Iterable[str] | None = None,
    errors: str = "raise",
    progress: bool = True,
) -> xr.Dataset:
    """Load Harrington & Deza's (2022) 2AFC and oddity data into one tidy Dataset.

    Parameters
    ----------
    folder : path-like
        The ``subject_data`` folder of ``*_data{1,2}.mat`` and
        ``*_oddity_data{1,2}.mat`` files (MATLAB v7.3).
    session_kinds : iterable of {"main", "partial", "repeat"}, optional
        Keep only these kinds of file (all by default; see the module notes).
    tasks : iterable of {"2afc", "oddity"}, optional
        Keep only these tasks (both by default; case is ignored).
    errors : {"raise", "skip"}
        ``"skip"`` logs and skips ``.mat`` files that cannot be read or do not
        follow the naming scheme, and lists them in ``attrs["skipped"]``.
    progress : bool
        Show a progress bar over files.

    Returns
    -------
    xarray.Dataset
        One ``trial`` dimension (all files stacked).  Coordinates: ``subject``
        (e.g. ``"AE_11"``), ``session`` (1 = robust/standard, 2 = texform),
        ``task`` (``"2afc"``/``"oddity"``), ``stimulus_set``, ``session_kind``,
        ``file``, ``row`` (0-based row of the file's table), ``block`` and
        ``block_position`` (1-based, from the file's ``blocks``),
        ``condition_id`` (as in the file), ``condition`` (readable,
        :data:`CONDITIONS`), ``eccentricity`` (degrees) and ``stimulus_id``
        (the source image, ``"class_<k>/<im>"``, shared by the original and its
        syntheses).  Variables: ``correct`` (float: 1, 0, or NaN when there was
        no valid response), ``reaction_time`` (seconds, NaN likewise),
        ``response_status`` (``"valid"``, ``"no_response"``,
        ``"not_presented"``), ``choice`` (2AFC: 1 left, 2 right; oddity:
        interval 1–3; NaN when missing), ``correct_choice`` (the recorded
        answer key), ``correct_by_stimuli``, ``answer_key_mismatch``, ``side``,
        ``target``/``left``/``right`` codes with ``*_type`` names and
        ``*_image`` paths, ``class_id``, ``im_id``, ``eccentricity_index`` and
        the raw one-hot answer-key and response columns (NaN for the other
        task's columns).

    Raises
    ------
    FileFormatError
        The folder has no such files, or a file is unreadable or not laid out
        as published.
    UnknownNameError
        A value of ``session_kinds`` or ``tasks`` is not valid.

    Examples
    --------
    >>> from neuroalign.datasets.fetchers import data_home
    >>> from neuroalign.loaders.psychophysics import load_metameric_psychophysics
    >>> folder = data_home() / "harrington_deza2022"   # $NEUROALIGN_DATA/harrington_deza2022
    >>> if folder.is_dir():  # the real data, when present
    ...     data = load_metameric_psychophysics(folder, progress=False)
    ...     print(sorted(set(data.task.values.tolist())))
    ... else:
    ...     print(['2afc', 'oddity'])
    ['2afc', 'oddity']
    """
    folder = Path(folder)
    if errors not in ("raise", "skip"):
        raise UnknownNameError(errors, ("raise", "skip"), what="errors mode", source="errors")
    kinds = set(SESSION_KINDS if session_kinds is None else session_kinds)
    for kind in kinds:
        if kind not in SESSION_KINDS:
            raise UnknownNameError(kind, SESSION_KINDS, what="session kind", source="session_kinds")
    wanted_tasks = {str(t).lower() for t in (("2afc", "oddity") if tasks is None else tasks)}
    for task in wanted_tasks:
        if task not in ("2afc", "oddity"):
            raise UnknownNameError(task, ("2afc", "oddity"), what="task", source="tasks")
    if not folder.is_dir():
        raise FileFormatError("folder not found", source=str(folder),
                              fix="pass the Psychophysics/subject_data folder of Harrington & Deza (2022)")
    files = sorted(folder.glob("*.mat"))
    if not files:
        raise FileFormatError("no .mat files in the folder", source=str(folder),
                              fix="pass the folder holding <SUBJ>_data1.mat, <SUBJ>_oddity_data1.mat, …")
    from tqdm.auto import tqdm

    names = [f.name for f in files]
    parts: list[dict[str, np.ndarray]] = []
    skipped: list[dict[str, str]] = []
    used: list[Path] = []
    for path in tqdm(files, desc="psychophysics files", unit="file", disable=not progress):
        try:
            info = _describe(path, names)
            if info["session_kind"] not in kinds or info["task"] not in wanted_tasks:
                continue
            parts.append(_read_file(path, info))
            used.append(path)
        except NeuroalignError as exc:
            if errors == "raise":
                raise
            logger.warning("skipping %s: %s", path, exc)
            skipped.append({"file": str(path), "error": str(exc)})
    if not parts:
        raise ConfigError("no file matched the selection", source=str(folder),
                          fix="check session_kinds and tasks, or see attrs['skipped'] with errors='skip'")
    dataset = _stack(parts)
    dataset.attrs.update({
        "title": "Harrington & Deza (2022) metameric psychophysics (2AFC and oddity)",
        "reference": "Harrington, A. & Deza, A. (2022). Finding biological plausibility for adversarially "
                     "robust features via metameric tasks. ICLR.",
        "source": str(folder),
        "conditions": {f"{s}:{c}": name for (s, c), name in CONDITIONS.items()},
        "missing_responses": "-1 in the files = trial never presented; NaN = presented without a valid key. "
                             "Both are NaN in correct and reaction_time, never 0; see response_status.",
        "skipped": skipped,
        **provenance({"session_kinds": sorted(kinds), "tasks": sorted(wanted_tasks)},
                     {p.name: str(p) for p in used}),
    })
    return check_trials(dataset, name=str(folder))


def _tight(values: np.ndarray) -> np.ndarray:
    """A string array in the narrowest unicode dtype (np.char results are wide)."""
    if values.dtype.kind != "U" or values.size == 0:
        return values
    return values.astype(f"<U{max(1, int(np.char.str_len(values).max()))}")


def _stack(parts: list[dict[str, np.ndarray]]) -> xr.Dataset:
    keys = list(dict.fromkeys(k for part in parts for k in part))
    columns: dict[str, np.ndarray] = {}
    for key in keys:
        pieces = []
        for part in parts:
            n = len(part["row"])
            pieces.append(part[key] if key in part else np.full(n, np.nan))
        columns[key] = _tight(np.concatenate(pieces))
    coords = {TRIAL: np.arange(len(columns["row"])), **{k: (TRIAL, columns[k]) for k in _COORDS}}
    data_vars = {k: (TRIAL, v) for k, v in columns.items() if k not in _COORDS}
    dataset = xr.Dataset(data_vars, coords=coords)
    dataset["eccentricity"].attrs["units"] = "degrees of visual angle"
    dataset["reaction_time"].attrs["units"] = "s"
    dataset["correct"].attrs["description"] = "recorded correctness: 1, 0, NaN = no valid response (not wrong)"
    return dataset
