"""The repetition time of a 4D NIfTI run: the argument, else the BIDS sidecar, else a header TR that was set.

nibabel gives every image it builds a 4th zoom (``pixdim[4]``) of 1.0 and no
time unit, so a header whose TR was never set reads as a 1 s TR.  nilearn's
``FirstLevelModel`` never reads the header (``t_r`` is required to build a
design from events; ``first_level_from_bids`` reads the JSON sidecar).  Here a
header TR counts only when the header states one: a positive, finite 4th zoom
in a time unit (``sec``, ``msec``, ``usec``), or without a unit any value but
nibabel's default 1.0 (read as seconds).  Otherwise the loader asks for the
argument, naming the image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .timeseries_files import _repetition_time

__all__ = ["header_repetition_time", "run_repetition_time"]

_TIME_UNITS = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6}


def _header_tr(img: Any) -> tuple[float | None, str]:
    """(the header's TR in seconds or None, why there is none)."""
    header = img.header
    zooms = header.get_zooms()
    if len(zooms) < 4:
        return None, "it has no 4th zoom (pixdim[4])"
    value = float(zooms[3])
    unit = header.get_xyzt_units()[1] if hasattr(header, "get_xyzt_units") else "sec"
    if not np.isfinite(value) or value <= 0:
        return None, f"its 4th zoom (pixdim[4]) is {value:g}"
    if unit == "unknown":
        if value == 1.0:
            return None, "its 4th zoom (pixdim[4]) is 1.0 with no time unit: nibabel's default when no TR was set"
        unit = "sec"
    if unit not in _TIME_UNITS:
        return None, f"its 4th zoom (pixdim[4]) is in {unit!r}, not a time unit"
    return float(f"{value:.7g}") * _TIME_UNITS[unit], ""


def header_repetition_time(img: Any) -> float | None:
    """The TR (s) a NIfTI header states, or None when it states none (see the module docstring).

    Examples
    --------
    >>> import nibabel as nib, numpy as np
    >>> from neuroalign.loaders.repetition_time import header_repetition_time
    >>> img = nib.Nifti1Image(np.zeros((2, 2, 2, 5), np.float32), np.eye(4))
    >>> header_repetition_time(img) is None   # nibabel's default 4th zoom, 1.0 without a unit
    True
    >>> img.header.set_zooms((1, 1, 1, 2000)); img.header.set_xyzt_units("mm", "msec")
    >>> header_repetition_time(img)
    2.0
    """
    return _header_tr(img)[0]


def run_repetition_time(img: Any, path: Path | None, given: float | None, *, name: str, argument: str) -> float:
    """The TR (s) of one run: ``given``, else its BIDS JSON sidecar, else its header; a named error when unknown.

    ``given`` overrides a file's value (with a logged warning when they
    differ); for an in-memory image (``path`` None) it is used as is.
    ``argument`` is the loader's name for ``given`` (``"t_r"``,
    ``"repetition_time"``), for the fix.

    Examples
    --------
    >>> import nibabel as nib, numpy as np
    >>> from neuroalign.loaders.repetition_time import run_repetition_time
    >>> img = nib.Nifti1Image(np.zeros((2, 2, 2, 5), np.float32), np.eye(4))
    >>> run_repetition_time(img, None, 2.0, name="run 0", argument="t_r")
    2.0
    >>> run_repetition_time(img, None, None, name="run 0", argument="t_r")
    Traceback (most recent call last):
    ...
    neuroalign.errors.ConfigError: run 0: the repetition time is unknown: ...
    """
    header, why = _header_tr(img) if path is not None or given is None else (None, "")
    tr = _repetition_time(path, given, header)
    if tr is None:
        sidecar = "no JSON sidecar" if path is not None else "no JSON sidecar (an in-memory image)"
        raise ConfigError(f"the repetition time is unknown: {argument}= is not given, there is {sidecar}, and the "
                          f"NIfTI header states none ({why})", source=name,
                          fix=f"pass {argument}=<the run's repetition time in seconds>, or write it in the header "
                          "(img.header.set_zooms((*img.header.get_zooms()[:3], tr)); "
                          "img.header.set_xyzt_units('mm', 'sec')) or a BIDS sidecar (RepetitionTime)")
    return tr
