"""Small composable PyG transforms on one window's graph that carries its dense connectivity.

Each transform reads ``data.fc`` (``[N, N]``, as
:meth:`~neuroalign.graphs.dataset.ConnectivityGraphs.to_pyg` attaches it) and
``data.extra`` (``[N, K]``, time-series statistics), and sets ``x`` or
``edge_index``/``edge_attr`` with the same functions as
:class:`~neuroalign.graphs.spec.GraphSpec` (:func:`~neuroalign.graphs.edges.edge_weights`,
:func:`~neuroalign.graphs.node_features.fc_row_features`), so a
``torch_geometric.transforms.Compose`` of them builds the graph
``GraphSpec.build`` builds.  Edges are stored as PyG stores a dense adjacency
(``torch_geometric.utils.dense_to_sparse``: both directions, row-major,
weights in ``edge_attr``).

Examples
--------
>>> import torch
>>> from torch_geometric.data import Data
>>> from torch_geometric.transforms import Compose
>>> from neuroalign.graphs.transforms import FCRowFeatures, TopKEdges
>>> fc = torch.tensor([[1.0, 0.8, 0.1], [0.8, 1.0, 0.3], [0.1, 0.3, 1.0]])
>>> data = Compose([FCRowFeatures(), TopKEdges(k=1)])(Data(fc=fc, num_nodes=3))
>>> data.edge_index.tolist()
[[0, 1, 1, 2], [1, 0, 2, 1]]
"""

from __future__ import annotations

import torch
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform
from torch_geometric.utils import dense_to_sparse

from ..errors import ConfigError
from .edges import check_edge_value, edge_weights
from .node_features import fc_row_features
from .spec import GraphSpec

__all__ = ["EdgeRuleTransform", "TopKEdges", "TopPercentEdges", "ThresholdEdges", "FullWeightedEdges", "NoEdges",
           "FCRowFeatures", "TimeseriesStatsFeatures", "BuildGraph"]


def _fc(data: Data) -> torch.Tensor:
    fc = getattr(data, "fc", None)
    if not isinstance(fc, torch.Tensor) or fc.ndim != 2 or fc.shape[0] != fc.shape[1]:
        raise ConfigError("the graph carries no dense connectivity 'fc' [N, N]", source="data.fc",
                          fix="use graphs from ConnectivityGraphs.to_pyg(i) (fc=True), or set data.fc")
    return fc


def _set_edges(data: Data, adj: torch.Tensor) -> Data:
    data.edge_index, data.edge_attr = dense_to_sparse(adj)
    return data


def _set_features(data: Data, features: torch.Tensor, cat: bool) -> Data:
    x = getattr(data, "x", None)
    data.x = torch.cat([x, features.to(x.dtype)], dim=-1) if cat and x is not None else features
    return data


class EdgeRuleTransform(BaseTransform):
    """Edges of ``data.fc`` by an edge rule of :data:`~neuroalign.graphs.edges.EDGE_RULES` (replacing any edges).

    Parameters
    ----------
    rule : str
    value : int or float, optional
        The rule's value (its default when None).
    binary : bool
        Binary edges or the correlation as ``edge_attr``.
    """

    def __init__(self, rule: str, value: float | int | None = None, binary: bool = True):
        self.rule, self.value, self.binary = rule, check_edge_value(rule, value), bool(binary)

    def forward(self, data: Data) -> Data:
        return _set_edges(data, edge_weights(_fc(data), self.rule, self.value, binary=self.binary))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rule={self.rule!r}, value={self.value!r}, binary={self.binary})"


class TopKEdges(EdgeRuleTransform):
    """Each node's ``k`` largest positive correlations, symmetric by union (the ``"top_k"`` rule)."""

    def __init__(self, k: int = 5, binary: bool = True):
        super().__init__("top_k", k, binary)


class TopPercentEdges(EdgeRuleTransform):
    """The ``percent`` largest positive correlations of the window (the ``"top_percent"`` rule)."""

    def __init__(self, percent: float = 30.0, binary: bool = True):
        super().__init__("top_percent", percent, binary)


class ThresholdEdges(EdgeRuleTransform):
    """Pairs with ``|r| >= threshold`` (the ``"threshold"`` rule)."""

    def __init__(self, threshold: float = 0.3, binary: bool = True):
        super().__init__("threshold", threshold, binary)


class FullWeightedEdges(EdgeRuleTransform):
    """Every pair, weighted by its correlation (the ``"full"`` rule)."""

    def __init__(self):
        super().__init__("full", None, False)


class NoEdges(EdgeRuleTransform):
    """No edges: the edge-free control (the ``"none"`` rule)."""

    def __init__(self):
        super().__init__("none", None, True)


class FCRowFeatures(BaseTransform):
    """Node features = the FC rows of ``data.fc`` with a zero diagonal.

    ``cat=False`` (default) replaces ``x``; ``cat=True`` appends to it.
    """

    def __init__(self, cat: bool = False):
        self.cat = bool(cat)

    def forward(self, data: Data) -> Data:
        return _set_features(data, fc_row_features(_fc(data)), self.cat)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(cat={self.cat})"


class TimeseriesStatsFeatures(BaseTransform):
    """Append ``data.extra`` (the window's time-series statistics ``[N, K]``) to ``x`` (``cat=False`` replaces it)."""

    def __init__(self, cat: bool = True):
        self.cat = bool(cat)

    def forward(self, data: Data) -> Data:
        extra = getattr(data, "extra", None)
        if not isinstance(extra, torch.Tensor) or extra.ndim != 2:
            raise ConfigError("the graph carries no time-series statistics 'extra' [N, K]", source="data.extra",
                              fix="build the dataset with time series (from_timeseries or timeseries=...)")
        return _set_features(data, extra, self.cat)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(cat={self.cat})"


class BuildGraph(BaseTransform):
    """``x`` and edges of ``data.fc`` (and ``data.extra``) by a whole :class:`GraphSpec`."""

    def __init__(self, spec: GraphSpec | None = None):
        self.spec = GraphSpec() if spec is None else spec

    def forward(self, data: Data) -> Data:
        extra = getattr(data, "extra", None)
        x, adj = self.spec.build(_fc(data), extra if self.spec.needs_extra else None)
        data.x = x
        return _set_edges(data, adj)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec})"
