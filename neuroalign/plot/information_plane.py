"""The information plane: each layer's I(X;T) against I(T;Y) over training epochs."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..errors import ConfigError

__all__ = ["plot_information_plane", "information_plane_figure"]

_DIMS = ("epoch", "layer", "quantity")


def _check_plane(plane: xr.DataArray) -> None:
    if not isinstance(plane, xr.DataArray) or set(plane.dims) != set(_DIMS):
        dims = getattr(plane, "dims", type(plane).__name__)
        raise ConfigError(f"expected an (epoch, layer, quantity) array, got {dims}", source="plane",
                          fix="pass the result of neuroalign.geometry.information.information_plane")
    missing = {"I_XT", "I_TY"} - {str(q) for q in plane["quantity"].values}
    if missing:
        raise ConfigError(f"the plane has no quantity {sorted(missing)}", source="plane",
                          fix="pass the result of neuroalign.geometry.information.information_plane")


def plot_information_plane(plane: xr.DataArray, ax: Axes, *, title: str | None = None,
                           cmap: str = "viridis") -> Axes:
    """Draw each layer's path through the information plane, its points coloured by epoch.

    Parameters
    ----------
    plane : xarray.DataArray
        ``(epoch, layer, quantity)`` from
        :func:`neuroalign.geometry.information.information_plane`.
    ax : matplotlib.axes.Axes
    title : str, optional
    cmap : str
        The colour map of epochs (first epoch at its low end).

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ConfigError
        ``plane`` lacks the dims or the quantities.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from matplotlib.figure import Figure
    >>> from neuroalign.plot.information_plane import plot_information_plane
    >>> plane = xr.DataArray(np.random.default_rng(0).uniform(size=(3, 2, 2)), dims=("epoch", "layer", "quantity"),
    ...                      coords={"epoch": [0, 1, 2], "layer": ["h1", "h2"], "quantity": ["I_XT", "I_TY"]})
    >>> ax = plot_information_plane(plane, Figure().subplots())
    >>> [line.get_label() for line in ax.get_lines()]
    ['h1', 'h2']
    """
    _check_plane(plane)
    plane = plane.transpose(*_DIMS)
    units = plane.attrs.get("units", "nats")
    epochs = plane["epoch"].values
    shade = np.linspace(0, 1, len(epochs))
    markers = "osD^v<>ph*"
    scatter = None
    for j, layer in enumerate(plane["layer"].values):
        x = plane.sel(layer=layer, quantity="I_XT").values
        y = plane.sel(layer=layer, quantity="I_TY").values
        ax.plot(x, y, "-", color="0.6", lw=1, label=str(layer), marker=markers[j % len(markers)], ms=0, zorder=1)
        scatter = ax.scatter(x, y, c=shade, cmap=cmap, marker=markers[j % len(markers)], s=36,
                             edgecolors="k", linewidths=0.4, zorder=2)
        ax.annotate(str(layer), (x[-1], y[-1]), xytext=(4, 4), textcoords="offset points", fontsize=8)
    if scatter is not None and len(epochs) > 1:
        colorbar = ax.figure.colorbar(scatter, ax=ax, ticks=[0, 1])
        colorbar.ax.set_yticklabels([f"epoch {epochs[0]}", f"epoch {epochs[-1]}"])
    method = plane.attrs.get("method")
    ax.set_xlabel(f"I(X;T) ({units})")
    ax.set_ylabel(f"I(T;Y) ({units})")
    ax.set_title(title if title is not None else "information plane" + (f" ({method})" if method else ""))
    return ax


def information_plane_figure(plane: xr.DataArray, *, title: str | None = None) -> Figure:
    """A new figure with :func:`plot_information_plane` of ``plane``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.plot.information_plane import information_plane_figure
    >>> plane = xr.DataArray(np.ones((2, 1, 2)), dims=("epoch", "layer", "quantity"),
    ...                      coords={"epoch": [0, 1], "layer": ["h"], "quantity": ["I_XT", "I_TY"]})
    >>> len(information_plane_figure(plane).axes)   # the plane and its epoch colour bar
    2
    """
    figure = Figure(figsize=(5.5, 4.2), layout="constrained")
    plot_information_plane(plane, figure.subplots(), title=title)
    return figure
