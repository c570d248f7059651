"""Agreement with psignifit 4.3 (Schütt et al. 2016; GPL, a test-only reference) on the Harrington & Deza curves.

psignifit 4.3 reports the posterior mode (``Configuration.estimate_type == "MAP"``,
``Result.parameter_estimate_MAP``: a grid search, then Nelder-Mead with
scipy's default tolerances).  Our ``method="map"`` maximises the same
posterior (same priors, bounds and beta-binomial likelihood), so the two
estimates are compared like with like, to relative 1e-3 on threshold and
width.  Falling curves are given to psignifit against ``−eccentricity`` (and
``−log eccentricity`` for the Weibull, which psignifit expects on log stimuli)
with a rising sigmoid, as our fit does.

Where psignifit's Nelder-Mead stops short of the mode (with η free it often
does, by up to 1e-2 in the log posterior), the comparison would measure
psignifit's optimiser; those settings are checked for our objective being at
least as high as at psignifit's estimate instead.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from neuroalign.loaders.psychophysics import load_metameric_psychophysics
from neuroalign.metamers.eccentricity_curves import TASK_EXPERIMENTS, eccentricity_counts
from neuroalign.metamers.psychometric import fit_psychometric

psignifit = pytest.importorskip("psignifit", reason="psignifit 4 (GPL, test-only reference) is not installed")

SIGMOIDS = {"logistic": "logistic", "normal": "norm", "gumbel": "gumbel", "weibull": "weibull"}
CONDITIONS = [("2afc", "original vs robust"), ("2afc", "original vs texform"), ("2afc", "original vs standard"),
              ("oddity", "original vs robust"), ("oddity", "original vs texform"),
              ("oddity", "robust vs robust"), ("oddity", "original vs standard")]
FAST = [("2afc", "original vs robust"), ("oddity", "original vs texform")]


@pytest.fixture(scope="module")
def counts(shared_data):
    data = load_metameric_psychophysics(shared_data / "harrington_deza2022", session_kinds=["main"], progress=False)
    return eccentricity_counts(data)


def _curve(counts, task, condition):
    cell = counts.sel(task=task, condition=condition)
    return (cell["eccentricity"].values.astype(float), cell["n_correct"].values.astype(float),
            cell["n_trials"].values.astype(float))


def _psignifit(x, k, n, sigmoid, experiment, **options):
    u = -np.log(x) if sigmoid == "weibull" else -x
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = psignifit.psignifit(np.column_stack([u, k, n]), sigmoid=SIGMOIDS[sigmoid],
                                     experiment_type=experiment, verbose=False, **options)
    assert result.configuration.estimate_type == "MAP"
    return result.parameter_estimate_MAP


def _compare(counts, task, condition, sigmoid, ours: dict, theirs: dict, rtol=1e-3):
    x, k, n = _curve(counts, task, condition)
    fit = fit_psychometric(x, k, n, sigmoid=sigmoid, experiment=TASK_EXPERIMENTS[task], direction="decreasing",
                           **ours)
    ref = _psignifit(x, k, n, sigmoid, TASK_EXPERIMENTS[task], **theirs)
    for name in ("threshold", "width"):  # on the fit axis (−x, or −log x), where psignifit fits
        assert fit.params_[name] == pytest.approx(ref[name], rel=rtol), (name, fit.params_, ref)
    threshold_x = np.exp(-ref["threshold"]) if sigmoid == "weibull" else -ref["threshold"]
    assert fit.threshold_ == pytest.approx(threshold_x, rel=rtol)
    assert fit.lapse_ == pytest.approx(ref["lambda"], abs=1e-3)
    return fit


def _cases(conditions):
    return [(t, c, s) for t, c in conditions for s in SIGMOIDS]


def _params(conditions):
    fast = set(FAST)
    return [pytest.param(t, c, s, marks=() if (t, c) in fast and s in ("logistic", "weibull") else pytest.mark.slow)
            for t, c, s in _cases(conditions)]


@pytest.mark.parametrize("task,condition,sigmoid", _params(CONDITIONS))
def test_map_with_fixed_lapse_and_no_overdispersion(counts, task, condition, sigmoid):
    _compare(counts, task, condition, sigmoid, dict(lapse=0.0, eta=0.0),
             dict(fixed_parameters={"lambda": 0.0, "eta": 0.0}))


@pytest.mark.parametrize("task,condition,sigmoid", _params(CONDITIONS))
def test_map_with_free_lapse(counts, task, condition, sigmoid):
    _compare(counts, task, condition, sigmoid, dict(eta=0.0), dict(fixed_parameters={"eta": 0.0}))


@pytest.mark.parametrize("condition,sigmoid", [
    pytest.param(c, s, marks=() if (c, s) == ("original vs texform", "logistic") else pytest.mark.slow)
    for c in ("original vs robust", "original vs texform") for s in ("logistic", "normal", "gumbel")])
def test_map_with_free_lapse_and_overdispersion_psignifit_defaults(counts, condition, sigmoid):
    fit = _compare(counts, "oddity", condition, sigmoid, dict(eta="free"), {})
    if condition == "original vs texform":
        assert fit.eta_ > 0.03  # overdispersed: the beta-binomial likelihood is exercised


@pytest.mark.parametrize("task,condition", FAST)
def test_ml_equals_psignifit_with_a_wide_stimulus_range(counts, task, condition):
    """With λ = η = 0 and a stimulus range far wider than the data, psignifit's priors are flat where the
    likelihood lives, so its MAP is the binomial maximum-likelihood fit."""
    x, k, n = _curve(counts, task, condition)
    fit = fit_psychometric(x, k, n, sigmoid="logistic", experiment=TASK_EXPERIMENTS[task], direction="decreasing",
                           lapse=0.0, method="ml")
    ref = _psignifit(x, k, n, "logistic", TASK_EXPERIMENTS[task], stimulus_range=(-400.0, 400.0),
                     fixed_parameters={"lambda": 0.0, "eta": 0.0})
    assert fit.params_["threshold"] == pytest.approx(ref["threshold"], rel=1e-3)
    assert fit.params_["width"] == pytest.approx(ref["width"], rel=1e-3)


@pytest.mark.parametrize("experiment", ["yes/no", "equal asymptote"])
def test_yes_no_and_equal_asymptote_match_psignifit(experiment):
    x = np.array([1.0, 2, 3, 4, 5, 6, 7])
    k = np.array([9, 14, 25, 41, 60, 71, 78])
    n = np.full(7, 90.0)
    fit = fit_psychometric(x, k, n, sigmoid="normal", experiment=experiment)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = psignifit.psignifit(np.column_stack([x, k, n]), sigmoid="norm", experiment_type=experiment,
                                  fixed_parameters={"eta": 0.0}, verbose=False).parameter_estimate_MAP
    for name in ("threshold", "width"):
        assert fit.params_[name] == pytest.approx(ref[name], rel=1e-3)
    assert fit.guess_ == pytest.approx(ref["gamma"], abs=1e-3)
    assert fit.lapse_ == pytest.approx(ref["lambda"], abs=1e-3)


# η's mode at 0 lies next to one at η = 0.013, a step of the grid apart: a search that skips grid points next to
# an optimum already found must still try η = 0 (its log posterior is 0.03 higher)
NEXT_TO_ETA_ZERO = ("oddity", "robust vs robust", "logistic")


@pytest.mark.parametrize("task,condition,sigmoid", [
    pytest.param(t, c, s, marks=() if (t, c, s) == NEXT_TO_ETA_ZERO else pytest.mark.slow)
    for s in SIGMOIDS for t in TASK_EXPERIMENTS for c in (
        "original vs robust", "original vs standard", "original vs texform", "robust vs robust",
        "standard vs standard", "texform vs texform")])
def test_our_mode_is_never_below_psignifits(counts, task, condition, sigmoid):
    """psignifit's default settings (λ and η free) on every curve: our objective at our estimate is at least
    its value at psignifit's estimate (psignifit's Nelder-Mead may stop early; it must never find a higher mode)."""
    x, k, n = _curve(counts, task, condition)
    fit = fit_psychometric(x, k, n, sigmoid=sigmoid, experiment=TASK_EXPERIMENTS[task], direction="decreasing",
                           eta="free")
    ref = _psignifit(x, k, n, sigmoid, TASK_EXPERIMENTS[task])
    u = -np.log(x) if sigmoid == "weibull" else -x
    theirs = fit.model_.objective(np.array([ref[p] for p in fit.model_.free]), u, k, n)
    assert fit.objective_ >= theirs - 1e-7


# Simulated curves (6 levels, 20-200 trials each) whose posterior has several modes: a search that refined only
# the best grid point and the best points with λ at 0 and above 0 ended in a lower mode than psignifit's
# (log posterior lower by 0.82, 0.13 and 0.07).  In the last two the mode is a ridge (a step between two levels,
# threshold and width not identified), so only the first has a unique estimate to compare.
MULTIMODAL = [
    ("weibull", "4AFC", "increasing", [4.85, 12.46, 14.48, 15.99, 22.19, 23.91], [9, 70, 60, 126, 29, 78],
     [31, 172, 103, 194, 44, 99], True),
    ("normal", "3AFC", "decreasing", [1.48, 2.19, 8.82, 19.47, 24.58, 27.47], [136, 106, 42, 10, 38, 58],
     [155, 114, 75, 36, 114, 196], False),
    ("gumbel", "2AFC", "increasing", [1.48, 2.19, 8.82, 19.47, 24.58, 27.47], [20, 68, 68, 119, 40, 165],
     [41, 148, 135, 122, 41, 168], False),
]


@pytest.mark.parametrize("sigmoid,experiment,direction,x,k,n,unique", MULTIMODAL)
def test_the_global_mode_of_a_multimodal_posterior(sigmoid, experiment, direction, x, k, n, unique):
    """Our MAP estimate is the highest mode: its log posterior is at least that at psignifit's estimate
    (psignifit's dense grid finds the right basin), and where the mode is unique it is psignifit's to 1e-3."""
    x, k, n = (np.asarray(v, dtype=float) for v in (x, k, n))
    fit = fit_psychometric(x, k, n, sigmoid=sigmoid, experiment=experiment, direction=direction, eta=0.0)
    u = np.log(x) if sigmoid == "weibull" else x
    u = -u if direction == "decreasing" else u
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = psignifit.psignifit(np.column_stack([u, k, n]), sigmoid=SIGMOIDS[sigmoid], experiment_type=experiment,
                                  fixed_parameters={"eta": 0.0}, verbose=False).parameter_estimate_MAP
    theirs = fit.model_.objective(np.array([ref[p] for p in fit.model_.free]), u, k, n)
    assert fit.objective_ >= theirs - 1e-7
    for name in ("threshold", "width") if unique else ():
        assert fit.params_[name] == pytest.approx(ref[name], rel=1e-3)


@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_priors_are_psignifits_default_priors(alpha):
    """psignifit 4.3's _priors.py: the cosine-tapered threshold and width priors and Beta(1, 10) on the rates,
    evaluated inside and outside their flat parts (our log priors are unnormalised only for the threshold and
    width, whose psignifit normalisation is a constant)."""
    from psignifit import _priors

    from neuroalign.metamers.psychometric_priors import PsignifitPriors

    s0, s1, wmin = -30.0, -5.0, 1.7
    ours = PsignifitPriors((s0, s1), width_min=wmin, width_alpha=alpha)
    m = np.linspace(s0 - 20, s1 + 20, 401)
    np.testing.assert_allclose(np.exp(ours.log_threshold(m)), _priors.threshold_prior(m, (s0, s1)), atol=1e-12)
    w = np.geomspace(wmin / 3, 4 * (s1 - s0), 401)
    theirs = _priors.width_prior(w, alpha=alpha, wmin=wmin, wmax=s1 - s0)
    np.testing.assert_allclose(np.exp(ours.log_width(w)), theirs, atol=1e-12)
    tapers = (theirs > 0) & (theirs < 1)
    assert tapers[w < 3 * wmin].any() and tapers[w > s1 - s0].any() and (theirs == 1).any() and (theirs == 0).any()
    v = np.linspace(0, 0.99, 100)
    np.testing.assert_allclose(np.exp(ours.log_rate(v)), _priors.lambda_prior(v), rtol=1e-12)
    np.testing.assert_allclose(np.exp(ours.log_rate(v)), _priors.eta_prior(v, 10), rtol=1e-12)
