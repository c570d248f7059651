"""Spike pretraining as a pipeline: binned spikes in, models fitted and scored against the baselines, a folder out.

``pipelines/spikes-lorenz-study.yaml`` runs the whole path on simulated ground
truth (:func:`~neuroalign.datasets.lorenz_spikes.simulate_lorenz_spikes`); with
``nwb:`` set it reads an NWB file's units around the trials of an intervals
table instead (``pipelines/spikes-human-nwb-study.yaml``).  The steps:

1. the binned counts ``(presentation, neuroid, time_bin)`` and the held-out
   neurons (named, or a seeded draw of ``held_out_fraction`` of the units);
2. a split of the trials into training and test trials (by trial, seeded);
3. each method of ``methods`` fitted on the training trials: the smoothing
   baseline, the trial-averaged PSTH, the masked model (NDT-style) and the
   autoregressive spike-token model (Neuroformer-style); the two models write
   their weights (``<method>.pt``) and resume from ``<method>-checkpoint.pt``
   when a run is killed;
4. every method's rates on the test trials, scored with the Neural Latents
   Benchmark metrics: co-smoothing bits per spike of the held-out neurons, and
   on simulated data also PSTH R², behaviour-decoding R² and the log-rate R²
   against the true rates, next to the true rates' own scores.

The output folder holds ``metrics.csv`` (one row per method) and ``metrics.png``, the models'
``history-<method>.csv`` and ``<method>.pt``, ``loss.png``, ``rates.png``
(inferred against true rates, simulated data only), ``rates-<method>.nc``
(test-trial rates, readable with :func:`neuroalign.data.load`) and ``summary.json``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..data.io import write_atomically
from ..data.provenance import provenance
from ..errors import ConfigError, UnknownNameError
from .config import read_config, resolve_settings
from .spike_data import SpikeData, check_same_data, read_run_record, write_run_record

__all__ = ["SPIKE_PRETRAINING_DEFAULTS", "SPIKE_METHODS", "SpikePretrainingResult", "run_spike_pretraining",
           "read_spike_pretraining_config", "check_spike_settings", "fit_method", "evaluate_methods",
           "evaluate_folder", "build_estimator", "SpikeData", "check_same_data", "write_run_record"]

log = logging.getLogger(__name__)

#: The methods a run can fit, in the order of the metrics table.
SPIKE_METHODS = ("smoothing", "psth", "masked", "tokens")

#: Every setting of the pipeline and its default (an analysis of kind ``spike_pretraining`` takes each as a param).
SPIKE_PRETRAINING_DEFAULTS: dict[str, Any] = {
    "out": "spike-pretraining",
    # the data: simulated (nwb empty), or an NWB file's units around the trials of an intervals table
    "nwb": "",                 # an NWB 2 file with a Units table
    "trials": "",              # its intervals table ("": 'trials', or the only table)
    "window_start": 0.0,       # seconds around each trial's start_time
    "window_stop": 1.0,
    "bin_size": 0.02,          # seconds
    "held_out": [],            # neuroid_ids to hold out ([]: the simulator's, or a seeded draw of the units)
    "held_out_fraction": 0.25,
    "condition": "condition",  # presentation coordinate grouping trials into conditions ("" : none)
    "n_trials": 1000,          # simulated: trials, bins, neurons, conditions
    "n_bins": 50,
    "n_held_in": 36,
    "n_held_out": 12,
    "n_conditions": 8,
    "methods": list(SPIKE_METHODS),
    "test_fraction": 0.2,
    # the masked model (MaskedSpikeModel)
    "masked_d_model": 64,
    "masked_layers": 2,
    "masked_mask_ratio": 0.25,
    "masked_epochs": 100,
    "masked_batch_size": 32,
    "masked_lr": 0.002,
    # the spike-token model (SpikeTokenModel)
    "tokens_window_bins": 5,
    "tokens_d_model": 32,
    "tokens_epochs": 8,
    "tokens_samples": 10,
    # run
    "seed": 0,
    "threads": 1,
    "overwrite": False,
    "progress": True,
}

_MODELS = ("masked", "tokens")
#: Methods whose rates read every neuron's earlier bins: scored by forward bits per spike, not co-smoothing.
_FORWARD = ("tokens",)


@dataclass
class SpikePretrainingResult:
    """What :func:`run_spike_pretraining` computed and where it wrote it.

    Attributes
    ----------
    metrics : pandas.DataFrame
        One row per method (and ``true rates`` on simulated data): ``co_bps``
        (``forward_bps`` for the autoregressive model) and, on simulated data,
        ``psth_r2``, ``behaviour_r2``, ``log_rate_r2``.
    estimators : dict
        The fitted estimators by method.
    rates : dict
        Each method's test-trial rates ``(presentation, neuroid, time_bin)``.
    counts : xarray.DataArray
        Every trial's counts.
    held_out : list of str
    train, test : numpy.ndarray
        Trial positions of the split.
    out : pathlib.Path
    """

    metrics: pd.DataFrame
    estimators: dict
    rates: dict
    counts: xr.DataArray
    held_out: list
    train: np.ndarray
    test: np.ndarray
    out: Path
    truth: Any = field(default=None, repr=False)


def check_spike_settings(values: dict[str, Any], source: str) -> dict[str, Any]:
    """The settings, checked together; ConfigError/UnknownNameError naming ``source`` and the key."""
    for method in values["methods"]:
        if method not in SPIKE_METHODS:
            raise UnknownNameError(method, SPIKE_METHODS, what="method", source=f"{source} (methods)")
    if not values["methods"]:
        raise ConfigError("methods is empty", source=f"{source} (methods)", fix=f"list some of {list(SPIKE_METHODS)}")
    for key in ("test_fraction", "held_out_fraction"):
        if not 0 < values[key] < 1:
            raise ConfigError(f"{key} must lie strictly between 0 and 1, got {values[key]}",
                              source=f"{source} ({key})", fix=f"set e.g. '{key}: {SPIKE_PRETRAINING_DEFAULTS[key]}'")
    for key in ("n_trials", "n_bins", "n_held_in", "n_held_out", "n_conditions", "threads", "masked_d_model",
                "masked_layers", "masked_batch_size", "tokens_window_bins", "tokens_d_model", "tokens_samples"):
        if values[key] < 1:
            raise ConfigError(f"{key} must be at least 1, got {values[key]}", source=f"{source} ({key})",
                              fix=f"set e.g. '{key}: {SPIKE_PRETRAINING_DEFAULTS[key]}'")
    for key in ("masked_epochs", "tokens_epochs"):
        if values[key] < 0:
            raise ConfigError(f"{key} must be at least 0, got {values[key]}", source=f"{source} ({key})",
                              fix=f"set e.g. '{key}: {SPIKE_PRETRAINING_DEFAULTS[key]}'")
    for key in ("bin_size", "masked_lr"):
        if not values[key] > 0:
            raise ConfigError(f"{key} must be positive, got {values[key]}", source=f"{source} ({key})",
                              fix=f"set e.g. '{key}: {SPIKE_PRETRAINING_DEFAULTS[key]}'")
    if not values["window_stop"] > values["window_start"]:
        raise ConfigError(f"the window [{values['window_start']}, {values['window_stop']}) is empty",
                          source=f"{source} (window_stop)", fix="set window_stop above window_start")
    if not values["nwb"]:  # the simulator bins at 10 ms with no trial window: these would be silently ignored
        changed = [key for key in ("bin_size", "window_start", "window_stop")
                   if values[key] != SPIKE_PRETRAINING_DEFAULTS[key]]
        if changed:
            raise ConfigError(f"{', '.join(changed)} apply to NWB data only; simulated trials have 10 ms bins",
                              source=f"{source} ({changed[0]})", fix="set nwb (a file), or leave them at their defaults")
    if values["trials"] and not values["nwb"]:
        raise ConfigError("trials names an NWB intervals table, but no nwb file is set", source=f"{source} (trials)",
                          fix="set nwb (a file), or leave trials empty to simulate")
    return values


def read_spike_pretraining_config(path: str | os.PathLike) -> dict[str, Any]:
    """The settings of a spike-pretraining YAML config, merged over :data:`SPIKE_PRETRAINING_DEFAULTS`, checked.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from neuroalign.pipelines.spike_pretraining import read_spike_pretraining_config
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.yaml"
    >>> _ = path.write_text("n_trials: 100\\nmethods: [smoothing]\\n")
    >>> config = read_spike_pretraining_config(path)
    >>> config["n_trials"], config["methods"], config["bin_size"]
    (100, ['smoothing'], 0.02)
    """
    return check_spike_settings(read_config(path, SPIKE_PRETRAINING_DEFAULTS), str(path))


def run_spike_pretraining(config: str | os.PathLike | Mapping[str, Any] | None = None, /,
                          **overrides: Any) -> SpikePretrainingResult:
    """Read (or simulate) binned spikes, fit every method on training trials, score them on test trials.

    Parameters
    ----------
    config : path-like or mapping, optional
        A YAML file of flat ``key: value`` settings, or the settings themselves;
        default :data:`SPIKE_PRETRAINING_DEFAULTS`.
    **overrides
        Settings that win over the config (e.g. ``out=``, ``progress=False``).

    Returns
    -------
    SpikePretrainingResult

    Raises
    ------
    UnknownNameError, ConfigError
        An unknown setting or a bad value; a checkpoint in ``out`` from other
        settings (``overwrite=True`` starts over).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from neuroalign.pipelines.spike_pretraining import run_spike_pretraining
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "report"
    >>> result = run_spike_pretraining({"n_trials": 60, "n_bins": 20, "methods": ["smoothing", "psth"]},
    ...                                out=out, progress=False)
    >>> result.metrics.index.tolist()
    ['true rates', 'smoothing', 'psth']
    """
    return _run(resolve_settings(config, overrides, SPIKE_PRETRAINING_DEFAULTS, read=read_spike_pretraining_config,
                                 check=check_spike_settings))


def _run(settings: dict[str, Any]) -> SpikePretrainingResult:
    from .._paths import check_writable

    out = check_writable(settings["out"], source="out", folder=True)
    _prepare(out, settings)
    data = SpikeData.from_settings(settings)
    if (out / "run.json").is_file():  # a resumed run: its checkpoints are only valid on the same data
        check_same_data(out, settings, data)
    else:
        write_run_record(out, settings, data)
    estimators = {method: fit_method(method, data, settings, out) for method in settings["methods"]}
    metrics, rates = evaluate_methods(data, estimators, settings, out)
    return SpikePretrainingResult(metrics, estimators, rates, data.counts, data.held_out, data.train, data.test,
                                  out, data.truth)


def fit_method(method: str, data: SpikeData, settings: Mapping[str, Any], out: Path | None) -> Any:
    """Fit ``method`` on the training trials; a model's weights go to ``out/<method>.pt``, its history too."""
    from .spike_reports import write_history

    log.info("fitting %s on %d training trials", method, len(data.train))
    estimator = build_estimator(method, settings, out)
    if method in _FORWARD:  # it models every neuron, held-out ones included (its score is forward_bps)
        estimator.fit(data.train_counts)
    else:
        estimator.fit(data.train_counts, held_out=data.held_out)
    if out is not None and method in _MODELS:
        estimator.save(out / f"{method}.pt")
        write_history(out, method, estimator.history_)
    return estimator


