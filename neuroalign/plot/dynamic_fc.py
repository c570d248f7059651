"""Dynamic connectivity of a few subjects: hidden states, BOLD series and sliding-window FC, one column each.

Draws on a :class:`matplotlib.figure.Figure` of its own; nothing touches pyplot's global state.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..errors import SchemaError

__all__ = ["dynamic_fc_subjects_figure", "within_region_fc"]


def within_region_fc(window_fc: xr.DataArray) -> xr.DataArray:
    """The mean correlation between distinct neuroids of the same region, in every window.

    Parameters
    ----------
    window_fc : xarray.DataArray
        ``(…, window, neuroid_a, neuroid_b)`` connectivity with ``region_a`` /
        ``region_b`` coords (``connectivity`` of a series with a ``region`` coord).

    Returns
    -------
    xarray.DataArray
        ``(…, window, region)``, regions in their order of first appearance.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.plot.dynamic_fc import within_region_fc
    >>> r = np.array([[[1, .5, 0], [.5, 1, 0], [0, 0, 1]]])
    >>> regions = ["v", "v", "m"]
    >>> fc = xr.DataArray(r, dims=("window", "neuroid_a", "neuroid_b"),
    ...                   coords={"region_a": ("neuroid_a", regions), "region_b": ("neuroid_b", regions)})
    >>> within_region_fc(fc).sel(region="v").values.tolist()
    [0.5]
    """
    for coord in ("region_a", "region_b"):
        if coord not in window_fc.coords:
            raise SchemaError(f"window_fc has no {coord!r} coord", source="window_fc",
                              fix="compute connectivity from a series with a 'region' coord on 'neuroid'")
    regions = np.asarray(window_fc["region_a"].values)
    names = list(dict.fromkeys(regions.tolist()))
    values = np.asarray(window_fc.transpose(..., "neuroid_a", "neuroid_b").values)
    means = []
    for name in names:
        member = regions == name
        pair = member[:, None] & member[None, :] & ~np.eye(regions.size, dtype=bool)
        means.append(values[..., pair].mean(axis=-1) if pair.any() else np.full(values.shape[:-2], np.nan))
    lead = [d for d in window_fc.dims if d not in ("neuroid_a", "neuroid_b")]
    coords = {k: c.variable for k, c in window_fc.coords.items() if set(c.dims) <= set(lead)}
    return xr.DataArray(np.stack(means, axis=-1), dims=(*lead, "region"), coords={**coords, "region": names},
                        name="within_region_fc")


def dynamic_fc_subjects_figure(timeseries: xr.DataArray, states: xr.DataArray, window_fc: xr.DataArray, *,
                               subjects: Sequence | None = None,
                               figsize: tuple[float, float] | None = None) -> Figure:
    """One column per subject: its hidden state, its BOLD series and its within-region window FC over time.

    Rows, sharing the time axis (seconds):

    1. the hidden state at each volume (state ``k`` in colour ``Ck``);
    2. the BOLD series as an image, neuroids down, with lines between regions;
    3. the mean within-region correlation of each window at the window's
       centre, region ``k`` (in order of appearance) in colour ``Ck``: in the
       simulator of :mod:`neuroalign.datasets.dynamic_fc` state ``k``
       strengthens the ``k``-th block, so colours match across rows.

    Parameters
    ----------
    timeseries : xarray.DataArray
        ``(subject, time, neuroid)``, with a ``region`` coord.
    states : xarray.DataArray
        ``(subject, time)`` integer states.
    window_fc : xarray.DataArray
        ``(subject, window, neuroid_a, neuroid_b)`` from ``connectivity(timeseries, window=..., step=...)``.
    subjects : sequence, optional
        Subjects to draw; default the first subject of each ``group`` (else the first two).
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from neuroalign.datasets.dynamic_fc import simulate_dynamic_fc
    >>> from neuroalign.loaders.functional_connectivity import connectivity
    >>> from neuroalign.plot.dynamic_fc import dynamic_fc_subjects_figure
    >>> sim = simulate_dynamic_fc(n_subjects=2, n_rois=6, n_volumes=80, seed=0)
    >>> fig = dynamic_fc_subjects_figure(sim.timeseries, sim.states, connectivity(sim.timeseries, window=20, step=4))
    >>> len(fig.axes)
    6
    """
    for array, dims, name in ((timeseries, ("subject", "time", "neuroid"), "timeseries"),
                              (states, ("subject", "time"), "states"),
                              (window_fc, ("subject", "window", "neuroid_a", "neuroid_b"), "window_fc")):
        if not isinstance(array, xr.DataArray) or set(array.dims) != set(dims):
            raise SchemaError(f"{name} must be a DataArray with dims {dims}", source=name,
                              fix="pass the simulation's timeseries and states and connectivity(..., window=...)")
    if subjects is None:
        if "group" in timeseries.coords:
            groups = timeseries["group"].values
            subjects = [timeseries["subject"].values[np.flatnonzero(groups == g)[0]] for g in np.unique(groups)]
        else:
            subjects = timeseries["subject"].values[:2].tolist()
    missing = [s for s in subjects if s not in timeseries.indexes["subject"]]
    if missing:
        raise SchemaError(f"subjects {missing} are not in the time series", source="subjects",
                          fix="pick subjects from timeseries['subject']")
    regional = within_region_fc(window_fc)
    fig = Figure(figsize=figsize or (4.2 * len(subjects), 6.5), layout="constrained")
    axes = fig.subplots(3, len(subjects), sharex=True, squeeze=False, height_ratios=(1, 2.2, 1.6))
    tr = float(timeseries.attrs.get("repetition_time", np.diff(timeseries["time"].values[:2])[0]))
    n_states = int(states.max()) + 1
    colours = ListedColormap([f"C{k % 10}" for k in range(n_states)])
    for column, subject in enumerate(subjects):
        ts = timeseries.sel(subject=subject).transpose("time", "neuroid")
        time = ts["time"].values
        state = states.sel(subject=subject).values
        top, middle, bottom = axes[:, column]
        top.imshow(state[None, :], aspect="auto", cmap=colours, vmin=-0.5, vmax=n_states - 0.5,
                   interpolation="nearest", extent=(time[0], time[-1] + tr, 0, 1))
        top.set(yticks=[], ylabel="state" if column == 0 else None)
        title = str(subject)
        if "group" in ts.coords:
            title += f" · group {ts['group'].item()}"
        if "dwell_probability" in ts.coords:
            title += f" · stay {float(ts['dwell_probability']):.2f}"
        top.set_title(title, fontsize=9)
        values = ts.values.T
        limit = float(np.abs(values).max()) or 1.0
        middle.imshow(values, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest",
                      extent=(time[0], time[-1] + tr, values.shape[0] - 0.5, -0.5))
        if "region" in ts.coords:
            region = ts["region"].values
            edges = np.flatnonzero(region[1:] != region[:-1])
            for edge in edges:
                middle.axhline(edge + 0.5, color="k", lw=0.6)
            bounds = np.concatenate([[-0.5], edges + 0.5, [region.size - 0.5]])
            middle.set_yticks((bounds[:-1] + bounds[1:]) / 2, [str(region[int(b + 0.5)]) for b in bounds[:-1]],
                              fontsize=7)
        middle.set(ylabel="BOLD by ROI" if column == 0 else None)
        one = regional.sel(subject=subject)
        centre = (one["window_start"].values + one["window_end"].values) / 2
        for k, name in enumerate(one["region"].values):
            bottom.plot(centre, one.sel(region=name).values, color=f"C{k}", lw=1.2, label=str(name))
        bottom.axhline(0, color="0.6", lw=0.6)
        bottom.set(xlabel="time (s)", ylabel="within-block r" if column == 0 else None)
    low = min(ax.get_ylim()[0] for ax in axes[2])
    high = max(ax.get_ylim()[1] for ax in axes[2])
    for ax in axes[2]:
        ax.set_ylim(low, high)
    axes[0, -1].legend(handles=[Patch(color=f"C{k % 10}", label=f"state {k + 1}") for k in range(n_states)],
                       fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    axes[2, -1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return fig
