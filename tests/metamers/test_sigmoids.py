"""Sigmoids in psignifit's threshold/width parametrisation, checked against scipy.stats and psignifit 4."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from neuroalign.errors import UnknownNameError
from neuroalign.metamers.sigmoids import SIGMOIDS, get_sigmoid, sigmoid_names

LINEAR = ["logistic", "normal", "gumbel", "reverse_gumbel"]


def _scipy_cdf(name: str, x, threshold: float, width: float, alpha: float = 0.05):
    """The same curve from scipy.stats' location-scale distributions (independent of our ppf)."""
    dist = {"logistic": stats.logistic, "normal": stats.norm, "gumbel": stats.gumbel_l,
            "reverse_gumbel": stats.gumbel_r}[name]
    scale = width / (dist.ppf(1 - alpha) - dist.ppf(alpha))
    loc = threshold - dist.ppf(0.5) * scale
    return dist.cdf(x, loc=loc, scale=scale)


@pytest.mark.parametrize("name", LINEAR)
def test_sigmoid_matches_scipy_distribution(name):
    s = get_sigmoid(name)
    x = np.linspace(-20, 40, 301)
    np.testing.assert_allclose(s(x, 10.0, 7.0), _scipy_cdf(name, x, 10.0, 7.0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(s(x, 10.0, 7.0, alpha=0.1), _scipy_cdf(name, x, 10.0, 7.0, 0.1), rtol=1e-12,
                               atol=1e-15)


@pytest.mark.parametrize("name", [*LINEAR, "weibull"])
@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_threshold_and_width_definitions(name, alpha):
    s = get_sigmoid(name)
    threshold, width = (1.3, 0.6) if s.log_axis else (12.0, 8.0)
    at = s.from_axis(threshold)
    assert s(at, threshold, width, alpha=alpha) == pytest.approx(0.5, abs=1e-14)
    low, high = s.inverse(np.array([alpha, 1 - alpha]), threshold, width, alpha=alpha)
    assert s(low, threshold, width, alpha=alpha) == pytest.approx(alpha, abs=1e-12)
    assert s(high, threshold, width, alpha=alpha) == pytest.approx(1 - alpha, abs=1e-12)
    assert s.to_axis(high) - s.to_axis(low) == pytest.approx(width, rel=1e-12)  # X_{1-a} - X_a on the fit axis
    if name in ("logistic", "normal"):  # symmetric: X_0.95 = threshold + width/2
        assert high == pytest.approx(threshold + width / 2, rel=1e-12)


def test_weibull_is_the_weibull_distribution_on_x():
    # S(x) = 1 - exp(-(x/a)^b): scipy.stats.weibull_min(c=b, scale=a); log-threshold log a + log(log 2)/b,
    # log-width (log(-log .05) - log(-log .95))/b
    a, b = 12.0, 2.5
    threshold = np.log(a) + np.log(np.log(2)) / b
    width = (np.log(-np.log(0.05)) - np.log(-np.log(0.95))) / b
    x = np.linspace(0.5, 40, 200)
    np.testing.assert_allclose(get_sigmoid("weibull")(x, threshold, width), stats.weibull_min.cdf(x, b, scale=a),
                               rtol=1e-12)


@pytest.mark.parametrize("name", LINEAR)
def test_log_functions_are_accurate_in_the_tails(name):
    s = get_sigmoid(name)
    dist = {"logistic": stats.logistic, "normal": stats.norm, "gumbel": stats.gumbel_l,
            "reverse_gumbel": stats.gumbel_r}[name]
    z = np.linspace(-30, 30, 121)
    if name == "gumbel":
        z = np.linspace(-30, 6, 121)   # logsf = -exp(z) is exact; scipy's own logsf overflows beyond
    if name == "reverse_gumbel":
        z = np.linspace(-6, 30, 121)
    np.testing.assert_allclose(s.logcdf(z), dist.logcdf(z), rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(s.logsf(z), dist.logsf(z), rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(s.logpdf(z), dist.logpdf(z), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(s.cdf(z) + s.sf(z), 1.0, rtol=1e-15)


@pytest.mark.parametrize("ours,theirs", [("logistic", "logistic"), ("normal", "norm"), ("gumbel", "gumbel"),
                                         ("reverse_gumbel", "rgumbel")])
def test_sigmoid_matches_psignifit(ours, theirs):
    sigmoids = pytest.importorskip("psignifit.sigmoids", reason="psignifit 4 (the test-only reference) is absent")
    x = np.linspace(-5, 25, 61)
    ref = sigmoids.sigmoid_by_name(theirs)(x, 10.0, 6.0)
    np.testing.assert_allclose(get_sigmoid(ours)(x, 10.0, 6.0), ref, rtol=1e-12, atol=1e-15)


@settings(max_examples=50, deadline=None)
@given(name=st.sampled_from(LINEAR), threshold=st.floats(-50, 50), width=st.floats(0.1, 50),
       s=st.floats(0.001, 0.999))
def test_inverse_inverts(name, threshold, width, s):
    sig = get_sigmoid(name)
    x = sig.inverse(s, threshold, width)
    assert sig(x, threshold, width) == pytest.approx(s, rel=1e-9, abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(LINEAR), threshold=st.floats(-20, 20), width=st.floats(0.5, 20), shift=st.floats(-30, 30))
def test_sigmoid_is_a_location_family_in_threshold(name, threshold, width, shift):
    sig = get_sigmoid(name)
    x = np.linspace(-40, 40, 17)
    np.testing.assert_allclose(sig(x + shift, threshold + shift, width), sig(x, threshold, width), atol=1e-12)


def test_registry_names_and_unknown_names():
    assert set(SIGMOIDS) == {"logistic", "normal", "gumbel", "reverse_gumbel", "weibull"}
    assert get_sigmoid("Gauss").name == "normal" and "norm" in sigmoid_names()
    with pytest.raises(UnknownNameError, match="valid choices") as info:
        get_sigmoid("logistc")
    assert "logistic" in str(info.value)
    with pytest.raises(UnknownNameError, match="direction='decreasing'"):
        get_sigmoid("neg_logistic")
