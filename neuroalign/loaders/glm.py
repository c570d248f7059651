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
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..data import hash_array, provenance, validate
from ..errors import AlignmentError, ConfigError, DataError, NeuroalignError, UnknownNameError
from .bids import parse_bids_entities
from .confounds import load_confounds
from .events import check_events_in_run, read_events
from .fmri import _same_grid, _tr_from_header, load_image
from .glm_design import check_full_rank, check_glm_options, frame_times, lsa_design
from .timeseries_files import _positive_seconds, _repetition_time
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


def _as_list(value: Any, n: int | None, argument: str) -> list[Any]:
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if n is not None and len(items) != n:
        raise ConfigError(f"{len(items)} {argument} for {n} run(s)", source=argument,
                          fix=f"pass one {argument} entry per run, in the order of runs")
    return items


def _read_runs(runs: Any, t_r: float | None):
    """Load every run; check one grid and one TR for all.  Returns (images, names, paths, t_r)."""
    _positive_seconds(t_r, "t_r", "t_r", "pass t_r=<the repetition time in seconds>, or leave it out to read the "
                      "JSON sidecar or the NIfTI header")
    items = _as_list(runs, None, "runs")
    if not items:
        raise ConfigError("no runs given", source="runs", fix="pass one or more 4D NIfTI runs")
    images, names, paths, trs = [], [], [], []
    for index, run in enumerate(items):
        name = str(run) if isinstance(run, (str, os.PathLike)) else f"run {index}"
        img = load_image(run, name=name, ndim=4)
        path = Path(run) if isinstance(run, (str, os.PathLike)) else None
        # an in-memory image's header TR is often nibabel's default 1.0: t_r wins without a warning
        tr = _repetition_time(path, t_r, _tr_from_header(img)) if path is not None or t_r is None \
            else _repetition_time(None, t_r)
        if tr is None:
            raise ConfigError("the repetition time is unknown (no JSON sidecar, no header TR)", source=name,
                              fix="pass t_r=<seconds>")
        if images and not _same_grid(img, images[0]):
            raise AlignmentError(f"the run's grid (shape {img.shape[:3]}, affine {np.round(img.affine, 3).tolist()})"
                                 f" differs from the first run's (shape {images[0].shape[:3]})",
                                 source=f"{name} vs {names[0]}",
                                 fix="realign/resample all runs into one space (fMRIPrep's space-* outputs)")
        if trs and not np.isclose(tr, trs[0], rtol=1e-6):
            raise AlignmentError(f"the run's repetition time {tr:g} s differs from the first run's {trs[0]:g} s",
                                 source=f"{name} vs {names[0]}",
                                 fix="estimate runs with different TRs separately, or fix the header/sidecar TR")
        images.append(img), names.append(name), paths.append(path), trs.append(tr)
    return images, names, paths, trs[0]


def _check_pairing(run_entities: dict, event_entities: dict, name: str, ev_source: str) -> None:
    """A BIDS events file must name the same subject, session, task and run as its image."""
    for key in ("subject", "session", "task", "run"):
        if key in run_entities and key in event_entities and run_entities[key] != event_entities[key]:
            raise AlignmentError(f"the events file is for {key} {event_entities[key]!r}, the run is {key} "
                                 f"{run_entities[key]!r}", source=f"{ev_source} vs {name}",
                                 fix="pass the events files in the order of the runs (one per run)")


def _run_ids(paths, names) -> tuple[list[dict], list[int]]:
    """BIDS entities of every run file, and the runs' ``run`` labels.

    The label is the BIDS ``run`` entity when every run has one and no two
    share it; otherwise (runs of several sessions both numbered run-1, images
    without file names) the runs are numbered 0, 1, ... in the order given.
    """
    resolved = [None if p is None else os.path.realpath(p) for p in paths]
    for index, path in enumerate(resolved):
        if path is not None and path in resolved[:index]:
            raise ConfigError("the run is given twice", source=names[index], fix="pass each run once")
    entities = [parse_bids_entities(p) if p is not None else {} for p in paths]
    numbers = [e.get("run") for e in entities]
    if all(isinstance(n, int) for n in numbers) and len(set(numbers)) == len(numbers):
        return entities, [int(n) for n in numbers]
    if any(n is not None for n in numbers):
        log.info("runs labelled 0..%d in the order given: their BIDS run numbers %s are missing or repeated "
                 "(e.g. one run-1 per session; the session coord tells them apart)", len(paths) - 1, numbers)
    return entities, list(range(len(paths)))


