"""GraphSpec: the one place that turns dense connectivity into node features and edges."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import ConfigError, UnknownNameError
from .edges import EDGE_RULES, check_edge_value, edge_weights
from .node_features import NODE_FEATURES

__all__ = ["GraphSpec"]


@dataclass(frozen=True)
class GraphSpec:
    """How connectivity becomes graphs: the edge rule and the node features.

    Parameters
    ----------
    edges : {"top_k", "top_percent", "threshold", "full", "none"}
        Edge rule of :data:`~neuroalign.graphs.edges.EDGE_RULES` (default
        ``"top_percent"``, as STAGIN).
    edge_value : int or float, optional
        k for ``"top_k"`` (default 5), percent for ``"top_percent"`` (default
        30), ``|r|`` threshold for ``"threshold"`` (default 0.3); must be None
        for ``"full"`` and ``"none"``.  None is replaced by the rule's default
        at construction, so specs that build the same graphs compare equal.
    binary : bool
        Binary edges (default) or the correlation as weight; ``"full"`` is
        always weighted.
    features : tuple of str
        Node features of :data:`~neuroalign.graphs.node_features.NODE_FEATURES`,
        concatenated in this order along the feature axis (default ``("fc_row",)``).

    Examples
    --------
    >>> import torch
    >>> from neuroalign.graphs.spec import GraphSpec
    >>> spec = GraphSpec(edges="top_k", edge_value=2)
    >>> fc = torch.eye(4).expand(3, 5, 4, 4).clone()   # 3 subjects, 5 windows, 4 ROIs
    >>> x, adj = spec.build(fc)
    >>> tuple(x.shape), tuple(adj.shape), spec.n_features(4, 0)
    ((3, 5, 4, 4), (3, 5, 4, 4), 4)
    >>> GraphSpec.from_dict(spec.to_dict()) == spec
    True
    """

    edges: str = "top_percent"
    edge_value: float | int | None = None
    binary: bool = True
    features: tuple[str, ...] = field(default=("fc_row",))

    def __post_init__(self) -> None:
        if not isinstance(self.edges, str) or self.edges not in EDGE_RULES:
            raise UnknownNameError(self.edges, EDGE_RULES, what="edge rule", source="edges")
        object.__setattr__(self, "edge_value", check_edge_value(self.edges, self.edge_value, source="edge_value"))
        if not isinstance(self.binary, bool):
            raise ConfigError(f"binary={self.binary!r} is not a bool", source="binary",
                              fix="pass True (binary edges) or False (correlation weights)")
        features = self.features
        if isinstance(features, str) or not isinstance(features, (tuple, list)):
            raise ConfigError(f"features={features!r} is not a tuple of names", source="features",
                              fix="pass a tuple such as ('fc_row',) or ('fc_row', 'timeseries_stats')")
        for name in features:
            if name not in NODE_FEATURES:
                raise UnknownNameError(name, NODE_FEATURES, what="node feature", source="features")
        if not features or len(set(features)) != len(features):
            raise ConfigError(f"features={tuple(features)!r} must name at least one feature, each once",
                              source="features", fix="pass e.g. ('fc_row',)")
        object.__setattr__(self, "features", tuple(features))

    @property
    def needs_extra(self) -> bool:
        """Whether :meth:`build` needs ``extra`` (the spec uses ``"timeseries_stats"``)."""
        return any(NODE_FEATURES[name].needs_extra for name in self.features)

    def n_features(self, n_rois: int, n_extra: int = 0) -> int:
        """Number of node features for ``n_rois`` ROIs and ``n_extra`` extra columns.

        Examples
        --------
        >>> from neuroalign.graphs.spec import GraphSpec
        >>> GraphSpec(features=("fc_row", "timeseries_stats")).n_features(10, 3)
        13
        """
        return sum(NODE_FEATURES[name].width(int(n_rois), int(n_extra)) for name in self.features)

    def fc_row_slice(self, n_rois: int, n_extra: int = 0) -> slice:
        """The columns of ``x`` that hold the FC row (empty when ``"fc_row"`` is not a feature).

        A method, not a property: where the FC row sits depends on the number of
        ROIs (and of extra columns when ``"timeseries_stats"`` comes first).

        Examples
        --------
        >>> from neuroalign.graphs.spec import GraphSpec
        >>> GraphSpec(features=("timeseries_stats", "fc_row")).fc_row_slice(10, 3)
        slice(3, 13, None)
        """
        start = 0
        for name in self.features:
            width = NODE_FEATURES[name].width(int(n_rois), int(n_extra))
            if name == "fc_row":
                return slice(start, start + width)
            start += width
        return slice(start, start)

    def build(self, fc: torch.Tensor, extra: torch.Tensor | None = None,
              exclude: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Node features and adjacency of every window at once.

        Parameters
        ----------
        fc : torch.Tensor
            Symmetric connectivity ``[..., N, N]`` (``[B, W, N, N]`` by convention).
        extra : torch.Tensor, optional
            Extra node features ``[..., N, K]`` (time-series statistics); needed
            when ``"timeseries_stats"`` is a feature, otherwise unused.
        exclude : torch.Tensor, optional
            Bool ``[..., N]``, True = the node is hidden (masked): its column is
            zeroed in every node's FC-row features, its own feature row is zero,
            and the edge rule runs on the FC with its row and column removed (it
            gets no edges and does not count in rankings, percentages or
            thresholds).  Nothing of an excluded node's FC reaches ``x`` or ``adj``.

        Returns
        -------
        x : torch.Tensor
            ``[..., N, F]`` with ``F = n_features(N, K)``, features in the order of ``features``.
        adj : torch.Tensor
            ``[..., N, N]``, symmetric, zero diagonal (0 = no edge).

        Raises
        ------
        ConfigError
            ``extra`` is missing but needed, or does not match ``fc``.
        DataError
            Non-finite or non-symmetric connectivity (see :func:`~neuroalign.graphs.edges.edge_weights`).
        """
        if self.needs_extra:
            if extra is None:
                raise ConfigError("this GraphSpec uses 'timeseries_stats' but no extra features were given",
                                  source="extra", fix="pass extra=[..., N, K] time-series statistics, or drop "
                                  "'timeseries_stats' from features")
            if not isinstance(extra, torch.Tensor) or extra.shape[:-1] != fc.shape[:-1]:
                raise ConfigError(f"extra of shape {tuple(getattr(extra, 'shape', ()))} does not match fc "
                                  f"{tuple(fc.shape)}", source="extra",
                                  fix="pass extra with fc's leading dims, one row per node: [..., N, K]")
            extra = extra.to(fc.dtype)
        adj = edge_weights(fc, self.edges, self.edge_value, binary=self.binary, exclude=exclude)
        parts = [NODE_FEATURES[name].build(fc, extra, exclude) for name in self.features]
        x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)
        return x, adj

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (checkpoints, dataset metadata); :meth:`from_dict` inverts it."""
        return {"edges": self.edges, "edge_value": self.edge_value, "binary": self.binary,
                "features": list(self.features)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GraphSpec":
        """The spec from :meth:`to_dict`'s output; unknown keys are an error.

        Raises
        ------
        ConfigError
            ``data`` is not a dict or has keys other than the spec's fields.
        """
        known = {"edges", "edge_value", "binary", "features"}
        if not isinstance(data, dict) or set(data) - known:
            extra = sorted(set(data) - known) if isinstance(data, dict) else type(data).__name__
            raise ConfigError(f"not a GraphSpec dict (unexpected {extra})", source="spec",
                              fix=f"pass a dict with keys among {sorted(known)}, e.g. from GraphSpec.to_dict()")
        data = dict(data)
        if "features" in data and isinstance(data["features"], list):
            data["features"] = tuple(data["features"])
        return cls(**data)
