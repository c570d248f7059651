"""The Neural Latents Benchmark's metrics on labelled arrays: bits per spike, co-bps, fp-bps, PSTH R², decoding R².

Each function gives the number ``nlb_tools.evaluation`` gives (Pei et al. 2021, arXiv:2109.04463) on the
same data, with neurons matched by ``neuroid_id`` rather than by position, presentations checked to be
the same trials, and inputs left untouched (NLB overwrites zero rates in the caller's array).  Rates
are in counts per bin.

- :func:`bits_per_spike`: Poisson log-likelihood gain over each neuron's mean rate, in bits per spike.
- :func:`co_bps`: the same on the held-out neurons (co-smoothing).
- :func:`fp_bps`: the same on the forward-prediction bins.
- :func:`psth_r2`: R² of the per-condition mean predicted rates against the true PSTHs.
- :func:`behaviour_r2`: R² of ridge decoding of behaviour from rates (alpha by 5-fold grid search).
- :func:`evaluate_rates`: the table of one model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..errors import AlignmentError, ConfigError, DataError, SchemaError
from ._metric_inputs import (PSTH_DIMS, canonical, decoding_samples, match_time_bins, neuron_ids, neuron_order,
                             pair, score_neurons, variables)
from ._condition_sums import condition_sums
from .arrays import held_out_ids
from .decoding import NLB_ALPHAS, r2_uniform, ridge_cv_r2

__all__ = ["bits_per_spike", "co_bps", "fp_bps", "psth_r2", "behaviour_r2", "evaluate_rates"]



def bits_per_spike(rates: xr.DataArray, spikes: xr.DataArray) -> float:
    """Bits per spike of ``rates`` given ``spikes``, as ``nlb_tools.evaluation.bits_per_spike`` computes it.

    ``(NLL_null - NLL_model) / total spikes / ln 2`` with Poisson negative log-likelihoods; the null
    model predicts each neuron's mean count over the evaluated trials and bins.  NaN spike bins are
    dropped (with their rates); a zero rate counts as 1e-9.  Neither input is modified.

    Parameters
    ----------
    rates : DataArray (presentation, neuroid, time_bin)
        Predicted rates in counts per bin, at least 0.
    spikes : DataArray (presentation, neuroid, time_bin)
        Observed counts of the same presentations, time bins and ``neuroid_id``s (any neuron order).

    Returns
    -------
    float

    Raises
    ------
    AlignmentError
        The presentations, time bins or neurons of the two arrays differ.
    DataError
        A rate is negative, NaN or infinite where a spike count was recorded; no spikes at all.

    Examples
    --------
    >>> from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
    >>> from neuroalign.spikes.metrics import bits_per_spike
    >>> sim = simulate_lorenz_spikes(n_trials=40, n_bins=20, random_state=0)
    >>> bits_per_spike(sim.rates, sim.counts) > 0
    True
    """
    rates, spikes = pair(rates, spikes)
    neuron_order(rates, spikes, "rates", "spikes")  # the same neurons (any order)
    return score_neurons(rates, spikes, neuron_ids(spikes, "spikes"))


def co_bps(rates: xr.DataArray, spikes: xr.DataArray, held_out: Any) -> float:
    """Co-smoothing bits per spike: :func:`bits_per_spike` on the held-out neurons.

    Parameters
    ----------
    rates : DataArray (presentation, neuroid, time_bin)
        Rates of (at least) the held-out neurons, counts per bin.
    spikes : DataArray (presentation, neuroid, time_bin)
        Observed counts, including the held-out neurons.
    held_out : list of str or str
        The held-out ``neuroid_id``s, or the name of a boolean neuroid coordinate of ``spikes``
        (e.g. the simulator's ``"held_out"``).

    Returns
    -------
    float

    Raises
    ------
    AlignmentError
        A held-out neuron is missing from ``spikes`` or ``rates``.

    Examples
    --------
    >>> from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
    >>> from neuroalign.spikes.metrics import co_bps
    >>> sim = simulate_lorenz_spikes(n_trials=40, n_bins=20, random_state=0)
    >>> round(co_bps(sim.rates, sim.counts, "held_out"), 4)
    0.3818
    """
    rates, spikes = pair(rates, spikes)
    return score_neurons(rates, spikes, held_out_ids(spikes, held_out))


def fp_bps(rates: xr.DataArray, spikes: xr.DataArray, *, start: float | None = None) -> float:
    """Forward-prediction bits per spike: :func:`bits_per_spike` on the forward window's bins.

    Parameters
    ----------
    rates, spikes : DataArray (presentation, neuroid, time_bin)
        Rates predicted for, and counts observed in, the bins after the window the model read.
    start : float, optional
        When given (seconds), only the bins whose ``time_bin_start`` is at or after ``start`` are
        scored, so whole-trial arrays can be passed.

    Returns
    -------
    float

    Examples
    --------
    >>> from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
    >>> from neuroalign.spikes.metrics import bits_per_spike, fp_bps
    >>> sim = simulate_lorenz_spikes(n_trials=40, n_bins=20, random_state=0)
    >>> forward = sim.counts.time_bin_start >= 0.15
    >>> fp_bps(sim.rates, sim.counts, start=0.15) == bits_per_spike(sim.rates[..., forward], sim.counts[..., forward])
    True
    """
    rates, spikes = pair(rates, spikes)
    if start is not None:
        if "time_bin_start" not in spikes.coords:
            raise SchemaError("spikes have no time_bin_start coordinate to find the forward bins by",
                              source="spikes", fix="pass the forward bins only and start=None")
        keep = np.nonzero(spikes.time_bin_start.values >= float(start) - 1e-9)[0]
        if keep.size == 0:
            raise DataError(f"no time bin starts at or after {start} s", source="start",
                            fix="pass a start inside the trials")
        if np.array_equal(keep, np.arange(keep[0], keep[0] + keep.size)):
            keep = slice(int(keep[0]), int(keep[0]) + keep.size)  # a view, not a copy
        rates, spikes = rates.isel(time_bin=keep), spikes.isel(time_bin=keep)
    return bits_per_spike(rates, spikes)


def psth_r2(rates: xr.DataArray, psth: xr.DataArray, *, condition: str = "condition") -> float:
    """R² of the per-condition mean of ``rates`` against ``psth``, as ``nlb_tools.evaluation.eval_psth`` (no jitter).

    Each condition's predicted PSTH is the mean of its trials' rates; the rows (condition, time bin)
    of all conditions are stacked and scored with ``sklearn.metrics.r2_score`` (one output per
    neuron, averaged uniformly).  Conditions of ``psth`` without trials are left out, as in NLB;
    time bins where ``psth`` is NaN for every neuron are left out too.

    Parameters
    ----------
    rates : DataArray (presentation, neuroid, time_bin)
        Predicted rates, with a presentation coordinate ``condition``.
    psth : DataArray (condition, neuroid, time_bin)
        The true PSTHs of the same neurons and time bins, with a ``condition`` coordinate.
    condition : str
        The presentation coordinate of ``rates`` that names each trial's condition.

    Returns
    -------
    float

    Raises
    ------
    AlignmentError
        A trial's condition has no PSTH; neurons or time bins differ.

    Examples
    --------
    >>> from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
    >>> from neuroalign.spikes.metrics import psth_r2
    >>> sim = simulate_lorenz_spikes(n_trials=40, n_bins=20, random_state=0)
    >>> round(psth_r2(sim.rates, sim.psth), 12)
    1.0
    """
    rates = canonical(rates, "rates")
    psth = canonical(psth, "psth", PSTH_DIMS)
    if condition not in rates.coords or rates[condition].dims != ("presentation",):
        raise SchemaError(f"rates have no presentation coordinate {condition!r}", source="rates",
                          fix=f"assign each trial's condition: rates.assign_coords({condition}=('presentation', ...))")
    if "condition" not in psth.coords:
        raise SchemaError("psth has no 'condition' coordinate", source="psth",
                          fix="label the PSTHs: psth.assign_coords(condition=[...])")
    match_time_bins(rates, psth, "rates", "psth")
    order = neuron_order(rates, psth, "rates", "psth")
    values = rates.values if order is None else rates.values[:, order, :]
    trial_conditions = rates[condition].values
    psth_conditions = psth["condition"].values
    position = {c: k for k, c in enumerate(psth_conditions.tolist())}
    unknown = sorted({c for c in trial_conditions.tolist() if c not in position}, key=str)
    if unknown:
        raise AlignmentError(f"{len(unknown)} condition(s) of the rates have no PSTH, e.g. {unknown[:5]}",
                             source="psth", fix=f"pass PSTHs of every condition; psth has {psth_conditions[:5].tolist()}")
    index = np.array([position[c] for c in trial_conditions.tolist()], dtype=np.intp)
    n_trials = np.bincount(index, minlength=len(psth_conditions))
    sums = condition_sums(values, index, len(psth_conditions))
    has_trials = n_trials > 0
    predicted = sums[has_trials] / n_trials[has_trials, None, None]
    true = psth.values[has_trials]
    missing = np.isnan(true)
    row_missing = missing.all(axis=1)  # (condition, time_bin): no neuron has a PSTH there
    if (missing.any(axis=1) & ~row_missing).any():
        raise DataError("psth is NaN for some neurons but not others at a time bin", source="psth",
                        fix="mark bins outside the trial window NaN for every neuron, or fill the others")
    keep = ~row_missing
    true_rows = true.transpose(0, 2, 1)[keep]  # (row, neuron)
    predicted_rows = predicted.transpose(0, 2, 1)[keep]
    if not np.isfinite(predicted_rows).all():
        raise DataError("rates hold NaN or infinite values within the PSTH's time bins", source="rates",
                        fix="predict finite rates for every bin where the PSTH is defined")
    return r2_uniform(true_rows, predicted_rows)


def behaviour_r2(train_rates: xr.DataArray, train_behaviour: xr.DataArray, eval_rates: xr.DataArray,
                 eval_behaviour: xr.DataArray, *, alphas: Sequence[float] | np.ndarray = NLB_ALPHAS,
                 cv: int = 5) -> float:
    """R² of ridge decoding of behaviour from rates, as ``nlb_tools.evaluation.fit_and_eval_decoder``.

    Every (trial, time bin) is a sample, the neurons are the features.  The ridge's alpha is chosen
    by ``cv``-fold cross-validation on the training samples (scikit-learn's ``GridSearchCV`` over
    ``alphas`` with unshuffled folds, mean fold R²), refitted on all training samples and scored on
    the evaluation samples (R² averaged over the behavioural variables).  Samples whose behaviour is
    NaN in every variable are left out, as in NLB.

    Parameters
    ----------
    train_rates, eval_rates : DataArray (presentation, neuroid, time_bin)
        Rates of the training and evaluation trials (the same ``neuroid_id``s).
    train_behaviour, eval_behaviour : DataArray (presentation, time_bin, variable)
        Behaviour of the same trials and bins.
    alphas : sequence of float
        The ridge penalties searched (NLB: ``np.logspace(-4, 0, 9)``).
    cv : int
        Number of folds.

    Returns
    -------
    float

    Examples
    --------
    >>> from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
    >>> from neuroalign.spikes.metrics import behaviour_r2
    >>> sim = simulate_lorenz_spikes(n_trials=40, n_bins=20, random_state=0)
    >>> train, test = slice(0, 30), slice(30, 40)
    >>> r2 = behaviour_r2(sim.rates[train], sim.behaviour[train], sim.rates[test], sim.behaviour[test])
    >>> r2 > 0.9
    True
    """
    train_x, train_y = decoding_samples(train_rates, train_behaviour, "train")
    eval_x, eval_y = decoding_samples(eval_rates, eval_behaviour, "eval")
    order = neuron_order(canonical(eval_rates, "eval_rates"), canonical(train_rates, "train_rates"),
                          "eval_rates", "train_rates")
    if order is not None:
        eval_x = eval_x[:, order]
    train_vars, eval_vars = variables(train_behaviour), variables(eval_behaviour)
    if train_vars is not None and eval_vars is not None and train_vars != eval_vars:
        if sorted(train_vars) != sorted(eval_vars):
            raise AlignmentError(f"behaviour variables differ: train {train_vars[:5]}, eval {eval_vars[:5]}",
                                 source="eval_behaviour", fix="decode the same variables in both")
        eval_y = eval_y[:, [eval_vars.index(v) for v in train_vars]]
    return ridge_cv_r2(train_x, train_y, eval_x, eval_y, alphas=np.asarray(alphas, dtype=float), cv=cv)[0]


def evaluate_rates(rates: xr.DataArray, spikes: xr.DataArray, *, held_out: Any, psth: xr.DataArray | None = None,
                   condition: str = "condition", behaviour: xr.DataArray | None = None,
                   train_rates: xr.DataArray | None = None, train_behaviour: xr.DataArray | None = None,
                   alphas: Sequence[float] | np.ndarray = NLB_ALPHAS, cv: int = 5) -> dict[str, float]:
    """The NLB table of one model on its evaluation trials: co-bps, and PSTH R² and behaviour R² when given.

    Parameters
    ----------
    rates, spikes : DataArray (presentation, neuroid, time_bin)
        The model's rates and the observed counts of the evaluation trials.
    held_out : list of str or str
        The held-out neurons (see :func:`co_bps`).
    psth : DataArray (condition, neuroid, time_bin), optional
        True PSTHs: adds ``"psth_r2"`` (see :func:`psth_r2`; ``condition`` names the trials' coordinate).
    behaviour : DataArray (presentation, time_bin, variable), optional
        The evaluation trials' behaviour: adds ``"behaviour_r2"``, decoded by a ridge fitted on
        ``train_rates`` and ``train_behaviour`` (both needed then).
    alphas, cv
        See :func:`behaviour_r2`.

    Returns
    -------
    dict
        ``{"co_bps": ..., "psth_r2": ..., "behaviour_r2": ...}`` (the last two when asked for).

    Examples
    --------
    >>> from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
    >>> from neuroalign.spikes.metrics import evaluate_rates
    >>> sim = simulate_lorenz_spikes(n_trials=40, n_bins=20, random_state=0)
    >>> sorted(evaluate_rates(sim.rates, sim.counts, held_out="held_out", psth=sim.psth))
    ['co_bps', 'psth_r2']
    """
    table = {"co_bps": co_bps(rates, spikes, held_out)}
    if psth is not None:
        table["psth_r2"] = psth_r2(rates, psth, condition=condition)
    if behaviour is not None:
        if train_rates is None or train_behaviour is None:
            raise ConfigError("behaviour decoding needs the training trials' rates and behaviour",
                              source="train_rates", fix="pass train_rates= and train_behaviour=, or behaviour=None")
        table["behaviour_r2"] = behaviour_r2(train_rates, train_behaviour, rates, behaviour, alphas=alphas, cv=cv)
    return table
