"""GraphMAEPretrainer: the scikit-learn contract, reproducibility, checkpoints and resume, embeddings, errors."""

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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from neuroalign.data.provenance import PROVENANCE_KEYS
from neuroalign.errors import ConfigError, FileFormatError
from neuroalign.fitting import state_files as files
from neuroalign.graphs.dataset import ConnectivityGraphs
from neuroalign.fitting.base import forked_rng, seeded_generator, stream_seeds
from neuroalign.graphs.graphmae import GraphMAE
from neuroalign.graphs.pretrainer import GraphMAEPretrainer
from neuroalign.graphs.spec import GraphSpec

from ._pretrainer_data import KILL_PARAMS, kill_dataset, random_fc

REPO = Path(__file__).resolve().parents[2]
SMALL = {"hidden": 8, "n_layers": 1, "epochs": 2, "batch_size": 3, "lr": 1e-2, "progress": False, "threads": 1}


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def dataset():
    return ConnectivityGraphs.from_connectivity(random_fc())


def weights(estimator):
    return {k: v.clone() for k, v in estimator.model_.state_dict().items()}


def assert_same_weights(a, b):
    a, b = weights(a), weights(b)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


# ---------------------------------------------------------------- the scikit-learn contract

def test_init_stores_parameters_unchanged_and_clone_works(tmp_path):
    path = tmp_path / "c.pt"
    model = GraphMAEPretrainer(hidden=5, checkpoint=path, random_state=None, lr=0.1)
    params = model.get_params()
    assert params["hidden"] == 5 and params["checkpoint"] is path and params["random_state"] is None
    assert not any(name.endswith("_") for name in vars(model))
    twin = clone(model)
    assert twin is not model and twin.get_params() == params
    assert model.set_params(hidden=7) is model and model.hidden == 7
    # bad values are stored as given: checked by fit, not __init__
    assert GraphMAEPretrainer(epochs=-3).epochs == -3
    assert "hidden=7" in repr(model)


def test_fit_returns_self_with_fitted_attributes(dataset):
    model = GraphMAEPretrainer(**SMALL, latent_weight=0.5)
    assert model.fit(dataset) is model
    assert isinstance(model.model_, GraphMAE) and not model.model_.training
    assert model.encoder_ is model.model_.encoder
    assert model.history_.columns.tolist() == ["epoch", "loss", "reconstruction", "latent"]
    assert model.history_["epoch"].tolist() == [1, 2] and np.isfinite(model.history_.to_numpy()).all()
    np.testing.assert_allclose(model.history_["loss"], model.history_["reconstruction"]
                               + 0.5 * model.history_["latent"], rtol=1e-5)
    assert model.spec_ == dataset.spec and model.rois_.tolist() == [f"roi{i}" for i in range(6)]
    assert (model.n_rois_, model.n_extra_, model.n_epochs_, model.random_state_) == (6, 0, 2, 0)
    assert model.content_hash_ == dataset.content_hash
    fresh = clone(model)
    assert not hasattr(fresh, "model_")


def test_the_loop_draws_as_documented(dataset):
    """One step of one full batch rebuilt by hand: init from the "init" stream, the reference = the mean FC of
    the dataset, order from "shuffle", masks from "mask", Adam with lr; the recorded loss and the weights after
    the step match."""
    params = {**SMALL, "epochs": 1, "batch_size": 100, "random_state": 5}
    fitted = GraphMAEPretrainer(**params).fit(dataset)
    seeds = stream_seeds(5, ("init", "shuffle", "mask", "global"))
    with forked_rng(seeds["init"]):
        model = GraphMAE(dataset.spec, 6, 0, hidden=8, n_layers=1)
    model.set_reference(dataset.fc.double().mean((0, 1)).float())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    order = torch.randperm(8, generator=seeded_generator(seeds["shuffle"]))
    loss, _ = model.loss(dataset.fc[order], None, seeded_generator(seeds["mask"]))
    loss.backward()
    optimizer.step()
    assert fitted.history_["loss"].iloc[0] == float(loss.detach())
    for name, value in model.state_dict().items():
        assert torch.equal(fitted.model_.state_dict()[name], value), name


# ---------------------------------------------------------------- reproducibility

