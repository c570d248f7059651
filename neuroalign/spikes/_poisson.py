"""Bits per spike on plain arrays: the Neural Latents Benchmark's formula in one compiled pass.

NLB (``nlb_tools.evaluation.bits_per_spike``, Pei et al. 2021) scores rates ``r`` against counts ``n`` by

    bits/spike = (NLL_null - NLL_model) / sum(n) / ln 2,    NLL = sum(r - n log r + lgamma(n + 1)),

where the null model predicts each neuron's mean count over all bins and trials of the evaluated data,
NaN counts are dropped (with their rates), and zero rates count as 1e-9.  Here the ``lgamma`` terms,
identical in both likelihoods, are never computed; ``sum(n log r)`` runs over the nonzero counts
only; and the null likelihood reduces to one term per neuron, ``m_j * r0_j - S_j * log r0_j`` with
``S_j`` the neuron's spike total over its ``m_j`` observed bins and ``r0_j = S_j / m_j``.  One pass
over the arrays in their memory order (numba) gathers every per-neuron sum and checks the values;
held-out neurons are picked by a map, not copied.  The inputs are never modified.
"""

from __future__ import annotations

import math

import numpy as np

from .._compiled import compiled
from ..errors import DataError

__all__ = ["bits_per_spike_array", "bits_per_spike_mapped", "ZERO_RATE"]

#: what NLB puts in place of a zero rate before taking its log
ZERO_RATE = 1e-9


def bits_per_spike_array(rates: np.ndarray, spikes: np.ndarray, *, neuron_axis: int = -1) -> float:
    """NLB's bits per spike of 3-d ``rates`` (counts per bin) given ``spikes`` of the same shape.

    ``neuron_axis`` names the neurons' axis (NLB's arrays are ``(trial, time, neuron)``, neurons
    last); the null model's mean runs over the two other axes.  NaN counts are dropped with their rates.

    Examples
    --------
    >>> import numpy as np
    >>> spikes = np.array([[[0.0, 2.0], [1.0, 0.0]]])          # (trial, time, neuron)
    >>> round(bits_per_spike_array(np.array([[[0.2, 1.5], [0.8, 0.1]]]), spikes), 6)
    0.808358
    """
    rates, spikes = np.asarray(rates), np.asarray(spikes)
    if rates.shape != spikes.shape or spikes.ndim != 3:
        raise DataError(f"rates have shape {rates.shape} and spikes {spikes.shape}: expected one 3-d shape",
                        source="rates", fix="predict one rate per trial, time bin and neuron of the spikes")
    axis = neuron_axis % 3
    order = (0, 2, 1) if axis == 2 else ((1, 0, 2) if axis == 0 else (0, 1, 2))
    rates, spikes = rates.transpose(order), spikes.transpose(order)
    return bits_per_spike_mapped(rates, spikes, np.arange(spikes.shape[1]))


def bits_per_spike_mapped(rates: np.ndarray, spikes: np.ndarray, rate_rows: np.ndarray, *,
                          rates_name: str = "rates", spikes_name: str = "spikes") -> float:
    """Bits per spike of ``(trial, neuron, time)`` arrays, spike neuron ``u`` scored by rate neuron ``rate_rows[u]``.

    ``rate_rows[u] = -1`` leaves spike neuron ``u`` out (co-smoothing scores the held-out neurons of a
    whole array this way, without copying them).
    """
    rates = np.asarray(rates, dtype=np.float64)
    spikes = np.asarray(spikes, dtype=np.float64)
    rate_rows = np.asarray(rate_rows, dtype=np.int64)
    if rates.shape[0] != spikes.shape[0] or rates.shape[2] != spikes.shape[2] or rate_rows.size != spikes.shape[1]:
        raise DataError(f"{rates_name} have shape {rates.shape} but {spikes_name} {spikes.shape}",
                        source=rates_name, fix="predict one rate per neuron, bin and trial of the spikes")
    units = np.flatnonzero(rate_rows >= 0)
    if units.size == 0:
        raise DataError("no neuron to score", source=rates_name, fix="select at least one neuron")
    rows = rate_rows[units]
    sums = None
    if spikes.strides[1] <= spikes.strides[2] and _is_range(units) and _is_range(rows):
        # neurons last in memory, scored neurons in one block each: contiguous rows the compiler vectorises
        *sums, saw_nan = _neurons_last_pass(rates.transpose(0, 2, 1), spikes.transpose(0, 2, 1), int(units[0]),
                                            int(rows[0]), units.size)
        sums = None if saw_nan else [sums[0], np.zeros(units.size), *sums[1:]]
    if sums is None:
        rates, rows = _narrowed(rates, rows)  # a view of the scored neurons' block where they are one
        spikes, units = _narrowed(spikes, units)
        neuron_inner = spikes.strides[1] <= spikes.strides[2]
        sums = _poisson_pass(rates, spikes, units, rows, neuron_inner)
    totals, missing, rate_sums, log_sums, low, low_count = sums
    if not np.isfinite(rate_sums).all() or low < 0:  # NaN or inf make a sum non-finite
        _raise_bad_rates(rates[:, rows], spikes[:, units], rates_name)
    zero_rates = np.zeros(1)
    if low == 0.0:  # NLB counts a zero rate as 1e-9: count the recorded zero rates
        kept = rates[:, rows][~np.isnan(spikes[:, units])]
        zero_rates[0] = np.count_nonzero(kept == 0.0)
    if low_count < 0 or not np.isfinite(totals).all():
        raise DataError(f"{spikes_name} hold negative or infinite counts", source=spikes_name,
                        fix="pass spike counts per bin (finite, at least 0)")
    observed = spikes.shape[0] * spikes.shape[2] - missing
    total = float(totals.sum())
    if not observed.any():
        raise DataError(f"every bin of {spikes_name} is NaN", source=spikes_name,
                        fix="evaluate on bins that were recorded")
    if total <= 0:
        raise DataError(f"{spikes_name} hold no spikes: bits per spike is undefined", source=spikes_name,
                        fix="evaluate on data with at least one spike")
    nll_model_part = float(rate_sums.sum()) + ZERO_RATE * float(zero_rates.sum()) - float(log_sums.sum())
    recorded = observed > 0  # a neuron without one observed bin takes no part (NLB drops its NaN bins)
    null_rates = np.divide(totals, observed, out=np.zeros_like(totals), where=recorded)
    null_rates[null_rates == 0.0] = ZERO_RATE
    nll_null_part = float(np.sum(np.where(recorded, observed * null_rates - totals * np.log(null_rates), 0.0)))
    return (nll_null_part - nll_model_part) / total / math.log(2)


