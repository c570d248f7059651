"""Images in, labels out: the inputs of validity and recognisability, and an observer's answers.

An *observer* is a classifier that names the class of each image: a
``torch.nn.Module`` returning logits (its answer is the argmax, optionally
among a subset of classes, as Feather et al.'s 16-way choice among ImageNet's
1,000 logits), or any callable mapping a batch of images to labels (e.g.
:class:`~neuroalign.metamers.pixel_observer.PixelKNN`).  Modules run batched,
under ``torch.no_grad()``, in eval mode (their training flags are restored
afterwards), on the device and dtype of their parameters.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Union

import numpy as np
import torch
import xarray as xr
from torch import nn

from ..data.schema import PRESENTATION, STIMULUS_ID
from ..errors import ConfigError, DataError, SchemaError

__all__ = ["Observer", "IMAGE_DIMS", "as_images", "predict_labels", "evaluating"]

#: What an observer may be: a classifier module (argmax of logits) or a callable images → labels.
Observer = Union[nn.Module, Callable[[torch.Tensor], Any]]
#: The dims of a batch of images as a DataArray.
IMAGE_DIMS = (PRESENTATION, "channel", "row", "col")


def as_images(images: Any, name: str = "images") -> tuple[torch.Tensor, np.ndarray | None]:
    """A finite ``(N, C, H, W)`` tensor, and the stimulus ids when ``images`` is a DataArray that has them.

    Parameters
    ----------
    images : torch.Tensor, numpy array or xarray.DataArray
        A DataArray needs the dims of :data:`IMAGE_DIMS` (any order).
    name : str
        How to name the input in error messages.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.metamers.classify import as_images
    >>> da = xr.DataArray(np.zeros((2, 1, 4, 4)), dims=("presentation", "channel", "row", "col"),
    ...                   coords={"stimulus_id": ("presentation", ["a", "b"])})
    >>> tensor, ids = as_images(da)
    >>> tuple(tensor.shape), ids.tolist()
    ((2, 1, 4, 4), ['a', 'b'])
    """
    ids = None
    if isinstance(images, xr.DataArray):
        if sorted(images.dims) != sorted(IMAGE_DIMS):
            raise SchemaError(f"{name} has dims {images.dims}, expected {IMAGE_DIMS}", source=name,
                              fix="name the dims of the image array (presentation, channel, row, col)")
        images = images.transpose(*IMAGE_DIMS)
        if STIMULUS_ID in images.coords:
            ids = np.asarray(images[STIMULUS_ID].values)
        images = images.values
    if not isinstance(images, torch.Tensor):
        try:
            array = np.asarray(images) if not isinstance(images, (str, bytes)) else np.asarray(None)
        except ValueError as exc:  # a ragged nesting of lists
            array, problem = np.asarray(None), str(exc)
        else:
            problem = f"a {type(images).__name__} of dtype {array.dtype}"
        if array.dtype.kind not in "fiub":
            raise DataError(f"{name} is not a numeric array ({problem})", source=name,
                            fix="pass a float tensor of shape (images, channels, rows, cols)")
        _check_float(array.dtype, name)
        images = torch.as_tensor(array if array.dtype == np.float32 else array.astype(np.float64))
    _check_float(images.dtype, name)
    if images.ndim != 4:
        raise DataError(f"{name} has shape {tuple(images.shape)}; expected (images, channels, rows, cols)",
                        source=name, fix="add the missing axes, e.g. images[:, None] for one channel")
    if len(images) == 0:
        raise DataError(f"{name} holds no image", source=name, fix="pass at least one image")
    if not torch.isfinite(images).all():
        raise DataError(f"{name} contain NaN or inf", source=name, fix="drop or repair those images")
    return images.detach(), ids


def _check_float(dtype: Any, name: str) -> None:
    """Images are floats: integer images are usually 0–255, and a silent cast would keep that scale."""
    if not (dtype.is_floating_point if isinstance(dtype, torch.dtype) else np.dtype(dtype).kind == "f"):
        raise DataError(f"{name} has dtype {dtype}; expected floating point", source=name,
                        fix="convert, e.g. images.float() / 255 (or images.astype('float32') / 255)")


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode for the block, then restore each submodule's training flag."""
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, flag in flags:
            module.training = flag


