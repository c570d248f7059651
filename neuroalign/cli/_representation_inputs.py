"""What ``neuroalign representations`` reads and writes: layers of activation files, label coords, CSV tables.

An activation file is either the zarr store of ``neuroalign extract`` (one group
per layer, read with :func:`neuroalign.extract.open_activations`) or a netCDF /
zarr file written by :func:`neuroalign.data.save`: one ``(presentation,
neuroid)`` array (one layer, named by its ``layer`` attribute or coordinate,
its name, else the file name) or a Dataset of such arrays (one layer per
variable).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..data.schema import NEUROID, PRESENTATION, validate
from ..errors import ConfigError, FileFormatError, SchemaError, UnknownNameError

__all__ = ["read_layers", "read_one_layer", "presentation_coords", "require_coords", "check_same_stimuli",
           "write_table", "score_table", "check_out"]

_FIX = ("pass the zarr store of 'neuroalign extract', or a (presentation, neuroid) array saved with "
        "neuroalign.data.save (.nc or .zarr)")


def _layer_name(array: xr.DataArray, path: Path) -> str:
    if isinstance(array.attrs.get("layer"), str):
        return array.attrs["layer"]
    if "layer" in array.coords and array["layer"].dims in ((), (NEUROID,)):
        values = np.unique(np.asarray(array["layer"].values).astype(str))
        if len(values) == 1:
            return str(values[0])
    if array.name is not None:
        return str(array.name)
    return path.name.split(".")[0]


def _all_layers(path: Path, wanted: Sequence[str] | None) -> dict[str, xr.DataArray]:
    from ..data.io import load
    from ..extract.store import STORE_FORMAT, open_activations, read_store_attrs

    if path.is_dir() and read_store_attrs(path).get("format") == STORE_FORMAT:
        return open_activations(path, lazy=False, layers=list(wanted) if wanted else None)
    loaded = load(path)
    if isinstance(loaded, xr.Dataset):
        layers = {str(name): loaded[name] for name in loaded.data_vars}
    elif "layer" in loaded.dims:
        layers = {str(label): loaded.sel(layer=label, drop=True) for label in loaded["layer"].values}
    else:
        layers = {_layer_name(loaded, path): loaded}
    if not layers:
        raise FileFormatError("holds no arrays", source=str(path), fix=_FIX)
    return layers


def read_layers(path: str, wanted: Sequence[str] | None = None, *, flag: str = "--activations",
                layer_flag: str = "--layer", average: bool = False) -> dict[str, xr.DataArray]:
    """Layer name → ``(presentation, neuroid)`` activations of an activation file (``wanted`` layers, or all).

    Raises
    ------
    FileFormatError
        The file does not exist or cannot be read.
    UnknownNameError
        A ``wanted`` layer is not in the file (the error lists those that are).
    SchemaError
        A layer is not a ``(presentation, neuroid)`` array with ``stimulus_id``.
    """
    source = Path(path)
    if not source.exists():
        raise FileFormatError("file not found", source=path, fix=f"check the {flag} path")
    layers = _all_layers(source, wanted)
    if wanted:
        for layer in wanted:
            if layer not in layers:
                raise UnknownNameError(layer, layers, what="layer", source=f"{layer_flag} ({path})")
        layers = {layer: layers[layer] for layer in wanted}
    result = {}
    for layer, array in layers.items():
        name = f"{path}:{layer}"
        if set(array.dims) != {PRESENTATION, NEUROID}:
            raise SchemaError(f"layer {layer!r} has dims {tuple(array.dims)}, not (presentation, neuroid)",
                              source=path, fix=_FIX)
        validate(array, dims=(PRESENTATION, NEUROID), name=name)
        if average:
            from ..data.align import average_repetitions

            array = average_repetitions(array, name=name)
        result[layer] = array.transpose(PRESENTATION, NEUROID)
    return result


def read_one_layer(path: str, layer: str | None, *, flag: str, layer_flag: str, average: bool) -> tuple[str,
                                                                                                       xr.DataArray]:
    """The one layer ``layer`` of an activation file (or its only layer when ``layer`` is None)."""
    layers = read_layers(path, [layer] if layer else None, flag=flag, layer_flag=layer_flag, average=average)
    if len(layers) > 1:
        raise ConfigError(f"{path} holds {len(layers)} layers ({', '.join(layers)})", source=layer_flag,
                          fix=f"choose one with {layer_flag} LAYER")
    return next(iter(layers.items()))


def presentation_coords(array: xr.DataArray) -> list[str]:
    """The names of the coords along ``presentation`` alone."""
    return [str(c) for c in array.coords if array[c].dims == (PRESENTATION,) and c != PRESENTATION]


def require_coords(layers: dict[str, xr.DataArray], names: Sequence[str], *, path: str, flag: str) -> None:
    """Raise unless every layer has each coord of ``names`` along ``presentation``."""
    for layer, array in layers.items():
        have = presentation_coords(array)
        for name in names:
            if name not in have:
                raise UnknownNameError(name, have, what="presentation coordinate", source=f"{flag} ({path}:{layer})")


def check_same_stimuli(a: xr.DataArray, b: xr.DataArray, *, names: tuple[str, str], join: str = "exact",
                       fix: str = "extract both networks' activations from the same stimuli (the same stimulus_id "
                                  "values)") -> None:
    """Raise an AlignmentError, before any work, unless the two arrays' stimuli can be matched (``join``)."""
    from ..data.align import align
    from ..errors import AlignmentError, DataError

    for array, name in zip((a, b), names):
        ids = pd.Index(np.asarray(array["stimulus_id"].values))
        if not ids.is_unique:
            raise DataError(f"stimulus_id repeats (e.g. {ids[ids.duplicated()].unique()[:3].tolist()}); the two "
                            "networks are compared one row per stimulus", source=name,
                            fix="pass --average-repetitions to average the presentations of each stimulus")
    try:
        align(a, b, join=join, names=names)
    except AlignmentError as error:
        raise AlignmentError(error.problem, source=error.source, fix=fix) from error


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` as CSV (no index), atomically."""
    from ..data.io import write_atomically

    return write_atomically(path, lambda tmp: frame.to_csv(tmp, index=False))


def score_table(score: Any, **columns: Any) -> pd.DataFrame:
    """:meth:`Score.to_dataframe` with constant ``columns`` inserted after ``metric``."""
    frame = score.to_dataframe()
    for i, (name, value) in enumerate(columns.items()):
        frame.insert(1 + i, name, value)
    return frame


def check_out(path: str, flag: str = "--out") -> Path:
    """Raise unless a file can be written at ``path`` (checked before any work)."""
    from .._paths import check_writable

    return check_writable(path, source=flag, folder=False)


def pairs_path(out: str | Path) -> Path:
    """The default ``--pairs`` file of ``match``: ``OUT`` with ``-pairs`` before its suffix."""
    out = Path(out)
    return out.with_name(f"{out.stem}-pairs{out.suffix or '.csv'}")


def read_pairs(args: Any) -> tuple[dict[str, xr.DataArray], dict[str, xr.DataArray]]:
    """The layers of ``--activations`` and their partners in ``--reference``, keyed alike, stimuli checked.

    A pair is named by its layer when both files name it alike, else ``"a_layer~b_layer"``.
    """
    a = read_layers(args.activations, args.layer, average=args.average_repetitions)
    if args.reference_layer:
        if not args.layer or len(args.layer) != len(args.reference_layer):
            raise ConfigError(f"--reference-layer names {len(args.reference_layer)} layer(s), --layer "
                              f"{len(args.layer or ())}", source="--reference-layer",
                              fix="name one --reference-layer for each --layer, in the same order")
        partners, layer_flag = list(args.reference_layer), "--reference-layer"
    else:
        partners, layer_flag = list(a), "--reference"
    b = read_layers(args.reference, partners, flag="--reference", layer_flag=layer_flag,
                    average=args.average_repetitions)
    names = [x if x == y else f"{x}~{y}" for x, y in zip(a, partners)]
    pairs_a = dict(zip(names, a.values()))
    pairs_b = {name: b[partner] for name, partner in zip(names, partners)}
    for (x, y), name in zip(zip(a, partners), names):
        check_same_stimuli(pairs_a[name], pairs_b[name], names=(f"{args.activations}:{x}", f"{args.reference}:{y}"),
                           join=args.join, fix="pass --join inner to keep the stimuli both files hold, or extract "
                           "both networks' activations from the same stimuli")
    return pairs_a, pairs_b


def read_inputs(path: str) -> xr.DataArray:
    """The stimuli ``--inputs``: a ``(presentation, ...)`` array with ``stimulus_id``, saved by neuroalign.data.save."""
    from ..data.io import load

    if not Path(path).exists():
        raise FileFormatError("file not found", source=path, fix="check the --inputs path")
    inputs = load(path)
    if not isinstance(inputs, xr.DataArray) or PRESENTATION not in inputs.dims:
        what = f"dims {tuple(inputs.dims)}" if isinstance(inputs, xr.DataArray) else "a Dataset"
        raise SchemaError(f"holds {what}, not stimuli over 'presentation'", source=path,
                          fix="save the stimuli as a (presentation, ...) DataArray with a stimulus_id coordinate")
    return inputs
