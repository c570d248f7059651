"""Reading MATLAB ``.mat`` files of every version into plain Python objects.

MATLAB writes two unrelated container formats: v4/v5/v7 files (read by
:func:`scipy.io.loadmat`) and v7.3 files, which are HDF5 files with a 512-byte
MATLAB header (read here with :mod:`h5py`).  :func:`read_mat` hides the
difference and returns the same structures for both:

===========================  ==============================================
MATLAB                       Python
===========================  ==============================================
numeric or logical array     :class:`numpy.ndarray` in MATLAB's own shape
                             (v7.3 arrays are transposed back from HDF5's
                             row-major order), vectors squeezed to 1-D,
                             ``1×1`` to a 0-d array
char array                   ``str`` (a char matrix: list of row strings)
cell array                   ``list`` (nested for 2-D cells, row-major)
scalar struct                ``dict`` of fields
struct array                 ``list`` of ``dict``
===========================  ==============================================

:func:`read_mat_table` builds a one-row-per-trial :class:`pandas.DataFrame`
from whatever shape a trial table was saved in.

MATLAB ``table``, ``string``, ``categorical`` and ``datetime`` objects are
opaque class instances that neither reader can decode; they raise a
:class:`~neuroalign.errors.FileFormatError` that says how to re-save them.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import FileFormatError, UnknownNameError

__all__ = ["mat_version", "read_mat", "read_mat_table"]

logger = logging.getLogger(__name__)

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_OPAQUE_CLASSES = {"table", "timetable", "string", "categorical", "datetime", "duration",
                   "containers.Map", "function_handle"}
_RESAVE_FIX = ("re-save the variable in MATLAB as plain arrays, e.g. "
               "s = table2struct(T, 'ToScalar', true); save('trials.mat', '-struct', 's')")


def mat_version(path: str | os.PathLike) -> str:
    """The container version of a MATLAB file: ``"v4"``, ``"v5"`` or ``"v7.3"``.

    v6 and v7 files share the v5 container and are reported as ``"v5"``.

    Raises
    ------
    FileFormatError
        The file is missing, empty, or has no MATLAB header.

    Examples
    --------
    >>> import os, tempfile, numpy as np, scipy.io
    >>> path = os.path.join(tempfile.mkdtemp(), "x.mat")
    >>> scipy.io.savemat(path, {"x": np.arange(3)})
    >>> mat_version(path)
    'v5'
    """
    path = Path(path)
    if not path.is_file():
        raise FileFormatError("file not found", source=str(path), fix="check the path")
    with open(path, "rb") as handle:
        head = handle.read(520)
    if len(head) >= 520 and head[512:520] == _HDF5_SIGNATURE:
        return "v7.3"
    if len(head) >= 128 and head[126:128] in (b"IM", b"MI"):
        return "v5"
    if len(head) >= 20:
        import scipy.io.matlab

        try:
            with open(path, "rb") as handle:
                if scipy.io.matlab.matfile_version(handle)[0] == 0:
                    return "v4"
        except Exception:  # not a MAT header at all
            pass
    raise FileFormatError(
        f"not a MATLAB file (no MAT header in the first {len(head)} bytes)",
        source=str(path),
        fix="check that this is a .mat file written by MATLAB or scipy.io.savemat and that it was "
        "copied completely",
    )


def read_mat(path: str | os.PathLike, variables: Iterable[str] | None = None) -> dict[str, Any]:
    """Read the variables of a MATLAB file (v4, v5/v7 or v7.3) into Python objects.

    Parameters
    ----------
    path : path-like
        The ``.mat`` file.
    variables : iterable of str, optional
        Read only these variables (all by default).

    Returns
    -------
    dict
        Variable name → value, converted as described in the module docstring.

    Raises
    ------
    FileFormatError
        The file is missing, truncated or corrupt, or holds an opaque MATLAB
        object (``table``, ``string``, …).
    UnknownNameError
        A name in ``variables`` is not in the file.

    Examples
    --------
    >>> import os, tempfile, numpy as np, scipy.io
    >>> path = os.path.join(tempfile.mkdtemp(), "trials.mat")
    >>> scipy.io.savemat(path, {"trials": {"rt": np.array([0.5, 0.7]), "correct": np.array([1, 0])}})
    >>> read_mat(path)["trials"]["rt"].tolist()
    [0.5, 0.7]
    """
    path = Path(path)
    version = mat_version(path)
    wanted = None if variables is None else list(variables)
    try:
        if version == "v7.3":
            contents = _read_hdf5(path, wanted)
        else:
            contents = _read_v5(path, wanted)
    except (FileFormatError, UnknownNameError):
        raise
    except Exception as exc:  # scipy and h5py raise many types for damaged files
        raise FileFormatError(
            f"cannot read this MATLAB {version} file, it looks truncated or corrupt ({type(exc).__name__}: {exc})",
            source=str(path),
            fix="copy or download the file again; if it opens in MATLAB, re-save it with save(name, '-v7')",
        ) from exc
    if wanted is not None:
        missing = [name for name in wanted if name not in contents]
        if missing:
            raise UnknownNameError(missing[0], contents, what="MATLAB variable", source=str(path))
    return contents


# --------------------------------------------------------------------------- trial tables


def read_mat_table(path: str | os.PathLike, *, table: str | None = None,
                   column_names: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a trial table (one row per trial) from a MATLAB file of any version.

    The table may be a scalar struct of per-trial vectors, a struct array, a
    numeric matrix with a header variable (a cell of names such as
    ``colHeaders``, or ``column_names``), or loose top-level vectors of equal
    length.  Without ``table`` the only struct, else the only matrix with a
    header, else the vectors of the most common length are used.

    Raises
    ------
    FileFormatError
        Unreadable file, no recognisable table, or a header that does not fit
        the matrix (the message gives the shapes).
    UnknownNameError
        ``table`` is not a variable of the file.

    Examples
    --------
    >>> import os, tempfile, numpy as np, scipy.io
    >>> path = os.path.join(tempfile.mkdtemp(), "t.mat")
    >>> scipy.io.savemat(path, {"m": np.eye(2), "colHeaders": np.array(["a", "b"], dtype=object)})
    >>> read_mat_table(path).columns.tolist()
    ['a', 'b']
    """
    path = Path(path)
    contents = read_mat(path)
    if table is not None:
        if table not in contents:
            raise UnknownNameError(table, contents, what="MATLAB variable", source=str(path))
        return _mat_value_to_frame(contents[table], table, contents, column_names, path)
    structs = [k for k, v in contents.items() if isinstance(v, dict)
               or (isinstance(v, list) and v and all(isinstance(x, dict) for x in v))]
    matrices = [k for k, v in contents.items() if isinstance(v, np.ndarray) and v.ndim == 2
                and v.dtype.kind in "biuf" and min(v.shape) > 1]
    if len(structs) == 1:
        return _mat_value_to_frame(contents[structs[0]], structs[0], contents, column_names, path)
    if len(matrices) == 1 and (column_names is not None or _header_for(contents, matrices[0]) is not None):
        return _mat_value_to_frame(contents[matrices[0]], matrices[0], contents, column_names, path)
    vectors = {k: v for k, v in contents.items() if _is_column(v)}
    lengths = pd.Series({k: len(v) for k, v in vectors.items()})
    if len(lengths) and lengths.max() > 1:
        size = lengths[lengths > 1].mode().iloc[0]
        return pd.DataFrame({k: _column(v) for k, v in vectors.items() if len(v) == size})
    raise FileFormatError(
        f"cannot tell which variable holds the trial table (variables: {sorted(contents)})",
        source=str(path), fix="pass table='<variable>' (and column_names=[...] for a plain matrix)",
    )


