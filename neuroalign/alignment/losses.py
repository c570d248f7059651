"""Differentiable representational-alignment losses between a batch of activations and a target.

Each loss is a :class:`torch.nn.Module` whose ``forward(activations, target)``
takes a network layer's activations for a batch of stimuli (``(batch, ...)``,
flattened to one row per stimulus) and a target representation of the *same
stimuli in the same order* (another network's activations for the batch, or
brain-data rows), and returns a scalar tensor that gradients flow through.

Sign convention: every loss is ``1 − similarity``, so 0 is perfect
alignment and minimising the loss raises the similarity:

=====================  ==============================================  =====================
loss                   similarity                                      range of the loss
=====================  ==============================================  =====================
``LinearCKALoss``      linear CKA (Kornblith et al., 2019)             [0, 1]
``RBFCKALoss``         RBF CKA, bandwidth σ = ``threshold`` × the      [0, 1]
                       median pairwise distance of the batch
``DebiasedCKALoss``    CKA from the unbiased HSIC (Song et al., 2012)  about [0, 2]
``RDMCorrelationLoss`` Pearson r between the upper triangles of the    [0, 2]
                       two correlation-distance (1 − Pearson) RDMs
=====================  ==============================================  =====================

The Gram matrices and their (U-)centering come from the same functions as
:func:`neuroalign.compare.cka` (``linear_gram``, ``rbf_gram``,
``center_gram``), which run in torch on the activations' device, so a loss
equals ``1 − cka(activations, target, ...)`` on the same rows.  The RBF
bandwidth is a function of the batch, and gradients flow through it as well
(the median is differentiable almost everywhere).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from ..compare.cka.core import center_gram, linear_gram, rbf_gram
from ..data.schema import NEUROID, PRESENTATION, validate
from ..errors import ConfigError, DataError, UnknownNameError

__all__ = ["LinearCKALoss", "RBFCKALoss", "DebiasedCKALoss", "RDMCorrelationLoss", "ALIGNMENT_LOSSES",
           "make_alignment_loss", "as_rows", "cka_with_gradient", "correlation_rdm"]

#: Fewest stimuli in a batch: the unbiased HSIC divides by n (n − 3).
MIN_BATCH = 4


def as_rows(values: Any, name: str, like: torch.Tensor | None = None) -> torch.Tensor:
    """A 2-D ``(stimuli, features)`` tensor from activations, a target tensor, an array or a DataArray.

    Tensors keep their graph; a ``(presentation, neuroid)`` DataArray or an
    array becomes a tensor in the dtype and on the device of ``like``.
    Every dimension after the first is flattened into features.

    Raises
    ------
    DataError
        Fewer than two dimensions, or fewer than 4 stimuli.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.alignment.losses import as_rows
    >>> tuple(as_rows(torch.zeros(5, 2, 3), "activations").shape)
    (5, 6)
    """
    if isinstance(values, xr.DataArray):
        validate(values, dims=(PRESENTATION, NEUROID), name=name)
        values = values.transpose(PRESENTATION, NEUROID).values
    if not isinstance(values, torch.Tensor):
        array = np.asarray(values)
        if not np.issubdtype(array.dtype, np.number):
            raise DataError(f"{name} has non-numeric dtype {array.dtype}", source=name, fix="pass float values")
        values = torch.as_tensor(array.astype(np.float64, copy=False))
        if like is not None:
            values = values.to(dtype=like.dtype, device=like.device)
    elif not values.is_floating_point():
        values = values.to(like.dtype if like is not None else torch.float64)
    if values.ndim < 2:
        raise DataError(f"{name} has shape {tuple(values.shape)}, expected (stimuli, features...)", source=name,
                        fix="pass one row per stimulus of the batch")
    if values.shape[0] < MIN_BATCH:
        raise DataError(f"{name} has {values.shape[0]} stimuli; alignment losses need at least {MIN_BATCH}",
                        source=name, fix="use larger batches")
    return values.reshape(values.shape[0], -1)


def _pair(activations: Any, target: Any) -> tuple[torch.Tensor, torch.Tensor]:
    x = as_rows(activations, "activations")
    y = as_rows(target, "target", like=x)
    if x.shape[0] != y.shape[0]:
        raise DataError(f"activations have {x.shape[0]} stimuli and the target has {y.shape[0]}", source="target",
                        fix="pass the target's rows for the same stimuli as the batch, in the same order")
    if y.dtype != x.dtype:
        y = y.to(x.dtype)
    return x, y


def _unit_scaled(centered: torch.Tensor, gram: torch.Tensor) -> torch.Tensor:
    """``centered`` times the power of two that brings its largest |value| into [0.5, 1).

    Exact, and CKA is scale invariant, so its sums of squares can neither
    overflow nor underflow.  The factor is a float constant: the backward of
    ``torch.ldexp`` with a negative integer exponent is 0 in the torch
    releases this was written against (pytorch/pytorch#186556, #187460), which
    is why :func:`neuroalign.compare.cka_from_grams` itself is not used here.
    """
    largest, reference = centered.detach().abs().max(), gram.detach().abs().max()
    if not (bool(torch.isfinite(largest)) and bool(torch.isfinite(reference))):
        raise DataError("the activations or the target contain NaN or inf", source="activations/target",
                        fix="check the network for diverging values (lower the learning rate)")
    tolerance = 1e-5 if centered.dtype in (torch.float32, torch.float16, torch.bfloat16) else 1e-12
    if float(reference) == 0 or float(largest) <= tolerance * float(reference):
        raise DataError("a representation is constant across the batch's stimuli, so CKA is undefined",
                        source="activations/target", fix="check for dead layers, or use larger batches")
    exponent = int(torch.frexp(largest)[1])
    return centered * 2.0 ** -exponent


def cka_with_gradient(k: torch.Tensor, l: torch.Tensor, debiased: bool = False) -> torch.Tensor:
    """CKA between two uncentered Gram matrices of the same stimuli, differentiable in both.

    The value of :func:`neuroalign.compare.cka_from_grams`; only the rescaling
    step differs, so that gradients flow.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.alignment.losses import cka_with_gradient
    >>> x = torch.randn(10, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> round(float(cka_with_gradient(x @ x.T, 4 * x @ x.T)), 6)
    1.0
    """
    if k.shape[-1] < MIN_BATCH:
        raise DataError(f"CKA needs at least {MIN_BATCH} stimuli, got {k.shape[-1]}", source="activations",
                        fix="use larger batches")
    kc = _unit_scaled(center_gram(k, debiased), k)
    lc = _unit_scaled(center_gram(l, debiased), l)
    return (kc * lc).sum() / ((kc * kc).sum().sqrt() * (lc * lc).sum().sqrt())


class _CKALoss(nn.Module):
    """``1 − CKA`` of a kernel; the shared body of the CKA losses."""

    kernel = "linear"

    def __init__(self, threshold: float = 1.0, debiased: bool = False):
        super().__init__()
        if not (isinstance(threshold, (int, float)) and not isinstance(threshold, bool) and threshold > 0
                and np.isfinite(threshold)):
            raise ConfigError(f"threshold must be a positive number, got {threshold!r}", source="threshold",
                              fix="pass the RBF bandwidth as a fraction of the median distance, e.g. 1.0")
        self.threshold = float(threshold)
        self.debiased = bool(debiased)

    def _gram(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel == "linear":
            return linear_gram(x - x.mean(0, keepdim=True))
        return rbf_gram(x, self.threshold)

    def similarity(self, activations: Any, target: Any) -> torch.Tensor:
        """The CKA itself (a scalar tensor with gradients)."""
        x, y = _pair(activations, target)
        return cka_with_gradient(self._gram(x), self._gram(y), debiased=self.debiased)

    def forward(self, activations: Any, target: Any) -> torch.Tensor:
        """``1 − CKA(activations, target)``."""
        return 1.0 - self.similarity(activations, target)

    def extra_repr(self) -> str:
        parts = [f"debiased={self.debiased}"]
        if self.kernel == "rbf":
            parts.insert(0, f"threshold={self.threshold}")
        return ", ".join(parts)


class LinearCKALoss(_CKALoss):
    """``1 − linear CKA`` between a batch's activations and a target representation of the same stimuli.

    Parameters
    ----------
    debiased : bool
        Use the unbiased HSIC (Song et al., 2012) in numerator and denominator.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.alignment.losses import LinearCKALoss
    >>> x = torch.randn(32, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> round(float(LinearCKALoss()(x, 2 * x)), 6)
    0.0
    """

    kernel = "linear"

    def __init__(self, debiased: bool = False):
        super().__init__(1.0, debiased)


class RBFCKALoss(_CKALoss):
    """``1 − RBF CKA``; the bandwidth is ``threshold`` × the median pairwise distance within the batch.

    Parameters
    ----------
    threshold : float
        Bandwidth σ as a fraction of the median Euclidean distance between
        the batch's rows (the zero self-distances included, Kornblith et al.'s
        convention); computed separately for activations and target.
    debiased : bool
        Use the unbiased HSIC.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.alignment.losses import RBFCKALoss
    >>> x = torch.randn(32, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> round(float(RBFCKALoss(threshold=0.5)(x, 3 * x)), 6)
    0.0
    """

    kernel = "rbf"

    def __init__(self, threshold: float = 1.0, debiased: bool = False):
        super().__init__(threshold, debiased)


class DebiasedCKALoss(_CKALoss):
    """``1 − debiased CKA`` (unbiased HSIC of Song et al., 2012; Nguyen et al., 2021) of a kernel.

    The debiased CKA may be slightly negative, so the loss lies in about [0, 2].

    Parameters
    ----------
    kernel : {"linear", "rbf"}
    threshold : float
        RBF bandwidth as a fraction of the median distance (ignored for ``"linear"``).

    Examples
    --------
    >>> import torch
    >>> from neuroalign.alignment.losses import DebiasedCKALoss
    >>> x = torch.randn(32, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> abs(round(float(DebiasedCKALoss()(x, -x)), 6))
    0.0
    """

    def __init__(self, kernel: str = "linear", threshold: float = 1.0):
        if kernel not in ("linear", "rbf"):
            raise UnknownNameError(kernel, ("linear", "rbf"), what="CKA kernel", source="kernel")
        super().__init__(threshold, debiased=True)
        self.kernel = kernel

    def extra_repr(self) -> str:
        return f"kernel={self.kernel!r}" + (f", threshold={self.threshold}" if self.kernel == "rbf" else "")


def _upper(square: torch.Tensor) -> torch.Tensor:
    rows, cols = torch.triu_indices(square.shape[0], square.shape[0], offset=1, device=square.device)
    return square[rows, cols]


def _pearson(a: torch.Tensor, b: torch.Tensor, what: str) -> torch.Tensor:
    a, b = a - a.mean(), b - b.mean()
    norm_a, norm_b = a.norm(), b.norm()
    if float(norm_a.detach()) == 0 or float(norm_b.detach()) == 0:
        raise DataError(f"the {what} is constant, so its correlation is undefined", source="activations/target",
                        fix="check for constant or collapsed representations in the batch")
    return (a @ b) / (norm_a * norm_b)


def correlation_rdm(x: torch.Tensor) -> torch.Tensor:
    """The correlation-distance RDM ``1 − Pearson r`` between the rows of a 2-D tensor (differentiable)."""
    centered = x - x.mean(1, keepdim=True)
    norms = centered.norm(dim=1, keepdim=True)
    if bool((norms.detach() == 0).any()):
        raise DataError("a stimulus' pattern is constant over features, so its correlation distance is undefined",
                        source="activations/target", fix="drop constant patterns, or use a CKA loss")
    unit = centered / norms
    return 1.0 - unit @ unit.T


class RDMCorrelationLoss(nn.Module):
    """``1 − Pearson r`` between the upper triangles of the correlation-distance RDMs of activations and target.

    The RDMs are ``1 − Pearson r`` between stimulus patterns (rsatoolbox's
    ``"correlation"``), compared with Pearson's r (``compare_rdms(...,
    method="pearson")``), so the loss lies in [0, 2].

    Examples
    --------
    >>> import torch
    >>> from neuroalign.alignment.losses import RDMCorrelationLoss
    >>> x = torch.randn(16, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> round(float(RDMCorrelationLoss()(x, 2 * x + 1)), 6)
    0.0
    """

    def similarity(self, activations: Any, target: Any) -> torch.Tensor:
        """The RDM correlation itself (a scalar tensor with gradients)."""
        x, y = _pair(activations, target)
        return _pearson(_upper(correlation_rdm(x)), _upper(correlation_rdm(y)), "RDM")

    def forward(self, activations: Any, target: Any) -> torch.Tensor:
        """``1 − r(RDM(activations), RDM(target))``."""
        return 1.0 - self.similarity(activations, target)


#: Name → loss class, for ``make_alignment_loss`` and the guidance helper.
ALIGNMENT_LOSSES: dict[str, Any] = {
    "linear_cka": LinearCKALoss,
    "rbf_cka": RBFCKALoss,
    "debiased_cka": DebiasedCKALoss,
    "rdm_correlation": RDMCorrelationLoss,
}


def make_alignment_loss(name: str | nn.Module, **options: Any) -> nn.Module:
    """An alignment loss by name (one of :data:`ALIGNMENT_LOSSES`), or ``name`` itself if it is a module.

    Examples
    --------
    >>> from neuroalign.alignment.losses import make_alignment_loss
    >>> make_alignment_loss("rbf_cka", threshold=0.5)
    RBFCKALoss(threshold=0.5, debiased=False)
    """
    if isinstance(name, nn.Module):
        if options:
            raise ConfigError("options were given for a loss module that is already built", source="loss_options",
                              fix="pass the options to the module's constructor instead")
        return name
    if not isinstance(name, str) or name not in ALIGNMENT_LOSSES:
        raise UnknownNameError(str(name), ALIGNMENT_LOSSES, what="alignment loss", source="loss")
    try:
        return ALIGNMENT_LOSSES[name](**options)
    except TypeError as exc:
        raise ConfigError(f"bad options for the {name!r} loss: {exc}", source="loss_options",
                          fix="see the loss class' parameters") from None
