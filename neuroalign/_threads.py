"""Running independent pieces of array work on one thread per available core.

numpy, hashlib and torch release the GIL in their large operations, so plain
threads run such pieces in parallel without copying any data to other
processes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, which schedulers such as Slurm set)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


_WORKER = threading.local()  # set inside thread_map's workers


def thread_map(function: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    """``[function(item) for item in items]``, on up to one thread per available core (inline for one).

    A call from inside another call's worker runs inline: the cores are busy already.

    Examples
    --------
    >>> from neuroalign._threads import thread_map
    >>> thread_map(lambda x: x * x, range(4))
    [0, 1, 4, 9]
    """
    items = list(items)
    workers = min(len(items), available_cores())
    if workers <= 1 or getattr(_WORKER, "active", False):
        return [function(item) for item in items]

    def work(item: Any) -> Any:
        _WORKER.active = True
        try:
            return function(item)
        finally:
            _WORKER.active = False

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(work, items))
