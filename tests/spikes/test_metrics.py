"""NLB metrics (neuroalign.spikes.metrics) against the reference implementation, nlb_tools.evaluation 0.0.4.

Reference: ``nlb_tools.evaluation`` (neurallatents/nlb_tools, Pei et al. 2021, arXiv:2109.04463), installed
as a test-only dependency; it takes neurons-last numpy arrays, ours takes labelled arrays.  Its
``bits_per_spike`` overwrites zero rates in the array passed, so it gets copies here.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV

from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
from neuroalign.errors import AlignmentError, ConfigError, DataError, SchemaError
from neuroalign.spikes._poisson import bits_per_spike_array
from neuroalign.spikes.decoding import NLB_ALPHAS, ridge_cv_r2
from neuroalign.spikes.metrics import bits_per_spike, behaviour_r2, co_bps, evaluate_rates, fp_bps, psth_r2

nlb = pytest.importorskip("nlb_tools.evaluation")

DIMS = ("presentation", "neuroid", "time_bin")


def _binned(values_nl: np.ndarray, ids=None, stimulus_ids=None, **presentation) -> xr.DataArray:
    """A (trial, time, neuron) array as a labelled (presentation, neuroid, time_bin) array."""
    n_trials, n_bins, n_neurons = values_nl.shape
    ids = [f"u{j}" for j in range(n_neurons)] if ids is None else ids
    stimulus_ids = [f"s{i}" for i in range(n_trials)] if stimulus_ids is None else stimulus_ids
    coords = {"neuroid_id": ("neuroid", ids), "stimulus_id": ("presentation", stimulus_ids),
              "time_bin_start": ("time_bin", 0.01 * np.arange(n_bins)),
              "time_bin_end": ("time_bin", 0.01 * np.arange(1, n_bins + 1))}
    coords.update({k: ("presentation", v) for k, v in presentation.items()})
    return xr.DataArray(values_nl.transpose(0, 2, 1), dims=DIMS, coords=coords)


def _random_case(seed: int, kind: str, shape=(30, 20, 12)):
    rng = np.random.default_rng(seed)
    rates = rng.gamma(2.0, 0.1, size=shape)
    spikes = rng.poisson(rates).astype(float)
    if kind == "zero rates":
        rates[rates < 0.05] = 0.0
    elif kind == "nan spikes":
        spikes[rng.random(shape) < 0.1] = np.nan
        rates[0, 0, 0] = 0.0
    elif kind == "silent neuron":
        spikes[..., 3] = 0.0
    elif kind == "unrecorded neuron":
        spikes[..., 2] = np.nan
        spikes[..., 4] = 0.0
        rates[..., 2] = np.nan  # never scored: every bin of that neuron is dropped
    return rates, spikes


def _nlb_bps(rates, spikes):
    return float(nlb.bits_per_spike(rates.copy(), spikes.copy()))


@pytest.mark.parametrize("kind", ["plain", "zero rates", "nan spikes", "silent neuron", "unrecorded neuron"])
@pytest.mark.parametrize("seed", [0, 1])
def test_bits_per_spike_equals_nlb(kind, seed):
    rates, spikes = _random_case(seed, kind)
    expected = _nlb_bps(rates, spikes)
    assert bits_per_spike_array(rates, spikes) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    r, s = _binned(rates), _binned(spikes)
    r_before, s_before = r.copy(deep=True), s.copy(deep=True)
    assert bits_per_spike(r, s) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    xr.testing.assert_identical(r, r_before)  # nothing written into the caller's arrays
    xr.testing.assert_identical(s, s_before)


def test_nlb_overwrites_zero_rates_and_ours_does_not():
    rates, spikes = _random_case(0, "zero rates")
    theirs, ours = rates.copy(), rates.copy()
    value = nlb.bits_per_spike(theirs, spikes.copy())
    assert (theirs == 1e-9).any() and not (rates == 1e-9).any()  # nlb mutates its input
    assert bits_per_spike_array(ours, spikes) == pytest.approx(value, rel=1e-9)
    np.testing.assert_array_equal(ours, rates)


def test_metrics_equal_nlb_on_the_simulator():
    sim = simulate_lorenz_spikes(n_trials=60, n_bins=30, random_state=3)
    held = sim.counts.held_out.values
    rates_nl, spikes_nl = sim.rates.values.transpose(0, 2, 1), sim.counts.values.transpose(0, 2, 1)
    noisy = sim.rates * np.exp(np.random.default_rng(0).normal(0, 0.3, sim.rates.shape))
    noisy_nl = noisy.values.transpose(0, 2, 1)
    assert co_bps(sim.rates, sim.counts, "held_out") == pytest.approx(
        _nlb_bps(rates_nl[..., held], spikes_nl[..., held]), rel=1e-9)
    assert co_bps(noisy, sim.counts, sim.held_out) == pytest.approx(
        _nlb_bps(noisy_nl[..., held], spikes_nl[..., held]), rel=1e-9)
    assert bits_per_spike(noisy, sim.counts) == pytest.approx(_nlb_bps(noisy_nl, spikes_nl), rel=1e-9)
    forward = sim.counts.time_bin_start.values >= 0.2
    assert fp_bps(noisy, sim.counts, start=0.2) == pytest.approx(
        _nlb_bps(noisy_nl[:, forward], spikes_nl[:, forward]), rel=1e-9)
    assert co_bps(sim.rates, sim.counts, "held_out") > co_bps(noisy, sim.counts, "held_out")
    # the PSTH: conditions in psth order, trial indices per condition
    cond_idx = [np.nonzero(sim.counts.condition.values == c)[0] for c in sim.psth.condition.values]
    expected = nlb.eval_psth(sim.psth.values.transpose(0, 2, 1), noisy_nl, cond_idx)
    assert psth_r2(noisy, sim.psth) == pytest.approx(expected, rel=1e-9)
    # behaviour decoding, train on the first 40 trials
    tr, ev = slice(0, 40), slice(40, 60)
    flat = lambda a: a.reshape(-1, a.shape[-1])  # noqa: E731
    beh = sim.behaviour.values
    expected = nlb.fit_and_eval_decoder(flat(noisy_nl[tr]), flat(beh[tr]), flat(noisy_nl[ev]), flat(beh[ev]))
    got = behaviour_r2(noisy[tr], sim.behaviour[tr], noisy[ev], sim.behaviour[ev])
    assert got == pytest.approx(expected, rel=1e-9)
    table = evaluate_rates(noisy[ev], sim.counts[ev], held_out="held_out", psth=sim.psth,
                           behaviour=sim.behaviour[ev], train_rates=noisy[tr], train_behaviour=sim.behaviour[tr])
    assert table == {"co_bps": co_bps(noisy[ev], sim.counts[ev], "held_out"), "psth_r2": psth_r2(noisy[ev], sim.psth),
                     "behaviour_r2": behaviour_r2(noisy[tr], sim.behaviour[tr], noisy[ev], sim.behaviour[ev])}


def test_neurons_are_matched_by_id_not_position():
    rates, spikes = _random_case(2, "plain")
    r, s = _binned(rates), _binned(spikes)
    shuffled = r.isel(neuroid=np.random.default_rng(0).permutation(r.sizes["neuroid"]))
    assert bits_per_spike(shuffled, s) == pytest.approx(bits_per_spike(r, s), rel=1e-12)
    assert bits_per_spike(r.transpose("time_bin", "neuroid", "presentation"), s) == pytest.approx(
        bits_per_spike(r, s), rel=1e-12)
    assert co_bps(shuffled, s, ["u5", "u1"]) == pytest.approx(
        _nlb_bps(rates[..., [1, 5]], spikes[..., [1, 5]]), rel=1e-9)


def test_named_errors():
    rates, spikes = _random_case(0, "plain")
    r, s = _binned(rates), _binned(spikes)
    negative = r.copy(deep=True)
    negative.values[1, 2, 3] = -0.5
    with pytest.raises(DataError, match="negative") as info:
        bits_per_spike(negative, s)
    assert info.value.source == "rates" and info.value.fix
    nan = r.copy(deep=True)
    nan.values[0, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        bits_per_spike(nan, s)
    other = _binned(rates, stimulus_ids=[f"s{i}" for i in range(29)] + ["other"])
    with pytest.raises(AlignmentError, match="differ in stimulus_id") as info:
        bits_per_spike(other, s)
    assert "'other'" in str(info.value)
    with pytest.raises(AlignmentError, match="presentations"):
        bits_per_spike(r[:10], s)
    with pytest.raises(AlignmentError, match="not in the data"):
        co_bps(r, s, ["u1", "unit-99"])
    with pytest.raises(AlignmentError, match="not in rates"):
        co_bps(r.isel(neuroid=slice(0, 5)), s, ["u1", "u8"])
    with pytest.raises(AlignmentError, match="different neurons"):
        bits_per_spike(r.isel(neuroid=slice(0, 5)), s)
    with pytest.raises(SchemaError, match="dims"):
        bits_per_spike(r.rename(time_bin="time"), s)
    with pytest.raises(DataError, match="no spikes"):
        bits_per_spike(r, s * 0)
    with pytest.raises(ConfigError, match="alphas"):
        ridge_cv_r2(np.ones((10, 2)), np.ones((10, 1)), np.ones((3, 2)), np.ones((3, 1)), alphas=[0.0])


def test_psth_r2_equals_nlb_with_missing_bins_and_empty_conditions():
    rng = np.random.default_rng(4)
    n_cond, n_trials, n_bins, n_neurons = 5, 40, 15, 6
    psth = rng.gamma(2.0, 0.1, size=(n_cond, n_bins, n_neurons))
    psth[1, 12:] = np.nan  # condition 1 is shorter
    condition = rng.integers(0, n_cond - 1, n_trials)  # condition 4 has no trial
    rates = psth[condition] * np.exp(rng.normal(0, 0.2, (n_trials, n_bins, n_neurons)))
    rates = np.nan_to_num(rates, nan=0.3)
    cond_idx = [np.nonzero(condition == c)[0] for c in range(n_cond)]
    expected = nlb.eval_psth(psth, rates, cond_idx)
    labelled_psth = xr.DataArray(psth.transpose(0, 2, 1), dims=("condition", "neuroid", "time_bin"),
                                 coords={"condition": [f"c{k}" for k in range(n_cond)],
                                         "neuroid_id": ("neuroid", [f"u{j}" for j in range(n_neurons)])})
    r = _binned(rates, cond=np.array([f"c{k}" for k in condition]))
    assert psth_r2(r, labelled_psth, condition="cond") == pytest.approx(expected, rel=1e-9)
    assert psth_r2(r.isel(neuroid=[3, 1, 0, 2, 5, 4]), labelled_psth, condition="cond") == pytest.approx(
        expected, rel=1e-9)
    with pytest.raises(AlignmentError, match="no PSTH"):
        psth_r2(r, labelled_psth.isel(condition=slice(1, None)), condition="cond")
    with pytest.raises(SchemaError, match="no presentation coordinate"):
        psth_r2(r, labelled_psth)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ridge_grid_search_equals_scikit_learns(seed):
    rng = np.random.default_rng(seed)
    n, p = [(233, 12), (400, 40), (90, 60)][seed]
    x = rng.gamma(1.0, 0.1, size=(n, p))
    y = x @ rng.normal(size=(p, 2)) + rng.normal(0, [0.3, 3.0][seed % 2], size=(n, 2))
    xe, ye = x[: n // 3] + 0.01, y[: n // 3]
    search = GridSearchCV(Ridge(), {"alpha": NLB_ALPHAS}).fit(x, y)
    r2, alpha, mean_scores = ridge_cv_r2(x, y, xe, ye)
    np.testing.assert_allclose(mean_scores, search.cv_results_["mean_test_score"], rtol=1e-9, atol=1e-12)
    assert alpha == search.best_params_["alpha"]
    assert r2 == pytest.approx(search.score(xe, ye), rel=1e-9)
    assert r2 == pytest.approx(nlb.fit_and_eval_decoder(x, y, xe, ye), rel=1e-9)


def test_behaviour_r2_drops_unobserved_samples_like_nlb():
    sim = simulate_lorenz_spikes(n_trials=30, n_bins=20, random_state=1)
    behaviour = sim.behaviour.copy(deep=True)
    behaviour.values[2:5, 15:] = np.nan
    rates_nl = sim.rates.values.transpose(0, 2, 1)
    flat = lambda a: a.reshape(-1, a.shape[-1])  # noqa: E731
    expected = nlb.fit_and_eval_decoder(flat(rates_nl[:20]), flat(behaviour.values[:20]), flat(rates_nl[20:]),
                                        flat(behaviour.values[20:]))
    got = behaviour_r2(sim.rates[:20], behaviour[:20], sim.rates[20:], behaviour[20:])
    assert got == pytest.approx(expected, rel=1e-9)
    partial = behaviour.copy(deep=True)
    partial.values[0, 0, 1] = np.nan
    with pytest.raises(DataError, match="some variables but not others"):
        behaviour_r2(sim.rates[:20], partial[:20], sim.rates[20:], behaviour[20:])
    constant = sim.behaviour.copy(deep=True)
    constant.values[..., 1] = 0.3
    with pytest.raises(DataError, match=r"\[1\] are constant"):
        behaviour_r2(sim.rates[:20], constant[:20], sim.rates[20:], behaviour[20:])


def test_co_bps_reads_only_the_held_out_neurons():
    # A held-in neuron's bad rates do not matter to co-bps; the scored neurons equal nlb_tools on their own.
    rates, spikes = _random_case(5, "plain")
    rates[..., 0] = -1.0
    r, s = _binned(rates), _binned(spikes)
    assert co_bps(r, s, ["u3", "u4", "u9"]) == pytest.approx(
        _nlb_bps(rates[..., [3, 4, 9]], spikes[..., [3, 4, 9]]), rel=1e-9)
    assert co_bps(r.isel(neuroid=[9, 3, 4]), s, ["u3", "u4", "u9"]) == pytest.approx(
        co_bps(r, s, ["u3", "u4", "u9"]), rel=1e-12)
    with pytest.raises(DataError, match="negative"):
        co_bps(r, s, ["u0", "u4"])
    with pytest.raises(DataError, match="no time bin starts"):
        fp_bps(r, s, start=10.0)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n_trials=st.integers(2, 8), n_bins=st.integers(1, 6),
       n_neurons=st.integers(1, 5))
def test_bits_per_spike_is_invariant_to_joint_permutations(seed, n_trials, n_bins, n_neurons):
    # Property: the score sums over trials, bins and neurons, so permuting trials, bins or neurons of rates
    # and spikes together leaves it unchanged (up to the order of floating-point sums).
    rng = np.random.default_rng(seed)
    rates = rng.gamma(1.0, 0.5, size=(n_trials, n_bins, n_neurons))
    spikes = rng.poisson(1.0, size=rates.shape).astype(float)
    spikes.flat[0] = 1.0  # at least one spike
    base = bits_per_spike_array(rates, spikes)
    t, b, n = rng.permutation(n_trials), rng.permutation(n_bins), rng.permutation(n_neurons)
    moved = bits_per_spike_array(rates[t][:, b][..., n], spikes[t][:, b][..., n])
    assert moved == pytest.approx(base, rel=1e-9, abs=1e-12)
    assert base == pytest.approx(_nlb_bps(rates, spikes), rel=1e-9, abs=1e-12)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(20, 80), p=st.integers(1, 6), shift=st.floats(-5, 5))
def test_ridge_decoding_is_invariant_to_feature_order_and_offsets(seed, n, p, shift):
    # Property: ridge with an intercept is unchanged by permuting the features or adding a constant to one
    # (the centring removes it); the training samples' order within folds does not enter either.
    rng = np.random.default_rng(seed)
    x = rng.gamma(1.0, 0.2, size=(n, p))
    y = x @ rng.normal(size=(p, 2)) + rng.normal(0, 0.5, size=(n, 2))
    xe, ye = rng.gamma(1.0, 0.2, size=(10, p)), rng.normal(size=(10, 2))
    base = ridge_cv_r2(x, y, xe, ye)
    order = rng.permutation(p)
    moved = ridge_cv_r2(x[:, order] + shift, y, xe[:, order] + shift, ye)
    assert moved[1] == base[1] or np.isclose(base[2].max(), np.sort(base[2])[-2], rtol=1e-9)
    assert moved[0] == pytest.approx(base[0], rel=1e-7, abs=1e-9)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_psth_r2_is_invariant_to_trial_order(seed):
    rng = np.random.default_rng(seed)
    psth = rng.gamma(2.0, 0.1, size=(3, 4, 5))
    condition = np.arange(12) % 3
    rates = psth[condition] + rng.gamma(1.0, 0.05, size=(12, 4, 5))
    labelled = xr.DataArray(psth.transpose(0, 2, 1), dims=("condition", "neuroid", "time_bin"),
                            coords={"condition": [0, 1, 2], "neuroid_id": ("neuroid", [f"u{j}" for j in range(5)])})
    r = _binned(rates, condition=condition)
    order = rng.permutation(12)
    assert psth_r2(r.isel(presentation=order), labelled) == pytest.approx(psth_r2(r, labelled), rel=1e-9)
