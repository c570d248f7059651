"""Guidance: train a network on its task plus an alignment term to a frozen guide network's layers.

"Training the untrainable" (Subramaniam et al., 2024) trains a target network
with ``task loss + λ × Σ alignment loss(target layer, guide layer)`` over
chosen layer pairs, the guide frozen.  :class:`GuidedTraining` does this with
the losses of :mod:`neuroalign.alignment.losses`; ``weight=0`` trains the
same network with the same data order and no guidance, the baseline to
compare with.  :func:`guide_alignment` measures the CKA of each layer pair on
held-out stimuli.

Layers are named as everywhere in neuroalign (exact names from
``model.named_modules()``, :func:`~neuroalign.extract.resolve_layers`) and
recorded with the extraction hooks (:class:`~neuroalign.extract.hooks.HookRecorder`).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch import nn

from ..compare.cka.core import cka
from ..data.provenance import provenance
from ..errors import ConfigError, DataError
from ..extract.extraction import extract
from ..extract.hooks import HookRecorder
from ..extract.layers import resolve_layers
from ..extract.stimuli import StimulusSet
from ..fitting.base import (check_fitted, check_int, check_number, check_threads, epoch_bar, forked_rng,
                            resolve_seed, seeded_generator, stream_seeds, threads_for)
from ..metamers.training import _tensors as labelled_tensors
from ..metamers.training import freeze
from ..score import Score
from .losses import MIN_BATCH, make_alignment_loss

__all__ = ["GuidedTraining", "guide_alignment", "resolve_layer_pairs"]

log = logging.getLogger(__name__)

#: The HookRecorder name of the model's own output (``get_submodule("")`` is the model).
_OUTPUT = ""


def resolve_layer_pairs(model: nn.Module, guide: nn.Module, layers: Any) -> list[tuple[str, str]]:
    """``(target layer, guide layer)`` pairs from a mapping ``{target: guide}`` or a sequence of pairs.

    Each name must select exactly one module (see :func:`~neuroalign.extract.resolve_layers`).

    Examples
    --------
    >>> from torch import nn
    >>> from neuroalign.alignment.guidance import resolve_layer_pairs
    >>> net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> resolve_layer_pairs(net, net, {"1": "0"})
    [('1', '0')]
    """
    if isinstance(layers, Mapping):
        pairs = list(layers.items())
    elif isinstance(layers, Sequence) and not isinstance(layers, str) and layers \
            and all(isinstance(p, Sequence) and not isinstance(p, str) and len(p) == 2 for p in layers):
        pairs = [tuple(p) for p in layers]
    else:
        raise ConfigError(f"layers must map target layers to guide layers, got {layers!r}", source="layers",
                          fix="pass e.g. layers={'relu3': 'relu1'} or [('relu3', 'relu1'), ...]")
    if not pairs:
        raise ConfigError("no layer pairs given", source="layers", fix="name at least one (target, guide) pair")
    resolved = []
    for target, guide_layer in pairs:
        names = [resolve_layers(model, target), resolve_layers(guide, guide_layer)]
        for found, given, side in zip(names, (target, guide_layer), ("model", "guide")):
            if len(found) != 1:
                raise ConfigError(f"{given!r} selects {len(found)} layers of the {side}: {found[:5]}",
                                  source="layers", fix="name exactly one layer per side of each pair")
        resolved.append((names[0][0], names[1][0]))
    return resolved


def _keep_with_graph(layer: str, output: Any) -> Any:
    """Record a layer's output with its gradient graph (a clone: later in-place operations cannot change it)."""
    if not isinstance(output, torch.Tensor):
        raise ConfigError(f"layer {layer!r} returns a {type(output).__name__}, not a tensor", source="layers",
                          fix="guide a module that returns one tensor")
    return output.clone()


def _single(outputs: dict[str, list[Any]], layer: str) -> torch.Tensor:
    if len(outputs[layer]) != 1:
        raise ConfigError(f"layer {layer!r} runs {len(outputs[layer])} times per forward pass", source="layers",
                          fix="guide a module that runs once per pass")
    return outputs[layer][0]


def _layer_activations(network: nn.Module, layers: list[str], inputs: torch.Tensor, batch_size: int
                       ) -> dict[str, torch.Tensor]:
    """A network's activations of every input without gradients (for the frozen guide: computed once)."""
    chunks: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    with torch.no_grad(), HookRecorder(network, layers) as recorder:
        for start in range(0, len(inputs), batch_size):
            outputs = recorder.run(inputs[start:start + batch_size])
            for name in layers:
                chunks[name].append(_single(outputs, name).reshape(len(outputs[name][0]), -1))
    return {name: torch.cat(parts) for name, parts in chunks.items()}


