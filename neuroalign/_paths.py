"""Checking an output path before any long work starts."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import ConfigError

__all__ = ["check_writable"]


def check_writable(path: str | os.PathLike, *, source: str, folder: bool, fix: str | None = None) -> Path:
    """Raise unless ``path`` can be created (or replaced) as a folder or a file; nothing is left behind.

    The nearest existing ancestor must be a folder in which a file can be
    created (tried, not guessed from permission bits, which the superuser
    and some file systems ignore), and ``path`` itself must not be a file
    where a folder is wanted or the other way round.

    Parameters
    ----------
    path : path-like
    source : str
        The argument that named the path (for the error).
    folder : bool
        Whether ``path`` is to be a folder (an output folder, a zarr store) or a file.
    fix : str, optional
        What to do instead (default: choose another path for ``source``).

    Raises
    ------
    ConfigError
        The path cannot be written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from neuroalign._paths import check_writable
    >>> check_writable(pathlib.Path(tempfile.mkdtemp()) / "new" / "out", source="--out", folder=True).name
    'out'
    """
    path = Path(path).expanduser()
    fix = fix or f"choose a path you can write to ({source})"
    if path.exists() and path.is_dir() != folder:
        what, wanted = ("a folder", "a file") if path.is_dir() else ("a file", "a folder")
        raise ConfigError(f"{path} is {what}, not {wanted}", source=source, fix=fix)
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(f"cannot create {path}: {ancestor} is a file, not a folder", source=source, fix=fix)
    try:
        with tempfile.NamedTemporaryFile(dir=ancestor, prefix=".neuroalign-write-test-"):
            pass
    except OSError as exc:
        raise ConfigError(f"cannot write in {ancestor} ({exc.strerror or exc})", source=source, fix=fix) from None
    return path
