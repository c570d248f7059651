"""Dask schedulers for studies: threads, processes, synchronous, a local cluster or an existing one.

``open_runner(scheduler, workers)`` gives an object whose ``run(tasks, ...)``
executes the tasks in dependency order on the chosen scheduler and calls
back as each finishes (for progress bars).  The local schedulers
(``"threads"``, ``"processes"``, ``"synchronous"``) run a Dask graph through
``dask.threaded.get`` / ``dask.multiprocessing.get`` / ``dask.get``;
``"tcp://HOST:PORT"`` connects to a running ``dask scheduler`` and
``workers=N`` (with no address) starts a ``dask.distributed.LocalCluster`` of N
one-thread worker processes.  On a distributed scheduler a worker that dies
mid-task is replaced and its tasks rerun (Dask's own rescheduling); every task
is idempotent (:func:`.execution.execute_task`), so the results do not change.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DependencyError, SchedulerError, UnknownNameError
from .execution import execute_task, limit_threads
from .plan import Task

__all__ = ["LOCAL_SCHEDULERS", "LOCAL_CLUSTER", "open_runner", "check_scheduler"]

#: The schedulers that run in this process or its children (``workers`` sets their pool size).
LOCAL_SCHEDULERS = ("threads", "processes", "synchronous")
#: A ``dask.distributed.LocalCluster`` of ``workers`` one-thread worker processes (default 2).
LOCAL_CLUSTER = "local-cluster"

#: Dask settings of the local cluster a study starts.  The nanny's default MALLOC_TRIM_THRESHOLD_=65536
#: makes glibc hand freed memory back to the system at once, so every large numpy temporary is faulted in
#: afresh: a cross-validated encoding model ran 25% slower in such a worker than in a plain process (4.4 s
#: against 5.6 s, measured here); unset, glibc's adaptive threshold applies as in any Python process.  The
#: workers' statistical profiler (for a dashboard the cluster does not start) samples every thread's stack
#: every 10 ms: off.
LOCAL_CLUSTER_CONFIG = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                        "distributed.worker.profile.enabled": False}

#: Libraries a ``processes`` worker imports as it starts, when the driver has them loaded.
WARM_LIBRARIES = ("numpy", "scipy", "pandas", "xarray", "sklearn", "torch", "zarr")

#: Seconds to wait for an existing scheduler before giving up.
CONNECT_TIMEOUT = 10


def check_scheduler(scheduler: str, workers: int | None, *, source: str = "--scheduler") -> None:
    """Refuse an unknown scheduler name or a worker count below 1 before any work starts."""
    if scheduler not in LOCAL_SCHEDULERS and not scheduler.startswith(("tcp://", "tls://", "ws://", "wss://")) \
            and scheduler != LOCAL_CLUSTER:
        raise UnknownNameError(scheduler, [*LOCAL_SCHEDULERS, LOCAL_CLUSTER, "tcp://HOST:PORT"], what="scheduler",
                               source=source)
    if workers is not None and workers < 1:
        raise ConfigError(f"the number of workers must be at least 1, got {workers}", source="--workers",
                          fix="pass e.g. --workers 2")


class _LocalRunner:
    def __init__(self, scheduler: str, workers: int | None):
        self.scheduler, self.workers = scheduler, workers
        self.description = scheduler if workers is None else f"{scheduler} ({workers} workers)"
        self.model_modules: list[str] = []  # the models' importable modules, set by check()

    def check(self, modules: Sequence[str]) -> None:
        _check_imports_here(modules, where="this machine")
        self.model_modules = [m for m in modules if not _is_file(m)]

    def run(self, tasks: Mapping[str, Task], store: str, done: Callable[[Task], None]) -> None:
        from dask.callbacks import Callback

        graph = _graph(tasks, store, threads=1 if self.scheduler == "processes" else None)
        names = {_dask_key(key): task for key, task in tasks.items()}

        class Progress(Callback):
            def _posttask(self, key, result, dsk, state, worker_id):  # noqa: D401 - dask's hook
                if key in names:
                    done(names[key])

        from dask.base import get_scheduler

        get = get_scheduler(scheduler=self.scheduler)
        options: dict[str, Any] = {"num_workers": self.workers} if self.workers and self.scheduler != "synchronous" else {}
        if self.scheduler == "processes":
            options["chunksize"] = 1  # one task per dispatch: Dask's default batches 6 to one process, idling the others
        in_process = self.scheduler != "processes"
        with contextlib.ExitStack() as stack:
            if in_process:
                stack.enter_context(_limited(1))
            else:
                modules = _warm_modules(tasks) | set(self.model_modules)
                options["pool"] = stack.enter_context(_started_pool(self.workers or os.cpu_count() or 1, modules))
            stack.enter_context(Progress())
            get(graph, list(graph), **options)


class _DistributedRunner:
    def __init__(self, client: Any, description: str):
        self.client, self.description = client, description

    def check(self, modules: Sequence[str]) -> None:
        results = self.client.run(_import_problems, list(modules))
        for worker, problems in sorted(results.items()):
            if problems:
                raise SchedulerError(f"worker {worker} cannot import {problems[0]}", source=self.description,
                                     fix="install the package (or put the module on PYTHONPATH) in the workers' "
                                     "environment, the same as the driver's")

    def run(self, tasks: Mapping[str, Task], store: str, done: Callable[[Task], None]) -> None:
        from distributed import as_completed

        # every worker loads the steps' libraries at once, rather than each on its first task in turn
        self.client.run(_import_modules, sorted(_warm_modules(tasks)))
        futures: dict[str, Any] = {}
        for key, task in tasks.items():
            upstream = [futures[k] if k in futures else k for k in task.dependencies]
            futures[key] = self.client.submit(execute_task, json.dumps(task.to_json()), store, 1, *upstream,
                                              key=_dask_key(key), pure=False)
        by_future = {future.key: tasks[key] for key, future in futures.items()}
        for future in as_completed(list(futures.values())):
            future.result()  # raises the task's error here, in the driver
            done(by_future[future.key])


def _graph(tasks: Mapping[str, Task], store: str, threads: int | None) -> dict:
    """A Dask graph of the tasks; inputs already in the store are passed as plain keys."""
    graph = {}
    for key, task in tasks.items():
        upstream = [_dask_key(k) if k in tasks else k for k in task.dependencies]
        graph[_dask_key(key)] = (execute_task, json.dumps(task.to_json()), store, threads, *upstream)
    return graph


@contextlib.contextmanager
def _started_pool(n_workers: int, modules: set[str]) -> Iterator[Any]:
    """Dask's process pool for ``dask.multiprocessing.get``, with every worker started at once.

    Left to itself the pool starts a process only when a task waits for one, so the second worker
    spawns and imports torch, scikit-learn and the steps (seconds) only when the first dependent tasks
    are ready, on the study's critical path.  Here all workers start together and import the steps'
    modules while the first task runs.  The workers are initialised as Dask's own pool does (its
    ``initialize_worker_process``, and a fixed ``PYTHONHASHSEED`` for consistent hashing).
    """
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    from dask.multiprocessing import get_context, initialize_worker_process

    if os.environ.get("PYTHONHASHSEED") in (None, "0"):
        os.environ["PYTHONHASHSEED"] = "6640"  # what dask.multiprocessing.get sets for its own pool
    pool = ProcessPoolExecutor(n_workers, mp_context=get_context(), initializer=partial(
        initialize_worker_process, user_initializer=partial(_import_modules, tuple(sorted(modules)))))
    try:
        for _ in range(n_workers):  # each submission while no worker is idle starts one
            pool.submit(int)
        yield pool
    finally:
        pool.shutdown()


def _warm_modules(tasks: Mapping[str, Task]) -> set[str]:
    """The steps' modules, and the heavy libraries planning loaded in the driver (torch to fingerprint models)."""
    return {"neuroalign.pipelines.execution", *(task.step.split(":")[0] for task in tasks.values()),
            *(name for name in WARM_LIBRARIES if name in sys.modules)}


