"""Spike counts around events as arrays of the data model: :func:`bin_spikes` and the loaders' assembly.

The counting itself (half-open ``[start, end)`` bins, one ``searchsorted`` and
one ``bincount`` for every trial, unit and bin) is in
:mod:`neuroalign.loaders.spike_counts`; this module checks the inputs, masks
unobserved bins and labels the result.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..data.provenance import provenance
from ..data.schema import NEUROID, NEUROID_ID, PRESENTATION, STIMULUS_ID, TIME_BIN, TIME_BIN_END, TIME_BIN_START, validate
from ..errors import ConfigError, DataError, UnknownNameError
from .spike_counts import _covered, _inside, bin_edges, check_spike_times, count_spikes, merge_intervals

__all__ = ["bin_edges", "count_spikes", "bin_spikes", "UNOBSERVED_MODES", "event_times_array",
           "refuse_repeated_columns"]

logger = logging.getLogger(__name__)

#: Coordinate names the loaders set themselves; table columns with these names are prefixed.
_RESERVED = {"event_time", NEUROID_ID, TIME_BIN_START, TIME_BIN_END, PRESENTATION, NEUROID, TIME_BIN}

#: What to do with bins that are not entirely inside the observed recording.
UNOBSERVED_MODES = ("nan", "raise", "count")


def numeric_vector(values: Any, source: str, what: str) -> np.ndarray:
    """A 1-D float array from a sequence of numbers; anything else (text, nested shapes) raises."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what} must be numbers, got {type(values).__name__} ({exc})", source=source,
                        fix=f"pass {what} as a 1-D sequence of numbers (seconds)") from None
    if array.ndim > 1 and sum(n > 1 for n in array.shape) > 1:
        raise ConfigError(f"{what} has shape {array.shape}, not one value per entry", source=source,
                          fix=f"pass {what} as a 1-D sequence (e.g. the start column of an (n, 2) array)")
    return array.ravel()


def refuse_repeated_columns(frame: pd.DataFrame, what: str, source: str) -> None:
    """Raise :class:`ConfigError` when a DataFrame given as ``what`` has several columns of one name."""
    if frame.columns.duplicated().any():
        repeated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise ConfigError(f"the {what} has several columns named {repeated}", source=source,
                          fix="give every column its own name")


def event_times_array(values: Any, source: str = "events") -> np.ndarray:
    """Alignment times as a 1-D float array (NaN is checked later, with the trial it belongs to).

    Examples
    --------
    >>> event_times_array([0, 1.5]).tolist()
    [0.0, 1.5]
    """
    return numeric_vector(values, source, "event times")


def coord_values(values: Any) -> np.ndarray:
    """A 1-D coordinate from a table column: bytes decoded, ragged cells joined with ','."""
    array = np.asarray(values) if not isinstance(values, list) else None
    if array is not None and array.ndim == 1 and array.dtype != object:
        if array.dtype.kind == "S":
            return np.array([v.decode("utf-8", "replace") for v in array], dtype=object)
        return array
    cells = list(values)
    out = [_cell(v) for v in cells]
    if all(isinstance(v, (bool, np.bool_)) for v in out):
        return np.array(out, dtype=bool)
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)) for v in out):
        return np.array(out)
    return np.array([str(v) for v in out], dtype=object)


def _cell(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (str, int, float, bool, np.generic)):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, (list, tuple, np.ndarray)):
        return ",".join(str(_cell(v)) for v in np.asarray(value, dtype=object).ravel())
    name = getattr(value, "name", None)
    return name if isinstance(name, str) else str(value)


