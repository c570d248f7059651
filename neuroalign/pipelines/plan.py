"""From a study config to a task graph: what to compute, in which order, under which content keys.

Every data source and every (model, stimuli) extraction used by an analysis
becomes one task; an analysis becomes one scoring task per layer (kinds that
score layers one by one) and a task that combines them, or one task (kinds
that need every layer at once).  Each task's key digests its parameters, the
keys it reads and a fingerprint of what it reads from outside the study: the
contents of data files (:func:`.sources.source_fingerprint`) and a model's
weights and code (:func:`neuroalign.extract.model_hash`, computed here, in the
driver, so a changed checkpoint or class never reuses stale activations).

Examples
--------
>>> from neuroalign.pipelines.plan import Task, order_tasks
>>> a = Task("a" * 32, "data", "data:x", "m:f", {}, {})
>>> b = Task("b" * 32, "score", "rsa", "m:g", {}, {"brain": "a" * 32})
>>> [t.label for t in order_tasks({b.key: b, a.key: a}).values()]
['data:x', 'rsa']
"""

from __future__ import annotations

import graphlib
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from .analysis_kinds import analysis_kind
from .keys import content_key

__all__ = ["Task", "Plan", "plan_study", "order_tasks", "analysis_params"]


@dataclass(frozen=True)
class Task:
    """One step of a study: ``step(task, store, folder)`` writes its result under ``key``.

    ``params`` enter the key; ``inputs`` map a role (``"brain"``,
    ``"activations"``, ``"parts"``, …) to the key or keys it reads;
    ``where`` names the config entry for error messages (not in the key).
    """

    key: str
    kind: str
    label: str
    step: str
    params: dict
    inputs: dict
    where: str = ""

    @property
    def dependencies(self) -> list[str]:
        """The keys this task reads, in a fixed order."""
        keys: list[str] = []
        for value in self.inputs.values():
            keys.extend([value] if isinstance(value, str) else value)
        return keys

    def to_json(self) -> dict:
        return {"key": self.key, "kind": self.kind, "label": self.label, "step": self.step, "params": self.params,
                "inputs": self.inputs, "where": self.where}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> "Task":
        return cls(**value)


@dataclass
class Plan:
    """The tasks of a study in an order that runs every task after its inputs."""

    tasks: dict[str, Task]
    finals: dict[str, str]                  # analysis name -> key of the task holding its result
    inputs: dict[str, Any] = field(default_factory=dict)   # input name -> fingerprint (provenance)

    def by_label(self) -> dict[str, Task]:
        return {task.label: task for task in self.tasks.values()}


def order_tasks(tasks: Mapping[str, Task]) -> dict[str, Task]:
    """``tasks`` in dependency order; a cycle or a missing input is a :class:`ConfigError` naming the tasks."""
    sorter = graphlib.TopologicalSorter({key: task.dependencies for key, task in tasks.items()})
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError as exc:
        cycle = " → ".join(tasks[k].label if k in tasks else k for k in exc.args[1])
        raise ConfigError(f"the study's tasks form a cycle: {cycle}", source="study",
                          fix="make sure no analysis reads its own result, directly or through others") from None
    missing = [key for key in order if key not in tasks]
    if missing:
        needers = [t.label for t in tasks.values() if set(t.dependencies) & set(missing)]
        raise ConfigError(f"tasks {needers} read results that no task makes", source="study",
                          fix="define every data source, model and stimulus set the analyses name")
    return {key: tasks[key] for key in order}


