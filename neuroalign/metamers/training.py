"""Training small image classifiers to serve as metamer generators and observers.

:func:`train_classifier` fits a classifier with Adam and cross-entropy on
labelled images, then returns a frozen copy in eval mode (every parameter with
``requires_grad=False``), which is what metamer synthesis and recognisability
need.  Shuffling is drawn from a ``torch.Generator`` seeded with
``random_state``; the initial weights are the model's own (the networks of
:mod:`neuroalign.models.mnist` draw them from their ``seed``), so the same
arguments give bit-identical weights on one machine and thread count.

Training runs on one torch thread (:func:`torch_threads`): on small models,
two threads on a 2-core machine can be 20× slower than one.
"""

from __future__ import annotations

import copy
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch import nn
from tqdm.auto import tqdm

from ..data.io import write_atomically
from ..data.provenance import content_digest, hash_array
from ..errors import ConfigError, DataError, FileFormatError
from ..fitting.base import torch_threads

__all__ = ["train_classifier", "TrainedClassifier", "torch_threads", "freeze"]

log = logging.getLogger(__name__)

_CHECKPOINT_FORMAT = "neuroalign-classifier/1"


@dataclass
class TrainedClassifier:
    """A trained, frozen classifier and its training history.

    Attributes
    ----------
    model : torch.nn.Module
        In eval mode, with every parameter frozen (``requires_grad=False``).
    history : pandas.DataFrame
        One row per epoch: ``epoch``, ``loss`` (mean cross-entropy over the
        epoch's batches) and ``train_accuracy`` (on the epoch's batches, as
        they were seen).
    key : str
        Digest of everything that determined the weights (initial model,
        images, labels, settings); a checkpoint is reused only when it matches.
    """

    model: nn.Module
    history: pd.DataFrame
    key: str


def freeze(model: nn.Module) -> nn.Module:
    """Put ``model`` in eval mode and turn off gradients of all its parameters (in place); returns it."""
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def train_classifier(
    model: nn.Module,
    images: Any,
    labels: Any = None,
    *,
    epochs: int = 5,
    batch_size: int = 64,
    lr: float = 1e-3,
    random_state: int = 0,
    checkpoint: str | os.PathLike | None = None,
    progress: bool = True,
) -> TrainedClassifier:
    """Fit a classifier with Adam on cross-entropy; return a trained, frozen copy and its history.

    ``model`` itself is not changed: a deep copy is trained.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a float batch of images to logits ``(batch, n_classes)``.
    images : xarray.DataArray, numpy.ndarray or torch.Tensor
        ``(presentation, ...)`` image batch (a DataArray's first dim must be
        ``presentation``); values must be finite.
    labels : array-like of int, optional
        Class of each image, ``0 … n_classes-1``.  Default: the ``label``
        coordinate of a DataArray ``images``.
    epochs, batch_size : int
        Passes over the data and images per step.  The last batch of an epoch
        may be smaller.
    lr : float
        Adam's learning rate.
    random_state : int
        Seeds the ``torch.Generator`` that shuffles the images every epoch.
    checkpoint : path-like, optional
        A ``.pt`` file.  If it holds a checkpoint of the same training (same
        key: initial weights, data, settings), its weights are loaded (with
        ``weights_only=True``) instead of training; otherwise the trained
        weights are written there atomically (``state_dict``, history, key).
    progress : bool
        Show a progress bar over epochs.

    Returns
    -------
    TrainedClassifier

    Raises
    ------
    ConfigError
        A setting is out of range, or labels and images differ in length.
    DataError
        Images are not finite, or a label is outside the model's classes.
    FileFormatError
        The checkpoint file exists but is not a classifier checkpoint.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from neuroalign.metamers.training import train_classifier
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(64, 4)).astype("float32")
    >>> y = (x[:, 0] > 0).astype(int)
    >>> fitted = train_classifier(torch.nn.Linear(4, 2), x, y, epochs=20, batch_size=16, lr=0.05,
    ...                           progress=False)
    >>> bool(fitted.history["train_accuracy"].iloc[-1] > 0.9), fitted.model.training
    (True, False)
    """
    _check_settings(epochs, batch_size, lr, random_state)
    inputs, targets = _tensors(images, labels)
    key = _training_key(model, inputs, targets, epochs=epochs, batch_size=batch_size, lr=lr,
                        random_state=random_state)
    fitted = copy.deepcopy(model)
    if checkpoint is not None and Path(checkpoint).exists():
        history = _load_checkpoint(fitted, Path(checkpoint), key)
        if history is not None:
            log.info("train_classifier: loaded %s", checkpoint)
            return TrainedClassifier(freeze(fitted), history, key)
    with torch_threads(1):
        history = _fit(fitted, inputs, targets, epochs=epochs, batch_size=batch_size, lr=lr,
                       random_state=random_state, progress=progress)
    freeze(fitted)
    if checkpoint is not None:
        state = {"format": _CHECKPOINT_FORMAT, "key": key, "state_dict": fitted.state_dict(),
                 "history": {column: history[column].tolist() for column in history.columns}}
        write_atomically(Path(checkpoint), lambda tmp: torch.save(state, tmp))
    return TrainedClassifier(fitted, history, key)


