"""Generative self-supervised learning on dynamic connectivity graphs.

Dense functional connectivity (static or sliding-window) becomes graphs
(:class:`GraphSpec`, :class:`ConnectivityGraphs`, PyG ``Data``/``Batch`` on
request), a spatio-temporal graph encoder is pretrained with a masked graph
autoencoder objective (:class:`GraphMAEPretrainer`, GraphMAE/GraphMAE2 style),
and its frozen embeddings are probed (:func:`probe`) or the encoder is
fine-tuned (:class:`GraphFineTuner`).  :func:`run_validation_protocol` checks
the whole chain on simulated data with planted dynamic structure.

Names are imported on first use, so ``import neuroalign.graphs`` stays fast.
"""

from __future__ import annotations

from .._lazy import lazy_exports

#: Where each public name lives, imported when it is first used.
_LAZY: dict[str, str] = {
    "GraphSpec": ".spec",
    "EDGE_RULES": ".edges",
    "edge_weights": ".edges",
    "NODE_FEATURES": ".node_features",
    "fc_row_features": ".node_features",
    "timeseries_statistics": ".node_features",
    "ConnectivityGraphs": ".dataset",
    "TopKEdges": ".transforms",
    "TopPercentEdges": ".transforms",
    "ThresholdEdges": ".transforms",
    "FullWeightedEdges": ".transforms",
    "NoEdges": ".transforms",
    "FCRowFeatures": ".transforms",
    "TimeseriesStatsFeatures": ".transforms",
    "BuildGraph": ".transforms",
    "SpatioTemporalEncoder": ".encoder",
    "SparseSpatioTemporalEncoder": ".sparse_encoder",
    "GraphMAE": ".graphmae",
    "scaled_cosine_error": ".losses",
    "draw_node_mask": ".masking",
    "GraphMAEPretrainer": ".pretrainer",
    "GraphFineTuner": ".finetune",
    "probe": ".probes",
    "label_efficiency": ".label_curves",
    "label_efficiency_score": ".label_curves",
    "static_fc_features": ".fc_features",
    "window_variability_features": ".fc_features",
    "run_validation_protocol": ".protocol",
    "evaluate_criteria": ".protocol",
    "ProtocolConfig": ".protocol_config",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
