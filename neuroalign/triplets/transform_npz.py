"""Linear transforms in the released ``.npz`` format of the human-alignment probes.

A transform is ``{weights (p, q), bias (q,) optional, mean, std}`` (scalar
mean and std), applied as ``((x − mean) / std) @ weights + bias``: the format
of the gLocal and ICLR 2023 probe releases.  Files are read with
``allow_pickle=False``.

Examples
--------
>>> import os, tempfile, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "t.npz")
>>> save_transform(path, np.eye(2), mean=0.5, std=2.0)
>>> sorted(k for k, v in load_transform(path).items() if v is not None)
['mean', 'std', 'weights']
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..data.io import write_atomically
from ..errors import FileFormatError

__all__ = ["load_transform", "save_transform"]


def save_transform(path: str | os.PathLike, weights: Any, *, bias: Any = None, mean: float = 0.0,
                   std: float = 1.0) -> None:
    """Write ``{weights, bias?, mean, std}`` to an ``.npz`` file (plain arrays, no pickled objects), atomically.

    The file is written at ``path`` exactly (numpy's ``savez`` would add
    ``.npz`` to a name without it) and appears only once it is complete.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "t.npz")
    >>> save_transform(path, np.eye(2), mean=0.1, std=3.0)
    >>> sorted(np.load(path, allow_pickle=False).files)
    ['mean', 'std', 'weights']
    """
    arrays = {"weights": np.asarray(weights, dtype=np.float64), "mean": np.float64(mean), "std": np.float64(std)}
    if bias is not None:
        arrays["bias"] = np.asarray(bias, dtype=np.float64)
    def write(tmp: Any) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    write_atomically(path, write)


def load_transform(path: str | os.PathLike) -> dict[str, Any]:
    """The arrays of an ``.npz`` transform, checked.

    Returns
    -------
    dict
        ``weights`` (p, q) float64, ``bias`` (q,) or None, scalar ``mean`` and ``std``.

    Raises
    ------
    FileFormatError
        The file cannot be read, lacks an array, or holds wrong shapes or
        non-finite values.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "t.npz")
    >>> save_transform(path, np.eye(2), bias=np.ones(2))
    >>> load_transform(path)["bias"].tolist()
    [1.0, 1.0]
    """
    source = str(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files}
    except (OSError, ValueError) as err:
        raise FileFormatError(f"cannot read the transform ({err})", source=source,
                              fix="pass an .npz file with arrays weights, mean, std (and optionally bias)") from err
    missing = [k for k in ("weights", "mean", "std") if k not in arrays]
    if missing:
        raise FileFormatError(f"the transform lacks {missing} (has {sorted(arrays)})", source=source,
                              fix="save weights, mean and std (and optionally bias) in the .npz")
    weights = arrays["weights"].astype(np.float64)
    bias = arrays.get("bias")
    if weights.ndim != 2 or arrays["mean"].size != 1 or arrays["std"].size != 1 or (
            bias is not None and bias.size != weights.shape[1]):
        raise FileFormatError(f"unexpected shapes: weights {weights.shape}, mean {arrays['mean'].shape}, std "
                              f"{arrays['std'].shape}, bias {None if bias is None else bias.shape}", source=source,
                              fix="weights must be (p, q), bias (q,), mean and std scalars")
    if not (np.isfinite(weights).all() and np.isfinite(arrays["mean"]).all() and float(arrays["std"]) > 0):
        raise FileFormatError("the transform holds non-finite weights or a std that is not positive", source=source,
                              fix="re-export the transform")
    return {"weights": weights, "bias": bias, "mean": float(arrays["mean"]), "std": float(arrays["std"])}
