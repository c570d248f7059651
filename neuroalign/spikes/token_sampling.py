"""Sampling spike windows token by token from a :class:`~neuroalign.spikes.token_transformer.SpikeTokenTransformer`.

Each row of a batch (one window of one trial, with its context and inputs)
starts from ``START``; at every step the next token's offset is drawn (a bin
of the window, or END, which closes the window), then, for a bin, its neuron
id given that bin.  Two rules of the training data are enforced while
sampling, as in training (the model gives the tokens real windows never hold
probability 0): offsets never decrease, and within one bin ids never
decrease.  A window reaching the model's ``max_tokens`` is closed with END.

Besides the sampled counts, every step adds the probability the model gives
each (bin, neuron) for the next token to an **expected count** (zero once
the window is closed).  Its mean over sample paths is an unbiased estimate
of the expected counts of the sampling process, with less variance than the
mean of the sampled counts, and is positive in every bin.
"""

from __future__ import annotations

import numpy as np
import torch

from .token_data import context_batch
from .token_transformer import Batch, SpikeTokenTransformer

__all__ = ["sample_windows", "sample_trials"]


@torch.no_grad()
def sample_windows(model: SpikeTokenTransformer, batch: Batch, generator: torch.Generator
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Sampled counts and expected counts ``(rows, window_bins, n_neurons)`` of one window per row of ``batch``."""
    model.eval()
    n_rows = batch["window"].shape[0]
    n_bins, n_neurons = model.window_bins, model.n_neurons
    keys, key_padding, _ = model.memory(batch)
    counts = torch.zeros(n_rows, n_bins, n_neurons)
    expected = torch.zeros(n_rows, n_bins, n_neurons, dtype=torch.float64)
    ids = torch.full((n_rows, 1), n_neurons, dtype=torch.long)
    offsets = torch.full((n_rows, 1), n_bins + 1, dtype=torch.long)
    last_offset = torch.zeros(n_rows, dtype=torch.long)
    last_id = torch.zeros(n_rows, dtype=torch.long)
    active = torch.arange(n_rows)
    bins = torch.arange(n_bins)
    for step in range(model.max_tokens - 1):
        rows = {"window": batch["window"][active]}
        h = model.hidden(rows, ids, offsets, (keys[active], key_padding[active]))[:, -1]
        p_offset = model.offset_log_probs(h, last_offset[active]).exp()
        if step == model.max_tokens - 2:
            p_offset = torch.zeros_like(p_offset)
            p_offset[:, n_bins] = 1.0
        every_bin = bins[None, :].expand(len(active), n_bins)
        p_id = model.id_log_probs(h[:, None, :], every_bin, last_offset[active, None],
                                  last_id[active, None]).exp()                                   # (rows, bins, ids)
        expected[active] += (p_offset[:, :n_bins, None] * p_id).double()
        offset = torch.multinomial(p_offset, 1, generator=generator)[:, 0]
        spiking = offset < n_bins
        if not spiking.any():
            break
        chosen = p_id[torch.arange(len(active)), offset.clamp(max=n_bins - 1)]
        neuron = torch.multinomial(chosen, 1, generator=generator)[:, 0]
        keep = active[spiking]
        counts[keep, offset[spiking], neuron[spiking]] += 1
        last_offset[keep], last_id[keep] = offset[spiking], neuron[spiking]
        ids = torch.cat([ids[spiking], neuron[spiking, None]], 1)
        offsets = torch.cat([offsets[spiking], offset[spiking, None]], 1)
        active = keep
    return counts, expected


def sample_trials(model: SpikeTokenTransformer, n_trials: int, observed: np.ndarray | None,
                  inputs: dict[str, np.ndarray], generator: torch.Generator, *, rows: int = 512
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Sampled and expected counts ``(trial, bin, neuron)`` of whole trials, window after window.

    Each window's context is the ``observed`` counts ``(trial, bin, neuron)`` before it, or, with ``observed``
    None, the counts sampled for the previous window(s).  ``rows`` trials are sampled at a time.
    """
    window, n_windows = model.window_bins, model.n_windows
    sampled = np.zeros((n_trials, window * n_windows, model.n_neurons))
    expected = np.zeros_like(sampled)
    source = sampled if observed is None else observed
    trials = np.arange(n_trials)
    for w in range(n_windows):
        for start in range(0, n_trials, rows):
            chunk = trials[start:start + rows]
            batch = context_batch(source, chunk, w, inputs, window, model.context_bins)
            counts, mean = sample_windows(model, batch, generator)
            sampled[chunk, w * window:(w + 1) * window] = counts.numpy()
            expected[chunk, w * window:(w + 1) * window] = mean.numpy()
    return sampled, expected
