"""Layer profile: a score per layer, with error bars and the noise-ceiling band."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..errors import ScoreError
from ..score import Score

__all__ = ["plot_layer_profile", "layer_profile_figure"]


def plot_layer_profile(
    score: Score,
    ax: Axes,
    *,
    dim: str | None = None,
    ceiling_band: tuple[float, float] | None = None,
    highlight: str | None = None,
    committed: Score | None = None,
    title: str | None = None,
) -> Axes:
    """Draw ``score`` against its ``dim`` with CI error bars and the ceiling.

    Parameters
    ----------
    score : Score
        A score with one dim, e.g. ``layer`` (:func:`~neuroalign.compare.rsa`,
        or :func:`~neuroalign.compare.evaluate_models` of layer RDMs).
    ax : matplotlib.axes.Axes
    dim : str, optional
        The dim along the x axis (default: the score's only dim).
    ceiling_band : (low, high), optional
        Shaded band of the ceiling's uncertainty; the ceiling itself is drawn
        as a dashed line when the score has one.
    highlight : str, optional
        A label to mark (e.g. the planted layer of a synthetic study).
    committed : Score, optional
        A :func:`~neuroalign.compare.commit_layer` score, drawn with its
        spread across splits at the layer chosen most often.
    title : str, optional

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from neuroalign import Score
    >>> from neuroalign.plot import plot_layer_profile
    >>> s = Score.concat([Score(0.2, ceiling=0.8), Score(0.5, ceiling=0.8)], "layer", ["a", "b"])
    >>> ax = plot_layer_profile(s, Figure().subplots())
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['a', 'b']
    """
    if dim is None and len(score.dims) == 1:
        dim = str(score.dims[0])
    if score.dims != (dim,):
        raise ScoreError(f"expected a score with a single dim{'' if dim is None else f' {dim!r}'}, got {score.dims}",
                         source="score", fix="select the other dims away with score.sel(...) first")
    labels = [str(v) for v in score.values[dim].values]
    x = np.arange(len(labels))
    y = score.values.values
    if score.ci is not None:
        low, high = score.ci[0].values, score.ci[1].values
        yerr = np.vstack([np.clip(y - low, 0, None), np.clip(high - y, 0, None)])
    elif score.error is not None:
        yerr = score.error.values
    else:
        yerr = None
    if score.ceiling is not None:
        ceiling = score.ceiling.values
        ceiling_line = np.broadcast_to(ceiling, y.shape)
        ax.plot(x, ceiling_line, "--", color="0.4", label="noise ceiling")
        if ceiling_band is not None:
            ax.fill_between(x, ceiling_band[0], ceiling_band[1], color="0.85", label="ceiling range")
    ax.errorbar(x, y, yerr=yerr, fmt="o-", capsize=3, color="C0", label=score.metric or "score")
    if highlight is not None and highlight in labels:
        i = labels.index(highlight)
        ax.plot(x[i], y[i], "*", markersize=16, color="C3", label=f"planted: {highlight}")
    if committed is not None and committed.params.get("layer") in labels:
        i = labels.index(committed.params["layer"])
        spread = None if committed.error is None else float(committed.error)
        ax.errorbar(x[i] + 0.15, float(committed), yerr=spread, fmt="D", capsize=3, color="C2",
                    label=f"committed ({committed.params['layer']}, held-out stimuli)")
    ax.set_xticks(x, labels)
    ax.set_xlabel(dim)
    ax.set_ylabel("score")
    ax.set_title(title or score.metric)
    ax.legend(loc="best", fontsize="small")
    return ax


def layer_profile_figure(scores: Sequence[Score], *, bands: Sequence[tuple[float, float] | None] | None = None,
                         highlight: str | None = None, committed: Sequence[Score | None] | None = None) -> Figure:
    """A figure with one layer-profile panel per score (no pyplot state involved).

    ``bands`` and ``committed`` give each panel its ceiling band and
    committed score (see :func:`plot_layer_profile`).
    """
    figure = Figure(figsize=(5 * len(scores), 4), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(scores)))
    bands = list(bands) if bands is not None else [None] * len(scores)
    committed = list(committed) if committed is not None else [None] * len(scores)
    for ax, score, band, chosen in zip(axes, scores, bands, committed):
        plot_layer_profile(score, ax, ceiling_band=band, highlight=highlight, committed=chosen)
    return figure