def _is_column(value: Any) -> bool:
    if isinstance(value, np.ndarray):
        return value.ndim == 1
    return isinstance(value, list) and all(np.isscalar(x) or isinstance(x, str) for x in value)


def _column(value: Any) -> Any:
    return value if isinstance(value, np.ndarray) else list(value)


def _header_for(contents: Mapping[str, Any], name: str) -> list[str] | None:
    """A variable listing one name per column of matrix ``name`` (e.g. ``colHeaders``)."""
    ranked = sorted(contents, key=lambda k: not re.search(r"head|col|label|name|field", k, re.I))
    for key in ranked:
        value = contents[key]
        if key != name and isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return value
    return None


def _mat_value_to_frame(value: Any, name: str, contents: Mapping[str, Any],
                        column_names: Sequence[str] | None, path: Path) -> pd.DataFrame:
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return pd.DataFrame.from_records(value)
    if isinstance(value, dict):
        columns = {k: v for k, v in value.items() if _is_column(v) or np.isscalar(v) or isinstance(v, str)}
        sizes = {len(v) for v in columns.values() if not (np.isscalar(v) or isinstance(v, str))}
        if len(sizes) > 1:
            raise FileFormatError(
                f"the fields of struct {name!r} have different lengths {sorted(sizes)}",
                source=str(path), fix="give every field one value per trial",
            )
        skipped = sorted(set(value) - set(columns))
        if skipped:
            logger.warning("%s: struct %r fields %s are not per-trial vectors; skipped", path, name, skipped)
        return pd.DataFrame({k: _column(v) if not np.isscalar(v) else [v] * max(sizes or {1})
                             for k, v in columns.items()})
    array = np.asarray(value)
    if array.ndim == 1:
        return pd.DataFrame({name: array})
    if array.ndim != 2:
        raise FileFormatError(f"variable {name!r} has {array.ndim} dimensions", source=str(path),
                              fix="pass table='<variable>' naming a 2-D matrix, a struct or a struct array")
    names = list(column_names) if column_names is not None else _header_for(contents, name)
    if names is None:
        raise FileFormatError(
            f"matrix {name!r} ({array.shape[0]}×{array.shape[1]}) has no column names",
            source=str(path), fix=f"pass column_names=[...] with {array.shape[1]} names",
        )
    if len(names) == array.shape[1]:
        return pd.DataFrame(array, columns=names)
    if len(names) == array.shape[0]:
        return pd.DataFrame(array.T, columns=names)
    raise FileFormatError(
        f"matrix {name!r} is {array.shape[0]}×{array.shape[1]} but its header names {len(names)} columns",
        source=str(path),
        fix=f"pass column_names=[...] with {array.shape[1]} names (for Harrington & Deza oddity files use "
        "neuroalign.loaders.psychophysics.load_metameric_psychophysics, which knows the missing column)",
    )


