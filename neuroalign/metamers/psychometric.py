"""Psychometric function fits: ``ψ(x) = γ + (1 − γ − λ)·S(x)`` by maximum likelihood or MAP.

The parametrisation and the default priors are psignifit 4's (Schütt,
Harmeling, Macke & Wichmann 2016, *Vision Research* 122, 105–123): the
threshold is where ``S = 0.5`` and the width is ``X_{0.95} − X_{0.05}``
(:mod:`~neuroalign.metamers.sigmoids`); the guess rate ``γ`` is free
(``"yes/no"``), ``1/n`` (``"nAFC"``) or equal to the lapse rate
(``"equal asymptote"``); the lapse rate ``λ`` is free or fixed; the counts are
binomial or beta-binomial with overdispersion ``η``
(:mod:`~neuroalign.metamers.psychometric_model`); the MAP fit uses psignifit's
default priors (:mod:`~neuroalign.metamers.psychometric_priors`).  Confidence
intervals come from a seeded parametric bootstrap
(:mod:`~neuroalign.metamers.psychometric_bootstrap`).

Falling curves (performance that drops with eccentricity) are fitted with a
rising sigmoid against ``−x`` (against ``−log x`` for the Weibull), and every
threshold and width is reported back in units of ``x``.  This keeps a
forced-choice curve at or above its guess rate; psignifit's ``neg_`` sigmoids
compute ``1 − ψ`` instead, which puts a 2AFC curve *below* 0.5.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..data.provenance import provenance
from ..errors import ConfigError, DataError, UnknownNameError
from .psychometric_data import check_psychometric_data, counts_from_proportions
from .psychometric_model import PARAMETERS, Model, maximise
from .psychometric_priors import PsignifitPriors
from .sigmoids import Sigmoid, get_sigmoid

__all__ = ["PsychometricFit", "fit_psychometric", "check_psychometric_data", "counts_from_proportions",
           "guess_rate", "DIRECTIONS", "METHODS"]

logger = logging.getLogger(__name__)

DIRECTIONS = ("increasing", "decreasing")
METHODS = ("map", "ml")
_AFC = re.compile(r"(\d+)\s*-?\s*afc", re.IGNORECASE)


def guess_rate(experiment: str) -> float | str | None:
    """The guess rate an experiment type implies: ``1/n`` for ``"nAFC"``, ``None`` (free) for
    ``"yes/no"``, ``"lambda"`` for ``"equal asymptote"``.

    Examples
    --------
    >>> from neuroalign.metamers.psychometric import guess_rate
    >>> guess_rate("2AFC"), guess_rate("yes/no")
    (0.5, None)
    """
    text = str(experiment).strip()
    match = _AFC.fullmatch(text)
    if match:
        n = int(match.group(1))
        if n < 2:
            raise ConfigError(f"a forced choice needs at least 2 alternatives, got {text!r}", source="experiment",
                              fix="use '2AFC', '3AFC', ...")
        return 1.0 / n
    if text.lower() in ("yes/no", "yesno", "yes-no"):
        return None
    if text.lower() in ("equal asymptote", "equal_asymptote"):
        return "lambda"
    raise UnknownNameError(text, ("yes/no", "equal asymptote", "2AFC", "3AFC", "4AFC", "<n>AFC"),
                           what="experiment type", source="experiment")


def _free_or_value(value: Any, name: str, high: float) -> float | None:
    if isinstance(value, str):
        if value != "free":
            raise ConfigError(f"{name} must be 'free' or a number, got {value!r}", source=name,
                              fix=f"pass {name}='free' or a value in [0, {high})")
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be 'free' or a number, got {value!r}", source=name,
                          fix=f"pass {name}='free' or a value in [0, {high})") from None
    if not (0 <= number < high):
        raise ConfigError(f"{name} must lie in [0, {high}), got {number}", source=name,
                          fix=f"pass {name}='free' or a value in [0, {high})")
    return number


class PsychometricFit:
    """A psychometric function fitted to counts correct per stimulus level (scikit-learn style).

    Parameters
    ----------
    sigmoid : str or Sigmoid
        ``"logistic"``, ``"normal"`` (psignifit's default; also ``"norm"``,
        ``"gauss"``), ``"gumbel"``, ``"reverse_gumbel"`` or ``"weibull"``
        (:data:`~neuroalign.metamers.sigmoids.SIGMOIDS`).
    experiment : str
        ``"yes/no"`` (free guess rate, psignifit's default), ``"2AFC"``,
        ``"3AFC"``, … (guess rate ``1/n``) or ``"equal asymptote"`` (γ = λ).
    direction : {"increasing", "decreasing"}
        ``"decreasing"`` for performance that falls with ``x``: the fit is a
        rising sigmoid against ``−x`` and results are reported in ``x``.
    lapse : "free" or float
        The lapse rate λ: fitted (within [0, 0.5]) or fixed.
    guess : float, optional
        A fixed guess rate for a yes/no experiment (free by default).
    eta : "free" or float
        Beta-binomial overdispersion η: 0 (binomial, the default), fitted, or fixed.
    method : {"map", "ml"}
        ``"map"``: maximum a posteriori with psignifit 4's default priors (the
        estimate psignifit 4.3 reports, ``parameter_estimate_MAP``);
        ``"ml"``: maximum likelihood within psignifit's parameter bounds.
    stimulus_range : (float, float), optional
        The range the priors and bounds are built on (default: the lowest and
        highest levels), in units of ``x``.
    width_alpha : float
        ``α`` of the width ``X_{1−α} − X_α`` (0.05).
    percent_correct : sequence of float
        Proportions correct (on the ψ scale, guess and lapse included) at
        which to report thresholds as well.
    n_bootstrap : int
        Parametric-bootstrap resamples for confidence intervals (0: none).
    ci : float
        Coverage of the percentile intervals (0.95).
    random_state : int or numpy.random.Generator, optional
        Seed of the bootstrap (0 by default, so a fit is reproducible; ``None``
        draws fresh entropy).
    progress : bool
        A progress bar over bootstrap resamples.

    Attributes
    ----------
    threshold_, width_ : float
        Threshold (``S = 0.5``) and width (``|X_{1−α} − X_α|``), in units of ``x``.
    lapse_, guess_, eta_ : float
        λ, γ and η.
    params_ : dict
        The parameters on the fit axis (``threshold``, ``width``, ``lambda``,
        ``gamma``, ``eta``; for the Weibull, log units; for falling curves, of ``−x``).
    percent_correct_thresholds_ : dict
        ``{p: x}`` where ``ψ(x) = p``; ``±inf`` when the fitted curve never
        reaches ``p`` (a warning is logged).
    log_likelihood_, objective_ : float
        The log-likelihood (binomial coefficients included) and the maximised
        objective (log-likelihood, plus the unnormalised log prior for MAP).
    converged_ : bool
    at_bound_ : tuple of str
        ``"threshold"``/``"width"`` when the estimate lies on the edge of the
        search bounds (psignifit's, built on the stimulus range; a warning is
        logged): widen ``stimulus_range``.
    extrapolated_ : bool
        The threshold lies outside the tested levels.
    ci_ : dict
        ``{name: (low, high)}`` for ``threshold``, ``width``, ``lambda``,
        ``gamma``, ``eta`` and ``pc=<p>`` entries (with ``n_bootstrap > 0``).
    bootstrap_ : dict
        The bootstrap estimates behind ``ci_``, one array per name.
    bootstrap_converged_, bootstrap_at_bound_ : numpy.ndarray of bool
        Per resample: whether its refit converged, and whether its threshold
        or width lies on the edge of the search bounds.  Such refits are kept
        in the intervals (a warning gives their numbers).
    provenance_ : dict

    Examples
    --------
    >>> from neuroalign.metamers.psychometric import PsychometricFit
    >>> fit = PsychometricFit("logistic", "2AFC", lapse=0.0).fit(
    ...     [1, 2, 3, 4, 5], [52, 61, 80, 93, 99], [100, 100, 100, 100, 100])
    >>> round(fit.threshold_, 2), round(fit.width_, 2)
    (2.78, 3.64)
    >>> round(float(fit.predict(fit.threshold_)), 3)   # γ + (1 − γ − λ)·0.5
    0.75
    """

    def __init__(self, sigmoid: str | Sigmoid = "normal", experiment: str = "yes/no", *,
                 direction: str = "increasing", lapse: float | str = "free", guess: float | None = None,
                 eta: float | str = 0.0, method: str = "map", stimulus_range: Sequence[float] | None = None,
                 width_alpha: float = 0.05, percent_correct: Sequence[float] = (), n_bootstrap: int = 0,
                 ci: float = 0.95, random_state: int | np.random.Generator | None = 0, progress: bool = False):
        self.sigmoid = sigmoid
        self.experiment = experiment
        self.direction = direction
        self.lapse = lapse
        self.guess = guess
        self.eta = eta
        self.method = method
        self.stimulus_range = stimulus_range
        self.width_alpha = width_alpha
        self.percent_correct = percent_correct
        self.n_bootstrap = n_bootstrap
        self.ci = ci
        self.random_state = random_state
        self.progress = progress

    # ---- set-up ------------------------------------------------------------------------------------------------
    def _sign(self) -> float:
        if self.direction not in DIRECTIONS:
            raise UnknownNameError(self.direction, DIRECTIONS, what="direction", source="direction")
        return 1.0 if self.direction == "increasing" else -1.0

    def _axis(self, x: np.ndarray, sigmoid: Sigmoid, source: str) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if sigmoid.log_axis and np.any(x <= 0):
            idx = np.flatnonzero(x <= 0)
            raise DataError(f"the Weibull needs positive stimulus levels; rows {idx[:10].tolist()} hold "
                            f"{x[idx][:10].tolist()}", source=source,
                            fix="use a sigmoid on a linear axis (logistic, normal, gumbel) or positive levels")
        return self._sign() * sigmoid.to_axis(x)

    def _model(self, u: np.ndarray) -> Model:
        sigmoid = get_sigmoid(self.sigmoid)
        if self.method not in METHODS:
            raise UnknownNameError(self.method, METHODS, what="fit method", source="method")
        if not (0 < float(self.width_alpha) < 0.5):
            raise ConfigError(f"width_alpha must lie in (0, 0.5), got {self.width_alpha}", source="width_alpha",
                              fix="use 0.05 (psignifit's default)")
        implied = guess_rate(self.experiment)
        fixed: dict[str, Any] = {}
        lapse = _free_or_value(self.lapse, "lapse", 0.5 + 1e-12)
        eta = _free_or_value(self.eta, "eta", 1.0)
        if self.guess is not None:
            if implied is not None:
                raise ConfigError(f"guess= applies to yes/no experiments; {self.experiment!r} sets the guess rate",
                                  source="guess", fix="leave guess unset, or pass experiment='yes/no'")
            implied = _free_or_value(self.guess, "guess", 0.5 + 1e-12)
        fixed["gamma"] = implied
        if lapse is not None:
            fixed["lambda"] = lapse
        if eta is not None:
            fixed["eta"] = eta
        if isinstance(implied, float) and lapse is not None and implied + lapse >= 1:
            raise ConfigError(f"guess + lapse must be below 1, got {implied} + {lapse}", source="lapse",
                              fix="lower the fixed lapse rate")
        free = tuple(p for p in PARAMETERS if fixed.get(p) is None)
        fixed = {p: v for p, v in fixed.items() if v is not None}
        if self.stimulus_range is None:
            s0, s1 = float(u.min()), float(u.max())
            width_min = float(np.diff(np.unique(u)).min())
        else:
            rng = np.asarray(self.stimulus_range, dtype=float)
            if rng.shape != (2,) or not np.all(np.isfinite(rng)) or rng[0] >= rng[1]:
                raise ConfigError(f"stimulus_range must be (low, high) with low < high, got {self.stimulus_range}",
                                  source="stimulus_range", fix="pass e.g. stimulus_range=(0, 40)")
            ends = np.sort(self._axis(rng, sigmoid, "stimulus_range"))
            s0, s1 = float(ends[0]), float(ends[1])
            width_min = (s1 - s0) / 100
        priors = PsignifitPriors((s0, s1), width_min=width_min, width_alpha=float(self.width_alpha))
        return Model(sigmoid, free, fixed, priors, use_priors=self.method == "map", width_alpha=float(self.width_alpha))

    # ---- fitting -----------------------------------------------------------------------------------------------
    def fit(self, x: Any, n_correct: Any, n_trials: Any) -> PsychometricFit:
        """Fit to ``n_correct`` of ``n_trials`` at each level ``x``; returns ``self``."""
        from .psychometric_bootstrap import bootstrap_fits, percentile_intervals

        x, k, n = check_psychometric_data(x, n_correct, n_trials)
        percent = np.asarray(self.percent_correct, dtype=float).ravel()
        if np.any(~np.isfinite(percent) | (percent <= 0) | (percent >= 1)):
            raise ConfigError(f"percent_correct values must lie in (0, 1), got {percent.tolist()}",
                              source="percent_correct", fix="pass proportions such as (0.75,)")
        if int(self.n_bootstrap) < 0 or int(self.n_bootstrap) != self.n_bootstrap:
            raise ConfigError(f"n_bootstrap must be a whole number >= 0, got {self.n_bootstrap}", source="n_bootstrap",
                              fix="pass e.g. n_bootstrap=1000")
        if not 0 < float(self.ci) < 1:
            raise ConfigError(f"ci must lie in (0, 1), got {self.ci}", source="ci", fix="pass e.g. ci=0.95")
        sigmoid = get_sigmoid(self.sigmoid)
        u = self._axis(x, sigmoid, "x")
        model = self._model(u)
        theta, value, converged = maximise(model, u, k, n)
        self.model_ = model
        self.theta_ = theta
        self.params_ = {p: float(np.asarray(v)) for p, v in model.unpack(theta).items()}
        derived = self._derived(model.unpack(theta), percent)
        self.threshold_ = float(derived["threshold"])
        self.width_ = float(derived["width"])
        self.lapse_, self.guess_, self.eta_ = (self.params_[p] for p in ("lambda", "gamma", "eta"))
        self.percent_correct_thresholds_ = {float(p): float(derived[f"pc={p:g}"]) for p in percent}
        for p, t in self.percent_correct_thresholds_.items():
            if not np.isfinite(t):
                logger.warning("the fitted curve never reaches proportion correct %g (guess %.3g, lapse %.3g): "
                               "its threshold is %s", p, self.guess_, self.lapse_, t)
        self.log_likelihood_ = float(model.log_likelihood(theta, u, k, n))
        self.objective_ = float(value)
        self.converged_ = converged
        self.at_bound_ = tuple(p for p, on in zip(("threshold", "width"), model.on_bounds(theta)) if on)
        if self.at_bound_:
            logger.warning("estimate on the edge of the search bounds: %s within %s (bounds built on the stimulus "
                           "range %s); pass a wider stimulus_range=", " and ".join(self.at_bound_),
                           [model.bounds()[model.free.index(p)] for p in self.at_bound_], model.priors.stimulus_range)
        self.extrapolated_ = bool(not (x.min() <= self.threshold_ <= x.max()))
        if self.extrapolated_:
            logger.warning("the threshold %.4g lies outside the tested levels [%g, %g]", self.threshold_, x.min(),
                           x.max())
        self.data_ = {"x": x, "n_correct": k, "n_trials": n}
        self.ci_, self.bootstrap_ = {}, {}
        self.bootstrap_converged_ = self.bootstrap_at_bound_ = np.zeros(0, dtype=bool)
        if self.n_bootstrap:
            thetas, self.bootstrap_converged_ = bootstrap_fits(model, u, n, theta, int(self.n_bootstrap),
                                                               self.random_state, progress=self.progress)
            self.bootstrap_at_bound_ = np.any(model.on_bounds(thetas), axis=0)
            self.bootstrap_ = {key: np.asarray(v, dtype=float)
                               for key, v in self._derived(model.unpack(thetas), percent).items()}
            self.ci_ = percentile_intervals(self.bootstrap_, float(self.ci))
            failed, edge = int((~self.bootstrap_converged_).sum()), int(self.bootstrap_at_bound_.sum())
            if failed or edge:
                logger.warning("bootstrap: %d of %d refits did not converge and %d ended on the edge of the search "
                               "bounds; they are kept in the intervals (bootstrap_converged_, bootstrap_at_bound_)",
                               failed, len(thetas), edge)
        self.provenance_ = provenance(self.get_params(), {"x": x, "n_correct": k, "n_trials": n})
        return self

    def _derived(self, v: dict[str, Any], percent: np.ndarray) -> dict[str, np.ndarray]:
        """Threshold, width and percent-correct thresholds in units of x (vectorised over resamples)."""
        sigmoid = get_sigmoid(self.sigmoid)
        sign = self._sign()
        alpha = float(self.width_alpha)
        m, w = np.asarray(v["threshold"], dtype=float), np.asarray(v["width"], dtype=float)
        lam, gam = np.asarray(v["lambda"], dtype=float), np.asarray(v["gamma"], dtype=float)

        def at(s):  # x at which S = s
            return sigmoid.from_axis(sign * sigmoid.inverse_axis(s, m, w, alpha=alpha))

        out = {"threshold": at(0.5), "width": np.abs(at(1 - alpha) - at(alpha)),
               "lambda": lam + 0 * m, "gamma": gam + 0 * m, "eta": np.asarray(v["eta"], dtype=float) + 0 * m}
        for p in percent:
            s = (p - gam) / (1.0 - gam - lam)
            out[f"pc={p:g}"] = at(np.clip(s, 0.0, 1.0))
        return out

    # ---- use ---------------------------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "theta_"):
            raise ConfigError("this PsychometricFit is not fitted yet", source="PsychometricFit",
                              fix="call .fit(x, n_correct, n_trials) first")

    def predict(self, x: Any) -> np.ndarray:
        """``ψ(x)``, the fitted proportion correct at stimulus levels ``x``."""
        self._check_fitted()
        sigmoid = get_sigmoid(self.sigmoid)
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            u = self._sign() * sigmoid.to_axis(x)
        p = self.params_
        s = sigmoid.cdf(sigmoid.standardise(u, p["threshold"], p["width"], float(self.width_alpha)))
        return p["gamma"] + (1.0 - p["gamma"] - p["lambda"]) * s

    def threshold_at(self, proportion_correct: float, *, scaled: bool = True) -> float:
        """The stimulus at which ``ψ = proportion_correct`` (``scaled=True``) or ``S = proportion_correct``.

        ``±inf`` when the fitted curve never reaches it (the direction it would lie in).
        """
        self._check_fitted()
        p = self.params_
        s = (proportion_correct - p["gamma"]) / (1 - p["gamma"] - p["lambda"]) if scaled else proportion_correct
        return self._at_sigmoid(float(np.clip(s, 0.0, 1.0)))

    def _at_sigmoid(self, s: float) -> float:
        sigmoid = get_sigmoid(self.sigmoid)
        u = sigmoid.inverse_axis(s, self.params_["threshold"], self.params_["width"], alpha=float(self.width_alpha))
        return float(sigmoid.from_axis(self._sign() * u))

    def summary(self) -> dict[str, float]:
        """One flat row: estimates, CIs (``<name>_low``/``<name>_high``) and fit diagnostics."""
        self._check_fitted()
        row: dict[str, Any] = {"threshold": self.threshold_, "width": self.width_, "lambda": self.lapse_,
                               "gamma": self.guess_, "eta": self.eta_}
        for p, t in self.percent_correct_thresholds_.items():
            row[f"pc={p:g}"] = t
        for name, (lo, hi) in self.ci_.items():
            row[f"{name}_low"], row[f"{name}_high"] = lo, hi
        row.update(log_likelihood=self.log_likelihood_, converged=self.converged_,
                   at_bound=",".join(self.at_bound_), extrapolated=self.extrapolated_,
                   n_bootstrap_failed=int((~self.bootstrap_converged_).sum()),
                   n_bootstrap_at_bound=int(self.bootstrap_at_bound_.sum()),
                   n_levels=int(np.unique(self.data_["x"]).size), n_trials=int(self.data_["n_trials"].sum()))
        return row

    def get_params(self) -> dict[str, Any]:
        """The constructor's parameters (scikit-learn's ``get_params``)."""
        names = ("sigmoid", "experiment", "direction", "lapse", "guess", "eta", "method", "stimulus_range",
                 "width_alpha", "percent_correct", "n_bootstrap", "ci", "random_state", "progress")
        params = {name: getattr(self, name) for name in names}
        if isinstance(params["sigmoid"], Sigmoid):
            params["sigmoid"] = params["sigmoid"].name
        if isinstance(params["random_state"], np.random.Generator):
            params["random_state"] = "Generator"
        return params

    def __repr__(self) -> str:
        return (f"PsychometricFit(sigmoid={self.sigmoid!r}, experiment={self.experiment!r}, "
                f"direction={self.direction!r}, method={self.method!r})")


def fit_psychometric(x: Any, n_correct: Any, n_trials: Any, **params: Any) -> PsychometricFit:
    """Fit a psychometric function: ``PsychometricFit(**params).fit(x, n_correct, n_trials)``.

    Examples
    --------
    >>> from neuroalign.metamers.psychometric import fit_psychometric
    >>> fit = fit_psychometric([5, 10, 15, 20, 25, 30], [166, 148, 130, 122, 120, 110], [200] * 6,
    ...                        sigmoid="logistic", experiment="2AFC", direction="decreasing", lapse=0.0)
    >>> round(fit.threshold_, 1), fit.predict([5, 30]).round(2).tolist()   # falls with x, stays above 0.5
    (9.8, [0.82, 0.54])
    """
    return PsychometricFit(**params).fit(x, n_correct, n_trials)
