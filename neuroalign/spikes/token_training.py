"""Training of :class:`~neuroalign.spikes.autoregressive_model.SpikeTokenModel`: one epoch over windows, the
validation loss, a checkpoint's training state put back, and the history table.

Batches are windows of training trials (the split is by trial, never by window), drawn in an order from
the seeded ``shuffle`` generator.  The validation loss uses the training batch size, because the
contrastive term depends on how many windows a batch holds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from ..errors import ConfigError, DataError
from ..fitting import state_files as files
from .token_data import token_batch
from .token_transformer import SpikeTokenTransformer

__all__ = ["run_epoch", "validation_loss", "restore_training", "history_table"]


def run_epoch(model: SpikeTokenTransformer, optimizer: torch.optim.Optimizer, shuffle: torch.Generator,
              tokens: Any, inputs: dict[str, np.ndarray], rows: np.ndarray, *, batch_size: int,
              contrastive_weight: float, temperature: float) -> dict[str, float]:
    """One pass over the windows ``rows`` in a shuffled order; the window-weighted mean of each loss term."""
    model.train()
    order = rows[torch.randperm(len(rows), generator=shuffle).numpy()]
    totals: dict[str, float] = {}
    seen = 0
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        if len(chunk) < 2 and start:  # a last step of one window would give InfoNCE no negatives: skipped
            continue
        seen += len(chunk)
        loss, parts = model.loss(token_batch(tokens, inputs, chunk), contrastive_weight=contrastive_weight,
                                 temperature=temperature)
        if not torch.isfinite(loss):
            raise DataError(f"the loss became {float(loss)}", source="counts", fix="lower lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        for name, value in {"loss": float(loss.detach()), **parts}.items():
            totals[name] = totals.get(name, 0.0) + value * len(chunk)
    return {name: value / seen for name, value in totals.items()}


def validation_loss(model: SpikeTokenTransformer, tokens: Any, inputs: dict[str, np.ndarray], rows: np.ndarray, *,
                    batch_size: int, contrastive_weight: float, temperature: float) -> float:
    """The window-weighted mean loss over ``rows``, in batches of the training size, without gradients."""
    model.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            loss, _ = model.loss(token_batch(tokens, inputs, chunk), contrastive_weight=contrastive_weight,
                                 temperature=temperature)
            total += float(loss) * len(chunk)
    return total / len(rows)


def restore_training(saved: dict, model: SpikeTokenTransformer, optimizer: torch.optim.Optimizer,
                     shuffle: torch.Generator, path: str) -> list[dict[str, float]]:
    """Put a checkpoint's weights, optimizer and generator states back; its history rows.

    Raises
    ------
    ConfigError
        The checkpoint does not fit the model.
    """
    try:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        files.restore_generators({"shuffle": shuffle}, saved["generators"], path)
        torch.set_rng_state(saved["generators"]["global"])
        return files.history_from_dict(saved["history"]).to_dict("records")
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise ConfigError(f"the checkpoint does not fit the model ({' '.join(str(exc).split())[:300]})",
                          source=str(path), fix="pass another checkpoint path (or delete the file) to start over"
                          ) from None


def history_table(rows: list[dict[str, float]]) -> pd.DataFrame:
    """The history rows as a table with an integer ``epoch`` column."""
    table = pd.DataFrame(rows, columns=None if rows else ["epoch", "loss", "valid_loss"])
    return table.astype({"epoch": "int64"})
