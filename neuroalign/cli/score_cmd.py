"""``neuroalign score`` (a model on a named benchmark) and ``neuroalign benchmarks list``."""

from __future__ import annotations

import argparse
from pathlib import Path

from .run_cmd import add_override_option, add_scheduler_options


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "score",
        help="score a model on a named benchmark (e.g. kriegeskorte2008-hit-rsa)",
        description="Build a study from a named model (or a factory and its layers) and a named benchmark (brain "
        "data, stimuli, metric, ceiling; see 'neuroalign benchmarks list'), run it with the study engine "
        "(resumable, on Dask) and print the score of every layer with its ceiling and confidence interval. "
        "--brain replaces the benchmark's data with an array of your own, on the benchmark's stimuli.",
        epilog="examples: neuroalign score --model reference-net --benchmark kriegeskorte2008-hit-rsa | "
        "neuroalign score --model ./mynet.py:Net --layers conv1 conv2 fc --benchmark synthetic-planted-rsa | "
        "neuroalign score --model reference-net --benchmark synthetic-planted-cka --brain my_patterns.nc",
    )
    parser.add_argument("--model", required=True, metavar="NAME_OR_SPEC",
                        help="a registered model (reference-net) or a factory 'package.module:factory' / "
                        "'path/to/file.py:factory' returning an nn.Module (then --layers is needed)")
    parser.add_argument("--benchmark", required=True, metavar="NAME",
                        help="a benchmark name (see 'neuroalign benchmarks list')")
    parser.add_argument("--brain", metavar="FILE",
                        help="your own brain data, saved with neuroalign.data.save (.nc or .zarr): patterns "
                        "(presentation, neuroid) for RSA/CKA benchmarks, RDMs (subject, pair) for "
                        "kriegeskorte2008-hit-rsa; stimulus ids as the benchmark's stimuli")
    parser.add_argument("--layers", nargs="+", metavar="LAYER",
                        help="layer names or patterns ('block*'), space- or comma-separated (default: the "
                        "registered model's layers)")
    parser.add_argument("--out", help="results folder (default neuroalign-results/<benchmark>/<model>)")
    add_scheduler_options(parser)
    add_override_option(parser, "override a value of the built study, e.g. --set analyses.0.params.n_bootstrap=1000 "
                        "(repeatable; see the study in <out>/study.yaml)")
    parser.add_argument("--no-report", action="store_true", help="skip report.html")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(run=run_score)

    benchmarks = commands.add_parser(
        "benchmarks", help="list the named benchmarks",
        description="Benchmarks are named <data>-<region or task>-<metric>: brain data, the stimuli it was measured "
        "on, a metric and its ceiling. Score a model on one with 'neuroalign score'.",
    )
    actions = benchmarks.add_subparsers(dest="benchmarks_command", metavar="ACTION", required=True)
    actions.add_parser("list", help="list the benchmarks (name, data, metric, ceiling, citation)",
                       description="List the named benchmarks and the registered models.").set_defaults(
        run=run_list)


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def run_list(args: argparse.Namespace) -> int:
    from ..pipelines.registry import MODELS, list_benchmarks

    table = list_benchmarks()
    print(_table([list(table.columns)] + [[str(v) for v in row] for row in table.itertuples(index=False)]))
    print("\nmodels: " + ", ".join(f"{name} ({entry.factory}, layers {', '.join(entry.layers)})"
                                   for name, entry in MODELS.items()))
    return 0


def _layers(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def run_score(args: argparse.Namespace) -> int:
    from ..pipelines.engine import run_study
    from ..pipelines.registry import benchmark, benchmark_study
    from ..pipelines.schedulers import check_scheduler
    from ..pipelines.study_files import study_from_dict
    from .run_cmd import scheduler_of

    scheduler = scheduler_of(args)
    check_scheduler(scheduler, args.workers)
    bench = benchmark(args.benchmark, source="--benchmark")
    if args.brain is not None and not Path(args.brain).exists():
        from ..errors import FileFormatError

        raise FileFormatError("file not found", source=f"--brain {args.brain}",
                              fix="pass an array saved with neuroalign.data.save (.nc or .zarr)")
    config = benchmark_study(args.model, bench.name, brain_file=args.brain, out=args.out, layers=_layers(args.layers))
    study = study_from_dict(config, source="neuroalign score", base_dir=Path.cwd(), overrides=args.overrides)
    result = run_study(study, scheduler=scheduler, workers=args.workers, progress=not args.no_progress,
                       report=False if args.no_report else None)
    print(f"{next(iter(study.models))} on {bench.name}: {bench.metric}; ceiling: {bench.ceiling}")
    for name, score in result.scores.items():
        frame = score.to_dataframe().drop(columns="metric")
        print(f"\n{name} ({score.metric}):")
        print(frame.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"\n{len(result.computed)} tasks computed, {len(result.reused)} reused; results in {result.out}")
    if result.report is not None:
        print(f"report: {result.report}")
    return 0
