"""psignifit 4's default priors and parameter bounds for psychometric fits.

These are the priors of psignifit 4.3 (``psignifit/_priors.py`` and
``_parameter.py``; Schütt et al. 2016, *Vision Research* 122, 105–123), written
out so that a maximum a posteriori fit here is the same estimate as
psignifit's ``parameter_estimate_MAP``.  On the stimulus axis ``u`` of the fit
(``x``, ``−x`` for falling curves, ``log x`` for the Weibull), with the stimulus
range ``(s0, s1)`` and spread ``r = s1 − s0``:

* **threshold**: 1 inside ``(s0, s1)``, falling to 0 with a raised cosine over
  half the spread on each side, ``(1 + cos(2π·d/r))/2`` at a distance ``d``
  outside; zero beyond ``r/2``.
* **width**: with ``y = width·(Φ⁻¹(.95) − Φ⁻¹(.05))/(Φ⁻¹(1−α) − Φ⁻¹(α))``,
  1 for ``2·w_min < y < r``, rising from 0 at ``w_min`` as
  ``(1 − cos(π(y − w_min)/w_min))/2`` and falling to 0 at ``3r`` as
  ``(1 + cos(π(y − r)/(2r)))/2``.  ``w_min`` is the smallest gap between two
  stimulus levels, or ``r/100`` when the stimulus range is given.
* **lapse λ, guess γ** (yes/no) **and overdispersion η**: Beta(1, 10).  In an
  equal-asymptote fit (γ = λ) psignifit adds λ's prior twice; so does this one.

Bounds (psignifit's grid): threshold within ``(s0 − r/2, s1 + r/2)``, width
within ``(w_min, 3r/(Φ⁻¹(.95) − Φ⁻¹(.05))·(Φ⁻¹(1−α) − Φ⁻¹(α)))``, λ and γ within
``[0, 0.5]``, η within ``[0, 1 − 1e−10]``.

The priors are unnormalised (psignifit divides each by its integral over the
bounds, a constant that does not move the maximum).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import special

__all__ = ["PsignifitPriors", "BETA_PRIOR"]

#: (a, b) of the Beta prior on the lapse, guess and overdispersion rates (psignifit: Beta(1, 10)).
BETA_PRIOR = (1.0, 10.0)
_NORMAL_SPAN_05 = float(special.ndtri(0.95) - special.ndtri(0.05))


@dataclasses.dataclass(frozen=True)
class PsignifitPriors:
    """psignifit 4's default priors for one stimulus range (on the fit axis).

    Parameters
    ----------
    stimulus_range : (float, float)
        ``(s0, s1)`` with ``s0 < s1``.
    width_min : float
        psignifit's ``width_min``: the smallest gap between levels, or
        ``(s1 − s0)/100`` for a user-given stimulus range.
    width_alpha : float
        The ``α`` of the width (0.05).

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.metamers.psychometric_priors import PsignifitPriors
    >>> p = PsignifitPriors((0.0, 10.0), width_min=1.0)
    >>> p.bounds["threshold"]
    (-5.0, 15.0)
    >>> np.exp(p.log_threshold(np.array([5.0, -2.5, -5.0]))).round(12).tolist()
    [1.0, 0.5, 0.0]
    """

    stimulus_range: tuple[float, float]
    width_min: float
    width_alpha: float = 0.05

    @property
    def spread(self) -> float:
        return float(self.stimulus_range[1] - self.stimulus_range[0])

    @property
    def width_factor(self) -> float:
        """``(Φ⁻¹(.95) − Φ⁻¹(.05))/(Φ⁻¹(1−α) − Φ⁻¹(α))``: psignifit's width rescaling for ``α``."""
        a = self.width_alpha
        return _NORMAL_SPAN_05 / float(special.ndtri(1 - a) - special.ndtri(a))

    @property
    def bounds(self) -> dict[str, tuple[float, float]]:
        """psignifit's bounds of every parameter (``parameter_bounds``)."""
        s0, s1 = (float(v) for v in self.stimulus_range)
        r = self.spread
        return {"threshold": (s0 - r / 2, s1 + r / 2),
                "width": (float(self.width_min), 3 * r / self.width_factor),
                "lambda": (0.0, 0.5), "gamma": (0.0, 0.5), "eta": (0.0, 1 - 1e-10)}

    # each log prior returns log p (and d log p / d value with grad=True); outside the support log p = -inf
    def log_threshold(self, m: np.ndarray, *, grad: bool = False):
        """Log prior of the threshold (and its derivative with ``grad=True``)."""
        m = np.asarray(m, dtype=float)
        s0, s1 = (float(v) for v in self.stimulus_range)
        r = self.spread
        below = m < s0
        dist = np.maximum(np.where(below, s0 - m, m - s1), 0.0)  # distance outside the range
        half = np.pi * np.minimum(dist, r / 2) / r  # (1 + cos 2h)/2 = cos² h
        with np.errstate(divide="ignore"):
            logp = np.where(dist <= r / 2, 2 * np.log(np.cos(half)), -np.inf)
        if not grad:
            return logp
        dlogp = np.where(dist <= r / 2, -2 * np.tan(half) * np.where(below, -1.0, 1.0) * np.pi / r, 0.0)
        return logp, dlogp

    def log_width(self, w: np.ndarray, *, grad: bool = False):
        """Log prior of the width (and its derivative with ``grad=True``)."""
        w = np.asarray(w, dtype=float)
        f = self.width_factor
        y = w * f
        wmin, wmax = float(self.width_min), self.spread
        # psignifit assigns the falling edge [wmax, 3 wmax] last: it wins where the two edges overlap
        right = (wmax <= y) & (y <= 3 * wmax)
        left = (wmin <= y) & (y <= 2 * wmin) & ~right
        flat = (2 * wmin < y) & (y < wmax)
        h_left = np.pi * np.clip(y - wmin, 0.0, wmin) / (2 * wmin)  # (1 − cos 2h)/2 = sin² h
        h_right = np.pi * np.clip(y - wmax, 0.0, 2 * wmax) / (4 * wmax)  # (1 + cos 2h)/2 = cos² h
        with np.errstate(divide="ignore"):
            logp = np.where(right, 2 * np.log(np.cos(h_right)),
                            np.where(left, 2 * np.log(np.sin(h_left)), np.where(flat, 0.0, -np.inf)))
            if not grad:
                return logp
            dlogp = np.where(right, -2 * np.tan(h_right) * np.pi * f / (4 * wmax),
                             np.where(left, 2 / np.tan(h_left) * np.pi * f / (2 * wmin), 0.0))
        return logp, dlogp

    @staticmethod
    def log_rate(v: np.ndarray, *, grad: bool = False):
        """Log Beta(1, 10) prior of a lapse, guess or overdispersion rate (and its derivative)."""
        v = np.asarray(v, dtype=float)
        a, b = BETA_PRIOR  # a = 1: the density is b (1 − v)^(b − 1)
        inside = (v >= 0) & (v <= 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            logp = np.where(inside, np.log(b) + (b - 1) * np.log1p(-v), -np.inf)
            if not grad:
                return logp
            dlogp = np.where(inside, -(b - 1) / (1 - v), 0.0)
        return logp, dlogp
