"""The NDT-style transformer, its masks and its loss.

References: the masks are checked against an independent numpy dilation of the same draws (NDT's
``src/mask.py`` expands span starts the same way); the loss against scipy's Poisson log-pmf.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import gammaln
from scipy.stats import poisson

from neuroalign.errors import ConfigError, DataError, UnknownNameError
from neuroalign.spikes.masked_training import poisson_loss
from neuroalign.spikes.masking import corrupt, draw_mask, loss_mask
from neuroalign.spikes.ndt import MaskedSpikeTransformer

torch.set_num_threads(1)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- masks

def test_timestep_masks_hide_about_the_ratio_and_repeat_with_the_seed():
    mask = draw_mask(400, 50, ratio=0.25, generator=_gen(0))
    assert mask.shape == (400, 50) and mask.dtype == torch.bool
    # 20,000 Bernoulli(0.25) draws: the mean lies within 5 standard deviations (0.0153) of 0.25
    assert abs(mask.float().mean().item() - 0.25) < 5 * np.sqrt(0.25 * 0.75 / 20000)
    assert torch.equal(mask, draw_mask(400, 50, ratio=0.25, generator=_gen(0)))
    assert not torch.equal(mask, draw_mask(400, 50, ratio=0.25, generator=_gen(1)))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), n_trials=st.integers(1, 6), n_bins=st.integers(1, 30),
       ratio=st.floats(0, 1), max_span=st.integers(1, 6))
def test_span_masks_are_the_dilated_span_starts(seed, n_trials, n_bins, ratio, max_span):
    """An independent numpy dilation of the same draws: bin t is masked iff a span starts in [t - w + 1, t]."""
    mask = draw_mask(n_trials, n_bins, ratio=ratio, mode="span", max_span=max_span, generator=_gen(seed)).numpy()
    g = _gen(seed)
    width = int(torch.randint(1, max_span + 1, (1,), generator=g)) if max_span > 1 else 1
    starts = (torch.rand(n_trials, n_bins, generator=g) < ratio / width).numpy()
    expected = np.zeros_like(starts)
    for t in range(n_bins):
        expected[:, t] = starts[:, max(0, t - width + 1):t + 1].any(axis=1)
    np.testing.assert_array_equal(mask, expected)


def test_span_with_max_span_one_is_timestep_masking():
    a = draw_mask(5, 20, ratio=0.3, mode="span", max_span=1, generator=_gen(3))
    assert torch.equal(a, draw_mask(5, 20, ratio=0.3, mode="timestep", generator=_gen(3)))


def test_bad_mask_settings_are_named():
    with pytest.raises(UnknownNameError, match="neuron"):
        draw_mask(2, 3, ratio=0.2, mode="neuron", generator=_gen())
    with pytest.raises(ConfigError, match="mask_ratio"):
        draw_mask(2, 3, ratio=1.5, generator=_gen())


def test_corrupt_zeroes_masked_bins_and_leaves_the_rest_and_the_input_alone():
    counts = torch.arange(24, dtype=torch.float32).reshape(2, 4, 3) + 1
    before = counts.clone()
    mask = torch.tensor([[True, False, False, True], [False, True, False, False]])
    out = corrupt(counts, mask, generator=_gen())
    assert torch.equal(counts, before)
    assert (out[mask] == 0).all() and torch.equal(out[~mask], counts[~mask])
    assert torch.equal(corrupt(counts, mask, zero_ratio=0.0, generator=_gen()), counts)


def test_random_replacement_draws_counts_up_to_the_batch_maximum():
    counts = torch.full((50, 40, 5), 3.0)
    mask = torch.ones(50, 40, dtype=torch.bool)
    out = corrupt(counts, mask, zero_ratio=0.0, random_ratio=1.0, generator=_gen())
    assert set(out.unique().tolist()) == {0.0, 1.0, 2.0, 3.0}
    mixed = corrupt(counts, mask, zero_ratio=0.8, random_ratio=0.5, generator=_gen())
    zero_bins = (mixed == 0).all(-1).float().mean().item()
    # 80 % zeroed; of the rest, half get random counts (all-zero with probability 4^-5) and half stay 3
    assert abs(zero_bins - 0.8) < 0.04
    assert abs((mixed == 3).all(-1).float().mean().item() - 0.1) < 0.03


def test_loss_mask_scores_masked_held_in_and_every_held_out_entry():
    mask = draw_mask(3, 7, ratio=0.4, generator=_gen(2))
    scored = loss_mask(mask, 4, 2)
    assert scored.shape == (3, 7, 6)
    assert torch.equal(scored[..., :4], mask[..., None].expand(3, 7, 4)) and scored[..., 4:].all()


def test_poisson_loss_is_scipys_negative_log_pmf_without_log_factorial():
    rng = np.random.default_rng(0)
    log_rates = rng.normal(-1, 1, size=(3, 5, 4))
    counts = rng.poisson(np.exp(log_rates)).astype(float)
    scored = rng.random((3, 5, 4)) < 0.5
    total, n = poisson_loss(torch.tensor(log_rates), torch.tensor(counts), torch.tensor(scored))
    reference = -(poisson.logpmf(counts, np.exp(log_rates)) + gammaln(counts + 1))[scored].sum()
    assert n == scored.sum()
    np.testing.assert_allclose(float(total), reference, rtol=1e-12)


# ---------------------------------------------------------------- the transformer

def small_model(**kwargs) -> MaskedSpikeTransformer:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return MaskedSpikeTransformer(kwargs.pop("sessions", [(5, 2)]), 8, d_model=8, n_heads=2,
                                      dim_feedforward=16, **kwargs).eval()


def test_each_session_has_its_adapters_around_one_shared_encoder():
    model = small_model(sessions=[(5, 2), (3, 4)])
    assert model(torch.zeros(2, 8, 5), 0).shape == (2, 8, 7)
    assert model(torch.zeros(2, 8, 3), 1).shape == (2, 8, 7)
    assert [m.in_features for m in model.inputs] == [5, 3] and [m.out_features for m in model.outputs] == [7, 7]
    assert sum(1 for name, _ in model.named_parameters() if name.startswith("encoder.layers.0.self_attn")) == 4
    with pytest.raises(DataError, match=r"\(trial, 8, 3\)"):
        model(torch.zeros(2, 8, 5), 1)


def test_attention_is_bidirectional_and_positions_matter():
    model = small_model(dropout=0.0)
    x = torch.rand(1, 8, 5)
    y = x.clone()
    y[0, -1] += 3  # a change in the last bin reaches the first bin's output (no causal mask)
    assert not torch.allclose(model(x)[0, 0], model(y)[0, 0])
    flat = torch.ones(1, 8, 5)  # identical tokens differ only by their learned positions
    out = model(flat)[0]
    assert not torch.allclose(out[0], out[1])


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000), n=st.integers(1, 5))
def test_each_trial_is_inferred_on_its_own(seed, n):
    """Eval-mode outputs are equivariant to reordering the trials of a batch (no mixing across trials)."""
    model = small_model(dropout=0.1)
    g = torch.Generator().manual_seed(seed)
    x = torch.poisson(torch.full((n, 8, 5), 0.5), generator=g)
    order = torch.randperm(n, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[order], model(x[order]), rtol=1e-5, atol=1e-5)


def test_bad_sizes_are_named():
    with pytest.raises(ConfigError, match="n_heads=3 does not divide d_model=8"):
        MaskedSpikeTransformer([(5, 1)], 8, d_model=8, n_heads=3)
    with pytest.raises(ConfigError, match="n_held_in"):
        MaskedSpikeTransformer([(0, 1)], 8)
    with pytest.raises(UnknownNameError):
        MaskedSpikeTransformer([(5, 1)], 8, input_transform="sqrt")
