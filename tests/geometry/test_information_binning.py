"""Binning estimators (Shwartz-Ziv & Tishby 2017; adaptive equal-mass bins, Chelombiev et al. 2019).

References: hand-computed discrete examples, scipy.stats.entropy of the pattern counts,
scikit-learn's ``mutual_info_score`` of (pattern, label) and numpy's ``digitize`` on ``linspace`` edges.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import entropy
from sklearn.metrics import mutual_info_score

from neuroalign.errors import ConfigError, DataError, UnknownNameError
from neuroalign.geometry.information.binning import bin_activations, binned_information, pattern_entropy


def pattern_ids(codes: np.ndarray) -> np.ndarray:
    return np.unique(codes, axis=0, return_inverse=True)[1].ravel()


def test_hand_computed_example():
    """Two units, eight samples, bins of width 0.5 on (0, 1).

    unit 0: 0.1 0.2 0.3 0.7 0.8 0.9 0.6 0.4 -> bins 0 0 0 1 1 1 1 0
    unit 1: 0.9 0.8 0.1 0.2 0.6 0.7 0.3 0.4 -> bins 1 1 0 0 1 1 0 0
    patterns (0,1) x2, (0,0) x2, (1,0) x2, (1,1) x2 -> H(T) = log 4 = 2 bits.
    labels = unit 0's bin: each class holds two patterns twice -> H(T|Y) = 1 bit, I(T;Y) = 1 bit.
    labels 0 0 0 0 1 1 1 1: class 0 holds (0,1) x2, (0,0), (1,0) -> 1.5 bits, class 1 holds (1,1) x2,
    (1,0), (0,0) -> 1.5 bits; I(T;Y) = 2 - 1.5 = 0.5 bit.
    """
    t = np.array([[0.1, 0.9], [0.2, 0.8], [0.3, 0.1], [0.7, 0.2], [0.8, 0.6], [0.9, 0.7], [0.6, 0.3], [0.4, 0.4]])
    codes = bin_activations(t, bins=2, value_range=(0, 1))
    assert codes.tolist() == [[0, 1], [0, 1], [0, 0], [1, 0], [1, 1], [1, 1], [1, 0], [0, 0]]
    assert pattern_entropy(codes, units="bits") == pytest.approx(2.0, abs=1e-12)
    i_xt, i_ty = binned_information(t, [0, 0, 0, 1, 1, 1, 1, 0], bins=2, value_range=(0, 1), units="bits")
    assert (i_xt, i_ty) == (pytest.approx(2.0, abs=1e-12), pytest.approx(1.0, abs=1e-12))
    assert binned_information(t, [0, 0, 0, 0, 1, 1, 1, 1], bins=2, value_range=(0, 1), units="bits")[1] == \
        pytest.approx(0.5, abs=1e-12)
    # the labels that the second unit alone tells apart: I(T;Y) = H(Y) = 1 bit as well
    assert binned_information(t, [1, 1, 0, 0, 1, 1, 0, 0], bins=2, value_range=(0, 1), units="bits")[1] == \
        pytest.approx(1.0, abs=1e-12)
    # labels independent of the patterns: I(T;Y) = 0
    assert binned_information(t, [0, 1, 0, 1, 0, 1, 0, 1], bins=2, value_range=(0, 1))[1] == pytest.approx(0.0,
                                                                                                           abs=1e-12)


def test_fixed_bins_equal_numpy_digitize_on_linspace_edges():
    """Shwartz-Ziv & Tishby bin tanh units on np.linspace(-1, 1, bins + 1)."""
    t = np.tanh(np.random.default_rng(0).normal(size=(500, 6)))
    edges = np.linspace(-1, 1, 31)
    assert np.array_equal(bin_activations(t, bins=30, value_range=(-1, 1)), np.digitize(t, edges[1:-1]))


def test_fixed_bins_default_to_each_unit_s_range():
    t = np.column_stack([np.linspace(0, 1, 11), np.linspace(-50, 50, 11)])
    codes = bin_activations(t, bins=5)
    assert np.array_equal(codes[:, 0], codes[:, 1])
    assert codes.min() == 0 and codes.max() == 4


def test_adaptive_bins_hold_equal_mass():
    t = np.random.default_rng(1).exponential(size=(1000, 3))
    codes = bin_activations(t, bins=8, strategy="adaptive")
    for j in range(3):
        assert np.array_equal(np.bincount(codes[:, j], minlength=8), np.full(8, 125))


def test_adaptive_bins_put_repeated_values_in_one_bin():
    relu = np.maximum(np.random.default_rng(2).normal(size=(400, 1)), 0)  # about half exact zeros
    codes = bin_activations(relu, bins=4, strategy="adaptive")
    assert len(np.unique(codes[relu[:, 0] == 0])) == 1


def test_entropies_equal_scipy_and_sklearn_references():
    rng = np.random.default_rng(3)
    t = rng.normal(size=(600, 3))
    labels = rng.integers(0, 4, 600)
    t[:, 0] += labels
    for strategy in ("fixed", "adaptive"):
        codes = bin_activations(t, bins=4, strategy=strategy)
        ids = pattern_ids(codes)
        assert pattern_entropy(codes) == pytest.approx(entropy(np.bincount(ids)), abs=1e-12)
        i_xt, i_ty = binned_information(t, labels, bins=4, strategy=strategy)
        assert i_xt == pytest.approx(entropy(np.bincount(ids)), abs=1e-12)
        assert i_ty == pytest.approx(mutual_info_score(labels, ids), abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), bins=st.integers(2, 12), strategy=st.sampled_from(["fixed", "adaptive"]))
def test_invariant_to_unit_and_sample_order_and_bounded(seed, bins, strategy):
    rng = np.random.default_rng(seed)
    t = rng.normal(size=(80, 4))
    labels = rng.integers(0, 3, 80)
    value = binned_information(t, labels, bins=bins, strategy=strategy)
    units, samples = rng.permutation(4), rng.permutation(80)
    assert binned_information(t[:, units], labels, bins=bins, strategy=strategy) == pytest.approx(value, abs=1e-12)
    assert binned_information(t[samples], labels[samples], bins=bins, strategy=strategy) == \
        pytest.approx(value, abs=1e-12)
    i_xt, i_ty = value
    assert 0 <= i_ty <= min(i_xt, entropy(np.bincount(labels))) + 1e-12
    assert i_xt <= np.log(80) + 1e-12


def test_bad_settings_and_data_raise_named_errors():
    t = np.random.default_rng(4).normal(size=(20, 2))
    with pytest.raises(ConfigError, match="bins must be an integer of at least 2"):
        bin_activations(t, bins=1)
    with pytest.raises(UnknownNameError):
        bin_activations(t, strategy="quantile")
    with pytest.raises(ConfigError, match="value_range"):
        bin_activations(t, value_range=(1, -1))
    with pytest.raises(ConfigError, match="strategy='fixed' only"):
        bin_activations(t, strategy="adaptive", value_range=(-1, 1))
    bad = t.copy()
    bad[0, 0] = np.inf
    with pytest.raises(DataError, match="infinite"):
        bin_activations(bad)
    with pytest.raises(DataError, match="one label per sample"):
        binned_information(t, [0, 1, 2])
    with pytest.raises(DataError, match="missing labels"):
        binned_information(t, [0.0] * 19 + [np.nan])
    with pytest.raises(DataError, match="missing labels"):
        binned_information(t, ["a"] * 19 + [None])
    with pytest.raises(ConfigError, match="units"):
        pattern_entropy(t, units="ban")
