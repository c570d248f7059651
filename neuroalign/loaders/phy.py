"""Kilosort/phy output folders into the data model.

:func:`load_phy` returns the array of :func:`neuroalign.loaders.binning.bin_spikes`,
like :func:`neuroalign.loaders.spikes.load_nwb_spikes`; see
``docs/loaders-spikes.md``.
"""

from __future__ import annotations

import ast
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import ConfigError, DataError, FileFormatError, UnknownNameError
from .binning import assemble, coord_values, event_times_array, refuse_repeated_columns
from .spike_counts import check_spike_times
from .text_tables import read_text_table

__all__ = ["load_phy", "read_phy_params"]

logger = logging.getLogger(__name__)


def read_phy_params(path: str | os.PathLike) -> dict[str, Any]:
    """The assignments of a phy ``params.py``, read safely (never executed).

    Each top-level ``name = <literal>`` is evaluated with :func:`ast.literal_eval`;
    anything else (calls, imports, expressions) is ignored and logged.

    Raises
    ------
    FileFormatError
        The file is missing or is not valid Python syntax.

    Examples
    --------
    >>> import tempfile, os
    >>> from neuroalign.loaders.phy import read_phy_params
    >>> path = os.path.join(tempfile.mkdtemp(), "params.py")
    >>> _ = open(path, "w").write("dat_path = 'raw.bin'\\nsample_rate = 30000.\\nimport os\\n")
    >>> read_phy_params(path)
    {'dat_path': 'raw.bin', 'sample_rate': 30000.0}
    """
    path = Path(path)
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except FileNotFoundError:
        raise FileFormatError("params.py is missing", source=str(path),
                              fix="phy folders need params.py with sample_rate = <Hz>") from None
    except (SyntaxError, ValueError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"params.py is not valid Python ({exc})", source=str(path),
                              fix="fix the file: one 'name = value' per line") from exc
    params: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                params[node.targets[0].id] = ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                logger.info("%s: %s is not a literal and is ignored", path, node.targets[0].id)
        else:
            logger.info("%s: line %d is not a 'name = literal' assignment and is ignored", path, node.lineno)
    return params


def _load_npy(path: Path, folder: Path) -> np.ndarray:
    """One value per spike: a 1-D array, or the ``(n, 1)`` column Kilosort writes."""
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise FileFormatError(f"{path.name} is missing", source=str(folder),
                              fix="point load_phy at the Kilosort/phy output folder") from None
    except (ValueError, OSError, EOFError) as exc:
        raise FileFormatError(f"{path.name} is not a readable numeric .npy file ({exc})", source=str(path),
                              fix="re-export it from Kilosort/phy; object (pickled) arrays are refused") from exc
    if not isinstance(array, np.ndarray) or not (array.ndim == 1 or (array.ndim == 2 and array.shape[1] == 1)):
        shape = getattr(array, "shape", None)
        raise FileFormatError(f"{path.name} has shape {shape}, not one value per spike (n,) or (n, 1)",
                              source=str(path), fix="re-export it from Kilosort/phy")
    return array.ravel()


def _read_tsv(path: Path, column: str) -> pd.DataFrame:
    """A phy cluster table indexed by integer cluster id (one row per cluster)."""
    frame = read_text_table(path, sep="\t", what="phy cluster table")
    with open(path, "rb") as handle:  # phy and Kilosort end every line: a file without a final newline was cut off
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) not in (b"\n", b"\r"):
            raise FileFormatError("the file does not end with a newline, as phy and Kilosort write it: it looks "
                                  "cut off, and its last row may be incomplete", source=str(path),
                                  fix="re-save the curation in phy (or re-run Kilosort), or copy the file again")
    if "cluster_id" not in frame.columns and "id" in frame.columns:
        frame = frame.rename(columns={"id": "cluster_id"})
    for needed in ("cluster_id", column):
        if needed not in frame.columns:
            raise FileFormatError(f"column {needed!r} is missing (columns: {list(frame.columns)})",
                                  source=str(path), fix=f"the file needs columns cluster_id and {column}")
    ids = pd.to_numeric(frame["cluster_id"], errors="coerce")
    if ids.isna().any() or not np.all(ids == np.round(ids)):
        bad = frame["cluster_id"][ids.isna() | (ids != np.round(ids))].tolist()[:5]
        raise FileFormatError(f"cluster_id holds values that are not integer cluster ids: {bad}", source=str(path),
                              fix="phy writes one integer cluster id per row; re-save the curation in phy")
    ids = ids.astype(np.int64)
    if ids.duplicated().any():
        raise FileFormatError(f"cluster(s) {sorted(set(ids[ids.duplicated()].tolist()))[:5]} are listed twice",
                              source=str(path), fix="keep one row per cluster (re-save the curation in phy)")
    return frame.assign(cluster_id=ids).set_index("cluster_id")


