"""Psychometric functions: data points sized by trials, the fitted curve, the threshold and its interval.

Everything draws on a given :class:`matplotlib.axes.Axes` (or builds a
:class:`matplotlib.figure.Figure`); nothing touches pyplot's global state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..errors import SchemaError

__all__ = ["plot_psychometric_fit", "plot_psychometric_curves", "psychometric_figure"]

_TRIAL_AREA = 120.0  # marker area (points²) of the level with the most trials


def _sizes(n_trials: np.ndarray, most: float) -> np.ndarray:
    return _TRIAL_AREA * np.asarray(n_trials, dtype=float) / max(float(most), 1.0)


def _threshold_marker(ax: Axes, x: float, y: float, ci: tuple[float, float] | None, color: Any) -> None:
    """The threshold at the curve's height there, with its interval as a horizontal bar."""
    if not np.isfinite(x):
        return
    xerr = None
    if ci is not None and np.all(np.isfinite(ci)):
        xerr = np.array([[max(x - ci[0], 0.0)], [max(ci[1] - x, 0.0)]])
    ax.errorbar([x], [y], xerr=xerr, fmt="|", color=color, markersize=10, capsize=3, lw=1.2)


def plot_psychometric_fit(fit: Any, ax: Axes, *, color: Any = "C0", label: str | None = None,
                          points: int = 200) -> Axes:
    """Draw one :class:`~neuroalign.metamers.psychometric.PsychometricFit`.

    Data are proportions correct with marker area proportional to trials;
    the curve is ψ(x); the threshold is marked at ψ(threshold) with its
    bootstrap interval (when the fit has one).

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from neuroalign.metamers.psychometric import fit_psychometric
    >>> from neuroalign.plot.psychometric import plot_psychometric_fit
    >>> fit = fit_psychometric([1, 2, 3, 4], [12, 15, 18, 20], [20, 20, 20, 20], experiment="2AFC")
    >>> ax = plot_psychometric_fit(fit, Figure().subplots())
    >>> len(ax.lines) >= 1
    True
    """
    if not hasattr(fit, "theta_"):
        raise SchemaError("the psychometric fit is not fitted", source="fit",
                          fix="call fit.fit(x, n_correct, n_trials)")
    x, k, n = fit.data_["x"], fit.data_["n_correct"], fit.data_["n_trials"]
    ax.scatter(x, k / n, s=_sizes(n, n.max()), color=color, alpha=0.7, edgecolors="none")
    grid = np.linspace(x.min(), x.max(), points)
    ax.plot(grid, fit.predict(grid), color=color, label=label)
    ci = fit.ci_.get("threshold")
    _threshold_marker(ax, fit.threshold_, float(fit.predict(fit.threshold_)) if np.isfinite(fit.threshold_) else np.nan,
                      ci, color)
    ax.axhline(fit.guess_, color="0.5", lw=0.8, ls=":")
    ax.set(xlabel="stimulus", ylabel="proportion correct", ylim=(0, 1.02))
    return ax


def plot_psychometric_curves(curves: xr.Dataset, ax: Axes, task: str, *,
                             conditions: Sequence[str] | None = None, legend: bool = True) -> Axes:
    """One task's panel of :func:`~neuroalign.metamers.eccentricity_curves.fit_eccentricity_curves`.

    A line per condition: the pooled proportions correct (marker area ∝
    trials), the fitted curve, and the threshold with its interval (a
    horizontal bar at the curve's height) when it lies within the eccentricities shown.

    Examples
    --------
    >>> import xarray as xr
    >>> from matplotlib.figure import Figure
    >>> from neuroalign.metamers.eccentricity_curves import fit_eccentricity_curves
    >>> from neuroalign.plot.psychometric import plot_psychometric_curves
    >>> counts = xr.Dataset(
    ...     {"n_correct": (("task", "condition", "eccentricity"), [[[170, 150, 128, 118, 110, 104]]]),
    ...      "n_trials": (("task", "condition", "eccentricity"), [[[200] * 6]])},
    ...     coords={"task": ["2afc"], "condition": ["original vs robust"], "eccentricity": [5., 10, 15, 20, 25, 30]})
    >>> curves = fit_eccentricity_curves(counts, n_bootstrap=0, progress=False)
    >>> ax = plot_psychometric_curves(curves, Figure().subplots(), "2afc")
    >>> ax.get_title()
    '2afc'
    """
    needed = ("n_correct", "n_trials", "curve", "threshold", "gamma")
    missing = [v for v in needed if v not in curves]
    if missing:
        raise SchemaError(f"not a fit_eccentricity_curves result: it lacks {missing}", source="curves",
                          fix="pass the Dataset returned by fit_eccentricity_curves")
    if task not in curves["task"].values:
        raise SchemaError(f"no task {task!r} in the curves (tasks: {curves['task'].values.tolist()})",
                          source="task", fix="pick one of those tasks")
    one = curves.sel(task=task)
    names = list(one["condition"].values) if conditions is None else list(conditions)
    ecc = one["eccentricity"].values
    most = float(curves["n_trials"].max())
    for i, cond in enumerate(names):
        color = f"C{i % 10}"
        cell = one.sel(condition=cond)
        n = cell["n_trials"].values.astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.where(n > 0, cell["n_correct"].values / np.maximum(n, 1), np.nan)
        ax.scatter(ecc, p, s=_sizes(n, most), color=color, alpha=0.6, edgecolors="none")
        style = "-" if str(cond).startswith("original") else "--"
        ax.plot(one["curve_eccentricity"].values, cell["curve"].values, style, color=color, label=str(cond))
        threshold = float(cell["threshold"])
        if ecc.min() <= threshold <= ecc.max():
            y = float(np.interp(threshold, one["curve_eccentricity"].values, cell["curve"].values))
            ci = tuple(cell["threshold_ci"].values.tolist()) if "threshold_ci" in cell else None
            _threshold_marker(ax, threshold, y, ci, color)
    ax.axhline(float(one["guess_rate"]) if "guess_rate" in one.coords else float(one["gamma"].mean()),
               color="k", lw=0.8, ls=":")
    ax.set(title=str(task), xlabel="eccentricity (deg)", ylim=(0, 1.02))
    if legend:
        ax.legend(fontsize=7, loc="lower left")
    return ax


def psychometric_figure(curves: xr.Dataset, *, figsize: tuple[float, float] | None = None) -> Figure:
    """One panel per task (shared y axis) of :func:`plot_psychometric_curves`.

    Examples
    --------
    >>> import xarray as xr
    >>> from neuroalign.metamers.eccentricity_curves import fit_eccentricity_curves
    >>> from neuroalign.plot.psychometric import psychometric_figure
    >>> counts = xr.Dataset(
    ...     {"n_correct": (("task", "condition", "eccentricity"), [[[170, 150, 128, 118, 110, 104]]]),
    ...      "n_trials": (("task", "condition", "eccentricity"), [[[200] * 6]])},
    ...     coords={"task": ["2afc"], "condition": ["original vs robust"], "eccentricity": [5., 10, 15, 20, 25, 30]})
    >>> fig = psychometric_figure(fit_eccentricity_curves(counts, n_bootstrap=0, progress=False))
    >>> len(fig.axes)
    1
    """
    tasks = [str(t) for t in curves["task"].values]
    figure = Figure(figsize=figsize or (5.0 * len(tasks), 4.0), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(tasks), sharey=True))
    for ax, task in zip(axes, tasks):
        plot_psychometric_curves(curves, ax, task)
    axes[0].set_ylabel("proportion correct")
    return figure