def test_same_random_state_gives_bit_identical_results(dataset):
    torch.manual_seed(1)
    a = GraphMAEPretrainer(**SMALL, random_state=3).fit(dataset)
    torch.manual_seed(2)  # the global generator plays no part
    b = GraphMAEPretrainer(**SMALL, random_state=3).fit(dataset)
    assert_same_weights(a, b)
    assert a.history_.equals(b.history_)
    c = GraphMAEPretrainer(**SMALL, random_state=4).fit(dataset)
    assert not torch.equal(weights(a)["encoder.input.weight"], weights(c)["encoder.input.weight"])


def test_fit_leaves_global_state_alone(dataset):
    torch.manual_seed(7)
    before = torch.get_rng_state()
    torch.set_num_threads(2)
    GraphMAEPretrainer(**SMALL).fit(dataset)
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.get_num_threads() == 2  # threads=1 during fit, restored after


def test_random_state_none_draws_a_seed_and_records_it(dataset):
    a = GraphMAEPretrainer(**{**SMALL, "epochs": 1}, random_state=None).fit(dataset)
    b = GraphMAEPretrainer(**{**SMALL, "epochs": 1}, random_state=a.random_state_).fit(dataset)
    assert_same_weights(a, b)


def test_epochs_zero_is_the_untrained_encoder_of_random_state(dataset):
    a = GraphMAEPretrainer(**{**SMALL, "epochs": 0}, random_state=2).fit(dataset)
    assert len(a.history_) == 0 and a.n_epochs_ == 0
    with forked_rng(stream_seeds(2, ("init",))["init"]):
        reference = GraphMAE(dataset.spec, 6, 0, hidden=8, n_layers=1)
    reference.set_reference(dataset.fc.double().mean((0, 1)).float())
    for name, value in reference.state_dict().items():
        assert torch.equal(a.model_.state_dict()[name], value), name
    assert a.transform(dataset).sizes == {"subject": 8, "feature": 16}


def test_centre_subtracts_the_mean_connectivity_of_the_fitted_subjects(dataset):
    """centre=True: the model's reference is the mean FC over subjects and windows (float64 sum), exactly
    symmetric, and transform encodes fc - reference; centre=False keeps a zero reference."""
    centred = GraphMAEPretrainer(**{**SMALL, "epochs": 1}).fit(dataset)
    expected = torch.from_numpy(dataset.fc.numpy().astype(np.float64).mean((0, 1))).float()
    torch.testing.assert_close(centred.model_.reference, expected, rtol=0, atol=1e-7)
    assert torch.equal(centred.model_.reference, centred.model_.reference.T)
    model = centred.model_
    with torch.no_grad():
        x, adj = dataset.spec.build(dataset.fc - model.reference, None)
        windows = model.encoder(x, adj).windows
    np.testing.assert_allclose(centred.transform_windows(dataset).values, windows.numpy(), rtol=1e-6, atol=1e-6)
    raw = GraphMAEPretrainer(**{**SMALL, "epochs": 1}, centre=False).fit(dataset)
    assert not raw.model_.reference.any()
    assert not np.allclose(raw.transform(dataset).values, centred.transform(dataset).values)


# ---------------------------------------------------------------- checkpoints and resume

@pytest.mark.parametrize("latent_weight", [0.0, 0.5])
def test_resume_gives_the_uninterrupted_result(dataset, tmp_path, latent_weight):
    params = {**SMALL, "latent_weight": latent_weight, "epochs": 4}
    whole = GraphMAEPretrainer(**params).fit(dataset)
    path = tmp_path / "c.pt"
    GraphMAEPretrainer(**{**params, "epochs": 2}, checkpoint=path).fit(dataset)  # "interrupted" after 2 epochs
    assert files.read_state(path, kind="pretrainer-checkpoint")["epoch"] == 2
    resumed = GraphMAEPretrainer(**params, checkpoint=path).fit(dataset)
    assert_same_weights(whole, resumed)
    assert whole.history_.equals(resumed.history_)
    # a finished checkpoint is loaded, not trained again
    again = GraphMAEPretrainer(**params, checkpoint=path).fit(dataset)
    assert_same_weights(whole, again)
    assert files.read_state(path, kind="pretrainer-checkpoint")["epoch"] == 4


