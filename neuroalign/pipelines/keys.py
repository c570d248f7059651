"""Content keys of pipeline tasks: what a result depends on, digested.

A task's key is the digest of its kind, its parameters, the keys of the tasks
it reads, a fingerprint of anything outside the study that it reads (file
contents, a model's weights and code) and the package version.  Two tasks with
the same key compute the same result, so a stored result is reused exactly when
nothing it depends on changed; names alone never make a key (Brain-Score's
stale-cache trap).

Examples
--------
>>> from neuroalign.pipelines.keys import content_key
>>> a = content_key("score", {"n_bootstrap": 100}, ["k1"])
>>> a == content_key("score", {"n_bootstrap": 100}, ["k1"])
True
>>> a == content_key("score", {"n_bootstrap": 101}, ["k1"])
False
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any

import numpy as np

from ..data.provenance import content_digest, package_version

__all__ = ["content_key", "canonical_json"]


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spacing; numpy scalars and paths as plain values; anything else is an error."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_plain, allow_nan=True)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"a content key cannot describe a {type(value).__name__} ({value!r})")


def content_key(kind: str, params: Mapping[str, Any], inputs: Sequence[str], fingerprint: Any = None) -> str:
    """The key of a task: xxh3-128 (hex) of its kind, parameters, input keys, fingerprint and package version."""
    description = {"kind": kind, "params": dict(params), "inputs": list(inputs), "fingerprint": fingerprint,
                   "version": package_version()}
    return content_digest(canonical_json(description).encode()).hexdigest()
