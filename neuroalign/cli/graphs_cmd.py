"""``neuroalign graphs pretrain|embed|probe``: masked graph autoencoder pretraining on connectivity graphs.

Only the standard library and the argument types are imported here: options are
checked before torch is imported.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..errors import ConfigError
from ._args import int_at_least, non_negative_float, non_negative_int, number, open_unit_interval, positive_int
from ._graph_inputs import add_input_arguments

log = logging.getLogger("neuroalign.cli.graphs")

#: What ``pretrain`` writes in --out (and --overwrite removes); nothing else there is touched.
PRETRAIN_FILES = ("model.pt", "history.csv", "loss.png", "checkpoint.pt")

_PRETRAIN = """\
Pretrain a spatio-temporal graph encoder without labels with a masked graph autoencoder (GraphMAE; GraphMAE2's
views and latent prediction as options) on every subject's connectivity graphs: static graphs (one per subject) or
sliding-window graphs (one per window).

Writes to --out: model.pt (the trained encoder and its settings, read by 'neuroalign graphs embed' and
GraphMAEPretrainer.load), history.csv (the loss per epoch), loss.png (the loss curve, when epochs were trained)
and checkpoint.pt (written after every epoch). A rerun of the same command resumes from the checkpoint with the
same result as an uninterrupted run (a larger --epochs continues a finished run); a checkpoint of other settings
or other data is refused (--overwrite starts over)."""

_EMBED = """\
Embed subjects with a pretrained encoder: per subject, the mean and standard deviation over windows of each unit of
the window codes (so window-to-window variability is kept), or with --embedding nodes of every ROI's code at every
layer, and with --windows the code of every window.

