"""Kernel-density pairwise-distance bounds (Kolchinsky & Tracey 2017; Saxe et al. 2018).

References: the exact MI of a 1-D Gaussian mixture channel by numerical integration (scipy.integrate.quad),
the Gaussian channel's closed form 0.5 log(1 + s²/σ²), and a direct double sum written here.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.special import logsumexp
from scipy.stats import entropy, norm

from neuroalign.errors import ConfigError, DataError, UnknownNameError
from neuroalign.geometry.information.kernel import kde_information, pairwise_distance_bound


def direct_bound(h: np.ndarray, variance: float, factor: float = 2.0) -> float:
    """-1/N sum_i log 1/N sum_j exp(-|h_i - h_j|^2 / (factor variance)), one row at a time."""
    n = len(h)
    rows = [logsumexp(-((h - h[i]) ** 2).sum(axis=1) / (factor * variance)) - np.log(n) for i in range(n)]
    return -float(np.mean(rows))


def test_brackets_the_exact_mutual_information_of_a_1d_mixture_channel():
    """T = h_I + Z, I uniform over 4 centres, Z ~ N(0, σ²): I(I;T) = h(T) - 0.5 log(2πeσ²), h(T) by quad."""
    centres, variance = np.array([0.0, 0.5, 2.0, 5.0]), 0.25
    sd = np.sqrt(variance)

    def density(t):
        return norm.pdf(t, centres, sd).mean()

    h_t = quad(lambda t: -density(t) * np.log(density(t)), -8, 13, limit=200, epsabs=1e-12)[0]
    exact = h_t - 0.5 * np.log(2 * np.pi * np.e * variance)
    upper = pairwise_distance_bound(centres, noise_variance=variance)
    lower = pairwise_distance_bound(centres, noise_variance=variance, bound="lower")
    assert lower <= exact <= upper
    assert 0 < exact < np.log(4)


def test_gaussian_channel_upper_bound_exceeds_the_closed_form():
    """Inputs X ~ N(0, s²) through T = X + Z, Z ~ N(0, σ²): I(X;T) = 0.5 log(1 + s²/σ²).  With many samples
    the KL bound tends to 0.5 log((s² + σ²)/σ²) + s² / (2 (s² + σ²)), above the truth; the Bhattacharyya
    bound lies below it."""
    s2, variance = 1.0, 0.25
    x = np.random.default_rng(0).normal(scale=np.sqrt(s2), size=(3000, 1))
    truth = 0.5 * np.log(1 + s2 / variance)
    upper = pairwise_distance_bound(x, noise_variance=variance)
    lower = pairwise_distance_bound(x, noise_variance=variance, bound="lower")
    assert upper >= truth >= lower
    assert upper == pytest.approx(0.5 * np.log((s2 + variance) / variance) + s2 / (2 * (s2 + variance)), abs=0.03)


def test_blocked_computation_equals_the_direct_double_sum():
    rng = np.random.default_rng(1)
    h = rng.normal(size=(1300, 5))  # more rows than one block of 1024
    for factor, bound in ((2.0, "upper"), (8.0, "lower")):
        assert pairwise_distance_bound(h, noise_variance=0.7, bound=bound) == \
            pytest.approx(direct_bound(h, 0.7, factor), abs=1e-10)


def test_limits_distinguishable_and_identical_samples():
    far = np.arange(8.0)[:, None] * 1000
    assert pairwise_distance_bound(far, units="bits") == pytest.approx(3.0, abs=1e-12)
    assert pairwise_distance_bound(np.ones((8, 4))) == 0.0
    i_xt, i_ty = kde_information(far, [0, 0, 0, 0, 1, 1, 1, 1], units="bits")
    assert (i_xt, i_ty) == (pytest.approx(3.0, abs=1e-12), pytest.approx(1.0, abs=1e-12))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), variance=st.floats(0.01, 10))
def test_invariant_to_unit_order_and_rotation_and_i_ty_at_most_h_y(seed, variance):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(60, 3))
    labels = rng.integers(0, 3, 60)
    h[:, 0] += 2 * labels
    value = kde_information(h, labels, noise_variance=variance)
    rotation = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    assert kde_information(h[:, ::-1], labels, noise_variance=variance) == pytest.approx(value, abs=1e-9)
    assert kde_information(h @ rotation, labels, noise_variance=variance) == pytest.approx(value, abs=1e-9)
    assert value[1] <= entropy(np.bincount(labels)) + 1e-9
    assert value[0] <= np.log(60) + 1e-9


def test_bad_settings_and_data_raise_named_errors():
    h = np.random.default_rng(2).normal(size=(10, 2))
    with pytest.raises(ConfigError, match="noise_variance"):
        pairwise_distance_bound(h, noise_variance=0)
    with pytest.raises(UnknownNameError):
        pairwise_distance_bound(h, bound="middle")
    bad = h.copy()
    bad[1, 1] = np.nan
    with pytest.raises(DataError, match="NaN"):
        kde_information(bad, np.zeros(10))
    with pytest.raises(DataError, match="at least 2"):
        pairwise_distance_bound(h[:1])