def _predict(model: nn.Module, inputs: torch.Tensor, batch_size: int = 512) -> np.ndarray:
    """The class of each input under ``model`` (no gradients; the model's mode is left as it is)."""
    with torch.no_grad():
        return np.concatenate([model(inputs[s:s + batch_size]).argmax(1).numpy()
                               for s in range(0, len(inputs), batch_size)])


def _held_out_scores(model: nn.Module, pairs: list[tuple[str, str]], inputs: torch.Tensor, targets: torch.Tensor,
                     guide_activations: dict[str, torch.Tensor]) -> dict[str, float]:
    """Accuracy and the linear CKA (:func:`neuroalign.compare.cka`, as :func:`guide_alignment`) of each pair on
    held-out images, in eval mode without gradients (the training mode restored)."""
    was_training = model.training
    model.eval()
    try:
        accuracy = float((_predict(model, inputs) == targets.numpy()).mean())
        activations = _layer_activations(model, sorted({t for t, _ in pairs}), inputs, 256)
    finally:
        model.train(was_training)
    unique = len({t for t, _ in pairs}) == len(pairs)  # else the guide's layer is named too
    return {"held_out_accuracy": accuracy,
            **{f"cka:{t}" if unique else f"cka:{t}:{g}": float(cka(activations[t].numpy(),
                                                                  guide_activations[g].numpy()))
               for t, g in pairs}}


