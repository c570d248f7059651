"""Figures of spike-model training (neuroalign.plot.spike_training): the drawn data read back from the axes."""

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
from neuroalign.errors import AlignmentError, ConfigError, DataError, SchemaError
from neuroalign.plot.spike_training import inferred_rates_figure, spike_loss_curves_figure
from neuroalign.spikes.masked_model import MaskedSpikeModel

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (only to check that pyplot's state is left alone)


@pytest.fixture(scope="module")
def sim():
    return simulate_lorenz_spikes(n_trials=30, n_bins=12, n_held_in=8, n_held_out=3, random_state=0)


def test_loss_curves_draw_the_history_of_a_fitted_model(sim):
    torch.set_num_threads(1)
    model = MaskedSpikeModel(d_model=8, n_layers=1, epochs=3, progress=False).fit(sim.counts, held_out="held_out")
    before = plt.get_fignums()
    fig = spike_loss_curves_figure({"masked": model, "other": model.history_}, log_y=True)
    assert plt.get_fignums() == before
    lines = fig.axes[0].lines
    assert [line.get_label() for line in lines] == ["masked (training)", "masked (validation)", "other (training)",
                                                    "other (validation)"]
    np.testing.assert_array_equal(lines[0].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(lines[1].get_ydata(), model.history_["valid_loss"].to_numpy())
    assert fig.axes[0].get_yscale() == "log"


def test_loss_curves_without_validation_draw_the_training_loss_only():
    history = pd.DataFrame({"epoch": [1, 2], "loss": [1.0, 0.5], "valid_loss": [np.nan, np.nan]})
    assert len(spike_loss_curves_figure([history]).axes[0].lines) == 1


def test_bad_histories_are_named():
    with pytest.raises(ConfigError, match="not a fitted spike model"):
        spike_loss_curves_figure(3)
    with pytest.raises(SchemaError, match="loss"):
        spike_loss_curves_figure(pd.DataFrame({"epoch": [1]}))
    with pytest.raises(DataError, match="no epochs"):
        spike_loss_curves_figure(pd.DataFrame({"epoch": [], "loss": []}))


def test_rates_figure_draws_each_neuron_and_trial(sim):
    fig = inferred_rates_figure(sim.rates * 2, sim.rates, sim.counts, neurons=["n01", "n09"], trials=[3, 5])
    assert len(fig.axes) == 4
    ax = fig.axes[2]  # second neuron, first trial
    counts, truth, inferred = ax.lines
    expected = sim.rates.sel(neuroid=sim.rates.neuroid_id == "n09").isel(presentation=3).values.ravel()
    np.testing.assert_allclose(truth.get_ydata(), expected)
    np.testing.assert_allclose(inferred.get_ydata(), 2 * expected)
    np.testing.assert_allclose(counts.get_xdata(), sim.counts.time_bin_start.values)
    assert "held out" in ax.get_ylabel() and "held out" not in fig.axes[0].get_ylabel()


def test_rates_figure_checks_its_inputs(sim):
    with pytest.raises(AlignmentError, match="unit-x"):
        inferred_rates_figure(sim.rates, neurons=["unit-x"])
    with pytest.raises(ConfigError, match="trials"):
        inferred_rates_figure(sim.rates, trials=[30])
    with pytest.raises(AlignmentError, match="true_rates has no neuron"):
        inferred_rates_figure(sim.rates, sim.rates.isel(neuroid=slice(1, None)), neurons=["n00"])
    with pytest.raises(SchemaError):
        inferred_rates_figure(sim.rates.isel(time_bin=0))
    assert len(inferred_rates_figure(sim.rates, neurons=2, trials=[0]).axes) == 2
