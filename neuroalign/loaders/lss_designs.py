"""Least-squares-separate (LSS) designs: the per-trial models of a beta series.

One LSS model per trial (Mumford et al. 2012; nilearn's beta-series example):
the trial's own regressor, the other trials as nuisance regressors, then the
drift and confound regressors, all built by nilearn's
``make_first_level_design_matrix`` with the settings ``FirstLevelModel`` uses.

- ``"lss-1"``: one regressor for all other trials (label ``other_trials``).
- ``"lss-n"``: one regressor per trial type (the trial's own type without the
  trial), as in nilearn's documented loop.

The models share every column except the trial's own and its type's (or the
other-trials) regressor.  :func:`lss_blocks` returns them in that split form,
which ``glm_lss`` solves in closed form; :func:`lss_design_matrix` returns one
model as the full design matrix nilearn would fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError, UnknownNameError
from .glm_design import frame_times, nilearn_design_maker

__all__ = ["LSS_VARIANTS", "DESIGN_KEYS", "lss_events", "lss_design_matrix", "condition_design_matrix", "lss_blocks",
           "LSSBlocks"]

LSS_VARIANTS = ("lss-1", "lss-n")
#: ``FirstLevelModel`` parameters that shape the design matrix, with nilearn's defaults.
DESIGN_KEYS = {"t_r": None, "slice_time_ref": 0.0, "hrf_model": "glover", "drift_model": "cosine",
               "high_pass": 0.01, "drift_order": 1, "min_onset": -24, "oversampling": 50}
OTHER = "other_trials"
_SEP = "__"


def _settings(design_kwargs: Mapping[str, Any] | None, n_scans: int) -> dict[str, Any]:
    """Design settings with nilearn's defaults, and ``frame_times`` (given, or from ``t_r``/``slice_time_ref``)."""
    kwargs = dict(design_kwargs or {})
    unknown = sorted(set(kwargs) - set(DESIGN_KEYS) - {"frame_times", "fir_delays"})
    if unknown:
        raise UnknownNameError(unknown[0], [*DESIGN_KEYS, "frame_times"], what="design setting",
                               source="design_kwargs")
    if kwargs.pop("fir_delays", None) is not None:
        raise ConfigError("LSS needs a canonical HRF model, not an FIR basis", source="fir_delays",
                          fix="use estimator='lsa' for FIR models, or hrf_model='glover'/'spm'")
    settings = {**DESIGN_KEYS, **kwargs}
    if settings.get("frame_times") is not None:
        times = np.asarray(settings["frame_times"], dtype=float)
        if times.shape != (n_scans,):
            raise DataError(f"{times.size} frame times for {n_scans} volumes", source="design_kwargs['frame_times']",
                            fix="give one acquisition time per volume")
    else:
        t_r = settings["t_r"]
        if t_r is None or not np.isfinite(float(t_r)) or float(t_r) <= 0:
            raise ConfigError(f"t_r must be a positive repetition time in seconds, got {t_r!r}",
                              source="design_kwargs['t_r']", fix="pass design_kwargs={'t_r': 2.0, ...}")
        times = frame_times(n_scans, float(t_r), float(settings["slice_time_ref"]))
    settings["frame_times"] = times
    hrf = settings["hrf_model"]
    if hrf is not None and (not isinstance(hrf, str) or hrf.startswith("fir")):
        raise ConfigError(f"LSS needs a canonical HRF model, got hrf_model={hrf!r}",
                          source="design_kwargs['hrf_model']",
                          fix="use 'glover' or 'spm' (optionally '+ derivative' / '+ derivative + dispersion')")
    return settings


def _design(events: pd.DataFrame | None, n_scans: int, settings: Mapping[str, Any], *,
            drift: bool, confounds: Any = None, confound_names: Any = None) -> pd.DataFrame:
    make = nilearn_design_maker()
    add_regs, names = None, None
    if confounds is not None:
        if isinstance(confounds, pd.DataFrame):
            add_regs, names = confounds.to_numpy(), confounds.columns.tolist()
        else:
            add_regs = np.asarray(confounds, dtype=float)
            names = list(confound_names) if confound_names is not None else \
                [f"confound_{i}" for i in range(add_regs.shape[1])]
    return make(settings["frame_times"], events,
                hrf_model=settings["hrf_model"], drift_model=settings["drift_model"] if drift else None,
                high_pass=settings["high_pass"], drift_order=settings["drift_order"],
                add_regs=add_regs, add_reg_names=names, min_onset=settings["min_onset"],
                oversampling=settings["oversampling"])