def _whole_brain(images, names) -> np.ndarray:
    """Voxels with finite values and non-zero variance in every run."""
    keep = None
    for img, name in zip(images, names):
        data = np.asarray(img.dataobj)
        ok = np.isfinite(data).all(axis=3) & (data.std(axis=3) > 0)
        keep = ok if keep is None else keep & ok
    if not keep.any():
        raise DataError("no voxel varies in every run", source=", ".join(names[:3]),
                        fix="check the runs are 4D task data, or pass mask=")
    return keep


def _check_selected(images, names, selected: np.ndarray) -> None:
    """Selected voxels must be finite and vary in every run (nilearn would turn NaN into 0, silently)."""
    for img, name in zip(images, names):
        data = np.asarray(img.dataobj)[selected]
        bad = ~np.isfinite(data).all(axis=1)
        if bad.any():
            raise DataError(f"{int(bad.sum())} selected voxel(s) have NaN or inf values", source=name,
                            fix="leave them out of the mask (e.g. mask & np.isfinite(data).all(-1)), or repair the "
                            "run")
        flat = ~(data.std(axis=1) > 0)
        if flat.any():
            raise DataError(f"{int(flat.sum())} selected voxel(s) are constant over the run: they have no response "
                            "to estimate", source=name,
                            fix="leave them out of the mask (voxels outside the brain), or pass no mask to use "
                            "every voxel that varies in every run")


def _fit_run(img, mask_img, design: pd.DataFrame, options: dict[str, Any]):
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


def _lss_run(img, mask_img, table, times, estimator, statistic, regressors, confound_names, design_options,
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
    images, names, paths, tr = _read_runs(runs, t_r)
    event_items = _as_list(events, len(images), "events")
    confound_items = _as_list(confounds, len(images), "confounds") if confounds is not None else [None] * len(images)
    selected, regions = select_voxels(images[0], mask=mask, atlas=atlas, region=region, labels=labels)
    if selected is None:
        selected = _whole_brain(images, names)
    else:
        _check_selected(images, names, selected)
    import nibabel as nib

    mask_img = nib.Nifti1Image(selected.astype(np.uint8), images[0].affine)
    design_options = dict(hrf_model=hrf_model, drift_model=drift_model, high_pass=high_pass,
                          drift_order=drift_order, fir_delays=fir_delays, min_onset=min_onset)
    fit_options = dict(noise_model=noise_model, standardize=standardize, signal_scaling=signal_scaling)

    rows, blocks, residual_blocks, designs, dofs, time_rows = [], [], [], {}, {}, []
    from tqdm.auto import tqdm

    run_entities, run_ids = _run_ids(paths, names)
    for index in tqdm(range(len(images)), desc="GLM runs", disable=not progress):
        img, name = images[index], names[index]
        entities, run_id = run_entities[index], run_ids[index]
        n_volumes = img.shape[3]
        ev_source = str(event_items[index]) if isinstance(event_items[index], (str, os.PathLike)) \
            else f"events of {name}"
        if isinstance(event_items[index], (str, os.PathLike)) and entities:
            _check_pairing(entities, parse_bids_entities(event_items[index]), name, ev_source)
        table = read_events(event_items[index], stimulus_column=stimulus_column, source=ev_source)
        check_events_in_run(table, n_volumes, tr, slice_time_ref=slice_time_ref, min_onset=min_onset,
                            source=ev_source)
        regressors, _ = load_confounds(confound_items[index], n_volumes, columns=confound_columns,
                                       source=f"confounds of {name}")
        confound_names = None if regressors is None else [f"confound_{k}" for k in range(regressors.shape[1])]
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
            Y, theta, variance, dof = _fit_run(img, mask_img, design, fit_options)
            where = [design.columns.get_loc(c) for c in columns]
            values = theta[where] if statistic == "beta" else theta[where] / np.sqrt(variance[where])
            residual = Y - design.to_numpy(float) @ theta
        else:
            values, residual, design, dof = _lss_run(img, mask_img, table, times, estimator, statistic,
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
