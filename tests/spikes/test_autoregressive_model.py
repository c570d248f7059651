"""The autoregressive spike-token model: training by trial, reproducible checkpoints, sampling, generated PSTHs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
from neuroalign.errors import AlignmentError, ConfigError, DataError
from neuroalign.fitting.base import forked_rng
from neuroalign.spikes.autoregressive_model import SpikeTokenModel
from neuroalign.spikes.token_data import context_batch, token_batch
from neuroalign.spikes.token_sampling import sample_windows
from neuroalign.spikes.token_transformer import SpikeTokenTransformer, info_nce
from neuroalign.spikes.tokens import tokenize

SMALL = dict(window_bins=5, d_model=16, n_heads=2, n_layers=1, dim_feedforward=32, batch_size=32, progress=False)


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def sim():
    return simulate_lorenz_spikes(n_trials=40, n_bins=10, n_held_in=6, n_held_out=2, random_state=0)


def condition_stimulus(conditions, n_bins, n_conditions=8):
    """The condition of each trial as a one-hot stimulus, constant over the trial's bins."""
    values = np.eye(n_conditions)[conditions][:, None, :].repeat(n_bins, 1)
    return xr.DataArray(values, dims=("presentation", "time_bin", "variable"),
                        coords={"stimulus_id": ("presentation", [f"condition-{c}" for c in conditions]),
                                "condition": ("presentation", np.asarray(conditions))})


def psth_correlations(generated, psth):
    """Per neuron: Pearson r over (condition, time bin) of the mean generated counts and the true PSTH."""
    mean = generated.groupby("condition").mean("presentation").transpose("condition", "neuroid", "time_bin")
    true = psth.sel(condition=mean.condition.values).transpose("condition", "neuroid", "time_bin")
    assert mean.neuroid_id.values.tolist() == true.neuroid_id.values.tolist()
    return np.array([np.corrcoef(mean.values[:, n].ravel(), true.values[:, n].ravel())[0, 1]
                     for n in range(true.sizes["neuroid"])])


def test_fit_splits_by_trial_and_validates_on_whole_trials(sim):
    model = SpikeTokenModel(**SMALL, epochs=2, validation_fraction=0.25).fit(sim.counts)
    train, valid = set(model.train_trials_.tolist()), set(model.valid_trials_.tolist())
    assert not train & valid and train | valid == set(range(40)) and len(valid) == 10
    assert model.history_.columns.tolist() == ["epoch", "loss", "offset_loss", "id_loss", "valid_loss"]
    # valid_loss is the loss of every window of the validation trials, and only of them
    tokens = tokenize(sim.counts.isel(presentation=model.valid_trials_), window_bins=5)
    with torch.no_grad():
        loss, _ = model.model_.loss(token_batch(tokens, {}, np.arange(len(tokens.trial))))
    assert float(loss) == pytest.approx(model.history_["valid_loss"].iloc[-1], rel=1e-5)


def test_same_seed_same_model_and_checkpoint_resume_is_bit_identical(sim, tmp_path):
    straight = SpikeTokenModel(**SMALL, epochs=3, dropout=0.2, random_state=3).fit(sim.counts)
    again = SpikeTokenModel(**SMALL, epochs=3, dropout=0.2, random_state=3).fit(sim.counts)
    pd_equal = straight.history_.equals(again.history_)
    assert pd_equal
    path = tmp_path / "tokens.pt"
    SpikeTokenModel(**SMALL, epochs=1, dropout=0.2, random_state=3, checkpoint=path).fit(sim.counts)  # "killed"
    resumed = SpikeTokenModel(**SMALL, epochs=3, dropout=0.2, random_state=3, checkpoint=path).fit(sim.counts)
    assert resumed.history_.equals(straight.history_)
    for name, value in straight.model_.state_dict().items():
        assert torch.equal(value, resumed.model_.state_dict()[name]), name
    with pytest.raises(ConfigError, match="another training.*d_model"):
        SpikeTokenModel(**{**SMALL, "d_model": 8}, epochs=3, random_state=3, checkpoint=path).fit(sim.counts)
    with pytest.raises(ConfigError, match="another dataset"):
        SpikeTokenModel(**SMALL, epochs=3, dropout=0.2, random_state=3, checkpoint=path).fit(sim.counts[:30])