# --------------------------------------------------------------------------- v4/v5/v7


def _read_v5(path: Path, wanted: list[str] | None) -> dict[str, Any]:
    import scipy.io

    if wanted is not None:
        names = [entry[0] for entry in scipy.io.whosmat(path)]
        absent = [name for name in wanted if name not in names]
        if absent:
            raise UnknownNameError(absent[0], names, what="MATLAB variable", source=str(path))
    raw = scipy.io.loadmat(path, simplify_cells=True, variable_names=wanted)
    out = {}
    for name, value in raw.items():
        if name.startswith("__"):
            continue
        out[name] = _simplify_v5(value, f"{path}:{name}", path)
    return out


def _simplify_v5(value: Any, where: str, path: Path) -> Any:
    import scipy.io.matlab as matlab

    if isinstance(value, matlab.MatlabOpaque) or type(value).__name__ == "MatlabOpaque":
        raise FileFormatError(
            f"variable {where.split(':', 1)[1]!r} is an opaque MATLAB object (e.g. a table or string) "
            "that cannot be read outside MATLAB",
            source=str(path), fix=_RESAVE_FIX,
        )
    if isinstance(value, dict):
        return {key: _simplify_v5(item, f"{where}.{key}", path) for key, item in value.items()}
    if isinstance(value, list):
        return [_simplify_v5(item, where, path) for item in value]
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return [_simplify_v5(item, where, path) for item in value.tolist()]
        if value.dtype.kind == "U" and value.ndim == 0:
            return str(value)
        if value.dtype.kind == "U":
            return [str(v).rstrip() for v in value.ravel()]
        return value
    return value


