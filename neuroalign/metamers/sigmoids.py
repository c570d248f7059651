"""Sigmoids of psychometric functions, in psignifit 4's threshold/width parametrisation.

A psychometric function is ``ψ(x) = γ + (1 − γ − λ)·S(x)``, where ``S`` rises
from 0 to 1.  Every sigmoid here is written with two parameters that mean the
same thing whatever its shape (Schütt, Harmeling, Macke & Wichmann 2016,
*Vision Research* 122, 105–123; psignifit 4):

* ``threshold`` is the stimulus at which ``S = 0.5``;
* ``width`` is ``X_{1−α} − X_α``, the distance between the stimuli at which
  ``S = 1 − α`` and ``S = α`` (``α = 0.05`` by default, psignifit's
  ``width_alpha``).

For a standard cumulative distribution ``F`` with quantile function ``F⁻¹``
this gives ``S(u) = F(F⁻¹(0.5) + C·(u − threshold)/width)`` with
``C = F⁻¹(1 − α) − F⁻¹(α)``.

The Weibull is a Gumbel on ``log x`` (as psignifit's ``"weibull"``, which
expects log-transformed stimuli): ``S(x) = 1 − exp(−(x/a)^b)``.  Its
``threshold`` and ``width`` parameters here are in log units (the Gumbel's),
so ``S(exp(threshold)) = 0.5``; :class:`~neuroalign.metamers.psychometric.PsychometricFit`
reports its threshold and width back in units of ``x``.

:data:`SIGMOIDS` is the registry; :func:`get_sigmoid` looks a name up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
from scipy import special

from ..errors import UnknownNameError

__all__ = ["Sigmoid", "SIGMOIDS", "SIGMOID_ALIASES", "get_sigmoid", "sigmoid_names"]


def _gumbel_cdf(z: np.ndarray) -> np.ndarray:
    # left-skewed Gumbel (scipy.stats.gumbel_l, psignifit's "gumbel"): 1 − exp(−exp(z))
    return -np.expm1(-np.exp(z))


def _gumbel_ppf(p: np.ndarray) -> np.ndarray:
    return np.log(-np.log1p(-p))


def _gumbel_sf(z: np.ndarray) -> np.ndarray:
    return np.exp(-np.exp(z))


def _gumbel_pdf(z: np.ndarray) -> np.ndarray:
    return np.exp(z - np.exp(z))


def _rgumbel_cdf(z: np.ndarray) -> np.ndarray:
    # right-skewed Gumbel (scipy.stats.gumbel_r, psignifit's "rgumbel"): exp(−exp(−z))
    return np.exp(-np.exp(-z))


def _rgumbel_ppf(p: np.ndarray) -> np.ndarray:
    return -np.log(-np.log(p))


def _rgumbel_sf(z: np.ndarray) -> np.ndarray:
    return -np.expm1(-np.exp(-z))


def _rgumbel_pdf(z: np.ndarray) -> np.ndarray:
    return np.exp(-z - np.exp(-z))


def _log1mexp(t: np.ndarray) -> np.ndarray:
    """``log(1 − exp(−t))`` for ``t ≥ 0``, accurate for small and large ``t`` (Mächler 2012)."""
    t = np.asarray(t, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(t > np.log(2.0), np.log1p(-np.exp(-t)), np.log(-np.expm1(-t)))


def _gumbel_logcdf(z: np.ndarray) -> np.ndarray:
    return _log1mexp(np.exp(z))


def _gumbel_logsf(z: np.ndarray) -> np.ndarray:
    return -np.exp(z)


def _gumbel_logpdf(z: np.ndarray) -> np.ndarray:
    return z - np.exp(z)


def _rgumbel_logcdf(z: np.ndarray) -> np.ndarray:
    return -np.exp(-z)


def _rgumbel_logsf(z: np.ndarray) -> np.ndarray:
    return _log1mexp(np.exp(-z))


def _rgumbel_logpdf(z: np.ndarray) -> np.ndarray:
    return -z - np.exp(-z)


def _logistic_logsf(z: np.ndarray) -> np.ndarray:
    return special.log_expit(-z)


def _logistic_logpdf(z: np.ndarray) -> np.ndarray:
    return special.log_expit(z) + special.log_expit(-z)


def _normal_logsf(z: np.ndarray) -> np.ndarray:
    return special.log_ndtr(-z)


def _normal_logpdf(z: np.ndarray) -> np.ndarray:
    return -0.5 * np.square(z) - 0.5 * np.log(2.0 * np.pi)


def _logistic_pdf(z: np.ndarray) -> np.ndarray:
    s = special.expit(z)
    return s * (1.0 - s)


def _normal_pdf(z: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * np.square(z)) / np.sqrt(2.0 * np.pi)


def _logistic_sf(z: np.ndarray) -> np.ndarray:
    return special.expit(-z)


def _normal_sf(z: np.ndarray) -> np.ndarray:
    return special.ndtr(-z)


@dataclasses.dataclass(frozen=True)
class Sigmoid:
    """A rising sigmoid ``S`` with psignifit's ``threshold`` and ``width`` parameters.

    Parameters
    ----------
    name : str
        The registry name.
    cdf, ppf, pdf, sf : callable
        The standard distribution ``F``, its quantile function, its density and
        ``1 − F`` (computed without cancellation).
    logcdf, logsf, logpdf : callable
        ``log F``, ``log(1 − F)`` and ``log f``, accurate in the tails (the
        likelihood is computed from them).
    log_axis : bool
        ``True`` when the sigmoid acts on ``log x`` (the Weibull); threshold and
        width are then in log units and stimuli must be positive.
    description : str
        One line for users.

    Examples
    --------
    >>> from neuroalign.metamers.sigmoids import get_sigmoid
    >>> s = get_sigmoid("logistic")
    >>> float(s(10.0, threshold=10.0, width=4.0))
    0.5
    >>> round(float(s(12.0, threshold=10.0, width=4.0)), 6)   # X_0.95 = threshold + width/2 (symmetric)
    0.95
    """

    name: str
    cdf: Callable[[np.ndarray], np.ndarray] = dataclasses.field(repr=False)
    ppf: Callable[[np.ndarray], np.ndarray] = dataclasses.field(repr=False)
    pdf: Callable[[np.ndarray], np.ndarray] = dataclasses.field(repr=False)
    sf: Callable[[np.ndarray], np.ndarray] = dataclasses.field(repr=False)
    logcdf: Callable[[np.ndarray], np.ndarray] = dataclasses.field(repr=False)
    logsf: Callable[[np.ndarray], np.ndarray] = dataclasses.field(repr=False)
    logpdf: Callable[[np.ndarray], np.ndarray] = dataclasses.field(repr=False)
    log_axis: bool = False
    description: str = ""

    def span(self, alpha: float = 0.05) -> float:
        """``F⁻¹(1 − α) − F⁻¹(α)``: the width of the standard sigmoid."""
        return float(self.ppf(np.float64(1.0 - alpha)) - self.ppf(np.float64(alpha)))

    def to_axis(self, x: np.ndarray) -> np.ndarray:
        """The stimulus axis the sigmoid is linear in: ``log x`` for the Weibull, else ``x``."""
        x = np.asarray(x, dtype=float)
        if not self.log_axis:
            return x
        with np.errstate(divide="ignore"):
            return np.log(x)

    def from_axis(self, u: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`to_axis`."""
        u = np.asarray(u, dtype=float)
        return np.exp(u) if self.log_axis else u

    def standardise(self, u: np.ndarray, threshold: np.ndarray, width: np.ndarray, alpha: float = 0.05) -> np.ndarray:
        """``z = F⁻¹(0.5) + C·(u − threshold)/width`` on the sigmoid's axis ``u``."""
        return self.ppf(np.float64(0.5)) + self.span(alpha) * (np.asarray(u, dtype=float) - threshold) / width

    def __call__(self, x: np.ndarray, threshold: np.ndarray, width: np.ndarray, *, alpha: float = 0.05) -> np.ndarray:
        """``S(x)``, from 0 to 1 (``threshold``, ``width`` on :meth:`to_axis`'s axis)."""
        return self.cdf(self.standardise(self.to_axis(x), threshold, width, alpha))

    def inverse(self, s: np.ndarray, threshold: np.ndarray, width: np.ndarray, *, alpha: float = 0.05) -> np.ndarray:
        """The stimulus ``x`` at which ``S(x) = s`` (``s`` in [0, 1]; 0 and 1 give the ends of the axis)."""
        return self.from_axis(self.inverse_axis(s, threshold, width, alpha=alpha))

    def inverse_axis(self, s: np.ndarray, threshold: np.ndarray, width: np.ndarray, *,
                     alpha: float = 0.05) -> np.ndarray:
        """The point ``u`` of the sigmoid's axis (:meth:`to_axis`) at which ``S = s``."""
        s = np.asarray(s, dtype=float)
        with np.errstate(divide="ignore"):
            z = self.ppf(s)
        return threshold + (z - self.ppf(np.float64(0.5))) * width / self.span(alpha)


