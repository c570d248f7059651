"""Noise normalisation of GLM patterns from their residuals (Walther et al. 2016, NeuroImage 137:188).

**Univariate**: each voxel's betas are divided by the standard deviation of
its GLM residuals.  **Multivariate**: the patterns are whitened with the
inverse square root Σ^-½ of a (shrinkage) estimate Σ of the residual
covariance between voxels, so that Euclidean distances between whitened
patterns are Mahalanobis distances with precision Σ⁻¹.  Followed by
:func:`~neuroalign.compare.compute_rdm` with ``method="crossnobis"`` and the
runs as folds, this gives the cross-validated Mahalanobis distance that
Walther et al. found most reliable.

Residuals follow the pattern contract: a ``(time, neuroid)`` DataArray with a
``run`` coordinate on ``time`` and the patterns' ``neuroid_id``.  Each run's
residuals are centred on their own mean (every run has its own constant in
the GLM).  The covariance estimators are rsatoolbox's
(``rsatoolbox.data.noise.cov_from_residuals``), shared with
:func:`~neuroalign.compare.estimate_noise_precision`: ``shrinkage_diag``
(Schäfer & Strimmer 2005, towards the diagonal), ``shrinkage_eye``
(Ledoit & Wolf 2004, towards a multiple of the identity), ``diag`` and
``full``; a number λ in [0, 1] shrinks by that fixed amount towards the
diagonal, (1 − λ) S + λ diag(S).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ...data.provenance import provenance
from ...data.schema import NEUROID, NEUROID_ID, PRESENTATION, TIME, validate
from ...errors import AlignmentError, ConfigError, DataError, SchemaError, UnknownNameError
from .rdm_methods import NOISE_ESTIMATORS, shrinkage_covariance

__all__ = ["NOISE_NORMALISATIONS", "noise_normalise", "residual_covariance", "residual_precision"]

#: The ``method`` values of :func:`noise_normalise`.
NOISE_NORMALISATIONS = ("univariate", "multivariate")

RUN = "run"
Covariance = str | float
Dof = int | Mapping[Any, int] | Sequence[int] | None


# ----------------------------------------------------------------------------- inputs
def _check_residuals(residuals: xr.DataArray) -> xr.DataArray:
    if not isinstance(residuals, xr.DataArray) or TIME not in residuals.dims:
        raise SchemaError("the residuals must be a DataArray with a 'time' dim", source="residuals",
                          fix="pass the GLM residuals as one (time, neuroid) array with a 'run' coord on time")
    # the neuroid coordinates (a time coordinate may restart in every run, so it is not checked for order)
    validate(residuals.isel({TIME: 0}, drop=True), dims=(NEUROID,), name="residuals", check_values=False)
    if residuals.ndim != 2:
        raise SchemaError(f"residuals must have dims (time, neuroid), got {residuals.dims}", source="residuals",
                          fix="pass the GLM residuals as one (time, neuroid) array with a 'run' coord on time")
    if residuals.sizes[TIME] == 0:
        raise DataError("the residuals have no volumes", source="residuals", fix="pass the residuals of a GLM fit")
    if RUN not in residuals.coords or residuals[RUN].dims != (TIME,):
        raise SchemaError("the residuals have no 'run' coordinate on 'time'", source="residuals",
                          fix="assign one: residuals.assign_coords(run=('time', run_of_each_volume))")
    if not np.all(np.isfinite(residuals.values)):
        raise DataError("the residuals have NaN or inf values", source="residuals",
                        fix="pass the residuals of a GLM fitted to finite data")
    return residuals.transpose(TIME, NEUROID)


def _runs(residuals: xr.DataArray) -> tuple[np.ndarray, np.ndarray]:
    """Run codes of every volume and the run labels, in order of first appearance."""
    return pd.factorize(pd.Index(residuals[RUN].values), sort=False)


def _run_dofs(dof: Dof, labels: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Residual degrees of freedom of every run (default: volumes − 1, rsatoolbox's default)."""
    if dof is None:
        out = lengths - 1
    elif isinstance(dof, Mapping):
        missing = [label for label in labels if label not in dof]
        if missing:
            raise ConfigError(f"dof has no entry for run(s) {missing}", source="dof",
                              fix="pass one residual degrees-of-freedom value per run (e.g. GLMResult.dof)")
        out = np.array([dof[label] for label in labels])
    elif np.ndim(dof) == 0:
        out = np.full(labels.size, dof)
    else:
        out = np.asarray(dof)
        if out.shape != labels.shape:
            raise ConfigError(f"dof has {out.size} values for {labels.size} runs", source="dof",
                              fix="pass one value per run, in the order the runs appear, or a dict run -> dof")
    if not np.issubdtype(np.asarray(out).dtype, np.number) or np.any(np.asarray(out) < 1):
        raise ConfigError(f"residual degrees of freedom must be positive integers, got {list(out)}", source="dof",
                          fix="pass T - rank(design) for each run (GLMResult.dof)")
    return np.asarray(out, dtype=int)


