"""Provenance: the package version, the parameters and the hashes of the inputs.

Every result neuroalign writes carries these in its attributes so that a
number can be traced to the code and data that produced it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from functools import lru_cache
from importlib import metadata
from typing import Any

import numpy as np
import xarray as xr
import xxhash

from .._threads import thread_map

__all__ = ["package_version", "content_digest", "hash_array", "hash_file", "provenance", "PROVENANCE_KEYS"]

PROVENANCE_KEYS = ("neuroalign_version", "parameters", "input_hashes")


@lru_cache(maxsize=1)
def package_version() -> str:
    """The installed neuroalign version ("unknown" when run from a bare checkout)."""
    try:
        return metadata.version("neuroalign")
    except metadata.PackageNotFoundError:
        return "unknown"


def content_digest(data: bytes = b"") -> "xxhash.xxh3_128":
    """A running 128-bit digest for identifying content (arrays, model weights, stimuli).

    xxh3-128 (xxhash): it hashes at memory speed (about 18 GB/s on one core
    here, against 1.7 GB/s for sha256), which matters when every result hashes
    gigabytes of inputs for its provenance.  It identifies content, it does
    not authenticate it: downloaded files are checked with sha256
    (:func:`hash_file`).

    Examples
    --------
    >>> from neuroalign.data.provenance import content_digest
    >>> len(content_digest(b"abc").hexdigest())
    32
    """
    return xxhash.xxh3_128(data)


def hash_array(array: Any) -> str:
    """A digest (:func:`content_digest`) of an array's values, and of its coordinates for a DataArray.

    Two arrays with equal values, dims and coordinates hash equal, whatever
    their memory layout.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import hash_array
    >>> hash_array(np.arange(3)) == hash_array(np.arange(3).copy())
    True
    """
    digest = content_digest()
    if isinstance(array, xr.DataArray):
        digest.update(json.dumps(list(array.dims)).encode())
        for name in sorted(array.coords):
            coord = array.coords[name]
            digest.update(name.encode())
            digest.update(json.dumps(list(coord.dims)).encode())
            _update(digest, coord.values)
        array = array.values
    _update(digest, np.asarray(array))
    return digest.hexdigest()


def _update(digest: Any, values: np.ndarray) -> None:
    values = np.asarray(values)
    digest.update(str(values.shape).encode())
    if values.dtype == object or values.dtype.kind in "US":
        digest.update(json.dumps([str(v) for v in values.ravel()]).encode())
    else:
        digest.update(values.dtype.str.encode())
        if values.size:  # an empty array is its shape and dtype (memoryview cannot cast it)
            digest.update(memoryview(np.ascontiguousarray(values)).cast("B"))  # no copy for contiguous arrays


def hash_file(path: str | os.PathLike, *, chunk_size: int = 1 << 20) -> str:
    """The sha256 of a file's bytes (streamed, so any size works)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def provenance(parameters: Mapping[str, Any] | None = None, inputs: Mapping[str, Any] | None = None) -> dict:
    """Attributes recording how a result was made.

    Parameters
    ----------
    parameters : mapping
        The parameters of the computation (JSON-serialisable values).
    inputs : mapping
        Named inputs: arrays are hashed with :func:`hash_array`, existing file
        paths with :func:`hash_file` (sha256), strings that look like hashes are kept.

    Returns
    -------
    dict
        ``neuroalign_version``, ``parameters`` and ``input_hashes``.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.data import provenance
    >>> sorted(provenance({"seed": 0}, {"x": np.zeros(2)}))
    ['input_hashes', 'neuroalign_version', 'parameters']
    """
    inputs = dict(inputs or {})
    if sum(getattr(value, "nbytes", 0) for value in inputs.values()) > _PARALLEL_BYTES:
        hashes = dict(zip(inputs, thread_map(_hash_input, inputs.values())))  # the hashes release the GIL
    else:
        hashes = {key: _hash_input(value) for key, value in inputs.items()}
    return {
        "neuroalign_version": package_version(),
        "parameters": _jsonable(dict(parameters or {})),
        "input_hashes": hashes,
    }


_PARALLEL_BYTES = 256 * 2**20  # below this, starting threads costs more than hashing


def _hash_input(value: Any) -> str:
    if isinstance(value, (str, os.PathLike)) and os.path.isfile(value):
        return hash_file(value)
    if isinstance(value, str):
        return value
    return hash_array(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)