def test_checkpoint_holds_plain_data_only(dataset, tmp_path):
    path = tmp_path / "c.pt"
    GraphMAEPretrainer(**{**SMALL, "epochs": 1}, checkpoint=path).fit(dataset)
    state = torch.load(path, weights_only=True)
    assert set(state) >= {"config", "spec", "data", "seed", "epoch", "model", "optimizer", "generators", "history"}
    assert set(state["generators"]) == {"shuffle", "mask", "global"}
    assert "progress" not in state["config"] and "checkpoint" not in state["config"]
    assert state["data"]["content_hash"] == dataset.content_hash and state["data"]["rois"][0] == "roi0"


@pytest.mark.slow
def test_resume_after_sigkill_gives_the_uninterrupted_result(tmp_path):
    """A real kill: the fit runs in a subprocess, SIGKILLed once its checkpoint holds 2 epochs of 6."""
    path = tmp_path / "kill.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-m", "tests.graphs._pretrainer_data", str(path), "6"], cwd=REPO,
                             env=env, stderr=subprocess.PIPE)
    epoch, deadline = 0, time.monotonic() + 240
    try:
        while child.poll() is None and time.monotonic() < deadline:
            if path.exists():
                epoch = files.read_state(path, kind="pretrainer-checkpoint")["epoch"]
                if epoch >= 2:
                    break
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
        error = child.stderr.read().decode()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL, f"the child was not killed mid-run: {child.returncode} {error}"
    killed_at = files.read_state(path, kind="pretrainer-checkpoint")["epoch"]
    assert 2 <= killed_at < 6
    dataset = kill_dataset()
    resumed = GraphMAEPretrainer(**KILL_PARAMS, checkpoint=path).fit(dataset)
    whole = GraphMAEPretrainer(**KILL_PARAMS).fit(dataset)
    assert_same_weights(whole, resumed)
    assert whole.history_.equals(resumed.history_)


def test_checkpoint_of_another_configuration_is_refused(dataset, tmp_path):
    path = tmp_path / "c.pt"
    GraphMAEPretrainer(**{**SMALL, "epochs": 1}, checkpoint=path).fit(dataset)
    with pytest.raises(ConfigError) as info:
        GraphMAEPretrainer(**{**SMALL, "epochs": 2, "lr": 0.5, "mask_ratio": 0.25}, checkpoint=path).fit(dataset)
    text = str(info.value)
    assert "lr: 0.01 in the file, 0.5 now" in text and "mask_ratio" in text and "hidden" not in text
    assert "start over" in info.value.fix and info.value.source == str(path)
    other = ConnectivityGraphs.from_connectivity(random_fc(seed=1))
    with pytest.raises(ConfigError, match="another dataset.*content_hash"):
        GraphMAEPretrainer(**SMALL, checkpoint=path).fit(other)
    with pytest.raises(ConfigError, match="more than epochs=0"):
        GraphMAEPretrainer(**{**SMALL, "epochs": 0}, checkpoint=path).fit(dataset)


def test_a_saved_model_is_not_a_checkpoint(dataset, tmp_path):
    model = GraphMAEPretrainer(**{**SMALL, "epochs": 1}).fit(dataset)
    model.save(tmp_path / "m.pt")
    with pytest.raises(FileFormatError, match="'pretrainer-checkpoint' file was expected"):
        GraphMAEPretrainer(**SMALL, checkpoint=tmp_path / "m.pt").fit(dataset)


# ---------------------------------------------------------------- save / load

def test_save_load_round_trip(dataset, tmp_path):
    model = GraphMAEPretrainer(**SMALL, latent_weight=0.5).fit(dataset)
    path = model.save(tmp_path / "m.pt")
    torch.load(path, weights_only=True)  # plain data only
    loaded = GraphMAEPretrainer.load(path, progress=False)
    assert_same_weights(model, loaded)
    assert loaded.history_.equals(model.history_) and loaded.configuration() == model.configuration()
    assert (loaded.spec_, loaded.rois_.tolist(), loaded.n_epochs_) == (model.spec_, model.rois_.tolist(), 2)
    xr.testing.assert_identical(loaded.transform(dataset), model.transform(dataset))
    with pytest.raises(ConfigError, match="load takes only"):
        GraphMAEPretrainer.load(path, lr=1.0)
    with pytest.raises(FileFormatError, match="no such file"):
        GraphMAEPretrainer.load(tmp_path / "none.pt")