The graphs are built with the model's own graph spec (edge rule and node features); the inputs must have the ROIs
the model was trained on, in the same order. Writes to --out: embeddings.nc and embeddings.csv (subject x feature,
with the label columns), and with --windows window_embeddings.nc and window_embeddings.csv."""

_PROBE = """\
Score a linear probe of a label on frozen subject embeddings (the embeddings.nc of 'neuroalign graphs embed'):
logistic regression scored by AUROC, or ridge regression scored by R2, each in a StandardScaler pipeline with the
regularisation chosen by inner cross-validation (nested CV), over repeated stratified K folds. Writes the score
(value, error, 95% CI) as CSV and prints it."""


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "graphs", help="pretrain graph encoders on connectivity graphs (masked autoencoder); embed; probe",
        description="Generative self-supervised learning on static or dynamic functional connectivity graphs: "
        "'pretrain' an encoder without labels, 'embed' subjects with it, 'probe' a label on the embeddings.",
    )
    actions = parser.add_subparsers(dest="graphs_command", metavar="ACTION", required=True)
    _register_pretrain(actions)
    _register_embed(actions)
    _register_probe(actions)


def _run_arguments(parser: argparse.ArgumentParser, *, out_help: str) -> argparse._ArgumentGroup:
    run = parser.add_argument_group("run")
    run.add_argument("--out", required=True, help=out_help)
    run.add_argument("--threads", type=positive_int, default=1,
                     help="torch CPU threads (default 1: small graph models on few cores run much faster on one "
                     "thread than on several, which contend)")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return run


def _register_pretrain(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "pretrain", help="pretrain an encoder on connectivity graphs without labels",
        description=_PRETRAIN, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: neuroalign graphs pretrain --timeseries sub-*_timeseries.csv --repetition-time 2 "
        "--window 50 --step 3 --epochs 30 --out pretrained/",
    )
    add_input_arguments(parser)
    graph = parser.add_argument_group("graphs")
    graph.add_argument("--edges", help="edge rule: top_k, top_percent, threshold, full or none (default top_percent)")
    graph.add_argument("--edge-value", type=number,
                       help="k of top_k (default 5), percent of top_percent (default 30), |r| of threshold (0.3)")
    graph.add_argument("--weighted", action="store_true", help="correlations as edge weights instead of binary edges")
    graph.add_argument("--features",
                       help="node features, comma-separated: fc_row, timeseries_stats (needs --timeseries) "
                       "(default fc_row)")
    model = parser.add_argument_group("model")
    model.add_argument("--hidden", type=positive_int, default=64, help="width of the encoder (default 64)")
    model.add_argument("--layers", type=positive_int, default=2, help="GIN layers per window (default 2)")
    model.add_argument("--readout", default="mean", help="readout over ROIs (default mean)")
    model.add_argument("--temporal", default="transformer", help="model over windows: transformer or gru "
                       "(default transformer)")
    objective = parser.add_argument_group("objective")
    objective.add_argument("--mask-ratio", type=open_unit_interval, default=0.5,
                           help="share of nodes masked (default 0.5)")
    objective.add_argument("--gamma", type=number, default=2.0, help="exponent of the scaled cosine error "
                           "(default 2)")
    objective.add_argument("--mask-scheme", choices=("subject", "window"), default="subject",
                           help="the same nodes in every window of a subject, or drawn per window (default subject)")
    objective.add_argument("--no-remask", action="store_true", help="do not re-mask the codes before the decoder")
    objective.add_argument("--no-leak-fix", action="store_true",
                           help="leave the masked nodes' columns in the other nodes' FC rows (an ablation: the "
                           "model can copy them back)")
    objective.add_argument("--no-centre", action="store_true",
                           help="build graphs from the raw connectivity instead of each window's deviation from "
                           "the training subjects' mean connectivity (an ablation)")
    objective.add_argument("--views", type=positive_int, default=1, help="GraphMAE2 re-masked views (default 1)")
    objective.add_argument("--latent-weight", type=non_negative_float, default=0.0,
                           help="weight of GraphMAE2's latent prediction against an EMA target encoder (default 0)")
    training = parser.add_argument_group("training")
    training.add_argument("--epochs", type=non_negative_int, default=30,
                          help="passes over the subjects (default 30; 0 gives the untrained encoder)")
    training.add_argument("--batch-size", type=positive_int, default=16, help="subjects per step (default 16)")
    training.add_argument("--lr", type=number, default=5e-4, help="Adam learning rate (default 5e-4)")
    training.add_argument("--weight-decay", type=non_negative_float, default=0.0, help="Adam weight decay "
                          "(default 0)")
    training.add_argument("--seed", type=non_negative_int, default=0,
                          help="seeds the initial weights, the shuffling and the masks (default 0)")
    run = _run_arguments(parser, out_help="output folder (created if missing)")
    run.add_argument("--checkpoint", help="checkpoint file, written after every epoch and resumed from when it "
                     "exists (default OUT/checkpoint.pt)")
    run.add_argument("--overwrite", action="store_true",
                     help="start over: delete a previous run's files in --out (other files there are kept)")
    parser.set_defaults(run=run_pretrain)


def _register_embed(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "embed", help="embed subjects (and windows) with a pretrained encoder",
        description=_EMBED, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: neuroalign graphs embed --model pretrained/model.pt --timeseries sub-*_timeseries.csv "
        "--repetition-time 2 --window 50 --step 3 --labels participants.csv --windows --out embeddings/",
    )
    parser.add_argument("--model", required=True, help="a model.pt written by 'neuroalign graphs pretrain'")
    add_input_arguments(parser)
    parser.add_argument("--embedding", choices=("windows", "nodes"), default="windows",
                        help="what each subject's embedding summarises over its windows (mean and standard "
                        "deviation): the window codes (2 x hidden features, default), or every ROI's code at every "
                        "layer (2 x (layers + 1) x ROIs x hidden features; the validation protocol's setting)")
    parser.add_argument("--windows", action="store_true", help="also write the code of every window")
    _run_arguments(parser, out_help="output folder (created if missing; its embeddings files are replaced)")
    parser.set_defaults(run=run_embed)


def _register_probe(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "probe", help="score a linear probe of a label on subject embeddings (nested CV)",
        description=_PROBE, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: neuroalign graphs probe --embeddings embeddings/embeddings.nc --target group "
        "--out probe.csv",
    )
    parser.add_argument("--embeddings", required=True, help="embeddings.nc of 'neuroalign graphs embed'")
    parser.add_argument("--target", required=True, help="the label: a subject coordinate of the embeddings, or a "
                        "column of --labels")
    parser.add_argument("--labels", metavar="FILE", help="a CSV/TSV table with a 'subject' column and label columns")
    parser.add_argument("--task", choices=("classification", "regression"), default="classification",
                        help="logistic regression scored by AUROC, or ridge scored by R2 (default classification)")
    parser.add_argument("--n-splits", type=int_at_least(2), default=5, help="outer folds (default 5)")
    parser.add_argument("--inner-splits", type=int_at_least(2), default=3,
                        help="inner folds that choose the regularisation (default 3)")
    parser.add_argument("--repeats", type=positive_int, default=1,
                        help="repetitions of the outer folds, seeds 0 … N-1 (default 1)")
    parser.add_argument("--out", required=True, help="output CSV file of the score")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(run=run_probe)


# ---------------------------------------------------------------------------------------------------- pretrain

def _spec(args: argparse.Namespace):
    """The GraphSpec of the graph options, or None when none was given (the default, or a saved dataset's)."""
    from ..graphs.spec import GraphSpec

    given = {}
    if args.edges is not None:
        given["edges"] = args.edges
    if args.edge_value is not None:
        value = args.edge_value
        given["edge_value"] = int(value) if (args.edges or "top_percent") == "top_k" and value == int(value) else value
    if args.weighted:
        given["binary"] = False
    if args.features is not None:
        given["features"] = tuple(name.strip() for name in args.features.split(",") if name.strip())
    return GraphSpec(**given) if given else None


def _prepare_out(out: Path, checkpoint: Path, overwrite: bool) -> None:
    if overwrite:
        for path in {*(out / name for name in PRETRAIN_FILES), checkpoint}:
            if path.is_file():
                path.unlink()
                log.info("--overwrite: removed %s", path)
    out.mkdir(parents=True, exist_ok=True)


def run_pretrain(args: argparse.Namespace) -> int:
    from .._paths import check_writable

    out = check_writable(args.out, source="--out", folder=True)
    checkpoint = Path(args.checkpoint) if args.checkpoint else out / "checkpoint.pt"
    check_writable(checkpoint, source="--checkpoint", folder=False)
    if args.lr <= 0:
        raise ConfigError(f"--lr must be positive, got {args.lr}", source="--lr", fix="pass e.g. --lr 5e-4")
    progress = not args.no_progress
    spec = _spec(args)

    from ..graphs.pretrainer import GraphMAEPretrainer
    from ..pipelines.graph_reports import write_history, write_loss_curve
    from ._graph_inputs import read_graphs

    dataset = read_graphs(args, spec, progress=progress)
    estimator = GraphMAEPretrainer(
        hidden=args.hidden, n_layers=args.layers, readout=args.readout, temporal=args.temporal,
        mask_ratio=args.mask_ratio, gamma=args.gamma, mask_scheme=args.mask_scheme, remask=not args.no_remask,
        leak_fix=not args.no_leak_fix, centre=not args.no_centre, n_views=args.views,
        latent_weight=args.latent_weight, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        weight_decay=args.weight_decay, random_state=args.seed,
        progress=progress, checkpoint=checkpoint, threads=args.threads)
    _prepare_out(out, checkpoint, args.overwrite)
    estimator.fit(dataset)
    estimator.save(out / "model.pt")
    written = ["model.pt", write_history(estimator.history_, out / "history.csv").name]
    curve = write_loss_curve(estimator.history_, out / "loss.png")
    written += [] if curve is None else [curve.name]
    trained = len(estimator.history_)
    loss = f", final loss {estimator.history_['loss'].iloc[-1]:.4f}" if trained else " (the untrained encoder)"
    print(f"{dataset.n_subjects} subjects × {dataset.n_windows} windows × {dataset.n_rois} ROIs; "
          f"{trained} epoch{'' if trained == 1 else 's'}{loss}")
    print(f"wrote {out} ({', '.join(written)}; checkpoint {checkpoint})")
    return 0


# ---------------------------------------------------------------------------------------------------- embed

def run_embed(args: argparse.Namespace) -> int:
    from .._paths import check_writable

    out = check_writable(args.out, source="--out", folder=True)
    progress = not args.no_progress

    from ..graphs.pretrainer import GraphMAEPretrainer
    from ..pipelines.graph_reports import write_embeddings
    from ._graph_inputs import read_graphs

    model = GraphMAEPretrainer.load(args.model, progress=progress, threads=args.threads)
    model.set_params(embedding=args.embedding)
    dataset = read_graphs(args, model.spec_, progress=progress)
    embeddings = model.transform(dataset)
    windows = model.transform_windows(dataset) if args.windows else None
    out.mkdir(parents=True, exist_ok=True)
    written = write_embeddings(embeddings, out, "embeddings")
    if windows is not None:
        written += write_embeddings(windows, out, "window_embeddings")
    print(f"{embeddings.sizes['subject']} subjects × {embeddings.sizes['feature']} features"
          + ("" if windows is None else f"; {windows.sizes['window']} windows × {windows.sizes['feature']} "
             "features each"))
    print(f"wrote {out} ({', '.join(p.name for p in written)})")
    return 0


# ---------------------------------------------------------------------------------------------------- probe

def run_probe(args: argparse.Namespace) -> int:
    from .._paths import check_writable

    out = check_writable(args.out, source="--out", folder=False)

    import xarray as xr

    from ..data.io import load
    from ..errors import FileFormatError
    from ..graphs.probes import probe
    from ..pipelines.graph_reports import write_score
    from ._graph_inputs import labels_for

    if not Path(args.embeddings).is_file():
        raise FileFormatError("file not found", source=args.embeddings, fix="check the --embeddings path")
    embeddings = load(args.embeddings)
    if not isinstance(embeddings, xr.DataArray) or set(embeddings.dims) != {"subject", "feature"}:
        dims = getattr(embeddings, "dims", None)
        raise FileFormatError(f"holds {type(embeddings).__name__} of dims {tuple(dims or ())}, not subject "
                              "embeddings (subject, feature)", source=args.embeddings,
                              fix="pass the embeddings.nc of 'neuroalign graphs embed' (not window_embeddings.nc)")
    if args.labels:
        labels = labels_for(embeddings["subject"].values, args.labels)
        if args.target not in labels:
            from ..errors import UnknownNameError

            raise UnknownNameError(args.target, labels, what="label column", source=args.labels)
        embeddings = embeddings.assign_coords({args.target: ("subject", labels[args.target])})
    score = probe(embeddings, args.target, task=args.task, n_splits=args.n_splits, inner_splits=args.inner_splits,
                  seeds=tuple(range(args.repeats)), progress=not args.no_progress)
    write_score(score, out)
    ci = "" if score.ci is None else f", 95% CI [{score.ci[0]:.3f}, {score.ci[1]:.3f}]"
    print(f"{score.metric} of {args.target!r}: {float(score):.3f}{ci} ({score.params['n_subjects']} subjects, "
          f"{args.n_splits} folds × {args.repeats} repeats)")
    print(f"wrote {out}")
    return 0