class GuidedTraining:
    """Train a copy of ``model`` with cross-entropy plus ``weight`` × alignment losses to a frozen ``guide``.

    Parameters
    ----------
    model : torch.nn.Module
        The target network (returns logits); it is not changed: a deep copy
        is trained, starting from its weights.
    guide : torch.nn.Module
        The guide network; a frozen copy in eval mode is used.
    layers : mapping or sequence of pairs
        ``{target layer: guide layer}``: the pairs whose activations are aligned.
    loss : str or torch.nn.Module
        One of :data:`~neuroalign.alignment.losses.ALIGNMENT_LOSSES`
        (``"linear_cka"``, ``"rbf_cka"``, ``"debiased_cka"``, ``"rdm_correlation"``) or a loss module.
    loss_options : mapping, optional
        Keyword arguments of the named loss (e.g. ``{"threshold": 0.5}``).
    weight : float
        λ ≥ 0, the weight of the summed alignment losses.  0 trains without
        guidance (the alignment losses are still recorded in the history).
    epochs, batch_size : int
        Passes over the images and images per step.  The alignment term is
        left out of a last batch of fewer than 4 images.
    lr : float
        Adam's learning rate.
    random_state : int, optional
        Seeds the shuffling and torch's global generator during training (dropout).
    threads : int, optional
        torch threads while training (default 1, the fastest for small
        networks on few cores); None leaves torch's setting alone.
    progress : bool
        Show a bar over epochs.

    Attributes
    ----------
    model_ : torch.nn.Module
        The trained network, frozen, in eval mode.
    history_ : pandas.DataFrame
        Per epoch: ``task_loss``, ``alignment_loss`` (mean over pairs and
        batches), ``total_loss``, ``train_accuracy``.  Without guidance
        (``weight=0``) the alignment loss is only recorded, over the batches
        where every paired layer varies across stimuli (NaN if none did).
        With ``held_out`` images given to :meth:`fit`, also
        ``held_out_accuracy`` and one ``cka:<layer>`` column per pair
        (``cka:<layer>:<guide layer>`` where a layer has several partners; the
        linear CKA of :func:`guide_alignment` on the held-out images) after
        each epoch.
    layer_pairs_ : list of (str, str)
    random_state_ : int

    Notes
    -----
    The guide's activations of all training images are computed once before
    training and kept in memory (``n_images × features`` per guide layer).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from torch import nn
    >>> from neuroalign.alignment.guidance import GuidedTraining
    >>> x = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
    >>> y = (x[:, 0] > 0).astype(int)
    >>> guide = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2))
    >>> net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> fitted = GuidedTraining(net, guide, {"1": "1"}, weight=1.0, epochs=3, batch_size=16,
    ...                         random_state=0).fit(x, y)
    >>> list(fitted.history_.columns)
    ['epoch', 'task_loss', 'alignment_loss', 'total_loss', 'train_accuracy']
    """

    def __init__(self, model: nn.Module, guide: nn.Module, layers: Any, *, loss: str | nn.Module = "linear_cka",
                 loss_options: Mapping[str, Any] | None = None, weight: float = 1.0, epochs: int = 5,
                 batch_size: int = 128, lr: float = 1e-3, random_state: int | None = None,
                 threads: int | None = 1, progress: bool = False):
        self.model = model
        self.guide = guide
        self.layers = layers
        self.loss = loss
        self.loss_options = loss_options
        self.weight = weight
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.random_state = random_state
        self.threads = threads
        self.progress = progress

    def fit(self, images: Any, labels: Any = None, *, held_out: Any = None,
            held_out_labels: Any = None) -> "GuidedTraining":
        """Train on ``images`` (array, tensor or DataArray with ``presentation`` first) and integer ``labels``
        (default: the DataArray's ``label`` coordinate); returns ``self``.

        ``held_out`` images (labels: ``held_out_labels`` or their ``label``
        coordinate) are scored after every epoch, in eval mode without
        gradients (training is the same with or without them): accuracy and
        the CKA of each layer pair, columns of :attr:`history_`."""
        for name in ("model", "guide"):
            if not isinstance(getattr(self, name), nn.Module):
                raise ConfigError(f"{name} must be a torch.nn.Module, got {type(getattr(self, name)).__name__}",
                                  source=name, fix=f"pass the {name} network itself")
        epochs = check_int("epochs", self.epochs, minimum=1)
        batch_size = check_int("batch_size", self.batch_size, minimum=MIN_BATCH)
        lr = check_number("lr", self.lr, low=0, low_open=True)
        weight = check_number("weight", self.weight, low=0)
        threads = check_threads(self.threads)
        loss_fn = make_alignment_loss(self.loss, **dict(self.loss_options or {}))
        pairs = resolve_layer_pairs(self.model, self.guide, self.layers)
        seed = resolve_seed(self.random_state)
        seeds = stream_seeds(seed, ["shuffle", "torch"])
        inputs, targets = labelled_tensors(images, labels)
        evaluation = None if held_out is None else labelled_tensors(held_out, held_out_labels)
        model = copy.deepcopy(self.model)
        guide = freeze(copy.deepcopy(self.guide))
        with threads_for(threads), forked_rng(seeds["torch"]):
            guide_layers = sorted({g for _, g in pairs})
            cached = _layer_activations(guide, guide_layers, inputs, max(batch_size, 256))
            if evaluation is not None:
                evaluation = (*evaluation, _layer_activations(guide, guide_layers, evaluation[0], 256))
            history = self._train(model, pairs, cached, loss_fn, inputs, targets, epochs=epochs,
                                  batch_size=batch_size, lr=lr, weight=weight, seed=seeds["shuffle"],
                                  evaluation=evaluation)
        self.model_ = freeze(model)
        self.guide_ = guide
        self.history_ = history
        self.layer_pairs_ = pairs
        self.random_state_ = seed
        self.provenance_ = provenance({"layers": pairs, "loss": repr(loss_fn), "weight": weight, "epochs": epochs,
                                       "batch_size": batch_size, "lr": lr, "random_state": seed},
                                      {"images": inputs.numpy(), "labels": targets.numpy()})
        return self

    def _train(self, model: nn.Module, pairs: list[tuple[str, str]], cached: dict[str, torch.Tensor],
               loss_fn: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, *, epochs: int, batch_size: int,
               lr: float, weight: float, seed: int, evaluation: tuple[Any, ...] | None) -> pd.DataFrame:
        parameters = [p for p in model.parameters() if p.requires_grad]
        if not parameters:
            raise ConfigError("the model has no trainable parameters", source="model",
                              fix="pass an untrained model whose parameters require gradients")
        optimizer = torch.optim.Adam(parameters, lr=lr)
        task_loss = nn.CrossEntropyLoss()
        generator = seeded_generator(seed)
        recorded = list(dict.fromkeys(t for t, _ in pairs)) + [_OUTPUT]  # a layer paired twice is recorded once
        rows = []
        for epoch in epoch_bar(0, epochs, progress=self.progress, desc="guided training"):
            model.train()
            with HookRecorder(model, recorded, keep=_keep_with_graph) as recorder:
                order = torch.randperm(len(inputs), generator=generator)
                sums = {"task": 0.0, "alignment": 0.0, "aligned": 0, "correct": 0}
                for start in range(0, len(order), batch_size):
                    batch = order[start:start + batch_size]
                    outputs = recorder.run(inputs[batch])
                    logits = _single(outputs, _OUTPUT)
                    task = task_loss(logits, targets[batch])
                    total = task
                    if len(batch) >= MIN_BATCH:
                        alignment = self._alignment(loss_fn, outputs, cached, pairs, batch, weight)
                        if alignment is not None:
                            if weight > 0:
                                total = task + weight * len(pairs) * alignment
                            sums["alignment"] += float(alignment.detach()) * len(batch)
                            sums["aligned"] += len(batch)
                    optimizer.zero_grad(set_to_none=True)
                    total.backward()
                    optimizer.step()
                    sums["task"] += float(task.detach()) * len(batch)
                    sums["correct"] += int((logits.detach().argmax(1) == targets[batch]).sum())
                mean_alignment = sums["alignment"] / sums["aligned"] if sums["aligned"] else float("nan")
            rows.append({"epoch": epoch + 1, "task_loss": sums["task"] / len(order),
                         "alignment_loss": mean_alignment,
                         "total_loss": sums["task"] / len(order) + weight * len(pairs) * mean_alignment,
                         "train_accuracy": sums["correct"] / len(order)})
            if evaluation is not None:
                rows[-1].update(_held_out_scores(model, pairs, *evaluation))
            log.debug("guided training epoch %d: %s", epoch + 1, rows[-1])
        return pd.DataFrame(rows)

    @staticmethod
    def _alignment(loss_fn: nn.Module, outputs: dict[str, list[Any]], cached: dict[str, torch.Tensor],
                   pairs: list[tuple[str, str]], batch: torch.Tensor, weight: float) -> torch.Tensor | None:
        """The mean alignment loss over pairs; without guidance (weight 0) only recorded, and None where a
        layer is constant over the batch (a dead layer must not stop the unguided baseline)."""
        with torch.set_grad_enabled(weight > 0 and torch.is_grad_enabled()):
            try:
                return sum(loss_fn(_single(outputs, t), cached[g][batch].to(outputs[t][0].dtype))
                           for t, g in pairs) / len(pairs)
            except DataError:
                if weight > 0:
                    raise
                return None

    def predict(self, images: Any) -> np.ndarray:
        """The trained network's class of each image."""
        check_fitted(self)
        inputs = torch.as_tensor(np.asarray(images.values if isinstance(images, xr.DataArray) else images)).float()
        with threads_for(check_threads(self.threads)):
            return _predict(self.model_, inputs)

    def score(self, images: Any, labels: Any = None) -> float:
        """Classification accuracy on ``images`` (labels default to a DataArray's ``label`` coordinate)."""
        inputs, targets = labelled_tensors(images, labels)
        return float((self.predict(inputs) == targets.numpy()).mean())

    def alignment(self, images: Any, **options: Any) -> Score:
        """CKA between the trained network's and the guide's paired layers on ``images``
        (see :func:`guide_alignment`)."""
        check_fitted(self)
        return guide_alignment(self.model_, self.guide_, images, self.layer_pairs_, **options)


