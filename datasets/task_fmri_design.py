"""Event designs of the synthetic task-fMRI study: every stimulus once per run, jittered onsets.

Part of :mod:`neuroalign.datasets.task_fmri` (which re-exports :data:`DESIGNS`
and :func:`make_events`), with the argument checks the simulator shares.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd

from neuroalign.errors import ConfigError, UnknownNameError

__all__ = ["DESIGNS", "make_events"]

#: Onset-to-onset intervals (s) of each design, drawn uniformly per trial.
DESIGNS = {"slow": (8.0, 12.0), "rapid": (2.0, 4.0)}


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ConfigError(f"{name}={value!r} is not a whole number >= {minimum}", source=name,
                          fix=f"pass an integer of at least {minimum}")
    return int(value)


def _check_real(value: Any, name: str, *, positive: bool = False, below_one: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, Real) and math.isfinite(value)
    ok = ok and (value > 0 if positive else value >= 0) and (value < 1 if below_one else True)
    if not ok:
        bound = "in [0, 1)" if below_one else "> 0" if positive else ">= 0"
        raise ConfigError(f"{name}={value!r} is not a finite number {bound}", source=name,
                          fix=f"pass a number {bound}")
    return float(value)


def _isi_range(design: str, isi: Any) -> tuple[float, float]:
    if design not in DESIGNS:
        raise UnknownNameError(design, DESIGNS, what="design", source="design")
    if isi is None:
        return DESIGNS[design]
    try:
        low, high = (float(v) for v in isi)
    except (TypeError, ValueError):
        low = high = float("nan")
    if not (math.isfinite(low) and math.isfinite(high) and 0 < low <= high):
        raise ConfigError(f"isi={isi!r} is not a (shortest, longest) pair of positive seconds", source="isi",
                          fix="pass e.g. isi=(2.0, 4.0), or None for the design's default")
    return low, high


def make_events(stimulus_ids: Any, n_runs: int = 4, *, design: str = "slow", isi: tuple[float, float] | None = None,
                duration: float = 1.0, lead_in: float = 6.0, random_state: int | np.random.Generator = 0,
                ) -> list[pd.DataFrame]:
    """Event tables of a jittered event-related design: every stimulus once per run, in a random order.

    Parameters
    ----------
    stimulus_ids : sequence of str
        The stimuli (unique).
    n_runs : int
        Runs; each shows every stimulus once, in its own order.
    design : {"slow", "rapid"}
        Onset-to-onset intervals drawn uniformly from 8–12 s (slow) or 2–4 s (rapid).
    isi : (float, float), optional
        Another range of onset-to-onset intervals, in seconds.
    duration : float
        Seconds each stimulus is shown (shorter than the shortest interval).
    lead_in : float
        Onset of the first event, in seconds from the first volume.
    random_state : int or numpy.random.Generator
        Seeds the orders and the intervals.

    Returns
    -------
    list of pandas.DataFrame
        One per run, columns ``onset``, ``duration``, ``trial_type`` and
        ``stimulus_id`` (``trial_type`` is the stimulus id), in onset order.

    Examples
    --------
    >>> from neuroalign.datasets.task_fmri import make_events
    >>> runs = make_events(["a", "b", "c"], 2, design="rapid", random_state=0)
    >>> len(runs), sorted(runs[0]["stimulus_id"]), float(runs[0]["onset"].iloc[0])
    (2, ['a', 'b', 'c'], 6.0)
    """
    ids = [str(s) for s in stimulus_ids]
    if len(ids) < 2 or len(set(ids)) != len(ids):
        raise ConfigError(f"{len(ids)} stimulus ids, {len(ids) - len(set(ids))} repeated", source="stimulus_ids",
                          fix="pass at least 2 unique stimulus ids")
    n_runs = _check_int(n_runs, "n_runs", 1)
    low, high = _isi_range(design, isi)
    duration = _check_real(duration, "duration", positive=True)
    lead_in = _check_real(lead_in, "lead_in")
    if duration >= low:
        raise ConfigError(f"duration={duration} s is not shorter than the shortest interval {low} s",
                          source="duration", fix="shorten the stimuli or lengthen the intervals (isi=)")
    rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
    runs = []
    for _ in range(n_runs):
        order = rng.permutation(len(ids))
        gaps = rng.uniform(low, high, size=len(ids) - 1)
        onsets = lead_in + np.concatenate([[0.0], np.cumsum(gaps)])
        names = [ids[i] for i in order]
        runs.append(pd.DataFrame({"onset": np.round(onsets, 3), "duration": duration,
                                  "trial_type": names, "stimulus_id": names}))
    return runs
