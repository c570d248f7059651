"""The same encoder on PyG's sparse message passing (``GINConv`` over edge lists of a ``Batch``).

The dense :class:`~neuroalign.graphs.encoder.SpatioTemporalEncoder` is the
one to train with; this module runs the very same network (same parameters,
same state dict keys) with :class:`torch_geometric.nn.GINConv` on edge lists,
as a reference for the dense implementation (equal outputs, tested) and for the
dense-versus-sparse benchmark.

PyG's ``GINConv`` sums neighbours' features unweighted and ignores edge
attributes (``GINEConv`` adds them inside a ReLU, which is not a weighting), so
:class:`WeightedGINConv` is ``GINConv`` with each message multiplied by the
edge's scalar weight when one is given: the dense layer's ``Σ_j adj[i, j] h_j``.
Binary graphs go through with no weights at all, i.e. plain ``GINConv``.

- :class:`SparseSpatioTemporalEncoder`: a ``SpatioTemporalEncoder`` whose
  message passing is sparse; :meth:`~SparseSpatioTemporalEncoder.forward_batch`
  encodes a :class:`torch_geometric.data.Batch` of window graphs, and the dense
  ``forward(x, adj)`` converts the adjacency to edge lists first.
- :func:`to_sparse`: a copy of any module (an encoder, a
  :class:`~neuroalign.graphs.graphmae.GraphMAE`) with every dense GIN stack
  replaced by the sparse one, parameters copied.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from torch_geometric.nn import GINConv
from torch_geometric.utils import dense_to_sparse

from ..errors import DataError
from .encoder import EncoderOutput, GINStack, SpatioTemporalEncoder

__all__ = ["WeightedGINConv", "SparseGINStack", "SparseSpatioTemporalEncoder", "to_sparse", "dense_to_edges"]


class WeightedGINConv(GINConv):
    """PyG's ``GINConv`` whose messages are multiplied by a scalar edge weight, when given.

    ``mlp((1 + ε) x_i + Σ_{j → i} w_ji x_j)``; ``edge_weight=None`` is ``GINConv`` itself.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.graphs.sparse_encoder import WeightedGINConv
    >>> conv = WeightedGINConv(torch.nn.Identity())
    >>> conv(torch.tensor([[1.0], [10.0]]), torch.tensor([[1], [0]]), torch.tensor([0.5]))
    tensor([[ 6.],
            [10.]])
    """

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        # propagate_type: (x: OptPairTensor, edge_weight: OptTensor)
        out = self.propagate(edge_index, x=(x, x), edge_weight=edge_weight)
        return self.nn(out + (1 + self.eps) * x)

    def message(self, x_j: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        return x_j if edge_weight is None else edge_weight.view(-1, 1) * x_j


def dense_to_edges(adj: Tensor) -> tuple[Tensor, Tensor | None]:
    """Edge list ``(edge_index [2, E], edge_weight [E] or None)`` of dense adjacencies ``[..., N, N]``.

    Graphs are numbered in row-major order of the leading dims, node ``n`` of
    graph ``g`` is ``g * N + n``.  ``adj[..., i, j]`` (what ``i`` receives from
    ``j``) becomes the edge ``j → i`` (PyG's source-to-target flow).  The weight
    is None when every edge weighs exactly 1 (a binary graph).

    Examples
    --------
    >>> import torch
    >>> from neuroalign.graphs.sparse_encoder import dense_to_edges
    >>> dense_to_edges(torch.tensor([[0.0, 1.0], [0.0, 0.0]]))
    (tensor([[1],
            [0]]), None)
    """
    n = adj.shape[-1]
    edge_index, weight = dense_to_sparse(adj.reshape(-1, n, n))
    edge_index = edge_index.flip(0)
    if bool((weight == 1).all()):
        return edge_index, None
    return edge_index, weight


class SparseGINStack(nn.Module):
    """:class:`~neuroalign.graphs.encoder.GINStack` on edge lists: the same parameters, sparse message passing.

    Its state dict has the dense stack's keys (``convs.<l>.nn.*``, ``convs.<l>.eps``).
    """

    def __init__(self, dense: GINStack):
        super().__init__()
        convs = []
        for layer in dense.convs:
            conv = WeightedGINConv(nn.Identity(), train_eps=True)
            conv.nn, conv.eps = layer.nn, layer.eps       # the dense layer's modules (no re-initialisation)
            convs.append(conv)
        self.convs = nn.ModuleList(convs)

    def propagate_edges(self, h: Tensor, edge_index: Tensor, edge_weight: Tensor | None) -> Tensor:
        """GIN layers over node features ``[V, C]`` and an edge list."""
        for conv in self.convs:
            h = conv(h, edge_index, edge_weight)
        return h

    def forward(self, h: Tensor, adj: Tensor) -> Tensor:
        """The dense stack's interface: ``h [..., N, C]``, ``adj [..., N, N]`` (converted to an edge list)."""
        lead, n = h.shape[:-2], h.shape[-2]
        edge_index, weight = dense_to_edges(adj.to(h.dtype))
        out = self.propagate_edges(h.reshape(-1, h.shape[-1]), edge_index, weight)
        return out.reshape(*lead, n, out.shape[-1])


class SparseSpatioTemporalEncoder(SpatioTemporalEncoder):
    """:class:`~neuroalign.graphs.encoder.SpatioTemporalEncoder` with PyG's sparse ``GINConv`` message passing.

    Same constructor, same parameters and state dict keys: load a dense
    encoder's ``state_dict()`` to run the same network.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.graphs.encoder import SpatioTemporalEncoder
    >>> from neuroalign.graphs.sparse_encoder import SparseSpatioTemporalEncoder
    >>> dense = SpatioTemporalEncoder(5, 5, hidden=8).eval()
    >>> sparse = SparseSpatioTemporalEncoder(5, 5, hidden=8).eval()
    >>> sparse.load_state_dict(dense.state_dict())
    <All keys matched successfully>
    >>> x, adj = torch.randn(1, 2, 5, 5), (torch.rand(1, 2, 5, 5) > 0.5).float()
    >>> torch.allclose(dense(x, adj).windows, sparse(x, adj).windows, atol=1e-5)
    True
    """

    def __init__(self, n_features: int, n_rois: int, **kwargs):
        super().__init__(n_features, n_rois, **kwargs)
        self.gnn = SparseGINStack(self.gnn)

    @classmethod
    def from_dense(cls, encoder: SpatioTemporalEncoder) -> "SparseSpatioTemporalEncoder":
        """A sparse encoder with a copy of ``encoder``'s parameters (and its train/eval mode)."""
        config = encoder.config()
        sparse = cls(config.pop("n_features"), config.pop("n_rois"), **config)
        sparse.load_state_dict(encoder.state_dict())
        return sparse.train(encoder.training)

    def forward_batch(self, batch, n_windows: int) -> EncoderOutput:
        """Encode a :class:`torch_geometric.data.Batch` of ``B * n_windows`` window graphs.

        Graphs must come subject by subject, windows in order (graph ``b * W + w``),
        each with the encoder's ``n_rois`` nodes in ROI order; node features in
        ``batch.x``, edges in ``batch.edge_index``, weights in ``batch.edge_weight``
        or a one-column ``batch.edge_attr`` (none: binary).
        """
        n, f = self.n_rois, self.n_features
        graphs = int(batch.num_graphs)
        sizes = torch.diff(batch.ptr) if getattr(batch, "ptr", None) is not None else None
        if graphs % int(n_windows) or sizes is None or bool((sizes != n).any()) \
                or tuple(batch.x.shape) != (graphs * n, f):
            raise DataError(f"the batch must hold B * {n_windows} graphs of {n} nodes with {f} features each, got "
                            f"{graphs} graphs and x {tuple(batch.x.shape)}", source="batch",
                            fix="batch whole subjects' window graphs, in order (ConnectivityGraphs.to_batch)")
        window = getattr(batch, "window", None)
        if isinstance(window, Tensor) and window.numel() == graphs and not torch.equal(
                window.cpu(), torch.arange(int(n_windows)).repeat(graphs // int(n_windows))):
            raise DataError("the batch's graphs are not in (subject, window) order", source="batch",
                            fix="batch each subject's windows together, in window order")
        weight = getattr(batch, "edge_weight", None)
        if weight is None and getattr(batch, "edge_attr", None) is not None:
            weight = batch.edge_attr.reshape(-1)
        h = self.embed(batch.x.reshape(-1, n, f)).reshape(graphs * n, -1)
        h = self.gnn.propagate_edges(h, batch.edge_index, None if weight is None else weight.to(h.dtype))
        return self.finish(h.reshape(graphs // int(n_windows), int(n_windows), n, -1))


def to_sparse(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` whose dense GIN stacks run on PyG's sparse ``GINConv`` (same parameters).

    Works on an encoder, a decoder or a whole
    :class:`~neuroalign.graphs.graphmae.GraphMAE`; the copy computes the same
    function through edge lists.

    Examples
    --------
    >>> import torch
    >>> from neuroalign.graphs.encoder import SpatioTemporalEncoder
    >>> from neuroalign.graphs.sparse_encoder import SparseGINStack, to_sparse
    >>> isinstance(to_sparse(SpatioTemporalEncoder(4, 4, hidden=8)).gnn, SparseGINStack)
    True
    """
    module = copy.deepcopy(module)
    stacks = [(name, child) for name, child in module.named_modules() if isinstance(child, GINStack)]
    if isinstance(module, GINStack):
        return SparseGINStack(module)
    for name, stack in stacks:
        parent_name, _, attribute = name.rpartition(".")
        parent = module.get_submodule(parent_name) if parent_name else module
        setattr(parent, attribute, SparseGINStack(stack))
    return module
