"""Writing a study's results folder from its finished tasks.

Layout (what :func:`.report.write_report` reads)::

    <dir>/study.yaml                       the resolved config
    <dir>/provenance.json                  versions, input fingerprints, scheduler, times, task counts
    <dir>/results/<analysis>/score.nc      the analysis' Score
    <dir>/results/<analysis>/meta.json     its kind, inputs, parameters and x dim
    <dir>/results/<analysis>/pairwise.nc   pairwise model tests, where the kind makes them
    <dir>/results/<analysis>/rdms.nc       RDMs to show, where the kind makes them

Each analysis folder is copied from the store and moved into place in one
step, so a crash never leaves a folder with half its files.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import shutil
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from ..data.io import atomic_path, write_atomically
from ..data.provenance import package_version
from ..score import Score
from .plan import Plan, analysis_params
from .store import ResultsStore
from .study_schema import MODEL_RDM_KINDS

__all__ = ["write_results", "planted_layer", "ARTIFACTS"]

#: The files of a scoring task that belong in the results folder.
ARTIFACTS = ("score.nc", "pairwise.nc", "rdms.nc", "figures")

_PACKAGES = ("numpy", "scipy", "scikit-learn", "xarray", "torch", "torch-geometric", "dask", "distributed",
             "nilearn", "pandas")


def write_results(out: Path, study: Any, plan: Plan, store: ResultsStore, info: dict) -> dict[str, Score]:
    """Copy every analysis' result into ``out/results``, write ``study.yaml`` and ``provenance.json``; return the scores."""
    from .study_files import resolved_yaml, study_hash

    out.mkdir(parents=True, exist_ok=True)
    scores = {}
    for index, analysis in enumerate(study.analyses):
        key = plan.finals[analysis.name]
        folder = store.folder(key)
        meta = _meta(study, analysis, key)
        _replace_folder(out / "results" / analysis.name, lambda tmp: _copy(folder, tmp, meta))
        scores[analysis.name] = Score.load(out / "results" / analysis.name / "score.nc")
    write_atomically(out / "study.yaml", lambda tmp: tmp.write_text(resolved_yaml(study)))
    record = {
        "neuroalign": package_version(),
        "python": platform.python_version(),
        "packages": _versions(),
        "config_file": info.get("config_file"),
        "config_hash": study_hash(study),
        "inputs": plan.inputs,
        "results": {name: key for name, key in plan.finals.items()},
        "scheduler": info.get("scheduler"),
        "started": _iso(info["started"]),
        "finished": _iso(info["finished"]),
        "tasks": {"computed": info["computed"], "reused": info["reused"]},
    }
    write_atomically(out / "provenance.json", lambda tmp: tmp.write_text(json.dumps(record, indent=2) + "\n"))
    return scores


def _replace_folder(path: Path, write: Any) -> None:
    """Write a folder beside ``path`` and swap it in; safe when another run of the study swaps the same folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic_path(path)
    try:
        write(tmp)
        for _ in range(100):
            try:
                os.rename(tmp, path)
                return
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
            aside = atomic_path(path)
            try:
                os.rename(path, aside)
            except FileNotFoundError:  # another run moved it aside first: try again
                continue
            shutil.rmtree(aside, ignore_errors=True)
        raise OSError(f"could not replace {path}: another process keeps writing it")
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _copy(folder: Path, tmp: Path, meta: dict) -> None:
    tmp.mkdir(parents=True)
    for name in ARTIFACTS:
        source = folder / name
        if source.is_dir():
            shutil.copytree(source, tmp / name)
        elif source.exists():
            shutil.copy2(source, tmp / name)
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")


def _meta(study: Any, analysis: Any, key: str) -> dict:
    params = analysis_params(analysis, study)
    meta = {"name": analysis.name, "kind": analysis.kind, "title": _title(analysis), "model": analysis.model,
            "brain": analysis.brain, "stimuli": analysis.stimuli, "candidates": list(analysis.candidates or []),
            "params": params, "x_dim": "model" if analysis.kind in MODEL_RDM_KINDS else "layer", "key": key}
    planted = planted_layer(study.data.get(analysis.brain)) if analysis.brain else None
    if planted is not None:
        meta["planted_layer"] = planted
    return meta


def planted_layer(spec: Any) -> str | None:
    """The layer a ``synthetic_brain`` data source plants (its argument, else the simulator's default); else None."""
    if spec is None or getattr(spec, "loader", None) != "synthetic_brain":
        return None
    import inspect

    from ..datasets.synthetic import make_synthetic_study

    default = inspect.signature(make_synthetic_study).parameters["planted_layer"].default
    return str((spec.args or {}).get("planted_layer", default))


def _title(analysis: Any) -> str:
    """E.g. ``"rsa-committed: commit_layer of reference on synthetic vs brain"``."""
    parts = [f"{analysis.name}: {analysis.kind}"]
    if analysis.model:
        parts.append(f"of {analysis.model} on {analysis.stimuli}")
    if analysis.candidates:
        parts.append(("and " if analysis.model else "of ") + ", ".join(analysis.candidates))
    if analysis.brain:
        parts.append(f"vs {analysis.brain}")
    return " ".join(parts)


def _versions() -> dict[str, str]:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(seconds))
