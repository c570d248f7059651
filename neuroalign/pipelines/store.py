"""The results store: one folder per finished task, under its content key.

Layout::

    <store>/store.json                 {"package": "neuroalign", "version": ...}
    <store>/tasks/<key>/               a finished task: its artifacts (score.nc,
                                       array.nc, activations.zarr, ...) and task.json
    <store>/tmp/                       tasks being written (removed when they land)

A task writes its artifacts into a fresh temporary folder and the folder is
renamed onto ``tasks/<key>`` in one step, so a result is either all there or
absent: a crash (``kill -9`` included) never leaves half a result, and two runs
of the same study at once cannot corrupt each other (the second rename finds
the first one's identical result in place and is dropped).  A store records the
package version that wrote it; opening it with another version is an error
before any work starts, because its keys (and perhaps its results) would differ.

Examples
--------
>>> import tempfile
>>> from neuroalign.pipelines.store import ResultsStore
>>> store = ResultsStore(tempfile.mkdtemp(), create=True)
>>> store.has("0" * 32)
False
>>> landed = store.commit("0" * 32, {"kind": "demo"}, lambda folder: (folder / "x.txt").write_text("1"))
>>> landed, store.has("0" * 32), (store.folder("0" * 32) / "x.txt").read_text()
(True, True, '1')
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..data.provenance import package_version
from ..errors import StoreError

__all__ = ["ResultsStore"]

_MARKER = "store.json"
_TASK_FILE = "task.json"


class ResultsStore:
    """A folder of task results keyed by content (see the module docstring).

    Parameters
    ----------
    path : path-like
        The store folder.
    create : bool
        Create the folder (and its ``store.json``) when it does not exist yet.
    """

    def __init__(self, path: str | os.PathLike, *, create: bool = False):
        self.path = Path(path)
        marker = self.path / _MARKER
        if not marker.exists():
            if not create:
                raise StoreError("is not a neuroalign results store (no store.json)", source=str(self.path),
                                 fix="point at the store folder of a study run, or run the study first")
            if self.path.exists() and any(p.name not in ("tasks", "tmp") for p in self.path.iterdir()):
                raise StoreError("the folder exists and holds other files; a results store needs its own folder",
                                 source=str(self.path), fix="choose an empty or new folder for outputs.store")
            self.path.mkdir(parents=True, exist_ok=True)
            _write_json_atomically(marker, {"package": "neuroalign", "version": package_version()})
        self.version = self._check_version(marker)
        (self.path / "tasks").mkdir(exist_ok=True)
        (self.path / "tmp").mkdir(exist_ok=True)

    def _check_version(self, marker: Path) -> str:
        try:
            meta = json.loads(marker.read_text())
            version = str(meta["version"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"store.json is unreadable ({exc})", source=str(marker),
                             fix="delete the store folder to start afresh") from None
        if version != package_version():
            raise StoreError(f"the store was written by neuroalign {version}, this is {package_version()}: its "
                             "results would not be reused and could mix with new ones", source=str(self.path),
                             fix="use a new outputs.store folder (or delete this one), or run the version that "
                             "wrote it")
        return version

    def folder(self, key: str) -> Path:
        """Where the result of ``key`` lives (it may not exist yet)."""
        return self.path / "tasks" / key

    def has(self, key: str) -> bool:
        """Whether the task ``key`` finished (its folder landed)."""
        return (self.folder(key) / _TASK_FILE).exists()

    def record(self, key: str) -> dict[str, Any]:
        """The ``task.json`` of a finished task."""
        return json.loads((self.folder(key) / _TASK_FILE).read_text())

    def commit(self, key: str, meta: Mapping[str, Any], write: Callable[[Path], Any]) -> bool:
        """Run ``write(folder)`` into a fresh temporary folder, then rename it onto ``tasks/<key>``.

        Returns whether this call's result landed (``False`` when another run
        finished the same task first: its result is kept, this one dropped).
        A failure in ``write`` leaves nothing behind.
        """
        tmp = self.path / "tmp" / f"{key}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        try:
            started, wall = time.perf_counter(), time.time()
            write(tmp)
            record = {**meta, "key": key, "seconds": time.perf_counter() - started, "version": package_version(),
                      "started": wall, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "thread": threading.get_ident()}
            _write_json_atomically(tmp / _TASK_FILE, record)
            try:
                os.rename(tmp, self.folder(key))
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST) and self.has(key):
                    return False
                raise
            return True
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def keys(self) -> list[str]:
        """The keys of every finished task."""
        return sorted(p.name for p in (self.path / "tasks").iterdir() if (p / _TASK_FILE).exists())


def _write_json_atomically(path: Path, value: Any) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