def _phy_labels(folder: Path, clusters: np.ndarray) -> tuple[dict[str, np.ndarray], list[str]]:
    """Per-cluster coordinates: ``label`` (manual group, else KSLabel, else 'unsorted') and cluster_info."""
    coords: dict[str, np.ndarray] = {}
    used: list[str] = []
    label = pd.Series("unsorted", index=clusters, dtype=object)
    ks_path, group_path = folder / "cluster_KSLabel.tsv", folder / "cluster_group.tsv"
    if ks_path.is_file():
        ks = _read_tsv(ks_path, "KSLabel")["KSLabel"].dropna().astype(str)  # a missing label is not 'nan'
        coords["KSLabel"] = coord_values(ks.reindex(clusters).fillna("").tolist())
        label.update(ks.reindex(clusters).dropna())
        used.append(ks_path.name)
    if group_path.is_file():
        group = _read_tsv(group_path, "group")["group"].dropna().astype(str)
        coords["group"] = coord_values(group.reindex(clusters).fillna("").tolist())
        label.update(group.reindex(clusters).dropna())
        used.append(group_path.name)
    info_path = folder / "cluster_info.tsv"
    if info_path.is_file():
        info = _read_tsv(info_path, "cluster_id").reindex(clusters)
        for column in info.columns:
            name = "electrode" if column == "ch" else str(column)
            if name not in coords and name != "label" and not info[column].isna().all():
                coords[name] = coord_values(info[column].tolist())
        used.append(info_path.name)
    coords["label"] = label.to_numpy(dtype=object)
    return coords, used


def _phy_recording(folder: Path, params: Mapping[str, Any], sample_rate: float, last: float):
    dat = params.get("dat_path")
    dat = dat[0] if isinstance(dat, (list, tuple)) and dat else dat
    try:
        dat_path = Path(dat) if Path(dat).is_absolute() else folder / dat
        itemsize = np.dtype(params.get("dtype", "int16")).itemsize
        n_samples = (dat_path.stat().st_size - int(params.get("offset", 0))) // (itemsize * int(params["n_channels_dat"]))
        return 0.0, max(n_samples / sample_rate, last)
    except (TypeError, KeyError, OSError, ValueError, ZeroDivisionError):
        return 0.0, last


def _read_events_table(events: Any, align_to: str | None) -> tuple[np.ndarray, pd.DataFrame | None, str, Any]:
    """Event times, the trial table (or None), the alignment column and the provenance input."""
    if isinstance(events, (str, os.PathLike)):
        path = Path(events)
        if not path.is_file():
            raise FileFormatError("events file not found", source=str(path), fix="check the path")
        frame = read_text_table(path, sep="\t" if path.suffix.lower() in (".tsv", ".txt") else ",",
                                what="events table")
        times, column = _events_from_frame(frame, align_to, str(path))
        return times, frame, column, str(path)
    if isinstance(events, pd.DataFrame):
        times, column = _events_from_frame(events, align_to, "events")
        return times, events, column, times
    times = event_times_array(events, "events")
    return times, None, align_to or "events", times


def _events_from_frame(frame: pd.DataFrame, align_to: str | None, source: str) -> tuple[np.ndarray, str]:
    """The alignment times of an events table (its ``align_to`` column, else start_time or onset) and that column."""
    refuse_repeated_columns(frame, "events table", source)
    column = align_to or next((c for c in ("start_time", "onset") if c in frame.columns), None)
    if column is None or column not in frame.columns:
        raise UnknownNameError(str(column or "start_time"), list(map(str, frame.columns)),
                               what="events column", source=source)
    times = pd.to_numeric(frame[column], errors="coerce")
    text = times.isna() & frame[column].notna()
    if text.any() or pd.api.types.is_bool_dtype(frame[column]):
        raise DataError(f"events column {column!r} is not numeric (e.g. {frame[column][text].tolist()[:3]})",
                        source=source, fix="align to a column of times in seconds (align_to='<column>')")
    return times.to_numpy(dtype=float), column


