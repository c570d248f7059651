"""Maximum-likelihood fit of an observer's noise σ (or σ(eccentricity)) to human proportion correct.

The human data are binomial counts: ``n_correct`` of ``n_trials`` per group
of trials (a condition, an eccentricity, …), or one 0/1 answer per trial.
The model's proportion correct of a group is the mean, over the group's
trials, of the simulated proportion correct of each trial; with a lapse rate
λ the observer answers at chance on a fraction λ of trials:
``ψ = (1 − λ)·p + λ·chance``.  The log-likelihood is the full binomial one,
``Σ log C(n, k) + k log ψ + (n − k) log(1 − ψ)`` (the Bernoulli one,
without ``log C(n, k)``, for per-trial answers).

A simulated proportion of exactly 0 or 1 would call an observed answer
impossible only because the simulation is finite, so the likelihood uses
``p̂ = (credit + ½) / (draws + 1)`` for a group's pooled ``draws`` (trials ×
draws per trial) and ``credit`` (their summed credit); the shift is below
``1 / (2·draws)``.

Noise models (:data:`SIGMA_MODELS`), with ``e`` the trial's eccentricity:

``"constant"``   ``σ``
``"linear"``     ``σ(e) = sigma0 + slope·e``, ``sigma0 ≥ 0``, ``σ(e) ≥ 0`` at every eccentricity of the trials
``"loglinear"``  ``σ(e) = sigma0·exp(rate·e)``, ``sigma0 > 0``

Confidence intervals are profile-likelihood intervals: the values of a
parameter whose profile log-likelihood (the other parameters re-fitted) lies
within ``χ²₁(level) / 2`` of the maximum.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from ..errors import AlignmentError, ConfigError, DataError, SchemaError, UnknownNameError

__all__ = ["SIGMA_MODELS", "sigma_values", "HumanCounts", "human_counts", "binomial_log_likelihood", "fit_sigma",
           "SigmaFit"]

log = logging.getLogger(__name__)

#: noise model → its parameter names
SIGMA_MODELS: dict[str, tuple[str, ...]] = {
    "constant": ("sigma",),
    "linear": ("sigma0", "slope"),
    "loglinear": ("sigma0", "rate"),
}
_COUNTS = ("n_correct", "n_trials")
#: negative log-likelihood of parameters outside a noise model's domain (finite, so optimisers can compare it)
OUTSIDE = 1e300


def sigma_values(model: str, params: np.ndarray, eccentricity: np.ndarray | None, n_trials: int) -> np.ndarray:
    """Per-trial σ of a noise model (NaN where the parameters are outside the model's domain).

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.metamers.observer_fit import sigma_values
    >>> sigma_values("linear", np.array([0.5, 0.1]), np.array([5.0, 10.0]), 2).tolist()
    [1.0, 1.5]
    """
    params = np.asarray(params, dtype=float)
    if model == "constant":
        sigma = np.full(n_trials, params[0])
    else:
        e = np.asarray(eccentricity, dtype=float)
        sigma = params[0] + params[1] * e if model == "linear" else params[0] * np.exp(params[1] * e)
        if params[0] < 0 or (model == "loglinear" and params[0] == 0):
            sigma = np.full(n_trials, np.nan)
    return np.where(sigma >= 0, sigma, np.nan)


@dataclass
class HumanCounts:
    """Human answers as binomial counts per group; ``group[t]`` is trial t's group (−1: not in the data)."""

    group: np.ndarray
    n_correct: np.ndarray
    n_trials: np.ndarray
    keys: pd.DataFrame
    per_trial: bool = False
    group_sizes: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        used = self.group >= 0
        self.group_sizes = np.bincount(self.group[used], minlength=len(self.n_trials))


def human_counts(human: pd.DataFrame | pd.Series, trials: pd.DataFrame,
                 same_trial: tuple[str, ...] = ()) -> HumanCounts:
    """Check human data against the trial table and group the trials.

    ``human`` is either one row per trial of ``trials`` (same order) with a
    0/1 ``correct`` column, or counts ``n_correct``, ``n_trials`` per group,
    the group given by the other columns (each a column of ``trials``, e.g.
    ``eccentricity`` or ``condition``; no other column: one group of all trials).

    Per-trial answers are pooled over trials that agree on every column of
    ``same_trial`` (the stimuli of each presentation, the eccentricity): such
    trials have one probability correct, so their Bernoulli likelihood is the
    binomial one without its constant, and their simulations are pooled.
    """
    if isinstance(human, pd.Series):
        human = human.rename("correct").to_frame()
    if not isinstance(human, pd.DataFrame):
        raise ConfigError(f"human data must be a pandas DataFrame, got {type(human).__name__}", source="human",
                          fix="pass a table with n_correct and n_trials per group, or a 0/1 correct column")
    if "correct" in human.columns and any(c in human.columns for c in _COUNTS):
        raise SchemaError("human data have both a correct column and n_correct/n_trials", source="human",
                          fix="pass per-trial answers (correct) or counts per group (n_correct, n_trials), not both")
    if "correct" in human.columns:
        return _per_trial(human["correct"], trials, same_trial)
    missing = [c for c in _COUNTS if c not in human.columns]
    if missing:
        raise SchemaError(f"human data lack column {missing[0]!r}", source="human",
                          fix="pass columns n_correct and n_trials (plus grouping columns such as eccentricity), "
                          "or a per-trial 0/1 column 'correct'")
    if human.empty:
        raise DataError("human data have no rows", source="human", fix="pass at least one group of trials")
    keys = [c for c in human.columns if c not in _COUNTS]
    absent = [c for c in keys if c not in trials.columns]
    if absent:
        raise AlignmentError(f"human data are grouped by {absent[0]!r}, which the trial table lacks",
                             source="human", fix=f"group by columns of the trial table ({', '.join(trials.columns)})")
    k, n = (_counts(human[c], c) for c in _COUNTS)
    bad = (n < 1) | (k > n)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"row {row} has n_correct={k[row]:g} of n_trials={n[row]:g}: a group needs at least one "
                        "trial and no more correct answers than trials", source="human",
                        fix="drop groups without trials and check the counts")
    if keys and human.duplicated(keys).any():
        raise DataError(f"human data repeat a group of {keys}", source="human",
                        fix="sum the counts of each group into one row")
    group = np.zeros(len(trials), dtype=int)
    if keys:
        lookup = _comparable(human[keys], trials[keys]).assign(_group=np.arange(len(human)))
        joined = _comparable(trials[keys], human[keys]).merge(lookup, on=keys, how="left")
        group = joined["_group"].fillna(-1).to_numpy(int)
        empty = np.setdiff1d(np.arange(len(human)), group)
        if len(empty):
            raise AlignmentError(f"no trial of the trial table is in the human group "
                                 f"{human[keys].iloc[int(empty[0])].to_dict()}", source="human",
                                 fix="add model trials for every human group, or drop the group")
        if (group < 0).any():
            log.info("%d trials are in no human group and do not enter the likelihood", int((group < 0).sum()))
    return HumanCounts(group, k, n, human[keys].reset_index(drop=True))