def _is_range(rows: np.ndarray) -> bool:
    return bool(np.array_equal(rows, np.arange(rows[0], rows[0] + rows.size)))


def _narrowed(values: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``values[:, rows]`` as a view with its row numbers when ``rows`` are consecutive, else ``values, rows``."""
    start = int(rows[0])
    if np.array_equal(rows, np.arange(start, start + rows.size)):
        return values[:, start:start + rows.size], np.arange(rows.size)
    return values, rows


def _raise_bad_rates(rates: np.ndarray, spikes: np.ndarray, name: str) -> None:
    """The DataError naming how many recorded bins have a NaN, negative or infinite rate."""
    kept = rates[~np.isnan(spikes)]
    nan, negative, infinite = int(np.isnan(kept).sum()), int((kept < 0).sum()), int(np.isinf(kept).sum())
    if nan:
        raise DataError(f"{name} hold {nan} NaN value(s) where spikes were recorded", source=name,
                        fix="predict a finite rate for every recorded bin")
    if negative:
        raise DataError(f"{name} hold {negative} negative value(s) (smallest {kept.min():g}); Poisson "
                        "rates are counts per bin, at least 0", source=name,
                        fix="pass rates (e.g. exp of log-rates), not log-rates or centred values")
    raise DataError(f"{name} hold {infinite} infinite value(s)", source=name, fix="clip the rates to a finite maximum")


@compiled
def _poisson_pass(rates, spikes, units, rows, neuron_inner):
    """Per scored neuron k (spike neuron ``units[k]``, rate neuron ``rows[k]``), over its recorded bins:
    Σn, NaN bins, Σr, Σ n log r (a zero rate as 1e-9); the smallest rate and the smallest count.  NaN
    or infinite rates make Σr non-finite.  The loops follow the spikes' memory order; with neurons
    innermost, the rate sums (every bin) and the log terms (nonzero counts) are separate loops."""
    n_trials, n_bins, m = spikes.shape[0], spikes.shape[2], units.shape[0]
    totals, missing, rate_sums, log_sums = np.zeros(m), np.zeros(m), np.zeros(m), np.zeros(m)
    low, low_count = np.inf, 0.0
    any_missing = False
    if neuron_inner:
        for i in range(n_trials):
            for t in range(n_bins):
                for k in range(m):
                    n = spikes[i, units[k], t]
                    if n != 0.0:
                        if n != n:
                            missing[k] += 1.0
                            any_missing = True
                            continue
                        r = rates[i, rows[k], t]
                        low_count = min(low_count, n)
                        totals[k] += n
                        log_sums[k] += n * np.log(r if r > 0.0 else 1e-9)
                if not any_missing:
                    for k in range(m):
                        r = rates[i, rows[k], t]
                        rate_sums[k] += r
                        low = min(low, r)
                else:
                    for k in range(m):
                        if spikes[i, units[k], t] == spikes[i, units[k], t]:
                            r = rates[i, rows[k], t]
                            rate_sums[k] += r
                            low = min(low, r)
    else:
        for i in range(n_trials):
            for k in range(m):
                for t in range(n_bins):
                    n = spikes[i, units[k], t]
                    if n != n:
                        missing[k] += 1.0
                        continue
                    r = rates[i, rows[k], t]
                    rate_sums[k] += r
                    low = min(low, r)
                    if n != 0.0:
                        low_count = min(low_count, n)
                        totals[k] += n
                        log_sums[k] += n * np.log(r if r > 0.0 else 1e-9)
    return totals, missing, rate_sums, log_sums, low, low_count


@compiled
def _neurons_last_pass(rates, spikes, u0, v0, m):
    """:func:`_poisson_pass` for ``(trial, time, neuron)`` arrays scoring spike neurons ``u0 + k`` by rate
    neurons ``v0 + k``; stops early and flags it when a count is NaN (the caller then drops NaN bins)."""
    n_trials, n_bins = spikes.shape[0], spikes.shape[1]
    totals, rate_sums, log_sums = np.zeros(m), np.zeros(m), np.zeros(m)
    low, low_count = np.inf, 0.0
    for i in range(n_trials):
        for t in range(n_bins):
            spike_row = spikes[i, t, u0:u0 + m]
            rate_row = rates[i, t, v0:v0 + m]
            for k in range(m):
                rate_sums[k] += rate_row[k]
            for k in range(m):
                low = min(low, rate_row[k])
            for k in range(m):
                n = spike_row[k]
                if n != 0.0:
                    if n != n:
                        return totals, rate_sums, log_sums, low, low_count, True
                    r = rate_row[k]
                    low_count = min(low_count, n)
                    totals[k] += n
                    log_sums[k] += n * np.log(r if r > 0.0 else 1e-9)
    return totals, rate_sums, log_sums, low, low_count, False
