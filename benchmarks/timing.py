"""Shared timing helper of the benchmark scripts (run them from the repository root or benchmarks/)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def best_of(function: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """The best wall time of ``repeats`` calls of ``function``, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def seconds_of(function: Callable[[], Any]) -> float:
    """The wall time of one call of ``function``; its result is dropped at once, so large outputs of
    one contender do not stay in memory while the next one runs."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def alternating(contenders: dict[str, Callable[[], Any]], repeats: int) -> tuple[dict[str, list[float]],
                                                                                 dict[str, list[float]]]:
    """Wall and process CPU times of each contender, ``repeats`` rounds, the contenders alternating in each
    round (so that a disturbance of the shared machine hits all of them alike); results are dropped at once."""
    wall: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, function in contenders.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            function()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return wall, cpu