_BUILT_IN = (
    Sigmoid("logistic", special.expit, special.logit, _logistic_pdf, _logistic_sf,
            special.log_expit, _logistic_logsf, _logistic_logpdf,
            description="logistic: F(z) = 1 / (1 + exp(−z)) (psignifit 'logistic')"),
    Sigmoid("normal", special.ndtr, special.ndtri, _normal_pdf, _normal_sf,
            special.log_ndtr, _normal_logsf, _normal_logpdf,
            description="cumulative normal (psignifit 'norm'/'gauss')"),
    Sigmoid("gumbel", _gumbel_cdf, _gumbel_ppf, _gumbel_pdf, _gumbel_sf,
            _gumbel_logcdf, _gumbel_logsf, _gumbel_logpdf,
            description="left-skewed Gumbel: F(z) = 1 − exp(−exp(z)) (psignifit 'gumbel', scipy gumbel_l)"),
    Sigmoid("reverse_gumbel", _rgumbel_cdf, _rgumbel_ppf, _rgumbel_pdf, _rgumbel_sf,
            _rgumbel_logcdf, _rgumbel_logsf, _rgumbel_logpdf,
            description="right-skewed Gumbel: F(z) = exp(−exp(−z)) (psignifit 'rgumbel', scipy gumbel_r)"),
    Sigmoid("weibull", _gumbel_cdf, _gumbel_ppf, _gumbel_pdf, _gumbel_sf,
            _gumbel_logcdf, _gumbel_logsf, _gumbel_logpdf, log_axis=True,
            description="Weibull 1 − exp(−(x/a)^b), x > 0: a Gumbel on log x (psignifit 'weibull' on log x)"),
)

