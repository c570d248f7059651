"""First-level design matrices of task runs (built by nilearn), with a check for collinear columns."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError, DependencyError, UnknownNameError

__all__ = ["frame_times", "lsa_design", "check_full_rank", "nilearn_design_maker", "check_glm_options"]

#: nilearn's HRF model names (``make_first_level_design_matrix``); None is no convolution.
HRF_MODELS = ("glover", "glover + derivative", "glover + derivative + dispersion", "spm", "spm + derivative",
              "spm + derivative + dispersion", "fir")
DRIFT_MODELS = ("cosine", "polynomial")


def frame_times(n_volumes: int, t_r: float, slice_time_ref: float = 0.0) -> np.ndarray:
    """Acquisition times (s) of a run's volumes, exactly as nilearn's ``FirstLevelModel`` computes them.

    Examples
    --------
    >>> from neuroalign.loaders.glm_design import frame_times
    >>> frame_times(3, 2.0, slice_time_ref=0.5).tolist()
    [1.0, 3.0, 5.0]
    """
    start, end = slice_time_ref * t_r, (n_volumes - 1 + slice_time_ref) * t_r
    return np.linspace(start, end, n_volumes)


def nilearn_first_level(name: str, purpose: str) -> Any:
    """``nilearn.glm.first_level.<name>``; a DependencyError with the pip command when nilearn is missing.

    ``purpose`` completes the message "nilearn is needed to ...".
    """
    try:
        from nilearn.glm import first_level
    except ImportError as exc:
        raise DependencyError(f"nilearn is needed to {purpose}", source="nilearn",
                              fix="pip install 'neuroalign[fmri]' (or pip install 'nilearn>=0.10')") from exc
    return getattr(first_level, name)


def nilearn_design_maker():
    """nilearn's ``make_first_level_design_matrix``; DependencyError with the pip command when nilearn is missing."""
    return nilearn_first_level("make_first_level_design_matrix", "build GLM design matrices")


def _make_design(times: np.ndarray, events: pd.DataFrame, confounds: np.ndarray | None,
                 confound_names: Sequence[str] | None, options: dict[str, Any]) -> pd.DataFrame:
    return nilearn_design_maker()(times, events, add_regs=confounds, add_reg_names=confound_names, **options)


def lsa_design(events: pd.DataFrame, times: np.ndarray, *, per: str = "trial", confounds: np.ndarray | None = None,
               confound_names: Sequence[str] | None = None, **options: Any) -> tuple[pd.DataFrame, list[str]]:
    """A least-squares-all design: one regressor per trial (or per stimulus), drift and confounds.

    Parameters
    ----------
    events : pandas.DataFrame
        As :func:`~neuroalign.loaders.events.read_events` returns it.
    times : array
        The volumes' acquisition times (:func:`frame_times`).
    per : {"trial", "stimulus"}
        One regressor per row of ``events``, or one per ``stimulus_id``.
    confounds, confound_names
        Extra regressors (volumes × k) and their names.
    **options
        ``hrf_model``, ``drift_model``, ``high_pass``, ``drift_order``,
        ``fir_delays``, ``min_onset``, ``oversampling`` of nilearn's
        ``make_first_level_design_matrix`` (its defaults when absent).

    Returns
    -------
    (design, columns)
        nilearn's design matrix, and the name of the regressor of each trial
        (``per="trial"``, in row order) or of each stimulus (in order of first
        appearance).

    Examples
    --------
    >>> import pandas as pd
    >>> from neuroalign.loaders.glm_design import frame_times, lsa_design
    >>> events = pd.DataFrame({"onset": [0.0, 10.0, 20.0], "duration": 1.0, "trial_type": "x",
    ...                        "stimulus_id": ["a", "b", "a"]})
    >>> design, columns = lsa_design(events, frame_times(20, 2.0), per="stimulus")
    >>> columns, design.shape
    (['stim_0000', 'stim_0001'], (20, 3))
    """
    if per == "trial":
        columns = [f"trial_{k:04d}" for k in range(len(events))]
        names = columns
    else:
        stimuli = list(dict.fromkeys(events["stimulus_id"]))
        columns = [f"stim_{k:04d}" for k in range(len(stimuli))]
        lookup = dict(zip(stimuli, columns))
        names = [lookup[s] for s in events["stimulus_id"]]
    table = pd.DataFrame({"onset": events["onset"].to_numpy(float), "duration": events["duration"].to_numpy(float),
                          "trial_type": names})
    if "modulation" in events.columns:
        table["modulation"] = events["modulation"].to_numpy(float)
    return _make_design(times, table, confounds, confound_names, options), columns


