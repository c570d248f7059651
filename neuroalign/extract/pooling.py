"""From a layer's raw output to a ``(stimulus, neuroid[, time])`` feature matrix.

Three steps, each explicit:

1. **Selection** (``select=``): a layer that returns a tuple, list or dict
   (an LSTM's ``(output, (h, c))``, a transformer block's tuple, a Hugging
   Face ``ModelOutput``) must say which element to keep: an index, a key, or
   a callable.
2. **Pooling** (``pooling=``), see :data:`POOLING_METHODS`: conv maps are
   flattened (default), globally averaged or max-pooled, or averaged on a
   spatial grid (``(2, 2)``); sequences ``(N, T, D)`` keep their ``cls``
   (first) token, the ``mean`` over tokens or the ``last`` token (padding
   excluded when the inputs carry an ``attention_mask``), or keep ``time``
   as a dimension.
3. **Calls**: a module that runs several times in one forward pass (a
   recurrent cell, a time-unrolled block) gives one output per call; with
   ``calls="all"`` these become the ``time_bin`` dimension, ``"first"`` or
   ``"last"`` keep one.

Neuroid coordinates are the same for every layer: ``channel``, ``row`` and
``col`` (``-1`` where an output has no such axis).  For ``(N, C, L)``
outputs ``col`` is the position along ``L``; for more than two spatial axes
``row`` and ``col`` are the last two.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError, ExtractionError, UnknownNameError

__all__ = ["POOLING_METHODS", "CALLS", "Pooling", "Selection", "UnitCoords", "check_pooling", "check_selection",
           "select_output", "pool", "output_features", "combine_calls"]

#: Named pooling methods; a ``(rows, cols)`` tuple is a spatial grid of averages.
POOLING_METHODS = ("flatten", "avg", "max", "cls", "mean", "last", "time")
#: What to do with a module that runs several times per forward pass.
CALLS = ("all", "first", "last")

Pooling = Union[str, tuple[int, int]]
Selection = Union[None, int, str, Callable[[Any], torch.Tensor]]


@dataclass(frozen=True)
class UnitCoords:
    """Neuroid coordinates of one layer's features, and its number of time steps (``None``: no time)."""

    channel: np.ndarray
    row: np.ndarray
    col: np.ndarray
    n_time: int | None = None

    @property
    def n_units(self) -> int:
        return len(self.channel)

    @classmethod
    def plain(cls, n: int, n_time: int | None = None) -> "UnitCoords":
        """Coordinates of ``n`` non-spatial features (reduced components, pooled tokens)."""
        return cls(np.arange(n), np.full(n, -1), np.full(n, -1), n_time)


def _check_one_pooling(method: Any, source: str) -> Pooling:
    if isinstance(method, str):
        if method not in POOLING_METHODS:
            raise UnknownNameError(method, POOLING_METHODS, what="pooling method", source=source)
        return method
    if isinstance(method, Sequence) and len(method) == 2 and all(isinstance(v, int) and v > 0 for v in method):
        return (int(method[0]), int(method[1]))
    raise ConfigError(f"pooling must be one of {POOLING_METHODS} or a (rows, cols) grid, got {method!r}",
                      source=source, fix="pass e.g. pooling='avg' or pooling=(2, 2)")


def check_pooling(pooling: Pooling | Mapping[str, Pooling], layers: Sequence[str]) -> dict[str, Pooling]:
    """One validated pooling method per layer (a mapping may name some layers; the rest flatten)."""
    if isinstance(pooling, Mapping):
        unknown = [k for k in pooling if k not in layers]
        if unknown:
            raise UnknownNameError(unknown[0], layers, what="layer in pooling", source="pooling")
        return {name: _check_one_pooling(pooling.get(name, "flatten"), f"pooling[{name!r}]") for name in layers}
    method = _check_one_pooling(pooling, "pooling")
    return {name: method for name in layers}


def check_selection(select: Selection | Mapping[str, Selection], layers: Sequence[str]) -> dict[str, Selection]:
    """One output selection per layer (``None``: the output must be a tensor)."""
    if isinstance(select, Mapping):
        unknown = [k for k in select if k not in layers]
        if unknown:
            raise UnknownNameError(unknown[0], layers, what="layer in select", source="select")
        return {name: select.get(name) for name in layers}
    if select is not None and not isinstance(select, (int, str)) and not callable(select):
        raise ConfigError(f"select must be an index, a key or a callable, got {select!r}", source="select",
                          fix="pass e.g. select=0 for the first element of a tuple output")
    return {name: select for name in layers}


def _describe_structure(output: Any) -> str:
    if isinstance(output, Mapping):
        return "keys " + ", ".join(f"{k!r} ({type(v).__name__})" for k, v in output.items())
    return "indices " + ", ".join(f"{i} ({type(v).__name__})" for i, v in enumerate(output))


