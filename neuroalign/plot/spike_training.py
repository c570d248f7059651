"""Figures of spike-model training: loss curves and inferred against true rates.

Every figure is drawn on a :class:`matplotlib.figure.Figure` of its own;
nothing touches pyplot's global state.  The inputs are what
:mod:`neuroalign.spikes` returns: a model's ``history_`` (columns ``epoch``,
``loss``, optionally ``valid_loss``) and rate arrays ``(presentation,
neuroid, time_bin)`` in counts per bin.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from ..errors import AlignmentError, ConfigError, SchemaError
from ._runs import named_runs, run_history

__all__ = ["spike_loss_curves_figure", "inferred_rates_figure"]


def _history(run: Any, name: str) -> pd.DataFrame:
    return run_history(run, name, estimator="fitted spike model", example="MaskedSpikeModel(...).fit(counts)",
                       columns="epoch, loss, valid_loss")


def spike_loss_curves_figure(runs: Any, *, log_y: bool = False,
                             figsize: tuple[float, float] | None = None) -> Figure:
    """Training loss (solid) and validation loss (dashed) per epoch of one or several runs.

    Parameters
    ----------
    runs : fitted model, history DataFrame, or a sequence / mapping of them
        A mapping's keys name the runs in the legend.
    log_y : bool
        Logarithmic loss axis.
    figsize : (float, float), optional

    Examples
    --------
    >>> import pandas as pd
    >>> from neuroalign.plot.spike_training import spike_loss_curves_figure
    >>> history = pd.DataFrame({"epoch": [1, 2, 3], "loss": [0.5, 0.4, 0.35], "valid_loss": [0.45, 0.4, 0.38]})
    >>> fig = spike_loss_curves_figure({"masked": history})
    >>> [line.get_label() for line in fig.axes[0].lines]
    ['masked (training)', 'masked (validation)']
    """
    named = named_runs(runs, "run", single="model")
    fig = Figure(figsize=figsize or (5.0, 3.5), constrained_layout=True)
    ax = fig.add_subplot()
    for k, (name, run) in enumerate(named.items()):
        history = _history(run, name)
        colour = f"C{k % 10}"
        ax.plot(history["epoch"], history["loss"], color=colour, label=f"{name} (training)")
        if "valid_loss" in history and history["valid_loss"].notna().any():
            ax.plot(history["epoch"], history["valid_loss"], color=colour, linestyle="--",
                    label=f"{name} (validation)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("Poisson NLL per scored entry")
    if log_y:
        ax.set_yscale("log")
    ax.legend(frameon=False, fontsize="small")
    return fig


def _neuron_ids(rates: xr.DataArray, neurons: Any) -> list[str]:
    ids = [str(i) for i in rates.neuroid_id.values]
    if neurons is None or isinstance(neurons, (int, np.integer)):
        count = 4 if neurons is None else int(neurons)
        if count < 1:
            raise ConfigError(f"neurons must be at least 1, got {count}", source="neurons", fix="pass e.g. 4")
        return ids[:count]
    chosen = [str(i) for i in neurons]
    missing = [i for i in chosen if i not in ids]
    if missing:
        raise AlignmentError(f"neurons {missing[:5]} are not in rates", source="neurons",
                             fix=f"pick neuroid_ids of rates, e.g. {ids[:5]}")
    return chosen


def _trace(array: xr.DataArray | None, neuron: str, trial: int, name: str) -> np.ndarray | None:
    if array is None:
        return None
    ids = [str(i) for i in array.neuroid_id.values]
    if neuron not in ids:
        raise AlignmentError(f"{name} has no neuron {neuron!r}", source=name, fix="pass arrays of the same neurons")
    return np.asarray(array.isel(neuroid=ids.index(neuron), presentation=trial).values, dtype=float)


def inferred_rates_figure(rates: xr.DataArray, true_rates: xr.DataArray | None = None,
                          counts: xr.DataArray | None = None, *, neurons: Any = None,
                          trials: Sequence[int] = (0, 1, 2), figsize: tuple[float, float] | None = None) -> Figure:
    """Inferred rates (solid) against true rates (dashed) and counts (dots), one panel per neuron and trial.

    Parameters
    ----------
    rates : DataArray (presentation, neuroid, time_bin)
        Inferred rates, counts per bin.
    true_rates, counts : DataArray, optional
        The same trials (matched by position) and neurons (matched by ``neuroid_id``).
    neurons : int or list of str, optional
        The first ``neurons`` neurons of ``rates`` (default 4), or their ``neuroid_id``s.
    trials : sequence of int
        Presentation positions to draw (columns).
    figsize : (float, float), optional

    Examples
    --------
    >>> from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
    >>> from neuroalign.plot.spike_training import inferred_rates_figure
    >>> sim = simulate_lorenz_spikes(n_trials=8, n_bins=10, random_state=0)
    >>> fig = inferred_rates_figure(sim.rates, sim.rates, sim.counts, neurons=["n00", "n40"], trials=[0, 1])
    >>> len(fig.axes)
    4
    """
    if not isinstance(rates, xr.DataArray) or not {"presentation", "neuroid", "time_bin"} <= set(rates.dims):
        raise SchemaError("rates must be a (presentation, neuroid, time_bin) DataArray", source="rates",
                          fix="pass a spike model's transform(counts)")
    chosen = _neuron_ids(rates, neurons)
    trials = [int(t) for t in trials]
    n_trials = rates.sizes["presentation"]
    if not trials or any(t < 0 or t >= n_trials for t in trials):
        raise ConfigError(f"trials must be positions in 0 … {n_trials - 1}, got {trials}", source="trials",
                          fix="pass e.g. trials=[0, 1, 2]")
    time = (rates.time_bin_start.values if "time_bin_start" in rates.coords
            else np.arange(rates.sizes["time_bin"]))
    fig = Figure(figsize=figsize or (2.6 * len(trials), 1.8 * len(chosen)), constrained_layout=True)
    axes = fig.subplots(len(chosen), len(trials), sharex=True, squeeze=False)
    ids = [str(i) for i in rates.neuroid_id.values]
    held_out = rates.held_out.values if "held_out" in rates.coords else np.zeros(len(ids), dtype=bool)
    for row, neuron in enumerate(chosen):
        for col, trial in enumerate(trials):
            ax = axes[row, col]
            observed = _trace(counts, neuron, trial, "counts")
            if observed is not None:
                ax.plot(time, observed, ".", color="0.6", markersize=3, label="counts")
            truth = _trace(true_rates, neuron, trial, "true_rates")
            if truth is not None:
                ax.plot(time, truth, "--", color="k", linewidth=1, label="true rate")
            ax.plot(time, _trace(rates, neuron, trial, "rates"), color="C3", label="inferred rate")
            if row == 0:
                ax.set_title(f"trial {trial}", fontsize="small")
            if col == 0:
                held = " (held out)" if bool(held_out[ids.index(neuron)]) else ""
                ax.set_ylabel(f"{neuron}{held}\ncounts/bin", fontsize="small")
            if row == len(chosen) - 1:
                ax.set_xlabel("time (s)" if "time_bin_start" in rates.coords else "bin")
    axes[0, -1].legend(frameon=False, fontsize="x-small")
    return fig