def _is_file(module: str) -> bool:
    """Whether a model's module is named by its file (``models/net.py``) rather than as an import path."""
    return module.endswith(".py") or os.sep in module


def _import_modules(modules: Sequence[str]) -> None:
    """Import the modules a worker's tasks will need (a failure is left to the task, which names it)."""
    for module in modules:
        with contextlib.suppress(Exception):
            importlib.import_module(module)


def _dask_key(key: str) -> str:
    return f"neuroalign-task-{key}"


@contextlib.contextmanager
def _limited(threads: int) -> Iterator[None]:
    """One BLAS/torch thread per task while tasks run in this process's threads; restored afterwards."""
    import threadpoolctl
    import torch

    before = torch.get_num_threads()
    with threadpoolctl.threadpool_limits(threads):
        torch.set_num_threads(threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)


@contextlib.contextmanager
def open_runner(scheduler: str = "threads", workers: int | None = None) -> Iterator[Any]:
    """A runner for ``scheduler`` (see the module docstring), closed (cluster stopped) on exit."""
    check_scheduler(scheduler, workers)
    if scheduler in LOCAL_SCHEDULERS:
        yield _LocalRunner(scheduler, workers)
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise DependencyError("a Dask cluster needs the 'distributed' package", source="--scheduler",
                              fix="pip install 'neuroalign[distributed]'") from None
    if scheduler == LOCAL_CLUSTER:
        import dask

        with dask.config.set(LOCAL_CLUSTER_CONFIG), \
                LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True, dashboard_address=None,
                             silence_logs=40) as cluster, Client(cluster) as client:
            yield _DistributedRunner(client, f"local cluster ({workers or 2} worker processes)")
        return
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise SchedulerError(f"cannot reach the Dask scheduler ({type(exc).__name__}: {exc})", source=scheduler,
                             fix="start it with 'dask scheduler' (and workers with 'dask worker ADDRESS'), or "
                             "check the address and port") from None
    with client:
        if not client.scheduler_info().get("workers"):
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT * 3)
        yield _DistributedRunner(client, f"cluster at {scheduler}")


def _import_problems(modules: Sequence[str]) -> list[str]:
    """The modules (or factory files) this process cannot import or find; runs on each worker."""
    problems = []
    for module in modules:
        if _is_file(module):
            if not Path(module).is_file():
                problems.append(f"the model file {module} (not found)")
        elif importlib.util.find_spec(module.split(".")[0]) is None:
            problems.append(f"the module {module!r}")
        else:
            try:
                importlib.import_module(module)
            except Exception as exc:  # noqa: BLE001 - any import failure is reported with its cause
                problems.append(f"the module {module!r} ({type(exc).__name__}: {exc})")
    return problems


def _check_imports_here(modules: Sequence[str], where: str) -> None:
    problems = _import_problems(modules)
    if problems:
        raise SchedulerError(f"{where} cannot import {problems[0]}", source="models",
                             fix="install the package or put the module on PYTHONPATH")


def limit_worker_threads(threads: int = 1) -> None:
    """For a ``dask worker --preload``: one BLAS/torch thread per worker thread."""
    limit_threads(threads)
