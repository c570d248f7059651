"""``neuroalign demo``: the main job on the embedded synthetic study, through the study engine."""

from __future__ import annotations

import argparse

from ..errors import ConfigError
from .run_cmd import add_scheduler_options


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "demo",
        help="score every layer of the reference network against synthetic brain data",
        description="Run the bundled study pipelines/demo.yaml on the study engine: build the embedded synthetic "
        "study (brain responses planted from one layer of the reference network), score every layer with RSA and "
        "linear CKA (bootstrap CIs, split-half ceilings) and commit each metric to one layer; print a table and "
        "write the results folder (scores.csv, scores.nc, report.html, provenance.json, a resumable store), "
        "summary.json and layer_profile.png. 'neuroalign run pipelines/demo.yaml' runs the same study from its "
        "config.",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of everything random (default 0)")
    parser.add_argument("--out", default="neuroalign-demo", help="output folder (default ./neuroalign-demo)")
    parser.add_argument("--n-bootstrap", type=int, default=200, help="bootstrap resamples (default 200)")
    parser.add_argument("--n-splits", type=int, default=10,
                        help="split-half ceiling and layer-commitment splits (default 10)")
    add_scheduler_options(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(run=run)


#: The least value of each integer option.
MINIMUM = {"seed": 0, "n_bootstrap": 2, "n_splits": 1}
DEFAULTS = {"seed": 0, "n_bootstrap": 200, "n_splits": 10}


def _check(args: argparse.Namespace) -> None:
    """Every option before any work starts; errors name the flag."""
    from .._paths import check_writable

    for key, least in MINIMUM.items():
        value = getattr(args, key)
        if value < least:
            flag = "--" + key.replace("_", "-")
            raise ConfigError(f"{key} must be at least {least}, got {value}", source=flag,
                              fix=f"pass e.g. {flag} {DEFAULTS[key]}")
    check_writable(args.out, source="--out", folder=True)


def run(args: argparse.Namespace) -> int:
    from .run_cmd import scheduler_of
    from ..pipelines.schedulers import check_scheduler

    _check(args)
    scheduler = scheduler_of(args)
    check_scheduler(scheduler, args.workers)
    from ..pipelines.demo import run_demo  # imports torch and the scoring code: after the checks

    result = run_demo(seed=args.seed, out=args.out, n_bootstrap=args.n_bootstrap, n_splits=args.n_splits,
                      progress=not args.no_progress, scheduler=scheduler, workers=args.workers)
    table = result.table.drop(columns=["kind"])
    print(table.to_string(index=False, float_format="{:.3f}".format, na_rep=""))
    summary = result.summary
    print(f"\nplanted layer: {summary['planted_layer']}; best layer: "
          + ", ".join(f"{metric} → {layer}" for metric, layer in summary["best_layer"].items()))
    print("layer commitment (best layer chosen on half of the stimuli, scored on the other half): "
          + ", ".join(f"{metric} → {c['layer']} {c['score']:.3f} "
                      f"(best layer on all stimuli: {c['naive_best_score']:.3f})"
                      for metric, c in summary["committed"].items()))
    print(f"wrote {result.out}/scores.csv, report.html, summary.json and layer_profile.png "
          f"({summary['tasks']['computed']} tasks computed, {summary['tasks']['reused']} reused)")
    return 0
