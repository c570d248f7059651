"""``neuroalign metamers``: model metamers at every chosen layer, their validity and their recognisability.

Only the standard library is imported here: options are checked before torch is imported.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError, FileFormatError
from ._args import non_negative_int, open_unit_interval, positive_int

log = logging.getLogger("neuroalign.cli.metamers")

_KEY_VERSION = "neuroalign-metamers-cli/1"
#: What a run writes in --out (and --overwrite removes); nothing else there is touched.
_OWNED = ("provenance.json", "metamers", "checkpoints", "images", "metamers.png", "validity.csv",
          "recognisability.csv", "recognisability.nc", "recognisability.png")

_DESCRIPTION = """\
Synthesise model metamers of every stimulus at every chosen layer of a model (images whose activations at that
layer match the natural image's), test their validity (Feather et al. 2023: the model keeps the label, and the
activation match beats a null of random pairs of natural images), and score how well each observer (the
generating model, other models, a pixel-space kNN) recognises the valid metamers of each layer.

The model is put in eval mode and frozen (requires_grad_(False)) by the command; so are the observers. Images
are given to the model as they are: values must lie in [0, 1] (the range metamers are synthesised in); put any
normalisation inside the model. All stimuli of a layer are optimised together, one batch per layer and seed.
Without --labels, the labels are the generating model's own predictions on the natural images (so it scores 1.0
on them by construction); provenance.json and the figure title say which labels were used.

