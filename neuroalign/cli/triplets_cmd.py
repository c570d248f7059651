"""``neuroalign triplets score|probe|design``: odd-one-out studies from the command line."""

from __future__ import annotations

import argparse

from ._args import non_negative_int, positive_int


def _judgement_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--judgements", required=True,
                        help="triplet judgements: a table (CSV/TSV/MAT/NWB with a choice column) or a THINGS-style "
                        "N x 3 file of object indices (with --odd-one)")
    parser.add_argument("--odd-one", choices=("last", "first"), default=None,
                        help="files without a choice column: the odd one's column (THINGS-data: last)")
    parser.add_argument("--stimulus-ids", default=None,
                        help="the index-to-id map of an index file: a text file of ids (one per line) or a "
                        ".npy/.mat permutation (e.g. THINGS' sortind)")
    parser.add_argument("--object-base", type=int, choices=(0, 1), default=None,
                        help="first object index of an index file (default: guessed, or an error when ambiguous)")


def _features_option(parser: argparse.ArgumentParser, flag: str = "--features", what: str = "the representation"
                     ) -> None:
    parser.add_argument(flag, required=True,
                        help=f"{what}: a (presentation, neuroid) array saved with neuroalign.data.save (.nc or "
                        ".zarr), e.g. from 'neuroalign extract'; repetitions are averaged by stimulus_id")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "triplets", help="odd-one-out studies: score a representation, fit an alignment probe, design triplets",
        description="Triplet (odd-one-out) studies. 'score' predicts human odd-one-out choices from a "
        "representation's pair similarities (expected credit for ties, tie rate reported, CIs over objects or "
        "subjects, noise ceilings); 'probe' fits a human-alignment probe (linear or gLocal) with λ chosen by "
        "nested object-fold cross-validation and writes its transform (.npz); 'design' selects triplets whose "
        "low- and high-level similarity differences are decorrelated.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    score = actions.add_parser("score", help="odd-one-out accuracy of a representation on human judgements",
                               description="Accuracy of the odd one predicted from pair similarities against "
                               "the human choices, with a CI from resampling objects or subjects (never triplets), "
                               "the fitted softmax temperature, the tie rate, and the noise ceilings the "
                               "judgements allow (repeated triplets; leave one subject out).")
    _features_option(score)
    _judgement_options(score)
    score.add_argument("--similarity", choices=("dot", "cosine", "euclidean"), default="dot", help="default dot")
    score.add_argument("--resample", choices=("objects", "subjects", "none"), default="objects",
                       help="what the bootstrap resamples (default objects)")
    score.add_argument("--n-bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
    score.add_argument("--seed", type=non_negative_int, default=0)
    score.add_argument("--out", default=None, help="write the Score here (.nc)")
    score.set_defaults(run=run_score)

    probe = actions.add_parser("probe", help="fit a human-alignment probe and write its transform (.npz)",
                               description="Cross-validate a probe over object folds (a triplet is used only when "
                               "its three objects are in one fold; λ chosen by inner folds), print the held-out "
                               "accuracy against zero-shot, then fit on every triplet and write the transform "
                               "{weights, bias, mean, std}, applied as ((x - mean) / std) @ weights + bias.")
    _features_option(probe)
    _judgement_options(probe)
    probe.add_argument("--probe", choices=("linear", "glocal"), default="linear", help="default linear")
    probe.add_argument("--optimizer", choices=("adam", "lbfgs"), default="adam", help="default adam")
    probe.add_argument("--folds", type=positive_int, default=3, help="outer and inner object folds (default 3)")
    probe.add_argument("--lambdas", type=float, nargs="+", default=None, metavar="λ",
                       help="the λ grid of the nested selection (default 1, 0.1, …, 1e-5)")
    probe.add_argument("--validation-fraction", type=float, default=0.2,
                       help="share of each training fold's objects held out for early stopping (a triplet counts "
                       "only when its three objects are held out; default 0.2; 0 trains a fixed number of epochs)")
    probe.add_argument("--seed", type=non_negative_int, default=0)
    probe.add_argument("--out", required=True, help="the transform file (.npz)")
    probe.set_defaults(run=run_probe)

    design = actions.add_parser("design", help="triplets with decorrelated low- and high-level similarity",
                                description="Select match-to-sample or odd-one-out triplets whose similarity "
                                "differences in a low-level and a high-level feature space are decorrelated and "
                                "cover a grid of difference bins, each image used once; write the design table "
                                "and a diagnostic figure.")
    _features_option(design, "--low", "the low-level feature space")
    _features_option(design, "--high", "the high-level feature space (same stimuli)")
    design.add_argument("--task", choices=("match-to-sample", "odd-one-out"), default="match-to-sample")
    design.add_argument("--bins", type=positive_int, default=10, help="bins per axis (default 10)")
    design.add_argument("--step", type=float, default=0.5,
                        help="bin width in standard deviations of each space's similarities (default 0.5)")
    design.add_argument("--pca", type=positive_int, default=None, help="PCA components before the similarities")
    design.add_argument("--seed", type=non_negative_int, default=0)
    design.add_argument("--out", required=True, help="the design table (.csv)")
    design.add_argument("--figure", default=None, help="the diagnostic figure (.png)")
    design.set_defaults(run=run_design)


def _load_features(path: str, flag: str):
    from ..data.align import average_repetitions
    from ..data.io import load

    return average_repetitions(load(path), name=flag).transpose("presentation", "neuroid")


def _load_judgements(args: argparse.Namespace):
    from ..loaders import load_triplets

    return load_triplets(args.judgements, odd_one=args.odd_one, stimulus_ids=args.stimulus_ids,
                         object_base=args.object_base)


def run_score(args: argparse.Namespace) -> int:
    from ..errors import ConfigError, ScoreError
    from ..triplets import leave_one_subject_out_ceiling, normalised_score, repeated_triplet_ceiling
    from ..triplets.scoring import score_triplets

    if args.n_bootstrap < 2:
        raise ConfigError(f"--n-bootstrap must be at least 2, got {args.n_bootstrap}", source="--n-bootstrap",
                          fix="pass e.g. --n-bootstrap 1000")
    representation = _load_features(args.features, "--features")
    judgements = _load_judgements(args)
    score = score_triplets(representation, judgements, similarity=args.similarity,
                           resample=None if args.resample == "none" else args.resample,
                           n_bootstrap=args.n_bootstrap, seed=args.seed)
    low, high = (float(v) for v in score.ci) if score.ci is not None else (float("nan"),) * 2
    print(f"odd-one-out accuracy {float(score):.4f} [{low:.4f}, {high:.4f}] ({args.resample} bootstrap), "
          f"tie rate {float(score.raw['tie_rate']):.4f}, {judgements.sizes['trial']} judgements")
    for name, ceiling in (("repeated triplets", repeated_triplet_ceiling),
                          ("leave one subject out", leave_one_subject_out_ceiling)):
        try:
            value = float(ceiling(judgements))
        except Exception as error:  # noqa: BLE001 - a ceiling the judgements do not allow is reported, not fatal
            print(f"ceiling ({name}): not available ({getattr(error, 'problem', error)})")
            continue
        try:
            normalised = f"normalised score {float(normalised_score(float(score), value)):.4f}"
        except ScoreError as error:  # a ceiling at or below chance: no normalised score
            normalised = f"no normalised score ({error.problem})"
        print(f"ceiling ({name}): {value:.4f}; {normalised}")
    if args.out:
        print(f"wrote {score.save(args.out)}")
    return 0


def run_probe(args: argparse.Namespace) -> int:
    import numpy as np

    from ..triplets import GLocalProbe, LinearProbe, cross_validate_probe, select_lambda, triplet_positions
    from ..triplets.scoring import score_indices

    representation = _load_features(args.features, "--features")
    judgements = _load_judgements(args)
    triplets, choices = triplet_positions(judgements, representation["stimulus_id"].values)
    features = np.asarray(representation.values, dtype=float)
    make = GLocalProbe if args.probe == "glocal" else LinearProbe
    settings = {"optimizer": args.optimizer, "validation_fraction": args.validation_fraction,
                "random_state": args.seed}
    estimator = make(**settings)
    grid = {} if args.lambdas is None else {"lams": args.lambdas}
    held_out = cross_validate_probe(features, triplets, choices, estimator=estimator, n_folds=args.folds,
                                    inner_folds=args.folds, random_state=args.seed, progress=True, **grid)
    zero_shot = score_indices(features, triplets, choices, resample=None)
    print(f"held-out-object accuracy of the {args.probe} probe: {float(held_out):.4f} "
          f"(zero-shot, all triplets: {float(zero_shot):.4f})")
    lam, _ = select_lambda(estimator, features, triplets, choices, n_folds=args.folds, random_state=args.seed,
                           **grid)
    final = make(lam=lam, **settings).fit(features, triplets, choices)
    final.save_npz(args.out)
    print(f"wrote {args.out} (λ = {lam:g}, chosen by object-fold CV on all triplets; fitted on all "
          f"{len(triplets)} triplets)")
    return 0


def run_design(args: argparse.Namespace) -> int:
    from ..data.io import write_atomically
    from ..triplets import decorrelated_design, design_diagnostics

    low = _load_features(args.low, "--low")
    high = _load_features(args.high, "--high")
    design = decorrelated_design(low, high, task=args.task, bins=args.bins, step=args.step, pca=args.pca,
                                 random_state=args.seed, progress=True)
    write_atomically(args.out, lambda tmp: design.to_csv(tmp, index=False))
    d = design_diagnostics(design)
    print(f"{d['n_triplets']} triplets, r(Δlow, Δhigh) = {d['r']:+.4f} (pool {d['pool_r']:+.4f}), "
          f"{d['bins_filled']}/{d['bins_total']} bins filled, {d['images_used']} images used; wrote {args.out}")
    if args.figure:
        from ..plot import triplet_design_figure

        figure = triplet_design_figure(design)
        write_atomically(args.figure, lambda tmp: figure.savefig(tmp, format="png", dpi=110))
        print(f"wrote {args.figure}")
    return 0
