"""Nuisance regressors and scrubbing for fMRI runs: confound tables (fMRIPrep's included) and sample masks."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError, FileFormatError, SchemaError, UnknownNameError
from .text_tables import read_text_table

__all__ = ["load_confounds", "confound_regressors", "scrubbing_mask", "FMRIPREP_DEFAULT_CONFOUNDS"]

#: Columns used from an fMRIPrep confounds file when ``confound_columns`` is not given.
FMRIPREP_DEFAULT_CONFOUNDS = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "white_matter", "csf")


def load_confounds(confounds: Any, n_volumes: int, *, columns: Sequence[str] | None = None,
                   source: str = "confounds") -> tuple[np.ndarray | None, np.ndarray | None]:
    """Confound regressors (and framewise displacement) from a table, array or fMRIPrep TSV.

    An fMRIPrep ``*_desc-confounds_timeseries.tsv`` (recognised by its
    ``trans_x`` column) defaults to :data:`FMRIPREP_DEFAULT_CONFOUNDS`; other
    tables default to all columns.  ``columns`` accepts glob patterns
    (``"a_comp_cor_0*"``).  NaN in the first row (derivatives) takes the second
    row's value, as nilearn does.

    Returns
    -------
    (regressors, framewise_displacement)
        ``(n_volumes, k)`` array or None; FD per volume or None.

    Examples
    --------
    >>> import pandas as pd
    >>> from neuroalign.loaders.fmri import load_confounds
    >>> table = pd.DataFrame({"trans_x": [0, .1, .2], "framewise_displacement": [float("nan"), .3, .1]})
    >>> regressors, fd = load_confounds(table, 3)
    >>> regressors.shape, fd.tolist()
    ((3, 1), [0.0, 0.3, 0.1])
    """
    values, fd, _ = confound_regressors(confounds, n_volumes, columns=columns, source=source)
    return values, fd


def confound_regressors(confounds: Any, n_volumes: int, *, columns: Sequence[str] | None = None,
                        source: str = "confounds") -> tuple[np.ndarray | None, np.ndarray | None, list[str] | None]:
    """:func:`load_confounds`, plus the chosen columns' names (None for an array without names).

    Examples
    --------
    >>> import pandas as pd
    >>> from neuroalign.loaders.confounds import confound_regressors
    >>> table = pd.DataFrame({"trans_x": [0, .1, .2], "rot_z": [0, .0, .1]})
    >>> confound_regressors(table, 3, columns=["rot_*", "trans_x"])[2]
    ['rot_z', 'trans_x']
    """
    if confounds is None:
        return None, None, None
    if isinstance(confounds, (str, os.PathLike)):
        source = str(confounds)
        if not os.path.isfile(source):
            raise FileFormatError("the confounds file does not exist", source=source, fix="check the path")
        # names exactly as written: a repeated column is an error, not a silent "a.1"
        confounds = read_text_table(source, sep="\t" if ".tsv" in source.lower() else ",", what="confounds table")
    fd, chosen = None, None
    if isinstance(confounds, pd.DataFrame):
        names = [str(c) for c in confounds.columns]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise SchemaError(f"the confounds repeat the column name(s) {repeated}", source=source,
                              fix="give every confound column its own name")
        if "framewise_displacement" in names:
            fd = _numbers(confounds[["framewise_displacement"]], source)[:, 0]
            if fd.shape[0] != n_volumes:
                raise DataError(f"the confounds have {fd.shape[0]} rows but the image has {n_volumes} volumes",
                                source=source, fix="pass the confounds file of this run")
            if not np.all(np.isfinite(fd[1:])):
                raise DataError("framewise_displacement has NaN or inf values after the first row", source=source,
                                fix="repair the confounds file (only the first volume has no displacement)")
            fd = np.nan_to_num(fd, nan=0.0)  # the first volume has no previous one: fMRIPrep writes n/a
        if columns is None:
            columns = [c for c in FMRIPREP_DEFAULT_CONFOUNDS if c in names] if "trans_x" in names else names
        chosen = []
        for pattern in columns:
            matched = fnmatch.filter(names, pattern)
            if not matched:
                raise UnknownNameError(pattern, names, what="confound column", source=source)
            chosen += [m for m in matched if m not in chosen]
        values = _numbers(confounds[chosen], source) if chosen else None
    else:
        try:
            values = np.array(confounds, dtype=float)
        except (TypeError, ValueError) as exc:
            raise SchemaError(f"the confounds are not a numeric array ({exc})", source=source,
                              fix="pass a (volumes, regressors) float array, a DataFrame or a confounds file") from exc
        values = values[:, None] if values.ndim == 1 else values
        if values.ndim != 2:
            raise SchemaError(f"the confounds have shape {values.shape}; (volumes, regressors) is needed",
                              source=source, fix="pass one row per volume and one column per regressor")
    if values is not None:
        if values.shape[0] != n_volumes:
            raise DataError(f"the confounds have {values.shape[0]} rows but the image has {n_volumes} volumes",
                            source=source, fix="pass the confounds file of this run")
        first = np.isnan(values[0]) & (n_volumes > 1)
        values[0, first] = values[1, first]
        if not np.all(np.isfinite(values)):
            raise DataError("the confounds have NaN or inf values after the first row", source=source,
                            fix="leave those columns out with confound_columns=[...]")
    return values, fd, (chosen or None) if values is not None else None


def _numbers(table: pd.DataFrame, source: str) -> np.ndarray:
    bad = [str(c) for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
    if bad:
        raise SchemaError(f"confound column(s) {bad[:5]} are not numeric", source=source,
                          fix="leave them out with confound_columns=[...] or fix the values ('n/a' marks missing)")
    return np.array(table.to_numpy(dtype=float))  # a writable copy


def scrubbing_mask(mask: Any, fd: np.ndarray | None, threshold: float | None, n: int, source: str) -> np.ndarray:
    """The volumes of one run that survive scrubbing, as a boolean mask.

    Parameters
    ----------
    mask : bool array (one per volume), int indices of the volumes to keep, or None
        A sample mask given by the user.
    fd : array or None
        Framewise displacement per volume (e.g. fMRIPrep's ``framewise_displacement``).
    threshold : float or None
        Volumes whose ``fd`` exceeds it are dropped too; needs ``fd``.
    n : int
        Volumes in the run.
    source : str
        The run's name, for error messages.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.loaders.confounds import scrubbing_mask
    >>> fd = np.array([0.1, 0.2, 0.9, 0.1, 0.3, 0.1])
    >>> scrubbing_mask([0, 1, 2, 3, 4], fd, 0.5, 6, "run-1").tolist()
    [True, True, False, True, True, False]
    """
    keep = np.ones(n, dtype=bool)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype.kind not in "biu" or mask.ndim != 1:
            raise ConfigError(f"sample_mask has dtype {mask.dtype} and shape {mask.shape}; a 1D boolean mask or "
                              "integer indices are needed", source=f"sample_mask of {source}",
                              fix="pass one True/False per volume, or the indices of the volumes to keep")
        if mask.dtype == bool:
            if mask.shape != (n,):
                raise DataError(f"the boolean sample_mask has {mask.size} entries for {n} volumes", source=source,
                                fix="pass one True/False per volume, or the indices of the volumes to keep")
            keep &= mask
        else:
            if mask.size and (mask.min() < 0 or mask.max() >= n):
                raise DataError(f"sample_mask indices must lie in [0, {n})", source=source,
                                fix="pass the indices of the volumes to keep")
            keep &= np.isin(np.arange(n), mask)
    if threshold is not None:
        if fd is None:
            raise ConfigError("fd_threshold needs a 'framewise_displacement' confound column", source=source,
                              fix="pass the fMRIPrep confounds file, or a sample_mask")
        keep &= fd <= threshold
    if keep.sum() < 3:
        raise DataError(f"only {int(keep.sum())} volumes are left after scrubbing", source=source,
                        fix="raise fd_threshold or check the sample mask")
    return keep
