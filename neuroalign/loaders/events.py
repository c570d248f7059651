"""BIDS ``events.tsv`` tables: the trials of a task run (onset, duration, trial type, stimulus)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError, SchemaError
from .text_tables import read_text_table

__all__ = ["read_events", "check_events_in_run"]


def read_events(events: Any, *, stimulus_column: str = "trial_type", source: str | None = None) -> pd.DataFrame:
    """The trials of one run from a BIDS ``events.tsv`` file or a DataFrame, checked.

    Parameters
    ----------
    events : path or pandas.DataFrame
        A BIDS events table: ``onset`` and ``duration`` (seconds) are required;
        ``trial_type``, a stimulus column and ``modulation`` are optional.
    stimulus_column : str
        The column naming the stimulus of each trial (``"trial_type"`` by
        default; e.g. ``"stim_file"``).  When the table has no ``trial_type``
        column, the stimulus column serves as the trial type.
    source : str, optional
        How the table is named in errors (default: the file name).

    Returns
    -------
    pandas.DataFrame
        Rows sorted by onset (stably), index 0..n-1, columns ``onset``,
        ``duration`` (float), ``trial_type`` and ``stimulus_id`` (str),
        ``modulation`` when present, and the other columns of the table.

    Raises
    ------
    SchemaError
        ``onset`` or ``duration`` (or the stimulus column) is missing.
    DataError
        Missing, non-numeric or infinite onsets/durations, negative durations,
        missing stimulus names, or no trial at all.

    Examples
    --------
    >>> import pandas as pd
    >>> from neuroalign.loaders.events import read_events
    >>> table = pd.DataFrame({"onset": [10.0, 2.0], "duration": [1.0, 1.0], "trial_type": ["dog", "cat"]})
    >>> read_events(table)[["onset", "stimulus_id"]].values.tolist()
    [[2.0, 'cat'], [10.0, 'dog']]
    """
    if isinstance(events, (str, os.PathLike)):
        source = source or str(events)
        if not os.path.isfile(events):
            raise DataError("the events file does not exist", source=source, fix="check the path")
        table = read_text_table(events, sep="\t" if ".tsv" in str(events).lower() else ",", what="events table")
    elif isinstance(events, pd.DataFrame):
        source = source or "events"
        table = events.copy()
    else:
        raise ConfigError(f"expected an events.tsv path or a DataFrame, got {type(events).__name__}",
                          source=source or "events", fix="pass the run's BIDS events.tsv file")
    table.columns = [str(c) for c in table.columns]
    missing = [c for c in ("onset", "duration") if c not in table.columns]
    if missing:
        raise SchemaError(f"the events table has no {' or '.join(repr(c) for c in missing)} column "
                          f"(columns: {list(table.columns)})", source=source,
                          fix="write the BIDS columns 'onset' and 'duration' in seconds (duration 0 for "
                          "impulse events)")
    if stimulus_column not in table.columns:
        raise SchemaError(f"the events table has no stimulus column {stimulus_column!r} "
                          f"(columns: {list(table.columns)})", source=source,
                          fix="pass stimulus_column=<the column naming each trial's stimulus>")
    if not len(table):
        raise DataError("the events table has no trials", source=source, fix="pass the events of a task run")
    for column in ("onset", "duration", *(["modulation"] if "modulation" in table.columns else [])):
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise DataError(f"column {column!r} has missing or non-numeric values in row(s) "
                            f"{(bad + 1).tolist()[:10]}", source=source,
                            fix=f"write a number (seconds) in every {column!r} cell")
        table[column] = values
    if (table["duration"] < 0).any():
        rows = (np.flatnonzero(table["duration"].to_numpy() < 0) + 1).tolist()
        raise DataError(f"negative durations in row(s) {rows[:10]}", source=source,
                        fix="durations are seconds >= 0 (0 for impulse events)")
    names = table[stimulus_column]
    if names.isna().any():
        rows = (np.flatnonzero(names.isna().to_numpy()) + 1).tolist()
        raise DataError(f"column {stimulus_column!r} has missing values in row(s) {rows[:10]}", source=source,
                        fix="name the stimulus of every trial, or drop the rows that are not trials")
    table["stimulus_id"] = names.astype(str).to_numpy()
    if "trial_type" not in table.columns:
        table["trial_type"] = table["stimulus_id"]
    elif table["trial_type"].isna().any():
        rows = (np.flatnonzero(table["trial_type"].isna().to_numpy()) + 1).tolist()
        raise DataError(f"column 'trial_type' has missing values in row(s) {rows[:10]}", source=source,
                        fix="give every trial a trial_type")
    table["trial_type"] = table["trial_type"].astype(str)
    table = table.sort_values("onset", kind="stable").reset_index(drop=True)
    first = ["onset", "duration", "trial_type", "stimulus_id"]
    return table[first + [c for c in table.columns if c not in first]]


def check_events_in_run(events: pd.DataFrame, n_volumes: int, t_r: float, *, slice_time_ref: float = 0.0,
                        min_onset: float = 0.0, source: str = "events") -> None:
    """Raise a :class:`DataError` when a trial starts too long before the run or after its last volume.

    The run's volumes are acquired at ``(k + slice_time_ref) * t_r`` seconds
    (``k = 0 .. n_volumes - 1``, as nilearn's ``FirstLevelModel`` times them).
    A trial starting after the last volume leaves no trace in the data (its
    regressor is zero), so its onset must lie in ``[min_onset, last volume's
    time]``; it may last beyond the end.  ``min_onset`` (≤ 0) admits trials
    that started before the first volume, whose response still reaches the
    run (nilearn's ``min_onset``, -24 s by default in its designs).

    Examples
    --------
    >>> import pandas as pd
    >>> from neuroalign.loaders.events import check_events_in_run
    >>> check_events_in_run(pd.DataFrame({"onset": [0.0, 97.0]}), 50, 2.0)   # last volume at 98 s: fine
    >>> check_events_in_run(pd.DataFrame({"onset": [0.0, 99.0]}), 50, 2.0)
    Traceback (most recent call last):
    ...
    neuroalign.errors.DataError: events: 1 trial(s) start outside the run [0, 98] s (onsets [99.0]). Fix: ...
    """
    last = (n_volumes - 1 + slice_time_ref) * t_r
    onsets = events["onset"].to_numpy(dtype=float)
    outside = (onsets < min_onset) | (onsets > last)
    if outside.any():
        raise DataError(f"{int(outside.sum())} trial(s) start outside the run [{min_onset:g}, {last:g}] s (onsets "
                        f"{onsets[outside].tolist()[:10]})", source=source,
                        fix=f"check that this events file belongs to this run ({n_volumes} volumes × TR "
                        f"{t_r:g} s, the last acquired at {last:g} s) and that onsets are seconds from the first "
                        "volume (not milliseconds, not minus dummy scans); drop trials that start after the last "
                        "volume; pass the right t_r if the header's TR is wrong; a trial that started before the "
                        "run needs min_onset at or below its onset")
