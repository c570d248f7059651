"""Centered kernel alignment (CKA; Kornblith et al., 2019) between two representations.

For representations X (n × p) and Y (n × q) of the same n stimuli with Gram
matrices K and L,

    CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)).

Two estimators of HSIC are provided:

* biased (Gretton et al., 2005): ``HSIC = ⟨HKH, HLH⟩_F / (n − 1)²`` with
  ``H = I − 11ᵀ/n``;
* unbiased (Song et al., 2012), ``debiased=True``: the U-statistic
  ``⟨Ũ(K), Ũ(L)⟩_F / (n (n − 3))`` where Ũ is the U-centering of Székely &
  Rizzo (2014) (zero diagonal; the form Kornblith et al.'s code uses).  The
  CKA built from it is "debiased CKA"; it may be slightly negative.

Kernels: ``"linear"`` (K = XXᵀ; computed in feature space,
``‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F)`` on column-centered X and Y, whenever that is
cheaper) and ``"rbf"`` (K_ij = exp(−‖x_i − x_j‖² / (2σ²)) with
``σ = threshold × sqrt(median of the n² squared distances)``, the zero
diagonal included: Kornblith et al.'s convention).

Every function here takes numpy arrays or torch tensors and computes in the
library of its input, so the same code runs on a GPU.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr
from scipy.linalg import blas

from ...data.align import align
from ...data.schema import NEUROID, PRESENTATION, validate
from ...errors import ConfigError, DataError, UnknownNameError

__all__ = ["cka", "hsic", "linear_gram", "rbf_gram", "center_gram", "cka_from_grams",
           "CKA_KERNELS", "CKA_BACKENDS"]

CKA_KERNELS = ("linear", "rbf")
CKA_BACKENDS = ("numpy", "torch")
MIN_SAMPLES = 4


# ----------------------------------------------------------------------------- backends
def _is_torch(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _xp(x: Any):
    """The array library of ``x``: numpy or torch."""
    return sys.modules["torch"] if _is_torch(x) else np


@dataclass(frozen=True)
class Backend:
    """Where CKA is computed: ``numpy`` on the CPU or ``torch`` on ``device``, in ``dtype``."""

    name: str
    dtype: Any
    device: Any = None

    def asarray(self, values: Any) -> Any:
        """``values`` (numpy array, torch tensor or array_like) in this backend's library and dtype."""
        if self.name == "numpy":
            if _is_torch(values):
                values = values.detach().cpu().numpy()
            return np.asarray(values, dtype=self.dtype)
        import torch

        if not _is_torch(values):
            values = torch.from_numpy(np.asarray(values, dtype=np.dtype(str(self.dtype).split(".")[-1])))
        return values.to(device=self.device, dtype=self.dtype)

    def to_numpy(self, values: Any) -> np.ndarray:
        """A float64 numpy copy of a result."""
        if _is_torch(values):
            values = values.detach().cpu().double().numpy()
        return np.asarray(values, dtype=np.float64)

    @property
    def itemsize(self) -> int:
        """Bytes per value."""
        return 4 if "32" in str(self.dtype) else 8

    @property
    def has_syrk(self) -> bool:
        """Whether a Gram matrix costs half a matrix product (BLAS ``syrk``)."""
        return self.name == "numpy"


def make_backend(backend: str = "numpy", device: Any = None, dtype: str = "float64") -> Backend:
    """Check the backend arguments shared by :func:`cka`, ``cka_matrix`` and ``MinibatchCKA``.

    ``backend="torch"`` runs on ``device`` (default: ``"cuda"`` when a GPU is
    visible, else ``"cpu"``).
    """
    if backend not in CKA_BACKENDS:
        raise UnknownNameError(backend, CKA_BACKENDS, what="CKA backend", source="backend")
    if dtype not in ("float32", "float64"):
        raise ConfigError(f"dtype must be 'float32' or 'float64', got {dtype!r}", source="dtype",
                          fix="pass dtype='float64' (default) or 'float32' to halve memory")
    if backend == "numpy":
        if device not in (None, "cpu"):
            raise ConfigError(f"device={device!r} needs backend='torch'", source="device",
                              fix="pass backend='torch' to compute on a GPU, or leave device unset")
        return Backend("numpy", np.dtype(dtype))
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return Backend("torch", getattr(torch, dtype), torch.device(device))