def load_phy(
    folder: str | os.PathLike,
    events: Any,
    *,
    window: Sequence[float],
    bin_size: float | None = None,
    align_to: str | None = None,
    stimulus_id: str | Sequence[Any] | None = None,
    labels: Sequence[str] | str | None = ("good",),
    rate: bool = False,
    recording: Sequence[float] | None = None,
    unobserved: str = "nan",
) -> xr.DataArray:
    """Spike counts of a Kilosort/phy output folder around events.

    Parameters
    ----------
    folder : path-like
        Holds ``spike_times.npy`` (sample indices), ``params.py``
        (``sample_rate``), ``spike_clusters.npy`` (or, before curation,
        ``spike_templates.npy``) and optionally ``cluster_group.tsv``,
        ``cluster_KSLabel.tsv`` and ``cluster_info.tsv``.
    events : array_like, pandas.DataFrame or path
        Event times in seconds on the recording's clock, or a trial table (a
        DataFrame, or a CSV/TSV file such as a BIDS ``events.tsv``).
    window : (start, stop)
        Window around each event in seconds.
    bin_size : float, optional
        Bin width in seconds (must divide the window); ``None``: one bin.
    align_to : str, optional
        The events column with the alignment times.  Default: ``start_time``,
        else ``onset`` (BIDS).
    stimulus_id : str or sequence, optional
        A column of the events table, or one id per event.
    labels : str or sequence of str or None
        Keep clusters with these labels (``"good"``, ``"mua"``, ``"noise"``,
        ``"unsorted"``).  A cluster's label is its manual group from
        ``cluster_group.tsv``, else its ``cluster_KSLabel.tsv`` label, else
        ``"unsorted"``.  ``None`` keeps every cluster.
    rate : bool
        Spikes per second ("Hz") instead of counts.
    recording : (start, stop), optional
        Recorded span in seconds.  Default: from the size of the raw
        ``dat_path`` file when it is there, else 0 to the last spike.
    unobserved : {"nan", "raise", "count"}
        Bins reaching outside ``recording``: NaN, an error, or counted.

    Returns
    -------
    xarray.DataArray
        Dims ``(presentation, neuroid, time_bin)``; ``neuroid_id`` is the
        cluster id as a string, with ``label`` (and ``group``, ``KSLabel`` and
        the ``cluster_info.tsv`` columns, ``ch`` renamed ``electrode``).

    Raises
    ------
    FileFormatError
        A required file is missing or unreadable, ``sample_rate`` is missing,
        or the spike arrays disagree in length.
    ConfigError, UnknownNameError, DataError
        No cluster has the wanted labels, a missing events column, unsorted or
        negative spike times, a window outside the recording.

    Examples
    --------
    A minimal phy folder: three spikes (samples at 30 kHz) of clusters 1 and 2.

    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from neuroalign.loaders.phy import load_phy
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> np.save(folder / "spike_times.npy", np.array([300, 3300, 6000], dtype=np.uint64))
    >>> np.save(folder / "spike_clusters.npy", np.array([1, 2, 1], dtype=np.int32))
    >>> _ = (folder / "params.py").write_text("sample_rate = 30000.0\\n")
    >>> counts = load_phy(folder, events=[0.0], window=(0, 0.3), bin_size=0.1, labels=None,
    ...                   recording=(0, 1))
    >>> counts.neuroid_id.values.tolist(), counts.values[0].tolist()
    (['1', '2'], [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileFormatError("folder not found", source=str(folder),
                              fix="pass the Kilosort/phy output folder (with spike_times.npy and params.py)")
    params = read_phy_params(folder / "params.py")
    sample_rate = params.get("sample_rate")
    if (not isinstance(sample_rate, (int, float)) or isinstance(sample_rate, bool) or not sample_rate > 0
            or not np.isfinite(sample_rate)):
        raise FileFormatError(f"params.py has no positive, finite numeric sample_rate (got {sample_rate!r})",
                              source=str(folder / "params.py"), fix="add a line such as: sample_rate = 30000.0")
    samples = _load_npy(folder / "spike_times.npy", folder)
    if samples.dtype.kind == "f" and not np.all(np.mod(samples[np.isfinite(samples)], 1) == 0):
        raise FileFormatError("spike_times.npy holds non-integer values; phy stores sample indices",
                              source=str(folder / "spike_times.npy"),
                              fix="if they are seconds, save np.round(times * sample_rate).astype(np.int64)")
    if samples.dtype.kind not in "iuf":
        raise FileFormatError(f"spike_times.npy has dtype {samples.dtype}, not sample indices",
                              source=str(folder / "spike_times.npy"), fix="re-export it from Kilosort/phy")
    cluster_file = folder / "spike_clusters.npy"
    if not cluster_file.is_file():
        cluster_file = folder / "spike_templates.npy"
        logger.info("%s: no spike_clusters.npy, using the uncurated spike_templates.npy", folder)
    clusters = _load_npy(cluster_file, folder)
    if clusters.dtype.kind not in "iu":
        raise FileFormatError(f"{cluster_file.name} has dtype {clusters.dtype}, not integer cluster ids",
                              source=str(cluster_file), fix="re-export it from Kilosort/phy")
    if clusters.size != samples.size:
        raise FileFormatError(f"{cluster_file.name} has {clusters.size} entries for {samples.size} spike times",
                              source=str(folder), fix="the two files come from different sortings: re-export both")
    if samples.size == 0:
        raise DataError("spike_times.npy holds no spikes", source=str(folder / "spike_times.npy"),
                        fix="check that the sorting finished and found units")
    times = samples.astype(float) / float(sample_rate)
    codes_all, cluster_ids = pd.factorize(clusters, sort=True)
    cluster_ids = np.asarray(cluster_ids)
    # every spike is checked, also those of clusters the labels leave out: they set the recorded span
    check_spike_times(times, codes_all, [int(c) for c in cluster_ids], str(folder / "spike_times.npy"))
    coords, label_files = _phy_labels(folder, cluster_ids)
    if labels is None:
        keep = np.arange(cluster_ids.size)
    else:
        if isinstance(labels, str):
            wanted = [labels]
        elif isinstance(labels, Sequence) and all(isinstance(v, str) for v in labels):
            wanted = list(labels)
        else:
            raise ConfigError(f"labels must be a label, a list of labels or None, got {labels!r}", source="labels",
                              fix="pass e.g. labels=['good', 'mua'], or labels=None for every cluster")
        if not label_files:
            raise ConfigError(f"cannot keep labels {wanted}: the folder has no cluster_group.tsv or "
                              "cluster_KSLabel.tsv", source=str(folder),
                              fix="pass labels=None to keep every cluster, or curate the sorting in phy first")
        keep = np.flatnonzero(np.isin(coords["label"].astype(str), wanted))
        if keep.size == 0:
            found = pd.Series(coords["label"]).value_counts().to_dict()
            raise ConfigError(f"no cluster is labelled {wanted} (labels found: {found})", source=str(folder),
                              fix="pick labels among those found, or pass labels=None")
    remap = np.full(cluster_ids.size, -1, dtype=np.int64)
    remap[keep] = np.arange(keep.size)
    codes = remap[codes_all]
    chosen = codes >= 0
    event_times, frame, column, events_input = _read_events_table(events, align_to)
    if recording is None:
        recording = _phy_recording(folder, params, float(sample_rate), float(times.max()) if times.size else 0.0)
    inputs = {name: str(folder / name) for name in ["params.py", "spike_times.npy", cluster_file.name, *label_files]}
    inputs["events"] = events_input
    return assemble(
        times[chosen], codes[chosen], [int(c) for c in cluster_ids[keep]], event_times,
        window=window, bin_size=bin_size, trials=frame, stimulus_id=stimulus_id,
        neuroid={name: values[keep] for name, values in coords.items()},
        rate=rate, recording=recording, observed=None, unobserved=unobserved, align_to=column,
        source=str(folder),
        parameters={"window": list(window), "bin_size": bin_size, "align_to": column, "rate": rate,
                    "labels": labels if labels is None or isinstance(labels, str) else list(labels),
                    "stimulus_id": stimulus_id if isinstance(stimulus_id, str) else None,
                    "unobserved": unobserved, "sample_rate": float(sample_rate),
                    "clusters_from": cluster_file.name},
        inputs=inputs,
        attrs={"source": folder.name, "sample_rate": float(sample_rate)},
    )
