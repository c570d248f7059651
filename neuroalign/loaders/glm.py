"""Task fMRI runs + events → one response pattern per trial or stimulus (first-level GLM betas or t).

Design matrices, HRF, drift, high-pass filter, signal scaling and noise model
are nilearn's (``make_first_level_design_matrix`` and ``FirstLevelModel``, with
nilearn's defaults); the least-squares-all (LSA) fit is nilearn's own.  This
module reads and checks the inputs, names the file at fault in every error, and
labels the result with the data model (``docs/data-model.md``, "Task-fMRI
patterns").
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..data import hash_array, provenance, validate
from ..errors import ConfigError, DataError, UnknownNameError
from .bids import parse_bids_entities
from .confounds import confound_regressors
from .events import check_events_in_run, read_events
from .glm_design import check_full_rank, check_glm_options, frame_times, lsa_design
from .glm_fit import fit_lsa_run, fit_lss_run, restated  # noqa: F401 (restated: cli.glm_cmd imports it from here)
from .glm_runs import as_list, check_pairing, read_runs, run_ids
from .glm_voxels import check_selected, whole_brain
from .voxels import select_voxels, voxel_coords

__all__ = ["estimate_patterns", "GLMResult"]

log = logging.getLogger(__name__)

ESTIMATORS = ("lsa", "lss-1", "lss-n")


@dataclass
class GLMResult:
    """What :func:`estimate_patterns` returns.

    Attributes
    ----------
    patterns : xarray.DataArray
        ``(presentation, neuroid)`` betas or t statistics.
    residuals : xarray.DataArray
        ``(time, neuroid)``: data minus fitted values of every run, in the
        units of the fit (nilearn's signal scaling: percent signal change by
        default); ``run`` and ``volume`` coords on ``time``.  LSA: of the
        fitted design; LSS (one model per trial): of the run's standard model,
        one regressor per trial type plus drift and confounds.
    design_matrices : dict
        run → the nilearn design matrix (pandas DataFrame) of that run (LSS:
        the standard model's).
    dof : dict
        run → residual degrees of freedom of the model of ``residuals``.
    """

    patterns: xr.DataArray
    residuals: xr.DataArray
    design_matrices: dict[int, pd.DataFrame] = field(default_factory=dict)
    dof: dict[int, int] = field(default_factory=dict)


def estimate_patterns(
    runs: Any,
    events: Any,
    *,
    confounds: Any = None,
    confound_columns: Sequence[str] | None = None,
    mask: Any = None,
    atlas: Any = None,
    region: Any = None,
    labels: Any = None,
    estimator: str = "lsa",
    per: str = "trial",
    statistic: str = "beta",
    stimulus_column: str = "trial_type",
    t_r: float | None = None,
    hrf_model: str | None = "glover",
    drift_model: str | None = "cosine",
    high_pass: float = 0.01,
    drift_order: int = 1,
    fir_delays: Sequence[int] | None = None,
    min_onset: float = -24,
    noise_model: str = "ar1",
    slice_time_ref: float = 0.0,
    standardize: bool = False,
    signal_scaling: Any = 0,
    progress: bool = True,
) -> GLMResult:
    """One response pattern per trial (or stimulus) from task fMRI runs and their events.

    Parameters
    ----------
    runs : path or nibabel image, or a sequence of them
        4D runs on one voxel grid with one repetition time.
    events : path, DataFrame, or a sequence (one per run)
        BIDS ``events.tsv`` tables (:func:`~neuroalign.loaders.events.read_events`).
    confounds : path, DataFrame, array, or a sequence (one per run), optional
        Nuisance regressors; fMRIPrep confound TSVs are read by
        :func:`~neuroalign.loaders.confounds.load_confounds` (with ``confound_columns``).
    mask : path or image, optional
        Voxels to use (non-zero), on the runs' grid.
    atlas, region, labels : optional
        A 3D labels atlas on the runs' grid, the region name(s) or value(s) to
        use, and the atlas's names (as in ``load_roi_timeseries``).  Without
        ``mask`` and ``atlas``: every voxel with non-zero variance in every run.
    estimator : {"lsa", "lss-1", "lss-n"}
        Least squares all (one design per run), or least squares separate
        (one model per trial; the others in one nuisance regressor, or one per
        trial type).
    per : {"trial", "stimulus"}
        One pattern per trial, or per stimulus per run (LSA only).
    statistic : {"beta", "t"}
        Effect sizes, or t statistics (as nilearn's ``compute_contrast``).
    stimulus_column : str
        The events column naming each trial's stimulus.
    t_r : float, optional
        Repetition time (s); default: the BIDS sidecar, else the NIfTI header.
    hrf_model, drift_model, high_pass, drift_order, fir_delays, min_onset, noise_model, slice_time_ref, \
signal_scaling
        nilearn's ``FirstLevelModel`` parameters, with its defaults.
    standardize : False
        Refused when true, by every estimator: nilearn's ``FirstLevelModel``
        (0.14) never applies it (its ``signal_scaling`` resets it), so it would
        change nothing.
    progress : bool
        Show a progress bar over runs.

    Returns
    -------
    GLMResult
        ``.patterns`` ``(presentation, neuroid)`` with ``stimulus_id``,
        ``trial_type``, ``run``, ``session``, ``repetition``, ``onset``,
        ``trial`` on ``presentation`` and ``neuroid_id``, ``voxel_i/j/k``,
        ``x/y/z`` (and ``region``) on ``neuroid``; attrs ``affine``,
        ``grid_shape``, ``statistic``, ``estimator`` and provenance.
        ``.residuals``, ``.design_matrices``, ``.dof``.

    Raises
    ------
    DataError
        Trials outside the run, a rank-deficient design (the collinear columns
        named), no voxel to use.
    SchemaError
        An events table without ``onset``/``duration``.
    AlignmentError
        Runs on different grids or with different TRs; a mask/atlas on another grid.

    Examples
    --------
    >>> import nibabel as nib, numpy as np, pandas as pd
    >>> from neuroalign.loaders.glm import estimate_patterns
    >>> rng = np.random.default_rng(0)
    >>> run = nib.Nifti1Image(100 + rng.normal(size=(2, 2, 2, 40)), np.eye(4))
    >>> events = pd.DataFrame({"onset": [4.0, 24.0, 44.0], "duration": 1.0, "trial_type": ["a", "b", "a"]})
    >>> result = estimate_patterns(run, events, t_r=2.0, progress=False)
    >>> result.patterns.dims, result.patterns.sizes["neuroid"], result.patterns.repetition.values.tolist()
    (('presentation', 'neuroid'), 8, [0, 0, 1])
    """
    if estimator not in ESTIMATORS:
        raise UnknownNameError(estimator, ESTIMATORS, what="estimator")
    if per not in ("trial", "stimulus"):
        raise UnknownNameError(per, ("trial", "stimulus"), what="per")
    if statistic not in ("beta", "t"):
        raise UnknownNameError(statistic, ("beta", "t"), what="statistic")
    if standardize:
        raise ConfigError("standardize=True is not supported: nilearn's FirstLevelModel never applies it (its "
                          "signal_scaling resets it), so the patterns would not be standardised", source="standardize",
                          fix="use standardize=False, with signal_scaling=0 (percent signal change) or False; "
                          "z-score the patterns afterwards if needed")
    if estimator != "lsa" and noise_model not in ("ols", "ar1"):
        raise ConfigError(f"noise_model={noise_model!r} is not available with estimator={estimator!r}: LSS is solved "
                          "in closed form for the 'ols' and 'ar1' noise models", source="noise_model",
                          fix="use noise_model='ar1' (nilearn's default) or 'ols', or estimator='lsa' for AR(p > 1)")
    if estimator != "lsa" and per != "trial":
        raise ConfigError(f"estimator={estimator!r} estimates one pattern per trial", source="per",
                          fix="use per='trial' with LSS, or estimator='lsa' for per='stimulus'")
    check_glm_options(hrf_model=hrf_model, drift_model=drift_model, high_pass=high_pass, noise_model=noise_model,
                      signal_scaling=signal_scaling, slice_time_ref=slice_time_ref)
    images, names, paths, tr = read_runs(runs, t_r)
    event_items = as_list(events, len(images), "events")
    confound_items = as_list(confounds, len(images), "confounds") if confounds is not None else [None] * len(images)
    selected, regions = select_voxels(images[0], mask=mask, atlas=atlas, region=region, labels=labels)
    if selected is None:
        selected = whole_brain(images, names)
    else:
        check_selected(images, names, selected)
    import nibabel as nib

    mask_img = nib.Nifti1Image(selected.astype(np.uint8), images[0].affine)
    design_options = dict(hrf_model=hrf_model, drift_model=drift_model, high_pass=high_pass,
                          drift_order=drift_order, fir_delays=fir_delays, min_onset=min_onset)
    fit_options = dict(noise_model=noise_model, standardize=standardize, signal_scaling=signal_scaling)

    rows, blocks, residual_blocks, designs, dofs, time_rows = [], [], [], {}, {}, []
    from tqdm.auto import tqdm

    run_entities, run_labels = run_ids(paths, names)
    for index in tqdm(range(len(images)), desc="GLM runs", disable=not progress):
        img, name = images[index], names[index]
        entities, run_id = run_entities[index], run_labels[index]
        n_volumes = img.shape[3]
        ev_source = str(event_items[index]) if isinstance(event_items[index], (str, os.PathLike)) \
            else f"events of {name}"
        if isinstance(event_items[index], (str, os.PathLike)) and entities:
            check_pairing(entities, parse_bids_entities(event_items[index]), name, ev_source)
        table = read_events(event_items[index], stimulus_column=stimulus_column, source=ev_source)
        check_events_in_run(table, n_volumes, tr, slice_time_ref=slice_time_ref, min_onset=min_onset,
                            source=ev_source)
        regressors, _, chosen = confound_regressors(confound_items[index], n_volumes, columns=confound_columns,
                                                    source=f"confounds of {name}")
        # the design's confound columns carry the table's names (a plain array's, their positions)
        confound_names = None if regressors is None else [
            f"confound_{column}" for column in (chosen or range(regressors.shape[1]))]
        times = frame_times(n_volumes, tr, slice_time_ref)
        if per == "stimulus" and (table.groupby("stimulus_id")["trial_type"].nunique() > 1).any():
            raise DataError("a stimulus appears with several trial types in one run", source=ev_source,
                            fix="use per='trial', or give each stimulus one trial_type")
        if estimator == "lsa":
            design, columns = lsa_design(table, times, per=per, confounds=regressors, confound_names=confound_names,
                                         **design_options)
            trials = table if per == "trial" else table.drop_duplicates("stimulus_id", keep="first")
            describe = {c: f"{s}@{o:g}s" for c, s, o in zip(columns, trials["stimulus_id"], trials["onset"])}
            check_full_rank(design, source=f"design of {name} ({ev_source})", describe=describe)
            Y, theta, variance, dof = fit_lsa_run(img, mask_img, design, fit_options)
            where = [design.columns.get_loc(c) for c in columns]
            values = theta[where] if statistic == "beta" else theta[where] / np.sqrt(variance[where])
            residual = Y - design.to_numpy(float) @ theta
        else:
            values, residual, design, dof = fit_lss_run(img, mask_img, table, times, estimator, statistic,
                                                     regressors, confound_names, design_options, fit_options, name,
                                                     ev_source)
            trials = table
        designs[run_id], dofs[run_id] = design, int(dof)
        blocks.append(np.asarray(values, dtype=float))
        residual_blocks.append(np.asarray(residual, dtype=float))
        rows.append(pd.DataFrame({"stimulus_id": trials["stimulus_id"].to_numpy(str),
                                  "trial_type": trials["trial_type"].to_numpy(str), "run": run_id,
                                  "session": str(entities.get("session", "")),
                                  "onset": trials["onset"].to_numpy(float), "trial": trials.index.to_numpy(int)}))
        time_rows.append(pd.DataFrame({"run": run_id, "volume": np.arange(n_volumes), "frame_time": times}))

    table = pd.concat(rows, ignore_index=True)
    table["repetition"] = table.groupby("stimulus_id").cumcount().to_numpy(int)
    neuroids = voxel_coords(mask_img)
    if regions is not None:
        neuroids["region"] = regions
    neuroid_coords = {k: ("neuroid", v) for k, v in neuroids.items()}
    parameters = dict(estimator=estimator, per=per, statistic=statistic, stimulus_column=stimulus_column, t_r=tr,
                      confound_columns=None if confound_columns is None else list(confound_columns),
                      region=region if region is None or isinstance(region, (str, int)) else list(region),
                      slice_time_ref=slice_time_ref, **fit_options,
                      **{k: (list(v) if isinstance(v, tuple) else v) for k, v in design_options.items()})
    inputs = {f"run_{i}": str(p) if p is not None else hash_array(np.asarray(img.dataobj))
              for i, (img, p) in enumerate(zip(images, paths))}
    inputs.update({f"events_{i}": str(e) for i, e in enumerate(event_items) if isinstance(e, (str, os.PathLike))})
    attrs = {"affine": [float(v) for v in np.asarray(images[0].affine).ravel()],
             "grid_shape": [int(n) for n in images[0].shape[:3]], "statistic": statistic, "estimator": estimator,
             "repetition_time": float(tr), **provenance(parameters, inputs)}
    patterns = xr.DataArray(np.concatenate(blocks, axis=0), dims=("presentation", "neuroid"),
                            coords={**{k: ("presentation", table[k].to_numpy()) for k in table.columns},
                                    **neuroid_coords}, attrs=attrs, name=statistic)
    times_table = pd.concat(time_rows, ignore_index=True)
    residuals = xr.DataArray(np.concatenate(residual_blocks, axis=0), dims=("time", "neuroid"),
                             coords={"time": np.arange(len(times_table)) * tr,
                                     **{k: ("time", times_table[k].to_numpy()) for k in times_table.columns},
                                     **neuroid_coords}, attrs=dict(attrs, statistic="residual"), name="residuals")
    validate(patterns, name="patterns")
    validate(residuals, dims=("time", "neuroid"), name="residuals")
    return GLMResult(patterns, residuals, designs, dofs)
