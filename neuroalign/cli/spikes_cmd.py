"""``neuroalign spikes pretrain|evaluate``: spike models pretrained on binned spikes, scored against baselines.

Only the standard library and the argument types are imported here: options are
checked before torch is imported.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from ._args import non_negative_int, number, open_unit_interval, positive_int

log = logging.getLogger("neuroalign.cli.spikes")

_PRETRAIN = """\
Pretrain a spike model on the training trials of binned spikes: the masked model (NDT-style: a transformer over
time bins, Poisson loss on masked bins, held-out neurons as outputs only) or the autoregressive spike-token model
(Neuroformer-style: one token per spike, the previous window as context).

The spikes come from an NWB file (its Units table around the trials of an intervals table) or, without --nwb,
from the Lorenz simulator (ground truth known). Held-out neurons (the co-smoothing targets) are named with
--held-out, or drawn (seeded) as --held-out-fraction of the units; the trials are split into training and test
trials (--test-fraction, seeded, by trial).

Writes to --out: <method>.pt (the model, read by 'neuroalign spikes evaluate'), history-<method>.csv, loss.png,
run.json (the data, the held-out neurons and the split) and <method>-checkpoint.pt (written after every epoch). A
rerun of the same command resumes from the checkpoint with the same result as an uninterrupted run; several
methods can be pretrained into one folder on the same data."""

_EVALUATE = """\
Score the models pretrained in a folder on its test trials, next to the baselines fitted on its training trials
(spike smoothing + Poisson GLM, the NLB baseline, and the trial-averaged PSTH), with the Neural Latents Benchmark
metrics: co-smoothing bits per spike of the held-out neurons and, on simulated data, PSTH R2, behaviour-decoding
R2 and the log-rate R2 against the true rates (a 'true rates' row shows the best achievable).

