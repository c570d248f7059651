"""The diagnostic figure of a decorrelated triplet design.

Left: Δlow against Δhigh of the chosen triplets over a sample of the pool's,
with the bin grid and both correlations.  Right: the triplets per bin (a 2-D
histogram over the same grid).  Everything draws on given
:class:`matplotlib.axes.Axes` or builds a :class:`matplotlib.figure.Figure`;
nothing touches pyplot's global state.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..triplets.design import design_diagnostics

__all__ = ["plot_design_scatter", "plot_design_bins", "triplet_design_figure"]


def plot_design_scatter(design: pd.DataFrame, ax: Axes) -> Axes:
    """Δlow vs Δhigh of the chosen triplets (colour) over the pool's (grey), with the grid and r.

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from neuroalign.plot.triplet_design import plot_design_scatter
    >>> from neuroalign.triplets.design import correlation_similarity, design_triplets
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(60, 30))
    >>> design = design_triplets(correlation_similarity(x + rng.normal(size=x.shape)),
    ...                          correlation_similarity(x + rng.normal(size=x.shape)), bins=2, step=1.0)
    >>> ax = plot_design_scatter(design, Figure().subplots())
    >>> len(ax.collections)
    2
    """
    stats = design_diagnostics(design)
    edges_low, edges_high = np.asarray(design.attrs["edges_low"]), np.asarray(design.attrs["edges_high"])
    ax.scatter(design.attrs["pool_delta_low"], design.attrs["pool_delta_high"], s=4, color="0.75",
               edgecolors="none", label=f"pool sample (r = {stats['pool_r']:.2f})", zorder=1)
    ax.scatter(design["delta_low"], design["delta_high"], s=18, color="C3", edgecolors="none",
               label=f"chosen, n = {stats['n_triplets']} (r = {stats['r']:.3f})", zorder=3)
    for e in edges_low:
        ax.axvline(e, color="0.55", lw=0.5, zorder=2)
    for e in edges_high:
        ax.axhline(e, color="0.55", lw=0.5, zorder=2)
    pad_low, pad_high = np.diff(edges_low)[0], np.diff(edges_high)[0]
    ax.set(xlim=(edges_low[0] - pad_low, edges_low[-1] + pad_low),
           ylim=(edges_high[0] - pad_high, edges_high[-1] + pad_high),
           xlabel="Δ similarity, low-level space", ylabel="Δ similarity, high-level space",
           title=f"{design.attrs['task']}: r(Δlow, Δhigh) = {stats['r']:.3f}")
    ax.legend(loc="upper left", fontsize="small", frameon=True)
    return ax


def plot_design_bins(design: pd.DataFrame, ax: Axes) -> Axes:
    """Triplets per bin over the grid (a 2-D histogram), each bin labelled with its count.

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from neuroalign.plot.triplet_design import plot_design_bins
    >>> from neuroalign.triplets.design import correlation_similarity, design_triplets
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(60, 30))
    >>> design = design_triplets(correlation_similarity(x + rng.normal(size=x.shape)),
    ...                          correlation_similarity(x + rng.normal(size=x.shape)), bins=2, step=1.0)
    >>> ax = plot_design_bins(design, Figure().subplots())
    >>> ax.collections[0].get_array().tolist()  # rows: high-level bins, columns: low-level bins
    [[1.0, 1.0], [1.0, 1.0]]
    """
    stats = design_diagnostics(design)
    n_low, n_high = design.attrs["bins"]
    counts = np.zeros((n_high, n_low))
    np.add.at(counts, (design["bin_high"].to_numpy(), design["bin_low"].to_numpy()), 1)
    edges_low, edges_high = np.asarray(design.attrs["edges_low"]), np.asarray(design.attrs["edges_high"])
    mesh = ax.pcolormesh(edges_low, edges_high, counts, cmap="viridis", vmin=0, vmax=max(counts.max(), 1))
    ax.figure.colorbar(mesh, ax=ax, label="triplets")
    if n_low * n_high <= 400:
        centres_low, centres_high = (edges_low[1:] + edges_low[:-1]) / 2, (edges_high[1:] + edges_high[:-1]) / 2
        for h in range(n_high):
            for lo in range(n_low):
                ax.text(centres_low[lo], centres_high[h], f"{counts[h, lo]:.0f}", ha="center", va="center",
                        fontsize="x-small", color="white" if counts[h, lo] == 0 else "black")
    ax.set(xlabel="Δ similarity, low-level space", ylabel="Δ similarity, high-level space",
           title=f"bins filled: {stats['bins_filled']} of {stats['bins_total']}, "
                 f"{stats['images_used']} images, " +
                 ("each used once" if stats["max_image_use"] == 1 else f"used up to {stats['max_image_use']} times"))
    return ax


def triplet_design_figure(design: pd.DataFrame, *, figsize: tuple[float, float] = (11.0, 4.8)) -> Figure:
    """The design's diagnostic figure: the scatter over the pool and the triplets per bin.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.plot.triplet_design import triplet_design_figure
    >>> from neuroalign.triplets.design import correlation_similarity, design_triplets
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(60, 30))
    >>> design = design_triplets(correlation_similarity(x + rng.normal(size=x.shape)),
    ...                          correlation_similarity(x + rng.normal(size=x.shape)), bins=2, step=1.0)
    >>> len(triplet_design_figure(design).axes)  # two panels and the colour bar
    3
    """
    fig = Figure(figsize=figsize, layout="constrained")
    scatter_ax, bins_ax = fig.subplots(1, 2)
    plot_design_scatter(design, scatter_ax)
    plot_design_bins(design, bins_ax)
    return fig
