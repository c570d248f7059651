"""Checks of the inputs of metamer synthesis, run before the first step.

Each problem raises a named error that says what is wrong and what to do:

- images that are not a float tensor ``(N, C, H, W)`` (:class:`~neuroalign.errors.ConfigError`),
  that hold NaN or inf or lie outside ``allowed_range`` (:class:`~neuroalign.errors.DataError`);
- a model with trainable parameters or in training mode (``ConfigError``);
- a model that fails on the images, e.g. because of their shape
  (:class:`~neuroalign.errors.ExtractionError`, naming the shape);
- a layer whose output is not a float tensor that depends differentiably on the
  images (a ``detach``, an ``argmax``, an integer output), or whose dtype or device
  differs from the images' (``ConfigError``), as do float parameters or buffers of another
  dtype or device;
- target activations with NaN or inf (``DataError``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, DataError
from .classify import as_images
from .layer_forward import LayerForward

__all__ = ["images_and_ids", "check_range", "check_images", "check_model", "check_placement", "check_layer_path",
           "check_targets"]


def check_images(images: torch.Tensor, allowed_range: tuple[float, float], *, source: str = "images") -> None:
    """``images`` is a finite float tensor ``(N, C, H, W)`` with N ≥ 1 and values in ``allowed_range``.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.metamers.model_checks import check_images
    >>> check_images(torch.full((1, 1, 2, 2), 2.0), (0.0, 1.0))
    Traceback (most recent call last):
    ...
    neuroalign.errors.DataError: images: 4 values lie outside allowed_range (0.0, 1.0) (from 2 to 2). Fix: ...
    """
    if not isinstance(images, torch.Tensor):
        raise ConfigError(f"{source} is a {type(images).__name__}, not a torch.Tensor", source=source,
                          fix="pass a float tensor (N, C, H, W) or a DataArray (presentation, channel, row, col)")
    if not images.is_floating_point():
        raise ConfigError(f"{source} has dtype {images.dtype}, not a float dtype", source=source,
                          fix="convert them, e.g. images.float() / 255 for 8-bit images")
    if images.ndim != 4 or images.shape[0] == 0:
        raise ConfigError(f"{source} has shape {tuple(images.shape)}, not (N, C, H, W) with N ≥ 1", source=source,
                          fix="add the missing axes, e.g. images[None] for one image (C, H, W)")
    finite = torch.isfinite(images)
    if not bool(finite.all()):
        first = int((~finite).flatten(1).any(1).nonzero()[0])
        raise DataError(f"{source} hold NaN or inf (first in image {first})", source=source,
                        fix="replace or drop the images with missing values")
    low, high = allowed_range
    outside = (images < low) | (images > high)
    if bool(outside.any()):
        raise DataError(f"{int(outside.sum())} values lie outside allowed_range {tuple(allowed_range)} (from "
                        f"{float(images.min()):.4g} to {float(images.max()):.4g})", source=source,
                        fix="rescale the images into the range, or pass the allowed_range= the model expects")


def check_model(model: nn.Module) -> None:
    """The model is frozen (no parameter requires a gradient) and in evaluation mode.

    Examples
    --------
    >>> from torch import nn
    >>> from neuroalign.metamers.model_checks import check_model
    >>> check_model(nn.Linear(2, 2).requires_grad_(False).eval())
    >>> check_model(nn.Linear(2, 2).eval())
    Traceback (most recent call last):
    ...
    neuroalign.errors.ConfigError: model: 2 parameters require a gradient (first: 'weight'). Fix: ...
    """
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    if trainable:
        raise ConfigError(f"{len(trainable)} parameters require a gradient (first: {trainable[0]!r})",
                          source="model", fix="freeze the model with model.requires_grad_(False)")
    training = [name or "<model>" for name, m in model.named_modules() if m.training]
    if training:
        raise ConfigError(f"the model is in training mode (first module: {training[0]!r}), so dropout and batch "
                          f"norm would change its activations at every step", source="model",
                          fix="call model.eval()")


def check_placement(model: nn.Module, images: torch.Tensor) -> None:
    """The model's float parameters and buffers have the images' dtype and lie on their device.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from neuroalign.metamers.model_checks import check_placement
    >>> check_placement(nn.Linear(2, 2), torch.zeros(1, 2, dtype=torch.float64))
    Traceback (most recent call last):
    ...
    neuroalign.errors.ConfigError: model: parameter 'weight' is torch.float32, the images torch.float64. Fix: ...
    """
    tensors = [("parameter", n, t) for n, t in model.named_parameters()]
    tensors += [("buffer", n, t) for n, t in model.named_buffers()]
    for kind, name, tensor in tensors:
        if tensor.is_floating_point() and tensor.dtype != images.dtype:
            raise ConfigError(f"{kind} {name!r} is {tensor.dtype}, the images {images.dtype}", source="model",
                              fix=f"give model and images one dtype: model.to({images.dtype}) or "
                                  f"images.to({tensor.dtype})")
        if tensor.device != images.device:
            raise ConfigError(f"{kind} {name!r} is on {tensor.device}, the images on {images.device}", source="model",
                              fix=f"put model and images on one device: model.to('{images.device}')")


def check_layer_path(forward: LayerForward, images: torch.Tensor) -> None:
    """The layer's output is a float tensor of the images' dtype and device that the images' gradient reaches.

    Runs the model once, with gradient, on the first image.
    """
    probe = images[:1].detach().clone().requires_grad_(True)
    with torch.enable_grad():
        output = forward(probe)
    layer = forward.layer
    if not output.is_floating_point():
        raise ConfigError(f"layer {layer!r} gives {output.dtype} values, which have no gradient", source="layer",
                          fix="pick a layer with a float output (before an argmax, a rounding or a cast)")
    if output.dtype != images.dtype:
        raise ConfigError(f"layer {layer!r} gives {output.dtype} values for {images.dtype} images", source="model",
                          fix=f"give model and images one dtype, e.g. model.to({images.dtype})")
    if output.device != images.device:
        raise ConfigError(f"layer {layer!r} gives values on {output.device} for images on {images.device}",
                          source="model", fix=f"put model and images on one device, e.g. model.to('{images.device}')")
    connected = output.requires_grad and torch.autograd.grad(
        output.sum(), probe, allow_unused=True)[0] is not None
    if not connected:
        raise ConfigError(f"layer {layer!r} is not on a differentiable path from the images (its output does not "
                          f"depend on them through autograd: a detach(), a numpy round trip, an integer step)",
                          source="layer", fix="pick an earlier layer, or remove the non-differentiable step")


def check_targets(targets: torch.Tensor, stimulus_ids: list[str], layer: str) -> None:
    """The target activations are finite."""
    finite = torch.isfinite(targets.flatten(1)).all(1)
    if not bool(finite.all()):
        bad = [stimulus_ids[i] for i in (~finite).nonzero().flatten().tolist()]
        raise DataError(f"layer {layer!r} gives NaN or inf for {len(bad)} target images (first: {bad[0]!r})",
                        source="images", fix="check the images' scale and the model's numerics (dtype)")


def check_range(allowed_range: Any) -> tuple[float, float]:
    """``allowed_range`` as two finite floats ``low < high``."""
    try:
        low, high = (float(v) for v in allowed_range)
    except (TypeError, ValueError):
        raise ConfigError(f"allowed_range must be two numbers (low, high), got {allowed_range!r}",
                          source="allowed_range", fix="pass e.g. allowed_range=(0.0, 1.0)") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ConfigError(f"allowed_range must be finite with low < high, got {allowed_range!r}",
                          source="allowed_range", fix="pass e.g. allowed_range=(0.0, 1.0)")
    return low, high


def images_and_ids(images: Any, stimulus_ids: Sequence[str] | None) -> tuple[torch.Tensor, list[str]]:
    """The images as a tensor (:func:`~neuroalign.metamers.classify.as_images`) and their ids as text.

    The ids are ``stimulus_ids`` when given, else the DataArray's ``stimulus_id`` coordinate, else
    ``"0"`` … ``"N-1"``; they must be unique, one per image.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.metamers.model_checks import images_and_ids
    >>> images_and_ids(torch.zeros(2, 1, 3, 3), None)[1]
    ['0', '1']
    """
    tensor, found = as_images(images)
    if stimulus_ids is not None:
        if isinstance(stimulus_ids, str):
            raise ConfigError("stimulus_ids is one string, not a sequence", source="stimulus_ids",
                              fix="pass one id per image, e.g. ['cat1', 'dog3']")
        ids = [str(v) for v in stimulus_ids]
    elif found is not None:
        ids = [str(v) for v in found]
    else:
        ids = [str(i) for i in range(tensor.shape[0])]
    if len(ids) != tensor.shape[0]:
        raise ConfigError(f"{len(ids)} stimulus_ids for {tensor.shape[0]} images", source="stimulus_ids",
                          fix="give one id per image")
    if len(set(ids)) != len(ids):
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        raise ConfigError(f"stimulus_ids repeat: {repeated[:5]}", source="stimulus_ids", fix="make them unique")
    return tensor, ids
