"""Spike counts around events: exact, vectorised binning into the data model.

The one convention that matters: a time bin is the half-open interval
``[start, end)``.  With absolute bin edges ``edge = event_time + relative_edge``
(float64, relative edges from :func:`bin_edges`), a spike at time ``s`` is
counted in bin ``k`` of a trial if and only if ``edge[k] <= s < edge[k + 1]``.
A spike exactly on an inner edge therefore belongs to the later bin, and a
spike exactly on the end of the window is not counted.  (``np.histogram``
differs only in its last bin, which it closes on the right.)

Every trial and unit is counted with one ``np.searchsorted`` of all spikes
against all bin edges and one ``np.bincount``: there is no Python loop over
trials, units or bins, and the counts are exact (comparisons of floats, never
a division by the bin size).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError

__all__ = ["bin_edges", "count_spikes", "merge_intervals", "check_spike_times"]


def bin_edges(window: Sequence[float], bin_size: float | None = None) -> np.ndarray:
    """The bin edges relative to the alignment event, in seconds.

    Parameters
    ----------
    window : (start, stop)
        The window around each event, in seconds (``start < stop``; ``start``
        may be negative).
    bin_size : float, optional
        Bin width in seconds; the window length must be a whole number of bins.
        ``None`` makes one bin spanning the window.

    Returns
    -------
    numpy.ndarray
        ``n_bins + 1`` increasing edges, from ``np.linspace(start, stop, n_bins + 1)``,
        so the first and last edges are exactly ``start`` and ``stop``.

    Raises
    ------
    ConfigError
        The window is not an increasing pair of finite numbers, or its length is
        not a multiple of ``bin_size``.

    Examples
    --------
    >>> from neuroalign.loaders.spike_counts import bin_edges
    >>> bin_edges((-0.5, 1.0), 0.5).tolist()
    [-0.5, 0.0, 0.5, 1.0]
    """
    try:
        start, stop = (float(v) for v in window)
    except (TypeError, ValueError):
        raise ConfigError(f"window must be a pair (start, stop) in seconds, got {window!r}",
                          source="window", fix="pass e.g. window=(-0.5, 1.0)") from None
    if not (np.isfinite(start) and np.isfinite(stop) and start < stop):
        raise ConfigError(f"window {window!r} is not an increasing pair of finite times",
                          source="window", fix="pass window=(start, stop) with start < stop, in seconds")
    if bin_size is None:
        return np.array([start, stop])
    bin_size = float(bin_size)
    if not (np.isfinite(bin_size) and bin_size > 0):
        raise ConfigError(f"bin_size must be a positive number of seconds, got {bin_size!r}",
                          source="bin_size", fix="pass e.g. bin_size=0.05")
    n_float = (stop - start) / bin_size
    n_bins = int(round(n_float))
    if n_bins < 1 or abs(n_float - n_bins) > 1e-9 * max(1.0, n_float):
        raise ConfigError(
            f"the window {window!r} ({stop - start:g} s) is not a whole number of bins of {bin_size:g} s",
            source="bin_size",
            fix="choose a bin_size that divides the window length, or adjust the window",
        )
    return np.linspace(start, stop, n_bins + 1)


def count_spikes(
    spike_times: np.ndarray,
    unit_codes: np.ndarray,
    n_units: int,
    event_times: np.ndarray,
    edges: np.ndarray,
) -> np.ndarray:
    """Exact spike counts per event, unit and bin, without loops.

    Parameters
    ----------
    spike_times : ndarray of float, shape (n_spikes,)
        Spike times in seconds, in any order.
    unit_codes : ndarray of int, shape (n_spikes,)
        The unit of each spike as an integer in ``[0, n_units)``.
    n_units : int
    event_times : ndarray of float, shape (n_events,)
        Alignment times in seconds, in any order; windows may overlap.
    edges : ndarray of float, shape (n_bins + 1,)
        Increasing bin edges relative to each event (see :func:`bin_edges`).

    Returns
    -------
    numpy.ndarray of int64, shape (n_events, n_units, n_bins)
        ``counts[i, u, k]`` is the number of spikes of unit ``u`` with
        ``event_times[i] + edges[k] <= t < event_times[i] + edges[k + 1]``.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.loaders.spike_counts import count_spikes
    >>> count_spikes(np.array([0.1, 0.5, 1.0]), np.array([0, 0, 1]), 2,
    ...              np.array([0.0]), np.array([0.0, 0.5, 1.0]))[0].tolist()
    [[1, 1], [0, 0]]
    """
    spike_times = np.asarray(spike_times, dtype=float)
    unit_codes = np.asarray(unit_codes, dtype=np.int64)
    event_times = np.asarray(event_times, dtype=float)
    edges = np.asarray(edges, dtype=float)
    n_events, n_bins = event_times.size, edges.size - 1
    absolute = event_times[:, None] + edges[None, :]  # (n_events, n_bins + 1)
    order = np.argsort(event_times, kind="stable")
    ordered = absolute[order].ravel()
    if np.all(ordered[1:] >= ordered[:-1]):
        counts = _count_disjoint(spike_times, unit_codes, n_units, ordered, n_events, n_bins)
        if not np.array_equal(order, np.arange(n_events)):
            restored = np.empty_like(counts)
            restored[order] = counts
            counts = restored
        return counts
    return _count_overlapping(spike_times, unit_codes, n_units, absolute)


def _count_disjoint(times, codes, n_units, edges_flat, n_events, n_bins):
    """Windows that do not overlap: the edges of all events form one sorted list.

    ``searchsorted(side="right") - 1`` gives, for each spike, the last edge at or
    before it; a lookup table turns that edge into the (event, bin) it opens, or
    into a discard slot for the gaps between windows.
    """
    size = n_events * n_units * n_bins
    edge = np.arange(edges_flat.size)
    event, k = np.divmod(edge, n_bins + 1)
    lookup = np.full(edges_flat.size + 1, size, dtype=np.int64)  # slot past the end: discarded
    opens_bin = k < n_bins
    lookup[1:][opens_bin] = (event[opens_bin] * n_units) * n_bins + k[opens_bin]
    position = np.searchsorted(edges_flat, times, side="right")
    flat = lookup[position]
    flat += codes * n_bins
    counts = np.bincount(flat, minlength=size + n_units * n_bins)[:size]
    return counts.reshape(n_events, n_units, n_bins)


def _count_overlapping(times, codes, n_units, absolute):
    """General case: cumulative counts below every edge, differenced per bin."""
    n_events, n_edges = absolute.shape
    flat = absolute.ravel()
    order = np.argsort(flat, kind="stable")
    rank = np.empty(flat.size, dtype=np.int64)
    rank[order] = np.arange(flat.size)
    position = np.searchsorted(flat[order], times, side="right")  # number of edges <= t
    width = flat.size + 1
    histogram = np.bincount(codes * width + position, minlength=n_units * width).reshape(n_units, width)
    below = np.cumsum(histogram, axis=1)  # below[u, q]: spikes of u with t < sorted_edge[q]
    at_edges = below[:, rank.reshape(n_events, n_edges)]  # (n_units, n_events, n_edges)
    return np.diff(at_edges, axis=2).transpose(1, 0, 2)


def merge_intervals(intervals: Any) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, disjoint ``[start, stop)`` intervals covering the union of ``intervals``."""
    intervals = np.asarray(intervals, dtype=float).reshape(-1, 2)
    intervals = intervals[intervals[:, 1] > intervals[:, 0]]
    if intervals.size == 0:
        return np.empty(0), np.empty(0)
    intervals = intervals[np.argsort(intervals[:, 0], kind="stable")]
    run_end = np.maximum.accumulate(intervals[:, 1])
    new = np.r_[True, intervals[1:, 0] > run_end[:-1]]
    first = np.flatnonzero(new)
    return intervals[first, 0], np.maximum.reduceat(intervals[:, 1], first)


