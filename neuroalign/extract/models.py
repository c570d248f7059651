"""Models from anywhere torch lives, and their content hash.

:func:`load_model` accepts

* an ``nn.Module`` (returned as it is);
* a ``"package.module:factory"`` or ``"path/to/file.py:factory"`` string: the
  factory (a class or function, dotted attributes allowed) is imported (a
  module in the current folder needs no ``PYTHONPATH``) and called with
  ``kwargs``, checked against its signature first (see :mod:`.factories`);
* ``"hf:<name or folder>"``: a Hugging Face ``transformers`` model, read from
  a local folder or the local Hugging Face cache only (optional extra
  ``neuroalign[hf]``);

and ``weights=`` a state-dict file, read with ``torch.load(weights_only=True)``
(or a ``.safetensors`` file when that package is installed).  Nothing is
downloaded: only the user's own factory code could do that.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.provenance import content_digest
from ..errors import ConfigError, DependencyError, ExtractionError, FileFormatError
from .factories import load_factory_model
from .fingerprint import model_fingerprint, model_hash

__all__ = ["load_model", "load_state_dict", "model_hash", "model_fingerprint", "default_model_name", "hf_tokenizer"]

log = logging.getLogger(__name__)

HF_PREFIX = "hf:"


def load_model(spec: nn.Module | str, *, weights: str | os.PathLike | None = None,
               kwargs: Mapping[str, Any] | None = None, strict: bool = True) -> nn.Module:
    """A model from a module, a ``"package.module:factory"`` or ``"file.py:factory"`` string, or ``"hf:<path>"``.

    Parameters
    ----------
    spec : nn.Module or str
    weights : path-like, optional
        A state-dict file to load into the model (``torch.load(weights_only=True)``);
        a checkpoint dict holding it under ``"state_dict"`` or ``"model"`` works too.
    kwargs : mapping, optional
        Keyword arguments of the factory.
    strict : bool
        Passed to ``load_state_dict``: every key must match.

    Raises
    ------
    ConfigError
        The spec is malformed, the module cannot be imported, an argument is not
        one of the factory's (the message lists close matches) or has the wrong
        type, the factory fails or does not return an ``nn.Module``, or the
        weights do not fit the model.
    FileFormatError
        The weights file is missing, unreadable, or not a state dict (a
        mapping of text names to tensors).
    DependencyError
        ``"hf:"`` without ``transformers`` installed.

    Examples
    --------
    >>> from neuroalign.extract import load_model
    >>> load_model("neuroalign.models:ReferenceNet", kwargs={"seed": 1}).seed
    1
    """
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise ConfigError(f"kwargs is a {type(kwargs).__name__}, not a mapping of argument names to values",
                          source="kwargs", fix="pass e.g. kwargs={'seed': 0}")
    if not isinstance(strict, bool):
        raise ConfigError(f"strict must be True or False, got {strict!r}", source="strict", fix="pass strict=True")
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise ConfigError(f"weights is a {type(weights).__name__}, not a path", source="weights",
                          fix="pass the path of a state-dict file (or None)")
    if isinstance(spec, nn.Module):
        model = spec
    elif isinstance(spec, str) and spec.startswith(HF_PREFIX):
        model = _load_hf(spec[len(HF_PREFIX):], kwargs or {})
    elif isinstance(spec, str):
        model = load_factory_model(spec, kwargs or {})
    else:
        raise ConfigError(f"cannot make a model out of a {type(spec).__name__}", source="model",
                          fix="pass an nn.Module, 'package.module:factory' or 'hf:<folder>'")
    if isinstance(model, torch.jit.ScriptModule):
        raise ConfigError("a TorchScript module cannot be hooked: the outputs of its layers cannot be recorded",
                          source="model", fix="pass the Python nn.Module (the one given to torch.jit.script/trace)")
    if weights is not None:
        try:
            missing, unexpected = model.load_state_dict(load_state_dict(weights), strict=strict)
        except RuntimeError as exc:  # missing, unexpected or differently shaped tensors
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            raise ConfigError(f"the weights do not fit the model ({'; '.join(lines[:4])[:600]})",
                              source=str(weights), fix="pass the weights of this architecture "
                              "(or strict=False to load the tensors that fit)") from exc
        if missing or unexpected:
            log.warning("weights %s: %d missing and %d unexpected keys", weights, len(missing), len(unexpected))
    return model


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict without unpickling code (``torch.load(weights_only=True)``)."""
    path = Path(path)
    if not path.is_file():
        raise FileFormatError("file not found", source=str(path), fix="check the weights path")
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError as exc:
            raise DependencyError("safetensors is needed to read .safetensors weights", source=str(path),
                                  fix="pip install safetensors") from exc
        try:
            return load_file(str(path))
        except Exception as exc:  # noqa: BLE001 - safetensors' errors have their own types
            raise FileFormatError(f"cannot read it as a safetensors file ({type(exc).__name__}: {exc})",
                                  source=str(path), fix="check that the file is complete") from exc
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors have many types
        raise FileFormatError(f"cannot read it as a state dict with torch.load(weights_only=True) ({exc})",
                              source=str(path),
                              fix="save weights with torch.save(model.state_dict(), path), not the whole model") from exc
    if isinstance(state, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), Mapping):
                state = state[key]
                break
    if not isinstance(state, Mapping) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                 for k, v in state.items()):
        raise FileFormatError("the file holds no state dict (a mapping of names to tensors)", source=str(path),
                              fix="save weights with torch.save(model.state_dict(), path)")
    return dict(state)