def _placement(model: nn.Module) -> tuple[torch.device, torch.dtype | None]:
    tensor = next(model.parameters(), None)
    if tensor is None:
        tensor = next(model.buffers(), None)
    if tensor is None:
        return torch.device("cpu"), None
    return tensor.device, tensor.dtype if tensor.is_floating_point() else None


def predict_labels(observer: Observer, images: torch.Tensor, *, classes: Sequence[int] | None = None,
                   batch_size: int = 256, name: str = "observer") -> np.ndarray:
    """Each image's predicted label.

    Parameters
    ----------
    observer : torch.nn.Module or callable
        A module's answer is the argmax of its logits ``(N, n_logits)``; with
        ``classes``, the argmax among those logit columns (a forced choice
        among the classes).  A callable is given the batch and must return
        one label per image.
    images : torch.Tensor
        ``(N, C, H, W)``.
    classes : sequence of int, optional
        Logit columns a module chooses among.
    batch_size : int
        Images per forward pass.
    name : str
        How to name the observer in error messages.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` labels.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from neuroalign.metamers.classify import predict_labels
    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    >>> with torch.no_grad():
    ...     _ = net[1].weight.copy_(torch.eye(3, 4)); _ = net[1].bias.zero_()
    >>> images = torch.tensor([[1., 0, 0, 0], [0, 0, 5, 0]]).reshape(2, 1, 2, 2)
    >>> predict_labels(net, images).tolist(), predict_labels(net, images, classes=[0, 1]).tolist()
    ([0, 2], [0, 0])
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}", source="batch_size",
                          fix="pass e.g. batch_size=256")
    if isinstance(observer, nn.Module):
        return _module_labels(observer, images, classes=classes, batch_size=int(batch_size), name=name)
    if not callable(observer):
        raise ConfigError(f"{name} is a {type(observer).__name__}, neither a torch module nor a callable",
                          source=name, fix="pass an nn.Module classifier or a function images -> labels")
    parts = []
    for start in range(0, len(images), int(batch_size)):
        batch = images[start:start + int(batch_size)]
        labels = observer(batch)
        if isinstance(labels, torch.Tensor):
            labels = labels.detach().cpu().numpy()
        labels = np.asarray(labels)
        if labels.shape != (len(batch),):
            raise DataError(f"{name} returned an answer of shape {labels.shape} for {len(batch)} images",
                            source=name, fix="return one label per image (shape (N,))")
        parts.append(labels)
    return np.concatenate(parts)


def _module_labels(model: nn.Module, images: torch.Tensor, *, classes: Sequence[int] | None, batch_size: int,
                   name: str) -> np.ndarray:
    device, dtype = _placement(model)
    columns = None if classes is None else torch.as_tensor(np.asarray(classes, dtype=np.int64), device=device)
    parts = []
    with evaluating(model), torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size].to(device=device, dtype=dtype or images.dtype)
            logits = model(batch)
            if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[0] != len(batch):
                shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
                raise DataError(f"{name} returned {shape} for {len(batch)} images; expected logits (images, classes)",
                                source=name, fix="pass a classifier whose forward returns (N, n_classes) logits, "
                                                 "or a callable images -> labels")
            if columns is not None:
                if int(columns.max()) >= logits.shape[1] or int(columns.min()) < 0:
                    raise ConfigError(f"classes name logit columns up to {int(columns.max())}, but {name} gives "
                                      f"{logits.shape[1]} logits", source="classes",
                                      fix="name classes by their logit column, 0 … n_logits-1")
                picked = columns[logits[:, columns].argmax(dim=1)]
            else:
                picked = logits.argmax(dim=1)
            parts.append(picked.cpu().numpy())
    return np.concatenate(parts)
