"""Pipeline steps of representation analyses: one layer of one model, or a layer of a model against another's.

Each per-layer step reads one layer of the model's activations (and, for the
model-vs-model kinds, a layer of the ``reference_model``'s activations on the
same stimuli), calls the analysis of :mod:`neuroalign.geometry` or
:mod:`neuroalign.compare.matching` that its kind names with the analysis'
parameters and seed, and writes a ``score.nc`` with a ``layer`` dim;
:func:`~.steps_scores.combine_layers` stacks the layers.

Class labels and factors are presentation coordinates of the activations,
i.e. the metadata columns of the stimulus set (e.g. ``animate`` of the 92
images); a coordinate the activations lack is a :class:`~neuroalign.errors.ConfigError`
naming the analysis, the parameter and the coordinates there are.
"""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from ..data.schema import PRESENTATION
from ..errors import ConfigError
from ..score import Score
from .plan import Task
from .steps_data import read_activations
from .store import ResultsStore

__all__ = ["sparsity_layer", "activation_codes_layer", "abstraction_layer", "information_layer",
           "neuron_matching_layer", "relative_stitching_layer", "abstraction_score"]

_SCORE = "score.nc"


def _layer(task: Task, store: ResultsStore) -> xr.DataArray:
    layer = task.params["layer"]
    return read_activations(store, task.inputs["activations"], [layer])[layer]


def _reference_layer(task: Task, store: ResultsStore, name: str | None) -> xr.DataArray:
    """The reference model's layer ``name`` (default: the layer of the same name); an unknown one is named."""
    name = name or task.params["layer"]
    available = task.params["reference_layers"]
    if name not in available:
        param = "params.reference_layer" if task.params["params"].get("reference_layer") else "the layer's name"
        raise ConfigError(f"analysis {task.params['analysis']!r} ({task.params['analysis_kind']}) matches layer "
                          f"{task.params['layer']!r} of model {task.params['model']!r} to layer {name!r} of the "
                          f"reference model {task.params['reference_model']!r} ({param}), which it does not "
                          f"extract (it has {available})", source=task.where,
                          fix="set params.reference_layer to one of the reference model's layers, or add the "
                              "layer to its 'layers'")
    return read_activations(store, task.inputs["reference_activations"], [name])[name]


def _check_coords(task: Task, activations: xr.DataArray, names: list[str], param: str) -> None:
    """Every name is a presentation coordinate of the activations, else a ConfigError naming analysis and coord."""
    have = sorted(str(c) for c in activations.coords if activations[c].dims == (PRESENTATION,))
    for name in names:
        if name not in have:
            raise ConfigError(f"analysis {task.params['analysis']!r} ({task.params['analysis_kind']}): "
                              f"params.{param} names {name!r}, which is not a presentation coordinate of "
                              f"model {task.params['model']!r}'s activations (they have {have})", source=task.where,
                              fix=f"set params.{param} to one of {have} (the stimulus set's metadata columns)")


def _save(score: Score, layer: str, out: Path) -> None:
    if "layer" not in score.values.dims:
        score = Score.concat([score], "layer", [layer])
    score.save(out / _SCORE)


def sparsity_layer(task: Task, store: ResultsStore, out: Path) -> None:
    """:func:`neuroalign.geometry.sparsity.layer_sparsity` of one layer; dims ``(layer, measure)``."""
    from ..geometry.sparsity import layer_sparsity

    p, layer = task.params["params"], task.params["layer"]
    score = layer_sparsity({layer: _layer(task, store)}, measures=p["measures"], tol=p["tol"],
                           degenerate=p["degenerate"])
    _save(score, layer, out)


def activation_codes_layer(task: Task, store: ResultsStore, out: Path) -> None:
    """:func:`neuroalign.geometry.activation_codes.layer_code_statistics` of one layer; dims ``(layer, statistic)``."""
    from ..geometry.activation_codes import layer_code_statistics

    p, layer = task.params["params"], task.params["layer"]
    activations = _layer(task, store)
    if p["label"] is not None:
        _check_coords(task, activations, [p["label"]], "label")
    score = layer_code_statistics({layer: activations}, threshold=p["threshold"], label=p["label"])
    _save(score, layer, out)