def _fit(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, *, epochs: int, batch_size: int,
         lr: float, random_state: int, progress: bool) -> pd.DataFrame:
    generator = torch.Generator().manual_seed(int(random_state))
    model.train()
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ConfigError("the model has no trainable parameters", source="model",
                          fix="pass an untrained model whose parameters require gradients")
    optimizer = torch.optim.Adam(parameters, lr=lr)
    loss_function = nn.CrossEntropyLoss()
    rows = []
    for epoch in tqdm(range(epochs), desc="training", disable=not progress):
        order = torch.randperm(len(inputs), generator=generator)
        total, correct = 0.0, 0
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            logits = model(inputs[batch])
            if epoch == 0 and start == 0:
                _check_logits(logits, targets)
            loss = loss_function(logits, targets[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
            correct += int((logits.detach().argmax(1) == targets[batch]).sum())
        rows.append({"epoch": epoch + 1, "loss": total / len(order), "train_accuracy": correct / len(order)})
        log.debug("epoch %d: loss %.4f, accuracy %.4f", epoch + 1, rows[-1]["loss"], rows[-1]["train_accuracy"])
    return pd.DataFrame(rows)


def _check_logits(logits: Any, targets: torch.Tensor) -> None:
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        raise ConfigError(f"the model must return logits (batch, n_classes), got "
                          f"{getattr(logits, 'shape', type(logits).__name__)}", source="model",
                          fix="end the model with a Linear layer to n_classes outputs")
    if int(targets.max()) >= logits.shape[1]:
        raise DataError(f"label {int(targets.max())} is outside the model's {logits.shape[1]} classes",
                        source="labels", fix="number the classes 0 … n_classes-1, or widen the readout")


def _check_settings(epochs: Any, batch_size: Any, lr: Any, random_state: Any) -> None:
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("random_state", random_state)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if name == "random_state"
                                                                                             else 1):
            raise ConfigError(f"{name} must be a {'non-negative' if name == 'random_state' else 'positive'} "
                              f"integer, got {value!r}", source=name, fix=f"pass e.g. {name}=1")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not np.isfinite(lr) or lr <= 0:
        raise ConfigError(f"lr must be a positive number, got {lr!r}", source="lr", fix="pass e.g. lr=1e-3")


def _tensors(images: Any, labels: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(images, xr.DataArray):
        if images.dims[0] != "presentation":
            raise ConfigError(f"images must have 'presentation' first, got dims {images.dims}", source="images",
                              fix="images.transpose('presentation', ...)")
        if labels is None:
            if "label" not in images.coords:
                raise ConfigError("no labels given and images have no 'label' coordinate", source="labels",
                                  fix="pass labels=... or add a label coordinate on presentation")
            labels = images["label"].values
        images = images.values
    elif labels is None:
        raise ConfigError("labels are needed for images that are not a labelled DataArray", source="labels",
                          fix="pass labels=... (one int per image)")
    inputs = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images).float()
    targets = np.asarray(labels)
    if targets.ndim != 1 or len(targets) != len(inputs):
        raise ConfigError(f"labels have shape {targets.shape}, expected ({len(inputs)},), one per image",
                          source="labels", fix="pass one integer label per image")
    if not np.issubdtype(targets.dtype, np.integer):
        if np.issubdtype(targets.dtype, np.floating) and np.all(np.isfinite(targets)) \
                and np.all(targets == np.round(targets)):
            targets = targets.astype(np.int64)
        else:
            raise DataError(f"labels must be integers, got dtype {targets.dtype}", source="labels",
                            fix="encode classes as 0 … n_classes-1")
    if len(targets) == 0:
        raise DataError("no images to train on", source="images", fix="pass at least one image")
    if targets.min() < 0:
        raise DataError(f"label {int(targets.min())} is negative", source="labels",
                        fix="encode classes as 0 … n_classes-1")
    if not torch.isfinite(inputs).all():
        raise DataError("images contain NaN or inf", source="images", fix="drop or repair those images")
    return inputs.contiguous(), torch.as_tensor(targets, dtype=torch.int64)


def _training_key(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, **settings: Any) -> str:
    from ..extract.fingerprint import model_hash

    digest = content_digest(_CHECKPOINT_FORMAT.encode())
    digest.update(model_hash(model).encode())
    digest.update(hash_array(inputs.numpy()).encode())
    digest.update(hash_array(targets.numpy()).encode())
    digest.update(repr(sorted(settings.items())).encode())
    return digest.hexdigest()


def _load_checkpoint(model: nn.Module, path: Path, key: str) -> pd.DataFrame | None:
    """The history of a matching checkpoint (its weights loaded into ``model``), or None for another key."""
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # a truncated or foreign file: torch raises many types
        raise FileFormatError(f"not a readable classifier checkpoint ({type(exc).__name__}: {exc})",
                              source=str(path), fix="delete it to train again") from None
    if not isinstance(state, dict) or state.get("format") != _CHECKPOINT_FORMAT:
        raise FileFormatError("not a neuroalign classifier checkpoint", source=str(path),
                              fix="delete it or pass another checkpoint path")
    if state.get("key") != key:
        log.info("%s holds another training (different model, data or settings): training again", path)
        return None
    try:
        model.load_state_dict(state["state_dict"])
        return pd.DataFrame(state["history"])
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise FileFormatError(f"the checkpoint is damaged ({exc})", source=str(path),
                              fix="delete it to train again") from None