def select_output(output: Any, selection: Selection, layer: str) -> torch.Tensor:
    """The tensor of ``output`` named by ``selection``; a structured output without one raises.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.extract.pooling import select_output
    >>> select_output((torch.ones(2), torch.zeros(3)), 1, "lstm").shape
    torch.Size([3])
    """
    if selection is None:
        if isinstance(output, torch.Tensor):
            return output
        if isinstance(output, (Mapping, tuple, list)):
            raise ExtractionError(
                f"layer {layer!r} returns a {type(output).__name__} with {_describe_structure(output)}",
                source="select", fix=f"choose one with select={{{layer!r}: <index or key>}}",
            )
        raise ExtractionError(f"layer {layer!r} returns a {type(output).__name__}, not a tensor", source="layers",
                              fix="hook a submodule that returns a tensor, or pass a callable select=")
    if isinstance(output, torch.Tensor) and not callable(selection):
        # indexing the tensor itself would pick along its batch axis: stimuli's values under other stimuli's rows
        raise ExtractionError(
            f"layer {layer!r} returns a tensor, and select={selection!r} chooses an element of a tuple/dict output",
            source="select", fix=f"leave select out for layer {layer!r} (give select={{layer: ...}} only for "
                                 "layers whose outputs are tuples or dicts), or pass a callable")
    try:
        if callable(selection):
            chosen = selection(output)
        elif isinstance(output, Mapping):
            chosen = output[selection]
        elif isinstance(output, (tuple, list)):
            chosen = output[selection]
        else:
            chosen = getattr(output, selection) if isinstance(selection, str) else output[selection]
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        where = _describe_structure(output) if isinstance(output, (Mapping, tuple, list)) else type(output).__name__
        raise ExtractionError(f"cannot select {selection!r} from the output of layer {layer!r} ({where})",
                              source="select", fix="pass an index or key that the output has") from exc
    if not isinstance(chosen, torch.Tensor):
        raise ExtractionError(f"select={selection!r} on layer {layer!r} gives a {type(chosen).__name__}, not a tensor",
                              source="select", fix="select a tensor element (nest with a callable if needed)")
    return chosen


def _unit_coords(shape: Sequence[int], n_time: int | None = None) -> UnitCoords:
    return _cached_unit_coords(tuple(int(s) for s in shape) or (1,), n_time)


@functools.lru_cache(maxsize=256)
def _cached_unit_coords(shape: tuple[int, ...], n_time: int | None) -> UnitCoords:
    """Computed once per output shape (the arrays are shared: never modify them)."""
    n = int(np.prod(shape))
    index = np.unravel_index(np.arange(n), shape)
    none = np.full(n, -1)
    if len(shape) == 1:
        return UnitCoords(index[0], none, none, n_time)
    if len(shape) == 2:
        return UnitCoords(index[0], none, index[1], n_time)
    return UnitCoords(index[0], index[-2], index[-1], n_time)


def _need(t: torch.Tensor, ndim: int, method: Pooling, layer: str) -> None:
    if t.ndim < ndim:
        raise ExtractionError(
            f"pooling {method!r} needs an output with at least {ndim} dims (batch first); layer {layer!r} gives "
            f"shape {tuple(t.shape)}", source="pooling", fix=f"use pooling='flatten' for layer {layer!r}")