def evaluate_folder(out: str | os.PathLike, *, baselines: list[str] | None = None, threads: int = 1,
                    progress: bool = True) -> pd.DataFrame:
    """Score the models saved in a run folder (``<method>.pt``) and freshly fitted baselines on its test trials.

    Parameters
    ----------
    out : path-like
        A folder written by :func:`fit_method` (``neuroalign spikes pretrain``): ``run.json`` and model files.
    baselines : list of str, optional
        ``"smoothing"`` and/or ``"psth"``; default both (``psth`` only when the run has conditions).
    threads, progress
        torch threads and progress bars of the models' transforms.

    Returns
    -------
    pandas.DataFrame
        The metrics table (also written to ``out/metrics.csv``).
    """
    out = Path(out)
    record = read_run_record(out)
    settings = {**SPIKE_PRETRAINING_DEFAULTS, **record["data"], "out": str(out), "threads": threads,
                "progress": progress}
    data = SpikeData.from_settings(settings)
    check_same_data(out, settings, data)
    if baselines is None:
        baselines = ["smoothing"] + (["psth"] if settings["condition"] else [])
    estimators = {method: fit_method(method, data, settings, None) for method in baselines}
    for method in _MODELS:
        if (out / f"{method}.pt").is_file():
            estimators[method] = _model_class(method).load(out / f"{method}.pt", progress=progress, threads=threads)
    settings["methods"] = list(estimators)
    return evaluate_methods(data, estimators, settings, out)[0]


