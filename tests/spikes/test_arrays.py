"""Binned spike arrays for the spike models (neuroalign.spikes.arrays)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
from neuroalign.errors import AlignmentError, ConfigError, DataError, SchemaError
from neuroalign.spikes.arrays import (check_counts, check_sessions, from_neurons_last, held_out_ids, neurons_last,
                                      split_neurons, split_trials)


@pytest.fixture(scope="module")
def sim():
    return simulate_lorenz_spikes(n_trials=12, n_bins=6, n_held_in=5, n_held_out=2, n_conditions=3, random_state=0)


def test_neurons_last_round_trip_keeps_values_and_coords(sim):
    values = neurons_last(sim.counts.transpose("time_bin", "neuroid", "presentation"))
    assert values.shape == (12, 6, 7) and values.flags.c_contiguous
    np.testing.assert_array_equal(values[3, 4, 5], sim.counts.values[3, 5, 4])
    back = from_neurons_last(values, sim.counts)
    assert back.attrs["units"] == "counts/bin"
    np.testing.assert_array_equal(back.values, sim.counts.values)
    for coord in ("stimulus_id", "condition", "neuroid_id", "held_out", "time_bin_start", "time_bin_end"):
        np.testing.assert_array_equal(back[coord].values, sim.counts[coord].values)


def test_from_neurons_last_takes_neuron_labels_from_another_array(sim):
    held_in, held_out = split_neurons(sim.counts, "held_out")
    out = from_neurons_last(np.zeros((12, 6, 2)), held_in, neuroids=held_out)
    assert out.neuroid_id.values.tolist() == ["n05", "n06"]
    with pytest.raises(DataError, match="do not fit"):
        from_neurons_last(np.zeros((12, 6, 3)), held_in, neuroids=held_out)


def test_held_out_neurons_are_named_never_positional(sim):
    assert held_out_ids(sim.counts, "held_out") == ["n05", "n06"]
    assert held_out_ids(sim.counts, ["n01", "n03"]) == ["n01", "n03"]
    held_in, held_out = split_neurons(sim.counts, ["n03", "n01"])
    assert held_out.neuroid_id.values.tolist() == ["n01", "n03"]  # the data's order, not the list's
    assert held_in.sizes["neuroid"] == 5
    with pytest.raises(AlignmentError, match="not in the data") as info:
        held_out_ids(sim.counts, ["n01", "unit-99"])
    assert "unit-99" in str(info.value) and "n00" in str(info.value)
    with pytest.raises(ConfigError, match="selects 0 of 7"):
        held_out_ids(sim.counts, [])
    with pytest.raises(ConfigError, match="not boolean"):
        held_out_ids(sim.counts.assign_coords(flag=("neuroid", np.arange(7))), "flag")


def test_nan_negative_and_extra_dims_are_refused_with_their_place(sim):
    bad = sim.counts.copy()
    bad.values[2, 1, 3] = np.nan
    with pytest.raises(DataError, match="presentation 2") as info:
        check_counts(bad)
    assert "'n01'" in str(info.value) and "unobserved" in info.value.fix
    bad.values[2, 1, 3] = -1
    with pytest.raises(DataError, match="-1.0"):
        check_counts(bad)
    with pytest.raises(SchemaError):
        check_counts(sim.counts.isel(time_bin=0))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(4, 60), share=st.floats(0.2, 0.8), seed=st.integers(0, 2**32 - 1))
def test_trial_splits_partition_the_trials(n, share, seed):
    try:
        parts = split_trials(n, {"train": share, "valid": 1 - share}, random_state=seed)
    except DataError:
        assert min(round(n * share), n - round(n * share)) < 2
        return
    together = np.concatenate(list(parts.values()))
    assert sorted(together.tolist()) == list(range(n))  # every trial once: no trial on both sides
    assert all(np.all(np.diff(p) > 0) for p in parts.values())
    again = split_trials(n, {"train": share, "valid": 1 - share}, random_state=seed)
    assert all(np.array_equal(parts[k], again[k]) for k in parts)


def test_too_few_trials_is_named():
    with pytest.raises(DataError, match="too few trials"):
        split_trials(5, {"train": 0.8, "valid": 0.2}, random_state=0)


def test_sessions_must_share_their_bins(sim):
    other = simulate_lorenz_spikes(n_trials=8, n_bins=5, n_held_in=4, n_held_out=1, random_state=1)
    assert list(check_sessions({"a": sim.counts, "b": sim.counts.isel(neuroid=[0, 2])})) == ["a", "b"]
    with pytest.raises(DataError, match="differ in length") as info:
        check_sessions({"a": sim.counts, "b": other.counts})
    assert "6 bins" in str(info.value) and "5 bins" in str(info.value)
    with pytest.raises(ConfigError):
        check_sessions([sim.counts])
