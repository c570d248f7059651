"""``neuroalign representations sparsity|codes|abstraction|information|match|stitch``: analyses of activations.

Only the standard library and the argument types are imported here: options are
checked before the analyses (numpy, scikit-learn, scipy) are imported.
"""

from __future__ import annotations

import argparse
import math

from ._args import int_at_least, non_negative_float, non_negative_int, open_unit_interval, positive_int

#: Choices of the command line, equal to the library's (a test checks them against
#: SPARSITY_MEASURES, MI_METHODS, ANCHOR_METHODS and MATCHINGS).
SPARSITY_MEASURES = ("zero_fraction", "hoyer", "gini", "kurtosis")
MI_METHODS = ("binning", "adaptive-binning", "kde", "ksg")
ANCHOR_METHODS = ("random", "farthest")
MATCHINGS = ("one_to_one", "semi")
ABSTRACTION_METRICS = ("ccgp", "parallelism", "shattering")

_ACTIVATIONS = ("activations: the zarr store of 'neuroalign extract' (one group per layer) or a (presentation, "
                "neuroid) array saved with neuroalign.data.save (.nc or .zarr)")


def _inputs(parser: argparse.ArgumentParser, *, layers_help: str, flag: str = "--activations",
            what: str = _ACTIVATIONS) -> None:
    parser.add_argument(flag, required=True, metavar="FILE", help=what)
    parser.add_argument("--layer", nargs="+", metavar="LAYER", help=layers_help)
    parser.add_argument("--average-repetitions", action="store_true",
                        help="average presentations that share a stimulus_id first (coords that vary within a "
                        "stimulus are dropped)")


