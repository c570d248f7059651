"""Bits per spike on plain arrays: the Neural Latents Benchmark's formula, computed in a few passes.

NLB (``nlb_tools.evaluation.bits_per_spike``, Pei et al. 2021) scores rates ``r`` against counts ``n`` by

    bits/spike = (NLL_null - NLL_model) / sum(n) / ln 2,    NLL = sum(r - n log r + lgamma(n + 1)),

where the null model predicts each neuron's mean count over all bins and trials of the evaluated data,
NaN counts are dropped, and zero rates count as 1e-9.  Here the ``lgamma`` terms, identical in both
likelihoods, are never computed; ``sum(n log r)`` runs over the nonzero counts only; and the null
likelihood reduces to one term per neuron: ``m_j * r0_j - S_j * log r0_j`` with ``S_j`` the neuron's
spike total over its ``m_j`` observed bins and ``r0_j = S_j / m_j``.  The inputs are never modified.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import DataError

__all__ = ["bits_per_spike_array", "ZERO_RATE"]

#: what NLB puts in place of a zero rate before taking its log
ZERO_RATE = 1e-9


def bits_per_spike_array(rates: np.ndarray, spikes: np.ndarray, *, neuron_axis: int = -1,
                         rates_name: str = "rates", spikes_name: str = "spikes") -> float:
    """NLB's bits per spike of ``rates`` (counts per bin) given ``spikes``, both of one shape.

    ``neuron_axis`` names the neurons' axis (NLB's arrays have neurons last); the null model's mean
    runs over every other axis.  NaN counts are dropped with their rates.

    Examples
    --------
    >>> import numpy as np
    >>> spikes = np.array([[[0.0, 2.0], [1.0, 0.0]]])          # (trial, time, neuron)
    >>> round(bits_per_spike_array(np.array([[[0.2, 1.5], [0.8, 0.1]]]), spikes), 6)
    0.808358
    """
    rates = np.asarray(rates, dtype=np.float64)
    spikes = np.asarray(spikes, dtype=np.float64)
    if rates.shape != spikes.shape:
        raise DataError(f"{rates_name} have shape {rates.shape} but {spikes_name} {spikes.shape}",
                        source=rates_name, fix="predict one rate per neuron, bin and trial of the spikes")
    axis = neuron_axis % spikes.ndim
    others = tuple(i for i in range(spikes.ndim) if i != axis)
    totals = spikes.sum(axis=others)  # NaN where a neuron has a NaN bin
    if np.isnan(totals).any():
        return _masked(rates, spikes, axis, rates_name, spikes_name)
    _check_rates(rates, rates_name)
    bins = spikes.size // spikes.shape[axis] if spikes.size else 0
    observed = np.full(totals.shape, float(bins))
    flat_spikes, flat_rates = spikes.reshape(-1), rates.reshape(-1)
    nonzero = np.flatnonzero(flat_spikes)
    counts = flat_spikes[nonzero]
    _check_counts(counts, spikes_name)
    model_rate_sum = float(rates.sum())
    if float(rates.min(initial=np.inf)) == 0.0:
        model_rate_sum += ZERO_RATE * float(np.count_nonzero(flat_rates == 0.0))
    return _finish(totals, observed, model_rate_sum, counts, flat_rates[nonzero], spikes_name)


def _masked(rates, spikes, axis, rates_name, spikes_name) -> float:
    """The same with NaN counts dropped (NLB's mask), on copies of the observed entries."""
    observed_mask = ~np.isnan(spikes)
    if not observed_mask.any():
        raise DataError(f"every bin of {spikes_name} is NaN", source=spikes_name,
                        fix="evaluate on bins that were recorded")
    others = tuple(i for i in range(spikes.ndim) if i != axis)
    totals = np.where(observed_mask, spikes, 0.0).sum(axis=others)
    observed = observed_mask.sum(axis=others).astype(np.float64)
    kept_rates = rates[observed_mask]
    kept_spikes = spikes[observed_mask]
    _check_rates(kept_rates, rates_name)
    nonzero = np.flatnonzero(kept_spikes)
    counts = kept_spikes[nonzero]
    _check_counts(counts, spikes_name)
    model_rate_sum = float(kept_rates.sum()) + ZERO_RATE * float(np.count_nonzero(kept_rates == 0.0))
    return _finish(totals, observed, model_rate_sum, counts, kept_rates[nonzero], spikes_name)


def _finish(totals, observed, model_rate_sum, counts, count_rates, spikes_name) -> float:
    if not np.isfinite(totals).all():
        raise DataError(f"{spikes_name} hold infinite counts", source=spikes_name, fix="pass finite spike counts")
    total = float(totals.sum())
    if total <= 0:
        raise DataError(f"{spikes_name} hold no spikes: bits per spike is undefined", source=spikes_name,
                        fix="evaluate on data with at least one spike")
    count_rates = np.where(count_rates == 0.0, ZERO_RATE, count_rates)
    nll_model_part = model_rate_sum - float(np.dot(counts, np.log(count_rates)))
    recorded = observed > 0  # a neuron without one observed bin takes no part (NLB drops its NaN bins)
    null_rates = np.divide(totals, observed, out=np.zeros_like(totals), where=recorded)
    silent = recorded & (null_rates == 0.0)
    null_rates[silent | ~recorded] = ZERO_RATE
    nll_null_part = float(np.sum(np.where(recorded, observed * null_rates - totals * np.log(null_rates), 0.0)))
    return (nll_null_part - nll_model_part) / total / math.log(2)


def _check_rates(rates: np.ndarray, name: str) -> None:
    if rates.size == 0:
        raise DataError(f"{name} are empty", source=name, fix="pass at least one trial, bin and neuron")
    low, high = float(rates.min()), float(rates.max())
    if math.isnan(low) or math.isnan(high):
        raise DataError(f"{name} hold {int(np.isnan(rates).sum())} NaN value(s) where spikes were recorded",
                        source=name, fix="predict a finite rate for every recorded bin")
    if low < 0:
        raise DataError(f"{name} hold {int((rates < 0).sum())} negative value(s) (smallest {low:g}); "
                        "Poisson rates are counts per bin, at least 0", source=name,
                        fix="pass rates (e.g. exp of log-rates), not log-rates or centred values")
    if math.isinf(high):
        raise DataError(f"{name} hold infinite value(s)", source=name, fix="clip the rates to a finite maximum")


def _check_counts(nonzero_counts: np.ndarray, name: str) -> None:
    if nonzero_counts.size and float(nonzero_counts.min()) < 0:
        raise DataError(f"{name} hold {int((nonzero_counts < 0).sum())} negative count(s)", source=name,
                        fix="pass spike counts per bin (at least 0)")
