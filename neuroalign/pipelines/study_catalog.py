"""The studies shipped with neuroalign (the top-level ``pipelines/`` folder), found by name.

A bundled study is a YAML file of ``pipelines/`` with an ``analyses:`` key
(the other YAML files there configure single commands).  From a source tree
or an editable install they are read from that folder; from an installed
wheel, from the package data ``neuroalign.bundled_studies``.

Examples
--------
>>> from neuroalign.pipelines.study_catalog import bundled_studies
>>> isinstance(bundled_studies(), dict)
True
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

import neuroalign

from ..errors import FileFormatError, UnknownNameError

if TYPE_CHECKING:
    import pandas

__all__ = ["bundled_studies", "find_study", "list_studies", "studies_folder"]


def studies_folder() -> Path | None:
    """The folder of the bundled studies: ``pipelines/`` of a source tree, else the installed package data."""
    folder = Path(neuroalign.__file__).resolve().parents[1] / "pipelines"
    if folder.is_dir():
        return folder
    try:
        return Path(str(importlib.resources.files("neuroalign.bundled_studies")))
    except ModuleNotFoundError:
        return None


def bundled_studies() -> dict[str, Path]:
    """The studies shipped in ``pipelines/``: file stem -> path (YAML files with an ``analyses:`` key).

    Examples
    --------
    >>> from neuroalign.pipelines.study_files import bundled_studies
    >>> all(path.suffix in (".yaml", ".yml") for path in bundled_studies().values())
    True
    """
    folder = studies_folder()
    if folder is None or not folder.is_dir():
        return {}
    studies = {}
    for path in sorted(folder.iterdir()):
        if path.suffix not in (".yaml", ".yml") or not path.is_file():
            continue
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        if isinstance(loaded, dict) and "analyses" in loaded:
            studies[path.stem] = path
    return studies


def find_study(name_or_path: str | os.PathLike) -> Path:
    """A study file: an existing path as it is, else the bundled study of that name.

    Raises
    ------
    UnknownNameError
        Neither a file nor a bundled study (with the close matches among the bundled names).
    FileFormatError
        A path (it ends in .yaml/.yml or names a folder) to a file that does not exist.

    Examples
    --------
    >>> from neuroalign.pipelines.study_files import find_study
    >>> try:
    ...     find_study("no-such-study")
    ... except KeyError as error:
    ...     print(type(error).__name__)
    UnknownNameError
    """
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    studies = bundled_studies()
    name = str(name_or_path)
    if name in studies:
        return studies[name]
    if Path(name).suffix in (".yaml", ".yml") or os.sep in name:
        raise FileFormatError("study file not found", source=name,
                              fix=f"check the path, or pass a bundled study: {', '.join(sorted(studies)) or 'none'}")
    raise UnknownNameError(name, studies, what="study", source=name)


def list_studies() -> pandas.DataFrame:
    """The bundled studies: ``name``, ``description``, ``analyses`` (their names), ``path``.

    Examples
    --------
    >>> from neuroalign.pipelines.study_files import list_studies
    >>> list(list_studies().columns)
    ['name', 'description', 'analyses', 'path']
    """
    import pandas as pd

    rows = []
    for name, path in bundled_studies().items():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        analyses = loaded.get("analyses") or []
        names = [a.get("name", "?") for a in analyses if isinstance(a, dict)]
        rows.append({"name": name, "description": str(loaded.get("description") or ""),
                     "analyses": ", ".join(str(n) for n in names), "path": str(path)})
    return pd.DataFrame(rows, columns=["name", "description", "analyses", "path"])