def _outputs(parser: argparse.ArgumentParser, *, progress: bool = False) -> None:
    parser.add_argument("--out", required=True, metavar="TABLE.csv", help="output CSV table")
    if progress:
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _action(actions: argparse._SubParsersAction, name: str, help: str, description: str, example: str
            ) -> argparse.ArgumentParser:
    return actions.add_parser(name, help=help, description=description, epilog=f"example: {example}")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "representations", help="analyses of activations: sparsity, codes, abstraction, information, matching, "
        "stitching",
        description="Analyses of layer activations saved by 'neuroalign extract' or neuroalign.data.save: "
        "'sparsity', 'codes' (ReLU on/off patterns), 'abstraction' (CCGP, parallelism, shattering), "
        "'information' (I(X;T), I(T;Y)) of one network's layers; 'match' (unit matching) and 'stitch' "
        "(zero-shot stitching of relative representations) between two networks.",
        epilog="example: neuroalign representations sparsity --activations acts.zarr --out sparsity.csv")
    actions = parser.add_subparsers(dest="representations_command", metavar="ACTION", required=True)
    all_layers = "layers to analyse (default: every layer of the file)"

    sparsity = _action(actions, "sparsity", "activation sparsity of each layer (the lazy-neuron analysis)",
                       "Population sparsity of every layer: per stimulus, the fraction of zero units, Hoyer and "
                       "Gini sparsity and the excess kurtosis across units; the table gives each measure's mean "
                       "over stimuli and its standard error (neuroalign.geometry.layer_sparsity).",
                       "neuroalign representations sparsity --activations acts.zarr --layer conv1 fc "
                       "--out sparsity.csv")
    _inputs(sparsity, layers_help=all_layers)
    sparsity.add_argument("--measure", nargs="+", choices=SPARSITY_MEASURES, default=list(SPARSITY_MEASURES),
                          help="measures (default all)")
    sparsity.add_argument("--tol", type=non_negative_float, default=0.0,
                          help="|a| ≤ TOL counts as zero (default 0: exact zeros)")
    sparsity.add_argument("--degenerate", choices=("raise", "nan"), default="raise",
                          help="a stimulus whose measure is undefined (all-zero vector): an error (default), or "
                          "NaN left out of the means")
    _outputs(sparsity)
    sparsity.set_defaults(run=run_sparsity)

    codes = _action(actions, "codes", "binary activation patterns (ReLU on/off) as codes",
                    "Each layer's on/off patterns (activation > threshold) as codes: uniqueness, collision rate, "
                    "share of distinct codes, active fraction and, with --label, the mean normalised Hamming "
                    "distance within and between classes (neuroalign.geometry.layer_code_statistics).",
                    "neuroalign representations codes --activations acts.zarr --label category --out codes.csv")
    _inputs(codes, layers_help=all_layers)
    codes.add_argument("--label", metavar="COORD", help="presentation coordinate of the classes")
    codes.add_argument("--threshold", type=float, default=0.0, help="a unit is on above this (default 0)")
    _outputs(codes)
    codes.set_defaults(run=run_codes)

    abstraction = _action(
        actions, "abstraction", "CCGP, parallelism score, shattering dimensionality of labelled factors",
        "The geometry of abstraction (Bernardi et al. 2020) of binary factors (presentation coordinates): "
        "cross-condition generalisation performance, parallelism score and shattering dimensionality, per layer "
        "(neuroalign.geometry.ccgp, parallelism_score, shattering_dimensionality).",
        "neuroalign representations abstraction --activations acts.zarr --factors animate large "
        "--metric ccgp parallelism --out abstraction.csv")
    _inputs(abstraction, layers_help=all_layers)
    abstraction.add_argument("--factors", nargs="+", required=True, metavar="COORD",
                             help="binary presentation coordinates; their combinations are the conditions")
    abstraction.add_argument("--metric", nargs="+", choices=ABSTRACTION_METRICS, default=["ccgp"],
                             help="default ccgp")
    abstraction.add_argument("--classifier", choices=("svm", "logistic"), default="svm",
                             help="linear classifier of ccgp and shattering (default svm)")
    abstraction.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength (default 1)")
    abstraction.add_argument("--cv", type=int_at_least(2), default=5, help="folds of shattering (default 5)")
    abstraction.add_argument("--max-splits", type=positive_int,
                             help="ccgp: at most this many held-out splits per factor, drawn with --seed")
    abstraction.add_argument("--max-dichotomies", type=positive_int,
                             help="shattering: at most this many dichotomies, drawn with --seed")
    abstraction.add_argument("--seed", type=non_negative_int, default=0, help="default 0")
    _outputs(abstraction, progress=True)
    abstraction.set_defaults(run=run_abstraction)

    information = _action(
        actions, "information", "mutual information I(X;T) and I(T;Y) of each layer",
        "I(X;T) and I(T;Y) of each layer T for labels Y: equal-width or equal-mass binning, the kernel-density "
        "pairwise-distance bound, or k-NN (KSG, needs the stimuli as --inputs) "
        "(neuroalign.geometry.layer_information).",
        "neuroalign representations information --activations acts.zarr --label digit --method "
        "adaptive-binning --bins 20 --units bits --out information.csv")
    _inputs(information, layers_help=all_layers)
    information.add_argument("--label", required=True, metavar="COORD", help="presentation coordinate of Y")
    information.add_argument("--method", choices=MI_METHODS, default="binning", help="default binning")
    information.add_argument("--units", choices=("nats", "bits"), default="nats", help="default nats")
    information.add_argument("--inputs", metavar="FILE",
                             help="the stimuli X, a (presentation, ...) array saved with neuroalign.data.save "
                             "(needed by ksg)")
    information.add_argument("--bins", type=int_at_least(2), help="binning methods: bins per unit (default 30)")
    information.add_argument("--noise-variance", type=float, help="kde: noise variance (default 0.1)")
    information.add_argument("--k", type=positive_int, help="ksg: neighbours (default 3)")
    information.add_argument("--seed", type=non_negative_int, help="ksg: seed of the jitter (default 0)")
    _outputs(information, progress=True)
    information.set_defaults(run=run_information)

    match = _action(
        actions, "match", "match the units of two networks' layers (convergent learning)",
        "Unit correlations between a layer of each network over the same stimuli, the one-to-one (or semi-) "
        "matching of the units, and the mean matched correlation against a baseline of the same matching with "
        "the reference's stimuli shuffled (neuroalign.compare.matching.matching_profile). Writes the profile "
        "(--out) and the matched pairs (--pairs).",
        "neuroalign representations match --activations net1.zarr --reference net2.zarr --layer fc "
        "--out profile.csv --pairs pairs.csv")
    _inputs(match, layers_help="layers of --activations (default all; the reference needs the same names)")
    match.add_argument("--reference", required=True, metavar="FILE", help="the other network's activations")
    match.add_argument("--reference-layer", nargs="+", metavar="LAYER",
                       help="the layers of --reference matched to each --layer, in order (default the same names)")
    match.add_argument("--matching", choices=MATCHINGS, default="one_to_one", help="default one_to_one")
    match.add_argument("--absolute", action="store_true", help="match on |r|")
    match.add_argument("--permutations", type=positive_int, default=100,
                       help="stimulus shuffles of the baseline (default 100)")
    match.add_argument("--join", choices=("exact", "inner"), default="exact",
                       help="exact: both files hold the same stimuli (default); inner: keep the shared ones")
    match.add_argument("--drop-constant", action="store_true",
                       help="leave out units that do not vary (dead units) instead of stopping with an error")
    match.add_argument("--seed", type=non_negative_int, default=0, help="seeds the shuffles (default 0)")
    _outputs(match, progress=True)
    match.add_argument("--pairs", metavar="PAIRS.csv",
                       help="the matched pairs (default: OUT with '-pairs' before the suffix)")
    match.set_defaults(run=run_match)

    stitch = _action(
        actions, "stitch", "zero-shot stitching of relative representations between two networks",
        "A readout of --label trained on the relative representation (cosine similarities to anchor stimuli) of "
        "one network's layer, applied with no training to the other network's layer; the absolute activations "
        "as the baseline (neuroalign.compare.matching.zero_shot_stitching).",
        "neuroalign representations stitch --activations net1.zarr --reference net2.zarr --layer fc --label "
        "digit --anchors 300 --out stitching.csv")
    stitch.add_argument("--activations", required=True, metavar="FILE",
                        help="the network the readout is trained on (source)")
    stitch.add_argument("--layer", metavar="LAYER", help="its layer (default: its only layer)")
    stitch.add_argument("--reference", required=True, metavar="FILE", help="the network it is applied to (target)")
    stitch.add_argument("--reference-layer", metavar="LAYER", help="its layer (default: --layer, or its only one)")
    stitch.add_argument("--average-repetitions", action="store_true",
                        help="average presentations that share a stimulus_id first")
    stitch.add_argument("--label", required=True, metavar="COORD", help="presentation coordinate of the classes "
                        "(read from --activations)")
    stitch.add_argument("--anchors", type=positive_int, default=300, help="anchor stimuli (default 300)")
    stitch.add_argument("--anchor-method", choices=ANCHOR_METHODS, default="random", help="default random")
    stitch.add_argument("--test-size", type=open_unit_interval, default=0.25,
                        help="share of stimuli held out (default 0.25)")
    stitch.add_argument("--center", action="store_true", help="centre on the anchors' mean first")
    stitch.add_argument("--C", type=float, default=1.0, help="inverse regularisation of the readout (default 1)")
    stitch.add_argument("--no-baseline", action="store_true", help="skip the absolute-activation baseline")
    stitch.add_argument("--seed", type=non_negative_int, default=0, help="default 0")
    _outputs(stitch)
    stitch.set_defaults(run=run_stitch)


