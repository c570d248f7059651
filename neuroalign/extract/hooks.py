"""Recording module outputs with forward hooks.

A :class:`HookRecorder` registers one forward hook per layer for the
duration of a ``with`` block and collects, per forward pass, every output
each layer produced.  A module that runs several times per pass (a recurrent
cell, a reused block, a time-unrolled network) yields one output per call,
in call order.

An output is recorded as it is when the module returns it: the hook keeps a
copy (:func:`snapshot`), or whatever the ``keep`` function derives from the
output at that moment, so that nothing that runs later in the forward pass —
an in-place module (``nn.ReLU(inplace=True)``), an in-place operation in
``forward`` (``x.relu_()``, ``x += 1``), a change to the tensor a view
shares memory with — can alter it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..errors import ExtractionError

__all__ = ["HookRecorder", "run_model", "snapshot", "keep_copy", "Keep"]

#: ``keep(layer, output)``: what a recorder stores of an output, computed when the output is produced.
#: It must not return memory that the forward pass can still change (see :func:`snapshot`).
Keep = Callable[[str, Any], Any]


def run_model(model: Any, inputs: Any) -> Any:
    """Call ``model`` on ``inputs``: a mapping is passed as keyword arguments (tokenizer output)."""
    if isinstance(inputs, Mapping):
        return model(**inputs)
    return model(inputs)


def snapshot(output: Any) -> Any:
    """A copy of ``output`` that nothing else references: every tensor detached and cloned.

    Tuples (named ones too), lists, mappings and dataclasses (a Hugging Face
    ``ModelOutput``) are rebuilt around the copies, at any depth; other
    values are kept as they are.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.extract.hooks import snapshot
    >>> x = torch.zeros(2)
    >>> kept = snapshot({"a": (x, 1)})
    >>> _ = x.add_(1.0)
    >>> kept["a"][0].tolist(), kept["a"][1]
    ([0.0, 0.0], 1)
    """
    if isinstance(output, torch.Tensor):
        return output.detach().clone()
    if dataclasses.is_dataclass(output) and not isinstance(output, type):
        changes = {f.name: snapshot(getattr(output, f.name)) for f in dataclasses.fields(output) if f.init}
        return dataclasses.replace(output, **changes)
    if isinstance(output, Mapping):
        items = {key: snapshot(value) for key, value in output.items()}
        try:
            return type(output)(items)
        except TypeError:  # a mapping type without a dict constructor
            return items
    if isinstance(output, tuple) and hasattr(output, "_fields"):  # named tuple
        return type(output)(*(snapshot(value) for value in output))
    if isinstance(output, (tuple, list)):
        values = [snapshot(value) for value in output]
        return type(output)(values) if type(output) in (tuple, list) else tuple(values)
    return output


def keep_copy(layer: str, output: Any) -> Any:
    """The default ``keep`` of the recorders: a :func:`snapshot` of the output."""
    return snapshot(output)


class HookRecorder:
    """Record the outputs of named submodules during forward passes.

    Parameters
    ----------
    model : torch.nn.Module
    layers : sequence of str
        Names from ``model.named_modules()`` (see :func:`~neuroalign.extract.resolve_layers`).
    keep : callable, optional
        ``keep(layer, output)`` runs inside the hook, when the module returns
        ``output``, and its result is recorded.  The default,
        :func:`keep_copy`, records a :func:`snapshot` of the output.  A ``keep`` that returns a view
        of ``output`` (or ``output`` itself) records values that later
        in-place operations may overwrite.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from neuroalign.extract.hooks import HookRecorder
    >>> net = nn.Sequential(nn.Linear(3, 2), nn.ReLU(inplace=True))
    >>> with HookRecorder(net, ["0"]) as recorder:
    ...     outputs = recorder.run(-torch.ones(4, 3))
    >>> len(outputs["0"]), tuple(outputs["0"][0].shape)
    (1, (4, 2))
    >>> bool((outputs["0"][0] == net[0](-torch.ones(4, 3))).all())  # before the in-place ReLU
    True
    """

    def __init__(self, model: nn.Module, layers: Sequence[str], keep: Keep | None = None):
        self.model = model
        self.layers = list(layers)
        self.keep = keep or keep_copy
        self._outputs: dict[str, list[Any]] = {name: [] for name in self.layers}
        self._handles: list[Any] = []

    def __enter__(self) -> "HookRecorder":
        for name in self.layers:
            store = self._outputs[name]

            def hook(module, inputs, output, _store=store, _name=name):
                _store.append(self.keep(_name, output))

            self._handles.append(self.model.get_submodule(name).register_forward_hook(hook))
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def run(self, inputs: Any) -> dict[str, list[Any]]:
        """One forward pass; returns layer → list of what ``keep`` recorded (one per call).

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