Writes to --out: metrics.csv, rates-<method>.nc (test-trial rates), rates.png (simulated data), summary.json;
prints the table."""


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "spikes", help="pretrain spike models on binned spikes (masked, autoregressive); evaluate with NLB metrics",
        description="Pretraining on spiking data: 'pretrain' a masked (NDT-style) or autoregressive "
        "(Neuroformer-style) model on binned spikes, 'evaluate' it against baselines with the Neural Latents "
        "Benchmark metrics.",
    )
    actions = parser.add_subparsers(dest="spikes_command", metavar="ACTION", required=True)
    _register_pretrain(actions)
    _register_evaluate(actions)


def _register_pretrain(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "pretrain", help="pretrain a masked or autoregressive spike model", description=_PRETRAIN,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples: neuroalign spikes pretrain --out lorenz/ --epochs 60\n"
        "          neuroalign spikes pretrain --nwb session.nwb --trials recognition_table --window 0 1.5 "
        "--bin-size 0.02 --out human/",
    )
    parser.add_argument("--method", choices=("masked", "tokens"), default="masked",
                        help="masked (NDT-style) or tokens (autoregressive spike tokens) (default masked)")
    data = parser.add_argument_group("data")
    data.add_argument("--nwb", metavar="FILE", help="an NWB 2 file with a Units table (default: simulate)")
    data.add_argument("--trials", metavar="TABLE", help="the NWB intervals table of the trials (default 'trials', "
                      "or the only table)")
    data.add_argument("--window", type=number, nargs=2, metavar=("START", "STOP"),
                      help="seconds around each trial's start_time (default 0 1)")
    data.add_argument("--bin-size", type=number, help="seconds per bin (default 0.02)")
    data.add_argument("--held-out", nargs="+", metavar="ID", help="neuroid_ids of the held-out neurons")
    data.add_argument("--held-out-fraction", type=open_unit_interval,
                      help="without --held-out: the share of units drawn as held-out (default 0.25)")
    data.add_argument("--condition", help="presentation coordinate of the trials' conditions, for the PSTH "
                      "baseline and PSTH R2 ('' for none; default condition)")
    data.add_argument("--n-trials", type=positive_int, help="simulated trials (default 1000)")
    data.add_argument("--n-bins", type=positive_int, help="simulated bins per trial (default 50)")
    data.add_argument("--n-conditions", type=positive_int, help="simulated conditions (default 8)")
    data.add_argument("--test-fraction", type=open_unit_interval, help="share of trials kept for testing "
                      "(default 0.2)")
    data.add_argument("--seed", type=non_negative_int, help="seeds the simulation, the held-out draw, the split, "
                      "the initial weights and the masks (default 0)")
    model = parser.add_argument_group("model")
    model.add_argument("--epochs", type=non_negative_int, help="passes over the training trials (default 100 for "
                       "masked, 8 for tokens)")
    model.add_argument("--d-model", type=positive_int, help="width of the transformer (default 64 for masked, 32 for "
                       "tokens)")
    model.add_argument("--layers", type=positive_int, help="masked: transformer layers (default 2)")
    model.add_argument("--batch-size", type=positive_int, help="masked: trials per step (default 32)")
    model.add_argument("--lr", type=number, help="masked: Adam learning rate (default 0.002)")
    model.add_argument("--mask-ratio", type=open_unit_interval, help="masked: share of bins masked (default 0.25)")
    model.add_argument("--window-bins", type=positive_int, help="tokens: bins per window (default 5)")
    model.add_argument("--samples", type=positive_int, help="tokens: sample paths averaged into rates (default 10)")
    _run_arguments(parser)
    parser.add_argument("--overwrite", action="store_true",
                        help="start over: delete a previous run's files in --out (other files there are kept)")
    parser.set_defaults(run=run_pretrain)


def _register_evaluate(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "evaluate", help="score pretrained spike models and baselines with the NLB metrics", description=_EVALUATE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: neuroalign spikes evaluate --out lorenz/",
    )
    parser.add_argument("--baselines", nargs="*", choices=("smoothing", "psth"), default=None,
                        help="baselines to fit and score (default: smoothing, and psth when the trials have "
                        "conditions)")
    _run_arguments(parser)
    parser.set_defaults(run=run_evaluate)


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    run = parser.add_argument_group("run")
    run.add_argument("--out", required=True, help="the run's folder (created by pretrain if missing)")
    run.add_argument("--threads", type=positive_int, default=1,
                     help="torch CPU threads (default 1: small models on few cores train much faster on one "
                     "thread than on several, which contend)")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bars")


#: Command-line options and the pipeline settings they set (only when given).
_DATA_OPTIONS = {"nwb": "nwb", "trials": "trials", "bin_size": "bin_size", "held_out": "held_out",
                 "held_out_fraction": "held_out_fraction", "condition": "condition", "n_trials": "n_trials",
                 "n_bins": "n_bins", "n_conditions": "n_conditions", "test_fraction": "test_fraction", "seed": "seed"}
_MODEL_OPTIONS = {"masked": {"epochs": "masked_epochs", "d_model": "masked_d_model", "layers": "masked_layers",
                             "batch_size": "masked_batch_size", "lr": "masked_lr", "mask_ratio": "masked_mask_ratio"},
                  "tokens": {"epochs": "tokens_epochs", "d_model": "tokens_d_model",
                             "window_bins": "tokens_window_bins", "samples": "tokens_samples"}}


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    from ..errors import ConfigError
    from ..pipelines.spike_pretraining import SPIKE_PRETRAINING_DEFAULTS, check_spike_settings

    settings = {**SPIKE_PRETRAINING_DEFAULTS, "out": args.out, "threads": args.threads,
                "progress": not args.no_progress, "methods": [args.method]}
    for option, key in _DATA_OPTIONS.items():
        if getattr(args, option) is not None:
            settings[key] = getattr(args, option)
    if args.nwb and args.condition is None:
        settings["condition"] = ""
    if args.window is not None:
        settings["window_start"], settings["window_stop"] = args.window
    mine = _MODEL_OPTIONS[args.method]
    for option in sorted({option for options in _MODEL_OPTIONS.values() for option in options}):
        if getattr(args, option) is None:
            continue
        if option not in mine:
            other = next(m for m, options in _MODEL_OPTIONS.items() if option in options)
            flag = f"--{option.replace('_', '-')}"
            raise ConfigError(f"{flag} is an option of --method {other}", source=flag,
                              fix=f"drop it, or pass --method {other}")
        settings[mine[option]] = getattr(args, option)
    if args.nwb and not Path(args.nwb).is_file():
        from ..errors import FileFormatError

        raise FileFormatError("no such file", source=args.nwb, fix="check the path of --nwb")
    return check_spike_settings(settings, "command line")


def run_pretrain(args: argparse.Namespace) -> int:
    from .._paths import check_writable
    from ..pipelines.spike_pretraining import SpikeData, check_same_data, fit_method, write_run_record
    from ..pipelines.spike_reports import owned_files, write_loss_curves

    settings = _settings(args)
    out = check_writable(args.out, source="--out", folder=True)
    if args.overwrite:
        for name in owned_files(("masked", "tokens", "smoothing", "psth")):
            if (out / name).is_file():
                (out / name).unlink()
                log.info("--overwrite: removed %s", out / name)
    out.mkdir(parents=True, exist_ok=True)
    data = SpikeData.from_settings(settings)
    if (out / "run.json").is_file():
        check_same_data(out, settings, data)
    else:
        write_run_record(out, settings, data)
    estimator = fit_method(args.method, data, settings, out)
    write_loss_curves(out)
    print(f"{args.method}: {len(estimator.history_)} epochs, final loss {_last(estimator.history_, 'loss')}, "
          f"validation loss {_last(estimator.history_, 'valid_loss')} -> {out / (args.method + '.pt')}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from ..pipelines.spike_pretraining import evaluate_folder

    metrics = evaluate_folder(Path(args.out), baselines=args.baselines, threads=args.threads,
                              progress=not args.no_progress)
    print(metrics.to_string(float_format=lambda v: f"{v:.4f}"))
    return 0


def _last(history: Any, column: str) -> str:
    if column not in history or not len(history):
        return "-"
    return f"{float(history[column].iloc[-1]):.4f}"