def check_full_rank(design: pd.DataFrame | np.ndarray, *, source: str = "design",
                    describe: dict[str, str] | None = None, names: Sequence[str] | None = None,
                    what: str = "the design matrix") -> None:
    """Raise a :class:`DataError` naming the collinear columns when a design matrix is rank-deficient.

    The rank and the dependent columns come from a QR decomposition with
    column pivoting of the design with unit-norm columns; each dependent
    column is named with the columns it is a combination of.  Both GLM paths
    use it: LSA on each run's design, LSS on every trial's model.

    Parameters
    ----------
    design : pandas.DataFrame or numpy.ndarray
        (volumes, columns); an array's columns are named by ``names``.
    source : str
        What the error names as its source.
    describe : dict, optional
        Column name -> the text the error shows for it (e.g. the trial).
    names : sequence of str, optional
        The column names of an array ``design``.
    what : str
        The subject of the error message.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from neuroalign.loaders.glm_design import check_full_rank
    >>> x = np.arange(6.0)
    >>> check_full_rank(pd.DataFrame({"a": x, "b": 2 * x, "constant": 1.0}))
    Traceback (most recent call last):
    ...
    neuroalign.errors.DataError: design: the design matrix is rank-deficient (rank 2 of 3 columns): columns ['a', 'b']
    are linearly dependent. Fix: ...
    """
    from scipy.linalg import qr

    describe = describe or {}
    if isinstance(design, pd.DataFrame):
        values, names = design.to_numpy(dtype=float), [str(c) for c in design.columns]
    else:
        values = np.asarray(design, dtype=float)
        names = [str(c) for c in names] if names is not None else [f"column {i}" for i in range(values.shape[1])]
    norms = np.linalg.norm(values, axis=0)
    # a trial at the last volume's time gives a column of rounding noise (~1e-15): zero too
    zero = [names[i] for i in np.flatnonzero(norms <= 1e-10 * norms.max())]
    if zero:
        raise DataError(f"{what} has all-zero column(s) {[describe.get(n, n) for n in zero][:10]}",
                        source=source, fix="drop trials or confounds that do not vary within the run (e.g. an "
                        "event with modulation 0, a trial at the very end of the run, or a constant confound)")
    scaled = values / norms
    _, r, piv = qr(scaled, mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    tol = max(scaled.shape) * np.finfo(float).eps * diag[0] * 1e3
    rank = int(np.sum(diag > tol))
    if rank == len(names):
        return
    independent = np.sort(piv[:rank])
    parts = []
    for column in piv[rank:][:5]:
        coef, *_ = np.linalg.lstsq(scaled[:, independent], scaled[:, column], rcond=None)
        group = sorted([i for i, c in zip(independent, coef) if abs(c) > 1e-6] + [int(column)])
        text = str([describe.get(names[i], names[i]) for i in group[:8]])
        if text not in parts:
            parts.append(text)
    raise DataError(f"{what} is rank-deficient (rank {rank} of {len(names)} columns): columns "
                    + "; ".join(parts) + " are linearly dependent", source=source,
                    fix="remove the duplicated or collinear regressors: trials at the same onset, a confound "
                    "that repeats another or a drift term (fMRIPrep's cosine regressors duplicate nilearn's drift: "
                    "use drift_model=None with them), or more regressors than volumes (use per='stimulus' "
                    "or the LSS estimator for many trials)")


def check_glm_options(*, hrf_model: Any = "glover", drift_model: Any = "cosine", high_pass: Any = 0.01,
                      noise_model: Any = "ar1", signal_scaling: Any = 0, slice_time_ref: Any = 0.0) -> None:
    """Raise a named error for a GLM setting nilearn would refuse with a bare exception (or misapply).

    ``hrf_model`` is one of nilearn's names (or None, or a callable);
    ``drift_model`` ``"cosine"``, ``"polynomial"`` or None; ``high_pass`` a
    positive frequency (Hz); ``noise_model`` ``"ols"`` or ``"ar<p>"``;
    ``signal_scaling`` 0 (percent signal change per voxel) or False;
    ``slice_time_ref`` in [0, 1].

    Examples
    --------
    >>> from neuroalign.loaders.glm_design import check_glm_options
    >>> check_glm_options(hrf_model="spm + derivative", drift_model=None)
    >>> check_glm_options(hrf_model="glovr")
    Traceback (most recent call last):
    ...
    neuroalign.errors.UnknownNameError: hrf_model: unknown HRF model 'glovr'. Fix: did you mean 'glover'? ...
    """
    if hrf_model is not None and not callable(hrf_model) and hrf_model not in HRF_MODELS:
        raise UnknownNameError(str(hrf_model), HRF_MODELS, what="HRF model", source="hrf_model")
    if drift_model is not None and drift_model not in DRIFT_MODELS:
        raise UnknownNameError(str(drift_model), DRIFT_MODELS, what="drift model", source="drift_model")
    if isinstance(high_pass, bool) or not isinstance(high_pass, (int, float, np.integer, np.floating)) \
            or not np.isfinite(high_pass) or high_pass <= 0:
        raise ConfigError(f"high_pass={high_pass!r} is not a positive frequency", source="high_pass",
                          fix="pass high_pass=<Hz>, e.g. 0.01 (nilearn's default, a 100 s cutoff)")
    if not (isinstance(noise_model, str) and re.fullmatch(r"ols|ar[1-9]\d*", noise_model)):
        raise UnknownNameError(str(noise_model), ("ar1", "ols"), what="noise model", source="noise_model")
    if signal_scaling is not False and (isinstance(signal_scaling, bool)
                                        or not isinstance(signal_scaling, (int, np.integer)) or signal_scaling != 0):
        raise ConfigError(f"signal_scaling={signal_scaling!r} is not supported", source="signal_scaling",
                          fix="use signal_scaling=0 (nilearn's default: percent signal change per voxel) or False "
                          "(no scaling)")
    if isinstance(slice_time_ref, bool) or not isinstance(slice_time_ref, (int, float, np.integer, np.floating)) \
            or not 0 <= slice_time_ref <= 1:
        raise ConfigError(f"slice_time_ref={slice_time_ref!r} is not in [0, 1]", source="slice_time_ref",
                          fix="pass the reference slice's time as a fraction of the TR (0: the first slice)")
