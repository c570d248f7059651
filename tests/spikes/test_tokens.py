"""Spike tokens: tokenize → detokenize gives the counts back exactly; the token order and context are as documented."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from neuroalign.data import create_assembly
from neuroalign.errors import ConfigError, DataError
from neuroalign.spikes.tokens import detokenize, tokenize


def _counts(values):
    n_trials, _, n_bins = values.shape
    return create_assembly(values.astype(float), stimulus_id=[f"s{i}" for i in range(n_trials)],
                           dims=("presentation", "neuroid", "time_bin"),
                           time_bins=[(0.01 * k, 0.01 * (k + 1)) for k in range(n_bins)])


def _spikes_by_hand(values, trial, start, stop):
    """(bin - start, neuron) of every spike in bins [start, stop) of a trial, listed one by one in time order."""
    out = []
    for t in range(max(start, 0), stop):
        for n in range(values.shape[1]):
            out += [(t - start, n)] * int(values[trial, n, t])
    return out


def test_round_trip_on_poisson_counts():
    values = np.random.default_rng(0).poisson(0.8, size=(6, 5, 20))
    counts = _counts(values)
    tokens = tokenize(counts, window_bins=5, context_bins=10)
    back = detokenize(tokens)
    assert back.dims == counts.dims
    np.testing.assert_array_equal(back.values, counts.values)
    assert back.stimulus_id.values.tolist() == counts.stimulus_id.values.tolist()
    np.testing.assert_array_equal(back.time_bin_start.values, counts.time_bin_start.values)
    assert tokens.n_spikes.sum() == values.sum()


def test_token_order_and_context_by_hand():
    values = np.random.default_rng(1).poisson(1.0, size=(3, 4, 12))
    tokens = tokenize(_counts(values), window_bins=3, context_bins=6)
    assert tokens.n_windows == 4
    for row in range(len(tokens.trial)):
        trial, window = int(tokens.trial[row]), int(tokens.window[row])
        start = window * 3
        spikes = _spikes_by_hand(values, trial, start, start + 3)
        k = len(spikes)
        assert tokens.ids[row, 0] == tokens.start_id and tokens.offsets[row, 0] == tokens.start_offset
        assert list(zip(tokens.offsets[row, 1:k + 1], tokens.ids[row, 1:k + 1])) == spikes
        assert tokens.ids[row, k + 1] == tokens.end_id and tokens.offsets[row, k + 1] == tokens.end_offset
        assert (tokens.ids[row, k + 2:] == tokens.pad_id).all()
        context = _spikes_by_hand(values, trial, start - 6, start)
        m = len(context)
        assert tokens.context_ids[row, 0] == tokens.start_id and tokens.context_offsets[row, 0] == 6
        assert list(zip(tokens.context_offsets[row, 1:m + 1], tokens.context_ids[row, 1:m + 1])) == context
        assert (tokens.context_offsets[row, m + 1:] == 7).all()


def test_first_window_has_an_empty_context():
    tokens = tokenize(_counts(np.ones((2, 2, 4))), window_bins=2)
    first = tokens.window == 0
    assert (tokens.context_ids[first, 0] == tokens.start_id).all()
    assert (tokens.context_ids[first, 1:] == tokens.pad_id).all()


@settings(max_examples=60, deadline=None)
@given(arrays(np.int64, st.tuples(st.integers(1, 3), st.integers(1, 4), st.sampled_from([2, 4, 6])),
              elements=st.integers(0, 3)),
       st.sampled_from([1, 2]), st.integers(1, 5))
def test_round_trip_property(values, window_bins, context_bins):
    counts = _counts(values)
    tokens = tokenize(counts, window_bins=window_bins, context_bins=context_bins)
    np.testing.assert_array_equal(detokenize(tokens).values, values)
    # every window's offsets are sorted, and ids are sorted within a bin
    spike = tokens.ids < tokens.n_neurons
    for row in range(len(tokens.ids)):
        pairs = list(zip(tokens.offsets[row][spike[row]], tokens.ids[row][spike[row]]))
        assert pairs == sorted(pairs)
    # reversing the neuron order relabels the ids and keeps each neuron's spike count
    flipped = tokenize(_counts(values[:, ::-1]), window_bins=window_bins, context_bins=context_bins)
    n = values.shape[1]
    before = np.bincount(tokens.ids[spike], minlength=n)
    after = np.bincount(flipped.ids[flipped.ids < n], minlength=n)
    np.testing.assert_array_equal(after[::-1], before)

def test_named_errors():
    values = np.ones((2, 2, 6))
    with pytest.raises(ConfigError, match="does not divide the trial length"):
        tokenize(_counts(values), window_bins=4)
    fractional = values.copy()
    fractional[1, 0, 2] = 0.5
    with pytest.raises(DataError, match="whole numbers"):
        tokenize(_counts(fractional), window_bins=3)
    nan = values.copy()
    nan[0, 1, 3] = np.nan
    with pytest.raises(DataError, match="NaN"):
        tokenize(_counts(nan), window_bins=3)


def test_round_trip_on_the_simulator():
    from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes

    sim = simulate_lorenz_spikes(n_trials=50, n_bins=50, random_state=1)
    for window_bins, context_bins in ((5, None), (10, 15), (50, 5)):
        tokens = tokenize(sim.counts, window_bins=window_bins, context_bins=context_bins)
        back = detokenize(tokens)
        assert back.equals(sim.counts)               # values, dims and every coordinate
        assert back.neuroid_id.values.tolist() == sim.counts.neuroid_id.values.tolist()
        assert back.held_out.values.tolist() == sim.counts.held_out.values.tolist()
        assert back.condition.values.tolist() == sim.counts.condition.values.tolist()
        assert int(tokens.n_spikes.sum()) == int(sim.counts.sum())