# --------------------------------------------------------------------------- v7.3


def _read_hdf5(path: Path, wanted: list[str] | None) -> dict[str, Any]:
    import h5py

    with h5py.File(path, "r") as handle:
        names = [name for name in handle.keys() if not name.startswith("#")]
        if wanted is not None:
            absent = [name for name in wanted if name not in names]
            if absent:
                raise UnknownNameError(absent[0], names, what="MATLAB variable", source=str(path))
            names = wanted
        return {name: _convert_h5(handle[name], handle, path, name) for name in names}


def _matlab_class(obj: Any) -> str:
    value = obj.attrs.get("MATLAB_class", b"")
    return value.decode() if isinstance(value, bytes) else str(value)


def _convert_h5(obj: Any, handle: Any, path: Path, where: str) -> Any:
    import h5py

    cls = _matlab_class(obj)
    if cls in _OPAQUE_CLASSES or "MATLAB_object_decode" in obj.attrs:
        raise FileFormatError(
            f"variable {where!r} is a MATLAB {cls or 'object'} that cannot be read outside MATLAB",
            source=str(path), fix=_RESAVE_FIX,
        )
    if isinstance(obj, h5py.Group):
        fields = {key: obj[key] for key in obj.keys() if not key.startswith("#")}
        if fields and all(isinstance(f, h5py.Dataset) and f.dtype == h5py.ref_dtype for f in fields.values()):
            # a struct array: every field holds one reference per element
            columns = {key: [_deref(ref, handle, path, f"{where}.{key}") for ref in f[()].T.ravel()]
                       for key, f in fields.items()}
            size = len(next(iter(columns.values())))
            return [{key: columns[key][i] for key in columns} for i in range(size)]
        return {key: _convert_h5(f, handle, path, f"{where}.{key}") for key, f in fields.items()}
    if obj.attrs.get("MATLAB_empty", 0):
        return "" if cls == "char" else np.zeros((0,))
    data = obj[()]
    if obj.dtype == h5py.ref_dtype:
        cells = np.asarray(data).T  # back to MATLAB's shape
        items = [_deref(ref, handle, path, where) for ref in cells.ravel()]
        if cells.ndim == 2 and 1 not in cells.shape:
            return [items[i * cells.shape[1]:(i + 1) * cells.shape[1]] for i in range(cells.shape[0])]
        return items
    array = np.asarray(data).T
    if cls == "char":
        return _decode_chars(array)
    if cls == "logical":
        array = array.astype(bool)
    return _squeeze(array)


def _deref(ref: Any, handle: Any, path: Path, where: str) -> Any:
    if not ref:
        return np.zeros((0,))
    return _convert_h5(handle[ref], handle, path, where)


def _decode_chars(array: np.ndarray) -> str | list[str]:
    codes = np.asarray(array, dtype=np.uint32)
    if codes.ndim == 2 and codes.shape[0] > 1 and codes.shape[1] > 1:
        return ["".join(map(chr, row)).rstrip() for row in codes]
    return "".join(map(chr, codes.ravel()))


def _squeeze(array: np.ndarray) -> Any:
    if array.ndim == 2 and 1 in array.shape:
        return array.reshape(-1) if array.size != 1 else array.reshape(()).item()
    return array
