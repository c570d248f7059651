"""Training runs as the loss-curve figures take them: a fitted estimator or its ``history_``, one or several."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..errors import ConfigError, DataError, SchemaError


def named_runs(runs: Any, prefix: str, single: str | None = None) -> dict[str, Any]:
    """``runs`` as an ordered {name: run} mapping: a mapping as it is, a sequence as ``"<prefix> i"``, one run as
    ``single`` (default ``prefix``)."""
    if isinstance(runs, Mapping):
        return {str(k): v for k, v in runs.items()}
    if isinstance(runs, (list, tuple)):
        return {f"{prefix} {i}": v for i, v in enumerate(runs)}
    return {single or prefix: runs}


def run_history(run: Any, name: str, *, estimator: str, example: str, columns: str) -> pd.DataFrame:
    """The history table (columns ``epoch``, ``loss``, …) of a fitted estimator or of a history itself.

    ``estimator`` (e.g. ``"fitted pretrainer"``), ``example`` (how to make one) and ``columns`` (what a
    history holds) word the errors.

    Raises
    ------
    ConfigError, SchemaError, DataError
        Not an estimator or a table; no ``epoch``/``loss`` column; no epochs.
    """
    history = getattr(run, "history_", run)
    if not isinstance(history, pd.DataFrame):
        raise ConfigError(f"run {name!r} is a {type(run).__name__}, not a {estimator} or a history DataFrame",
                          source="runs", fix=f"pass {example} or its history_")
    missing = [c for c in ("epoch", "loss") if c not in history.columns]
    if missing:
        raise SchemaError(f"the history of run {name!r} has no column {missing}", source="runs",
                          fix=f"pass a {estimator.removeprefix('fitted ')}'s history_ (columns {columns})")
    if history.empty:
        raise DataError(f"run {name!r} has no epochs", source="runs", fix="leave out runs fitted with epochs=0")
    return history
