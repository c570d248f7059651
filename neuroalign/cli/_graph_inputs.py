"""What ``neuroalign graphs`` reads: connectivity files, time-series files or a saved graph dataset, and labels.

Connectivity files are read with :func:`neuroalign.loaders.load_connectivity`
(CSV/TSV/NPY/MAT; one matrix per subject, or a ``(subject, n, n)`` NPY stack),
except a dynamic stack: a 4-D NPY array ``(subject, window, n, n)`` or a netCDF
file written by :func:`neuroalign.data.save` (e.g. the output of
:func:`~neuroalign.loaders.functional_connectivity.connectivity`).  Time-series
files are read with :func:`~neuroalign.loaders.timeseries_files.load_timeseries`
(one file per subject) and go through
:meth:`~neuroalign.graphs.dataset.ConnectivityGraphs.from_timeseries`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..errors import ConfigError, FileFormatError, SchemaError
from ..pipelines.graph_inputs import labels_for

__all__ = ["add_input_arguments", "read_graphs", "read_connectivity", "window_length"]


def window_length(text: str) -> int | str:
    """An ``argparse`` type: a number of volumes (``50``) or a length with a unit (``"60s"``, ``"20vol"``).

    Examples
    --------
    >>> from neuroalign.cli._graph_inputs import window_length
    >>> window_length("50"), window_length("60s")
    (50, '60s')
    """
    text = text.strip()
    if text.isdigit():
        if int(text) < 1:
            raise argparse.ArgumentTypeError(f"must be at least 1 volume, got {text}")
        return int(text)
    if not text or not text[0].isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is neither a number of volumes nor a length such as '60s'")
    return text


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that say where the graphs come from (shared by ``pretrain`` and ``embed``)."""
    from ._args import number

    inputs = parser.add_argument_group("inputs (one of)")
    which = inputs.add_mutually_exclusive_group(required=True)
    which.add_argument("--timeseries", nargs="+", metavar="FILE",
                       help="ROI time series, one CSV/TSV/NPY/MAT file per subject (rows = volumes, columns = "
                       "ROIs; a quoted glob pattern works too)")
    which.add_argument("--connectivity", nargs="+", metavar="FILE",
                       help="connectivity: one CSV/TSV/NPY/MAT matrix per subject, a (subject, n, n) .npy stack, a "
                       "dynamic (subject, window, n, n) .npy stack, or one netCDF file of dims (subject, [window,] "
                       "neuroid_a, neuroid_b) written by neuroalign.data.save")
    which.add_argument("--graphs", metavar="FOLDER", help="a graph dataset folder written by ConnectivityGraphs.save")
    series = parser.add_argument_group("time series")
    series.add_argument("--repetition-time", type=number, metavar="SECONDS",
                        help="seconds per volume (default: RepetitionTime of BIDS JSON sidecars)")
    series.add_argument("--exclude", action="append", default=[], metavar="COLUMN",
                        help="columns to leave out, e.g. nuisance signals (comma-separated or repeated)")
    series.add_argument("--window", type=window_length,
                        help="sliding-window length: volumes (50) or with a unit ('60s'); without it, one static "
                        "graph per subject")
    series.add_argument("--step", type=window_length, help="step between windows (default one volume)")
    series.add_argument("--kind",
                        help="connectivity measure of neuroalign.loaders.functional_connectivity.connectivity "
                        "(default correlation)")
    inputs.add_argument("--labels", metavar="FILE",
                        help="a CSV/TSV table with a 'subject' column and one column per label (e.g. group, age), "
                        "kept as subject coordinates")
    inputs.add_argument("--dynamic", action="store_true",
                        help="require sliding-window (dynamic) graphs: connectivity without windows is an error")


def _exclude(values: list[str]) -> list[str] | None:
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    return names or None


def read_graphs(args: argparse.Namespace, spec: Any = None, *, progress: bool = True) -> Any:
    """The :class:`~neuroalign.graphs.dataset.ConnectivityGraphs` of the command line's inputs.

    ``spec`` is the :class:`~neuroalign.graphs.spec.GraphSpec` (None: the
    default, or a saved dataset's own).
    """
    from ..graphs.dataset import ConnectivityGraphs

    if args.timeseries:
        if args.dynamic and args.window is None:
            raise ConfigError("--dynamic asks for sliding-window graphs, but no --window was given",
                              source="--window", fix="pass --window (and --step), e.g. --window 50 --step 3")
        ts = _read_timeseries(args, progress)
        labels = labels_for(ts["subject"].values, args.labels) if args.labels else None
        needs_extra = spec is not None and spec.needs_extra
        return ConnectivityGraphs.from_timeseries(ts, window=args.window, step=args.step,
                                                  kind=args.kind or "correlation", spec=spec, labels=labels,
                                                  statistics=needs_extra)
    _refuse_series_options(args)
    if args.graphs:
        if args.labels:
            raise ConfigError("--labels cannot be added to a saved graph dataset", source="--labels",
                              fix="a saved dataset keeps the labels it was built with: build it again with them")
        dataset = ConnectivityGraphs.load(args.graphs, spec=spec)
        if args.dynamic and not dataset.dynamic:
            raise SchemaError("dynamic graphs need sliding-window connectivity, but the saved dataset has no "
                              "'window' dim", source=args.graphs, fix="build the dataset from sliding-window "
                              "connectivity, or leave out --dynamic")
        return dataset
    fc = read_connectivity(args.connectivity, progress=progress)
    labels = labels_for(fc["subject"].values, args.labels) if args.labels else None
    return ConnectivityGraphs.from_connectivity(fc, spec=spec, labels=labels, dynamic=True if args.dynamic else None)


