"""CKA heatmaps: layer × layer similarity between two networks (or within one)."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..errors import SchemaError

__all__ = ["plot_cka", "cka_figure"]


def _as_matrix(matrix: Any) -> xr.DataArray:
    if not isinstance(matrix, xr.DataArray):
        values = np.asarray(matrix, dtype=float)
        if values.ndim != 2:
            raise SchemaError(f"expected a 2-D layer × layer matrix, got shape {values.shape}", source="matrix",
                              fix="pass the result of neuroalign.compare.cka_matrix")
        matrix = xr.DataArray(values, dims=("layer_a", "layer_b"))
    if matrix.ndim != 2:
        raise SchemaError(f"expected a 2-D layer × layer matrix, got dims {matrix.dims}", source="matrix",
                          fix="select the other dims away with matrix.sel(...) first")
    return matrix


def _labels(matrix: xr.DataArray, dim: str) -> list[str]:
    if dim in matrix.coords:
        return [str(v) for v in matrix[dim].values]
    return [str(i) for i in range(matrix.sizes[dim])]


def plot_cka(
    matrix: Any,
    ax: Axes,
    *,
    label_a: str | None = None,
    label_b: str | None = None,
    vmin: float | None = 0.0,
    vmax: float | None = 1.0,
    cmap: str = "magma",
    annotate: bool | None = None,
    colorbar: bool = True,
    title: str | None = None,
) -> Axes:
    """Draw a layer × layer CKA matrix as a heatmap, rows = ``layer_a``, columns = ``layer_b``.

    Parameters
    ----------
    matrix : xarray.DataArray or array_like
        2-D, e.g. from :func:`neuroalign.compare.cka_matrix` or
        :meth:`neuroalign.compare.MinibatchCKA.compute`; its dims and
        coordinates give the axis labels and tick labels.
    ax : matplotlib.axes.Axes
    label_a, label_b : str, optional
        Axis labels (default: the dim names, e.g. ``layer_a``).
    vmin, vmax : float or None
        Colour limits; ``None`` scales to the data (debiased CKA can be < 0).
    cmap : str
    annotate : bool, optional
        Write the value in each cell (default: when both sides have ≤ 12 layers).
    colorbar : bool
        Add a colorbar labelled with the estimator (from ``matrix.attrs``).
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from neuroalign.compare import cka_matrix
    >>> from neuroalign.plot import plot_cka
    >>> x = np.random.default_rng(0).normal(size=(30, 4))
    >>> m = cka_matrix({"a": x, "b": x ** 2}, {"c": x + 1}, progress=False)
    >>> ax = plot_cka(m, Figure().subplots())
    >>> [t.get_text() for t in ax.get_yticklabels()], ax.get_xlabel()
    (['a', 'b'], 'layer_b')
    """
    matrix = _as_matrix(matrix)
    dim_a, dim_b = matrix.dims
    values = matrix.values
    image = ax.imshow(values, vmin=vmin, vmax=vmax, cmap=cmap, origin="upper", aspect="auto",
                      interpolation="nearest")
    rows, cols = _labels(matrix, dim_a), _labels(matrix, dim_b)
    ax.set_yticks(np.arange(len(rows)), rows)
    ax.set_xticks(np.arange(len(cols)), cols, rotation=45 if max(map(len, cols), default=0) > 3 else 0,
                  ha="right" if max(map(len, cols), default=0) > 3 else "center")
    ax.set_ylabel(label_a or str(dim_a))
    ax.set_xlabel(label_b or str(dim_b))
    if annotate is None:
        annotate = max(values.shape) <= 12
    if annotate:
        low, high = image.get_clim()
        middle = (low + high) / 2
        for (i, j), value in np.ndenumerate(values):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize="x-small",
                    color="black" if value > middle else "white")
    kernel = matrix.attrs.get("kernel", "linear")
    estimator = "debiased CKA" if matrix.attrs.get("debiased") else "CKA"
    if colorbar:
        bar = ax.figure.colorbar(image, ax=ax)
        bar.set_label(f"{estimator} ({kernel})")
    ax.set_title(title if title is not None else f"{estimator} ({kernel} kernel)")
    return ax


def cka_figure(matrix: Any, *, size: tuple[float, float] | None = None, **kwargs: Any) -> Figure:
    """A figure holding one CKA heatmap (no pyplot state involved); ``kwargs`` go to :func:`plot_cka`.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.plot import cka_figure
    >>> figure = cka_figure(np.eye(3), title="identity")
    >>> len(figure.axes)  # the heatmap and its colorbar
    2
    """
    shape = np.shape(matrix)
    if size is None:
        size = (min(2.0 + 0.55 * shape[-1], 14.0), min(1.5 + 0.5 * shape[0], 12.0)) if len(shape) == 2 else (6, 5)
    figure = Figure(figsize=size, layout="constrained")
    plot_cka(matrix, figure.subplots(), **kwargs)
    return figure
