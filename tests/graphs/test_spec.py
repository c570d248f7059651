"""GraphSpec: validation, build (features + edges, the leak fix), dict round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.errors import ConfigError, DataError, UnknownNameError
from neuroalign.graphs.edges import edge_weights
from neuroalign.graphs.node_features import fc_row_features
from neuroalign.graphs.spec import GraphSpec


def random_fc(rng, shape, n):
    values = np.triu(rng.uniform(-1, 1, size=(*shape, n, n)), 1)
    values = values + np.swapaxes(values, -1, -2)
    values[..., np.arange(n), np.arange(n)] = 1.0
    return torch.from_numpy(values).float()


def test_defaults_follow_the_contract():
    spec = GraphSpec()
    assert (spec.edges, spec.edge_value, spec.binary, spec.features) == ("top_percent", 30.0, True, ("fc_row",))
    assert GraphSpec(edge_value=30) == spec and hash(GraphSpec(edge_value=30)) == hash(spec)
    assert GraphSpec(edges="top_k").edge_value == 5 and GraphSpec(edges="full").edge_value is None


def test_build_is_edge_weights_and_features_in_order():
    rng = np.random.default_rng(0)
    fc, extra = random_fc(rng, (2, 3), 6), torch.rand(2, 3, 6, 3)
    spec = GraphSpec(edges="threshold", edge_value=0.4, binary=False, features=("timeseries_stats", "fc_row"))
    x, adj = spec.build(fc, extra)
    assert torch.equal(adj, edge_weights(fc, "threshold", 0.4, binary=False))
    assert x.shape == (2, 3, 6, spec.n_features(6, 3)) == (2, 3, 6, 9)
    assert torch.equal(x[..., spec.fc_row_slice(6, 3)], fc_row_features(fc))
    assert torch.equal(x[..., :3], extra)
    assert GraphSpec().fc_row_slice(6) == slice(0, 6)
    assert GraphSpec(features=("timeseries_stats",)).fc_row_slice(6, 3) == slice(3, 3)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), edges=st.sampled_from(["top_k", "top_percent", "threshold", "full", "none"]),
       binary=st.booleans())
def test_excluded_nodes_reach_neither_x_nor_adj(seed, edges, binary):
    rng = np.random.default_rng(seed)
    fc, extra = random_fc(rng, (2, 2), 7), torch.rand(2, 2, 7, 3)
    exclude = torch.from_numpy(rng.random((2, 2, 7)) < 0.4)
    spec = GraphSpec(edges=edges, binary=binary, features=("fc_row", "timeseries_stats"))
    x, adj = spec.build(fc, extra, exclude)
    changed, changed_extra = fc.clone(), extra.clone()
    e = exclude[..., :, None] | exclude[..., None, :]
    changed[e] = torch.from_numpy(rng.uniform(-1, 1, int(e.sum()))).float()
    changed_extra[exclude] = 7.0
    x2, adj2 = spec.build(changed, changed_extra, exclude)
    assert torch.equal(x, x2) and torch.equal(adj, adj2)
    assert not x[exclude].any()


def test_dict_round_trip_through_json():
    for spec in (GraphSpec(), GraphSpec(edges="top_k", edge_value=3, features=("fc_row", "timeseries_stats")),
                 GraphSpec(edges="full", binary=False), GraphSpec(edges="none")):
        assert GraphSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


@pytest.mark.parametrize("kwargs,error", [
    (dict(edges="topk"), UnknownNameError), (dict(features=("fc_rows",)), UnknownNameError),
    (dict(edges="top_k", edge_value=0), ConfigError), (dict(edge_value=150), ConfigError),
    (dict(edges="full", edge_value=0.3), ConfigError), (dict(binary=1), ConfigError),
    (dict(features="fc_row"), ConfigError), (dict(features=()), ConfigError),
    (dict(features=("fc_row", "fc_row")), ConfigError)])
def test_bad_specs_fail_at_construction(kwargs, error):
    with pytest.raises(error):
        GraphSpec(**kwargs)


def test_build_errors():
    spec = GraphSpec(features=("fc_row", "timeseries_stats"))
    fc = random_fc(np.random.default_rng(1), (2,), 4)
    with pytest.raises(ConfigError, match="extra"):
        spec.build(fc)
    with pytest.raises(ConfigError, match="extra"):
        spec.build(fc, torch.rand(2, 5, 3))
    bad = fc.clone()
    bad[0, 0, 1] = float("nan")
    with pytest.raises(DataError):
        GraphSpec().build(bad)
    with pytest.raises(ConfigError, match="spec"):
        GraphSpec.from_dict({"edges": "full", "k": 3})
    assert GraphSpec().build(fc, torch.rand(2, 4, 3))[0].shape == (2, 4, 4)  # extra unused without the feature
