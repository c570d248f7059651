"""One run's first-level fit: nilearn's LSA fit of a design, or the closed-form LSS estimates."""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pandas as pd

from ..errors import NeuroalignError

__all__ = ["fit_lsa_run", "fit_lss_run", "restated"]


def fit_lsa_run(img, mask_img, design: pd.DataFrame, options: dict[str, Any]):
    """nilearn's first-level fit of one run: (scaled data Y, betas theta, variances of betas, dof)."""
    from nilearn.glm.first_level import FirstLevelModel

    model = FirstLevelModel(mask_img=mask_img, minimize_memory=False, reports=False, **options)
    with warnings.catch_warnings():  # the mask is ours, the design options went into the design
        warnings.filterwarnings("ignore", message=".*(mask has been requested|design matrices are supplied)")
        model.fit(img, design_matrices=[design])
    labels, results = model.labels_[0], model.results_[0]
    n_vox = labels.shape[0]
    Y = np.empty((design.shape[0], n_vox))
    theta = np.empty((design.shape[1], n_vox))
    variance = np.empty((design.shape[1], n_vox))
    dofs = set()
    for label, result in results.items():
        where = labels == label
        Y[:, where] = result.Y
        theta[:, where] = result.theta
        # nilearn's vcov of a single-column t contrast: cov[j, j] * dispersion
        variance[:, where] = np.diag(result.cov)[:, None] * np.atleast_1d(result.dispersion)[None, :]
        dofs.add(int(result.df_residuals))
    return Y, theta, variance, dofs.pop()


def fit_lss_run(img, mask_img, table, times, estimator, statistic, regressors, confound_names, design_options,
             fit_options, name, ev_source):
    """LSS estimates of one run (closed form, :func:`neuroalign.loaders.glm_lss.lss_patterns`), with the
    residuals, design and dof of the run's condition GLM (one regressor per trial type)."""
    from .glm_lss import lss_patterns

    columns = ["onset", "duration", "trial_type"] + (["modulation"] if "modulation" in table.columns else [])
    try:
        return lss_patterns(img, mask_img, table[columns], times, variant=estimator, statistic=statistic,
                            confounds=regressors, confound_names=confound_names, design_options=design_options,
                            fit_options=fit_options)
    except NeuroalignError as error:  # name the run, and estimate_patterns' arguments
        source = re.sub(r"^design_kwargs\['(\w+)'\]$", r"\1", error.source or "")
        if source in ("", "events", "data", "design", "events['trial_type']"):
            source = f"{source or 'LSS model'} of {name} ({ev_source})"
        raise restated(error, source=source, fix=(error.fix or "").replace("variant=", "estimator=") or None) \
            from error


def restated(error: NeuroalignError, *, problem: str | None = None, source: str | None = None,
             fix: str | None = None) -> NeuroalignError:
    """A copy of ``error`` (same class and attributes) with another problem, source or fix."""
    out = type(error).__new__(type(error))
    out.__dict__.update(error.__dict__)
    NeuroalignError.__init__(out, error.problem if problem is None else problem,
                             source=error.source if source is None else source, fix=error.fix if fix is None else fix)
    return out