def test_save_load_gives_the_same_generation_and_rates(sim, tmp_path):
    model = SpikeTokenModel(**SMALL, epochs=1).fit(sim.counts)
    loaded = SpikeTokenModel.load(model.save(tmp_path / "model.pt"), progress=False)
    assert loaded.get_params() == model.get_params()
    assert model.generate(5, random_state=2).equals(loaded.generate(5, random_state=2))
    a = model.transform(sim.counts[:3], n_samples=2)
    b = loaded.transform(sim.counts[:3], n_samples=2)
    np.testing.assert_array_equal(a.values, b.values)
    assert a.dims == ("presentation", "neuroid", "time_bin") and a.attrs["units"] == "counts/bin"
    assert a.stimulus_id.values.tolist() == sim.counts.stimulus_id.values[:3].tolist()


def test_generate_gives_whole_counts_reproducibly(sim):
    model = SpikeTokenModel(**SMALL, epochs=1).fit(sim.counts)
    a = model.generate(sim.counts[:6], random_state=4)
    assert a.equals(model.generate(sim.counts[:6], random_state=4))
    assert not a.equals(model.generate(sim.counts[:6], random_state=5))
    assert (a.values == np.rint(a.values)).all() and (a.values >= 0).all()
    assert a.neuroid_id.values.tolist() == sim.counts.neuroid_id.values.tolist()
    observed = model.generate(sim.counts[:6], context="observed", random_state=4)
    assert observed.sizes == a.sizes
    with pytest.raises(ConfigError, match="needs observed counts"):
        model.generate(3, context="observed")


def test_expected_counts_are_the_mean_of_the_sampled_counts(sim):
    """The expected counts accumulated while sampling are unbiased for the sampled counts (law of total expectation)."""
    model = SpikeTokenModel(**SMALL, epochs=2).fit(sim.counts)
    counts = np.rint(sim.counts.transpose("presentation", "time_bin", "neuroid").values)
    batch = context_batch(counts, np.zeros(4000, dtype=int), 1, {}, 5, 5)    # one window, sampled 4000 times
    sampled, expected = sample_windows(model.model_, batch, torch.Generator().manual_seed(0))
    mean_sampled, mean_expected = sampled.double().mean(0), expected.mean(0)
    standard_error = sampled.double().std(0) / np.sqrt(4000)
    z = ((mean_sampled - mean_expected) / standard_error.clamp(min=1e-3)).abs()
    assert float(z.max()) < 4.5 and float((mean_expected > 0).float().min()) == 1.0
    assert float(expected.std(0).mean()) < float(sampled.double().std(0).mean())


def test_info_nce_against_a_by_hand_computation():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    an, bn = a / np.linalg.norm(a, axis=1, keepdims=True), b / np.linalg.norm(b, axis=1, keepdims=True)
    logits = an @ bn.T / 0.5
    rows = -np.mean([logits[i, i] - np.log(np.exp(logits[i]).sum()) for i in range(5)])
    cols = -np.mean([logits[i, i] - np.log(np.exp(logits[:, i]).sum()) for i in range(5)])
    value = info_nce(torch.tensor(a), torch.tensor(b), 0.5)
    assert float(value) == pytest.approx((rows + cols) / 2, rel=1e-10)


