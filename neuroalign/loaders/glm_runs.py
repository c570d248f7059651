"""The runs of a first-level GLM: 4D images on one grid with one repetition time, and their BIDS labels."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AlignmentError, ConfigError
from .bids import parse_bids_entities
from .fmri import _same_grid, load_image
from .repetition_time import run_repetition_time
from .timeseries_files import _positive_seconds

__all__ = ["as_list", "read_runs", "check_pairing", "run_ids"]

log = logging.getLogger(__name__)


def as_list(value: Any, n: int | None, argument: str) -> list[Any]:
    """``value`` as a list (one item per run when ``n`` is given), or a ConfigError naming ``argument``."""
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if n is not None and len(items) != n:
        raise ConfigError(f"{len(items)} {argument} for {n} run(s)", source=argument,
                          fix=f"pass one {argument} entry per run, in the order of runs")
    return items


def read_runs(runs: Any, t_r: float | None) -> tuple[list, list[str], list[Path | None], float]:
    """Load every run; check one grid and one TR for all.  Returns (images, names, paths, t_r)."""
    _positive_seconds(t_r, "t_r", "t_r", "pass t_r=<the repetition time in seconds>, or leave it out to read the "
                      "JSON sidecar or the NIfTI header")
    items = as_list(runs, None, "runs")
    if not items:
        raise ConfigError("no runs given", source="runs", fix="pass one or more 4D NIfTI runs")
    images, names, paths, trs = [], [], [], []
    for index, run in enumerate(items):
        name = str(run) if isinstance(run, (str, os.PathLike)) else f"run {index}"
        img = load_image(run, name=name, ndim=4)
        path = Path(run) if isinstance(run, (str, os.PathLike)) else None
        tr = run_repetition_time(img, path, t_r, name=name, argument="t_r")
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


def check_pairing(run_entities: dict, event_entities: dict, name: str, ev_source: str) -> None:
    """A BIDS events file must name the same subject, session, task and run as its image."""
    for key in ("subject", "session", "task", "run"):
        if key in run_entities and key in event_entities and run_entities[key] != event_entities[key]:
            raise AlignmentError(f"the events file is for {key} {event_entities[key]!r}, the run is {key} "
                                 f"{run_entities[key]!r}", source=f"{ev_source} vs {name}",
                                 fix="pass the events files in the order of the runs (one per run)")


def run_ids(paths, names) -> tuple[list[dict], list[int]]:
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
