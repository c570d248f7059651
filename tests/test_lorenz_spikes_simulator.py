"""The Lorenz spike simulator (neuroalign.datasets.lorenz_spikes): dynamics, Poisson draws, labels, truth."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from neuroalign.datasets.lorenz_spikes import lorenz_trajectories, simulate_lorenz_spikes
from neuroalign.errors import ConfigError
from neuroalign.spikes.arrays import check_counts


def _lorenz(t, s):
    x, y, z = s
    return [10.0 * (y - x), x * (28.0 - z) - y, x * y - 8.0 / 3.0 * z]


def test_runge_kutta_follows_scipys_adaptive_solution():
    # Reference: scipy's DOP853 at tight tolerances over 0.3 time units (before chaos separates them).
    start = np.array([[1.0, 2.0, 20.0], [-5.0, -3.0, 30.0]])
    ours = lorenz_trajectories(start, 31, 0.01)
    for k in range(2):
        ref = solve_ivp(_lorenz, (0.0, 0.3), start[k], method="DOP853", rtol=1e-12, atol=1e-12,
                        t_eval=np.linspace(0.0, 0.3, 31))
        np.testing.assert_allclose(ours[k], ref.y.T, atol=1e-5)


def test_counts_are_poisson_draws_of_the_true_rates():
    sim = simulate_lorenz_spikes(n_trials=400, n_bins=20, random_state=1)
    counts, rates = sim.counts.values, sim.rates.values
    assert np.all(counts == np.round(counts)) and counts.min() >= 0
    # Poisson: the mean count equals the mean rate, and so does the variance (to sampling error).
    assert abs(counts.mean() - rates.mean()) < 4 * np.sqrt(rates.mean() / counts.size)
    residual = counts - rates
    assert abs((residual ** 2).mean() / rates.mean() - 1.0) < 0.05


def test_labels_follow_the_data_model_and_the_truth_is_consistent():
    sim = simulate_lorenz_spikes(n_trials=40, n_bins=10, n_held_in=6, n_held_out=3, n_conditions=4,
                                 random_state=2)
    counts = check_counts(sim.counts)
    assert counts.sizes == {"presentation": 40, "neuroid": 9, "time_bin": 10}
    assert sim.held_out == ["n06", "n07", "n08"]
    assert sim.counts.condition.values.tolist() == [i % 4 for i in range(40)]
    np.testing.assert_allclose(np.diff(sim.counts.time_bin_start.values), 0.01)
    for c in range(4):  # the PSTH is the mean true rate of the condition's trials
        np.testing.assert_allclose(sim.psth.sel(condition=c).values,
                                   sim.rates.values[sim.counts.condition.values == c].mean(axis=0))
    z = sim.latents.values.reshape(-1, 3)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1.0)
    # the log-rates are an affine function of the latents (the planted model)
    log_rates = np.log(sim.rates.values.transpose(0, 2, 1)).reshape(-1, 9)
    design = np.column_stack([z, np.ones(len(z))])
    fit = np.linalg.lstsq(design, log_rates, rcond=None)[0]
    np.testing.assert_allclose(design @ fit, log_rates, atol=1e-9)


def test_same_seed_same_data_other_seed_other_data():
    a = simulate_lorenz_spikes(n_trials=10, n_bins=5, random_state=3)
    b = simulate_lorenz_spikes(n_trials=10, n_bins=5, random_state=3)
    c = simulate_lorenz_spikes(n_trials=10, n_bins=5, random_state=4)
    assert a.counts.identical(b.counts) and a.rates.identical(b.rates)
    assert not np.array_equal(a.rates.values, c.rates.values)
    assert a.counts.attrs["parameters"]["random_state"] == 3


def test_trials_of_a_condition_differ_but_share_their_mean():
    sim = simulate_lorenz_spikes(n_trials=200, n_bins=30, random_state=0)
    rates = sim.rates.values
    cond = sim.counts.condition.values
    within = rates[cond == 0].std(axis=0).mean()
    assert within > 0.01  # trials vary around the PSTH, so single-trial models have something to infer


@pytest.mark.parametrize("kwargs", [{"n_trials": 0}, {"n_held_in": 1.5}, {"bin_size": 0}, {"n_conditions": True},
                                    {"n_trials": 4, "n_conditions": 8}])
def test_bad_settings_are_named(kwargs):
    with pytest.raises(ConfigError) as info:
        simulate_lorenz_spikes(**kwargs)
    assert next(iter(kwargs)) in str(info.value)
