"""Inputs of graph pretraining studies: subjects' time-series files and a table of their labels.

Shared by ``neuroalign graphs`` and :mod:`neuroalign.pipelines.graph_pretraining`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import DataError, FileFormatError, SchemaError

__all__ = ["read_subject_timeseries", "read_label_table", "labels_for"]


def read_subject_timeseries(paths: str | os.PathLike | Sequence[str | os.PathLike], *,
                            repetition_time: float | None = None, exclude: Sequence[str] | None = None,
                            progress: bool = True) -> xr.DataArray:
    """ROI time series ``(subject, time, neuroid)``, one file (or glob match) per subject.

    Read with :func:`~neuroalign.loaders.timeseries_files.load_timeseries`;
    subject ids come from BIDS names (``sub-01_…`` gives ``01``), else the file
    names.  A single file gives one subject.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from neuroalign.pipelines.graph_inputs import read_subject_timeseries
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "sub-07_timeseries.csv"
    >>> _ = path.write_text("a,b\\n1,2\\n2,1\\n3,5\\n")
    >>> ts = read_subject_timeseries(path, repetition_time=2.0)
    >>> ts.dims, ts["subject"].values.tolist()
    (('subject', 'time', 'neuroid'), ['07'])
    """
    from ..loaders.timeseries_files import _stem, load_timeseries

    single = isinstance(paths, (str, os.PathLike))
    items = [paths] if single else list(paths)
    ts = load_timeseries(items[0] if len(items) == 1 else items, repetition_time=repetition_time,
                         exclude=list(exclude) if exclude else None, progress=progress)
    if "subject" in ts.dims:
        return ts
    if "subject" in ts.coords:  # one file, the subject from its BIDS name
        return ts.expand_dims("subject")
    return ts.expand_dims(subject=[_stem(Path(items[0]))])


def read_label_table(path: str) -> pd.DataFrame:
    """A label table indexed by subject id (as text): a CSV/TSV file with a ``subject`` column (or BIDS's
    ``participant_id``).

    Raises
    ------
    FileFormatError
        The file is missing or unreadable.
    SchemaError
        No subject column, no label column, or repeated subject ids.
    """
    source = Path(path)
    if not source.is_file():
        raise FileFormatError("file not found", source=str(source), fix="check the path of the label table")
    try:
        table = pd.read_csv(source, sep="\t" if source.suffix.lower() == ".tsv" else ",",
                            dtype={"subject": str, "participant_id": str})
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise FileFormatError(f"cannot read it as a table ({exc})", source=str(source),
                              fix="write a CSV with a subject column and one column per label") from exc
    key = next((name for name in ("subject", "participant_id") if name in table.columns), None)
    if key is None or len(table.columns) < 2:
        raise SchemaError(f"the table has columns {list(table.columns)}, it needs 'subject' (or 'participant_id') "
                          "and at least one label", source=str(source),
                          fix="write a header row such as 'subject,group,age'")
    repeated = table[key][table[key].duplicated()].tolist()
    if repeated:
        raise SchemaError(f"subject ids repeat: {repeated[:5]}", source=str(source), fix="give each subject one row")
    return table.set_index(key)


def labels_for(subjects: Any, path: str) -> dict[str, np.ndarray]:
    """Every label column of the table at ``path``, in the order of ``subjects``.

    Ids are matched as text; a table id ``sub-01`` (BIDS's ``participant_id``)
    also matches the subject ``01`` that BIDS file names give.

    Raises
    ------
    DataError
        Some subjects have no row in the table (their ids are named).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from neuroalign.pipelines.graph_inputs import labels_for
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "participants.csv"
    >>> _ = path.write_text("participant_id,group\\nsub-01,1\\nsub-02,0\\n")
    >>> labels_for(["02", "01"], str(path))["group"].tolist()
    [0, 1]
    """
    table = read_label_table(path)
    rows = {str(k): i for i, k in enumerate(table.index)}
    rows.update({str(k)[4:]: i for i, k in enumerate(table.index) if str(k).startswith("sub-")
                 and str(k)[4:] not in rows})
    ids = [str(s) for s in np.asarray(subjects).tolist()]
    missing = [i for i in ids if i not in rows]
    if missing:
        raise DataError(f"{len(missing)} of {len(ids)} subjects have no row in the label table, e.g. {missing[:5]} "
                        f"(the table has {[str(k) for k in table.index[:5]]}…)", source=path,
                        fix="add a row for every subject, with the subject ids of the data")
    positions = [rows[i] for i in ids]
    return {str(name): table[name].to_numpy()[positions] for name in table.columns}
