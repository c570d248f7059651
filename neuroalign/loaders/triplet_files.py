"""THINGS-format triplet files: plain ``N × 3`` index matrices without a header, and index-to-id maps.

THINGS-data and SPoSE store odd-one-out judgements as integer object indices,
one triplet per row, with no choice column: the odd one out sits in a fixed
column (the last in THINGS-data and SPoSE; another THINGS file puts it first).
:func:`~neuroalign.loaders.load_triplets` reads them with ``odd_one=`` and maps
the indices to stimulus ids with ``stimulus_ids=``; the two helpers here do the
reading and the mapping.

How indices map to ids
----------------------
Index ``k`` of the file (after subtracting ``object_base``, 0 or 1) becomes
``stimulus_ids[k]``.  When ``stimulus_ids`` holds integers (such as THINGS'
``sortind``), they must be a permutation of ``0 … n−1`` or ``1 … n`` (the
latter is read as 1-based and shifted to ``0 … n−1``) and are read as THINGS
reads ``sortind``: row ``j`` of the *sorted* embedding is the object whose file
index is ``perm[j]`` (the official scripts replace every file index
``sortind(j)`` by ``j``), so file index ``k`` becomes the integer ``j`` with
``perm[j] = k``, i.e. ``numpy.argsort(perm)[k]``.  If your map goes the other
way (file index ``k`` is sorted row ``perm[k]``), pass ``numpy.argsort(perm)``
instead.  The note on THINGS files is to check a convention against a
reference embedding before trusting it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError, FileFormatError

__all__ = ["read_index_matrix", "read_id_map", "map_indices"]

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _first_line(path: Path) -> str | None:
    from .text_tables import _open_text

    try:
        with _open_text(path) as handle:
            for line in handle:
                if line.strip():
                    return line
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise FileFormatError(f"cannot read the file: {exc}", source=str(path), fix="check the file") from exc
    return None


def _as_integers(values: np.ndarray, source: str, what: str) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype.kind in "iu":
        return values.astype(np.int64)
    if values.dtype.kind != "f" or not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
        raise FileFormatError(f"the {what} holds values that are not whole numbers", source=source,
                              fix="object indices must be integers (0-based or 1-based)")
    return values.astype(np.int64)


def read_index_matrix(path: str | os.PathLike) -> np.ndarray | None:
    """The ``(n, 3)`` integer matrix of a headerless triplet file, or ``None`` when the file has a header.

    ``.npy`` files (read with ``allow_pickle=False``) and text files whose first
    line holds only numbers (whitespace-, comma- or tab-separated, e.g. SPoSE's
    ``trainset.txt``) are index matrices.

    Raises
    ------
    FileFormatError
        The matrix does not have 3 columns, or holds non-integers.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "trainset.txt")
    >>> _ = open(path, "w").write("0 5 2\\n3 1 4\\n")
    >>> read_index_matrix(path).tolist()
    [[0, 5, 2], [3, 1, 4]]
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise FileFormatError("file not found", source=source, fix="check the path")
    if path.suffix.lower() == ".npy":
        try:
            matrix = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise FileFormatError(f"cannot read the .npy file: {exc}", source=source,
                                  fix="save a plain integer array with numpy.save") from exc
    elif path.suffix.lower() in (".mat", ".nwb"):
        return None
    else:
        line = _first_line(path)
        if line is None:
            raise FileFormatError("the file is empty", source=source, fix="check that it was written completely")
        tokens = [t for t in re.split(r"[\s,;]+", line.strip()) if t]
        if not tokens or not all(_NUMBER.fullmatch(t) for t in tokens):
            return None  # a header line: the caller reads the file as a table
        delimiter = "," if "," in line else (";" if ";" in line else None)
        try:
            matrix = np.loadtxt(path, delimiter=delimiter, dtype=float, ndmin=2)
        except ValueError as exc:
            raise FileFormatError(f"cannot read the index matrix: {exc}", source=source,
                                  fix="every row needs three integer object indices and nothing else") from exc
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[1] != 3 or matrix.shape[0] == 0:
        raise FileFormatError(f"a triplet file without a header must hold an (n, 3) matrix; this one is "
                              f"{matrix.shape}", source=source,
                              fix="write one triplet per row as three object indices, or give the file a header "
                              "and pass items=")
    return _as_integers(matrix, source, "index matrix")


