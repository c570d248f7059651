"""Pipeline steps that score: one function per analysis kind of :mod:`.analysis_kinds`.

Each step reads its inputs from the store (activations lazily, from zarr),
calls the comparison function of :mod:`neuroalign.compare` that the kind
names, and writes ``score.nc`` (plus ``pairwise.nc`` and ``rdms.nc`` where the
kind has them) into its folder.  Per-layer kinds score one layer per task with
the analysis' seed, so their resamples and splits are those of one call over
every layer; :func:`combine_layers` stacks the layers.
"""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from ..score import Score
from .plan import Task
from .steps_data import read_activations, read_array
from .store import ResultsStore

__all__ = ["rsa_layer", "cka_layer", "encoding_layer", "commit", "rsa_models", "combine_layers", "read_score",
           "candidate_rdms", "stack_candidates", "save_rdms"]

_SCORE = "score.nc"


def read_score(store: ResultsStore, key: str) -> Score:
    """The score a scoring task stored."""
    return Score.load(store.folder(key) / _SCORE)


def _layer_inputs(task: Task, store: ResultsStore, layers: list[str]) -> tuple[dict[str, xr.DataArray], xr.DataArray]:
    return read_activations(store, task.inputs["activations"], layers), read_array(store, task.inputs["brain"])


def rsa_layer(task: Task, store: ResultsStore, out: Path) -> None:
    """:func:`neuroalign.compare.rsa` of one layer."""
    from ..compare import rsa

    p = task.params["params"]
    activations, brain = _layer_inputs(task, store, [task.params["layer"]])
    score = rsa(activations, brain, rdm_method=p["rdm_method"], comparison=p["comparison"], ceiling=p["ceiling"],
                n_bootstrap=p["n_bootstrap"], n_splits=p["n_splits"], seed=p["seed"])
    score.save(out / _SCORE)


def cka_layer(task: Task, store: ResultsStore, out: Path) -> None:
    """:func:`neuroalign.compare.cka_sweep` of one layer."""
    from ..compare import cka_sweep

    p = task.params["params"]
    activations, brain = _layer_inputs(task, store, [task.params["layer"]])
    score = cka_sweep(activations, brain, ceiling=p["ceiling"], n_bootstrap=p["n_bootstrap"], n_splits=p["n_splits"],
                      seed=p["seed"])
    score.save(out / _SCORE)


def encoding_layer(task: Task, store: ResultsStore, out: Path) -> None:
    """:func:`neuroalign.compare.encoding_score` of one layer (the folds are the analysis seed's)."""
    from ..compare import encoding_score

    p, layer = task.params["params"], task.params["layer"]
    activations, brain = _layer_inputs(task, store, [layer])
    score = encoding_score(activations[layer], brain, regression=p["regression"], cv=p["cv"], seed=p["seed"],
                           aggregate=p["aggregate"], ceiling=p["ceiling"], n_ceiling_splits=p["n_ceiling_splits"])
    if "layer" not in score.values.dims:
        score = Score.concat([score], "layer", [layer])
    score.save(out / _SCORE)


def commit(task: Task, store: ResultsStore, out: Path) -> None:
    """:func:`neuroalign.compare.commit_layer` over every layer of the model."""
    from ..compare import commit_layer

    p = task.params["params"]
    activations, brain = _layer_inputs(task, store, task.params["layers"])
    score = commit_layer({layer: activations[layer] for layer in task.params["layers"]}, brain, metric=p["metric"],
                         n_splits=p["n_splits"], test_size=p["test_size"], seed=p["seed"],
                         rdm_method=p["rdm_method"], comparison=p["comparison"])
    score.save(out / _SCORE)


def combine_layers(task: Task, store: ResultsStore, out: Path) -> None:
    """Stack the per-layer scores of an analysis along ``layer`` (and, for RSA, keep every layer's RDM)."""
    scores = [read_score(store, key) for key in task.inputs["parts"]]
    stack_layers(scores).save(out / _SCORE)
    if task.params["analysis_kind"] == "rsa":
        from ..compare import compute_rdm

        method = task.params["params"]["rdm_method"]
        activations = read_activations(store, task.inputs["activations"], task.params["labels"])
        rdms = [compute_rdm(activations[layer], method) for layer in task.params["labels"]]
        save_rdms(rdms, [f"layer {layer}" for layer in task.params["labels"]], out)


def stack_layers(scores: list[Score]) -> Score:
    """One score over every layer from one-layer scores; fields shared by all layers (a ceiling) must be equal."""
    datas = [s.data for s in scores]
    data = xr.concat(datas, dim="layer", data_vars="minimal", coords="minimal", compat="equals", join="exact")
    raws = [s.raw for s in scores]
    raw = None
    if all(r is not None for r in raws):
        options = {"data_vars": "minimal"} if isinstance(raws[0], xr.Dataset) else {}  # a DataArray has no data_vars
        raw = xr.concat(raws, dim="layer", coords="minimal", compat="equals", join="exact", **options)
    return scores[0]._replace(data, raw)


def candidate_rdms(task: Task, store: ResultsStore, rdm_method: str) -> tuple[list[str], list[xr.DataArray]]:
    """The candidate RDMs of a model-RDM analysis: fixed ones (data entries, one per ``model`` label) then layers'."""
    from ..compare import compute_rdm

    names: list[str] = []
    rdms: list[xr.DataArray] = []
    for name, key in zip(task.params.get("candidate_names", []), task.inputs.get("candidates", [])):
        array = read_array(store, key)
        if "model" in array.dims:
            names.extend(str(m) for m in array["model"].values)
            rdms.extend(array.isel(model=i, drop=True) for i in range(array.sizes["model"]))
        else:
            names.append(name)
            rdms.append(array)
    if "activations" in task.inputs:
        activations = read_activations(store, task.inputs["activations"], task.params["layers"])
        for layer in task.params["layers"]:
            names.append(f"{task.params['model']}.{layer}")
            rdms.append(compute_rdm(activations[layer], rdm_method))
    return names, rdms


def stack_candidates(names: list[str], rdms: list[xr.DataArray]) -> xr.DataArray:
    """One ``(model, pair)`` stack of candidate RDMs; their stimuli must match exactly."""
    stack = xr.concat([r.drop_vars([c for c in r.coords if "model" in r[c].dims or c == "model"], errors="ignore")
                       for r in rdms], dim="model", join="exact", coords="minimal", compat="override")
    return stack.assign_coords(model=names)


def rsa_models(task: Task, store: ResultsStore, out: Path) -> None:
    """:func:`neuroalign.compare.evaluate_models` of candidate RDMs (fixed, and/or a model's layers) + pairwise tests."""
    from ..compare import evaluate_models, pairwise_tests

    p = task.params["params"]
    brain = read_array(store, task.inputs["brain"])
    names, rdms = candidate_rdms(task, store, p["rdm_method"])
    score = evaluate_models(stack_candidates(names, rdms), brain, method=p["method"], bootstrap=p["bootstrap"],
                            n_bootstrap=p["n_bootstrap"], seed=p["seed"], ci_level=p["ci_level"])
    score.save(out / _SCORE)
    if p["pairwise_test"] is not None:
        pairs = pairwise_tests(score, test=p["pairwise_test"], correction=p["correction"], alpha=p["alpha"])
        pairs.save(out / "pairwise.nc")
    save_rdms(list(rdms), names, out)


def save_rdms(rdms: list[xr.DataArray], names: list[str], out: Path) -> None:
    from ..data.io import save

    stack = xr.concat(rdms, dim="rdm", join="exact", coords="minimal", compat="override")
    save(stack.assign_coords(rdm=names), out / "rdms.nc")
