"""BIDS file-name entities (``sub-01_ses-2_task-rest_run-1_bold.nii.gz``) as coordinates."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["parse_bids_entities", "BIDS_COORDS"]

#: BIDS entity keys renamed to the data model's coordinate names.
BIDS_COORDS = {"sub": "subject", "ses": "session", "task": "task", "run": "run", "acq": "acquisition"}


def parse_bids_entities(path: str | os.PathLike) -> dict[str, Any]:
    """The BIDS entities of a file name, keyed by coordinate name.

    ``sub``, ``ses``, ``task``, ``run`` and ``acq`` become ``subject``,
    ``session``, ``task``, ``run`` (an int) and ``acquisition``; other
    entities keep their key.

    Examples
    --------
    >>> from neuroalign.loaders.bids import parse_bids_entities
    >>> parse_bids_entities("sub-01_ses-pre_task-rest_run-02_desc-confounds_timeseries.tsv")
    {'subject': '01', 'session': 'pre', 'task': 'rest', 'run': 2, 'desc': 'confounds'}
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"expected a file name, got {type(path).__name__}", source="path",
                          fix="pass a str or pathlib.Path")
    out: dict[str, Any] = {}
    for key, value in re.findall(r"(?:^|_)([a-zA-Z]+)-([a-zA-Z0-9]+)(?=_|\.|$)", Path(path).name):
        key = BIDS_COORDS.get(key, key)
        out[key] = int(value) if key == "run" and value.isdigit() else value
    return out