def _require_transformers() -> Any:
    try:
        import transformers
    except ImportError as exc:
        raise DependencyError("Hugging Face models need the transformers package", source="model",
                              fix='pip install "neuroalign[hf]" (or pip install transformers)') from exc
    return transformers


def _load_hf(name: str, kwargs: Mapping[str, Any]) -> nn.Module:
    transformers = _require_transformers()
    try:
        return transformers.AutoModel.from_pretrained(name, local_files_only=True, **kwargs)
    except OSError as exc:
        raise FileFormatError(f"no local Hugging Face model {name!r} ({exc})", source="model",
                              fix="pass a folder saved with save_pretrained(), or a model already in the local "
                                  "Hugging Face cache (neuroalign downloads nothing)") from exc


class _Tokenizer:
    """A tokenizer as a ``preprocess`` callable: list of str → dict of tensors."""

    batched = False

    def __init__(self, tokenizer: Any, name: str, max_length: int | None):
        self.tokenizer = tokenizer
        self.name = name
        self.max_length = max_length

    def __call__(self, texts: list[str]) -> dict[str, torch.Tensor]:
        return dict(self.tokenizer(texts, padding=True, truncation=self.max_length is not None,
                                   max_length=self.max_length, return_tensors="pt"))

    def spec(self) -> dict[str, Any]:
        vocab = self.tokenizer.get_vocab()
        digest = content_digest(repr(sorted(vocab.items())).encode()).hexdigest()
        return {"tokenizer": type(self.tokenizer).__name__, "name": self.name, "max_length": self.max_length,
                "vocab": digest, "padding_side": getattr(self.tokenizer, "padding_side", None)}


def hf_tokenizer(name: str, *, max_length: int | None = None) -> _Tokenizer:
    """A local Hugging Face tokenizer as ``preprocess`` for text stimuli (pads, returns tensors)."""
    transformers = _require_transformers()
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(name, local_files_only=True)
    except OSError as exc:
        raise FileFormatError(f"no local Hugging Face tokenizer {name!r} ({exc})", source="tokenizer",
                              fix="pass a folder saved with save_pretrained()") from exc
    return _Tokenizer(tokenizer, name, max_length)


def default_model_name(spec: nn.Module | str) -> str:
    """The name used in coordinates: the class name, or the factory / Hugging Face name."""
    if isinstance(spec, str):
        name = spec[len(HF_PREFIX):] if spec.startswith(HF_PREFIX) else spec.partition(":")[2]
        return Path(name).name if spec.startswith(HF_PREFIX) else name
    return type(spec).__name__


def forward_failed(exc: Exception, inputs: Any) -> ExtractionError:
    """The error for a model whose forward pass raised ``exc`` on ``inputs``: what went in, what torch said."""
    message = " ".join(str(exc).split())[:400]
    if isinstance(exc, torch.OutOfMemoryError if hasattr(torch, "OutOfMemoryError") else MemoryError) \
            or "out of memory" in message:
        fix = "lower the batch size (batch_size=, --batch-size)"
    else:
        fix = "give the model stimuli of the shape and type it expects (e.g. (N, 3, H, W) float images; resize " \
              "or crop them), or a preprocess= that makes them so"
    return ExtractionError(f"the model failed on a batch of inputs {_shapes(inputs)}: {type(exc).__name__}: "
                           f"{message}", source="model", fix=fix)


def _shapes(inputs: Any) -> str:
    if isinstance(inputs, torch.Tensor):
        return f"{tuple(inputs.shape)} {str(inputs.dtype).replace('torch.', '')}"
    if isinstance(inputs, Mapping):
        return "{" + ", ".join(f"{k}: {_shapes(v)}" for k, v in inputs.items()) + "}"
    return type(inputs).__name__
