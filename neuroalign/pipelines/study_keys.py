"""Key paths of a study config: which keys the schema allows at each place of a raw config.

Used to check ``--set key.path=value`` overrides before anything is read, and
to name the valid keys (with close matches) when a key is misspelt.  An
analysis's ``params`` follow its kind's parameter model.

Examples
--------
>>> from neuroalign.pipelines.study_keys import key_schema, valid_keys
>>> from neuroalign.pipelines.study_schema import StudyConfig
>>> tree = {"analyses": [{"name": "a", "kind": "rsa"}]}
>>> tp, node = key_schema(StudyConfig, tree, ("analyses", 0))
>>> "params" in valid_keys(tp, node)
True
>>> "n_bootstrap" in valid_keys(*key_schema(StudyConfig, tree, ("analyses", 0, "params")))
True
"""

from __future__ import annotations

import types
from collections.abc import Iterable
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from ..errors import NeuroalignError
from .analysis_kinds import ANALYSIS_KINDS
from .study_schema import AnalysisSpec, NormalizeSpec, PreprocessingSpec

__all__ = ["schema_child", "valid_keys", "key_schema", "field_info"]


def _params_model(parent: Any) -> Any:
    kind = parent.get("kind") if isinstance(parent, dict) else None
    return ANALYSIS_KINDS[kind].params if isinstance(kind, str) and kind in ANALYSIS_KINDS else Any


def _normalize_model(parent: Any) -> Any:
    return NormalizeSpec if isinstance(parent, dict) and isinstance(parent.get("normalize"), dict) else Any


#: Fields whose schema depends on the config: (model, field) -> function of the parent mapping.
_DYNAMIC = {(AnalysisSpec, "params"): _params_model, (PreprocessingSpec, "normalize"): _normalize_model}


def _unwrap(tp: Any) -> Any:
    origin = get_origin(tp)
    if origin is Annotated:
        return _unwrap(get_args(tp)[0])
    if origin in (Union, types.UnionType):
        args = [arg for arg in get_args(tp) if arg is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else Any
    return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def schema_child(tp: Any, part: Any, parent: Any) -> Any:
    """The schema type of ``parent[part]`` when ``parent`` (a raw mapping or list) has schema type ``tp``."""
    tp = _unwrap(tp)
    if _is_model(tp):
        if part not in tp.model_fields:
            return Any
        dynamic = _DYNAMIC.get((tp, part))
        return dynamic(parent) if dynamic else _unwrap(tp.model_fields[part].annotation)
    if get_origin(tp) in (dict, list):
        return _unwrap(get_args(tp)[-1])
    return Any


def valid_keys(tp: Any, node: Any = None) -> list[str] | None:
    """The keys allowed in a mapping of schema type ``tp``; None where any key goes (names, loader args)."""
    tp = _unwrap(tp)
    return list(tp.model_fields) if _is_model(tp) else None


def key_schema(root: Any, tree: Any, loc: Iterable[Any]) -> tuple[Any, Any]:
    """The schema type and the raw value at key path ``loc`` of ``tree`` (None where the tree has no value)."""
    tp, node = root, tree
    for part in loc:
        tp = schema_child(tp, part, node)
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and -len(node) <= part < len(node):
            node = node[part]
        else:
            node = None
    return tp, node


def field_info(root: Any, tree: Any, loc: tuple[Any, ...]) -> str:
    """The description and default of the field at ``loc`` in words ("" when the schema says nothing)."""
    if not loc:
        return ""
    try:
        parent_tp, _ = key_schema(root, tree, loc[:-1])
    except NeuroalignError:  # pragma: no cover - a raw value the walk cannot follow
        return ""
    parent_tp = _unwrap(parent_tp)
    if not _is_model(parent_tp) or loc[-1] not in parent_tp.model_fields:
        return ""
    info = parent_tp.model_fields[loc[-1]]
    words = [info.description] if info.description else []
    if not info.is_required() and info.default_factory is None:
        words.append(f"default {info.default!r}")
    return "; ".join(words)
