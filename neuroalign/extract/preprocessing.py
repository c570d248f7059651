"""Image preprocessing: small composable transforms on ``(…, C, H, W)`` tensors.

Every built-in transform works on one image ``(C, H, W)`` or a batch
``(N, C, H, W)`` and describes itself with :meth:`Transform.spec`, so the
activation cache can key on the exact preprocessing.  Any other callable
(a torchvision transform, a function) can be used instead; see
:func:`describe_preprocessing` for how it is keyed.

Images enter as float tensors: files and ``uint8`` arrays are scaled to
``[0, 1]`` and laid out channels-first by :class:`~neuroalign.extract.StimulusSet`
before any transform runs.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import ConfigError

__all__ = [
    "Transform", "Resize", "CenterCrop", "Normalize", "ToRGB", "Compose", "image_preprocessing",
    "describe_preprocessing", "IMAGENET_MEAN", "IMAGENET_STD",
]

log = logging.getLogger(__name__)

#: Channel means and standard deviations of ImageNet, the usual normalisation of vision models.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_INTERPOLATIONS = ("bilinear", "bicubic", "nearest", "area")


def _size_pair(size: int | Sequence[int], source: str) -> tuple[int, int] | int:
    if isinstance(size, int) and not isinstance(size, bool):
        if size < 1:
            raise ConfigError(f"size must be positive, got {size}", source=source, fix="pass e.g. 224")
        return size
    pair = tuple(int(s) for s in size)
    if len(pair) != 2 or min(pair) < 1:
        raise ConfigError(f"size must be an int or (height, width), got {size!r}", source=source,
                          fix="pass e.g. 224 or (224, 224)")
    return pair


def _check_image(x: torch.Tensor, name: str) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim not in (3, 4):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ConfigError(f"{name} expects a (C, H, W) or (N, C, H, W) tensor, got {shape}", source=name,
                          fix="apply image transforms to image stimuli only")


class Transform:
    """Base class of the built-in transforms.

    Subclasses store their parameters unchanged in ``__init__`` and implement
    ``__call__`` on ``(C, H, W)`` and ``(N, C, H, W)`` float tensors.
    """

    #: Whether the transform can run on a whole batch at once.
    batched = True

    def __call__(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        return {}

    def spec(self) -> dict[str, Any]:
        """A JSON-serialisable description: the class name and its parameters."""
        return {"transform": type(self).__name__, **self.params()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.spec() == other.spec()  # type: ignore[union-attr]

    def __hash__(self) -> int:
        return hash(repr(self))


class Resize(Transform):
    """Resize images, with antialiasing when shrinking (as Pillow does).

    Parameters
    ----------
    size : int or (int, int)
        An int resizes the shorter side to ``size`` and keeps the aspect ratio;
        a pair gives ``(height, width)``.
    interpolation : {"bilinear", "bicubic", "nearest", "area"}

    Examples
    --------
    >>> import torch
    >>> from neuroalign.extract.preprocessing import Resize
    >>> Resize(32)(torch.zeros(3, 64, 128)).shape
    torch.Size([3, 32, 64])
    """

    def __init__(self, size: int | Sequence[int], interpolation: str = "bilinear"):
        self.size = _size_pair(size, "Resize(size)")
        if interpolation not in _INTERPOLATIONS:
            raise ConfigError(f"unknown interpolation {interpolation!r}", source="Resize(interpolation)",
                              fix=f"use one of {', '.join(_INTERPOLATIONS)}")
        self.interpolation = interpolation

    def params(self) -> dict[str, Any]:
        return {"size": self.size, "interpolation": self.interpolation}

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        if isinstance(self.size, tuple):
            return self.size
        if height <= width:
            return self.size, max(1, int(self.size * width / height))
        return max(1, int(self.size * height / width)), self.size

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        _check_image(x, "Resize")
        out = self.output_size(x.shape[-2], x.shape[-1])
        if out == tuple(x.shape[-2:]):
            return x
        batch = x if x.ndim == 4 else x[None]
        kwargs: dict[str, Any] = {}
        if self.interpolation in ("bilinear", "bicubic"):
            kwargs = {"align_corners": False, "antialias": True}
        y = F.interpolate(batch.float() if not batch.is_floating_point() else batch, size=out,
                          mode=self.interpolation, **kwargs)
        return y if x.ndim == 4 else y[0]


class CenterCrop(Transform):
    """Crop the centre ``size`` pixels (an int gives a square).

    Examples
    --------
    >>> import torch
    >>> from neuroalign.extract.preprocessing import CenterCrop
    >>> CenterCrop(2)(torch.arange(16.).reshape(1, 4, 4))[0].tolist()
    [[5.0, 6.0], [9.0, 10.0]]
    """

    def __init__(self, size: int | Sequence[int]):
        self.size = _size_pair(size, "CenterCrop(size)")

    def params(self) -> dict[str, Any]:
        return {"size": self.size}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        _check_image(x, "CenterCrop")
        h, w = (self.size, self.size) if isinstance(self.size, int) else self.size
        height, width = x.shape[-2:]
        if h > height or w > width:
            raise ConfigError(f"cannot crop {h}×{w} out of a {height}×{width} image", source="CenterCrop",
                              fix="resize first (Resize before CenterCrop) or crop less")
        top = int(round((height - h) / 2.0))
        left = int(round((width - w) / 2.0))
        return x[..., top:top + h, left:left + w]


class Normalize(Transform):
    """Subtract a per-channel mean and divide by a per-channel standard deviation.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.extract.preprocessing import Normalize
    >>> Normalize([0.5], [0.25])(torch.ones(1, 1, 1)).item()
    2.0
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        if len(self.mean) != len(self.std) or any(s <= 0 for s in self.std):
            raise ConfigError(f"mean {self.mean} and std {self.std} must have one positive std per mean",
                              source="Normalize", fix="pass e.g. IMAGENET_MEAN and IMAGENET_STD")

    def params(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        _check_image(x, "Normalize")
        channels = x.shape[-3]
        if channels != len(self.mean):
            raise ConfigError(f"images have {channels} channels but Normalize has {len(self.mean)} means",
                              source="Normalize", fix="add ToRGB() before Normalize, or pass one mean per channel")
        shape = (channels, 1, 1)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).reshape(shape)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).reshape(shape)
        return (x - mean) / std


