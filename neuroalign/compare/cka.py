"""Centered kernel alignment (CKA; Kornblith et al., 2019).

For representations X (n × p) and Y (n × q) of the same n stimuli, with
centered Gram matrices K̃ = H K H and L̃ = H L H (H = I − 11ᵀ/n),

    CKA(K, L) = ⟨K̃, L̃⟩_F / (‖K̃‖_F ‖L̃‖_F),

and for the linear kernel K = XXᵀ this equals ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F)
on column-centered X and Y.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..data.align import align
from ..data.schema import NEUROID, PRESENTATION, validate
from ..errors import DataError, UnknownNameError

__all__ = ["cka", "linear_gram", "center_gram", "cka_from_grams", "CKA_KERNELS"]

CKA_KERNELS = ("linear",)
MIN_SAMPLES = 4


def linear_gram(x: np.ndarray) -> np.ndarray:
    """The linear-kernel Gram matrix X Xᵀ of rows of ``x`` (…, n, p) → (…, n, n)."""
    x = np.asarray(x, dtype=float)
    return x @ np.swapaxes(x, -1, -2)


def center_gram(gram: np.ndarray) -> np.ndarray:
    """H K H for Gram matrices (…, n, n): subtract row and column means, add the grand mean."""
    gram = np.asarray(gram, dtype=float)
    return (gram - gram.mean(axis=-1, keepdims=True) - gram.mean(axis=-2, keepdims=True)
            + gram.mean(axis=(-1, -2), keepdims=True))


def cka_from_grams(k: np.ndarray, l: np.ndarray) -> np.ndarray:
    """CKA between (batches of) uncentered Gram matrices, broadcast over leading axes.

    Raises
    ------
    DataError
        Fewer than 4 samples, or a representation constant over samples.
    """
    n = np.shape(k)[-1]
    if n < MIN_SAMPLES:
        raise DataError(f"CKA needs at least {MIN_SAMPLES} samples, got {n}", source="x/y",
                        fix="pass more stimuli")
    kc, lc = center_gram(k), center_gram(l)
    cross = np.einsum("...ij,...ij->...", kc, lc)
    norm_k = np.sqrt(np.einsum("...ij,...ij->...", kc, kc))
    norm_l = np.sqrt(np.einsum("...ij,...ij->...", lc, lc))
    scale = max(float(np.max(norm_k, initial=0)), float(np.max(norm_l, initial=0)), 1e-300)
    if np.any(norm_k <= 1e-12 * scale) or np.any(norm_l <= 1e-12 * scale):
        raise DataError("a representation is constant across samples, so CKA is undefined", source="x/y",
                        fix="drop constant layers or check the inputs")
    return cross / (norm_k * norm_l)


def _as_matrix(x: Any, name: str) -> np.ndarray:
    if isinstance(x, xr.DataArray):
        validate(x, dims=(PRESENTATION, NEUROID), name=name)
        return x.transpose(PRESENTATION, NEUROID).values.astype(float)
    array = np.asarray(x, dtype=float)
    if array.ndim != 2:
        raise DataError(f"expected a 2-D (samples, features) array, got shape {array.shape}", source=name,
                        fix="pass one row per stimulus")
    if not np.all(np.isfinite(array)):
        raise DataError("contains NaN or inf", source=name, fix="drop or impute non-finite values")
    return array


def cka(x: Any, y: Any, kernel: str = "linear") -> float:
    """Centered kernel alignment between two representations of the same stimuli.

    Parameters
    ----------
    x, y : xarray.DataArray or array_like
        ``(presentation, neuroid)`` arrays (aligned on ``stimulus_id``, which
        must match exactly) or plain ``(n, p)`` / ``(n, q)`` arrays whose rows
        correspond.
    kernel : {"linear"}
        The kernel.

    Returns
    -------
    float
        In [0, 1]; 1 when ``y`` is an orthogonal transform and isotropic
        scaling of ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import cka
    >>> x = np.random.default_rng(0).normal(size=(50, 8))
    >>> round(cka(x, 3 * x), 6)
    1.0
    """
    if kernel not in CKA_KERNELS:
        raise UnknownNameError(kernel, CKA_KERNELS, what="CKA kernel", source="kernel")
    if isinstance(x, xr.DataArray) and isinstance(y, xr.DataArray):
        x, y = align(x, y, names=("x", "y"))
    xm, ym = _as_matrix(x, "x"), _as_matrix(y, "y")
    if xm.shape[0] != ym.shape[0]:
        raise DataError(f"x has {xm.shape[0]} samples and y has {ym.shape[0]}", source="x/y",
                        fix="pass the same stimuli in the same order")
    if xm.shape[0] < MIN_SAMPLES:
        raise DataError(f"CKA needs at least {MIN_SAMPLES} samples, got {xm.shape[0]}", source="x/y",
                        fix="pass more stimuli")
    xc, yc = xm - xm.mean(0), ym - ym.mean(0)
    if min(xm.shape[1], ym.shape[1]) < xm.shape[0]:  # feature space is cheaper
        cross = np.linalg.norm(yc.T @ xc) ** 2
        norm_x, norm_y = np.linalg.norm(xc.T @ xc), np.linalg.norm(yc.T @ yc)
        if norm_x == 0 or norm_y == 0:
            raise DataError("a representation is constant across samples, so CKA is undefined",
                            source="x/y", fix="drop constant layers or check the inputs")
        return float(cross / (norm_x * norm_y))
    return float(cka_from_grams(linear_gram(xc), linear_gram(yc)))