def _check_events(events: pd.DataFrame, variant: str) -> pd.DataFrame:
    if variant not in LSS_VARIANTS:
        raise UnknownNameError(variant, LSS_VARIANTS, what="LSS variant", source="variant")
    if not isinstance(events, pd.DataFrame):
        raise DataError(f"events must be a pandas DataFrame, got {type(events).__name__}", source="events",
                        fix="read the table with neuroalign.loaders.events.read_events")
    missing = [c for c in ("onset", "duration") if c not in events.columns]
    if missing:
        raise DataError(f"the events table has no {' or '.join(missing)} column", source="events",
                        fix="give every trial an onset and a duration in seconds (BIDS events.tsv)")
    events = events[[c for c in ("onset", "duration", "trial_type", "modulation") if c in events.columns]]
    events = events.reset_index(drop=True).copy()
    if "trial_type" not in events.columns:
        events["trial_type"] = "trial"
    events["trial_type"] = events["trial_type"].astype(str)
    if len(events) < 2:
        raise DataError(f"LSS needs at least two trials, the events table has {len(events)}", source="events",
                        fix="use an events table with several trials (or LSA)")
    if variant == "lss-n":
        counts = events["trial_type"].value_counts()
        single = sorted(counts.index[counts == 1])
        if single:
            raise DataError(f"trial type(s) {single} occur once: LSS-N models the other trials of the same type "
                            "as one regressor, which would be empty", source="events['trial_type']",
                            fix="use variant='lss-1', or merge the single trials into a shared trial_type")
    bad = [t for t in events["trial_type"].unique() if _SEP in t or t == OTHER]
    if bad:
        raise DataError(f"trial type(s) {bad} use the reserved name {OTHER!r} or separator {_SEP!r}",
                        source="events['trial_type']", fix="rename these trial types")
    return events


def lss_events(events: pd.DataFrame, trial: int, variant: str = "lss-1") -> tuple[pd.DataFrame, str]:
    """The events of trial ``trial``'s LSS model, and the name of its regressor.

    The trial is relabelled ``"<trial_type>__<trial>"``; with ``"lss-1"`` every
    other trial is relabelled ``"other_trials"``, with ``"lss-n"`` the others keep
    their trial type (nilearn's beta-series example).

    Examples
    --------
    >>> import pandas as pd
    >>> ev = pd.DataFrame({"onset": [0.0, 10.0, 20.0], "duration": 1.0, "trial_type": ["a", "b", "a"]})
    >>> lss_events(ev, 1)[0]["trial_type"].tolist()
    ['other_trials', 'b__001', 'other_trials']
    """
    events = _check_events(events, variant)
    if not 0 <= trial < len(events):
        raise DataError(f"trial {trial} is outside the {len(events)} trials", source="trial",
                        fix=f"pass 0 <= trial < {len(events)}")
    name = f"{events.loc[trial, 'trial_type']}{_SEP}{trial:03d}"
    out = events.copy()
    if variant == "lss-1":
        out["trial_type"] = OTHER
    out.loc[trial, "trial_type"] = name
    return out, name


def lss_design_matrix(events: pd.DataFrame, n_scans: int, design_kwargs: Mapping[str, Any], trial: int, *,
                      variant: str = "lss-1", confounds: Any = None, confound_names: Any = None) -> pd.DataFrame:
    """The full design matrix of one trial's LSS model, as nilearn builds it.

    Examples
    --------
    >>> import pandas as pd
    >>> ev = pd.DataFrame({"onset": [4.0, 30.0, 60.0], "duration": 1.0, "trial_type": "a"})
    >>> dm = lss_design_matrix(ev, 50, {"t_r": 2.0}, 0)
    >>> dm.columns[:2].tolist()
    ['a__000', 'other_trials']
    """
    settings = _settings(design_kwargs, n_scans)
    trial_events, _ = lss_events(events, trial, variant)
    return _design(trial_events, n_scans, settings, drift=True, confounds=confounds, confound_names=confound_names)


def condition_design_matrix(events: pd.DataFrame, n_scans: int, design_kwargs: Mapping[str, Any], *,
                            confounds: Any = None, confound_names: Any = None) -> pd.DataFrame:
    """The standard design of a run: one regressor per trial type, drift and confounds.

    Examples
    --------
    >>> import pandas as pd
    >>> ev = pd.DataFrame({"onset": [4.0, 30.0, 60.0], "duration": 1.0, "trial_type": ["a", "b", "a"]})
    >>> condition_design_matrix(ev, 50, {"t_r": 2.0}).columns[:2].tolist()
    ['a', 'b']
    """
    settings = _settings(design_kwargs, n_scans)
    events = events.reset_index(drop=True)
    if "trial_type" not in events.columns:
        events = events.assign(trial_type="trial")
    return _design(events.assign(trial_type=events["trial_type"].astype(str)), n_scans, settings, drift=True,
                   confounds=confounds, confound_names=confound_names)


@dataclass(frozen=True)
class LSSBlocks:
    """The LSS models of one run, split into shared and per-trial columns.

    ``common`` (n_scans, q0) holds the columns every model shares (drift and
    confounds, named ``common_names``).  ``groups`` maps a group key to
    ``(extra, trials)``: ``extra`` (n_scans, q) holds the further columns every model
    of the group shares (for LSS-N, the other trial types; none for LSS-1, named
    ``extra_names[key]``); ``trials`` lists the trial indices of the group.
    ``varying[t]`` (n_scans, 2 k) holds trial ``t``'s own k columns (main regressor
    first, then HRF derivatives) and the k columns of the other trials (LSS-1) or of
    its type without it (LSS-N).  ``n_columns`` is the column count of every model.
    """

    common: np.ndarray
    common_names: list[str]
    groups: dict[str, tuple[np.ndarray, list[int]]]
    varying: np.ndarray
    extra_names: dict[str, list[str]]
    trial_names: list[str]
    n_columns: int
    k: int