def guide_alignment(model: nn.Module, guide: nn.Module, images: Any, layers: Any, *, kernel: str = "linear",
                    threshold: float = 1.0, debiased: bool = False, batch_size: int = 256) -> Score:
    """CKA (:func:`neuroalign.compare.cka`) between paired layers of ``model`` and ``guide`` on ``images``.

    Parameters
    ----------
    model, guide : torch.nn.Module
    images : xarray.DataArray, numpy.ndarray or torch.Tensor
        ``(presentation, ...)`` stimuli (a DataArray's ``stimulus_id`` is kept).
    layers : mapping or sequence of pairs
        ``{model layer: guide layer}``.
    kernel, threshold, debiased
        As in :func:`neuroalign.compare.cka`.
    batch_size : int
        Images per forward pass.

    Returns
    -------
    Score
        dims ``(layer,)`` labelled by the model's layer, with coordinate ``guide_layer``.

    Examples
    --------
    >>> import numpy as np
    >>> from torch import nn
    >>> from neuroalign.alignment.guidance import guide_alignment
    >>> net = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> x = np.random.default_rng(0).normal(size=(20, 5)).astype("float32")
    >>> round(float(guide_alignment(net, net, x, {"1": "1"}).values.sel(layer="1")), 6)
    1.0
    """
    pairs = resolve_layer_pairs(model, guide, layers)
    if isinstance(images, xr.DataArray):
        ids = images["stimulus_id"].values if "stimulus_id" in images.coords else np.arange(images.sizes[images.dims[0]])
        images = images.values
    else:
        images = np.asarray(images)
        ids = np.arange(len(images))
    stimuli = StimulusSet.from_arrays([str(i) for i in ids], np.asarray(images, dtype=np.float32))
    acts_model = extract(model, stimuli, sorted({t for t, _ in pairs}), batch_size=batch_size, progress=False)
    acts_guide = extract(guide, stimuli, sorted({g for _, g in pairs}), batch_size=batch_size, progress=False)
    values = [cka(acts_model[t], acts_guide[g], kernel=kernel, threshold=threshold, debiased=debiased)
              for t, g in pairs]
    value = xr.DataArray(values, dims=("layer",), coords={"layer": [t for t, _ in pairs],
                                                          "guide_layer": ("layer", [g for _, g in pairs])})
    return Score(value, metric=f"cka-{kernel}{'-debiased' if debiased else ''}",
                 params={"kernel": kernel, "threshold": threshold, "debiased": debiased, "layers": pairs})
