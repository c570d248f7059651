"""The dense encoder against the same network on PyG's sparse GINConv (torch_geometric 2.8): equal to 1e-5."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.data import Batch, Data
from torch_geometric.nn import GINConv

from neuroalign.errors import DataError
from neuroalign.graphs.encoder import READOUTS, TEMPORAL_MODELS, SpatioTemporalEncoder
from neuroalign.graphs.graphmae import GraphMAE
from neuroalign.graphs.masking import context_adjacency, draw_node_mask
from neuroalign.graphs.spec import GraphSpec
from neuroalign.graphs.sparse_encoder import (SparseGINStack, SparseSpatioTemporalEncoder, WeightedGINConv,
                                              dense_to_edges, to_sparse)

from ._model_data import random_fc


def binary_graphs(batch, windows, n, features, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, windows, n, features, generator=g)
    adj = torch.triu((torch.rand(batch, windows, n, n, generator=g) > 0.6).float(), 1)
    return x, adj + adj.transpose(-1, -2)


def pyg_batch(x, adj):
    """One PyG Data per window (subject-major), edges j -> i for adj[i, j] != 0, built with a Python loop."""
    graphs = []
    for b in range(x.shape[0]):
        for w in range(x.shape[1]):
            rows, cols = torch.nonzero(adj[b, w], as_tuple=True)
            graphs.append(Data(x=x[b, w], edge_index=torch.stack([cols, rows]),
                               edge_attr=adj[b, w, rows, cols][:, None]))
    return Batch.from_data_list(graphs)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 12), layers=st.integers(1, 3),
       readout=st.sampled_from(READOUTS), temporal=st.sampled_from([*TEMPORAL_MODELS, None]),
       roi_embedding=st.booleans())
def test_dense_equals_sparse_on_binary_graphs(seed, n, layers, readout, temporal, roi_embedding):
    torch.manual_seed(seed)
    dense = SpatioTemporalEncoder(5, n, hidden=8, n_layers=layers, readout=readout, temporal=temporal,
                                  roi_embedding=roi_embedding).eval()
    sparse = SparseSpatioTemporalEncoder(5, n, hidden=8, n_layers=layers, readout=readout, temporal=temporal,
                                         roi_embedding=roi_embedding).eval()
    sparse.load_state_dict(dense.state_dict())
    x, adj = binary_graphs(2, 3, n, 5, seed)
    a = dense(x, adj)
    for b in (sparse(x, adj), sparse.forward_batch(pyg_batch(x, adj), n_windows=3)):
        torch.testing.assert_close(a.nodes, b.nodes, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(a.windows, b.windows, atol=1e-5, rtol=1e-5)


def test_dense_equals_sparse_on_weighted_directed_graphs():
    """Correlation weights, and the directed mean-context rows of masked nodes."""
    torch.manual_seed(0)
    fc = random_fc(2, 3, 9)
    x, adj = GraphSpec(edges="full").build(fc)
    mask = draw_node_mask((2, 3, 9), 0.4, "window", torch.Generator().manual_seed(0))
    dense = SpatioTemporalEncoder(9, 9, hidden=8).eval()
    sparse = SparseSpatioTemporalEncoder.from_dense(dense)
    for graph in (adj, context_adjacency(adj, mask)):
        torch.testing.assert_close(dense(x, graph).nodes, sparse(x, graph).nodes, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(dense(x, graph).nodes, sparse.forward_batch(pyg_batch(x, graph), 3).nodes,
                                   atol=1e-5, rtol=1e-5)


def test_weighted_gin_conv_without_weights_is_gin_conv():
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU())
    ours, reference = WeightedGINConv(mlp, train_eps=True), GINConv(mlp, train_eps=True)
    with torch.no_grad():
        ours.eps.fill_(0.25)
        reference.eps.fill_(0.25)
    x = torch.randn(6, 4)
    edge_index = torch.tensor([[0, 1, 2, 3, 5, 5], [1, 0, 3, 2, 4, 0]])
    torch.testing.assert_close(ours(x, edge_index), reference(x, edge_index), atol=0, rtol=0)
    twice = torch.cat([edge_index, edge_index], 1)   # doubling each edge == weight 2
    torch.testing.assert_close(ours(x, edge_index, torch.full((6,), 2.0)), reference(x, twice))


def test_dense_to_edges_direction_and_binary_detection():
    adj = torch.tensor([[[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 1.0, 0.0]]] * 2)
    edge_index, weight = dense_to_edges(adj)
    assert weight is None
    # adj[i, j] -> edge j -> i, graph g's node n is g * 3 + n
    assert sorted(map(tuple, edge_index.t().tolist())) == [(0, 2), (1, 0), (1, 2), (3, 5), (4, 3), (4, 5)]
    _, weight = dense_to_edges(adj * 0.5)
    assert torch.equal(weight, torch.full((6,), 0.5))


def test_to_sparse_graphmae_gives_the_same_loss_and_gradients():
    torch.manual_seed(0)
    fc = random_fc(2, 3, 10)
    for kwargs in ({}, {"leak_fix": False}, {"n_views": 2, "latent_weight": 0.5}):
        model = GraphMAE(GraphSpec(), 10, hidden=8, **kwargs)
        sparse = to_sparse(model)
        assert all(isinstance(m, SparseGINStack) for m in (sparse.encoder.gnn, sparse.decoder.gnn))
        assert list(sparse.state_dict()) == list(model.state_dict())
        a, _ = model.loss(fc, None, torch.Generator().manual_seed(5))
        b, _ = sparse.loss(fc, None, torch.Generator().manual_seed(5))
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
        a.backward()
        b.backward()
        for (name, p), q in zip(model.named_parameters(), sparse.parameters()):
            if p.grad is not None:
                torch.testing.assert_close(p.grad, q.grad, atol=1e-4, rtol=1e-4, msg=name)


def test_forward_batch_on_a_connectivity_graphs_batch():
    """The dataset's own PyG Batch (ConnectivityGraphs.to_batch) through the sparse encoder equals the dense
    encoder on the dataset's dense tensors."""
    import xarray as xr

    from neuroalign.graphs.dataset import ConnectivityGraphs

    fc = random_fc(3, 4, 7).double().numpy()
    array = xr.DataArray(fc, dims=("subject", "window", "neuroid_a", "neuroid_b"),
                         coords={"subject": ["a", "b", "c"], "neuroid_a": list("pqrstuv"),
                                 "neuroid_b": list("pqrstuv")})
    dataset = ConnectivityGraphs.from_connectivity(array)
    torch.manual_seed(0)
    dense = SpatioTemporalEncoder(dataset.n_features, 7, hidden=8).eval()
    sparse = SparseSpatioTemporalEncoder.from_dense(dense)
    x, adj = dataset.dense()
    a, b = dense(x, adj), sparse.forward_batch(dataset.to_batch(), n_windows=dataset.n_windows)
    torch.testing.assert_close(a.nodes, b.nodes, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a.windows, b.windows, atol=1e-5, rtol=1e-5)
    shuffled = Batch.from_data_list([dataset.to_pyg(0)[i] for i in (1, 0, 2, 3)])
    with pytest.raises(DataError, match=r"window\) order"):
        sparse.forward_batch(shuffled, n_windows=4)


def test_forward_batch_errors():
    encoder = SparseSpatioTemporalEncoder(5, 4, hidden=8)
    x, adj = binary_graphs(2, 3, 4, 5, 0)
    with pytest.raises(DataError, match="B \\* 4 graphs"):
        encoder.forward_batch(pyg_batch(x, adj), n_windows=4)
    ragged = Batch.from_data_list([Data(x=torch.randn(4, 5), edge_index=torch.zeros(2, 0, dtype=torch.long)),
                                   Data(x=torch.randn(3, 5), edge_index=torch.zeros(2, 0, dtype=torch.long))])
    with pytest.raises(DataError, match="graphs of 4 nodes"):
        encoder.forward_batch(ragged, n_windows=1)
