"""What the estimators share: parameter checks, seeds, torch threads and the epoch loop's bar.

The estimators of neuroalign (graph and spike pretraining, fine-tuning, triplet probes) follow
scikit-learn's contract: parameters are stored unchanged by ``__init__`` and
checked by ``fit`` with the helpers here, so a bad value raises a
:class:`~neuroalign.errors.ConfigError` naming the parameter.

Randomness comes from ``random_state`` only.  :func:`stream_seeds` splits it
into independent named streams (initial weights, shuffling, masks) with
:class:`numpy.random.SeedSequence`; :func:`forked_rng` runs a block with
torch's global generator forked and seeded, so layers that draw from it
(weight initialisation, dropout) are reproducible and the caller's global
state is left as it was.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import ConfigError, UnknownNameError

__all__ = ["check_int", "check_number", "check_bool", "check_choice", "check_threads", "check_path",
           "resolve_seed", "stream_seeds", "forked_rng", "seeded_generator", "threads_for", "check_fitted",
           "epoch_bar", "torch_threads", "RUNTIME_PARAMS", "plain_value", "fit_configuration", "check_runtime"]

#: Parameters that change how a fit runs, not what it computes (left out of checkpoints and saved models).
RUNTIME_PARAMS = ("progress", "checkpoint", "threads")


def check_int(name: str, value: Any, *, minimum: int = 0) -> int:
    """``value`` as an int of at least ``minimum`` (bools refused); ConfigError naming ``name`` otherwise.

    Examples
    --------
    >>> from neuroalign.fitting.base import check_int
    >>> check_int("epochs", 3, minimum=0)
    3
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer of at least {minimum}, got {value!r}", source=name,
                          fix=f"pass e.g. {name}={max(minimum, 1)}")
    return int(value)


def check_number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite float within ``[low, high]`` (ends open when asked); ConfigError otherwise.

    Examples
    --------
    >>> from neuroalign.fitting.base import check_number
    >>> check_number("lr", 1e-3, low=0, low_open=True)
    0.001
    """
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    if ok:
        value = float(value)
        ok = math.isfinite(value)
        if ok and low is not None:
            ok = value > low if low_open else value >= low
        if ok and high is not None:
            ok = value < high if high_open else value <= high
    if not ok:
        lo = "" if low is None else f"{'>' if low_open else '≥'} {low:g}"
        hi = "" if high is None else f"{'<' if high_open else '≤'} {high:g}"
        bounds = " and ".join(b for b in (lo, hi) if b)
        raise ConfigError(f"{name} must be a finite number{' ' + bounds if bounds else ''}, got {value!r}",
                          source=name, fix=f"pass a value {bounds}" if bounds else f"pass a number as {name}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is a bool (numpy's included); ConfigError naming ``name`` otherwise."""
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{name} must be True or False, got {value!r}", source=name,
                          fix=f"pass {name}=True or {name}=False")
    return bool(value)


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``; UnknownNameError listing them otherwise."""
    if not isinstance(value, str) or value not in choices:
        raise UnknownNameError(str(value), choices, what=name, source=name)
    return value


def check_threads(value: Any) -> int | None:
    """None (torch's setting is left alone) or a positive number of torch threads."""
    return None if value is None else check_int("threads", value, minimum=1)


def check_path(name: str, value: Any) -> str | None:
    """None or a file path (str or path-like) as a str; ConfigError otherwise."""
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)) or not str(os.fspath(value)):
        raise ConfigError(f"{name} must be a file path or None, got {value!r}", source=name,
                          fix=f"pass e.g. {name}='pretraining.pt'")
    path = os.fspath(value)
    if os.path.isdir(path):
        raise ConfigError(f"{path} is a folder", source=name, fix="pass a file name, e.g. pretraining.pt")
    return str(path)


