"""The likelihood, posterior and optimiser behind :class:`~neuroalign.metamers.psychometric.PsychometricFit`.

Model: ``ψ(u) = γ + (1 − γ − λ)·S(u; threshold, width)`` on the fit axis ``u``
(see :mod:`neuroalign.metamers.sigmoids`).  The counts ``k`` of ``n`` trials at
each level are binomial, or beta-binomial with overdispersion ``η`` (psignifit
4's definition: the success probability of a block is Beta-distributed with
mean ``ψ`` and ``a + b = ν = 1/η² − 1``, so that its variance is
``η²·ψ(1 − ψ)``; ``η² ≤ 1e−9`` is treated as binomial, as psignifit does).

The maximum is found by a search over a grid covering the bounds (psignifit's
first step), then L-BFGS-B with analytic gradients from the best grid point.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
from scipy import optimize, special

from .psychometric_priors import PsignifitPriors
from .sigmoids import Sigmoid

__all__ = ["PARAMETERS", "Model", "maximise"]

PARAMETERS = ("threshold", "width", "lambda", "gamma", "eta")
_BINOMIAL_ETA2 = 1e-9  # psignifit: eta**2 <= 1e-9 uses the binomial model
_TINY = 1e-300
_MAX_STARTS = 8  # local searches from at most this many grid maxima
_START_MARGIN = 20.0  # skip a grid maximum this far (log units) below the best optimum found so far


@dataclasses.dataclass
class Model:
    """What is fitted: the sigmoid, which parameters are free, the fixed values, priors and bounds.

    ``gamma`` is ``"lambda"`` for an equal-asymptote model (γ = λ).
    """

    sigmoid: Sigmoid
    free: tuple[str, ...]
    fixed: dict[str, float | str]
    priors: PsignifitPriors
    use_priors: bool
    width_alpha: float = 0.05

    def bounds(self) -> list[tuple[float, float]]:
        b = self.priors.bounds
        if self.use_priors:  # the support of the threshold and width priors (psignifit's MAP is unconstrained)
            f = self.priors.width_factor
            b = {**b, "width": (float(self.priors.width_min) / f, 3 * self.priors.spread / f)}
        return [b[p] for p in self.free]

    def on_bounds(self, theta: np.ndarray) -> np.ndarray:
        """``(2, ...)``: whether the threshold and the width of each ``theta`` lie on the edge of :meth:`bounds`."""
        theta = np.asarray(theta, dtype=float)
        out = np.zeros((2,) + theta.shape[:-1], dtype=bool)
        for row, name in enumerate(("threshold", "width")):
            if name in self.free:
                i = self.free.index(name)
                lo, hi = self.bounds()[i]
                out[row] = np.minimum(theta[..., i] - lo, hi - theta[..., i]) <= 1e-6 * (hi - lo)
        return out

    def unpack(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        values: dict = dict(self.fixed)
        values.update({p: theta[..., i] for i, p in enumerate(self.free)})
        if isinstance(self.fixed.get("gamma"), str):  # "lambda": an equal-asymptote model
            values["gamma"] = values["lambda"]
        return values

    # ---- log-likelihood ----------------------------------------------------------------------------------------
    def log_likelihood(self, theta: np.ndarray, u: np.ndarray, k: np.ndarray, n: np.ndarray,
                       grad: bool = False, constant: bool = True):
        """Sum over levels of the log-likelihood at each ``theta[..., :]``.

        ``constant=False`` leaves out the binomial coefficients ``log C(n, k)``
        (psignifit leaves them out too; they do not depend on the parameters).

        ``ψ`` and ``1 − ψ`` are computed in log space from the sigmoid's
        ``logcdf``/``logsf``, so a level far in a tail gives a large finite
        penalty rather than ``log 0``.
        """
        v = self.unpack(np.asarray(theta, dtype=float))
        m, w, lam, gam, eta = (np.asarray(v[p], dtype=float)[..., None] for p in PARAMETERS)
        s = self.sigmoid
        z = s.standardise(u, m, w, self.width_alpha)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_scale = np.log(1.0 - gam - lam)
            ls, lsc = s.logcdf(z), s.logsf(z)
            log_psi = np.logaddexp(np.log(gam), log_scale + ls)
            log_qsi = np.logaddexp(np.log(lam), log_scale + lsc)  # log(1 − ψ) without cancellation
            psi, qsi = np.exp(log_psi), np.exp(log_qsi)
            log_choose = (special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)
                          if constant else 0.0)
            ll = _times(k, log_psi) + _times(n - k, log_qsi) + log_choose
            beta = np.square(eta) > _BINOMIAL_ETA2
            beta_any = bool(np.any(beta))
            if beta_any:
                nu = np.where(beta, 1.0 / np.where(beta, np.square(eta), 1.0) - 1.0, 1.0)
                a, b = np.maximum(psi * nu, _TINY), np.maximum(qsi * nu, _TINY)
                ll_beta = (special.gammaln(k + a) + special.gammaln(n - k + b) - special.gammaln(n + nu)
                           - special.gammaln(a) - special.gammaln(b) + special.gammaln(nu) + log_choose)
                ll = np.where(beta, ll_beta, ll)
        total = ll.sum(axis=-1)
        total = np.where(np.isnan(total), -np.inf, total)
        if not grad:
            return total
        equal = self.fixed.get("gamma") == "lambda"
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            lf = s.logpdf(z)
            # binomial: dll/dq = k·(dψ/dq)/ψ − (n − k)·(dψ/dq)/(1 − ψ), with each ratio formed in log space
            ratio = {"psi": log_psi, "qsi": log_qsi}
            d = {}
            for name, log_num, sign in (("z", log_scale + lf, 1.0), ("S", ls, -1.0), ("Sc", lsc, 1.0)):
                d[name] = sign * (_times(k, np.exp(log_num - ratio["psi"]))
                                  - _times(n - k, np.exp(log_num - ratio["qsi"])))
            dz, dlam, dgam = d["z"], d["S"], d["Sc"]
            if equal:
                dlam = d["S"] + d["Sc"]  # dψ/dλ = 1 − 2S = Sc − S
            deta = np.zeros_like(dz)
            if beta_any:
                dga = special.digamma(k + a) - special.digamma(a)
                dgb = special.digamma(n - k + b) - special.digamma(b)
                dpsi = nu * (dga - dgb)
                scale = np.exp(log_scale)
                S, Sc = np.exp(ls), np.exp(lsc)
                dz = np.where(beta, dpsi * scale * np.exp(lf), dz)
                dlam = np.where(beta, dpsi * ((Sc - S) if equal else -S), dlam)
                dgam = np.where(beta, dpsi * Sc, dgam)
                dnu = psi * dga + qsi * dgb - special.digamma(n + nu) + special.digamma(nu)
                deta = np.where(beta, dnu * -2.0 / np.where(beta, eta, 1.0) ** 3, 0.0)
            c = s.span(self.width_alpha)
            parts = {"threshold": dz * (-c / w), "width": dz * (-(z - s.ppf(np.float64(0.5))) / w),
                     "lambda": dlam, "gamma": dgam, "eta": deta}
            g = np.stack([np.nan_to_num(parts[p], nan=0.0, posinf=1e300, neginf=-1e300).sum(axis=-1)
                          for p in self.free], axis=-1)
        return total, g

    # ---- log prior ---------------------------------------------------------------------------------------------
    def log_prior(self, theta: np.ndarray, grad: bool = False):
        theta = np.asarray(theta, dtype=float)
        if not self.use_priors:
            zero = np.zeros(theta.shape[:-1])
            return (zero, np.zeros(theta.shape)) if grad else zero
        v = self.unpack(theta)
        pr = self.priors
        # a fixed parameter's prior is a constant (psignifit's fixed bounds normalise it to 1): only free ones count
        log = {"threshold": pr.log_threshold, "width": pr.log_width, "lambda": pr.log_rate, "gamma": pr.log_rate,
               "eta": pr.log_rate}
        terms = {p: log[p](v[p], grad=True) for p in self.free}
        if self.fixed.get("gamma") == "lambda" and "lambda" in terms:  # psignifit: λ's prior again in place of γ's
            lp, dl = terms["lambda"]
            terms["lambda"] = (2 * lp, 2 * dl)
        total = sum(np.asarray(terms[p][0], dtype=float) * np.ones(theta.shape[:-1])
                    for p in self.free if p in terms)
        total = np.asarray(total) + np.zeros(theta.shape[:-1])
        if not grad:
            return total
        g = np.stack([np.asarray(terms[p][1], dtype=float) * np.ones(theta.shape[:-1]) for p in self.free], axis=-1)
        return total, g

    def objective(self, theta, u, k, n, grad: bool = False):
        """Log posterior (MAP) or log-likelihood (ML), without constant terms — to be maximised."""
        if not grad:
            return self.log_likelihood(theta, u, k, n, constant=False) + self.log_prior(theta)
        ll, gl = self.log_likelihood(theta, u, k, n, grad=True, constant=False)
        lp, gp = self.log_prior(theta, grad=True)
        return ll + lp, gl + gp

    # ---- search grid -------------------------------------------------------------------------------------------
    def grid(self) -> np.ndarray:
        """Starting points covering the bounds: ``(G, n_free)``, the product of :meth:`grid_axes`."""
        return np.array(list(itertools.product(*self.grid_axes())), dtype=float).reshape(-1, len(self.free))

    def grid_axes(self) -> list[np.ndarray]:
        """The values of each free parameter on the search grid.

        A lapse (or guess) rate gets a fine axis when it is the only free rate,
        so that a narrow mode at a larger λ shows as a maximum of the grid; with
        both rates free (yes/no) each gets a coarser one, to bound the grid's size.
        """
        axes = []
        steps = 37 if "eta" in self.free else 43
        rates = sum(p in ("lambda", "gamma") for p in self.free)
        for p, (lo, hi) in zip(self.free, self.bounds()):
            if p == "threshold":
                axes.append(np.linspace(lo, hi, steps)[1:-1])
            elif p == "width":
                axes.append(np.geomspace(lo, hi, steps)[1:-1])
            elif p == "eta":  # fine near 0: the posterior often peaks at a small η next to its local maximum at 0
                axes.append(np.array([0.0, 0.0075, 0.015, 0.025, 0.04, 0.06, 0.1, 0.15, 0.25, 0.4, 0.6, 0.85]))
            elif rates == 1:
                axes.append(np.array([0.0, 0.005, 0.01, 0.02, 0.04, 0.07, 0.1, 0.15, 0.25, 0.4]))
            else:
                axes.append(np.array([0.0, 0.01, 0.03, 0.07, 0.12, 0.2, 0.35]))
        return axes


def _times(count: np.ndarray, value: np.ndarray) -> np.ndarray:
    """``count · value`` with ``0 · anything = 0`` (no trials of that outcome contribute nothing)."""
    return np.where(count > 0, count * value, 0.0)


def _grid_maxima(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Indices (into the flattened grid) of its local maxima, best first.

    A point is a local maximum when none of its neighbours on the grid
    (diagonals included, so that a diagonal ridge is not cut into many
    "maxima") is higher.  Each is the best grid point of one basin of the
    objective, so a local search from each finds every mode the grid resolves.
    """
    v = np.where(np.isfinite(values), values, -np.inf).reshape(shape)
    padded = np.pad(v, 1, mode="constant", constant_values=-np.inf)
    peak = np.isfinite(v)
    for offset in itertools.product((-1, 0, 1), repeat=v.ndim):
        if any(offset):
            window = tuple(slice(1 + o, 1 + o + size) for o, size in zip(offset, shape))
            peak &= v >= padded[window]
    index = np.flatnonzero(peak.ravel())
    return index[np.argsort(-values[index], kind="stable")]


