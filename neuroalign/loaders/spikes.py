"""Spike-sorted recordings in NWB files (Units tables) into the data model.

This loader and :func:`neuroalign.loaders.phy.load_phy` (Kilosort/phy folders) return the array of :func:`neuroalign.loaders.binning.bin_spikes`:
dims ``(presentation, neuroid, time_bin)``, spike counts (or rates) in
``[start, end)`` bins relative to an alignment event.  See
``docs/loaders-spikes.md`` for a tutorial and the list of coordinates.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import ConfigError, DataError, DependencyError, FileFormatError, UnknownNameError
from .binning import assemble, coord_values, event_times_array
from .spike_counts import check_spike_times
from .phy import load_phy, read_phy_params

__all__ = ["load_nwb_spikes", "load_phy", "read_phy_params"]  # the phy loader lives in .phy

logger = logging.getLogger(__name__)

#: Units-table columns that are not per-unit labels.
_NOT_LABELS = {"spike_times", "obs_intervals", "electrodes", "waveforms", "waveform_mean", "waveform_sd"}


# ----------------------------------------------------------------------------------------------------
# NWB
# ----------------------------------------------------------------------------------------------------

def _import_pynwb(source: str):
    try:
        import pynwb
    except ImportError:
        raise DependencyError("reading NWB files needs the optional package pynwb, which is not installed",
                              source=source, fix="pip install 'neuroalign[nwb]' (or: pip install pynwb)") from None
    return pynwb


def _read_column(table: Any, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """A column's values, and for ragged columns the end offset of each row's values."""
    from hdmf.common.table import VectorIndex

    column = table[name]
    if isinstance(column, VectorIndex):
        return np.asarray(column.target.data[:]), np.asarray(column.data[:], dtype=np.int64)
    return np.asarray(column.data[:]), None


def _table_frame(table: Any) -> pd.DataFrame:
    """An NWB DynamicTable as a DataFrame of coordinate-ready columns (ragged cells joined)."""
    columns: dict[str, Any] = {}
    for name in table.colnames:
        try:
            values, ends = _read_column(table, name)
            if values.dtype.names:  # compound references (e.g. TimeSeriesReference): not a label
                continue
            if ends is not None:
                values = [",".join(map(str, coord_values(list(cell)))) if len(cell) else ""
                          for cell in np.split(values, ends[:-1])] if len(ends) else []
            elif values.ndim != 1:
                continue
            columns[name] = coord_values(values if isinstance(values, list) else values)
        except Exception as exc:  # an exotic column must not stop the load: it is skipped, and said so
            logger.info("%s: column %r is skipped (%s)", getattr(table, "name", "table"), name, exc)
    return pd.DataFrame(columns, index=pd.Index(np.asarray(table.id.data[:]), name="id"))


def load_nwb_spikes(
    path: str | os.PathLike,
    trials: str | None = None,
    *,
    window: Sequence[float],
    bin_size: float | None = None,
    align_to: str = "start_time",
    stimulus_id: str | None = None,
    events: Any = None,
    units: Mapping[str, Any] | Sequence[Any] | None = None,
    rate: bool = False,
    unobserved: str = "nan",
) -> xr.DataArray:
    """Spike counts of an NWB file's Units table around the trials of an intervals table.

    Parameters
    ----------
    path : path-like
        An NWB 2 file with a Units table (``spike_times``, optionally
        ``obs_intervals``, ``electrodes`` and label columns such as ``quality``).
    trials : str, optional
        Name of the intervals table (``nwb.intervals``) whose rows are the
        presentations, e.g. ``"trials"`` or ``"encoding_table"``.  Default:
        ``"trials"`` when the file has it, else the only intervals table.
    window : (start, stop)
        Window around each event in seconds, e.g. ``(-0.5, 1.5)``.
    bin_size : float, optional
        Bin width in seconds (must divide the window); ``None``: one bin.
    align_to : str
        The column of the table holding the alignment times (seconds).
    stimulus_id : str, optional
        The column holding stimulus ids.  Default: a ``stimulus_id`` column if
        there is one, else the trial id as a string.
    events : array_like or pandas.DataFrame, optional
        Instead of ``trials``: event times in seconds, or a table with an
        ``align_to`` column.
    units : mapping or sequence, optional
        Which units to keep: ``{"quality": "good"}`` (a column and the value, or
        list of values, to keep) or a sequence of unit ids.  Default: all.
    rate : bool
        Spikes per second ("Hz") instead of counts.
    unobserved : {"nan", "raise", "count"}
        Bins not entirely inside a unit's ``obs_intervals`` (or, without them,
        the recording from 0 to the last spike): NaN, an error, or counted over
        the observed part.  Spikes outside ``obs_intervals`` are never counted.

    Returns
    -------
    xarray.DataArray
        Dims ``(presentation, neuroid, time_bin)``.  ``presentation`` carries
        every column of the table, ``trial`` (the row id), ``event_time`` and
        ``stimulus_id``; ``neuroid`` carries ``neuroid_id`` (the Units-table id
        as a string), every scalar Units column (e.g. ``quality``), and when
        available ``electrode`` (first electrode id), ``region`` (its
        ``location``) and ``subject``.

    Raises
    ------
    DependencyError
        pynwb is not installed.
    FileFormatError
        The file is missing, not NWB, or has no Units table / spike times.
    UnknownNameError
        The intervals table or a named column does not exist (valid names listed).
    DataError, ConfigError
        Unsorted or negative spike times; a window outside the recording.

    Examples
    --------
    >>> from neuroalign.datasets.fetchers import fetch
    >>> from neuroalign.loaders.spikes import load_nwb_spikes
    >>> counts = load_nwb_spikes(fetch("pynapple") / "sub-4_ses-4_ecephys+image.nwb",  # $NEUROALIGN_DATA
    ...                          "recognition_table", window=(-0.5, 1.5), bin_size=0.1,
    ...                          stimulus_id="frameName")
    >>> counts.sizes
    Frozen({'presentation': 180, 'neuroid': 35, 'time_bin': 20})
    """
    source = str(path)
    pynwb = _import_pynwb(source)
    if not Path(path).is_file():
        raise FileFormatError("file not found", source=source, fix="check the path")
    try:
        io = pynwb.NWBHDF5IO(source, "r")
    except Exception as exc:
        raise FileFormatError(f"cannot open it as an NWB file ({exc})", source=source,
                              fix="check that it is a complete NWB 2 (HDF5) file") from exc
    with io:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                nwb = io.read()
            for warning in caught:  # pynwb validates every object of the file; not our concern here
                logger.info("%s: pynwb: %s", source, warning.message)
        except Exception as exc:
            raise FileFormatError(f"cannot read it as an NWB file ({exc})", source=source,
                                  fix="check that it is a complete NWB 2 (HDF5) file") from exc
        spikes = _read_units(nwb, source)
        table_name, frame = _read_events(nwb, trials, events, align_to, source)
        subject = getattr(getattr(nwb, "subject", None), "subject_id", None)
    unit_ids, times, codes, labels, observed = spikes
    # every spike is checked, also those of units left out by units=: they set the default recording span
    check_spike_times(times, codes, unit_ids, source)
    if subject:
        labels.setdefault("subject", np.array([str(subject)] * len(unit_ids), dtype=object))
    keep = _select_units(units, unit_ids, labels, source)
    recording = _nwb_recording(times, observed)
    remap = np.full(len(unit_ids), -1, dtype=np.int64)
    remap[keep] = np.arange(keep.size)
    new_codes = remap[codes]
    chosen = new_codes >= 0
    event_times = (_numeric_column(frame, align_to, source) if frame is not None
                   else event_times_array(events, "events"))
    return assemble(
        times[chosen], new_codes[chosen], [unit_ids[i] for i in keep], event_times,
        window=window, bin_size=bin_size, trials=frame, stimulus_id=stimulus_id,
        neuroid={name: values[keep] for name, values in labels.items()},
        rate=rate, recording=recording,
        observed=None if observed is None else [observed[i] for i in keep],
        unobserved=unobserved, align_to=align_to if frame is not None else "events", source=source,
        parameters={"trials": table_name, "window": list(window), "bin_size": bin_size, "align_to": align_to,
                    "stimulus_id": stimulus_id, "rate": rate, "unobserved": unobserved,
                    "units": dict(units) if isinstance(units, Mapping) else units},
        inputs={"nwb": source, **({} if table_name else {"events": event_times})},
        attrs={"source": os.path.basename(source), "trials": table_name or "events"},
    )


def _read_units(nwb: Any, source: str):
    table = nwb.units
    if table is None or len(table) == 0:
        raise FileFormatError("the file has no Units table (no spike-sorted units)", source=source,
                              fix="use the spike-sorted NWB file of this session, or sort the raw data first "
                              "(e.g. Kilosort, then load_phy)")
    if "spike_times" not in table.colnames:
        raise FileFormatError("the Units table has no spike_times column", source=source,
                              fix="add spike times to the Units table (pynwb: nwbfile.add_unit(spike_times=...))")
    unit_ids = [int(i) for i in table.id.data[:]]
    times, ends = _read_column(table, "spike_times")
    times = np.asarray(times, dtype=float)
    codes = np.repeat(np.arange(len(unit_ids)), np.diff(np.r_[0, ends]))
    labels: dict[str, np.ndarray] = {}
    for name in table.colnames:
        if name in _NOT_LABELS:
            continue
        try:
            values, ragged = _read_column(table, name)
            if ragged is None and values.ndim == 1 and not values.dtype.names:
                labels[name] = coord_values(values)
        except Exception as exc:
            logger.info("%s: units column %r is skipped (%s)", source, name, exc)
    if "electrodes" in table.colnames:
        rows, row_ends = _read_column(table, "electrodes")
        region = table["electrodes"] if row_ends is None else table["electrodes"].target
        starts = np.arange(rows.size) if row_ends is None else np.r_[0, row_ends[:-1]]
        ends = starts + 1 if row_ends is None else row_ends
        if rows.size and np.all(ends > starts):
            first = rows[starts].astype(int)
            electrodes = region.table
            labels.setdefault("electrode", np.asarray(electrodes.id.data[:])[first])
            if "location" in electrodes.colnames:
                labels.setdefault("region", coord_values(np.asarray(electrodes["location"].data[:])[first]))
    if "region" not in labels and "location" in labels and any(str(v) for v in labels["location"]):
        labels["region"] = labels["location"]
    observed = None
    if "obs_intervals" in table.colnames:
        flat, obs_ends = _read_column(table, "obs_intervals")
        flat = np.asarray(flat, dtype=float).reshape(-1, 2)
        bad = ~np.isfinite(flat).all(axis=1) | (flat[:, 1] < flat[:, 0])
        if bad.any():
            raise DataError(f"{int(bad.sum())} observation interval(s) of the Units table are NaN, infinite or "
                            f"end before they start (the first: {flat[bad][0].tolist()})", source=source,
                            fix="fix obs_intervals: each row is [start, stop] in seconds with start <= stop")
        observed = np.split(flat, obs_ends[:-1]) if len(obs_ends) else []
    return unit_ids, times, codes, labels, observed


def _read_events(nwb, trials, events, align_to, source):
    """The presentations: (table name or None, DataFrame or None when events is an array)."""
    if events is not None:
        if trials is not None:
            raise ConfigError("both trials and events were given", source="events",
                              fix="pass either the name of an intervals table or the event times, not both")
        if isinstance(events, pd.DataFrame):
            if align_to not in events.columns:
                raise UnknownNameError(align_to, list(map(str, events.columns)), what="events column",
                                       source="events")
            return None, events
        return None, None
    tables = {name: table for name, table in (nwb.intervals or {}).items()}
    if trials is None:
        if "trials" in tables:
            trials = "trials"
        elif len(tables) == 1:
            trials = next(iter(tables))
            logger.info("%s: aligning on the only intervals table, %r", source, trials)
        else:
            raise ConfigError(
                f"the file has {len(tables)} intervals tables ({', '.join(map(repr, tables)) or 'none'}) and "
                "no 'trials' table", source=source,
                fix="pass trials=<one of those names>, or events=<times in seconds>")
    if trials not in tables:
        raise UnknownNameError(trials, tables, what="intervals table", source=source)
    frame = _table_frame(tables[trials])
    if align_to not in frame.columns:
        raise UnknownNameError(align_to, list(frame.columns), what=f"column of {trials!r}", source=source)
    return trials, frame


def _numeric_column(frame: pd.DataFrame, column: str, source: str) -> np.ndarray:
    values = pd.to_numeric(pd.Series(frame[column]), errors="coerce")
    if (values.isna() & pd.Series(frame[column]).notna()).any():
        raise DataError(f"column {column!r} is not numeric, so it cannot hold alignment times", source=source,
                        fix="align to a column of times in seconds (align_to='<column>')")
    return values.to_numpy(dtype=float)


def _select_units(units, unit_ids, labels, source) -> np.ndarray:
    if units is None:
        return np.arange(len(unit_ids))
    if isinstance(units, Mapping):
        keep = np.ones(len(unit_ids), dtype=bool)
        for column, wanted in units.items():
            if column not in labels:
                raise UnknownNameError(column, labels, what="Units-table column", source=source)
            wanted = [wanted] if isinstance(wanted, (str, int, float, bool)) else list(wanted)
            keep &= np.isin(labels[column].astype(str), [str(w) for w in wanted])
        selected = np.flatnonzero(keep)
    else:
        if isinstance(units, (str, bytes)) or not hasattr(units, "__iter__"):
            raise ConfigError(f"units must be a mapping or a list of unit ids, got {units!r}", source="units",
                              fix="pass e.g. units=[10, 12] or units={'quality': 'good'}")
        position = {str(u): i for i, u in enumerate(unit_ids)}  # ids as neuroid_id shows them: '10'
        wanted = [str(int(u)) if isinstance(u, (int, np.integer)) and not isinstance(u, bool) else str(u)
                  for u in units]
        missing = [u for u in wanted if u not in position]
        if missing:
            raise UnknownNameError(missing[0], map(str, unit_ids), what="unit id", source=source)
        selected = np.array([position[u] for u in wanted], dtype=np.int64)
    if selected.size == 0:
        raise ConfigError(f"no unit matches units={units!r}", source=source,
                          fix="relax the filter; the Units-table columns are " + ", ".join(map(repr, labels)))
    return selected


def _nwb_recording(times: np.ndarray, observed) -> tuple[float, float]:
    if observed is not None:
        stacked = np.concatenate([np.asarray(o).reshape(-1, 2) for o in observed]) if observed else np.empty((0, 2))
        if stacked.size:
            return float(stacked[:, 0].min()), float(stacked[:, 1].max())
    return 0.0, float(times.max()) if times.size else np.inf
