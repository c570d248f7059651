"""The spatio-temporal graph encoder: GIN message passing per window, a readout over ROIs, a model over windows.

:class:`SpatioTemporalEncoder` takes a batch of dynamic connectivity graphs in
the dense layout of :mod:`neuroalign.graphs` — node features ``x``
``[B, W, N, F]`` and adjacency ``adj`` ``[B, W, N, N]`` (B subjects, W windows,
N ROIs) — and returns an :class:`EncoderOutput`:

1. an input projection ``Linear(F, H)`` plus, with ``roi_embedding=True``, a
   learnable embedding of each ROI's identity, ADDED to the projection (a
   masked autoencoder masks ``x`` before this step, so ROI identity is never
   a reconstruction target, only context);
2. ``n_layers`` GIN layers within each window (PyG's
   :class:`~torch_geometric.nn.dense.DenseGINConv` on the dense ``[B*W, N, N]``
   adjacency, learnable ε, sum aggregation weighted by the adjacency), each
   with the two-layer MLP of STAGIN (Linear-norm-ReLU twice);
3. a readout over ROIs (``"mean"``, ``"sum"`` or ``"attention"``: softmax-gated
   weighted sum) giving one vector per window;
4. a temporal model over windows: ``"transformer"`` (one layer, one head,
   sinusoidal positional encoding of the window index, as STAGIN), ``"gru"``
   (bidirectional, the two directions summed) or None;
5. with ``temporal_context=True``, each node code gets a linear projection of
   its window's temporal output added, so that what a decoder reads from the
   node codes depends on the temporal model: a masked autoencoder then trains
   the temporal model too (otherwise its reconstruction loss would never reach
   it).

The norm of the GIN MLPs is ``"layer"`` (LayerNorm over each node's features)
by default: a node's code then depends neither on the other subjects of the
batch nor on train/eval mode, so embeddings are the same whatever the batch,
and the statistics of masked pretraining inputs (mask tokens) do not carry
over into encoding unmasked graphs.  ``"batch"`` is STAGIN's BatchNorm over all
nodes of the batch (:class:`NodeBatchNorm`: a plain ``BatchNorm1d`` on a
``[B*W, N, H]`` tensor would normalise over the ROI axis instead of the
features); ``None`` leaves the MLPs without a norm.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch_geometric.nn.dense import DenseGINConv

from ..errors import DataError
from ..fitting.base import check_bool, check_choice, check_int, check_number

__all__ = ["EncoderOutput", "SpatioTemporalEncoder", "GINStack", "NodeBatchNorm", "gin_mlp",
           "READOUTS", "TEMPORAL_MODELS", "NORMS", "sinusoidal_encoding"]

#: Readouts over ROIs.
READOUTS = ("mean", "sum", "attention")
#: Temporal models over windows (None: no temporal model).
TEMPORAL_MODELS = ("transformer", "gru")
#: Norms of the GIN MLPs (None: no norm).
NORMS = ("layer", "batch")


class EncoderOutput(NamedTuple):
    """What :class:`SpatioTemporalEncoder` returns.

    Attributes
    ----------
    nodes : torch.Tensor
        ``[B, W, N, H]`` node codes (with the window's temporal context added when
        the encoder has ``temporal_context=True``).
    windows : torch.Tensor
        ``[B, W, H]`` window codes after the temporal model.
    """

    nodes: Tensor
    windows: Tensor


class NodeBatchNorm(nn.BatchNorm1d):
    """``BatchNorm1d`` over the last (feature) axis of a tensor of any rank: every node of the batch is a sample.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.graphs.encoder import NodeBatchNorm
    >>> NodeBatchNorm(3)(torch.randn(2, 5, 4, 3)).shape
    torch.Size([2, 5, 4, 3])
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - torch's name
        return super().forward(input.reshape(-1, input.shape[-1])).reshape(input.shape)


def _norm(norm: str | None, channels: int) -> nn.Module:
    if norm == "layer":
        return nn.LayerNorm(channels)
    if norm == "batch":
        return NodeBatchNorm(channels)
    return nn.Identity()