Writes to --out: metamers/LAYER/seedS.nc (the metamers, synthesis history and validity; read with
neuroalign.data.load and load_group(path, 'validity')), images/LAYER/seedS/ID.png (each metamer as an 8-bit
PNG), images/LAYER.png (natural images above their metamers), metamers.png (every layer, first seed),
validity.csv (one row per layer, seed and stimulus), recognisability.csv/.nc/.png (generator x layer x observer
with bootstrap CIs; with several seeds the valid metamers of all seeds are pooled per layer and the bootstrap
resamples metamers) and provenance.json. A rerun of the same command reads back finished layers and resumes
an interrupted one from its checkpoint; a run of other settings in the same --out is refused (--overwrite
starts over)."""


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "metamers", help="synthesise model metamers per layer; validity and recognisability across observers",
        description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: neuroalign metamers --model nets.py:Net --weights net.pt --layers 'relu*,fc' --stimuli "
        "digits.csv --labels digit --observer other=nets.py:Net,weights=other.pt --out metamers/",
    )
    model = parser.add_argument_group("model (the generator)")
    model.add_argument("--model", required=True,
                       help="'package.module:factory' or 'path/to/file.py:factory' (as in neuroalign extract); a "
                       "classifier returning logits (N, classes)")
    model.add_argument("--weights", help="state-dict file to load (read with torch.load(weights_only=True))")
    model.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                       help="keyword argument of the factory; VALUE is read as JSON when it parses (repeatable)")
    model.add_argument("--model-name", help="the generator's name in the outputs (default: the factory name)")
    model.add_argument("--layers", required=True,
                       help="comma-separated module names or glob patterns ('relu*', 'features.[0-3]'); every "
                       "layer they select gets metamers")
    data = parser.add_argument_group("stimuli and labels")
    data.add_argument("--stimuli", required=True,
                      help="a folder of images, a CSV table with stimulus_id and path columns (+ metadata columns), "
                      "or a .npy array (N, C, H, W) of floats in [0, 1] (ids are the row numbers)")
    data.add_argument("--labels",
                      help="the natural images' classes (logit columns): a metadata column of the --stimuli table, a "
                      ".npy file (one integer per stimulus) or a .csv file (stimulus_id,label). Default: the "
                      "generating model's predictions")
    data.add_argument("--label-subset", metavar="C1,C2,...",
                      help="logit columns the task chooses among (e.g. 16 of ImageNet's 1,000, as Feather et al.); "
                      "chance is 1/their number (default: every logit of the generator)")
    synthesis = parser.add_argument_group("synthesis")
    synthesis.add_argument("--preset", choices=("plenoptic", "feather2023"), default="plenoptic",
                           help="plenoptic: MSE + range penalty, Adam (lr 0.01), early stop on relative progress; "
                           "feather2023: normalised L2, normalised-gradient steps halved over --n-passes passes "
                           "(default plenoptic)")
    synthesis.add_argument("--max-iter", type=positive_int, default=1000, help="steps per layer (default 1000)")
    synthesis.add_argument("--n-passes", type=positive_int, default=8,
                           help="feather2023: the step size halves every max-iter/n-passes steps (default 8)")
    seeds = synthesis.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=non_negative_int, action="append", metavar="S",
                       help="seed of the start images (repeatable: one metamer per seed; default 0)")
    seeds.add_argument("--n-seeds", type=positive_int, metavar="N", help="seeds 0 … N-1")
    synthesis.add_argument("--checkpoint-every", type=positive_int, default=200, metavar="STEPS",
                           help="save the synthesis every STEPS steps, to resume an interrupted run (default 200)")
    validity = parser.add_argument_group("validity")
    validity.add_argument("--n-null", type=positive_int,
                          help="random pairs of distinct natural images in each layer's null (default: 1000, or "
                          "every ordered pair when there are fewer)")
    validity.add_argument("--criterion", type=parse_criterion, default="max",
                          help="each measure must beat the null's maximum (max, Feather et al.) or this quantile")
    validity.add_argument("--constant", choices=("zero", "raise"), default="zero",
                          help="activations without variance (e.g. a ReLU layer at zero) have no correlation: "
                          "score it 0, so that the metamer fails the criterion (zero, default), or stop (raise)")
    observers = parser.add_argument_group("recognisability")
    observers.add_argument("--observer", action="append", default=[], metavar="NAME=SPEC[,weights=PATH]",
                           help="another classifier that names the metamers' classes; further KEY=VALUE after "
                           "commas are factory arguments (repeatable; the generator is always an observer)")
    observers.add_argument("--knn-train", metavar="STIMULI",
                           help="training images of a pixel-space k-nearest-neighbour observer 'pixel-knn' (same "
                           "forms as --stimuli; images of the stimuli's size); needs --knn-labels")
    observers.add_argument("--knn-labels", help="their labels: a metadata column, a .npy or a .csv (as --labels)")
    observers.add_argument("--knn-neighbors", type=positive_int, default=5, help="k of the kNN (default 5)")
    observers.add_argument("--n-bootstrap", type=positive_int, default=1000,
                           help="bootstrap resamples of the images for the CIs (default 1000)")
    observers.add_argument("--resample-seed", type=non_negative_int, default=0,
                           help="seed of the null's pairs and of the bootstrap (default 0)")
    run = parser.add_argument_group("run")
    run.add_argument("--out", required=True, help="output folder (created if missing)")
    run.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, mps… (default cpu)")
    run.add_argument("--threads", type=positive_int, default=1,
                     help="torch CPU threads (default 1: small models on few cores run much faster on one thread "
                     "than on several, which contend)")
    run.add_argument("--overwrite", action="store_true",
                     help="start over: delete a previous run's outputs in --out (other files there are kept)")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.set_defaults(run=run_metamers)


def parse_criterion(text: str) -> str | float:
    """An ``argparse`` type: ``max`` or a quantile in (0, 1).

    Examples
    --------
    >>> from neuroalign.cli.metamers_cmd import parse_criterion
    >>> parse_criterion("max"), parse_criterion("0.99")
    ('max', 0.99)
    """
    if text == "max":
        return text
    try:
        return open_unit_interval(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither 'max' nor a quantile in (0, 1)") from None


def _seeds(args: argparse.Namespace) -> list[int]:
    if args.n_seeds:
        return list(range(args.n_seeds))
    seeds = args.seed or [0]
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seed repeats a seed ({seeds})", source="--seed", fix="give each seed once")
    return list(seeds)


def _label_subset(text: str | None, n_logits: int) -> list[int] | None:
    if text is None:
        return None
    fix = "pass distinct logit columns, e.g. --label-subset 0,3,7"
    try:
        subset = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"--label-subset {text!r} is not a comma-separated list of integers",
                          source="--label-subset", fix=fix) from None
    if len(subset) < 2 or len(set(subset)) != len(subset):
        raise ConfigError(f"--label-subset needs at least two distinct classes, got {subset}", source="--label-subset",
                          fix=fix)
    outside = [c for c in subset if not 0 <= c < n_logits]
    if outside:
        raise ConfigError(f"--label-subset names logit columns {outside}, but the model gives {n_logits} logits",
                          source="--label-subset", fix=f"name columns 0 … {n_logits - 1}")
    return subset


def run_metamers(args: argparse.Namespace) -> int:
    seeds = _seeds(args)
    if args.preset == "feather2023" and args.max_iter % args.n_passes:
        raise ConfigError(f"--max-iter {args.max_iter} is not a multiple of --n-passes {args.n_passes}",
                          source="--max-iter", fix="make --max-iter a multiple of --n-passes, e.g. 800 with 8 passes")
    if args.knn_train and not args.knn_labels:
        raise ConfigError("--knn-train needs --knn-labels", source="--knn-labels",
                          fix="pass the training images' labels (a metadata column, a .npy or a .csv)")
    from .._paths import check_writable
    from ..extract.devices import check_device
    from ..metamers.training import torch_threads

    out = check_writable(args.out, source="--out", folder=True)
    device = check_device(args.device, source="--device")
    with torch_threads(args.threads):
        return _run(args, out, device, seeds)


def _run(args: argparse.Namespace, out: Path, device: Any, seeds: list[int]) -> int:
    from ..extract.layers import resolve_layers
    from ..extract.models import default_model_name
    from .extract_cmd import _model_kwargs
    from ._metamer_inputs import load_frozen_model, read_images

    stimuli, images, ids = read_images(args.stimuli, source="--stimuli")
    n_null = _n_null(args.n_null, len(ids), args.criterion)
    model = load_frozen_model(args.model, weights=args.weights, kwargs=_model_kwargs(args.model_arg), device=device,
                              source="--weights")
    generator = args.model_name or default_model_name(args.model)
    n_logits = _n_logits(model, images[:1].to(device))
    layers = resolve_layers(model, [name.strip() for name in args.layers.split(",") if name.strip()])
    subset = _label_subset(args.label_subset, n_logits)
    labels, labels_source = _labels(args, model, stimuli, images, ids, subset, n_logits)
    observers = _observers(args, generator, model, images, device)
    _check_layers(model, layers, images[:1].to(device))
    settings = _settings(args, n_null, subset, labels_source)
    key = _run_key(settings, model, images, ids, labels)
    _prepare(out, key, settings, args.overwrite)
    if args.n_null is None and n_null < 1000:
        log.info("the validity null uses all %d ordered pairs of the %d stimuli", n_null, len(ids))
    if args.labels is None:
        log.info("no --labels: the labels are the generating model's predictions on the natural images")
    from ._metamer_run import MetamerRun

    run = MetamerRun(out=out, key=key, model=model, generator=generator, images=images, ids=ids, labels=labels,
                     device=device, settings=settings, progress=not args.no_progress)
    from ..data.provenance import provenance as provenance_attrs
    from ..metamers.outputs import write_json

    provenance = {"command": "neuroalign metamers", "key": key, "status": "running", "settings": settings,
                  "generator": generator, "layers": layers, "seeds": seeds, "labels": labels_source,
                  "observers": list(observers), "n_bootstrap": args.n_bootstrap,
                  "provenance": provenance_attrs(settings, {"images": images.numpy(), "labels": labels})}

    write_json(out / "provenance.json", provenance)
    units = run.synthesise(layers, seeds, checkpoint_every=args.checkpoint_every)
    score = run.score(units, observers, classes=subset or list(range(n_logits)), n_bootstrap=args.n_bootstrap)
    summary = run.write(units, score, labels_source)
    write_json(out / "provenance.json", {**provenance, "status": "complete", **summary})
    print(score.to_dataframe().drop(columns=["metric"]).to_string(index=False, float_format="{:.3f}".format))
    print(f"wrote {out} ({len(layers)} layer{'s' if len(layers) != 1 else ''} × {len(seeds)} "
          f"seed{'s' if len(seeds) != 1 else ''}, {len(ids)} stimuli; labels: {labels_source})")
    return 0


def _n_null(n_null: int | None, n: int, criterion: Any) -> int:
    from ..metamers.activation_matching import null_size_needed

    pairs = n * (n - 1)
    if pairs < 1:
        raise DataError(f"{n} stimulus: the validity null needs pairs of distinct natural images", source="--stimuli",
                        fix="pass at least two stimuli (the null is drawn from their pairs)")
    if n_null is None:
        n_null = min(1000, pairs)
    elif n_null > pairs:
        raise ConfigError(f"--n-null {n_null} exceeds the {pairs} ordered pairs of {n} stimuli", source="--n-null",
                          fix=f"pass --n-null {pairs} or fewer, or more stimuli")
    needed = null_size_needed(criterion)
    if n_null < needed:
        raise ConfigError(f"a null of {n_null} pairs cannot tell the {criterion} quantile from its maximum (it needs "
                          f"{needed})", source="--criterion",
                          fix=f"use --criterion max, a lower quantile, or --n-null {needed} or more")
    return n_null


def _n_logits(model: Any, probe: Any) -> int:
    import torch

    from ..extract.models import forward_failed

    try:
        with torch.no_grad():
            logits = model(probe)
    except Exception as exc:  # noqa: BLE001 - the model's own failure, reported with the input's shape
        raise forward_failed(exc, probe) from exc
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[1] < 2:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ConfigError(f"the model returns {shape} for one image, not logits (1, classes)", source="--model",
                          fix="pass a classifier whose forward returns logits (N, n_classes): validity and "
                              "recognisability need its answers")
    return int(logits.shape[1])


def _labels(args: argparse.Namespace, model: Any, stimuli: Any, images: Any, ids: list[str],
            subset: list[int] | None, n_logits: int) -> tuple[Any, str]:
    import numpy as np

    from ..metamers.classify import predict_labels
    from ._metamer_inputs import read_labels

    if args.labels is None:
        labels = predict_labels(model, images, classes=subset, name="the model")
        return labels.astype(np.int64), "the generating model's predictions"
    labels = read_labels(args.labels, stimuli, ids, source="--labels")
    allowed = set(range(n_logits)) if subset is None else set(subset)
    outside = sorted(set(labels.tolist()) - allowed)
    if outside:
        where = "--label-subset" if subset is not None else f"the model's {n_logits} logit columns"
        raise DataError(f"labels {outside[:5]} are not among {where}", source="--labels",
                        fix="encode the classes as the model's logit columns (and list them in --label-subset)")
    return labels, str(args.labels)


def _observers(args: argparse.Namespace, generator: str, model: Any, images: Any, device: Any) -> dict[str, Any]:
    from ._metamer_inputs import load_frozen_model, parse_observer, read_images, read_labels

    observers: dict[str, Any] = {generator: model}
    for text in args.observer:
        spec = parse_observer(text)
        if spec.name in observers or spec.name == "pixel-knn":
            raise ConfigError(f"observer name {spec.name!r} is taken (the generator is {generator!r}; the kNN is "
                              f"'pixel-knn')", source="--observer", fix="give each observer its own name")
        observers[spec.name] = load_frozen_model(spec.spec, weights=spec.weights, kwargs=spec.kwargs, device=device,
                                                 source=f"--observer {spec.name}")
    if args.knn_train:
        from ..metamers.pixel_observer import PixelKNN

        train_set, train, train_ids = read_images(args.knn_train, source="--knn-train")
        if tuple(train.shape[1:]) != tuple(images.shape[1:]):
            raise DataError(f"the kNN's training images are {tuple(train.shape[1:])}, the stimuli "
                            f"{tuple(images.shape[1:])}", source="--knn-train",
                            fix="train the kNN on images of the stimuli's size and channels")
        labels = read_labels(args.knn_labels, train_set, train_ids, source="--knn-labels")
        observers["pixel-knn"] = PixelKNN(n_neighbors=args.knn_neighbors).fit(train, labels)
    return observers


def _check_layers(model: Any, layers: list[str], probe: Any) -> None:
    """Every layer is on a differentiable path from the images: checked before any synthesis starts."""
    from ..metamers.layer_forward import LayerForward
    from ..metamers.model_checks import check_layer_path

    for layer in layers:
        forward = LayerForward(model, layer)
        with forward:
            check_layer_path(forward, probe)


def _settings(args: argparse.Namespace, n_null: int, subset: list[int] | None, labels_source: str) -> dict[str, Any]:
    """What determines a run's metamers and validity (the layers and seeds do not: more can be added)."""
    return {"model": args.model, "weights": args.weights, "model_args": args.model_arg, "stimuli": args.stimuli,
            "labels": labels_source, "label_subset": subset, "preset": args.preset, "max_iter": args.max_iter,
            "n_passes": args.n_passes if args.preset == "feather2023" else None, "n_null": n_null,
            "criterion": args.criterion, "constant": args.constant, "resample_seed": args.resample_seed}


