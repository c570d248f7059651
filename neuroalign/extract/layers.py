"""Which layers to record: names, glob patterns, all leaf modules, or a predicate."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Union

from torch import nn

from ..errors import ConfigError, UnknownNameError

__all__ = ["LayerSpec", "resolve_layers", "resolve_names", "leaf_modules", "describe_layers"]

#: What ``layers=`` accepts: a name or glob, a list of them, or a predicate ``(name, module) -> bool``.
LayerSpec = Union[str, Sequence[str], Callable[[str, Any], bool]]

_GLOB_CHARS = "*?["


def leaf_modules(name: str, module: nn.Module) -> bool:
    """Predicate for "all leaf modules" (modules without children).

    Examples
    --------
    >>> from torch import nn
    >>> from neuroalign.extract import leaf_modules, resolve_layers
    >>> net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), nn.Linear(2, 1)))
    >>> resolve_layers(net, leaf_modules)
    ['0', '1.0', '1.1']
    """
    return next(iter(module.children()), None) is None


def resolve_layers(model: nn.Module, layers: LayerSpec) -> list[str]:
    """Names of the submodules of ``model`` that ``layers`` selects, in a stable order.

    Parameters
    ----------
    model : torch.nn.Module
    layers : str, sequence of str, or callable
        Exact names from ``model.named_modules()``; glob patterns, expanded in
        module order, where ``*`` and ``?`` stay within one dotted part and
        ``**`` crosses dots (``"block*"`` matches ``block1`` but not
        ``block1.0``; ``"features.[0-3]"``, ``"encoder.**.attn"``); or a
        predicate ``(name, module) -> bool`` such as :func:`leaf_modules`.

    Returns
    -------
    list of str
        Explicit names keep the order given; duplicates are dropped.

    Raises
    ------
    UnknownNameError
        A name is not a submodule, or a pattern matches none (the message lists close matches).
    ConfigError
        The selection is empty.

    Examples
    --------
    >>> from neuroalign.extract import resolve_layers
    >>> from neuroalign.models import ReferenceNet
    >>> resolve_layers(ReferenceNet(), ["fc", "block[12]"])
    ['fc', 'block1', 'block2']
    """
    modules = dict(model.named_modules())
    modules.pop("", None)
    return resolve_names(modules, layers, what="layer")


def resolve_names(available: Mapping[str, Any], layers: LayerSpec, *, what: str = "layer") -> list[str]:
    """Resolve ``layers`` against ``available`` (name → object, in order); see :func:`resolve_layers`."""
    if callable(layers) and not isinstance(layers, str):
        chosen = [name for name, obj in available.items() if layers(name, obj)]
        if not chosen:
            raise ConfigError(f"the {what} predicate selects none of the {len(available)} {what}s", source="layers",
                              fix="check the predicate, or list names explicitly")
        return chosen
    if isinstance(layers, bytes) or not isinstance(layers, (str, Iterable)):
        raise ConfigError(f"layers is a {type(layers).__name__}, not a name, a list of names or a predicate",
                          source="layers", fix="pass e.g. layers='fc' or layers=['block1', 'fc']")
    names = [layers] if isinstance(layers, str) else list(layers)
    if not names:
        raise ConfigError(f"no {what}s given", source="layers", fix="name at least one layer")
    chosen: list[str] = []
    for name in names:
        if not isinstance(name, str):
            raise ConfigError(f"{what} names must be strings, got {name!r}", source="layers",
                              fix="pass names as they appear in model.named_modules()")
        if name in available:
            matches = [name]
        elif any(c in name for c in _GLOB_CHARS):
            pattern = _glob_regex(name)
            matches = [n for n in available if pattern.fullmatch(n)]
            if not matches:
                raise UnknownNameError(name, available, what=f"{what} pattern", source="layers")
        else:
            raise UnknownNameError(name, available, what=what, source="layers")
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """``**`` → any text; ``*`` → any text without a dot; ``?`` → one non-dot character; ``[...]`` kept."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^.]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^.]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2:]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1:end]
            out.append("[" + ("^" + re.escape(body[1:]) if body.startswith("!") else re.escape(body)).replace("\\-", "-")
                       + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def describe_layers(layers: LayerSpec) -> Any:
    """A JSON-serialisable description of a layer spec (for provenance)."""
    if callable(layers) and not isinstance(layers, str):
        return f"predicate {getattr(layers, '__module__', '?')}.{getattr(layers, '__qualname__', repr(layers))}"
    return [layers] if isinstance(layers, str) else list(layers)