def abstraction_score(activations: xr.DataArray, p: dict) -> Score:
    """CCGP, parallelism score and/or shattering dimensionality of one representation, as one ``measure`` dim.

    ``p`` holds an ``abstraction`` analysis's parameters.  The measures are
    labelled ``"ccgp:<factor>"``, ``"parallelism:<factor>"`` (one per factor)
    and ``"shattering_dimensionality"``, in that order, for the ``metric``
    chosen (or all three).

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.pipelines.analysis_kinds import analysis_kind
    >>> from neuroalign.pipelines.steps_representations import abstraction_score
    >>> rng = np.random.default_rng(0)
    >>> a, b = np.tile([0, 0, 1, 1], 10), np.tile([0, 1, 0, 1], 10)
    >>> x = np.outer(a, rng.normal(size=8)) + np.outer(b, rng.normal(size=8)) + 0.1 * rng.normal(size=(40, 8))
    >>> data = create_assembly(x, stimulus_id=range(40), presentation={"a": a, "b": b})
    >>> p = analysis_kind("abstraction").params(factors=["a", "b"], seed=0).model_dump()
    >>> abstraction_score(data, p).values.measure.values.tolist()
    ['ccgp:a', 'ccgp:b', 'parallelism:a', 'parallelism:b', 'shattering_dimensionality']
    """
    from ..geometry.abstraction import ccgp, parallelism_score, shattering_dimensionality

    metrics = ("ccgp", "parallelism", "shattering_dimensionality") if p["metric"] == "all" else (p["metric"],)
    labels, values, params = [], [], {}
    factors = list(p["factors"])
    if "ccgp" in metrics:
        s = ccgp(activations, factors, held_out=p["held_out"], n_held_out=p["n_held_out"],
                 max_splits=p["max_splits"], classifier=p["classifier"], C=p["C"], random_state=p["seed"])
        labels += [f"ccgp:{d}" for d in s.values["dichotomy"].values]
        values += s.values.values.tolist()
        params["ccgp"] = s.params
    if "parallelism" in metrics:
        s = parallelism_score(activations, factors)
        labels += [f"parallelism:{d}" for d in s.values["dichotomy"].values]
        values += s.values.values.tolist()
        params["parallelism"] = s.params
    if "shattering_dimensionality" in metrics:
        s = shattering_dimensionality(activations, factors, cv=p["cv"], max_dichotomies=p["max_dichotomies"],
                                      classifier=p["classifier"], C=p["C"], random_state=p["seed"])
        labels.append("shattering_dimensionality")
        values.append(float(s.values))
        params["shattering_dimensionality"] = s.params
    value = xr.DataArray(values, dims=("measure",), coords={"measure": labels})
    return Score(value, metric=f"abstraction-{p['metric']}", params={"factors": factors, **params})


def abstraction_layer(task: Task, store: ResultsStore, out: Path) -> None:
    """:func:`abstraction_score` of one layer; dims ``(layer, measure)``."""
    p, layer = task.params["params"], task.params["layer"]
    activations = _layer(task, store)
    _check_coords(task, activations, list(p["factors"]), "factors")
    _save(abstraction_score(activations, p), layer, out)


def information_layer(task: Task, store: ResultsStore, out: Path) -> None:
    """:func:`neuroalign.geometry.information.layers.layer_information` of one layer; dims ``(layer, quantity)``."""
    from ..geometry.information.layers import layer_information

    p, layer = task.params["params"], task.params["layer"]
    activations = _layer(task, store)
    _check_coords(task, activations, [p["label"]], "label")
    info = layer_information(activations, p["label"], method=p["method"], units=p["units"],
                             **information_options(p))
    value = xr.DataArray(info.values, dims=info.dims, coords={"quantity": info["quantity"].values})
    score = Score(value, metric=f"mutual-information-{p['method']}",
                  params={"units": p["units"], "method": p["method"], "label": p["label"], **information_options(p)})
    _save(score, layer, out)


def information_options(p: dict) -> dict:
    """The estimator options an ``information`` analysis sets (those left unset take the estimator's defaults)."""
    return {key: (list(value) if isinstance(value, tuple) else value)
            for key in ("bins", "value_range", "noise_variance", "bound")
            if (value := p.get(key)) is not None}


def neuron_matching_layer(task: Task, store: ResultsStore, out: Path) -> None:
    """:func:`neuroalign.compare.matching.neuron_matching.matching_profile` of one layer against the reference
    model's layer (of the same name, or ``reference_layer``); value dims ``(layer,)``, shuffles in ``raw``."""
    from ..compare.matching.neuron_matching import matching_profile

    p, layer = task.params["params"], task.params["layer"]
    reference = _reference_layer(task, store, p["reference_layer"])
    score = matching_profile({layer: _layer(task, store)}, {layer: reference}, matching=p["matching"],
                             absolute=p["absolute"], n_permutations=p["n_permutations"], random_state=p["seed"],
                             join=p["join"], constant=p["constant"], progress=False)
    _save(score, layer, out)


def relative_stitching_layer(task: Task, store: ResultsStore, out: Path) -> None:
    """:func:`neuroalign.compare.matching.relative_stitching.zero_shot_stitching` from one layer of the model
    (source, where the readout is trained) to the reference model's layer (target); dims ``(layer, applied_to)``."""
    from ..compare.matching.relative_stitching import zero_shot_stitching

    p, layer = task.params["params"], task.params["layer"]
    source = _layer(task, store)
    _check_coords(task, source, [p["label"]], "label")
    source = source.assign_coords(label=(PRESENTATION, source[p["label"]].values))
    target = _reference_layer(task, store, p["reference_layer"])
    score = zero_shot_stitching(source, target, anchors=p["anchors"], anchor_method=p["anchor_method"],
                                test_size=p["test_size"], relative=p["relative"], center=p["center"], C=p["C"],
                                random_state=p["seed"])
    _save(score, layer, out)