def lss_blocks(events: pd.DataFrame, n_scans: int, design_kwargs: Mapping[str, Any], *,
               variant: str = "lss-1", confounds: Any = None, confound_names: Any = None) -> LSSBlocks:
    """Every trial's LSS model of one run, as shared and varying columns.

    The columns are nilearn's: each trial's own regressor is built by
    ``make_first_level_design_matrix`` from that trial alone, the shared ones
    from the whole table.  For HRFs without derivatives the other-trials
    regressor is the whole-condition regressor minus the trial's (the
    convolution is linear); with derivatives (orthogonalised per regressor by
    nilearn) it is built from the other trials' events, one call per trial.
    """
    settings = _settings(design_kwargs, n_scans)
    events = _check_events(events, variant)
    times = settings["frame_times"]
    outside = np.flatnonzero((events["onset"] > times[-1]) | (events["onset"] < times[0] + settings["min_onset"]))
    if outside.size:
        raise DataError(f"trial(s) {outside.tolist()} (onsets {events['onset'].iloc[outside].tolist()} s) fall outside "
                        f"the run ({times[0]:g}-{times[-1]:g} s, min_onset {settings['min_onset']} s)",
                        source="events", fix="drop the trials outside the run, or check the run's events file and t_r")
    n_trials = len(events)
    types = events["trial_type"].to_numpy()
    names = [f"{t}{_SEP}{i:03d}" for i, t in enumerate(types)]

    single = events.copy()
    single["trial_type"] = names
    own_dm = _design(single, n_scans, settings, drift=False)
    k = _columns_per_regressor(own_dm, names[0])
    own = np.stack([own_dm[_cols(names[i], k, own_dm)].to_numpy() for i in range(n_trials)])

    nuis = _design(None, n_scans, settings, drift=True, confounds=confounds, confound_names=confound_names)
    derivatives = k > 1
    if variant == "lss-1":
        whole = events.copy()
        whole["trial_type"] = OTHER
        others = _other_columns(whole, own, range(n_trials), n_scans, settings, k, derivatives, OTHER)
        groups = {OTHER: (np.empty((n_scans, 0)), list(range(n_trials)))}
        extra_names: dict[str, list[str]] = {OTHER: []}
        n_columns = 2 * k + nuis.shape[1]
    else:
        cond_dm = _design(events, n_scans, settings, drift=False)
        others = np.empty_like(own)
        groups, extra_names = {}, {}
        conditions = sorted(set(types))
        for c in conditions:
            members = [i for i in range(n_trials) if types[i] == c]
            sub = events.loc[types == c].copy()
            others[members] = _other_columns(sub, own, members, n_scans, settings, k, derivatives, c)
            shared_cols = [col for d in conditions if d != c for col in _cols(d, k, cond_dm)]
            groups[c] = (cond_dm[shared_cols].to_numpy(), members)
            extra_names[c] = shared_cols
        n_columns = 2 * k + k * (len(conditions) - 1) + nuis.shape[1]
    # a trial's regressor of zeros (or nilearn's rounding noise for a trial at the run's end) is refused by
    # glm_design.check_full_rank in each trial's model (glm_lss), as the LSA designs are
    varying = np.concatenate([own, others], axis=2)
    return LSSBlocks(nuis.to_numpy(), nuis.columns.tolist(), groups, varying, extra_names, names, n_columns, k)


def _columns_per_regressor(dm: pd.DataFrame, name: str) -> int:
    return 1 + sum(f"{name}_{suffix}" in dm.columns for suffix in ("derivative", "dispersion"))


def _cols(name: str, k: int, dm: pd.DataFrame) -> list[str]:
    cols = [name, f"{name}_derivative", f"{name}_dispersion"][:k]
    return [c for c in cols if c in dm.columns] if k == 1 else cols


def _other_columns(sub: pd.DataFrame, own: np.ndarray, members: Any, n_scans: int, settings: Mapping[str, Any],
                   k: int, derivatives: bool, label: str) -> np.ndarray:
    """The columns of each member's other trials (of ``sub``), for every member."""
    members = list(members)
    if not derivatives:
        whole = sub.copy()
        whole["trial_type"] = label
        total = _design(whole, n_scans, settings, drift=False)[[label]].to_numpy()
        return np.stack([total - own[i] for i in members])
    out = []
    for i in members:
        rest = sub.drop(index=i).copy()
        rest["trial_type"] = label
        dm = _design(rest, n_scans, settings, drift=False)
        out.append(dm[_cols(label, k, dm)].to_numpy())
    return np.stack(out)