def gin_mlp(in_channels: int, hidden: int, out_channels: int, *, norm: str | None = "layer",
            dropout: float = 0.0, plain_last: bool = False) -> nn.Sequential:
    """STAGIN's GIN MLP: Linear-norm-ReLU(-dropout) twice; ``plain_last`` ends on the second Linear.

    Examples
    --------
    >>> from neuroalign.graphs.encoder import gin_mlp
    >>> [type(layer).__name__ for layer in gin_mlp(4, 8, 2, plain_last=True)]
    ['Linear', 'LayerNorm', 'ReLU', 'Dropout', 'Linear']
    """
    layers: list[nn.Module] = [nn.Linear(in_channels, hidden), _norm(norm, hidden), nn.ReLU(), nn.Dropout(dropout),
                               nn.Linear(hidden, out_channels)]
    if not plain_last:
        layers += [_norm(norm, out_channels), nn.ReLU(), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


class GINStack(nn.Module):
    """GIN layers (learnable ε) over dense batched graphs ``h [..., N, C]``, ``adj [..., N, N]``.

    Each layer computes ``mlp((1 + ε) h_i + Σ_j adj[i, j] h_j)`` (PyG's
    :class:`~torch_geometric.nn.dense.DenseGINConv`).  The adjacency is read
    row-wise: node ``i`` receives from ``j`` with weight ``adj[..., i, j]``, so
    a non-symmetric ``adj`` gives directed messages.

    Parameters
    ----------
    channels : sequence of int
        ``[C_in, C_1, ..., C_L]``: L layers, layer ``l`` maps ``C_{l-1}`` to ``C_l``
        through a hidden width of ``C_l`` (``hidden`` when given).
    norm, dropout
        Of the MLPs (see :func:`gin_mlp`).
    plain_last : bool
        The last layer's MLP ends on its Linear (no norm, no ReLU): a decoder's output.
    hidden : int, optional
        The MLPs' hidden width (default: each layer's output width).

    Examples
    --------
    >>> import torch
    >>> from neuroalign.graphs.encoder import GINStack
    >>> stack = GINStack([3, 8, 8])
    >>> stack(torch.randn(2, 4, 5, 3), torch.ones(2, 4, 5, 5)).shape
    torch.Size([2, 4, 5, 8])
    """

    def __init__(self, channels: list[int] | tuple[int, ...], *, norm: str | None = "layer", dropout: float = 0.0,
                 plain_last: bool = False, hidden: int | None = None):
        super().__init__()
        channels = list(channels)
        last = len(channels) - 2
        self.convs = nn.ModuleList(
            DenseGINConv(gin_mlp(c_in, hidden or c_out, c_out, norm=norm, dropout=dropout,
                                 plain_last=plain_last and i == last), train_eps=True)
            for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:])))

    def forward(self, h: Tensor, adj: Tensor) -> Tensor:
        outputs = self.layer_outputs(h, adj)
        return outputs[-1] if outputs else h

    def layer_outputs(self, h: Tensor, adj: Tensor) -> list[Tensor]:
        """The output of every layer, ``[..., N, C_l]`` each (an empty list without layers)."""
        lead, n = h.shape[:-2], h.shape[-2]
        h = h.reshape(-1, n, h.shape[-1])
        adj = adj.reshape(-1, n, n).to(h.dtype)
        outputs = []
        for conv in self.convs:
            h = conv(h, adj, add_loop=True)
            outputs.append(h.reshape(*lead, n, h.shape[-1]))
        return outputs