# ----------------------------------------------------------------------------------------------- helpers

def _positive(value: float, flag: str) -> None:
    from ..errors import ConfigError

    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{flag} must be a finite number > 0, got {value}", source=flag, fix=f"pass e.g. {flag} 1")


def _print_table(frame) -> None:
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


def _finish(frame, out) -> int:
    from ._representation_inputs import write_table

    _print_table(frame)
    print(f"wrote {write_table(frame, out)}")
    return 0


# ----------------------------------------------------------------------------------------------- one network

def run_sparsity(args: argparse.Namespace) -> int:
    from ._representation_inputs import check_out, read_layers

    check_out(args.out)
    from ..geometry.sparsity import layer_sparsity

    layers = read_layers(args.activations, args.layer, average=args.average_repetitions)
    score = layer_sparsity(layers, measures=args.measure, tol=args.tol, degenerate=args.degenerate)
    print(f"{len(layers)} layer(s), {score.params['n_stimuli']} stimuli")
    return _finish(score.to_dataframe(), args.out)


def run_codes(args: argparse.Namespace) -> int:
    from ._representation_inputs import check_out, read_layers, require_coords

    check_out(args.out)
    from ..geometry.activation_codes import layer_code_statistics

    layers = read_layers(args.activations, args.layer, average=args.average_repetitions)
    if args.label:
        require_coords(layers, [args.label], path=args.activations, flag="--label")
    score = layer_code_statistics(layers, threshold=args.threshold, label=args.label)
    return _finish(score.to_dataframe(), args.out)


