"""Reading a delimited text table (CSV/TSV, also compressed) with a header line, refusing what pandas would hide.

:func:`pandas.read_csv` silently renames a repeated header name (``a``, ``a``
becomes ``a``, ``a.1``), names a missing one ``Unnamed: 2`` and, with more
fields in a row than in the header, quietly uses the first as the index.
:func:`read_text_table` turns each of these into a
:class:`~neuroalign.errors.FileFormatError` that names the file, the columns
and the fix.  The trial-table, phy and events readers use it.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import os
import warnings
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import FileFormatError

__all__ = ["read_text_table", "header_names", "refuse_repeated_names"]

#: The texts read as missing by default ("n/a" is the BIDS spelling).
MISSING_TEXT = ("n/a", "N/A", "NA", "NaN", "nan", "")

_PARSE_ERRORS = (pd.errors.ParserError, pd.errors.ParserWarning, pd.errors.EmptyDataError, UnicodeDecodeError,
                 OSError, EOFError, ValueError, csv.Error, zipfile.BadZipFile, lzma.LZMAError)


def _open_text(path: Path):
    """The file as text, decompressed by suffix as pandas does (newline="" for the csv module)."""
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    if suffix == ".bz2":
        return bz2.open(path, "rt", encoding="utf-8-sig", newline="")
    if suffix == ".xz":
        return lzma.open(path, "rt", encoding="utf-8-sig", newline="")
    if suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            members = archive.namelist()
            if len(members) != 1:
                raise ValueError(f"the zip archive holds {len(members)} files, not one")
            return io.StringIO(archive.read(members[0]).decode("utf-8-sig"), newline="")
    return open(path, encoding="utf-8-sig", newline="")


def header_names(path: str | os.PathLike, sep: str) -> list[str]:
    """The names of the header line exactly as written (quotes removed, nothing renamed).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> _ = open(path, "w").write("rt,rt,stimulus\\n0.5,0.6,a.png\\n")
    >>> header_names(path, ",")
    ['rt', 'rt', 'stimulus']
    """
    return _scan(Path(path), sep)[0]


def _scan(path: Path, sep: str) -> tuple[list[str], list[tuple[int, int]]]:
    """The header names, and (line, number of fields) of every non-blank row that has another number of fields."""
    with _open_text(path) as handle:
        rows = csv.reader(handle, delimiter=sep)
        names: list[str] | None = None
        wrong: list[tuple[int, int]] = []
        for row in rows:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank lines are skipped, as pandas does
            if names is None:
                names = row
            elif len(row) != len(names):
                wrong.append((rows.line_num, len(row)))
    return names or [], wrong


def refuse_repeated_names(names: Sequence[str], path: str | os.PathLike) -> None:
    """Raise :class:`FileFormatError` when a header repeats a name (pandas would rename the second ``a`` to ``a.1``)."""
    repeated = [name for name, n in Counter(names).items() if n > 1]
    if repeated:
        positions = [i for i, name in enumerate(names) if name in repeated]
        raise FileFormatError(
            f"the header repeats the column name(s) {repeated} (at positions {positions})", source=str(path),
            fix="give every column its own name in the header line",
        )


def read_text_table(path: str | os.PathLike, *, sep: str, na_values: Iterable[Any] | None = None,
                    what: str = "table") -> pd.DataFrame:
    """Read a CSV/TSV file with a header line into a DataFrame, or raise a named error.

    Parameters
    ----------
    path : path-like
        The file (``.gz``/``.bz2``/``.xz``/``.zip`` compression is inferred
        from the suffix).
    sep : str
        ``","`` or ``"\\t"``.
    na_values : iterable, optional
        Texts read as missing in addition to :data:`MISSING_TEXT`.
    what : str
        What the table is, for messages (``"trial table"``).

    Returns
    -------
    pandas.DataFrame
        Columns named exactly as in the header.

    Raises
    ------
    FileFormatError
        The file cannot be parsed (wrong delimiter, ragged rows, bad
        encoding, empty), a header name is repeated, or a column has no name.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> _ = open(path, "w").write("rt,rt\\n0.5,0.6\\n")
    >>> read_text_table(path, sep=",")
    Traceback (most recent call last):
    ...
    neuroalign.errors.FileFormatError: ...t.csv: the header repeats the column name(s) ['rt'] (at positions [0, 1]). Fix: give every column its own name in the header line
    """
    path = Path(path)
    kind = "CSV" if sep == "," else "TSV"
    missing = [*MISSING_TEXT, *(str(v) for v in (na_values or []))]
    fix = (f"check the delimiter ({'comma' if sep == ',' else 'tab'}), the quoting and that every row has as "
           "many fields as the header")
    try:
        names, wrong = _scan(path, sep)
    except _PARSE_ERRORS as exc:
        raise FileFormatError(f"cannot parse it as a {kind} {what} ({type(exc).__name__}: {exc})",
                              source=str(path), fix=fix) from exc
    if wrong:
        lines = [line for line, _ in wrong[:5]]
        raise FileFormatError(
            f"{len(wrong)} row(s) do not have the header's {len(names)} fields (lines {lines}, with "
            f"{[n for _, n in wrong[:5]]} fields): a truncated file or a stray delimiter", source=str(path),
            fix="write every row with one field per column (an empty field or 'n/a' for missing values), "
            "or copy the file again if it was cut off",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)  # extra fields would be dropped silently
            frame = pd.read_csv(path, sep=sep, na_values=missing, keep_default_na=True, index_col=False)
    except _PARSE_ERRORS as exc:
        raise FileFormatError(f"cannot parse it as a {kind} {what} ({type(exc).__name__}: {exc})",
                              source=str(path), fix=fix) from exc
    other = "\t" if sep == "," else ","
    if len(names) == 1 and other in names[0]:
        raise FileFormatError(
            f"the header is one column named {names[0]!r}: the file looks "
            f"{'tab' if other == chr(9) else 'comma'}-separated, not {'comma' if sep == ',' else 'tab'}-separated",
            source=str(path), fix=f"rename the file to {'.tsv' if other == chr(9) else '.csv'}, or pass "
            f"format='{'tsv' if other == chr(9) else 'csv'}'")
    refuse_repeated_names(names, path)
    unnamed = [i for i, name in enumerate(names) if not name.strip()]
    if unnamed:
        raise FileFormatError(f"{len(unnamed)} column(s) have no header name (positions {unnamed})",
                              source=str(path), fix="give every column a name in the header row")
    if len(names) != frame.shape[1]:  # cannot happen with a consistent file; never return renamed columns
        raise FileFormatError(f"the header has {len(names)} names for {frame.shape[1]} columns", source=str(path),
                              fix="check that every row has as many fields as the header")
    frame.columns = names
    return frame