def _run_key(settings: dict[str, Any], model: Any, images: Any, ids: list[str], labels: Any) -> str:
    from ..data.provenance import content_digest, hash_array
    from ..metamers.checkpoint import model_identity

    identity = model_identity(model)
    description = {"version": _KEY_VERSION, **{k: v for k, v in settings.items() if k not in ("model", "weights",
                                                                                             "stimuli")},
                   "model": identity["digest"] if identity["reliable"] else identity["weights"],
                   "images": hash_array(images.numpy()), "ids": ids, "label_values": hash_array(labels)}
    return content_digest(json.dumps(description, sort_keys=True).encode()).hexdigest()


def _prepare(out: Path, key: str, settings: dict[str, Any], overwrite: bool) -> None:
    """Refuse an --out holding another run (or other files) unless --overwrite; with it, remove the old run."""
    record = out / "provenance.json"
    if out.is_dir() and any(out.iterdir()):
        previous = None
        if record.is_file():
            try:
                previous = json.loads(record.read_text())
            except (OSError, ValueError) as exc:
                raise FileFormatError(f"cannot read it ({exc})", source=str(record),
                                      fix="pass --overwrite to start over, or choose another --out") from exc
        if isinstance(previous, dict) and previous.get("key") == key and not overwrite:
            log.info("%s holds a run of the same settings: resuming", out)
            return
        if not overwrite:
            if previous is None:
                raise ConfigError(f"{out} holds files that are not a metamers run", source="--out",
                                  fix="choose a new or empty folder, or pass --overwrite (it removes only the "
                                      "command's own outputs)")
            old = previous.get("settings", {}) if isinstance(previous, dict) else {}
            changed = [name for name in settings if old.get(name) != settings[name]]
            what = ", ".join(changed) if changed else "the model's weights or the stimuli's content"
            raise ConfigError(f"{out} holds a metamers run of other settings (changed: {what})", source="--out",
                              fix="choose another --out, or pass --overwrite to start over")
        for name in _OWNED:
            path = out / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        log.info("--overwrite: removed the previous run's outputs in %s", out)
    out.mkdir(parents=True, exist_ok=True)