def read_id_map(stimulus_ids: Sequence | np.ndarray | str | os.PathLike) -> tuple[np.ndarray, str]:
    """The index-to-id map as a 1-D array, and its description.

    Ids (text) map file index ``k`` to ``ids[k]``.  An integer permutation is
    read as THINGS' ``sortind`` (sorted row ``j`` holds file index
    ``perm[j]``): the returned map sends file index ``k`` to the 0-based
    sorted row ``argsort(perm)[k]``.

    A path is read as ``.npy`` (``allow_pickle=False``), ``.mat`` (its only
    variable, e.g. THINGS' ``sortind``) or text (one id per line).

    Raises
    ------
    DataError
        Ids repeat, or an integer map is not a permutation of ``0 … n−1`` or ``1 … n``.
    FileFormatError
        The file cannot be read or holds more than one variable.

    Examples
    --------
    >>> read_id_map([2, 3, 1])[0].tolist()  # sortind-style, 1-based: file index 1 (0-based) is sorted row 0
    [2, 0, 1]
    """
    if isinstance(stimulus_ids, (str, os.PathLike)):
        path = Path(stimulus_ids)
        source = str(path)
        if not path.is_file():
            raise FileFormatError("file not found", source=source, fix="check the path of stimulus_ids")
        try:
            if path.suffix.lower() == ".npy":
                values = np.load(path, allow_pickle=False)
            elif path.suffix.lower() == ".mat":
                import scipy.io

                content = {k: v for k, v in scipy.io.loadmat(path, squeeze_me=True).items() if not k.startswith("__")}
                if len(content) != 1:
                    raise FileFormatError(f"the MAT file holds {len(content)} variables ({sorted(content)}), not one",
                                          source=source, fix="pass the map itself: stimulus_ids=loadmat(...)['name']")
                values = next(iter(content.values()))
            else:
                lines = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
                values = np.array(lines, dtype=object)
                if lines and all(re.fullmatch(r"[+-]?\d+", t) for t in lines):
                    values = values.astype(np.int64)
        except (OSError, ValueError, NotImplementedError) as exc:
            raise FileFormatError(f"cannot read the index-to-id map: {exc}", source=source,
                                  fix="use a .npy, .mat or text file (one id per line)") from exc
    else:
        source = "stimulus_ids"
        values = np.asarray(list(stimulus_ids) if not isinstance(stimulus_ids, np.ndarray) else stimulus_ids)
    values = np.asarray(values).ravel()
    if values.size == 0:
        raise DataError("the index-to-id map is empty", source=source, fix="pass one id per object")
    if values.dtype.kind in "iuf":
        perm = _as_integers(values, source, "index-to-id map")
        n = perm.size
        for base in (0, 1):
            if np.array_equal(np.sort(perm), np.arange(base, n + base)):
                # sortind: sorted row j holds file index perm[j], so file index k goes to row argsort(perm)[k]
                return np.argsort(perm - base), f"{source} (a permutation of {base}..{n - 1 + base})"
        raise DataError(f"the integer index-to-id map is not a permutation of 0..{n - 1} or 1..{n} "
                        f"(min {perm.min()}, max {perm.max()}, {n - np.unique(perm).size} repeated)", source=source,
                        fix="pass a permutation (such as THINGS' sortind), or stimulus ids as strings")
    values = values.astype(str).astype(object)
    unique, counts = np.unique(values, return_counts=True)
    if (counts > 1).any():
        raise DataError(f"the index-to-id map repeats ids {unique[counts > 1][:5].tolist()}", source=source,
                        fix="give every object index its own stimulus id")
    return values, f"{source} ({values.size} ids)"


def map_indices(indices: np.ndarray, id_map: np.ndarray, base: int | None, source: str) -> tuple[np.ndarray, int]:
    """Ids ``id_map[indices - base]`` of an ``(n, 3)`` integer matrix; ``base`` guessed when ``None``.

    The guess: 0 when a 0 occurs and ``len(id_map)`` does not, 1 in the
    opposite case; anything else is ambiguous (ConfigError).

    Raises
    ------
    DataError
        An index is out of range (rows named).
    ConfigError
        The indices are not integers, or their base is ambiguous.
    """
    if indices.dtype.kind not in "iu":
        raise ConfigError("stimulus_ids= maps integer object indices, but the item columns do not hold integers",
                          source=source, fix="leave stimulus_ids out when the file names the stimuli")
    n = id_map.size
    if base is None:
        low, high = (indices == 0).any(), (indices == n).any()
        if low and not high:
            base = 0
        elif high and not low:
            base = 1
        else:
            raise ConfigError(
                f"cannot tell whether the object indices are 0-based or 1-based (min {indices.min()}, "
                f"max {indices.max()}, {n} objects in the map)", source=source,
                fix="pass object_base=0 (indices 0..n-1) or object_base=1 (indices 1..n)")
    if base not in (0, 1):
        raise ConfigError(f"object_base must be 0 or 1, got {base!r}", source="object_base",
                          fix="pass 0 for indices 0..n-1, 1 for indices 1..n")
    position = indices - base
    bad = ((position < 0) | (position >= n)).any(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise DataError(
            f"{rows.size} triplet(s) hold object indices outside {base}..{n - 1 + base} (the map has {n} ids), "
            f"e.g. data row {rows[0] + 1}: {tuple(indices[rows[0]].tolist())} (data rows {(rows[:5] + 1).tolist()})",
            source=source, fix="check object_base (0 or 1) and that stimulus_ids covers every object")
    return id_map[position], base
