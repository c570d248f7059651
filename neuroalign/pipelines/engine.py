"""Running a study: config → task graph → Dask → results store → results folder → report.

:func:`run_study` plans the study (:mod:`.plan`), looks up which tasks the
results store already holds, runs only the others on the chosen scheduler
(:mod:`.schedulers`), then writes the results folder (:mod:`.results_folder`)
and the report.  Killing the driver at any moment loses only the tasks that
were running: a rerun finds every finished task in the store and computes the
rest; changing one parameter changes the keys of the tasks downstream of it
and of no other.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..score import Score
from .plan import Plan, Task, plan_study
from .store import ResultsStore

__all__ = ["StudyRun", "run_study", "describe_plan"]

log = logging.getLogger(__name__)


@dataclass
class StudyRun:
    """What a run of a study did and where its results are."""

    out: Path
    study: Any
    plan: Plan
    computed: list[str]          # keys computed (for a dry run: keys it would compute)
    reused: list[str]
    scores: dict[str, Score] = field(default_factory=dict)
    report: Path | None = None
    dry_run: bool = False


def _load(study: Any, overrides: Sequence[str]) -> tuple[Any, str]:
    from .study_files import load_study

    if isinstance(study, (str, os.PathLike)):
        return load_study(study, overrides), str(study)
    if overrides:
        from ..errors import ConfigError

        raise ConfigError("overrides apply to a study read from a file", source="overrides",
                          fix="pass the config's path, or change the StudyConfig itself")
    return study, f"study {getattr(study, 'name', '')}".strip()


def _model_modules(study: Any) -> list[str]:
    modules = {"neuroalign.pipelines.steps_scores"}
    for spec in study.models.values():
        module = spec.factory.rpartition(":")[0] if ":" in spec.factory else spec.factory
        modules.add(module)
    return sorted(modules)


def run_study(
    study: Any,
    *,
    overrides: Sequence[str] = (),
    scheduler: str = "threads",
    workers: int | None = None,
    out: str | os.PathLike | None = None,
    dry_run: bool = False,
    progress: bool = True,
    report: bool | None = None,
) -> StudyRun:
    """Run a study from its config file (or a validated :class:`~.study_schema.StudyConfig`).

    Parameters
    ----------
    study : path-like or StudyConfig
    overrides : sequence of str
        ``"key.path=value"`` settings applied to the file (as ``--set``).
    scheduler : str
        ``"threads"``, ``"processes"``, ``"synchronous"``, ``"local-cluster"``
        or the address of a running Dask scheduler (``"tcp://HOST:PORT"``).
    workers : int, optional
        Pool size of a local scheduler, or worker processes of the local cluster.
    out : path-like, optional
        Results folder (default: the config's ``outputs.dir``).
    dry_run : bool
        Plan only: report which tasks the store holds and which would run.
    progress : bool
        One progress bar per task kind.
    report : bool, optional
        Write ``report.html`` (default: the config's ``outputs.report``).

    Returns
    -------
    StudyRun
    """
    from .results_folder import write_results
    from .schedulers import check_scheduler, open_runner

    check_scheduler(scheduler, workers)
    study, source = _load(study, overrides)
    out = Path(out if out is not None else study.outputs.dir)
    store_path = Path(study.outputs.store) if study.outputs.store else out / "store"
    plan = plan_study(study, source=source)
    if dry_run:
        store = ResultsStore(store_path) if (store_path / "store.json").exists() else None
        missing = [k for k in plan.tasks if store is None or not store.has(k)]
        return StudyRun(out, study, plan, missing, [k for k in plan.tasks if k not in missing], dry_run=True)
    store = ResultsStore(store_path, create=True)
    missing = {k: t for k, t in plan.tasks.items() if not store.has(k)}
    reused = [k for k in plan.tasks if k not in missing]
    started = time.time()
    if missing:
        with open_runner(scheduler, workers) as runner:
            runner.check(_model_modules(study))
            with _ProgressBars(missing.values(), enabled=progress) as bars:
                runner.run(missing, str(store.path), bars.done)
            description = runner.description
    else:
        description = "nothing to compute"
    log.info("study %s: %d tasks computed, %d reused from %s", study.name, len(missing), len(reused), store.path)
    wants_report = study.outputs.report if report is None else report
    if not missing and _up_to_date(out, study, plan, wants_report):
        log.info("study %s: the results folder %s is up to date", study.name, out)
        scores = {name: Score.load(out / "results" / name / "score.nc") for name in plan.finals}
        return StudyRun(out, study, plan, [], reused, scores, out / "report.html" if wants_report else None)
    info = {"scheduler": description, "started": started, "finished": time.time(), "computed": len(missing),
            "reused": len(reused), "config_file": source}
    scores = write_results(out, study, plan, store, info)
    report_path = None
    if wants_report:
        from .report import write_report

        report_path = write_report(out)
    return StudyRun(out, study, plan, list(missing), reused, scores, report_path)


def _up_to_date(out: Path, study: Any, plan: Plan, wants_report: bool) -> bool:
    """Whether ``out`` already holds exactly these results (same config, same result keys), and its report."""
    import json

    from .study_files import study_hash

    try:
        record = json.loads((out / "provenance.json").read_text())
    except (OSError, ValueError):
        return False
    if record.get("results") != plan.finals or record.get("config_hash") != study_hash(study):
        return False
    files = [out / "results" / name / "score.nc" for name in plan.finals]
    if wants_report:
        files += [out / "report.html", out / "scores.csv", out / "scores.nc"]
    return all(path.exists() for path in files)


class _ProgressBars:
    """One tqdm bar per task kind (data, activations, score, combine)."""

    def __init__(self, tasks: Any, enabled: bool):
        counts: dict[str, int] = {}
        for task in tasks:
            counts[task.kind] = counts.get(task.kind, 0) + 1
        self.bars = {kind: tqdm(total=n, desc=kind, position=i, disable=not enabled, leave=True)
                     for i, (kind, n) in enumerate(counts.items())}

    def done(self, task: Task) -> None:
        self.bars[task.kind].update()

    def __enter__(self) -> "_ProgressBars":
        return self

    def __exit__(self, *exc: Any) -> None:
        for bar in self.bars.values():
            bar.close()


def describe_plan(run: StudyRun) -> str:
    """A table of a (dry) run's tasks: kind, label, key, whether it is stored or to compute, and its inputs."""
    labels = {key: task.label for key, task in run.plan.tasks.items()}
    todo = set(run.computed)
    rows = [("kind", "task", "key", "status", "reads")]
    for key, task in run.plan.tasks.items():
        status = ("to compute" if run.dry_run else "computed") if key in todo else "stored"
        reads = ", ".join(labels.get(k, k[:12]) for k in task.dependencies) or "-"
        rows.append((task.kind, task.label, key[:12], status, reads))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths)) + "  " + row[4] for row in rows]
    verb = "would compute" if run.dry_run else "computed"
    lines.append(f"{len(run.plan.tasks)} tasks: {verb} {len(todo)}, {len(run.reused)} stored")
    return "\n".join(lines)