#: The sigmoids by name.
SIGMOIDS: dict[str, Sigmoid] = {s.name: s for s in _BUILT_IN}
#: Other accepted names (psignifit's spellings).
SIGMOID_ALIASES: dict[str, str] = {"norm": "normal", "gauss": "normal", "gaussian": "normal",
                                   "rgumbel": "reverse_gumbel"}


def sigmoid_names() -> tuple[str, ...]:
    """Every accepted sigmoid name (registry names and aliases).

    Examples
    --------
    >>> from neuroalign.metamers.sigmoids import sigmoid_names
    >>> "weibull" in sigmoid_names()
    True
    """
    return tuple(sorted([*SIGMOIDS, *SIGMOID_ALIASES]))


def get_sigmoid(name: str | Sigmoid, *, source: str = "sigmoid") -> Sigmoid:
    """The :class:`Sigmoid` of a name (case ignored), or the sigmoid itself.

    Raises
    ------
    UnknownNameError
        The name is not in :data:`SIGMOIDS` nor an alias; the message lists the valid names.

    Examples
    --------
    >>> from neuroalign.metamers.sigmoids import get_sigmoid
    >>> get_sigmoid("gauss").name
    'normal'
    """
    if isinstance(name, Sigmoid):
        return name
    key = str(name).strip().lower()
    if key.startswith("neg_"):
        raise UnknownNameError(name, sigmoid_names(), what="sigmoid (falling curves: pass direction='decreasing' "
                               "with a rising sigmoid; psignifit's neg_ sigmoids cap forced-choice fits below the "
                               "guess rate)", source=source)
    key = SIGMOID_ALIASES.get(key, key)
    if key not in SIGMOIDS:
        raise UnknownNameError(name, sigmoid_names(), what="sigmoid", source=source)
    return SIGMOIDS[key]