def evaluate_methods(data: SpikeData, estimators: Mapping[str, Any], settings: Mapping[str, Any],
                     out: Path) -> tuple[pd.DataFrame, dict[str, xr.DataArray]]:
    """Every estimator's test-trial rates scored (``metrics.csv``), the rates and figures written."""
    from .spike_reports import score_methods, write_run_files

    rates = {method: estimator.transform(data.test_counts) for method, estimator in estimators.items()}
    metrics = score_methods(rates, data.test_counts, data.held_out, truth=data.truth, train=data.train_counts,
                            estimators=estimators, condition=settings["condition"], test_positions=data.test,
                            train_positions=data.train, forward=[m for m in estimators if m in _FORWARD])
    write_run_files(out, metrics, rates, truth=data.truth, test_positions=data.test, held_out=data.held_out)
    summary = {"settings": dict(settings), "n_trials": int(data.counts.sizes["presentation"]),
               "n_neurons": int(data.counts.sizes["neuroid"]), "n_bins": int(data.counts.sizes["time_bin"]),
               "held_out": data.held_out, "n_train": len(data.train), "n_test": len(data.test),
               "metrics": json.loads(metrics.reset_index().to_json(orient="records")),
               **provenance(dict(settings), {"counts": data.fingerprint})}
    text = json.dumps(summary, indent=1, default=str)
    write_atomically(out / "summary.json", lambda tmp: Path(tmp).write_text(text))
    return metrics, rates


