"""The ``processes`` scheduler's pool: every worker starts at once and has the steps' libraries loaded
before its first task, and is initialised as Dask's own pool is."""

from __future__ import annotations

import os

from neuroalign.pipelines.schedulers import _started_pool


def _hash_seed() -> str | None:
    return os.environ.get("PYTHONHASHSEED")


def _loaded(name: str) -> bool:
    import sys

    return name in sys.modules


def test_every_worker_starts_before_any_task_and_imports_the_modules():
    with _started_pool(2, {"json.tool", "neuroalign.pipelines.execution"}) as pool:
        assert len(pool._processes) == 2  # started by the pool itself, not on demand
        pids = {pool.submit(os.getpid).result() for _ in range(6)}
        assert pids <= set(pool._processes) and os.getpid() not in pids
        assert pool.submit(_loaded, "neuroalign.pipelines.execution").result()
        assert pool.submit(_loaded, "json.tool").result()
        assert pool.submit(_hash_seed).result() not in (None, "0")  # as Dask's pool


def test_a_module_that_does_not_import_leaves_the_pool_usable():
    with _started_pool(1, {"neuroalign_no_such_module"}) as pool:
        assert pool.submit(int, "3").result() == 3
