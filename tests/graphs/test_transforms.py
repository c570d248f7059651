"""PyG transforms: a Compose of them on to_pyg output builds what GraphSpec.build builds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform, Compose

from neuroalign.errors import ConfigError
from neuroalign.graphs.dataset import ConnectivityGraphs
from neuroalign.graphs.pyg_conversion import pyg_to_dense
from neuroalign.graphs.spec import GraphSpec
from neuroalign.graphs.transforms import (BuildGraph, FCRowFeatures, FullWeightedEdges, NoEdges, ThresholdEdges,
                                          TimeseriesStatsFeatures, TopKEdges, TopPercentEdges)


@pytest.fixture(scope="module")
def dataset():
    rng = np.random.default_rng(0)
    ts = xr.DataArray(rng.normal(size=(2, 50, 6)) + rng.normal(size=(2, 50, 1)), dims=("subject", "time", "neuroid"),
                      coords={"subject": ["a", "b"], "time": np.arange(50) * 2.0,
                              "neuroid_id": ("neuroid", [f"r{i}" for i in range(6)])},
                      attrs={"repetition_time": 2.0})
    return ConnectivityGraphs.from_timeseries(ts, window=20, step=10)


CASES = [
    ([FCRowFeatures(), TopKEdges(k=2)], GraphSpec(edges="top_k", edge_value=2)),
    ([FCRowFeatures(), TimeseriesStatsFeatures(), TopPercentEdges(20, binary=False)],
     GraphSpec(edges="top_percent", edge_value=20, binary=False, features=("fc_row", "timeseries_stats"))),
    ([TimeseriesStatsFeatures(cat=False), FCRowFeatures(cat=True), ThresholdEdges(0.2)],
     GraphSpec(edges="threshold", edge_value=0.2, features=("timeseries_stats", "fc_row"))),
    ([FCRowFeatures(), FullWeightedEdges()], GraphSpec(edges="full")),
    ([FCRowFeatures(), NoEdges()], GraphSpec(edges="none")),
]


@pytest.mark.parametrize("transforms,spec", CASES, ids=[c[1].edges for c in CASES])
def test_compose_on_to_pyg_equals_graphspec_build(dataset, transforms, spec):
    compose = Compose(transforms)
    assert all(isinstance(t, BaseTransform) for t in transforms)
    graphs = [compose(g) for i in range(dataset.n_subjects) for g in dataset.to_pyg(i)]
    x, adj = pyg_to_dense(graphs)
    x_ref, adj_ref = spec.build(dataset.fc, dataset.extra)
    assert torch.equal(x, x_ref) and torch.equal(adj, adj_ref)
    built = [BuildGraph(spec)(g) for g in dataset.to_pyg(0)]
    assert all(torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index)
               and torch.equal(a.edge_attr, b.edge_attr) for a, b in zip(built, graphs[:dataset.n_windows]))


def test_errors_and_repr():
    with pytest.raises(ConfigError, match="data.fc"):
        TopKEdges()(Data(x=torch.ones(3, 1)))
    with pytest.raises(ConfigError, match="data.extra"):
        TimeseriesStatsFeatures()(Data(fc=torch.eye(3)))
    with pytest.raises(ConfigError):
        TopKEdges(k=0)
    assert repr(TopPercentEdges()) == "TopPercentEdges(rule='top_percent', value=30.0, binary=True)"
