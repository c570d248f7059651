"""Default suite: torch_geometric imports, a dataset goes to a PyG Batch and back, and PyG's GINConv on the
Batch equals the dense computation on (x, adj).

GINConv (torch_geometric 2.8, ``GINConv.message`` returns ``x_j``) ignores edge weights when given an
``edge_index``: it sums the neighbours' features, ``nn((1 + eps) x_i + sum_j x_j)``, so it equals the dense
formula on the BINARY adjacency ``adj != 0``.  Given a weighted sparse adjacency (``adj_t``, a torch sparse
tensor), its ``message_and_aggregate`` multiplies by the values and it equals the dense formula on the weighted
``adj``, as ``DenseGINConv`` (``adj @ x``) does.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch_geometric
import xarray as xr
from torch_geometric.data import Batch

from neuroalign.errors import ConfigError
from neuroalign.graphs.dataset import ConnectivityGraphs
from neuroalign.graphs.pyg_conversion import dense_to_data_list, pyg_to_dense
from neuroalign.graphs.spec import GraphSpec


def dataset(n_subjects=3, n_rois=6, spec=None, seed=0):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n_subjects, 60, n_rois)) + rng.normal(size=(n_subjects, 60, 1))
    ts = xr.DataArray(values, dims=("subject", "time", "neuroid"),
                      coords={"subject": [f"sub-{i}" for i in range(n_subjects)], "time": np.arange(60) * 2.0,
                              "neuroid_id": ("neuroid", [f"r{i}" for i in range(n_rois)])},
                      attrs={"repetition_time": 2.0})
    return ConnectivityGraphs.from_timeseries(ts, window=20, step=10, spec=spec)


SPECS = [GraphSpec(), GraphSpec(edges="top_k", edge_value=2, binary=False),
         GraphSpec(edges="threshold", binary=False, features=("fc_row", "timeseries_stats")),
         GraphSpec(edges="full"), GraphSpec(edges="none")]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.edges}-{s.binary}-{len(s.features)}")
def test_batch_round_trip_equals_dense(spec):
    ds = dataset(spec=spec)
    batch = ds.to_batch([2, 0])
    assert isinstance(batch, Batch) and torch_geometric.__version__
    assert batch.num_graphs == 2 * ds.n_windows and batch.x.shape == (2 * ds.n_windows * ds.n_rois, ds.n_features)
    assert batch.subject == ["sub-2"] * ds.n_windows + ["sub-0"] * ds.n_windows
    assert batch.window.tolist() == list(range(ds.n_windows)) * 2
    x, adj = ds.dense([2, 0])
    x_back, adj_back = ConnectivityGraphs.from_pyg(batch)
    assert torch.equal(x_back, x) and torch.equal(adj_back, adj)
    assert torch.equal(batch.fc.reshape(2, ds.n_windows, ds.n_rois, ds.n_rois), ds.fc[torch.tensor([2, 0])])
    assert torch_geometric.utils.is_undirected(batch.edge_index, batch.edge_attr)
    assert not torch_geometric.utils.contains_self_loops(batch.edge_index)


def test_to_pyg_windows_and_edges_match_dense_to_sparse():
    """Each window's edge_index/edge_attr equal torch_geometric.utils.dense_to_sparse of its adjacency."""
    ds = dataset(spec=GraphSpec(edges="top_k", edge_value=2, binary=False))
    graphs = ds.to_pyg(1)
    _, adj = ds.dense([1])
    assert [g.window for g in graphs] == list(range(ds.n_windows)) and {g.subject for g in graphs} == {"sub-1"}
    for w, g in enumerate(graphs):
        edge_index, edge_attr = torch_geometric.utils.dense_to_sparse(adj[0, w])
        assert torch.equal(g.edge_index, edge_index) and torch.equal(g.edge_attr, edge_attr)


def test_shuffled_graph_list_comes_back_in_order():
    ds = dataset()
    graphs = ds.to_batch().to_data_list()
    order = np.random.default_rng(0).permutation(len(graphs))
    x, adj = pyg_to_dense([graphs[i] for i in order])
    x0, adj0 = ds.dense()
    # subjects come in the order of their first graph
    first = []
    for i in order:
        if graphs[i].subject_position not in first:
            first.append(graphs[i].subject_position)
    first = torch.tensor(first)
    assert torch.equal(x, x0[first]) and torch.equal(adj, adj0[first])


def test_pyg_to_dense_errors():
    ds = dataset()
    graphs = ds.to_pyg(0)
    with pytest.raises(ConfigError, match="windows"):
        pyg_to_dense(graphs + graphs[:1])
    plain = [torch_geometric.data.Data(x=g.x, edge_index=g.edge_index) for g in graphs]
    with pytest.raises(ConfigError, match="subject_position"):
        pyg_to_dense(plain)


def dense_gin(x, adj, eps, mlp):
    return mlp((1 + eps) * x + adj @ x)


@pytest.mark.filterwarnings("ignore:.*[Ss]parse:UserWarning")  # torch's notes on sparse formats
@pytest.mark.parametrize("binary", [True, False])
def test_ginconv_on_batch_equals_dense_computation(binary):
    torch.manual_seed(0)
    ds = dataset(spec=GraphSpec(edges="top_k", edge_value=2, binary=binary))
    batch = ds.to_batch()
    x, adj = ds.dense()
    mlp = torch.nn.Sequential(torch.nn.Linear(ds.n_features, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    conv = torch_geometric.nn.GINConv(mlp, eps=0.3, train_eps=True)
    dense_conv = torch_geometric.nn.DenseGINConv(mlp, eps=0.3)  # both reset the shared mlp when built
    torch.manual_seed(1)
    for p in mlp.parameters():
        torch.nn.init.normal_(p)
    with torch.no_grad():
        sparse = conv(batch.x, batch.edge_index).reshape(*x.shape[:3], 4)
        # an edge_index carries no weights: GINConv sums neighbours, the dense formula on the binary adjacency
        np.testing.assert_allclose(sparse, dense_gin(x, (adj != 0).float(), 0.3, mlp), rtol=1e-5, atol=1e-5)
        pyg_dense = dense_conv(x.reshape(-1, *x.shape[2:]), (adj != 0).float().reshape(-1, *adj.shape[2:]))
        np.testing.assert_allclose(sparse, pyg_dense.reshape(sparse.shape), rtol=1e-5, atol=1e-5)
        # a weighted sparse adjacency (adj_t = transposed, here symmetric) is multiplied by its values
        adj_t = torch.sparse_coo_tensor(batch.edge_index.flip(0), batch.edge_attr,
                                        (batch.num_nodes, batch.num_nodes), check_invariants=True).to_sparse_csr()
        weighted = conv(batch.x, adj_t).reshape(sparse.shape)
        np.testing.assert_allclose(weighted, dense_gin(x, adj, 0.3, mlp), rtol=1e-5, atol=1e-5)
    if not binary:
        assert not torch.allclose(sparse, weighted, atol=1e-3)  # weights matter, and GINConv(edge_index) drops them


def test_dense_to_data_list_attaches_fc_and_extra():
    ds = dataset(spec=GraphSpec(features=("fc_row", "timeseries_stats")))
    x, adj = ds.dense([0])
    graphs = dense_to_data_list(x, adj, subjects=["sub-0"], positions=[0], fc=ds.fc[:1], extra=ds.extra[:1])
    assert torch.equal(graphs[1].fc, ds.fc[0, 1]) and torch.equal(graphs[1].extra, ds.extra[0, 1])
    assert graphs[0].num_nodes == ds.n_rois and graphs[0].subject_position == 0
