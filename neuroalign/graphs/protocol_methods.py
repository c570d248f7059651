"""One task of the validation protocol: simulate a study, build its graphs, run some of the methods on it.

A task is a pure function of its scenario, seed and kind (and of the
:class:`~neuroalign.graphs.protocol_config.ProtocolConfig`): every random draw
comes from seeds derived from ``(seed, scenario)``, and the global torch state is
set from them and restored afterwards, so tasks give the same numbers in any
order, in one process or spread over several.
"""

from __future__ import annotations

import copy
import functools
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr
from sklearn.metrics import roc_auc_score

from ..errors import DataError
from .protocol_config import SCENARIOS, ProtocolConfig
from .subject_codes import EMBEDDINGS

__all__ = ["Task", "Study", "run_task", "study", "task_seeds", "TASK_METHODS"]

log = logging.getLogger(__name__)

#: Which methods each kind of task runs (A, B and F share one pretrained encoder).
TASK_METHODS = {"ssl": ("A", "B", "F"), "edge_free": ("G",), "supervised": ("E",), "fc": ("C", "D"),
                "ablation": ("A",)}


@dataclass(frozen=True)
class Task:
    """A unit of work: some methods on one simulated study.

    ``variant`` names an ablation (``"mask_ratio=0.25"``); ``"default"`` otherwise.
    """

    scenario: str
    seed: int
    kind: str
    variant: str = "default"
    override: tuple = ()


@dataclass(frozen=True)
class Study:
    """One simulated study: an unlabelled pretraining pool and a labelled pool split into train and test."""

    pretrain_timeseries: xr.DataArray
    labelled_timeseries: xr.DataArray
    subjects: np.ndarray
    group: np.ndarray
    dwell: np.ndarray
    train: np.ndarray
    test: np.ndarray
    model_seed: int


def task_seeds(scenario: str, seed: int) -> tuple[int, int, int]:
    """Independent seeds of the simulation, the train/test split and the models of one study."""
    state = np.random.SeedSequence([int(seed), SCENARIOS.index(scenario)]).generate_state(3)
    return int(state[0]), int(state[1]), int(state[2])


def _data_key(config: ProtocolConfig) -> tuple:
    return (config.n_pretrain, config.n_train, config.n_test, config.n_rois, config.n_volumes)


def study(config: ProtocolConfig, scenario: str, seed: int) -> Study:
    """The simulated study of ``scenario`` and ``seed`` (cached: the tasks of one study share it)."""
    return _study(scenario, int(seed), _data_key(config))


