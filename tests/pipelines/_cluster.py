"""A Dask scheduler and workers started as separate processes (``dask scheduler``, ``dask worker``), for tests."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


def _start(command: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, env=ENV)


@contextlib.contextmanager
def dask_processes(folder: Path, n_workers: int = 2) -> Iterator[str]:
    """Start ``dask scheduler`` and ``n_workers`` ``dask worker`` processes (one thread each); yield the address."""
    dask = str(Path(sys.executable).with_name("dask"))
    scheduler_file = folder / "scheduler.json"
    processes = [_start([dask, "scheduler", "--port", "0", "--no-dashboard", "--scheduler-file", str(scheduler_file)],
                        folder / "scheduler.log")]
    try:
        deadline = time.time() + 60
        while not scheduler_file.exists():
            assert time.time() < deadline, (folder / "scheduler.log").read_text()
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        for i in range(n_workers):
            processes.append(_start([dask, "worker", address, "--nworkers", "1", "--nthreads", "1",
                                     "--no-dashboard"], folder / f"worker{i}.log"))
        yield address
    finally:
        for process in processes[::-1]:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
