"""Checkpoint files of metamer synthesis: plain tensors and dictionaries, no pickled objects.

A checkpoint is written with :func:`torch.save` to a temporary file beside the
target and moved into place with :func:`os.replace`, so a crash never leaves a
half-written file under the final name; it is read with
``torch.load(weights_only=True)``, which refuses anything but tensors,
containers and plain values.  It records the model's identity (the digest of
:func:`neuroalign.extract.fingerprint.model_fingerprint`, and a digest of its
parameters and buffers) so that a synthesis is never resumed on another model.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.provenance import content_digest
from ..errors import ConfigError, FileFormatError
from ..extract.fingerprint import model_fingerprint

__all__ = ["write_checkpoint", "read_checkpoint", "model_identity", "check_same_model", "FORMAT", "VERSION"]

FORMAT = "neuroalign.metamer"
VERSION = 1


def write_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (tensors, dicts, lists, plain values) atomically to ``path``."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path} is a folder", source=str(path), fix="pass a file name, e.g. metamer.pt")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save({"format": FORMAT, "version": VERSION, **payload}, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def read_checkpoint(path: str | os.PathLike, *, map_location: Any = None) -> dict[str, Any]:
    """The payload of a checkpoint written by :func:`write_checkpoint`.

    Raises
    ------
    FileFormatError
        The file is missing, not a torch file, holds pickled objects, or is not a metamer checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileFormatError("no such checkpoint file", source=str(path), fix="check the path")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, … for bad files
        raise FileFormatError(f"not a readable checkpoint ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})",
                              source=str(path), fix="pass a file written by Metamer.save") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise FileFormatError("not a metamer checkpoint", source=str(path), fix="pass a file written by Metamer.save")
    if payload.get("version") != VERSION:
        raise FileFormatError(f"checkpoint version {payload.get('version')!r}, this neuroalign reads {VERSION}",
                              source=str(path), fix="resume it with the neuroalign version that wrote it")
    return payload


def model_identity(model: nn.Module) -> dict[str, Any]:
    """The model's fingerprint digest (and whether it is reliable) and a digest of its parameters and buffers.

    Examples
    --------
    >>> from torch import nn
    >>> from neuroalign.metamers.checkpoint import model_identity
    >>> a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    >>> model_identity(a)["weights"] == model_identity(a)["weights"], model_identity(a) == model_identity(b)
    (True, False)
    """
    fingerprint = model_fingerprint(model)
    digest = content_digest()
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return {"digest": fingerprint.digest, "reliable": fingerprint.reliable, "weights": digest.hexdigest()}


def check_same_model(saved: dict[str, Any], model: nn.Module, path: str | os.PathLike) -> None:
    """Refuse to resume a checkpoint on a model other than the one it was written with.

    The full fingerprint is compared when both are reliable; otherwise (a model holding something that
    cannot be described) the parameters and buffers are.
    """
    current = model_identity(model)
    same = (saved["digest"] == current["digest"] if saved["reliable"] and current["reliable"]
            else saved["weights"] == current["weights"])
    if not same:
        raise ConfigError("the model differs from the one the checkpoint was synthesised with (its fingerprint: "
                          "weights, buffers, structure or code)", source=str(path),
                          fix="pass the same model, with the same weights, to Metamer.load")