def _inside(times: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Whether each time lies in one of the merged ``[start, stop)`` intervals."""
    j = np.searchsorted(starts, times, side="right") - 1
    return (j >= 0) & (times < stops[np.clip(j, 0, None)])


def _covered(lo: np.ndarray, hi: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Whether each ``[lo, hi)`` lies entirely inside one merged interval."""
    j = np.searchsorted(starts, lo, side="right") - 1
    return (j >= 0) & (hi <= stops[np.clip(j, 0, None)]) if starts.size else np.zeros(lo.shape, bool)


def check_spike_times(times: np.ndarray, codes: np.ndarray, unit_ids: Sequence[Any], source: str) -> None:
    """Raise :class:`DataError` for non-finite, negative or (per unit) unsorted spike times."""
    if times.size == 0:
        return
    finite = np.isfinite(times)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise DataError(f"{np.count_nonzero(~finite)} spike time(s) are NaN or inf, the first of unit "
                        f"{unit_ids[codes[bad]]!r}", source=source,
                        fix="remove them; spike times must be finite seconds")
    negative = times < 0
    if negative.any():
        bad = int(np.flatnonzero(negative)[0])
        raise DataError(
            f"{np.count_nonzero(negative)} spike time(s) are negative (the first, {times[bad]:g} s, of unit "
            f"{unit_ids[codes[bad]]!r})", source=source,
            fix="spike times are seconds from the start of the recording: shift spikes and events by the "
            "same offset so that the recording starts at 0",
        )
    step = np.diff(times)
    if np.all(step >= 0):
        return
    same_unit = np.diff(codes) == 0
    if np.all(np.diff(codes) >= 0):  # grouped by unit (NWB ragged arrays)
        unsorted = np.flatnonzero(same_unit & (step < 0))
        order = None
    else:
        order = np.argsort(codes.astype(np.uint16 if codes.max(initial=0) < 2**16 else np.int64), kind="stable")
        unsorted = np.flatnonzero((np.diff(codes[order]) == 0) & (np.diff(times[order]) < 0))
    if unsorted.size:
        first = unsorted[0] if order is None else order[unsorted[0]]
        raise DataError(
            f"spike times are not sorted within units ({unsorted.size} decrease(s), the first in unit "
            f"{unit_ids[codes[first]]!r})", source=source,
            fix="sort each unit's spike times (e.g. order = np.lexsort((spike_times, unit_ids))); unsorted times "
            "usually mean concatenated recordings or mixed clocks, so check the file first",
        )
