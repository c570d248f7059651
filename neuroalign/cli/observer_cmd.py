"""``neuroalign metamer-observer``: a noisy-feature model observer takes a 2AFC or oddity test."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import FileFormatError
from ._args import non_negative_float, non_negative_int, positive_int
from .extract_cmd import _model_kwargs, _pooling, _stimuli


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "metamer-observer",
        help="simulate (and fit to human data) a noisy-feature observer in 2AFC or oddity trials",
        description="Extract one layer's features for the stimuli, let a model observer answer every trial of "
        "the trial table from noisy features (r = features + sigma * noise), and write each trial's proportion "
        "correct and one simulated answer. With --fit-to, fit the noise (sigma, or sigma(eccentricity)) to "
        "human proportion correct by maximum likelihood. See docs/metamers-observers.md.",
        epilog="example: neuroalign metamer-observer --model neuroalign.models:ReferenceNet --layer block2 "
        "--stimuli images/ --trials trials.csv --task 2afc --fit-to human.csv --out observer/",
    )
    model = parser.add_argument_group("model and features")
    model.add_argument("--model", required=True,
                       help="'package.module:factory', 'path/to/file.py:factory' or 'hf:<folder>' (as in extract)")
    model.add_argument("--weights", help="state-dict file to load (read with torch.load(weights_only=True))")
    model.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                       help="keyword argument of the factory; VALUE is read as JSON when it parses (repeatable)")
    model.add_argument("--layer", required=True, help="the one layer whose features the observer reads")
    model.add_argument("--stimuli", required=True,
                       help="a folder of images, a CSV table with stimulus_id and path columns, or a .npy array "
                       "(ids are the row numbers)")
    model.add_argument("--pooling", default="flatten", help="flatten, avg, max or a grid such as 2x2 (default flatten)")
    model.add_argument("--batch-size", type=positive_int, default=64, help="stimuli per forward pass (default 64)")
    model.add_argument("--device", default="cpu", help="torch device (default cpu)")
    observer = parser.add_argument_group("observer")
    observer.add_argument("--trials", required=True,
                          help="CSV trial table: target, match, foil (2afc) or odd, standard_1, standard_2 (oddity), "
                          "stimulus ids; optional eccentricity and condition")
    observer.add_argument("--task", choices=("2afc", "oddity"), default="2afc", help="the task (default 2afc)")
    observer.add_argument("--rule", help="decision rule (default: nearest for 2afc, max-summed-distance for oddity)")
    observer.add_argument("--sigma", type=non_negative_float, default=1.0,
                          help="noise sigma when nothing is fitted (default 1.0)")
    observer.add_argument("--sigma-model", choices=("constant", "linear", "loglinear"), default="constant",
                          help="what --fit-to fits: one sigma, sigma0 + slope*ecc, or sigma0*exp(rate*ecc)")
    observer.add_argument("--feature-scale", default="rms",
                          help="units of sigma: rms (features over their RMS spread; default), raw, or a number")
    observer.add_argument("--lapse-rate", type=non_negative_float, default=0.0,
                          help="fraction of trials answered at chance (default 0)")
    observer.add_argument("--n-draws", type=positive_int, default=1000, help="noise draws per trial (default 1000)")
    observer.add_argument("--seed", type=non_negative_int, default=0, help="seed of the noise (default 0)")
    observer.add_argument("--fit-to", metavar="HUMAN_CSV",
                          help="human data: n_correct, n_trials per group (other columns name the group, e.g. "
                          "eccentricity), or a 0/1 correct column with one row per trial")
    run = parser.add_argument_group("run")
    run.add_argument("--out", required=True, help="output folder")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(run=run_observer)


def _read_csv(path: str, source: str, text_columns=()) -> "object":
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise FileFormatError("file not found", source=path, fix=f"check the {source} path")
    try:
        header = pd.read_csv(file, nrows=0).columns
        keep_text = [c for c in header if c in text_columns or str(c).startswith("standard_")]
        return pd.read_csv(file, dtype={c: str for c in keep_text})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"cannot read it as a CSV table ({exc})", source=path,
                              fix="write one header row and one row per trial or group") from None


def run_observer(args: argparse.Namespace) -> int:
    from .._paths import check_writable
    from ..extract.devices import check_device
    from ..extract.models import load_model
    from ..metamers.decision_rules import TASKS
    from ..metamers.observer_models import NoisyFeatureObserver, observer_features, trial_roles

    check_writable(args.out, source="--out", folder=True)
    check_device(args.device, source="--device")
    trials = _read_csv(args.trials, "--trials", ("target", "match", "foil", "odd", "condition"))
    human = _read_csv(args.fit_to, "--fit-to", ("condition",)) if args.fit_to else None
    scale = args.feature_scale
    try:
        scale = float(scale)
    except ValueError:
        pass
    observer = NoisyFeatureObserver(task=args.task, rule=args.rule, sigma=args.sigma, sigma_model=args.sigma_model,
                                    feature_scale=scale, lapse_rate=args.lapse_rate, n_draws=args.n_draws,
                                    random_state=args.seed)
    stimuli = _stimuli(args.stimuli)
    model = load_model(args.model, weights=args.weights, kwargs=_model_kwargs(args.model_arg))
    features = observer_features(model, stimuli, args.layer, batch_size=args.batch_size, device=args.device,
                                 pooling=_pooling(args.pooling), progress=not args.no_progress)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if human is not None:
        observer.fit(features, trials, human)
        observer.predictions_.to_csv(out / "fit_predictions.csv", index=False)
        summary = {"params": observer.params_, "ci": {k: list(v) for k, v in observer.ci_.items()},
                   "ci_level": observer.ci_level, "log_likelihood": observer.log_likelihood_,
                   "feature_scale": observer.feature_scale_, "chance": observer.chance_,
                   "provenance": observer.provenance_}
        (out / "fit.json").write_text(json.dumps(summary, indent=2, default=str))
        shown = ", ".join(f"{k} = {v:.4g} [{observer.ci_[k][0]:.4g}, {observer.ci_[k][1]:.4g}]"
                          for k, v in observer.params_.items())
        print(f"fitted {shown} (log-likelihood {observer.log_likelihood_:.2f})")
    predictions = observer.predict_proportion_correct(features, trials)
    predictions.to_csv(out / "predictions.csv", index=False)
    observer.respond(features, trials).to_csv(out / "responses.csv", index=False)
    chance = TASKS[args.task].chance(len(trial_roles(args.task, trials.columns)))
    print(f"mean proportion correct {predictions['p_correct'].mean():.3f} over {len(predictions)} trials "
          f"(chance {chance:.3f})")
    print(f"wrote {out}")
    return 0
