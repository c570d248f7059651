"""Binned spikes as token sequences (Neuroformer-style): one token per spike, window by window.

A trial of ``n_bins`` bins is cut into windows of ``window_bins`` bins.  Every
spike of a window becomes one token made of two parts: the **neuron id**
(``0 … n_neurons - 1``, the neuron's position in the array's neuroid order)
and the **time offset** (the bin within the window, ``0 … window_bins - 1``).
Tokens are in time order, ties (spikes in the same bin) by neuron id, and a
bin with a count of *n* gives *n* identical tokens.  Each window's sequence
is ``START, spike tokens…, END`` padded with ``PAD`` to a common length.

The **context** of a window is the ``context_bins`` bins before it (the
previous window(s); empty before the trial's first bin), tokenised the same
way with offsets counted from the context's first bin, after one ``START``
token (so a window with no spikes before it still has a key to attend to).

Special tokens sit after the real ones in each vocabulary (see :class:`SpikeTokens`):
neuron ids ``n_neurons`` (START), ``n_neurons + 1`` (END), ``n_neurons + 2``
(PAD); offsets ``window_bins`` (END), ``window_bins + 1`` (START),
``window_bins + 2`` (PAD); context offsets ``context_bins`` (START),
``context_bins + 1`` (PAD).  :func:`detokenize` gives the counts back exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from ..errors import ConfigError, DataError
from ..fitting.base import check_int
from .arrays import DIMS, check_counts, neurons_last

__all__ = ["SpikeTokens", "tokenize", "detokenize", "whole_counts", "window_counts", "check_window"]


@dataclass(frozen=True)
class SpikeTokens:
    """The token sequences of every window of every trial (rows are windows, trial-major).

    Attributes
    ----------
    ids, offsets : ndarray (n_rows, length) int64
        Neuron-id and time-offset tokens of each window: ``START``, the spikes, ``END``, then ``PAD``.
    context_ids, context_offsets : ndarray (n_rows, context_length) int64
        The window's context: ``START``, the spikes of the ``context_bins`` bins before it, then ``PAD``.
    trial, window : ndarray (n_rows,) int64
        The presentation index (position in the input) and the window index within the trial of each row.
    n_neurons, window_bins, context_bins, n_bins : int
        Vocabulary and window sizes, and the trial length in bins.
    coords : xarray.Dataset
        The input's coordinates (no data), from which :func:`detokenize` rebuilds the array.
    """

    ids: np.ndarray
    offsets: np.ndarray
    context_ids: np.ndarray
    context_offsets: np.ndarray
    trial: np.ndarray
    window: np.ndarray
    n_neurons: int
    window_bins: int
    context_bins: int
    n_bins: int
    coords: xr.Dataset

    @property
    def n_windows(self) -> int:
        """Windows per trial."""
        return self.n_bins // self.window_bins

    @property
    def n_spikes(self) -> np.ndarray:
        """Spike tokens of each row (without START and END)."""
        return (self.ids < self.n_neurons).sum(axis=1)

    @property
    def start_id(self) -> int:
        return self.n_neurons

    @property
    def end_id(self) -> int:
        return self.n_neurons + 1

    @property
    def pad_id(self) -> int:
        return self.n_neurons + 2

    @property
    def end_offset(self) -> int:
        return self.window_bins

    @property
    def start_offset(self) -> int:
        return self.window_bins + 1

    @property
    def pad_offset(self) -> int:
        return self.window_bins + 2


def check_window(n_bins: int, window_bins: Any, context_bins: Any, source: str = "counts") -> tuple[int, int]:
    """``(window_bins, context_bins)`` checked against a trial of ``n_bins`` bins (context None → one window).

    Raises
    ------
    ConfigError
        ``window_bins`` does not divide the trial length, or a size is not a positive integer.
    """
    window_bins = check_int("window_bins", window_bins, minimum=1)
    context_bins = window_bins if context_bins is None else check_int("context_bins", context_bins, minimum=1)
    if n_bins % window_bins:
        divisors = [d for d in range(1, n_bins + 1) if n_bins % d == 0]
        raise ConfigError(f"window_bins={window_bins} does not divide the trial length of {n_bins} bins",
                          source="window_bins",
                          fix=f"pass a divisor of {n_bins} (e.g. {divisors[len(divisors) // 2]}), or crop the "
                              f"trials of {source} to a multiple of {window_bins} bins")
    return window_bins, context_bins


def tokenize(counts: xr.DataArray, *, window_bins: int = 5, context_bins: int | None = None) -> SpikeTokens:
    """Cut binned spikes into windows and turn every spike into a (neuron id, time offset) token.

    Parameters
    ----------
    counts : DataArray (presentation, neuroid, time_bin)
        Whole-number spike counts.
    window_bins : int
        Bins per window; must divide the trial length.
    context_bins : int, optional
        Bins before each window given as its context (default: one window).

    Raises
    ------
    DataError
        NaN, infinite, negative or fractional counts.
    ConfigError
        ``window_bins`` does not divide the number of time bins.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.spikes.tokens import tokenize, detokenize
    >>> values = np.zeros((1, 2, 4))
    >>> values[0, 1, 0] = 2; values[0, 0, 1] = 1          # neuron 1 twice in bin 0, neuron 0 once in bin 1
    >>> counts = create_assembly(values, stimulus_id=["a"], dims=("presentation", "neuroid", "time_bin"),
    ...                          time_bins=[(0.01 * k, 0.01 * (k + 1)) for k in range(4)])
    >>> tokens = tokenize(counts, window_bins=2)
    >>> tokens.ids[0].tolist(), tokens.offsets[0].tolist()      # START, 3 spikes, END (ids 2, 3: START, END)
    ([2, 1, 1, 0, 3], [3, 0, 0, 1, 2])
    >>> bool((detokenize(tokens) == counts).all())
    True
    """
    counts = check_counts(counts)
    integer = whole_counts(counts)
    window_bins, context_bins = check_window(integer.shape[1], window_bins, context_bins)
    current, context, trial, window = _windows(integer, window_bins, context_bins)
    n_neurons = integer.shape[2]
    ids, offsets = pack(current, n_neurons, start=(n_neurons, window_bins + 1), end=(n_neurons + 1, window_bins),
                        pad=(n_neurons + 2, window_bins + 2))
    context_ids, context_offsets = pack(context, n_neurons, start=(n_neurons, context_bins), end=None,
                                        pad=(n_neurons + 2, context_bins + 1))
    return SpikeTokens(ids=ids, offsets=offsets, context_ids=context_ids, context_offsets=context_offsets,
                       trial=trial, window=window, n_neurons=n_neurons, window_bins=window_bins,
                       context_bins=context_bins, n_bins=integer.shape[1], coords=counts.coords.to_dataset())


def whole_counts(counts: xr.DataArray) -> np.ndarray:
    """The counts of a checked ``(presentation, neuroid, time_bin)`` array as int64 ``(trial, time, neuron)``.

    Raises
    ------
    DataError
        A count is not a whole number (the message names how many and the first).
    """
    values = neurons_last(counts)
    whole = np.rint(values)
    if not np.array_equal(whole, values):
        p, t, n = (int(i[0]) for i in np.nonzero(whole != values))
        raise DataError(f"spike counts must be whole numbers; {int((whole != values).sum())} bin(s) are not, the "
                        f"first ({values[p, t, n]!r}) at presentation {p}, neuroid "
                        f"{counts.neuroid_id.values[n]!r}, time bin {t}", source="counts",
                        fix="pass binned spike counts, not rates or smoothed counts")
    return whole.astype(np.int64)


def detokenize(tokens: SpikeTokens) -> xr.DataArray:
    """The binned counts back from :func:`tokenize`'s tokens: a ``(presentation, neuroid, time_bin)`` array.

    The result equals the tokenised counts exactly, with their coordinates (float counts).

    Examples
    --------
    See :func:`tokenize`.
    """
    n_trials = tokens.coords.sizes["presentation"]
    values = window_counts(tokens.ids, tokens.offsets, tokens.n_neurons, tokens.window_bins)
    full = np.zeros((n_trials, tokens.n_bins, tokens.n_neurons))
    for row in range(len(values)):
        start = int(tokens.window[row]) * tokens.window_bins
        full[int(tokens.trial[row]), start:start + tokens.window_bins] += values[row]
    return xr.DataArray(full.transpose(0, 2, 1), dims=DIMS, coords=tokens.coords.coords, name="counts")


def window_counts(ids: np.ndarray, offsets: np.ndarray, n_neurons: int, window_bins: int) -> np.ndarray:
    """Counts ``(row, window_bins, n_neurons)`` of token rows: every spike token adds one; special tokens nothing."""
    ids, offsets = np.asarray(ids), np.asarray(offsets)
    spikes = (ids >= 0) & (ids < n_neurons) & (offsets >= 0) & (offsets < window_bins)
    rows = np.nonzero(spikes)[0]
    out = np.zeros((ids.shape[0], window_bins, n_neurons))
    np.add.at(out, (rows, offsets[spikes], ids[spikes]), 1.0)
    return out


def _windows(values: np.ndarray, window_bins: int, context_bins: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Counts of every window ``(row, window_bins, neuron)`` and of its context ``(row, context_bins, neuron)``."""
    n_trials, n_bins, n_neurons = values.shape
    n_windows = n_bins // window_bins
    current = values.reshape(n_trials * n_windows, window_bins, n_neurons)
    padded = np.concatenate([np.zeros((n_trials, context_bins, n_neurons), dtype=values.dtype), values], axis=1)
    index = np.arange(n_windows)[:, None] * window_bins + np.arange(context_bins)[None, :]
    context = padded[:, index].reshape(n_trials * n_windows, context_bins, n_neurons)
    trial = np.repeat(np.arange(n_trials), n_windows)
    window = np.tile(np.arange(n_windows), n_trials)
    return current, context, trial, window