def _token_mask(t: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor | None:
    if attention_mask is None or attention_mask.ndim != 2 or tuple(attention_mask.shape) != tuple(t.shape[:2]):
        return None
    return attention_mask.to(device=t.device, dtype=torch.bool)


def pool(t: torch.Tensor, method: Pooling, layer: str, *,
         attention_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, UnitCoords]:
    """Pool one output ``(N, …)`` into features ``(N, F)`` (``(N, F, T)`` for ``"time"``).

    Examples
    --------
    >>> import torch
    >>> from neuroalign.extract.pooling import pool
    >>> features, coords = pool(torch.ones(2, 8, 4, 4), (2, 2), "conv")
    >>> tuple(features.shape), coords.channel[:5].tolist(), coords.row[:5].tolist()
    ((2, 32), [0, 0, 0, 0, 1], [0, 0, 1, 1, 0])
    """
    n = t.shape[0]
    if method == "flatten":
        return t.reshape(n, -1), _unit_coords(t.shape[1:])
    if method in ("avg", "max"):
        _need(t, 3, method, layer)
        dims = tuple(range(2, t.ndim))
        pooled = t.mean(dim=dims) if method == "avg" else t.amax(dim=dims)
        return pooled, _unit_coords(pooled.shape[1:])
    if isinstance(method, tuple):
        if t.ndim != 4:
            raise ExtractionError(f"a spatial grid needs (N, C, H, W) maps; layer {layer!r} gives {tuple(t.shape)}",
                                  source="pooling", fix=f"use pooling='flatten' or 'avg' for layer {layer!r}")
        if method[0] > t.shape[2] or method[1] > t.shape[3]:
            raise ExtractionError(f"grid {method} is finer than layer {layer!r}'s {t.shape[2]}×{t.shape[3]} maps",
                                  source="pooling", fix="use a coarser grid")
        pooled = F.adaptive_avg_pool2d(t, method)
        return pooled.reshape(n, -1), _unit_coords(pooled.shape[1:])
    _need(t, 3, method, layer)
    mask = _token_mask(t, attention_mask)
    if method == "cls":
        chosen = t[:, 0]
    elif method == "mean":
        if mask is None:
            chosen = t.mean(dim=1)
        else:
            weights = mask.to(t.dtype).reshape(*mask.shape, *([1] * (t.ndim - 2)))
            chosen = (t * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)
    elif method == "last":
        if mask is None:
            chosen = t[:, -1]
        else:
            last = mask.shape[1] - 1 - torch.flip(mask, dims=[1]).to(torch.int64).argmax(dim=1)
            chosen = t[torch.arange(n, device=t.device), last]
    else:  # "time": keep axis 1 as time steps
        steps = t.shape[1]
        features = t.reshape(n, steps, -1).transpose(1, 2)
        return features, _unit_coords(t.shape[2:], n_time=steps)
    return chosen.reshape(n, -1), _unit_coords(chosen.shape[1:])


def _owned(features: torch.Tensor, source: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
    """``features`` in memory of their own: copied (into ``out`` where it fits) if they share ``source``'s memory."""
    try:
        shared = features.untyped_storage().data_ptr() == source.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):  # a tensor without plain storage: copy to be safe
        shared = True
    if not shared:
        return features
    if out is not None and out.shape == features.shape and out.device == features.device:
        return out.copy_(features)
    return features.clone(memory_format=torch.contiguous_format)


def output_features(output: Any, layer: str, *, select: Selection = None, pooling: Pooling = "flatten",
                    attention_mask: torch.Tensor | None = None,
                    out: torch.Tensor | None = None) -> tuple[torch.Tensor, UnitCoords]:
    """Features of one output, computed now and held in memory of their own.

    Called when the layer produces ``output`` (in the recorder's hook), so
    that the features are those of the output at that moment: a later
    in-place operation on the output, or on the tensor it is a view of,
    cannot change them.  Pooling that builds a new tensor (``"avg"``,
    ``"max"``, a grid, ``"mean"``) needs no copy; where the pooled features
    are a view of the output (``"flatten"`` of a contiguous map, ``"cls"``)
    they are copied, once: into ``out`` (e.g. the rows of the result that
    they belong to) when it has their shape and device, else into a new
    tensor.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.extract.pooling import output_features
    >>> x = torch.ones(2, 3)
    >>> features, units = output_features(x, "layer")
    >>> _ = x.zero_()
    >>> features.sum().item(), units.n_units
    (6.0, 3)
    """
    t = select_output(output, select, layer)
    features, units = pool(t.detach(), pooling, layer, attention_mask=attention_mask)
    return _owned(features, t, out), units


def combine_calls(pooled: Sequence[tuple[torch.Tensor, UnitCoords] | ExtractionError], layer: str, *,
                  pooling: Pooling = "flatten", calls: str = "all") -> tuple[torch.Tensor, UnitCoords]:
    """One layer's features from those of its calls in one forward pass (see :func:`output_features`).

    An element of ``pooled`` may be the :class:`ExtractionError` that
    :func:`output_features` raised for that call: it is raised here if the
    call is kept, after the number of calls is checked.
    """
    if calls == "first":
        pooled = pooled[:1]
    elif calls == "last":
        pooled = pooled[-1:]
    if pooling == "time" and len(pooled) > 1:
        raise ExtractionError(f"layer {layer!r} ran {len(pooled)} times per forward pass and pooling='time' "
                              "would add a second time axis", source="pooling",
                              fix="use calls='last' (or 'first'), or another pooling")
    for item in pooled:
        if isinstance(item, ExtractionError):
            raise item
    if len(pooled) == 1:
        return pooled[0]
    shapes = {tuple(p[0].shape) for p in pooled}
    if len(shapes) > 1:
        raise ExtractionError(f"layer {layer!r} ran {len(pooled)} times with different output shapes {sorted(shapes)}",
                              source="layers", fix="use calls='last' or calls='first' to keep one call")
    return torch.stack([p[0] for p in pooled], dim=-1), UnitCoords(pooled[0][1].channel, pooled[0][1].row,
                                                                   pooled[0][1].col, n_time=len(pooled))