def _comparable(table: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """Key columns as floats where both tables hold numbers (5 matches 5.0), else as text."""
    out = table.reset_index(drop=True).copy()
    for column in out.columns:
        numeric = all(pd.api.types.is_numeric_dtype(t[column]) and not pd.api.types.is_bool_dtype(t[column])
                      for t in (table, other))
        out[column] = out[column].astype(float) if numeric else out[column].astype(str)
    return out


def _per_trial(correct: pd.Series, trials: pd.DataFrame, same_trial: tuple[str, ...]) -> HumanCounts:
    if len(correct) != len(trials):
        raise AlignmentError(f"{len(correct)} human answers for {len(trials)} trials", source="human",
                             fix="give one correct value per row of the trial table, in its order")
    values = pd.to_numeric(correct, errors="coerce").to_numpy(float)
    if not np.isin(values, (0.0, 1.0)).all():
        row = int(np.flatnonzero(~np.isin(values, (0.0, 1.0)))[0])
        raise DataError(f"human answer of trial {row} is {correct.iloc[row]!r}, not 0 or 1", source="human",
                        fix="drop trials without a valid response from both tables (missing is not wrong)")
    columns = [c for c in same_trial if c in trials.columns]
    if columns:
        keys = trials[columns].astype(str).reset_index(drop=True)
        group = keys.groupby(columns, sort=False).ngroup().to_numpy()
        first = keys.drop_duplicates().index
    else:
        group, first = np.arange(len(values)), pd.RangeIndex(len(values))
    k = np.bincount(group, weights=values)
    n = np.bincount(group).astype(float)
    return HumanCounts(group, k, n, trials.loc[first, columns].reset_index(drop=True), per_trial=True)


def _counts(column: pd.Series, name: str) -> np.ndarray:
    values = pd.to_numeric(column, errors="coerce").to_numpy(float)
    if not np.isfinite(values).all() or (values < 0).any() or (values != np.round(values)).any():
        raise DataError(f"column {name!r} holds values that are not counts (non-negative integers)", source="human",
                        fix=f"check the {name} column")
    return values


def binomial_log_likelihood(credit: np.ndarray, counts: HumanCounts, n_draws: int, lapse_rate: float,
                            chance: float) -> float:
    """Log-likelihood of the human counts given each trial's mean credit over ``n_draws`` draws."""
    used = counts.group >= 0
    pooled = np.bincount(counts.group[used], weights=credit[used], minlength=len(counts.n_trials)) * n_draws
    draws = counts.group_sizes * n_draws
    p = (pooled + 0.5) / (draws + 1.0)
    psi = (1.0 - lapse_rate) * p + lapse_rate * chance
    k, n = counts.n_correct, counts.n_trials
    constant = 0.0 if counts.per_trial else special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)
    return float(np.sum(constant + special.xlogy(k, psi) + special.xlog1py(n - k, -psi)))