def pack(windows: np.ndarray, n_neurons: int, *, start: tuple[int, int], end: tuple[int, int] | None,
         pad: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Token rows of integer counts ``(row, bins, neuron)``: ``(id, offset)`` pairs ``start``, spikes, ``end``, ``pad``.

    Spikes are in time order, ties by neuron id; a count of *n* gives *n* tokens.
    """
    n_rows, n_bins, _ = windows.shape
    flat = windows.reshape(n_rows, n_bins * n_neurons)
    per_row = flat.sum(axis=1)
    length = 1 + int(per_row.max(initial=0)) + (end is not None)
    ids = np.full((n_rows, length), pad[0], dtype=np.int64)
    offsets = np.full((n_rows, length), pad[1], dtype=np.int64)
    ids[:, 0], offsets[:, 0] = start
    cell = np.repeat(np.arange(flat.size), flat.ravel())      # one entry per spike, in (row, bin, neuron) order
    row = cell // flat.shape[1]
    first = np.cumsum(per_row) - per_row
    position = 1 + np.arange(len(cell)) - first[row]
    ids[row, position] = (cell % flat.shape[1]) % n_neurons
    offsets[row, position] = (cell % flat.shape[1]) // n_neurons
    if end is not None:
        ids[np.arange(n_rows), 1 + per_row] = end[0]
        offsets[np.arange(n_rows), 1 + per_row] = end[1]
    return ids, offsets
