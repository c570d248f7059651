"""What a subject's embedding summarises: the encoder's window codes, or every ROI's code at every level.

A subject's embedding is the mean and the (population) standard deviation over
its windows of some of the encoder's codes, so the window-to-window variability
of the dynamic connectivity is kept.  Two choices of codes (``embedding=``):

``"windows"``
    The window codes, the temporal model's output ``[B, W, H]``: ``2 H``
    features, whatever the number of ROIs.
``"nodes"``
    Every ROI's code at every level of the encoder ``[B, W, L + 1, N, H]``
    (:meth:`SpatioTemporalEncoder.levels
    <neuroalign.graphs.encoder.SpatioTemporalEncoder.levels>`): level 0 is the
    input projection of each ROI's features, level ``l`` the output of GIN layer
    ``l``, the last one with the window's temporal context; ``2 (L + 1) N H``
    features.  Two standard readouts meet here.  GIN's graph readout
    concatenates the readouts of every layer, the input included, because
    early layers keep what later ones may lose (Xu et al. 2019, "How powerful
    are graph neural networks?", eq. 4.2).  And brain graphs have the same
    nodes in every subject, so each ROI's code can stay a feature of its own
    instead of being pooled with the others (BrainGB's "concat" readout, Cui et
    al. 2022).  A difference confined to some ROIs' connections, such as a
    stronger coupling within one network, then reaches the probe directly; a
    mean over ROIs and a temporal model of 32 units keep only part of it.

The statistics are computed in float64 from the codes; the standard deviation
is 0 with a zero gradient where the codes do not vary (a single window), where
``torch.std`` would give a NaN gradient.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..fitting.base import check_choice

__all__ = ["EMBEDDINGS", "STATISTICS", "check_embedding", "encoder_codes", "over_windows", "window_statistics",
           "n_embedding_features"]

#: The codes a subject's embedding can summarise.
EMBEDDINGS = ("windows", "nodes")
#: The statistics over windows that make up a subject's embedding, in the order of the features.
STATISTICS = ("mean", "std")


def check_embedding(embedding: str) -> str:
    """``embedding`` if it is one of :data:`EMBEDDINGS`, else an UnknownNameError naming the argument."""
    return check_choice("embedding", embedding, EMBEDDINGS)


def encoder_codes(encoder: torch.nn.Module, x: Tensor, adj: Tensor, embedding: str) -> Tensor:
    """The codes ``embedding`` summarises: ``[B, W, H]`` window codes or ``[B, W, L + 1, N, H]`` node codes.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.graphs.encoder import SpatioTemporalEncoder
    >>> from neuroalign.graphs.subject_codes import encoder_codes
    >>> encoder = SpatioTemporalEncoder(n_features=5, n_rois=5, hidden=4, n_layers=1)
    >>> x, adj = torch.randn(2, 3, 5, 5), torch.ones(2, 3, 5, 5)
    >>> encoder_codes(encoder, x, adj, "windows").shape, encoder_codes(encoder, x, adj, "nodes").shape
    (torch.Size([2, 3, 4]), torch.Size([2, 3, 2, 5, 4]))
    """
    if check_embedding(embedding) == "windows":
        return encoder(x, adj).windows
    return encoder.levels(x, adj)


def over_windows(codes: Tensor) -> Tensor:
    """Mean and population standard deviation over windows (dim 1): ``[B, W, ...]`` → ``[B, 2, ...]``.

    Differentiable, with a zero gradient for the standard deviation of codes that do not vary.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.graphs.subject_codes import over_windows
    >>> over_windows(torch.tensor([[[1.0], [3.0]]])).tolist()
    [[[2.0], [1.0]]]
    """
    mean = codes.mean(dim=1)
    var = codes.var(dim=1, correction=0)
    varies = var > 0
    std = torch.where(varies, torch.sqrt(torch.where(varies, var, torch.ones_like(var))), torch.zeros_like(var))
    return torch.stack([mean, std], dim=1)


def window_statistics(codes: Tensor) -> Tensor:
    """:func:`over_windows` of ``codes`` computed in float64 on the CPU, without gradients: what embeddings store.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.graphs.subject_codes import window_statistics
    >>> window_statistics(torch.tensor([[[1.0], [2.0]]])).dtype
    torch.float64
    """
    return over_windows(codes.detach().to("cpu", torch.float64))


def n_embedding_features(embedding: str, encoder: torch.nn.Module) -> int:
    """The number of features of a subject's embedding: ``2 H`` or ``2 (L + 1) N H``.

    Examples
    --------
    >>> from neuroalign.graphs.encoder import SpatioTemporalEncoder
    >>> from neuroalign.graphs.subject_codes import n_embedding_features
    >>> encoder = SpatioTemporalEncoder(n_features=5, n_rois=5, hidden=4, n_layers=1)
    >>> n_embedding_features("windows", encoder), n_embedding_features("nodes", encoder)
    (8, 80)
    """
    if check_embedding(embedding) == "windows":
        return len(STATISTICS) * encoder.hidden_size
    return len(STATISTICS) * (encoder.n_layers + 1) * encoder.n_rois * encoder.hidden_size
