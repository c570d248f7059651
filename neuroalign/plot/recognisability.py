"""Recognisability of model metamers: an observer × layer matrix and per-layer curves (Feather et al. 2023)."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..errors import ConfigError, ScoreError
from ..score import Score

__all__ = ["plot_recognisability_matrix", "plot_recognisability_curves"]

_DIMS = ("generator", "layer", "observer")


def _checked(score: Score, generator: str | None, ax: Axes | None) -> list[str]:
    """The generators to draw, after checking the score's dims and the ``ax`` argument."""
    if not isinstance(score, Score) or set(score.dims) != set(_DIMS):
        dims = score.dims if isinstance(score, Score) else type(score).__name__
        raise ScoreError(f"expected a recognisability score with dims {_DIMS}, got {dims}", source="score",
                         fix="pass the result of neuroalign.metamers.recognition.recognisability")
    generators = [str(g) for g in score.values["generator"].values]
    if generator is not None:
        if generator not in generators:
            raise ConfigError(f"the score has no generator {generator!r} (it has {generators})", source="generator",
                              fix=f"pass one of {generators}")
        generators = [generator]
    if ax is not None and len(generators) != 1:
        raise ConfigError(f"one axes cannot hold {len(generators)} generators", source="ax",
                          fix="pass generator=... with ax=, or leave ax out for one panel per generator")
    return generators


def _panel(values: xr.DataArray, generator: str) -> xr.DataArray:
    return values.sel(generator=generator).transpose("observer", "layer")


def _axes(ax: Axes | None, n: int, size: tuple[float, float]) -> tuple[Figure, list[Axes]]:
    if ax is not None:
        return ax.figure, [ax]
    figure = Figure(figsize=(size[0] * n, size[1]), layout="constrained")
    return figure, list(np.atleast_1d(figure.subplots(1, n)))


def _chance_text(score: Score) -> str:
    chance = score.params.get("chance")
    return "" if chance is None else f" (chance {float(chance):.2f})"


def plot_recognisability_matrix(
    score: Score,
    *,
    generator: str | None = None,
    ax: Axes | None = None,
    cmap: str = "viridis",
    annotate: bool = True,
    colorbar: bool = True,
    title: str | None = None,
) -> Figure:
    """Observer × layer heat map of recognisability, one panel per generating model.

    Parameters
    ----------
    score : Score
        From :func:`~neuroalign.metamers.recognition.recognisability` (dims
        ``generator``, ``layer``, ``observer``).
    generator : str, optional
        Draw only this generator.
    ax : matplotlib.axes.Axes, optional
        Draw into this axes (one generator only); default: a new figure.
    cmap : str
        Colour map; the colour scale is fixed to [0, 1].
    annotate : bool
        Write the proportion correct in each cell.
    colorbar : bool
        Add a colour bar.
    title : str, optional
        Panel title (default: the generator's name and the chance level).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.metamers.recognition import recognisability
    >>> from neuroalign.plot.recognisability import plot_recognisability_matrix
    >>> images = np.zeros((4, 1, 2, 2), dtype=np.float32)
    >>> score = recognisability({"conv1": images, "fc": images}, [0, 1, 0, 1],
    ...                         {"right": lambda x: np.array([0, 1, 0, 1]), "wrong": lambda x: np.ones(4, int)},
    ...                         n_bootstrap=10)
    >>> figure = plot_recognisability_matrix(score)
    >>> [t.get_text() for t in figure.axes[0].texts]
    ['1.00', '1.00', '0.50', '0.50']
    """
    generators = _checked(score, generator, ax)
    figure, axes = _axes(ax, len(generators), (1.6 + 0.9 * score.values.sizes["layer"],
                                               1.4 + 0.55 * score.values.sizes["observer"]))
    for panel_ax, name in zip(axes, generators):
        panel = _panel(score.values, name)
        image = panel_ax.imshow(panel.values, vmin=0.0, vmax=1.0, cmap=cmap, aspect="auto", interpolation="nearest")
        layers = [str(v) for v in panel["layer"].values]
        observers = [str(v) for v in panel["observer"].values]
        long = max(map(len, layers), default=0) > 4
        panel_ax.set_xticks(np.arange(len(layers)), layers, rotation=45 if long else 0,
                            ha="right" if long else "center")
        panel_ax.set_yticks(np.arange(len(observers)), observers)
        panel_ax.set_xlabel("generating layer")
        panel_ax.set_ylabel("observer")
        if annotate:
            for (i, j), value in np.ndenumerate(panel.values):
                panel_ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize="small",
                              color="black" if value > 0.5 else "white")
        if colorbar:
            figure.colorbar(image, ax=panel_ax).set_label("proportion correct")
        panel_ax.set_title(title if title is not None else f"metamers of {name}{_chance_text(score)}")
    return figure