def assemble(
    times: np.ndarray,
    codes: np.ndarray,
    unit_ids: Sequence[Any],
    event_times: np.ndarray,
    *,
    window: Sequence[float],
    bin_size: float | None,
    trials: pd.DataFrame | None = None,
    stimulus_id: str | Sequence[Any] | None = None,
    neuroid: Mapping[str, Any] | None = None,
    rate: bool = False,
    recording: Sequence[float] | None = None,
    observed: Sequence[Any] | None = None,
    unobserved: str = "nan",
    align_to: str = "event_times",
    source: str = "spike_times",
    parameters: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Any] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    """Count, flag unobserved bins and label: the shared back end of every spike loader.

    ``times``/``codes`` hold every spike of the units ``unit_ids`` (codes index
    ``unit_ids``); ``observed`` is ``None`` or one array of ``[start, stop)``
    intervals (or ``None``) per unit.  See :func:`bin_spikes` for the rest.
    """
    if unobserved not in UNOBSERVED_MODES:
        raise UnknownNameError(unobserved, UNOBSERVED_MODES, what="unobserved mode", source="unobserved")
    edges = bin_edges(window, bin_size)
    times = np.asarray(times, dtype=float).ravel()
    codes = np.asarray(codes, dtype=np.int64).ravel()
    unit_ids = list(unit_ids)
    n_units = len(unit_ids)
    check_spike_times(times, codes, unit_ids, source)
    event_times = event_times_array(event_times, source)
    if not np.isfinite(event_times).all():
        bad = np.flatnonzero(~np.isfinite(event_times))
        raise DataError(f"{bad.size} alignment time(s) in {align_to!r} are NaN or inf (first at trial {bad[0]})",
                        source=source, fix="drop those trials or align to a column that every trial has")
    if recording is None:
        recording = (0.0, float(times.max())) if times.size else (-np.inf, np.inf)
    try:
        rec_start, rec_stop = (float(v) for v in recording)
    except (TypeError, ValueError):
        raise ConfigError(f"recording must be a pair (start, stop) in seconds, got {recording!r}",
                          source="recording", fix="pass e.g. recording=(0.0, 3600.0)") from None
    if np.isnan(rec_start) or np.isnan(rec_stop) or not rec_start < rec_stop:
        raise ConfigError(f"recording {(rec_start, rec_stop)} is not an increasing pair of times",
                          source="recording", fix="pass recording=(start, stop) with start < stop, in seconds")

    # -- the recording: windows that miss it entirely are a user error -------------------------------
    first, last = event_times + edges[0], event_times + edges[-1]
    outside = (last <= rec_start) | (first >= rec_stop)
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise ConfigError(
            f"the window {tuple(float(e) for e in (edges[0], edges[-1]))} s around {align_to!r} lies outside the "
            f"recording ({rec_start:g} to {rec_stop:g} s) for {int(outside.sum())} of {event_times.size} trials "
            f"(the first: trial {i} at {event_times[i]:g} s)",
            source=source,
            fix="check that events and spikes use the same clock and unit (seconds), or drop those trials",
        )

    # -- observation intervals: spikes outside are dropped, bins outside are flagged --------------------
    groups = _observation_groups(observed, n_units, (rec_start, rec_stop))
    if observed is not None:
        keep = np.ones(times.size, dtype=bool)
        for (starts, stops), members in groups:
            in_group = np.isin(codes, members)
            keep[in_group] = _inside(times[in_group], starts, stops)
        dropped = int(times.size - keep.sum())
        if dropped:
            logger.info("%s: %d spike(s) outside the observation intervals are not counted", source, dropped)
            times, codes = times[keep], codes[keep]
    counts = count_spikes(times, codes, n_units, event_times, edges)
    values = counts.astype(float)
    lo = event_times[:, None] + edges[None, :-1]
    hi = event_times[:, None] + edges[None, 1:]
    n_unobserved = 0
    for (starts, stops), members in groups:
        missing = ~_covered(lo, hi, starts, stops)  # (n_trials, n_bins)
        if not missing.any():
            continue
        n_unobserved += int(missing.sum()) * len(members)
        if unobserved == "raise":
            i = int(np.flatnonzero(missing.any(axis=1))[0])
            raise ConfigError(
                f"{int(missing.any(axis=1).sum())} trial window(s) reach outside the observed recording of unit "
                f"{unit_ids[members[0]]!r} (the first: trial {i} at {event_times[i]:g} s)",
                source=source,
                fix="shorten the window, drop those trials, or pass unobserved='nan' to mark those bins NaN",
            )
        if unobserved == "nan":
            values[:, members, :] = np.where(missing[:, None, :], np.nan, values[:, members, :])
    if n_unobserved:
        logger.warning("%s: %d (trial, unit, bin) cell(s) are not fully observed: %s", source, n_unobserved,
                       "set to NaN" if unobserved == "nan" else "counted over the observed part only")
    width = edges[1:] - edges[:-1]
    if rate:
        values /= width[None, None, :] if bin_size is None else float(bin_size)

    # -- labels --------------------------------------------------------------------------------------
    n_trials = event_times.size
    coords: dict[str, tuple[str, Any]] = {}
    if trials is not None:
        refuse_repeated_columns(trials, "trial table", "trials")
        if len(trials) != n_trials:
            raise ConfigError(f"the trial table has {len(trials)} rows but there are {n_trials} events",
                              source="trials", fix="pass one row per event")
        for column in trials.columns:
            name = str(column)
            if name in _RESERVED:
                logger.info("%s: trial column %r is renamed 'trial_%s' (the name is reserved)", source, name, name)
                name = f"trial_{name}"
            coords[name] = (PRESENTATION, coord_values(trials[column].to_numpy()))
        if "trial" not in coords:
            coords["trial"] = (PRESENTATION, coord_values(list(trials.index)))
    else:
        coords["trial"] = (PRESENTATION, np.arange(n_trials))
    coords["event_time"] = (PRESENTATION, event_times)
    coords[STIMULUS_ID] = (PRESENTATION, _stimulus_ids(stimulus_id, trials, coords, n_trials, source))
    coords[NEUROID_ID] = (NEUROID, np.array([str(u) for u in unit_ids], dtype=object))
    for name, column in (neuroid or {}).items():
        name = str(name)
        if name in coords or name in _RESERVED:  # e.g. a 'subject' column in the trial table too
            logger.info("%s: unit column %r is renamed 'neuroid_%s' (the name is taken)", source, name, name)
            name = f"neuroid_{name}"
        column = coord_values(list(column))
        if column.shape != (n_units,):
            raise ConfigError(f"neuroid coordinate {name!r} has {column.size} entries for {n_units} units",
                              source="neuroid", fix="pass one value per unit, in the order of the units")
        coords[name] = (NEUROID, column)
    coords[TIME_BIN_START] = (TIME_BIN, edges[:-1])
    coords[TIME_BIN_END] = (TIME_BIN, edges[1:])
    all_attrs = {
        "bin_size": float(bin_size) if bin_size is not None else float(edges[-1] - edges[0]),
        "window": [float(edges[0]), float(edges[-1])],
        "align_to": str(align_to),
        "units": "Hz" if rate else "counts",
        "bin_convention": "[start, end) relative to the alignment event",
        "recording": [rec_start, rec_stop],
        "unobserved": unobserved,
        "n_unobserved_bins": n_unobserved,
        **dict(attrs or {}),
    }
    all_attrs.update(provenance(parameters, inputs))
    array = xr.DataArray(values, dims=(PRESENTATION, NEUROID, TIME_BIN), coords=coords, attrs=all_attrs,
                         name="spike_rate" if rate else "spike_count")
    return validate(array, dims=(PRESENTATION, NEUROID, TIME_BIN), name=source, allow_nan=unobserved == "nan")


