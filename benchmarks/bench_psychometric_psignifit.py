"""Agreement and speed: ``neuroalign.metamers.psychometric`` against psignifit 4.3 on the Harrington & Deza curves.

psignifit (GPL-3) is a test/benchmark-only reference; neuroalign never imports it.
Both fit falling curves against −eccentricity (−log eccentricity for the
Weibull) with a rising sigmoid; our ``method="map"`` is compared with
psignifit's ``parameter_estimate_MAP`` (its default estimate).  For each
setting the script prints the maximum relative difference in threshold and
width (on the fit axis) and where it occurs, the largest amount by which
psignifit's estimate falls short of the posterior mode (our objective at its
estimate minus ours: ≤ 0 means ours is at least as high), and the time per
fit of each.

Usage (``NEUROALIGN_DATA`` names the data folder, default ``../shared/data``)::

    OMP_NUM_THREADS=1 python benchmarks/bench_psychometric_psignifit.py
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np


def main() -> None:
    import psignifit

    from neuroalign.loaders.psychophysics import load_metameric_psychophysics
    from neuroalign.metamers.eccentricity_curves import TASK_EXPERIMENTS, eccentricity_counts
    from neuroalign.metamers.psychometric import fit_psychometric

    folder = Path(os.environ.get("NEUROALIGN_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
    data = load_metameric_psychophysics(folder / "harrington_deza2022", session_kinds=["main"], progress=False)
    counts = eccentricity_counts(data)
    names = {"logistic": "logistic", "normal": "norm", "gumbel": "gumbel", "weibull": "weibull"}
    curves = [("2afc", "original vs robust"), ("2afc", "original vs texform"), ("2afc", "original vs standard"),
              ("oddity", "original vs robust"), ("oddity", "original vs texform"), ("oddity", "robust vs robust"),
              ("oddity", "original vs standard")]
    settings = {
        "lambda = eta = 0": (dict(lapse=0.0, eta=0.0), dict(fixed_parameters={"lambda": 0.0, "eta": 0.0}), curves,
                             list(names)),
        "lambda free, eta = 0": (dict(eta=0.0), dict(fixed_parameters={"eta": 0.0}), curves, list(names)),
        "lambda, eta free (psignifit defaults), oddity": (dict(eta="free"), {}, curves[3:5],
                                                          ["logistic", "normal", "gumbel"]),
        "ml vs psignifit, lambda = eta = 0, range +-400": (
            dict(lapse=0.0, eta=0.0, method="ml", stimulus_range=(-400.0, 400.0)),
            dict(fixed_parameters={"lambda": 0.0, "eta": 0.0}, stimulus_range=(-400.0, 400.0)), curves, ["logistic"]),
    }
    for label, (ours, theirs, cells, sigmoids) in settings.items():
        worst, where, shortfall, t_ours, t_theirs, fits = 0.0, None, -np.inf, 0.0, 0.0, 0
        for task, condition in cells:
            cell = counts.sel(task=task, condition=condition)
            x, k, n = (cell[v].values.astype(float) for v in ("eccentricity", "n_correct", "n_trials"))
            for sigmoid in sigmoids:
                start = time.perf_counter()
                options = dict(ours)
                if "stimulus_range" in options:  # the same range on psignifit's axis (−x): bounds and priors alike
                    options["stimulus_range"] = tuple(-v for v in options["stimulus_range"][::-1])
                fit = fit_psychometric(x, k, n, sigmoid=sigmoid, experiment=TASK_EXPERIMENTS[task],
                                       direction="decreasing", **options)
                t_ours += time.perf_counter() - start
                u = -np.log(x) if sigmoid == "weibull" else -x
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ref = psignifit.psignifit(np.column_stack([u, k, n]), sigmoid=names[sigmoid],
                                              experiment_type=TASK_EXPERIMENTS[task], verbose=False,
                                              **theirs).parameter_estimate_MAP
                t_theirs += time.perf_counter() - start
                fits += 1
                for p in ("threshold", "width"):
                    d = abs(fit.params_[p] - ref[p]) / abs(ref[p])
                    if d > worst:
                        worst, where = d, (task, condition, sigmoid, p)
                if ours.get("method", "map") == "map":
                    theirs_value = fit.model_.objective(np.array([ref[p] for p in fit.model_.free]), u, k, n)
                    shortfall = max(shortfall, float(theirs_value - fit.objective_))
        extra = f"; psignifit's log posterior minus ours at most {shortfall:.1e}" if np.isfinite(shortfall) else ""
        print(f"{label}: {fits} fits, max relative difference {worst:.1e} at {where}{extra}; "
              f"time per fit ours {1e3 * t_ours / fits:.0f} ms, psignifit {1e3 * t_theirs / fits:.0f} ms "
              f"(ratio psignifit/ours {t_theirs / t_ours:.1f})")
    _simulated(psignifit, fit_psychometric)


def _simulated(psignifit, fit_psychometric) -> None:
    """Simulated curves (seeded): 6 random levels in [1, 30], 20-200 trials each, every sigmoid, experiment type
    and direction, η = 0; the largest amount by which psignifit's estimate beats ours in log posterior (≤ 0: ours
    is always at least as high; these posteriors are often multimodal or ridge-shaped)."""
    from neuroalign.metamers.sigmoids import get_sigmoid

    names = {"logistic": "logistic", "normal": "norm", "gumbel": "gumbel", "reverse_gumbel": "rgumbel",
             "weibull": "weibull"}
    experiments = {"2AFC": 0.5, "3AFC": 1 / 3, "4AFC": 0.25, "yes/no": 0.1, "equal asymptote": 0.05}
    rng = np.random.default_rng(0)
    shortfall, fits = -np.inf, 0
    for _ in range(2):
        x = np.sort(rng.uniform(1, 30, 6)).round(2)
        for sigmoid, name in names.items():
            s = get_sigmoid(sigmoid)
            for experiment, guess in experiments.items():
                for sign in (1.0, -1.0):
                    u = sign * s.to_axis(x)
                    threshold = sign * s.to_axis(rng.uniform(x[1], x[-2]))
                    width = rng.uniform(0.5, 2.5) if s.log_axis else rng.uniform(5, 25)
                    n = rng.integers(20, 200, 6).astype(float)
                    k = rng.binomial(n.astype(int), guess + (0.97 - guess) * s.cdf(s.standardise(u, threshold, width)))
                    fit = fit_psychometric(x, k, n, sigmoid=sigmoid, experiment=experiment, eta=0.0,
                                           direction="increasing" if sign > 0 else "decreasing")
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        ref = psignifit.psignifit(np.column_stack([u, k, n]), sigmoid=name, experiment_type=experiment,
                                                  fixed_parameters={"eta": 0.0}, verbose=False).parameter_estimate_MAP
                    theirs = fit.model_.objective(np.array([ref[p] for p in fit.model_.free]), u, k.astype(float), n)
                    shortfall, fits = max(shortfall, float(theirs - fit.objective_)), fits + 1
    print(f"simulated curves: {fits} fits; psignifit's log posterior minus ours at most {shortfall:.1e}")


if __name__ == "__main__":
    main()