# ---------------------------------------------------------------- embeddings

@pytest.fixture(scope="module")
def fitted(dataset):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return GraphMAEPretrainer(**SMALL).fit(dataset)
    finally:
        torch.set_num_threads(before)


def test_transform_is_mean_and_std_over_windows(fitted, dataset):
    embedding = fitted.transform(dataset)
    assert embedding.dims == ("subject", "feature") and embedding.sizes == {"subject": 8, "feature": 16}
    assert embedding["feature"].values[[0, 8]].tolist() == ["mean_0", "std_0"]
    assert embedding["statistic"].values.tolist() == ["mean"] * 8 + ["std"] * 8
    assert embedding["unit"].values.tolist() == list(range(8)) * 2
    assert embedding["subject"].values.tolist() == dataset.subjects.tolist()
    np.testing.assert_array_equal(embedding["group"].values, np.arange(8) % 2)
    assert set(PROVENANCE_KEYS) <= set(embedding.attrs)
    assert embedding.attrs["input_hashes"]["connectivity"] == dataset.content_hash
    assert embedding.attrs["parameters"]["statistics"] == ["mean", "std"]
    # reference: the model's window codes, summarised with numpy (population std)
    fitted.model_.eval()
    with torch.no_grad():
        codes = fitted.model_.encode(dataset.fc, None).windows.double().numpy()
    np.testing.assert_allclose(embedding.values, np.concatenate([codes.mean(1), codes.std(1)], axis=1),
                               rtol=1e-5, atol=1e-6)
    assert embedding.values[:, 8:].min() > 0  # the windows differ: the spread is kept


def test_transform_windows_layout_and_consistency(fitted, dataset):
    codes = fitted.transform_windows(dataset)
    assert codes.dims == ("subject", "window", "feature") and codes.sizes == {"subject": 8, "window": 5,
                                                                               "feature": 8}
    assert codes["window"].values.tolist() == list(range(5)) and codes["feature"].values[0] == "code_0"
    assert "age" in codes.coords and set(PROVENANCE_KEYS) <= set(codes.attrs)
    summary = fitted.transform(dataset)
    np.testing.assert_allclose(summary.sel(feature=summary.statistic == "mean").values,
                               codes.mean("window").values, rtol=1e-12)
    np.testing.assert_allclose(summary.sel(feature=summary.statistic == "std").values,
                               codes.std("window").values, rtol=1e-10, atol=1e-12)


def test_transform_does_not_depend_on_batch_size(fitted, dataset):
    one = fitted.transform(dataset).values
    fitted.set_params(batch_size=1)
    try:
        np.testing.assert_allclose(fitted.transform(dataset).values, one, rtol=1e-5, atol=1e-6)
    finally:
        fitted.set_params(batch_size=SMALL["batch_size"])


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(st.permutations(range(8)))
def test_embeddings_follow_their_subjects(fitted, dataset, order):
    """Invariance: reordering the subjects reorders the embeddings, nothing else (eval mode, per-subject)."""
    embedding = fitted.transform(dataset)
    shuffled = fitted.transform(dataset.subset(list(order)))
    assert shuffled["subject"].values.tolist() == embedding["subject"].values[list(order)].tolist()
    np.testing.assert_allclose(shuffled.values, embedding.values[list(order)], rtol=1e-5, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4), st.integers(1, 6), st.integers(1, 5), st.integers(0, 2**31))
def test_subject_statistics_equal_numpy(n_subjects, n_windows, n_units, seed):
    """Property: the summary is numpy's mean and population std over windows, for any shape (W = 1: std 0)."""
    from types import SimpleNamespace

    from neuroalign.graphs.embedding_arrays import subject_embedding_array

    codes = np.random.default_rng(seed).normal(size=(n_subjects, n_windows, n_units)).astype(np.float32)
    ids = SimpleNamespace(subjects=np.arange(n_subjects), labels={})
    out = subject_embedding_array(torch.from_numpy(codes), ids, {})
    reference = np.concatenate([codes.astype(float).mean(1), codes.astype(float).std(1)], axis=1)
    np.testing.assert_allclose(out.values, reference, rtol=1e-12, atol=1e-12)
    assert np.isfinite(out.values).all()