# ----------------------------------------------------------------------------- Gram matrices
def _syrk_upper(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """X Xᵀ of a 2-D float array with BLAS ``syrk`` (half the work of a product).

    Only the upper triangle is written (the lower one stays zero, or whatever
    ``out`` held); the result is Fortran-ordered, so its transpose is
    C-ordered with the lower triangle valid.  ``out``: an (n, n)
    Fortran-ordered buffer of the same dtype to reuse (fresh pages cost as
    much as the arithmetic on some machines).
    """
    routine = blas.dsyrk if x.dtype == np.float64 else blas.ssyrk
    kwargs = {} if out is None else {"beta": 0.0, "c": out, "overwrite_c": 1}
    if x.flags.c_contiguous:
        return routine(1.0, x.T, trans=1, **kwargs)  # x.T is Fortran-ordered: no copy
    return routine(1.0, np.asfortranarray(x), trans=0, **kwargs)


def _symmetric_from_upper(upper: np.ndarray) -> np.ndarray:
    full = upper + upper.T
    full.flat[:: full.shape[0] + 1] *= 0.5
    return full


def linear_gram(x: Any) -> Any:
    """The linear-kernel Gram matrix X Xᵀ of the rows of ``x``: (…, n, p) → (…, n, n).

    numpy input is computed in float64 (float32 kept) with BLAS ``syrk`` when
    2-D; torch input stays on its device.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import linear_gram
    >>> linear_gram(np.array([[1.0, 0.0], [1.0, 1.0]])).tolist()
    [[1.0, 1.0], [1.0, 2.0]]
    """
    if _is_torch(x):
        return x @ x.mT
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    if x.ndim == 2 and x.shape[0] > 1:
        return _symmetric_from_upper(_syrk_upper(x))
    return x @ np.swapaxes(x, -1, -2)


def _set_diagonal(gram: Any, value: float) -> Any:
    """Set the diagonal of (…, n, n) ``gram`` in place and return it."""
    index = _xp(gram).arange(gram.shape[-1])
    if _is_torch(gram):
        index = index.to(gram.device)
    gram[..., index, index] = value
    return gram


def _median_last2(values: Any) -> Any:
    """Median over the last two axes, averaging the two middle values (as numpy does)."""
    flat = values.reshape(*values.shape[:-2], -1)
    if not _is_torch(values):
        return np.median(flat, axis=-1)
    m = flat.shape[-1]
    upper = flat.kthvalue(m // 2 + 1, dim=-1).values
    if m % 2:
        return upper
    return 0.5 * (upper + flat.kthvalue(m // 2, dim=-1).values)


def rbf_gram(x: Any, threshold: float = 1.0) -> Any:
    """The RBF-kernel Gram matrix of the rows of ``x`` with Kornblith's bandwidth: (…, n, p) → (…, n, n).

    ``K_ij = exp(−d²_ij / (2 threshold² m))`` where ``m`` is the median of all
    n² squared distances d²_ij (the zero diagonal included), i.e. the
    bandwidth is ``threshold`` × the median distance.

    Raises
    ------
    DataError
        More than half the squared distances are zero (the bandwidth would be 0).

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import rbf_gram
    >>> k = rbf_gram(np.random.default_rng(0).normal(size=(5, 3)), threshold=0.5)
    >>> bool(np.allclose(np.diag(k), 1.0)), bool(np.allclose(k, k.T))
    (True, True)
    """
    if not threshold > 0:
        raise ConfigError(f"threshold must be > 0, got {threshold!r}", source="threshold",
                          fix="pass the bandwidth as a positive fraction of the median distance, e.g. 1.0")
    xp = _xp(x)
    if xp is np:
        x = np.asarray(x, dtype=np.float64 if np.asarray(x).dtype != np.float32 else np.float32)
    x = x - x.mean(-2, keepdims=True)  # distances are translation invariant; this limits cancellation
    dots = x @ x.swapaxes(-1, -2)
    norms = xp.einsum("...ii->...i", dots)
    sq = (norms[..., :, None] + norms[..., None, :] - 2 * dots).clip(min=0)
    sq = _set_diagonal(sq, 0.0)
    median = _median_last2(sq)
    if bool((median <= 0).any()):
        raise DataError("more than half of the pairwise distances are zero, so the RBF bandwidth is 0",
                        source="x/y", fix="drop duplicated samples or use kernel='linear'")
    return xp.exp(-sq / (2.0 * threshold**2 * median[..., None, None]))


GRAMS = {"linear": lambda x, threshold: linear_gram(x), "rbf": rbf_gram}


def gram(x: Any, kernel: str, threshold: float = 1.0) -> Any:
    """The Gram matrix of ``kernel`` (one of :data:`CKA_KERNELS`)."""
    if kernel not in GRAMS:
        raise UnknownNameError(kernel, CKA_KERNELS, what="CKA kernel", source="kernel")
    return GRAMS[kernel](x, threshold)


# ----------------------------------------------------------------------------- centering and HSIC
def center_gram(gram: Any, unbiased: bool = False) -> Any:
    """Center Gram matrices (…, n, n).

    ``unbiased=False``: H K H (subtract row and column means, add the grand
    mean).  ``unbiased=True``: the U-centering Ũ(K) of Székely & Rizzo (2014)
    with a zero diagonal, so that ``⟨Ũ(K), Ũ(L)⟩ / (n (n − 3))`` is the
    unbiased HSIC of Song et al. (2012).

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import center_gram
    >>> k = center_gram(np.arange(16.0).reshape(4, 4) + 1)
    >>> bool(np.allclose(k.sum(0), 0))
    True
    """
    if not _is_torch(gram):
        gram = np.asarray(gram, dtype=float)
    n = gram.shape[-1]
    if not unbiased:
        return (gram - gram.mean(-1, keepdims=True) - gram.mean(-2, keepdims=True)
                + gram.mean((-1, -2), keepdims=True))
    if n < MIN_SAMPLES:
        raise DataError(f"the unbiased HSIC needs at least {MIN_SAMPLES} samples, got {n}", source="gram",
                        fix="pass more stimuli")
    g = _set_diagonal(gram.clone() if _is_torch(gram) else gram.copy(), 0.0)
    means = g.sum(-2) / (n - 2)
    means = means - means.sum(-1, keepdims=True) / (2 * (n - 1))
    g = g - means[..., :, None] - means[..., None, :]
    return _set_diagonal(g, 0.0)


def _check_samples(n: int, source: str = "x/y") -> None:
    if n < MIN_SAMPLES:
        raise DataError(f"CKA needs at least {MIN_SAMPLES} samples, got {n}", source=source,
                        fix="pass more stimuli (the unbiased HSIC divides by n (n - 3))")


def hsic(k: Any, l: Any, debiased: bool = False) -> Any:
    """HSIC between (batches of) uncentered Gram matrices, broadcast over leading axes.

    Biased: ``⟨HKH, HLH⟩ / (n − 1)²``; debiased: ``⟨Ũ(K), Ũ(L)⟩ / (n (n − 3))``.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import hsic, linear_gram
    >>> x = np.random.default_rng(0).normal(size=(6, 2))
    >>> float(hsic(linear_gram(x), linear_gram(x))) > 0
    True
    """
    n = k.shape[-1]
    _check_samples(n, "k/l")
    kc, lc = center_gram(k, debiased), center_gram(l, debiased)
    dot = _xp(kc).einsum("...ij,...ij->...", kc, lc)
    return dot / (n * (n - 3)) if debiased else dot / (n - 1) ** 2


def cka_from_grams(k: Any, l: Any, debiased: bool = False) -> Any:
    """CKA between (batches of) uncentered Gram matrices, broadcast over leading axes.

    Parameters
    ----------
    k, l : array_like or torch.Tensor
        (…, n, n) Gram matrices of the same n samples.
    debiased : bool
        Use the unbiased HSIC (Song et al., 2012).

    Raises
    ------
    DataError
        Fewer than 4 samples, or a representation constant over samples.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import cka_from_grams, linear_gram
    >>> x = np.random.default_rng(0).normal(size=(10, 3))
    >>> round(float(cka_from_grams(linear_gram(x), linear_gram(2 * x))), 6)
    1.0
    """
    _check_samples(np.shape(k)[-1] if not _is_torch(k) else k.shape[-1])
    if not _is_torch(k):
        k, l = np.asarray(k, dtype=float), np.asarray(l, dtype=float)
    kc, lc = _unit_scale(center_gram(k, debiased), k, "k"), _unit_scale(center_gram(l, debiased), l, "l")
    xp = _xp(kc)
    cross = xp.einsum("...ij,...ij->...", kc, lc)
    norm_k = xp.einsum("...ij,...ij->...", kc, kc).clip(min=0) ** 0.5
    norm_l = xp.einsum("...ij,...ij->...", lc, lc).clip(min=0) ** 0.5
    return cross / (norm_k * norm_l)


def _largest(values: Any) -> Any:
    """max |value| over the last two axes: (…, n, n) → (…)."""
    flat = values.reshape(*values.shape[:-2], -1)
    return flat.abs().max(-1).values if _is_torch(values) else np.abs(flat).max(-1)


def _unit_scale(centered: Any, gram: Any, name: str) -> Any:
    """Centered Gram matrices (…, n, n) divided by the power of two that brings each one's largest |value|
    into [0.5, 1): exact, and CKA is scale invariant, so its sums of squares can neither overflow nor underflow.

    Raises :func:`_constant_error` where the centered matrix is round-off only, i.e. at most a
    dtype-dependent tolerance (1e-12 in float64, 1e-5 in float32) times the largest |value| of ``gram``.
    """
    xp = _xp(centered)
    largest, reference = _largest(centered), _largest(gram)
    if not (bool(xp.isfinite(reference).all()) and bool(xp.isfinite(largest).all())):
        raise DataError("a Gram matrix contains NaN or inf", source=name,
                        fix="check the inputs for NaN/inf, or rescale them before computing the Gram matrix")
    tolerance = 1e-5 if centered.dtype in (np.float32, getattr(sys.modules.get("torch"), "float32", None)) else 1e-12
    if bool((largest <= tolerance * reference).any()) or bool((reference == 0).any()):
        raise _constant_error("x/y")
    exponent = xp.frexp(largest)[1]
    if _is_torch(centered):
        # torch.ldexp has no gradient for a negative exponent (pytorch/pytorch#186556): multiply by the power of two
        # instead, in two exact steps (2**-exponent alone may not be representable in the tensor's dtype)
        half = exponent // 2
        return centered * _power_of_two(-half, centered) * _power_of_two(half - exponent, centered)
    return xp.ldexp(centered, -exponent[..., None, None])


def _power_of_two(exponent: Any, like: Any) -> Any:
    """``2.0 ** exponent`` (integer tensor of shape (…)) in ``like``'s dtype, shaped (…, 1, 1) to scale matrices."""
    return (2.0 ** exponent.to(like.dtype))[..., None, None]


def _constant_error(source: str) -> DataError:
    return DataError("a representation is constant across samples, so CKA is undefined", source=source,
                     fix="drop constant layers or check the inputs")


# ----------------------------------------------------------------------------- inputs
#: Largest |log2(max |x|)| left unscaled, per dtype: inside it no sum of the
#: 4th/8th powers that CKA forms can overflow or underflow.
_UNSCALED_EXPONENT = {"float64": 32, "float32": 8}


def as_samples(x: Any, name: str, backend: Backend) -> Any:
    """A checked 2-D (samples, features) array in ``backend`` from a DataArray, array or tensor.

    The values are rescaled by a power of two when their magnitude could make
    CKA's sums overflow or underflow (see :func:`scaled_samples`).
    """
    return scaled_samples(x, name, backend)[0]


def scaled_samples(x: Any, name: str, backend: Backend, exponent: int | None = None) -> tuple[Any, int]:
    """:func:`as_samples`, with the power of two the values were divided by.

    CKA is invariant to scaling either representation, but its sums of
    squared inner products overflow (or underflow) for inputs far from unit
    scale (e.g. ``x * 1e100``).  The values are therefore multiplied by
    ``2**-exponent`` — exact in floating point, so the result is unchanged —
    before the cast to the backend dtype.  ``exponent=None`` picks it from the
    largest absolute value (0, i.e. no copy, when that lies within
    ``2**±32`` for float64 or ``2**±8`` for float32); an accumulator over
    minibatches passes the exponent of its first batch so that every batch
    is scaled alike.
    """
    if isinstance(x, (Mapping, xr.Dataset)):
        raise ConfigError(f"{name} is a mapping of layers, but this compares one array with another",
                          source=name, fix="pass one layer's array, e.g. acts['conv1'], or compare every pair of "
                                           "layers with cka_matrix(layers_a, layers_b)")
    if isinstance(x, xr.DataArray):
        validate(x, dims=(PRESENTATION, NEUROID), name=name)
        if x.ndim != 2:
            raise DataError(f"expected a (presentation, neuroid) array, got dims {x.dims}", source=name,
                            fix="select or stack the other dims away first")
        x = x.transpose(PRESENTATION, NEUROID).values
    if not _is_torch(x):
        x = np.asarray(x)
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise DataError(f"values have non-numeric dtype {x.dtype}", source=name, fix="pass float values")
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float64)
    elif not x.is_floating_point():
        x = x.double()
    if x.ndim != 2:
        raise DataError(f"expected a 2-D (samples, features) array, got shape {tuple(x.shape)}", source=name,
                        fix="pass one row per stimulus (flatten the feature dims)")
    largest = max(float(x.max()), -float(x.min())) if x.shape[0] * x.shape[1] else 0.0  # NaN and inf propagate
    if not np.isfinite(largest):
        raise DataError("contains NaN or inf", source=name, fix="drop or impute non-finite values")
    if exponent is None:
        exponent = int(np.frexp(largest)[1]) if largest > 0 else 0
        if abs(exponent) <= _UNSCALED_EXPONENT[np.dtype(str(backend.dtype).split(".")[-1]).name]:
            exponent = 0
    if exponent:
        if _is_torch(x):  # two steps: 2**-exponent alone may not be representable in the tensor's dtype
            x = x * 2.0 ** -(exponent // 2) * 2.0 ** -(exponent - exponent // 2)
        else:
            x = np.ldexp(x, -exponent)
    values = backend.asarray(x)
    xp = _xp(values)
    # a finite sum proves every value finite; only an overflow needs the full check
    if not bool(xp.isfinite(values.sum())) and not bool(xp.isfinite(values).all()):
        raise DataError(f"values of magnitude {largest:.3g} are out of range in {backend.dtype} even when "
                        f"rescaled by 2**{-exponent}", source=name,
                        fix="pass values of a similar scale in every batch, or use dtype='float64'")
    return values, exponent


def is_constant(x: Any) -> bool:
    """Whether all rows of a (samples, features) array are identical (exactly)."""
    if x.shape[0] > 1 and not bool((x[1] == x[0]).all()):  # the usual case, in O(features)
        return False
    return bool((x == x[:1]).all())


def center_features(x: Any) -> Any:
    """Column-centered features (the linear Gram of the result is H K H)."""
    return x - x.mean(0, keepdims=True)


def debias_linear(cross: Any, rows_x: Any, rows_y: Any, n: int) -> Any:
    """⟨Ũ(K), Ũ(L)⟩ for linear kernels from feature-space terms (Kornblith et al.'s identity).

    ``cross`` = ‖X_cᵀ Y_c‖²_F, ``rows_*`` = squared row norms of the centered
    features (…, n) — broadcast over leading axes of ``rows_x`` / ``rows_y``
    as ``rows_x @ rows_yᵀ``.
    """
    dots = rows_x @ rows_y.swapaxes(-1, -2) if rows_x.ndim > 1 else (rows_x * rows_y).sum()
    totals = rows_x.sum(-1)[..., :, None] * rows_y.sum(-1)[..., None, :] if rows_x.ndim > 1 \
        else rows_x.sum() * rows_y.sum()
    return cross - n / (n - 2.0) * dots + totals / ((n - 1.0) * (n - 2.0))


def _feature_products(xc: Any, yc: Any, debiased: bool) -> tuple[Any, Any, Any]:
    """⟨T(K), T(L)⟩, ‖T(K)‖², ‖T(L)‖² for linear kernels, from centered features."""
    cross = ((xc.T @ yc) ** 2).sum()
    self_x = ((xc.T @ xc) ** 2).sum()
    self_y = ((yc.T @ yc) ** 2).sum()
    if debiased:
        n = xc.shape[0]
        rx, ry = (xc * xc).sum(1), (yc * yc).sum(1)
        cross, self_x, self_y = (debias_linear(cross, rx, ry, n), debias_linear(self_x, rx, rx, n),
                                 debias_linear(self_y, ry, ry, n))
    return cross, self_x, self_y


def feature_form_cheaper(n: int, p: int, q: int, backend: Backend) -> bool:
    """Whether linear CKA of one pair costs less from feature products than from Gram matrices."""
    gram_cost = (1 if backend.has_syrk else 2) * n * n * (p + q) + 6 * n * n
    feature_cost = 2 * n * (p * q + p * p + q * q)
    return feature_cost <= gram_cost


# ----------------------------------------------------------------------------- cka
def cka(
    x: Any,
    y: Any,
    kernel: str = "linear",
    threshold: float = 1.0,
    debiased: bool = False,
    backend: str = "numpy",
    device: Any = None,
    dtype: str = "float64",
) -> float:
    """Centered kernel alignment between two representations of the same stimuli.

    Parameters
    ----------
    x, y : xarray.DataArray, array_like or torch.Tensor
        ``(presentation, neuroid)`` arrays (aligned on ``stimulus_id``, which
        must match exactly, when both are labelled) or plain ``(n, p)`` /
        ``(n, q)`` arrays whose rows correspond.
    kernel : {"linear", "rbf"}
        The kernel.  Linear CKA is computed from feature products when that
        is cheaper than from n × n Gram matrices.
    threshold : float
        RBF bandwidth as a fraction of the median pairwise distance
        (Kornblith et al.'s convention; their demo uses 0.5).  Ignored for the
        linear kernel.
    debiased : bool
        Use the unbiased HSIC estimator (Song et al., 2012) in the numerator
        and the denominator ("debiased CKA"; may be slightly negative).
    backend : {"numpy", "torch"}
        Where to compute.  ``"torch"`` uses ``device`` (default: a GPU when
        one is visible, else the CPU).
    device : str or torch.device, optional
        Torch device, e.g. ``"cuda:0"``.
    dtype : {"float64", "float32"}
        Precision of the computation.

    Returns
    -------
    float
        In [0, 1] for the biased estimator (in [−1, 1] debiased); 1 when ``y``
        is an orthogonal transform and isotropic scaling of ``x``.

    Raises
    ------
    DataError
        Fewer than 4 samples, different sample counts, NaN/inf, or a
        representation constant across samples.
    AlignmentError
        Labelled inputs whose stimulus ids differ.
    UnknownNameError
        Unknown ``kernel`` or ``backend``.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.compare import cka
    >>> x = np.random.default_rng(0).normal(size=(50, 8))
    >>> round(cka(x, 3 * x), 6)
    1.0
    >>> round(cka(x, x ** 3, kernel="rbf", threshold=0.5, debiased=True), 2) < 1
    True
    """
    if kernel not in CKA_KERNELS:
        raise UnknownNameError(kernel, CKA_KERNELS, what="CKA kernel", source="kernel")
    ops = make_backend(backend, device, dtype)
    if isinstance(x, xr.DataArray) and isinstance(y, xr.DataArray):
        x, y = align(x, y, names=("x", "y"))
    xm, ym = as_samples(x, "x", ops), as_samples(y, "y", ops)
    n = xm.shape[0]
    if n != ym.shape[0]:
        raise DataError(f"x has {n} samples and y has {ym.shape[0]}", source="x/y",
                        fix="pass the same stimuli in the same order")
    _check_samples(n)
    for values, name in ((xm, "x"), (ym, "y")):
        if is_constant(values):
            raise _constant_error(name)
    if kernel == "linear":
        xc, yc = center_features(xm), center_features(ym)
        if feature_form_cheaper(n, xm.shape[1], ym.shape[1], ops):
            cross, self_x, self_y = _feature_products(xc, yc, debiased)
            if float(self_x) <= 0 or float(self_y) <= 0:
                raise _constant_error("x/y")
            return float(ops.to_numpy(cross / (self_x ** 0.5 * self_y ** 0.5)))
        return float(ops.to_numpy(cka_from_grams(linear_gram(xc), linear_gram(yc), debiased)))
    return float(ops.to_numpy(cka_from_grams(rbf_gram(xm, threshold), rbf_gram(ym, threshold), debiased)))
