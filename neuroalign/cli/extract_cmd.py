"""``neuroalign extract`` (model activations to a zarr store) and ``neuroalign cache list|clear``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import ConfigError, FileFormatError
from ._args import non_negative_int, positive_int

_DTYPES = ("float32", "float64", "float16", "bfloat16")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "extract",
        help="extract a model's layer activations for a stimulus set into a zarr store",
        description="Run a torch model over stimuli and stream the activations of the named layers, batch by "
        "batch, to a zarr store (one group per layer; read it with xarray.open_zarr(OUT, group=LAYER) or "
        "neuroalign.extract.open_activations). An interrupted run resumes when the same command is run again.",
        epilog="example: neuroalign extract --model neuroalign.models:ReferenceNet --stimuli images/ "
        "--layers 'block*,fc' --resize 32 --out acts.zarr",
    )
    model = parser.add_argument_group("model")
    model.add_argument("--model", required=True,
                       help="'package.module:factory' or 'path/to/file.py:factory' (a class or function returning "
                       "an nn.Module; a module in the current folder needs no PYTHONPATH) or 'hf:<folder>'")
    model.add_argument("--weights", help="state-dict file to load (read with torch.load(weights_only=True))")
    model.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                       help="keyword argument of the factory; VALUE is read as JSON when it parses (repeatable)")
    model.add_argument("--model-name", help="name in the neuroid coordinates (default: the factory name)")
    data = parser.add_argument_group("stimuli")
    data.add_argument("--stimuli", required=True,
                      help="a folder of images, a CSV table with stimulus_id and path columns, or a .npy array "
                      "(ids are the row numbers)")
    data.add_argument("--resize", type=positive_int, help="resize the shorter side to this many pixels")
    data.add_argument("--crop", type=positive_int, help="centre-crop to this many pixels (after resizing)")
    data.add_argument("--normalize", choices=("none", "imagenet"), default="none",
                      help="per-channel normalisation (default none)")
    layers = parser.add_argument_group("layers")
    which = layers.add_mutually_exclusive_group(required=True)
    which.add_argument("--layers", help="comma-separated module names or glob patterns ('block*', 'encoder.**.mlp')")
    which.add_argument("--all-leaves", action="store_true", help="every leaf module")
    layers.add_argument("--backend", choices=("hooks", "fx"), default="hooks",
                        help="forward hooks (module names) or torch.fx graph nodes (default hooks)")
    layers.add_argument("--select", help="element of tuple/dict outputs to keep: an index or a key")
    layers.add_argument("--pooling", default="flatten",
                        help="flatten, avg, max, cls, mean, last, time, or a grid such as 2x2 (default flatten)")
    layers.add_argument("--project", type=positive_int, metavar="N", help="sparse random projection to N dims")
    layers.add_argument("--seed", type=non_negative_int, default=0, help="seed of the random projection (default 0)")
    run = parser.add_argument_group("run")
    run.add_argument("--out", required=True, help="output zarr store (e.g. acts.zarr)")
    run.add_argument("--batch-size", type=positive_int, default=64, help="stimuli per forward pass (default 64)")
    run.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, mps… (default cpu)")
    run.add_argument("--dtype", choices=_DTYPES, default="float32", help="precision of the model (default float32)")
    run.add_argument("--cache", action="store_true", help="reuse and fill the content-keyed activation cache")
    run.add_argument("--overwrite", action="store_true", help="replace a store of another extraction at --out")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(run=run_extract)

    cache = commands.add_parser(
        "cache", help="list or clear the activation cache",
        description="The activation cache lives in $NEUROALIGN_CACHE (default ~/.cache/neuroalign); entries are "
        "keyed by the content of the model, the options and the stimuli.",
    )
    actions = cache.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    actions.add_parser("list", help="list cache entries").set_defaults(run=run_cache_list)
    clear = actions.add_parser("clear", help="delete cache entries",
                               description="Delete cache entries. Deleting every entry asks first (answer y), "
                               "unless --yes is given; without a terminal to ask on, it needs --yes.")
    clear.add_argument("--key", action="append", help="delete only entries whose key starts with this (repeatable)")
    clear.add_argument("-y", "--yes", action="store_true", help="delete every entry without asking")
    clear.set_defaults(run=run_cache_clear)


def _model_kwargs(pairs: list[str]) -> dict[str, Any]:
    kwargs = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--model-arg {pair!r} is not KEY=VALUE", source="--model-arg", fix="write e.g. seed=1")
        try:
            kwargs[key] = json.loads(value)
        except json.JSONDecodeError:
            kwargs[key] = value
    return kwargs


def _stimuli(path: str) -> Any:
    from ..extract import StimulusSet

    source = Path(path)
    if source.is_dir():
        return StimulusSet.from_folder(source)
    if source.suffix.lower() == ".csv":
        return StimulusSet.from_table(source)
    if source.suffix.lower() == ".npy":
        array = _npy_stimuli(source)
        return StimulusSet.from_arrays([str(i) for i in range(len(array))], array)
    raise ConfigError(f"cannot read stimuli from {path!r}", source="--stimuli",
                      fix="pass a folder of images, a .csv table (stimulus_id, path) or a .npy array")


def _npy_stimuli(path: Path) -> Any:
    """A ``.npy`` array of stimuli, one per row: numbers, at least 2-D ((N, features) or (N, C, H, W)...)."""
    import numpy as np

    fix = "save one stimulus per row: np.save(path, images) with images of shape (N, 3, H, W) (float) or " \
          "(N, H, W, 3) (uint8 pixels)"
    if not path.is_file():
        raise FileFormatError("file not found", source=str(path), fix="check the --stimuli path")
    try:
        array = np.load(path, allow_pickle=False, mmap_mode="r")
    except ValueError as exc:  # Python objects (pickled), or a header numpy cannot read
        raise FileFormatError(f"cannot read it as a numeric .npy array ({exc})", source=str(path), fix=fix) from exc
    except (OSError, EOFError) as exc:
        raise FileFormatError(f"cannot read it as a .npy array ({exc})", source=str(path), fix=fix) from exc
    if not isinstance(array, np.ndarray):
        raise FileFormatError(f"holds a {type(array).__name__}, not one array", source=str(path), fix=fix)
    if array.ndim < 2 or array.shape[0] == 0:
        raise FileFormatError(f"holds an array of shape {array.shape}: stimuli need one row each and at least one "
                              "more axis", source=str(path), fix=fix)
    if array.dtype.kind not in "biuf":
        raise FileFormatError(f"holds {array.dtype} values, not numbers", source=str(path), fix=fix)
    return array


def _pooling(text: str) -> Any:
    if "x" in text and all(part.isdigit() for part in text.split("x")):
        rows, cols = (int(part) for part in text.split("x"))
        return (rows, cols)
    return text


def run_extract(args: argparse.Namespace) -> int:
    import torch

    from ..extract import (IMAGENET_MEAN, IMAGENET_STD, SparseRandomProjection, extract, image_preprocessing,
                           leaf_modules)
    from ..extract.models import default_model_name, load_model

    from .._paths import check_writable
    from ..extract.devices import check_device

    # everything the command line can check before the model is built and the stimuli are read
    check_writable(args.out, source="--out", folder=True)
    check_device(args.device, source="--device")
    kwargs = _model_kwargs(args.model_arg)
    stimuli = _stimuli(args.stimuli)
    model = load_model(args.model, weights=args.weights, kwargs=kwargs)
    preprocess = None
    if stimuli.kind != "text" and (args.resize or args.crop or args.normalize != "none"):
        normalize = args.normalize == "imagenet"
        preprocess = image_preprocessing(args.resize, crop=args.crop, mean=IMAGENET_MEAN if normalize else None,
                                         std=IMAGENET_STD if normalize else None)
    layers = leaf_modules if args.all_leaves else [name.strip() for name in args.layers.split(",") if name.strip()]
    select = None
    if args.select is not None:
        select = int(args.select) if args.select.lstrip("-").isdigit() else args.select
    arrays = extract(
        model, stimuli, layers, batch_size=args.batch_size, device=args.device, dtype=getattr(torch, args.dtype),
        model_name=args.model_name or default_model_name(args.model), progress=not args.no_progress,
        preprocess=preprocess, select=select, pooling=_pooling(args.pooling), backend=args.backend,
        reduce=SparseRandomProjection(args.project, seed=args.seed) if args.project else None,
        store=args.out, overwrite=args.overwrite, cache=args.cache,
    )
    for name, array in arrays.items():
        sizes = " × ".join(f"{n} {d}" for d, n in array.sizes.items())
        print(f"{name}: {sizes}")
    print(f"wrote {args.out} ({len(arrays)} layers, {len(stimuli)} stimuli)")
    return 0


def run_cache_list(args: argparse.Namespace) -> int:
    from ..extract import cache_dir, list_cache

    table = list_cache()
    if table.empty:
        print(f"the activation cache at {cache_dir()} is empty")
        return 0
    shown = table.drop(columns=["path"]).assign(key=table["key"].str[:12])
    print(shown.to_string(index=False))
    print(f"{len(table)} entries, {table['size_mb'].sum():.1f} MiB in {cache_dir()}")
    return 0


def run_cache_clear(args: argparse.Namespace) -> int:
    import sys

    from ..extract import cache_dir, clear_cache, list_cache

    if not args.key and not args.yes:
        table = list_cache()
        if len(table) and not _confirm(f"delete all {len(table)} entries ({table['size_mb'].sum():.1f} MiB) "
                                       f"in {cache_dir()}? [y/N] ", sys.stdin):
            print("nothing deleted")
            return 0
    removed = clear_cache(args.key)
    print(f"removed {removed} entries from {cache_dir()}")
    return 0


def _confirm(question: str, stdin: Any) -> bool:
    """Ask on the terminal; without one (a script, a pipe) refuse rather than wait for an answer."""
    if not stdin.isatty():
        raise ConfigError("will not delete every cache entry without asking, and there is no terminal to ask on",
                          source="cache clear", fix="pass --yes to delete them all, or --key PREFIX for some")
    try:
        answer = input(question)
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")