def resolve_seed(random_state: Any) -> int:
    """The integer seed of a fit: ``random_state`` itself, or fresh entropy (an int) for None.

    Examples
    --------
    >>> from neuroalign.fitting.base import resolve_seed
    >>> resolve_seed(7)
    7
    """
    if random_state is None:
        return int(np.random.SeedSequence().entropy) % 2**63
    return check_int("random_state", random_state, minimum=0)


def stream_seeds(seed: int, names: Iterable[str]) -> dict[str, int]:
    """Independent 63-bit seeds, one per named stream, from one integer seed (``SeedSequence.spawn``).

    The seed of a stream depends only on ``seed`` and the stream's position in ``names``.

    Examples
    --------
    >>> from neuroalign.fitting.base import stream_seeds
    >>> a = stream_seeds(0, ["init", "shuffle"])
    >>> a == stream_seeds(0, ["init", "shuffle"]), a["init"] != a["shuffle"]
    (True, True)
    """
    names = list(names)
    children = np.random.SeedSequence(int(seed)).spawn(len(names))
    return {name: int(child.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
            for name, child in zip(names, children)}


def seeded_generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed``."""
    return torch.Generator().manual_seed(int(seed))


@contextlib.contextmanager
def forked_rng(seed: int | None = None, state: torch.Tensor | None = None) -> Iterator[None]:
    """Run the block with torch's global CPU generator seeded (or set to ``state``), then restore it.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.fitting.base import forked_rng
    >>> with forked_rng(0):
    ...     a = torch.rand(2)
    >>> with forked_rng(0):
    ...     b = torch.rand(2)
    >>> bool((a == b).all())
    True
    """
    with torch.random.fork_rng(devices=[]):
        if state is not None:
            torch.set_rng_state(state)
        elif seed is not None:
            torch.manual_seed(int(seed))
        yield


@contextlib.contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)``, then restore the previous setting.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.fitting.base import torch_threads
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def threads_for(threads: int | None) -> contextlib.AbstractContextManager:
    """:func:`torch_threads` for a number, a no-op for None."""
    return contextlib.nullcontext() if threads is None else torch_threads(threads)


def check_fitted(estimator: Any, attribute: str = "model_") -> None:
    """ConfigError naming the estimator's class when ``attribute`` is not set yet (it is not fitted)."""
    if not hasattr(estimator, attribute):
        name = type(estimator).__name__
        raise ConfigError(f"this {name} is not fitted yet", source=name,
                          fix=f"call {name}(...).fit(dataset) first, or {name}.load(path)")


def epoch_bar(start: int, stop: int, *, progress: bool, desc: str) -> "tqdm":
    """A tqdm bar over epochs ``start … stop - 1`` (``initial=start`` when resuming); silent if not ``progress``."""
    return tqdm(range(start, stop), initial=start, total=stop, desc=desc, unit="epoch", disable=not progress,
                leave=False)


def plain_value(value: Any) -> Any:
    """A numpy scalar as the Python number, a path as its str; anything else unchanged (what state files hold).

    Examples
    --------
    >>> import numpy as np
    >>> from neuroalign.fitting.base import plain_value
    >>> plain_value(np.int64(3)), plain_value(3.5)
    (3, 3.5)
    """
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def fit_configuration(estimator: Any) -> dict[str, Any]:
    """The parameters that determine an estimator's result: ``get_params()`` less :data:`RUNTIME_PARAMS`."""
    return {name: plain_value(value) for name, value in estimator.get_params().items() if name not in RUNTIME_PARAMS}


def check_runtime(runtime: Any) -> None:
    """ConfigError unless ``runtime`` (the keyword arguments of a ``load``) names only :data:`RUNTIME_PARAMS`."""
    unknown = sorted(set(runtime) - set(RUNTIME_PARAMS))
    if unknown:
        raise ConfigError(f"load takes only {', '.join(RUNTIME_PARAMS)}, got {unknown}", source="load",
                          fix="set other parameters when training; a saved model keeps its own")