def _prepare(out: Path, settings: dict[str, Any]) -> None:
    from .spike_reports import owned_files

    if settings["overwrite"]:
        for name in owned_files(SPIKE_METHODS):
            if (out / name).is_file():
                (out / name).unlink()
    out.mkdir(parents=True, exist_ok=True)


def build_estimator(method: str, settings: Mapping[str, Any], out: Path | None) -> Any:
    """The unfitted estimator of ``method`` with the settings' parameters (checkpoints in ``out``)."""
    seed, progress, threads = settings["seed"], settings["progress"], settings["threads"]
    if method == "smoothing":
        from ..spikes.baselines import SmoothingBaseline

        return SmoothingBaseline(random_state=seed, progress=progress)
    if method == "psth":
        from ..spikes.baselines import PSTHBaseline

        if not settings["condition"]:
            raise ConfigError("the psth method needs conditions, but condition is empty",
                              source="condition", fix="set condition to a presentation coordinate, or drop psth")
        return PSTHBaseline(condition=settings["condition"])
    checkpoint = None if out is None else out / f"{method}-checkpoint.pt"
    cls = _model_class(method)
    if method == "masked":
        return cls(d_model=settings["masked_d_model"], n_layers=settings["masked_layers"],
                   mask_ratio=settings["masked_mask_ratio"], epochs=settings["masked_epochs"],
                   batch_size=settings["masked_batch_size"], lr=settings["masked_lr"], random_state=seed,
                   progress=progress, checkpoint=checkpoint, threads=threads)
    return cls(window_bins=settings["tokens_window_bins"], d_model=settings["tokens_d_model"],
               epochs=settings["tokens_epochs"], n_samples=settings["tokens_samples"], random_state=seed,
               progress=progress, checkpoint=checkpoint, threads=threads)


def _model_class(method: str) -> type:
    if method == "masked":
        from ..spikes.masked_model import MaskedSpikeModel

        return MaskedSpikeModel
    if method == "tokens":
        from ..spikes.autoregressive_model import SpikeTokenModel

        return SpikeTokenModel
    raise UnknownNameError(method, _MODELS, what="model", source="method")