def _observation_groups(observed, n_units, recording):
    """Units grouped by identical merged observation intervals: [((starts, stops), [codes])]."""
    if observed is None:
        return [((np.array([recording[0]]), np.array([recording[1]])), list(range(n_units)))] if n_units else []
    if len(observed) != n_units:
        raise ConfigError(f"observed has {len(observed)} entries for {n_units} units", source="observed",
                          fix="pass one array of (start, stop) intervals per unit, or a single array for all")
    groups: dict[bytes, tuple[tuple[np.ndarray, np.ndarray], list[int]]] = {}
    for code, intervals in enumerate(observed):
        merged = merge_intervals([recording] if intervals is None else intervals)
        key = np.concatenate(merged).tobytes()
        groups.setdefault(key, (merged, []))[1].append(code)
    return list(groups.values())


def _stimulus_ids(stimulus_id, trials, coords, n_trials, source):
    if stimulus_id is None:
        if trials is not None and STIMULUS_ID in trials.columns:
            _check_present(list(trials[STIMULUS_ID]), f"column {STIMULUS_ID!r}", source)
        if STIMULUS_ID in coords:
            return coords[STIMULUS_ID][1]
        return np.array([str(v) for v in coords["trial"][1]], dtype=object)
    if isinstance(stimulus_id, str):
        if trials is None or stimulus_id not in trials.columns:
            raise UnknownNameError(stimulus_id, [] if trials is None else list(map(str, trials.columns)),
                                   what="stimulus_id column", source=source)
        _check_present(list(trials[stimulus_id]), f"column {stimulus_id!r}", source)
        return coords[stimulus_id][1]
    if isinstance(stimulus_id, (bytes, Mapping)) or not hasattr(stimulus_id, "__iter__"):
        raise ConfigError(f"stimulus_id must be a column name or one id per event, got {type(stimulus_id).__name__}",
                          source="stimulus_id", fix="pass the name of a trial-table column, or a list of ids")
    ids = list(stimulus_id)
    _check_present(ids, "stimulus_id", "stimulus_id")
    values = coord_values(ids)
    if values.shape != (n_trials,):
        raise ConfigError(f"stimulus_id has {values.size} entries for {n_trials} trials", source="stimulus_id",
                          fix="pass one id per event, or the name of a trial-table column")
    return values


