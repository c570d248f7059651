"""The files of spike pretraining: the metrics table, loss histories and curves, rates and their figure.

Used by ``neuroalign spikes pretrain|evaluate`` and by
:func:`~neuroalign.pipelines.spike_pretraining.run_spike_pretraining`, so both
write the same files, each atomically (a temporary sibling renamed into place).

- ``metrics.csv``: one row per method (``true rates`` first on simulated data),
  columns ``co_bps`` (``forward_bps`` for the autoregressive model, whose rates are
  predictions from earlier windows; an empty cell where a metric does not apply) and,
  on simulated data, ``psth_r2``, ``behaviour_r2``, ``log_rate_r2``;
- ``history-<method>.csv`` and ``loss.png``: the trained models' losses per epoch;
- ``rates-<method>.nc``: the method's rates on the test trials (:func:`neuroalign.data.load` reads them);
- ``metrics.png``: the table as bars (the true rates as a dashed line);
- ``rates.png``: inferred against true rates of a few held-out neurons (simulated data).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..data.io import save, write_atomically

__all__ = ["score_methods", "write_run_files", "write_metrics", "write_history", "write_loss_curves", "owned_files"]


def owned_files(methods: Iterable[str]) -> list[str]:
    """Every file a run writes for ``methods`` (what ``overwrite`` removes; nothing else is touched)."""
    names = ["run.json", "metrics.csv", "metrics.png", "loss.png", "rates.png", "summary.json"]
    for method in methods:
        names += [f"{method}.pt", f"{method}-checkpoint.pt", f"history-{method}.csv", f"rates-{method}.nc"]
    return names


def score_methods(rates: Mapping[str, xr.DataArray], test: xr.DataArray, held_out: list[str], *, truth: Any = None,
                  train: xr.DataArray | None = None, estimators: Mapping[str, Any] | None = None,
                  condition: str = "condition", test_positions: np.ndarray | None = None,
                  train_positions: np.ndarray | None = None, forward: Collection[str] = ()) -> pd.DataFrame:
    """The NLB metrics of every method's test-trial rates, one row per method.

    ``co_bps`` is the co-smoothing bits per spike of the held-out neurons.  The
    methods named in ``forward`` read every neuron's earlier bins (the
    autoregressive model), so their rates of held-out neurons are not
    co-smoothed: they get ``forward_bps`` instead, the bits per spike of all
    neurons' rates predicted from earlier windows only, and no ``co_bps``.

    With ``truth`` (a :class:`~neuroalign.datasets.lorenz_spikes.SimulatedSpikes`),
    the true rates get a row of their own, and every row adds PSTH R², the
    behaviour-decoding R² (a ridge fitted on each method's training-trial rates,
    from ``estimators``) and the log-rate R² against the true rates.
    """
    from ..spikes.ground_truth import log_rate_r2
    from ..spikes.metrics import behaviour_r2, bits_per_spike, co_bps, psth_r2

    rows: dict[str, dict[str, float]] = {}
    methods = dict(rates)
    if truth is not None:
        methods = {"true rates": truth.rates.isel(presentation=test_positions), **methods}
    for method, method_rates in methods.items():
        row = ({"forward_bps": bits_per_spike(method_rates, test)} if method in forward
               else {"co_bps": co_bps(method_rates, test, held_out)})
        if truth is not None:
            train_rates = (truth.rates.isel(presentation=train_positions) if method == "true rates"
                           else estimators[method].transform(train))
            if condition:
                row["psth_r2"] = psth_r2(method_rates, truth.psth, condition=condition)
            row["behaviour_r2"] = behaviour_r2(train_rates, truth.behaviour.isel(presentation=train_positions),
                                               method_rates, truth.behaviour.isel(presentation=test_positions))
            row["log_rate_r2"] = log_rate_r2(method_rates, truth.rates.isel(presentation=test_positions))
        rows[method] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "method"
    columns = [c for c in ("co_bps", "forward_bps", "psth_r2", "behaviour_r2", "log_rate_r2") if c in table]
    return table[columns]


def write_metrics(metrics: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the metrics table as CSV (a ``method`` column first)."""
    return write_atomically(path, lambda tmp: metrics.reset_index().to_csv(tmp, index=False))


def write_history(out: Path, method: str, history: pd.DataFrame) -> Path:
    """Write a model's loss history as ``history-<method>.csv``."""
    return write_atomically(out / f"history-{method}.csv", lambda tmp: history.to_csv(tmp, index=False))


def write_loss_curves(out: Path) -> Path | None:
    """Draw ``loss.png`` from every ``history-<method>.csv`` in ``out`` (None when no model was trained)."""
    from ..plot.spike_training import spike_loss_curves_figure

    histories = {}
    for path in sorted(out.glob("history-*.csv")):
        history = pd.read_csv(path)
        if "loss" in history and len(history):
            histories[path.stem.removeprefix("history-")] = history
    if not histories:
        return None
    figure = spike_loss_curves_figure(histories)
    return write_atomically(out / "loss.png", lambda tmp: figure.savefig(tmp, format="png", dpi=110))


def write_run_files(out: Path, metrics: pd.DataFrame, rates: Mapping[str, xr.DataArray], *, truth: Any = None,
                    test_positions: np.ndarray | None = None, held_out: list[str] | None = None) -> None:
    """Write the metrics (table and bars), the loss curves, the rates and (simulated data) the rates figure.

    The rates figure shows the masked model's rates (or the first method's) of two held-in and two
    held-out neurons on three test trials, against the true rates and the counts.
    """
    from ..plot.spike_metrics import spike_metrics_figure
    from ..plot.spike_training import inferred_rates_figure

    write_metrics(metrics, out / "metrics.csv")
    bars = spike_metrics_figure(metrics)
    write_atomically(out / "metrics.png", lambda tmp: bars.savefig(tmp, format="png", dpi=110))
    for method, method_rates in rates.items():
        save(method_rates, out / f"rates-{method}.nc")
    write_loss_curves(out)
    if truth is not None and rates:
        method = "masked" if "masked" in rates else next(iter(rates))
        ids = [str(i) for i in rates[method].neuroid_id.values]
        held_out = [i for i in ids if i in set(held_out or [])]
        neurons = [i for i in ids if i not in set(held_out)][:2] + held_out[:2]
        figure = inferred_rates_figure(rates[method], truth.rates.isel(presentation=test_positions),
                                       truth.counts.isel(presentation=test_positions), neurons=neurons,
                                       trials=range(min(3, len(test_positions))))
        figure.suptitle(f"{method}: inferred (red) and true (dashed) rates on test trials", fontsize="small")
        write_atomically(out / "rates.png", lambda tmp: figure.savefig(tmp, format="png", dpi=110))
