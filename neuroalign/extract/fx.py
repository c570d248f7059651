"""Recording graph nodes with ``torch.fx``: outputs of functional operations too.

Forward hooks only see modules.  A residual addition (``x + f(x)``), a
``torch.relu`` call or a ``view`` is invisible to them but is a node of the
graph that :func:`torch.fx.symbolic_trace` builds.  :class:`FxRecorder`
rewrites that graph to return the requested nodes and stops it after the last
of them, so each forward pass computes no more than it needs.  A recorded
value is kept as it is when its node runs (see
:func:`~neuroalign.extract.hooks.snapshot`): later nodes, in-place ones
included (``x.relu_()``, ``F.relu(x, inplace=True)``, a module with
``inplace=True``), cannot change it.  Every node up to the last recorded one
still runs, used or not: an in-place operation has no users in the graph but
changes the values that later nodes read.

Node names are those of the traced graph: ``graph_nodes(trace(model))`` lists
them (e.g. ``"block1_0"`` for module ``block1.0``, ``"add"``, ``"relu_1"``).
Tracing needs a forward pass without data-dependent control flow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import fx, nn

from ..errors import ExtractionError
from .hooks import Keep, keep_copy, run_model

__all__ = ["trace", "graph_nodes", "FxRecorder"]

_SKIPPED_OPS = ("placeholder", "output", "get_attr")


def trace(model: nn.Module, concrete_args: dict[str, Any] | None = None) -> fx.GraphModule:
    """``torch.fx.symbolic_trace`` with an error that says what to do when it fails.

    Trace in eval mode: branches on ``self.training`` are fixed at trace time.
    """
    try:
        return fx.symbolic_trace(model, concrete_args=concrete_args)
    except Exception as exc:  # fx raises many kinds (TraceError, TypeError, NotImplementedError...)
        raise ExtractionError(
            f"torch.fx cannot trace {type(model).__name__} ({type(exc).__name__}: {exc})",
            source="backend='fx'",
            fix="use the default backend='hooks' with module names, or make forward() traceable",
        ) from exc


def graph_nodes(graph_module: fx.GraphModule) -> dict[str, fx.Node]:
    """Recordable nodes of a traced graph, by name, in execution order.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from neuroalign.extract.fx import graph_nodes, trace
    >>> class Residual(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.lin = nn.Linear(2, 2)
    ...     def forward(self, x):
    ...         return torch.relu(x + self.lin(x))
    >>> list(graph_nodes(trace(Residual())))
    ['lin', 'add', 'relu']
    """
    return {node.name: node for node in graph_module.graph.nodes if node.op not in _SKIPPED_OPS}


class _Tap(nn.Module):
    """A graph node's recorder: ``keep(layer, value)`` when the node has just run."""

    def __init__(self, recorder: "FxRecorder", layer: str):
        super().__init__()
        self.recorder, self.layer = recorder, layer

    def forward(self, value: Any) -> Any:
        return self.recorder.keep(self.layer, value)


class FxRecorder:
    """Record named graph nodes: one output per node and forward pass.

    Parameters
    ----------
    graph_module : torch.fx.GraphModule
        From :func:`trace`.
    layers : sequence of str
        Node names (see :func:`graph_nodes`).
    keep : callable, optional
        ``keep(layer, value)`` runs right after the node, and its result is
        recorded (default: a copy, :func:`~neuroalign.extract.hooks.snapshot`).
    """

    def __init__(self, graph_module: fx.GraphModule, layers: Sequence[str], keep: Keep | None = None):
        self.layers = list(layers)
        self.keep = keep or keep_copy
        nodes = graph_nodes(graph_module)
        missing = [name for name in self.layers if name not in nodes]
        if missing:
            raise ExtractionError(f"graph node {missing[0]!r} is not in the traced graph", source="layers",
                                  fix="resolve names with graph_nodes(trace(model))")
        graph = fx.Graph()
        remap: dict[fx.Node, fx.Node] = {}
        graph.graph_copy(graph_module.graph, remap)  # every node but the output
        self.module = fx.GraphModule(graph_module, graph)
        taps = {}
        for index, name in enumerate(self.layers):
            target = f"_neuroalign_tap_{index}"
            self.module.add_submodule(target, _Tap(self, name))
            with graph.inserting_after(remap[nodes[name]]):  # before anything later can modify the value
                taps[name] = graph.call_module(target, (remap[nodes[name]],))
        order = {node: i for i, node in enumerate(graph.nodes)}
        last = max(order[tap] for tap in taps.values())
        for node in reversed(list(graph.nodes)):
            if order[node] > last and node.op != "placeholder":
                graph.erase_node(node)  # nothing after the last tap can change a recorded value
        graph.output({name: taps[name] for name in self.layers})
        self.module.delete_all_unused_submodules()
        self.module.graph.lint()
        self.module.recompile()
        self.module.train(graph_module.training)

    def __enter__(self) -> "FxRecorder":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def run(self, inputs: Any) -> dict[str, list[Any]]:
        """One forward pass; returns node → ``[what keep recorded]``."""
        outputs = run_model(self.module, inputs)
        return {name: [outputs[name]] for name in self.layers}