class ToRGB(Transform):
    """Greyscale (1 channel) → 3 identical channels; RGBA → RGB; RGB unchanged.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.extract.preprocessing import ToRGB
    >>> ToRGB()(torch.zeros(1, 4, 4)).shape
    torch.Size([3, 4, 4])
    """

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        _check_image(x, "ToRGB")
        channels = x.shape[-3]
        if channels == 1:
            return x.expand(*x.shape[:-3], 3, *x.shape[-2:])
        if channels == 4:
            return x[..., :3, :, :]
        if channels == 3:
            return x
        raise ConfigError(f"cannot make RGB out of {channels} channels", source="ToRGB",
                          fix="pass greyscale, RGB or RGBA images")


class Compose(Transform):
    """Apply transforms in order (``batched`` when every one of them is).

    Examples
    --------
    >>> import torch
    >>> from neuroalign.extract.preprocessing import Compose, Resize, ToRGB
    >>> Compose([ToRGB(), Resize(8)])(torch.zeros(1, 16, 16)).shape
    torch.Size([3, 8, 8])
    """

    def __init__(self, transforms: Sequence[Callable[[torch.Tensor], torch.Tensor]]):
        self.transforms = list(transforms)

    @property
    def batched(self) -> bool:  # type: ignore[override]
        return all(getattr(t, "batched", False) for t in self.transforms)

    def params(self) -> dict[str, Any]:
        return {"transforms": [describe_preprocessing(t) for t in self.transforms]}

    def spec(self) -> dict[str, Any] | None:  # type: ignore[override]
        """``None`` when one of the transforms cannot be described (see :func:`describe_preprocessing`)."""
        params = self.params()
        return None if any(t is None for t in params["transforms"]) else {"transform": "Compose", **params}

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for transform in self.transforms:
            x = transform(x)
        return x


def image_preprocessing(
    size: int | Sequence[int] | None = None,
    *,
    crop: int | Sequence[int] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    rgb: bool = True,
    interpolation: str = "bilinear",
) -> Compose:
    """The usual pipeline: to RGB, resize, centre-crop, normalise (each optional).

    Examples
    --------
    >>> from neuroalign.extract.preprocessing import image_preprocessing, IMAGENET_MEAN, IMAGENET_STD
    >>> image_preprocessing(256, crop=224, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    Compose([ToRGB(), Resize(size=256, interpolation='bilinear'), CenterCrop(size=224), Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))])
    """
    steps: list[Transform] = [ToRGB()] if rgb else []
    if size is not None:
        steps.append(Resize(size, interpolation))
    if crop is not None:
        steps.append(CenterCrop(crop))
    if (mean is None) != (std is None):
        raise ConfigError("mean and std go together", source="image_preprocessing",
                          fix="pass both mean and std, or neither")
    if mean is not None and std is not None:
        steps.append(Normalize(mean, std))
    return Compose(steps)


def describe_preprocessing(preprocess: Any) -> Any:
    """A stable, JSON-serialisable description of a preprocessing callable, or ``None``.

    Built-in transforms describe themselves (:meth:`Transform.spec`); an object
    with a ``spec()`` method or a ``cache_key`` attribute is described by it;
    an object whose ``repr`` names its parameters (torchvision transforms) by
    its class and ``repr``; a plain function by its module, name, source code,
    defaults and closure values, and its code with the globals it reads
    (:func:`~neuroalign.extract.fingerprint.describe_function`).  ``None`` means "cannot be described
    reliably": the cache is then bypassed rather than risk a stale hit.

    Examples
    --------
    >>> from neuroalign.extract.preprocessing import Resize, describe_preprocessing
    >>> describe_preprocessing(Resize(32))
    {'transform': 'Resize', 'size': 32, 'interpolation': 'bilinear'}
    >>> describe_preprocessing(None)
    'identity'
    """
    if preprocess is None:
        return "identity"
    if hasattr(preprocess, "spec") and callable(preprocess.spec):
        return preprocess.spec()
    if hasattr(preprocess, "cache_key"):
        return {"cache_key": str(preprocess.cache_key)}
    if inspect.isfunction(preprocess):
        return _describe_function(preprocess)
    kind = f"{type(preprocess).__module__}.{type(preprocess).__qualname__}"
    text = repr(preprocess)
    if " at 0x" in text or " object at " in text:
        return None
    return {"callable": kind, "repr": text}


def _describe_function(fn: Callable) -> Any:
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        return None
    values = []
    for value in list(fn.__defaults__ or ()) + [c.cell_contents for c in (fn.__closure__ or ())]:
        described = repr(value) if not callable(value) else describe_preprocessing(value)
        if described is None or " at 0x" in str(described) or "..." in str(described):
            return None
        values.append(described)
    from .fingerprint import describe_function  # the globals it reads too (a constant, a helper)

    code = describe_function(fn)
    if code is None:
        return None
    return {"function": f"{fn.__module__}.{fn.__qualname__}", "source": source, "values": values, "code": code}