def _covariance_name(covariance: Covariance) -> str:
    if isinstance(covariance, str):
        if covariance not in NOISE_ESTIMATORS:
            raise UnknownNameError(covariance, NOISE_ESTIMATORS, what="noise covariance estimator",
                                   source="covariance")
        return covariance
    if isinstance(covariance, bool) or not isinstance(covariance, (int, float, np.floating, np.integer)) \
            or not 0.0 <= float(covariance) <= 1.0:
        raise ConfigError(f"covariance={covariance!r} is neither an estimator name nor a shrinkage in [0, 1]",
                          source="covariance",
                          fix=f"pass one of {NOISE_ESTIMATORS} or a shrinkage amount towards the diagonal in [0, 1]")
    return f"shrinkage {float(covariance):g} towards the diagonal"


def _estimate(centred: np.ndarray, dof: int, covariance: Covariance, where: str) -> np.ndarray:
    """One covariance ``(p, p)`` from centred residuals ``(n, p)``."""
    p = centred.shape[-1]
    if (covariance == "full" or (not isinstance(covariance, str) and float(covariance) == 0.0)) and dof < p:
        raise DataError(
            f"more voxels ({p}) than residual degrees of freedom ({dof}) {where} for a full noise covariance "
            "without shrinkage: the covariance is singular and cannot whiten the patterns",
            source="covariance",
            fix="use a shrinkage estimate (covariance='shrinkage_diag' or 'shrinkage_eye', or a shrinkage amount "
                f"such as 0.2), method='univariate', fewer voxels (an ROI of at most {dof}), or pool the runs "
                "(per_run=False)")
    if isinstance(covariance, str):
        return shrinkage_covariance(centred, dof, covariance)
    sample = shrinkage_covariance(centred, dof, "full")
    amount = float(covariance)
    return (1.0 - amount) * sample + amount * np.diag(np.diagonal(sample))


def _residual_blocks(residuals: xr.DataArray, dof: Dof, per_run: bool):
    """(label, centred residuals, dof) per run, or one pooled block."""
    codes, labels = _runs(residuals)
    values = np.asarray(residuals.values, dtype=float)
    lengths = np.bincount(codes, minlength=labels.size)
    dofs = _run_dofs(dof, np.asarray(labels), lengths)
    blocks = []
    for index, label in enumerate(labels):
        run = values[codes == index]
        blocks.append((label, run - run.mean(axis=0), int(dofs[index])))
    if per_run:
        return blocks
    return [(None, np.concatenate([b[1] for b in blocks]), int(dofs.sum()))]


def _labelled(matrices: np.ndarray, residuals: xr.DataArray, labels: list | None, attrs: dict) -> xr.DataArray:
    ids = residuals[NEUROID_ID].values
    coords: dict[str, Any] = {"neuroid_id_a": ("neuroid_a", ids), "neuroid_id_b": ("neuroid_b", ids)}
    dims: tuple[str, ...] = ("neuroid_a", "neuroid_b")
    if labels is not None:
        coords[RUN] = (RUN, np.asarray(labels))
        dims = (RUN,) + dims
    return xr.DataArray(matrices, dims=dims, coords=coords, attrs=attrs)


# ----------------------------------------------------------------------------- public
def residual_covariance(residuals: xr.DataArray, covariance: Covariance = "shrinkage_diag", *,
                        per_run: bool = True, dof: Dof = None) -> xr.DataArray:
    """Noise covariance between voxels from GLM residuals, per run or pooled over runs.

    Parameters
    ----------
    residuals : xarray.DataArray
        ``(time, neuroid)`` residuals with a ``run`` coordinate on ``time``.
    covariance : str or float
        ``"shrinkage_diag"`` (Schäfer–Strimmer shrinkage towards the diagonal),
        ``"shrinkage_eye"`` (Ledoit–Wolf), ``"diag"``, ``"full"``, or a fixed
        shrinkage λ in [0, 1] towards the diagonal.
    per_run : bool
        One covariance per run (dim ``run``), or one from all runs pooled,
        each centred on its own mean, with the sum of the runs' dof.
    dof : int, mapping or sequence, optional
        Residual degrees of freedom per run (the GLM's T − rank(X), e.g.
        ``GLMResult.dof``); default: volumes − 1 (rsatoolbox's default).

    Returns
    -------
    xarray.DataArray
        Dims ``([run,] neuroid_a, neuroid_b)`` with ``neuroid_id_a``/``_b``.

    Raises
    ------
    DataError
        More voxels than residual degrees of freedom for ``"full"`` (or λ = 0).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.compare.rsa.noise_normalisation import residual_covariance
    >>> res = xr.DataArray(np.random.default_rng(0).normal(size=(40, 3)), dims=("time", "neuroid"),
    ...                    coords={"run": ("time", [0] * 20 + [1] * 20), "neuroid_id": ("neuroid", list("abc"))})
    >>> residual_covariance(res).dims
    ('run', 'neuroid_a', 'neuroid_b')
    """
    residuals = _check_residuals(residuals)
    name = _covariance_name(covariance)
    blocks = _residual_blocks(residuals, dof, per_run)
    matrices = np.stack([_estimate(x, d, covariance, _where(label)) for label, x, d in blocks])
    attrs = {"noise_covariance": name, "dof": [d for _, _, d in blocks] if per_run else blocks[0][2]}
    if per_run:
        return _labelled(matrices, residuals, [label for label, _, _ in blocks], attrs)
    return _labelled(matrices[0], residuals, None, attrs)