def test_stimulus_inputs_add_the_contrastive_term_and_must_match(sim):
    stimulus = condition_stimulus(sim.counts.condition.values, 10)
    model = SpikeTokenModel(**SMALL, epochs=1).fit(sim.counts, stimulus=stimulus)
    assert "contrastive" in model.history_.columns
    generated = model.generate(3, stimulus=stimulus[:3], random_state=0)
    assert generated.condition.values.tolist() == stimulus.condition.values[:3].tolist()
    with pytest.raises(AlignmentError, match="presentations"):
        SpikeTokenModel(**SMALL, epochs=1).fit(sim.counts, stimulus=stimulus[:30])
    with pytest.raises(AlignmentError, match="stimulus_id"):
        SpikeTokenModel(**SMALL, epochs=1).fit(sim.counts, stimulus=stimulus[::-1])
    with pytest.raises(ConfigError, match="fitted with stimulus"):
        model.transform(sim.counts[:3])


def test_named_errors(sim):
    nan = sim.counts.copy()
    nan[2, 1, 3] = np.nan
    with pytest.raises(DataError, match="NaN"):
        SpikeTokenModel(**SMALL, epochs=1).fit(nan)
    with pytest.raises(DataError, match="too few trials"):
        SpikeTokenModel(**SMALL, epochs=1).fit(sim.counts[:4])
    with pytest.raises(ConfigError, match="does not divide"):
        SpikeTokenModel(**{**SMALL, "window_bins": 3}, epochs=1).fit(sim.counts)
    with pytest.raises(ConfigError, match="not fitted"):
        SpikeTokenModel().generate(2)


def _psth_check(seed, *, n_trials, n_bins, n_held_in, n_held_out, epochs, n_generated):
    """Fit on the simulator with the condition as stimulus; PSTH r of generated counts and of expected counts."""
    sim = simulate_lorenz_spikes(n_trials=n_trials, n_bins=n_bins, n_held_in=n_held_in, n_held_out=n_held_out,
                                 random_state=seed)
    stimulus = condition_stimulus(sim.counts.condition.values, n_bins)
    model = SpikeTokenModel(epochs=epochs, progress=False, random_state=seed).fit(sim.counts, stimulus=stimulus)
    conditions = condition_stimulus(np.repeat(np.arange(8), n_generated), n_bins)
    sampled = model.generate(conditions.sizes["presentation"], stimulus=conditions, random_state=seed)
    expected = model.generate(conditions.sizes["presentation"], stimulus=conditions, random_state=seed,
                              expected=True)
    return psth_correlations(sampled, sim.psth), psth_correlations(expected, sim.psth)


def test_generated_psths_follow_the_true_ones_short():
    """Short version: 200 trials of 20 bins, 12 neurons, 6 epochs; 60 generated trials per condition.

    Measured (seed 0): generated counts median r 0.691 (min 0.576), expected counts 0.844 (0.744); an
    untrained model, or one that ignores the stimulus, gives r near 0.
    """
    sampled, expected = _psth_check(0, n_trials=200, n_bins=20, n_held_in=9, n_held_out=3, epochs=6,
                                    n_generated=60)
    assert np.median(sampled) >= 0.5 and np.median(expected) >= 0.7, (np.round(sampled, 3), np.round(expected, 3))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_generated_psths_correlate_with_the_true_ones_per_neuron(seed):
    """400 trials × 20 bins of the simulator's 48 neurons (36 + 12), 12 epochs, 100 generated trials per condition.

    Measured (one torch thread): seed 0: generated counts median r 0.806 (min 0.530), expected counts 0.901
    (0.777); seed 1: 0.868 (0.502), 0.937 (0.691).  The data's own PSTH (50 trials per condition) gives 0.838
    (0.593) and 0.890 (0.635).  At this reduced size "≥ 0.8 per neuron" holds for the median neuron, not for every
    neuron: asserted here is the median reading, and a looser bound on the minimum (the full-size test below
    asserts every neuron).
    """
    sampled, expected = _psth_check(seed, n_trials=400, n_bins=20, n_held_in=36, n_held_out=12, epochs=12,
                                    n_generated=100)
    assert np.median(expected) >= 0.8 and np.median(sampled) >= 0.8, (np.median(sampled), np.median(expected))
    assert expected.min() > 0.6, expected.min()


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 4), st.integers(0, 5), st.integers(0, 1000))
def test_next_token_distributions_are_normalised_on_well_ordered_tokens(last_offset, last_id, seed):
    """Offsets before the current bin, and lower ids within it, get probability 0; the rest sums to 1."""
    with forked_rng(seed):
        net = SpikeTokenTransformer(6, 5, 5, 2, max_tokens=8, max_context=8, d_model=8, n_heads=2, n_layers=1,
                                    dim_feedforward=8)
    hidden = torch.randn(3, 8, generator=torch.Generator().manual_seed(seed))
    last_offsets, last_ids = torch.full((3,), last_offset), torch.full((3,), last_id)
    p_offset = net.offset_log_probs(hidden, last_offsets).exp()
    assert torch.allclose(p_offset.sum(-1), torch.ones(3), atol=1e-6)
    assert (p_offset[:, :last_offset] == 0).all() and (p_offset[:, last_offset:] > 0).all()
    bins = torch.arange(5)[None, :].expand(3, 5)
    p_id = net.id_log_probs(hidden[:, None], bins, last_offsets[:, None], last_ids[:, None]).exp()
    assert torch.allclose(p_id.sum(-1), torch.ones(3, 5), atol=1e-6)
    assert (p_id[:, last_offset, :last_id] == 0).all() and (p_id[:, last_offset, last_id:] > 0).all()
    others = [b for b in range(5) if b != last_offset]
    assert (p_id[:, others] > 0).all()


