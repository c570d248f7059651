"""``neuroalign demo``: the main job on the embedded synthetic study."""

from __future__ import annotations

import argparse

from ..errors import ConfigError


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "demo",
        help="score every layer of the reference network against synthetic brain data",
        description="Build the embedded synthetic study (brain responses planted from one layer of the "
        "reference network), score every layer with RSA and linear CKA (bootstrap CIs, split-half "
        "ceilings), print a table and write scores.csv, summary.json and layer_profile.png.",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of everything random (default 0)")
    parser.add_argument("--out", default="neuroalign-demo", help="output folder (default ./neuroalign-demo)")
    parser.add_argument("--n-bootstrap", type=int, default=200, help="bootstrap resamples (default 200)")
    parser.add_argument("--n-splits", type=int, default=10, help="split-half ceiling splits (default 10)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..pipelines.demo import run_demo

    if args.seed < 0:
        raise ConfigError(f"--seed must be non-negative, got {args.seed}", source="--seed", fix="pass e.g. --seed 0")
    result = run_demo(seed=args.seed, out=args.out, n_bootstrap=args.n_bootstrap, n_splits=args.n_splits,
                      progress=not args.no_progress)
    print(result.table.to_string(index=False, float_format="{:.3f}".format))
    summary = result.summary
    print(f"\nplanted layer: {summary['planted_layer']}; best layer: "
          + ", ".join(f"{metric} → {layer}" for metric, layer in summary["best_layer"].items()))
    print(f"wrote {result.out}/scores.csv, summary.json and layer_profile.png")
    return 0