def _starts(model: Model, points: np.ndarray, values: np.ndarray) -> list[tuple[np.ndarray, float, bool]]:
    """Starting points with their grid values and whether each is a maximum of the grid: the grid's local
    maxima, best first, then with η free the best points with η = 0 and with η > 0.

    The posterior can have several modes (a lapse rate that explains the top
    levels competes with a shallower curve), so one local search from the best
    grid point may end in a lower mode.  In η the posterior always has a local
    maximum at η = 0 (the likelihood is flat there while the prior falls),
    often next to a higher one at an η > 0 below the grid's first step, or a
    lower one: both sides are searched.
    """
    maxima = _grid_maxima(values, tuple(len(axis) for axis in model.grid_axes()))
    starts = [(points[i], float(values[i]), True) for i in maxima[:_MAX_STARTS]]
    for i, p in enumerate(model.free):
        if p == "eta":
            for side in (points[:, i] == 0, points[:, i] > 0):
                if side.any() and np.isfinite(values[side]).any():
                    j = int(np.argmax(np.where(side, values, -np.inf)))
                    starts.append((points[j], float(values[j]), False))
    unique: list[tuple[np.ndarray, float, bool]] = []
    for point, value, maximum in starts:
        if not any(np.array_equal(point, seen[0]) for seen in unique):
            unique.append((point, value, maximum))
    return unique