def residual_precision(residuals: xr.DataArray, covariance: Covariance = "shrinkage_diag", *,
                       dof: Dof = None) -> xr.DataArray:
    """Pooled noise precision (inverse residual covariance), ready for ``compute_rdm(..., noise=...)``.

    The same as rsatoolbox's ``prec_from_residuals(residuals, dof, method)``
    on residuals centred within each run; see :func:`residual_covariance`.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.compare.rsa.noise_normalisation import residual_precision
    >>> res = xr.DataArray(np.random.default_rng(0).normal(size=(40, 3)), dims=("time", "neuroid"),
    ...                    coords={"run": ("time", [0] * 20 + [1] * 20), "neuroid_id": ("neuroid", list("abc"))})
    >>> residual_precision(res, "full").shape
    (3, 3)
    """
    cov = residual_covariance(residuals, covariance, per_run=False, dof=dof)
    root, _ = _inverse_root(cov.values, "the pooled runs")
    return cov.copy(data=root @ root)


def _where(label) -> str:
    return "in the pooled runs" if label is None else f"in run {label!r}"


def _inverse_root(cov: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Σ^-½ (symmetric) and the eigenvalues; a singular Σ is an error, never a pseudo-inverse."""
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)
    if not np.all(np.isfinite(values)) or values[0] <= 1e-12 * max(values[-1], 0.0) or values[-1] <= 0:
        raise DataError(f"the residual noise covariance {where} is singular (a voxel without residual variance, "
                        "or voxels that are exact copies)", source="residuals",
                        fix="drop voxels without variance from the mask, or use method='univariate'")
    return (vectors / np.sqrt(values)) @ vectors.T, values


def noise_normalise(patterns: xr.DataArray, residuals: xr.DataArray, method: str = "multivariate", *,
                    covariance: Covariance | None = None, per_run: bool = True, dof: Dof = None) -> xr.DataArray:
    """Noise-normalise GLM patterns with their residuals (Walther et al. 2016).

    Parameters
    ----------
    patterns : xarray.DataArray
        ``(presentation, neuroid)`` betas with a ``run`` presentation coord.
    residuals : xarray.DataArray
        ``(time, neuroid)`` GLM residuals with a ``run`` coord on ``time`` and
        the patterns' ``neuroid_id`` values (any order).
    method : str
        ``"univariate"``: divide each voxel's betas by its residual standard
        deviation, sqrt(Σ r² / dof) of the run-centred residuals.
        ``"multivariate"``: multiply the patterns by Σ^-½ (symmetric inverse
        square root) of the residual covariance Σ: a voxels × voxels matrix
        per run, so for ROIs and spheres rather than whole-brain masks.
    covariance : str or float, optional
        Estimator of Σ for ``"multivariate"`` (see :func:`residual_covariance`;
        default ``"shrinkage_diag"``); not taken by ``"univariate"``.
    per_run : bool
        True: each run's patterns with that run's residuals (Walther et al.);
        False: every run with the residuals of all runs pooled, which makes
        ``compute_rdm(normalised, "crossnobis")`` equal to crossnobis with
        precision :func:`residual_precision` (rsatoolbox's
        ``calc_rdm(..., method="crossnobis", noise=prec_from_residuals(...))``).
    dof : int, mapping or sequence, optional
        Residual degrees of freedom per run (``GLMResult.dof``); default
        volumes − 1.  They scale the estimates (not the RDMs' ranks).

    Returns
    -------
    xarray.DataArray
        The patterns' dims and coords, normalised values; attrs
        ``noise_normalisation``, ``noise_covariance``, ``noise_per_run`` and
        provenance.

    Raises
    ------
    DataError
        More voxels than residual degrees of freedom for a full covariance
        without shrinkage; a voxel without residual variance.
    AlignmentError
        A run of the patterns without residuals, or different voxels.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroalign.data import create_assembly
    >>> from neuroalign.compare import compute_rdm
    >>> from neuroalign.compare.rsa.noise_normalisation import noise_normalise
    >>> rng = np.random.default_rng(0)
    >>> betas = create_assembly(rng.normal(size=(8, 3)), stimulus_id=list("abcd") * 2,
    ...                         presentation={"run": [0] * 4 + [1] * 4})
    >>> res = xr.DataArray(rng.normal(size=(40, 3)), dims=("time", "neuroid"),
    ...                    coords={"run": ("time", [0] * 20 + [1] * 20), "neuroid_id": ("neuroid", ["0", "1", "2"])})
    >>> compute_rdm(noise_normalise(betas, res), "crossnobis").sizes["pair"]
    6
    """
    if method not in NOISE_NORMALISATIONS:
        raise UnknownNameError(method, NOISE_NORMALISATIONS, what="noise normalisation", source="method")
    if method == "univariate" and covariance is not None:
        raise ConfigError("method='univariate' uses each voxel's residual variance only and takes no covariance",
                          source="covariance", fix="drop covariance=, or use method='multivariate'")
    covariance = "shrinkage_diag" if covariance is None else covariance
    covariance_name = _covariance_name(covariance) if method == "multivariate" else "diag"
    validate(patterns, dims=(PRESENTATION, NEUROID), name="patterns")
    if patterns.ndim != 2:
        raise SchemaError(f"patterns must have dims (presentation, neuroid), got {patterns.dims}",
                          source="patterns", fix="select one pattern array per call")
    if RUN not in patterns.coords or patterns[RUN].dims != (PRESENTATION,):
        raise SchemaError("the patterns have no 'run' coordinate on 'presentation'", source="patterns",
                          fix="pass GLM patterns (they carry 'run'), or assign_coords(run=('presentation', ...))")
    residuals = _aligned(_check_residuals(residuals), patterns)
    blocks = _residual_blocks(residuals, dof, per_run)
    pattern_runs = pd.Index(patterns[RUN].values)
    missing = sorted(set(pattern_runs) - set(label for label, _, _ in blocks), key=str) if per_run else []
    if missing:
        raise AlignmentError(f"the patterns of run(s) {missing} have no residuals", source="residuals",
                             fix="pass the residuals of every run of the patterns, or per_run=False")
    values = np.asarray(patterns.transpose(PRESENTATION, NEUROID).values, dtype=float)
    out = np.empty_like(values)
    for label, centred, d in blocks:
        rows = np.ones(len(pattern_runs), dtype=bool) if label is None else np.asarray(pattern_runs == label)
        if not rows.any():
            continue
        if method == "univariate":
            sd = np.sqrt(np.einsum("ti,ti->i", centred, centred) / d)
            if np.any(sd == 0):
                raise DataError(f"{int((sd == 0).sum())} voxel(s) have no residual variance {_where(label)} "
                                f"(first: {residuals[NEUROID_ID].values[np.argmax(sd == 0)]!r})",
                                source="residuals", fix="drop voxels without variance from the mask")
            out[rows] = values[rows] / sd
        else:
            root, _ = _inverse_root(_estimate(centred, d, covariance, _where(label)), _where(label))
            out[rows] = values[rows] @ root
    normalised = patterns.transpose(PRESENTATION, NEUROID).copy(data=out)
    params = {"method": method, "covariance": covariance if method == "multivariate" else "diag",
              "per_run": per_run, "dof": [d for _, _, d in blocks]}
    normalised.attrs.update({"noise_normalisation": method, "noise_per_run": int(per_run),
                             "noise_covariance": covariance_name})
    normalised.attrs.update(provenance(params, {"patterns": patterns, "residuals": residuals}))
    return normalised


def _aligned(residuals: xr.DataArray, patterns: xr.DataArray) -> xr.DataArray:
    """The residuals with the patterns' voxels in the patterns' order (matched on neuroid_id)."""
    ours, theirs = pd.Index(patterns[NEUROID_ID].values), pd.Index(residuals[NEUROID_ID].values)
    if ours.equals(theirs):
        return residuals
    if len(ours) != len(theirs) or not theirs.is_unique or ours.difference(theirs).size:
        raise AlignmentError(f"the residuals' {len(theirs)} voxels are not the patterns' {len(ours)} voxels "
                             f"(e.g. {list(ours.difference(theirs)[:3]) or list(theirs.difference(ours)[:3])})",
                             source="residuals", fix="pass the residuals of the same GLM fit and mask")
    return residuals.isel({NEUROID: theirs.get_indexer(ours)})
