"""The log-rate R² against known true rates (neuroalign.spikes.ground_truth), against scikit-learn's r2_score."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import r2_score

from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
from neuroalign.errors import AlignmentError, DataError
from neuroalign.spikes.ground_truth import log_rate_r2


@pytest.fixture(scope="module")
def sim():
    return simulate_lorenz_spikes(n_trials=30, n_bins=12, n_held_in=6, n_held_out=2, random_state=5)


def test_equals_sklearn_r2_of_log_rates_per_neuron_averaged(sim):
    rng = np.random.default_rng(0)
    noisy = sim.rates * np.exp(rng.normal(0, 0.3, sim.rates.shape))
    expected = r2_score(np.log(sim.rates.values.transpose(0, 2, 1).reshape(-1, 8)),
                        np.log(noisy.values.transpose(0, 2, 1).reshape(-1, 8)), multioutput="uniform_average")
    assert log_rate_r2(noisy, sim.rates) == pytest.approx(expected, abs=1e-12)


def test_neurons_are_matched_by_id_and_the_truth_may_hold_more(sim):
    rng = np.random.default_rng(1)
    noisy = sim.rates * np.exp(rng.normal(0, 0.3, sim.rates.shape))
    part = noisy.isel(neuroid=[5, 1, 3])
    expected = r2_score(np.log(sim.rates.isel(neuroid=[5, 1, 3]).values.transpose(0, 2, 1).reshape(-1, 3)),
                        np.log(part.values.transpose(0, 2, 1).reshape(-1, 3)))
    assert log_rate_r2(part, sim.rates) == pytest.approx(expected, abs=1e-12)
    # a constant factor on every rate lowers R²; the PSTH as a prediction scores below the truth
    assert log_rate_r2(sim.rates * 2, sim.rates) < 1.0


def test_errors_are_named(sim):
    with pytest.raises(AlignmentError):
        log_rate_r2(sim.rates.isel(presentation=slice(0, 10)), sim.rates)
    with pytest.raises(DataError, match="zero"):
        log_rate_r2(sim.rates, sim.rates * 0)
    # a zero prediction counts as 1e-9 (NLB's convention), so it costs a lot in log space
    zeroed = sim.rates.copy()
    zeroed.values[0, 0, 0] = 0.0
    expected = np.log(sim.rates.values.transpose(0, 2, 1).reshape(-1, 8))
    predicted = expected.copy()
    predicted[0, 0] = np.log(1e-9)
    assert log_rate_r2(zeroed, sim.rates) == pytest.approx(r2_score(expected, predicted), abs=1e-12)
    with pytest.raises(AlignmentError):
        log_rate_r2(sim.rates.assign_coords(neuroid_id=("neuroid", [f"x{i}" for i in range(8)])), sim.rates)
