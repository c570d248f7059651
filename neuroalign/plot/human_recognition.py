"""Recognition of model metamers per generating layer: humans against the network (Feather et al., 2023)."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..errors import DataError

__all__ = ["plot_human_recognition", "human_recognition_figure"]

logger = logging.getLogger(__name__)


def _summary(recognition: xr.DataArray, subject: str, within: str,
             observer: str) -> tuple[xr.DataArray, xr.DataArray, int]:
    """Mean and standard error of the mean across ``subject`` per (layer, observer)."""
    if not isinstance(recognition, xr.DataArray):
        raise DataError(f"expected an xarray.DataArray, got {type(recognition).__name__}", source="recognition",
                        fix="load one with neuroalign.loaders.feather2023.load_feather2023(path)")
    wanted = (subject, within, observer)
    if set(recognition.dims) != set(wanted):
        raise DataError(f"dims are {recognition.dims}, expected {wanted}", source="recognition",
                        fix="pass one model's array (participant × layer × observer_type), e.g. from "
                            "load_feather2023; select other dims away first")
    values = recognition.transpose(*wanted)
    if not np.isfinite(values.values).all():
        raise DataError(f"{int((~np.isfinite(values.values)).sum())} missing or infinite value(s)",
                        source="recognition",
                        fix=f"drop incomplete {subject}s first, e.g. recognition.dropna({subject!r})")
    n = values.sizes[subject]
    mean = values.mean(subject)
    if n < 2:
        logger.info("one %s only: no error bars", subject)
        return mean, xr.zeros_like(mean), n
    return mean, values.std(subject, ddof=1) / math.sqrt(n), n


def plot_human_recognition(
    recognition: xr.DataArray,
    ax: Axes,
    *,
    chance: float | None = None,
    title: str | None = None,
    subject: str = "participant",
    within: str = "layer",
    observer: str = "observer_type",
) -> Axes:
    """Draw recognition per generating layer for each observer type, mean ± SEM across participants.

    As in Feather et al.'s (2023) figures: the generating layers along the x
    axis (``natural_image`` first), proportion correct on the y axis, humans in
    black, the network in colour, and a dashed line at chance.

    Parameters
    ----------
    recognition : xarray.DataArray
        One model's data, dims ``(participant, layer, observer_type)``
        (:func:`~neuroalign.loaders.feather2023.load_feather2023`).
    ax : matplotlib.axes.Axes
    chance : float, optional
        Where to draw the chance line (default: ``recognition.attrs["chance"]``,
        1/16 for Feather's 16-way task; no line when neither is given).
    title : str, optional
        Default: the ``model`` and ``experiment`` coordinates.
    subject, within, observer : str
        The dims of participants, layers and observer types.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    DataError
        Other dims, or missing values.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from matplotlib.figure import Figure
    >>> from neuroalign.plot.human_recognition import plot_human_recognition
    >>> data = xr.DataArray(np.random.default_rng(0).uniform(size=(5, 3, 2)),
    ...                     dims=("participant", "layer", "observer_type"),
    ...                     coords={"layer": ["natural_image", "conv1", "fc"], "observer_type": ["human", "network"]},
    ...                     attrs={"chance": 1 / 16})
    >>> ax = plot_human_recognition(data, Figure().subplots())
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['natural_image', 'conv1', 'fc']
    """
    mean, sem, n = _summary(recognition, subject, within, observer)
    layers = [str(v) for v in (mean[within].values if within in mean.coords else range(mean.sizes[within]))]
    kinds = [str(v) for v in (mean[observer].values if observer in mean.coords else range(mean.sizes[observer]))]
    model = str(recognition["model"].values) if "model" in recognition.coords else None
    x = np.arange(len(layers))
    colours = iter(f"C{i}" for i in range(10))
    for i, kind in enumerate(kinds):
        human = kind.lower() == "human"
        colour = "black" if human else next(colours)
        label = "humans" if human else (f"{model} ({kind})" if model else kind)
        ax.errorbar(x, mean.isel({observer: i}).values, yerr=sem.isel({observer: i}).values, fmt="o-",
                    color=colour, capsize=3, markersize=4, label=f"{label}, n = {n}" if human else label)
    if chance is None:
        chance = recognition.attrs.get("chance")
    if chance is not None:
        ax.axhline(float(chance), color="0.5", ls="--", lw=1, label=f"chance ({float(chance):.3g})")
    ax.set_xticks(x, layers, rotation=60, ha="right", fontsize="small")
    ax.set_xlim(-0.5, len(layers) - 0.5)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("generating layer")
    ax.set_ylabel("proportion correct")
    if title is None and model is not None:
        experiment = recognition.coords.get("experiment")
        title = model if experiment is None else f"{model} (experiment {int(experiment)})"
    if title:
        ax.set_title(title, fontsize="medium")
    ax.legend(loc="center left", fontsize="x-small", frameon=False)
    return ax


def human_recognition_figure(
    recognitions: xr.DataArray | Sequence[xr.DataArray] | Mapping[str, xr.DataArray],
    *,
    ncols: int = 3,
    chance: float | None = None,
) -> Figure:
    """One :func:`plot_human_recognition` panel per model (no pyplot state involved).

    Parameters
    ----------
    recognitions : DataArray, sequence or mapping of DataArrays
        One model's array, or several (e.g. the dict of
        :func:`~neuroalign.loaders.feather2023.load_feather2023_experiment`);
        a mapping's keys become the panel titles.
    ncols : int
        Panels per row.
    chance : float, optional
        See :func:`plot_human_recognition`.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.plot.human_recognition import human_recognition_figure
    >>> data = xr.DataArray(np.random.default_rng(0).uniform(size=(4, 3, 2)),
    ...                     dims=("participant", "layer", "observer_type"))
    >>> len(human_recognition_figure({"a": data, "b": data}).axes)
    2
    """
    if isinstance(recognitions, xr.DataArray):
        panels = [(None, recognitions)]
    elif isinstance(recognitions, Mapping):
        panels = [(str(k), v) for k, v in recognitions.items()]
    else:
        panels = [(None, v) for v in recognitions]
    if not panels:
        raise DataError("no arrays to plot", source="recognitions", fix="pass at least one model's array")
    if ncols < 1:
        raise DataError(f"ncols must be at least 1, got {ncols}", source="ncols", fix="pass ncols=1 or more")
    cols = min(ncols, len(panels))
    rows = math.ceil(len(panels) / cols)
    figure = Figure(figsize=(4.2 * cols, 3.8 * rows), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, cols, squeeze=False)).ravel()
    for ax, (name, data) in zip(axes, panels):
        plot_human_recognition(data, ax, chance=chance, title=name)
    for ax in axes[len(panels):]:
        ax.remove()
    return figure
