"""Spike baselines (neuroalign.spikes.smoothing_baseline, psth_baseline) against NLB's recipe done by hand.

Reference: the smoothing baseline of neurallatents/nlb_tools (examples/baselines/smoothing/run_smoothing.py,
Pei et al. 2021): ``scipy.signal`` Gaussian window, ``np.convolve(..., "same")`` per neuron,
``log(x + 1e-4)``, scikit-learn ``PoissonRegressor(alpha, max_iter=500)`` per held-out neuron (refitted
with 5x the iterations while it hits the limit), predictions clipped to [1e-9, 1e20]; held-in rates are
the smoothed spikes.  It is rerun below step by step with numpy/scipy/scikit-learn calls.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import PoissonRegressor

from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
from neuroalign.errors import AlignmentError, ConfigError, DataError, SchemaError
from neuroalign.spikes.baselines import PSTHBaseline, SmoothingBaseline
from neuroalign.spikes.metrics import co_bps
from neuroalign.spikes.smoothing_baseline import gaussian_window, smooth_counts


@pytest.fixture(scope="module")
def sim():
    return simulate_lorenz_spikes(n_trials=60, n_bins=40, n_held_in=12, n_held_out=4, n_conditions=4,
                                  random_state=2)


def _nlb_by_hand(train_in, train_out, eval_in, kern_sd, bin_ms, alpha):
    """NLB's run_smoothing.py steps on (trial, time, neuron) arrays; returns eval (held-in, held-out) rates."""
    window = scipy.signal.windows.gaussian(int(6 * kern_sd / bin_ms), int(kern_sd / bin_ms), sym=True)
    window /= np.sum(window)
    filt = lambda x: np.convolve(x, window, "same")  # noqa: E731
    train_smooth = np.apply_along_axis(filt, 1, train_in)
    eval_smooth = np.apply_along_axis(filt, 1, eval_in)
    flat = lambda x: x.reshape(-1, x.shape[2])  # noqa: E731
    train_log, eval_log = np.log(flat(train_smooth) + 1e-4), np.log(flat(eval_smooth) + 1e-4)
    targets = flat(train_out)
    predictions = []
    for chan in range(targets.shape[1]):
        pr = PoissonRegressor(alpha=alpha, max_iter=500)
        pr.fit(train_log, targets[:, chan])
        while pr.n_iter_ == pr.max_iter and pr.max_iter < 10000:
            pr = PoissonRegressor(alpha=alpha, max_iter=pr.max_iter * 5)
            pr.fit(train_log, targets[:, chan])
        predictions.append(pr.predict(eval_log))
    held_out = np.clip(np.vstack(predictions).T, 1e-9, 1e20).reshape(eval_in.shape[0], eval_in.shape[1], -1)
    return eval_smooth, held_out


def _neurons_last(counts, ids):
    return counts.sel(neuroid=counts.neuroid_id.isin(ids)).values.transpose(0, 2, 1)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_smoothing_equals_nlbs_recipe_by_hand(sim):
    train, test = sim.counts[:45], sim.counts[45:]
    model = SmoothingBaseline(kernel_widths=(50.0,), alpha=0.01, standardize=False, progress=False)
    model.fit(train, held_out="held_out")
    rates = model.transform(test)
    assert rates.neuroid_id.values.tolist() == model.held_in_ids_ + model.held_out_ids_
    assert model.held_out_ids_ == sim.held_out
    held_in, held_out = _nlb_by_hand(_neurons_last(train, model.held_in_ids_), _neurons_last(train, sim.held_out),
                                     _neurons_last(test, model.held_in_ids_), 50.0, 10.0, 0.01)
    ours = rates.values.transpose(0, 2, 1)
    np.testing.assert_allclose(ours[..., :12], held_in, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ours[..., 12:], held_out, rtol=1e-6)
    assert model.score(test) == pytest.approx(co_bps(rates, test, "held_out"))
    assert len(model.history_) == 1 and np.isnan(model.history_.valid_co_bps[0])


def test_kernel_width_is_chosen_on_validation_trials_by_co_bps(sim):
    model = SmoothingBaseline(kernel_widths=(20.0, 50.0, 100.0), progress=False, random_state=3).fit(sim.counts)
    history = model.history_
    assert history.kernel_width.tolist() == [20.0, 50.0, 100.0]
    assert model.kernel_width_ == history.kernel_width[int(np.argmax(history.valid_co_bps))]
    again = SmoothingBaseline(kernel_widths=(20.0, 50.0, 100.0), progress=False, random_state=3).fit(sim.counts)
    np.testing.assert_array_equal(again.history_.valid_co_bps, history.valid_co_bps)  # seeded split
    np.testing.assert_array_equal(again.transform(sim.counts).values, model.transform(sim.counts).values)


def test_true_rates_beat_smoothing_which_beats_nothing():
    # The ordering on the simulator: true rates > smoothing > 0 in co-bps on held-out trials.
    sim = simulate_lorenz_spikes(n_trials=200, n_bins=50, random_state=0)
    train, test = sim.counts[:160], sim.counts[160:]
    model = SmoothingBaseline(kernel_widths=(40.0, 80.0), progress=False).fit(train, held_out="held_out")
    smoothing = model.score(test)
    truth = co_bps(sim.rates[160:], test, "held_out")
    assert truth > smoothing > 0


