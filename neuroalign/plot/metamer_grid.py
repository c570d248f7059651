"""A grid of metamer images: one row per generating layer, natural images in the first row."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ..errors import ConfigError

__all__ = ["plot_metamer_grid"]


def plot_metamer_grid(metamers: xr.DataArray, naturals: xr.DataArray | None = None, *,
                      stimulus_ids: list[str] | None = None, n_images: int = 8, cmap: str = "gray",
                      title: str | None = None) -> Figure:
    """Metamers of a few images at every layer, under the natural images they match.

    Parameters
    ----------
    metamers : xarray.DataArray
        Dims ``(layer, presentation, channel, row, col)`` with ``stimulus_id`` on
        ``presentation``; one or three channels, values in [0, 1].
    naturals : xarray.DataArray, optional
        ``(presentation, channel, row, col)`` with ``stimulus_id``: drawn as the
        first row, labelled ``natural``.
    stimulus_ids : list of str, optional
        The images to show (columns); default: the first ``n_images``.
    n_images : int
        Columns when ``stimulus_ids`` is not given.
    cmap : str
        Colour map of one-channel images.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.plot.metamer_grid import plot_metamer_grid
    >>> m = xr.DataArray(np.zeros((2, 3, 1, 4, 4)), dims=("layer", "presentation", "channel", "row", "col"),
    ...                  coords={"layer": ["a", "b"], "stimulus_id": ("presentation", ["x", "y", "z"])})
    >>> len(plot_metamer_grid(m, n_images=2).axes)
    4
    """
    dims = ("layer", "presentation", "channel", "row", "col")
    if not isinstance(metamers, xr.DataArray) or set(metamers.dims) != set(dims) or "stimulus_id" not in metamers.coords:
        raise ConfigError(f"metamers must be a DataArray with dims {dims} and a stimulus_id coordinate",
                          source="metamers", fix="stack each layer's metamers with xr.concat(..., dim='layer')")
    metamers = metamers.transpose(*dims).set_index(presentation="stimulus_id")
    ids = list(metamers["presentation"].values[:n_images]) if stimulus_ids is None else list(stimulus_ids)
    missing = [i for i in ids if i not in set(metamers["presentation"].values)]
    if missing or not ids:
        raise ConfigError(f"stimulus ids {missing[:3]} are not among the metamers" if missing else "no image to show",
                          source="stimulus_ids", fix="pass ids of the metamers' stimulus_id coordinate")
    rows = []
    if naturals is not None:
        rows.append(("natural", naturals.transpose(*dims[1:]).set_index(presentation="stimulus_id").sel(presentation=ids)))
    rows += [(str(layer), metamers.sel(layer=layer, presentation=ids)) for layer in metamers["layer"].values]
    figure = Figure(figsize=(0.9 * len(ids) + 0.9, 0.9 * len(rows) + (0.4 if title else 0.1)), layout="constrained")
    axes = np.asarray(figure.subplots(len(rows), len(ids), squeeze=False))
    for r, (name, images) in enumerate(rows):
        for c in range(len(ids)):
            image = np.clip(np.moveaxis(np.asarray(images.values[c], dtype=float), 0, -1), 0.0, 1.0)
            ax = axes[r, c]
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap=cmap, vmin=0.0, vmax=1.0,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize="small")
    if title:
        figure.suptitle(title, fontsize="medium")
    return figure
