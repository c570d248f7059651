"""Node masks (seeded Generator only, exact counts, schemes, uniform over nodes), the mask token and the
mean-context adjacency of masked nodes."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.errors import ConfigError, UnknownNameError
from neuroalign.graphs.encoder import SpatioTemporalEncoder
from neuroalign.graphs.masking import apply_mask_token, context_adjacency, draw_node_mask, mask_count


@pytest.mark.parametrize("n, ratio, expected", [(100, 0.5, 50), (400, 0.25, 100), (7, 0.5, 3), (10, 0.75, 7),
                                                (3, 0.1, 1), (3, 0.9, 2)])
def test_mask_count_is_graphmae_floor_within_one_and_n_minus_one(n, ratio, expected):
    assert mask_count(n, ratio) == expected


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(2, 30), ratio=st.floats(0.01, 0.99),
       scheme=st.sampled_from(["subject", "window"]))
def test_masks_are_reproducible_exact_and_leave_global_state_alone(seed, n, ratio, scheme):
    state = torch.get_rng_state()
    a = draw_node_mask((3, 4, n), ratio, scheme, torch.Generator().manual_seed(seed))
    b = draw_node_mask((3, 4, n), ratio, scheme, torch.Generator().manual_seed(seed))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, b) and a.dtype == torch.bool and a.shape == (3, 4, n)
    assert (a.sum(-1) == mask_count(n, ratio)).all()
    if scheme == "subject":
        assert (a == a[:, :1]).all()


def test_window_scheme_draws_new_nodes_per_window_and_seeds_differ():
    a = draw_node_mask((2, 50, 20), 0.5, "window", torch.Generator().manual_seed(0))
    assert not (a == a[:, :1]).all()
    b = draw_node_mask((2, 50, 20), 0.5, "window", torch.Generator().manual_seed(1))
    assert not torch.equal(a, b)


@pytest.mark.parametrize("scheme", ["subject", "window"])
def test_every_node_is_masked_with_probability_count_over_n(scheme):
    n, ratio, draws = 10, 0.3, 4000
    mask = draw_node_mask((draws, 1, n), ratio, scheme, torch.Generator().manual_seed(0))
    frequency = mask.float().mean((0, 1))
    p = mask_count(n, ratio) / n
    assert (frequency - p).abs().max() < 5 * math.sqrt(p * (1 - p) / draws)


def test_mask_token_replaces_masked_rows_only():
    x = torch.randn(2, 3, 5, 4)
    mask = draw_node_mask((2, 3, 5), 0.4, "window", torch.Generator().manual_seed(0))
    token = torch.randn(4, requires_grad=True)
    out = apply_mask_token(x, mask, token)
    assert torch.equal(out[~mask], x[~mask])
    assert torch.equal(out[mask], token.detach().expand(int(mask.sum()), 4))
    out.sum().backward()
    assert torch.equal(token.grad, torch.full((4,), float(mask.sum())))


def test_context_adjacency_closed_form():
    adj = torch.triu((torch.rand(2, 3, 6, 6, generator=torch.Generator().manual_seed(0)) > 0.5).float(), 1)
    adj = adj + adj.transpose(-1, -2)
    mask = draw_node_mask((2, 3, 6), 0.5, "window", torch.Generator().manual_seed(1))
    out = context_adjacency(adj, mask)
    for b in range(2):
        for w in range(3):
            visible = [j for j in range(6) if not mask[b, w, j]]
            for i in range(6):
                for j in range(6):
                    if mask[b, w, i]:
                        expected = 1 / len(visible) if j in visible else 0.0
                    else:
                        expected = 0.0 if mask[b, w, j] else float(adj[b, w, i, j])
                    assert float(out[b, w, i, j]) == pytest.approx(expected)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_visible_nodes_do_not_see_masked_ones_through_context_edges(seed):
    """Visible nodes' GIN codes do not depend on masked nodes' features (they send nothing)."""
    torch.manual_seed(seed)
    encoder = SpatioTemporalEncoder(5, 7, hidden=8, temporal=None, temporal_context=False).eval()
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 2, 7, 5, generator=g)
    adj = context_adjacency(torch.ones(1, 2, 7, 7) - torch.eye(7),
                            mask := draw_node_mask((1, 2, 7), 0.4, "window", g))
    changed = torch.where(mask[..., None], torch.randn(x.shape, generator=g), x)
    a, b = encoder(x, adj).nodes, encoder(changed, adj).nodes
    torch.testing.assert_close(a[~mask], b[~mask], atol=0, rtol=0)
    assert not torch.allclose(a[mask], b[mask])


def test_errors():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ConfigError, match="mask_ratio"):
        draw_node_mask((1, 1, 5), 1.0, "window", g)
    with pytest.raises(ConfigError, match="mask_ratio"):
        mask_count(5, 0.0)
    with pytest.raises(ConfigError, match="at least 2 ROIs"):
        mask_count(1, 0.5)
    with pytest.raises(UnknownNameError, match="mask_scheme"):
        draw_node_mask((1, 1, 5), 0.5, "node", g)
    with pytest.raises(ConfigError, match="torch.Generator"):
        draw_node_mask((1, 1, 5), 0.5, "window", None)
