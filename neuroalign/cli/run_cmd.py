"""``neuroalign run``: a study config → a task graph on Dask → results folder and report."""

from __future__ import annotations

import argparse

from ._args import positive_int


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "run",
        help="run a study from its YAML config on Dask (resumable), ending in a report",
        description="Read a study config (YAML), plan its tasks (data sources, activations, one scoring task per "
        "layer and analysis), run the tasks the results store does not hold yet on a Dask scheduler, and write "
        "the results folder: results/<analysis>/score.nc, scores.csv, scores.nc, provenance.json and report.html. "
        "A rerun after a crash or a kill computes only the unfinished tasks; changing a parameter recomputes only "
        "the tasks downstream of it.",
        epilog="examples: neuroalign run pipelines/demo.yaml | neuroalign run demo --workers 2 | "
        "neuroalign run study.yaml --scheduler tcp://10.0.0.5:8786 --set analyses.0.params.n_bootstrap=500 | "
        "neuroalign run study.yaml --dry-run",
    )
    parser.add_argument("study", metavar="STUDY", help="a study config (YAML) or the name of a bundled study "
                        "(see 'neuroalign studies list')")
    add_scheduler_options(parser)
    add_override_option(parser, "override a config value, e.g. --set analyses.0.params.n_bootstrap=500 (repeatable)")
    parser.add_argument("--out", default=None, help="results folder (default: the config's outputs.dir)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the task graph and which tasks would be computed; compute nothing")
    parser.add_argument("--no-report", action="store_true", help="skip report.html")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(run=run)


def add_scheduler_options(parser: argparse.ArgumentParser) -> None:
    """``--scheduler`` and ``--workers``: where a study's tasks run (see :func:`scheduler_of`)."""
    parser.add_argument("--scheduler", default=None,
                        help="threads (default), processes, synchronous, local-cluster, or the address of a running "
                        "Dask scheduler (tcp://HOST:PORT)")
    parser.add_argument("--workers", type=positive_int, default=None,
                        help="worker processes of a local Dask cluster (with --scheduler threads/processes: the "
                        "pool size)")


def add_override_option(parser: argparse.ArgumentParser, help: str) -> None:
    """``--set KEY.PATH=VALUE``, repeatable, collected in ``args.overrides``."""
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE", help=help)


def scheduler_of(args: argparse.Namespace) -> str:
    """``--workers N`` alone means a local cluster of N worker processes; the default is threads."""
    if args.scheduler is None:
        return "local-cluster" if args.workers else "threads"
    return args.scheduler


def run(args: argparse.Namespace) -> int:
    from ..pipelines.engine import describe_plan, run_study
    from ..pipelines.schedulers import check_scheduler
    from ..pipelines.study_files import find_study

    scheduler = scheduler_of(args)
    check_scheduler(scheduler, args.workers)
    path = find_study(args.study)
    result = run_study(path, overrides=args.overrides, scheduler=scheduler, workers=args.workers, out=args.out,
                       dry_run=args.dry_run, progress=not args.no_progress, report=False if args.no_report else None)
    if args.dry_run:
        print(describe_plan(result))
        return 0
    print(f"{len(result.computed)} tasks computed, {len(result.reused)} reused; results in {result.out}")
    for name, score in result.scores.items():
        print(f"\n{name}:")
        print(score.to_dataframe().to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if result.report is not None:
        print(f"\nreport: {result.report}")
    return 0