def run_abstraction(args: argparse.Namespace) -> int:
    import pandas as pd
    from tqdm.auto import tqdm

    from ._representation_inputs import check_out, read_layers, require_coords, score_table

    check_out(args.out)
    _positive(args.C, "--C")
    from ..geometry.abstraction import ccgp, parallelism_score, shattering_dimensionality

    layers = read_layers(args.activations, args.layer, average=args.average_repetitions)
    require_coords(layers, args.factors, path=args.activations, flag="--factors")
    metrics = dict.fromkeys(args.metric)  # each once, in the order given
    compute = {
        "ccgp": lambda x: ccgp(x, args.factors, max_splits=args.max_splits, classifier=args.classifier, C=args.C,
                               random_state=args.seed),
        "parallelism": lambda x: parallelism_score(x, args.factors),
        "shattering": lambda x: shattering_dimensionality(x, args.factors, cv=args.cv,
                                                          max_dichotomies=args.max_dichotomies,
                                                          classifier=args.classifier, C=args.C,
                                                          random_state=args.seed),
    }
    frames = [score_table(compute[metric](array), layer=layer)
              for layer, array in tqdm(layers.items(), desc="layers", disable=args.no_progress)
              for metric in metrics]
    return _finish(pd.concat(frames, ignore_index=True), args.out)


def run_information(args: argparse.Namespace) -> int:
    import pandas as pd
    from tqdm.auto import tqdm

    from ..errors import ConfigError
    from ._representation_inputs import check_out, read_layers, require_coords

    check_out(args.out)
    given = {"bins": (args.bins, "--bins"), "noise_variance": (args.noise_variance, "--noise-variance"),
             "k": (args.k, "--k"), "random_state": (args.seed, "--seed")}
    from ..geometry.information.layers import MI_METHODS as accepted
    from ..geometry.information.layers import layer_information

    options = {}
    for option, (value, flag) in given.items():
        if value is None:
            continue
        if option not in accepted[args.method]:
            takes = [f for o, (_, f) in given.items() if o in accepted[args.method]]
            raise ConfigError(f"does not apply to --method {args.method}", source=flag,
                              fix=f"leave it out (--method {args.method} takes {', '.join(takes) or 'no option'})")
        options[option] = value
    if args.noise_variance is not None:
        _positive(args.noise_variance, "--noise-variance")
    if args.method == "ksg" and not args.inputs:
        raise ConfigError("--method ksg estimates I(X;T) from the stimuli, and no --inputs were given",
                          source="--inputs", fix="pass the stimuli as --inputs FILE, or another --method")
    layers = read_layers(args.activations, args.layer, average=args.average_repetitions)
    require_coords(layers, [args.label], path=args.activations, flag="--label")
    inputs = None
    if args.inputs:
        from ._representation_inputs import read_inputs

        inputs = read_inputs(args.inputs)
    rows = []
    for layer, array in tqdm(layers.items(), desc="layers", disable=args.no_progress):
        info = layer_information(array, args.label, inputs=inputs, method=args.method, units=args.units, **options)
        for quantity, value in zip(info["quantity"].values, info.values):
            rows.append({"layer": layer, "quantity": str(quantity), "value": float(value), "units": args.units,
                         "method": args.method})
    return _finish(pd.DataFrame(rows), args.out)


# ----------------------------------------------------------------------------------------------- two networks

