"""MaskedSpikeModel: the estimator contract, checkpoints, files, sessions, named errors, use of its rates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
from sklearn.base import clone

from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
from neuroalign.errors import AlignmentError, ConfigError, DataError, FileFormatError, UnknownNameError
from neuroalign.fitting import state_files as files
from neuroalign.spikes.arrays import neurons_last
from neuroalign.spikes.masked_model import MaskedSpikeModel

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[2]
SMALL = dict(d_model=16, n_layers=1, n_heads=2, dim_feedforward=32, epochs=2, batch_size=16, progress=False,
             random_state=0)


@pytest.fixture(scope="module")
def sim():
    return simulate_lorenz_spikes(n_trials=60, n_bins=20, n_held_in=12, n_held_out=4, random_state=0)


@pytest.fixture(scope="module")
def fitted(sim):
    return MaskedSpikeModel(**SMALL).fit(sim.counts, held_out="held_out")


def held_in(counts: xr.DataArray) -> xr.DataArray:
    return counts.sel(neuroid=~counts.held_out)


def assert_same_weights(a: MaskedSpikeModel, b: MaskedSpikeModel) -> None:
    sa, sb = a.model_.state_dict(), b.model_.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


# ---------------------------------------------------------------- the estimator contract

def test_init_stores_parameters_unchanged_and_clone_works(tmp_path):
    model = MaskedSpikeModel(d_model=7, mask_mode="span", checkpoint=tmp_path / "c.pt", threads=None)
    assert model.d_model == 7 and model.checkpoint == tmp_path / "c.pt" and model.threads is None
    assert clone(model).get_params() == model.get_params()
    assert MaskedSpikeModel().threads == 1  # the measured default (benchmarks/bench_spike_training_threads.py)


def test_fit_returns_self_with_fitted_attributes(sim, fitted):
    assert fitted.history_.columns.tolist() == ["epoch", "loss", "valid_loss"]
    assert fitted.history_["epoch"].tolist() == [1, 2] and np.isfinite(fitted.history_.values).all()
    assert fitted.sessions_ == ["session-0"] and fitted.n_bins_ == 20 and fitted.n_epochs_ == 2
    ids = sim.counts.neuroid_id.values
    flags = sim.counts.held_out.values
    assert fitted.held_in_ids_ == {"session-0": ids[~flags].tolist()}
    assert fitted.held_out_ids_ == {"session-0": ids[flags].tolist()}
    assert fitted.random_state_ == 0 and fitted.best_epoch_ is None
    assert not fitted.model_.training


def test_same_random_state_is_bit_identical_and_another_differs(sim, fitted):
    again = MaskedSpikeModel(**SMALL).fit(sim.counts, held_out="held_out")
    assert_same_weights(fitted, again)
    assert fitted.history_.equals(again.history_)
    other = MaskedSpikeModel(**{**SMALL, "random_state": 1}).fit(sim.counts, held_out="held_out")
    assert not fitted.history_.equals(other.history_)


def test_fit_leaves_global_state_alone(sim):
    torch.manual_seed(123)
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    MaskedSpikeModel(**{**SMALL, "epochs": 1, "threads": 2}).fit(sim.counts, held_out="held_out")
    assert torch.equal(torch.get_rng_state(), state) and torch.get_num_threads() == threads


def test_random_state_none_draws_a_seed_and_records_it(sim):
    model = MaskedSpikeModel(**{**SMALL, "epochs": 1, "random_state": None}).fit(sim.counts, held_out="held_out")
    again = MaskedSpikeModel(**{**SMALL, "epochs": 1, "random_state": model.random_state_}).fit(
        sim.counts, held_out="held_out")
    assert_same_weights(model, again)


def test_validation_trials_are_whole_trials_left_out_of_training(sim):
    model = MaskedSpikeModel(**{**SMALL, "validation_fraction": 0.25})
    model.fit(sim.counts, held_out="held_out")
    assert model._identity["n_valid"] == [15]
    unvalidated = MaskedSpikeModel(**{**SMALL, "validation_fraction": 0.0}).fit(sim.counts, held_out="held_out")
    assert unvalidated.history_["valid_loss"].isna().all()


# ---------------------------------------------------------------- transform and score

def test_transform_gives_rates_of_every_fitted_neuron_with_the_inputs_coords(sim, fitted):
    counts = held_in(sim.counts)
    rates = fitted.transform(counts)
    assert rates.dims == ("presentation", "neuroid", "time_bin") and rates.attrs["units"] == "counts/bin"
    order = fitted.held_in_ids_["session-0"] + fitted.held_out_ids_["session-0"]
    assert rates.neuroid_id.values.tolist() == order
    assert rates.held_out.values.tolist() == [False] * 12 + [True] * 4  # the training data's neuroid coords
    for name in ("stimulus_id", "condition", "trial", "time_bin_start", "time_bin_end"):
        np.testing.assert_array_equal(rates[name].values, counts[name].values)
    assert (rates.values > 0).all() and np.isfinite(rates.values).all()
    assert "input_hashes" in rates.attrs and rates.attrs["parameters"]["d_model"] == 16


def test_transform_reads_only_the_held_in_neurons_in_any_order(sim, fitted):
    reference = fitted.transform(sim.counts)
    noisy = sim.counts.copy()
    noisy[:, noisy.held_out.values, :] = 7.0  # held-out counts are never inputs
    xr.testing.assert_identical(fitted.transform(noisy).drop_attrs(), reference.drop_attrs())
    shuffled = sim.counts.isel(neuroid=np.random.default_rng(0).permutation(sim.counts.sizes["neuroid"]))
    np.testing.assert_array_equal(fitted.transform(shuffled).values, reference.values)


def test_transform_does_not_depend_on_batch_size(sim, fitted):
    other = clone(fitted).set_params(batch_size=7)
    other.model_, other.history_, other.best_epoch_ = fitted.model_, fitted.history_, None
    other._set_data_attributes(fitted._identity, fitted.random_state_)
    np.testing.assert_allclose(other.transform(sim.counts).values, fitted.transform(sim.counts).values,
                               rtol=1e-6, atol=1e-7)


def test_fit_transform_is_fit_then_transform(sim, fitted):
    rates = MaskedSpikeModel(**SMALL).fit_transform(sim.counts, held_out="held_out")
    xr.testing.assert_identical(rates, fitted.transform(sim.counts))


def test_transform_follows_the_trials(sim, fitted):
    order = np.random.default_rng(1).permutation(60)
    a = fitted.transform(sim.counts).isel(presentation=order)
    b = fitted.transform(sim.counts.isel(presentation=order))
    np.testing.assert_allclose(a.values, b.values, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(a.trial.values, b.trial.values)


def test_score_is_co_bps_of_the_held_out_neurons(sim, fitted):
    from nlb_tools.evaluation import bits_per_spike

    pytest.importorskip("neuroalign.spikes.metrics")
    rates = fitted.transform(sim.counts)
    out = sim.counts.held_out.values
    expected = bits_per_spike(neurons_last(rates.sel(neuroid=rates.held_out)).copy(),
                              neurons_last(sim.counts.isel(neuroid=np.nonzero(out)[0])))
    assert fitted.score(sim.counts) == pytest.approx(expected, abs=1e-9)


# ---------------------------------------------------------------- checkpoints and resume

def test_resume_gives_the_uninterrupted_result(sim, tmp_path):
    params = {**SMALL, "epochs": 4, "dropout": 0.3, "mask_mode": "span", "zero_ratio": 0.8, "random_ratio": 0.5}
    whole = MaskedSpikeModel(**params).fit(sim.counts, held_out="held_out")
    path = tmp_path / "c.pt"
    MaskedSpikeModel(**{**params, "epochs": 2}, checkpoint=path).fit(sim.counts, held_out="held_out")
    assert files.read_state(path, kind="masked-spike-checkpoint", format="neuroalign.spikes")["epoch"] == 2
    resumed = MaskedSpikeModel(**params, checkpoint=path).fit(sim.counts, held_out="held_out")
    assert_same_weights(whole, resumed)
    assert whole.history_.equals(resumed.history_)
    again = MaskedSpikeModel(**params, checkpoint=path).fit(sim.counts, held_out="held_out")  # finished: loaded
    assert_same_weights(whole, again)


def test_checkpoint_holds_plain_data_only(sim, tmp_path):
    path = tmp_path / "c.pt"
    MaskedSpikeModel(**{**SMALL, "epochs": 1}, checkpoint=path).fit(sim.counts, held_out="held_out")
    state = torch.load(path, weights_only=True)
    assert state["format"] == "neuroalign.spikes"
    assert set(state) >= {"config", "data", "seed", "epoch", "model", "optimizer", "generators", "history"}
    assert set(state["generators"]) == {"shuffle", "mask", "global"}
    assert "progress" not in state["config"] and "checkpoint" not in state["config"]


KILL_SCRIPT = """
import sys, torch
torch.set_num_threads(1)
from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes
from neuroalign.spikes.masked_model import MaskedSpikeModel
sim = simulate_lorenz_spikes(n_trials=200, n_bins=20, random_state=0)
MaskedSpikeModel(d_model=16, n_layers=1, epochs=int(sys.argv[2]), progress=False,
                 checkpoint=sys.argv[1]).fit(sim.counts, held_out="held_out")