def test_score_is_nlb_bits_per_spike_of_the_rates(sim):
    """score = nlb_tools' bits_per_spike of transform's rates, over every neuron (the reference nlb_tools 0.0.4)."""
    from nlb_tools.evaluation import bits_per_spike

    from neuroalign.spikes.arrays import neurons_last

    model = SpikeTokenModel(**SMALL, epochs=2, n_samples=2).fit(sim.counts)
    rates = model.transform(sim.counts[:8])
    expected = bits_per_spike(neurons_last(rates).copy(), neurons_last(sim.counts[:8]))
    assert model.score(sim.counts[:8]) == pytest.approx(expected, abs=1e-9)


def test_a_windows_rates_do_not_depend_on_its_own_counts(sim):
    # Rates of bins 0-4 (the first window) are sampled with no context; changing the counts of bins 0-4 (the next
    # window's context) must leave them bit-identical, whatever the number of sample paths, and change the next
    # window's rates.
    model = SpikeTokenModel(**SMALL, epochs=1).fit(sim.counts)
    changed = sim.counts.copy()
    changed.values[:, :, :5] = np.random.default_rng(0).poisson(2.0, changed.values[:, :, :5].shape)
    for n_samples in (1, 3):
        before = model.transform(sim.counts[:6], n_samples=n_samples)
        after = model.transform(changed[:6], n_samples=n_samples)
        np.testing.assert_array_equal(before.values[..., :5], after.values[..., :5])
        assert not np.array_equal(before.values[..., 5:], after.values[..., 5:])


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_generated_psths_at_full_size_follow_the_true_ones(seed):
    """The simulator's full default size: 1,000 trials × 50 bins, 36 + 12 neurons, 20 epochs, 1,000 generated
    trials per condition (about 15-25 minutes on one thread).

    Measured (expected counts): seed 0 median r 0.945, minimum 0.842; seed 1 median 0.951, minimum 0.804: every
    neuron ≥ 0.8, the issue's criterion.  With 100 generated trials per condition the Monte Carlo noise of the
    estimate left seed 1's flattest neuron at 0.766 (0.796 with 300); the data's own trial average of all 1,000
    trials correlates only 0.53 with that neuron's true PSTH.  Sampled counts, 100 per condition: medians 0.864
    and 0.845.
    """
    sampled, expected = _psth_check(seed, n_trials=1000, n_bins=50, n_held_in=36, n_held_out=12, epochs=20,
                                    n_generated=1000)
    assert np.median(expected) >= 0.9 and np.median(sampled) >= 0.8, (np.median(expected), np.median(sampled))
    assert expected.min() >= 0.8, np.round(np.sort(expected)[:5], 3)
