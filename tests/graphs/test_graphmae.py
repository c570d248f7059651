"""GraphMAE: the leak fix (hypothesis: a masked node's true connectivity reaches only the target), the scaled
cosine error against closed forms and GraphMAE's sce_loss, re-masking, GraphMAE2 views and EMA target,
reproducible masks from a Generator, a tiny batch overfitted, errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.errors import ConfigError, DataError, UnknownNameError
from neuroalign.graphs.graphmae import GraphMAE
from neuroalign.graphs.losses import scaled_cosine_error
from neuroalign.graphs.masking import mask_count
from neuroalign.graphs.spec import GraphSpec

from ._model_data import random_fc, replace_node

N = 9


def model_of(spec=None, n_extra=0, **kwargs):
    torch.manual_seed(0)
    kwargs.setdefault("hidden", 8)
    return GraphMAE(spec or GraphSpec(), N, n_extra, **kwargs)


# ---- the leak fix -------------------------------------------------------------------------------------------

@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), scheme=st.sampled_from(["subject", "window"]),
       edges=st.sampled_from(["top_percent", "top_k", "threshold", "full"]), with_extra=st.booleans(),
       ratio=st.sampled_from([0.25, 0.5, 0.75]))
def test_leak_fix_lets_a_masked_nodes_connectivity_reach_only_the_target(seed, scheme, edges, with_extra, ratio):
    """For a fixed mask, new values in the FC rows/columns (and extra features) of masked nodes, the matrix kept
    symmetric, leave the encoder's input and the reconstruction bit-identical and change the target; without
    the leak fix (plain GraphMAE) they change the input and the reconstruction."""
    features = ("fc_row", "timeseries_stats") if with_extra else ("fc_row",)
    spec = GraphSpec(edges=edges, features=features)
    n_extra = 3 if with_extra else 0
    fc = random_fc(2, 3, N, seed=seed)
    extra = torch.randn(2, 3, N, n_extra, generator=torch.Generator().manual_seed(seed)) if with_extra else None
    fixed = model_of(spec, n_extra, mask_scheme=scheme, mask_ratio=ratio).eval()
    mask = fixed.draw_mask(fc, torch.Generator().manual_seed(seed))
    changed_fc = replace_node(fc, mask, seed=seed + 1)
    changed_extra = None if extra is None else torch.where(mask[..., None], extra + 1.0, extra)

    a, b = fixed.masked_forward(fc, extra, mask), fixed.masked_forward(changed_fc, changed_extra, mask)
    assert torch.equal(a.x, b.x) and torch.equal(a.adj, b.adj)
    assert torch.equal(a.reconstructions[0], b.reconstructions[0])
    assert not torch.equal(a.target[mask], b.target[mask])
    loss_a, _ = fixed.loss_for_mask(fc, extra, mask)
    loss_b, _ = fixed.loss_for_mask(changed_fc, changed_extra, mask)
    assert not torch.equal(loss_a, loss_b)

    plain = model_of(spec, n_extra, mask_scheme=scheme, mask_ratio=ratio, leak_fix=False).eval()
    plain.load_state_dict(fixed.state_dict())
    c, d = plain.masked_forward(fc, extra, mask), plain.masked_forward(changed_fc, changed_extra, mask)
    assert not torch.equal(c.x, d.x)
    assert not torch.equal(c.reconstructions[0], d.reconstructions[0])


def test_leak_fix_inputs():
    """Masked rows hold the token; masked nodes receive the mean of visible nodes; visible rows are the
    spec's graph built without the masked nodes; the target is the spec's unmasked features."""
    model = model_of()
    fc = random_fc(2, 3, N)
    mask = model.draw_mask(fc, torch.Generator().manual_seed(0))
    x, adj, target, full_adj = model.masked_input(fc, None, mask)
    built_x, built_adj = GraphSpec().build(fc, exclude=mask)
    assert torch.equal(x[mask], model.mask_token.detach().expand(int(mask.sum()), N))
    assert torch.equal(x[~mask], built_x[~mask])
    visible = ~mask
    assert torch.equal(adj * visible[..., :, None], built_adj * visible[..., :, None])
    n_visible = N - mask_count(N, 0.5)
    assert torch.allclose(adj[mask], visible.float()[..., None, :].expand(adj.shape)[mask] / n_visible)
    full_x, full = GraphSpec().build(fc)
    assert torch.equal(target, full_x) and full_adj is None
    with_latent = model_of(latent_weight=1.0)
    assert torch.equal(with_latent.masked_input(fc, None, mask)[3], full)
    assert torch.equal(model_of(leak_fix=False).masked_input(fc, None, mask)[3], full)


# ---- the loss -----------------------------------------------------------------------------------------------

def graphmae_sce_loss(x, y, alpha):
    """THUDM/GraphMAE's sce_loss (graphmae/models/loss_func.py; read through its copies in the code index,
    e.g. GraphMAE forks, as the file itself is not stored there): L2-normalise both, (1 - <x, y>)^alpha, mean."""
    x = F.normalize(x, p=2, dim=-1)
    y = F.normalize(y, p=2, dim=-1)
    return (1 - (x * y).sum(dim=-1)).pow_(alpha).mean()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), rows=st.integers(1, 20), width=st.integers(2, 30),
       gamma=st.sampled_from([1.0, 2.0, 3.0, 1.5]))
def test_scaled_cosine_error_equals_graphmae_sce_loss(seed, rows, width, gamma):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(rows, width, generator=g, dtype=torch.float64), torch.randn(rows, width, generator=g,
                                                                                   dtype=torch.float64)
    torch.testing.assert_close(scaled_cosine_error(x, y, gamma), graphmae_sce_loss(x, y, gamma))
    # invariant to positive scaling of each row of either side
    scale = torch.rand(rows, 1, generator=g, dtype=torch.float64) * 10 + 0.1
    torch.testing.assert_close(scaled_cosine_error(x * scale, y, gamma), scaled_cosine_error(x, y, gamma))


@pytest.mark.parametrize("gamma", [1.0, 2.0, 3.0])
def test_scaled_cosine_error_closed_forms(gamma):
    angles = torch.tensor([0.0, math.pi / 3, math.pi / 2, 2.0, math.pi], dtype=torch.float64)
    target = torch.stack([torch.ones_like(angles), torch.zeros_like(angles)], -1)
    prediction = torch.stack([torch.cos(angles), torch.sin(angles)], -1) * 3.0
    expected = ((1 - torch.cos(angles)) ** gamma).mean()
    torch.testing.assert_close(scaled_cosine_error(prediction, target, gamma), expected)
    assert float(scaled_cosine_error(-target, target, gamma)) == pytest.approx(2 ** gamma)
    assert float(scaled_cosine_error(torch.zeros(1, 2), torch.ones(1, 2), gamma)) == pytest.approx(1.0)


def test_loss_is_the_scaled_cosine_error_on_masked_nodes():
    model = model_of(gamma=3.0)
    fc = random_fc(2, 3, N)
    mask = model.draw_mask(fc, torch.Generator().manual_seed(0))
    out = model.masked_forward(fc, None, mask)
    loss, parts = model.loss_for_mask(fc, None, mask)
    expected = graphmae_sce_loss(out.reconstructions[0][mask], out.target[mask], 3.0)
    torch.testing.assert_close(loss, expected)
    assert parts["loss"] == parts["reconstruction"] == pytest.approx(expected.item())


def test_loss_is_reproducible_from_the_generator_only():
    model = model_of()
    fc = random_fc(2, 3, N)
    state = torch.get_rng_state()
    a, _ = model.loss(fc, None, torch.Generator().manual_seed(3))
    torch.manual_seed(12345)
    b, _ = model.loss(fc, None, torch.Generator().manual_seed(3))
    c, _ = model.loss(fc, None, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    torch.set_rng_state(state)


@pytest.mark.parametrize("remask", [True, False])
def test_remask_zeroes_masked_codes_before_the_decoder(remask):
    model = model_of(remask=remask)
    fc = random_fc(2, 3, N)
    mask = model.draw_mask(fc, torch.Generator().manual_seed(0))
    seen = []
    handle = model.decoder.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach()))
    model.masked_forward(fc, None, mask)
    handle.remove()
    codes = seen[0]
    assert bool((codes[mask] == 0).all()) == remask
    assert not (codes[~mask] == 0).all()


def test_views_sum_their_losses_and_train_the_decoder_token():
    model = model_of(n_views=3, view_remask_rate=0.4)
    fc = random_fc(2, 3, N)
    mask = model.draw_mask(fc, torch.Generator().manual_seed(0))
    seen = []
    handle = model.decoder.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach()))
    out = model.masked_forward(fc, None, mask, torch.Generator().manual_seed(1))
    handle.remove()
    assert len(out.reconstructions) == len(seen) == 3
    token = model.decoder_mask_token.detach()
    for codes in seen:   # each view: exactly the drawn count of nodes per window carry the decoder token
        assert ((codes == token).all(-1).sum(-1) == mask_count(N, 0.4)).all()
    loss, parts = model.loss_for_mask(fc, None, mask, torch.Generator().manual_seed(1))
    expected = sum(graphmae_sce_loss(r[mask], out.target[mask], 2.0) for r in out.reconstructions)
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert model.decoder_mask_token.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="generator"):
        model.masked_forward(fc, None, mask)


def test_latent_prediction_and_ema_target():
    model = model_of(latent_weight=0.5, ema_momentum=0.9)
    fc = random_fc(2, 3, N)
    loss, parts = model.loss(fc, None, torch.Generator().manual_seed(0))
    assert loss.item() == pytest.approx(parts["reconstruction"] + 0.5 * parts["latent"], rel=1e-6)
    loss.backward()
    assert all(p.grad is None for p in model.target_encoder.parameters())
    assert all(p.grad is not None for p in model.projector.parameters())
    before = [p.detach().clone() for p in model.target_encoder.parameters()]
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.add_(1.0)
    model.update_target()
    for old, new, online in zip(before, model.target_encoder.parameters(), model.encoder.parameters()):
        torch.testing.assert_close(new, 0.9 * old + 0.1 * online.detach())
    # kept-node variant scores the visible nodes
    kept = model_of(latent_weight=1.0, latent_nodes="kept")
    _, parts = kept.loss(fc, None, torch.Generator().manual_seed(0))
    assert math.isfinite(parts["latent"])
    model_of().update_target()   # no target encoder: a no-op


def test_pretraining_reaches_every_trained_part_including_the_temporal_model():
    model = model_of(temporal="transformer")
    loss, _ = model.loss(random_fc(2, 3, N), None, torch.Generator().manual_seed(0))
    loss.backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_overfitting_a_tiny_batch_lowers_the_loss():
    torch.set_num_threads(1)
    model = model_of(hidden=16)
    fc = random_fc(2, 2, N, seed=4)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(60):
        optimiser.zero_grad()
        loss, _ = model.loss(fc, None, generator)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.6 * first, (first, last)


def test_encode_is_the_encoder_on_the_unmasked_graph():
    model = model_of().eval()
    fc = random_fc(2, 3, N)
    x, adj = GraphSpec().build(fc)
    a, b = model.encode(fc), model.encoder(x, adj)
    assert torch.equal(a.nodes, b.nodes) and torch.equal(a.windows, b.windows)


def test_config_rebuilds_the_model():
    model = model_of(n_views=2, latent_weight=0.3, mask_scheme="window", temporal="gru")
    again = GraphMAE(model.spec, **model.config())
    assert again.config() == model.config()
    again.load_state_dict(model.state_dict())


def test_errors():
    fc = random_fc(1, 2, N)
    with pytest.raises(ConfigError, match="mask_ratio"):
        model_of(mask_ratio=1.0)
    with pytest.raises(ConfigError, match="remask"):
        model_of(n_views=2, remask=False)
    with pytest.raises(ConfigError, match="GraphSpec"):
        GraphMAE({"edges": "top_k"}, N)
    with pytest.raises(ConfigError, match="n_extra"):
        GraphMAE(GraphSpec(features=("fc_row", "timeseries_stats")), N)
    with pytest.raises(UnknownNameError, match="mask_scheme"):
        model_of(mask_scheme="roi")
    model = model_of()
    with pytest.raises(DataError, match="fc must be"):
        model.loss(fc[..., :5, :5], None, torch.Generator())
    with pytest.raises(ConfigError, match="torch.Generator"):
        model.loss(fc, None, 0)
    nan = fc.clone()
    nan[0, 1, 2, 3] = nan[0, 1, 3, 2] = float("nan")
    with pytest.raises(DataError, match="non-finite"):
        model.loss(nan, None, torch.Generator())
    with pytest.raises(DataError, match="mask must be"):
        model.masked_forward(fc, None, torch.zeros(1, 2, N))
    with_extra = model_of(GraphSpec(features=("fc_row", "timeseries_stats")), 2)
    with pytest.raises(DataError, match="extra must be"):
        with_extra.loss(fc, None, torch.Generator())
    with pytest.raises(DataError, match="extra has non-finite"):
        with_extra.loss(fc, torch.full((1, 2, N, 2), float("nan")), torch.Generator())


def test_reference_is_subtracted_before_graphs_are_built():
    """set_reference: encode(fc) equals the encoder on spec.build(fc - reference); loss_for_mask sees the
    centred FC (its targets are built from it); bad references are named errors."""
    from neuroalign.graphs.graphmae import mean_connectivity

    torch.manual_seed(0)
    a = torch.randn(3, 2, 6, 30)
    fc = torch.nn.functional.normalize(a - a.mean(-1, keepdim=True), dim=-1)
    fc = fc @ fc.transpose(-1, -2)
    fc = torch.triu(fc, 1) + torch.triu(fc, 1).transpose(-1, -2) + torch.eye(6)
    model = GraphMAE(GraphSpec(), n_rois=6, hidden=8).eval()
    reference = mean_connectivity(fc)
    torch.testing.assert_close(reference, fc.double().mean((0, 1)).float())
    assert torch.equal(reference, reference.T)
    model.set_reference(reference)
    with torch.no_grad():
        x, adj = GraphSpec().build(fc - reference)
        torch.testing.assert_close(model.encode(fc).windows, model.encoder(x, adj).windows)
        mask = model.draw_mask(fc, torch.Generator().manual_seed(0))
        target = model.masked_input(fc, None, mask)[2]
        torch.testing.assert_close(target, GraphSpec().build(fc - reference)[0])
    assert "reference" in model.state_dict()
    with pytest.raises(DataError, match="symmetric"):
        model.set_reference(torch.triu(reference))
    with pytest.raises(DataError, match="reference"):
        model.set_reference(torch.zeros(5, 5))
