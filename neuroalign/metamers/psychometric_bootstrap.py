"""Parametric bootstrap of a psychometric fit, and percentile intervals.

Each resample draws new counts at the fitted levels from the fitted model —
``k* ~ Binomial(n, ψ̂(x))``, or for a beta-binomial fit ``p* ~ Beta(ψ̂ν, (1 − ψ̂)ν)``
then ``k* ~ Binomial(n, p*)`` with ``ν = 1/η̂² − 1`` — and refits it with the
same model, priors and search (grid, then L-BFGS-B).  Intervals are the
percentiles of the refitted values (Wichmann & Hill 2001, *Perception &
Psychophysics* 63, 1314–1329).  Every draw comes from one seeded
``numpy.random.Generator``.
"""

from __future__ import annotations

import numpy as np

from .psychometric_model import Model, maximise

__all__ = ["simulate_counts", "bootstrap_fits", "percentile_intervals"]


def simulate_counts(model: Model, theta: np.ndarray, u: np.ndarray, n: np.ndarray, n_samples: int,
                    rng: np.random.Generator) -> np.ndarray:
    """``(n_samples, levels)`` counts correct drawn from the fitted model at the levels ``u``.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.metamers.psychometric import PsychometricFit
    >>> from neuroalign.metamers.psychometric_bootstrap import simulate_counts
    >>> fit = PsychometricFit("logistic", "2AFC").fit([1, 2, 3], [55, 70, 90], [100, 100, 100])
    >>> simulate_counts(fit.model_, fit.theta_, np.array([1.0, 2, 3]), np.array([100, 100, 100]), 4,
    ...                 np.random.default_rng(0)).shape
    (4, 3)
    """
    v = model.unpack(np.asarray(theta, dtype=float))
    s = model.sigmoid
    z = s.standardise(u, v["threshold"], v["width"], model.width_alpha)
    psi = v["gamma"] + (1.0 - v["gamma"] - v["lambda"]) * s.cdf(z)
    psi = np.clip(psi, 0.0, 1.0)
    trials = np.broadcast_to(n.astype(np.int64), (n_samples, len(u)))
    eta2 = float(v["eta"]) ** 2
    if eta2 > 1e-9:
        nu = 1.0 / eta2 - 1.0
        a = np.maximum(psi * nu, 1e-300)
        b = np.maximum((1.0 - psi) * nu, 1e-300)
        p = rng.beta(np.broadcast_to(a, trials.shape), np.broadcast_to(b, trials.shape))
    else:
        p = np.broadcast_to(psi, trials.shape)
    return rng.binomial(trials, p).astype(float)


def bootstrap_fits(model: Model, u: np.ndarray, n: np.ndarray, theta: np.ndarray, n_bootstrap: int,
                   random_state: int | np.random.Generator | None, *, progress: bool = False
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Refitted free parameters of parametric resamples, ``(n_bootstrap, n_free)``, and whether each refit
    converged, ``(n_bootstrap,)``.

    Each resample is refitted with the full search of the original fit
    (:func:`~neuroalign.metamers.psychometric_model.maximise`: the grid's
    maxima), starting first from the original estimate.  A refit that did not
    converge is kept (dropping it would bias the interval) and flagged.
    """
    rng = np.random.default_rng(random_state)
    counts = simulate_counts(model, theta, u, n, n_bootstrap, rng)
    from tqdm.auto import tqdm

    out = np.empty((n_bootstrap, len(theta)))
    converged = np.zeros(n_bootstrap, dtype=bool)
    for i in tqdm(range(n_bootstrap), desc="bootstrap", unit="fit", disable=not progress):
        out[i], _, converged[i] = maximise(model, u, counts[i], n, start=theta)
    return out, converged


def percentile_intervals(samples: dict[str, np.ndarray], ci: float) -> dict[str, tuple[float, float]]:
    """``{name: (low, high)}``: the ``(1 − ci)/2`` and ``(1 + ci)/2`` percentiles of each sample.

    Infinite values (a resample whose curve never reaches a proportion correct)
    take part as themselves, so an interval may be unbounded.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.metamers.psychometric_bootstrap import percentile_intervals
    >>> percentile_intervals({"a": np.arange(101.0)}, 0.5)
    {'a': (25.0, 75.0)}
    """
    lo, hi = 100 * (1 - ci) / 2, 100 * (1 + ci) / 2
    out = {}
    for name, values in samples.items():
        values = np.asarray(values, dtype=float)
        if np.isinf(values).any():  # np.percentile interpolates inf - inf = nan: use the order statistics
            ordered = np.sort(values)
            pos = np.array([lo, hi]) / 100 * (len(ordered) - 1)
            out[name] = (float(ordered[int(np.floor(pos[0]))]), float(ordered[int(np.ceil(pos[1]))]))
        else:
            low, high = np.percentile(values, [lo, hi])
            out[name] = (float(low), float(high))
    return out
