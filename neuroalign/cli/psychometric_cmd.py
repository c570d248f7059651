"""``neuroalign psychometric``: psychometric fits of the Harrington & Deza data, or of a CSV of counts."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import ConfigError, FileFormatError
from ._args import non_negative_int, open_unit_interval

_TASKS = {"2afc": ["2afc"], "oddity": ["oddity"], "both": ["2afc", "oddity"]}


def _free_or_float(text: str) -> float | str:
    if text == "free":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither 'free' nor a number") from None


def register(commands: argparse._SubParsersAction) -> None:
    from ..metamers.sigmoids import sigmoid_names

    parser = commands.add_parser(
        "psychometric",
        help="fit psychometric functions (Harrington & Deza eccentricity curves, or a CSV of counts)",
        description="Fit psi(x) = guess + (1 - guess - lapse) * S(x) by MAP with psignifit 4's default priors (or by "
        "maximum likelihood), with parametric-bootstrap intervals. --data is either the Harrington & Deza (2022) "
        "subject_data folder (one falling curve of eccentricity per task and condition; 2AFC guess 1/2, oddity 1/3) "
        "or a CSV file with columns x, n_correct (or proportion_correct) and n_trials (one curve). Writes "
        "psychometric_fits.csv and psychometric.png to --out.",
        epilog="example: neuroalign psychometric --data ../shared/data/harrington_deza2022 --task both "
        "--sigmoid logistic --out fits/",
    )
    data = parser.add_argument_group("data")
    data.add_argument("--data", required=True, help="the H&D subject_data folder, or a CSV of counts")
    data.add_argument("--task", choices=tuple(_TASKS), default="both", help="H&D task(s) to fit (default both)")
    data.add_argument("--score", choices=("stimuli", "recorded"), default="stimuli",
                      help="H&D correctness: rescored from the stimulus types (default) or as recorded (the paper)")
    data.add_argument("--session-kinds", default="main,repeat",
                      help="H&D files to pool: comma-separated main, partial, repeat (default main,repeat: the "
                      "paper's pooling, with WL_03's second texform 2AFC file)")
    data.add_argument("--experiment", default="2AFC",
                      help="CSV only: yes/no, equal asymptote, 2AFC, 3AFC, ... (default 2AFC)")
    data.add_argument("--direction", choices=("increasing", "decreasing"), default="increasing",
                      help="CSV only: whether performance rises or falls with x (default increasing)")
    model = parser.add_argument_group("model")
    model.add_argument("--sigmoid", choices=sigmoid_names(), default="normal", help="sigmoid (default normal)")
    model.add_argument("--method", choices=("map", "ml"), default="map",
                       help="MAP with psignifit's default priors, or maximum likelihood (default map)")
    model.add_argument("--lapse", type=_free_or_float, default="free", help="'free' or a fixed lapse rate")
    model.add_argument("--eta", type=_free_or_float, default=0.0,
                       help="beta-binomial overdispersion: 0 (binomial, default), 'free' or a fixed value")
    model.add_argument("--percent-correct", type=open_unit_interval, action="append", default=[], metavar="P",
                       help="also report the x where psi = P (repeatable)")
    run = parser.add_argument_group("run")
    run.add_argument("--n-bootstrap", type=non_negative_int, default=1000,
                     help="parametric-bootstrap resamples per curve (default 1000; 0 for none)")
    run.add_argument("--ci", type=open_unit_interval, default=0.95, help="interval coverage (default 0.95)")
    run.add_argument("--seed", type=non_negative_int, default=0, help="bootstrap seed (default 0)")
    run.add_argument("--out", required=True, help="output folder")
    run.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(run=run_psychometric)


def run_psychometric(args: argparse.Namespace) -> int:
    from .._paths import check_writable

    out = check_writable(args.out, source="--out", folder=True)
    source = Path(args.data)
    if source.is_dir():
        table, figure = _fit_folder(source, args)
    elif source.is_file():
        if source.suffix.lower() != ".csv":
            raise ConfigError(f"--data {args.data!r} is neither a folder nor a .csv file", source="--data",
                              fix="pass the Harrington & Deza subject_data folder or a CSV with x,n_correct,n_trials")
        table, figure = _fit_csv(source, args)
    else:
        raise FileFormatError("not found", source=str(source),
                              fix="pass the Harrington & Deza subject_data folder or a CSV with x,n_correct,n_trials")
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "psychometric_fits.csv", index=False)
    figure.savefig(out / "psychometric.png", dpi=120)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"wrote {out / 'psychometric_fits.csv'} and {out / 'psychometric.png'}")
    return 0


def _fit_options(args: argparse.Namespace) -> dict[str, Any]:
    return dict(sigmoid=args.sigmoid, method=args.method, lapse=args.lapse, eta=args.eta,
                percent_correct=tuple(args.percent_correct), n_bootstrap=args.n_bootstrap, ci=args.ci)


def _fit_folder(folder: Path, args: argparse.Namespace):
    from ..loaders.psychophysics import SESSION_KINDS, load_metameric_psychophysics
    from ..metamers.eccentricity_curves import fit_eccentricity_curves
    from ..plot.psychometric import psychometric_figure

    kinds = [k.strip() for k in args.session_kinds.split(",") if k.strip()]
    for kind in kinds:
        if kind not in SESSION_KINDS:
            raise ConfigError(f"unknown session kind {kind!r}", source="--session-kinds",
                              fix=f"use a comma-separated list of {', '.join(SESSION_KINDS)}")
    data = load_metameric_psychophysics(folder, session_kinds=kinds, tasks=_TASKS[args.task],
                                        progress=not args.no_progress)
    curves = fit_eccentricity_curves(data, score=args.score, session_kinds=kinds, random_state=args.seed,
                                     progress=not args.no_progress, **_fit_options(args))
    return _curves_table(curves), psychometric_figure(curves)


def _curves_table(curves):
    import pandas as pd

    rows = []
    for task in curves["task"].values:
        for cond in curves["condition"].values:
            cell = curves.sel(task=task, condition=cond)
            row = {"task": str(task), "condition": str(cond), "guess_rate": float(cell["guess_rate"])}
            for name in ("threshold", "width", "lambda", "gamma", "eta"):
                row[name] = float(cell[name])
                row[f"{name}_low"], row[f"{name}_high"] = (float(v) for v in cell[f"{name}_ci"].values)
            for level in curves["pc_level"].values:
                key = f"pc={float(level):g}"
                row[key] = float(cell["pc_threshold"].sel(pc_level=level))
                row[f"{key}_low"], row[f"{key}_high"] = (float(v) for v in
                                                         cell["pc_threshold_ci"].sel(pc_level=level).values)
            row.update(converged=bool(cell["converged"]), extrapolated=bool(cell["extrapolated"]),
                       n_bootstrap_failed=int(cell["n_bootstrap_failed"]),
                       n_bootstrap_at_bound=int(cell["n_bootstrap_at_bound"]),
                       n_trials=int(cell["n_trials"].sum()),
                       n_no_response=int(cell["n_no_response"].sum()) if "n_no_response" in cell else 0)
            rows.append(row)
    return pd.DataFrame(rows)


def _fit_csv(path: Path, args: argparse.Namespace):
    import pandas as pd
    from matplotlib.figure import Figure

    from ..loaders.text_tables import read_text_table
    from ..metamers.psychometric import fit_psychometric
    from ..metamers.psychometric_data import check_psychometric_data, counts_from_proportions
    from ..plot.psychometric import plot_psychometric_fit

    frame = read_text_table(path, sep=",", what="psychometric table")
    columns = set(frame.columns)
    if not {"x", "n_trials"} <= columns or not columns & {"n_correct", "proportion_correct"}:
        raise FileFormatError(f"expected columns x, n_correct (or proportion_correct) and n_trials; the header has "
                              f"{list(frame.columns)}", source=str(path),
                              fix="name the columns x,n_correct,n_trials")
    try:
        n_trials = frame["n_trials"].to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise FileFormatError(f"column n_trials is not numeric ({exc})", source=str(path),
                              fix="give every row a whole number of trials") from None
    if "n_correct" in columns:
        n_correct = frame["n_correct"].to_numpy()
    else:
        n_correct = counts_from_proportions(frame["proportion_correct"].to_numpy(dtype=float), n_trials,
                                            source=f"{path}: proportion_correct")
    x, n_correct, n_trials = check_psychometric_data(frame["x"].to_numpy(), n_correct, n_trials,
                                                     source=f"{path} (rows counted from 0 after the header)")
    fit = fit_psychometric(x, n_correct, n_trials, experiment=args.experiment,
                           direction=args.direction, random_state=args.seed, progress=not args.no_progress,
                           **_fit_options(args))
    row = {"file": path.name, "experiment": args.experiment, "direction": args.direction, **fit.summary()}
    figure = Figure(figsize=(5, 4), layout="constrained")
    ax = plot_psychometric_fit(fit, figure.subplots())
    ax.set_title(path.stem)
    return pd.DataFrame([row]), figure
