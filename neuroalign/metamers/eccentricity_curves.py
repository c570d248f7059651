"""Psychometric curves of metameric discrimination against eccentricity (Harrington & Deza 2022).

Two steps, each usable on its own:

1. :func:`eccentricity_counts` pools the trials of
   :func:`~neuroalign.loaders.psychophysics.load_metameric_psychophysics`
   into counts correct per task × condition × eccentricity (participants
   pooled, as in the paper's analysis: the main files and WL_03's second
   texform 2AFC file, :data:`PAPER_SESSION_KINDS`).  Table rows of blocks that were never
   run (``response_status == "not_presented"``) are not trials and are left
   out; presented trials without a valid key press are neither correct nor
   wrong: they are left out of both counts and counted in ``n_no_response``.
2. :func:`fit_eccentricity_curves` fits one psychometric function per task and
   condition (:class:`~neuroalign.metamers.psychometric.PsychometricFit`):
   guess rate 1/2 for 2AFC and 1/3 for oddity, performance falling with
   eccentricity (``direction="decreasing"``), with bootstrap intervals.

Scoring: the loader keeps the recorded correctness (``correct``, what the
paper analysed) and a rescoring from the stimulus types
(``correct_by_stimuli``), which differ only in the oddity "standard vs
standard" condition, where a third of the trials were generated with another
row's answer key (``docs/loaders-behavior.md``).  ``score="stimuli"`` (the
default) uses the rescored answers; ``score="recorded"`` reproduces the paper.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..data.provenance import provenance
from ..errors import DataError, SchemaError, UnknownNameError
from .psychometric import PsychometricFit, guess_rate

__all__ = ["eccentricity_counts", "fit_eccentricity_curves", "TASK_EXPERIMENTS", "SCORES", "PAPER_SESSION_KINDS"]

logger = logging.getLogger(__name__)

#: The forced-choice type of each task (its guess rate is 1/n).
TASK_EXPERIMENTS = {"2afc": "2AFC", "oddity": "3AFC"}
#: The kinds of file the paper pooled: its analysis lists the twelve participants, WL_03 as ``WL_03full``
#: (a merged file not in the repository: WL_03's main files and, for the texform 2AFC blocks its main file
#: lacks, ``WL_03b_data2``, kind ``"repeat"``); it does not read the ``"partial"`` files.
PAPER_SESSION_KINDS = ("main", "repeat")
#: Which correctness variable each ``score`` reads.
SCORES = {"stimuli": "correct_by_stimuli", "recorded": "correct"}
_ESTIMATES = ("threshold", "width", "lambda", "gamma", "eta")


def eccentricity_counts(data: xr.Dataset, *, score: str = "stimuli",
                        session_kinds: Iterable[str] | None = PAPER_SESSION_KINDS,
                        tasks: Iterable[str] | None = None) -> xr.Dataset:
    """Counts correct per task × condition × eccentricity, participants pooled.

    Parameters
    ----------
    data : xarray.Dataset
        The output of :func:`~neuroalign.loaders.psychophysics.load_metameric_psychophysics`.
    score : {"stimuli", "recorded"}
        Correctness rescored from the stimulus types, or as recorded (see the module notes).
    session_kinds : iterable of str, optional
        Keep these kinds of file (default :data:`PAPER_SESSION_KINDS`: the
        twelve participants' main files and WL_03's second texform 2AFC file,
        as the paper pooled them; ``None`` keeps all).
    tasks : iterable of {"2afc", "oddity"}, optional

    Returns
    -------
    xarray.Dataset
        Dims ``task``, ``condition``, ``eccentricity``; variables ``n_correct``,
        ``n_trials`` (valid responses), ``n_no_response`` (presented, no valid
        key) and ``proportion_correct`` (NaN where there are no valid trials).

    Examples
    --------
    >>> from neuroalign.datasets.fetchers import data_home
    >>> from neuroalign.loaders.psychophysics import load_metameric_psychophysics
    >>> from neuroalign.metamers.eccentricity_curves import eccentricity_counts
    >>> folder = data_home() / "harrington_deza2022"
    >>> if folder.is_dir():
    ...     counts = eccentricity_counts(load_metameric_psychophysics(folder, progress=False))
    ...     print(dict(counts.sizes))
    ... else:
    ...     print({'task': 2, 'condition': 6, 'eccentricity': 6})
    {'task': 2, 'condition': 6, 'eccentricity': 6}
    """
    if score not in SCORES:
        raise UnknownNameError(score, SCORES, what="score", source="score")
    needed = ("task", "condition", "eccentricity", "session_kind", SCORES[score])
    missing = [name for name in needed if name not in data.variables]
    if missing or "trial" not in data.dims:
        raise SchemaError(f"expected a Dataset from load_metameric_psychophysics with a 'trial' dim; it lacks "
                          f"{missing or ['trial']}", source="data",
                          fix="load the data with neuroalign.loaders.psychophysics.load_metameric_psychophysics")
    keep = np.ones(data.sizes["trial"], dtype=bool)
    if session_kinds is not None:
        keep &= np.isin(data["session_kind"].values, list(session_kinds))
    if tasks is not None:
        wanted = [str(t).lower() for t in tasks]
        for task in wanted:
            if task not in TASK_EXPERIMENTS:
                raise UnknownNameError(task, TASK_EXPERIMENTS, what="task", source="tasks")
        keep &= np.isin(data["task"].values, wanted)
    if "response_status" in data.variables:  # table rows of blocks that were never run are not trials
        keep &= data["response_status"].values != "not_presented"
    if not keep.any():
        raise DataError("no trials left after selecting session kinds and tasks", source="data",
                        fix="check session_kinds= and tasks= against data.session_kind and data.task")
    task = data["task"].values[keep].astype(str)
    condition = data["condition"].values[keep].astype(str)
    ecc = data["eccentricity"].values[keep].astype(float)
    correct = data[SCORES[score]].values[keep].astype(float)
    tasks_, conds, eccs = np.unique(task), np.unique(condition), np.unique(ecc)
    shape = (tasks_.size, conds.size, eccs.size)
    index = (np.searchsorted(tasks_, task), np.searchsorted(conds, condition), np.searchsorted(eccs, ecc))
    valid = np.isfinite(correct)
    n_correct, n_trials, n_no_response = (np.zeros(shape, dtype=np.int64) for _ in range(3))
    np.add.at(n_correct, tuple(i[valid] for i in index), (correct[valid] == 1).astype(np.int64))
    np.add.at(n_trials, tuple(i[valid] for i in index), 1)
    np.add.at(n_no_response, tuple(i[~valid] for i in index), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        proportion = np.where(n_trials > 0, n_correct / np.maximum(n_trials, 1), np.nan)
    coords = {"task": tasks_, "condition": conds, "eccentricity": eccs}
    dims = ("task", "condition", "eccentricity")
    out = xr.Dataset({"n_correct": (dims, n_correct), "n_trials": (dims, n_trials),
                      "n_no_response": (dims, n_no_response),
                      "proportion_correct": (dims, proportion)}, coords=coords)
    out["eccentricity"].attrs["units"] = "degrees"
    out.attrs.update(score=score, session_kinds=list(session_kinds) if session_kinds is not None else "all",
                     source=str(data.attrs.get("source", "")))
    return out


def fit_eccentricity_curves(
    data: xr.Dataset,
    *,
    sigmoid: str = "normal",
    method: str = "map",
    lapse: float | str = "free",
    eta: float | str = 0.0,
    percent_correct: Sequence[float] = (),
    n_bootstrap: int = 1000,
    ci: float = 0.95,
    random_state: int | None = 0,
    curve_points: int = 101,
    score: str = "stimuli",
    session_kinds: Iterable[str] | None = PAPER_SESSION_KINDS,
    tasks: Iterable[str] | None = None,
    progress: bool = True,
) -> xr.Dataset:
    """Fit a falling psychometric function of eccentricity per task and condition.

    Parameters
    ----------
    data : xarray.Dataset
        Trials from :func:`~neuroalign.loaders.psychophysics.load_metameric_psychophysics`,
        or counts from :func:`eccentricity_counts` (then ``score``,
        ``session_kinds`` and ``tasks`` are already applied).
    sigmoid, method, lapse, eta, percent_correct, ci :
        As in :class:`~neuroalign.metamers.psychometric.PsychometricFit`.
    n_bootstrap : int
        Parametric-bootstrap resamples per curve (0: no intervals).
    random_state : int, optional
        Seed; each curve's bootstrap gets its own stream spawned from it
        (``numpy.random.SeedSequence.spawn``), so a curve's interval does not
        depend on which other curves are fitted.
    curve_points : int
        Points of the fitted curve stored for plotting (``curve`` variable).
    score, session_kinds, tasks :
        As in :func:`eccentricity_counts`.
    progress : bool
        A progress bar over curves.

    Returns
    -------
    xarray.Dataset
        The counts (``n_correct``, ``n_trials``, ``n_no_response``,
        ``proportion_correct``), and per ``task`` × ``condition``: ``threshold``
        and ``width`` (degrees), ``lambda``, ``gamma``, ``eta``, their
        intervals ``<name>_ci`` (dim ``bound``: low, high), ``pc_threshold``
        (the eccentricity where ψ falls to each ``percent_correct``, dim
        ``pc_level``) with ``pc_threshold_ci``, ``converged``,
        ``extrapolated`` (threshold outside 5–30°), ``n_bootstrap_failed`` and
        ``n_bootstrap_at_bound`` (resamples whose refit did not converge, or
        ended on the search bounds: kept in the intervals), and ``curve`` (ψ
        along ``curve_eccentricity``).  Cells without trials are NaN (and logged).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.metamers.eccentricity_curves import fit_eccentricity_curves
    >>> counts = xr.Dataset(
    ...     {"n_correct": (("task", "condition", "eccentricity"), [[[170, 150, 128, 118, 110, 104]]]),
    ...      "n_trials": (("task", "condition", "eccentricity"), [[[200] * 6]])},
    ...     coords={"task": ["2afc"], "condition": ["original vs robust"], "eccentricity": [5., 10, 15, 20, 25, 30]})
    >>> curves = fit_eccentricity_curves(counts, n_bootstrap=0, progress=False)
    >>> round(float(curves.threshold.sel(task="2afc", condition="original vs robust")), 1)
    10.1
    """
    counts = data if "n_trials" in data and "trial" not in data.dims else eccentricity_counts(
        data, score=score, session_kinds=session_kinds, tasks=tasks)
    for task in counts["task"].values:
        if str(task) not in TASK_EXPERIMENTS:
            raise UnknownNameError(str(task), TASK_EXPERIMENTS, what="task", source="data")
    percent = [float(p) for p in percent_correct]
    ecc = counts["eccentricity"].values.astype(float)
    grid = np.linspace(ecc.min(), ecc.max(), int(curve_points))
    cells = [(t, c) for t in counts["task"].values for c in counts["condition"].values]
    seeds = np.random.SeedSequence(random_state).spawn(len(cells))
    shape2 = (counts.sizes["task"], counts.sizes["condition"])
    est = {name: np.full(shape2, np.nan) for name in _ESTIMATES}
    ci_arr = {name: np.full(shape2 + (2,), np.nan) for name in _ESTIMATES}
    pc = np.full(shape2 + (len(percent),), np.nan)
    pc_ci = np.full(shape2 + (len(percent), 2), np.nan)
    flags = {name: np.zeros(shape2, dtype=bool) for name in ("converged", "extrapolated")}
    failed = {name: np.zeros(shape2, dtype=np.int64) for name in ("n_bootstrap_failed", "n_bootstrap_at_bound")}
    curve = np.full(shape2 + (grid.size,), np.nan)
    from tqdm.auto import tqdm

    for (task, cond), seed in tqdm(list(zip(cells, seeds)), desc="psychometric fits", unit="curve",
                                   disable=not progress):
        i = int(np.flatnonzero(counts["task"].values == task)[0])
        j = int(np.flatnonzero(counts["condition"].values == cond)[0])
        k = counts["n_correct"].values[i, j].astype(float)
        n = counts["n_trials"].values[i, j].astype(float)
        tested = n > 0
        if np.unique(ecc[tested]).size < 2:
            logger.warning("%s, %s: fewer than 2 eccentricities with valid trials; no fit (NaN)", task, cond)
            continue
        if not tested.all():
            logger.warning("%s, %s: eccentricities %s have no valid trials and are left out of the fit", task, cond,
                           ecc[~tested].tolist())
        fit = PsychometricFit(sigmoid, TASK_EXPERIMENTS[str(task)], direction="decreasing", lapse=lapse, eta=eta,
                              method=method, percent_correct=percent, n_bootstrap=n_bootstrap, ci=ci,
                              random_state=np.random.default_rng(seed)).fit(ecc[tested], k[tested], n[tested])
        row = fit.summary()
        for name in _ESTIMATES:
            est[name][i, j] = row[name]
            if fit.ci_:
                ci_arr[name][i, j] = fit.ci_[name]
        for q, p in enumerate(percent):
            pc[i, j, q] = fit.percent_correct_thresholds_[p]
            if fit.ci_:
                pc_ci[i, j, q] = fit.ci_[f"pc={p:g}"]
        flags["converged"][i, j] = fit.converged_
        flags["extrapolated"][i, j] = fit.extrapolated_
        for name in failed:
            failed[name][i, j] = row[name]
        curve[i, j] = fit.predict(grid)
    dims2 = ("task", "condition")
    out = counts.copy()
    for name in _ESTIMATES:
        out[name] = (dims2, est[name])
        out[f"{name}_ci"] = (dims2 + ("bound",), ci_arr[name])
    out["pc_threshold"] = (dims2 + ("pc_level",), pc)
    out["pc_threshold_ci"] = (dims2 + ("pc_level", "bound"), pc_ci)
    for name, values in {**flags, **failed}.items():
        out[name] = (dims2, values)
    out["curve"] = (dims2 + ("curve_eccentricity",), curve)
    out = out.assign_coords(bound=["low", "high"], pc_level=np.asarray(percent, dtype=float),
                            curve_eccentricity=grid,
                            guess_rate=("task", [guess_rate(TASK_EXPERIMENTS[str(t)])
                                                 for t in counts["task"].values]))
    for name in ("threshold", "width"):
        out[name].attrs["units"] = "degrees"
    params: dict[str, Any] = dict(sigmoid=str(sigmoid), method=method, lapse=lapse, eta=eta, percent_correct=percent,
                                  n_bootstrap=int(n_bootstrap), ci=float(ci), random_state=random_state,
                                  direction="decreasing", experiments=TASK_EXPERIMENTS,
                                  score=counts.attrs.get("score", score))
    out.attrs.update(provenance(params, {"n_correct": counts["n_correct"], "n_trials": counts["n_trials"]}))
    out.attrs["title"] = "psychometric functions of eccentricity (Harrington & Deza 2022)"
    return out
