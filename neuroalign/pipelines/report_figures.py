"""The figures of a study report, drawn with neuroalign.plot and returned as PNG bytes.

Each function builds a :class:`matplotlib.figure.Figure` (no pyplot state,
so any backend works; nothing is shown) and renders it at :data:`DPI`, so a
figure of ``figsize`` inches is ``figsize * DPI`` pixels.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ..errors import SchemaError
from ..plot import layer_profile_figure, model_comparison_figure, plot_model_comparison
from ..plot.rdm import plot_rdm
from ..score import Score

__all__ = ["DPI", "RDM_DIM", "ceiling_band", "figure_png", "layer_profile_png", "model_comparison_png",
           "rdm_panels_png"]

#: Resolution of every report figure (pixels per inch).
DPI = 100
#: The leading dim of ``rdms.nc``, one label per panel.
RDM_DIM = "rdm"
_PANEL_INCHES = 4.0  # width and height of one RDM panel
_PER_ROW = 3  # RDM panels per row
_BARS_INCHES = (8.0, 5.0)  # the size of model_comparison_figure's figure


def figure_png(figure: Figure) -> bytes:
    """The PNG bytes of ``figure`` at :data:`DPI`, its size kept (no tight bounding box).

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from neuroalign.pipelines.report_figures import figure_png
    >>> figure_png(Figure(figsize=(2, 1)))[:4]
    b'\\x89PNG'
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def ceiling_band(score: Score) -> tuple[float, float] | None:
    """The range of a score's ceiling: over its split-half splits, or between its two bounds.

    Split-half ceilings (:func:`neuroalign.compare.rsa`,
    :func:`neuroalign.compare.cka_sweep`) keep one value per subject and
    split in ``raw["ceiling_per_split"]``: the band is the range over splits
    of the mean over subjects.  A ceiling given as bounds spans
    ``[min(lower), max(upper)]``.  None when the score has neither.

    Examples
    --------
    >>> from neuroalign import Score
    >>> from neuroalign.pipelines.report_figures import ceiling_band
    >>> ceiling_band(Score(0.3, ceiling=(0.4, 0.6)))
    (0.4, 0.6)
    """
    raw = score.raw
    if isinstance(raw, xr.Dataset) and "ceiling_per_split" in raw and "split" in raw["ceiling_per_split"].dims:
        per_split = raw["ceiling_per_split"]
        per_split = per_split.mean([d for d in per_split.dims if d != "split"])
        return float(per_split.min()), float(per_split.max())
    bounds = score.ceiling_bounds
    if bounds is not None:
        return float(bounds[0].min()), float(bounds[1].max())
    return None


def layer_profile_png(score: Score, *, highlight: str | None = None, committed: Score | None = None) -> bytes:
    """A layer profile of a one-dim score (:func:`neuroalign.plot.layer_profile_figure`), with its ceiling band.

    ``highlight`` marks a layer, e.g. the planted layer of a synthetic study;
    ``committed`` adds a :func:`~neuroalign.compare.commit_layer` score at its layer.

    Examples
    --------
    >>> from neuroalign import Score
    >>> from neuroalign.pipelines.report_figures import layer_profile_png
    >>> s = Score.concat([Score(0.2, ceiling=0.8), Score(0.5, ceiling=0.8)], "layer", ["a", "b"])
    >>> layer_profile_png(s, highlight="b")[:4]
    b'\\x89PNG'
    """
    figure = layer_profile_figure([score], bands=[ceiling_band(score)], highlight=highlight, committed=[committed])
    return figure_png(figure)


def model_comparison_png(score: Score, *, pairwise: Score | None = None, title: str | None = None) -> bytes:
    """Model-comparison bars (:func:`neuroalign.plot.model_comparison_figure`), with the significant pairs.

    Only the given ``pairwise`` tests are drawn: without them the bars have
    no significance lines (no test is run here).

    Examples
    --------
    >>> from neuroalign import Score
    >>> from neuroalign.pipelines.report_figures import model_comparison_png
    >>> s = Score.concat([Score(0.2, ceiling=0.5), Score(0.4, ceiling=0.5)], "model", ["a", "b"])
    >>> model_comparison_png(s)[:4]
    b'\\x89PNG'
    """
    if pairwise is not None:
        return figure_png(model_comparison_figure(score, pairwise=pairwise, title=title))
    figure = Figure(figsize=_BARS_INCHES, layout="constrained")
    plot_model_comparison(score, figure.subplots(), sort=True, title=title)
    return figure_png(figure)


def rdm_panels_png(rdms: xr.DataArray, *, source: str = "rdms", categories: Any = None) -> bytes:
    """One heatmap per RDM of a stack with a leading ``rdm`` dim (:func:`neuroalign.plot.plot_rdm`), 3 per row.

    Each panel is titled with its ``rdm`` label.  ``categories`` defaults
    to a stimulus coordinate the RDMs carry (``category`` if there is one,
    else the first, e.g. ``family``), so that stimuli are grouped by it.

    Raises
    ------
    SchemaError
        ``rdms`` has no ``rdm`` dim.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import as_rdm
    >>> from neuroalign.pipelines.report_figures import rdm_panels_png
    >>> rdms = as_rdm(np.random.default_rng(0).random((2, 6)), ["s1", "s2", "s3", "s4"], form="vector",
    ...               dims=["rdm"]).assign_coords(rdm=["brain", "model"])
    >>> rdm_panels_png(rdms)[:4]
    b'\\x89PNG'
    """
    if RDM_DIM not in rdms.dims:
        raise SchemaError(f"the RDM stack has no {RDM_DIM!r} dim (dims: {list(rdms.dims)})", source=source,
                          fix=f"stack the RDMs along a dim {RDM_DIM!r} labelled with each panel's title")
    if categories is None:
        found = [str(c)[:-2] for c in rdms.coords if str(c).endswith("_a") and c != "stimulus_id_a"
                 and rdms[c].ndim == 1]
        categories = "category" if "category" in found else (found[0] if found else None)
    labels = [str(v) for v in rdms[RDM_DIM].values] if RDM_DIM in rdms.coords else \
        [str(i) for i in range(rdms.sizes[RDM_DIM])]
    n = len(labels)
    rows, columns = -(-n // _PER_ROW), min(n, _PER_ROW)
    figure = Figure(figsize=(_PANEL_INCHES * columns, _PANEL_INCHES * rows), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns)).ravel()
    for i, (ax, label) in enumerate(zip(axes, labels)):
        plot_rdm(rdms.isel({RDM_DIM: i}, drop=True), ax, categories=categories, title=label)
    for ax in axes[n:]:
        ax.set_axis_off()
    return figure_png(figure)
