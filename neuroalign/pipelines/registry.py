"""Named benchmarks and named models, in Brain-Score's spirit: score a network against brain data by two names.

A :class:`Benchmark` is a data source, the stimuli it was measured on, an
analysis (a kind of :data:`~neuroalign.pipelines.analysis_kinds.ANALYSIS_KINDS`
with its parameters), and how its ceiling and citation read.  Benchmarks are
named ``<data>-<region or task>-<metric>``.  A :class:`ModelEntry` is a network
factory with its arguments, the layers to read and the preprocessing of the
stimuli.  :func:`benchmark_study` turns a model and a benchmark into a study
config (the format of ``pipelines/*.yaml``) that the engine runs; the user's
own saved array can replace the benchmark's data.

Examples
--------
>>> from neuroalign.pipelines.registry import BENCHMARKS, benchmark_study
>>> BENCHMARKS["kriegeskorte2008-hit-rsa"].kind
'rsa_models'
>>> study = benchmark_study("reference-net", "synthetic-planted-rsa")
>>> study["analyses"][0]["kind"], study["models"]["reference-net"]["layers"][:2]
('rsa', ['block1', 'block2'])
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, UnknownNameError
from .analysis_kinds import analysis_kind

if TYPE_CHECKING:
    import pandas

__all__ = ["Benchmark", "ModelEntry", "BENCHMARKS", "MODELS", "benchmark", "model_entry", "list_benchmarks",
           "benchmark_study"]

#: The layers of :class:`neuroalign.models.ReferenceNet` (as ``neuroalign.models.REFERENCE_LAYERS``, without torch).
_REFERENCE_LAYERS = ("block1", "block2", "block3", "block4", "fc", "readout")


@dataclass(frozen=True)
class Benchmark:
    """Brain data + the stimuli it was measured on + a metric with its ceiling.

    Attributes
    ----------
    name : str
        ``<data>-<region or task>-<metric>``.
    data : str
        The dataset, in words (for listings).
    brain : dict
        Data source spec of the brain data (:func:`neuroalign.pipelines.sources.load_data_source`).
    stimuli : dict
        Stimulus set spec (:func:`neuroalign.pipelines.sources.load_stimuli`).
    kind : str
        Analysis kind.
    params : dict
        The analysis' parameters (the kind's defaults fill the rest).
    metric : str
        The metric, in words.
    ceiling : str
        How the ceiling is estimated.
    citation : str
        Where the data come from.
    description : str
        One sentence.
    candidates : dict
        Extra data sources scored next to the model (fixed model RDMs of kind ``rsa_models``), name → spec.
    """

    name: str
    data: str
    brain: dict
    stimuli: dict
    kind: str
    params: dict
    metric: str
    ceiling: str
    citation: str
    description: str
    candidates: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ModelEntry:
    """A network a benchmark can score: factory, arguments, layers, preprocessing.

    Attributes
    ----------
    name : str
    factory : str
        ``"package.module:callable"`` or ``"path/file.py:callable"`` returning an ``nn.Module``.
    args : dict
        Keyword arguments of the factory.
    layers : tuple of str
        Layer names or patterns (:func:`neuroalign.extract.layers.resolve_layers`).
    preprocessing : dict
        ``resize``, ``center_crop``, ``normalize`` (as a study config's ``preprocessing``).
    weights : str, optional
        A state-dict file.
    description : str
    """

    name: str
    factory: str
    args: dict
    layers: tuple[str, ...]
    preprocessing: dict = field(default_factory=dict)
    weights: str | None = None
    description: str = ""


_SYNTHETIC_DATA = "synthetic: 4 subjects x 100 voxels, 96 images x 4 repetitions"
_SYNTHETIC = "neuroalign.datasets.synthetic (make_synthetic_study, seed 0)"
_SPLIT_HALF = "split-half over repetitions, Spearman-Brown corrected, mean of subjects"

BENCHMARKS: dict[str, Benchmark] = {entry.name: entry for entry in (
    Benchmark("synthetic-planted-rsa", _SYNTHETIC_DATA,
              {"loader": "synthetic_brain", "args": {"seed": 0}}, {"loader": "synthetic_stimuli", "args": {"seed": 0}},
              "rsa", {"n_bootstrap": 200, "n_splits": 10}, "RSA: Pearson r of correlation-distance RDMs",
              _SPLIT_HALF, _SYNTHETIC,
              "responses planted from ReferenceNet(seed=0).block3: each layer vs the planted geometry, "
              "mean of subjects, 95% stimulus-bootstrap CI"),
    Benchmark("synthetic-planted-cka", _SYNTHETIC_DATA,
              {"loader": "synthetic_brain", "args": {"seed": 0}}, {"loader": "synthetic_stimuli", "args": {"seed": 0}},
              "cka", {"n_bootstrap": 200, "n_splits": 10}, "linear CKA of patterns", _SPLIT_HALF, _SYNTHETIC,
              "responses planted from ReferenceNet(seed=0).block3, compared by linear CKA, mean of subjects, "
              "95% stimulus-bootstrap CI"),
    Benchmark("kriegeskorte2008-hit-rsa", "human IT fMRI RDMs: 4 subjects x 2 sessions, 92 images",
              {"loader": "kriegeskorte2008_hit"}, {"loader": "kriegeskorte2008_images"},
              "rsa_models", {"method": "tau-a", "rdm_method": "correlation", "bootstrap": "stimulus",
                             "n_bootstrap": 200},
              "RSA: Kendall's tau-a of correlation-distance RDMs",
              "noise ceiling of the 8 RDMs (lower: leave one out, upper: all)",
              "Kriegeskorte et al. (2008) Neuron 60:1126; ceiling: Nili et al. (2014) PLoS Comput Biol 10:e1003553",
              "the 92 object images vs human inferior temporal cortex (rsatoolbox's demo data): each layer's RDM "
              "vs the 8 session RDMs, 95% stimulus-bootstrap CI, pairwise tests of the layers"),
    Benchmark("taskfmri-synthetic-rsa", "synthetic task fMRI: 1 subject, 40 images x 4 runs, GLM betas, 150 voxels",
              {"loader": "task_fmri_patterns", "args": {"seed": 0}},
              {"loader": "task_fmri_stimuli", "args": {"seed": 0}},
              "rsa", {"n_bootstrap": 200, "n_splits": 10}, "RSA: Pearson r of correlation-distance RDMs",
              "split-half over runs, Spearman-Brown corrected",
              "neuroalign.datasets.task_fmri (make_task_fmri_study, seed 0); GLM: nilearn (LSA)",
              "NIfTI runs with one region planted from ReferenceNet(seed=0).block3, patterns estimated by a "
              "first-level GLM: each layer vs the region, 95% stimulus-bootstrap CI"),
)}

MODELS: dict[str, ModelEntry] = {entry.name: entry for entry in (
    ModelEntry("reference-net", "neuroalign.models:ReferenceNet", {"seed": 0}, _REFERENCE_LAYERS, {"resize": 32},
               description="neuroalign's small reference CNN (4 conv blocks, fc, readout), random weights of seed 0"),
)}


def list_benchmarks() -> pandas.DataFrame:
    """One row per benchmark: ``name``, ``data``, ``metric``, ``ceiling``, ``citation``.

    Examples
    --------
    >>> from neuroalign.pipelines.registry import list_benchmarks
    >>> list(list_benchmarks().columns)
    ['name', 'data', 'metric', 'ceiling', 'citation']
    """
    import pandas as pd

    return pd.DataFrame([{"name": b.name, "data": b.data, "metric": b.metric, "ceiling": b.ceiling,
                          "citation": b.citation} for b in BENCHMARKS.values()])


def benchmark(name: str, *, source: str | None = "benchmark") -> Benchmark:
    """The registered benchmark ``name``; an unknown name lists the close matches.

    Examples
    --------
    >>> from neuroalign.pipelines.registry import benchmark
    >>> benchmark("synthetic-planted-cka").metric
    'linear CKA of patterns'
    """
    if not isinstance(name, str) or name not in BENCHMARKS:
        raise UnknownNameError(str(name), BENCHMARKS, what="benchmark", source=source)
    return BENCHMARKS[name]


def model_entry(name: str, *, source: str | None = "model") -> ModelEntry:
    """The registered model ``name``; an unknown name lists the close matches (a factory spec has a ':')."""
    if not isinstance(name, str) or name not in MODELS:
        raise UnknownNameError(str(name), MODELS, what="model (or a 'package.module:factory' spec)", source=source)
    return MODELS[name]


def _label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "model"


def _model(model: str, layers: Sequence[str] | None, model_args: Mapping[str, Any] | None) -> tuple[str, dict]:
    if ":" in model and model not in MODELS:  # a factory spec: package.module:factory or path/file.py:factory
        if not layers:
            raise ConfigError(f"the model {model!r} is a factory: which layers to score is not known",
                              source="--layers", fix="name them, e.g. --layers block1 block2 (names or patterns)")
        return _label(model.rpartition(":")[2]), {"factory": model, "args": dict(model_args or {}),
                                                   "layers": list(layers)}
    entry = model_entry(model)
    spec = {"factory": entry.factory, "args": {**entry.args, **dict(model_args or {})},
            "layers": list(layers) if layers else list(entry.layers)}
    if entry.preprocessing:
        spec["preprocessing"] = dict(entry.preprocessing)
    if entry.weights:
        spec["weights"] = entry.weights
    return entry.name, spec


def benchmark_study(
    model: str,
    benchmark_name: str,
    *,
    brain_file: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    layers: Sequence[str] | None = None,
    model_args: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """A study config scoring ``model`` on a benchmark, as a dict in the format of ``pipelines/*.yaml``.

    Parameters
    ----------
    model : str
        A name of :data:`MODELS`, or a factory ``"package.module:factory"`` /
        ``"path/file.py:factory"`` (then ``layers`` is required).
    benchmark_name : str
        A name of :data:`BENCHMARKS`.
    brain_file : path-like, optional
        An array saved with :func:`neuroalign.data.save` that replaces the
        benchmark's brain data: patterns ``(presentation, neuroid)`` for
        ``rsa``/``cka``, RDMs ``(subject, pair)`` for ``rsa_models``, on the
        benchmark's stimuli (ids must match).
    out : path-like, optional
        Results folder (default ``neuroalign-results/<benchmark>/<model>``).
    layers : sequence of str, optional
        Layers to score (default: the model entry's).
    model_args : mapping, optional
        Keyword arguments of the factory (added to the entry's).
    seed : int
        The study's seed (bootstrap and splits).

    Returns
    -------
    dict
        With ``name``, ``stimuli``, ``data``, ``models``, one analysis named
        after the benchmark, and ``outputs``; check it with
        :func:`neuroalign.pipelines.study_files.study_from_dict`.

    Raises
    ------
    UnknownNameError
        An unknown benchmark or model name (close matches listed).
    ConfigError
        A factory spec without layers.

    Examples
    --------
    >>> from neuroalign.pipelines.registry import benchmark_study
    >>> study = benchmark_study("neuroalign.models:ReferenceNet", "kriegeskorte2008-hit-rsa", layers=["fc"],
    ...                         brain_file="my_rdms.nc")
    >>> study["data"]["brain"], study["models"]["ReferenceNet"]["layers"]
    ({'file': 'my_rdms.nc'}, ['fc'])
    """
    bench = benchmark(benchmark_name)
    model_name, model_spec = _model(model, layers, model_args)
    kind = analysis_kind(bench.kind)
    brain = {"file": os.fspath(brain_file)} if brain_file is not None else copy.deepcopy(bench.brain)
    analysis: dict[str, Any] = {"name": bench.name, "kind": bench.kind, "model": model_name, "stimuli": "stimuli",
                                "brain": "brain", "params": copy.deepcopy(bench.params)}
    if "candidates" in kind.requires or bench.candidates:
        analysis["candidates"] = list(bench.candidates)
    name = _label(f"{bench.name}.{model_name}")
    return {
        "name": name,
        "description": f"{model_name} on the benchmark {bench.name}: {bench.description}"
                       + (f" (brain data from {os.fspath(brain_file)})" if brain_file is not None else ""),
        "seed": int(seed),
        "stimuli": {"stimuli": copy.deepcopy(bench.stimuli)},
        "data": {"brain": brain, **copy.deepcopy(bench.candidates)},
        "models": {model_name: model_spec},
        "analyses": [analysis],
        "outputs": {"dir": os.fspath(out) if out is not None else str(Path("neuroalign-results") / bench.name
                                                                         / model_name),
                    "report": True},
    }
