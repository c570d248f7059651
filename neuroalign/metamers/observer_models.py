"""Model observers for metameric discrimination tasks (2AFC matching and oddity).

A :class:`NoisyFeatureObserver` takes the same test as a human: each
presentation of a trial produces a noisy response ``r = φ_L(x) + σ·ε`` from
the features of one layer, and a decision rule
(:data:`~neuroalign.metamers.decision_rules.DECISION_RULES`) picks an
interval.  Its free parameter is the noise, σ or σ(eccentricity), fitted to
human proportion correct by maximum likelihood
(:mod:`~neuroalign.metamers.observer_fit`).

Trial tables (pandas DataFrames, one row per trial) name the stimulus of each
presentation by ``stimulus_id``, by role rather than by position, since the
decision rules do not depend on the order of the intervals:

* task ``"2afc"``: ``target`` (the stimulus to match), ``match`` (the correct
  comparison: the target itself or its pair) and ``foil``;
* task ``"oddity"``: ``odd`` and ``standard_1``, ``standard_2`` (more
  standards, ``standard_3``, …, make a task with more intervals);
* optional ``eccentricity`` (degrees; needed by σ(eccentricity) models) and
  ``condition``; other columns are kept and ignored.

**Units of σ.**  With ``feature_scale="rms"`` (the default) the features are
divided by their root-mean-square deviation from the mean over all the
stimuli of the feature array, ``sqrt(mean_{stimulus, unit} (φ − φ̄)²)``, so
σ is in units of the typical spread of one unit across the stimulus set and
comparable across layers; ``"raw"`` keeps feature units; a positive number
divides by that number.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from sklearn.base import BaseEstimator

from ..data.provenance import provenance
from ..errors import ConfigError, DataError, SchemaError, UnknownNameError
from .decision_rules import SimulatedTrials, check_rule, simulate_trials
from .observer_inputs import OPTIONAL_COLUMNS, feature_matrix, feature_scale, trial_index, trial_roles
from .observer_fit import OUTSIDE, SIGMA_MODELS, binomial_log_likelihood, fit_sigma, human_counts, sigma_values

__all__ = ["NoisyFeatureObserver", "observer_features", "trial_roles", "OPTIONAL_COLUMNS"]

log = logging.getLogger(__name__)



def observer_features(model: Any, stimuli: Any, layer: str, **extract_kwargs: Any) -> xr.DataArray:
    """The ``(presentation, neuroid)`` features of one layer, from :func:`neuroalign.extract.extract`.

    ``layer`` is named as everywhere in neuroalign
    (:func:`~neuroalign.extract.resolve_layers`) and must select one layer;
    other keyword arguments go to ``extract`` (``pooling``, ``preprocess``, …).

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.extract import StimulusSet
    >>> from neuroalign.models import ReferenceNet
    >>> from neuroalign.metamers.observer_models import observer_features
    >>> stimuli = StimulusSet.from_arrays(["a", "b"], np.zeros((2, 3, 32, 32), np.float32))
    >>> observer_features(ReferenceNet(seed=0), stimuli, "fc", progress=False).shape
    (2, 128)
    """
    from ..extract import extract

    if not isinstance(layer, str):
        raise ConfigError(f"layer must be one layer name, got {layer!r}", source="layer",
                          fix="pass one module name, e.g. layer='block3'")
    arrays = extract(model, stimuli, [layer], **extract_kwargs)
    if len(arrays) != 1:
        raise ConfigError(f"layer {layer!r} selects {len(arrays)} layers ({', '.join(arrays)})", source="layer",
                          fix="name exactly one layer")
    return next(iter(arrays.values()))


class NoisyFeatureObserver(BaseEstimator):
    """An observer that answers 2AFC or oddity trials from noisy layer features.

    Parameters
    ----------
    task : {"2afc", "oddity"}
    rule : str, optional
        Decision rule (:data:`~neuroalign.metamers.decision_rules.DECISION_RULES`);
        by default ``"nearest"`` for 2AFC and ``"max-summed-distance"`` for oddity.
    sigma : float
        Noise σ used before (or without) a fit.
    sigma_model : {"constant", "linear", "loglinear"}
        What :meth:`fit` fits: one σ, ``sigma0 + slope·e`` or ``sigma0·exp(rate·e)``
        of the trial's eccentricity ``e``.
    feature_scale : "rms", "raw" or float
        Units of σ (module notes).
    lapse_rate : float
        Fraction λ of trials answered at chance: ``ψ = (1 − λ)·p + λ·chance`` (fixed, not fitted).
    n_draws : int
        Noise draws per trial; a trial's proportion correct has Monte Carlo
        standard error at most ``0.5 / sqrt(n_draws)``.  Memory: about
        ``50·trials·n_draws`` bytes.
    ci_level : float
        Coverage of the profile-likelihood intervals of :meth:`fit`.
    random_state : int, numpy Generator or SeedSequence, optional
        Seeds one generator per trial; the same seed gives the same noise for
        every σ (common random numbers) and every call.

    Attributes
    ----------
    params_ : dict
        Fitted noise parameters (``sigma``, or ``sigma0`` and ``slope``/``rate``).
    ci_ : dict of (low, high)
        Profile-likelihood interval of each parameter.  It counts the
        sampling error of the human data, not the Monte Carlo error of the
        model: keep the simulated draws of a group (its trials × ``n_draws``)
        at 10 or more times its human trials (a warning is logged otherwise).
    log_likelihood_ : float
        Binomial log-likelihood of the human data at the fit.
    predictions_ : pandas.DataFrame
        Per human group: its keys, ``n_correct``, ``n_trials``, ``p_human``,
        ``p_model`` and ``p_model_se`` (Monte Carlo).
    feature_scale_ : float
        The divisor of the features in the fit.
    chance_ : float
    provenance_ : dict

    Examples
    --------
    >>> import numpy as np, pandas as pd, xarray as xr
    >>> from neuroalign.metamers.observer_models import NoisyFeatureObserver
    >>> feats = xr.DataArray(np.eye(3), dims=("presentation", "neuroid"),
    ...                      coords={"stimulus_id": ("presentation", ["a", "b", "c"])})
    >>> trials = pd.DataFrame({"target": ["a", "b"], "match": ["a", "b"], "foil": ["b", "c"]})
    >>> obs = NoisyFeatureObserver(task="2afc", sigma=0.0, feature_scale="raw")
    >>> obs.predict_proportion_correct(feats, trials)["p_correct"].tolist()
    [1.0, 1.0]
    >>> human = pd.DataFrame({"n_correct": [80], "n_trials": [100]})
    >>> fitted = NoisyFeatureObserver(task="2afc", n_draws=200).fit(feats, trials, human)
    >>> sorted(fitted.params_), fitted.ci_["sigma"][0] < fitted.params_["sigma"] < fitted.ci_["sigma"][1]
    (['sigma'], True)
    """

    def __init__(self, task: str = "2afc", rule: str | None = None, *, sigma: float = 1.0,
                 sigma_model: str = "constant", feature_scale: str | float = "rms", lapse_rate: float = 0.0,
                 n_draws: int = 1000, ci_level: float = 0.95, random_state: Any = 0):
        self.task = task
        self.rule = rule
        self.sigma = sigma
        self.sigma_model = sigma_model
        self.feature_scale = feature_scale
        self.lapse_rate = lapse_rate
        self.n_draws = n_draws
        self.ci_level = ci_level
        self.random_state = random_state

    # ------------------------------------------------------------------ public
    def fit(self, features: xr.DataArray, trials: pd.DataFrame, human: pd.DataFrame | pd.Series) -> \
            "NoisyFeatureObserver":
        """Fit the noise parameters to human answers by maximum likelihood; returns ``self``.

        Parameters
        ----------
        features : xarray.DataArray (presentation, neuroid)
            With a ``stimulus_id`` coordinate (e.g. from :func:`observer_features`).
        trials : pandas.DataFrame
            The model's trial table (module notes).
        human : pandas.DataFrame
            ``n_correct`` and ``n_trials`` per group, the group given by the
            other columns (columns of ``trials``, e.g. ``eccentricity``); or a
            0/1 ``correct`` column with one row per trial.
        """
        spec, rule, matrix, scale, index, table = self._prepare(features, trials)
        counts = human_counts(human, table, trial_roles(self.task, table.columns) + ("eccentricity",))
        ecc = self._eccentricity(table)
        sim = simulate_trials(matrix, index, self._n_draws(), self.random_state)
        chance = spec.chance(index.shape[1])
        choice = spec.correct - spec.first_choice
        if (counts.group_sizes * sim.n_draws < 10 * counts.n_trials).any():
            log.warning("some groups have fewer than 10 simulated draws per human trial: the Monte Carlo error of "
                        "the model is then not small against the human data's, and the intervals, which count the "
                        "human sampling error only, are too narrow; raise n_draws or add model trials")

        def neg_ll(params: np.ndarray) -> float:
            sigma = sigma_values(self.sigma_model, params, ecc, len(table))
            if np.isnan(sigma).any():
                return OUTSIDE
            credit = sim.credit(sigma * scale, rule, choice).mean(axis=1)
            return -binomial_log_likelihood(credit, counts, sim.n_draws, self.lapse_rate, chance)

        positive = sim.a[sim.a > 0]
        typical = float(np.sqrt(np.median(positive))) / scale if positive.size else 1.0
        e_scale = float(np.max(np.abs(ecc))) if ecc is not None and np.max(np.abs(ecc)) > 0 else 1.0
        found = fit_sigma(neg_ll, self.sigma_model, typical, ci_level=self.ci_level, eccentricity_scale=e_scale)
        self.params_ = found.params
        self.ci_ = found.ci
        self.log_likelihood_ = found.log_likelihood
        self.feature_scale_ = scale
        self.chance_ = chance
        p, se = self._proportions(sim, rule, choice, np.array(list(found.params.values())), self.sigma_model, ecc,
                                  scale, chance)
        self.predictions_ = _group_predictions(counts, p, se)
        self.provenance_ = provenance(
            {**self.get_params(), "rule": rule, "feature_scale_value": scale},
            {"features": features, "trials": _table_digest(table), "human": _table_digest(human)})
        return self

    def sigma_at(self, eccentricity: Any = None) -> np.ndarray:
        """σ at the given eccentricities (fitted parameters, or ``sigma`` before a fit).

        Examples
        --------
        >>> from neuroalign.metamers.observer_models import NoisyFeatureObserver
        >>> NoisyFeatureObserver(sigma=0.3).sigma_at([5, 10]).tolist()
        [0.3, 0.3]
        """
        params, model = self._params()
        ecc = None if eccentricity is None else np.atleast_1d(np.asarray(eccentricity, dtype=float))
        n = 1 if ecc is None else len(ecc)
        if model != "constant" and ecc is None:
            raise ConfigError(f"the {model} noise model needs eccentricities", source="eccentricity",
                              fix="pass the eccentricities at which to evaluate σ")
        return sigma_values(model, params, ecc, n)

    def predict_proportion_correct(self, features: xr.DataArray, trials: pd.DataFrame) -> pd.DataFrame:
        """Each trial's expected proportion correct (fitted parameters, or ``sigma`` before a fit).

        Returns
        -------
        pandas.DataFrame
            ``trials`` with columns ``sigma`` (in the units of ``feature_scale``),
            ``p_correct`` (lapses included) and ``p_correct_se`` (Monte Carlo standard error).
        """
        spec, rule, matrix, scale, index, table = self._prepare(features, trials)
        ecc = self._eccentricity(table)
        params, model = self._params()
        sim = simulate_trials(matrix, index, self._n_draws(), self.random_state)
        chance = spec.chance(index.shape[1])
        p, se = self._proportions(sim, rule, spec.correct - spec.first_choice, params, model, ecc, scale, chance)
        sigma = sigma_values(model, params, ecc, len(table))
        return table.assign(sigma=sigma, p_correct=p, p_correct_se=se)

    def respond(self, features: xr.DataArray, trials: pd.DataFrame) -> pd.DataFrame:
        """One simulated answer per trial (a noise stream independent of :meth:`predict_proportion_correct`).

        Returns
        -------
        pandas.DataFrame
            ``trials`` with ``choice_role`` (e.g. ``"match"``, ``"standard_2"``),
            ``choice`` (that presentation's stimulus id) and ``correct`` (bool).
            Exact ties are broken at random.
        """
        spec, rule, matrix, scale, index, table = self._prepare(features, trials)
        ecc = self._eccentricity(table)
        params, model = self._params()
        sim = simulate_trials(matrix, index, 1, self.random_state, stream=1)
        sigma = sigma_values(model, params, ecc, len(table))
        if np.isnan(sigma).any():
            raise ConfigError("the noise parameters give a negative σ for some trials", source="sigma",
                              fix="use parameters with σ ≥ 0 at every eccentricity")
        weights = sim.choice_probabilities(sigma * scale, rule)[:, 0]  # (trial, choice)
        gen = np.random.default_rng(np.random.SeedSequence(_entropy(self.random_state), spawn_key=(2,)))
        picked = (weights.cumsum(axis=1) > gen.random((len(table), 1)) * weights.sum(axis=1, keepdims=True))
        choice = picked.argmax(axis=1)
        lapse = gen.random(len(table)) < self.lapse_rate
        choice = np.where(lapse, gen.integers(0, weights.shape[1], len(table)), choice)
        roles = np.array(trial_roles(self.task, table.columns)[spec.first_choice:])
        chosen = roles[choice]
        return table.assign(choice_role=chosen, choice=[table.at[i, r] for i, r in zip(table.index, chosen)],
                            correct=choice == spec.correct - spec.first_choice)

    # ------------------------------------------------------------------ helpers
    def _params(self) -> tuple[np.ndarray, str]:
        if hasattr(self, "params_"):
            return np.array(list(self.params_.values()), dtype=float), self.sigma_model
        sigma = self.sigma
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float, np.integer, np.floating)) \
                or not np.isfinite(sigma) or sigma < 0:
            raise ConfigError(f"sigma must be a finite number ≥ 0, got {sigma!r}", source="sigma",
                              fix="pass e.g. sigma=0.5 (noise in units of feature_scale)")
        return np.array([float(sigma)]), "constant"

    def _n_draws(self) -> int:
        n = self.n_draws
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ConfigError(f"n_draws must be a positive int, got {n!r}", source="n_draws",
                              fix="pass e.g. n_draws=1000")
        return int(n)

    def _prepare(self, features: xr.DataArray, trials: pd.DataFrame):
        spec, rule = check_rule(self.task, self.rule)
        if self.sigma_model not in SIGMA_MODELS:
            raise UnknownNameError(self.sigma_model, SIGMA_MODELS, what="noise model", source="sigma_model")
        if not 0 <= self.lapse_rate < 1:
            raise ConfigError(f"lapse_rate must lie in [0, 1), got {self.lapse_rate!r}", source="lapse_rate",
                              fix="pass e.g. lapse_rate=0.02, or 0 for none")
        self._params()  # a bad sigma fails before any work
        matrix, ids = feature_matrix(features)
        scale = feature_scale(matrix, self.feature_scale)
        table, index = trial_index(trials, self.task, ids)
        return spec, rule, matrix, scale, index, table

    def _eccentricity(self, table: pd.DataFrame) -> np.ndarray | None:
        if "eccentricity" not in table.columns:
            if self.sigma_model != "constant":
                raise SchemaError(f"the trial table lacks column 'eccentricity', which noise model "
                                  f"{self.sigma_model!r} needs", source="trials",
                                  fix="add the eccentricity (degrees) of every trial, or use sigma_model='constant'")
            return None
        ecc = pd.to_numeric(table["eccentricity"], errors="coerce").to_numpy(float)
        if not np.isfinite(ecc).all() or (ecc < 0).any():
            raise DataError("column 'eccentricity' holds missing, negative or non-numeric values", source="trials",
                            fix="give every trial a finite eccentricity ≥ 0 in degrees")
        return ecc

    def _proportions(self, sim: SimulatedTrials, rule: str, choice: int, params: np.ndarray, model: str,
                     ecc: Any, scale: float, chance: float) -> tuple[np.ndarray, np.ndarray]:
        sigma = sigma_values(model, params, ecc, sim.n_trials)
        credit = sim.credit(sigma * scale, rule, choice)
        keep = 1.0 - self.lapse_rate
        p = keep * credit.mean(axis=1) + self.lapse_rate * chance
        se = keep * credit.std(axis=1) / np.sqrt(sim.n_draws)
        return p, se


def _group_predictions(counts: Any, p: np.ndarray, se: np.ndarray) -> pd.DataFrame:
    used = counts.group >= 0
    n_groups = len(counts.n_trials)
    size = np.bincount(counts.group[used], minlength=n_groups)
    p_model = np.bincount(counts.group[used], weights=p[used], minlength=n_groups) / size
    se_model = np.sqrt(np.bincount(counts.group[used], weights=se[used] ** 2, minlength=n_groups)) / size
    return counts.keys.assign(n_correct=counts.n_correct, n_trials=counts.n_trials,
                              p_human=counts.n_correct / counts.n_trials, p_model=p_model, p_model_se=se_model,
                              n_model_trials=size)


def _table_digest(table: Any) -> str:
    from ..data.provenance import content_digest

    frame = table.to_frame() if isinstance(table, pd.Series) else table
    return content_digest(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes()).hexdigest()


def _entropy(random_state: Any) -> Any:
    if isinstance(random_state, np.random.SeedSequence):
        return random_state.entropy
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**63))
    return None if random_state is None else int(random_state)
