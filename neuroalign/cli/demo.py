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
    parser.add_argument("--config", default=None,
                        help="YAML config (e.g. pipelines/demo.yaml); explicit flags override it")
    parser.add_argument("--seed", type=int, default=None, help="seed of everything random (default 0)")
    parser.add_argument("--out", default=None, help="output folder (default ./neuroalign-demo)")
    parser.add_argument("--n-bootstrap", type=int, default=None, help="bootstrap resamples (default 200)")
    parser.add_argument("--n-splits", type=int, default=None,
                        help="split-half ceiling and layer-commitment splits (default 10)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(run=run)


DEFAULTS = {"study": "synthetic", "seed": 0, "out": "neuroalign-demo", "n_bootstrap": 200, "n_splits": 10}
#: The least value of each integer option.
MINIMUM = {"seed": 0, "n_bootstrap": 2, "n_splits": 1}


def _check(config: dict, sources: dict) -> None:
    """Every option, from the config file or a flag, before any work starts; errors name where it came from."""
    from .._paths import check_writable

    if config["study"] != "synthetic":
        raise ConfigError(f"the demo runs the embedded synthetic study, not {config['study']!r}",
                          source=sources["study"], fix="set 'study: synthetic'")
    for key, least in MINIMUM.items():
        if config[key] < least:
            flag = sources[key].startswith("--")
            raise ConfigError(f"{key} must be at least {least}, got {config[key]}", source=sources[key],
                              fix=f"pass e.g. {sources[key]} {DEFAULTS[key]}" if flag
                              else f"set e.g. '{key}: {DEFAULTS[key]}'")
    check_writable(config["out"], source=sources["out"], folder=True)


def run(args: argparse.Namespace) -> int:
    from ..pipelines.config import read_config

    config = read_config(args.config, DEFAULTS) if args.config else dict(DEFAULTS)
    sources = {key: f"{args.config} ({key})" if args.config else key for key in config}  # for errors
    for key in ("seed", "out", "n_bootstrap", "n_splits"):
        if getattr(args, key) is not None:
            config[key] = getattr(args, key)
            sources[key] = "--" + key.replace("_", "-")
    _check(config, sources)
    from ..pipelines.demo import run_demo  # imports torch and the scoring code: after the checks

    result = run_demo(seed=config["seed"], out=config["out"], n_bootstrap=config["n_bootstrap"],
                      n_splits=config["n_splits"], progress=not args.no_progress)
    print(result.table.to_string(index=False, float_format="{:.3f}".format))
    summary = result.summary
    print(f"\nplanted layer: {summary['planted_layer']}; best layer: "
          + ", ".join(f"{metric} → {layer}" for metric, layer in summary["best_layer"].items()))
    print("layer commitment (best layer chosen on half of the stimuli, scored on the other half): "
          + ", ".join(f"{metric} → {c['layer']} {c['score']:.3f} "
                      f"(best layer on all stimuli: {c['naive_best_score']:.3f})"
                      for metric, c in summary["committed"].items()))
    print(f"wrote {result.out}/scores.csv, summary.json and layer_profile.png")
    return 0
