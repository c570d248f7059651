"""How close inferred rates are to known true rates (simulated data): the log-rate R².

On simulated data the true rates are known, so a model's rates can be
judged directly, not only through the likelihood of held-out spikes.  The
log-rate R² compares log-rates, where the simulator's rates are linear in the
latents, neuron by neuron over every trial and time bin, and averages over
neurons (scikit-learn's ``r2_score`` with ``multioutput="uniform_average"`` on
``(trial × time, neuron)`` tables).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import AlignmentError, DataError
from ._poisson import ZERO_RATE  # what NLB's likelihood puts in place of a zero rate
from .arrays import check_counts, neurons_last, select_neurons

__all__ = ["log_rate_r2", "ZERO_RATE"]


def log_rate_r2(rates: xr.DataArray, true_rates: xr.DataArray) -> float:
    """R² of ``log(rates)`` against ``log(true_rates)``, per neuron over trials and bins, averaged over neurons.

    Neurons are matched by ``neuroid_id`` (``true_rates`` may hold more
    neurons); presentations and time bins must be the same.  A predicted rate
    of exactly zero counts as :data:`ZERO_RATE` (1e-9, as NLB's likelihood
    does), which a model pays for dearly in log space.

    Raises
    ------
    AlignmentError
        A neuron of ``rates`` has no true rate, or the presentations differ.
    DataError
        A true rate is zero (its log is not finite), or a neuron's true log-rate is constant.

    Examples
    --------
    >>> from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
    >>> from neuroalign.spikes.ground_truth import log_rate_r2
    >>> sim = simulate_lorenz_spikes(n_trials=10, n_bins=8, random_state=0)
    >>> log_rate_r2(sim.rates, sim.rates)
    1.0
    """
    rates, truth = check_counts(rates, name="rates"), check_counts(true_rates, name="true_rates")
    same = (rates.sizes["presentation"] == truth.sizes["presentation"]
            and bool((rates.stimulus_id.values == truth.stimulus_id.values).all())
            and rates.sizes["time_bin"] == truth.sizes["time_bin"])
    if not same:
        raise AlignmentError("the rates and the true rates are not of the same presentations and time bins",
                             source="true_rates", fix="select the true rates of the same trials (e.g. .isel(...))")
    truth = select_neurons(truth, [str(i) for i in rates.neuroid_id.values], "true_rates")
    predicted, target = neurons_last(rates), neurons_last(truth)
    if (target <= 0).any():
        raise DataError("a true rate is zero, so its log-rate is not finite", source="true_rates",
                        fix="compare against positive true rates (a simulator's exp(log-rates))")
    predicted = np.log(np.where(predicted == 0, ZERO_RATE, predicted)).reshape(-1, predicted.shape[-1])
    target = np.log(target).reshape(-1, target.shape[-1])
    residual = ((target - predicted) ** 2).sum(axis=0)
    total = ((target - target.mean(axis=0)) ** 2).sum(axis=0)
    if (total == 0).any():
        raise DataError("a neuron's true log-rate is constant, so its R² is undefined", source="true_rates",
                        fix="leave out neurons whose true rate does not vary")
    return float(np.mean(1.0 - residual / total))