def plot_recognisability_curves(
    score: Score,
    *,
    generator: str | None = None,
    ax: Axes | None = None,
    chance: bool = True,
    bands: bool = True,
    colors: Any = None,
    title: str | None = None,
) -> Figure:
    """Recognisability per generating layer, one line per observer, with CI bands and the chance level.

    Parameters
    ----------
    score : Score
        From :func:`~neuroalign.metamers.recognition.recognisability`.
    generator : str, optional
        Draw only this generator.
    ax : matplotlib.axes.Axes, optional
        Draw into this axes (one generator only); default: a new figure with
        one panel per generator.
    chance : bool
        Draw the chance level (``score.params["chance"]``) as a dashed line.
    bands : bool
        Shade each observer's confidence interval (when the score has one).
    colors : sequence of colors, optional
        One per observer (default: matplotlib's cycle).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.metamers.recognition import recognisability
    >>> from neuroalign.plot.recognisability import plot_recognisability_curves
    >>> images = np.zeros((4, 1, 2, 2), dtype=np.float32)
    >>> score = recognisability({"conv1": images, "fc": images}, [0, 1, 0, 1],
    ...                         {"right": lambda x: np.array([0, 1, 0, 1])}, n_bootstrap=10)
    >>> ax = plot_recognisability_curves(score).axes[0]
    >>> [line.get_label() for line in ax.get_lines()]
    ['right', 'chance (0.50)']
    """
    generators = _checked(score, generator, ax)
    figure, axes = _axes(ax, len(generators), (1.8 + 0.8 * score.values.sizes["layer"], 4.0))
    level = score.params.get("chance")
    for panel_ax, name in zip(axes, generators):
        panel = _panel(score.values, name)
        layers = [str(v) for v in panel["layer"].values]
        x = np.arange(len(layers))
        for k, observer in enumerate(panel["observer"].values):
            color = colors[k] if colors is not None else f"C{k % 10}"
            y = panel.sel(observer=observer).values
            panel_ax.plot(x, y, "o-", color=color, label=str(observer))
            if bands and score.ci is not None:
                low, high = (_panel(bound, name).sel(observer=observer).values for bound in score.ci)
                panel_ax.fill_between(x, low, high, color=color, alpha=0.2, linewidth=0)
        if chance and level is not None:
            panel_ax.axhline(float(level), color="0.4", linestyle="--", label=f"chance ({float(level):.2f})")
        panel_ax.set_xticks(x, layers, rotation=45 if max(map(len, layers), default=0) > 4 else 0)
        panel_ax.set_ylim(-0.02, 1.02)
        panel_ax.set_xlabel("generating layer")
        panel_ax.set_ylabel("proportion correct")
        ci = f", bands: {int(round(score.ci_level * 100))}% CI" if bands and score.ci is not None else ""
        panel_ax.set_title(title if title is not None else f"metamers of {name}{ci}", fontsize="medium")
        panel_ax.legend(loc="best", fontsize="small")
    return figure