def _refuse_series_options(args: argparse.Namespace) -> None:
    given = [flag for flag, value in (("--window", args.window), ("--step", args.step),
                                      ("--repetition-time", args.repetition_time), ("--exclude", args.exclude),
                                      ("--kind", args.kind))
             if value]
    if given:
        raise ConfigError(f"{', '.join(given)} apply to --timeseries inputs only", source=given[0],
                          fix="leave them out, or pass the time series with --timeseries")


def _read_timeseries(args: argparse.Namespace, progress: bool) -> xr.DataArray:
    from ..pipelines.graph_inputs import read_subject_timeseries

    return read_subject_timeseries(args.timeseries, repetition_time=args.repetition_time,
                                   exclude=_exclude(args.exclude), progress=progress)


def read_connectivity(paths: list[str], *, progress: bool = True) -> xr.DataArray:
    """Connectivity ``(subject, [window,] neuroid_a, neuroid_b)`` from the ``--connectivity`` files."""
    from ..loaders import load_connectivity

    suffixes = {_suffix(p) for p in paths}
    if suffixes & {".nc", ".npy"} and len(paths) == 1:
        if ".nc" in suffixes:
            return _read_netcdf(Path(paths[0]))
        array = _peek_npy(Path(paths[0]))
        if array.ndim == 4:
            return _dynamic_stack(array, Path(paths[0]))
    elif ".nc" in suffixes:
        raise ConfigError("a netCDF connectivity file is read alone (it holds every subject)", source="--connectivity",
                          fix="pass one .nc file, or matrix files (CSV/TSV/NPY/MAT) only")
    fc = load_connectivity(paths[0] if len(paths) == 1 else paths, kind="correlation", progress=progress)
    if "subject" not in fc.dims:
        if "subject" in fc.coords:
            return fc.expand_dims("subject")
        from ..loaders.timeseries_files import _stem

        return fc.expand_dims(subject=[_stem(Path(paths[0]))])
    return fc


def _suffix(path: str) -> str:
    return Path(path).suffix.lower()


def _read_netcdf(path: Path) -> xr.DataArray:
    from ..data.io import load

    if not path.is_file():
        raise FileFormatError("file not found", source=str(path), fix="check the --connectivity path")
    array = load(path)
    if not isinstance(array, xr.DataArray):
        raise FileFormatError("holds a Dataset, not one connectivity array", source=str(path),
                              fix="save the connectivity DataArray with neuroalign.data.save(fc, path)")
    return array


def _peek_npy(path: Path) -> np.ndarray:
    fix = "save a numeric array with np.save: (n, n), (subject, n, n) or (subject, window, n, n)"
    if not path.is_file():
        raise FileFormatError("file not found", source=str(path), fix="check the --connectivity path")
    try:
        array = np.load(path, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError, EOFError) as exc:
        raise FileFormatError(f"cannot read it as a numeric .npy array ({exc})", source=str(path), fix=fix) from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        raise FileFormatError("does not hold one numeric array", source=str(path), fix=fix)
    return array


def _dynamic_stack(array: np.ndarray, path: Path) -> xr.DataArray:
    """A ``(subject, window, n, n)`` array as connectivity with ids 0, 1, … (as load_connectivity names them)."""
    from ..data.provenance import provenance

    n_subjects, n_windows, n, m = array.shape
    if n != m or n < 2:
        raise SchemaError(f"a 4-D stack must be (subject, window, n, n), got shape {array.shape}", source=str(path),
                          fix="save the windows' square matrices, e.g. np.save(path, fc) with fc of shape "
                          "(subject, window, n, n)")
    values = np.asarray(array, dtype=np.float64)
    ids = [str(i) for i in range(n)]
    return xr.DataArray(values, dims=("subject", "window", "neuroid_a", "neuroid_b"), name="connectivity",
                        coords={"subject": [str(i) for i in range(n_subjects)], "window": np.arange(n_windows),
                                "neuroid_a": ids, "neuroid_b": ids},
                        attrs={"kind": "correlation", "source": str(path),
                               **provenance({"stack": "subject, window"}, {"path": str(path)})})
