"""Kernel-density (pairwise-distance) bounds on a layer's information under Gaussian noise.

Following Kolchinsky & Tracey (2017) and Saxe et al. (2018), the layer is
observed through additive Gaussian noise, :math:`T = h + Z` with
:math:`Z \\sim \\mathcal N(0, \\sigma^2 I_d)`, so over the :math:`N` samples
:math:`T` is a mixture of :math:`N` Gaussians centred on the activations
:math:`h_i`, and :math:`H(T \\mid X) = \\tfrac d2 \\log(2\\pi e \\sigma^2)`.
The pairwise-distance bounds on the mixture's entropy give

.. math:: I(X;T) \\le -\\frac1N \\sum_i \\log \\frac1N \\sum_j
          \\exp\\!\\Big(-\\frac{\\lVert h_i - h_j\\rVert^2}{2\\sigma^2}\\Big)

(the KL-divergence upper bound), and the same expression with
:math:`8\\sigma^2` in place of :math:`2\\sigma^2` is a lower bound (the
Bhattacharyya bound).  :math:`I(T;Y) = H(T) - \\sum_y p(y) H(T \\mid Y=y)` is
estimated, as Saxe et al. do, by the difference of the same bound computed over
all samples and within each class; that difference is an estimate, not itself
a bound.  The pairwise distances are computed in row blocks, so memory grows
with :math:`N` times the block, not :math:`N^2`.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from scipy.special import logsumexp

from ...fitting.base import check_choice, check_number
from ._checks import as_labels, as_samples, check_units

__all__ = ["kde_information", "pairwise_distance_bound", "KDE_BOUNDS"]

#: The bounds :func:`pairwise_distance_bound` computes, with the kernel's variance factor of each.
KDE_BOUNDS = {"upper": 2.0, "lower": 8.0}
_BLOCK = 1024


def _mean_log_mixture(values: np.ndarray, scale: float) -> float:
    """:math:`\\frac1N\\sum_i \\log \\frac1N \\sum_j \\exp(-\\lVert v_i - v_j\\rVert^2 / scale)`, in row blocks."""
    n = values.shape[0]
    norms = np.einsum("ij,ij->i", values, values)
    total = 0.0
    for start in range(0, n, _BLOCK):
        block = values[start:start + _BLOCK]
        squared = norms[start:start + _BLOCK, None] + norms[None, :] - 2.0 * block @ values.T
        np.maximum(squared, 0.0, out=squared)
        rows = np.arange(block.shape[0])
        squared[rows, start + rows] = 0.0  # exact zeros on the diagonal
        total += float(logsumexp(-squared / scale, axis=1).sum())
    return float(total / n - np.log(n))


def pairwise_distance_bound(
    activations: Any,
    *,
    noise_variance: float = 0.1,
    bound: Literal["upper", "lower"] = "upper",
    units: Literal["nats", "bits"] = "nats",
) -> float:
    """The pairwise-distance bound on :math:`I(X;T)` for ``activations`` observed through Gaussian noise.

    Parameters
    ----------
    activations : array-like
        ``(samples, units)`` activations :math:`h`, one row per distinct input.
    noise_variance : float
        :math:`\\sigma^2` of the added Gaussian noise (0.1 by default, as Saxe
        et al. 2018), in the squared units of the activations.
    bound : {"upper", "lower"}
        The KL-divergence upper bound or the Bhattacharyya lower bound
        (Kolchinsky & Tracey 2017).
    units : {"nats", "bits"}

    Returns
    -------
    float
        Between 0 and :math:`\\log N`.

    Raises
    ------
    ConfigError
        ``noise_variance`` not positive, unknown ``bound`` or ``units``.
    DataError
        NaN or inf values, fewer than two samples.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.geometry.information.kernel import pairwise_distance_bound
    >>> far = np.array([[0.0], [100.0], [200.0], [300.0]])      # four distinguishable samples
    >>> round(pairwise_distance_bound(far, units="bits"), 6)      # log2(4)
    2.0
    >>> pairwise_distance_bound(np.zeros((4, 3)))                # one point: no information
    0.0
    """
    variance = check_number("noise_variance", noise_variance, low=0, low_open=True)
    check_choice("bound", bound, tuple(KDE_BOUNDS))
    divisor = check_units(units)
    values = as_samples(activations, "activations")
    return max(0.0, -_mean_log_mixture(values, KDE_BOUNDS[bound] * variance)) / divisor


def kde_information(
    activations: Any,
    labels: Any,
    *,
    noise_variance: float = 0.1,
    bound: Literal["upper", "lower"] = "upper",
    units: Literal["nats", "bits"] = "nats",
) -> tuple[float, float]:
    """``(I(X;T), I(T;Y))`` of a layer with Gaussian noise of variance ``noise_variance`` (Saxe et al. 2018).

    Parameters
    ----------
    activations : array-like
        ``(samples, units)`` activations, one row per distinct input.
    labels : array-like
        The class of each sample.
    noise_variance, bound, units
        As :func:`pairwise_distance_bound`.

    Returns
    -------
    (float, float)
        The bound on :math:`I(X;T)`, and :math:`I(T;Y)` as the bound over all
        samples minus the class-weighted bounds within classes (at most
        :math:`H(Y)`; not clipped, so a value just below 0 is possible).

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.geometry.information.kernel import kde_information
    >>> t = np.array([[0.0], [0.0], [50.0], [50.0]])            # the layer keeps the label only
    >>> [round(v, 6) for v in kde_information(t, [0, 0, 1, 1], units="bits")]
    [1.0, 1.0]
    """
    variance = check_number("noise_variance", noise_variance, low=0, low_open=True)
    check_choice("bound", bound, tuple(KDE_BOUNDS))
    divisor = check_units(units)
    values = as_samples(activations, "activations")
    classes = as_labels(labels, values.shape[0])
    scale = KDE_BOUNDS[bound] * variance
    h_all = -_mean_log_mixture(values, scale)  # H(T) - H(T|X) as bounded
    h_within = sum(float((classes == c).mean()) * -_mean_log_mixture(values[classes == c], scale)
                   for c in np.unique(classes))
    return max(0.0, h_all) / divisor, (h_all - h_within) / divisor
