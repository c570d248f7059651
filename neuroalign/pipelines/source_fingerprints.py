"""Content descriptions of data sources and stimulus sets (see :func:`.sources.source_fingerprint`).

Path arguments are described by what they name, never by where it is: a file
by its name and sha256, a folder by the relative path and sha256 of each of
its files, a glob pattern by its matches; a moved file keeps its description,
a changed byte changes it.

Examples
--------
>>> from neuroalign.pipelines.source_fingerprints import fingerprint
>>> from neuroalign.pipelines.sources import DATA_LOADERS
>>> fingerprint(DATA_LOADERS["synthetic_brain"], {"seed": 1})["args"]
{'seed': 1}
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..data.provenance import hash_file
from ..errors import ConfigError, FileFormatError

if TYPE_CHECKING:
    from .sources import Loader

__all__ = ["fingerprint"]


def fingerprint(entry: Loader, args: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-able description of ``entry`` called with ``args``: its name, function and arguments by content.

    Dataset loaders add the published sha256 of the files they fetch; a
    ``table:`` spec adds the content hash of the images the table names.

    Raises
    ------
    FileFormatError
        A path argument names nothing.
    """
    described = {key: _describe(value, key) if key in entry.path_args else _maybe_file(value)
                 if key in entry.maybe_path_args else _jsonable(value) for key, value in sorted(args.items())}
    out: dict[str, Any] = {"loader": entry.name, "function": entry.function, "output": entry.output,
                           "args": described}
    if entry.datasets:
        from ..datasets.fetchers import dataset_info

        out["datasets"] = {f"{name}/{file}": dataset_info(name)["files"][file]["sha256"]
                           for name, file in entry.datasets}
    if entry.name == "table":  # the table names image files: their bytes are part of the content too
        from ..extract import StimulusSet

        out["stimuli_content"] = StimulusSet.from_table(args["table"]).content_hash()
    return out


def _describe(value: Any, argument: str) -> Any:
    """The content behind a path argument: files by name and sha256, folders by their files, patterns by matches."""
    if isinstance(value, (list, tuple)):
        return [_describe(item, argument) for item in value]
    if not isinstance(value, (str, os.PathLike)):
        return _jsonable(value)  # e.g. atlas coordinates, or an events table given in the config
    path = Path(value).expanduser()
    if path.is_file():
        return {"name": path.name, "sha256": hash_file(path)}
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return {"folder": {p.relative_to(path).as_posix(): hash_file(p) for p in files}}
    matches = sorted(glob.glob(str(path))) if any(c in str(path) for c in "*?[") else []
    if matches:
        return {"pattern": path.name, "matches": [_describe(m, argument) for m in matches]}
    raise FileFormatError(f"{argument}: no file or folder at {str(value)!r}", source=str(value),
                          fix="check the path (paths in a study config are relative to the config file)")


def _maybe_file(value: Any) -> Any:
    if isinstance(value, (str, os.PathLike)) and Path(value).expanduser().is_file():
        return {"name": Path(value).name, "sha256": hash_file(Path(value).expanduser())}
    return _jsonable(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy scalars
        return value.item()
    raise ConfigError(f"argument value {value!r} ({type(value).__name__}) cannot be written in a study config",
                      source="args", fix="use numbers, strings, booleans, lists and mappings")

