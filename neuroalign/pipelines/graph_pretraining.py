"""Graph pretraining as a pipeline: a YAML config in, a report folder out.

``pipelines/graphs-simulated.yaml`` runs the whole path on a simulated study
(:func:`~neuroalign.datasets.dynamic_fc.simulate_dynamic_fc`); with
``timeseries:`` set it reads ROI time-series files instead.  The steps:

1. the subjects' ROI time series (simulated, or read from files with their labels);
2. sliding-window graphs (:meth:`ConnectivityGraphs.from_timeseries
   <neuroalign.graphs.dataset.ConnectivityGraphs.from_timeseries>`);
3. a train/test split of the subjects (stratified by the label for a classification);
4. pretraining on the training subjects only, without their labels
   (:class:`~neuroalign.graphs.pretrainer.GraphMAEPretrainer`, resumable
   through ``checkpoint.pt`` in the output folder: a rerun continues where a
   killed one stopped, with the same result);
5. embeddings of every subject (mean and standard deviation over windows);
6. a linear probe of the label, fitted on the training subjects and scored on
   the test subjects (:func:`~neuroalign.graphs.probes.probe`).

The output folder holds ``model.pt``, ``history.csv``, ``loss.png``,
``embeddings.nc``/``.csv``, ``probe.csv`` (without a label: no split, no
probe, pretraining on every subject) and ``summary.json``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..data.io import write_atomically
from ..data.provenance import provenance
from ..errors import ConfigError, UnknownNameError
from ..score import Score
from .config import read_config, resolve_settings

__all__ = ["GRAPH_PRETRAINING_DEFAULTS", "GraphPretrainingResult", "run_graph_pretraining",
           "read_graph_pretraining_config"]

log = logging.getLogger(__name__)

#: Every setting of the pipeline and its default (``pipelines/graphs-simulated.yaml`` documents each).
GRAPH_PRETRAINING_DEFAULTS: dict[str, Any] = {
    "out": "graph-pretraining",
    # the subjects: simulated, or read from files when `timeseries` is set
    "timeseries": "",          # a glob of ROI time-series files, one per subject ("" simulates)
    "repetition_time": 0.0,    # files: seconds per volume (0: from BIDS JSON sidecars)
    "exclude": [],             # files: columns to leave out (e.g. nuisance signals)
    "labels": "",              # files: a CSV/TSV with a subject (or participant_id) column and label columns
    "scenario": "dynamic-only",
    "n_subjects": 60,
    "n_rois": 20,
    "n_volumes": 200,
    # graphs
    "window": 30,              # volumes per window
    "step": 10,                # volumes between window starts
    "edges": "top_percent",
    "edge_value": 0.0,         # 0: the rule's default (top_k 5, top_percent 30, threshold 0.3)
    "features": ["fc_row"],
    # model and objective (GraphMAEPretrainer)
    "hidden": 32,
    "n_layers": 2,
    "mask_ratio": 0.5,
    "gamma": 2.0,
    "mask_scheme": "subject",
    "remask": True,
    "leak_fix": True,
    "centre": True,
    "embedding": "windows",    # subject embeddings: "windows" (window codes) or "nodes" (every ROI's code per layer)
    "n_views": 1,
    "latent_weight": 0.0,
    "epochs": 20,
    "batch_size": 16,
    "lr": 0.0005,
    # probe
    "label": "group",          # "" pretrains on every subject and skips the probe
    "task": "classification",
    "test_fraction": 0.5,
    "inner_splits": 3,
    # run
    "seed": 0,
    "threads": 1,
    "overwrite": False,
    "progress": True,
}

_TASKS = ("classification", "regression")
#: What a run writes in ``out`` (and ``overwrite`` removes).
_OWNED = ("model.pt", "checkpoint.pt", "history.csv", "loss.png", "embeddings.nc", "embeddings.csv", "probe.csv",
          "summary.json")


@dataclass
class GraphPretrainingResult:
    """What :func:`run_graph_pretraining` computed and where it wrote it.

    Attributes
    ----------
    pretrainer : GraphMAEPretrainer
        The fitted estimator.
    graphs : ConnectivityGraphs
        Every subject's graphs.
    embeddings : xarray.DataArray
        ``(subject, feature)`` embeddings of every subject, with the labels and a ``split`` coordinate.
    score : Score or None
        The probe of the label on the test subjects (None without a label).
    train, test : list
        Subject ids of the split (``train`` is every subject without a label).
    out : pathlib.Path
    """

    pretrainer: Any
    graphs: Any
    embeddings: xr.DataArray
    score: Score | None
    train: list
    test: list
    out: Path


def _check_settings(values: dict[str, Any], source: str) -> dict[str, Any]:
    from ..graphs.subject_codes import EMBEDDINGS

    if values["task"] not in _TASKS:
        raise UnknownNameError(values["task"], _TASKS, what="task", source=f"{source} (task)")
    if values["embedding"] not in EMBEDDINGS:
        raise UnknownNameError(values["embedding"], EMBEDDINGS, what="embedding", source=f"{source} (embedding)")
    if not 0 < values["test_fraction"] < 1:
        raise ConfigError(f"test_fraction must lie strictly between 0 and 1, got {values['test_fraction']}",
                          source=f"{source} (test_fraction)", fix="set e.g. 'test_fraction: 0.5'")
    for key in ("window", "step", "n_subjects", "n_rois", "n_volumes", "epochs", "threads"):
        minimum = 0 if key == "epochs" else 1
        if values[key] < minimum:
            raise ConfigError(f"{key} must be at least {minimum}, got {values[key]}", source=f"{source} ({key})",
                              fix=f"set e.g. '{key}: {GRAPH_PRETRAINING_DEFAULTS[key]}'")
    if values["labels"] and not values["timeseries"]:
        raise ConfigError("labels is a table for time-series files, but no timeseries is set", source=source,
                          fix="set timeseries (a glob of files), or leave labels empty to simulate")
    return values


def read_graph_pretraining_config(path: str | os.PathLike) -> dict[str, Any]:
    """The settings of a graph-pretraining YAML config, merged over :data:`GRAPH_PRETRAINING_DEFAULTS`, checked.

    Raises
    ------
    FileFormatError
        The file is missing or not YAML.
    UnknownNameError, ConfigError
        An unknown key, or a value of the wrong type or out of range (naming the file).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from neuroalign.pipelines.graph_pretraining import read_graph_pretraining_config
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.yaml"
    >>> _ = path.write_text("n_subjects: 20\\nepochs: 2\\n")
    >>> config = read_graph_pretraining_config(path)
    >>> config["n_subjects"], config["epochs"], config["scenario"]
    (20, 2, 'dynamic-only')
    """
    return _check_settings(read_config(path, GRAPH_PRETRAINING_DEFAULTS), str(path))


def run_graph_pretraining(config: str | os.PathLike | Mapping[str, Any] | None = None, /,
                          **overrides: Any) -> GraphPretrainingResult:
    """Simulate (or read) subjects, build their graphs, pretrain, embed and probe; write a report folder.

    Parameters
    ----------
    config : path-like or mapping, optional
        A YAML file such as ``pipelines/graphs-simulated.yaml``, or the settings
        themselves; default :data:`GRAPH_PRETRAINING_DEFAULTS`.
    **overrides
        Settings that win over the config (e.g. ``out=``, ``progress=False``).

    Returns
    -------
    GraphPretrainingResult

    Raises
    ------
    UnknownNameError, ConfigError
        An unknown setting or a bad value; a checkpoint in ``out`` from other
        settings (``overwrite=True`` starts over).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from neuroalign.pipelines import run_graph_pretraining
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "report"
    >>> result = run_graph_pretraining({"n_subjects": 12, "n_rois": 6, "n_volumes": 60, "window": 20,
    ...                                 "step": 10, "hidden": 8, "epochs": 2, "batch_size": 6, "inner_splits": 2},
    ...                                out=out, progress=False)
    >>> result.score.metric, sorted(p.name for p in out.glob("*.csv"))
    ('probe-auroc', ['embeddings.csv', 'history.csv', 'probe.csv'])
    """
    return _run(resolve_settings(config, overrides, GRAPH_PRETRAINING_DEFAULTS, read=read_graph_pretraining_config,
                                 check=_check_settings))


def _run(settings: dict[str, Any]) -> GraphPretrainingResult:
    from .._paths import check_writable
    from ..graphs.pretrainer import GraphMAEPretrainer
    from .graph_reports import write_embeddings, write_history, write_loss_curve, write_score

    out = check_writable(settings["out"], source="out", folder=True)
    _prepare(out, settings["overwrite"])
    graphs = _graphs(settings)
    train, test = _split(graphs, settings)
    pretrainer = GraphMAEPretrainer(
        hidden=settings["hidden"], n_layers=settings["n_layers"], mask_ratio=settings["mask_ratio"],
        gamma=settings["gamma"], mask_scheme=settings["mask_scheme"], remask=settings["remask"],
        leak_fix=settings["leak_fix"], centre=settings["centre"], embedding=settings["embedding"],
        n_views=settings["n_views"],
        latent_weight=settings["latent_weight"],
        epochs=settings["epochs"], batch_size=settings["batch_size"], lr=settings["lr"],
        random_state=settings["seed"], progress=settings["progress"], checkpoint=out / "checkpoint.pt",
        threads=settings["threads"])
    positions = pd.Index(graphs.subjects).get_indexer(train)
    pretrainer.fit(graphs.subset(positions))
    pretrainer.save(out / "model.pt")
    write_history(pretrainer.history_, out / "history.csv")
    write_loss_curve(pretrainer.history_, out / "loss.png")
    embeddings = pretrainer.transform(graphs)
    in_test = np.isin(embeddings["subject"].values, test)
    embeddings = embeddings.assign_coords(split=("subject", np.where(in_test, "test", "train")))
    write_embeddings(embeddings, out, "embeddings")
    score = None
    if settings["label"]:
        from ..graphs.probes import probe

        score = probe(embeddings, settings["label"], task=settings["task"], train=train, test=test,
                      seeds=(settings["seed"],), inner_splits=settings["inner_splits"], random_state=settings["seed"])
        write_score(score, out / "probe.csv")
    summary = {"settings": settings, "n_subjects": graphs.n_subjects, "n_windows": graphs.n_windows,
               "n_rois": graphs.n_rois, "n_train": len(train), "n_test": len(test),
               "epochs_trained": int(pretrainer.n_epochs_),
               "final_loss": float(pretrainer.history_["loss"].iloc[-1]) if len(pretrainer.history_) else None,
               "score": None if score is None else {"metric": score.metric, "value": float(score),
                                                    "ci": None if score.ci is None else [float(c) for c in score.ci]},
               **provenance(settings, {"connectivity": graphs.content_hash})}
    text = json.dumps(summary, indent=1, default=str)
    write_atomically(out / "summary.json", lambda tmp: Path(tmp).write_text(text))
    if score is not None:
        log.info("%s of %r on %d test subjects: %.3f", score.metric, settings["label"], len(test), float(score))
    return GraphPretrainingResult(pretrainer, graphs, embeddings, score, train, test, out)


def _prepare(out: Path, overwrite: bool) -> None:
    if overwrite:
        for name in _OWNED:
            if (out / name).is_file():
                (out / name).unlink()
    out.mkdir(parents=True, exist_ok=True)


def _graphs(settings: dict[str, Any]) -> Any:
    """Every subject's sliding-window graphs, with their labels."""
    from ..graphs.dataset import ConnectivityGraphs
    from ..graphs.spec import GraphSpec

    spec = GraphSpec(edges=settings["edges"], edge_value=settings["edge_value"] or None,
                     features=tuple(settings["features"]))
    labels = None
    if settings["timeseries"]:
        from .graph_inputs import labels_for, read_subject_timeseries

        ts = read_subject_timeseries(settings["timeseries"], repetition_time=settings["repetition_time"] or None,
                                     exclude=settings["exclude"], progress=settings["progress"])
        if settings["labels"]:
            labels = labels_for(ts["subject"].values, settings["labels"])
    else:
        from ..datasets.dynamic_fc import simulate_dynamic_fc

        ts = simulate_dynamic_fc(settings["scenario"], n_subjects=settings["n_subjects"], n_rois=settings["n_rois"],
                                 n_volumes=settings["n_volumes"], seed=settings["seed"]).timeseries
    return ConnectivityGraphs.from_timeseries(ts, window=settings["window"], step=settings["step"], spec=spec,
                                              labels=labels, statistics=spec.needs_extra)


def _split(graphs: Any, settings: dict[str, Any]) -> tuple[list, list]:
    """Training and test subject ids: stratified by the label for a classification, seeded."""
    from sklearn.model_selection import train_test_split

    ids = list(graphs.subjects.tolist())
    if not settings["label"]:
        return ids, []
    values = graphs.label(settings["label"])
    stratify = values if settings["task"] == "classification" else None
    try:
        train, test = train_test_split(np.asarray(graphs.subjects), test_size=settings["test_fraction"],
                                       random_state=settings["seed"], stratify=stratify)
    except ValueError as exc:
        raise ConfigError(f"cannot split {len(ids)} subjects with test_fraction={settings['test_fraction']} "
                          f"({exc})", source="test_fraction",
                          fix="use more subjects, or a test_fraction that leaves each class in both sets") from None
    return sorted(train.tolist()), sorted(test.tolist())