def test_extra_node_features_are_used_and_checked():
    rng = np.random.default_rng(0)
    series = xr.DataArray(rng.normal(size=(6, 60, 5)), dims=("subject", "time", "neuroid"),
                          coords={"subject": list("abcdef"), "time": np.arange(60) * 2.0,
                                  "neuroid_id": ("neuroid", list("vwxyz"))}, attrs={"repetition_time": 2.0})
    spec = GraphSpec(features=("fc_row", "timeseries_stats"))
    with_extra = ConnectivityGraphs.from_timeseries(series, window=20, step=10, spec=spec)
    model = GraphMAEPretrainer(**SMALL).fit(with_extra)
    assert model.n_extra_ == with_extra.n_extra > 0
    assert model.transform(with_extra).sizes == {"subject": 6, "feature": 16}
    with pytest.raises(ConfigError, match="graph spec differs"):
        model.transform(ConnectivityGraphs.from_timeseries(series, window=20, step=10))
    plain = GraphMAEPretrainer(**SMALL).fit(ConnectivityGraphs.from_timeseries(series, window=20, step=10))
    assert plain.n_extra_ > 0  # statistics computed, though the spec does not use them
    without = ConnectivityGraphs.from_timeseries(series, window=20, step=10, statistics=False)
    with pytest.raises(ConfigError, match="extra node features"):
        plain.transform(without)


# ---------------------------------------------------------------- errors

def test_transform_before_fit_is_named(dataset):
    with pytest.raises(ConfigError, match="not fitted yet"):
        GraphMAEPretrainer().transform(dataset)
    with pytest.raises(ConfigError, match="not fitted yet"):
        GraphMAEPretrainer().encoder_


def test_transform_on_other_rois_is_refused(fitted):
    other = random_fc().assign_coords(neuroid_a=list("abcdef"), neuroid_b=list("abcdef"))
    with pytest.raises(ConfigError, match="ROIs differ.*missing"):
        fitted.transform(ConnectivityGraphs.from_connectivity(other))
    reordered = random_fc().isel(neuroid_a=[1, 0, 2, 3, 4, 5], neuroid_b=[1, 0, 2, 3, 4, 5])
    with pytest.raises(ConfigError, match="another order"):
        fitted.transform(ConnectivityGraphs.from_connectivity(reordered))
    smaller = random_fc(n_rois=5)
    with pytest.raises(ConfigError, match="ROIs differ"):
        fitted.transform_windows(ConnectivityGraphs.from_connectivity(smaller))


def test_a_dataset_must_be_connectivity_graphs(fitted):
    with pytest.raises(ConfigError, match="must be a ConnectivityGraphs"):
        GraphMAEPretrainer(**SMALL).fit(random_fc())
    with pytest.raises(ConfigError, match="must be a ConnectivityGraphs"):
        fitted.transform(torch.zeros(2, 5, 6, 6))


@pytest.mark.parametrize("name, value", [
    ("epochs", -1), ("batch_size", 0), ("lr", 0.0), ("weight_decay", -1.0), ("random_state", -2),
    ("random_state", 1.5), ("threads", 0), ("progress", "yes"), ("checkpoint", 5), ("latent_weight", -0.5),
    ("mask_ratio", 1.5), ("gamma", 0.0), ("mask_scheme", "node"), ("n_views", 0), ("hidden", 0),
    ("readout", "max"), ("temporal", "lstm"), ("ema_momentum", 2.0),
])
def test_bad_parameters_are_named_at_fit(dataset, name, value):
    model = GraphMAEPretrainer(**{**SMALL, name: value})
    with pytest.raises(ConfigError) as info:
        model.fit(dataset)
    assert info.value.source == name, info.value


def test_no_output_without_progress_and_a_bar_with_it(dataset, capsys):
    GraphMAEPretrainer(**SMALL).fit(dataset)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    GraphMAEPretrainer(**{**SMALL, "progress": True}).fit(dataset)
    out = capsys.readouterr()
    assert out.out == "" and "pretraining" in out.err