def test_psth_baseline_predicts_each_condition_s_training_mean(sim):
    train, test = sim.counts[:40], sim.counts[40:]
    model = PSTHBaseline().fit(train, held_out=["n13", "n02"])
    assert model.held_in_ids_[:2] == ["n00", "n01"] and model.held_out_ids_ == ["n02", "n13"]
    rates = model.transform(test)
    assert rates.neuroid_id.values.tolist() == model.held_in_ids_ + model.held_out_ids_
    ids = train.neuroid_id.values.tolist()
    positions = [ids.index(i) for i in model.held_in_ids_ + model.held_out_ids_]
    for trial in range(test.sizes["presentation"]):
        same = train.condition.values == test.condition.values[trial]
        expected = train.values[same][:, positions].mean(axis=0)  # (neuroid, time_bin)
        np.testing.assert_allclose(rates.values[trial], expected, rtol=1e-12)
    assert model.score(test) == pytest.approx(co_bps(rates, test, ["n02", "n13"]))
    assert model.history_.to_dict("records") == [{"n_trials": 40, "n_conditions": 4}]


def test_save_and_load_give_the_same_rates(sim, tmp_path):
    smoothing = SmoothingBaseline(kernel_widths=(30.0, 60.0), progress=False).fit(sim.counts[:50])
    back = SmoothingBaseline.load(smoothing.save(tmp_path / "smoothing.pt"))
    np.testing.assert_array_equal(back.transform(sim.counts[50:]).values, smoothing.transform(sim.counts[50:]).values)
    assert back.kernel_width_ == smoothing.kernel_width_ and back.history_.equals(smoothing.history_)
    psth = PSTHBaseline().fit(sim.counts[:50], held_out="held_out")
    loaded = PSTHBaseline.load(psth.save(tmp_path / "psth.pt"))
    assert loaded.transform(sim.counts[50:]).equals(psth.transform(sim.counts[50:]))
    assert loaded.score(sim.counts[50:]) == psth.score(sim.counts[50:])


def test_named_errors(sim):
    with pytest.raises(AlignmentError, match="not in the data"):
        SmoothingBaseline(progress=False).fit(sim.counts, held_out=["n01", "unit-9"])
    with pytest.raises(ConfigError, match="no held-out neurons"):
        SmoothingBaseline(progress=False).fit(sim.counts.drop_vars("held_out"))
    with pytest.raises(ConfigError, match="under one bin"):
        SmoothingBaseline(kernel_widths=(5.0,), progress=False).fit(sim.counts)
    bad = sim.counts.copy(deep=True)
    bad.values[0, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        SmoothingBaseline(progress=False).fit(bad)
    with pytest.raises(DataError, match="too few trials"):
        SmoothingBaseline(kernel_widths=(20.0, 40.0), progress=False).fit(sim.counts[:6])
    model = SmoothingBaseline(kernel_widths=(30.0,), progress=False).fit(sim.counts)
    with pytest.raises(AlignmentError, match="held-in neurons"):
        model.transform(sim.counts.isel(neuroid=slice(1, None)))
    with pytest.raises(ConfigError, match="not fitted"):
        SmoothingBaseline().transform(sim.counts)
    psth = PSTHBaseline().fit(sim.counts[sim.counts.condition != 3])
    with pytest.raises(AlignmentError, match="no training trial") as info:
        psth.transform(sim.counts)
    assert "[3]" in str(info.value)
    with pytest.raises(SchemaError, match="'cond'"):
        PSTHBaseline(condition="cond").fit(sim.counts)
    with pytest.raises(ConfigError, match="without held-out"):
        psth.score(sim.counts[sim.counts.condition != 3])


@settings(max_examples=30, deadline=None)
@given(n_bins=st.integers(1, 25), kernel=st.sampled_from([10.0, 20.0, 35.0, 60.0]), seed=st.integers(0, 1000))
def test_smoothing_is_numpy_s_same_convolution(n_bins, kernel, seed):
    # Reference: np.convolve(x, w, "same") per trial and neuron (NLB's filt) for windows no longer than the
    # trial, scipy.signal.convolve(x, w, "same") for longer ones (numpy's output would be the window's length).
    window = gaussian_window(kernel, 10.0)
    x = np.random.default_rng(seed).poisson(1.0, (2, n_bins, 3)).astype(float)
    ours = smooth_counts(x, window)
    for trial in range(2):
        for neuron in range(3):
            ref = (np.convolve(x[trial, :, neuron], window, "same") if len(window) <= n_bins
                   else scipy.signal.convolve(x[trial, :, neuron], window, "same"))
            np.testing.assert_allclose(ours[trial, :, neuron], ref, rtol=1e-12, atol=1e-15)
    assert (ours >= 0).all()


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000))
def test_psth_is_invariant_to_training_trial_order(seed, sim):
    # Property: a mean over each condition's trials does not depend on the order of the trials.
    order = np.random.default_rng(seed).permutation(sim.counts.sizes["presentation"])
    a = PSTHBaseline().fit(sim.counts).psth_
    b = PSTHBaseline().fit(sim.counts.isel(presentation=order)).psth_
    np.testing.assert_allclose(a.values, b.values, rtol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_true_rates_beat_smoothing_which_beats_nothing_at_full_size(seed):
    # The configuration: 1,000 trials x 50 bins, 36 held-in and 12 held-out neurons, default widths.
    sim = simulate_lorenz_spikes(n_trials=1000, n_bins=50, random_state=seed)
    train, test = sim.counts[:800], sim.counts[800:]
    smoothing = SmoothingBaseline(progress=False).fit(train, held_out="held_out").score(test)
    assert co_bps(sim.rates[800:], test, "held_out") > smoothing > 0