class _Planner:
    def __init__(self, study: Any, source: str):
        self.study, self.source = study, source
        self.tasks: dict[str, Task] = {}
        self.inputs: dict[str, Any] = {}
        self._data: dict[str, str] = {}
        self._activations: dict[tuple[str, str], str] = {}

    def add(self, kind: str, label: str, step: str, params: dict, inputs: dict, fingerprint: Any = None,
            where: str = "") -> str:
        dependencies = Task("", kind, label, step, params, inputs).dependencies
        key = content_key(kind, {"step": step, **params}, dependencies, fingerprint)
        self.tasks.setdefault(key, Task(key, kind, label, step, params, inputs, where))
        return key

    def data(self, name: str) -> str:
        if name not in self._data:
            from .sources import source_fingerprint

            spec = _dumped(self.study.data[name])
            fingerprint = source_fingerprint(spec)
            self.inputs[f"data.{name}"] = fingerprint
            self._data[name] = self.add("data", f"data:{name}", "neuroalign.pipelines.steps_data:load_data",
                                        {"spec": spec}, {}, fingerprint, f"{self.source} (data.{name})")
        return self._data[name]

    def activations(self, model: str, stimuli: str) -> str:
        if (model, stimuli) not in self._activations:
            from .sources import source_fingerprint

            model_spec, stimulus_spec = _dumped(self.study.models[model]), _dumped(self.study.stimuli[stimuli])
            fingerprint = {"model": model_fingerprint(model_spec, f"{self.source} (models.{model})"),
                           "stimuli": source_fingerprint(stimulus_spec)}
            self.inputs[f"models.{model}"] = fingerprint["model"]
            self.inputs[f"stimuli.{stimuli}"] = fingerprint["stimuli"]
            params = {"model": model_spec, "model_name": model, "stimuli": stimulus_spec}
            self._activations[model, stimuli] = self.add(
                "activations", f"activations:{model}@{stimuli}", "neuroalign.pipelines.steps_data:extract_activations",
                params, {}, fingerprint, f"{self.source} (models.{model} on stimuli.{stimuli})")
        return self._activations[model, stimuli]

    def analysis(self, index: int, analysis: Any) -> str:
        kind = analysis_kind(analysis.kind, source=f"{self.source} (analyses[{index}].kind)")
        params = analysis_params(analysis, self.study)
        where = f"{self.source} (analyses[{index}])"
        common = {"analysis": analysis.name, "analysis_kind": kind.name, "params": params}
        inputs: dict[str, Any] = {}
        if analysis.brain:
            inputs["brain"] = self.data(analysis.brain)
        if getattr(analysis, "candidates", None):
            inputs["candidates"] = [self.data(name) for name in analysis.candidates]
            common["candidate_names"] = list(analysis.candidates)
        layers: list[str] = []
        if analysis.model:
            inputs["activations"] = self.activations(analysis.model, analysis.stimuli)
            layers = list(self.study.models[analysis.model].layers)
            common.update(model=analysis.model, layers=layers)
        if getattr(analysis, "reference_model", None):
            inputs["reference_activations"] = self.activations(analysis.reference_model, analysis.stimuli)
            common.update(reference_model=analysis.reference_model,
                          reference_layers=list(self.study.models[analysis.reference_model].layers))
        fingerprint = None
        if kind.fingerprint:  # the contents of files the params name (e.g. time series, judgements), computed here
            module, _, function = kind.fingerprint.partition(":")
            fingerprint = getattr(importlib.import_module(module), function)(params)
            self.inputs[f"analyses.{analysis.name}"] = fingerprint
        if not kind.per_layer:
            return self.add("score", analysis.name, kind.step, common, inputs, fingerprint, where=where)
        parts = [self.add("score", f"{analysis.name}:{layer}", kind.step, {**common, "layer": layer}, inputs,
                          fingerprint, where=where) for layer in layers]
        combine = {**common, "dim": "layer", "labels": layers}
        return self.add("combine", analysis.name, "neuroalign.pipelines.steps_scores:combine_layers", combine,
                        {**inputs, "parts": parts}, where=where)


def plan_study(study: Any, *, source: str = "study") -> Plan:
    """The task graph of a validated study config (:class:`.study_schema.StudyConfig`).

    Parameters
    ----------
    study : StudyConfig
    source : str
        The config file, for error messages.

    Returns
    -------
    Plan
    """
    planner = _Planner(study, source)
    finals = {analysis.name: planner.analysis(i, analysis) for i, analysis in enumerate(study.analyses)}
    return Plan(order_tasks(planner.tasks), finals, planner.inputs)


def analysis_params(analysis: Any, study: Any) -> dict:
    """An analysis's parameters as JSON, with ``seed`` defaulting to the study's."""
    params = _dumped(analysis.params)
    if params.get("seed") is None:
        params["seed"] = int(study.seed)
    return params


def model_fingerprint(spec: Mapping[str, Any], where: str) -> dict:
    """The model's :func:`~neuroalign.extract.model_hash` (weights, buffers, arguments, code) and its weights file's hash."""
    from ..data.provenance import hash_file
    from ..extract import model_hash
    from ..extract.models import load_model

    try:
        model = load_model(spec["factory"], weights=spec.get("weights"), kwargs=spec.get("args") or {})
    except ConfigError as exc:  # the factory's own error, re-sourced to the config entry
        raise ConfigError(exc.problem, source=where, fix=exc.fix) from exc
    weights = spec.get("weights")
    return {"model_hash": model_hash(model), "weights": hash_file(weights) if weights else None}


def _dumped(spec: Any) -> dict:
    return spec.model_dump(mode="json") if hasattr(spec, "model_dump") else dict(spec)
