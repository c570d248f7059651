"""LSS beta series in closed form: one GLM per trial without refitting.

Every LSS model of a run (see :mod:`neuroalign.loaders.lss_designs`) shares its
nuisance columns N and differs in a few columns A_t (the trial's regressor and
the other trials').  By the Frisch–Waugh–Lovell theorem the trial's estimate is
``(B_t' B_t)^-1 B_t' Z`` with ``Z = M_N Y`` and ``B_t = M_N A_t`` (``M_N`` the
projection off the span of N): N is projected out once, then each trial costs a
k x k solve batched over voxels (:mod:`neuroalign.loaders.lss_solvers`).  Both
nilearn noise models (``"ols"``, ``"ar1"``, nilearn's default) have this closed
form, with nilearn's numbers (its per-trial ``FirstLevelModel`` loop).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError, UnknownNameError
from .glm_design import check_full_rank
from .glm_voxels import check_voxels
from .lss_designs import condition_design_matrix, lss_blocks
from .lss_solvers import Moments, ar1_fit, cross, ols_fit

__all__ = ["LSSResult", "lss_estimates", "lss_patterns", "NOISE_MODELS"]

log = logging.getLogger(__name__)

NOISE_MODELS = ("ols", "ar1")
_TINY = 1e-50  # nilearn's floor on the contrast variance


@dataclass(frozen=True)
class LSSResult:
    """LSS estimates of one run: ``betas``, ``t`` and ``variance`` are (trials, voxels)."""

    betas: np.ndarray
    t: np.ndarray
    variance: np.ndarray
    dof: int
    trial_names: list[str]
    noise_model: str
    ar_coef: np.ndarray | None = None
    design_columns: dict[str, list[str]] = field(default_factory=dict)

    def values(self, statistic: str = "beta") -> np.ndarray:
        """The betas (``"beta"``) or t statistics (``"t"``)."""
        if statistic not in ("beta", "t"):
            raise UnknownNameError(statistic, ("beta", "t"), what="statistic", source="statistic")
        return self.betas if statistic == "beta" else self.t


def _masked_data(data: Any, mask_img: Any) -> np.ndarray:
    """(time, voxel) data: an array as given, or a 4D image masked as FirstLevelModel masks it."""
    if isinstance(data, np.ndarray):
        if data.ndim != 2:
            raise DataError(f"data must be a (time, voxel) array or a 4D image, got shape {data.shape}",
                            source="data", fix="mask the run first, or pass the 4D NIfTI image with mask_img")
        return data
    from nilearn.maskers import NiftiMasker

    from .fmri import load_image

    img = load_image(data, name="data", ndim=4)
    if mask_img is None:
        raise ConfigError("a 4D image needs a mask", source="mask_img",
                          fix="pass mask_img (see neuroalign.loaders.voxels.select_voxels)")
    mask = load_image(mask_img, name="mask_img", ndim=3) if isinstance(mask_img, (str, os.PathLike)) else mask_img
    return NiftiMasker(mask_img=mask, standardize=None).fit().transform(img)


def _scaled(y: np.ndarray, signal_scaling: Any) -> np.ndarray:
    if signal_scaling is False:
        return y
    if signal_scaling != 0:
        raise ConfigError(f"signal_scaling={signal_scaling!r} is not supported for LSS", source="signal_scaling",
                          fix="use 0 (nilearn's default, percent signal change) or False")
    from nilearn.glm.first_level import mean_scaling

    return mean_scaling(y, 0)[0]


def _prepared(data: Any, mask_img: Any, signal_scaling: Any, standardize: Any) -> np.ndarray:
    """The data FirstLevelModel fits: masked, then mean-scaled (or standardised by the masker), float64."""
    if standardize:
        # nilearn 0.14's FirstLevelModel never applies it (signal_scaling=False == 0 also resets it)
        raise ConfigError("standardize is not supported for LSS: nilearn's FirstLevelModel does not apply it, "
                          "so no reference defines its numbers", source="standardize",
                          fix="use standardize=False, with signal_scaling=0 (percent signal change) or False")
    y = _masked_data(data, mask_img)
    check_voxels(y, "data", axis=0)
    return np.asarray(_scaled(y, signal_scaling), dtype=np.float64)


def lss_estimates(data: Any, events: pd.DataFrame, design_kwargs: Mapping[str, Any], *, variant: str = "lss-1",
                  confounds: Any = None, confound_names: Any = None, noise_model: str = "ols", mask_img: Any = None,
                  signal_scaling: Any = 0, standardize: Any = False, bins: int = 100) -> LSSResult:
    """LSS beta series of one run, equal to nilearn's loop of one ``FirstLevelModel`` per trial.

    Parameters
    ----------
    data : numpy.ndarray or 4D NIfTI image/path
        One run: a (time, voxel) array of masked data (before scaling), or a 4D
        image with ``mask_img`` (masked as ``FirstLevelModel`` masks it).
    events : pandas.DataFrame
        The run's trials (``onset``, ``duration``, optional ``trial_type`` and
        ``modulation``); one estimate per row, in row order.
    design_kwargs : mapping
        ``FirstLevelModel`` design settings: ``t_r`` (or ``frame_times``),
        ``slice_time_ref``, ``hrf_model``, ``drift_model``, ``high_pass``,
        ``drift_order``, ``min_onset`` (nilearn's defaults otherwise).
    variant : {"lss-1", "lss-n"}
        Other trials as one regressor, or one regressor per trial type.
    confounds : DataFrame or array, optional
        (time, confound) regressors added to every model (``confound_names``
        names the columns of an array).
    noise_model : {"ols", "ar1"}
        Both in closed form, both nilearn's numbers.
    mask_img : NIfTI image or path, optional
        The voxels, when ``data`` is an image.
    signal_scaling : {0, False}
        As ``FirstLevelModel``: 0 (nilearn's default) scales each voxel to percent
        signal change.
    standardize : False
        Refused when true: nilearn's ``FirstLevelModel`` (0.14) never applies it.
    bins : int
        AR(1) levels (nilearn's ``run_glm`` default 100).

    Returns
    -------
    LSSResult
        ``betas``, ``t``, ``variance`` (trials, voxels), ``dof``, ``trial_names``,
        and for ``"ar1"`` the binned AR coefficients ``ar_coef`` (trials, voxels).

    Raises
    ------
    DataError
        LSS-N with a trial type that occurs once, a rank-deficient model (the
        collinear columns named), trials outside the run, constant voxels (ar1).
    ConfigError, UnknownNameError
        Unknown variant or noise model, FIR HRFs, a missing ``t_r``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> ev = pd.DataFrame({"onset": np.arange(6) * 12.0 + 4, "duration": 1.0})
    >>> res = lss_estimates(100 + rng.normal(size=(50, 3)), ev, {"t_r": 2.0})
    >>> res.betas.shape, res.dof
    ((6, 3), 45)
    """
    if noise_model not in NOISE_MODELS:
        raise UnknownNameError(noise_model, NOISE_MODELS, what="noise model", source="noise_model")
    if not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ConfigError(f"bins must be a positive integer, got {bins!r}", source="bins", fix="use bins=100")
    y = _prepared(data, mask_img, signal_scaling, standardize)
    n = y.shape[0]
    if confounds is not None and len(confounds) != n:
        raise DataError(f"confounds have {len(confounds)} rows for a run of {n} volumes", source="confounds",
                        fix="give one confound row per volume")
    blocks = lss_blocks(events, n, design_kwargs, variant=variant, confounds=confounds,
                        confound_names=confound_names)
    dof = n - blocks.n_columns
    if dof < 1:
        raise DataError(f"each LSS model has {blocks.n_columns} columns for {n} volumes: no residual degrees "
                        "of freedom", source="data", fix="use longer runs, fewer confounds or a lower drift order")
    n_trials, n_vox = len(blocks.trial_names), y.shape[1]
    log.debug("LSS (%s, %s): %d trials x %d voxels, %d columns per model", variant, noise_model, n_trials, n_vox,
              blocks.n_columns)
    betas, var = np.empty((n_trials, n_vox)), np.empty((n_trials, n_vox))
    ar = np.empty((n_trials, n_vox)) if noise_model == "ar1" else None
    check_full_rank(blocks.common, names=blocks.common_names)
    q0 = _basis(blocks.common)
    z0 = y - q0 @ (q0.T @ y)  # the shared drift and confounds projected out once
    zz0 = np.einsum("nv,nv->v", z0, z0)
    for key, (extra, members) in blocks.groups.items():
        # the group's further shared columns (LSS-N: the other trial types), projected off the common ones
        shared = np.hstack([extra, blocks.common])
        check_full_rank(shared, names=[*blocks.extra_names[key], *blocks.common_names])
        u = _basis(extra - q0 @ (q0.T @ extra), scale=extra)
        _check_trial_models(blocks, key, members, shared)
        a = blocks.varying[members]
        for basis in (q0, u):
            a = a - np.einsum("nq,tqk->tnk", basis, np.einsum("nq,tnk->tqk", basis, a))
        if noise_model == "ols":
            # B'Z_g = B'Z_0 as B is orthogonal to u;  |Z_g|^2 = |Z_0|^2 - |u'Z_0|^2
            uz = u.T @ z0
            b, v = ols_fit(a, cross(a, z0), zz0 - np.einsum("qv,qv->v", uz, uz), dof)
        else:
            z = z0 - u @ (u.T @ z0) if u.shape[1] else z0
            b, v, rho = ar1_fit(Moments(z, a), np.hstack([q0, u]), z, dof, bins)
            ar[members] = rho
        betas[members], var[members] = b, v
    t = betas / np.sqrt(np.maximum(var, _TINY))
    columns = {key: [*names, *blocks.common_names] for key, names in blocks.extra_names.items()}
    return LSSResult(betas, t, var, dof, blocks.trial_names, noise_model, ar, columns)


def lss_patterns(img: Any, mask_img: Any, events: pd.DataFrame, times: np.ndarray, *, variant: str = "lss-1",
                 statistic: str = "beta", confounds: Any = None, confound_names: Any = None,
                 design_options: Mapping[str, Any] | None = None, fit_options: Mapping[str, Any] | None = None):
    """One run's LSS patterns for :func:`~neuroalign.loaders.glm.estimate_patterns`.

    Parameters
    ----------
    img, mask_img
        The 4D run and the mask of the voxels.
    events : pandas.DataFrame
        The run's trials, one pattern per row.
    times : array
        The volumes' acquisition times (``frame_times``).
    variant, statistic
        ``"lss-1"``/``"lss-n"``; ``"beta"``/``"t"``.
    confounds, confound_names
        (time, k) regressors and their names.
    design_options, fit_options
        nilearn's design settings (``hrf_model``, ``drift_model``, ``high_pass``,
        ``drift_order``, ``fir_delays``, ``min_onset``) and fit settings
        (``noise_model``, ``standardize``, ``signal_scaling``).

    Returns
    -------
    values : ndarray (trials, voxels)
        Betas or t statistics, equal to nilearn's per-trial loop.
    residuals : ndarray (time, voxels)
        Residuals of the run's standard model (one regressor per trial type,
        drift, confounds), fitted by nilearn with the same noise model: the
        noise estimate for noise normalisation (the LSS models each have their own).
    design : pandas.DataFrame
        That standard model's design matrix.
    dof : int
        That standard model's residual degrees of freedom (the LSS models' own
        are in :func:`lss_estimates`'s ``dof``).

    Examples
    --------
    >>> import nibabel as nib, numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> run = nib.Nifti1Image(100 + rng.normal(size=(2, 1, 1, 50)), np.eye(4))
    >>> mask = nib.Nifti1Image(np.ones((2, 1, 1), np.uint8), np.eye(4))
    >>> ev = pd.DataFrame({"onset": np.arange(6) * 12.0 + 4, "duration": 1.0})
    >>> values, residuals, design, dof = lss_patterns(run, mask, ev, np.arange(50) * 2.0,
    ...                                               fit_options={"noise_model": "ols"})
    >>> values.shape, residuals.shape, dof
    ((6, 2), (50, 2), 46)
    """
    fit = {"noise_model": "ar1", "standardize": False, "signal_scaling": 0, **dict(fit_options or {})}
    unknown = sorted(set(fit) - {"noise_model", "standardize", "signal_scaling"})
    if unknown:
        raise UnknownNameError(unknown[0], ("noise_model", "standardize", "signal_scaling"), what="fit option",
                               source="fit_options")
    design_kwargs = {**dict(design_options or {}), "frame_times": np.asarray(times, dtype=float)}
    y = _prepared(img, mask_img, fit["signal_scaling"], fit["standardize"])
    result = lss_estimates(y, events, design_kwargs, variant=variant, confounds=confounds,
                           confound_names=confound_names, noise_model=fit["noise_model"], signal_scaling=False)
    design = condition_design_matrix(events, y.shape[0], design_kwargs, confounds=confounds,
                                     confound_names=confound_names)
    residuals, dof = _standard_residuals(y, design, fit["noise_model"])
    return result.values(statistic), residuals, design, dof


def _standard_residuals(y: np.ndarray, design: pd.DataFrame, noise_model: str) -> tuple[np.ndarray, int]:
    """Residuals ``Y - X theta`` of nilearn's ``run_glm`` fit of one design (theta per AR bin for ar1), and
    its residual degrees of freedom."""
    from nilearn.glm.first_level import run_glm

    x = design.to_numpy(float)
    labels, results = run_glm(y, x, noise_model=noise_model)
    residuals = np.empty_like(y)
    for label, fitted in results.items():
        where = labels == label
        residuals[:, where] = y[:, where] - x @ fitted.theta
        dof = int(fitted.df_residuals)
    return residuals, dof


def _basis(columns: np.ndarray, *, scale: np.ndarray | None = None) -> np.ndarray:
    """An orthonormal basis of ``columns`` (of full rank: see :func:`check_full_rank`), each column divided by
    the norm of its counterpart in ``scale`` (default ``columns``: its scale before a projection)."""
    if columns.shape[1] == 0:
        return columns
    norms = np.linalg.norm(columns if scale is None else scale, axis=0)
    return np.linalg.svd(columns / norms, full_matrices=False)[0]


def _check_trial_models(blocks, key: str, members: list[int], shared: np.ndarray) -> None:
    """Every LSS model of the group is of full rank (:func:`check_full_rank`, as the LSA designs)."""
    k = blocks.k
    suffixes = ["", "_derivative", "_dispersion"][:k]
    shared_names = [*blocks.extra_names[key], *blocks.common_names]
    for t in members:
        name = blocks.trial_names[t]
        names = [name + x for x in suffixes] + [key + x for x in suffixes] + shared_names
        check_full_rank(np.hstack([blocks.varying[t], shared]), names=names, source="events",
                        what=f"the LSS design of trial {name}")
