"""A content-keyed cache of extracted activations.

An entry is a complete activation store (see :mod:`.store`) named by the
sha256 of a description of everything that determines its values: the
model's fingerprint (:mod:`.fingerprint`: every module's class code,
constructor configuration, place in the module tree, parameters, buffers and
forward hooks), the resolved layers, the output selection, pooling and
reduction, the preprocessing, the dtype and device type, and the *content* of
every stimulus.  Stimulus ids, metadata and the model's display name are not
part of the key: a hit is relabelled with the caller's.  Anything that cannot
be described reliably (a lambda capturing an object without a stable
``repr``, a model attribute of a C type such as a lock or an open file)
bypasses the cache, with a warning naming it, instead of risking a stale hit.

The cache lives in ``$NEUROALIGN_CACHE`` (default
``$XDG_CACHE_HOME/neuroalign`` or ``~/.cache/neuroalign``); list and clear it
with :func:`list_cache` / :func:`clear_cache` or ``neuroalign cache list|clear``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from .store import STORE_FORMAT, partial_path, progress_path, read_store_attrs

__all__ = ["cache_dir", "cache_key", "cache_entry", "list_cache", "clear_cache", "CACHE_ENV"]

#: Environment variable naming the cache folder.
CACHE_ENV = "NEUROALIGN_CACHE"
_SUBDIR = "activations"


def cache_dir() -> Path:
    """The cache folder: ``$NEUROALIGN_CACHE``, else ``$XDG_CACHE_HOME/neuroalign``, else ``~/.cache/neuroalign``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "neuroalign"


def cache_key(parts: dict[str, Any]) -> str:
    """The sha256 of a JSON description of everything that determines the activations.

    Examples
    --------
    >>> from neuroalign.extract.cache import cache_key
    >>> cache_key({"a": 1, "b": [2]}) == cache_key({"b": [2], "a": 1})
    True
    """
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def cache_entry(key: str) -> Path:
    """Where the entry of ``key`` lives (it may not exist yet)."""
    return cache_dir() / _SUBDIR / f"{key}.zarr"


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def list_cache() -> pd.DataFrame:
    """One row per cache entry: key, model, layers, stimuli, size, complete, created.

    Unfinished entries (an extraction that was interrupted) are listed with
    ``complete`` False; rerunning the same extraction resumes them.
    """
    folder = cache_dir() / _SUBDIR
    rows = []
    for path in sorted(folder.glob("*.zarr*")) if folder.is_dir() else []:
        if path.suffix == ".json":
            continue
        complete = path.suffix == ".zarr"
        attrs = read_store_attrs(path)
        if attrs.get("format") != STORE_FORMAT and complete:
            continue
        rows.append({
            "key": path.name.split(".")[0], "model": attrs.get("model", "?"),
            "layers": ",".join(attrs.get("layers", [])), "n_stimuli": attrs.get("n_stimuli"),
            "size_mb": round(_size(path) / 2**20, 3), "complete": complete and bool(attrs.get("complete")),
            "created": attrs.get("completed_at", ""), "path": str(path),
        })
    columns = ["key", "model", "layers", "n_stimuli", "size_mb", "complete", "created", "path"]
    return pd.DataFrame(rows, columns=columns)


def clear_cache(keys: list[str] | None = None) -> int:
    """Delete every cache entry (or those whose key starts with one of ``keys``); returns how many.

    Examples
    --------
    >>> from neuroalign.extract import clear_cache
    >>> clear_cache(["no-such-key-prefix"])
    0
    """
    table = list_cache()
    removed = 0
    for key, path in zip(table["key"], table["path"]):
        if keys is None or any(key.startswith(k) for k in keys):
            shutil.rmtree(path, ignore_errors=True)
            progress_path(cache_entry(key)).unlink(missing_ok=True)
            removed += 1
    return removed


def is_resumable(key: str) -> bool:
    """Whether an interrupted extraction left a partial entry for ``key``."""
    return partial_path(cache_entry(key)).is_dir() and progress_path(cache_entry(key)).exists()
