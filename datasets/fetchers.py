"""Fetchers for the public datasets neuroalign's tutorials, tests and benchmarks use.

Each dataset in ``registry.json`` lists its files with a download URL (a
repository at a fixed commit), a sha256 and a size, plus the licence and the
citation.  :func:`fetch` returns the dataset's folder under the data home,
downloading missing files and verifying every file's sha256.

The data home is ``data_home=`` if given, else the environment variable
``NEUROALIGN_DATA`` (the one name of the data folder throughout neuroalign: the
docs, the tests and the benchmarks read it too), else
``~/.cache/neuroalign/data``.  Tests point it at ``../shared/data``, which
holds the same files, so nothing is downloaded.

Examples
--------
>>> from neuroalign.datasets.fetchers import dataset_info, list_datasets
>>> "kriegeskorte2008" in list_datasets()
True
>>> dataset_info("kriegeskorte2008")["licence"]
'MIT'
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import urllib.error
import urllib.request
from functools import lru_cache
from pathlib import Path

from neuroalign.data.io import write_atomically
from neuroalign.data.provenance import hash_file
from neuroalign.errors import FileFormatError, UnknownNameError

__all__ = ["DATA_ENV", "data_home", "dataset_info", "fetch", "fetch_file", "list_datasets"]

#: The environment variable that names the data folder.
DATA_ENV = "NEUROALIGN_DATA"

log = logging.getLogger(__name__)

_REGISTRY = Path(__file__).with_name("registry.json")


@lru_cache(maxsize=1)
def _registry() -> dict:
    return json.loads(_REGISTRY.read_text())


def list_datasets() -> list[str]:
    """Names of the registered datasets."""
    return sorted(_registry())


def dataset_info(name: str) -> dict:
    """Description, licence, citation and files (url, sha256, size) of a dataset."""
    registry = _registry()
    if name not in registry:
        raise UnknownNameError(name, registry, what="dataset", source="name")
    return registry[name]


def data_home(path: str | os.PathLike | None = None) -> Path:
    """Where datasets live.

    Parameters
    ----------
    path : path-like, optional
        An explicit folder; wins over the environment.

    Returns
    -------
    pathlib.Path
        ``path``, else ``$NEUROALIGN_DATA``, else ``~/.cache/neuroalign/data``.
        Each dataset is a subfolder named after it.
    """
    if path is not None:
        return Path(path).expanduser()
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    return Path.home() / ".cache" / "neuroalign" / "data"


def fetch_file(url: str, sha256: str, destination: str | os.PathLike, *, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``destination`` atomically and check its sha256.

    Raises
    ------
    FileFormatError
        The download failed or its sha256 differs (nothing is left at
        ``destination``).
    """
    destination = Path(destination)

    def download(tmp: Path) -> None:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
                shutil.copyfileobj(response, out)
        except (urllib.error.URLError, OSError) as exc:
            raise FileFormatError(
                f"download failed ({exc})", source=url,
                fix=f"check the network; or copy the file to {destination} by hand; or, where the dataset is "
                    f"already on disk, set {DATA_ENV} to the folder that holds it (docs/installation.md)",
            ) from exc
        digest = hash_file(tmp)
        if digest != sha256:
            raise FileFormatError(f"downloaded file has sha256 {digest[:12]}…, expected {sha256[:12]}…",
                                  source=url, fix="the source changed; report it, or fetch from a mirror")

    log.info("downloading %s", url)
    return write_atomically(destination, download)


def fetch(
    name: str,
    files: list[str] | None = None,
    *,
    data_home: str | os.PathLike | None = None,
    download: bool = True,
) -> Path:
    """The local folder of dataset ``name``, with its files present and verified.

    Parameters
    ----------
    name : str
        One of :func:`list_datasets`.
    files : list of str, optional
        Only these files (paths relative to the dataset folder); default all.
    data_home : path-like, optional
        See :func:`data_home`.
    download : bool
        Download missing files; with ``False`` a missing file is an error.

    Returns
    -------
    pathlib.Path
        ``<data home>/<name>``.

    Raises
    ------
    FileFormatError
        A file is missing (and ``download=False``), or its sha256 differs from
        the published version.
    """
    info = dataset_info(name)
    root = globals()["data_home"](data_home) / name
    wanted = files if files is not None else sorted(info["files"])
    for relative in wanted:
        if relative not in info["files"]:
            raise UnknownNameError(relative, info["files"], what=f"file of {name}", source="files")
        entry = info["files"][relative]
        path = root / relative
        if path.exists():
            digest = hash_file(path)
            if digest != entry["sha256"]:
                raise FileFormatError(
                    f"sha256 {digest[:12]}… differs from the published {entry['sha256'][:12]}…",
                    source=str(path), fix="delete the file so that it is downloaded again",
                )
        elif download:
            fetch_file(entry["url"], entry["sha256"], path)
        else:
            raise FileFormatError(
                "file not found and download=False", source=str(path),
                fix=f"set {DATA_ENV} to the folder that holds {name}/ (the data home is now {root.parent}), "
                    f"or call fetch({name!r}) with download=True",
            )
    return root
