"""The GNN decoder of the masked graph autoencoder: node codes back to node features.

:class:`GINDecoder` maps codes ``[B, W, N, H]`` to features ``[B, W, N, F]``
with GIN layers over the same dense adjacency as the encoder (one layer by
default, as GraphMAE), the last layer ending on a Linear (reconstructed features
can be negative).  With ``roi_embedding=True`` a learnable embedding of each
ROI's identity is added to the codes first: after re-masking, masked nodes'
codes are all zero (or all the decoder mask token), and when their own edges are
hidden they receive the same context, so without it the decoder could not tell
which ROI's row to reconstruct (as the positional embeddings of MAE's decoder).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..fitting.base import check_bool, check_int
from .encoder import GINStack

__all__ = ["GINDecoder"]


class GINDecoder(nn.Module):
    """GIN layers from codes ``[B, W, N, H]`` to features ``[B, W, N, F]``.

    Parameters
    ----------
    hidden : int
        H, the width of the codes and of the MLPs.
    n_features : int
        F, the reconstructed features.
    n_rois : int
        N (rows of the ROI embedding).
    n_layers : int
        GIN layers (≥ 1).
    norm, dropout
        Of the GIN MLPs (see :func:`neuroalign.graphs.encoder.gin_mlp`).
    roi_embedding : bool
        Add a learnable ROI embedding to the codes.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.graphs.decoder import GINDecoder
    >>> GINDecoder(8, 5, 5)(torch.randn(2, 3, 5, 8), torch.ones(2, 3, 5, 5)).shape
    torch.Size([2, 3, 5, 5])
    """

    def __init__(self, hidden: int, n_features: int, n_rois: int, *, n_layers: int = 1, norm: str | None = "layer",
                 dropout: float = 0.0, roi_embedding: bool = True):
        super().__init__()
        hidden = check_int("hidden", hidden, minimum=1)
        n_layers = check_int("decoder_layers", n_layers, minimum=1)
        n_rois = check_int("n_rois", n_rois, minimum=1)
        self.roi_embedding = (nn.Parameter(torch.randn(n_rois, hidden) * 0.02)
                              if check_bool("roi_embedding", roi_embedding) else None)
        self.gnn = GINStack([hidden] * n_layers + [check_int("n_features", n_features, minimum=1)], norm=norm,
                            dropout=dropout, plain_last=True, hidden=hidden)

    def forward(self, codes: Tensor, adj: Tensor) -> Tensor:
        """Features ``[B, W, N, F]`` from codes ``[B, W, N, H]`` and adjacency ``[B, W, N, N]``."""
        if self.roi_embedding is not None:
            codes = codes + self.roi_embedding
        return self.gnn(codes, adj)
