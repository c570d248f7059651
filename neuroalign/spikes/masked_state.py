"""The training state of :class:`~neuroalign.spikes.masked_model.MaskedSpikeModel` in its files.

A checkpoint holds, besides the configuration and the data's identity, the
weights, the optimizer's state, the generators' states, the history and the
early-stopping state (best weights, best epoch and loss, epochs without
improvement, whether training stopped); :func:`restore` puts them back, so a
resumed fit continues exactly where the killed one was.  :func:`identity` is
what a checkpoint must share with the data it resumes on: per session its
name, content hash, held-in and held-out neurons (with their coordinates),
validation trials, and the number of time bins.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import torch

from ..errors import ConfigError
from ..fitting import state_files as files
from ..fitting.state_files import SPIKES_FORMAT as FORMAT
from .masked_training import Session

__all__ = ["FORMAT", "new_state", "checkpoint_payload", "restore", "identity", "history_table"]



def new_state() -> dict[str, Any]:
    """The state of a fit before its first epoch."""
    return {"rows": [], "best": None, "best_epoch": None, "best_loss": float("inf"), "stale": 0, "stopped": False}


def checkpoint_payload(state: dict[str, Any], model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                       generators: dict[str, torch.Generator]) -> dict[str, Any]:
    """The training part of a checkpoint (weights, optimizer, generators, history, early stopping)."""
    return {"epoch": len(state["rows"]), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "generators": {**files.generator_states(generators), "global": torch.get_rng_state()},
            "history": files.history_to_dict(history_table(state["rows"])),
            "early_stopping": {key: state[key] for key in ("best", "best_epoch", "best_loss", "stale", "stopped")}}


def restore(saved: dict, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
            generators: dict[str, torch.Generator], path: str) -> dict[str, Any]:
    """Load a checkpoint's training state into the model, optimizer and generators; the fit's state."""
    try:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        files.restore_generators(generators, saved["generators"], path)
        torch.set_rng_state(saved["generators"]["global"])
        rows = files.history_from_dict(saved["history"]).to_dict("records")
        early = dict(saved["early_stopping"])
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise ConfigError(f"the checkpoint does not fit the model ({' '.join(str(exc).split())[:300]})",
                          source=str(path), fix="pass another checkpoint path (or delete the file) to start over"
                          ) from None
    return {"rows": rows, "best": early["best"], "best_epoch": early["best_epoch"],
            "best_loss": float(early["best_loss"]), "stale": int(early["stale"]), "stopped": bool(early["stopped"])}


def identity(data: list[Session]) -> dict[str, Any]:
    """What identifies the training data (compared when resuming, kept in saved models)."""
    return {"sessions": [s.name for s in data], "content_hashes": [s.content_hash for s in data],
            "held_in": [s.held_in for s in data], "held_out": [s.held_out for s in data],
            "neuroids": [s.neuroids for s in data], "n_bins": int(data[0].inputs.shape[1]),
            "n_valid": [len(s.valid) for s in data]}


def history_table(rows: list[dict[str, float]]) -> pd.DataFrame:
    """The history rows as a table: epoch (int), loss, valid_loss.

    Examples
    --------
    >>> from neuroalign.spikes.masked_state import history_table
    >>> history_table([{"epoch": 1, "loss": 0.5, "valid_loss": 0.4}]).dtypes.astype(str).tolist()
    ['int64', 'float64', 'float64']
    """
    table = pd.DataFrame(rows, columns=["epoch", "loss", "valid_loss"])
    return table.astype({"epoch": "int64", "loss": "float64", "valid_loss": "float64"})
