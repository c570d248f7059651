"""Tests of neuroalign.loaders.binning: exact counts, edge convention, errors, properties.

# reference: numpy.histogram per trial and unit (np.histogram closes its last bin on the
# right, so spikes at the window end are removed before calling it; see _reference).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.data import load, save, validate
from neuroalign.errors import ConfigError, DataError, NeuroalignError, UnknownNameError
from neuroalign.loaders.binning import bin_edges, bin_spikes, count_spikes, merge_intervals


def _reference(times, units, unit_order, events, edges):
    """Per-trial, per-unit np.histogram with [start, end) bins."""
    times, units = np.asarray(times, float), np.asarray(units)
    out = np.zeros((len(events), len(unit_order), len(edges) - 1))
    for i, event in enumerate(events):
        absolute = event + edges
        for j, unit in enumerate(unit_order):
            train = times[units == unit]
            out[i, j] = np.histogram(train[train < absolute[-1]], bins=absolute)[0]
    return out


def _random_spikes(rng, n_spikes=5000, n_units=7, duration=100.0):
    times = np.sort(rng.uniform(0, duration, n_spikes))
    units = rng.integers(0, n_units, n_spikes) * 3 + 1  # ids 1, 4, 7, ... (not 0..n-1)
    return times, units


# ---------------------------------------------------------------------------------------------------
# bin edges
# ---------------------------------------------------------------------------------------------------

def test_bin_edges_are_exact_at_both_ends():
    edges = bin_edges((-0.3, 0.6), 0.1)
    assert edges.size == 10
    assert edges[0] == -0.3 and edges[-1] == 0.6
    np.testing.assert_allclose(np.diff(edges), 0.1)


def test_bin_edges_single_bin_when_no_bin_size():
    assert bin_edges((0, 2)).tolist() == [0.0, 2.0]


@pytest.mark.parametrize("window, bin_size", [((0, 1), 0.3), ((1, 0), 0.1), ((0, np.nan), 0.1),
                                              ((0, 1), -0.1), ((0, 1), 0.0), ("ab", 0.1)])
def test_bin_edges_reject_bad_windows(window, bin_size):
    with pytest.raises(ConfigError) as info:
        bin_edges(window, bin_size)
    assert "Fix:" in str(info.value)


# ---------------------------------------------------------------------------------------------------
# counts against the np.histogram reference
# ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("events_kind", ["disjoint", "disjoint_shuffled", "overlapping", "touching"])
def test_counts_equal_histogram_reference(rng, events_kind):
    times, units = _random_spikes(rng)
    if events_kind == "disjoint":
        events = np.arange(2, 95, 3.0)
    elif events_kind == "disjoint_shuffled":
        events = rng.permutation(np.arange(2, 95, 3.0))
    elif events_kind == "overlapping":
        events = rng.uniform(1, 97, 40)
    else:  # each window ends where the next begins
        events = np.arange(1, 97, 2.0)
    window = (-0.5, 1.5)
    counts = bin_spikes(times, units, events, window, 0.25, recording=(0, 100))
    expected = _reference(times, units, np.unique(units), events, bin_edges(window, 0.25))
    assert counts.shape == expected.shape
    np.testing.assert_array_equal(counts.values, expected)
    assert counts.values.sum() > 0


def test_spikes_on_edges_follow_the_half_open_convention():
    # events at 10 and 12, window (-1, 1), bins of 0.5 s: absolute edges 9, 9.5, ..., 11 and 11, ..., 13
    events = np.array([10.0, 12.0])
    edges = bin_edges((-1, 1), 0.5)
    spikes = np.array([9.0, 9.5, 10.0, 11.0, 13.0]) + 0.0  # window start, inner edges, touching end, window end
    counts = bin_spikes(spikes, np.zeros(5, int), events, (-1, 1), 0.5, recording=(0, 20)).values[:, 0, :]
    # 9.0 is the first edge of trial 0 -> bin 0; 9.5 -> bin 1; 10.0 -> bin 2;
    # 11.0 ends trial 0 (not counted there) and starts trial 1 -> trial 1 bin 0; 13.0 ends trial 1 -> nowhere
    assert counts.tolist() == [[1, 1, 1, 0], [1, 0, 0, 0]]
    assert (events[:, None] + edges[None, :])[1, 0] == 11.0


def test_spike_just_below_an_edge_stays_in_the_earlier_bin():
    edge = 10.0 + 0.5
    below = np.nextafter(edge, -np.inf)
    counts = bin_spikes([below, edge], [0, 0], [10.0], (0, 1), 0.5, recording=(0, 20))
    assert counts.values[0, 0].tolist() == [1.0, 1.0]


def test_overlapping_windows_count_a_spike_in_every_trial():
    counts = bin_spikes([5.0], [0], [4.5, 4.8, 5.0, 6.0], (0, 1), None, recording=(0, 10))
    assert counts.values[:, 0, 0].tolist() == [1.0, 1.0, 1.0, 0.0]


def test_count_spikes_low_level_agrees_with_bin_spikes(rng):
    times, units = _random_spikes(rng, 2000, 3)
    codes = (units - 1) // 3
    events = rng.uniform(1, 95, 25)
    low = count_spikes(times, codes, 3, events, bin_edges((0, 2), 0.5))
    high = bin_spikes(times, units, events, (0, 2), 0.5, recording=(0, 100))
    assert low.dtype == np.int64
    np.testing.assert_array_equal(low, high.values)


def test_rate_divides_by_bin_width(rng):
    times, units = _random_spikes(rng)
    counts = bin_spikes(times, units, [10.0, 20.0], (0, 1), 0.1, recording=(0, 100))
    rates = bin_spikes(times, units, [10.0, 20.0], (0, 1), 0.1, rate=True, recording=(0, 100))
    np.testing.assert_allclose(rates.values, counts.values / 0.1)
    assert counts.attrs["units"] == "counts" and rates.attrs["units"] == "Hz"


# ---------------------------------------------------------------------------------------------------
# labels
# ---------------------------------------------------------------------------------------------------

def test_output_follows_the_data_model(rng):
    times, units = _random_spikes(rng)
    trials = pd.DataFrame({"image": [f"img{i % 3}" for i in range(10)], "contrast": np.linspace(0, 1, 10)},
                          index=pd.Index(np.arange(100, 110), name="id"))
    counts = bin_spikes(times, units, np.arange(10, 60, 5.0), (-0.2, 0.3), 0.1, trials=trials,
                        stimulus_id="image", recording=(0, 100))
    validate(counts, dims=("presentation", "neuroid", "time_bin"))
    assert counts.dims == ("presentation", "neuroid", "time_bin")
    assert counts.stimulus_id.values.tolist() == trials["image"].tolist()
    assert counts.contrast.values.tolist() == trials["contrast"].tolist()
    assert counts.trial.values.tolist() == list(range(100, 110))
    assert counts.event_time.values.tolist() == list(np.arange(10, 60, 5.0))
    assert counts.neuroid_id.values.tolist() == [str(u) for u in np.unique(units)]
    np.testing.assert_allclose(counts.time_bin_start.values, [-0.2, -0.1, 0.0, 0.1, 0.2], atol=1e-12)
    np.testing.assert_allclose(counts.time_bin_end.values, [-0.1, 0.0, 0.1, 0.2, 0.3], atol=1e-12)
    assert counts.attrs["bin_size"] == 0.1 and counts.attrs["align_to"] == "event_times"
    assert set(counts.attrs["input_hashes"]) == {"spike_times", "unit_ids", "event_times"}
    assert counts.attrs["parameters"]["window"] == [-0.2, 0.3]


def test_default_stimulus_id_is_the_trial_index():
    counts = bin_spikes([1.0], [0], [0.5, 2.0], (0, 1), recording=(0, 3))
    assert counts.stimulus_id.values.tolist() == ["0", "1"]


def test_unknown_stimulus_column_lists_the_columns():
    with pytest.raises(UnknownNameError) as info:
        bin_spikes([1.0], [0], [0.5], (0, 1), trials=pd.DataFrame({"image": ["a"]}), stimulus_id="imag",
                   recording=(0, 3))
    assert "'image'" in str(info.value)


def test_units_selects_and_orders_neuroids(rng):
    times, units = _random_spikes(rng)
    counts = bin_spikes(times, units, [10.0, 20.0], (0, 1), 0.5, units=[7, 1, 99], recording=(0, 100),
                        neuroid=pd.DataFrame({"region": ["V1", "V4", "IT"]}, index=[1, 7, 99]))
    assert counts.neuroid_id.values.tolist() == ["7", "1", "99"]
    assert counts.region.values.tolist() == ["V4", "V1", "IT"]
    expected = _reference(times, units, [7, 1, 99], [10.0, 20.0], bin_edges((0, 1), 0.5))
    np.testing.assert_array_equal(counts.values, expected)
    assert counts.values[:, 2].sum() == 0  # unit 99 has no spikes


def test_save_and_load_round_trip(tmp_path, rng):
    times, units = _random_spikes(rng)
    counts = bin_spikes(times, units, [0.2, 50.0], (-1, 1), 0.5, recording=(0, 100))
    assert np.isnan(counts.values[0, :, :2]).all()  # before the recording: flagged
    back = load(save(counts, tmp_path / "counts.nc"))
    np.testing.assert_array_equal(back.values, counts.values)
    assert back.attrs["parameters"] == counts.attrs["parameters"]


# ---------------------------------------------------------------------------------------------------
# observed time and the recording
# ---------------------------------------------------------------------------------------------------

def test_bins_outside_observed_intervals_are_nan_and_their_spikes_not_counted():
    spikes = np.array([1.2, 2.2, 3.2, 4.2])
    observed = {0: np.array([[0.0, 2.0], [3.0, 10.0]])}
    counts = bin_spikes(spikes, np.zeros(4, int), [1.0, 2.0, 3.0, 4.0], (0, 1), 0.5, recording=(0, 10),
                        observed=observed)
    values = counts.values[:, 0, :]
    assert values[0].tolist() == [1.0, 0.0]
    assert np.isnan(values[1]).all()  # 2.0-3.0 is a gap
    assert values[2].tolist() == [1.0, 0.0] and values[3].tolist() == [1.0, 0.0]
    assert counts.attrs["n_unobserved_bins"] == 2
    counted = bin_spikes(spikes, np.zeros(4, int), [1.0, 2.0, 3.0, 4.0], (0, 1), 0.5, recording=(0, 10),
                         observed=observed, unobserved="count")
    assert counted.values[1, 0].tolist() == [0.0, 0.0]  # the spike at 2.2 lies in the gap: not counted


def test_partially_observed_bins_raise_when_asked():
    with pytest.raises(ConfigError) as info:
        bin_spikes([1.0], [0], [9.5], (0, 1), 0.5, recording=(0, 10), unobserved="raise")
    assert "unobserved='nan'" in str(info.value)


def test_unknown_unobserved_mode():
    with pytest.raises(UnknownNameError):
        bin_spikes([1.0], [0], [0.5], (0, 1), recording=(0, 10), unobserved="zero")


def test_window_outside_the_recording_raises():
    with pytest.raises(ConfigError) as info:
        bin_spikes([1.0, 2.0], [0, 0], [1.0, 500.0], (0, 1), 0.5, recording=(0, 10))
    message = str(info.value)
    assert "outside the recording" in message and "trial 1" in message and "same clock" in message


def test_merge_intervals_joins_overlaps():
    starts, stops = merge_intervals([[5, 6], [0, 2], [1, 3], [6, 7]])
    assert starts.tolist() == [0, 5] and stops.tolist() == [3, 7]


# ---------------------------------------------------------------------------------------------------
# bad spike times
# ---------------------------------------------------------------------------------------------------

def test_unsorted_spike_times_within_a_unit_raise():
    with pytest.raises(DataError) as info:
        bin_spikes([1.0, 3.0, 2.0], [5, 5, 5], [0.5], (0, 3))
    assert "not sorted" in str(info.value) and "5" in str(info.value)


def test_spike_times_sorted_per_unit_but_not_globally_are_fine():
    counts = bin_spikes([1.0, 3.0, 0.5, 2.5], [0, 0, 1, 1], [0.0], (0, 4), 1.0, recording=(0, 4))
    assert counts.values[0].tolist() == [[0, 1, 0, 1], [1, 0, 1, 0]]


def test_negative_spike_times_raise():
    with pytest.raises(DataError) as info:
        bin_spikes([-0.1, 1.0], [0, 0], [0.5], (0, 1))
    assert "negative" in str(info.value) and "Fix:" in str(info.value)


def test_nan_spike_or_event_times_raise():
    with pytest.raises(DataError):
        bin_spikes([np.nan, 1.0], [0, 0], [0.5], (0, 1))
    with pytest.raises(DataError):
        bin_spikes([0.1, 1.0], [0, 0], [np.nan], (0, 1))


def test_mismatched_lengths_raise():
    with pytest.raises(NeuroalignError):
        bin_spikes([0.1, 1.0], [0], [0.5], (0, 1))


# ---------------------------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------------------------

_offsets = st.lists(st.integers(-8, 12), min_size=0, max_size=40)


@settings(max_examples=60, deadline=None)
@given(offsets=_offsets, n_bins=st.integers(1, 8), jitter=st.lists(st.floats(0, 0.999), max_size=40),
       events=st.lists(st.integers(2, 80), min_size=1, max_size=6))
def test_property_total_count_conserved_when_bins_tile_the_window(offsets, n_bins, jitter, events):
    # spike times on a 1/8 s grid (exact in float64), many of them exactly on bin edges
    base = np.array(offsets, float) / 8.0 + 10.0
    spikes = np.sort(np.concatenate([base, base[: len(jitter)] + np.array(jitter[: len(base)]) / 8.0]))
    units = np.zeros(spikes.size, int)
    window = (-0.5, 0.5)
    events = np.array(events, float) / 4.0
    binned = bin_spikes(spikes, units, events, window, 1.0 / n_bins, units=[0], recording=(0, 30))
    single = bin_spikes(spikes, units, events, window, None, units=[0], recording=(0, 30))
    np.testing.assert_array_equal(binned.values.sum(axis=2), single.values[:, :, 0])
    direct = [np.count_nonzero((spikes >= e - 0.5) & (spikes < e + 0.5)) for e in events]
    assert single.values[:, 0, 0].tolist() == direct


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_property_equals_histogram_reference_and_permutes_with_events(data):
    n_units = data.draw(st.integers(1, 4))
    grid = data.draw(st.lists(st.tuples(st.integers(0, 160), st.integers(0, n_units - 1)), max_size=60))
    times = np.array([g[0] for g in grid], float) / 8.0
    units = np.array([g[1] for g in grid], int)
    order = np.lexsort((times, units))
    times, units = times[order], units[order]
    events = np.array(data.draw(st.lists(st.integers(4, 16), min_size=1, max_size=5)), float)
    bin_size = data.draw(st.sampled_from([0.125, 0.25, 0.5, 1.0]))
    counts = bin_spikes(times, units, events, (-1, 1), bin_size, units=list(range(n_units)), recording=(0, 21))
    expected = _reference(times, units, range(n_units), events, bin_edges((-1, 1), bin_size))
    np.testing.assert_array_equal(counts.values, expected)
    permutation = np.array(data.draw(st.permutations(range(events.size))))
    permuted = bin_spikes(times, units, events[permutation], (-1, 1), bin_size, units=list(range(n_units)),
                          recording=(0, 21))
    np.testing.assert_array_equal(permuted.values, counts.values[permutation])
