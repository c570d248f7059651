"""Recording module outputs with forward hooks.

A :class:`HookRecorder` registers one forward hook per layer for the
duration of a ``with`` block and collects, per forward pass, every output
each layer produced.  A module that runs several times per pass (a recurrent
cell, a reused block, a time-unrolled network) yields one output per call,
in call order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from ..errors import ExtractionError

__all__ = ["HookRecorder", "run_model"]


def run_model(model: Any, inputs: Any) -> Any:
    """Call ``model`` on ``inputs``: a mapping is passed as keyword arguments (tokenizer output)."""
    if isinstance(inputs, Mapping):
        return model(**inputs)
    return model(inputs)


class HookRecorder:
    """Record the outputs of named submodules during forward passes.

    Parameters
    ----------
    model : torch.nn.Module
    layers : sequence of str
        Names from ``model.named_modules()`` (see :func:`~neuroalign.extract.resolve_layers`).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from neuroalign.extract.hooks import HookRecorder
    >>> net = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    >>> with HookRecorder(net, ["0"]) as recorder:
    ...     outputs = recorder.run(torch.zeros(4, 3))
    >>> len(outputs["0"]), tuple(outputs["0"][0].shape)
    (1, (4, 2))
    """

    def __init__(self, model: nn.Module, layers: Sequence[str]):
        self.model = model
        self.layers = list(layers)
        self._outputs: dict[str, list[Any]] = {name: [] for name in self.layers}
        self._handles: list[Any] = []

    def __enter__(self) -> "HookRecorder":
        for name in self.layers:
            store = self._outputs[name]

            def hook(module, inputs, output, _store=store):
                _store.append(output)

            self._handles.append(self.model.get_submodule(name).register_forward_hook(hook))
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def run(self, inputs: Any) -> dict[str, list[Any]]:
        """One forward pass; returns layer → list of its outputs (one per call).

        Raises
        ------
        ExtractionError
            A layer did not run during the pass.
        """
        if not self._handles:
            raise ExtractionError("the recorder is not active", source="HookRecorder",
                                  fix="use it inside a `with HookRecorder(...) as recorder:` block")
        for outputs in self._outputs.values():
            outputs.clear()
        run_model(self.model, inputs)
        silent = [name for name, outputs in self._outputs.items() if not outputs]
        if silent:
            raise ExtractionError(
                f"layer {silent[0]!r} did not run during the forward pass",
                source="layers", fix="pick a module that forward() calls (or use backend='fx' for functional ops)",
            )
        result = {name: list(outputs) for name, outputs in self._outputs.items()}
        for outputs in self._outputs.values():
            outputs.clear()
        return result
