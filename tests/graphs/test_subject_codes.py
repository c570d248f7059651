"""Subject embeddings of every ROI's code at every level (``embedding="nodes"``) and their plumbing.

References: the levels are PyG's ``DenseGINConv`` layers applied one by one (torch-geometric) and the
statistics are numpy's mean and population standard deviation over windows; a closed form checks level 0
(a linear map of the FC rows); a property test checks invariance to the order of the windows.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.errors import DataError, UnknownNameError
from neuroalign.graphs.dataset import ConnectivityGraphs
from neuroalign.graphs.embedding_arrays import statistics_array
from neuroalign.graphs.encoder import SpatioTemporalEncoder
from neuroalign.graphs.finetune import GraphFineTuner
from neuroalign.graphs.pretrainer import GraphMAEPretrainer
from neuroalign.graphs.subject_codes import EMBEDDINGS, encoder_codes, n_embedding_features, over_windows

from ._pretrainer_data import random_fc

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROIS = [f"roi{i}" for i in range(6)]  # random_fc's


def _fc(n_subjects: int, n_windows: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(random_fc(n_subjects, n_windows, len(ROIS), seed=seed).values).double()


@pytest.fixture(scope="module")
def dataset() -> ConnectivityGraphs:
    return ConnectivityGraphs.from_connectivity(random_fc(8, 4, len(ROIS)))


@pytest.fixture(scope="module")
def fitted(dataset) -> GraphMAEPretrainer:
    return GraphMAEPretrainer(hidden=8, n_layers=2, epochs=2, batch_size=4, progress=False, threads=1,
                              random_state=3).fit(dataset)


def test_levels_are_pyg_dense_gin_layers_applied_in_turn():
    torch.manual_seed(0)
    encoder = SpatioTemporalEncoder(n_features=6, n_rois=6, hidden=5, n_layers=2).double()
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    adj = (torch.rand(2, 3, 6, 6) > 0.5).double()
    levels = encoder.levels(x, adj)
    assert levels.shape == (2, 3, 3, 6, 5)
    h = encoder.input(x) + encoder.roi_embedding          # level 0: the input projection + ROI embedding
    torch.testing.assert_close(levels[:, :, 0], h, rtol=0, atol=0)
    flat_adj = adj.reshape(-1, 6, 6)
    h1 = encoder.gnn.convs[0](h.reshape(-1, 6, 5), flat_adj, add_loop=True)
    torch.testing.assert_close(levels[:, :, 1], h1.reshape(2, 3, 6, 5), rtol=0, atol=0)
    h2 = encoder.gnn.convs[1](h1, flat_adj, add_loop=True).reshape(2, 3, 6, 5)
    out = encoder(x, adj)                                 # the last level is what forward returns
    torch.testing.assert_close(levels[:, :, 2], out.nodes, rtol=0, atol=0)
    context = encoder.context(out.windows)[..., None, :]
    torch.testing.assert_close(levels[:, :, 2], h2 + context, rtol=1e-12, atol=1e-12)


def test_node_embedding_is_numpy_statistics_with_named_features(fitted, dataset):
    embedding = copy.copy(fitted).set_params(embedding="nodes").transform(dataset)
    with torch.no_grad():
        codes = fitted.model_.codes(dataset.fc, None, "nodes").to(torch.float64).numpy()   # [S, W, L+1, N, H]
    assert embedding.sizes["feature"] == 2 * 3 * len(ROIS) * 8 == n_embedding_features("nodes", fitted.encoder_)
    reference = {"mean": codes.mean(1), "std": codes.std(1)}
    for index in (0, 77, 200, embedding.sizes["feature"] - 1):
        feature = embedding.isel(feature=index)
        stat, level, roi, unit = (feature[name].item() for name in ("statistic", "level", "roi", "unit"))
        assert feature["feature"].item() == f"{stat}_l{level}_{roi}_{unit}"
        expected = reference[stat][:, level, ROIS.index(roi), unit]
        np.testing.assert_allclose(feature.values, expected, rtol=1e-12, atol=1e-12)
    assert embedding["group"].values.tolist() == [0, 1] * 4
    assert embedding.attrs["parameters"]["embedding"] == "nodes"


def test_level_zero_is_a_linear_map_of_the_mean_fc_row():
    # closed form: without GIN layers and temporal context, level 0 is W·(fc_i - ref_i) + b + e_i per window, so
    # its mean over windows is the same map of the mean centred FC row (a linear readout keeps static FC)
    torch.manual_seed(1)
    encoder = SpatioTemporalEncoder(n_features=6, n_rois=6, hidden=4, n_layers=0, temporal=None,
                                    temporal_context=False).double()
    fc = _fc(3, 5, seed=2)
    codes = encoder_codes(encoder, fc, torch.ones_like(fc), "nodes")
    mean = over_windows(codes)[:, 0, 0]                                 # [S, N, H]
    expected = fc.mean(1) @ encoder.input.weight.T + encoder.input.bias + encoder.roi_embedding
    torch.testing.assert_close(mean, expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=10, deadline=None)
@given(st.permutations(range(5)))
def test_node_embedding_ignores_the_order_of_windows_without_a_positional_model(order):
    # property: with no model over windows every window is encoded on its own, so the statistics over windows
    # do not depend on their order
    torch.manual_seed(2)
    encoder = SpatioTemporalEncoder(n_features=6, n_rois=6, hidden=4, n_layers=2, temporal=None).double()
    fc = _fc(2, 5, seed=4)
    adj = (fc.abs() > 0.2).double()
    first = over_windows(encoder_codes(encoder, fc, adj, "nodes"))
    shuffled = over_windows(encoder_codes(encoder, fc[:, list(order)], adj[:, list(order)], "nodes"))
    torch.testing.assert_close(shuffled, first, rtol=1e-10, atol=1e-12)


def test_embedding_is_a_transform_setting_not_a_training_one(fitted, dataset, tmp_path):
    path = fitted.save(tmp_path / "model.pt")
    loaded = GraphMAEPretrainer.load(path).set_params(embedding="nodes")
    nodes = copy.copy(fitted).set_params(embedding="nodes").transform(dataset)
    xr.testing.assert_identical(loaded.transform(dataset).drop_attrs(), nodes.drop_attrs())
    # a checkpoint resumes whatever the embedding (it changes no training)
    checkpoint = tmp_path / "checkpoint.pt"
    params = dict(hidden=8, n_layers=2, batch_size=4, progress=False, threads=1, random_state=3, checkpoint=checkpoint)
    GraphMAEPretrainer(epochs=1, **params).fit(dataset)
    resumed = GraphMAEPretrainer(epochs=2, embedding="nodes", **params).fit(dataset)
    np.testing.assert_array_equal(resumed.history_["loss"], fitted.history_["loss"])
    xr.testing.assert_identical(resumed.transform(dataset).drop_attrs(), nodes.drop_attrs())


def test_unknown_embedding_is_a_named_error(fitted, dataset):
    with pytest.raises(UnknownNameError, match="embedding"):
        GraphMAEPretrainer(embedding="graph", epochs=0, progress=False).fit(dataset)
    with pytest.raises(UnknownNameError, match="embedding"):
        copy.copy(fitted).set_params(embedding="roi").transform(dataset)
    with pytest.raises(UnknownNameError, match="embedding"):
        GraphFineTuner(fitted, embedding="roi", progress=False).fit(dataset, "group")
    with pytest.raises(DataError, match="ROI ids"):
        statistics_array(torch.zeros(1, 2, 1, 3, 2), type("D", (), {"subjects": ["s"], "labels": {}})(), {},
                         rois=["a", "b"])


def test_fine_tuner_reads_the_pretrainers_embedding(fitted, dataset):
    nodes = copy.copy(fitted).set_params(embedding="nodes")
    tuner = GraphFineTuner(nodes, epochs=2, batch_size=4, progress=False, threads=1).fit(dataset, "group")
    assert tuner.embedding_ == "nodes"
    assert tuner.network_.head.in_features == n_embedding_features("nodes", fitted.encoder_)
    # frozen encoder, untrained head: the fine-tuner's embedding is the pretrainer's, value for value
    frozen = GraphFineTuner(nodes, freeze_encoder=True, epochs=0, progress=False, threads=1).fit(dataset, "group")
    np.testing.assert_allclose(frozen.transform(dataset).values, nodes.transform(dataset).values, rtol=0, atol=1e-12)
    assert frozen.transform(dataset)["feature"].values.tolist() == nodes.transform(dataset)["feature"].values.tolist()
    # an explicit setting wins; from scratch the default is the window codes
    windows = GraphFineTuner(nodes, embedding="windows", epochs=1, progress=False, threads=1).fit(dataset, "group")
    assert windows.embedding_ == "windows" and windows.transform(dataset).sizes["feature"] == 2 * 8
    scratch = GraphFineTuner(hidden=4, epochs=1, progress=False, threads=1).fit(dataset, "group")
    assert scratch.embedding_ == "windows"
    assert np.isfinite(GraphFineTuner(hidden=4, embedding="nodes", epochs=2, progress=False, threads=1)
                       .fit(dataset, "group").decision_function(dataset)).all()


def test_embedding_choices_are_the_clis_and_the_pipelines():
    from neuroalign.cli.main import build_parser
    from neuroalign.pipelines.graph_pretraining import GRAPH_PRETRAINING_DEFAULTS

    embed = build_parser()._subparsers._group_actions[0].choices["graphs"]
    action = next(a for a in embed._subparsers._group_actions[0].choices["embed"]._actions
                  if a.dest == "embedding")
    assert tuple(action.choices) == EMBEDDINGS
    assert GRAPH_PRETRAINING_DEFAULTS["embedding"] in EMBEDDINGS
