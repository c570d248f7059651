"""Running one task where a Dask scheduler puts it: in the driver's threads, a process, or a remote worker.

:func:`execute_task` is what every scheduler calls.  It receives the task as
JSON text (nothing large crosses the scheduler: inputs are read from the
store by key) and returns the task's key once its result is in the store.  A
task whose result is already there returns at once, so a task that a scheduler
runs twice (a worker killed mid-task, two runs of one study) costs nothing the
second time and never writes a second, different result.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .plan import Task
from .store import ResultsStore

__all__ = ["execute_task", "resolve_step", "limit_threads"]

_LIMITED: dict[str, int] = {}


def resolve_step(spec: str) -> Callable[[Task, ResultsStore, Path], None]:
    """The step function named ``"package.module:function"``."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def limit_threads(threads: int) -> None:
    """Give BLAS, OpenMP and torch in this process ``threads`` threads (one per task keeps workers from fighting)."""
    if _LIMITED.get("threads") == threads:
        return
    import threadpoolctl
    import torch

    threadpoolctl.threadpool_limits(threads)
    torch.set_num_threads(threads)
    _LIMITED["threads"] = threads


def execute_task(task_json: str, store_path: str, threads: int | None, *upstream: Any) -> str:
    """Compute one task into the store unless its result is there already; return its key.

    Parameters
    ----------
    task_json : str
        :meth:`Task.to_json` as JSON text.
    store_path : str
        The results store.
    threads : int or None
        Threads for BLAS/torch in this process (``None``: leave them as they are,
        for schedulers that run tasks in the driver, which sets them itself).
    *upstream
        The keys of the tasks this one reads (passing them makes the scheduler
        run those first); unused otherwise.
    """
    task = Task.from_json(json.loads(task_json))
    store = ResultsStore(store_path)
    if store.has(task.key):
        return task.key
    if threads is not None:
        limit_threads(threads)
    import dask

    step = resolve_step(task.step)
    meta = {"kind": task.kind, "label": task.label, "step": task.step, "params": task.params, "inputs": task.inputs,
            "pid": os.getpid()}
    # Dask arrays inside a step (lazily read files) compute inline, in this task's thread: on a distributed
    # worker they would otherwise go to the cluster's client, whose worker then secedes this thread and starts
    # another task beside it (two tasks on a one-thread worker).
    with dask.config.set(scheduler="synchronous"):
        store.commit(task.key, meta, lambda folder: step(task, store, folder))
    return task.key
