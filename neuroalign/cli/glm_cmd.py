"""``neuroalign glm``: task fMRI runs + BIDS events (+ mask) → a patterns file (betas or t per trial)."""

from __future__ import annotations

import argparse
import re

from ..errors import NeuroalignError
from ._args import number


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "glm",
        help="estimate one response pattern per trial (or stimulus) from task fMRI runs and their events",
        description="Fit nilearn's first-level GLM to each 4D run (LSA: one regressor per trial or stimulus; LSS: "
        "one model per trial, in closed form) and write a (presentation, neuroid) array of betas or t statistics "
        "with stimulus_id, run, session, repetition and voxel coordinates; the residuals (for noise "
        "normalisation) are stored in the group 'residuals' (read them with "
        "neuroalign.data.io.load_group(OUT, 'residuals')).",
        epilog="example: neuroalign glm --runs sub-01_run-1_bold.nii.gz sub-01_run-2_bold.nii.gz --events "
        "sub-01_run-1_events.tsv sub-01_run-2_events.tsv --mask brain_mask.nii.gz --out patterns.nc",
    )
    inputs = parser.add_argument_group("inputs")
    inputs.add_argument("--runs", nargs="+", required=True, help="4D NIfTI runs (one grid, one TR)")
    inputs.add_argument("--events", nargs="+", required=True, help="BIDS events.tsv files, one per run, same order")
    inputs.add_argument("--confounds", nargs="+", help="confound TSVs (fMRIPrep), one per run, same order")
    inputs.add_argument("--confound-columns", nargs="+", metavar="COLUMN",
                        help="confound columns (glob patterns; default: fMRIPrep's motion, white_matter, csf)")
    inputs.add_argument("--stimulus-column", default="trial_type",
                        help="events column naming each trial's stimulus (default trial_type)")
    voxels = parser.add_argument_group("voxels (default: every voxel that varies in every run)")
    voxels.add_argument("--mask", help="NIfTI mask on the runs' grid (non-zero voxels)")
    voxels.add_argument("--atlas", help="3D labels atlas on the runs' grid (with --region)")
    voxels.add_argument("--region", nargs="+", help="atlas region name(s) or label value(s)")
    voxels.add_argument("--labels", help="label table of the atlas (TSV with index and name columns)")
    model = parser.add_argument_group("model (nilearn's defaults)")
    model.add_argument("--estimator", choices=("lsa", "lss-1", "lss-n"), default="lsa", help="default lsa")
    model.add_argument("--per", choices=("trial", "stimulus"), default="trial", help="default trial")
    model.add_argument("--statistic", choices=("beta", "t"), default="beta", help="default beta")
    model.add_argument("--t-r", type=number, help="repetition time in s (default: JSON sidecar, else header)")
    model.add_argument("--hrf-model", default="glover", help="glover, spm, 'spm + derivative', … (default glover)")
    model.add_argument("--drift-model", default="cosine", help="cosine, polynomial or none (default cosine)")
    model.add_argument("--high-pass", type=number, default=0.01, help="Hz (default 0.01)")
    model.add_argument("--noise-model", choices=("ar1", "ols"), default="ar1", help="default ar1")
    model.add_argument("--slice-time-ref", type=number, default=0.0, help="0 to 1 (default 0)")
    out = parser.add_argument_group("output")
    out.add_argument("--out", required=True, help="output file (.nc or .zarr)")
    out.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(run=run_glm)


#: estimate_patterns' arguments set by this command's flags (named by their flag in errors)
_FLAGS = ("runs", "events", "confounds", "confound_columns", "mask", "atlas", "region", "labels", "estimator", "per",
          "statistic", "stimulus_column", "t_r", "hrf_model", "drift_model", "high_pass", "noise_model",
          "slice_time_ref")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _as_cli_error(error: NeuroalignError) -> NeuroalignError:
    """The same error with estimate_patterns' argument names written as this command's flags."""
    names = "|".join(sorted(_FLAGS, key=len, reverse=True))

    def flags(text: str | None) -> str | None:
        if text is None:
            return None
        text = re.sub(rf"\b({names})='([^']*)'", lambda m: f"{_flag(m[1])} {m[2]}", text)
        return re.sub(rf"\b({names})=", lambda m: _flag(m[1]) + " ", text)

    from ..loaders.glm import restated

    return restated(error, problem=flags(error.problem), fix=flags(error.fix),
                    source=_flag(error.source) if error.source in _FLAGS else error.source)


def run_glm(args: argparse.Namespace) -> int:
    from .._paths import check_writable
    from ..data import save
    from ..loaders.glm import estimate_patterns

    check_writable(args.out, source="--out", folder=str(args.out).rstrip("/").endswith(".zarr"))
    region = args.region
    if region is not None:
        region = [int(r) if r.isdigit() else r for r in region]
        region = region[0] if len(region) == 1 else region
    try:
        result = estimate_patterns(
            args.runs, args.events, confounds=args.confounds, confound_columns=args.confound_columns,
            mask=args.mask, atlas=args.atlas, region=region, labels=args.labels, estimator=args.estimator,
            per=args.per, statistic=args.statistic, stimulus_column=args.stimulus_column, t_r=args.t_r,
            hrf_model=args.hrf_model, drift_model=None if args.drift_model.lower() == "none" else args.drift_model,
            high_pass=args.high_pass, noise_model=args.noise_model, slice_time_ref=args.slice_time_ref,
            progress=not args.no_progress)
    except NeuroalignError as error:
        raise _as_cli_error(error) from error
    path = save(result.patterns, args.out, groups={"residuals": result.residuals})
    p = result.patterns
    print(f"{path}: {p.sizes['presentation']} patterns ({args.estimator}, {args.statistic}) × "
          f"{p.sizes['neuroid']} voxels from {len(args.runs)} run(s); residual dof {result.dof}")
    return 0
