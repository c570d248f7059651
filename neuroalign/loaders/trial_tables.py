"""Reading one trial table from disk: CSV/TSV (also compressed), MATLAB (v5 and v7.3) or NWB intervals.

:func:`read_trial_table` returns the table as a :class:`pandas.DataFrame`, one
row per trial, plus the metadata the file holds; :func:`~neuroalign.loaders.load_trials`
turns it into the data model.  Every failure names the file, the problem and
the fix.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import (
    ConfigError,
    DependencyError,
    FileFormatError,
    NeuroalignError,
    UnknownNameError,
)
from .matfiles import read_mat_table
from .text_tables import read_text_table

__all__ = ["read_trial_table"]

logger = logging.getLogger(__name__)

_FORMATS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".mat": "mat", ".nwb": "nwb"}


def read_trial_table(path: str | os.PathLike, *, format: str | None = None, table: str | None = None,
                     column_names: Sequence[str] | None = None,
                     na_values: Iterable[Any] | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read one trial table into a :class:`pandas.DataFrame` (one row per trial).

    Parameters
    ----------
    path : path-like
        ``.csv``, ``.tsv``/``.txt`` (also gzipped), ``.mat`` or ``.nwb``.
    format : {"csv", "tsv", "mat", "nwb"}, optional
        Overrides the format the suffix implies.
    table : str, optional
        MAT: the variable holding the table (a struct, a struct array or a
        matrix); NWB: the intervals table (default ``"trials"``).
    column_names : sequence of str, optional
        Names for the columns of a MATLAB matrix that has no header variable.
    na_values : iterable, optional
        Extra values that mean "missing" (e.g. ``[-1]``).

    Returns
    -------
    (pandas.DataFrame, dict)
        The table, and metadata found in the file (``subject``, ``session``,
        ``descriptions`` of NWB columns).

    Raises
    ------
    FileFormatError
        Missing, empty, truncated or corrupt file; unknown suffix; a MATLAB
        matrix whose header does not match its shape.
    UnknownNameError
        ``table`` is not in the file.
    DependencyError
        An NWB file is read without ``pynwb`` installed.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "trials.csv")
    >>> _ = open(path, "w").write("stimulus,rt\\ncat.png,0.41\\n")
    >>> read_trial_table(path)[0].columns.tolist()
    ['stimulus', 'rt']
    """
    path = Path(path)
    kind = _format_of(path, format)
    if not path.is_file():
        raise FileFormatError("file not found", source=str(path), fix="check the path")
    if path.stat().st_size == 0:
        raise FileFormatError("the file is empty", source=str(path), fix="check that it was written completely")
    if kind in ("csv", "tsv"):
        for name, value in (("table", table), ("column_names", column_names)):
            if value is not None:
                raise ConfigError(f"{name}= applies to MATLAB and NWB files, not to a {kind.upper()} table",
                                  source=name, fix=f"leave {name} out for this file")
        frame, meta = _read_text(path, kind, na_values), {}
    elif kind == "mat":
        frame, meta = read_mat_table(path, table=table, column_names=column_names), {}
    else:
        if column_names is not None:
            raise ConfigError("column_names= applies to MATLAB matrices, not to an NWB table", source="column_names",
                              fix="leave column_names out for this file")
        frame, meta = _read_nwb_table(path, table)
    if na_values is not None and kind != "csv" and kind != "tsv":
        frame = frame.replace(list(na_values), np.nan)
    names = [str(c) for c in frame.columns]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise FileFormatError(f"the table has several columns named {repeated}", source=str(path),
                              fix="give every column its own name (column_names=[...] for a MATLAB matrix)")
    if len(frame) == 0:
        raise FileFormatError("the table has no rows", source=str(path), fix="check that trials were recorded")
    return frame, meta


def _format_of(path: Path, format: str | None) -> str:
    if format is not None:
        if format not in {"csv", "tsv", "mat", "nwb"}:
            raise UnknownNameError(format, {"csv", "tsv", "mat", "nwb"}, what="format", source="format")
        return format
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2", ".xz", ".zip") and len(suffixes) > 1:
        suffixes = suffixes[:-1]
    suffix = suffixes[-1] if suffixes else ""
    if suffix not in _FORMATS:
        raise FileFormatError(
            f"unknown trial-table format {suffix or '(no suffix)'!r}",
            source=str(path),
            fix="use a .csv, .tsv, .txt, .mat or .nwb file, or pass format='csv'/'tsv'/'mat'/'nwb'",
        )
    return _FORMATS[suffix]


def _read_text(path: Path, kind: str, na_values: Iterable[Any] | None) -> pd.DataFrame:
    return read_text_table(path, sep="," if kind == "csv" else "\t", na_values=na_values, what="trial table")


def _read_nwb_table(path: Path, table: str | None) -> tuple[pd.DataFrame, dict[str, Any]]:
    try:
        import pynwb
    except ImportError as exc:
        raise DependencyError("reading NWB files needs the optional package pynwb", source=str(path),
                              fix='pip install "neuroalign[nwb]" (or pip install pynwb)') from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pynwb.NWBHDF5IO(str(path), "r", load_namespaces=True) as io:
                nwb = io.read()
                tables = dict(nwb.intervals or {})
                if not tables:
                    raise FileFormatError("the NWB file has no intervals tables (no trials)", source=str(path),
                                          fix="add a trials table with nwbfile.add_trial(...) or pick another file")
                if table is None:
                    if "trials" in tables or len(tables) == 1:
                        table = "trials" if "trials" in tables else next(iter(tables))
                    else:
                        raise ConfigError(f"the NWB file has several intervals tables: {sorted(tables)}",
                                          source=str(path), fix="choose one with table='<name>'")
                if table not in tables:
                    raise UnknownNameError(table, tables, what="NWB intervals table", source=str(path))
                dyn = tables[table]
                frame = dyn.to_dataframe(index=True).reset_index()
                meta = {"descriptions": {c.name: c.description for c in dyn.columns}, "table": table,
                        "session": nwb.session_id or None,
                        "subject": getattr(nwb.subject, "subject_id", None) if nwb.subject else None}
    except NeuroalignError:
        raise
    except Exception as exc:
        raise FileFormatError(
            f"cannot read it as an NWB file ({type(exc).__name__}: {exc})", source=str(path),
            fix="check that the file is complete; pynwb.validate can point at the problem",
        ) from exc
    ragged = [c for c in frame.columns if frame[c].map(lambda v: isinstance(v, (list, np.ndarray, pd.DataFrame))
                                                       or hasattr(v, "data")).any()]
    if ragged:
        logger.info("%s: table %r columns %s hold ragged or linked values; skipped", path, table, ragged)
        frame = frame.drop(columns=ragged)
    return frame, meta