@dataclass
class SigmaFit:
    """Fitted noise parameters with their log-likelihood and profile-likelihood intervals."""

    model: str
    params: dict[str, float]
    log_likelihood: float
    ci: dict[str, tuple[float, float]]
    ci_level: float


def fit_sigma(neg_ll: Callable[[np.ndarray], float], model: str, sigma_scale: float, *, ci_level: float = 0.95,
              eccentricity_scale: float = 1.0) -> SigmaFit:
    """Maximise the likelihood over the noise model's parameters, then profile each one.

    ``neg_ll(params)`` returns the negative log-likelihood (:data:`OUTSIDE`
    outside the model's domain); ``sigma_scale`` is a typical feature distance, which sets
    the search grid (σ from 1e-4 to 1e2 times it, log-spaced, then Brent's
    method around the best grid point).
    """
    if model not in SIGMA_MODELS:
        raise UnknownNameError(model, SIGMA_MODELS, what="noise model", source="sigma_model")
    if not 0 < ci_level < 1:
        raise ConfigError(f"ci_level must lie in (0, 1), got {ci_level}", source="ci_level", fix="use e.g. 0.95")
    names = SIGMA_MODELS[model]

    def constant(s: float) -> float:  # σ alone (slope or rate 0)
        return neg_ll(np.array([s] + [0.0] * (len(names) - 1)))
    grid = np.concatenate([[0.0], sigma_scale * np.geomspace(1e-4, 1e2, 49)])
    values = np.array([constant(s) for s in grid])
    best = int(np.argmin(values))
    if best == len(grid) - 1:
        log.warning("the likelihood is highest at the largest σ tried (%.3g): the human data are at or below "
                    "chance, and σ is not identified", grid[best])
        sigma = grid[best]
    else:
        low, high = grid[max(best - 1, 0)], grid[best + 1]
        found = optimize.minimize_scalar(constant, bounds=(low, high), method="bounded",
                                         options={"xatol": 1e-6 * max(high, 1e-300)})
        sigma = float(found.x) if found.fun <= values[best] else float(grid[best])
    start = {"constant": [sigma], "linear": [sigma, 0.0], "loglinear": [max(sigma, 1e-12 * sigma_scale), 0.0]}[model]
    theta = np.array(start, dtype=float)
    scales = np.array([max(sigma, sigma_scale * 1e-3)] + [1.0 / eccentricity_scale] * (len(theta) - 1))
    if len(theta) > 1:
        theta = _nelder_mead(neg_ll, theta, scales)
    best_nll = float(neg_ll(theta))
    target = best_nll + stats.chi2.ppf(ci_level, 1) / 2.0
    ci = {}
    for j, name in enumerate(names):
        lower_bound = 0.0 if j == 0 else -np.inf
        ci[name] = tuple(_profile_bound(neg_ll, theta, j, target, scales, direction, lower_bound)
                         for direction in (-1, 1))
    return SigmaFit(model, dict(zip(names, map(float, theta))), -best_nll, ci, ci_level)


def _nelder_mead(fun: Callable[[np.ndarray], float], start: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Nelder–Mead from ``start`` with a simplex of ``scales``, restarted once at its result."""
    x = start
    for _ in range(2):
        simplex = np.vstack([x] + [x + np.eye(len(x))[i] * scales[i] * 0.5 for i in range(len(x))])
        x = optimize.minimize(fun, x, method="Nelder-Mead",
                              options={"initial_simplex": simplex, "xatol": 1e-4, "fatol": 1e-6,
                                       "maxiter": 400 * len(x)}).x
    return x


def _profile_bound(neg_ll: Callable[[np.ndarray], float], theta: np.ndarray, j: int, target: float,
                   scales: np.ndarray, direction: int, lower_bound: float) -> float:
    """Where the profile negative log-likelihood of parameter ``j`` crosses ``target`` on one side."""
    others = [i for i in range(len(theta)) if i != j]

    def profile(value: float) -> float:
        full = theta.copy()
        full[j] = value
        if not others:
            return float(neg_ll(full))

        def inner(rest: np.ndarray) -> float:
            full[others] = rest
            return float(neg_ll(full))
        found = optimize.minimize(inner, theta[others], method="Nelder-Mead",
                                  options={"xatol": 1e-4 * scales[others].min(), "fatol": 1e-4})
        return float(min(found.fun, inner(theta[others])))

    inside = theta[j]
    step = scales[j] * 0.25
    for _ in range(40):
        outside = inside + direction * step
        if outside <= lower_bound:
            if profile(lower_bound) <= target:
                return lower_bound
            outside = lower_bound
        if profile(outside) > target:
            return float(optimize.brentq(lambda v: profile(v) - target, min(inside, outside), max(inside, outside),
                                         xtol=1e-4 * scales[j]))
        inside, step = outside, step * 2.0
    return float(direction * np.inf)
