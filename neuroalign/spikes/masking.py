"""Masks of masked spike modelling (NDT-style): which time bins the model must fill in.

A mask is a boolean ``(trial, time)`` tensor: ``True`` marks a time bin whose
held-in counts are hidden from the model and that the loss scores.  Masking
follows the Neural Data Transformer (Ye & Pandarinath, 2021;
snel-repo/neural-data-transformers, ``src/mask.py``): whole timesteps are
masked (every held-in neuron of a bin at once), independently with
probability ``ratio`` (``"timestep"``), or in contiguous spans (``"span"``):
a span width ``w`` is drawn uniformly in ``1 … max_span`` for the batch and
spans of ``w`` bins start with probability ``ratio / w``, so about ``ratio``
of the bins are masked either way (a little fewer where spans overlap).

Masked bins are hidden by :func:`corrupt`: most are set to zero (the "mask
token" of NDT's zero masking), optionally some get random counts and the rest
are left as they were (BERT's 80/10/10 scheme).  Held-out neurons are never
inputs, so :func:`loss_mask` always scores them.

Every draw comes from the ``torch.Generator`` passed in.
"""

from __future__ import annotations

import torch

from ..fitting.base import check_choice, check_int, check_number

__all__ = ["MASK_MODES", "draw_mask", "corrupt", "loss_mask"]

#: The masking schemes of :func:`draw_mask`.
MASK_MODES = ("timestep", "span")


def draw_mask(n_trials: int, n_bins: int, *, ratio: float, mode: str = "timestep", max_span: int = 1,
              generator: torch.Generator) -> torch.Tensor:
    """A boolean ``(trial, time)`` mask of the time bins to hide.

    Parameters
    ----------
    n_trials, n_bins : int
        The batch's shape.
    ratio : float
        In ``[0, 1]``.  ``"timestep"``: each bin is masked with this probability.  ``"span"``: spans
        of width ``w`` start at each bin with probability ``ratio / w``; as spans overlap, a bin is
        masked with probability ``1 - (1 - ratio / w) ** w`` (0.234 for 0.25 and ``w = 2``), and less
        in the first ``w - 1`` bins of a trial, which fewer spans can reach.
    mode : {"timestep", "span"}
        Independent bins, or contiguous spans of a width drawn in ``1 … max_span`` (one width per batch).
    max_span : int
        The widest span (``"span"`` only; 1 makes it the same as ``"timestep"``).
    generator : torch.Generator
        The source of every draw.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.spikes.masking import draw_mask
    >>> mask = draw_mask(100, 40, ratio=0.25, generator=torch.Generator().manual_seed(0))
    >>> mask.shape, mask.dtype, 0.2 < mask.float().mean().item() < 0.3
    (torch.Size([100, 40]), torch.bool, True)
    >>> spans = draw_mask(4000, 40, ratio=0.25, mode="span", max_span=2, generator=torch.Generator().manual_seed(1))
    >>> round(spans[:, 1:].float().mean().item(), 2)  # this draw's spans are 2 bins wide: 1 - (1 - 0.125) ** 2
    0.23
    """
    check_int("n_trials", n_trials, minimum=1)
    check_int("n_bins", n_bins, minimum=1)
    ratio = check_number("mask_ratio", ratio, low=0, high=1)
    check_choice("mask_mode", mode, MASK_MODES)
    max_span = check_int("max_span", max_span, minimum=1)
    width = 1
    if mode == "span" and max_span > 1:
        width = int(torch.randint(1, max_span + 1, (1,), generator=generator))
    starts = torch.rand(n_trials, n_bins, generator=generator) < ratio / width
    mask = starts.clone()
    for offset in range(1, width):  # a span covers its start and the width - 1 bins after it
        mask[:, offset:] |= starts[:, :-offset]
    return mask


def corrupt(counts: torch.Tensor, mask: torch.Tensor, *, zero_ratio: float = 1.0, random_ratio: float = 0.0,
            generator: torch.Generator) -> torch.Tensor:
    """A copy of ``counts`` ``(trial, time, neuron)`` with the masked bins hidden.

    Each masked bin is zeroed with probability ``zero_ratio``; a masked bin that is not zeroed gets random
    counts (uniform integers from 0 to the batch's largest count, drawn per entry) with probability
    ``random_ratio``, and is left unchanged otherwise.  The defaults zero every masked bin.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.spikes.masking import corrupt
    >>> counts = torch.ones(1, 3, 2)
    >>> mask = torch.tensor([[False, True, False]])
    >>> corrupt(counts, mask, generator=torch.Generator().manual_seed(0))[0].tolist()
    [[1.0, 1.0], [0.0, 0.0], [1.0, 1.0]]
    """
    zero_ratio = check_number("zero_ratio", zero_ratio, low=0, high=1)
    random_ratio = check_number("random_ratio", random_ratio, low=0, high=1)
    out = counts.clone()
    if zero_ratio >= 1.0:
        out[mask] = 0
        return out
    draw = torch.rand(mask.shape, generator=generator)
    zeroed = mask & (draw < zero_ratio)
    randomised = mask & ~zeroed & (torch.rand(mask.shape, generator=generator) < random_ratio)
    out[zeroed] = 0
    if random_ratio > 0:
        high = int(counts.max().item()) + 1
        values = torch.randint(0, high, counts.shape, generator=generator).to(counts.dtype)
        out[randomised] = values[randomised]
    return out


def loss_mask(mask: torch.Tensor, n_held_in: int, n_held_out: int) -> torch.Tensor:
    """The boolean ``(trial, time, held-in + held-out)`` entries the loss scores.

    A held-in neuron's entry counts where its bin is masked; a held-out neuron's entry always counts (it is
    never an input).

    Examples
    --------
    >>> import torch
    >>> from neuroalign.spikes.masking import loss_mask
    >>> loss_mask(torch.tensor([[True, False]]), 2, 1)[0].int().tolist()
    [[1, 1, 1], [0, 0, 1]]
    """
    held_in = mask[..., None].expand(*mask.shape, int(n_held_in))
    held_out = torch.ones(*mask.shape, int(n_held_out), dtype=torch.bool)
    return torch.cat([held_in, held_out], dim=-1)