def sinusoidal_encoding(positions: int, channels: int, *, device=None, dtype=torch.float32) -> Tensor:
    """The sinusoidal positional encoding ``[positions, channels]`` of Vaswani et al. (2017).

    Even columns ``sin(p / 10000^(2i/H))``, odd columns ``cos`` of the same
    angle; any number of positions (windows) and any width.

    Examples
    --------
    >>> from neuroalign.graphs.encoder import sinusoidal_encoding
    >>> sinusoidal_encoding(3, 4)[1]
    tensor([0.8415, 0.5403, 0.0100, 0.9999])
    """
    position = torch.arange(positions, device=device, dtype=torch.float64)[:, None]
    rate = torch.exp(torch.arange(0, channels, 2, device=device, dtype=torch.float64)
                     * (-math.log(10000.0) / channels))
    angle = position * rate
    out = torch.zeros(positions, channels, device=device, dtype=torch.float64)
    out[:, 0::2] = torch.sin(angle)
    out[:, 1::2] = torch.cos(angle[:, : channels // 2])
    return out.to(dtype)


class SpatioTemporalEncoder(nn.Module):
    """GIN message passing within each window, a readout over ROIs, a temporal model over windows.

    Parameters
    ----------
    n_features : int
        F, the node features per ROI (``GraphSpec.n_features(n_rois, n_extra)``).
    n_rois : int
        N, the ROIs of every graph (the ROI embedding has one row per ROI).
    hidden : int
        H, the width of every layer and of the codes.
    n_layers : int
        GIN layers (0: the input projection only).
    roi_embedding : bool
        Add a learnable embedding of each ROI's identity to the input projection.
    readout : {"mean", "sum", "attention"}
        Readout over ROIs: mean, sum, or a softmax-gated weighted sum
        (``softmax_i(w · h_i) h_i``).
    temporal : {"transformer", "gru"} or None
        The model over windows: a one-layer, one-head transformer encoder with a
        sinusoidal encoding of the window index added to its input; a
        bidirectional GRU whose two directions are summed; or none.
    norm : {"layer", "batch"} or None
        The GIN MLPs' norm (module description: why "layer" by default).
    dropout : float
        Dropout in the GIN MLPs and the transformer.
    temporal_context : bool
        Add a linear projection of each window's temporal output to its node codes.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.graphs.encoder import SpatioTemporalEncoder
    >>> encoder = SpatioTemporalEncoder(n_features=6, n_rois=6, hidden=16)
    >>> out = encoder(torch.randn(2, 3, 6, 6), (torch.rand(2, 3, 6, 6) > 0.5).float())
    >>> out.nodes.shape, out.windows.shape
    (torch.Size([2, 3, 6, 16]), torch.Size([2, 3, 16]))
    """

    def __init__(self, n_features: int, n_rois: int, *, hidden: int = 64, n_layers: int = 2,
                 roi_embedding: bool = True, readout: str = "mean", temporal: str | None = "transformer",
                 norm: str | None = "layer", dropout: float = 0.0, temporal_context: bool = True):
        super().__init__()
        self.n_features = check_int("n_features", n_features, minimum=1)
        self.n_rois = check_int("n_rois", n_rois, minimum=1)
        self.hidden = check_int("hidden", hidden, minimum=1)
        self.n_layers = check_int("n_layers", n_layers, minimum=0)
        self.readout = check_choice("readout", readout, READOUTS)
        self.temporal = None if temporal is None else check_choice("temporal", temporal, TEMPORAL_MODELS)
        self.norm = None if norm is None else check_choice("norm", norm, NORMS)
        self.dropout = check_number("dropout", dropout, low=0.0, high=1.0, high_open=True)
        self.temporal_context = check_bool("temporal_context", temporal_context)
        check_bool("roi_embedding", roi_embedding)

        self.input = nn.Linear(self.n_features, self.hidden)
        self.roi_embedding = nn.Parameter(torch.randn(self.n_rois, self.hidden) * 0.02) if roi_embedding else None
        self.gnn = GINStack([self.hidden] * (self.n_layers + 1), norm=self.norm, dropout=self.dropout)
        self.attention = nn.Linear(self.hidden, 1) if self.readout == "attention" else None
        if self.temporal == "transformer":
            self.temporal_model = nn.TransformerEncoderLayer(
                self.hidden, nhead=1, dim_feedforward=2 * self.hidden, dropout=self.dropout, batch_first=True)
        elif self.temporal == "gru":
            self.temporal_model = nn.GRU(self.hidden, self.hidden, batch_first=True, bidirectional=True)
        else:
            self.temporal_model = None
        self.context = nn.Linear(self.hidden, self.hidden) if self.temporal_context else None

    @property
    def hidden_size(self) -> int:
        """H, the width of the node and window codes."""
        return self.hidden

    def config(self) -> dict:
        """The constructor's arguments (JSON-able): ``SpatioTemporalEncoder(**encoder.config())`` rebuilds it."""
        return {"n_features": self.n_features, "n_rois": self.n_rois, "hidden": self.hidden,
                "n_layers": self.n_layers, "roi_embedding": self.roi_embedding is not None,
                "readout": self.readout, "temporal": self.temporal, "norm": self.norm, "dropout": self.dropout,
                "temporal_context": self.temporal_context}

    def check_inputs(self, x: Tensor, adj: Tensor) -> None:
        """DataError naming ``x`` or ``adj`` when they do not have this encoder's dense layout."""
        if not isinstance(x, Tensor) or x.ndim != 4 or tuple(x.shape[2:]) != (self.n_rois, self.n_features):
            raise DataError(f"x must be a tensor [B, W, {self.n_rois}, {self.n_features}], got "
                            f"{type(x).__name__} {tuple(getattr(x, 'shape', ()))}", source="x",
                            fix="build node features with the GraphSpec and ROI set this encoder was made for")
        if not isinstance(adj, Tensor) or tuple(adj.shape) != (*x.shape[:3], self.n_rois):
            raise DataError(f"adj must be a tensor {(*x.shape[:3], self.n_rois)} matching x, got "
                            f"{type(adj).__name__} {tuple(getattr(adj, 'shape', ()))}", source="adj",
                            fix="pass the adjacency built with x (GraphSpec.build)")

    def embed(self, x: Tensor) -> Tensor:
        """The input projection of ``x [..., N, F]``, plus the ROI embedding: ``[..., N, H]``."""
        h = self.input(x)
        return h if self.roi_embedding is None else h + self.roi_embedding

    def forward(self, x: Tensor, adj: Tensor) -> EncoderOutput:
        """Encode ``x [B, W, N, F]`` with adjacency ``adj [B, W, N, N]`` (row i: what node i receives)."""
        self.check_inputs(x, adj)
        return self.finish(self.gnn(self.embed(x), adj))

    def levels(self, x: Tensor, adj: Tensor) -> Tensor:
        """Every ROI's code at every level: ``[B, W, L + 1, N, H]`` for ``n_layers`` L.

        Level 0 is the input projection plus the ROI embedding, level ``l`` the
        output of GIN layer ``l``; the last level is the encoder's node codes as
        :meth:`forward` returns them (with the window's temporal context when
        ``temporal_context=True``).  These are the codes of GIN's graph readout,
        which concatenates the readouts of every layer, the input included
        (Xu et al. 2019, "How powerful are graph neural networks?", eq. 4.2).

        Examples
        --------
        >>> import torch
        >>> from neuroalign.graphs.encoder import SpatioTemporalEncoder
        >>> encoder = SpatioTemporalEncoder(n_features=6, n_rois=6, hidden=16, n_layers=2)
        >>> x, adj = torch.randn(2, 3, 6, 6), (torch.rand(2, 3, 6, 6) > 0.5).float()
        >>> levels = encoder.levels(x, adj)
        >>> levels.shape, torch.equal(levels[:, :, -1], encoder(x, adj).nodes)
        (torch.Size([2, 3, 3, 6, 16]), True)
        """
        self.check_inputs(x, adj)
        codes = [self.embed(x)]
        codes += self.gnn.layer_outputs(codes[0], adj)
        codes[-1] = self.finish(codes[-1]).nodes
        return torch.stack(codes, dim=2)

    def finish(self, nodes: Tensor) -> EncoderOutput:
        """Readout, temporal model and temporal context from the GIN output ``nodes [B, W, N, H]``."""
        if self.readout == "mean":
            windows = nodes.mean(-2)
        elif self.readout == "sum":
            windows = nodes.sum(-2)
        else:
            weight = torch.softmax(self.attention(nodes), dim=-2)
            windows = (weight * nodes).sum(-2)
        windows = self._over_windows(windows)
        if self.context is not None:
            nodes = nodes + self.context(windows)[..., None, :]
        return EncoderOutput(nodes, windows)

    def _over_windows(self, windows: Tensor) -> Tensor:
        if self.temporal == "transformer":
            position = sinusoidal_encoding(windows.shape[1], self.hidden, device=windows.device, dtype=windows.dtype)
            return self.temporal_model(windows + position)
        if self.temporal == "gru":
            out, _ = self.temporal_model(windows)
            return out[..., : self.hidden] + out[..., self.hidden:]
        return windows