def run_match(args: argparse.Namespace) -> int:
    from ._representation_inputs import check_out, pairs_path, read_pairs

    check_out(args.out)
    pairs_file = check_out(args.pairs or str(pairs_path(args.out)), "--pairs")
    import pandas as pd

    from ..compare.matching.correlation import unit_correlation
    from ..compare.matching.neuron_matching import MATCHINGS as matchings
    from ..compare.matching.neuron_matching import matching_profile

    from ..errors import DataError

    a, b = read_pairs(args)
    constant = "drop" if args.drop_constant else "raise"
    try:
        score = matching_profile(a, b, matching=args.matching, absolute=args.absolute,
                                 n_permutations=args.permutations, random_state=args.seed, join=args.join,
                                 constant=constant, progress=not args.no_progress)
    except DataError as error:
        if "constant='drop'" not in (error.fix or ""):
            raise
        raise DataError(error.problem, source=error.source, fix="pass --drop-constant to leave those units out "
                        "(the pairs then hold the units that vary)") from error
    profile = score.to_dataframe().assign(baseline_mean=score.raw["baseline_mean"].values,
                                          p_value=score.raw["p_value"].values)
    pairs = []
    for name in a:
        corr = unit_correlation(a[name], b[name], join=args.join, constant=constant)
        matched = matchings[args.matching](corr, absolute=args.absolute)
        pairs.append(pd.DataFrame({"layer": name, "neuroid_id_a": matched["neuroid_id_a"].values,
                                   "neuroid_id_b": matched["neuroid_id_b"].values, "correlation": matched.values}))
    from ._representation_inputs import write_table

    write_table(pd.concat(pairs, ignore_index=True), pairs_file)
    print(f"{args.matching} matching, baseline of {args.permutations} stimulus shuffles of --reference")
    _finish(profile, args.out)
    print(f"wrote {pairs_file}")
    return 0


def run_stitch(args: argparse.Namespace) -> int:
    import pandas as pd

    from ._representation_inputs import check_out, read_one_layer, require_coords, score_table

    check_out(args.out)
    _positive(args.C, "--C")
    from ..compare.matching.relative_stitching import zero_shot_stitching
    from ..data.align import align
    from ..errors import ConfigError
    from ._representation_inputs import check_same_stimuli

    source_layer, source = read_one_layer(args.activations, args.layer, flag="--activations", layer_flag="--layer",
                                          average=args.average_repetitions)
    target_layer, target = read_one_layer(args.reference, args.reference_layer or args.layer, flag="--reference",
                                          layer_flag="--reference-layer" if args.reference_layer else "--layer",
                                          average=args.average_repetitions)
    require_coords({source_layer: source}, [args.label], path=args.activations, flag="--label")
    check_same_stimuli(source, target, names=(f"{args.activations}:{source_layer}", f"{args.reference}:{target_layer}"))
    n_train = source.sizes["presentation"] - math.ceil(args.test_size * source.sizes["presentation"])
    if args.anchors > n_train:
        raise ConfigError(f"{args.anchors} anchors asked for, but only {n_train} stimuli are left for training "
                          f"(--test-size {args.test_size:g} of {source.sizes['presentation']})", source="--anchors",
                          fix=f"pass --anchors {n_train} or fewer")
    # both sides carry the source's labels, matched on stimulus_id (the absolute baseline scores the target
    # against the target's own 'label' coordinate)
    source, target = align(source, target, names=("--activations", "--reference"))
    labels = ("presentation", source[args.label].values)
    source, target = source.assign_coords(label=labels), target.assign_coords(label=labels)
    kinds = (True,) if args.no_baseline else (True, False)
    frames = []
    for relative in kinds:
        score = zero_shot_stitching(source, target, anchors=args.anchors, anchor_method=args.anchor_method,
                                    test_size=args.test_size, relative=relative, center=args.center, C=args.C,
                                    random_state=args.seed)
        frames.append(score_table(score, source_layer=source_layer, target_layer=target_layer))
    print(f"readout of {args.label!r} trained on {args.activations}:{source_layer}, applied to "
          f"{args.reference}:{target_layer} ({score.params['n_train']} training, {score.params['n_test']} test "
          f"stimuli, {score.params['n_anchors']} anchors)")
    return _finish(pd.concat(frames, ignore_index=True), args.out)
