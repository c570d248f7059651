"""The training data and steps of :class:`~neuroalign.spikes.masked_model.MaskedSpikeModel`.

:func:`prepare_sessions` turns checked sessions into tensors: per session its
held-in counts (the inputs), the counts of held-in then held-out neurons (the
targets), the neurons' names and coordinates, and its training and
validation trials (split by trial).  :func:`run_epoch` is one pass of
masked modelling over every session's training trials; :func:`validation_loss`
scores the validation trials under masks fixed for the whole fit.

The loss is the Poisson negative log-likelihood of the counts given the
predicted log-rates, ``exp(l) − n·l`` per scored entry (``log n!`` is left
out: it does not depend on the model), averaged over the entries that
:func:`~neuroalign.spikes.masking.loss_mask` scores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr

from ..data.provenance import hash_array
from ..errors import DataError
from .arrays import held_out_ids, neuroid_table, neurons_last, split_trials
from .masking import corrupt, draw_mask, loss_mask
from .ndt import MaskedSpikeTransformer

__all__ = ["Session", "prepare_sessions", "poisson_loss", "run_epoch", "validation_loss"]


@dataclass
class Session:
    """One session's training tensors and names."""

    name: str
    held_in: list[str]
    held_out: list[str]
    neuroids: dict[str, list]  # neuroid coords, held-in then held-out order
    inputs: torch.Tensor  # (trial, time, held-in) float32
    targets: torch.Tensor  # (trial, time, held-in + held-out) float32
    train: torch.Tensor  # trial indices
    valid: torch.Tensor
    content_hash: str

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.held_in), len(self.held_out)


def held_out_of(counts: xr.DataArray, held_out: Any, session: str) -> list[str]:
    """The held-out ``neuroid_id``s of one session (``held_out`` may map session names to specs)."""
    spec = held_out.get(session) if isinstance(held_out, Mapping) else held_out
    return [] if spec is None else held_out_ids(counts, spec)


def prepare_sessions(sessions: dict[str, xr.DataArray], held_out: Any, *, validation_fraction: float,
                     seed: int) -> list[Session]:
    """Tensors, names and trial splits of checked sessions (validation trials drawn with ``seed``).

    Examples
    --------
    >>> from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
    >>> from neuroalign.spikes.masked_training import prepare_sessions
    >>> sim = simulate_lorenz_spikes(n_trials=10, n_bins=5, random_state=0)
    >>> [session] = prepare_sessions({"s": sim.counts}, "held_out", validation_fraction=0.2, seed=0)
    >>> session.shape, tuple(session.targets.shape), len(session.train), len(session.valid)
    ((36, 12), (10, 5, 48), 8, 2)
    """
    rng = np.random.default_rng(seed)
    out = []
    for name, counts in sessions.items():
        out_ids = held_out_of(counts, held_out, name)
        excluded = set(out_ids)
        ids = [str(i) for i in counts.neuroid_id.values]
        in_ids = [i for i in ids if i not in excluded]
        position = {i: k for k, i in enumerate(ids)}
        order = [position[i] for i in in_ids + out_ids]
        ordered = counts.isel(neuroid=order)
        values = neurons_last(ordered)
        n = values.shape[0]
        if validation_fraction > 0:
            parts = split_trials(n, {"train": 1 - validation_fraction, "valid": validation_fraction},
                                 random_state=rng)
            train, valid = parts["train"], parts["valid"]
        else:
            if n < 1:
                raise DataError(f"session {name!r} has no trials", source="counts", fix="pass at least one trial")
            train, valid = np.arange(n), np.arange(0)
        targets = torch.from_numpy(values.astype(np.float32))
        out.append(Session(name=name, held_in=in_ids, held_out=out_ids, neuroids=neuroid_table(ordered),
                           inputs=targets[..., :len(in_ids)].contiguous(), targets=targets,
                           train=torch.from_numpy(train), valid=torch.from_numpy(valid),
                           content_hash=hash_array(counts)))
    return out


def poisson_loss(log_rates: torch.Tensor, targets: torch.Tensor, scored: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The summed Poisson NLL ``exp(l) − n·l`` over the ``scored`` entries, and how many there are.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.spikes.masked_training import poisson_loss
    >>> total, n = poisson_loss(torch.zeros(1, 2, 1), torch.tensor([[[1.0], [3.0]]]), torch.tensor([[[True], [False]]]))
    >>> float(total), n
    (1.0, 1)
    """
    nll = torch.nn.functional.poisson_nll_loss(log_rates, targets, log_input=True, full=False, reduction="none")
    return nll[scored].sum(), int(scored.sum())


def _masked(session: Session, index: torch.Tensor, settings: dict[str, Any],
            generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Corrupted inputs and the loss's entries for the trials ``index`` of a session."""
    n_in, n_out = session.shape
    mask = draw_mask(len(index), session.inputs.shape[1], ratio=settings["mask_ratio"], mode=settings["mask_mode"],
                     max_span=settings["max_span"], generator=generator)
    x = corrupt(session.inputs[index], mask, zero_ratio=settings["zero_ratio"],
                random_ratio=settings["random_ratio"], generator=generator)
    return x, loss_mask(mask, n_in, n_out)


def run_epoch(model: MaskedSpikeTransformer, sessions: list[Session], optimizer: torch.optim.Optimizer,
              generators: dict[str, torch.Generator], settings: dict[str, Any], epoch: int) -> float:
    """One pass over every session's training trials in shuffled batches; the mean loss per scored entry."""
    model.train()
    batches = []
    size = settings["batch_size"]
    for k, session in enumerate(sessions):
        order = session.train[torch.randperm(len(session.train), generator=generators["shuffle"])]
        batches += [(k, order[start:start + size]) for start in range(0, len(order), size)]
    total, count = 0.0, 0
    for b in torch.randperm(len(batches), generator=generators["shuffle"]).tolist():
        k, index = batches[b]
        session = sessions[k]
        x, scored = _masked(session, index, settings, generators["mask"])
        if not scored.any():
            continue
        summed, n = poisson_loss(model(x, k), session.targets[index], scored)
        loss = summed / n
        if not torch.isfinite(loss):
            raise DataError(f"the loss became {float(loss)} at epoch {epoch}", source="counts",
                            fix="lower lr, or check the counts for extreme values")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(summed.detach())
        count += n
    return total / max(count, 1)


def validation_masks(sessions: list[Session], settings: dict[str, Any],
                     generator: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Corrupted inputs and scored entries of each session's validation trials, fixed for the whole fit."""
    return [_masked(s, s.valid, settings, generator) if len(s.valid) else (None, None) for s in sessions]


def validation_loss(model: MaskedSpikeTransformer, sessions: list[Session],
                    masks: list[tuple[torch.Tensor, torch.Tensor]], batch_size: int) -> float:
    """The mean loss per scored entry on the validation trials (eval mode, no gradients); NaN without any."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for k, (session, (x, scored)) in enumerate(zip(sessions, masks)):
            if x is None:
                continue
            for start in range(0, len(x), batch_size):
                part = slice(start, start + batch_size)
                summed, n = poisson_loss(model(x[part], k), session.targets[session.valid[part]], scored[part])
                total += float(summed)
                count += n
    return total / count if count else float("nan")