@functools.lru_cache(maxsize=2)
def _study(scenario: str, seed: int, key: tuple) -> Study:
    from ..datasets.dynamic_fc import simulate_dynamic_fc

    n_pretrain, n_train, n_test, n_rois, n_volumes = key
    data_seed, split_seed, model_seed = task_seeds(scenario, seed)
    simulated = simulate_dynamic_fc(scenario, n_subjects=n_pretrain + n_train + n_test, n_rois=n_rois,
                                    n_volumes=n_volumes, seed=data_seed)
    timeseries = getattr(simulated, "timeseries", simulated)
    pretrain, labelled = (timeseries.isel(subject=slice(0, n_pretrain)),
                          timeseries.isel(subject=slice(n_pretrain, None)))
    group = np.asarray(labelled["group"].values).astype(int)
    dwell = np.asarray(labelled["dwell_probability"].values, dtype=float)
    rng = np.random.default_rng(split_seed)
    train = []
    for value in (0, 1):
        members = np.flatnonzero(group == value)
        if members.size < n_train // 2 + 1:
            raise DataError(f"the labelled pool of scenario {scenario!r}, seed {seed} has {members.size} subjects "
                            f"of group {value}; {n_train // 2} are needed for training and more for testing",
                            source="n_train", fix="use a larger n_test or a smaller n_train")
        train.append(rng.choice(members, n_train // 2, replace=False))
    train = np.sort(np.concatenate(train))
    test = np.setdiff1d(np.arange(group.size), train)
    subjects = np.asarray(labelled["subject"].values)
    return Study(pretrain, labelled, subjects, group, dwell, train, test, model_seed)


@functools.lru_cache(maxsize=4)
def _graphs(scenario: str, seed: int, key: tuple, window: int, step: int, edges: str | None,
            features: tuple[str, ...]) -> tuple:
    from .dataset import ConnectivityGraphs
    from .spec import GraphSpec

    s = _study(scenario, seed, key)
    spec = GraphSpec(features=features) if edges is None else GraphSpec(edges=edges, features=features)
    statistics = "timeseries_stats" in features
    return tuple(ConnectivityGraphs.from_timeseries(ts, window=window, step=step, spec=spec, statistics=statistics)
                 for ts in (s.pretrain_timeseries, s.labelled_timeseries))


def graphs(config: ProtocolConfig, scenario: str, seed: int, edges: str | None = None) -> tuple:
    """The (pretraining, labelled) :class:`~neuroalign.graphs.dataset.ConnectivityGraphs` of a study.

    ``edges`` None: the default edge rule of :class:`~neuroalign.graphs.spec.GraphSpec`.
    """
    return _graphs(scenario, int(seed), _data_key(config), config.window, config.step, edges,
                   tuple(config.features))


def run_task(task: Task, config: ProtocolConfig) -> list[dict[str, Any]]:
    """The table rows (scenario, seed, method, variant, metric, value) of one task."""
    s = study(config, task.scenario, task.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(s.model_seed)  # anything drawn from torch's global generator is seeded per task
        values = _RUNNERS[task.kind](task, config, s)
    # keys (method, metric), or (method, metric, variant) for a variant scored within a default task
    return [dict(scenario=task.scenario, seed=task.seed, method=key[0], metric=key[1], value=float(value),
                 variant=key[2] if len(key) > 2 else task.variant)
            for key, value in values.items()]


def _pretrainer(config: ProtocolConfig, s: Study, **changes: Any):
    from .pretrainer import GraphMAEPretrainer

    params = config.pretrainer_params()
    params.update(changes)
    return GraphMAEPretrainer(**params, random_state=s.model_seed, progress=False)


def _probe(embeddings: xr.DataArray, target: np.ndarray, s: Study, config: ProtocolConfig, task: str) -> float:
    from .probes import probe

    # labels matched on subject ids, the split given as ids: nothing depends on the embeddings' row order
    score = probe(embeddings, pd.Series(target, index=s.subjects), task=task, train=s.subjects[s.train],
                  test=s.subjects[s.test], inner_splits=config.inner_splits, random_state=s.model_seed)
    return float(score)


def _probe_all(embeddings: xr.DataArray, s: Study, config: ProtocolConfig, method: str,
               regression: bool) -> dict[tuple[str, str], float]:
    out = {(method, "auroc"): _probe(embeddings, s.group, s, config, "classification")}
    if regression and config.regression:
        out[(method, "r2_dwell")] = _probe(embeddings, s.dwell, s, config, "regression")
    return out


def _run_ssl(task: Task, config: ProtocolConfig, s: Study) -> dict:
    pool, labelled = graphs(config, task.scenario, task.seed)
    out: dict = {}
    if "B" in config.methods:
        untrained = _pretrainer(config, s, epochs=0).fit(pool)
        out.update(_probe_all(untrained.transform(labelled), s, config, "B", regression=False))
    if "A" in config.methods or "F" in config.methods:
        pretrained = _pretrainer(config, s).fit(pool)
        if "A" in config.methods:
            out.update(_probe_all(pretrained.transform(labelled), s, config, "A", regression=True))
            for other in EMBEDDINGS:
                if other != config.embedding:  # the same encoder, the other embedding: a variant of A
                    embeddings = copy.copy(pretrained).set_params(embedding=other).transform(labelled)
                    out[("A", "auroc", f"embedding={other}")] = _probe(embeddings, s.group, s, config,
                                                                       "classification")
        if "F" in config.methods:
            out[("F", "auroc")] = _finetuned_auroc(pretrained, labelled, s, config)
    return out


def _run_edge_free(task: Task, config: ProtocolConfig, s: Study) -> dict:
    pool, labelled = graphs(config, task.scenario, task.seed, edges="none")
    model = _pretrainer(config, s).fit(pool)
    return _probe_all(model.transform(labelled), s, config, "G", regression=False)


def _run_supervised(task: Task, config: ProtocolConfig, s: Study) -> dict:
    _, labelled = graphs(config, task.scenario, task.seed)
    return {("E", "auroc"): _finetuned_auroc(None, labelled, s, config)}


def _run_fc(task: Task, config: ProtocolConfig, s: Study) -> dict:
    from ..loaders.functional_connectivity import connectivity
    from .fc_features import static_fc_features, window_variability_features

    out: dict = {}
    if "C" in config.methods:
        static = static_fc_features(connectivity(s.labelled_timeseries))
        out.update(_probe_all(static, s, config, "C", regression=True))
    if "D" in config.methods:
        dynamic = connectivity(s.labelled_timeseries, window=config.window, step=config.step)
        out.update(_probe_all(window_variability_features(dynamic), s, config, "D", regression=True))
    return out


def _run_ablation(task: Task, config: ProtocolConfig, s: Study) -> dict:
    pool, labelled = graphs(config, task.scenario, task.seed)
    model = _pretrainer(config, s, **dict(task.override)).fit(pool)
    return {("A", "auroc"): _probe(model.transform(labelled), s.group, s, config, "classification")}


def _finetuned_auroc(pretrained, labelled, s: Study, config: ProtocolConfig) -> float:
    from .finetune import GraphFineTuner

    encoder = {} if pretrained is not None else dict(hidden=config.hidden, n_layers=config.n_layers,
                                                     readout=config.readout, temporal=config.temporal)
    encoder["embedding"] = config.embedding
    tuner = GraphFineTuner(pretrained, task="classification", epochs=config.finetune_epochs, lr=config.finetune_lr,
                           batch_size=config.batch_size, random_state=s.model_seed, progress=False, **encoder)
    tuner.fit(labelled.subset(s.train), s.group[s.train])
    scores = np.asarray(tuner.decision_function(labelled.subset(s.test)), dtype=float)
    return float(roc_auc_score(s.group[s.test], scores))


_RUNNERS = {"ssl": _run_ssl, "edge_free": _run_edge_free, "supervised": _run_supervised, "fc": _run_fc,
            "ablation": _run_ablation}