def _grid_cell(model: Model, point: np.ndarray) -> np.ndarray:
    """The grid's steps on either side of a grid point, the larger one per parameter (``Model.grid_axes``)."""
    steps = []
    for axis, value in zip(model.grid_axes(), point):
        j = int(np.argmin(np.abs(axis - value)))
        steps.append(max(axis[min(j + 1, len(axis) - 1)] - axis[j], axis[j] - axis[max(j - 1, 0)]))
    return np.asarray(steps, dtype=float)


def _local(fun, q0: np.ndarray, qb: list[tuple[float, float]], tol: float = 1e-4
           ) -> tuple[optimize.OptimizeResult, bool]:
    """L-BFGS-B inside a box around the start that moves and grows while the optimum sits on its edge.

    The box keeps the first steps local: from a point of a coarse grid, a step
    across the whole parameter range lands where the likelihood is ~1e28 below
    and L-BFGS-B's line search then stops at the start.
    """
    options = {"maxiter": 3000, "ftol": 1e-15, "gtol": 1e-10, "maxcor": 20}
    q, radius, stalls = np.asarray(q0, dtype=float), 0.05, 0
    for _ in range(60):
        box = [(max(lo, qi - radius), min(hi, qi + radius)) for qi, (lo, hi) in zip(q, qb)]
        res = optimize.minimize(fun, q, jac=True, method="L-BFGS-B", bounds=box, options=options)
        edge = [(abs(x - b[0]) <= 1e-10 and b[0] > lo) or (abs(x - b[1]) <= 1e-10 and b[1] < hi)
                for x, b, (lo, hi) in zip(res.x, box, qb)]
        moved = not np.array_equal(res.x, q)
        q = res.x
        if any(edge):
            radius = min(2 * radius, 1.0)
            continue
        if _stationary(res.x, res.jac, qb, tol):
            return res, True
        # stalled in a curved valley: restart (a fresh Hessian approximation) from here
        stalls += 1
        if stalls > 10 or not moved:
            break
    return res, False


