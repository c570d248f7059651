"""Checking a torch device before a model is moved to it."""

from __future__ import annotations

from typing import Any

import torch

from ..errors import ConfigError, UnknownNameError

__all__ = ["check_device"]

_KNOWN = ("cpu", "cuda", "mps", "xpu", "meta")


def check_device(device: str | torch.device, *, source: str = "device") -> torch.device:
    """``device`` as a ``torch.device``, if this torch build and machine can run a model on it.

    Raises
    ------
    UnknownNameError
        Not a device name torch knows (the message lists close matches).
    ConfigError
        The device type is not available in this torch build or on this machine
        (``"cuda"`` on a CPU-only build, ``"cuda:3"`` with two GPUs, ``"meta"``).

    Examples
    --------
    >>> from neuroalign.extract.devices import check_device
    >>> check_device("cpu")
    device(type='cpu')
    """
    try:
        parsed = device if isinstance(device, torch.device) else torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise UnknownNameError(str(device).partition(":")[0], _KNOWN, what="torch device", source=source) from None
    kind = parsed.type
    if kind == "cpu":
        return parsed
    if kind == "meta":
        raise ConfigError("the meta device holds no values", source=source, fix="use cpu or an accelerator")
    backend: Any = torch.backends.mps if kind == "mps" else getattr(torch, kind, None)
    available = getattr(backend, "is_available", None)
    if available is None or not available():
        build = "this torch build has no CUDA support" if kind == "cuda" and torch.version.cuda is None \
            else f"no {kind} device is available here"
        raise ConfigError(f"cannot run on {str(parsed)!r}: {build} (torch {torch.__version__})", source=source,
                          fix="use --device cpu (device='cpu'), or install a torch build for this accelerator")
    count = getattr(backend, "device_count", None)
    if parsed.index is not None and callable(count) and parsed.index >= count():
        raise ConfigError(f"cannot run on {str(parsed)!r}: there are {count()} {kind} devices here", source=source,
                          fix=f"use an index from 0 to {count() - 1}")
    return parsed