"""


@pytest.mark.slow
def test_resume_after_sigkill_gives_the_uninterrupted_result(tmp_path):
    """A real kill: the fit runs in a subprocess, SIGKILLed once its checkpoint holds 2 epochs of 8."""
    path = tmp_path / "kill.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(path), "8"], cwd=REPO, env=env,
                             stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    try:
        while child.poll() is None and time.monotonic() < deadline:
            if path.exists() and files.read_state(path, kind="masked-spike-checkpoint",
                                                  format="neuroalign.spikes")["epoch"] >= 2:
                break
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
        error = child.stderr.read().decode()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL, f"the child was not killed mid-run: {child.returncode} {error}"
    killed_at = files.read_state(path, kind="masked-spike-checkpoint", format="neuroalign.spikes")["epoch"]
    assert 2 <= killed_at < 8
    sim = simulate_lorenz_spikes(n_trials=200, n_bins=20, random_state=0)
    params = dict(d_model=16, n_layers=1, epochs=8, progress=False)
    resumed = MaskedSpikeModel(**params, checkpoint=path).fit(sim.counts, held_out="held_out")
    whole = MaskedSpikeModel(**params).fit(sim.counts, held_out="held_out")
    assert_same_weights(whole, resumed)
    assert whole.history_.equals(resumed.history_)


def test_checkpoint_of_another_configuration_or_dataset_is_refused(sim, tmp_path):
    path = tmp_path / "c.pt"
    MaskedSpikeModel(**{**SMALL, "epochs": 1}, checkpoint=path).fit(sim.counts, held_out="held_out")
    with pytest.raises(ConfigError) as info:
        MaskedSpikeModel(**{**SMALL, "lr": 0.5, "mask_ratio": 0.5}, checkpoint=path).fit(sim.counts,
                                                                                      held_out="held_out")
    assert "lr: 0.002 in the file, 0.5 now" in str(info.value) and "mask_ratio" in str(info.value)
    assert info.value.source == str(path) and "start over" in info.value.fix
    other = simulate_lorenz_spikes(n_trials=60, n_bins=20, n_held_in=12, n_held_out=4, random_state=1)
    with pytest.raises(ConfigError, match="another dataset.*content_hashes"):
        MaskedSpikeModel(**SMALL, checkpoint=path).fit(other.counts, held_out="held_out")
    with pytest.raises(ConfigError, match="another dataset.*held_out"):
        MaskedSpikeModel(**SMALL, checkpoint=path).fit(sim.counts, held_out=["n00"])
    with pytest.raises(ConfigError, match="more than epochs=0"):
        MaskedSpikeModel(**{**SMALL, "epochs": 0}, checkpoint=path).fit(sim.counts, held_out="held_out")


def test_a_saved_model_is_not_a_checkpoint(fitted, sim, tmp_path):
    fitted.save(tmp_path / "m.pt")
    with pytest.raises(FileFormatError, match="'masked-spike-checkpoint' file was expected"):
        MaskedSpikeModel(**SMALL, checkpoint=tmp_path / "m.pt").fit(sim.counts, held_out="held_out")


def test_early_stopping_keeps_the_best_epoch(sim, tmp_path):
    params = {**SMALL, "epochs": 12, "lr": 0.05, "patience": 2}
    model = MaskedSpikeModel(**params).fit(sim.counts, held_out="held_out")
    valid = model.history_["valid_loss"].to_numpy()
    assert model.best_epoch_ == int(np.argmin(valid)) + 1
    assert len(valid) == 12 or len(valid) == model.best_epoch_ + 2  # stops after `patience` stale epochs
    # training is the same path until the stop, so the kept weights are those of a run of best_epoch_ epochs
    short = MaskedSpikeModel(**{**params, "epochs": model.best_epoch_, "patience": None}).fit(
        sim.counts, held_out="held_out")
    assert_same_weights(model, short)
    path = tmp_path / "c.pt"
    MaskedSpikeModel(**{**params, "epochs": 3}, checkpoint=path).fit(sim.counts, held_out="held_out")
    resumed = MaskedSpikeModel(**params, checkpoint=path).fit(sim.counts, held_out="held_out")
    assert_same_weights(model, resumed) and resumed.best_epoch_ == model.best_epoch_


# ---------------------------------------------------------------- save / load

def test_save_load_round_trip(fitted, sim, tmp_path):
    path = fitted.save(tmp_path / "m.pt")
    torch.load(path, weights_only=True)  # plain data only
    loaded = MaskedSpikeModel.load(path, progress=False)
    assert_same_weights(fitted, loaded)
    assert loaded.history_.equals(fitted.history_) and loaded.configuration() == fitted.configuration()
    assert loaded.held_out_ids_ == fitted.held_out_ids_ and loaded.n_epochs_ == 2
    xr.testing.assert_identical(loaded.transform(sim.counts), fitted.transform(sim.counts))
    with pytest.raises(ConfigError, match="load takes only"):
        MaskedSpikeModel.load(path, lr=1.0)
    with pytest.raises(FileFormatError, match="no such file"):
        MaskedSpikeModel.load(tmp_path / "missing.pt")


# ---------------------------------------------------------------- several sessions

def test_sessions_with_different_neurons_train_one_model():
    sim = simulate_lorenz_spikes(n_trials=40, n_bins=20, n_held_in=20, n_held_out=6, random_state=2)
    ids = sim.counts.neuroid_id.values
    a = sim.counts.isel(neuroid=list(range(10)) + [20, 21, 22])  # 10 held in, 3 held out
    b = sim.counts.isel(neuroid=list(range(8, 20)) + [23, 24, 25])  # 12 held in, 3 held out, 2 shared
    model = MaskedSpikeModel(**SMALL).fit({"monkey-a": a, "monkey-b": b}, held_out="held_out")
    assert model.sessions_ == ["monkey-a", "monkey-b"] and len(model.model_.inputs) == 2
    assert [m.in_features for m in model.model_.inputs] == [10, 12]
    ra = model.transform(held_in(a), session="monkey-a")
    rb = model.transform(held_in(b), session="monkey-b")
    assert ra.neuroid_id.values.tolist() == ids[:10].tolist() + ids[20:23].tolist()
    assert rb.neuroid_id.values.tolist() == ids[8:20].tolist() + ids[23:].tolist()
    assert np.isfinite(ra.values).all() and np.isfinite(rb.values).all()
    rates = MaskedSpikeModel(**SMALL).fit_transform({"monkey-a": a, "monkey-b": b}, held_out="held_out")
    assert list(rates) == ["monkey-a", "monkey-b"]
    np.testing.assert_allclose(rates["monkey-b"].values, model.transform(b, session="monkey-b").values)
    per_session = MaskedSpikeModel(**{**SMALL, "epochs": 1}).fit({"monkey-a": a, "monkey-b": b},
                                                                  held_out={"monkey-a": "held_out", "monkey-b": None})
    assert per_session.held_out_ids_ == {"monkey-a": ids[20:23].tolist(), "monkey-b": []}
    assert [m.out_features for m in per_session.model_.outputs] == [13, 15]
    with pytest.raises(ConfigError, match="2 sessions"):
        model.transform(a)
    with pytest.raises(UnknownNameError, match="monkey-c"):
        model.transform(a, session="monkey-c")
    with pytest.raises(AlignmentError, match="monkey-b"):
        model.transform(a, session="monkey-b")  # a lacks most of b's held-in neurons


def test_sessions_with_different_trial_lengths_are_named(sim):
    short = sim.counts.isel(time_bin=slice(0, 15))
    with pytest.raises(DataError, match="differ in length.*crop to a common window"):
        MaskedSpikeModel(**SMALL).fit({"a": sim.counts, "b": short}, held_out="held_out")


# ---------------------------------------------------------------- named errors

def test_held_out_neurons_not_in_the_data_are_named(sim):
    with pytest.raises(AlignmentError, match="not in the data"):
        MaskedSpikeModel(**SMALL).fit(sim.counts, held_out=["n00", "unit-99"])


def test_nan_bins_are_named(sim):
    bad = sim.counts.copy()
    bad[3, 2, 5] = np.nan
    with pytest.raises(DataError, match="NaN"):
        MaskedSpikeModel(**SMALL).fit(bad, held_out="held_out")


def test_too_few_trials_for_the_validation_split_are_named(sim):
    with pytest.raises(DataError, match="too few trials"):
        MaskedSpikeModel(**SMALL).fit(sim.counts.isel(presentation=slice(0, 5)), held_out="held_out")


def test_transform_on_counts_missing_held_in_neurons_is_named(sim, fitted):
    with pytest.raises(AlignmentError, match="lack 2 of the 12 held-in neurons"):
        fitted.transform(sim.counts.isel(neuroid=slice(2, None)))
    with pytest.raises(DataError, match="19 time bins"):
        fitted.transform(sim.counts.isel(time_bin=slice(0, 19)))


def test_transform_and_score_before_fit_are_named(sim):
    with pytest.raises(ConfigError, match="not fitted"):
        MaskedSpikeModel().transform(sim.counts)
    with pytest.raises(ConfigError, match="not fitted"):
        MaskedSpikeModel().score(sim.counts)


def test_score_without_held_out_neurons_is_named(sim):
    model = MaskedSpikeModel(**{**SMALL, "epochs": 1}).fit(sim.counts)
    assert model.held_out_ids_ == {"session-0": []} and model.transform(sim.counts).sizes["neuroid"] == 16
    with pytest.raises(ConfigError, match="no held-out neurons"):
        model.score(sim.counts)


@pytest.mark.parametrize("name, value", [("epochs", -1), ("d_model", 0), ("mask_ratio", 1.0), ("mask_ratio", 0),
                                         ("mask_mode", "neuron"), ("lr", 0), ("validation_fraction", 1.0),
                                         ("dropout", 1.0), ("threads", 0), ("patience", 0), ("batch_size", 1.5)])
def test_bad_parameters_are_named_at_fit(sim, name, value):
    with pytest.raises((ConfigError, UnknownNameError)) as info:
        MaskedSpikeModel(**{**SMALL, name: value}).fit(sim.counts, held_out="held_out")
    assert name in str(info.value) or info.value.source == name


def test_patience_needs_validation_trials(sim):
    with pytest.raises(ConfigError, match="patience needs validation trials"):
        MaskedSpikeModel(**SMALL, patience=2, validation_fraction=0.0).fit(sim.counts, held_out="held_out")


def test_no_output_without_progress_and_a_bar_with_it(sim, capsys):
    MaskedSpikeModel(**{**SMALL, "epochs": 1}).fit(sim.counts, held_out="held_out")
    assert capsys.readouterr().err == ""
    MaskedSpikeModel(**{**SMALL, "epochs": 1, "progress": True}).fit(sim.counts, held_out="held_out")
    assert "masked modelling" in capsys.readouterr().err


# ---------------------------------------------------------------- use of the latents

def test_inferred_rates_feed_cka_and_rsa_like_any_other_array():
    """Time-averaged inferred rates compared with a network layer and with the true rates (stimulus = trial)."""
    from neuroalign.compare import cka, rsa

    sim = simulate_lorenz_spikes(n_trials=120, n_bins=20, random_state=0)
    model = MaskedSpikeModel(**{**SMALL, "epochs": 15, "d_model": 32}).fit(sim.counts, held_out="held_out")
    ids = [f"trial-{t}" for t in sim.counts.trial.values]
    inferred = model.transform(held_in(sim.counts)).mean("time_bin").assign_coords(stimulus_id=("presentation", ids))
    true = sim.rates.mean("time_bin").assign_coords(stimulus_id=("presentation", ids))
    true = true.isel(neuroid=[list(sim.rates.neuroid_id.values).index(i) for i in inferred.neuroid_id.values])
    # a "layer": a fixed random tanh network on the trial's mean latents
    latents = torch.tensor(sim.latents.mean("time_bin").values, dtype=torch.float32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(latents.shape[1], 20), torch.nn.Tanh())
    with torch.no_grad():
        units = net(latents).double().numpy()
    layer = xr.DataArray(units, dims=("presentation", "neuroid"),
                         coords={"stimulus_id": ("presentation", ids),
                                 "neuroid_id": ("neuroid", [f"u{k}" for k in range(20)])})
    shuffled = true.copy(data=true.values[np.random.default_rng(0).permutation(120)])
    assert cka(inferred, true) > 0.9 and cka(inferred, shuffled) < 0.1
    assert cka(layer, inferred) == pytest.approx(cka(layer, true), abs=0.2)
    brain = inferred.assign_coords(subject=("neuroid", ["sim"] * inferred.sizes["neuroid"]))
    score = rsa({"layer": layer}, brain, ceiling=None, n_bootstrap=20)
    assert score.dims == ("layer",) and float(score.sel(layer="layer")) > 0.3
