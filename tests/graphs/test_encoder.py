"""SpatioTemporalEncoder: the GIN layer against a loop over nodes of Xu et al.'s formula, readouts, positional
encoding, temporal models, norms; permutation equivariance (hypothesis); errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.errors import ConfigError, DataError, UnknownNameError
from neuroalign.graphs.encoder import (NORMS, READOUTS, TEMPORAL_MODELS, EncoderOutput, NodeBatchNorm,
                                       SpatioTemporalEncoder, sinusoidal_encoding)


def inputs(batch=2, windows=3, n=6, features=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, windows, n, features, generator=g)
    adj = (torch.rand(batch, windows, n, n, generator=g) > 0.5).float()
    adj = torch.triu(adj, 1)
    return x, adj + adj.transpose(-1, -2)


def np_layer_norm(v, norm):
    mean, var = v.mean(), v.var()
    return (v - mean) / math.sqrt(var + norm.eps) * norm.weight.detach().double().numpy() \
        + norm.bias.detach().double().numpy()


def np_linear(v, layer):
    return layer.weight.detach().double().numpy() @ v + layer.bias.detach().double().numpy()


def reference_gin_sum(encoder, x, adj):
    """One GIN layer, LayerNorm MLP, sum readout, node by node in float64 (GIN: Xu et al. 2019, eq. 4.1)."""
    conv = encoder.gnn.convs[0]
    lin1, norm1, lin2, norm2 = conv.nn[0], conv.nn[1], conv.nn[4], conv.nn[5]
    eps = float(conv.eps.detach())
    roi = encoder.roi_embedding.detach().double().numpy()
    x, adj = x.double().numpy(), adj.double().numpy()
    b_, w_, n, _ = x.shape
    windows = np.zeros((b_, w_, encoder.hidden))
    for b in range(b_):
        for w in range(w_):
            h = [np_linear(x[b, w, i], encoder.input) + roi[i] for i in range(n)]
            for i in range(n):
                agg = (1 + eps) * h[i] + sum(adj[b, w, i, j] * h[j] for j in range(n))
                out = np.maximum(np_layer_norm(np_linear(agg, lin1), norm1), 0)
                out = np.maximum(np_layer_norm(np_linear(out, lin2), norm2), 0)
                windows[b, w] += out
    return windows


def test_gin_layer_and_sum_readout_equal_a_loop_over_nodes():
    torch.manual_seed(0)
    encoder = SpatioTemporalEncoder(6, 6, hidden=8, n_layers=1, readout="sum", temporal=None,
                                    temporal_context=False)
    with torch.no_grad():
        encoder.gnn.convs[0].eps.fill_(0.3)
        for p in encoder.parameters():
            p.add_(0.1 * torch.randn_like(p))   # non-trivial norm weights and biases
    x, adj = inputs()
    adj = adj * torch.rand(adj.shape, generator=torch.Generator().manual_seed(3))   # weighted, not symmetric
    out = encoder(x, adj)
    np.testing.assert_allclose(out.windows.detach().double().numpy(), reference_gin_sum(encoder, x, adj),
                               rtol=1e-5, atol=1e-5)
    assert torch.allclose(out.windows, out.nodes.sum(-2))


def test_readouts():
    torch.manual_seed(0)
    x, adj = inputs()
    for readout in READOUTS:
        encoder = SpatioTemporalEncoder(6, 6, hidden=8, readout=readout, temporal=None, temporal_context=False)
        out = encoder(x, adj)
        if readout == "mean":
            expected = out.nodes.mean(-2)
        elif readout == "sum":
            expected = out.nodes.sum(-2)
        else:
            score = out.nodes @ encoder.attention.weight[0] + encoder.attention.bias
            expected = (torch.softmax(score, -1)[..., None] * out.nodes).sum(-2)
        torch.testing.assert_close(out.windows, expected)


def test_positional_encoding_closed_form():
    for channels in (4, 5, 16):
        pe = sinusoidal_encoding(7, channels).double().numpy()
        for p in range(7):
            for c in range(channels):
                angle = p / 10000 ** ((c - c % 2) / channels)
                assert pe[p, c] == pytest.approx(math.sin(angle) if c % 2 == 0 else math.cos(angle), abs=1e-6)


@pytest.mark.parametrize("temporal", [*TEMPORAL_MODELS, None])
def test_temporal_models_mix_windows_only_when_present(temporal):
    torch.manual_seed(0)
    encoder = SpatioTemporalEncoder(6, 6, hidden=8, temporal=temporal).eval()
    x, adj = inputs()
    changed = x.clone()
    changed[:, 2] += 1.0
    a, b = encoder(x, adj), encoder(changed, adj)
    moved = not torch.allclose(a.windows[:, 0], b.windows[:, 0])
    assert moved == (temporal is not None)
    # node codes carry the temporal context: window 0's nodes move with window 2's input
    assert (not torch.allclose(a.nodes[:, 0], b.nodes[:, 0])) == (temporal is not None)


def test_transformer_uses_the_window_index():
    torch.manual_seed(0)
    encoder = SpatioTemporalEncoder(6, 6, hidden=8, temporal="transformer").eval()
    x, adj = inputs(windows=4)
    order = torch.tensor([3, 1, 0, 2])
    a, b = encoder(x, adj), encoder(x[:, order], adj[:, order])
    assert not torch.allclose(a.windows[:, order], b.windows, atol=1e-4)


def test_temporal_context_reaches_the_temporal_model():
    torch.manual_seed(0)
    x, adj = inputs()
    for context in (True, False):
        encoder = SpatioTemporalEncoder(6, 6, hidden=8, temporal="transformer", temporal_context=context)
        encoder(x, adj).nodes.square().sum().backward()
        grads = [p.grad for p in encoder.temporal_model.parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in grads) == context


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), readout=st.sampled_from(READOUTS),
       temporal=st.sampled_from([*TEMPORAL_MODELS, None]))
def test_permuting_rois_permutes_node_codes(seed, readout, temporal):
    """Without ROI identity the network is permutation equivariant over ROIs (and the readout invariant); with
    it, permuting the ROI embedding along with the nodes gives the same equivariance."""
    torch.manual_seed(seed)
    x, adj = inputs(seed=seed)
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(seed))
    for roi_embedding in (False, True):
        encoder = SpatioTemporalEncoder(6, 6, hidden=8, readout=readout, temporal=temporal,
                                        roi_embedding=roi_embedding).eval()
        a = encoder(x, adj)
        if roi_embedding:
            with torch.no_grad():
                encoder.roi_embedding.copy_(encoder.roi_embedding[perm])
        b = encoder(x[:, :, perm], adj[:, :, perm][..., perm])
        torch.testing.assert_close(a.nodes[:, :, perm], b.nodes, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(a.windows, b.windows, atol=1e-5, rtol=1e-5)


def test_roi_embedding_breaks_symmetry_between_identical_nodes():
    torch.manual_seed(0)
    x = torch.zeros(1, 1, 4, 4)
    adj = torch.ones(1, 1, 4, 4) - torch.eye(4)
    plain = SpatioTemporalEncoder(4, 4, hidden=8, roi_embedding=False)(x, adj).nodes[0, 0]
    assert torch.allclose(plain, plain[:1].expand_as(plain))
    encoder = SpatioTemporalEncoder(4, 4, hidden=8)
    with torch.no_grad():   # at ε = 0 a complete graph gives every node the same sum
        for conv in encoder.gnn.convs:
            conv.eps.fill_(0.5)
    with_id = encoder(x, adj).nodes[0, 0]
    assert (with_id[0] - with_id[1]).abs().max() > 1e-4


def test_layer_norm_codes_do_not_depend_on_the_batch_and_batch_norm_ones_do():
    torch.manual_seed(0)
    x, adj = inputs(batch=3)
    layer = SpatioTemporalEncoder(6, 6, hidden=8, norm="layer").train()
    torch.testing.assert_close(layer(x, adj).windows[:1], layer(x[:1], adj[:1]).windows)
    batch = SpatioTemporalEncoder(6, 6, hidden=8, norm="batch").train()
    assert not torch.allclose(batch(x, adj).windows[:1], batch(x[:1], adj[:1]).windows)


def test_node_batch_norm_normalises_features_over_all_nodes():
    torch.manual_seed(0)
    values = torch.randn(3, 4, 5, 6) * 3 + 2
    ours = NodeBatchNorm(6).train()(values)
    reference = torch.nn.BatchNorm1d(6).train()(values.reshape(-1, 6)).reshape(values.shape)
    torch.testing.assert_close(ours, reference)
    flat = ours.reshape(-1, 6)
    torch.testing.assert_close(flat.mean(0), torch.zeros(6), atol=1e-5, rtol=0)


@pytest.mark.parametrize("norm", [*NORMS, None])
def test_every_parameter_gets_a_gradient(norm):
    torch.manual_seed(0)
    encoder = SpatioTemporalEncoder(6, 6, hidden=8, norm=norm, readout="attention")
    x, adj = inputs()
    out = encoder(x, adj)
    assert isinstance(out, EncoderOutput) and encoder.hidden_size == 8
    (out.nodes.square().sum() + out.windows.square().sum()).backward()
    missing = [name for name, p in encoder.named_parameters() if p.grad is None]
    assert not missing
    assert encoder.gnn.convs[0].eps.requires_grad   # learnable ε


def test_config_rebuilds_the_encoder():
    encoder = SpatioTemporalEncoder(6, 6, hidden=8, temporal="gru", readout="sum", norm=None)
    again = SpatioTemporalEncoder(**encoder.config())
    assert again.config() == encoder.config()
    again.load_state_dict(encoder.state_dict())


def test_errors():
    encoder = SpatioTemporalEncoder(6, 6, hidden=8)
    x, adj = inputs()
    with pytest.raises(DataError, match="x must be"):
        encoder(x[..., :5], adj)
    with pytest.raises(DataError, match="adj must be"):
        encoder(x, adj[:1])
    with pytest.raises(UnknownNameError, match="readout"):
        SpatioTemporalEncoder(6, 6, readout="max")
    with pytest.raises(UnknownNameError, match="temporal"):
        SpatioTemporalEncoder(6, 6, temporal="lstm")
    with pytest.raises(ConfigError, match="hidden"):
        SpatioTemporalEncoder(6, 6, hidden=0)
    with pytest.raises(ConfigError, match="dropout"):
        SpatioTemporalEncoder(6, 6, dropout=1.0)