def _stationary(q: np.ndarray, g: np.ndarray, qb: list[tuple[float, float]], tol: float) -> bool:
    """The projected gradient (of the minimised function, scaled parameters) is below ``tol``.

    L-BFGS-B often ends with "ABNORMAL_TERMINATION_IN_LNSRCH" at an optimum it
    cannot improve in floating point; this is the test of convergence used
    instead.  The gradient left by rounding grows with the number of trials
    (the curvature does), so :func:`maximise` passes ``1e-3·sqrt(Σn)``.
    """
    g = np.asarray(g, dtype=float).copy()
    lower = np.array([b[0] for b in qb])
    upper = np.array([b[1] for b in qb])
    g[(q <= lower + 1e-12) & (g > 0)] = 0.0  # on a lower bound, pushing outwards
    g[(q >= upper - 1e-12) & (g < 0)] = 0.0
    return bool(np.all(np.isfinite(g)) and np.max(np.abs(g), initial=0.0) < tol)


def maximise(model: Model, u: np.ndarray, k: np.ndarray, n: np.ndarray, start: np.ndarray | None = None
             ) -> tuple[np.ndarray, float, bool]:
    """The maximising free parameters, the objective there and whether the optimiser converged.

    The objective is evaluated on a grid over the bounds (:meth:`Model.grid`,
    psignifit's first step); its local maxima and the best points with each
    free rate at 0 and above 0 (:func:`_starts`) are the starting points, best
    first.  ``start`` (a bootstrap resample refitted from the original
    estimate) is tried before them, with η = 0 and a small η > 0 when η is
    free.  Each start is refined by L-BFGS-B with analytic gradients on
    parameters scaled to [0, 1]; a grid maximum more than ``_START_MARGIN``
    below the best optimum found so far, or within one grid step of an
    optimum already found (its basin), is skipped; the best result is kept.
    """
    bounds = model.bounds()
    lo = np.array([b[0] for b in bounds])
    hi = np.array([b[1] for b in bounds])
    span = np.maximum(hi - lo, 1e-300)
    points = model.grid()
    values = np.concatenate([model.objective(chunk, u, k, n)
                             for chunk in np.array_split(points, max(1, len(points) // 20000))])
    if not np.isfinite(values).any():
        raise FloatingPointError("the objective is -inf at every grid point")
    starts = _starts(model, points, values)
    if start is not None:
        first = [np.clip(np.asarray(start, dtype=float), lo, hi)]
        if "eta" in model.free:
            i = model.free.index("eta")
            for eta in (0.0, max(float(first[0][i]), 0.02)):
                if eta != first[0][i]:
                    first.append(first[0].copy())
                    first[-1][i] = eta
        starts = [(point, np.inf, False) for point in first] + starts

    def fun(q):  # scaled coordinates: every parameter on [0, 1] over its bounds
        theta = lo + q * span
        value, g = model.objective(theta, u, k, n, grad=True)
        if not np.isfinite(value):
            return 1e300, np.zeros_like(q)
        return -float(value), -(g * span)

    eps = 1e-12  # keep off the edges where a prior is exactly zero
    qb = [(0.0, 1.0) if not model.use_priors or p in ("lambda", "gamma", "eta") else (eps, 1 - eps)
          for p in model.free]
    qlo, qhi = np.array([b[0] for b in qb]), np.array([b[1] for b in qb])
    tol = 1e-3 * np.sqrt(max(float(np.sum(n)), 1.0))
    best_res, best_ok, found = None, False, []
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for point, grid_value, maximum in starts:
            q0 = np.clip((point - lo) / span, qlo, qhi)
            if best_res is not None and grid_value < -best_res.fun - _START_MARGIN:
                continue  # far below the best optimum found
            if maximum and any(np.all(np.abs(q0 - q) <= _grid_cell(model, point) / span) for q in found):
                continue  # a maximum of the grid next to an optimum already found: that optimum's basin
            res, ok = _local(fun, q0, qb, tol)
            found.append(res.x)
            if best_res is None or res.fun < best_res.fun:
                best_res, best_ok = res, ok
    theta = lo + best_res.x * span
    value = -float(best_res.fun)
    floor = float(values.max())
    if value < floor:  # never worse than the grid
        i = int(np.argmax(values))
        theta, value, best_ok = points[i], float(values[i]), False
    return theta, value, best_ok
