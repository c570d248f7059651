"""Node masking of dense dynamic graphs for masked graph autoencoders.

A node mask is a bool tensor ``[B, W, N]`` (True = masked).  :func:`draw_node_mask`
draws one from a :class:`torch.Generator` only (never torch's global state):

``"window"``
    each window masks its own random nodes;
``"subject"``
    a subject masks the same random nodes in every window (a masked node's
    connectivity in the neighbouring, overlapping windows cannot be used to
    fill it in).

Each window masks exactly ``mask_count(N, ratio) = clip(floor(ratio * N), 1, N - 1)``
nodes (GraphMAE's ``int(mask_rate * num_nodes)``, kept at one masked and one
visible node at least).

:func:`context_adjacency` gives masked nodes their only view of the graph when
their own connectivity is hidden: each masked node receives from every visible
node of its window with weight ``1 / n_visible`` (the mean of the visible
nodes), and sends nothing, so the visible nodes compute exactly what they would
compute on the graph without the masked nodes.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..errors import ConfigError
from ..fitting.base import check_choice, check_number

__all__ = ["MASK_SCHEMES", "mask_count", "draw_node_mask", "apply_mask_token", "context_adjacency",
           "check_generator"]

#: How masked nodes are chosen: per window, or the same nodes in every window of a subject.
MASK_SCHEMES = ("subject", "window")


def mask_count(n_rois: int, ratio: float) -> int:
    """The number of masked nodes per window: ``floor(ratio * n_rois)`` kept within ``[1, n_rois - 1]``.

    Examples
    --------
    >>> from neuroalign.graphs.masking import mask_count
    >>> mask_count(100, 0.5), mask_count(7, 0.5), mask_count(4, 0.01), mask_count(4, 0.99)
    (50, 3, 1, 3)
    """
    if n_rois < 2:
        raise ConfigError(f"masking needs at least 2 ROIs, got {n_rois}", source="n_rois",
                          fix="build graphs with at least 2 ROIs")
    ratio = check_number("mask_ratio", ratio, low=0.0, high=1.0, low_open=True, high_open=True)
    return min(max(int(math.floor(ratio * n_rois)), 1), n_rois - 1)


def check_generator(generator: object) -> torch.Generator:
    """``generator`` if it is a :class:`torch.Generator`; ConfigError otherwise (no draw from global state)."""
    if not isinstance(generator, torch.Generator):
        raise ConfigError(f"generator must be a torch.Generator, got {type(generator).__name__}",
                          source="generator", fix="pass torch.Generator().manual_seed(seed)")
    return generator


def draw_node_mask(shape: tuple[int, int, int], ratio: float, scheme: str, generator: torch.Generator, *,
                   device: torch.device | str | None = None) -> Tensor:
    """A random node mask ``[B, W, N]`` with :func:`mask_count` masked nodes in every window.

    Parameters
    ----------
    shape : (B, W, N)
        Subjects, windows, ROIs.
    ratio : float
        Fraction of masked nodes, in (0, 1).
    scheme : {"subject", "window"}
        The same nodes in every window of a subject, or new nodes per window.
    generator : torch.Generator
        The only source of randomness (drawn on its own device).
    device : optional
        Where the mask goes (default: the generator's device).

    Examples
    --------
    >>> import torch
    >>> from neuroalign.graphs.masking import draw_node_mask
    >>> mask = draw_node_mask((2, 3, 10), 0.3, "subject", torch.Generator().manual_seed(0))
    >>> mask.sum(-1).tolist()
    [[3, 3, 3], [3, 3, 3]]
    >>> bool((mask == mask[:, :1]).all())
    True
    """
    scheme = check_choice("mask_scheme", scheme, MASK_SCHEMES)
    generator = check_generator(generator)
    batch, windows, n_rois = (int(s) for s in shape)
    count = mask_count(n_rois, ratio)
    draws = windows if scheme == "window" else 1
    keys = torch.rand((batch, draws, n_rois), generator=generator, device=generator.device)
    chosen = torch.topk(keys, count, dim=-1).indices
    mask = torch.zeros((batch, draws, n_rois), dtype=torch.bool, device=generator.device)
    mask.scatter_(-1, chosen, True)
    mask = mask.expand(batch, windows, n_rois).contiguous()
    return mask if device is None else mask.to(device)


def apply_mask_token(x: Tensor, mask: Tensor, token: Tensor) -> Tensor:
    """``x [..., N, F]`` with the rows of masked nodes replaced by ``token [F]`` (differentiable in ``token``).

    Examples
    --------
    >>> import torch
    >>> from neuroalign.graphs.masking import apply_mask_token
    >>> apply_mask_token(torch.zeros(3, 2), torch.tensor([False, True, False]), torch.tensor([7.0, 8.0]))
    tensor([[0., 0.],
            [7., 8.],
            [0., 0.]])
    """
    return torch.where(mask[..., None], token.to(x.dtype), x)


def context_adjacency(adj: Tensor, mask: Tensor) -> Tensor:
    """``adj [..., N, N]`` with each masked node's row set to ``1 / n_visible`` at every visible node.

    Row ``i`` of the result is what node ``i`` receives.  A masked node's row
    becomes the mean over its window's visible nodes; its column is zeroed
    (it sends nothing, so visible nodes are unaffected by masked ones).  Rows
    of visible nodes are kept as given, except for the masked columns.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.graphs.masking import context_adjacency
    >>> adj = torch.tensor([[0.0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0]])
    >>> context_adjacency(adj, torch.tensor([False, True, False, False]))
    tensor([[0.0000, 0.0000, 0.0000, 1.0000],
            [0.3333, 0.0000, 0.3333, 0.3333],
            [0.0000, 0.0000, 0.0000, 1.0000],
            [1.0000, 0.0000, 1.0000, 0.0000]])
    """
    visible = (~mask).to(adj.dtype)
    n_visible = visible.sum(-1, keepdim=True)[..., None]       # [..., 1, 1]
    mean_row = visible[..., None, :] / n_visible                # [..., 1, N]
    kept = adj * visible[..., None, :]                          # masked columns zeroed
    return torch.where(mask[..., :, None], mean_row, kept)
