"""Psychometric fits: closed forms, an independent scipy maximum-likelihood fit, gradients, invariances, errors.

Agreement with psignifit 4 on the Harrington & Deza curves is in test_psychometric_psignifit.py.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

from neuroalign.errors import ConfigError, DataError, UnknownNameError
from neuroalign.metamers.psychometric import PsychometricFit, fit_psychometric, guess_rate
from neuroalign.metamers.psychometric_data import check_psychometric_data, counts_from_proportions
from neuroalign.metamers.sigmoids import get_sigmoid

X = np.array([5.0, 10, 15, 20, 25, 30])
K = np.array([166, 148, 130, 122, 120, 110])  # a falling 2AFC curve, 200 trials per level
N = np.full(6, 200)


def _on_curve(sigmoid, x, threshold, width, guess, lapse, n):
    s = get_sigmoid(sigmoid)
    psi = guess + (1 - guess - lapse) * s(x, threshold, width)
    return np.round(psi * n), np.full(x.shape, float(n))


@pytest.mark.parametrize("sigmoid", ["logistic", "normal", "gumbel", "reverse_gumbel"])
@pytest.mark.parametrize("experiment,guess", [("2AFC", 0.5), ("3AFC", 1 / 3), ("yes/no", 0.0)])
def test_data_exactly_on_a_curve_recover_its_parameters(sigmoid, experiment, guess):
    """Closed form: counts n·ψ(x) with n = 1e9 are fitted by ψ itself (ML), to rounding."""
    x = np.linspace(0, 20, 9)
    k, n = _on_curve(sigmoid, x, 9.0, 8.0, guess, 0.02, 1e9)
    kw = dict(guess=0.0) if experiment == "yes/no" else {}
    fit = fit_psychometric(x, k, n, sigmoid=sigmoid, experiment=experiment, method="ml", **kw)
    assert fit.threshold_ == pytest.approx(9.0, rel=1e-5)
    assert fit.width_ == pytest.approx(8.0, rel=1e-5)
    assert fit.lapse_ == pytest.approx(0.02, abs=1e-6)
    assert fit.converged_


def test_weibull_recovers_a_weibull_in_x():
    a, b = 12.0, 2.5  # S(x) = 1 - exp(-(x/a)^b): threshold a·(log 2)^(1/b), width X_.95 - X_.05 in x
    x = np.linspace(2, 40, 10)
    psi = 0.5 + 0.5 * stats.weibull_min.cdf(x, b, scale=a)
    fit = fit_psychometric(x, np.round(psi * 1e9), np.full(10, 1e9), sigmoid="weibull", experiment="2AFC",
                           lapse=0.0, method="ml")
    assert fit.threshold_ == pytest.approx(a * np.log(2) ** (1 / b), rel=1e-5)
    x95, x05 = stats.weibull_min.ppf([0.95, 0.05], b, scale=a)
    assert fit.width_ == pytest.approx(x95 - x05, rel=1e-5)


@pytest.mark.parametrize("sigmoid,dist", [("logistic", stats.logistic), ("normal", stats.norm),
                                          ("gumbel", stats.gumbel_l)])
def test_ml_fit_equals_an_independent_scipy_fit(sigmoid, dist):
    """Reference: the binomial likelihood written with scipy.stats and maximised by Nelder-Mead (2AFC, λ = 0)."""
    x, k, n = np.array([1.0, 2, 3, 4, 5]), np.array([52, 61, 80, 93, 99]), np.full(5, 100)
    c = dist.ppf(0.95) - dist.ppf(0.05)

    def nll(p):
        threshold, width = p
        if width <= 0:
            return np.inf
        scale = width / c
        psi = 0.5 + 0.5 * dist.cdf(x, loc=threshold - dist.ppf(0.5) * scale, scale=scale)
        return -stats.binom.logpmf(k, n, psi).sum()

    ref = optimize.minimize(nll, [3.0, 3.0], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12}).x
    fit = fit_psychometric(x, k, n, sigmoid=sigmoid, experiment="2AFC", lapse=0.0, method="ml")
    assert fit.threshold_ == pytest.approx(ref[0], rel=1e-6)
    assert fit.width_ == pytest.approx(ref[1], rel=1e-6)
    assert fit.log_likelihood_ == pytest.approx(-nll(ref), rel=1e-10)


def test_beta_binomial_likelihood_equals_scipy_betabinom():
    fit = fit_psychometric(X, K, N, sigmoid="logistic", experiment="2AFC", direction="decreasing", eta=0.2,
                           lapse=0.01, method="ml")
    psi = fit.predict(X)
    nu = 1 / 0.2 ** 2 - 1
    ref = stats.betabinom.logpmf(K, N, psi * nu, (1 - psi) * nu).sum()
    assert fit.log_likelihood_ == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("sigmoid", ["logistic", "normal", "gumbel", "reverse_gumbel", "weibull"])
@pytest.mark.parametrize("experiment,eta", [("yes/no", "free"), ("equal asymptote", 0.0), ("3AFC", "free")])
def test_analytic_gradient_matches_finite_differences(sigmoid, experiment, eta):
    fit = PsychometricFit(sigmoid, experiment, eta=eta, direction="decreasing")
    u = fit._axis(X, get_sigmoid(sigmoid), "x")
    model = fit._model(u)
    rng = np.random.default_rng(1)
    lo, hi = np.array(model.bounds()).T
    for _ in range(5):
        theta = lo + (hi - lo) * rng.uniform(0.3, 0.7, size=lo.size)
        if "eta" in model.free:
            theta[model.free.index("eta")] = 0.3
        value, grad = model.objective(theta, u, K.astype(float), N.astype(float), grad=True)
        numeric = optimize.approx_fprime(theta, lambda t: float(model.objective(t, u, K.astype(float),
                                                                                N.astype(float))), 1e-7)
        np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-4 * max(1.0, abs(value)))


def test_falling_curve_is_fitted_against_minus_x_and_reported_in_x():
    down = fit_psychometric(X, K, N, sigmoid="logistic", experiment="2AFC", direction="decreasing", lapse=0.0)
    up = fit_psychometric(-X, K, N, sigmoid="logistic", experiment="2AFC", lapse=0.0)
    assert down.threshold_ == pytest.approx(-up.threshold_, rel=1e-9)
    assert down.width_ == pytest.approx(up.width_, rel=1e-9)
    assert 5 < down.threshold_ < 30
    grid = np.linspace(-100, 200, 301)
    psi = down.predict(grid)
    assert np.all(np.diff(psi) <= 1e-15) and psi.min() >= 0.5  # falls, never below the guess rate
    assert down.predict(down.threshold_) == pytest.approx(0.75)


@pytest.mark.parametrize("sigmoid", ["gumbel", "weibull"])
def test_falling_curve_with_an_asymmetric_sigmoid(sigmoid):
    fit = fit_psychometric(X, K, N, sigmoid=sigmoid, experiment="2AFC", direction="decreasing")
    assert 5 < fit.threshold_ < 30
    s = (fit.predict(fit.threshold_) - fit.guess_) / (1 - fit.guess_ - fit.lapse_)
    assert s == pytest.approx(0.5, abs=1e-12)
    low, high = fit.threshold_at(0.5 + 0.5 * (1 - fit.lapse_) * 0.95), fit.threshold_at(
        0.5 + 0.5 * (1 - fit.lapse_) * 0.05)
    assert high - low == pytest.approx(fit.width_, rel=1e-9)  # X.05 lies at higher eccentricity than X.95


def test_percent_correct_thresholds_and_unreachable_levels(caplog):
    with caplog.at_level(logging.WARNING):
        fit = fit_psychometric(X, K, N, sigmoid="normal", experiment="2AFC", direction="decreasing", lapse=0.05,
                               percent_correct=(0.8, 0.99, 0.4))
    t = fit.percent_correct_thresholds_
    assert fit.predict(t[0.8]) == pytest.approx(0.8, abs=1e-12)
    assert t[0.99] == -np.inf  # a falling curve whose top is 0.95 is below 0.99 everywhere
    assert t[0.4] == np.inf  # and never falls to 0.4 (guess 0.5)
    assert "never reaches" in caplog.text


def _fit_row(x, k, n, **kw):
    f = fit_psychometric(x, k, n, sigmoid="logistic", experiment="2AFC", **kw)
    return f.threshold_, f.width_, f.lapse_


@settings(max_examples=12, deadline=None)
@given(shift=st.floats(-100, 100), method=st.sampled_from(["map", "ml"]))
def test_shifting_x_shifts_the_threshold(shift, method):
    base = _fit_row(X, K, N, direction="decreasing", method=method)
    moved = _fit_row(X + shift, K, N, direction="decreasing", method=method)
    assert moved[0] == pytest.approx(base[0] + shift, rel=1e-6, abs=1e-6)
    assert moved[1] == pytest.approx(base[1], rel=1e-6)
    assert moved[2] == pytest.approx(base[2], abs=1e-7)


@settings(max_examples=12, deadline=None)
@given(scale=st.floats(0.01, 100), method=st.sampled_from(["map", "ml"]))
def test_scaling_x_scales_threshold_and_width(scale, method):
    base = _fit_row(X, K, N, direction="decreasing", method=method)
    scaled = _fit_row(X * scale, K, N, direction="decreasing", method=method)
    assert scaled[0] == pytest.approx(base[0] * scale, rel=1e-6)
    assert scaled[1] == pytest.approx(base[1] * scale, rel=1e-6)


@settings(max_examples=10, deadline=None)
@given(order=st.permutations(range(6)))
def test_row_order_does_not_matter(order):
    order = np.asarray(order)
    base = _fit_row(X, K, N, direction="decreasing")
    # to the optimiser's precision: summing in another order can change which of two tied grid points starts it
    assert _fit_row(X[order], K[order], N[order], direction="decreasing") == pytest.approx(base, rel=1e-7, abs=1e-9)


def test_yes_no_fits_the_guess_rate_and_equal_asymptote_ties_it_to_the_lapse():
    x = np.linspace(0, 10, 8)
    k, n = _on_curve("normal", x, 5.0, 4.0, 0.1, 0.05, 2000)
    free = fit_psychometric(x, k, n, experiment="yes/no")
    assert free.guess_ == pytest.approx(0.1, abs=0.02) and free.lapse_ == pytest.approx(0.05, abs=0.02)
    tied = fit_psychometric(x, k, n, experiment="equal asymptote")
    assert tied.guess_ == tied.lapse_
    assert guess_rate("4AFC") == 0.25 and guess_rate("equal asymptote") == "lambda"


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    kw = dict(sigmoid="logistic", experiment="2AFC", direction="decreasing", n_bootstrap=15, percent_correct=(0.7,))
    a = fit_psychometric(X, K, N, random_state=3, **kw)
    b = fit_psychometric(X, K, N, random_state=np.random.default_rng(3), **kw)
    assert a.ci_ == b.ci_
    assert a.ci_["threshold"][0] < a.threshold_ < a.ci_["threshold"][1]
    assert a.bootstrap_["width"].shape == (15,) and "pc=0.7" in a.ci_
    assert a.ci_ != fit_psychometric(X, K, N, random_state=4, **kw).ci_


def test_failed_bootstrap_refits_are_kept_and_flagged(monkeypatch, caplog):
    """A refit that does not converge stays in the interval (dropping it would bias it) and is counted."""
    from neuroalign.metamers import psychometric_model

    kw = dict(sigmoid="logistic", experiment="2AFC", direction="decreasing", lapse=0.0, n_bootstrap=6)
    clean = fit_psychometric(X, K, N, **kw)
    assert clean.bootstrap_converged_.tolist() == [True] * 6 and clean.summary()["n_bootstrap_failed"] == 0
    local, calls = psychometric_model._local, []

    def every_other_fails(*args, **kwargs):  # the real search, reported as not converged on every other call
        res, ok = local(*args, **kwargs)
        calls.append(1)
        return res, ok and len(calls) % 2 == 1

    monkeypatch.setattr(psychometric_model, "_local", every_other_fails)
    with caplog.at_level(logging.WARNING):
        flagged = fit_psychometric(X, K, N, **kw)
    assert flagged.bootstrap_["threshold"].shape == (6,)
    np.testing.assert_allclose(flagged.bootstrap_["threshold"], clean.bootstrap_["threshold"], rtol=1e-9)
    failed = int((~flagged.bootstrap_converged_).sum())
    assert failed > 0 and flagged.summary()["n_bootstrap_failed"] == failed
    assert f"{failed} of 6 refits did not converge" in caplog.text


def test_bootstrap_refits_on_the_search_bounds_are_counted(caplog):
    """Data at chance: resampled ML fits put the threshold on the edge of the bounds; they are counted."""
    with caplog.at_level(logging.WARNING):
        fit = fit_psychometric([1, 2, 3, 4], [50, 51, 49, 52], [100] * 4, experiment="2AFC", lapse=0.0,
                               method="ml", n_bootstrap=8)
    assert fit.bootstrap_at_bound_.shape == (8,) and fit.bootstrap_at_bound_.any()
    assert fit.summary()["n_bootstrap_at_bound"] == int(fit.bootstrap_at_bound_.sum())
    assert "ended on the edge of the search bounds" in caplog.text


@pytest.mark.slow
def test_bootstrap_intervals_cover_the_true_threshold():
    """Simulated 2AFC experiments from a known curve: the 80% intervals cover the true threshold ~80% of the time."""
    rng = np.random.default_rng(0)
    s = get_sigmoid("logistic")
    x = np.linspace(2, 20, 6)
    psi = 0.5 + 0.5 * s(x, 10.0, 12.0)
    hits = 0
    for _ in range(60):
        k = rng.binomial(100, psi)
        fit = fit_psychometric(x, k, np.full(6, 100), sigmoid="logistic", experiment="2AFC", lapse=0.0,
                               method="ml", n_bootstrap=200, ci=0.8, random_state=rng)
        lo, hi = fit.ci_["threshold"]
        hits += lo <= 10.0 <= hi
    assert 0.65 <= hits / 60 <= 0.93


@pytest.mark.parametrize("x,k,n,match", [
    ([1, 2, 3], [1, 2, 3], [5, 0, 5], r"zero trials at 1 level\(s\) \(rows \[1\], x = \[2.0\]\)"),
    ([1, 2, 3], [1, 7, 3], [5, 5, 5], r"more correct answers than trials.*rows \[1\]"),
    ([1, 2, 3], [1, -2, 3], [5, 5, 5], r"negative n_correct.*rows \[1\]"),
    ([1, 2, 3], [1, 2, 3], [5, -5, 5], r"negative n_trials.*rows \[1\]"),
    ([1, 2, 3], [1, 2.5, 3], [5, 5, 5], r"n_correct that is not a whole number.*rows \[1\]"),
    ([1, 1, 1], [1, 2, 3], [5, 5, 5], r"at least 2 distinct stimulus levels"),
    ([1, np.nan, 3], [1, 2, 3], [5, 5, 5], r"not finite.*rows \[1\]"),
    ([1, 2], [1, 2, 3], [5, 5, 5], r"different lengths"),
])
def test_bad_counts_raise_data_errors_naming_the_rows(x, k, n, match):
    with pytest.raises(DataError, match=match):
        fit_psychometric(x, k, n)
    with pytest.raises(DataError, match=match):
        check_psychometric_data(x, k, n)


def test_proportions_outside_0_1_and_fractional_counts():
    with pytest.raises(DataError, match=r"proportions outside \[0, 1\] \(rows \[1\], values \[1.2\]\)"):
        counts_from_proportions([0.5, 1.2], [10, 10])
    with pytest.raises(DataError, match=r"not a whole number \(rows \[0\]"):
        counts_from_proportions([0.55], [10])
    assert counts_from_proportions([0.5, 1.0], [10, 4]).tolist() == [5.0, 4.0]


def test_bad_options_raise_named_errors():
    with pytest.raises(UnknownNameError, match="experiment type"):
        fit_psychometric(X, K, N, experiment="2IFCC")
    with pytest.raises(UnknownNameError, match="direction"):
        fit_psychometric(X, K, N, direction="down")
    with pytest.raises(UnknownNameError, match="fit method"):
        fit_psychometric(X, K, N, method="bayes")
    with pytest.raises(ConfigError, match="lapse must lie in"):
        fit_psychometric(X, K, N, lapse=0.7)
    with pytest.raises(ConfigError, match="guess= applies to yes/no"):
        fit_psychometric(X, K, N, experiment="2AFC", guess=0.3)
    with pytest.raises(DataError, match="Weibull needs positive stimulus levels"):
        fit_psychometric(X - 10, K, N, sigmoid="weibull")
    with pytest.raises(ConfigError, match="not fitted"):
        PsychometricFit().predict(1.0)
    with pytest.raises(ConfigError, match="percent_correct"):
        fit_psychometric(X, K, N, percent_correct=(1.5,))


def test_an_estimate_on_the_search_bounds_is_flagged(caplog):
    """Flat data: the ML threshold runs to the edge of psignifit's bounds (range ± half the range)."""
    with caplog.at_level(logging.WARNING):
        fit = fit_psychometric([1, 2, 3, 4], [50, 50, 50, 50], [100] * 4, experiment="2AFC", lapse=0.0, method="ml")
    assert "threshold" in fit.at_bound_ and fit.threshold_ == pytest.approx(4 + 1.5)
    assert "edge of the search bounds" in caplog.text and fit.summary()["at_bound"] == ",".join(fit.at_bound_)
    wide = fit_psychometric([1, 2, 3, 4], [60, 70, 80, 90], [100] * 4, experiment="2AFC", lapse=0.0, method="ml")
    assert wide.at_bound_ == ()