def _check_present(ids: list, where: str, source: str) -> None:
    """Stimulus ids must all be there: a missing one is never turned into the text 'nan' or 'n/a'."""
    missing = [i for i, v in enumerate(ids) if v is None or (isinstance(v, float) and np.isnan(v))
               or (isinstance(v, (str, bytes)) and (v.decode("utf-8", "replace") if isinstance(v, bytes) else v)
                   .strip().lower() in ("", "n/a", "nan", "na"))]
    if missing:
        raise DataError(f"{len(missing)} of {len(ids)} trial(s) have no stimulus id in {where} (trials "
                        f"{missing[:5]})", source=source,
                        fix="drop those trials (rows) before loading, or pass stimulus_id=<a column every trial has>")


def bin_spikes(
    spike_times: Any,
    unit_ids: Any,
    event_times: Any,
    window: Sequence[float],
    bin_size: float | None = None,
    *,
    trials: pd.DataFrame | None = None,
    stimulus_id: str | Sequence[Any] | None = None,
    units: Sequence[Any] | None = None,
    neuroid: Mapping[str, Any] | pd.DataFrame | None = None,
    rate: bool = False,
    recording: Sequence[float] | None = None,
    observed: Any = None,
    unobserved: str = "nan",
    align_to: str = "event_times",
) -> xr.DataArray:
    """Bin spikes from plain arrays into a ``(presentation, neuroid, time_bin)`` array.

    Parameters
    ----------
    spike_times : array_like of float, shape (n_spikes,)
        Spike times in seconds from the start of the recording (non-negative,
        sorted within each unit).
    unit_ids : array_like, shape (n_spikes,)
        The unit (cluster) of each spike.
    event_times : array_like of float, shape (n_trials,)
        Alignment times in seconds, one per trial (any order; windows may overlap).
    window : (start, stop)
        Window around each event in seconds, e.g. ``(-0.5, 1.5)``.
    bin_size : float, optional
        Bin width in seconds (must divide the window); ``None``: one bin.
    trials : pandas.DataFrame, optional
        One row per event; every column becomes a ``presentation`` coordinate,
        the index becomes ``trial`` (unless a column has that name).
    stimulus_id : str or sequence, optional
        A column of ``trials`` or one id per event.  Default: the ``stimulus_id``
        column when there is one, else the trial index as a string.
    units : sequence, optional
        The units to keep, in this order.  Default: every unit in ``unit_ids``,
        sorted.
    neuroid : mapping or DataFrame, optional
        Extra ``neuroid`` coordinates: a mapping of name to one value per unit
        (in the order of the output units), or a DataFrame indexed by unit id.
    rate : bool
        Divide counts by the bin width (``units`` attribute "Hz", else "counts").
    recording : (start, stop), optional
        The recorded time span; default ``(0, last spike)``.  A trial whose
        window does not overlap it raises :class:`ConfigError`.
    observed : array (n, 2) or mapping of unit id to array (n, 2), optional
        ``[start, stop)`` observation intervals, for all units or per unit
        (units missing from a mapping count as observed over ``recording``).
        Default: the whole ``recording``.  Spikes outside are not counted.
    unobserved : {"nan", "raise", "count"}
        Bins not entirely inside the observed time: ``"nan"`` (the default) sets
        them to NaN, ``"raise"`` raises :class:`ConfigError`, ``"count"`` counts
        the spikes of the observed part.  The number of such cells is in the
        ``n_unobserved_bins`` attribute.
    align_to : str
        How the events are named in the ``align_to`` attribute and in messages.

    Returns
    -------
    xarray.DataArray
        float64 values with dims ``(presentation, neuroid, time_bin)``;
        coordinates ``stimulus_id``, ``trial``, ``event_time`` and the trial
        columns on ``presentation``; ``neuroid_id`` (the unit id as a string) on
        ``neuroid``; ``time_bin_start``/``time_bin_end`` in seconds relative to
        the event.  Attributes ``bin_size``, ``window``, ``align_to``, ``units``
        and provenance.

    Raises
    ------
    DataError
        Spike times are NaN, negative or unsorted within a unit; an event time is NaN.
    ConfigError
        Bad window or bin size, a window outside the recording, or unobserved
        bins with ``unobserved="raise"``.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.loaders.binning import bin_spikes
    >>> counts = bin_spikes([0.1, 0.2, 1.15, 2.05], [7, 7, 7, 3], event_times=[0.0, 1.0, 2.0],
    ...                     window=(0.0, 0.5), bin_size=0.25, recording=(0.0, 3.0))
    >>> counts.dims
    ('presentation', 'neuroid', 'time_bin')
    >>> counts.sel(neuroid=1).values.tolist()  # unit "7"
    [[2.0, 0.0], [1.0, 0.0], [0.0, 0.0]]
    """
    spike_times = numeric_vector(spike_times, "spike_times", "spike times")
    unit_ids = np.asarray(unit_ids)
    if unit_ids.ndim > 1 and sum(n > 1 for n in unit_ids.shape) > 1:
        raise ConfigError(f"unit_ids has shape {unit_ids.shape}, not one id per spike", source="unit_ids",
                          fix="pass one unit id per spike, as a 1-D sequence")
    unit_ids = unit_ids.ravel()
    if unit_ids.shape != spike_times.shape:
        raise ConfigError(f"unit_ids has {unit_ids.size} entries for {spike_times.size} spike times",
                          source="unit_ids", fix="pass one unit id per spike")
    if pd.isna(unit_ids).any():
        raise DataError(f"{int(pd.isna(unit_ids).sum())} spike(s) have no unit id (NaN or None)", source="unit_ids",
                        fix="drop those spikes, or give them a unit id")
    try:
        codes_all, uniques = pd.factorize(unit_ids, sort=True)
    except TypeError as exc:  # ids of mixed types cannot be sorted
        raise DataError(f"unit ids of mixed types cannot be ordered ({exc})", source="unit_ids",
                        fix="pass unit ids of one type (all numbers or all strings)") from None
    uniques = np.asarray(uniques)
    # every spike is checked, also those of units left out by units=: they set the default recording span
    check_spike_times(spike_times, codes_all, list(uniques), "spike_times")
    if units is None:
        chosen = list(uniques)
        codes, times = codes_all, spike_times
    else:
        chosen = list(units)
        lookup = pd.Index(uniques).get_indexer(chosen)
        remap = np.full(uniques.size + 1, -1, dtype=np.int64)
        remap[lookup[lookup >= 0]] = np.flatnonzero(lookup >= 0)
        codes = remap[codes_all]
        keep = codes >= 0
        codes, times = codes[keep], spike_times[keep]
        if (lookup < 0).any():
            logger.info("bin_spikes: %d requested unit(s) have no spikes", int((lookup < 0).sum()))
    if isinstance(neuroid, pd.DataFrame):
        neuroid = {str(c): neuroid[c].reindex(chosen).tolist() for c in neuroid.columns}
    per_unit = None
    if isinstance(observed, Mapping):
        per_unit = [observed.get(u) for u in chosen]
    elif observed is not None:
        per_unit = [observed] * len(chosen)
    if recording is None and spike_times.size:
        recording = (0.0, float(spike_times.max()))
    trials_frame = None if trials is None else pd.DataFrame(trials)
    return assemble(
        times, codes, chosen, np.asarray(event_times, dtype=float),
        window=window, bin_size=bin_size, trials=trials_frame, stimulus_id=stimulus_id, neuroid=neuroid,
        rate=rate, recording=recording, observed=per_unit, unobserved=unobserved, align_to=align_to,
        source="spike_times",
        parameters={"window": list(window), "bin_size": bin_size, "rate": rate, "align_to": align_to,
                    "unobserved": unobserved, "recording": None if recording is None else list(recording),
                    "stimulus_id": stimulus_id if isinstance(stimulus_id, str) else None},
        inputs={"spike_times": spike_times, "unit_ids": unit_ids, "event_times": np.asarray(event_times)},
    )
